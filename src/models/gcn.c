/* LightGCN: normalized bipartite propagation, layer combination, BPR + Adam with hand-derived
 * gradients; deterministic for a seed whatever the thread count. */
#include "models/gcn.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "models/embed.h"
#include "models/modelfile.h"

struct gcn_graph {
  int32_t n_users, n_items, n_nodes;
  int64_t *indptr;  /* n_nodes + 1 */
  int32_t *indices; /* neighbour node ids */
  float *weights;   /* 1 / sqrt(deg_r deg_c) */
};

struct gcn_model {
  int32_t n_users, n_items;
  int dim, layers;
  float min_rating, gems_beta;
  float *user_emb;     /* n_users x dim, final (layer-combined) */
  float *item_emb;     /* n_items x dim */
  float *popz;         /* n_items */
  float *inv_sqrt_deg; /* n_items: 1/sqrt(graph degree), 1 for isolated items */
};

void gcn_opts_default(gcn_opts *o) {
  memset(o, 0, sizeof(*o));
  o->dim = 64;
  o->layers = 3;
  o->epochs = 30;
  o->batch_size = 8192;
  o->lr = 0.05f;
  o->reg = 1e-4f;
  o->min_rating = 0.0f;
  o->init_std = 0.1f;
  o->gems_beta = 0.3f;
  o->seed = 42;
}

/* ---- graph ---- */

void gcn_graph_free(gcn_graph *g) {
  if (!g)
    return;
  free(g->indptr);
  free(g->indices);
  free(g->weights);
  free(g);
}

int32_t gcn_graph_n_nodes(const gcn_graph *g) {
  return g->n_nodes;
}

int gcn_graph_create(const csr *ui, float min_rating, gcn_graph **out) {
  if (!ui || !out || ui->n_rows < 0 || ui->n_cols < 0 ||
      (int64_t)ui->n_rows + ui->n_cols > INT32_MAX)
    return MR_EINVAL;
  int32_t nu = ui->n_rows, ni = ui->n_cols, n = nu + ni;
  int rc = MR_ENOMEM;
  int64_t *fill = NULL;
  gcn_graph *g = calloc(1, sizeof(*g));
  if (!g)
    return MR_ENOMEM;
  g->n_users = nu;
  g->n_items = ni;
  g->n_nodes = n;
  g->indptr = calloc((size_t)n + 1, sizeof(int64_t));
  fill = malloc(((size_t)n + 1) * sizeof(int64_t));
  if (!g->indptr || !fill)
    goto fail;
  /* degrees: a user row counts its kept ratings, an item row its kept raters */
  for (int32_t u = 0; u < nu; u++)
    for (int64_t k = ui->indptr[u]; k < ui->indptr[u + 1]; k++) {
      int32_t i = ui->indices[k];
      if (i < 0 || i >= ni) {
        rc = MR_EINVAL;
        goto fail;
      }
      if (ui->values[k] >= min_rating) {
        g->indptr[u + 1]++;
        g->indptr[nu + i + 1]++;
      }
    }
  for (int32_t r = 0; r < n; r++)
    g->indptr[r + 1] += g->indptr[r];
  int64_t nnz = g->indptr[n];
  g->indices = malloc((size_t)(nnz ? nnz : 1) * sizeof(int32_t));
  g->weights = malloc((size_t)(nnz ? nnz : 1) * sizeof(float));
  if (!g->indices || !g->weights)
    goto fail;
  memcpy(fill, g->indptr, ((size_t)n + 1) * sizeof(int64_t));
  /* users in ascending order fill item rows, so every row ends up sorted by node id */
  for (int32_t u = 0; u < nu; u++)
    for (int64_t k = ui->indptr[u]; k < ui->indptr[u + 1]; k++) {
      if (!(ui->values[k] >= min_rating))
        continue;
      int32_t it = nu + ui->indices[k];
      g->indices[fill[u]++] = it;
      g->indices[fill[it]++] = u;
    }
  for (int32_t r = 0; r < n; r++) {
    double dr = (double)(g->indptr[r + 1] - g->indptr[r]);
    for (int64_t k = g->indptr[r]; k < g->indptr[r + 1]; k++) {
      int32_t c = g->indices[k];
      double dc = (double)(g->indptr[c + 1] - g->indptr[c]);
      g->weights[k] = (float)(1.0 / sqrt(dr * dc));
    }
  }
  free(fill);
  *out = g;
  return MR_OK;
fail:
  free(fill);
  gcn_graph_free(g);
  return rc;
}

/* Columns [c0, c1) of out = A_hat in; when acc is non-NULL also acc = (acc + out) * scale on
 * those columns. Each row is a gather over its neighbours in a fixed order, so every element is
 * computed the same way whatever the number of threads. */
static void gcn_prop_cols(const gcn_graph *g, int dim, const float *in, float *out, float *acc,
                          float scale, int c0, int c1) {
  for (int32_t r = 0; r < g->n_nodes; r++) {
    float *o = out + (size_t)r * dim;
    for (int c = c0; c < c1; c++)
      o[c] = 0.0f;
    for (int64_t k = g->indptr[r]; k < g->indptr[r + 1]; k++) {
      const float *x = in + (size_t)g->indices[k] * dim;
      float w = g->weights[k];
#pragma omp simd
      for (int c = c0; c < c1; c++)
        o[c] += w * x[c];
    }
    if (acc) {
      float *a = acc + (size_t)r * dim;
#pragma omp simd
      for (int c = c0; c < c1; c++)
        a[c] = (a[c] + o[c]) * scale;
    }
  }
}

/* Columns [c0, c1) of out = 1/(L+1) sum_{l=0..L} A_hat^l in. Since A_hat is symmetric this one
 * operator is both the forward pass (e0 -> final) and the backward pass (dL/dfinal -> dL/de0).
 * ta, tb: workspaces of the same shape. */
static void gcn_combine_cols(const gcn_graph *g, int dim, int layers, const float *in, float *out,
                             float *ta, float *tb, int c0, int c1) {
  for (int32_t r = 0; r < g->n_nodes; r++)
    memcpy(out + (size_t)r * dim + c0, in + (size_t)r * dim + c0,
           (size_t)(c1 - c0) * sizeof(float));
  const float *cur = in;
  for (int l = 0; l < layers; l++) {
    float *next = (l & 1) ? tb : ta;
    gcn_prop_cols(g, dim, cur, next, out, l == layers - 1 ? 1.0f / (float)(layers + 1) : 1.0f, c0,
                  c1);
    cur = next;
  }
}

/* The calling thread's block of embedding columns. Propagation is independent per column, so
 * splitting the columns (not the rows) lets each thread run all layers, forward and backward,
 * and its Adam update without waiting for the others: two barriers per batch instead of one per
 * layer, which matters most when the cores are shared. Blocks are multiples of 16 floats (one
 * cache line) so threads do not write the same line. */
static void gcn_my_cols(int dim, int *c0, int *c1) {
  int nt = omp_get_num_threads(), id = omp_get_thread_num();
  int nb = (dim + 15) / 16;
  int b0 = (int)((int64_t)nb * id / nt), b1 = (int)((int64_t)nb * (id + 1) / nt);
  *c0 = b0 * 16 < dim ? b0 * 16 : dim;
  *c1 = b1 * 16 < dim ? b1 * 16 : dim;
}

void gcn_graph_propagate(const gcn_graph *g, int dim, const float *in, float *out) {
#pragma omp parallel
  {
    int c0, c1;
    gcn_my_cols(dim, &c0, &c1);
    gcn_prop_cols(g, dim, in, out, NULL, 1.0f, c0, c1);
  }
}

/* ---- one batch: loss and gradient ---- */

/* A batch of BPR triples (user, positive item, negative item; item ids, not node ids). */
typedef struct gcn_batch {
  int n;
  const int32_t *us, *ps, *ns;
} gcn_batch;

/* Per-fit buffers, so the training loop never allocates. */
typedef struct gcn_work {
  int dim, layers, cap;
  float *fin, *gfin, *ta, *tb; /* n_nodes x dim */
  double *tloss;               /* cap */
  float *coef;                 /* cap: d loss / d (s_ui - s_uj) */
} gcn_work;

static float *gcn_falloc(size_t n) {
  size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  return aligned_alloc(64, bytes ? bytes : 64);
}

static void gcn_work_free(gcn_work *w) {
  free(w->fin);
  free(w->gfin);
  free(w->ta);
  free(w->tb);
  free(w->tloss);
  free(w->coef);
  memset(w, 0, sizeof(*w));
}

static int gcn_work_init(gcn_work *w, const gcn_graph *g, int dim, int layers, int cap) {
  size_t len = (size_t)g->n_nodes * dim;
  memset(w, 0, sizeof(*w));
  w->dim = dim;
  w->layers = layers;
  w->cap = cap;
  w->fin = gcn_falloc(len);
  w->gfin = gcn_falloc(len);
  w->ta = gcn_falloc(len);
  w->tb = gcn_falloc(len);
  w->tloss = malloc((size_t)cap * sizeof(double));
  w->coef = malloc((size_t)cap * sizeof(float));
  if (!w->fin || !w->gfin || !w->ta || !w->tb || !w->tloss || !w->coef) {
    gcn_work_free(w);
    return MR_ENOMEM;
  }
  return MR_OK;
}

static double gcn_sqnorm(const float *x, int dim) {
  double s = 0.0;
  for (int c = 0; c < dim; c++)
    s += (double)x[c] * x[c];
  return s;
}

static double gcn_dot(const float *a, const float *b, int dim) {
  double s = 0.0;
  for (int c = 0; c < dim; c++)
    s += (double)a[c] * b[c];
  return s;
}

/* Inside a parallel region, after w->fin holds the final embeddings: per-triple loss and
 * d loss / d x. Ends with the implicit barrier of its worksharing loop. */
static void gcn_phase_scores(const gcn_graph *g, gcn_work *w, const gcn_batch *b, float reg,
                             const float *e0) {
  int dim = w->dim, n = b->n;
  int32_t nu = g->n_users;
#pragma omp for schedule(static)
  for (int t = 0; t < n; t++) {
    const float *fu = w->fin + (size_t)b->us[t] * dim;
    const float *fi = w->fin + (size_t)(nu + b->ps[t]) * dim;
    const float *fj = w->fin + (size_t)(nu + b->ns[t]) * dim;
    double x = gcn_dot(fu, fi, dim) - gcn_dot(fu, fj, dim);
    /* softplus(-x) = -log sigmoid(x), written to stay finite for large |x| */
    double sp = x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x));
    double l2 = gcn_sqnorm(e0 + (size_t)b->us[t] * dim, dim) +
                gcn_sqnorm(e0 + (size_t)(nu + b->ps[t]) * dim, dim) +
                gcn_sqnorm(e0 + (size_t)(nu + b->ns[t]) * dim, dim);
    w->tloss[t] = sp + 0.5 * reg * l2;
    w->coef[t] = (float)(-1.0 / (1.0 + exp(x)) / n);
  }
}

/* Columns [c0, c1) of dL/de0 into grad: scatter dL/dfinal onto the batch's nodes, apply the
 * combination operator (its own adjoint), add the L2 term (reg/n * e0 per occurrence of a node).
 * The scatter needs no atomics and is deterministic: each thread owns its columns, and every
 * element receives its contributions in triple order whatever the number of threads. */
static void gcn_phase_backward_cols(const gcn_graph *g, gcn_work *w, const gcn_batch *b, float reg,
                                    const float *e0, float *grad, int c0, int c1) {
  int dim = w->dim;
  int32_t nu = g->n_users, nn = g->n_nodes;
  for (int32_t r = 0; r < nn; r++)
    memset(w->gfin + (size_t)r * dim + c0, 0, (size_t)(c1 - c0) * sizeof(float));
  for (int t = 0; t < b->n; t++) {
    size_t u = (size_t)b->us[t] * dim, i = (size_t)(nu + b->ps[t]) * dim,
           j = (size_t)(nu + b->ns[t]) * dim;
    float cf = w->coef[t];
    const float *f = w->fin;
    float *o = w->gfin;
    for (int c = c0; c < c1; c++) {
      o[u + c] += cf * (f[i + c] - f[j + c]);
      o[i + c] += cf * f[u + c];
      o[j + c] -= cf * f[u + c];
    }
  }
  gcn_combine_cols(g, dim, w->layers, w->gfin, grad, w->ta, w->tb, c0, c1);
  float rn = reg / (float)b->n;
  for (int t = 0; t < b->n; t++) {
    size_t rows[3] = {(size_t)b->us[t] * dim, (size_t)(nu + b->ps[t]) * dim,
                      (size_t)(nu + b->ns[t]) * dim};
    for (int q = 0; q < 3; q++)
      for (int c = c0; c < c1; c++)
        grad[rows[q] + c] += rn * e0[rows[q] + c];
  }
}

/* Mean loss of a scored batch; a serial sum, so the same value for any thread count. */
static double gcn_batch_loss(const gcn_work *w, int n) {
  double loss = 0.0;
  for (int t = 0; t < n; t++)
    loss += w->tloss[t];
  return loss / n;
}

int gcn_loss_and_grad(const gcn_graph *g, int dim, int layers, float reg, const float *e0,
                      const int32_t *users, const int32_t *pos, const int32_t *neg, int n,
                      double *loss, float *grad) {
  if (!g || dim <= 0 || layers < 0 || n <= 0 || !e0 || !users || !pos || !neg || !loss || !grad)
    return MR_EINVAL;
  for (int t = 0; t < n; t++)
    if (users[t] < 0 || users[t] >= g->n_users || pos[t] < 0 || pos[t] >= g->n_items ||
        neg[t] < 0 || neg[t] >= g->n_items)
      return MR_EINVAL;
  gcn_work w;
  int rc = gcn_work_init(&w, g, dim, layers, n);
  if (rc)
    return rc;
  gcn_batch bt = {n, users, pos, neg}, *b = &bt;
#pragma omp parallel
  {
    int c0, c1;
    gcn_my_cols(dim, &c0, &c1);
    gcn_combine_cols(g, dim, layers, e0, w.fin, w.ta, w.tb, c0, c1);
#pragma omp barrier
    gcn_phase_scores(g, &w, b, reg, e0);
    gcn_phase_backward_cols(g, &w, b, reg, e0, grad, c0, c1);
  }
  *loss = gcn_batch_loss(&w, n);
  gcn_work_free(&w);
  return MR_OK;
}

/* ---- model ---- */

void gcn_free(gcn_model *m) {
  if (!m)
    return;
  free(m->user_emb);
  free(m->item_emb);
  free(m->popz);
  free(m->inv_sqrt_deg);
  free(m);
}

static int gcn_alloc(int32_t nu, int32_t ni, int dim, gcn_model **out) {
  gcn_model *m = calloc(1, sizeof(*m));
  if (!m)
    return MR_ENOMEM;
  m->n_users = nu;
  m->n_items = ni;
  m->dim = dim;
  m->user_emb = malloc(((size_t)nu * dim + 1) * sizeof(float));
  m->item_emb = malloc(((size_t)ni * dim + 1) * sizeof(float));
  m->popz = malloc(((size_t)ni + 1) * sizeof(float));
  m->inv_sqrt_deg = malloc(((size_t)ni + 1) * sizeof(float));
  if (!m->user_emb || !m->item_emb || !m->popz || !m->inv_sqrt_deg) {
    gcn_free(m);
    return MR_ENOMEM;
  }
  *out = m;
  return MR_OK;
}

int32_t gcn_n_users(const gcn_model *m) {
  return m->n_users;
}
int32_t gcn_n_items(const gcn_model *m) {
  return m->n_items;
}
int gcn_dim(const gcn_model *m) {
  return m->dim;
}
float gcn_gems_beta(const gcn_model *m) {
  return m->gems_beta;
}
void gcn_set_gems_beta(gcn_model *m, float beta) {
  m->gems_beta = beta;
}
const float *gcn_user_emb(const gcn_model *m) {
  return m->user_emb;
}
const float *gcn_item_emb(const gcn_model *m) {
  return m->item_emb;
}
const float *gcn_item_popz(const gcn_model *m) {
  return m->popz;
}
const float *gcn_item_inv_sqrt_deg(const gcn_model *m) {
  return m->inv_sqrt_deg;
}

void gcn_popz_from_counts(int32_t ni, const float *counts, float *popz) {
  double mean = 0.0, var = 0.0;
  for (int32_t i = 0; i < ni; i++) {
    popz[i] = (float)log1p(counts[i]);
    mean += popz[i];
  }
  mean /= ni > 0 ? ni : 1;
  for (int32_t i = 0; i < ni; i++)
    var += (popz[i] - mean) * (popz[i] - mean);
  double sd = ni > 0 ? sqrt(var / ni) : 0.0;
  for (int32_t i = 0; i < ni; i++)
    popz[i] = sd > 0 ? (float)((popz[i] - mean) / sd) : 0.0f;
}

/* Standardized log(1 + count) over all train ratings (not only edges): popularity as users
 * see it. */
static void gcn_fill_popz(gcn_model *m, const csr *ui) {
  int32_t ni = m->n_items;
  for (int32_t i = 0; i < ni; i++)
    m->popz[i] = 0.0f;
  for (int64_t k = 0; k < ui->nnz; k++)
    m->popz[ui->indices[k]] += 1.0f;
  gcn_popz_from_counts(ni, m->popz, m->popz);
}

/* Whether user u rated item i (binary search in its sorted csr row). */
static int gcn_rated(const csr *ui, int32_t u, int32_t i) {
  int64_t lo = ui->indptr[u], hi = ui->indptr[u + 1];
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (ui->indices[mid] < i)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < ui->indptr[u + 1] && ui->indices[lo] == i;
}

/* Shuffles the positive edges and draws one uniform negative per edge for a whole epoch into
 * (us, ps, ns). Serial (master thread): one RNG stream, so the batches do not depend on the
 * thread count; once per epoch, so the other threads wait for it once per epoch, not per batch. */
static void gcn_sample_epoch(const csr *ui, int32_t n_items, const int32_t *eu, const int32_t *ei,
                             int32_t *perm, int64_t n_edges, mr_rng *rng, int32_t *us, int32_t *ps,
                             int32_t *ns) {
  for (int64_t k = n_edges - 1; k > 0; k--) { /* Fisher-Yates */
    int64_t j = (int64_t)mr_rng_below(rng, (uint64_t)k + 1);
    int32_t t = perm[k];
    perm[k] = perm[j];
    perm[j] = t;
  }
  for (int64_t t = 0; t < n_edges; t++) {
    int32_t e = perm[t], u = eu[e], j = 0;
    us[t] = u;
    ps[t] = ei[e];
    /* a user who rated nearly everything could loop long: cap the rejections */
    for (int tries = 0; tries < 64; tries++) {
      j = (int32_t)mr_rng_below(rng, (uint64_t)n_items);
      if (!gcn_rated(ui, u, j))
        break;
    }
    ns[t] = j;
  }
}

int gcn_fit(const gcn_opts *o, const csr *ui, gcn_model **out) {
  if (!o || !ui || !out || o->dim <= 0 || o->dim > 4096 || o->layers < 0 || o->layers > 16 ||
      o->epochs < 0 || o->batch_size <= 0 || o->threads < 0 || !(o->lr > 0) || !(o->reg >= 0) ||
      !(o->init_std >= 0) || ui->n_rows <= 0 || ui->n_cols <= 0)
    return MR_EINVAL;
  int dim = o->dim, rc;
  int32_t nu = ui->n_rows, ni = ui->n_cols;
  gcn_graph *g = NULL;
  gcn_model *m = NULL;
  gcn_work w;
  int32_t *eu = NULL, *ei = NULL, *perm = NULL, *ep_buf = NULL;
  float *e0 = NULL, *grad = NULL, *am = NULL, *av = NULL;
  memset(&w, 0, sizeof(w));
  if ((rc = gcn_graph_create(ui, o->min_rating, &g)))
    return rc;
  int64_t n_edges = g->indptr[nu]; /* user rows hold each edge once */
  if (n_edges == 0 || n_edges > INT32_MAX / 3) {
    rc = n_edges ? MR_ERANGE : MR_EEMPTY;
    goto fail;
  }
  int bs = o->batch_size < n_edges ? o->batch_size : (int)n_edges;
  size_t len = (size_t)g->n_nodes * dim;
  rc = MR_ENOMEM;
  eu = malloc((size_t)n_edges * sizeof(int32_t));
  ei = malloc((size_t)n_edges * sizeof(int32_t));
  perm = malloc((size_t)n_edges * sizeof(int32_t));
  /* two epochs of (us, ps, ns): the master fills the next while others finish the last batch */
  ep_buf = malloc((size_t)n_edges * 6 * sizeof(int32_t));
  e0 = gcn_falloc(len);
  grad = gcn_falloc(len);
  am = gcn_falloc(len);
  av = gcn_falloc(len);
  if (!eu || !ei || !perm || !ep_buf || !e0 || !grad || !am || !av)
    goto fail;
  memset(am, 0, len * sizeof(float));
  memset(av, 0, len * sizeof(float));
  if ((rc = gcn_work_init(&w, g, dim, o->layers, bs)))
    goto fail;
  if ((rc = gcn_alloc(nu, ni, dim, &m)))
    goto fail;
  for (int32_t u = 0, e = 0; u < nu; u++)
    for (int64_t k = g->indptr[u]; k < g->indptr[u + 1]; k++, e++) {
      eu[e] = u;
      ei[e] = g->indices[k] - nu;
      perm[e] = e;
    }
  mr_rng rng;
  mr_rng_seed(&rng, o->seed);
  for (size_t k = 0; k < len; k++)
    e0[k] = (float)(mr_rng_normal(&rng) * o->init_std);
  const int64_t n_batches = (n_edges + bs - 1) / bs, steps = n_batches * o->epochs;
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, lr = o->lr, reg = o->reg;
  int nt = o->threads > 0 ? o->threads : omp_get_max_threads();
  int diverged = 0;
  double ep_loss = 0.0;
  /* One parallel region for the whole fit. Per batch: every thread propagates its own columns
   * (the master first draws the epoch when a new one starts); barrier; triple scores
   * (worksharing loop, barrier); each thread's columns of the backward pass and of the Adam
   * update. Column ownership makes every other hand-off thread-private (see gcn_my_cols). */
#pragma omp parallel num_threads(nt)
  {
    int c0, c1;
    gcn_my_cols(dim, &c0, &c1);
    double b1t = 1.0, b2t = 1.0;
    for (int64_t s = 0; s < steps; s++) {
      int64_t bi = s % n_batches, ep = s / n_batches;
      int32_t *eb = ep_buf + (size_t)(ep & 1) * 3 * (size_t)n_edges;
      int64_t start = bi * bs;
      gcn_batch bt = {(int)(n_edges - start < bs ? n_edges - start : bs), eb + start,
                      eb + n_edges + start, eb + 2 * n_edges + start};
      const gcn_batch *b = &bt;
#pragma omp master
      if (bi == 0)
        gcn_sample_epoch(ui, ni, eu, ei, perm, n_edges, &rng, eb, eb + n_edges, eb + 2 * n_edges);
      gcn_combine_cols(g, dim, o->layers, e0, w.fin, w.ta, w.tb, c0, c1);
#pragma omp barrier
      if (diverged) /* set by the master before the barrier: every thread leaves together */
        break;
      gcn_phase_scores(g, &w, b, reg, e0);
#pragma omp master
      {
        double l = gcn_batch_loss(&w, b->n);
        if (!isfinite(l))
          diverged = 1; /* seen by all after the next barrier; this step still completes */
        ep_loss += l;
        if (bi == n_batches - 1) {
          if (o->progress)
            o->progress((int)(s / n_batches), ep_loss / (double)n_batches, o->progress_ctx);
          ep_loss = 0.0;
        }
      }
      gcn_phase_backward_cols(g, &w, b, reg, e0, grad, c0, c1);
      b1t *= b1;
      b2t *= b2;
      float lr_t = (float)(lr * sqrt(1.0 - b2t) / (1.0 - b1t));
      for (int32_t r = 0; r < g->n_nodes; r++)
        for (size_t k = (size_t)r * dim + c0; k < (size_t)r * dim + c1; k++) {
          float gk = grad[k];
          am[k] = b1 * am[k] + (1.0f - b1) * gk;
          av[k] = b2 * av[k] + (1.0f - b2) * gk * gk;
          e0[k] -= lr_t * am[k] / (sqrtf(av[k]) + eps);
        }
    }
    gcn_combine_cols(g, dim, o->layers, e0, w.fin, w.ta, w.tb, c0, c1);
  }
  rc = MR_ENUMERIC;
  if (diverged)
    goto fail;
  for (size_t k = 0; k < len; k++)
    if (!isfinite(w.fin[k]))
      goto fail;
  memcpy(m->user_emb, w.fin, (size_t)nu * dim * sizeof(float));
  memcpy(m->item_emb, w.fin + (size_t)nu * dim, (size_t)ni * dim * sizeof(float));
  m->layers = o->layers;
  m->min_rating = o->min_rating;
  m->gems_beta = o->gems_beta;
  gcn_fill_popz(m, ui);
  for (int32_t i = 0; i < ni; i++) {
    int64_t deg = g->indptr[nu + i + 1] - g->indptr[nu + i];
    m->inv_sqrt_deg[i] = deg > 0 ? (float)(1.0 / sqrt((double)deg)) : 1.0f;
  }
  *out = m;
  m = NULL;
  rc = MR_OK;
fail:
  gcn_free(m);
  gcn_work_free(&w);
  free(av);
  free(am);
  free(grad);
  free(e0);
  free(ep_buf);
  free(perm);
  free(ei);
  free(eu);
  gcn_graph_free(g);
  return rc;
}

/* ---- scoring ---- */

int gcn_score_vector(const gcn_model *m, const float *x, float *scores) {
  if (!m || !x || !scores)
    return MR_EINVAL;
  embed_scores(m->item_emb, m->n_items, m->dim, x, scores);
  return MR_OK;
}

int gcn_score_items(const gcn_model *m, int32_t user, const int32_t *h_items,
                    const float *h_ratings, int n_h, const int32_t *items, int n, float *out) {
  if (!m || n < 0 || (n > 0 && (!items || !out)) || user >= m->n_users)
    return MR_EINVAL;
  if (embed_items_in_range(items, n, m->n_items))
    return MR_ERANGE;
  if (user >= 0) {
    embed_scores_at(m->item_emb, m->dim, m->user_emb + (size_t)user * m->dim, items, n, out);
    return MR_OK;
  }
  float *x = malloc((size_t)m->dim * sizeof(float));
  if (!x)
    return MR_ENOMEM;
  int rc = gcn_user_from_history(m, h_items, h_ratings, n_h, x);
  if (rc == MR_EEMPTY) { /* nothing to personalize from: popularity order, as the scorers */
    for (int k = 0; k < n; k++)
      out[k] = m->popz[items[k]];
    rc = MR_OK;
  } else if (!rc) {
    embed_scores_at(m->item_emb, m->dim, x, items, n, out);
  }
  free(x);
  return rc;
}

int gcn_score_user(const gcn_model *m, int32_t user, float *scores) {
  if (!m || user < 0 || user >= m->n_users)
    return MR_EINVAL;
  return gcn_score_vector(m, m->user_emb + (size_t)user * m->dim, scores);
}

int gcn_user_from_history(const gcn_model *m, const int32_t *items, const float *ratings, int n,
                          float *x) {
  if (!m || !x || n < 0 || (n > 0 && (!items || !ratings)))
    return MR_EINVAL;
  int dim = m->dim;
  double wsum = 0.0;
  for (int c = 0; c < dim; c++)
    x[c] = 0.0f;
  for (int k = 0; k < n; k++)
    if (items[k] < 0 || items[k] >= m->n_items)
      return MR_EINVAL;
  for (int k = 0; k < n; k++) {
    float r = ratings[k];
    if (!(r >= m->min_rating) || !(r > 0))
      continue;
    const float *e = m->item_emb + (size_t)items[k] * dim;
    float wk = r * m->inv_sqrt_deg[items[k]];
    for (int c = 0; c < dim; c++)
      x[c] += wk * e[c];
    wsum += wk;
  }
  if (wsum <= 0)
    return MR_EEMPTY;
  for (int c = 0; c < dim; c++)
    x[c] = (float)(x[c] / wsum);
  return MR_OK;
}

void gcn_gems_adjust_with(int32_t ni, const float *popz, float beta, float *scores) {
  double mean = 0.0, var = 0.0;
  for (int32_t i = 0; i < ni; i++)
    mean += scores[i];
  mean /= ni;
  for (int32_t i = 0; i < ni; i++)
    var += (scores[i] - mean) * (scores[i] - mean);
  double sd = sqrt(var / ni);
  double inv = sd > 0 ? 1.0 / sd : 0.0;
  for (int32_t i = 0; i < ni; i++)
    scores[i] = (float)((scores[i] - mean) * inv) - beta * popz[i];
}

void gcn_gems_adjust(const gcn_model *m, float beta, float *scores) {
  gcn_gems_adjust_with(m->n_items, m->popz, beta, scores);
}

int gcn_score_gems(const gcn_model *m, int32_t user, float beta, float *scores) {
  int rc = gcn_score_user(m, user, scores);
  if (rc)
    return rc;
  gcn_gems_adjust(m, beta, scores);
  return MR_OK;
}

/* ---- persistence ---- */

int gcn_save(const gcn_model *m, const char *path, const char *kind) {
  if (!m || !path || !kind)
    return MR_EINVAL;
  double params[4] = {(double)m->dim, (double)m->layers, (double)m->min_rating,
                      (double)m->gems_beta};
  mf_section sec[5] = {
      {"user_emb", MF_F32, (uint64_t)m->n_users, (uint64_t)m->dim, m->user_emb},
      {"item_emb", MF_F32, (uint64_t)m->n_items, (uint64_t)m->dim, m->item_emb},
      {"item_popz", MF_F32, 1, (uint64_t)m->n_items, m->popz},
      {"item_inv_sqrt_deg", MF_F32, 1, (uint64_t)m->n_items, m->inv_sqrt_deg},
      {"params", MF_F64, 1, 4, params},
  };
  return mf_write(path, kind, sec, 5);
}

int gcn_load(const char *path, gcn_model **out, char *err, size_t errlen) {
  mf_file *f = NULL;
  gcn_model *m = NULL;
  const void *ue, *ie, *pz, *pa, *dz;
  uint64_t ur, uc, ir, ic, pr, pc, ar, ac, dr, dc;
  int rc = mf_open(path, &f, err, errlen);
  if (rc)
    return rc;
  if (mf_get(f, "user_emb", MF_F32, &ue, &ur, &uc) ||
      mf_get(f, "item_emb", MF_F32, &ie, &ir, &ic) ||
      mf_get(f, "item_popz", MF_F32, &pz, &pr, &pc) ||
      mf_get(f, "item_inv_sqrt_deg", MF_F32, &dz, &dr, &dc) ||
      mf_get(f, "params", MF_F64, &pa, &ar, &ac)) {
    if (err && errlen)
      snprintf(err, errlen, "%s: missing gcn sections", path);
    rc = MR_EFORMAT;
    goto fail;
  }
  const double *params = pa;
  if (ar != 1 || ac < 4 || uc != ic || uc == 0 || uc > 4096 || (double)uc != params[0] || ur == 0 ||
      ur > INT32_MAX || ir == 0 || ir > INT32_MAX || pr != 1 || pc != ir || dr != 1 || dc != ir ||
      !mf_in_range(params[1], 0, 16)) { /* layers, as gcn_fit allows */
    if (err && errlen)
      snprintf(err, errlen, "%s: malformed gcn sections", path);
    rc = MR_EFORMAT;
    goto fail;
  }
  if ((rc = gcn_alloc((int32_t)ur, (int32_t)ir, (int)uc, &m)))
    goto fail;
  memcpy(m->user_emb, ue, ur * uc * sizeof(float));
  memcpy(m->item_emb, ie, ir * ic * sizeof(float));
  memcpy(m->popz, pz, ir * sizeof(float));
  memcpy(m->inv_sqrt_deg, dz, ir * sizeof(float));
  m->layers = (int)params[1];
  m->min_rating = (float)params[2];
  m->gems_beta = (float)params[3];
  mf_close(f);
  *out = m;
  return MR_OK;
fail:
  gcn_free(m);
  mf_close(f);
  return rc;
}
