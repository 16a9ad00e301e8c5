/* Live ratings merged into the base data set (retraining and serving a retrained version). */
#include "pipeline/snapshot.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"

/* the data set's id tables are dense up to this id (dataset.c's DS_MAX_ID) */
#define SNAP_MAX_ID (1 << 22)

typedef struct snap_key {
  int64_t key; /* user * n_movies + movie */
  size_t pos;  /* position in ds->ratings */
} snap_key;

static int snap_key_cmp(const void *a, const void *b) {
  const snap_key *x = a, *y = b;
  return (x->key > y->key) - (x->key < y->key);
}

static int snap_same(const snap_rating *a, const snap_rating *b) {
  return a->user_id == b->user_id && a->movie_id == b->movie_id;
}

/* by (user, movie), stable through the index tie-break (qsort is not stable) */
static int snap_idx_cmp(const void *a, const void *b, void *base) {
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  const snap_rating *x = (const snap_rating *)base + i, *y = (const snap_rating *)base + j;
  if (x->user_id != y->user_id)
    return x->user_id < y->user_id ? -1 : 1;
  if (x->movie_id != y->movie_id)
    return x->movie_id < y->movie_id ? -1 : 1;
  return (i > j) - (i < j);
}

static int snap_apply_sorted(mr_dataset *ds, const snap_rating *r, size_t n, size_t *skipped);

int snap_apply(mr_dataset *ds, const snap_rating *input, size_t n, size_t *skipped) {
  if (skipped)
    *skipped = 0;
  if (!n)
    return MR_OK;
  size_t *idx = malloc(n * sizeof(*idx));
  snap_rating *sorted = malloc(n * sizeof(*sorted));
  int rc = MR_ENOMEM;
  if (idx && sorted) {
    for (size_t i = 0; i < n; i++)
      idx[i] = i;
    qsort_r(idx, n, sizeof(*idx), snap_idx_cmp, (void *)input);
    for (size_t i = 0; i < n; i++)
      sorted[i] = input[idx[i]];
    rc = snap_apply_sorted(ds, sorted, n, skipped);
  }
  free(idx);
  free(sorted);
  return rc;
}

static int snap_apply_sorted(mr_dataset *ds, const snap_rating *r, size_t n, size_t *skipped) {
  size_t skip = 0;
  /* new users first: one pass to count them, then grow users[] once */
  int32_t new_users = 0;
  for (size_t i = 0; i < n; i++)
    if (r[i].user_id > 0 && r[i].user_id < SNAP_MAX_ID && ds_user_index(ds, r[i].user_id) < 0)
      new_users++; /* upper bound: a new user with several ratings counts several times */
  if (new_users) {
    mr_user *u = realloc(ds->users, ((size_t)ds->n_users + (size_t)new_users) * sizeof(*u));
    if (!u)
      return MR_ENOMEM;
    ds->users = u;
    int32_t before = ds->n_users;
    for (size_t i = 0; i < n; i++) {
      int32_t id = r[i].user_id;
      if (id <= 0 || id >= SNAP_MAX_ID || ds_user_index(ds, id) >= 0)
        continue;
      int dup = 0;
      for (int32_t k = before; k < ds->n_users && !dup; k++)
        dup = ds->users[k].id == id;
      if (dup)
        continue;
      mr_user *nu = &ds->users[ds->n_users++];
      memset(nu, 0, sizeof(*nu));
      nu->id = id;
      nu->gender = '?';
      nu->occupation = -1;
    }
    int rc = ds_build_index(ds);
    if (rc)
      return rc;
  }
  /* (user, movie) -> position of the base rating, to let live ratings replace base ones */
  snap_key *keys = malloc((ds->n_ratings + 1) * sizeof(*keys));
  mr_rating *grown = realloc(ds->ratings, (ds->n_ratings + n) * sizeof(*grown));
  if (!keys || !grown) {
    free(keys);
    if (grown)
      ds->ratings = grown;
    return MR_ENOMEM;
  }
  ds->ratings = grown;
  size_t nk = ds->n_ratings;
  for (size_t i = 0; i < nk; i++)
    keys[i] = (snap_key){(int64_t)ds->ratings[i].user * ds->n_movies + ds->ratings[i].item, i};
  qsort(keys, nk, sizeof(*keys), snap_key_cmp);
  for (size_t i = 0; i < n; i++) {
    if (i + 1 < n && snap_same(&r[i], &r[i + 1]))
      continue; /* sorted: the later entry of a repeated (user, movie) wins */
    int32_t u = ds_user_index(ds, r[i].user_id), m = ds_movie_index(ds, r[i].movie_id);
    if (u < 0 || m < 0 || !(r[i].rating >= 0.5f && r[i].rating <= 5.0f)) {
      skip++;
      continue;
    }
    mr_rating nr = {u, m, r[i].rating, r[i].ts};
    snap_key probe = {(int64_t)u * ds->n_movies + m, 0};
    const snap_key *hit = bsearch(&probe, keys, nk, sizeof(*keys), snap_key_cmp);
    if (hit) {
      ds->ratings[hit->pos] = nr;
      continue;
    }
    ds->ratings[ds->n_ratings++] = nr;
  }
  free(keys);
  if (skipped)
    *skipped = skip;
  return MR_OK;
}

int snap_write_tsv(const char *path, const snap_rating *r, size_t n) {
  FILE *f = fopen(path, "w");
  if (!f)
    return mr_from_errno(errno);
  fprintf(f, "user_id\tmovie_id\trating\tts\n");
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%d\t%d\t%g\t%lld\n", (int)r[i].user_id, (int)r[i].movie_id, (double)r[i].rating,
            (long long)r[i].ts);
  int bad = ferror(f);
  if (fclose(f) || bad)
    return MR_EIO;
  return MR_OK;
}

int snap_read_tsv(const char *path, snap_rating **out, size_t *n, char *err, size_t errlen) {
  *out = NULL;
  *n = 0;
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT)
      return MR_OK;
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return mr_from_errno(errno);
  }
  char line[256];
  size_t cap = 0, k = 0, lineno = 0;
  snap_rating *v = NULL;
  int rc = MR_OK;
  while (fgets(line, sizeof(line), f)) {
    lineno++;
    if (lineno == 1 && !strncmp(line, "user_id", 7))
      continue;
    long long u, m, ts;
    double rt;
    if (sscanf(line, "%lld\t%lld\t%lf\t%lld", &u, &m, &rt, &ts) != 4 || u <= 0 || u > INT32_MAX ||
        m <= 0 || m > INT32_MAX || !(rt >= 0.5 && rt <= 5.0)) {
      snprintf(err, errlen, "%s:%zu: bad line", path, lineno);
      rc = MR_EFORMAT;
      break;
    }
    if (k == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      snap_rating *nv = realloc(v, nc * sizeof(*nv));
      if (!nv) {
        rc = MR_ENOMEM;
        break;
      }
      v = nv;
      cap = nc;
    }
    v[k++] = (snap_rating){(int32_t)u, (int32_t)m, (float)rt, ts};
  }
  fclose(f);
  if (rc) {
    free(v);
    return rc;
  }
  *out = v;
  *n = k;
  return MR_OK;
}

int snap_open_version(const char *data_dir, const char *dir, mr_dataset **ds, reco **r, char *err,
                      size_t errlen) {
  char real[PATH_MAX], path[PATH_MAX + 32];
  mr_dataset *d = NULL;
  snap_rating *live = NULL;
  size_t n = 0;
  *ds = NULL;
  *r = NULL;
  /* resolve the link once, so the live ratings and the model come from one version */
  if (!realpath(dir, real)) {
    snprintf(err, errlen, "%s: no such model directory (run `movierec train`)", dir);
    return MR_ENOTFOUND;
  }
  snprintf(path, sizeof(path), "%s/%s", real, SNAP_LIVE_FILE);
  int rc = snap_read_tsv(path, &live, &n, err, errlen);
  if (rc)
    return rc;
  if ((rc = ds_load(data_dir, &d, err, errlen)))
    goto fail;
  if ((rc = snap_apply(d, live, n, NULL))) {
    snprintf(err, errlen, "%s: %s", path, mr_strerror(rc));
    goto fail;
  }
  if ((rc = reco_open(real, d, r, err, errlen)))
    goto fail;
  free(live);
  *ds = d;
  return MR_OK;
fail:
  free(live);
  ds_free(d);
  return rc;
}
