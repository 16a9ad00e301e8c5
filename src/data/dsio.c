/* Shared pieces of the data loaders (see dsio.h). */
#include "data/dsio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/mr_error.h"

#define DSIO_MAX_EXAMPLES 5

void dsio_note(dsio_diag *d, long line, const char *fmt, ...) {
  va_list ap;
  if (d->problems++ >= DSIO_MAX_EXAMPLES)
    return;
  fprintf(stderr, "  %s:%ld: ", d->name, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

const char *dsio_basename(const char *path) {
  const char *s = path ? strrchr(path, '/') : NULL;
  return s ? s + 1 : path ? path : "?";
}

/* Reads a whole file into a NUL-terminated buffer. */
int dsio_read_file(const char *path, char **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, n = 0;
  int rc;
  if (!f)
    return mr_from_errno(errno);
  for (;;) {
    if (cap - n < 65536) {
      size_t nc = cap ? cap * 2 : 1 << 20;
      char *p = realloc(buf, nc + 1);
      if (!p) {
        rc = MR_ENOMEM;
        goto fail;
      }
      buf = p;
      cap = nc;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) {
        rc = MR_EIO;
        goto fail;
      }
      break;
    }
  }
  fclose(f);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return MR_OK;
fail:
  fclose(f);
  free(buf);
  return rc;
}

char *dsio_next_line(dsio_lines *it) {
  if (it->p >= it->end)
    return NULL;
  char *s = it->p;
  char *nl = memchr(s, '\n', (size_t)(it->end - s));
  char *e = nl ? nl : it->end;
  it->p = nl ? nl + 1 : it->end;
  *e = '\0';
  if (e > s && e[-1] == '\r')
    e[-1] = '\0';
  it->line++;
  return s;
}

/* Splits s on the separator string sep into at most maxf fields; returns the real field count
 * (may exceed maxf). */
int dsio_split(char *s, const char *sep, char **f, int maxf) {
  size_t n_sep = strlen(sep);
  int n = 0;
  for (;;) {
    char *e = strstr(s, sep);
    if (n < maxf)
      f[n] = s;
    n++;
    if (!e)
      break;
    *e = '\0';
    s = e + n_sep;
  }
  return n;
}

/* Strict decimal integer: optional surrounding spaces, nothing else; at most about 2^50 in
 * magnitude (ages, indexes, timestamps: anything larger is a typo). */
int dsio_parse_long(const char *s, long *out) {
  int64_t v;
  int rc = dsio_parse_i64(s, &v);
  if (rc)
    return rc;
  if (v > (INT64_C(1) << 50) * 10 || v < -(INT64_C(1) << 50) * 10)
    return MR_ERANGE;
  *out = (long)v;
  return MR_OK;
}

int dsio_parse_float(const char *s, double *out) {
  char *end;
  while (*s == ' ')
    s++;
  if (!*s || !((*s >= '0' && *s <= '9') || *s == '.' || *s == '-'))
    return MR_EFORMAT; /* rejects "inf", "nan", hex via the first character */
  double v = strtod(s, &end);
  while (*end == ' ')
    end++;
  if (*end || end == s)
    return MR_EFORMAT;
  *out = v;
  return MR_OK;
}

int dsio_set_str(char **dst, const char *s, size_t len) {
  char *p = malloc(len + 1);
  if (!p)
    return MR_ENOMEM;
  memcpy(p, s, len);
  p[len] = '\0';
  free(*dst);
  *dst = p;
  return MR_OK;
}

/* Grows a typed array by doubling. */
int dsio_grow(void **arr, size_t elem, size_t need, size_t *cap) {
  if (need <= *cap)
    return MR_OK;
  size_t nc = *cap ? *cap : 64;
  while (nc < need)
    nc *= 2;
  void *p = realloc(*arr, nc * elem);
  if (!p)
    return MR_ENOMEM;
  *arr = p;
  *cap = nc;
  return MR_OK;
}

/* Converts Latin-1 to UTF-8, unless the text already is valid UTF-8 (then it is kept). */
int dsio_latin1_to_utf8(const char *in, size_t len, char **out, size_t *out_len) {
  size_t extra = 0, i = 0;
  int valid = 1;
  while (i < len) {
    unsigned char c = (unsigned char)in[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t need = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
    int ok = need && c >= 0xC2 && i + need < len;
    for (size_t k = 1; ok && k <= need; k++)
      ok = ((unsigned char)in[i + k] & 0xC0) == 0x80;
    if (!ok)
      valid = 0;
    i += ok ? need + 1 : 1;
  }
  /* not UTF-8: every byte >= 0x80, inside a valid-looking sequence or not, becomes two */
  if (!valid)
    for (i = 0; i < len; i++)
      extra += (unsigned char)in[i] >= 0x80;
  char *o = malloc(len + extra + 1);
  if (!o)
    return MR_ENOMEM;
  size_t n = 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c < 0x80 || valid) {
      o[n++] = (char)c;
    } else {
      o[n++] = (char)(0xC0 | (c >> 6));
      o[n++] = (char)(0x80 | (c & 0x3F));
    }
  }
  o[n] = '\0';
  *out = o;
  *out_len = n;
  return MR_OK;
}

/* The last "(yyyy)" in a title, or 0. */
int dsio_year_from_title(const char *t) {
  int year = 0;
  for (const char *p = strchr(t, '('); p; p = strchr(p + 1, '(')) {
    if (strlen(p) >= 6 && p[5] == ')') {
      int y = 0, ok = 1;
      for (int k = 1; k <= 4; k++) {
        if (p[k] < '0' || p[k] > '9')
          ok = 0;
        else
          y = y * 10 + (p[k] - '0');
      }
      if (ok && y >= 1800 && y <= 2100)
        year = y;
    }
  }
  return year;
}

int dsio_is_file(const char *path) {
  struct stat st;
  return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int dsio_is_dir(const char *path) {
  struct stat st;
  return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int dsio_parse_i64(const char *s, int64_t *out) {
  int64_t v = 0;
  int neg = 0, digits = 0;
  while (*s == ' ' || *s == '\t')
    s++;
  if (*s == '-' || *s == '+')
    neg = *s++ == '-';
  for (; *s >= '0' && *s <= '9'; s++, digits++) {
    int d = *s - '0';
    if (v > (INT64_MAX - d) / 10)
      return MR_ERANGE;
    v = v * 10 + d;
  }
  while (*s == ' ' || *s == '\t')
    s++;
  if (!digits || *s)
    return MR_EFORMAT;
  *out = neg ? -v : v;
  return MR_OK;
}

void dsio_summary(const char *name, const char *what, long read, long bad_rows, long bad_fields) {
  fprintf(stderr, "%s: %ld %s used, %ld bad rows, %ld bad fields\n", name, read - bad_rows, what,
          bad_rows, bad_fields);
}
