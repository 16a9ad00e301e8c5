/* Loaders for MovieLens 100k (u.data, u.item, u.user, u.genre, u.occupation) and the IMDb
 * details CSV: tolerant of bad rows, which are counted, sampled on stderr and skipped. */
#include "data/dataset.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/mr_error.h"
#include "data/csv.h"

#define DS_MAX_EXAMPLES 5
#define DS_MAX_ID (1 << 22) /* caps the id -> index tables at 16 MiB */
#define DS_ML_GENRES 19     /* u.item genre flags when u.genre was not loaded */

/* Per-file problem log: counts everything, prints the first few. */
typedef struct ds_diag {
  const char *name;
  long problems;
} ds_diag;

__attribute__((format(printf, 3, 4))) static void ds_note(ds_diag *d, long line, const char *fmt,
                                                          ...) {
  va_list ap;
  if (d->problems++ >= DS_MAX_EXAMPLES)
    return;
  fprintf(stderr, "  %s:%ld: ", d->name, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static const char *ds_basename(const char *path) {
  const char *s = path ? strrchr(path, '/') : NULL;
  return s ? s + 1 : path ? path : "?";
}

/* Reads a whole file into a NUL-terminated buffer. */
static int ds_read_file(const char *path, char **out, size_t *len) {
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

/* Line iterator over a mutable buffer: NUL-terminates each line, strips CR. */
typedef struct ds_lines {
  char *p, *end;
  long line;
} ds_lines;

static char *ds_next_line(ds_lines *it) {
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

/* Splits s on sep into at most maxf fields; returns the real field count (may exceed maxf). */
static int ds_split(char *s, char sep, char **f, int maxf) {
  int n = 0;
  for (;;) {
    char *e = strchr(s, sep);
    if (n < maxf)
      f[n] = s;
    n++;
    if (!e)
      break;
    *e = '\0';
    s = e + 1;
  }
  return n;
}

/* Strict decimal integer: optional surrounding spaces, nothing else. */
static int ds_parse_long(const char *s, long *out) {
  long v = 0;
  int neg = 0, digits = 0;
  while (*s == ' ' || *s == '\t')
    s++;
  if (*s == '-' || *s == '+')
    neg = *s++ == '-';
  for (; *s >= '0' && *s <= '9'; s++, digits++) {
    if (v > (1L << 50))
      return MR_ERANGE;
    v = v * 10 + (*s - '0');
  }
  while (*s == ' ' || *s == '\t')
    s++;
  if (!digits || *s)
    return MR_EFORMAT;
  *out = neg ? -v : v;
  return MR_OK;
}

static int ds_parse_float(const char *s, double *out) {
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

static int ds_set_str(char **dst, const char *s, size_t len) {
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
static int ds_grow(void **arr, size_t elem, size_t need, size_t *cap) {
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

int ds_create_empty(mr_dataset **out) {
  if (!out)
    return MR_EINVAL;
  mr_dataset *ds = calloc(1, sizeof(*ds));
  if (!ds)
    return MR_ENOMEM;
  ds->max_user_id = -1;
  ds->max_movie_id = -1;
  *out = ds;
  return MR_OK;
}

static void ds_movie_clear(mr_movie *m) {
  free(m->title);
  free(m->release_date);
  free(m->imdb_url);
  free(m->description);
  free(m->age_rating);
  free(m->poster_url);
  csv_strlist_free(&m->directors);
  csv_strlist_free(&m->writers);
  csv_strlist_free(&m->cast);
}

void ds_free(mr_dataset *ds) {
  if (!ds)
    return;
  for (int32_t i = 0; i < ds->n_movies; i++)
    ds_movie_clear(&ds->movies[i]);
  free(ds->movies);
  free(ds->users);
  free(ds->ratings);
  for (int i = 0; i < MR_MAX_GENRES; i++)
    free(ds->genre_names[i]);
  for (int i = 0; i < ds->n_occupations; i++)
    free(ds->occupations[i]);
  free(ds->occupations);
  free(ds->user_index_by_id);
  free(ds->movie_index_by_id);
  free(ds);
}

int32_t ds_user_index(const mr_dataset *ds, int32_t id) {
  if (!ds || !ds->user_index_by_id || id < 0 || id > ds->max_user_id)
    return -1;
  return ds->user_index_by_id[id];
}

int32_t ds_movie_index(const mr_dataset *ds, int32_t id) {
  if (!ds || !ds->movie_index_by_id || id < 0 || id > ds->max_movie_id)
    return -1;
  return ds->movie_index_by_id[id];
}

/* Builds one id -> index table; MR_EINVAL on a duplicate or out-of-range id. */
static int ds_index_table(const int32_t *ids, size_t stride, int32_t n, int32_t **table,
                          int32_t *max_id) {
  int32_t mx = -1;
  for (int32_t i = 0; i < n; i++) {
    int32_t id = *(const int32_t *)((const char *)ids + (size_t)i * stride);
    if (id < 0 || id > DS_MAX_ID)
      return MR_ERANGE;
    if (id > mx)
      mx = id;
  }
  int32_t *t = malloc(((size_t)mx + 1) * sizeof(*t) + sizeof(*t));
  if (!t)
    return MR_ENOMEM;
  for (int32_t i = 0; i <= mx; i++)
    t[i] = -1;
  for (int32_t i = 0; i < n; i++) {
    int32_t id = *(const int32_t *)((const char *)ids + (size_t)i * stride);
    if (t[id] != -1) {
      free(t);
      return MR_EINVAL;
    }
    t[id] = i;
  }
  free(*table);
  *table = t;
  *max_id = mx;
  return MR_OK;
}

int ds_build_index(mr_dataset *ds) {
  int rc;
  if (!ds)
    return MR_EINVAL;
  if (ds->users && (rc = ds_index_table(&ds->users[0].id, sizeof(mr_user), ds->n_users,
                                        &ds->user_index_by_id, &ds->max_user_id)) != MR_OK)
    return rc;
  if (ds->movies && (rc = ds_index_table(&ds->movies[0].id, sizeof(mr_movie), ds->n_movies,
                                         &ds->movie_index_by_id, &ds->max_movie_id)) != MR_OK)
    return rc;
  return MR_OK;
}

int ds_load_genres(mr_dataset *ds, const char *path) {
  char *buf = NULL, *line, *f[2];
  size_t len;
  int rc;
  long rows = 0;
  ds_diag d = {ds_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = ds_read_file(path, &buf, &len)) != MR_OK)
    return rc;
  ds_lines it = {buf, buf + len, 0};
  while ((line = ds_next_line(&it))) {
    long idx;
    if (!*line)
      continue; /* u.genre ends with a blank line */
    rows++;
    if (ds_split(line, '|', f, 2) != 2 || !*f[0] || ds_parse_long(f[1], &idx) != MR_OK || idx < 0 ||
        idx >= MR_MAX_GENRES) {
      ds_note(&d, it.line, "bad genre row (want name|index with index < %d)", MR_MAX_GENRES);
      continue;
    }
    if ((rc = ds_set_str(&ds->genre_names[idx], f[0], strlen(f[0]))) != MR_OK)
      goto fail;
    if (idx + 1 > ds->n_genres)
      ds->n_genres = (int)idx + 1;
  }
  fprintf(stderr, "%s: %d genres, %ld bad rows\n", d.name, ds->n_genres, d.problems);
  rc = MR_OK;
fail:
  free(buf);
  return rc;
}

int ds_load_occupations(mr_dataset *ds, const char *path) {
  char *buf = NULL, *line;
  size_t len, cap;
  int rc;
  if (!ds || !path)
    return MR_EINVAL;
  cap = (size_t)ds->n_occupations;
  if ((rc = ds_read_file(path, &buf, &len)) != MR_OK)
    return rc;
  ds_lines it = {buf, buf + len, 0};
  while ((line = ds_next_line(&it))) {
    if (!*line)
      continue;
    if ((rc = ds_grow((void **)&ds->occupations, sizeof(char *), (size_t)ds->n_occupations + 1,
                      &cap)) != MR_OK)
      goto fail;
    ds->occupations[ds->n_occupations] = NULL;
    if ((rc = ds_set_str(&ds->occupations[ds->n_occupations], line, strlen(line))) != MR_OK)
      goto fail;
    ds->n_occupations++;
  }
  fprintf(stderr, "%s: %d occupations\n", ds_basename(path), ds->n_occupations);
  rc = MR_OK;
fail:
  free(buf);
  return rc;
}

/* Converts Latin-1 to UTF-8, unless the text already is valid UTF-8 (then it is kept). */
static int ds_latin1_to_utf8(const char *in, size_t len, char **out, size_t *out_len) {
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

static const char *const ds_months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* "01-Jan-1995" (or "4-Feb-1971") -> the year, or 0 when the date is not in that shape. */
static int ds_year_from_date(const char *s) {
  long day, year;
  char tmp[16];
  size_t n = strlen(s);
  if (n < 10 || n > 11)
    return 0;
  memcpy(tmp, s, n + 1);
  char *m = strchr(tmp, '-');
  if (!m || strlen(m) != 9 || m[4] != '-')
    return 0;
  *m = '\0';
  m[4] = '\0';
  if (ds_parse_long(tmp, &day) != MR_OK || day < 1 || day > 31 ||
      ds_parse_long(m + 5, &year) != MR_OK || year < 1800 || year > 2100)
    return 0;
  for (int k = 0; k < 12; k++)
    if (memcmp(m + 1, ds_months[k], 3) == 0)
      return (int)year;
  return 0;
}

/* The last "(yyyy)" in a title, or 0. */
static int ds_year_from_title(const char *t) {
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

/* Marks id as seen; returns 1 when it already was. Grows the table as ids come in. */
static int ds_seen(unsigned char **seen, size_t *cap, long id, int *dup) {
  if ((size_t)id >= *cap) {
    size_t nc = *cap ? *cap : 4096;
    while (nc <= (size_t)id)
      nc *= 2;
    unsigned char *p = realloc(*seen, nc);
    if (!p)
      return MR_ENOMEM;
    memset(p + *cap, 0, nc - *cap);
    *seen = p;
    *cap = nc;
  }
  *dup = (*seen)[id];
  (*seen)[id] = 1;
  return MR_OK;
}

static int ds_new_movie(mr_movie *m) {
  memset(m, 0, sizeof(*m));
  /* every string is non-NULL so callers never check */
  if (!(m->title = calloc(1, 1)) || !(m->release_date = calloc(1, 1)) ||
      !(m->imdb_url = calloc(1, 1)) || !(m->description = calloc(1, 1)) ||
      !(m->age_rating = calloc(1, 1)) || !(m->poster_url = calloc(1, 1))) {
    ds_movie_clear(m);
    return MR_ENOMEM;
  }
  return MR_OK;
}

int ds_load_movies(mr_dataset *ds, const char *path) {
  char *raw = NULL, *buf = NULL, *line, *f[5 + MR_MAX_GENRES];
  unsigned char *seen = NULL;
  size_t raw_len, len, cap, seen_cap = 0;
  long bad_rows = 0, read = 0, bad_fields = 0;
  int rc, dup;
  ds_diag d = {ds_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  cap = (size_t)ds->n_movies;
  if ((rc = ds_read_file(path, &raw, &raw_len)) != MR_OK)
    return rc;
  rc = ds_latin1_to_utf8(raw, raw_len, &buf, &len);
  free(raw);
  if (rc != MR_OK)
    return rc;
  for (int32_t i = 0; i < ds->n_movies; i++)
    if ((rc = ds_seen(&seen, &seen_cap, ds->movies[i].id, &dup)) != MR_OK)
      goto fail;
  int n_flags = ds->n_genres ? ds->n_genres : DS_ML_GENRES;
  ds_lines it = {buf, buf + len, 0};
  while ((line = ds_next_line(&it))) {
    long id;
    if (!*line)
      continue;
    read++;
    int nf = ds_split(line, '|', f, 5 + MR_MAX_GENRES);
    if (nf != 5 + n_flags) {
      ds_note(&d, it.line, "%d fields, want %d: row skipped", nf, 5 + n_flags);
      bad_rows++;
      continue;
    }
    if (ds_parse_long(f[0], &id) != MR_OK || id < 0 || id > DS_MAX_ID) {
      ds_note(&d, it.line, "bad movie id '%s': row skipped", f[0]);
      bad_rows++;
      continue;
    }
    if ((rc = ds_seen(&seen, &seen_cap, id, &dup)) != MR_OK)
      goto fail;
    if (dup) {
      ds_note(&d, it.line, "duplicate movie id %ld: row skipped", id);
      bad_rows++;
      continue;
    }
    if ((rc = ds_grow((void **)&ds->movies, sizeof(mr_movie), (size_t)ds->n_movies + 1, &cap)) !=
        MR_OK)
      goto fail;
    mr_movie *m = &ds->movies[ds->n_movies];
    if ((rc = ds_new_movie(m)) != MR_OK)
      goto fail;
    ds->n_movies++;
    m->id = (int32_t)id;
    if ((rc = ds_set_str(&m->title, f[1], strlen(f[1]))) != MR_OK ||
        (rc = ds_set_str(&m->release_date, f[2], strlen(f[2]))) != MR_OK ||
        (rc = ds_set_str(&m->imdb_url, f[4], strlen(f[4]))) != MR_OK)
      goto fail;
    if (!*f[1]) {
      ds_note(&d, it.line, "movie %ld: empty title", id);
      bad_fields++;
    }
    m->year = ds_year_from_date(f[2]);
    if (!m->year) {
      ds_note(&d, it.line, "movie %ld: bad release date '%s'", id, f[2]);
      bad_fields++;
      m->year = ds_year_from_title(f[1]);
    }
    if (!*f[4]) {
      ds_note(&d, it.line, "movie %ld: empty IMDb URL", id);
      bad_fields++;
    }
    for (int g = 0; g < n_flags; g++) {
      const char *v = f[5 + g];
      if (strcmp(v, "1") == 0) {
        m->genres |= 1u << g;
      } else if (strcmp(v, "0") != 0) {
        ds_note(&d, it.line, "movie %ld: bad genre flag '%s'", id, v);
        bad_fields++;
      }
    }
  }
  ds->report.movies_read += read;
  ds->report.movies_bad_fields += bad_fields + bad_rows;
  if ((rc = ds_build_index(ds)) != MR_OK)
    goto fail;
  fprintf(stderr, "%s: %ld movies used, %ld bad rows, %ld bad fields\n", d.name, read - bad_rows,
          bad_rows, bad_fields);
  rc = MR_OK;
fail:
  free(seen);
  free(buf);
  return rc;
}

int ds_load_users(mr_dataset *ds, const char *path) {
  char *buf = NULL, *line, *f[5];
  unsigned char *seen = NULL;
  size_t len, cap, seen_cap = 0;
  long bad_rows = 0, read = 0, bad_fields = 0;
  int rc, dup;
  ds_diag d = {ds_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  cap = (size_t)ds->n_users;
  if ((rc = ds_read_file(path, &buf, &len)) != MR_OK)
    return rc;
  for (int32_t i = 0; i < ds->n_users; i++)
    if ((rc = ds_seen(&seen, &seen_cap, ds->users[i].id, &dup)) != MR_OK)
      goto fail;
  ds_lines it = {buf, buf + len, 0};
  while ((line = ds_next_line(&it))) {
    long id, age;
    if (!*line)
      continue;
    read++;
    int nf = ds_split(line, '|', f, 5);
    if (nf != 5) {
      ds_note(&d, it.line, "%d fields, want 5: row skipped", nf);
      bad_rows++;
      continue;
    }
    if (ds_parse_long(f[0], &id) != MR_OK || id < 0 || id > DS_MAX_ID) {
      ds_note(&d, it.line, "bad user id '%s': row skipped", f[0]);
      bad_rows++;
      continue;
    }
    if ((rc = ds_seen(&seen, &seen_cap, id, &dup)) != MR_OK)
      goto fail;
    if (dup) {
      ds_note(&d, it.line, "duplicate user id %ld: row skipped", id);
      bad_rows++;
      continue;
    }
    if ((rc = ds_grow((void **)&ds->users, sizeof(mr_user), (size_t)ds->n_users + 1, &cap)) !=
        MR_OK)
      goto fail;
    mr_user *u = &ds->users[ds->n_users++];
    memset(u, 0, sizeof(*u));
    u->id = (int32_t)id;
    if (ds_parse_long(f[1], &age) == MR_OK && age > 0 && age < 130) {
      u->age = (int)age;
    } else {
      ds_note(&d, it.line, "user %ld: bad age '%s'", id, f[1]);
      bad_fields++;
    }
    if (strcmp(f[2], "M") == 0 || strcmp(f[2], "F") == 0) {
      u->gender = f[2][0];
    } else {
      u->gender = '?';
      ds_note(&d, it.line, "user %ld: bad gender '%s'", id, f[2]);
      bad_fields++;
    }
    u->occupation = -1;
    for (int k = 0; k < ds->n_occupations; k++)
      if (strcmp(ds->occupations[k], f[3]) == 0)
        u->occupation = k;
    if (u->occupation < 0) {
      ds_note(&d, it.line, "user %ld: unknown occupation '%s'", id, f[3]);
      bad_fields++;
    }
    size_t zl = strlen(f[4]);
    if (zl == 0 || zl >= sizeof(u->zip)) {
      ds_note(&d, it.line, "user %ld: bad zip '%s'", id, f[4]);
      bad_fields++;
      if (zl >= sizeof(u->zip))
        zl = sizeof(u->zip) - 1;
    }
    memcpy(u->zip, f[4], zl);
    u->zip[zl] = '\0';
  }
  ds->report.users_read += read;
  ds->report.users_bad_fields += bad_fields + bad_rows;
  if ((rc = ds_build_index(ds)) != MR_OK)
    goto fail;
  fprintf(stderr, "%s: %ld users used, %ld bad rows, %ld bad fields\n", d.name, read - bad_rows,
          bad_rows, bad_fields);
  rc = MR_OK;
fail:
  free(seen);
  free(buf);
  return rc;
}

int ds_load_ratings(mr_dataset *ds, const char *path) {
  char *buf = NULL, *line, *f[4];
  size_t len, cap;
  long read = 0, bad = 0;
  int rc;
  ds_diag d = {ds_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  cap = ds->n_ratings;
  if ((rc = ds_read_file(path, &buf, &len)) != MR_OK)
    return rc;
  /* u.data lines are ~20 bytes: one allocation up front instead of many doublings */
  if ((rc = ds_grow((void **)&ds->ratings, sizeof(mr_rating), ds->n_ratings + len / 16 + 1,
                    &cap)) != MR_OK)
    goto fail;
  ds_lines it = {buf, buf + len, 0};
  while ((line = ds_next_line(&it))) {
    long uid, mid, ts;
    double r;
    if (!*line)
      continue;
    read++;
    int nf = ds_split(line, '\t', f, 4);
    if (nf != 4) {
      ds_note(&d, it.line, "%d fields, want 4: row skipped", nf);
      bad++;
      continue;
    }
    if (ds_parse_long(f[0], &uid) != MR_OK || ds_parse_long(f[1], &mid) != MR_OK ||
        ds_parse_float(f[2], &r) != MR_OK || ds_parse_long(f[3], &ts) != MR_OK) {
      ds_note(&d, it.line, "non-numeric field: row skipped");
      bad++;
      continue;
    }
    int32_t ui = (uid >= 0 && uid <= INT32_MAX) ? ds_user_index(ds, (int32_t)uid) : -1;
    int32_t mi = (mid >= 0 && mid <= INT32_MAX) ? ds_movie_index(ds, (int32_t)mid) : -1;
    if (ui < 0 || mi < 0) {
      ds_note(&d, it.line, "unknown %s id %ld: row skipped", ui < 0 ? "user" : "movie",
              ui < 0 ? uid : mid);
      bad++;
      continue;
    }
    if (!(r >= 1.0 && r <= 5.0)) {
      ds_note(&d, it.line, "rating %s outside 1..5: row skipped", f[2]);
      bad++;
      continue;
    }
    if ((rc = ds_grow((void **)&ds->ratings, sizeof(mr_rating), ds->n_ratings + 1, &cap)) != MR_OK)
      goto fail;
    ds->ratings[ds->n_ratings++] = (mr_rating){ui, mi, (float)r, (int64_t)ts};
  }
  ds->report.ratings_read += read;
  ds->report.ratings_bad += bad;
  fprintf(stderr, "%s: %ld ratings used, %ld bad rows\n", d.name, read - bad, bad);
  rc = MR_OK;
fail:
  free(buf);
  return rc;
}

/* IMDb CSV columns the loader uses, located by header name. */
enum {
  IM_ID,
  IM_URL,
  IM_POSTER,
  IM_DESC,
  IM_RATING,
  IM_VOTES,
  IM_DIRECTOR,
  IM_WRITER,
  IM_CAST,
  IM_AGE,
  IM_YEAR,
  IM_LENGTH,
  IM_NCOLS
};
static const char *const ds_imdb_cols[IM_NCOLS] = {
    "movie_id", "movie_url", "poster_url", "description", "rating", "num_review",
    "director", "writer",    "cast",       "age_rating",  "year",   "movie_length"};

/* "http://www.imdb.com/title/tt0111804/?ref_=..." -> "tt0111804"; 0 when absent. */
static int ds_tt_id(const char *url, char out[16]) {
  const char *p = strstr(url, "/title/tt");
  size_t n = 0;
  if (!p)
    return 0;
  p += 9;
  while (p[n] >= '0' && p[n] <= '9')
    n++;
  if (n == 0 || n > 12)
    return 0;
  out[0] = 't';
  out[1] = 't';
  memcpy(out + 2, p, n);
  out[n + 2] = '\0';
  return 1;
}

/* Length of the first URL of a srcset "URL1 190w, URL2 285w": URLs hold commas
 * (_CR0,6,190,281_), so it ends at the first " <digits>w" width token, not at a comma. */
static size_t ds_first_srcset_url(const char *s) {
  size_t len = strlen(s);
  for (size_t i = 0; i < len; i++) {
    if (s[i] != ' ')
      continue;
    size_t j = i + 1;
    while (s[j] >= '0' && s[j] <= '9')
      j++;
    if (j > i + 1 && s[j] == 'w' && (s[j + 1] == ',' || s[j + 1] == '\0' || s[j + 1] == ' '))
      return i;
  }
  /* no width token: a lone URL is fine, anything with spaces is not */
  return strchr(s, ' ') ? 0 : len;
}

/* IMDb's year: "1994", or the year ending "Episode aired May 11, 2017"; 0 when neither. */
static int ds_imdb_year(const char *s) {
  long y;
  size_t n = strlen(s);
  if (ds_parse_long(s, &y) == MR_OK)
    return (y >= 1800 && y <= 2100) ? (int)y : 0;
  if (n >= 5 && s[n - 5] == ' ' && ds_parse_long(s + n - 4, &y) == MR_OK && y >= 1800 && y <= 2100)
    return (int)y;
  return 0;
}

/* Counts one unusable IMDb field and shows it (column name, value) among the examples. */
static void ds_bad_field(ds_diag *d, long line, const mr_movie *m, int c, const char *v,
                         long *bad_fields) {
  if (*v)
    ds_note(d, line, "movie %d: bad %s '%.40s'", (int)m->id, ds_imdb_cols[c], v);
  else
    ds_note(d, line, "movie %d: missing %s", (int)m->id, ds_imdb_cols[c]);
  (*bad_fields)++;
}

/* Fills one movie from an IMDb record; parse failures are counted, not fatal. Only
 * MR_ENOMEM is returned as an error. */
static int ds_imdb_fill(mr_movie *m, const csv_field *fv, const int *col, ds_diag *d, long line,
                        long *bad_fields) {
  const char *v[IM_NCOLS];
  double r;
  int rc;
  for (int c = 0; c < IM_NCOLS; c++)
    v[c] = col[c] >= 0 ? fv[col[c]].s : "";
  if (!ds_tt_id(v[IM_URL], m->imdb_id))
    ds_bad_field(d, line, m, IM_URL, v[IM_URL], bad_fields);
  size_t pl = ds_first_srcset_url(v[IM_POSTER]);
  if (!pl)
    ds_bad_field(d, line, m, IM_POSTER, v[IM_POSTER], bad_fields);
  if ((rc = ds_set_str(&m->poster_url, v[IM_POSTER], pl)) != MR_OK)
    return rc;
  if (!*v[IM_DESC])
    ds_bad_field(d, line, m, IM_DESC, v[IM_DESC], bad_fields);
  if ((rc = ds_set_str(&m->description, v[IM_DESC], strlen(v[IM_DESC]))) != MR_OK)
    return rc;
  if (ds_parse_float(v[IM_RATING], &r) == MR_OK && r >= 1.0 && r <= 10.0)
    m->imdb_rating = (float)r;
  else
    ds_bad_field(d, line, m, IM_RATING, v[IM_RATING], bad_fields);
  if (csv_parse_votes(v[IM_VOTES], &m->imdb_votes) != MR_OK)
    ds_bad_field(d, line, m, IM_VOTES, v[IM_VOTES], bad_fields);
  mr_strlist *lists[3] = {&m->directors, &m->writers, &m->cast};
  for (int k = 0; k < 3; k++) {
    csv_strlist_free(lists[k]);
    rc = csv_parse_pylist(v[IM_DIRECTOR + k], lists[k]);
    if (rc == MR_ENOMEM)
      return rc;
    if (rc != MR_OK)
      ds_bad_field(d, line, m, IM_DIRECTOR + k, v[IM_DIRECTOR + k], bad_fields);
  }
  if (!*v[IM_AGE])
    ds_bad_field(d, line, m, IM_AGE, v[IM_AGE], bad_fields);
  if ((rc = ds_set_str(&m->age_rating, v[IM_AGE], strlen(v[IM_AGE]))) != MR_OK)
    return rc;
  if (!(m->imdb_year = ds_imdb_year(v[IM_YEAR])))
    ds_bad_field(d, line, m, IM_YEAR, v[IM_YEAR], bad_fields);
  if (csv_parse_runtime(v[IM_LENGTH], &m->runtime_min) != MR_OK)
    ds_bad_field(d, line, m, IM_LENGTH, v[IM_LENGTH], bad_fields);
  return MR_OK;
}

int ds_load_imdb(mr_dataset *ds, const char *path) {
  char *buf = NULL;
  size_t len, nf, n_header = 0;
  csv_reader *r = NULL;
  const csv_field *fv;
  int col[IM_NCOLS], rc;
  long read = 0, bad = 0, unmatched = 0, bad_fields = 0;
  unsigned char *done = NULL;
  ds_diag d = {ds_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = ds_read_file(path, &buf, &len)) != MR_OK)
    return rc;
  /* a UTF-8 byte order mark would otherwise glue itself to the first column name */
  size_t skip = (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
  if ((rc = csv_reader_create(buf + skip, len - skip, &r)) != MR_OK)
    goto fail;
  rc = csv_next_record(r, &fv, &nf);
  if (rc != 1) {
    fprintf(stderr, "%s: no header row\n", d.name);
    rc = rc < 0 ? rc : MR_EFORMAT;
    goto fail;
  }
  n_header = nf;
  for (int c = 0; c < IM_NCOLS; c++) {
    col[c] = -1;
    for (size_t k = 0; k < nf; k++)
      if (strcmp(fv[k].s, ds_imdb_cols[c]) == 0)
        col[c] = (int)k;
    if (col[c] < 0)
      fprintf(stderr, "  %s: no '%s' column\n", d.name, ds_imdb_cols[c]);
  }
  if (col[IM_ID] < 0) {
    rc = MR_EFORMAT;
    goto fail;
  }
  done = calloc((size_t)ds->n_movies + 1, 1);
  if (!done) {
    rc = MR_ENOMEM;
    goto fail;
  }
  for (;;) {
    long id;
    rc = csv_next_record(r, &fv, &nf);
    if (rc == 0)
      break;
    read++;
    if (rc == MR_EFORMAT) {
      ds_note(&d, csv_record_line(r), "unterminated quoted field: row skipped");
      bad++;
      continue;
    }
    if (rc < 0)
      goto fail;
    if (nf != n_header) {
      ds_note(&d, csv_record_line(r), "%zu fields, want %zu: row skipped", nf, n_header);
      bad++;
      continue;
    }
    if (ds_parse_long(fv[col[IM_ID]].s, &id) != MR_OK) {
      ds_note(&d, csv_record_line(r), "bad movie_id '%.20s': row skipped", fv[col[IM_ID]].s);
      bad++;
      continue;
    }
    int32_t mi = (id >= 0 && id <= INT32_MAX) ? ds_movie_index(ds, (int32_t)id) : -1;
    if (mi < 0) {
      ds_note(&d, csv_record_line(r), "movie_id %ld not in u.item: row skipped", id);
      unmatched++;
      continue;
    }
    if (done[mi]) {
      ds_note(&d, csv_record_line(r), "second row for movie_id %ld: row skipped", id);
      bad++;
      continue;
    }
    done[mi] = 1;
    mr_movie *m = &ds->movies[mi];
    if ((rc = ds_imdb_fill(m, fv, col, &d, csv_record_line(r), &bad_fields)) != MR_OK)
      goto fail;
    m->has_imdb = 1;
  }
  ds->report.imdb_rows_read += read;
  ds->report.imdb_rows_bad += bad;
  ds->report.imdb_rows_unmatched += unmatched;
  ds->report.imdb_fields_bad += bad_fields;
  fprintf(stderr, "imdb: %ld rows used, %ld bad rows, %ld unmatched, %ld bad fields\n",
          read - bad - unmatched, bad, unmatched, bad_fields);
  rc = MR_OK;
fail:
  free(done);
  csv_reader_free(r);
  free(buf);
  return rc;
}

const char *ds_resolve_dir(const char *flag) {
  struct stat st;
  const char *env;
  if (flag && *flag)
    return flag;
  env = getenv("MOVIEREC_DATA");
  if (env && *env)
    return env;
  if (stat("../shared/data", &st) == 0 && S_ISDIR(st.st_mode))
    return "../shared/data";
  return "data";
}

static void ds_set_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b) {
  if (err && errlen)
    snprintf(err, errlen, fmt, a, b);
}

int ds_load(const char *dir, mr_dataset **out, char *err, size_t errlen) {
  static const char *const files[5] = {"u.genre", "u.occupation", "u.item", "u.user", "u.data"};
  int (*const loaders[5])(mr_dataset *, const char *) = {
      ds_load_genres, ds_load_occupations, ds_load_movies, ds_load_users, ds_load_ratings};
  mr_dataset *ds = NULL;
  char path[4096];
  int rc;
  if (err && errlen)
    err[0] = '\0';
  if (!dir || !out)
    return MR_EINVAL;
  if ((rc = ds_create_empty(&ds)) != MR_OK)
    return rc;
  for (int i = 0; i < 5; i++) {
    if (snprintf(path, sizeof(path), "%s/ml-100k/%s", dir, files[i]) >= (int)sizeof(path)) {
      rc = MR_ERANGE;
      ds_set_err(err, errlen, "data path too long: %s%s", dir, "");
      goto fail;
    }
    rc = loaders[i](ds, path);
    if (rc == MR_ENOTFOUND) {
      ds_set_err(err, errlen, "missing data file: %s%s", path,
                 " (run scripts/download-data or pass --data DIR)");
      goto fail;
    }
    if (rc != MR_OK) {
      ds_set_err(err, errlen, "%s: %s", path, mr_strerror(rc));
      goto fail;
    }
  }
  if (snprintf(path, sizeof(path), "%s/imdb/ml100k_imdb_details.csv", dir) < (int)sizeof(path)) {
    rc = ds_load_imdb(ds, path);
    if (rc == MR_ENOMEM)
      goto fail;
    /* IMDb details are optional enrichment: anything short of OOM is only a note */
    if (rc == MR_ENOTFOUND)
      fprintf(stderr, "imdb: %s not found; continuing without IMDb details\n", path);
    else if (rc != MR_OK)
      fprintf(stderr, "imdb: %s: %s; continuing without IMDb details\n", path, mr_strerror(rc));
  }
  *out = ds;
  return MR_OK;
fail:
  ds_free(ds);
  return rc;
}
