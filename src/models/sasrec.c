/* SASRec with a full-softmax loss: forward and hand-derived backward over one sequence window,
 * Adam over shards of windows, scoring, persistence and the registry entry ("sasrec"). */
#include "models/sasrec.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "models/model.h"
#include "models/model_ops.h"
#include "models/modelfile.h"

/* Windows per gradient shard: shards are summed in index order, so the result does not depend on
 * how many threads computed them. */
#define SR_SHARD 4

/* Offsets (in floats) of one block's weights, relative to the block's start. */
enum { SR_LN1G, SR_LN1B, SR_WQ, SR_WK, SR_WV, SR_LN2G, SR_LN2B, SR_W1, SR_B1, SR_W2, SR_B2, SR_NB };

struct sasrec_model {
  int32_t n_items, n_users;
  int d, nb, L;
  float dropout;
  size_t n_w, off_p, off_blk, blk_size, off_lnf;
  size_t blk_off[SR_NB];
  float *w;
  /* the fitted users' sequences, time-ordered: items and times of user u at [ptr[u], ptr[u+1]) */
  int64_t *ptr;
  int32_t *items;
  int64_t *ts;
};

void sasrec_opts_default(sasrec_opts *o) {
  memset(o, 0, sizeof(*o));
  o->dim = 48;
  o->blocks = 2;
  o->max_len = 100;
  o->epochs = 40;
  o->batch = 64;
  o->lr = 1e-3f;
  o->dropout = 0.2f;
  o->seed = 42;
}

static int sr_opts_ok(const sasrec_opts *o) {
  return o && o->dim >= 1 && o->dim <= 1024 && o->blocks >= 0 && o->blocks <= 8 &&
         o->max_len >= 1 && o->max_len <= 4096 && o->epochs >= 0 && o->batch >= 1 && o->lr > 0 &&
         isfinite(o->lr) && o->dropout >= 0 && o->dropout < 1 && o->threads >= 0;
}

static void sr_layout(sasrec_model *m) {
  size_t d = (size_t)m->d, off = 0;
  const size_t sizes[SR_NB] = {d, d, d * d, d * d, d * d, d, d, d * d, d, d * d, d};
  for (int k = 0; k < SR_NB; k++) {
    m->blk_off[k] = off;
    off += sizes[k];
  }
  m->blk_size = off;
  m->off_p = (size_t)m->n_items * d;
  m->off_blk = m->off_p + (size_t)m->L * d;
  m->off_lnf = m->off_blk + (size_t)m->nb * m->blk_size;
  m->n_w = m->off_lnf + 2 * d;
}

void sasrec_free(sasrec_model *m) {
  if (!m)
    return;
  free(m->w);
  free(m->ptr);
  free(m->items);
  free(m->ts);
  free(m);
}

static int sr_alloc(int32_t n_items, int d, int nb, int L, sasrec_model **out) {
  sasrec_model *m = calloc(1, sizeof(*m));
  if (!m)
    return MR_ENOMEM;
  m->n_items = n_items;
  m->d = d;
  m->nb = nb;
  m->L = L;
  sr_layout(m);
  if (!(m->w = calloc(m->n_w, sizeof(float))) || !(m->ptr = calloc(1, sizeof(int64_t)))) {
    sasrec_free(m);
    return MR_ENOMEM;
  }
  *out = m;
  return MR_OK;
}

int sasrec_create(const sasrec_opts *o, int32_t n_items, sasrec_model **out) {
  sasrec_model *m = NULL;
  if (!sr_opts_ok(o) || n_items < 1 || !out)
    return MR_EINVAL;
  int rc = sr_alloc(n_items, o->dim, o->blocks, o->max_len, &m);
  if (rc)
    return rc;
  m->dropout = o->dropout;
  mr_rng rng;
  mr_rng_seed(&rng, o->seed);
  const float sd = 1.0f / sqrtf((float)o->dim);
  for (size_t i = 0; i < m->off_blk; i++) /* items and positions */
    m->w[i] = sd * (float)mr_rng_normal(&rng);
  size_t dd = (size_t)m->d * m->d;
  for (int b = 0; b < m->nb; b++) {
    float *blk = m->w + m->off_blk + (size_t)b * m->blk_size;
    const int mats[5] = {SR_WQ, SR_WK, SR_WV, SR_W1, SR_W2};
    for (int k = 0; k < 5; k++)
      for (size_t i = 0; i < dd; i++)
        blk[m->blk_off[mats[k]] + i] = sd * (float)mr_rng_normal(&rng);
    for (int j = 0; j < m->d; j++)
      blk[m->blk_off[SR_LN1G] + j] = blk[m->blk_off[SR_LN2G] + j] = 1.0f;
  }
  for (int j = 0; j < m->d; j++)
    m->w[m->off_lnf + j] = 1.0f;
  *out = m;
  return MR_OK;
}

int32_t sasrec_n_items(const sasrec_model *m) {
  return m->n_items;
}
int32_t sasrec_n_users(const sasrec_model *m) {
  return m->n_users;
}
int sasrec_dim(const sasrec_model *m) {
  return m->d;
}
float *sasrec_weights(sasrec_model *m, size_t *n) {
  *n = m->n_w;
  return m->w;
}

/* ---- one window: forward and backward ---- */

/* Activations of one window of at most L positions (one per thread). */
typedef struct sr_blk_ws {
  float *hin, *a, *xh1, *rs1, *q, *k, *v, *att, *mo, *h1, *f, *xh2, *rs2, *z, *r, *my;
} sr_blk_ws;

typedef struct sr_ws {
  sr_blk_ws *blk;
  float *hout, *m0, *xhf, *rsf, *hf, *logits;
  float *dh, *t1, *t2, *t3, *dq, *dk, *dv, *datt;
  float *mem;
} sr_ws;

static void sr_ws_free(sr_ws *w) {
  if (!w)
    return;
  free(w->blk);
  free(w->mem);
  memset(w, 0, sizeof(*w));
}

static int sr_ws_init(const sasrec_model *m, sr_ws *w) {
  size_t T = (size_t)m->L, d = (size_t)m->d, td = T * d, tt = T * T;
  size_t per_blk = 13 * td + tt + 2 * T;
  size_t total = (size_t)m->nb * per_blk + 11 * td + T + T * (size_t)m->n_items + tt;
  memset(w, 0, sizeof(*w));
  w->blk = calloc((size_t)m->nb + 1, sizeof(*w->blk));
  w->mem = calloc(total, sizeof(float));
  if (!w->blk || !w->mem) {
    sr_ws_free(w);
    return MR_ENOMEM;
  }
  float *p = w->mem;
#define SR_TAKE(ptr, n)                                                                            \
  do {                                                                                             \
    (ptr) = p;                                                                                     \
    p += (n);                                                                                      \
  } while (0)
  for (int b = 0; b < m->nb; b++) {
    sr_blk_ws *k = &w->blk[b];
    SR_TAKE(k->hin, td);
    SR_TAKE(k->a, td);
    SR_TAKE(k->xh1, td);
    SR_TAKE(k->rs1, T);
    SR_TAKE(k->q, td);
    SR_TAKE(k->k, td);
    SR_TAKE(k->v, td);
    SR_TAKE(k->att, tt);
    SR_TAKE(k->mo, td);
    SR_TAKE(k->h1, td);
    SR_TAKE(k->f, td);
    SR_TAKE(k->xh2, td);
    SR_TAKE(k->rs2, T);
    SR_TAKE(k->z, td);
    SR_TAKE(k->r, td);
    SR_TAKE(k->my, td);
  }
  SR_TAKE(w->hout, td);
  SR_TAKE(w->m0, td);
  SR_TAKE(w->xhf, td);
  SR_TAKE(w->rsf, T);
  SR_TAKE(w->hf, td);
  SR_TAKE(w->dh, td);
  SR_TAKE(w->t1, td);
  SR_TAKE(w->t2, td);
  SR_TAKE(w->t3, td);
  SR_TAKE(w->dq, td);
  SR_TAKE(w->dk, td);
  SR_TAKE(w->dv, td);
  SR_TAKE(w->datt, tt);
  SR_TAKE(w->logits, T * (size_t)m->n_items);
#undef SR_TAKE
  return MR_OK;
}

/* Row-major C = alpha op(A) op(B) + beta C with op(A) M x K, op(B) K x N. */
static void sr_mm(int ta, int tb, int M, int N, int K, float alpha, const float *A, const float *B,
                  float beta, float *C) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

static void sr_ln_fwd(const float *x, int T, int d, const float *g, const float *b, float *y,
                      float *xh, float *rs) {
  for (int t = 0; t < T; t++) {
    const float *xt = x + (size_t)t * d;
    double mu = 0, var = 0;
    for (int j = 0; j < d; j++)
      mu += xt[j];
    mu /= d;
    for (int j = 0; j < d; j++)
      var += (xt[j] - mu) * (xt[j] - mu);
    float r = (float)(1.0 / sqrt(var / d + 1e-5));
    rs[t] = r;
    for (int j = 0; j < d; j++) {
      float h = (float)(xt[j] - mu) * r;
      xh[(size_t)t * d + j] = h;
      y[(size_t)t * d + j] = g[j] * h + b[j];
    }
  }
}

/* dx = d LN / dx (overwritten); dg, db accumulate. */
static void sr_ln_bwd(const float *dy, const float *xh, const float *rs, const float *g, int T,
                      int d, float *dx, float *dg, float *db) {
  for (int t = 0; t < T; t++) {
    const float *dyt = dy + (size_t)t * d, *xt = xh + (size_t)t * d;
    double s1 = 0, s2 = 0;
    for (int j = 0; j < d; j++) {
      float dxh = dyt[j] * g[j];
      s1 += dxh;
      s2 += dxh * xt[j];
      dg[j] += dyt[j] * xt[j];
      db[j] += dyt[j];
    }
    s1 /= d;
    s2 /= d;
    for (int j = 0; j < d; j++)
      dx[(size_t)t * d + j] = rs[t] * (float)(dyt[j] * g[j] - s1 - xt[j] * s2);
  }
}

/* Inverted dropout in place; the mask (0 or 1/(1-p)) is kept for the backward pass. */
static void sr_dropout(float *x, float *mask, size_t n, float p, mr_rng *rng) {
  float keep = 1.0f / (1.0f - p);
  for (size_t i = 0; i < n; i++) {
    mask[i] = mr_rng_uniform(rng) < p ? 0.0f : keep;
    x[i] *= mask[i];
  }
}

/* hf = the final hidden states of window x[0..T); dropout p with rng when p > 0. */
static void sr_forward(const sasrec_model *m, const float *w, const int32_t *x, int T, float p,
                       mr_rng *rng, sr_ws *ws) {
  const int d = m->d;
  const size_t td = (size_t)T * d;
  const float *E = w, *P = w + m->off_p, c = 1.0f / sqrtf((float)d);
  float *h = m->nb ? ws->blk[0].hin : ws->hout;
  for (int t = 0; t < T; t++)
    for (int j = 0; j < d; j++)
      h[(size_t)t * d + j] = E[(size_t)x[t] * d + j] + P[(size_t)t * d + j];
  if (p > 0)
    sr_dropout(h, ws->m0, td, p, rng);
  for (int b = 0; b < m->nb; b++) {
    const float *bw = w + m->off_blk + (size_t)b * m->blk_size;
    const size_t *o = m->blk_off;
    sr_blk_ws *k = &ws->blk[b];
    float *next = b + 1 < m->nb ? ws->blk[b + 1].hin : ws->hout;
    sr_ln_fwd(k->hin, T, d, bw + o[SR_LN1G], bw + o[SR_LN1B], k->a, k->xh1, k->rs1);
    sr_mm(0, 0, T, d, d, 1, k->a, bw + o[SR_WQ], 0, k->q);
    sr_mm(0, 0, T, d, d, 1, k->a, bw + o[SR_WK], 0, k->k);
    sr_mm(0, 0, T, d, d, 1, k->a, bw + o[SR_WV], 0, k->v);
    sr_mm(0, 1, T, T, d, c, k->q, k->k, 0, k->att);
    for (int i = 0; i < T; i++) { /* causal softmax: position i sees 0..i */
      float *row = k->att + (size_t)i * T, mx = row[0];
      for (int j = 1; j <= i; j++)
        mx = row[j] > mx ? row[j] : mx;
      double s = 0;
      for (int j = 0; j <= i; j++)
        s += (row[j] = expf(row[j] - mx));
      for (int j = 0; j <= i; j++)
        row[j] = (float)(row[j] / s);
      for (int j = i + 1; j < T; j++)
        row[j] = 0;
    }
    sr_mm(0, 0, T, d, T, 1, k->att, k->v, 0, k->h1);
    if (p > 0)
      sr_dropout(k->h1, k->mo, td, p, rng);
    for (size_t i = 0; i < td; i++)
      k->h1[i] += k->hin[i];
    sr_ln_fwd(k->h1, T, d, bw + o[SR_LN2G], bw + o[SR_LN2B], k->f, k->xh2, k->rs2);
    sr_mm(0, 0, T, d, d, 1, k->f, bw + o[SR_W1], 0, k->z);
    for (int t = 0; t < T; t++)
      for (int j = 0; j < d; j++) {
        float z = (k->z[(size_t)t * d + j] += bw[o[SR_B1] + j]);
        k->r[(size_t)t * d + j] = z > 0 ? z : 0;
      }
    sr_mm(0, 0, T, d, d, 1, k->r, bw + o[SR_W2], 0, next);
    for (int t = 0; t < T; t++)
      for (int j = 0; j < d; j++)
        next[(size_t)t * d + j] += bw[o[SR_B2] + j];
    if (p > 0)
      sr_dropout(next, k->my, td, p, rng);
    for (size_t i = 0; i < td; i++)
      next[i] += k->h1[i];
  }
  sr_ln_fwd(ws->hout, T, d, w + m->off_lnf, w + m->off_lnf + d, ws->hf, ws->xhf, ws->rsf);
}

/* Loss (sum over the T predictions of x[1..T]) of window x[0..T]; g += scale * its gradient. */
static double sr_window(const sasrec_model *m, const float *w, const int32_t *x, int T, float p,
                        mr_rng *rng, float scale, sr_ws *ws, float *g) {
  const int d = m->d, N = m->n_items;
  const size_t td = (size_t)T * d;
  const float *E = w, c = 1.0f / sqrtf((float)d);
  sr_forward(m, w, x, T, p, rng, ws);
  float *lg = ws->logits;
  sr_mm(0, 1, T, N, d, 1, ws->hf, E, 0, lg);
  double loss = 0;
  for (int t = 0; t < T; t++) {
    float *row = lg + (size_t)t * N, mx = row[0];
    for (int i = 1; i < N; i++)
      mx = row[i] > mx ? row[i] : mx;
    double s = 0;
    for (int i = 0; i < N; i++)
      s += (row[i] = expf(row[i] - mx));
    int32_t y = x[t + 1];
    loss -= log(row[y] / s);
    float inv = (float)(scale / s);
    for (int i = 0; i < N; i++)
      row[i] *= inv;
    row[y] -= scale;
  }
  /* logits = hf E^T: E gets dlogits^T hf, hf gets dlogits E */
  sr_mm(1, 0, N, d, T, 1, lg, ws->hf, 1, g);
  sr_mm(0, 0, T, d, N, 1, lg, E, 0, ws->t1);
  float *dh = ws->dh;
  sr_ln_bwd(ws->t1, ws->xhf, ws->rsf, w + m->off_lnf, T, d, dh, g + m->off_lnf, g + m->off_lnf + d);
  for (int b = m->nb - 1; b >= 0; b--) {
    const float *bw = w + m->off_blk + (size_t)b * m->blk_size;
    float *bg = g + m->off_blk + (size_t)b * m->blk_size;
    const size_t *o = m->blk_off;
    sr_blk_ws *k = &ws->blk[b];
    /* next = h1 + drop(r W2 + b2) */
    float *dy = ws->t1;
    for (size_t i = 0; i < td; i++)
      dy[i] = p > 0 ? dh[i] * k->my[i] : dh[i];
    sr_mm(1, 0, d, d, T, 1, k->r, dy, 1, bg + o[SR_W2]);
    for (int t = 0; t < T; t++)
      for (int j = 0; j < d; j++)
        bg[o[SR_B2] + j] += dy[(size_t)t * d + j];
    float *dz = ws->t2;
    sr_mm(0, 1, T, d, d, 1, dy, bw + o[SR_W2], 0, dz);
    for (size_t i = 0; i < td; i++)
      dz[i] = k->z[i] > 0 ? dz[i] : 0;
    sr_mm(1, 0, d, d, T, 1, k->f, dz, 1, bg + o[SR_W1]);
    for (int t = 0; t < T; t++)
      for (int j = 0; j < d; j++)
        bg[o[SR_B1] + j] += dz[(size_t)t * d + j];
    float *df = ws->t1;
    sr_mm(0, 1, T, d, d, 1, dz, bw + o[SR_W1], 0, df);
    sr_ln_bwd(df, k->xh2, k->rs2, bw + o[SR_LN2G], T, d, ws->t3, bg + o[SR_LN2G], bg + o[SR_LN2B]);
    for (size_t i = 0; i < td; i++)
      dh[i] += ws->t3[i];
    /* h1 = hin + drop(att v) */
    float *dout = ws->t1;
    for (size_t i = 0; i < td; i++)
      dout[i] = p > 0 ? dh[i] * k->mo[i] : dh[i];
    sr_mm(0, 1, T, T, d, 1, dout, k->v, 0, ws->datt);
    sr_mm(1, 0, T, d, T, 1, k->att, dout, 0, ws->dv);
    for (int i = 0; i < T; i++) {
      float *da = ws->datt + (size_t)i * T;
      const float *a = k->att + (size_t)i * T;
      double s = 0;
      for (int j = 0; j <= i; j++)
        s += (double)da[j] * a[j];
      for (int j = 0; j <= i; j++)
        da[j] = a[j] * (da[j] - (float)s);
      for (int j = i + 1; j < T; j++)
        da[j] = 0;
    }
    sr_mm(0, 0, T, d, T, c, ws->datt, k->k, 0, ws->dq);
    sr_mm(1, 0, T, d, T, c, ws->datt, k->q, 0, ws->dk);
    sr_mm(1, 0, d, d, T, 1, k->a, ws->dq, 1, bg + o[SR_WQ]);
    sr_mm(1, 0, d, d, T, 1, k->a, ws->dk, 1, bg + o[SR_WK]);
    sr_mm(1, 0, d, d, T, 1, k->a, ws->dv, 1, bg + o[SR_WV]);
    float *da = ws->t2;
    sr_mm(0, 1, T, d, d, 1, ws->dq, bw + o[SR_WQ], 0, da);
    sr_mm(0, 1, T, d, d, 1, ws->dk, bw + o[SR_WK], 1, da);
    sr_mm(0, 1, T, d, d, 1, ws->dv, bw + o[SR_WV], 1, da);
    sr_ln_bwd(da, k->xh1, k->rs1, bw + o[SR_LN1G], T, d, ws->t3, bg + o[SR_LN1G], bg + o[SR_LN1B]);
    for (size_t i = 0; i < td; i++)
      dh[i] += ws->t3[i];
  }
  float *gE = g, *gP = g + m->off_p;
  for (int t = 0; t < T; t++)
    for (int j = 0; j < d; j++) {
      float v = p > 0 ? dh[(size_t)t * d + j] * ws->m0[(size_t)t * d + j] : dh[(size_t)t * d + j];
      gE[(size_t)x[t] * d + j] += v;
      gP[(size_t)t * d + j] += v;
    }
  return loss;
}

int sasrec_loss_grad(const sasrec_model *m, const int32_t *seq, int len, double *loss,
                     float *grad) {
  if (!m || !seq || !loss || !grad || len < 2 || len > m->L + 1)
    return MR_EINVAL;
  for (int t = 0; t < len; t++)
    if (seq[t] < 0 || seq[t] >= m->n_items)
      return MR_EINVAL;
  sr_ws ws;
  int rc = sr_ws_init(m, &ws);
  if (rc)
    return rc;
  memset(grad, 0, m->n_w * sizeof(float));
  int T = len - 1;
  *loss = sr_window(m, m->w, seq, T, 0, NULL, 1.0f / (float)T, &ws, grad) / T;
  sr_ws_free(&ws);
  return MR_OK;
}

/* ---- fitting ---- */

typedef struct sr_win {
  int64_t start; /* into the model's items */
  int32_t len;   /* inputs; targets are the len items after start */
} sr_win;

/* Each user's ratings in time order, ties by input order, into m->ptr/items/ts. */
static int sr_sequences(sasrec_model *m, const mr_rating *r, size_t n, int32_t n_users) {
  int64_t *ptr = calloc((size_t)n_users + 1, sizeof(int64_t));
  int32_t *items = malloc((n ? n : 1) * sizeof(int32_t));
  int64_t *ts = malloc((n ? n : 1) * sizeof(int64_t));
  int64_t *fill = malloc(((size_t)n_users + 1) * sizeof(int64_t));
  if (!ptr || !items || !ts || !fill) {
    free(ptr);
    free(items);
    free(ts);
    free(fill);
    return MR_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    ptr[r[i].user + 1]++;
  for (int32_t u = 0; u < n_users; u++)
    ptr[u + 1] += ptr[u];
  memcpy(fill, ptr, ((size_t)n_users + 1) * sizeof(int64_t));
  for (size_t i = 0; i < n; i++) { /* stable insertion by time within each user's run */
    int64_t b = ptr[r[i].user], j = fill[r[i].user]++;
    while (j > b && ts[j - 1] > r[i].ts) {
      ts[j] = ts[j - 1];
      items[j] = items[j - 1];
      j--;
    }
    ts[j] = r[i].ts;
    items[j] = r[i].item;
  }
  free(fill);
  free(m->ptr);
  m->ptr = ptr;
  m->items = items;
  m->ts = ts;
  m->n_users = n_users;
  return MR_OK;
}

/* Every user's targets 1..n-1, cut from the end into windows of at most L inputs. */
static int sr_windows(const sasrec_model *m, sr_win **out, size_t *n_out, size_t *n_pos) {
  size_t cap = 0, n = 0;
  sr_win *w = NULL;
  *n_pos = 0;
  for (int32_t u = 0; u < m->n_users; u++) {
    int64_t b = m->ptr[u], e = m->ptr[u + 1] - 1; /* inputs [start, e) predict [start+1, e] */
    while (e > b) {
      int64_t s = e - m->L > b ? e - m->L : b;
      if (n == cap) {
        cap = cap ? 2 * cap : 1024;
        sr_win *g = realloc(w, cap * sizeof(*g));
        if (!g) {
          free(w);
          return MR_ENOMEM;
        }
        w = g;
      }
      w[n].start = s;
      w[n].len = (int32_t)(e - s);
      *n_pos += (size_t)(e - s);
      n++;
      e = s;
    }
  }
  *out = w;
  *n_out = n;
  return MR_OK;
}

int sasrec_fit(const sasrec_opts *o, const mr_rating *r, size_t n, int32_t n_users, int32_t n_items,
               sasrec_model **out) {
  sasrec_model *m = NULL;
  sr_win *win = NULL;
  size_t n_win = 0, n_pos = 0, *order = NULL;
  float *grads = NULL, *g = NULL, *am = NULL, *av = NULL;
  double *shard_loss = NULL;
  sr_ws *ws = NULL;
  int nt = o && o->threads > 0 ? o->threads : omp_get_max_threads();
  if (!sr_opts_ok(o) || !out || n_users < 0 || n_items < 1 || (n && !r))
    return MR_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (r[i].user < 0 || r[i].user >= n_users || r[i].item < 0 || r[i].item >= n_items)
      return MR_EINVAL;
  int rc = sasrec_create(o, n_items, &m);
  if (rc || (rc = sr_sequences(m, r, n, n_users)) || (rc = sr_windows(m, &win, &n_win, &n_pos)))
    goto fail;
  size_t n_shards = ((size_t)o->batch + SR_SHARD - 1) / SR_SHARD, nw = m->n_w;
  order = malloc((n_win ? n_win : 1) * sizeof(size_t));
  grads = malloc(n_shards * nw * sizeof(float));
  g = malloc(nw * sizeof(float));
  am = calloc(nw, sizeof(float));
  av = calloc(nw, sizeof(float));
  shard_loss = calloc(n_shards, sizeof(double));
  ws = calloc((size_t)nt, sizeof(*ws));
  if (!order || !grads || !g || !am || !av || !shard_loss || !ws) {
    rc = MR_ENOMEM;
    goto fail;
  }
  for (int t = 0; t < nt; t++)
    if ((rc = sr_ws_init(m, &ws[t])))
      goto fail;
  for (size_t i = 0; i < n_win; i++)
    order[i] = i;
  /* windows run in parallel, each on one core: BLAS threads inside would only contend */
  int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  const float b1 = 0.9f, b2 = 0.98f, eps = 1e-9f;
  long step = 0;
  mr_rng rng;
  mr_rng_seed(&rng, o->seed ^ 0x5a5a5a5a5a5a5a5aULL);
  for (int ep = 0; ep < o->epochs && !rc; ep++) {
    for (size_t i = n_win; i > 1; i--) { /* Fisher-Yates */
      size_t j = (size_t)mr_rng_below(&rng, i), t = order[i - 1];
      order[i - 1] = order[j];
      order[j] = t;
    }
    double ep_loss = 0;
    for (size_t b0 = 0; b0 < n_win; b0 += (size_t)o->batch) {
      size_t nb = n_win - b0 < (size_t)o->batch ? n_win - b0 : (size_t)o->batch, npos = 0;
      for (size_t i = 0; i < nb; i++)
        npos += (size_t)win[order[b0 + i]].len;
      size_t ns = (nb + SR_SHARD - 1) / SR_SHARD;
      float scale = 1.0f / (float)npos;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
      for (size_t s = 0; s < ns; s++) {
        sr_ws *tw = &ws[omp_get_thread_num()];
        float *sg = grads + s * nw;
        memset(sg, 0, nw * sizeof(float));
        shard_loss[s] = 0;
        for (size_t i = s * SR_SHARD; i < nb && i < (s + 1) * SR_SHARD; i++) {
          const sr_win *wi = &win[order[b0 + i]];
          mr_rng drng; /* masks of this window and epoch, whoever computes them */
          mr_rng_seed(&drng, o->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)ep * 0x100000001ULL +
                                 order[b0 + i]);
          shard_loss[s] +=
              sr_window(m, m->w, m->items + wi->start, wi->len, o->dropout, &drng, scale, tw, sg);
        }
      }
      memcpy(g, grads, nw * sizeof(float));
      for (size_t s = 1; s < ns; s++) {
        const float *sg = grads + s * nw;
        for (size_t i = 0; i < nw; i++)
          g[i] += sg[i];
      }
      for (size_t s = 0; s < ns; s++)
        ep_loss += shard_loss[s];
      step++;
      float c1 = 1.0f / (1.0f - powf(b1, (float)step)), c2 = 1.0f / (1.0f - powf(b2, (float)step));
      for (size_t i = 0; i < nw; i++) {
        am[i] = b1 * am[i] + (1 - b1) * g[i];
        av[i] = b2 * av[i] + (1 - b2) * g[i] * g[i];
        m->w[i] -= o->lr * (am[i] * c1) / (sqrtf(av[i] * c2) + eps);
      }
    }
    if (!isfinite(ep_loss)) {
      rc = MR_ENUMERIC;
      break;
    }
    if (o->progress)
      o->progress(ep, n_pos ? ep_loss / (double)n_pos : 0, o->progress_ctx);
  }
  openblas_set_num_threads(blas_threads);
  for (size_t i = 0; !rc && i < m->n_w; i++)
    if (!isfinite(m->w[i]))
      rc = MR_ENUMERIC;
fail:
  for (int t = 0; ws && t < nt; t++)
    sr_ws_free(&ws[t]);
  free(ws);
  free(win);
  free(order);
  free(grads);
  free(g);
  free(am);
  free(av);
  free(shard_loss);
  if (rc) {
    sasrec_free(m);
    m = NULL;
  }
  *out = m;
  return rc;
}

/* ---- scoring ---- */

int sasrec_score_seq(const sasrec_model *m, const int32_t *items, int n, float *scores) {
  if (!m || !scores || n < 0 || (n > 0 && !items))
    return MR_EINVAL;
  for (int t = 0; t < n; t++)
    if (items[t] < 0 || items[t] >= m->n_items)
      return MR_EINVAL;
  if (n == 0) {
    memset(scores, 0, (size_t)m->n_items * sizeof(float));
    return MR_OK;
  }
  int T = n < m->L ? n : m->L;
  sr_ws ws;
  int rc = sr_ws_init(m, &ws);
  if (rc)
    return rc;
  sr_forward(m, m->w, items + (n - T), T, 0, NULL, &ws);
  cblas_sgemv(CblasRowMajor, CblasNoTrans, m->n_items, m->d, 1.0f, m->w, m->d,
              ws.hf + (size_t)(T - 1) * m->d, 1, 0.0f, scores, 1);
  sr_ws_free(&ws);
  return MR_OK;
}

int sasrec_score_user_at(const sasrec_model *m, int32_t user, int64_t ref_ts, float *scores) {
  if (!m || user < 0 || user >= m->n_users)
    return MR_ERANGE;
  int64_t b = m->ptr[user], e = m->ptr[user + 1];
  while (e > b && m->ts[e - 1] > ref_ts) /* the sequence is time-ordered */
    e--;
  return sasrec_score_seq(m, m->items + b, (int)(e - b), scores);
}

/* ---- persistence ---- */

int sasrec_save(const sasrec_model *m, const char *path) {
  if (!m || !path)
    return MR_EINVAL;
  size_t nr = (size_t)m->ptr[m->n_users], nu = (size_t)m->n_users;
  double params[5] = {(double)m->n_items, (double)m->d, (double)m->nb, (double)m->L,
                      (double)m->dropout};
  double *ptr = malloc((nu + 1) * sizeof(double)), *ts = malloc((nr ? nr : 1) * sizeof(double));
  int32_t zero = 0;
  int rc = MR_ENOMEM;
  if (ptr && ts) {
    for (size_t u = 0; u <= nu; u++)
      ptr[u] = (double)m->ptr[u];
    ts[0] = 0;
    for (size_t i = 0; i < nr; i++)
      ts[i] = (double)m->ts[i];
    mf_section sec[5] = {
        {"params", MF_F64, 1, 5, params},
        {"weights", MF_F32, 1, (uint64_t)m->n_w, m->w},
        {"seq_ptr", MF_F64, 1, (uint64_t)nu + 1, ptr},
        {"seq_items", MF_I32, 1, nr ? (uint64_t)nr : 1, nr ? (const void *)m->items : &zero},
        {"seq_ts", MF_F64, 1, nr ? (uint64_t)nr : 1, ts},
    };
    rc = mf_write(path, "sasrec", sec, 5);
  }
  free(ptr);
  free(ts);
  return rc;
}

int sasrec_load(const char *path, sasrec_model **out, char *err, size_t errlen) {
  mf_file *f = NULL;
  sasrec_model *m = NULL;
  const void *pa, *wv, *pv, *iv, *tv;
  uint64_t ar, ac, wr, wc, pr, pc, ir, ic, tr, tc;
  int rc = mf_open(path, &f, err, errlen);
  if (rc)
    return rc;
  if (mf_get(f, "params", MF_F64, &pa, &ar, &ac) || mf_get(f, "weights", MF_F32, &wv, &wr, &wc) ||
      mf_get(f, "seq_ptr", MF_F64, &pv, &pr, &pc) ||
      mf_get(f, "seq_items", MF_I32, &iv, &ir, &ic) || mf_get(f, "seq_ts", MF_F64, &tv, &tr, &tc)) {
    rec_set_err(err, errlen, "%s: missing sasrec sections", path);
    rc = MR_EFORMAT;
    goto fail;
  }
  const double *p = pa, *ptr = pv, *ts = tv;
  const int32_t *items = iv;
  rc = MR_EFORMAT;
  if (ar != 1 || ac != 5 || !mf_in_range(p[0], 1, INT32_MAX) || !mf_in_range(p[1], 1, 1024) ||
      !mf_in_range(p[2], 0, 8) || !mf_in_range(p[3], 1, 4096) || !mf_in_range(p[4], 0, 1) ||
      pr != 1 || pc < 1 || pc - 1 > INT32_MAX || ir != 1 || tr != 1 || tc != ic) {
    rec_set_err(err, errlen, "%s: malformed sasrec sections", path);
    goto fail;
  }
  if ((rc = sr_alloc((int32_t)p[0], (int)p[1], (int)p[2], (int)p[3], &m)))
    goto fail;
  m->dropout = (float)p[4];
  rc = MR_EFORMAT;
  int64_t nu = (int64_t)(pc - 1);
  if (wr != 1 || wc != m->n_w || ptr[0] != 0 || !mf_in_range(ptr[nu], 0, (double)ic) ||
      (ptr[nu] < (double)ic && !(ptr[nu] == 0 && ic == 1))) {
    rec_set_err(err, errlen, "%s: sasrec weights or sequences do not match the shape", path);
    goto fail;
  }
  int64_t nr = (int64_t)ptr[nu];
  free(m->ptr);
  m->ptr = malloc(((size_t)nu + 1) * sizeof(int64_t));
  m->items = malloc((size_t)(nr ? nr : 1) * sizeof(int32_t));
  m->ts = malloc((size_t)(nr ? nr : 1) * sizeof(int64_t));
  if (!m->ptr || !m->items || !m->ts) {
    rc = MR_ENOMEM;
    goto fail;
  }
  for (int64_t u = 0; u <= nu; u++) {
    if (!mf_in_range(ptr[u], u ? (double)m->ptr[u - 1] : 0, (double)nr)) {
      rec_set_err(err, errlen, "%s: sasrec sequence offsets out of order", path);
      goto fail;
    }
    m->ptr[u] = (int64_t)ptr[u];
  }
  for (int64_t i = 0; i < nr; i++) {
    if (items[i] < 0 || items[i] >= m->n_items || !mf_in_range(ts[i], -9e15, 9e15)) {
      rec_set_err(err, errlen, "%s: sasrec sequence item or time out of range", path);
      goto fail;
    }
    m->items[i] = items[i];
    m->ts[i] = (int64_t)ts[i];
  }
  memcpy(m->w, wv, m->n_w * sizeof(float));
  for (size_t i = 0; i < m->n_w; i++)
    if (!isfinite(m->w[i])) {
      rec_set_err(err, errlen, "%s: non-finite sasrec weight", path);
      goto fail;
    }
  m->n_users = (int32_t)nu;
  mf_close(f);
  *out = m;
  return MR_OK;
fail:
  sasrec_free(m);
  mf_close(f);
  return rc;
}

/* ---- registry ("sasrec") ---- */

static int sr_reg_fit(const rec_params *p, const rec_train_data *d, void **state) {
  sasrec_opts o;
  sasrec_model *m = NULL;
  sasrec_opts_default(&o);
  o.dim = (int)rec_params_get(p, "dim", o.dim);
  o.blocks = (int)rec_params_get(p, "blocks", o.blocks);
  o.max_len = (int)rec_params_get(p, "max_len", o.max_len);
  o.epochs = (int)rec_params_get(p, "epochs", o.epochs);
  o.batch = (int)rec_params_get(p, "batch", o.batch);
  o.lr = (float)rec_params_get(p, "lr", o.lr);
  o.dropout = (float)rec_params_get(p, "dropout", o.dropout);
  o.seed = (uint64_t)rec_params_get(p, "seed", (double)o.seed);
  o.threads = (int)rec_params_get(p, "threads", o.threads);
  int rc = sasrec_fit(&o, d->ratings, d->n_ratings, d->ui->n_rows, d->ui->n_cols, &m);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}

static int sr_reg_score_user(const void *state, int32_t user, float *scores) {
  return sasrec_score_user_at(state, user, REC_REF_END, scores);
}

/* The history is taken as time-ordered (oldest first); its ratings do not matter. */
static int sr_reg_score_history(const void *state, const int32_t *items, const float *ratings,
                                int n, float *scores) {
  (void)ratings;
  return sasrec_score_seq(state, items, n, scores);
}

/* A training user as of ref_ts reads only the user's fitted ratings up to ref_ts. */
static int sr_reg_score_items(const void *state, int32_t user, const int32_t *h_items,
                              const float *h_ratings, int n_h, int64_t ref_ts, const int32_t *items,
                              int n, float *out, float *scratch) {
  (void)h_ratings;
  int rc = user >= 0 ? sasrec_score_user_at(state, user, ref_ts, scratch)
                     : sasrec_score_seq(state, h_items, n_h, scratch);
  for (int k = 0; !rc && k < n; k++)
    out[k] = scratch[items[k]];
  return rc;
}

static int sr_reg_save(const void *state, const char *path) {
  return sasrec_save(state, path);
}

static int sr_reg_load(const char *path, void **state, char *err, size_t errlen) {
  sasrec_model *m = NULL;
  int rc = sasrec_load(path, &m, err, errlen);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}

static int32_t sr_reg_n_items(const void *state) {
  return sasrec_n_items(state);
}

static void sr_reg_free(void *state) {
  sasrec_free(state);
}

const rec_ops rec_sasrec_ops = {
    .kind = "sasrec",
    .fit = sr_reg_fit,
    .score_user = sr_reg_score_user,
    .score_history = sr_reg_score_history,
    .save = sr_reg_save,
    .load = sr_reg_load,
    .n_items = sr_reg_n_items,
    .free = sr_reg_free,
    .score_items = sr_reg_score_items,
};
