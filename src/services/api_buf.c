/* Growable byte buffer and JSON writers used by the API's response builders. */
#include "services/api_buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_buf_init(api_buf *b) {
  memset(b, 0, sizeof(*b));
}

void api_buf_free(api_buf *b) {
  if (!b)
    return;
  free(b->p);
  memset(b, 0, sizeof(*b));
}

/* Makes room for n more bytes plus the terminating NUL. */
static int api_buf_reserve(api_buf *b, size_t n) {
  if (b->oom)
    return -1;
  if (b->len + n + 1 <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap < b->len + n + 1)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void api_buf_grow(api_buf *b, size_t n) {
  (void)api_buf_reserve(b, n);
}

void api_buf_put(api_buf *b, const char *s, size_t n) {
  if (api_buf_reserve(b, n))
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void api_buf_puts(api_buf *b, const char *s) {
  api_buf_put(b, s, strlen(s));
}

void api_buf_putc(api_buf *b, char c) {
  api_buf_put(b, &c, 1);
}

void api_buf_printf(api_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof(small)) {
    api_buf_put(b, small, (size_t)n);
    return;
  }
  if (api_buf_reserve(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t api_utf8_len(const unsigned char *s, size_t n) {
  size_t len;
  unsigned min;
  unsigned cp;
  if (s[0] < 0x80)
    return 1;
  if ((s[0] & 0xE0) == 0xC0)
    len = 2, min = 0x80, cp = s[0] & 0x1F;
  else if ((s[0] & 0xF0) == 0xE0)
    len = 3, min = 0x800, cp = s[0] & 0x0F;
  else if ((s[0] & 0xF8) == 0xF0)
    len = 4, min = 0x10000, cp = s[0] & 0x07;
  else
    return 0;
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

void api_buf_json_strn(api_buf *b, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  api_buf_putc(b, '"');
  size_t run = 0; /* start of the pending run of bytes that need no escaping */
  size_t i = 0;
  while (i < n) {
    unsigned char c = u[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0x80) {
      size_t l = api_utf8_len(u + i, n - i);
      if (l) {
        i += l;
        continue;
      }
    }
    api_buf_put(b, s + run, i - run);
    switch (c) {
    case '"':
      api_buf_put(b, "\\\"", 2);
      break;
    case '\\':
      api_buf_put(b, "\\\\", 2);
      break;
    case '\n':
      api_buf_put(b, "\\n", 2);
      break;
    case '\r':
      api_buf_put(b, "\\r", 2);
      break;
    case '\t':
      api_buf_put(b, "\\t", 2);
      break;
    default:
      if (c < 0x20)
        api_buf_printf(b, "\\u%04x", c);
      else
        api_buf_put(b, "\xEF\xBF\xBD", 3); /* invalid UTF-8 byte */
    }
    i++;
    run = i;
  }
  api_buf_put(b, s + run, i - run);
  api_buf_putc(b, '"');
}

void api_buf_json_str(api_buf *b, const char *s) {
  if (!s)
    s = "";
  api_buf_json_strn(b, s, strlen(s));
}

/* %.6g for 1e-4 <= |x| < 1e6 (scores, ratings) without printf: six significant digits as an
 * integer, then the digits around the point with trailing zeros dropped. The product x * 10^k
 * may round the sixth digit the other way from glibc's exact decimal rounding when x sits
 * within an ulp of a tie; other magnitudes go to printf. Returns the length, 0 to fall back. */
static size_t api_fmt_g6(double x, char *out) {
  static const double pow10[] = {1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3,
                                 1e4,  1e5,  1e6,  1e7,  1e8, 1e9, 1e10};
  double ax = fabs(x);
  if (!(ax >= 1e-4 && ax < 1e6))
    return 0;
  int e = -4;
  while (e < 5 && ax >= pow10[e + 5])
    e++;
  long long m = llrint(ax * pow10[(5 - e) + 4]); /* ties to even, as printf */
  if (m >= 1000000) {                            /* rounded up to the next power of ten */
    m /= 10;
    if (++e > 5)
      return 0;
  }
  char dig[6];
  for (int i = 5; i >= 0; i--, m /= 10)
    dig[i] = (char)('0' + m % 10);
  int nd = 6;
  while (nd > 1 && dig[nd - 1] == '0')
    nd--;
  size_t n = 0;
  if (x < 0)
    out[n++] = '-';
  if (e >= 0) {
    for (int i = 0; i <= e; i++)
      out[n++] = dig[i];
    if (nd > e + 1) {
      out[n++] = '.';
      for (int i = e + 1; i < nd; i++)
        out[n++] = dig[i];
    }
  } else {
    out[n++] = '0';
    out[n++] = '.';
    for (int i = 0; i < -e - 1; i++)
      out[n++] = '0';
    for (int i = 0; i < nd; i++)
      out[n++] = dig[i];
  }
  return n;
}

void api_buf_int(api_buf *b, long long v) {
  char tmp[24];
  size_t i = sizeof(tmp);
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do
    tmp[--i] = (char)('0' + u % 10);
  while (u /= 10);
  if (v < 0)
    tmp[--i] = '-';
  api_buf_put(b, tmp + i, sizeof(tmp) - i);
}

size_t api_json_num_text(double x, char out[API_NUM_TEXT]) {
  if (!isfinite(x) || x == 0) {
    out[0] = '0';
    return 1;
  }
  size_t n = api_fmt_g6(x, out);
  if (!n) {
    int w = snprintf(out, API_NUM_TEXT, "%.6g", x);
    n = w > 0 && w < API_NUM_TEXT ? (size_t)w : 0;
  }
  if (!n) { /* cannot happen for a finite double; keep the body valid JSON anyway */
    out[0] = '0';
    n = 1;
  }
  return n;
}

void api_buf_json_num(api_buf *b, double x) {
  char tmp[API_NUM_TEXT] = "0";
  size_t n = api_json_num_text(x, tmp);
  api_buf_put(b, tmp, n);
}
