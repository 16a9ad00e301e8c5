/* Validation-cut hyper-parameter search (see tune.h): the grid first, then each dimension whose
 * optimum sits on an edge grows one step past it (the same ratio or difference as its last
 * step) with the other dimensions at the optimum, round after round until no optimum is on a
 * growable edge. */
#include "eval/tune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "eval/eval.h"

/* growth steps per dimension and rounds in all: enough to walk two decades past a bad edge */
#define TUNE_MAX_GROWTH 4
#define TUNE_MAX_ROUNDS 8

typedef struct tune_dim {
  char name[24];
  double v[TUNE_MAX_VALUES]; /* ascending */
  int n;
  int fixed_set; /* "!": categorical */
  int integer;
  int has_lo, has_hi;
  double lo, hi;
  int grown;
} tune_dim;

typedef struct tune_grid {
  tune_dim d[TUNE_MAX_DIMS];
  int n;
} tune_grid;

static int tune_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Parses a bound ("" = none) ending at one of the characters of stop. */
static const char *tune_parse_bound(const char *s, const char *stop, int *has, double *v) {
  *has = 0;
  if (!*s || strchr(stop, *s))
    return s;
  char *end;
  *v = strtod(s, &end);
  if (end == s)
    return NULL;
  *has = 1;
  return end;
}

static int tune_grid_parse(const char *text, tune_grid *g) {
  memset(g, 0, sizeof(*g));
  const char *s = text;
  while (s && *s) {
    if (g->n == TUNE_MAX_DIMS)
      return MR_ERANGE;
    tune_dim *d = &g->d[g->n];
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || (size_t)(eq - s) >= sizeof(d->name))
      return MR_EINVAL;
    memcpy(d->name, s, (size_t)(eq - s));
    s = eq + 1;
    for (;;) {
      char *end;
      double v = strtod(s, &end);
      if (end == s || d->n == TUNE_MAX_VALUES || !isfinite(v))
        return MR_EINVAL;
      d->v[d->n++] = v;
      s = end;
      if (*s != '|')
        break;
      s++;
    }
    if (*s == '!') {
      d->fixed_set = 1;
      s++;
    } else if (*s == '@') {
      s = tune_parse_bound(s + 1, ":", &d->has_lo, &d->lo);
      if (!s || *s != ':')
        return MR_EINVAL;
      s = tune_parse_bound(s + 1, ";", &d->has_hi, &d->hi);
      if (!s || (d->has_lo && d->has_hi && d->lo > d->hi))
        return MR_EINVAL;
    }
    qsort(d->v, (size_t)d->n, sizeof(double), tune_cmp_double);
    d->integer = 1;
    for (int k = 0; k < d->n; k++) {
      d->integer &= d->v[k] == floor(d->v[k]);
      if (k && d->v[k] == d->v[k - 1])
        return MR_EINVAL;
      if ((d->has_lo && d->v[k] < d->lo) || (d->has_hi && d->v[k] > d->hi))
        return MR_EINVAL;
    }
    g->n++;
    if (*s == ';')
      s++;
    else if (*s)
      return MR_EINVAL;
  }
  return MR_OK;
}

/* One evaluated point: the value index per dimension and its score. */
typedef struct tune_point {
  double v[TUNE_MAX_DIMS];
  double ndcg, coverage;
} tune_point;

typedef struct tune_run {
  const char *kind;
  const rec_params *fixed;
  const tune_cut *cut;
  const tune_grid *g;
  tune_point *pts;
  int n_pts, cap;
  int best; /* index into pts, -1 before the first */
  int verbose;
  const char *label;
  rec_model *kept; /* the best point's model, when the caller keeps it (else NULL) */
  int keep;
} tune_run;

static void tune_params_at(const tune_run *r, const double *v, rec_params *p) {
  *p = *r->fixed;
  for (int d = 0; d < r->g->n; d++)
    rec_params_set(p, r->g->d[d].name, v[d]);
}

/* Fits and scores the point v unless it was scored already. */
static int tune_eval(tune_run *r, const double *v) {
  for (int i = 0; i < r->n_pts; i++)
    if (!memcmp(r->pts[i].v, v, (size_t)r->g->n * sizeof(double)))
      return MR_OK;
  if (r->n_pts == r->cap) {
    int cap = r->cap ? 2 * r->cap : 64;
    tune_point *grown = realloc(r->pts, (size_t)cap * sizeof(*grown));
    if (!grown)
      return MR_ENOMEM;
    r->pts = grown;
    r->cap = cap;
  }
  rec_params p;
  rec_model *m = NULL;
  tune_params_at(r, v, &p);
  int rc = rec_fit(r->kind, &p, r->cut->fit, &m);
  double ndcg = 0, coverage = 0;
  if (!rc)
    rc = tune_score(m, r->cut, &ndcg, &coverage);
  if (rc) {
    rec_free(m);
    return rc;
  }
  tune_point *pt = &r->pts[r->n_pts];
  memset(pt, 0, sizeof(*pt));
  memcpy(pt->v, v, (size_t)r->g->n * sizeof(double));
  pt->ndcg = ndcg;
  pt->coverage = coverage;
  if (r->verbose) {
    char buf[1024];
    rec_params_format(&p, buf, sizeof(buf));
    fprintf(stderr, "  tune %-10s %-66s valid nDCG@%d %.4f\n", r->label ? r->label : r->kind, buf,
            r->cut->k, ndcg);
  }
  /* strictly greater: the first point scored wins ties, so the choice is deterministic */
  if (r->best < 0 || ndcg > r->pts[r->best].ndcg) {
    r->best = r->n_pts;
    if (r->keep) {
      rec_free(r->kept);
      r->kept = m;
      m = NULL;
    }
  }
  rec_free(m);
  r->n_pts++;
  return MR_OK;
}

/* The next value past the edge of dimension d that holds the optimum (value x), or 0 when the
 * edge cannot grow (fixed set, one value, bound reached, budget spent). *bound tells a declared
 * bound or a fixed set from a spent budget. */
static int tune_grow(const tune_dim *d, double x, double *next, int *bound) {
  *bound = 1;
  if (d->fixed_set || d->n < 2)
    return 0;
  int top = x == d->v[d->n - 1], bottom = x == d->v[0];
  if (!top && !bottom)
    return 0;
  double a = top ? d->v[d->n - 1] : d->v[0], b = top ? d->v[d->n - 2] : d->v[1];
  double nx;
  if (a > 0 && b > 0 && (a / b >= 1.5 || b / a >= 1.5))
    nx = a * (a / b); /* a geometric grid grows by its ratio */
  else
    nx = a + (a - b);
  if (d->integer)
    nx = top ? ceil(nx) : floor(nx);
  if (a >= 0 && nx < 0)
    nx = 0; /* a grid of non-negative values never crosses 0 (its sign is a bound) */
  if (d->has_lo && nx < d->lo)
    nx = d->lo;
  if (d->has_hi && nx > d->hi)
    nx = d->hi;
  if (nx == a)
    return 0; /* the edge is the bound */
  *bound = 0;
  if (d->grown >= TUNE_MAX_GROWTH || d->n == TUNE_MAX_VALUES)
    return 0;
  *next = nx;
  return 1;
}

static void tune_add_value(tune_dim *d, double x) {
  int k = d->n++;
  while (k > 0 && d->v[k - 1] > x) {
    d->v[k] = d->v[k - 1];
    k--;
  }
  d->v[k] = x;
  d->grown++;
}

static void tune_append_name(char *buf, size_t len, const char *name) {
  size_t used = strlen(buf);
  snprintf(buf + used, len - used, "%s%s", used ? "," : "", name);
}

/* The memo key: kind, fixed parameters, grid, both halves of the cut and k. */
static void tune_key(const char *kind, const rec_params *fixed, const char *grid,
                     const tune_cut *cut, char *key, size_t len) {
  char params[1024];
  rec_params_format(fixed, params, sizeof(params));
  uint64_t h = 1469598103934665603ULL;
  const char *parts[2] = {params, grid};
  for (int k = 0; k < 2; k++)
    for (const char *s = parts[k]; *s; s++)
      h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  const csr *v = cut->valid;
  for (int32_t u = 0; u <= v->n_rows; u++)
    h = (h ^ (uint64_t)v->indptr[u]) * 1099511628211ULL;
  for (int64_t j = 0; j < v->nnz; j++) {
    uint32_t bits;
    memcpy(&bits, &v->values[j], sizeof(bits));
    h = (h ^ (((uint64_t)(uint32_t)v->indices[j] << 32) | bits)) * 1099511628211ULL;
  }
  snprintf(key, len, "tune|%s|%016llx|%016llx|%zu|%d|p%d", kind, (unsigned long long)h,
           (unsigned long long)rec_ratings_fingerprint(cut->fit->ratings, cut->fit->n_ratings),
           cut->fit->n_ratings, cut->k, cut->fit->protocol);
}

int tune_search(const char *kind, const rec_params *fixed, const char *grid, const tune_cut *cut,
                int verbose, const char *label, tune_result *out) {
  return tune_search_keep(kind, fixed, grid, cut, verbose, label, out, NULL);
}

int tune_search_keep(const char *kind, const rec_params *fixed, const char *grid,
                     const tune_cut *cut, int verbose, const char *label, tune_result *out,
                     rec_model **best_model) {
  tune_grid g;
  if (best_model)
    *best_model = NULL;
  char key[512];
  int rc = tune_grid_parse(grid ? grid : "", &g);
  if (rc)
    return rc;
  memset(out, 0, sizeof(*out));
  tune_key(kind, fixed, grid ? grid : "", cut, key, sizeof(key));
  if (cut->fit->cache && rec_cache_get(cut->fit->cache, key, out, sizeof(*out)) == MR_OK) {
    out->n_fits = 0;
    return MR_OK;
  }
  tune_run r = {kind, fixed, cut, &g, NULL, 0, 0, -1, verbose, label, NULL, best_model != NULL};
  /* 1. the grid as written (its Cartesian product, first dimension fastest) */
  int total = 1;
  for (int d = 0; d < g.n; d++)
    total *= g.d[d].n;
  for (int t = 0; t < total && !rc; t++) {
    double v[TUNE_MAX_DIMS];
    int rem = t;
    for (int d = 0; d < g.n; d++) {
      v[d] = g.d[d].v[rem % g.d[d].n];
      rem /= g.d[d].n;
    }
    rc = tune_eval(&r, v);
  }
  /* 2. grow every edge the optimum sits on, one step per round */
  for (int round = 0; round < TUNE_MAX_ROUNDS && !rc; round++) {
    int grew = 0;
    for (int d = 0; d < g.n && !rc; d++) {
      double nx;
      int bound;
      if (!tune_grow(&g.d[d], r.pts[r.best].v[d], &nx, &bound))
        continue;
      tune_add_value(&g.d[d], nx);
      double v[TUNE_MAX_DIMS];
      memcpy(v, r.pts[r.best].v, sizeof(v));
      v[d] = nx;
      rc = tune_eval(&r, v);
      grew = 1;
    }
    if (!grew)
      break;
  }
  if (!rc) {
    tune_params_at(&r, r.pts[r.best].v, &out->best);
    out->best_ndcg = r.pts[r.best].ndcg;
    out->best_coverage = r.pts[r.best].coverage;
    out->n_fits = r.n_pts;
    for (int d = 0; d < g.n; d++) {
      double nx;
      int bound;
      const tune_dim *dm = &g.d[d];
      double x = r.pts[r.best].v[d];
      if (dm->n < 2 || (x != dm->v[0] && x != dm->v[dm->n - 1]))
        continue;
      if (tune_grow(dm, x, &nx, &bound) || !bound)
        tune_append_name(out->at_edge, sizeof(out->at_edge), dm->name);
      else
        tune_append_name(out->at_bound, sizeof(out->at_bound), dm->name);
    }
    if (cut->fit->cache)
      rc = rec_cache_put(cut->fit->cache, key, out, sizeof(*out));
  }
  free(r.pts);
  if (!rc && best_model)
    *best_model = r.kept;
  else
    rec_free(r.kept);
  return rc;
}

int tune_score(const rec_model *m, const tune_cut *cut, double *ndcg, double *coverage) {
  eval_result r;
  memset(&r, 0, sizeof(r));
  int rc = eval_model(m, cut->fit->ds, cut->fit->ui, cut->valid, cut->k, NULL, NULL, &r);
  if (!rc) {
    *ndcg = r.m.ndcg;
    if (coverage)
      *coverage = r.coverage;
  }
  return rc;
}
