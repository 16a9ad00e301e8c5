/* Semantic model: PPMI word vectors learned from the movies' text, pooled per movie, cosine to
 * the user's liked movies ("semantic" kind; stands in for sentence embeddings, see semantic.h). */
#include "models/semantic.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "models/content.h"
#include "models/embed.h"
#include "models/model_ops.h"
#include "models/modelfile.h"

/* Below this many terms the PPMI matrix is small enough for a dense eigensolver. */
#define SEM_DENSE_MAX 256
/* Extra columns of the randomized subspace beyond dim. */
#define SEM_OVERSAMPLE 16
#define SEM_N_PARAMS 16
/* A description shared by this many movies is a placeholder, not a plot. */
#define SEM_PLACEHOLDER_MIN 5

struct semantic_model {
  int32_t n_items, n_users, vocab;
  int d;
  semantic_opts o;
  float *emb;      /* n_items x d, rows L2-normalized */
  float *profiles; /* n_users x d, L2-normalized */
};

void semantic_opts_default(semantic_opts *o) {
  o->dim = 64;
  o->window = 5;
  o->min_count = 2;
  o->cast_n = 5;
  o->alpha = 0.75f;
  o->shift = 1.0f;
  o->eig_p = 0.5f;
  o->pool = 1; /* idf beat SIF weights on every split's validation cut */
  o->sif_a = 1e-3f;
  o->rm_pc = 1;
  o->w_meta = 1.0f;
  o->wmode = 1;
  o->iters = 6;
  o->seed = 42;
}

void semantic_opts_from_params(const rec_params *p, semantic_opts *o) {
  semantic_opts_default(o);
  o->dim = (int)rec_params_get(p, "dim", o->dim);
  o->window = (int)rec_params_get(p, "window", o->window);
  o->min_count = (int)rec_params_get(p, "min_count", o->min_count);
  o->cast_n = (int)rec_params_get(p, "cast_n", o->cast_n);
  o->alpha = (float)rec_params_get(p, "alpha", o->alpha);
  o->shift = (float)rec_params_get(p, "shift", o->shift);
  o->eig_p = (float)rec_params_get(p, "eig_p", o->eig_p);
  o->pool = (int)rec_params_get(p, "pool", o->pool);
  o->sif_a = (float)rec_params_get(p, "sif_a", o->sif_a);
  o->rm_pc = (int)rec_params_get(p, "rm_pc", o->rm_pc);
  o->w_meta = (float)rec_params_get(p, "w_meta", o->w_meta);
  o->wmode = (int)rec_params_get(p, "wmode", o->wmode);
  o->iters = (int)rec_params_get(p, "iters", o->iters);
  double seed = rec_params_get(p, "seed", (double)o->seed);
  o->seed = seed >= 0 && seed < 9007199254740992.0 ? (uint64_t)seed : UINT64_MAX;
}

int semantic_opts_valid(const semantic_opts *o) {
  return o && o->dim >= 1 && o->dim <= 1024 && o->window >= 1 && o->window <= 50 &&
         o->min_count >= 1 && o->cast_n >= 0 && o->cast_n <= 100 && o->alpha > 0 && o->alpha <= 1 &&
         o->shift >= 1 && isfinite(o->shift) && o->eig_p >= 0 && o->eig_p <= 1 && o->pool >= 0 &&
         o->pool <= 2 && o->sif_a > 0 && isfinite(o->sif_a) && o->rm_pc >= 0 && o->rm_pc <= 16 &&
         o->w_meta >= 0 && isfinite(o->w_meta) && o->wmode >= 0 && o->wmode <= 3 && o->iters >= 1 &&
         o->iters <= 50 && o->seed != UINT64_MAX;
}

/* ---- vocabulary ---- */

typedef struct sem_vocab {
  int32_t n;     /* kept terms */
  int32_t *tid;  /* per token of the docs: kept term id or -1 */
  uint8_t *meta; /* n: 1 for movie-level terms (every prefix but "w:") */
  double *count; /* n: occurrences over all movies */
  int32_t *df;   /* n: movies containing the term */
  double total;  /* sum of count */
} sem_vocab;

static void sem_vocab_free(sem_vocab *v) {
  free(v->tid);
  free(v->meta);
  free(v->count);
  free(v->df);
  memset(v, 0, sizeof(*v));
}

static int sem_tok_cmp(const void *a, const void *b, void *ctx) {
  char *const *tok = ctx;
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  int c = strcmp(tok[x], tok[y]);
  return c ? c : (x > y) - (x < y);
}

/* Term ids in sorted string order (so they do not depend on anything but the text), terms in
 * fewer than min_count movies and tokens with drop[k] set left out. */
static int sem_vocab_build(const content_docs *docs, const uint8_t *drop, int min_count,
                           sem_vocab *v) {
  int64_t n_tok = docs->ptr[docs->n_docs];
  int64_t *order = malloc(((size_t)n_tok + 1) * sizeof(int64_t));
  int32_t *raw = malloc(((size_t)n_tok + 1) * sizeof(int32_t));
  int32_t *raw_df = NULL, *last = NULL, *keep = NULL;
  int rc = MR_ENOMEM;
  memset(v, 0, sizeof(*v));
  v->tid = malloc(((size_t)n_tok + 1) * sizeof(int32_t));
  if (!order || !raw || !v->tid)
    goto done;
  for (int64_t k = 0; k < n_tok; k++)
    order[k] = k;
  qsort_r(order, (size_t)n_tok, sizeof(int64_t), sem_tok_cmp, docs->tok);
  int32_t n_raw = 0;
  for (int64_t k = 0; k < n_tok; k++) {
    if (k == 0 || strcmp(docs->tok[order[k]], docs->tok[order[k - 1]]))
      n_raw++;
    raw[order[k]] = n_raw - 1;
  }
  raw_df = calloc((size_t)n_raw + 1, sizeof(int32_t));
  last = malloc(((size_t)n_raw + 1) * sizeof(int32_t));
  keep = malloc(((size_t)n_raw + 1) * sizeof(int32_t));
  if (!raw_df || !last || !keep)
    goto done;
  for (int32_t t = 0; t < n_raw; t++)
    last[t] = -1;
  for (int32_t j = 0; j < docs->n_docs; j++)
    for (int64_t k = docs->ptr[j]; k < docs->ptr[j + 1]; k++)
      if (!drop[k] && last[raw[k]] != j) {
        last[raw[k]] = j;
        raw_df[raw[k]]++;
      }
  for (int32_t t = 0; t < n_raw; t++)
    keep[t] = raw_df[t] >= min_count ? v->n++ : -1;
  v->meta = calloc((size_t)v->n + 1, 1);
  v->count = calloc((size_t)v->n + 1, sizeof(double));
  v->df = calloc((size_t)v->n + 1, sizeof(int32_t));
  if (!v->meta || !v->count || !v->df)
    goto done;
  for (int64_t k = 0; k < n_tok; k++) {
    int32_t t = drop[k] ? -1 : keep[raw[k]];
    v->tid[k] = t;
    if (t < 0)
      continue;
    v->meta[t] = strncmp(docs->tok[k], "w:", 2) != 0;
    v->count[t] += 1.0;
    v->df[t] = raw_df[raw[k]];
    v->total += 1.0;
  }
  rc = MR_OK;
done:
  free(order);
  free(raw);
  free(raw_df);
  free(last);
  free(keep);
  if (rc)
    sem_vocab_free(v);
  return rc;
}

static int sem_desc_cmp(const void *a, const void *b, void *ctx) {
  const mr_movie *mv = ctx;
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  int c = strcmp(mv[x].description, mv[y].description);
  return c ? c : (x > y) - (x < y);
}

/* Marks the description words of movies whose description is a placeholder: one text shared
 * word for word by SEM_PLACEHOLDER_MIN or more movies (IMDb's "It looks like we don't have any
 * Plot Summaries for this title yet..." stands in for 51 plots). Left in, its words would make
 * those unrelated movies each other's nearest neighbours. */
static int sem_drop_placeholders(const mr_dataset *ds, const content_docs *docs, uint8_t *drop) {
  int32_t n = ds->n_movies, *idx = malloc(((size_t)n + 1) * sizeof(int32_t));
  uint8_t *ph = calloc((size_t)n + 1, 1);
  int32_t m = 0;
  if (!idx || !ph) {
    free(idx);
    free(ph);
    return MR_ENOMEM;
  }
  for (int32_t j = 0; j < n; j++)
    if (ds->movies[j].has_imdb && ds->movies[j].description && ds->movies[j].description[0])
      idx[m++] = j;
  qsort_r(idx, (size_t)m, sizeof(int32_t), sem_desc_cmp, ds->movies);
  for (int32_t a = 0, b; a < m; a = b) {
    for (b = a + 1;
         b < m && !strcmp(ds->movies[idx[a]].description, ds->movies[idx[b]].description); b++)
      ;
    if (b - a >= SEM_PLACEHOLDER_MIN)
      for (int32_t q = a; q < b; q++)
        ph[idx[q]] = 1;
  }
  for (int32_t j = 0; j < n; j++)
    for (int64_t k = docs->ptr[j]; k < docs->ptr[j + 1]; k++)
      drop[k] = ph[j] && !strncmp(docs->tok[k], "w:", 2);
  free(idx);
  free(ph);
  return MR_OK;
}

/* ---- co-occurrence and PPMI ---- */

/* A symmetric sparse matrix over the vocabulary (CSR, sorted columns). */
typedef struct sem_csr {
  int32_t n;
  int64_t *ptr;
  int32_t *col;
  double *val;
} sem_csr;

static void sem_csr_free(sem_csr *m) {
  free(m->ptr);
  free(m->col);
  free(m->val);
  memset(m, 0, sizeof(*m));
}

typedef struct sem_pair {
  int32_t a, b;
  float w;
} sem_pair;

/* Calls emit for every (a, b, w) of movie j, both directions; returns the pair count. Positions
 * p < q: both words and q - p <= window -> 1 / (q - p); one of them movie-level -> w_meta. */
static int64_t sem_movie_pairs(const content_docs *docs, const sem_vocab *v, int32_t j,
                               const semantic_opts *o, sem_pair *out) {
  int64_t n = 0;
  int64_t s = docs->ptr[j], e = docs->ptr[j + 1];
  int32_t wpos_p = 0;
  for (int64_t p = s; p < e; p++) {
    int32_t a = v->tid[p];
    if (a < 0)
      continue;
    int32_t wpos_q = wpos_p;
    for (int64_t q = p + 1; q < e; q++) {
      int32_t b = v->tid[q];
      if (b < 0)
        continue;
      float w;
      if (v->meta[a] || v->meta[b]) {
        w = o->w_meta;
      } else {
        /* distance counted over the kept words only (dropped terms close the gap) */
        wpos_q++;
        int32_t dist = wpos_q - wpos_p;
        w = dist <= o->window ? 1.0f / (float)dist : 0.0f;
      }
      if (a == b || w <= 0.0f)
        continue;
      if (out) {
        out[n] = (sem_pair){a, b, w};
        out[n + 1] = (sem_pair){b, a, w};
      }
      n += 2;
    }
    if (!v->meta[a])
      wpos_p++;
  }
  return n;
}

/* Co-occurrence counts, then PPMI in place (entries <= 0 dropped). */
static int sem_ppmi(const content_docs *docs, const sem_vocab *v, const semantic_opts *o,
                    sem_csr *m) {
  int32_t V = v->n;
  int64_t n_pairs = 0;
  sem_pair *pairs = NULL, *sorted = NULL;
  int64_t *fill = NULL;
  double *acc = NULL, *rsum = NULL;
  int32_t *mark = NULL, *touched = NULL;
  int rc = MR_ENOMEM;
  memset(m, 0, sizeof(*m));
  for (int32_t j = 0; j < docs->n_docs; j++)
    n_pairs += sem_movie_pairs(docs, v, j, o, NULL);
  pairs = malloc(((size_t)n_pairs + 1) * sizeof(sem_pair));
  sorted = malloc(((size_t)n_pairs + 1) * sizeof(sem_pair));
  fill = calloc((size_t)V + 1, sizeof(int64_t));
  m->ptr = calloc((size_t)V + 1, sizeof(int64_t));
  m->col = malloc(((size_t)n_pairs + 1) * sizeof(int32_t));
  m->val = malloc(((size_t)n_pairs + 1) * sizeof(double));
  acc = calloc((size_t)V + 1, sizeof(double));
  rsum = calloc((size_t)V + 1, sizeof(double));
  mark = malloc(((size_t)V + 1) * sizeof(int32_t));
  touched = malloc(((size_t)V + 1) * sizeof(int32_t));
  if (!pairs || !sorted || !fill || !m->ptr || !m->col || !m->val || !acc || !rsum || !mark ||
      !touched)
    goto done;
  int64_t at = 0;
  for (int32_t j = 0; j < docs->n_docs; j++)
    at += sem_movie_pairs(docs, v, j, o, pairs + at);
  /* stable counting sort by row: every row's sum runs in generation order */
  for (int64_t k = 0; k < n_pairs; k++)
    fill[pairs[k].a + 1]++;
  for (int32_t a = 0; a < V; a++)
    fill[a + 1] += fill[a];
  for (int64_t k = 0; k < n_pairs; k++)
    sorted[fill[pairs[k].a]++] = pairs[k];
  for (int32_t a = 0; a < V; a++)
    mark[a] = -1;
  int64_t nnz = 0, begin = 0;
  for (int32_t a = 0; a < V; a++) {
    int32_t nt = 0;
    int64_t end = fill[a];
    for (int64_t k = begin; k < end; k++) {
      int32_t b = sorted[k].b;
      if (mark[b] != a) {
        mark[b] = a;
        acc[b] = 0.0;
        touched[nt++] = b;
      }
      acc[b] += sorted[k].w;
    }
    begin = end;
    /* columns ascending: insertion into the touched list would be O(n^2); mark is reused */
    for (int32_t t = 1; t < nt; t++) {
      int32_t x = touched[t], i = t - 1;
      while (i >= 0 && touched[i] > x) {
        touched[i + 1] = touched[i];
        i--;
      }
      touched[i + 1] = x;
    }
    for (int32_t t = 0; t < nt; t++) {
      m->col[nnz] = touched[t];
      m->val[nnz++] = acc[touched[t]];
      rsum[a] += acc[touched[t]];
    }
    m->ptr[a + 1] = nnz;
  }
  m->n = V;
  /* PPMI with smoothed marginals on both sides (keeps the matrix symmetric) */
  double total = 0, zs = 0;
  for (int32_t a = 0; a < V; a++) {
    total += rsum[a];
    zs += pow(rsum[a], o->alpha);
  }
  if (!(total > 0)) {
    rc = MR_EINVAL; /* no term co-occurs with another: nothing to learn from */
    goto done;
  }
  for (int32_t a = 0; a < V; a++)
    acc[a] = rsum[a] > 0 ? o->alpha * log(rsum[a]) - log(zs) : 0.0; /* ln P_alpha(a) */
  double lshift = log(o->shift), ltotal = log(total);
  int64_t w = 0;
  for (int32_t a = 0; a < V; a++) {
    int64_t s = m->ptr[a], e = m->ptr[a + 1];
    m->ptr[a] = w;
    for (int64_t k = s; k < e; k++) {
      double pmi = log(m->val[k]) - ltotal - acc[a] - acc[m->col[k]] - lshift;
      if (pmi > 0) {
        m->col[w] = m->col[k];
        m->val[w++] = pmi;
      }
    }
  }
  m->ptr[V] = w;
  rc = MR_OK;
done:
  free(pairs);
  free(sorted);
  free(fill);
  free(acc);
  free(rsum);
  free(mark);
  free(touched);
  if (rc)
    sem_csr_free(m);
  return rc;
}

/* ---- eigensolver ---- */

/* Y = M X for row-major V x k X and Y: rows in parallel, each summed in a fixed order. */
static void sem_spmm(const sem_csr *m, const double *x, double *y, int k) {
#pragma omp parallel for schedule(dynamic, 64)
  for (int32_t a = 0; a < m->n; a++) {
    double *ya = y + (size_t)a * (size_t)k;
    for (int c = 0; c < k; c++)
      ya[c] = 0.0;
    for (int64_t q = m->ptr[a]; q < m->ptr[a + 1]; q++) {
      const double *xb = x + (size_t)m->col[q] * (size_t)k;
      double v = m->val[q];
      for (int c = 0; c < k; c++)
        ya[c] += v * xb[c];
    }
  }
}

/* Orthonormalizes the k columns of row-major V x k x (classical Gram-Schmidt run twice, row
 * sweeps so memory is read in order). A column that collapses (the subspace is smaller than k)
 * is redrawn from rng. dots[k] is a workspace. */
static int sem_orth(double *x, int32_t V, int k, mr_rng *rng, double *dots) {
  for (int c = 0; c < k; c++) {
    for (int tries = 0;; tries++) {
      double before = 0;
      for (int32_t a = 0; a < V; a++)
        before += x[(size_t)a * k + c] * x[(size_t)a * k + c];
      for (int pass = 0; pass < 2; pass++) {
        for (int j = 0; j < c; j++)
          dots[j] = 0.0;
        for (int32_t a = 0; a < V; a++) {
          const double *row = x + (size_t)a * k;
          for (int j = 0; j < c; j++)
            dots[j] += row[c] * row[j];
        }
        for (int32_t a = 0; a < V; a++) {
          double *row = x + (size_t)a * k;
          double s = row[c];
          for (int j = 0; j < c; j++)
            s -= dots[j] * row[j];
          row[c] = s;
        }
      }
      double nrm = 0;
      for (int32_t a = 0; a < V; a++)
        nrm += x[(size_t)a * k + c] * x[(size_t)a * k + c];
      nrm = sqrt(nrm);
      if (nrm > 1e-10 * sqrt(before) && nrm > 1e-300) {
        for (int32_t a = 0; a < V; a++)
          x[(size_t)a * k + c] /= nrm;
        break;
      }
      if (tries == 5)
        return MR_ENUMERIC;
      for (int32_t a = 0; a < V; a++)
        x[(size_t)a * k + c] = mr_rng_normal(rng);
    }
  }
  return MR_OK;
}

/* Row blocks of every reduction over the vocabulary: a fixed count, so partial sums and their
 * order do not depend on the number of threads. */
#define SEM_CHUNKS 16

/* g[k x k] (upper triangle, row-major) = x^T y over the V rows: per-block partials summed in
 * block order. part is a SEM_CHUNKS x k x k workspace. */
static void sem_gram(const double *x, const double *y, int32_t V, int k, double *part, double *g) {
  size_t kk = (size_t)k * (size_t)k;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < SEM_CHUNKS; c++) {
    double *p = part + (size_t)c * kk;
    int32_t lo = (int32_t)((int64_t)V * c / SEM_CHUNKS);
    int32_t hi = (int32_t)((int64_t)V * (c + 1) / SEM_CHUNKS);
    memset(p, 0, kk * sizeof(double));
    for (int32_t a = lo; a < hi; a++) {
      const double *xa = x + (size_t)a * k, *ya = y + (size_t)a * k;
      for (int i = 0; i < k; i++) {
        double xi = xa[i];
        double *pi = p + (size_t)i * k;
        for (int j = i; j < k; j++)
          pi[j] += xi * ya[j];
      }
    }
  }
  memset(g, 0, kk * sizeof(double));
  for (int c = 0; c < SEM_CHUNKS; c++)
    for (size_t q = 0; q < kk; q++)
      g[q] += part[(size_t)c * kk + q];
}

/* Cholesky QR run twice: x = Q R with G = x^T x = R^T R, Q = x R^-1 (rows in parallel).
 * MR_ENUMERIC when G is not numerically positive definite (a rank-deficient x). */
static int sem_cholqr2(double *x, int32_t V, int k, double *part, double *g) {
  for (int pass = 0; pass < 2; pass++) {
    sem_gram(x, x, V, k, part, g);
    double dmax = 0;
    for (int i = 0; i < k; i++)
      dmax = g[(size_t)i * k + i] > dmax ? g[(size_t)i * k + i] : dmax;
    /* G = R^T R in place (upper triangle, row j of R from the rows above it); a pivot that
     * vanishes next to the largest diagonal means x is (nearly) rank deficient */
    for (int j = 0; j < k; j++) {
      double *rj = g + (size_t)j * k;
      double piv = rj[j];
      for (int i = 0; i < j; i++)
        piv -= g[(size_t)i * k + j] * g[(size_t)i * k + j];
      if (!(piv > 1e-14 * dmax))
        return MR_ENUMERIC;
      rj[j] = sqrt(piv);
      for (int l = j + 1; l < k; l++) {
        double v = rj[l];
        for (int i = 0; i < j; i++)
          v -= g[(size_t)i * k + j] * g[(size_t)i * k + l];
        rj[l] = v / rj[j];
      }
    }
    /* solve q R = x row by row (R upper triangular in g) */
#pragma omp parallel for schedule(static)
    for (int32_t a = 0; a < V; a++) {
      double *xa = x + (size_t)a * k;
      for (int j = 0; j < k; j++) {
        double s = xa[j];
        for (int i = 0; i < j; i++)
          s -= xa[i] * g[(size_t)i * k + j];
        xa[j] = s / g[(size_t)j * k + j];
      }
    }
  }
  return MR_OK;
}

typedef struct sem_eig {
  double lam;
  int idx;
} sem_eig;

static int sem_eig_cmp(const void *a, const void *b) {
  const sem_eig *x = a, *y = b;
  double p = fabs(x->lam), q = fabs(y->lam);
  if (p != q)
    return p > q ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Word vectors: vec[V x d] = U_d |Lambda_d|^eig_p over the d eigenpairs of m largest in
 * magnitude. z (row-major V x k, columns an orthonormal basis) and the k x k Ritz matrix t
 * (row-major, symmetric) come from the dense or the randomized path. */
static int sem_ritz(const double *z, int32_t V, int k, double *t, int d, double eig_p, float *vec) {
  double *w = malloc((size_t)k * sizeof(double));
  sem_eig *e = malloc((size_t)k * sizeof(sem_eig));
  int rc = MR_ENOMEM;
  if (!w || !e)
    goto done;
  lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', k, t, k, w);
  if (info != 0) {
    rc = MR_ENUMERIC;
    goto done;
  }
  for (int i = 0; i < k; i++)
    e[i] = (sem_eig){w[i], i};
  qsort(e, (size_t)k, sizeof(*e), sem_eig_cmp);
  int *src = malloc((size_t)d * sizeof(int));
  double *u = malloc((size_t)V * (size_t)d * sizeof(double));
  if (!src || !u) {
    free(src);
    free(u);
    goto done;
  }
  for (int j = 0; j < d; j++)
    src[j] = e[j].idx;
    /* u = z * s, rows in parallel (each a fixed-order sum) */
#pragma omp parallel for schedule(static)
  for (int32_t a = 0; a < V; a++) {
    const double *za = z + (size_t)a * k;
    for (int j = 0; j < d; j++) {
      double acc = 0;
      for (int i = 0; i < k; i++)
        acc += za[i] * t[(size_t)i * k + src[j]];
      u[(size_t)a * d + j] = acc;
    }
  }
  for (int j = 0; j < d; j++) {
    double scale = pow(fabs(e[j].lam), eig_p);
    /* the sign is fixed (largest-magnitude component positive) so vectors do not depend on
     * LAPACK's arbitrary choice */
    double best = -1, sign = 1;
    for (int32_t a = 0; a < V; a++)
      if (fabs(u[(size_t)a * d + j]) > best) {
        best = fabs(u[(size_t)a * d + j]);
        sign = u[(size_t)a * d + j] < 0 ? -1.0 : 1.0;
      }
    for (int32_t a = 0; a < V; a++)
      vec[(size_t)a * d + j] = (float)(sign * scale * u[(size_t)a * d + j]);
  }
  free(src);
  free(u);
  rc = MR_OK;
done:
  free(w);
  free(e);
  return rc;
}

/* Orthonormal columns for x: Cholesky QR2 (parallel), or Gram-Schmidt with redrawn columns when
 * x is (nearly) rank deficient. The choice depends on the data only, never on the threads. */
static int sem_orthonormalize(double *x, int32_t V, int k, mr_rng *rng, double *dots, double *part,
                              double *g) {
  size_t n = (size_t)V * (size_t)k;
  double *keep = malloc(n * sizeof(double));
  if (!keep)
    return MR_ENOMEM;
  memcpy(keep, x, n * sizeof(double));
  int rc = sem_cholqr2(x, V, k, part, g);
  if (rc == MR_ENUMERIC) {
    memcpy(x, keep, n * sizeof(double));
    rc = sem_orth(x, V, k, rng, dots);
  }
  free(keep);
  return rc;
}

static int sem_word_vectors(const sem_csr *m, int d, const semantic_opts *o, float *vec) {
  int32_t V = m->n;
  double *x = NULL, *y = NULL, *t = NULL, *dots = NULL, *part = NULL;
  int rc = MR_ENOMEM;
  int k;
  if (V <= SEM_DENSE_MAX) {
    /* dense: the basis is the identity, the Ritz matrix is m itself */
    k = V;
    x = calloc((size_t)V * (size_t)V, sizeof(double));
    t = calloc((size_t)V * (size_t)V, sizeof(double));
    if (!x || !t)
      goto done;
    for (int32_t a = 0; a < V; a++) {
      x[(size_t)a * V + a] = 1.0;
      for (int64_t q = m->ptr[a]; q < m->ptr[a + 1]; q++)
        t[(size_t)a * V + m->col[q]] = m->val[q];
    }
  } else {
    k = d + SEM_OVERSAMPLE < V ? d + SEM_OVERSAMPLE : V;
    mr_rng rng;
    mr_rng_seed(&rng, o->seed);
    x = malloc((size_t)V * (size_t)k * sizeof(double));
    y = malloc((size_t)V * (size_t)k * sizeof(double));
    t = calloc((size_t)k * (size_t)k, sizeof(double));
    dots = malloc(((size_t)k + 1) * sizeof(double));
    part = malloc((size_t)SEM_CHUNKS * (size_t)k * (size_t)k * sizeof(double));
    if (!x || !y || !t || !dots || !part)
      goto done;
    for (size_t i = 0; i < (size_t)V * (size_t)k; i++)
      x[i] = mr_rng_normal(&rng);
    for (int it = 0; it < o->iters; it++) {
      if ((rc = sem_orthonormalize(x, V, k, &rng, dots, part, t)))
        goto done;
      sem_spmm(m, x, y, k);
      double *s = x;
      x = y;
      y = s;
    }
    if ((rc = sem_orthonormalize(x, V, k, &rng, dots, part, t)))
      goto done;
    sem_spmm(m, x, y, k);
    /* Rayleigh-Ritz: t = x^T m x */
    sem_gram(x, y, V, k, part, t);
    for (int i = 0; i < k; i++)
      for (int j = 0; j < i; j++)
        t[(size_t)i * k + j] = t[(size_t)j * k + i];
  }
  rc = sem_ritz(x, V, k, t, d, o->eig_p, vec);
done:
  free(x);
  free(y);
  free(t);
  free(dots);
  free(part);
  return rc;
}

/* ---- movie vectors ---- */

/* Pools word vectors into emb[n_items x d], removes the first rm_pc principal components and
 * normalizes the rows. */
static int sem_pool(const content_docs *docs, const sem_vocab *v, const float *vec, int d,
                    const semantic_opts *o, float *emb) {
  int32_t n = docs->n_docs;
#pragma omp parallel for schedule(dynamic, 32)
  for (int32_t j = 0; j < n; j++) {
    double acc[1024];
    int cnt = 0;
    for (int c = 0; c < d; c++)
      acc[c] = 0.0;
    for (int64_t k = docs->ptr[j]; k < docs->ptr[j + 1]; k++) {
      int32_t t = v->tid[k];
      if (t < 0)
        continue;
      double w = docs->w[k];
      if (o->pool == 0)
        w *= o->sif_a / (o->sif_a + v->count[t] / v->total);
      else if (o->pool == 1)
        w *= log((1.0 + n) / (1.0 + v->df[t])) + 1.0;
      const float *x = vec + (size_t)t * d;
      for (int c = 0; c < d; c++)
        acc[c] += w * x[c];
      cnt++;
    }
    for (int c = 0; c < d; c++)
      emb[(size_t)j * d + c] = cnt ? (float)(acc[c] / cnt) : 0.0f;
  }
  if (o->rm_pc && d > 1) {
    double *cov = calloc((size_t)d * (size_t)d, sizeof(double));
    double *w = malloc((size_t)d * sizeof(double));
    if (!cov || !w) {
      free(cov);
      free(w);
      return MR_ENOMEM;
    }
    for (int32_t j = 0; j < n; j++) {
      const float *e = emb + (size_t)j * d;
      for (int a = 0; a < d; a++)
        for (int b = a; b < d; b++)
          cov[(size_t)a * d + b] += (double)e[a] * e[b];
    }
    lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', d, cov, d, w);
    if (info != 0) {
      free(cov);
      free(w);
      return MR_ENUMERIC;
    }
    /* eigenvalues ascend: the last rm_pc columns are the common components */
    int n_pc = o->rm_pc < d ? o->rm_pc : d - 1;
    for (int32_t j = 0; j < n; j++) {
      float *e = emb + (size_t)j * d;
      for (int pc = d - 1; pc >= d - n_pc; pc--) {
        double dot = 0;
        for (int a = 0; a < d; a++)
          dot += e[a] * cov[(size_t)a * d + pc];
        for (int a = 0; a < d; a++)
          e[a] -= (float)(dot * cov[(size_t)a * d + pc]);
      }
    }
    free(cov);
    free(w);
  }
  for (int32_t j = 0; j < n; j++)
    embed_normalize(emb + (size_t)j * d, d);
  return MR_OK;
}

/* ---- model ---- */

static int sem_alloc(int32_t n_items, int32_t n_users, int d, semantic_model **out) {
  semantic_model *m = calloc(1, sizeof(*m));
  if (!m)
    return MR_ENOMEM;
  m->n_items = n_items;
  m->n_users = n_users;
  m->d = d;
  m->emb = calloc((size_t)n_items * (size_t)d + 1, sizeof(float));
  m->profiles = calloc((size_t)n_users * (size_t)d + 1, sizeof(float));
  if (!m->emb || !m->profiles) {
    semantic_free(m);
    return MR_ENOMEM;
  }
  *out = m;
  return MR_OK;
}

void semantic_free(semantic_model *m) {
  if (!m)
    return;
  free(m->emb);
  free(m->profiles);
  free(m);
}

int semantic_fit(const semantic_opts *o, const rec_train_data *d, semantic_model **out) {
  content_opts co;
  content_docs *docs = NULL;
  sem_vocab v = {0};
  sem_csr ppmi = {0};
  float *vec = NULL;
  uint8_t *drop = NULL;
  semantic_model *m = NULL;
  int rc;
  if (!semantic_opts_valid(o) || !d || !d->ds || !d->ui || d->ds->n_movies <= 0 ||
      d->ui->n_cols != d->ds->n_movies)
    return MR_EINVAL;
  const mr_dataset *ds = d->ds;
  content_opts_default(&co);
  co.cast_n = o->cast_n;
  if ((rc = content_docs_build(ds, &co, &docs)))
    goto fail;
  if (!(drop = malloc((size_t)docs->ptr[docs->n_docs] + 1))) {
    rc = MR_ENOMEM;
    goto fail;
  }
  if ((rc = sem_drop_placeholders(ds, docs, drop)) ||
      (rc = sem_vocab_build(docs, drop, o->min_count, &v)))
    goto fail;
  if (v.n < 2) {
    rc = MR_EINVAL; /* no vocabulary to learn word vectors over */
    goto fail;
  }
  if ((rc = sem_ppmi(docs, &v, o, &ppmi)))
    goto fail;
  int dim = o->dim < v.n ? o->dim : v.n;
  rc = MR_ENOMEM;
  if (!(vec = malloc((size_t)v.n * (size_t)dim * sizeof(float))))
    goto fail;
  if ((rc = sem_word_vectors(&ppmi, dim, o, vec)) ||
      (rc = sem_alloc(ds->n_movies, d->ui->n_rows, dim, &m)))
    goto fail;
  m->o = *o;
  m->o.dim = dim;
  m->vocab = v.n;
  if ((rc = sem_pool(docs, &v, vec, dim, o, m->emb)))
    goto fail;
#pragma omp parallel for schedule(dynamic, 32)
  for (int32_t u = 0; u < m->n_users; u++) {
    int64_t s = d->ui->indptr[u], e = d->ui->indptr[u + 1];
    embed_profile(m->emb, m->n_items, dim, (embed_wmode)o->wmode, d->ui->indices + s,
                  d->ui->values + s, (int)(e - s), m->profiles + (size_t)u * dim);
  }
  free(vec);
  free(drop);
  sem_csr_free(&ppmi);
  sem_vocab_free(&v);
  content_docs_free(docs);
  *out = m;
  return MR_OK;
fail:
  free(vec);
  free(drop);
  sem_csr_free(&ppmi);
  sem_vocab_free(&v);
  content_docs_free(docs);
  semantic_free(m);
  return rc;
}

int32_t semantic_n_items(const semantic_model *m) {
  return m->n_items;
}

int32_t semantic_vocab_size(const semantic_model *m) {
  return m->vocab;
}

const float *semantic_item_embeddings(const semantic_model *m, int *d) {
  if (d)
    *d = m->d;
  return m->emb;
}

int semantic_score_user(const semantic_model *m, int32_t user, float *scores) {
  if (user < 0 || user >= m->n_users)
    return MR_ERANGE;
  embed_scores(m->emb, m->n_items, m->d, m->profiles + (size_t)user * m->d, scores);
  return MR_OK;
}

int semantic_score_history(const semantic_model *m, const int32_t *items, const float *ratings,
                           int n, float *scores) {
  if (n < 0 || (n > 0 && (!items || !ratings)))
    return MR_EINVAL;
  float *prof = malloc((size_t)m->d * sizeof(float));
  if (!prof)
    return MR_ENOMEM;
  embed_profile(m->emb, m->n_items, m->d, (embed_wmode)m->o.wmode, items, ratings, n, prof);
  embed_scores(m->emb, m->n_items, m->d, prof, scores);
  free(prof);
  return MR_OK;
}

int semantic_similar(const semantic_model *m, int32_t item, int n, int32_t *out_items,
                     float *out_scores) {
  if (!m)
    return MR_EINVAL;
  return embed_similar(m->emb, m->n_items, m->d, item, n, out_items, out_scores);
}

static void sem_opts_pack(const semantic_opts *o, double *p) {
  const double v[SEM_N_PARAMS] = {
      o->dim,   o->window, o->min_count, o->cast_n, o->alpha, o->shift,        o->eig_p, o->pool,
      o->sif_a, o->rm_pc,  o->w_meta,    o->wmode,  o->iters, (double)o->seed, 0,        0};
  memcpy(p, v, sizeof(v));
}

static void sem_opts_unpack(const double *p, semantic_opts *o) {
  o->dim = (int)p[0];
  o->window = (int)p[1];
  o->min_count = (int)p[2];
  o->cast_n = (int)p[3];
  o->alpha = (float)p[4];
  o->shift = (float)p[5];
  o->eig_p = (float)p[6];
  o->pool = (int)p[7];
  o->sif_a = (float)p[8];
  o->rm_pc = (int)p[9];
  o->w_meta = (float)p[10];
  o->wmode = (int)p[11];
  o->iters = (int)p[12];
  o->seed = p[13] >= 0 && p[13] < 9007199254740992.0 ? (uint64_t)p[13] : UINT64_MAX;
}

int semantic_save(const semantic_model *m, const char *path) {
  double params[SEM_N_PARAMS];
  sem_opts_pack(&m->o, params);
  mf_section sec[3] = {
      {"embeddings", MF_F32, (uint64_t)m->n_items, (uint64_t)m->d, m->emb},
      {"profiles", MF_F32, (uint64_t)m->n_users, (uint64_t)m->d, m->profiles},
      {"params", MF_F64, 1, SEM_N_PARAMS, params},
  };
  return mf_write(path, "semantic", sec, 3);
}

int semantic_load(const char *path, semantic_model **out, char *err, size_t errlen) {
  mf_file *f = NULL;
  semantic_model *m = NULL;
  const void *e, *pr, *pa;
  uint64_t er, ec, pr_r, pr_c, par, pac;
  int rc = mf_open(path, &f, err, errlen);
  if (rc)
    return rc;
  if (strcmp(mf_kind(f), "semantic") || mf_get(f, "embeddings", MF_F32, &e, &er, &ec) ||
      mf_get(f, "profiles", MF_F32, &pr, &pr_r, &pr_c) ||
      mf_get(f, "params", MF_F64, &pa, &par, &pac) || er == 0 || er > INT32_MAX || ec == 0 ||
      ec > 1024 || pr_c != ec || pr_r > INT32_MAX || par != 1 || pac != SEM_N_PARAMS) {
    rec_set_err(err, errlen, "%s: missing or malformed semantic model sections", path);
    rc = MR_EFORMAT;
    goto fail;
  }
  static const int int_params[] = {0, 1, 2, 3, 7, 9, 11, 12}; /* what sem_opts_unpack casts */
  for (size_t k = 0; k < sizeof(int_params) / sizeof(int_params[0]); k++)
    if (!mf_in_range(((const double *)pa)[int_params[k]], INT32_MIN, INT32_MAX)) {
      rec_set_err(err, errlen, "%s: invalid semantic model parameters", path);
      rc = MR_EFORMAT;
      goto fail;
    }
  if ((rc = sem_alloc((int32_t)er, (int32_t)pr_r, (int)ec, &m)))
    goto fail;
  sem_opts_unpack(pa, &m->o);
  if (!semantic_opts_valid(&m->o) || m->o.dim != (int)ec) {
    rec_set_err(err, errlen, "%s: invalid semantic model parameters", path);
    rc = MR_EFORMAT;
    goto fail;
  }
  memcpy(m->emb, e, er * ec * sizeof(float));
  memcpy(m->profiles, pr, pr_r * ec * sizeof(float));
  for (uint64_t k = 0; k < er * ec; k++)
    if (!isfinite(m->emb[k])) {
      rec_set_err(err, errlen, "%s: non-finite embedding", path);
      rc = MR_EFORMAT;
      goto fail;
    }
  for (uint64_t k = 0; k < pr_r * ec; k++)
    if (!isfinite(m->profiles[k])) {
      rec_set_err(err, errlen, "%s: non-finite profile", path);
      rc = MR_EFORMAT;
      goto fail;
    }
  mf_close(f);
  *out = m;
  return MR_OK;
fail:
  semantic_free(m);
  mf_close(f);
  return rc;
}

/* ---- registry adapter ---- */

static int sem_reg_fit(const rec_params *p, const rec_train_data *d, void **state) {
  semantic_opts o;
  semantic_model *m = NULL;
  semantic_opts_from_params(p, &o);
  int rc = semantic_fit(&o, d, &m);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}
static int sem_reg_score_user(const void *state, int32_t user, float *scores) {
  return semantic_score_user(state, user, scores);
}
static int sem_reg_score_history(const void *state, const int32_t *items, const float *ratings,
                                 int n, float *scores) {
  return semantic_score_history(state, items, ratings, n, scores);
}
static int sem_reg_save(const void *state, const char *path) {
  return semantic_save(state, path);
}
static int sem_reg_load(const char *path, void **state, char *err, size_t errlen) {
  semantic_model *m = NULL;
  int rc = semantic_load(path, &m, err, errlen);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}
static int32_t sem_reg_n_items(const void *state) {
  return semantic_n_items(state);
}
static void sem_reg_free(void *state) {
  semantic_free(state);
}
static int sem_reg_item_embeddings(const void *state, const float **emb, int *dim) {
  *emb = semantic_item_embeddings(state, dim);
  return MR_OK;
}

const rec_ops rec_semantic_ops = {
    .kind = "semantic",
    .fit = sem_reg_fit,
    .score_user = sem_reg_score_user,
    .score_history = sem_reg_score_history,
    .save = sem_reg_save,
    .load = sem_reg_load,
    .n_items = sem_reg_n_items,
    .free = sem_reg_free,
    .item_embeddings = sem_reg_item_embeddings,
};

const semantic_model *semantic_of(const rec_model *m) {
  return rec_state_of(m, "semantic");
}
