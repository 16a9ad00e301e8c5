/* A growable byte buffer with JSON writers, for building HTTP response bodies. */
#ifndef MR_API_BUF_H
#define MR_API_BUF_H

#include <stddef.h>
#include <stdint.h>

/* p is NUL-terminated whenever len > 0; after an allocation failure oom is set and further
 * writes are dropped (the caller checks oom once at the end, hiredis-style). */
typedef struct api_buf {
  char *p;
  size_t len, cap;
  int oom;
} api_buf;

/* An empty buffer; no allocation until the first write. */
void api_buf_init(api_buf *b);
/* Frees p and empties the buffer; NULL is fine. */
void api_buf_free(api_buf *b);
/* Makes room for n more bytes at once (a body of known size skips the doubling copies). */
void api_buf_grow(api_buf *b, size_t n);
void api_buf_put(api_buf *b, const char *s, size_t n);
void api_buf_puts(api_buf *b, const char *s);
void api_buf_putc(api_buf *b, char c);
void api_buf_printf(api_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes s (UTF-8, NULL -> "") as a quoted JSON string; control characters are escaped and
 * invalid UTF-8 bytes are replaced with U+FFFD so the body is always valid JSON. */
void api_buf_json_str(api_buf *b, const char *s);
void api_buf_json_strn(api_buf *b, const char *s, size_t n);
/* An integer in decimal, without printf. */
void api_buf_int(api_buf *b, long long v);
/* A float as a JSON number (non-finite -> 0), 6 significant digits. */
void api_buf_json_num(api_buf *b, double x);
/* The same text into out (not NUL-terminated); returns its length. */
#define API_NUM_TEXT 32
size_t api_json_num_text(double x, char out[API_NUM_TEXT]);

#endif
