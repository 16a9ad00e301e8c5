/* Item-item cosine kNN: sparse co-occurrence per item row, top-K selection, scoring, model files.
 */
#include "models/itemknn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "models/model_ops.h"
#include "models/modelfile.h"
#include "models/user_rows.h"

struct itemknn_model {
  itemknn_opts opts;
  int32_t n_users, n_items;
  int width;        /* stored neighbours per item: min(k, n_items - 1), at least 1 */
  int32_t *nbr_idx; /* n_items x width, -1 padded */
  float *nbr_sim;   /* n_items x width, 0 padded */
  int32_t *nbr_count;
  int64_t *indptr; /* n_users + 1: the training rows, kept so training users can be scored */
  int32_t *indices;
  float *ratings;
  float *user_rows; /* n_users x n_items scores of the training users, on load (may be NULL) */
};

/* A candidate neighbour during selection. */
typedef struct knn_cand {
  double sim;
  int32_t j;
} knn_cand;

void itemknn_opts_default(itemknn_opts *o) {
  o->k = 100;
  o->shrink = 0.0;
  o->weighting = 0;
}

void itemknn_free(itemknn_model *m) {
  if (!m)
    return;
  free(m->nbr_idx);
  free(m->nbr_sim);
  free(m->nbr_count);
  free(m->indptr);
  free(m->indices);
  free(m->ratings);
  free(m->user_rows);
  free(m);
}

int32_t itemknn_n_users(const itemknn_model *m) {
  return m->n_users;
}
int32_t itemknn_n_items(const itemknn_model *m) {
  return m->n_items;
}
const itemknn_opts *itemknn_get_opts(const itemknn_model *m) {
  return &m->opts;
}

static int knn_alloc(int32_t n_users, int32_t n_items, int width, int64_t nnz,
                     itemknn_model **out) {
  itemknn_model *m = calloc(1, sizeof(*m));
  if (!m)
    return MR_ENOMEM;
  size_t cells = (size_t)n_items * (size_t)width;
  m->n_users = n_users;
  m->n_items = n_items;
  m->width = width;
  m->nbr_idx = malloc(cells * sizeof(int32_t));
  m->nbr_sim = malloc(cells * sizeof(float));
  m->nbr_count = calloc((size_t)n_items, sizeof(int32_t));
  m->indptr = malloc(((size_t)n_users + 1) * sizeof(int64_t));
  m->indices = malloc(((size_t)nnz + 1) * sizeof(int32_t));
  m->ratings = malloc(((size_t)nnz + 1) * sizeof(float));
  if (!m->nbr_idx || !m->nbr_sim || !m->nbr_count || !m->indptr || !m->indices || !m->ratings) {
    itemknn_free(m);
    return MR_ENOMEM;
  }
  for (size_t c = 0; c < cells; c++) {
    m->nbr_idx[c] = -1;
    m->nbr_sim[c] = 0.0f;
  }
  *out = m;
  return MR_OK;
}

static double knn_x(int weighting, float rating) {
  return weighting ? (double)rating : 1.0;
}

/* "a ranks before b": higher similarity, ties by lower index. A total order, so the kept set
 * and its order do not depend on the order candidates arrive in. */
static int knn_before(const knn_cand *a, const knn_cand *b) {
  return a->sim > b->sim || (a->sim == b->sim && a->j < b->j);
}

static int knn_cand_cmp(const void *a, const void *b) {
  return knn_before(a, b) ? -1 : knn_before(b, a) ? 1 : 0;
}

/* Restores the heap property below position p of a heap whose root is the worst kept candidate
 * (the one every other ranks before). */
static void knn_sift_down(knn_cand *h, int n, int p) {
  for (;;) {
    int c = 2 * p + 1, worst = p;
    if (c < n && knn_before(&h[worst], &h[c]))
      worst = c;
    if (c + 1 < n && knn_before(&h[worst], &h[c + 1]))
      worst = c + 1;
    if (worst == p)
      return;
    knn_cand t = h[p];
    h[p] = h[worst];
    h[worst] = t;
    p = worst;
  }
}

static void knn_sift_up(knn_cand *h, int p) {
  while (p > 0) {
    int parent = (p - 1) / 2;
    if (!knn_before(&h[parent], &h[p]))
      return;
    knn_cand t = h[p];
    h[p] = h[parent];
    h[parent] = t;
    p = parent;
  }
}

/* Per-thread scratch for one item row, allocated once per thread, not per item. */
typedef struct knn_work {
  double *acc;
  uint8_t *seen;
  int32_t *touched;
  knn_cand *cand;
} knn_work;

static void knn_row(const itemknn_model *m, const csr *ui, const csr *iu, const double *norm,
                    int32_t i, knn_work *w) {
  const int weighting = m->opts.weighting;
  int32_t n_touched = 0;
  /* dot(x_i, x_j) for every j co-rated with i, gathered through i's users in fixed order */
  for (int64_t a = iu->indptr[i]; a < iu->indptr[i + 1]; a++) {
    int32_t u = iu->indices[a];
    double xi = knn_x(weighting, iu->values[a]);
    for (int64_t c = ui->indptr[u]; c < ui->indptr[u + 1]; c++) {
      int32_t j = ui->indices[c];
      if (!w->seen[j]) {
        w->seen[j] = 1;
        w->touched[n_touched++] = j;
      }
      w->acc[j] += xi * knn_x(weighting, ui->values[c]);
    }
  }
  /* top-K through a bounded heap of the K best so far: O(n log K) instead of sorting every
   * co-rated item, which dominated the fit for K << n */
  int keep = 0;
  for (int32_t t = 0; t < n_touched; t++) {
    int32_t j = w->touched[t];
    double den = norm[i] * norm[j] + m->opts.shrink;
    if (j != i && den > 0.0 && w->acc[j] != 0.0) {
      knn_cand c = {w->acc[j] / den, j};
      if (keep < m->width) {
        w->cand[keep] = c;
        knn_sift_up(w->cand, keep++);
      } else if (knn_before(&c, &w->cand[0])) {
        w->cand[0] = c;
        knn_sift_down(w->cand, keep, 0);
      }
    }
    w->acc[j] = 0.0;
    w->seen[j] = 0;
  }
  qsort(w->cand, (size_t)keep, sizeof(knn_cand), knn_cand_cmp);
  size_t base = (size_t)i * (size_t)m->width;
  for (int c = 0; c < keep; c++) {
    m->nbr_idx[base + c] = w->cand[c].j;
    m->nbr_sim[base + c] = (float)w->cand[c].sim;
  }
  m->nbr_count[i] = keep;
}

int itemknn_fit(const itemknn_opts *o, const csr *ui, itemknn_model **out) {
  itemknn_model *m = NULL;
  csr *iu = NULL;
  double *norm = NULL;
  int rc;
  if (!o || !ui || !out || o->k < 1 || !(o->shrink >= 0.0) || !isfinite(o->shrink) ||
      (o->weighting != 0 && o->weighting != 1) || ui->n_cols <= 0 || ui->n_rows < 0 || ui->nnz < 0)
    return MR_EINVAL;
  for (int64_t k = 0; k < ui->nnz; k++)
    if (!isfinite(ui->values[k]))
      return MR_ENUMERIC;
  const int32_t n = ui->n_cols;
  int width = o->k;
  if (width > n - 1)
    width = n - 1 > 0 ? n - 1 : 1;
  if ((rc = knn_alloc(ui->n_rows, n, width, ui->nnz, &m)) != MR_OK)
    return rc;
  m->opts = *o;
  memcpy(m->indptr, ui->indptr, ((size_t)ui->n_rows + 1) * sizeof(int64_t));
  memcpy(m->indices, ui->indices, (size_t)ui->nnz * sizeof(int32_t));
  memcpy(m->ratings, ui->values, (size_t)ui->nnz * sizeof(float));
  if ((rc = csr_transpose(ui, &iu)) != MR_OK)
    goto fail;
  norm = malloc((size_t)n * sizeof(double));
  if (!norm) {
    rc = MR_ENOMEM;
    goto fail;
  }
  for (int32_t i = 0; i < n; i++) {
    double s = 0.0;
    for (int64_t a = iu->indptr[i]; a < iu->indptr[i + 1]; a++) {
      double x = knn_x(o->weighting, iu->values[a]);
      s += x * x;
    }
    norm[i] = sqrt(s);
  }
  int failed = 0;
#pragma omp parallel
  {
    knn_work w;
    w.acc = calloc((size_t)n, sizeof(double));
    w.seen = calloc((size_t)n, 1);
    w.touched = malloc((size_t)n * sizeof(int32_t));
    w.cand = malloc((size_t)m->width * sizeof(knn_cand));
    int ok = w.acc && w.seen && w.touched && w.cand;
    if (!ok) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for schedule(dynamic, 16)
    for (int32_t i = 0; i < n; i++)
      if (ok)
        knn_row(m, ui, iu, norm, i, &w);
    free(w.acc);
    free(w.seen);
    free(w.touched);
    free(w.cand);
  }
  if (failed) {
    rc = MR_ENOMEM;
    goto fail;
  }
  free(norm);
  csr_free(iu);
  *out = m;
  return MR_OK;
fail:
  free(norm);
  csr_free(iu);
  itemknn_free(m);
  return rc;
}

int itemknn_neighbors(const itemknn_model *m, int32_t i, const int32_t **idx, const float **sim,
                      int *count) {
  if (!m || !idx || !sim || !count)
    return MR_EINVAL;
  if (i < 0 || i >= m->n_items)
    return MR_ERANGE;
  size_t base = (size_t)i * (size_t)m->width;
  *idx = m->nbr_idx + base;
  *sim = m->nbr_sim + base;
  *count = m->nbr_count[i];
  return MR_OK;
}

float itemknn_similarity(const itemknn_model *m, int32_t i, int32_t j) {
  if (!m || i < 0 || i >= m->n_items || j < 0 || j >= m->n_items)
    return 0.0f;
  size_t base = (size_t)i * (size_t)m->width;
  for (int32_t c = 0; c < m->nbr_count[i]; c++)
    if (m->nbr_idx[base + c] == j)
      return m->nbr_sim[base + c];
  return 0.0f;
}

/* Adds each history item's neighbour list, weighted by its rating (or 1). */
static void knn_accumulate(const itemknn_model *m, const int32_t *items, const float *ratings,
                           int64_t n, float *scores) {
  memset(scores, 0, (size_t)m->n_items * sizeof(float));
  for (int64_t k = 0; k < n; k++) {
    float w = m->opts.weighting ? ratings[k] : 1.0f;
    size_t base = (size_t)items[k] * (size_t)m->width;
    for (int32_t c = 0; c < m->nbr_count[items[k]]; c++)
      scores[m->nbr_idx[base + c]] += w * m->nbr_sim[base + c];
  }
}

int itemknn_score_user(const itemknn_model *m, int32_t user, float *scores) {
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
  knn_accumulate(m, m->indices + b, m->ratings + b, e - b, scores);
  return MR_OK;
}

static int knn_score_row(const void *m, int32_t user, float *scores) {
  return itemknn_score_user(m, user, scores);
}

int itemknn_score_items(const itemknn_model *m, int32_t user, const int32_t *hist,
                        const float *ratings, int n_h, const int32_t *items, int n, float *out,
                        float *scratch) {
  if (!m || !out || !scratch || n < 0 || (n > 0 && !items))
    return MR_EINVAL;
  if (user >= 0 && user < m->n_users && m->user_rows) {
    const float *row = m->user_rows + (size_t)user * (size_t)m->n_items;
    for (int c = 0; c < n; c++)
      out[c] = row[items[c]];
    return MR_OK;
  }
  /* neighbour lists scatter over every item: score them all, then pick */
  int rc = user >= 0 ? itemknn_score_user(m, user, scratch)
                     : itemknn_score_history(m, hist, ratings, n_h, scratch);
  if (rc)
    return rc;
  for (int c = 0; c < n; c++)
    out[c] = scratch[items[c]];
  return MR_OK;
}

int itemknn_score_history(const itemknn_model *m, const int32_t *items, const float *ratings, int n,
                          float *scores) {
  if (!m || !scores || n < 0 || (n > 0 && !items) || (n > 0 && m->opts.weighting && !ratings))
    return MR_EINVAL;
  for (int k = 0; k < n; k++) {
    if (items[k] < 0 || items[k] >= m->n_items)
      return MR_ERANGE;
    if (m->opts.weighting && !isfinite(ratings[k]))
      return MR_EINVAL;
  }
  knn_accumulate(m, items, ratings, n, scores);
  return MR_OK;
}

int itemknn_save(const itemknn_model *m, const char *path) {
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
  double opts[3] = {(double)m->opts.k, m->opts.shrink, (double)m->opts.weighting};
  mf_section sec[7] = {
      {"nbr_index", MF_I32, (uint64_t)m->n_items, (uint64_t)m->width, m->nbr_idx},
      {"nbr_sim", MF_F32, (uint64_t)m->n_items, (uint64_t)m->width, m->nbr_sim},
      {"nbr_count", MF_I32, 1, (uint64_t)m->n_items, m->nbr_count},
      {"user_indptr", MF_I32, 1, (uint64_t)m->n_users + 1, indptr32},
      {"user_items", MF_I32, 1, (uint64_t)nnz, m->indices},
      {"user_ratings", MF_F32, 1, (uint64_t)nnz, m->ratings},
      {"opts", MF_F64, 1, 3, opts},
  };
  int rc = mf_write(path, "itemknn", sec, 7);
  free(indptr32);
  return rc;
}

int itemknn_load(const char *path, itemknn_model **out, char *err, size_t errlen) {
  mf_file *f = NULL;
  itemknn_model *m = NULL;
  const void *nidx, *nsim, *ncnt, *indptr, *items, *ratings, *opts;
  uint64_t xr, xc, sr, sc, cr, cc, pr, pc, ir, ic, rr, rcols, orr, oc;
  int rc = mf_open(path, &f, err, errlen);
  if (rc)
    return rc;
  if (strcmp(mf_kind(f), "itemknn") != 0) {
    rec_set_err(err, errlen, "%s: model kind '%s', expected 'itemknn'", path, mf_kind(f));
    rc = MR_EFORMAT;
    goto fail;
  }
  if ((rc = mf_get(f, "nbr_index", MF_I32, &nidx, &xr, &xc)) ||
      (rc = mf_get(f, "nbr_sim", MF_F32, &nsim, &sr, &sc)) ||
      (rc = mf_get(f, "nbr_count", MF_I32, &ncnt, &cr, &cc)) ||
      (rc = mf_get(f, "user_indptr", MF_I32, &indptr, &pr, &pc)) ||
      (rc = mf_get(f, "user_items", MF_I32, &items, &ir, &ic)) ||
      (rc = mf_get(f, "user_ratings", MF_F32, &ratings, &rr, &rcols)) ||
      (rc = mf_get(f, "opts", MF_F64, &opts, &orr, &oc))) {
    rec_set_err(err, errlen, "%s: missing or mistyped section (%s)", path, mr_strerror(rc));
    goto fail;
  }
  rc = MR_EFORMAT;
  if (xr == 0 || xr > INT32_MAX || xc == 0 || xc > INT32_MAX || sr != xr || sc != xc || cr != 1 ||
      cc != xr || pr != 1 || pc == 0 || pc - 1 > INT32_MAX || ir != 1 || rr != 1 || ic != rcols ||
      orr != 1 || oc != 3) {
    rec_set_err(err, errlen, "%s: inconsistent section shapes", path);
    goto fail;
  }
  const int32_t *p32 = indptr, *it = items, *cnt = ncnt, *nx = nidx;
  const double *od = opts;
  int32_t n_items = (int32_t)xr, n_users = (int32_t)(pc - 1);
  int width = (int)xc;
  /* a CRC proves the file is intact, not that it is sane: check every index before use */
  int ok = p32[0] == 0 && (uint64_t)p32[n_users] == ic && od[0] >= 1.0 && od[0] <= INT32_MAX &&
           od[1] >= 0.0 && isfinite(od[1]) && (od[2] == 0.0 || od[2] == 1.0);
  for (int32_t u = 0; ok && u < n_users; u++)
    ok = p32[u] <= p32[u + 1];
  for (uint64_t k = 0; ok && k < ic; k++)
    ok = it[k] >= 0 && it[k] < n_items;
  for (int32_t i = 0; ok && i < n_items; i++) {
    ok = cnt[i] >= 0 && cnt[i] <= width;
    for (int32_t c = 0; ok && c < cnt[i]; c++) {
      int32_t j = nx[(size_t)i * (size_t)width + c];
      ok = j >= 0 && j < n_items;
    }
  }
  if (!ok) {
    rec_set_err(err, errlen, "%s: invalid neighbour lists, user rows or options", path);
    goto fail;
  }
  if ((rc = knn_alloc(n_users, n_items, width, (int64_t)ic, &m)) != MR_OK)
    goto fail;
  m->opts.k = (int)od[0];
  m->opts.shrink = od[1];
  m->opts.weighting = (int)od[2];
  memcpy(m->nbr_idx, nidx, (size_t)n_items * (size_t)width * sizeof(int32_t));
  memcpy(m->nbr_sim, nsim, (size_t)n_items * (size_t)width * sizeof(float));
  memcpy(m->nbr_count, ncnt, (size_t)n_items * sizeof(int32_t));
  for (int32_t u = 0; u <= n_users; u++)
    m->indptr[u] = p32[u];
  memcpy(m->indices, items, ic * sizeof(int32_t));
  memcpy(m->ratings, ratings, ic * sizeof(float));
  mf_close(f);
  f = NULL;
  if ((rc = urows_build(m, knn_score_row, m->n_users, m->n_items, &m->user_rows)))
    goto fail;
  *out = m;
  return MR_OK;
fail:
  itemknn_free(m);
  mf_close(f);
  return rc;
}

/* ---- registry adapter: kind "itemknn", parameters k, shrink, weighting ---- */

static int itemknn_reg_fit(const rec_params *p, const rec_train_data *d, void **state) {
  itemknn_opts o;
  itemknn_model *m = NULL;
  itemknn_opts_default(&o);
  o.k = (int)rec_params_get(p, "k", o.k);
  o.shrink = rec_params_get(p, "shrink", o.shrink);
  o.weighting = (int)rec_params_get(p, "weighting", o.weighting);
  int rc = itemknn_fit(&o, d->ui, &m);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}

static int itemknn_reg_score_user(const void *state, int32_t user, float *scores) {
  return itemknn_score_user(state, user, scores);
}

static int itemknn_reg_score_history(const void *state, const int32_t *items, const float *ratings,
                                     int n, float *scores) {
  return itemknn_score_history(state, items, ratings, n, scores);
}

static int itemknn_reg_save(const void *state, const char *path) {
  return itemknn_save(state, path);
}

static int itemknn_reg_load(const char *path, void **state, char *err, size_t errlen) {
  itemknn_model *m = NULL;
  int rc = itemknn_load(path, &m, err, errlen);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}

static int32_t itemknn_reg_n_items(const void *state) {
  return itemknn_n_items(state);
}
static void itemknn_reg_free(void *state) {
  itemknn_free(state);
}

/* designated initializers: optional fields added to rec_ops later stay NULL */
static int knn_reg_score_items(const void *state, int32_t user, const int32_t *hist,
                               const float *ratings, int n_h, int64_t ref_ts, const int32_t *items,
                               int n, float *out, float *scratch) {
  (void)ref_ts; /* no popularity-derived signal */
  return itemknn_score_items(state, user, hist, ratings, n_h, items, n, out, scratch);
}

const rec_ops rec_itemknn_ops = {
    .kind = "itemknn",
    .fit = itemknn_reg_fit,
    .score_user = itemknn_reg_score_user,
    .score_history = itemknn_reg_score_history,
    .save = itemknn_reg_save,
    .load = itemknn_reg_load,
    .n_items = itemknn_reg_n_items,
    .free = itemknn_reg_free,
    .score_items = knn_reg_score_items,
};
