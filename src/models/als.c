/* Implicit ALS: OpenBLAS Gram matrices, per-row CG (or Cholesky) solves in OpenMP threads. */
#include "models/als.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "models/modelfile.h"
#include "models/user_rows.h"

#define ALS_META_LEN 8
/* CG stops once |r|^2 falls below this, as the implicit library does. */
#define ALS_CG_EPS 1e-20f

struct als_model {
  int32_t n_users, n_items;
  int k;
  als_opts opts;
  float *x_owned, *y_owned; /* NULL when the factors live in the mapped file */
  const float *x, *y;
  float *gram; /* k x k Y^T Y of the final item factors, without reg (for fold-in and loss) */
  mf_file *mf;
  float *user_rows; /* n_users x n_items scores of the training users, on load (may be NULL) */
};

void als_opts_default(als_opts *o) {
  memset(o, 0, sizeof(*o));
  o->factors = 64;
  o->iterations = 15;
  o->cg_steps = 3;
  o->reg = 0.05f;
  o->alpha = 2.0f;
  o->seed = 42;
  o->threads = 0;
}

/* 64-byte aligned so every k = 16m factor row starts on a cache line. */
static float *als_alloc_floats(size_t n) {
  size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
  return aligned_alloc(64, bytes ? bytes : 64);
}

static double als_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* G = F^T F (k x k, full symmetric) for F with n rows. Called only outside parallel regions so
 * OpenBLAS threads never nest inside OpenMP ones. OpenBLAS runs single-threaded here: the Gram
 * matrix is a few percent of an iteration, one thread makes it bit-identical whatever
 * OPENBLAS_NUM_THREADS says, and OpenBLAS's pthread workers would otherwise keep spinning on
 * the cores the OpenMP sweep that follows needs. The previous setting is restored. */
static void als_gram(const float *f, int32_t n, int k, float *g) {
  if (n <= 0 || k <= 0) {
    memset(g, 0, (size_t)k * (size_t)k * sizeof(float));
    return;
  }
  int blas_threads = openblas_get_num_threads();
  if (blas_threads != 1)
    openblas_set_num_threads(1);
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, k, n, 1.0f, f, k, 0.0f, g, k);
  if (blas_threads != 1)
    openblas_set_num_threads(blas_threads);
  for (int i = 0; i < k; i++)
    for (int j = 0; j < i; j++)
      g[(size_t)i * k + j] = g[(size_t)j * k + i];
}

/* The small dense kernels below are written as plain loops that gcc vectorizes; always_inline
 * lets the k = 64 solver instantiate them with a constant trip count (fully unrolled). */
#define ALS_INLINE static inline __attribute__((always_inline))
/* fmaf rather than a * b + c: the project builds with -std=c11, where gcc does not contract
 * into FMA instructions on its own; fmaf vectorizes to vfmadd with -march=native. */

/* k = 64 kernels in GCC vector extensions: gcc's own reduction epilogue for `omp simd` sums
 * the lanes one by one, which dominated the CG loop; here the tree is explicit (and fixed, so
 * results never depend on the thread count). Factor rows for k = 64 are 64-byte aligned. */
typedef float als_v8 __attribute__((vector_size(32)));
typedef float als_v4 __attribute__((vector_size(16)));

ALS_INLINE als_v8 als_ld8(const float *p) {
  als_v8 v;
  memcpy(&v, p, sizeof(v));
  return v;
}

ALS_INLINE float als_dot64(const float *restrict a, const float *restrict b) {
  als_v8 s0 = als_ld8(a) * als_ld8(b), s1 = als_ld8(a + 8) * als_ld8(b + 8);
  als_v8 s2 = als_ld8(a + 16) * als_ld8(b + 16), s3 = als_ld8(a + 24) * als_ld8(b + 24);
  als_v8 s4 = als_ld8(a + 32) * als_ld8(b + 32), s5 = als_ld8(a + 40) * als_ld8(b + 40);
  als_v8 s6 = als_ld8(a + 48) * als_ld8(b + 48), s7 = als_ld8(a + 56) * als_ld8(b + 56);
  als_v8 t = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
  als_v4 h = __builtin_shufflevector(t, t, 0, 1, 2, 3) + __builtin_shufflevector(t, t, 4, 5, 6, 7);
  h = h + __builtin_shufflevector(h, h, 2, 3, 0, 1);
  return h[0] + h[1];
}

ALS_INLINE void als_axpy64(float a, const float *restrict x, float *restrict y) {
  als_v8 av = {a, a, a, a, a, a, a, a};
  for (int j = 0; j < 64; j += 8) {
    als_v8 v = als_ld8(y + j) + av * als_ld8(x + j);
    memcpy(y + j, &v, sizeof(v));
  }
}

ALS_INLINE float als_dot(const float *restrict a, const float *restrict b, int k) {
  if (k == 64)
    return als_dot64(a, b);
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < k; j++)
    s = fmaf(a[j], b[j], s);
  return s;
}

ALS_INLINE void als_axpy(float a, const float *restrict x, float *restrict y, int k) {
  if (k == 64) {
    als_axpy64(a, x, y);
    return;
  }
#pragma omp simd
  for (int j = 0; j < k; j++)
    y[j] = fmaf(a, x[j], y[j]);
}

/* out = (G + reg I) v, as a sum of G's columns (G is symmetric) so no reduction is needed. */
ALS_INLINE void als_gram_mv(const float *restrict g, float reg, const float *restrict v,
                            float *restrict out, int k) {
#pragma omp simd
  for (int j = 0; j < k; j++)
    out[j] = reg * v[j];
  for (int i = 0; i < k; i++)
    als_axpy(v[i], g + (size_t)i * k, out, k);
}

/* Rows are gathered in random order, which the hardware prefetcher cannot follow; asking for
 * the row 8 nonzeros ahead (tuned on the 1M/10M benches) hides most of the L2/L3 latency. */
#define ALS_PREFETCH 8
ALS_INLINE void als_prefetch_row(const float *other, const int32_t *idx, int64_t e, int64_t n,
                                 int k) {
  if (e < n) {
    const char *p = (const char *)(other + (size_t)idx[e] * (size_t)k);
    for (size_t b = 0; b < (size_t)k * sizeof(float); b += 64)
      __builtin_prefetch(p + b);
  }
}

/* Warm-started CG on (G + reg I + Y^T (C - I) Y) x = Y^T C p for one row, following the
 * implicit library's solver: residual from the current x, then `steps` CG iterations, where A p
 * is formed from G plus the sparse correction instead of materializing A. ws has 3k floats.
 * Returns MR_ENUMERIC when the residual is not finite (x would silently stop updating). */
ALS_INLINE int als_cg_row(const float *restrict g, float reg, float alpha,
                          const float *restrict other, const int32_t *restrict idx,
                          const float *restrict val, int64_t n, float *restrict x,
                          float *restrict ws, int steps, int k) {
  float *restrict r = ws, *restrict p = ws + k, *restrict ap = ws + 2 * k;
  als_gram_mv(g, reg, x, ap, k);
#pragma omp simd
  for (int j = 0; j < k; j++)
    r[j] = -ap[j];
  for (int64_t e = 0; e < n; e++) {
    const float *restrict yi = other + (size_t)idx[e] * (size_t)k;
    float c1 = alpha * val[e];
    als_prefetch_row(other, idx, e + ALS_PREFETCH, n, k);
    float d = als_dot(yi, x, k);
    als_axpy((1.0f + c1) - c1 * d, yi, r, k);
  }
  float rsold = als_dot(r, r, k);
  if (!isfinite(rsold))
    return MR_ENUMERIC;
  if (rsold < ALS_CG_EPS)
    return MR_OK;
  memcpy(p, r, (size_t)k * sizeof(float));
  for (int s = 0; s < steps; s++) {
    als_gram_mv(g, reg, p, ap, k);
    for (int64_t e = 0; e < n; e++) {
      const float *restrict yi = other + (size_t)idx[e] * (size_t)k;
      float c1 = alpha * val[e];
      als_prefetch_row(other, idx, e + ALS_PREFETCH, n, k);
      als_axpy(c1 * als_dot(yi, p, k), yi, ap, k);
    }
    float pap = als_dot(p, ap, k);
    if (!(pap > 0.0f))
      break;
    float a = rsold / pap;
#pragma omp simd
    for (int j = 0; j < k; j++) {
      x[j] = fmaf(a, p[j], x[j]);
      r[j] = fmaf(-a, ap[j], r[j]);
    }
    float rsnew = als_dot(r, r, k);
    if (!isfinite(rsnew))
      return MR_ENUMERIC;
    if (rsnew < ALS_CG_EPS)
      break;
    float beta = rsnew / rsold;
#pragma omp simd
    for (int j = 0; j < k; j++)
      p[j] = fmaf(beta, p[j], r[j]);
    rsold = rsnew;
  }
  return MR_OK;
}

static int als_cg_row64(const float *g, float reg, float alpha, const float *other,
                        const int32_t *idx, const float *val, int64_t n, float *x, float *ws,
                        int steps) {
  return als_cg_row(g, reg, alpha, other, idx, val, n, x, ws, steps, 64);
}

static int als_cg_row_any(const float *g, float reg, float alpha, const float *other,
                          const int32_t *idx, const float *val, int64_t n, float *x, float *ws,
                          int steps, int k) {
  return als_cg_row(g, reg, alpha, other, idx, val, n, x, ws, steps, k);
}

/* Exact solve of the same system: builds A (k x k) and b, then an in-place Cholesky A = L L^T
 * (lower triangle) and two triangular solves. ws has k*k + k floats. Returns MR_ENUMERIC when
 * A is not positive definite (e.g. reg = 0 with too few ratings). */
static int als_exact_row(const float *g, float reg, float alpha, const float *other,
                         const int32_t *idx, const float *val, int64_t n, float *x, float *ws,
                         int k) {
  float *a = ws, *b = ws + (size_t)k * k;
  memcpy(a, g, (size_t)k * k * sizeof(float));
  for (int j = 0; j < k; j++) {
    a[(size_t)j * k + j] += reg;
    b[j] = 0.0f;
  }
  for (int64_t e = 0; e < n; e++) {
    const float *yi = other + (size_t)idx[e] * (size_t)k;
    float c1 = alpha * val[e];
    for (int i = 0; i < k; i++)
      als_axpy(c1 * yi[i], yi, a + (size_t)i * k, i + 1);
    als_axpy(1.0f + c1, yi, b, k);
  }
  for (int j = 0; j < k; j++) {
    float *aj = a + (size_t)j * k;
    float d = aj[j] - als_dot(aj, aj, j);
    if (!(d > 0.0f) || !isfinite(d))
      return MR_ENUMERIC;
    d = sqrtf(d);
    aj[j] = d;
    for (int i = j + 1; i < k; i++) {
      float *ai = a + (size_t)i * k;
      ai[j] = (ai[j] - als_dot(ai, aj, j)) / d;
    }
  }
  for (int i = 0; i < k; i++) { /* L z = b */
    const float *ai = a + (size_t)i * k;
    x[i] = (b[i] - als_dot(ai, x, i)) / ai[i];
  }
  for (int i = k - 1; i >= 0; i--) { /* L^T x = z */
    float s = x[i];
    for (int j = i + 1; j < k; j++)
      s -= a[(size_t)j * k + i] * x[j];
    x[i] = s / a[(size_t)i * k + i];
  }
  return MR_OK;
}

static int als_all_finite(const float *v, size_t n) {
  int ok = 1;
#pragma omp simd reduction(& : ok)
  for (size_t i = 0; i < n; i++)
    ok &= isfinite(v[i]) ? 1 : 0;
  return ok;
}

/* Solves every row of `target` (rows of r) against `other` with the Gram matrix g. */
static int als_sweep(const als_opts *o, int k, int nt, const csr *r, const float *other,
                     const float *g, float *target, float *ws, size_t ws_stride) {
  int status = MR_OK;
#pragma omp parallel num_threads(nt)
  {
    float *w = ws + (size_t)omp_get_thread_num() * ws_stride;
#pragma omp for schedule(dynamic, 64)
    for (int32_t row = 0; row < r->n_rows; row++) {
      int64_t b = r->indptr[row], n = r->indptr[row + 1] - b;
      float *x = target + (size_t)row * (size_t)k;
      int rc;
      if (o->cg_steps == 0)
        rc = als_exact_row(g, o->reg, o->alpha, other, r->indices + b, r->values + b, n, x, w, k);
      else if (k == 64)
        rc = als_cg_row64(g, o->reg, o->alpha, other, r->indices + b, r->values + b, n, x, w,
                          o->cg_steps);
      else
        rc = als_cg_row_any(g, o->reg, o->alpha, other, r->indices + b, r->values + b, n, x, w,
                            o->cg_steps, k);
      if (rc != MR_OK) {
#pragma omp atomic write
        status = rc;
      }
    }
  }
  if (status == MR_OK && !als_all_finite(target, (size_t)r->n_rows * (size_t)k))
    status = MR_ENUMERIC;
  return status;
}

static int als_check_inputs(const als_opts *o, const csr *ui, const csr *iu) {
  if (!o || !ui || !iu)
    return MR_EINVAL;
  if (o->factors <= 0 || o->factors > 4096 || o->iterations < 0 || o->cg_steps < 0 ||
      !isfinite(o->reg) || o->reg < 0.0f || !isfinite(o->alpha) || o->alpha < 0.0f ||
      o->threads < 0)
    return MR_EINVAL;
  if (ui->n_rows <= 0 || ui->n_cols <= 0 || ui->n_rows != iu->n_cols || ui->n_cols != iu->n_rows ||
      ui->nnz != iu->nnz)
    return MR_EINVAL;
  const csr *mats[2] = {ui, iu};
  for (int m = 0; m < 2; m++) {
    const csr *a = mats[m];
    if (a->indptr[0] != 0 || a->indptr[a->n_rows] != a->nnz)
      return MR_EINVAL;
    for (int64_t e = 0; e < a->nnz; e++) {
      if (a->indices[e] < 0 || a->indices[e] >= a->n_cols)
        return MR_ERANGE;
      /* a confidence below 1 would make the system indefinite */
      if (!isfinite(a->values[e]) || a->values[e] < 0.0f)
        return MR_ERANGE;
    }
  }
  return MR_OK;
}

static int als_new(int32_t n_users, int32_t n_items, int k, als_model **out) {
  als_model *m = calloc(1, sizeof(*m));
  if (!m)
    return MR_ENOMEM;
  m->n_users = n_users;
  m->n_items = n_items;
  m->k = k;
  m->gram = als_alloc_floats((size_t)k * (size_t)k);
  if (!m->gram) {
    free(m);
    return MR_ENOMEM;
  }
  *out = m;
  return MR_OK;
}

int als_fit(const als_opts *o, const csr *ui, const csr *iu, als_model **out) {
  als_model *m = NULL;
  float *ws = NULL;
  int rc;
  if (!out)
    return MR_EINVAL;
  *out = NULL;
  rc = als_check_inputs(o, ui, iu);
  if (rc)
    return rc;
  int k = o->factors;
  int nt = o->threads > 0 ? o->threads : omp_get_max_threads();
  rc = als_new(ui->n_rows, ui->n_cols, k, &m);
  if (rc)
    return rc;
  m->opts = *o;
  m->opts.progress = NULL;
  m->opts.progress_ctx = NULL;
  m->x_owned = als_alloc_floats((size_t)m->n_users * (size_t)k);
  m->y_owned = als_alloc_floats((size_t)m->n_items * (size_t)k);
  /* one workspace per thread, each on its own cache lines, allocated once per fit */
  size_t ws_stride = (((o->cg_steps == 0 ? (size_t)k * k + k : 3 * (size_t)k)) + 15) & ~(size_t)15;
  ws = als_alloc_floats(ws_stride * (size_t)nt);
  if (!m->x_owned || !m->y_owned || !ws) {
    rc = MR_ENOMEM;
    goto fail;
  }
  m->x = m->x_owned;
  m->y = m->y_owned;

  mr_rng rng;
  mr_rng_seed(&rng, o->seed);
  for (size_t i = 0; i < (size_t)m->n_users * (size_t)k; i++)
    m->x_owned[i] = (float)(mr_rng_normal(&rng) * 0.01);
  for (size_t i = 0; i < (size_t)m->n_items * (size_t)k; i++)
    m->y_owned[i] = (float)(mr_rng_normal(&rng) * 0.01);

  for (int it = 0; it < o->iterations; it++) {
    double t0 = als_now();
    als_gram(m->x_owned, m->n_users, k, m->gram);
    rc = als_sweep(o, k, nt, iu, m->x_owned, m->gram, m->y_owned, ws, ws_stride);
    if (rc)
      goto fail;
    als_gram(m->y_owned, m->n_items, k, m->gram);
    rc = als_sweep(o, k, nt, ui, m->y_owned, m->gram, m->x_owned, ws, ws_stride);
    if (rc)
      goto fail;
    if (o->progress)
      o->progress(it + 1, als_now() - t0, o->progress_ctx);
  }
  /* keep Y^T Y of the final item factors for fold-in and the loss */
  als_gram(m->y_owned, m->n_items, k, m->gram);
  free(ws);
  *out = m;
  return MR_OK;

fail:
  free(ws);
  als_free(m);
  return rc;
}

void als_free(als_model *m) {
  if (!m)
    return;
  free(m->x_owned);
  free(m->y_owned);
  free(m->gram);
  free(m->user_rows);
  mf_close(m->mf);
  free(m);
}

int32_t als_n_users(const als_model *m) {
  return m ? m->n_users : 0;
}
int32_t als_n_items(const als_model *m) {
  return m ? m->n_items : 0;
}
int als_factors(const als_model *m) {
  return m ? m->k : 0;
}
const float *als_user_factors(const als_model *m) {
  return m ? m->x : NULL;
}
const float *als_item_factors(const als_model *m) {
  return m ? m->y : NULL;
}

int als_score_vector(const als_model *m, const float *x, float *scores) {
  if (!m || !x || !scores)
    return MR_EINVAL;
  /* a plain loop rather than sgemv: scoring is called from request/eval threads, where
   * OpenBLAS's own thread pool would only add contention */
  for (int32_t i = 0; i < m->n_items; i++)
    scores[i] = als_dot(m->y + (size_t)i * (size_t)m->k, x, m->k);
  return MR_OK;
}

int als_score_user(const als_model *m, int32_t user, float *scores) {
  if (!m || user < 0 || user >= m->n_users)
    return MR_EINVAL;
  if (m->user_rows) {
    memcpy(scores, m->user_rows + (size_t)user * (size_t)m->n_items,
           (size_t)m->n_items * sizeof(float));
    return MR_OK;
  }
  return als_score_vector(m, m->x + (size_t)user * (size_t)m->k, scores);
}

/* A training user's scores computed from the factors (what user_rows holds). */
static int als_score_row(const void *model, int32_t user, float *scores) {
  const als_model *m = model;
  return als_score_vector(m, m->x + (size_t)user * (size_t)m->k, scores);
}

int als_fold_in(const als_model *m, const int32_t *items, const float *ratings, int n,
                float *x_out) {
  if (!m || !x_out || n < 0 || (n > 0 && (!items || !ratings)))
    return MR_EINVAL;
  for (int e = 0; e < n; e++)
    if (items[e] < 0 || items[e] >= m->n_items || !isfinite(ratings[e]) || ratings[e] < 0.0f)
      return MR_ERANGE;
  if (n == 0) {
    memset(x_out, 0, (size_t)m->k * sizeof(float));
    return MR_OK;
  }
  int k = m->k;
  float *ws = als_alloc_floats((size_t)k * k + k);
  if (!ws)
    return MR_ENOMEM;
  int rc =
      als_exact_row(m->gram, m->opts.reg, m->opts.alpha, m->y, items, ratings, n, x_out, ws, k);
  free(ws);
  if (rc == MR_OK && !als_all_finite(x_out, (size_t)k))
    rc = MR_ENUMERIC;
  return rc;
}

double als_loss(const als_model *m, const csr *ui) {
  if (!m || !ui || ui->n_rows != m->n_users || ui->n_cols != m->n_items)
    return NAN;
  int k = m->k;
  double loss = 0.0, norm = 0.0;
  float alpha = m->opts.alpha;
  /* sum over all pairs of s^2 is sum_u x_u^T (Y^T Y) x_u; observed pairs then swap their
   * s^2 term for c (1 - s)^2 */
#pragma omp parallel for schedule(dynamic, 64) reduction(+ : loss, norm)
  for (int32_t u = 0; u < m->n_users; u++) {
    const float *x = m->x + (size_t)u * (size_t)k;
    double q = 0.0;
    for (int i = 0; i < k; i++)
      q += (double)x[i] * als_dot(m->gram + (size_t)i * k, x, k);
    for (int64_t e = ui->indptr[u]; e < ui->indptr[u + 1]; e++) {
      double s = als_dot(x, m->y + (size_t)ui->indices[e] * (size_t)k, k);
      double c = 1.0 + (double)alpha * ui->values[e];
      q += c * (1.0 - s) * (1.0 - s) - s * s;
    }
    loss += q;
    norm += als_dot(x, x, k);
  }
  for (size_t i = 0; i < (size_t)m->n_items * (size_t)k; i++)
    norm += (double)m->y[i] * m->y[i];
  return loss + m->opts.reg * norm;
}

int als_save(const als_model *m, const char *path) {
  if (!m || !path)
    return MR_EINVAL;
  double meta[ALS_META_LEN] = {m->k,
                               m->opts.iterations,
                               m->opts.cg_steps,
                               m->opts.reg,
                               m->opts.alpha,
                               (double)(m->opts.seed & 0xffffffffu),
                               (double)(m->opts.seed >> 32),
                               0.0};
  mf_section s[3] = {
      {"user_factors", MF_F32, (uint64_t)m->n_users, (uint64_t)m->k, m->x},
      {"item_factors", MF_F32, (uint64_t)m->n_items, (uint64_t)m->k, m->y},
      {"meta", MF_F64, 1, ALS_META_LEN, meta},
  };
  return mf_write(path, "als", s, 3);
}

static int als_load_fail(int rc, char *err, size_t errlen, const char *path, const char *what) {
  if (err && errlen > 0)
    snprintf(err, errlen, "%s: %s", path, what);
  return rc;
}

int als_load(const char *path, als_model **out, char *err, size_t errlen) {
  mf_file *f = NULL;
  als_model *m = NULL;
  const void *xu, *yi, *mt;
  uint64_t xr, xc, yr, yc, mr, mc;
  int rc;
  if (!path || !out)
    return MR_EINVAL;
  *out = NULL;
  rc = mf_open(path, &f, err, errlen);
  if (rc)
    return rc;
  if (strcmp(mf_kind(f), "als") != 0) {
    rc = als_load_fail(MR_EFORMAT, err, errlen, path, "not an ALS model");
    goto fail;
  }
  if (mf_get(f, "user_factors", MF_F32, &xu, &xr, &xc) ||
      mf_get(f, "item_factors", MF_F32, &yi, &yr, &yc) ||
      mf_get(f, "meta", MF_F64, &mt, &mr, &mc)) {
    rc = als_load_fail(MR_EFORMAT, err, errlen, path, "missing or mistyped ALS section");
    goto fail;
  }
  double meta[ALS_META_LEN];
  if (mr * mc < ALS_META_LEN) {
    rc = als_load_fail(MR_EFORMAT, err, errlen, path, "ALS meta section too short");
    goto fail;
  }
  memcpy(meta, mt, sizeof(meta));
  if (!(meta[0] >= 1 && meta[0] <= 4096) || xc != (uint64_t)meta[0] || yc != xc || xr < 1 ||
      yr < 1 || xr > INT32_MAX || yr > INT32_MAX || !isfinite(meta[3]) || !isfinite(meta[4]) ||
      !mf_in_range(meta[1], 0, INT32_MAX) || !mf_in_range(meta[2], 0, INT32_MAX) ||
      !mf_in_range(meta[5], 0, UINT32_MAX) || !mf_in_range(meta[6], 0, UINT32_MAX)) {
    rc = als_load_fail(MR_EFORMAT, err, errlen, path, "inconsistent ALS shapes or parameters");
    goto fail;
  }
  rc = als_new((int32_t)xr, (int32_t)yr, (int)xc, &m);
  if (rc)
    goto fail;
  als_opts_default(&m->opts);
  m->opts.factors = m->k;
  m->opts.iterations = (int)meta[1];
  m->opts.cg_steps = (int)meta[2];
  m->opts.reg = (float)meta[3];
  m->opts.alpha = (float)meta[4];
  m->opts.seed = (uint64_t)meta[5] | ((uint64_t)meta[6] << 32);
  /* sections are 64-byte aligned in a page-aligned mapping, so the floats are used in place */
  m->x = xu;
  m->y = yi;
  if (!als_all_finite(m->x, xr * xc) || !als_all_finite(m->y, yr * yc)) {
    rc = als_load_fail(MR_ECORRUPT, err, errlen, path, "non-finite factors");
    goto fail;
  }
  m->mf = f;
  f = NULL;
  als_gram(m->y, m->n_items, m->k, m->gram);
  /* a loaded model serves requests: every training user's scores once, read per request */
  if ((rc = urows_build(m, als_score_row, m->n_users, m->n_items, &m->user_rows)))
    goto fail;
  *out = m;
  return MR_OK;

fail:
  als_free(m);
  mf_close(f);
  return rc;
}
