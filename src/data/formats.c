/* Loaders for MovieLens 1M/10M ("::"), the MovieLens CSV releases and the generic format. */
#include "data/formats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "data/csv.h"
#include "data/dsio.h"

/* Ratings outside these bounds are bad rows: MovieLens uses 0.5..5 (1..5 before 10M); the
 * generic format takes any finite value within a sane range. */
#define FMT_ML_MIN 0.5
#define FMT_ML_MAX 5.0
#define FMT_ANY_MAX 1e9

/* The occupation codes of MovieLens 1M's users.dat, as its README names them. */
static const char *const fmt_ml1m_occupations[] = {"other",
                                                   "academic/educator",
                                                   "artist",
                                                   "clerical/admin",
                                                   "college/grad student",
                                                   "customer service",
                                                   "doctor/health care",
                                                   "executive/managerial",
                                                   "farmer",
                                                   "homemaker",
                                                   "K-12 student",
                                                   "lawyer",
                                                   "programmer",
                                                   "retired",
                                                   "sales/marketing",
                                                   "scientist",
                                                   "self-employed",
                                                   "technician/engineer",
                                                   "tradesman/craftsman",
                                                   "unemployed",
                                                   "writer"};
#define FMT_ML1M_N_OCC (int)(sizeof(fmt_ml1m_occupations) / sizeof(fmt_ml1m_occupations[0]))

static int fmt_join(char *out, size_t n, const char *dir, const char *file) {
  return snprintf(out, n, "%s/%s", dir, file) < (int)n ? MR_OK : MR_ERANGE;
}

static int fmt_has(const char *dir, const char *file) {
  char p[4096];
  return fmt_join(p, sizeof(p), dir, file) == MR_OK && dsio_is_file(p);
}

const char *fmt_detect(const char *dir) {
  if (fmt_has(dir, "u.data"))
    return "ml-100k";
  if (fmt_has(dir, "ratings.dat"))
    return fmt_has(dir, "users.dat") ? "ml-1m" : "ml-10m";
  if (fmt_has(dir, "ratings.csv") && fmt_has(dir, "items.csv"))
    return "generic";
  if (fmt_has(dir, "ratings.csv") && fmt_has(dir, "movies.csv"))
    return "ml-csv";
  return NULL;
}

const char *fmt_canonical(const char *name) {
  static const char *const alias[][2] = {
      {"ml-100k", "ml-100k"},        {"ml-1m", "ml-1m"},    {"ml-10m", "ml-10m"},
      {"ml-10M100K", "ml-10m"},      {"ml-csv", "ml-csv"},  {"ml-20m", "ml-csv"},
      {"ml-25m", "ml-csv"},          {"ml-32m", "ml-csv"},  {"ml-latest", "ml-csv"},
      {"ml-latest-small", "ml-csv"}, {"generic", "generic"}};
  for (size_t i = 0; name && i < sizeof(alias) / sizeof(alias[0]); i++)
    if (strcmp(name, alias[i][0]) == 0)
      return alias[i][1];
  return NULL;
}

/* Reads a file as UTF-8 (Latin-1 converted), without a byte order mark. */
static int fmt_read_utf8(const char *path, char **out, size_t *len) {
  char *raw = NULL;
  size_t raw_len;
  int rc = dsio_read_file(path, &raw, &raw_len);
  if (rc != MR_OK)
    return rc;
  size_t skip = (raw_len >= 3 && memcmp(raw, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
  rc = dsio_latin1_to_utf8(raw + skip, raw_len - skip, out, len);
  free(raw);
  return rc;
}

/* Adds the '|'-separated genres of s to movie m; "(no genres listed)" is none. */
static int fmt_genres(mr_dataset *ds, mr_movie *m, const char *s, dsio_diag *d, long line,
                      long *bad_fields) {
  while (*s) {
    const char *e = strchr(s, '|');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n && !(n == 18 && memcmp(s, "(no genres listed)", 18) == 0)) {
      int rc, g = ds_genre_add(ds, s, n, &rc);
      if (rc != MR_OK)
        return rc;
      if (g < 0) {
        dsio_note(d, line, "genre '%.*s': more than %d genres, dropped", (int)n, s, MR_MAX_GENRES);
        (*bad_fields)++;
      } else {
        m->genres |= 1u << g;
      }
    }
    s += n + (e != NULL);
  }
  return MR_OK;
}

/* A new movie from id and title (year from "(yyyy)"); *m NULL when the row is a duplicate
 * (noted). */
static int fmt_movie(mr_dataset *ds, const char *id_s, const char *title, dsio_diag *d, long line,
                     mr_movie **m, long *bad_rows) {
  int64_t id;
  int rc;
  *m = NULL;
  if (dsio_parse_i64(id_s, &id) != MR_OK) {
    dsio_note(d, line, "bad movie id '%.20s': row skipped", id_s);
    (*bad_rows)++;
    return MR_OK;
  }
  if (ds_movie_index(ds, id) >= 0) {
    dsio_note(d, line, "duplicate movie id %lld: row skipped", (long long)id);
    (*bad_rows)++;
    return MR_OK;
  }
  if ((rc = ds_add_movie(ds, id, m)) != MR_OK)
    return rc;
  if ((rc = dsio_set_str(&(*m)->title, title, strlen(title))) != MR_OK)
    return rc;
  (*m)->year = dsio_year_from_title(title);
  return MR_OK;
}

/* One rating row: ids resolved (users created on first sight when create_users), value
 * checked against [lo, hi]. Bad rows are noted and counted in *bad. */
static int fmt_rating(mr_dataset *ds, const char *us, const char *ms, const char *rs,
                      const char *ts_s, int create_users, double lo, double hi, dsio_diag *d,
                      long line, long *bad) {
  int64_t uid, mid, ts = 0;
  double r = 1.0;
  int32_t ui, mi;
  int rc;
  if (dsio_parse_i64(us, &uid) != MR_OK || dsio_parse_i64(ms, &mid) != MR_OK ||
      (rs && dsio_parse_float(rs, &r) != MR_OK) || (ts_s && dsio_parse_i64(ts_s, &ts) != MR_OK)) {
    dsio_note(d, line, "non-numeric field: row skipped");
    (*bad)++;
    return MR_OK;
  }
  if ((mi = ds_movie_index(ds, mid)) < 0) {
    dsio_note(d, line, "unknown movie id %lld: row skipped", (long long)mid);
    (*bad)++;
    return MR_OK;
  }
  if (!(r >= lo && r <= hi)) {
    dsio_note(d, line, "rating %s outside %g..%g: row skipped", rs, lo, hi);
    (*bad)++;
    return MR_OK;
  }
  if (create_users) {
    if ((rc = ds_add_user(ds, uid, &ui, NULL)) != MR_OK)
      return rc;
  } else if ((ui = ds_user_index(ds, uid)) < 0) {
    dsio_note(d, line, "unknown user id %lld: row skipped", (long long)uid);
    (*bad)++;
    return MR_OK;
  }
  return ds_add_rating(ds, ui, mi, (float)r, ts);
}

/* One tag row: the movie must be known; the tag text becomes a content term. */
static int fmt_tag(mr_dataset *ds, const char *ms, const char *tag, dsio_diag *d, long line,
                   long *bad) {
  int64_t mid;
  int32_t mi;
  int added;
  if (dsio_parse_i64(ms, &mid) != MR_OK || (mi = ds_movie_index(ds, mid)) < 0) {
    dsio_note(d, line, "unknown movie id '%.20s': tag skipped", ms);
    (*bad)++;
    return MR_OK;
  }
  return ds_add_tag(ds, mi, tag, strlen(tag), &added);
}

/* ---- "::" files ---- */

int fmt_load_dat_movies(mr_dataset *ds, const char *path) {
  char *buf = NULL, *line, *f[3];
  size_t len;
  long read = 0, bad_rows = 0, bad_fields = 0;
  int rc;
  dsio_diag d = {dsio_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = fmt_read_utf8(path, &buf, &len)) != MR_OK)
    return rc;
  dsio_lines it = {buf, buf + len, 0};
  while ((line = dsio_next_line(&it))) {
    mr_movie *m;
    if (!*line)
      continue;
    read++;
    int nf = dsio_split(line, "::", f, 3);
    if (nf != 3) {
      dsio_note(&d, it.line, "%d fields, want 3 (MovieID::Title::Genres): row skipped", nf);
      bad_rows++;
      continue;
    }
    if ((rc = fmt_movie(ds, f[0], f[1], &d, it.line, &m, &bad_rows)) != MR_OK)
      goto fail;
    if (m && (rc = fmt_genres(ds, m, f[2], &d, it.line, &bad_fields)) != MR_OK)
      goto fail;
  }
  ds->report.movies_read += read;
  ds->report.movies_bad_fields += bad_rows + bad_fields;
  dsio_summary(d.name, "movies", read, bad_rows, bad_fields);
  rc = MR_OK;
fail:
  free(buf);
  return rc;
}

int fmt_load_dat_users(mr_dataset *ds, const char *path) {
  char *buf = NULL, *line, *f[5];
  size_t len;
  long read = 0, bad_rows = 0, bad_fields = 0;
  int rc;
  dsio_diag d = {dsio_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = dsio_read_file(path, &buf, &len)) != MR_OK)
    return rc;
  if (ds->n_occupations == 0) {
    if (!(ds->occupations = calloc(FMT_ML1M_N_OCC, sizeof(char *)))) {
      rc = MR_ENOMEM;
      goto fail;
    }
    for (int k = 0; k < FMT_ML1M_N_OCC; k++, ds->n_occupations++)
      if ((rc = dsio_set_str(&ds->occupations[k], fmt_ml1m_occupations[k],
                             strlen(fmt_ml1m_occupations[k]))) != MR_OK)
        goto fail;
  }
  dsio_lines it = {buf, buf + len, 0};
  while ((line = dsio_next_line(&it))) {
    int64_t id;
    long age, occ;
    int32_t ui;
    int added;
    if (!*line)
      continue;
    read++;
    int nf = dsio_split(line, "::", f, 5);
    if (nf != 5 || dsio_parse_i64(f[0], &id) != MR_OK) {
      dsio_note(&d, it.line, "want UserID::Gender::Age::Occupation::Zip: row skipped");
      bad_rows++;
      continue;
    }
    if ((rc = ds_add_user(ds, id, &ui, &added)) != MR_OK)
      goto fail;
    if (!added) {
      dsio_note(&d, it.line, "duplicate user id %lld: row skipped", (long long)id);
      bad_rows++;
      continue;
    }
    mr_user *u = &ds->users[ui];
    if (strcmp(f[1], "M") == 0 || strcmp(f[1], "F") == 0) {
      u->gender = f[1][0];
    } else {
      dsio_note(&d, it.line, "user %lld: bad gender '%s'", (long long)id, f[1]);
      bad_fields++;
    }
    /* the age is a bucket's lower bound (1 = "under 18", 18, 25, ... 56) */
    if (dsio_parse_long(f[2], &age) == MR_OK && age > 0 && age < 130) {
      u->age = (int)age;
    } else {
      dsio_note(&d, it.line, "user %lld: bad age '%s'", (long long)id, f[2]);
      bad_fields++;
    }
    if (dsio_parse_long(f[3], &occ) == MR_OK && occ >= 0 && occ < ds->n_occupations) {
      u->occupation = (int)occ;
    } else {
      dsio_note(&d, it.line, "user %lld: bad occupation '%s'", (long long)id, f[3]);
      bad_fields++;
    }
    size_t zl = strlen(f[4]);
    if (zl >= sizeof(u->zip))
      zl = sizeof(u->zip) - 1;
    memcpy(u->zip, f[4], zl);
    u->zip[zl] = '\0';
  }
  ds->report.users_read += read;
  ds->report.users_bad_fields += bad_rows + bad_fields;
  dsio_summary(d.name, "users", read, bad_rows, bad_fields);
  rc = MR_OK;
fail:
  free(buf);
  return rc;
}

int fmt_load_dat_ratings(mr_dataset *ds, const char *path, int create_users) {
  char *buf = NULL, *line, *f[4];
  size_t len;
  long read = 0, bad = 0;
  int rc;
  dsio_diag d = {dsio_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = dsio_read_file(path, &buf, &len)) != MR_OK)
    return rc;
  /* lines are ~25 bytes: one allocation up front instead of many doublings */
  if ((rc = dsio_grow((void **)&ds->ratings, sizeof(mr_rating), ds->n_ratings + len / 20 + 1,
                      &ds->ratings_cap)) != MR_OK)
    goto fail;
  dsio_lines it = {buf, buf + len, 0};
  while ((line = dsio_next_line(&it))) {
    if (!*line)
      continue;
    read++;
    int nf = dsio_split(line, "::", f, 4);
    if (nf != 4) {
      dsio_note(&d, it.line, "%d fields, want 4 (UserID::MovieID::Rating::Timestamp): row skipped",
                nf);
      bad++;
      continue;
    }
    if ((rc = fmt_rating(ds, f[0], f[1], f[2], f[3], create_users, FMT_ML_MIN, FMT_ML_MAX, &d,
                         it.line, &bad)) != MR_OK)
      goto fail;
  }
  ds->report.ratings_read += read;
  ds->report.ratings_bad += bad;
  fprintf(stderr, "%s: %ld ratings used, %ld bad rows\n", d.name, read - bad, bad);
  rc = MR_OK;
fail:
  free(buf);
  return rc;
}

int fmt_load_dat_tags(mr_dataset *ds, const char *path) {
  char *buf = NULL, *line, *f[4];
  size_t len;
  long read = 0, bad = 0;
  int rc;
  dsio_diag d = {dsio_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = fmt_read_utf8(path, &buf, &len)) != MR_OK)
    return rc;
  dsio_lines it = {buf, buf + len, 0};
  while ((line = dsio_next_line(&it))) {
    if (!*line)
      continue;
    read++;
    if (dsio_split(line, "::", f, 4) != 4) {
      dsio_note(&d, it.line, "want UserID::MovieID::Tag::Timestamp: row skipped");
      bad++;
      continue;
    }
    if ((rc = fmt_tag(ds, f[1], f[2], &d, it.line, &bad)) != MR_OK)
      goto fail;
  }
  ds->report.tags_read += read;
  ds->report.tags_bad += bad;
  fprintf(stderr, "%s: %ld tags used, %ld bad rows\n", d.name, read - bad, bad);
  rc = MR_OK;
fail:
  free(buf);
  return rc;
}

/* ---- CSV files with a header ---- */

/* An open CSV file: buffer, reader, the header's column count and the columns wanted. */
typedef struct fmt_csv {
  char *buf;
  csv_reader *r;
  size_t n_header;
  dsio_diag d;
} fmt_csv;

static void fmt_csv_close(fmt_csv *c) {
  csv_reader_free(c->r);
  free(c->buf);
}

/* Opens path and reads the header; col[k] is the index of the first of names[k]'s
 * alternatives ("a|b") present, -1 when absent. MR_EFORMAT (noted) when a required column
 * (req[k]) is missing. */
static int fmt_csv_open(fmt_csv *c, const char *path, int n, const char *const *names,
                        const int *req, int *col) {
  const csv_field *fv;
  size_t nf, len;
  int rc;
  memset(c, 0, sizeof(*c));
  c->d.name = dsio_basename(path);
  if ((rc = fmt_read_utf8(path, &c->buf, &len)) != MR_OK)
    return rc;
  if ((rc = csv_reader_create(c->buf, len, &c->r)) != MR_OK)
    goto fail;
  if ((rc = csv_next_record(c->r, &fv, &nf)) != 1) {
    fprintf(stderr, "%s: no header row\n", c->d.name);
    rc = rc < 0 ? rc : MR_EFORMAT;
    goto fail;
  }
  c->n_header = nf;
  for (int k = 0; k < n; k++) {
    col[k] = -1;
    for (const char *a = names[k]; *a && col[k] < 0;) {
      const char *e = strchr(a, '|');
      size_t al = e ? (size_t)(e - a) : strlen(a);
      for (size_t j = 0; j < nf && col[k] < 0; j++)
        if (fv[j].len == al && memcmp(fv[j].s, a, al) == 0)
          col[k] = (int)j;
      a += al + (e != NULL);
    }
    if (col[k] < 0 && req[k]) {
      fprintf(stderr, "%s: no '%s' column in the header\n", c->d.name, names[k]);
      rc = MR_EFORMAT;
      goto fail;
    }
  }
  return MR_OK;
fail:
  fmt_csv_close(c);
  return rc;
}

/* Next data record: 1 with fields, 0 at the end, <0 on OOM; bad records (unterminated quote,
 * fewer fields than the header) are noted, counted in *bad and skipped. */
static int fmt_csv_next(fmt_csv *c, const csv_field **fv, long *read, long *bad) {
  size_t nf;
  for (;;) {
    int rc = csv_next_record(c->r, fv, &nf);
    if (rc == 0 || (rc < 0 && rc != MR_EFORMAT))
      return rc;
    (*read)++;
    if (rc == MR_EFORMAT) {
      dsio_note(&c->d, csv_record_line(c->r), "unterminated quoted field: row skipped");
      (*bad)++;
      continue;
    }
    if (nf != c->n_header) {
      dsio_note(&c->d, csv_record_line(c->r), "%zu fields, want %zu: row skipped", nf, c->n_header);
      (*bad)++;
      continue;
    }
    return 1;
  }
}

static const char *fmt_val(const csv_field *fv, int col) {
  return col >= 0 ? fv[col].s : NULL;
}

int fmt_load_csv_movies(mr_dataset *ds, const char *path) {
  static const char *const names[] = {"movieId|item_id", "title", "genres"};
  static const int req[] = {1, 1, 0};
  int col[3], rc;
  long read = 0, bad_rows = 0, bad_fields = 0;
  const csv_field *fv;
  fmt_csv c;
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = fmt_csv_open(&c, path, 3, names, req, col)) != MR_OK)
    return rc;
  while ((rc = fmt_csv_next(&c, &fv, &read, &bad_rows)) == 1) {
    mr_movie *m;
    long line = csv_record_line(c.r);
    if ((rc = fmt_movie(ds, fv[col[0]].s, fv[col[1]].s, &c.d, line, &m, &bad_rows)) != MR_OK)
      break;
    if (m && col[2] >= 0 && (rc = fmt_genres(ds, m, fv[col[2]].s, &c.d, line, &bad_fields)))
      break;
  }
  if (rc == 0) {
    ds->report.movies_read += read;
    ds->report.movies_bad_fields += bad_rows + bad_fields;
    dsio_summary(c.d.name, "movies", read, bad_rows, bad_fields);
  }
  fmt_csv_close(&c);
  return rc;
}

int fmt_load_csv_ratings(mr_dataset *ds, const char *path) {
  static const char *const names[] = {"userId|user_id", "movieId|item_id", "rating", "timestamp"};
  static const int req[] = {1, 1, 0, 0};
  int col[4], rc;
  long read = 0, bad = 0;
  const csv_field *fv;
  fmt_csv c;
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = fmt_csv_open(&c, path, 4, names, req, col)) != MR_OK)
    return rc;
  if (col[2] < 0) {
    ds->scale.implicit = 1;
    fprintf(stderr, "%s: no rating column: implicit feedback (every row is a like)\n", c.d.name);
  }
  /* the generic format takes any finite value; MovieLens stays within its stars */
  int generic = strcmp(ds->format, "generic") == 0;
  double lo = generic ? -FMT_ANY_MAX : FMT_ML_MIN, hi = generic ? FMT_ANY_MAX : FMT_ML_MAX;
  /* MovieLens' CSV rows are ~25 bytes: one allocation up front */
  size_t est = strlen(c.buf) / 24 + 1;
  if ((rc = dsio_grow((void **)&ds->ratings, sizeof(mr_rating), ds->n_ratings + est,
                      &ds->ratings_cap)) != MR_OK) {
    fmt_csv_close(&c);
    return rc;
  }
  while ((rc = fmt_csv_next(&c, &fv, &read, &bad)) == 1)
    if ((rc = fmt_rating(ds, fv[col[0]].s, fv[col[1]].s, fmt_val(fv, col[2]), fmt_val(fv, col[3]),
                         1, lo, hi, &c.d, csv_record_line(c.r), &bad)))
      break;
  if (rc == 0) {
    ds->report.ratings_read += read;
    ds->report.ratings_bad += bad;
    fprintf(stderr, "%s: %ld ratings used, %ld bad rows\n", c.d.name, read - bad, bad);
  }
  fmt_csv_close(&c);
  return rc;
}

int fmt_load_csv_tags(mr_dataset *ds, const char *path) {
  static const char *const names[] = {"movieId|item_id", "tag"};
  static const int req[] = {1, 1};
  int col[2], rc;
  long read = 0, bad = 0;
  const csv_field *fv;
  fmt_csv c;
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = fmt_csv_open(&c, path, 2, names, req, col)) != MR_OK)
    return rc;
  while ((rc = fmt_csv_next(&c, &fv, &read, &bad)) == 1)
    if ((rc = fmt_tag(ds, fv[col[0]].s, fv[col[1]].s, &c.d, csv_record_line(c.r), &bad)))
      break;
  if (rc == 0) {
    ds->report.tags_read += read;
    ds->report.tags_bad += bad;
    fprintf(stderr, "%s: %ld tags used, %ld bad rows\n", c.d.name, read - bad, bad);
  }
  fmt_csv_close(&c);
  return rc;
}

int fmt_load_csv_links(mr_dataset *ds, const char *path) {
  static const char *const names[] = {"movieId", "imdbId"};
  static const int req[] = {1, 1};
  int col[2], rc;
  long read = 0, bad = 0;
  const csv_field *fv;
  fmt_csv c;
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = fmt_csv_open(&c, path, 2, names, req, col)) != MR_OK)
    return rc;
  while ((rc = fmt_csv_next(&c, &fv, &read, &bad)) == 1) {
    int64_t mid, imdb;
    int32_t mi;
    char url[64];
    long line = csv_record_line(c.r);
    if (dsio_parse_i64(fv[col[0]].s, &mid) != MR_OK || (mi = ds_movie_index(ds, mid)) < 0 ||
        dsio_parse_i64(fv[col[1]].s, &imdb) != MR_OK || imdb <= 0 || imdb > 999999999) {
      dsio_note(&c.d, line, "bad or unknown movieId/imdbId: row skipped");
      bad++;
      continue;
    }
    mr_movie *m = &ds->movies[mi];
    snprintf(m->imdb_id, sizeof(m->imdb_id), "tt%07lld", (long long)imdb);
    snprintf(url, sizeof(url), "https://www.imdb.com/title/%s/", m->imdb_id);
    if ((rc = dsio_set_str(&m->imdb_url, url, strlen(url))) != MR_OK)
      break;
  }
  if (rc == 0)
    fprintf(stderr, "%s: %ld links used, %ld bad rows\n", c.d.name, read - bad, bad);
  fmt_csv_close(&c);
  return rc;
}

/* Splits a '|'-separated field into a string list (empty items dropped). */
static int fmt_list(const char *s, mr_strlist *l) {
  int cap = 0;
  csv_strlist_free(l);
  while (*s) {
    const char *e = strchr(s, '|');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n) {
      if (l->n == cap) {
        int nc = cap ? cap * 2 : 4;
        char **p = realloc(l->items, (size_t)nc * sizeof(*p));
        if (!p)
          return MR_ENOMEM;
        l->items = p;
        cap = nc;
      }
      if (!(l->items[l->n] = malloc(n + 1)))
        return MR_ENOMEM;
      memcpy(l->items[l->n], s, n);
      l->items[l->n++][n] = '\0';
    }
    s += n + (e != NULL);
  }
  return MR_OK;
}

int fmt_load_items(mr_dataset *ds, const char *path) {
  enum { I_ID, I_TITLE, I_YEAR, I_GENRES, I_DESC, I_DIR, I_CAST, I_N };
  static const char *const names[I_N] = {"item_id",     "title",     "year", "genres",
                                         "description", "directors", "cast"};
  static const int req[I_N] = {1, 1, 0, 0, 0, 0, 0};
  int col[I_N], rc;
  long read = 0, bad_rows = 0, bad_fields = 0;
  const csv_field *fv;
  fmt_csv c;
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = fmt_csv_open(&c, path, I_N, names, req, col)) != MR_OK)
    return rc;
  while ((rc = fmt_csv_next(&c, &fv, &read, &bad_rows)) == 1) {
    mr_movie *m;
    long line = csv_record_line(c.r), y;
    if ((rc = fmt_movie(ds, fv[col[I_ID]].s, fv[col[I_TITLE]].s, &c.d, line, &m, &bad_rows)))
      break;
    if (!m)
      continue;
    const char *v = fmt_val(fv, col[I_YEAR]);
    if (v && *v) {
      if (dsio_parse_long(v, &y) == MR_OK && y >= 1800 && y <= 2100) {
        m->year = (int)y;
      } else {
        dsio_note(&c.d, line, "item %lld: bad year '%.20s'", (long long)m->id, v);
        bad_fields++;
      }
    }
    if (col[I_GENRES] >= 0 &&
        (rc = fmt_genres(ds, m, fv[col[I_GENRES]].s, &c.d, line, &bad_fields)))
      break;
    if ((v = fmt_val(fv, col[I_DESC])) && (rc = dsio_set_str(&m->description, v, strlen(v))))
      break;
    if ((v = fmt_val(fv, col[I_DIR])) && (rc = fmt_list(v, &m->directors)))
      break;
    if ((v = fmt_val(fv, col[I_CAST])) && (rc = fmt_list(v, &m->cast)))
      break;
  }
  if (rc == 0) {
    ds->report.movies_read += read;
    ds->report.movies_bad_fields += bad_rows + bad_fields;
    dsio_summary(c.d.name, "items", read, bad_rows, bad_fields);
  }
  fmt_csv_close(&c);
  return rc;
}

/* Index of an occupation name, added to the vocabulary when new. */
static int fmt_occupation(mr_dataset *ds, const char *name, int *occ) {
  for (int k = 0; k < ds->n_occupations; k++)
    if (strcmp(ds->occupations[k], name) == 0) {
      *occ = k;
      return MR_OK;
    }
  char **p = realloc(ds->occupations, ((size_t)ds->n_occupations + 1) * sizeof(*p));
  if (!p)
    return MR_ENOMEM;
  ds->occupations = p;
  p[ds->n_occupations] = NULL;
  int rc = dsio_set_str(&p[ds->n_occupations], name, strlen(name));
  if (rc != MR_OK)
    return rc;
  *occ = ds->n_occupations++;
  return MR_OK;
}

int fmt_load_csv_users(mr_dataset *ds, const char *path) {
  enum { U_ID, U_AGE, U_GENDER, U_OCC, U_ZIP, U_N };
  static const char *const names[U_N] = {"user_id", "age", "gender", "occupation", "zip"};
  static const int req[U_N] = {1, 0, 0, 0, 0};
  int col[U_N], rc;
  long read = 0, bad_rows = 0, bad_fields = 0;
  const csv_field *fv;
  fmt_csv c;
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = fmt_csv_open(&c, path, U_N, names, req, col)) != MR_OK)
    return rc;
  while ((rc = fmt_csv_next(&c, &fv, &read, &bad_rows)) == 1) {
    int64_t id;
    int32_t ui;
    int added;
    long age, line = csv_record_line(c.r);
    if (dsio_parse_i64(fv[col[U_ID]].s, &id) != MR_OK) {
      dsio_note(&c.d, line, "bad user_id '%.20s': row skipped", fv[col[U_ID]].s);
      bad_rows++;
      continue;
    }
    if ((rc = ds_add_user(ds, id, &ui, &added)) != MR_OK)
      break;
    if (!added) {
      dsio_note(&c.d, line, "duplicate user_id %lld: row skipped", (long long)id);
      bad_rows++;
      continue;
    }
    mr_user *u = &ds->users[ui];
    const char *v = fmt_val(fv, col[U_AGE]);
    if (v && *v) {
      if (dsio_parse_long(v, &age) == MR_OK && age > 0 && age < 130) {
        u->age = (int)age;
      } else {
        dsio_note(&c.d, line, "user %lld: bad age '%.20s'", (long long)id, v);
        bad_fields++;
      }
    }
    if ((v = fmt_val(fv, col[U_GENDER])) && (strcmp(v, "M") == 0 || strcmp(v, "F") == 0))
      u->gender = v[0];
    if ((v = fmt_val(fv, col[U_OCC])) && *v && (rc = fmt_occupation(ds, v, &u->occupation)))
      break;
    if ((v = fmt_val(fv, col[U_ZIP]))) {
      size_t zl = strlen(v);
      if (zl >= sizeof(u->zip))
        zl = sizeof(u->zip) - 1;
      memcpy(u->zip, v, zl);
      u->zip[zl] = '\0';
    }
  }
  if (rc == 0) {
    ds->report.users_read += read;
    ds->report.users_bad_fields += bad_rows + bad_fields;
    dsio_summary(c.d.name, "users", read, bad_rows, bad_fields);
  }
  fmt_csv_close(&c);
  return rc;
}

/* One file of a release: required files must exist; optional ones are skipped when absent. */
typedef struct fmt_file {
  const char *name;
  int required;
  int (*load)(mr_dataset *, const char *);
} fmt_file;

static int fmt_ratings_known_users(mr_dataset *ds, const char *p) {
  return fmt_load_dat_ratings(ds, p, 0);
}

static int fmt_ratings_new_users(mr_dataset *ds, const char *p) {
  return fmt_load_dat_ratings(ds, p, 1);
}

int fmt_load(mr_dataset *ds, const char *format, const char *dir, char *err, size_t errlen) {
  static const fmt_file ml1m[] = {{"movies.dat", 1, fmt_load_dat_movies},
                                  {"users.dat", 1, fmt_load_dat_users},
                                  {"ratings.dat", 1, fmt_ratings_known_users},
                                  {NULL, 0, NULL}};
  static const fmt_file ml10m[] = {{"movies.dat", 1, fmt_load_dat_movies},
                                   {"ratings.dat", 1, fmt_ratings_new_users},
                                   {"tags.dat", 0, fmt_load_dat_tags},
                                   {NULL, 0, NULL}};
  static const fmt_file mlcsv[] = {{"movies.csv", 1, fmt_load_csv_movies},
                                   {"ratings.csv", 1, fmt_load_csv_ratings},
                                   {"tags.csv", 0, fmt_load_csv_tags},
                                   {"links.csv", 0, fmt_load_csv_links},
                                   {NULL, 0, NULL}};
  static const fmt_file generic[] = {{"items.csv", 1, fmt_load_items},
                                     {"users.csv", 0, fmt_load_csv_users},
                                     {"ratings.csv", 1, fmt_load_csv_ratings},
                                     {NULL, 0, NULL}};
  const fmt_file *files = !strcmp(format, "ml-1m")     ? ml1m
                          : !strcmp(format, "ml-10m")  ? ml10m
                          : !strcmp(format, "ml-csv")  ? mlcsv
                          : !strcmp(format, "generic") ? generic
                                                       : NULL;
  char path[4096];
  if (!ds || !dir)
    return MR_EINVAL;
  if (!files) {
    snprintf(err, errlen, "unknown data format '%s'", format);
    return MR_EINVAL;
  }
  snprintf(ds->format, sizeof(ds->format), "%s", format);
  for (; files->name; files++) {
    if (fmt_join(path, sizeof(path), dir, files->name) != MR_OK) {
      snprintf(err, errlen, "data path too long: %s", dir);
      return MR_ERANGE;
    }
    if (!files->required && !dsio_is_file(path))
      continue;
    int rc = files->load(ds, path);
    if (rc == MR_ENOTFOUND) {
      snprintf(err, errlen, "missing data file: %s (format %s)", path, format);
      return rc;
    }
    if (rc != MR_OK) {
      snprintf(err, errlen, "%s: %s", path, mr_strerror(rc));
      return rc;
    }
  }
  return MR_OK;
}
