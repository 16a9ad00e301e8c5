/* Loaders for MovieLens 100k (u.data, u.item, u.user, u.genre, u.occupation) and the IMDb
 * details CSV: tolerant of bad rows, which are counted, sampled on stderr and skipped. */
#include "data/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/stat.h>

#include "core/mr_error.h"
#include "data/csv.h"
#include "data/dsio.h"
#include "data/formats.h"

#define DS_ML_GENRES 19 /* u.item's genre flags when u.genre was not loaded (ml-100k) */
#define DS_MAX_TAGS 64  /* per movie: enough content terms, bounded memory on ml-25m */

int ds_create_empty(mr_dataset **out) {
  if (!out)
    return MR_EINVAL;
  mr_dataset *ds = calloc(1, sizeof(*ds));
  if (!ds)
    return MR_ENOMEM;
  if (idmap_create(0, &ds->user_ids) != MR_OK || idmap_create(0, &ds->movie_ids) != MR_OK) {
    idmap_free(ds->user_ids);
    free(ds);
    return MR_ENOMEM;
  }
  ds->scale = (mr_scale){1.0f, 5.0f, 1.0f, 0};
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
  csv_strlist_free(&m->tags);
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
  idmap_free(ds->user_ids);
  idmap_free(ds->movie_ids);
  free(ds);
}

int32_t ds_user_index(const mr_dataset *ds, int64_t id) {
  return ds ? idmap_find(ds->user_ids, id) : -1;
}

int32_t ds_movie_index(const mr_dataset *ds, int64_t id) {
  return ds ? idmap_find(ds->movie_ids, id) : -1;
}

/* Builds one id map from the ids at ids[i * stride]; MR_EINVAL on a duplicate. */
static int ds_index_map(const int64_t *ids, size_t stride, int32_t n, idmap **map) {
  idmap *m = NULL;
  int rc = idmap_create((size_t)n, &m);
  for (int32_t i = 0; rc == MR_OK && i < n; i++) {
    int64_t id = *(const int64_t *)((const char *)ids + (size_t)i * stride);
    int32_t idx;
    int added;
    if ((rc = idmap_add(m, id, &idx, &added)) == MR_OK && !added)
      rc = MR_EINVAL;
  }
  if (rc != MR_OK) {
    idmap_free(m);
    return rc;
  }
  idmap_free(*map);
  *map = m;
  return MR_OK;
}

int ds_build_index(mr_dataset *ds) {
  int rc;
  if (!ds)
    return MR_EINVAL;
  if ((rc = ds_index_map(ds->users ? &ds->users[0].id : NULL, sizeof(mr_user), ds->n_users,
                         &ds->user_ids)) != MR_OK)
    return rc;
  return ds_index_map(ds->movies ? &ds->movies[0].id : NULL, sizeof(mr_movie), ds->n_movies,
                      &ds->movie_ids);
}

/* Room for one more user / movie. A hand-made array has capacity 0 and is grown here. */
static int ds_grow_users(mr_dataset *ds) {
  return dsio_grow((void **)&ds->users, sizeof(mr_user), (size_t)ds->n_users + 1, &ds->users_cap);
}

static int ds_grow_movies(mr_dataset *ds) {
  return dsio_grow((void **)&ds->movies, sizeof(mr_movie), (size_t)ds->n_movies + 1,
                   &ds->movies_cap);
}

int ds_add_user(mr_dataset *ds, int64_t id, int32_t *idx, int *added) {
  int rc, fresh;
  if (!ds || !idx)
    return MR_EINVAL;
  if (added)
    *added = 0;
  if ((*idx = idmap_find(ds->user_ids, id)) >= 0)
    return MR_OK;
  if ((rc = ds_grow_users(ds)) != MR_OK)
    return rc;
  if ((rc = idmap_add(ds->user_ids, id, idx, &fresh)) != MR_OK)
    return rc;
  mr_user *u = &ds->users[ds->n_users++];
  memset(u, 0, sizeof(*u));
  u->id = id;
  u->gender = '?';
  u->occupation = -1;
  if (added)
    *added = 1;
  return MR_OK;
}

int ds_add_movie(mr_dataset *ds, int64_t id, mr_movie **out) {
  int rc, fresh;
  int32_t idx;
  if (!ds || !out)
    return MR_EINVAL;
  if (idmap_find(ds->movie_ids, id) >= 0)
    return MR_EINVAL;
  if ((rc = ds_grow_movies(ds)) != MR_OK)
    return rc;
  mr_movie *m = &ds->movies[ds->n_movies];
  memset(m, 0, sizeof(*m));
  /* every string is non-NULL so callers never check */
  if (!(m->title = calloc(1, 1)) || !(m->release_date = calloc(1, 1)) ||
      !(m->imdb_url = calloc(1, 1)) || !(m->description = calloc(1, 1)) ||
      !(m->age_rating = calloc(1, 1)) || !(m->poster_url = calloc(1, 1)) ||
      (rc = idmap_add(ds->movie_ids, id, &idx, &fresh)) != MR_OK) {
    ds_movie_clear(m);
    return MR_ENOMEM;
  }
  m->id = id;
  ds->n_movies++;
  *out = m;
  return MR_OK;
}

int ds_add_rating(mr_dataset *ds, int32_t user, int32_t movie, float rating, int64_t ts) {
  int rc;
  if (!ds)
    return MR_EINVAL;
  if (ds->n_ratings >= ds->ratings_cap &&
      (rc = dsio_grow((void **)&ds->ratings, sizeof(mr_rating), ds->n_ratings + 1,
                      &ds->ratings_cap)) != MR_OK)
    return rc;
  ds->ratings[ds->n_ratings++] = (mr_rating){user, movie, rating, ts};
  return MR_OK;
}

int ds_add_tag(mr_dataset *ds, int32_t movie, const char *tag, size_t len, int *added) {
  if (!ds || movie < 0 || movie >= ds->n_movies || !tag)
    return MR_EINVAL;
  mr_strlist *l = &ds->movies[movie].tags;
  *added = 0;
  while (len && (*tag == ' ' || *tag == '\t'))
    tag++, len--;
  while (len && (tag[len - 1] == ' ' || tag[len - 1] == '\t'))
    len--;
  if (!len || l->n >= DS_MAX_TAGS)
    return MR_OK;
  for (int i = 0; i < l->n; i++)
    if (strlen(l->items[i]) == len && strncasecmp(l->items[i], tag, len) == 0)
      return MR_OK;
  /* n is a power of two or below 4 exactly when the array is full */
  if (l->n < 4 || (l->n & (l->n - 1)) == 0) {
    size_t nc = l->n < 4 ? 4 : (size_t)l->n * 2;
    char **p = realloc(l->items, nc * sizeof(*p));
    if (!p)
      return MR_ENOMEM;
    l->items = p;
  }
  char *t = malloc(len + 1);
  if (!t)
    return MR_ENOMEM;
  memcpy(t, tag, len);
  t[len] = '\0';
  l->items[l->n++] = t;
  *added = 1;
  return MR_OK;
}

int ds_genre_add(mr_dataset *ds, const char *name, size_t len, int *rc) {
  *rc = MR_OK;
  for (int g = 0; g < ds->n_genres; g++)
    if (ds->genre_names[g] && strlen(ds->genre_names[g]) == len &&
        memcmp(ds->genre_names[g], name, len) == 0)
      return g;
  if (ds->n_genres >= MR_MAX_GENRES)
    return -1;
  if ((*rc = dsio_set_str(&ds->genre_names[ds->n_genres], name, len)) != MR_OK)
    return -1;
  return ds->n_genres++;
}

/* 1 when every rating is min + k * step (to float precision). */
static int ds_on_grid(const mr_dataset *ds, double min, double step) {
  for (size_t k = 0; k < ds->n_ratings; k++) {
    double q = (ds->ratings[k].rating - min) / step;
    if (fabs(q - floor(q + 0.5)) > 1e-4)
      return 0;
  }
  return 1;
}

void ds_scale_from_data(mr_dataset *ds) {
  static const double steps[] = {1.0, 0.5, 0.25, 0.1};
  if (!ds)
    return;
  if (ds->scale.implicit) {
    ds->scale = (mr_scale){1.0f, 1.0f, 1.0f, 1};
    return;
  }
  if (!ds->n_ratings) {
    ds->scale = (mr_scale){1.0f, 5.0f, 1.0f, 0};
    return;
  }
  float mn = ds->ratings[0].rating, mx = mn;
  for (size_t k = 1; k < ds->n_ratings; k++) {
    float r = ds->ratings[k].rating;
    mn = r < mn ? r : mn;
    mx = r > mx ? r : mx;
  }
  ds->scale = (mr_scale){mn, mx, 0.0f, 0};
  for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
    if (ds_on_grid(ds, mn, steps[i])) {
      ds->scale.step = (float)steps[i];
      break;
    }
  /* MovieLens releases rate step..5 stars (1 or 0.5 steps): a small sample without any 1 star
   * still accepts one */
  if (strncmp(ds->format, "ml-", 3) == 0 && ds->scale.step >= 0.5f && mn >= ds->scale.step &&
      mx <= 5.0f) {
    ds->scale.min = ds->scale.step;
    ds->scale.max = 5.0f;
  }
}

int ds_scale_allows(const mr_scale *s, double v) {
  if (!s || !isfinite(v))
    return 0;
  if (s->implicit)
    return fabs(v - 1.0) < 1e-6;
  if (v < s->min - 1e-6 || v > s->max + 1e-6)
    return 0;
  if (s->step <= 0)
    return 1;
  double q = (v - s->min) / s->step;
  return fabs(q - floor(q + 0.5)) < 1e-4;
}

void ds_scale_describe(const mr_scale *s, char *buf, size_t len) {
  size_t n = 0;
  if (!buf || !len)
    return;
  buf[0] = '\0';
  if (!s)
    return;
  if (s->implicit) {
    snprintf(buf, len, "1 (implicit feedback: liked)");
    return;
  }
  if (s->step <= 0) {
    snprintf(buf, len, "any value in [%g, %g]", s->min, s->max);
    return;
  }
  long count = lround((s->max - s->min) / s->step) + 1;
  for (long k = 0; k < count && n < len; k++) {
    if (count > 10 && k == 3) {
      n += (size_t)snprintf(buf + n, len - n, ", ...");
      k = count - 2;
      continue;
    }
    n += (size_t)snprintf(buf + n, len - n, "%s%g", k ? ", " : "", s->min + (double)k * s->step);
  }
}

/* Dedupe order: user, movie, then timestamp, then position in the file (the latest last). */
typedef struct ds_dup_key {
  int32_t item;
  uint32_t pos;
  int64_t ts;
} ds_dup_key;

static int ds_dup_cmp(const void *a, const void *b) {
  const ds_dup_key *x = a, *y = b;
  if (x->item != y->item)
    return x->item < y->item ? -1 : 1;
  if (x->ts != y->ts)
    return x->ts < y->ts ? -1 : 1;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int ds_dedupe_ratings(mr_dataset *ds) {
  size_t n, *start = NULL;
  ds_dup_key *keys = NULL;
  unsigned char *drop = NULL;
  long dups = 0;
  int rc = MR_ENOMEM;
  if (!ds)
    return MR_EINVAL;
  n = ds->n_ratings;
  if (n < 2)
    return MR_OK;
  if (n > UINT32_MAX)
    return MR_ERANGE;
  /* bucket the rows by user (counting sort, stable), then sort each user's few rows */
  if (!(start = calloc((size_t)ds->n_users + 2, sizeof(*start))) ||
      !(keys = malloc(n * sizeof(*keys))) || !(drop = calloc(n, 1)))
    goto done;
  for (size_t k = 0; k < n; k++)
    start[ds->ratings[k].user + 2]++;
  for (int32_t u = 0; u < ds->n_users; u++)
    start[u + 2] += start[u + 1];
  for (size_t k = 0; k < n; k++) {
    const mr_rating *r = &ds->ratings[k];
    keys[start[r->user + 1]++] = (ds_dup_key){r->item, (uint32_t)k, r->ts};
  }
  for (int32_t u = 0; u < ds->n_users; u++) {
    ds_dup_key *seg = keys + start[u];
    size_t len = start[u + 1] - start[u];
    int sorted = 1;
    for (size_t k = 1; k < len && sorted; k++)
      sorted = seg[k - 1].item < seg[k].item;
    if (sorted)
      continue; /* distinct and ordered already: the common case */
    qsort(seg, len, sizeof(*seg), ds_dup_cmp);
    for (size_t k = 0; k + 1 < len; k++)
      if (seg[k].item == seg[k + 1].item) {
        drop[seg[k].pos] = 1;
        dups++;
      }
  }
  if (dups) {
    size_t w = 0;
    for (size_t k = 0; k < n; k++)
      if (!drop[k])
        ds->ratings[w++] = ds->ratings[k];
    ds->n_ratings = w;
    fprintf(stderr, "ratings: %ld duplicate (user, movie) rows: the latest of each kept\n", dups);
  }
  ds->report.ratings_dup += dups;
  rc = MR_OK;
done:
  free(start);
  free(keys);
  free(drop);
  return rc;
}

int ds_load_genres(mr_dataset *ds, const char *path) {
  char *buf = NULL, *line, *f[2];
  size_t len;
  int rc;
  long rows = 0;
  dsio_diag d = {dsio_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = dsio_read_file(path, &buf, &len)) != MR_OK)
    return rc;
  dsio_lines it = {buf, buf + len, 0};
  while ((line = dsio_next_line(&it))) {
    long idx;
    if (!*line)
      continue; /* u.genre ends with a blank line */
    rows++;
    if (dsio_split(line, "|", f, 2) != 2 || !*f[0] || dsio_parse_long(f[1], &idx) != MR_OK ||
        idx < 0 || idx >= MR_MAX_GENRES) {
      dsio_note(&d, it.line, "bad genre row (want name|index with index < %d)", MR_MAX_GENRES);
      continue;
    }
    if ((rc = dsio_set_str(&ds->genre_names[idx], f[0], strlen(f[0]))) != MR_OK)
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
  if ((rc = dsio_read_file(path, &buf, &len)) != MR_OK)
    return rc;
  dsio_lines it = {buf, buf + len, 0};
  while ((line = dsio_next_line(&it))) {
    if (!*line)
      continue;
    if ((rc = dsio_grow((void **)&ds->occupations, sizeof(char *), (size_t)ds->n_occupations + 1,
                        &cap)) != MR_OK)
      goto fail;
    ds->occupations[ds->n_occupations] = NULL;
    if ((rc = dsio_set_str(&ds->occupations[ds->n_occupations], line, strlen(line))) != MR_OK)
      goto fail;
    ds->n_occupations++;
  }
  fprintf(stderr, "%s: %d occupations\n", dsio_basename(path), ds->n_occupations);
  rc = MR_OK;
fail:
  free(buf);
  return rc;
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
  if (dsio_parse_long(tmp, &day) != MR_OK || day < 1 || day > 31 ||
      dsio_parse_long(m + 5, &year) != MR_OK || year < 1800 || year > 2100)
    return 0;
  for (int k = 0; k < 12; k++)
    if (memcmp(m + 1, ds_months[k], 3) == 0)
      return (int)year;
  return 0;
}

int ds_load_movies(mr_dataset *ds, const char *path) {
  char *raw = NULL, *buf = NULL, *line, *f[5 + MR_MAX_GENRES];
  size_t raw_len, len;
  long bad_rows = 0, read = 0, bad_fields = 0;
  int rc;
  dsio_diag d = {dsio_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = dsio_read_file(path, &raw, &raw_len)) != MR_OK)
    return rc;
  rc = dsio_latin1_to_utf8(raw, raw_len, &buf, &len);
  free(raw);
  if (rc != MR_OK)
    return rc;
  int n_flags = ds->n_genres ? ds->n_genres : DS_ML_GENRES;
  dsio_lines it = {buf, buf + len, 0};
  while ((line = dsio_next_line(&it))) {
    long id;
    if (!*line)
      continue;
    read++;
    int nf = dsio_split(line, "|", f, 5 + MR_MAX_GENRES);
    if (nf != 5 + n_flags) {
      dsio_note(&d, it.line, "%d fields, want %d: row skipped", nf, 5 + n_flags);
      bad_rows++;
      continue;
    }
    if (dsio_parse_long(f[0], &id) != MR_OK || id < 0) {
      dsio_note(&d, it.line, "bad movie id '%s': row skipped", f[0]);
      bad_rows++;
      continue;
    }
    if (ds_movie_index(ds, id) >= 0) {
      dsio_note(&d, it.line, "duplicate movie id %ld: row skipped", id);
      bad_rows++;
      continue;
    }
    mr_movie *m;
    if ((rc = ds_add_movie(ds, id, &m)) != MR_OK)
      goto fail;
    if ((rc = dsio_set_str(&m->title, f[1], strlen(f[1]))) != MR_OK ||
        (rc = dsio_set_str(&m->release_date, f[2], strlen(f[2]))) != MR_OK ||
        (rc = dsio_set_str(&m->imdb_url, f[4], strlen(f[4]))) != MR_OK)
      goto fail;
    if (!*f[1]) {
      dsio_note(&d, it.line, "movie %ld: empty title", id);
      bad_fields++;
    }
    m->year = ds_year_from_date(f[2]);
    if (!m->year) {
      dsio_note(&d, it.line, "movie %ld: bad release date '%s'", id, f[2]);
      bad_fields++;
      m->year = dsio_year_from_title(f[1]);
    }
    if (!*f[4]) {
      dsio_note(&d, it.line, "movie %ld: empty IMDb URL", id);
      bad_fields++;
    }
    for (int g = 0; g < n_flags; g++) {
      const char *v = f[5 + g];
      if (strcmp(v, "1") == 0) {
        m->genres |= 1u << g;
      } else if (strcmp(v, "0") != 0) {
        dsio_note(&d, it.line, "movie %ld: bad genre flag '%s'", id, v);
        bad_fields++;
      }
    }
  }
  ds->report.movies_read += read;
  ds->report.movies_bad_fields += bad_fields + bad_rows;
  dsio_summary(d.name, "movies", read, bad_rows, bad_fields);
  rc = MR_OK;
fail:
  free(buf);
  return rc;
}

int ds_load_users(mr_dataset *ds, const char *path) {
  char *buf = NULL, *line, *f[5];
  size_t len;
  long bad_rows = 0, read = 0, bad_fields = 0;
  int rc;
  dsio_diag d = {dsio_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = dsio_read_file(path, &buf, &len)) != MR_OK)
    return rc;
  dsio_lines it = {buf, buf + len, 0};
  while ((line = dsio_next_line(&it))) {
    long id, age;
    if (!*line)
      continue;
    read++;
    int nf = dsio_split(line, "|", f, 5);
    if (nf != 5) {
      dsio_note(&d, it.line, "%d fields, want 5: row skipped", nf);
      bad_rows++;
      continue;
    }
    if (dsio_parse_long(f[0], &id) != MR_OK || id < 0) {
      dsio_note(&d, it.line, "bad user id '%s': row skipped", f[0]);
      bad_rows++;
      continue;
    }
    int32_t ui;
    int added;
    if ((rc = ds_add_user(ds, id, &ui, &added)) != MR_OK)
      goto fail;
    if (!added) {
      dsio_note(&d, it.line, "duplicate user id %ld: row skipped", id);
      bad_rows++;
      continue;
    }
    mr_user *u = &ds->users[ui];
    if (dsio_parse_long(f[1], &age) == MR_OK && age > 0 && age < 130) {
      u->age = (int)age;
    } else {
      dsio_note(&d, it.line, "user %ld: bad age '%s'", id, f[1]);
      bad_fields++;
    }
    if (strcmp(f[2], "M") == 0 || strcmp(f[2], "F") == 0) {
      u->gender = f[2][0];
    } else {
      u->gender = '?';
      dsio_note(&d, it.line, "user %ld: bad gender '%s'", id, f[2]);
      bad_fields++;
    }
    u->occupation = -1;
    for (int k = 0; k < ds->n_occupations; k++)
      if (strcmp(ds->occupations[k], f[3]) == 0)
        u->occupation = k;
    if (u->occupation < 0) {
      dsio_note(&d, it.line, "user %ld: unknown occupation '%s'", id, f[3]);
      bad_fields++;
    }
    size_t zl = strlen(f[4]);
    if (zl == 0 || zl >= sizeof(u->zip)) {
      dsio_note(&d, it.line, "user %ld: bad zip '%s'", id, f[4]);
      bad_fields++;
      if (zl >= sizeof(u->zip))
        zl = sizeof(u->zip) - 1;
    }
    memcpy(u->zip, f[4], zl);
    u->zip[zl] = '\0';
  }
  ds->report.users_read += read;
  ds->report.users_bad_fields += bad_fields + bad_rows;
  dsio_summary(d.name, "users", read, bad_rows, bad_fields);
  rc = MR_OK;
fail:
  free(buf);
  return rc;
}

int ds_load_ratings(mr_dataset *ds, const char *path) {
  char *buf = NULL, *line, *f[4];
  size_t len;
  long read = 0, bad = 0;
  int rc;
  dsio_diag d = {dsio_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = dsio_read_file(path, &buf, &len)) != MR_OK)
    return rc;
  /* u.data lines are ~20 bytes: one allocation up front instead of many doublings */
  if ((rc = dsio_grow((void **)&ds->ratings, sizeof(mr_rating), ds->n_ratings + len / 16 + 1,
                      &ds->ratings_cap)) != MR_OK)
    goto fail;
  dsio_lines it = {buf, buf + len, 0};
  while ((line = dsio_next_line(&it))) {
    long uid, mid, ts;
    double r;
    if (!*line)
      continue;
    read++;
    int nf = dsio_split(line, "\t", f, 4);
    if (nf != 4) {
      dsio_note(&d, it.line, "%d fields, want 4: row skipped", nf);
      bad++;
      continue;
    }
    if (dsio_parse_long(f[0], &uid) != MR_OK || dsio_parse_long(f[1], &mid) != MR_OK ||
        dsio_parse_float(f[2], &r) != MR_OK || dsio_parse_long(f[3], &ts) != MR_OK) {
      dsio_note(&d, it.line, "non-numeric field: row skipped");
      bad++;
      continue;
    }
    int32_t ui = ds_user_index(ds, uid), mi = ds_movie_index(ds, mid);
    if (ui < 0 || mi < 0) {
      dsio_note(&d, it.line, "unknown %s id %ld: row skipped", ui < 0 ? "user" : "movie",
                ui < 0 ? uid : mid);
      bad++;
      continue;
    }
    if (!(r >= 1.0 && r <= 5.0)) {
      dsio_note(&d, it.line, "rating %s outside 1..5: row skipped", f[2]);
      bad++;
      continue;
    }
    if ((rc = ds_add_rating(ds, ui, mi, (float)r, (int64_t)ts)) != MR_OK)
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
  if (dsio_parse_long(s, &y) == MR_OK)
    return (y >= 1800 && y <= 2100) ? (int)y : 0;
  if (n >= 5 && s[n - 5] == ' ' && dsio_parse_long(s + n - 4, &y) == MR_OK && y >= 1800 &&
      y <= 2100)
    return (int)y;
  return 0;
}

/* Counts one unusable IMDb field and shows it (column name, value) among the examples. */
static void ds_bad_field(dsio_diag *d, long line, const mr_movie *m, int c, const char *v,
                         long *bad_fields) {
  if (*v)
    dsio_note(d, line, "movie %lld: bad %s '%.40s'", (long long)m->id, ds_imdb_cols[c], v);
  else
    dsio_note(d, line, "movie %lld: missing %s", (long long)m->id, ds_imdb_cols[c]);
  (*bad_fields)++;
}

/* Fills one movie from an IMDb record; parse failures are counted, not fatal. Only
 * MR_ENOMEM is returned as an error. */
static int ds_imdb_fill(mr_movie *m, const csv_field *fv, const int *col, dsio_diag *d, long line,
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
  if ((rc = dsio_set_str(&m->poster_url, v[IM_POSTER], pl)) != MR_OK)
    return rc;
  if (!*v[IM_DESC])
    ds_bad_field(d, line, m, IM_DESC, v[IM_DESC], bad_fields);
  if ((rc = dsio_set_str(&m->description, v[IM_DESC], strlen(v[IM_DESC]))) != MR_OK)
    return rc;
  if (dsio_parse_float(v[IM_RATING], &r) == MR_OK && r >= 1.0 && r <= 10.0)
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
  if ((rc = dsio_set_str(&m->age_rating, v[IM_AGE], strlen(v[IM_AGE]))) != MR_OK)
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
  dsio_diag d = {dsio_basename(path), 0};
  if (!ds || !path)
    return MR_EINVAL;
  if ((rc = dsio_read_file(path, &buf, &len)) != MR_OK)
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
      dsio_note(&d, csv_record_line(r), "unterminated quoted field: row skipped");
      bad++;
      continue;
    }
    if (rc < 0)
      goto fail;
    if (nf != n_header) {
      dsio_note(&d, csv_record_line(r), "%zu fields, want %zu: row skipped", nf, n_header);
      bad++;
      continue;
    }
    if (dsio_parse_long(fv[col[IM_ID]].s, &id) != MR_OK) {
      dsio_note(&d, csv_record_line(r), "bad movie_id '%.20s': row skipped", fv[col[IM_ID]].s);
      bad++;
      continue;
    }
    int32_t mi = ds_movie_index(ds, id);
    if (mi < 0) {
      dsio_note(&d, csv_record_line(r), "movie_id %ld not in u.item: row skipped", id);
      unmatched++;
      continue;
    }
    if (done[mi]) {
      dsio_note(&d, csv_record_line(r), "second row for movie_id %ld: row skipped", id);
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

/* ml-100k: dir holds u.*; the IMDb details are in imdb/ beside the release (the workplace's
 * layout: DATA/ml-100k + DATA/imdb) or inside it. */
static int ds_load_ml100k(mr_dataset *ds, const char *dir, char *err, size_t errlen) {
  static const char *const files[5] = {"u.genre", "u.occupation", "u.item", "u.user", "u.data"};
  int (*const loaders[5])(mr_dataset *, const char *) = {
      ds_load_genres, ds_load_occupations, ds_load_movies, ds_load_users, ds_load_ratings};
  char path[4096];
  int rc;
  for (int i = 0; i < 5; i++) {
    if (snprintf(path, sizeof(path), "%s/%s", dir, files[i]) >= (int)sizeof(path)) {
      ds_set_err(err, errlen, "data path too long: %s%s", dir, "");
      return MR_ERANGE;
    }
    rc = loaders[i](ds, path);
    if (rc == MR_ENOTFOUND) {
      ds_set_err(err, errlen, "missing data file: %s%s", path,
                 " (run scripts/download-data or pass --data DIR)");
      return rc;
    }
    if (rc != MR_OK) {
      ds_set_err(err, errlen, "%s: %s", path, mr_strerror(rc));
      return rc;
    }
  }
  if (snprintf(path, sizeof(path), "%s/../imdb/ml100k_imdb_details.csv", dir) >=
          (int)sizeof(path) ||
      !dsio_is_file(path)) {
    if (snprintf(path, sizeof(path), "%s/imdb/ml100k_imdb_details.csv", dir) >= (int)sizeof(path))
      return MR_OK; /* too long to be there */
  }
  rc = ds_load_imdb(ds, path);
  if (rc == MR_ENOMEM)
    return rc;
  /* IMDb details are optional enrichment: anything short of OOM is only a note */
  if (rc == MR_ENOTFOUND)
    fprintf(stderr, "imdb: %s not found; continuing without IMDb details\n", path);
  else if (rc != MR_OK)
    fprintf(stderr, "imdb: %s: %s; continuing without IMDb details\n", path, mr_strerror(rc));
  return MR_OK;
}

/* The release folder for dir: dir itself when it holds a release, else dir/NAME (NAME the
 * dataset, ml-10m also as ml-10M100K), else dir/ml-100k, else the only release under dir. */
static int ds_pick_release(const char *dir, const char *dataset, char *out, size_t n, char *err,
                           size_t errlen) {
  char cand[4096], found[4096] = "";
  int count = 0;
  if (fmt_detect(dir) && !(dataset && *dataset)) {
    snprintf(out, n, "%s", dir);
    return MR_OK;
  }
  if (dataset && *dataset) {
    const char *names[2] = {dataset, strcmp(dataset, "ml-10m") == 0 ? "ml-10M100K" : NULL};
    for (int k = 0; k < 2 && names[k]; k++) {
      snprintf(cand, sizeof(cand), "%s/%s", dir, names[k]);
      if (dsio_is_dir(cand)) {
        snprintf(out, n, "%s", cand);
        return MR_OK;
      }
    }
    ds_set_err(err, errlen, "no data set %s under %s", dataset, dir);
    return MR_ENOTFOUND;
  }
  snprintf(cand, sizeof(cand), "%s/ml-100k", dir);
  if (fmt_detect(cand)) {
    snprintf(out, n, "%s", cand);
    return MR_OK;
  }
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(cand, sizeof(cand), "%s/%s", dir, e->d_name);
    if (dsio_is_dir(cand) && fmt_detect(cand)) {
      if (count++)
        snprintf(found + strlen(found), sizeof(found) - strlen(found), ", ");
      snprintf(found + strlen(found), sizeof(found) - strlen(found), "%s", e->d_name);
    }
  }
  if (d)
    closedir(d);
  if (count == 1) {
    snprintf(out, n, "%s/%s", dir, found);
    return MR_OK;
  }
  if (count > 1) {
    ds_set_err(err, errlen, "several data sets under %s (%s): pick one with --dataset NAME", dir,
               found);
    return MR_EINVAL;
  }
  snprintf(cand, sizeof(cand), "%s/ml-100k/u.data", dir);
  ds_set_err(err, errlen, "missing data file: %s%s", cand,
             " (no data set found; run scripts/download-data or pass --data DIR)");
  return MR_ENOTFOUND;
}

int ds_load_as(const char *dir, const char *dataset, const char *format, mr_dataset **out,
               char *err, size_t errlen) {
  mr_dataset *ds = NULL;
  char release[4096], ebuf[8400] = "";
  int rc;
  if (err && errlen)
    err[0] = '\0';
  if (!dir || !out)
    return MR_EINVAL;
  if (!dataset)
    dataset = getenv("MOVIEREC_DATASET");
  if (!format || !*format)
    format = getenv("MOVIEREC_FORMAT");
  if (format && (!*format || strcmp(format, "auto") == 0))
    format = NULL;
  if ((rc = ds_pick_release(dir, dataset, release, sizeof(release), ebuf, sizeof(ebuf))) != MR_OK)
    goto fail;
  const char *fmt = format ? fmt_canonical(format) : fmt_detect(release);
  if (!fmt) {
    rc = format ? MR_EINVAL : MR_ENOTFOUND;
    snprintf(ebuf, sizeof(ebuf),
             format
                 ? "unknown data format '%s' (" FMT_NAMES ")"
                 : "no data set in %s (want u.data, ratings.dat or ratings.csv; see docs/DATA.md)",
             format ? format : release);
    goto fail;
  }
  if ((rc = ds_create_empty(&ds)) != MR_OK)
    goto fail;
  if (strcmp(fmt, "ml-100k") == 0) {
    snprintf(ds->format, sizeof(ds->format), "%s", fmt);
    rc = ds_load_ml100k(ds, release, ebuf, sizeof(ebuf));
  } else {
    rc = fmt_load(ds, fmt, release, ebuf, sizeof(ebuf));
  }
  if (rc != MR_OK || (rc = ds_dedupe_ratings(ds)) != MR_OK)
    goto fail;
  ds_scale_from_data(ds);
  {
    char allowed[256];
    ds_scale_describe(&ds->scale, allowed, sizeof(allowed));
    fprintf(stderr, "data: %s (%s): %d users, %d movies, %zu ratings, %d genres, ratings %s\n",
            release, ds->format, ds->n_users, ds->n_movies, ds->n_ratings, ds->n_genres, allowed);
  }
  *out = ds;
  return MR_OK;
fail:
  if (err && errlen)
    snprintf(err, errlen, "%s", ebuf);
  ds_free(ds);
  return rc;
}

int ds_load(const char *dir, mr_dataset **out, char *err, size_t errlen) {
  return ds_load_as(dir, NULL, NULL, out, err, errlen);
}
