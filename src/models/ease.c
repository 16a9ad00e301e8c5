/* EASE^R fit (sparse Gram matrix + Cholesky inverse in float64), scoring and model files. */
#include "models/ease.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "models/model_ops.h"
#include "models/modelfile.h"
#include "models/user_rows.h"

struct ease_model {
  ease_opts opts;
  int32_t n_users, n_items;
  float *b;        /* n_items x n_items, row-major */
  int64_t *indptr; /* n_users + 1: the training rows, kept so training users can be scored */
  int32_t *indices;
  float *ratings;
  float *user_rows; /* n_users x n_items scores of the training users, on load (may be NULL) */
};

void ease_opts_default(ease_opts *o) {
  o->lambda = 500.0;
  o->weighting = 0;
}

void ease_free(ease_model *m) {
  if (!m)
    return;
  free(m->b);
  free(m->indptr);
  free(m->indices);
  free(m->ratings);
  free(m->user_rows);
  free(m);
}

int32_t ease_n_users(const ease_model *m) {
  return m->n_users;
}
int32_t ease_n_items(const ease_model *m) {
  return m->n_items;
}
const ease_opts *ease_get_opts(const ease_model *m) {
  return &m->opts;
}
const float *ease_weights(const ease_model *m) {
  return m->b;
}

static int ease_alloc(int32_t n_users, int32_t n_items, int64_t nnz, ease_model **out) {
  ease_model *m = calloc(1, sizeof(*m));
  if (!m)
    return MR_ENOMEM;
  m->n_users = n_users;
  m->n_items = n_items;
  m->b = malloc((size_t)n_items * (size_t)n_items * sizeof(float));
  m->indptr = malloc(((size_t)n_users + 1) * sizeof(int64_t));
  m->indices = malloc(((size_t)nnz + 1) * sizeof(int32_t));
  m->ratings = malloc(((size_t)nnz + 1) * sizeof(float));
  if (!m->b || !m->indptr || !m->indices || !m->ratings) {
    ease_free(m);
    return MR_ENOMEM;
  }
  *out = m;
  return MR_OK;
}

static double ease_x(int weighting, float rating) {
  return weighting ? (double)rating : 1.0;
}

int ease_fit(const ease_opts *o, const csr *ui, ease_model **out) {
  ease_model *m = NULL;
  csr *iu = NULL;
  double *g = NULL;
  int rc;
  if (!o || !ui || !out || !(o->lambda > 0.0) || !isfinite(o->lambda) ||
      (o->weighting != 0 && o->weighting != 1) || ui->n_cols <= 0 || ui->n_rows < 0 || ui->nnz < 0)
    return MR_EINVAL;
  /* the dense n x n Gram matrix is the whole cost of EASE; refuse sizes that cannot be indexed */
  const int32_t n = ui->n_cols;
  if ((uint64_t)n * (uint64_t)n > (uint64_t)SIZE_MAX / sizeof(double))
    return MR_ERANGE;
  for (int64_t k = 0; k < ui->nnz; k++)
    if (!isfinite(ui->values[k]))
      return MR_ENUMERIC;
  if ((rc = ease_alloc(ui->n_rows, n, ui->nnz, &m)) != MR_OK)
    return rc;
  m->opts = *o;
  memcpy(m->indptr, ui->indptr, ((size_t)ui->n_rows + 1) * sizeof(int64_t));
  memcpy(m->indices, ui->indices, (size_t)ui->nnz * sizeof(int32_t));
  memcpy(m->ratings, ui->values, (size_t)ui->nnz * sizeof(float));
  if ((rc = csr_transpose(ui, &iu)) != MR_OK)
    goto fail;
  g = calloc((size_t)n * (size_t)n, sizeof(double));
  if (!g) {
    rc = MR_ENOMEM;
    goto fail;
  }
  /* G = X^T X from the sparse rows: row i of G only gathers over item i's users, so rows are
   * independent (no races) and each is summed in the same order whatever the thread count.
   * Cost is sum over users of n_u^2, far below a dense syrk on ML-sized data. Only the lower
   * triangle (j <= i) is needed by dpotrf, but filling the row is as cheap as testing j. */
  const int weighting = o->weighting;
#pragma omp parallel for schedule(dynamic, 8)
  for (int32_t i = 0; i < n; i++) {
    double *gi = g + (size_t)i * (size_t)n;
    for (int64_t a = iu->indptr[i]; a < iu->indptr[i + 1]; a++) {
      int32_t u = iu->indices[a];
      double xi = ease_x(weighting, iu->values[a]);
      for (int64_t c = ui->indptr[u]; c < ui->indptr[u + 1]; c++)
        gi[ui->indices[c]] += xi * ease_x(weighting, ui->values[c]);
    }
    gi[i] += o->lambda;
  }
  /* Row-major lower == column-major upper; LAPACKE handles the layout either way. */
  if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, g, n) != 0 ||
      LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', n, g, n) != 0) {
    rc = MR_ENUMERIC;
    goto fail;
  }
  /* P is in the lower triangle; B[i][j] = -P[i][j] / P[j][j] for i != j, using P's symmetry. */
  for (int32_t j = 0; j < n; j++) {
    double pjj = g[(size_t)j * n + j];
    if (!(pjj > 0.0) || !isfinite(pjj)) {
      rc = MR_ENUMERIC;
      goto fail;
    }
  }
  int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
  for (int32_t i = 0; i < n; i++) {
    float *bi = m->b + (size_t)i * (size_t)n;
    for (int32_t j = 0; j < n; j++) {
      double pij = j <= i ? g[(size_t)i * n + j] : g[(size_t)j * n + i];
      double v = i == j ? 0.0 : -pij / g[(size_t)j * n + j];
      bad |= !isfinite(v);
      bi[j] = (float)v;
    }
  }
  if (bad) {
    rc = MR_ENUMERIC;
    goto fail;
  }
  free(g);
  csr_free(iu);
  *out = m;
  return MR_OK;
fail:
  free(g);
  csr_free(iu);
  ease_free(m);
  return rc;
}

/* scores = sum_k w_k B[items[k]]: the sparse row times the dense B, one axpy per history item. */
static void ease_accumulate(const ease_model *m, const int32_t *items, const float *ratings,
                            int64_t n, float *scores) {
  const int32_t ni = m->n_items;
  memset(scores, 0, (size_t)ni * sizeof(float));
  for (int64_t k = 0; k < n; k++) {
    float w = m->opts.weighting ? ratings[k] : 1.0f;
    const float *bi = m->b + (size_t)items[k] * (size_t)ni;
    for (int32_t j = 0; j < ni; j++)
      scores[j] += w * bi[j];
  }
}

/* The same sums as ease_accumulate, at a few items: a strided walk down B's columns. */
static void ease_accumulate_at(const ease_model *m, const int32_t *hist, const float *ratings,
                               int64_t n_h, const int32_t *items, int n, float *out) {
  const size_t ni = (size_t)m->n_items;
  for (int c = 0; c < n; c++)
    out[c] = 0.0f;
  for (int64_t k = 0; k < n_h; k++) {
    float w = m->opts.weighting ? ratings[k] : 1.0f;
    const float *bi = m->b + (size_t)hist[k] * ni;
    for (int c = 0; c < n; c++)
      out[c] += w * bi[items[c]];
  }
}

int ease_score_items(const ease_model *m, int32_t user, const int32_t *hist, const float *ratings,
                     int n_h, const int32_t *items, int n, float *out, float *scratch) {
  if (!m || !out || n < 0 || (n > 0 && !items))
    return MR_EINVAL;
  for (int c = 0; c < n; c++)
    if (items[c] < 0 || items[c] >= m->n_items)
      return MR_ERANGE;
  if (user >= 0) {
    if (user >= m->n_users)
      return MR_ERANGE;
    if (m->user_rows) {
      const float *row = m->user_rows + (size_t)user * (size_t)m->n_items;
      for (int c = 0; c < n; c++)
        out[c] = row[items[c]];
      return MR_OK;
    }
    int64_t b = m->indptr[user], e = m->indptr[user + 1];
    ease_accumulate_at(m, m->indices + b, m->ratings + b, e - b, items, n, out);
    return MR_OK;
  }
  (void)scratch; /* a few columns cost less than whole rows */
  if (n_h < 0 || (n_h > 0 && !hist) || (n_h > 0 && m->opts.weighting && !ratings))
    return MR_EINVAL;
  for (int k = 0; k < n_h; k++) {
    if (hist[k] < 0 || hist[k] >= m->n_items)
      return MR_ERANGE;
    if (m->opts.weighting && !isfinite(ratings[k]))
      return MR_EINVAL;
  }
  ease_accumulate_at(m, hist, ratings, n_h, items, n, out);
  return MR_OK;
}

int ease_score_user(const ease_model *m, int32_t user, float *scores) {
  if (!m || !scores)
    return MR_EINVAL;
  if (user < 0 || user >= m->n_users)
    return MR_ERANGE;
  if (m->user_rows) {
    memcpy(scores, m->user_rows + (size_t)user * (size_t)m->n_items,
           (size_t)m->n_items * sizeof(float));
    return MR_OK;
  }
  int64_t b = m->indptr[user], e = m->indptr[user + 1];
  ease_accumulate(m, m->indices + b, m->ratings + b, e - b, scores);
  return MR_OK;
}

static int ease_score_row(const void *m, int32_t user, float *scores) {
  return ease_score_user(m, user, scores);
}

int ease_score_history(const ease_model *m, const int32_t *items, const float *ratings, int n,
                       float *scores) {
  if (!m || !scores || n < 0 || (n > 0 && !items) || (n > 0 && m->opts.weighting && !ratings))
    return MR_EINVAL;
  for (int k = 0; k < n; k++) {
    if (items[k] < 0 || items[k] >= m->n_items)
      return MR_ERANGE;
    if (m->opts.weighting && !isfinite(ratings[k]))
      return MR_EINVAL;
  }
  ease_accumulate(m, items, ratings, n, scores);
  return MR_OK;
}

int ease_save(const ease_model *m, const char *path) {
  if (!m || !path)
    return MR_EINVAL;
  int64_t nnz = m->indptr[m->n_users];
  if (nnz > INT32_MAX)
    return MR_ERANGE;
  int32_t *indptr32 = malloc(((size_t)m->n_users + 1) * sizeof(int32_t));
  if (!indptr32)
    return MR_ENOMEM;
  for (int32_t u = 0; u <= m->n_users; u++)
    indptr32[u] = (int32_t)m->indptr[u];
  double opts[2] = {m->opts.lambda, (double)m->opts.weighting};
  mf_section sec[5] = {
      {"B", MF_F32, (uint64_t)m->n_items, (uint64_t)m->n_items, m->b},
      {"user_indptr", MF_I32, 1, (uint64_t)m->n_users + 1, indptr32},
      {"user_items", MF_I32, 1, (uint64_t)nnz, m->indices},
      {"user_ratings", MF_F32, 1, (uint64_t)nnz, m->ratings},
      {"opts", MF_F64, 1, 2, opts},
  };
  int rc = mf_write(path, "ease", sec, 5);
  free(indptr32);
  return rc;
}

int ease_load(const char *path, ease_model **out, char *err, size_t errlen) {
  mf_file *f = NULL;
  ease_model *m = NULL;
  const void *b, *indptr, *items, *ratings, *opts;
  uint64_t br, bc, pr, pc, ir, ic, rr, rcols, orr, oc;
  int rc = mf_open(path, &f, err, errlen);
  if (rc)
    return rc;
  if (strcmp(mf_kind(f), "ease") != 0) {
    rec_set_err(err, errlen, "%s: model kind '%s', expected 'ease'", path, mf_kind(f));
    rc = MR_EFORMAT;
    goto fail;
  }
  if ((rc = mf_get(f, "B", MF_F32, &b, &br, &bc)) ||
      (rc = mf_get(f, "user_indptr", MF_I32, &indptr, &pr, &pc)) ||
      (rc = mf_get(f, "user_items", MF_I32, &items, &ir, &ic)) ||
      (rc = mf_get(f, "user_ratings", MF_F32, &ratings, &rr, &rcols)) ||
      (rc = mf_get(f, "opts", MF_F64, &opts, &orr, &oc))) {
    rec_set_err(err, errlen, "%s: missing or mistyped section (%s)", path, mr_strerror(rc));
    goto fail;
  }
  rc = MR_EFORMAT;
  if (br != bc || br == 0 || br > INT32_MAX || pr != 1 || pc == 0 || pc - 1 > INT32_MAX ||
      ir != 1 || rr != 1 || ic != rcols || orr != 1 || oc != 2) {
    rec_set_err(err, errlen, "%s: inconsistent section shapes", path);
    goto fail;
  }
  const int32_t *p32 = indptr, *it = items;
  const double *od = opts;
  int32_t n_items = (int32_t)br, n_users = (int32_t)(pc - 1);
  /* a CRC proves the file is intact, not that it is sane: check every index before use */
  int ok = p32[0] == 0 && (uint64_t)p32[n_users] == ic && od[0] > 0.0 && isfinite(od[0]) &&
           (od[1] == 0.0 || od[1] == 1.0);
  for (int32_t u = 0; ok && u < n_users; u++)
    ok = p32[u] <= p32[u + 1];
  for (uint64_t k = 0; ok && k < ic; k++)
    ok = it[k] >= 0 && it[k] < n_items;
  if (!ok) {
    rec_set_err(err, errlen, "%s: invalid user rows or options", path);
    goto fail;
  }
  if ((rc = ease_alloc(n_users, n_items, (int64_t)ic, &m)) != MR_OK)
    goto fail;
  m->opts.lambda = od[0];
  m->opts.weighting = (int)od[1];
  memcpy(m->b, b, (size_t)n_items * (size_t)n_items * sizeof(float));
  for (int32_t u = 0; u <= n_users; u++)
    m->indptr[u] = p32[u];
  memcpy(m->indices, items, ic * sizeof(int32_t));
  memcpy(m->ratings, ratings, ic * sizeof(float));
  mf_close(f);
  f = NULL;
  if ((rc = urows_build(m, ease_score_row, m->n_users, m->n_items, &m->user_rows)))
    goto fail;
  *out = m;
  return MR_OK;
fail:
  ease_free(m);
  mf_close(f);
  return rc;
}

/* ---- registry adapter: kind "ease", parameters lambda and weighting ---- */

static int ease_reg_fit(const rec_params *p, const rec_train_data *d, void **state) {
  ease_opts o;
  ease_model *m = NULL;
  ease_opts_default(&o);
  o.lambda = rec_params_get(p, "lambda", o.lambda);
  o.weighting = (int)rec_params_get(p, "weighting", o.weighting);
  int rc = ease_fit(&o, d->ui, &m);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}

static int ease_reg_score_user(const void *state, int32_t user, float *scores) {
  return ease_score_user(state, user, scores);
}

static int ease_reg_score_history(const void *state, const int32_t *items, const float *ratings,
                                  int n, float *scores) {
  return ease_score_history(state, items, ratings, n, scores);
}

static int ease_reg_save(const void *state, const char *path) {
  return ease_save(state, path);
}

static int ease_reg_load(const char *path, void **state, char *err, size_t errlen) {
  ease_model *m = NULL;
  int rc = ease_load(path, &m, err, errlen);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}

static int32_t ease_reg_n_items(const void *state) {
  return ease_n_items(state);
}
static void ease_reg_free(void *state) {
  ease_free(state);
}

/* designated initializers: optional fields added to rec_ops later stay NULL */
static int ease_reg_score_items(const void *state, int32_t user, const int32_t *hist,
                                const float *ratings, int n_h, int64_t ref_ts, const int32_t *items,
                                int n, float *out, float *scratch) {
  (void)ref_ts; /* no popularity-derived signal */
  return ease_score_items(state, user, hist, ratings, n_h, items, n, out, scratch);
}

const rec_ops rec_ease_ops = {
    .kind = "ease",
    .fit = ease_reg_fit,
    .score_user = ease_reg_score_user,
    .score_history = ease_reg_score_history,
    .save = ease_reg_save,
    .load = ease_reg_load,
    .n_items = ease_reg_n_items,
    .free = ease_reg_free,
    .score_items = ease_reg_score_items,
};
