/* Shared pieces of the data loaders: whole-file reads, a line iterator, strict number parsers,
 * Latin-1 -> UTF-8, growable arrays, and the per-file problem log (file:line, first few shown). */
#ifndef MR_DSIO_H
#define MR_DSIO_H

#include <stddef.h>
#include <stdint.h>

/* Per-file problem log: counts everything, prints the first few as "  name:line: message". */
typedef struct dsio_diag {
  const char *name;
  long problems;
} dsio_diag;

__attribute__((format(printf, 3, 4))) void dsio_note(dsio_diag *d, long line, const char *fmt, ...);

/* The part of path after the last '/'; "?" for NULL. Borrowed from path. */
const char *dsio_basename(const char *path);

/* Reads a whole file into a malloc'ed NUL-terminated buffer (free it). MR_ENOTFOUND when the
 * file does not exist. */
int dsio_read_file(const char *path, char **out, size_t *len);

/* 1 when path exists and is a regular file / a directory. */
int dsio_is_file(const char *path);
int dsio_is_dir(const char *path);

/* Line iterator over a mutable buffer: NUL-terminates each line, strips CR; line is 1-based
 * after the first call. */
typedef struct dsio_lines {
  char *p, *end;
  long line;
} dsio_lines;

char *dsio_next_line(dsio_lines *it);

/* Splits s in place on the separator string sep ("|", "\t", MovieLens 1M/10M's "::") into at
 * most maxf fields; returns the real field count (may exceed maxf). */
int dsio_split(char *s, const char *sep, char **f, int maxf);

/* Strict decimal integers and floats: optional surrounding spaces, nothing else. Floats refuse
 * inf, nan and hex. */
int dsio_parse_long(const char *s, long *out);
int dsio_parse_i64(const char *s, int64_t *out);
int dsio_parse_float(const char *s, double *out);

/* The loader's one-line summary on stderr: "NAME: N WHAT used, B bad rows, F bad fields". */
void dsio_summary(const char *name, const char *what, long read, long bad_rows, long bad_fields);

/* Replaces *dst (freed) by a malloc'ed copy of s[0..len). */
int dsio_set_str(char **dst, const char *s, size_t len);

/* Grows *arr (elements of elem bytes, capacity *cap) to hold need elements, by doubling. */
int dsio_grow(void **arr, size_t elem, size_t need, size_t *cap);

/* Latin-1 -> UTF-8 unless in[0..len) already is valid UTF-8 (then copied). *out is malloc'ed
 * and NUL-terminated. */
int dsio_latin1_to_utf8(const char *in, size_t len, char **out, size_t *out_len);

/* The last "(yyyy)" in a title with 1800 <= yyyy <= 2100, or 0. */
int dsio_year_from_title(const char *t);

#endif
