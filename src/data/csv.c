/* RFC 4180 CSV reader and the IMDb field parsers (Python list literals, vote counts, runtimes). */
#include "data/csv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"

struct csv_reader {
  const char *buf;
  size_t len, pos;
  long line;     /* line number at pos */
  long rec_line; /* line where the last record started */
  char *scratch; /* unescaped field bytes, each NUL-terminated */
  size_t scratch_len, scratch_cap;
  size_t *offs; /* field start offsets into scratch */
  csv_field *fields;
  size_t fields_cap;
};

int csv_reader_create(const char *buf, size_t len, csv_reader **out) {
  csv_reader *r;
  if (!out || (!buf && len))
    return MR_EINVAL;
  r = calloc(1, sizeof(*r));
  if (!r)
    return MR_ENOMEM;
  r->buf = buf;
  r->len = len;
  r->line = 1;
  *out = r;
  return MR_OK;
}

void csv_reader_free(csv_reader *r) {
  if (!r)
    return;
  free(r->scratch);
  free(r->offs);
  free(r->fields);
  free(r);
}

long csv_record_line(const csv_reader *r) {
  return r ? r->rec_line : 0;
}

static int csv_push(csv_reader *r, char c) {
  if (r->scratch_len == r->scratch_cap) {
    size_t cap = r->scratch_cap ? r->scratch_cap * 2 : 256;
    char *p = realloc(r->scratch, cap);
    if (!p)
      return MR_ENOMEM;
    r->scratch = p;
    r->scratch_cap = cap;
  }
  r->scratch[r->scratch_len++] = c;
  return MR_OK;
}

static int csv_add_field(csv_reader *r, size_t n, size_t off) {
  if (n == r->fields_cap) {
    size_t cap = r->fields_cap ? r->fields_cap * 2 : 16;
    size_t *o = realloc(r->offs, cap * sizeof(*o));
    if (!o)
      return MR_ENOMEM;
    r->offs = o;
    csv_field *f = realloc(r->fields, cap * sizeof(*f));
    if (!f)
      return MR_ENOMEM;
    r->fields = f;
    r->fields_cap = cap;
  }
  r->offs[n] = off;
  return MR_OK;
}

/* A bare CR counts as a line end only before LF or at the end of the buffer. */
static int csv_at_eol(const csv_reader *r) {
  if (r->pos >= r->len)
    return 1;
  char c = r->buf[r->pos];
  return c == '\n' || (c == '\r' && (r->pos + 1 == r->len || r->buf[r->pos + 1] == '\n'));
}

static void csv_skip_eol(csv_reader *r) {
  if (r->pos < r->len && r->buf[r->pos] == '\r')
    r->pos++;
  if (r->pos < r->len && r->buf[r->pos] == '\n') {
    r->pos++;
    r->line++;
  }
}

/* Reads one quoted field (pos at the opening quote). Returns MR_EFORMAT at EOF without the
 * closing quote. */
static int csv_read_quoted(csv_reader *r) {
  int rc;
  r->pos++;
  for (;;) {
    if (r->pos >= r->len)
      return MR_EFORMAT;
    char c = r->buf[r->pos];
    if (c == '"') {
      if (r->pos + 1 < r->len && r->buf[r->pos + 1] == '"') {
        if ((rc = csv_push(r, '"')) != MR_OK)
          return rc;
        r->pos += 2;
        continue;
      }
      r->pos++;
      return MR_OK;
    }
    if (c == '\n')
      r->line++;
    if ((rc = csv_push(r, c)) != MR_OK)
      return rc;
    r->pos++;
  }
}

int csv_next_record(csv_reader *r, const csv_field **fields, size_t *n_fields) {
  int rc;
  size_t n = 0;
  if (!r || !fields || !n_fields)
    return MR_EINVAL;
  while (r->pos < r->len && csv_at_eol(r)) {
    if (r->buf[r->pos] == '\r' && r->pos + 1 == r->len) {
      r->pos++;
      break;
    }
    csv_skip_eol(r);
  }
  if (r->pos >= r->len)
    return 0;
  r->rec_line = r->line;
  r->scratch_len = 0;
  for (;;) {
    size_t off = r->scratch_len;
    if (r->pos < r->len && r->buf[r->pos] == '"') {
      size_t quote_pos = r->pos;
      long quote_line = r->line;
      rc = csv_read_quoted(r);
      if (rc == MR_EFORMAT) {
        /* Resync after the line that opened the quote: a stray quote then costs one record. */
        const char *nl = memchr(r->buf + quote_pos, '\n', r->len - quote_pos);
        r->pos = nl ? (size_t)(nl - r->buf) + 1 : r->len;
        r->line = quote_line + (nl ? 1 : 0);
        return MR_EFORMAT;
      }
      if (rc != MR_OK)
        return rc;
    }
    /* Unquoted text, or stray text after a closing quote (kept, not rejected). */
    while (!csv_at_eol(r) && r->buf[r->pos] != ',') {
      if ((rc = csv_push(r, r->buf[r->pos])) != MR_OK)
        return rc;
      r->pos++;
    }
    if ((rc = csv_push(r, '\0')) != MR_OK)
      return rc;
    if ((rc = csv_add_field(r, n, off)) != MR_OK)
      return rc;
    n++;
    if (r->pos < r->len && r->buf[r->pos] == ',') {
      r->pos++;
      continue;
    }
    if (r->pos < r->len && r->buf[r->pos] == '\r' && r->pos + 1 == r->len)
      r->pos++;
    csv_skip_eol(r);
    break;
  }
  /* Pointers are fixed only now because scratch may have moved while growing. */
  for (size_t i = 0; i < n; i++) {
    size_t end = (i + 1 < n) ? r->offs[i + 1] : r->scratch_len;
    r->fields[i].s = r->scratch + r->offs[i];
    r->fields[i].len = end - r->offs[i] - 1;
  }
  *fields = r->fields;
  *n_fields = n;
  return 1;
}

void csv_strlist_free(mr_strlist *l) {
  if (!l)
    return;
  for (int i = 0; i < l->n; i++)
    free(l->items[i]);
  free(l->items);
  l->items = NULL;
  l->n = 0;
}

static const char *csv_skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  return p;
}

static int csv_list_append(mr_strlist *l, int *cap, const char *s, size_t len) {
  if (l->n == *cap) {
    int nc = *cap ? *cap * 2 : 4;
    char **p = realloc(l->items, (size_t)nc * sizeof(*p));
    if (!p)
      return MR_ENOMEM;
    l->items = p;
    *cap = nc;
  }
  char *item = malloc(len + 1);
  if (!item)
    return MR_ENOMEM;
  memcpy(item, s, len);
  item[len] = '\0';
  l->items[l->n++] = item;
  return MR_OK;
}

int csv_parse_pylist(const char *s, mr_strlist *out) {
  mr_strlist l = {NULL, 0};
  int cap = 0, rc = MR_EFORMAT;
  char *tmp = NULL;
  const char *p;
  if (!s || !out)
    return MR_EINVAL;
  out->items = NULL;
  out->n = 0;
  p = csv_skip_ws(s);
  if (*p != '[')
    return MR_EFORMAT;
  p = csv_skip_ws(p + 1);
  /* an item is never longer than the input, so one buffer serves all items */
  tmp = malloc(strlen(s) + 1);
  if (!tmp)
    return MR_ENOMEM;
  while (*p != ']') {
    char q = *p;
    size_t n = 0;
    if (q != '\'' && q != '"')
      goto fail;
    p++;
    while (*p != q) {
      if (*p == '\0')
        goto fail;
      if (*p == '\\') {
        p++;
        switch (*p) {
        case '\0':
          goto fail;
        case 'n':
          tmp[n++] = '\n';
          break;
        case 't':
          tmp[n++] = '\t';
          break;
        case '\\':
        case '\'':
        case '"':
          tmp[n++] = *p;
          break;
        default: /* Python keeps unknown escapes verbatim */
          tmp[n++] = '\\';
          tmp[n++] = *p;
          break;
        }
        p++;
        continue;
      }
      tmp[n++] = *p++;
    }
    p = csv_skip_ws(p + 1);
    if ((rc = csv_list_append(&l, &cap, tmp, n)) != MR_OK)
      goto fail;
    rc = MR_EFORMAT;
    if (*p == ',')
      p = csv_skip_ws(p + 1);
    else if (*p != ']')
      goto fail;
  }
  if (*csv_skip_ws(p + 1) != '\0')
    goto fail;
  free(tmp);
  *out = l;
  return MR_OK;
fail:
  free(tmp);
  csv_strlist_free(&l);
  return rc;
}

int csv_parse_votes(const char *s, double *out) {
  int64_t mant = 0, div = 1, mult = 1;
  int digits = 0, frac = 0;
  if (!s || !out)
    return MR_EINVAL;
  s = csv_skip_ws(s);
  for (; *s; s++) {
    if (*s >= '0' && *s <= '9') {
      if (++digits > 12) /* keeps mant * mult (up to 10^6) inside int64 */
        return MR_EFORMAT;
      mant = mant * 10 + (*s - '0');
      if (frac)
        div *= 10;
    } else if (*s == '.' && !frac && digits > 0) {
      frac = 1;
    } else {
      break;
    }
  }
  if (digits == 0 || (frac && div == 1))
    return MR_EFORMAT;
  if (*s == 'K' || *s == 'k') {
    mult = 1000;
    s++;
  } else if (*s == 'M' || *s == 'm') {
    mult = 1000000;
    s++;
  }
  if (*csv_skip_ws(s) != '\0')
    return MR_EFORMAT;
  /* integer arithmetic so "1.4K" is exactly 1400 */
  *out = (double)(mant * mult) / (double)div;
  return MR_OK;
}

/* Reads a run of digits into *v; returns the position after them, or NULL when none. */
static const char *csv_read_uint(const char *p, long *v) {
  long x = 0;
  const char *start = p;
  while (*p >= '0' && *p <= '9') {
    if (x > 100000)
      return NULL;
    x = x * 10 + (*p - '0');
    p++;
  }
  if (p == start)
    return NULL;
  *v = x;
  return p;
}

int csv_parse_runtime(const char *s, int *out_minutes) {
  long h = 0, m = 0, v;
  int have_h = 0, have_m = 0;
  const char *p, *q;
  if (!s || !out_minutes)
    return MR_EINVAL;
  p = csv_skip_ws(s);
  q = csv_read_uint(p, &v);
  if (q && *q == 'h') {
    h = v;
    have_h = 1;
    p = csv_skip_ws(q + 1);
    q = csv_read_uint(p, &v);
  }
  if (q && strncmp(q, "min", 3) == 0) {
    m = v;
    have_m = 1;
    p = csv_skip_ws(q + 3);
  }
  if ((!have_h && !have_m) || *p != '\0')
    return MR_EFORMAT;
  *out_minutes = (int)(h * 60 + m);
  return MR_OK;
}
