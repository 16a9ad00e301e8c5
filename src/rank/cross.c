/* Neural cross ranker: target attention over the user's recent movies plus an MLP over the
 * candidate, the attended history and the ranking features; hand-written forward and backward
 * passes, Adam, deterministic multithreaded minibatches. */
#include "rank/cross.h"

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

/* Parameter blocks, in the order they sit in theta:
 *   E  n_items x d      movie embeddings
 *   P  d x n_side       side-feature projection: movie vector m_i = E_i + P s_i
 *   R  6 x d            rating embedding (row 0: unknown, 1-5), added to history vectors
 *   A  d x d            bilinear attention: a_j = m_c . (A h_j) / sqrt(d)
 *   V  d x d            value map: pooled p = V sum_j alpha_j h_j
 *   W1 hid x din, b1    hidden layer over z = [m_c, p, m_c*p, scaled features, missing flags]
 *   w2 hid              output layer (no bias: the listwise loss is shift-invariant) */
enum { CB_E, CB_P, CB_R, CB_A, CB_V, CB_W1, CB_B1, CB_W2, CB_N };
static const char *const cr_block_names[CB_N] = {"E", "P", "R", "A", "V", "W1", "b1", "w2"};
#define CR_BUCKETS 6
#define CR_CLIP 5.0f

struct cross_model {
  cross_opts o;
  int32_t n_items;
  int n_side, n_feat, d, hid, max_hist, din;
  float *side; /* n_items x n_side */
  float *theta;
  size_t n_params, off[CB_N], size[CB_N];
  float *M;              /* n_items x d: E + side P^T, kept in step with theta */
  float *mean, *inv_std; /* feature scaling, n_feat each */
};

struct cross_ws {
  int cap_c, cap_h;
  float *H, *K, *dH, *dK; /* cap_h x d */
  int32_t *hitem;
  int *hbucket;
  float *alpha;   /* cap_c x cap_h */
  float *u, *p;   /* cap_c x d */
  float *z;       /* cap_c x din */
  float *pre;     /* cap_c x hid */
  float *s, *gs;  /* cap_c */
  uint8_t *taken; /* cap_c, for top-10 selection */
  float *dal;     /* cap_h */
  float *dz, *dmc, *dp, *du, *dpre;
};

void cross_opts_default(cross_opts *o) {
  memset(o, 0, sizeof(*o));
  o->dim = 32;
  o->hidden = 64;
  o->max_hist = 50;
  o->epochs = 30;
  o->patience = 3;
  o->batch = 16;
  o->lr = 2e-3f;
  o->l2 = 1e-5f;
  o->seed = 42;
}

static double cr_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Eight independent partial sums: lets the compiler vectorize, and the order is fixed. */
static inline float cr_dot(const float *a, const float *b, int n) {
  float acc[8] = {0};
  int k = 0;
  for (; k + 8 <= n; k += 8)
    for (int l = 0; l < 8; l++)
      acc[l] += a[k + l] * b[k + l];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; k < n; k++)
    s += a[k] * b[k];
  return s;
}

static inline void cr_axpy(float a, const float *x, float *y, int n) {
  for (int k = 0; k < n; k++)
    y[k] += a * x[k];
}

static int cr_bucket(const cross_group *g, int k) {
  if (!g->hist_ratings)
    return 0;
  float r = g->hist_ratings[k];
  if (!(r == r))
    return 0;
  int b = (int)lrintf(r);
  return b < 1 ? 1 : b > 5 ? 5 : b;
}

void cross_free(cross_model *m) {
  if (!m)
    return;
  free(m->side);
  free(m->theta);
  free(m->M);
  free(m->mean);
  free(m->inv_std);
  free(m);
}

/* M = E + side P^T, rows in parallel (each row is independent, so the result is exact). */
static void cr_update_M(cross_model *m) {
  const float *E = m->theta + m->off[CB_E], *P = m->theta + m->off[CB_P];
  int d = m->d, ns = m->n_side;
#pragma omp parallel for schedule(static)
  for (int32_t i = 0; i < m->n_items; i++) {
    float *row = m->M + (size_t)i * d;
    const float *s = m->side + (size_t)i * ns;
    for (int r = 0; r < d; r++)
      row[r] = E[(size_t)i * d + r] + (ns ? cr_dot(P + (size_t)r * ns, s, ns) : 0.0f);
  }
}

static int cr_opts_ok(const cross_opts *o) {
  return o->dim >= 1 && o->dim <= 1024 && o->hidden >= 1 && o->hidden <= 4096 && o->max_hist >= 1 &&
         o->max_hist <= 100000 && o->epochs >= 0 && o->patience >= 1 && o->batch >= 1 &&
         o->batch <= 4096 && o->lr > 0 && o->lr < 1 && o->l2 >= 0 && o->threads >= 0;
}

/* Allocates a model for the shape with theta uninitialized. */
static int cr_alloc(const cross_opts *o, int32_t n_items, int n_side, int n_feat,
                    cross_model **out) {
  if (!o || !cr_opts_ok(o) || n_items < 1 || n_side < 0 || n_feat < 0 || n_side > 100000 ||
      n_feat > 100000)
    return MR_EINVAL;
  cross_model *m = calloc(1, sizeof(*m));
  if (!m)
    return MR_ENOMEM;
  m->o = *o;
  m->n_items = n_items;
  m->n_side = n_side;
  m->n_feat = n_feat;
  m->d = o->dim;
  m->hid = o->hidden;
  m->max_hist = o->max_hist;
  m->din = 3 * m->d + 2 * n_feat;
  size_t d = (size_t)m->d;
  m->size[CB_E] = (size_t)n_items * d;
  m->size[CB_P] = d * (size_t)n_side;
  m->size[CB_R] = CR_BUCKETS * d;
  m->size[CB_A] = d * d;
  m->size[CB_V] = d * d;
  m->size[CB_W1] = (size_t)m->hid * (size_t)m->din;
  m->size[CB_B1] = (size_t)m->hid;
  m->size[CB_W2] = (size_t)m->hid;
  for (int b = 0; b < CB_N; b++) {
    m->off[b] = m->n_params;
    m->n_params += m->size[b];
  }
  m->theta = malloc(m->n_params * sizeof(float));
  m->M = malloc((size_t)n_items * d * sizeof(float));
  m->side = calloc((size_t)n_items * (size_t)n_side + 1, sizeof(float));
  m->mean = calloc((size_t)n_feat + 1, sizeof(float));
  m->inv_std = malloc(((size_t)n_feat + 1) * sizeof(float));
  if (!m->theta || !m->M || !m->side || !m->mean || !m->inv_std) {
    cross_free(m);
    return MR_ENOMEM;
  }
  for (int f = 0; f < n_feat; f++)
    m->inv_std[f] = 1.0f;
  *out = m;
  return MR_OK;
}

int cross_create(const cross_opts *o, const cross_shape *shape, cross_model **out) {
  if (!shape || (shape->n_side > 0 && !shape->side))
    return MR_EINVAL;
  cross_model *m = NULL;
  int rc = cr_alloc(o, shape->n_items, shape->n_side, shape->n_feat, &m);
  if (rc)
    return rc;
  size_t ns = (size_t)shape->n_items * (size_t)shape->n_side;
  for (size_t k = 0; k < ns; k++)
    if (!isfinite(shape->side[k])) {
      cross_free(m);
      return MR_EINVAL;
    }
  if (ns)
    memcpy(m->side, shape->side, ns * sizeof(float));
  /* small embeddings so the MLP starts from the features; He-scaled hidden layer */
  mr_rng r;
  mr_rng_seed(&r, o->seed);
  double sd[CB_N] = {0.05,
                     0.1 / sqrt(m->n_side > 0 ? m->n_side : 1),
                     0.05,
                     1.0 / sqrt(m->d),
                     1.0 / sqrt(m->d),
                     sqrt(2.0 / m->din),
                     0.0,
                     sqrt(1.0 / m->hid)};
  for (int b = 0; b < CB_N; b++)
    for (size_t k = 0; k < m->size[b]; k++)
      m->theta[m->off[b] + k] = (float)(sd[b] * mr_rng_normal(&r));
  cr_update_M(m);
  *out = m;
  return MR_OK;
}

void cross_ws_free(cross_ws *w) {
  if (!w)
    return;
  free(w->H);
  free(w->K);
  free(w->dH);
  free(w->dK);
  free(w->hitem);
  free(w->hbucket);
  free(w->alpha);
  free(w->u);
  free(w->p);
  free(w->z);
  free(w->pre);
  free(w->s);
  free(w->gs);
  free(w->taken);
  free(w->dal);
  free(w->dz);
  free(w->dmc);
  free(w->dp);
  free(w->du);
  free(w->dpre);
  free(w);
}

/* Makes room for n_c candidates and n_h history movies (growth only). */
static int cr_ws_reserve(const cross_model *m, cross_ws *w, int n_c, int n_h) {
  size_t d = (size_t)m->d;
  if (n_c < 1)
    n_c = 1;
  if (n_h < 1)
    n_h = 1;
  if (n_h > w->cap_h) {
    int ch = n_h;
    float *H = realloc(w->H, (size_t)ch * d * sizeof(float));
    if (H)
      w->H = H;
    float *K = realloc(w->K, (size_t)ch * d * sizeof(float));
    if (K)
      w->K = K;
    float *dH = realloc(w->dH, (size_t)ch * d * sizeof(float));
    if (dH)
      w->dH = dH;
    float *dK = realloc(w->dK, (size_t)ch * d * sizeof(float));
    if (dK)
      w->dK = dK;
    int32_t *hi = realloc(w->hitem, (size_t)ch * sizeof(int32_t));
    if (hi)
      w->hitem = hi;
    int *hb = realloc(w->hbucket, (size_t)ch * sizeof(int));
    if (hb)
      w->hbucket = hb;
    float *dal = realloc(w->dal, (size_t)ch * sizeof(float));
    if (dal)
      w->dal = dal;
    if (!H || !K || !dH || !dK || !hi || !hb || !dal)
      return MR_ENOMEM;
    w->cap_h = ch;
    w->cap_c = 0; /* alpha depends on cap_h: force its reallocation below */
  }
  if (n_c > w->cap_c) {
    int cc = n_c;
    float *al = realloc(w->alpha, (size_t)cc * (size_t)w->cap_h * sizeof(float));
    if (al)
      w->alpha = al;
    float *u = realloc(w->u, (size_t)cc * d * sizeof(float));
    if (u)
      w->u = u;
    float *p = realloc(w->p, (size_t)cc * d * sizeof(float));
    if (p)
      w->p = p;
    float *z = realloc(w->z, (size_t)cc * (size_t)m->din * sizeof(float));
    if (z)
      w->z = z;
    float *pre = realloc(w->pre, (size_t)cc * (size_t)m->hid * sizeof(float));
    if (pre)
      w->pre = pre;
    float *s = realloc(w->s, (size_t)cc * sizeof(float));
    if (s)
      w->s = s;
    float *gs = realloc(w->gs, (size_t)cc * sizeof(float));
    if (gs)
      w->gs = gs;
    uint8_t *tk = realloc(w->taken, (size_t)cc);
    if (tk)
      w->taken = tk;
    if (!al || !u || !p || !z || !pre || !s || !gs || !tk)
      return MR_ENOMEM;
    w->cap_c = cc;
  }
  return MR_OK;
}

int cross_ws_create(const cross_model *m, cross_ws **out) {
  cross_ws *w = calloc(1, sizeof(*w));
  if (!w)
    return MR_ENOMEM;
  size_t d = (size_t)m->d;
  w->dz = malloc(3 * d * sizeof(float));
  w->dmc = malloc(d * sizeof(float));
  w->dp = malloc(d * sizeof(float));
  w->du = malloc(d * sizeof(float));
  w->dpre = malloc((size_t)m->hid * sizeof(float));
  if (!w->dz || !w->dmc || !w->dp || !w->du || !w->dpre || cr_ws_reserve(m, w, 256, m->max_hist)) {
    cross_ws_free(w);
    return MR_ENOMEM;
  }
  *out = w;
  return MR_OK;
}

static int cr_check_group(const cross_model *m, const cross_group *g) {
  if (g->n_cands < 0 || g->n_hist < 0 || (g->n_cands > 0 && (!g->cands || !g->x)) ||
      (g->n_hist > 0 && !g->hist))
    return MR_EINVAL;
  for (int c = 0; c < g->n_cands; c++)
    if (g->cands[c] < 0 || g->cands[c] >= m->n_items)
      return MR_ERANGE;
  for (int k = 0; k < g->n_hist; k++)
    if (g->hist[k] < 0 || g->hist[k] >= m->n_items)
      return MR_ERANGE;
  return MR_OK;
}

/* Forward pass over one group: fills the history rows, every candidate's activations and
 * w->s. Returns the number of history rows used. */
static int cr_forward(const cross_model *m, cross_ws *w, const cross_group *g, int blas) {
  const int d = m->d, hid = m->hid, din = m->din, nf = m->n_feat;
  const float *R = m->theta + m->off[CB_R], *A = m->theta + m->off[CB_A];
  const float *V = m->theta + m->off[CB_V], *W1 = m->theta + m->off[CB_W1];
  const float *b1 = m->theta + m->off[CB_B1], *w2 = m->theta + m->off[CB_W2];
  const float isd = 1.0f / sqrtf((float)d);
  int L = g->n_hist < m->max_hist ? g->n_hist : m->max_hist;
  int start = g->n_hist - L;
  for (int j = 0; j < L; j++) {
    int32_t it = g->hist[start + j];
    int b = cr_bucket(g, start + j);
    w->hitem[j] = it;
    w->hbucket[j] = b;
    float *h = w->H + (size_t)j * d;
    const float *mi = m->M + (size_t)it * d;
    for (int r = 0; r < d; r++)
      h[r] = mi[r] + R[b * d + r];
    float *k = w->K + (size_t)j * d;
    for (int r = 0; r < d; r++)
      k[r] = cr_dot(A + (size_t)r * d, h, d);
  }
  for (int c = 0; c < g->n_cands; c++) {
    const float *mc = m->M + (size_t)g->cands[c] * d;
    float *al = w->alpha + (size_t)c * w->cap_h;
    float *u = w->u + (size_t)c * d, *p = w->p + (size_t)c * d;
    float *z = w->z + (size_t)c * din, *pre = w->pre + (size_t)c * hid;
    memset(u, 0, (size_t)d * sizeof(float));
    if (L > 0) {
      float mx = -INFINITY;
      for (int j = 0; j < L; j++) {
        al[j] = cr_dot(mc, w->K + (size_t)j * d, d) * isd;
        mx = al[j] > mx ? al[j] : mx;
      }
      float sum = 0;
      for (int j = 0; j < L; j++) {
        al[j] = expf(al[j] - mx);
        sum += al[j];
      }
      float inv = 1.0f / sum;
      for (int j = 0; j < L; j++) {
        al[j] *= inv;
        cr_axpy(al[j], w->H + (size_t)j * d, u, d);
      }
    }
    for (int r = 0; r < d; r++)
      p[r] = cr_dot(V + (size_t)r * d, u, d);
    for (int r = 0; r < d; r++) {
      z[r] = mc[r];
      z[d + r] = p[r];
      z[2 * d + r] = mc[r] * p[r];
    }
    const float *x = g->x + (size_t)c * nf;
    for (int f = 0; f < nf; f++) {
      float v = x[f];
      int miss = !(v == v);
      float sv = miss ? 0.0f : (v - m->mean[f]) * m->inv_std[f];
      sv = sv > CR_CLIP ? CR_CLIP : sv < -CR_CLIP ? -CR_CLIP : sv;
      z[3 * d + f] = sv;
      z[3 * d + nf + f] = (float)miss;
    }
    if (blas)
      continue; /* the hidden layer of every candidate at once, below */
    float s = 0;
    for (int h = 0; h < hid; h++) {
      pre[h] = cr_dot(W1 + (size_t)h * din, z, din) + b1[h];
      if (pre[h] > 0)
        s += w2[h] * pre[h];
    }
    w->s[c] = s;
  }
  if (blas && g->n_cands > 0) {
    /* serving: pre = Z W1^T as one sgemm (about 3x faster than the per-row dot products; the
     * rounding differs from training's path by float noise only) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->n_cands, hid, din, 1.0f, w->z, din, W1,
                din, 0.0f, w->pre, hid);
    for (int c = 0; c < g->n_cands; c++) {
      float *pre = w->pre + (size_t)c * hid, s = 0;
      for (int h = 0; h < hid; h++) {
        pre[h] += b1[h];
        if (pre[h] > 0)
          s += w2[h] * pre[h];
      }
      w->s[c] = s;
    }
  }
  return L;
}

/* Backward pass for the last forward of g with score gradients w->gs; adds into grad (theta's
 * layout, with dL/dM in the E block; the caller turns it into dE and dP). */
static void cr_backward(const cross_model *m, cross_ws *w, const cross_group *g, int L,
                        float *grad) {
  const int d = m->d, hid = m->hid, din = m->din;
  const float *A = m->theta + m->off[CB_A], *V = m->theta + m->off[CB_V];
  const float *W1 = m->theta + m->off[CB_W1], *w2 = m->theta + m->off[CB_W2];
  float *gM = grad + m->off[CB_E], *gR = grad + m->off[CB_R], *gA = grad + m->off[CB_A];
  float *gV = grad + m->off[CB_V], *gW1 = grad + m->off[CB_W1], *gb1 = grad + m->off[CB_B1];
  float *gw2 = grad + m->off[CB_W2];
  const float isd = 1.0f / sqrtf((float)d);
  memset(w->dH, 0, (size_t)L * d * sizeof(float));
  memset(w->dK, 0, (size_t)L * d * sizeof(float));
  for (int c = 0; c < g->n_cands; c++) {
    float gsc = w->gs[c];
    if (gsc == 0.0f)
      continue;
    const float *mc = m->M + (size_t)g->cands[c] * d;
    const float *al = w->alpha + (size_t)c * w->cap_h;
    const float *u = w->u + (size_t)c * d, *p = w->p + (size_t)c * d;
    const float *z = w->z + (size_t)c * din, *pre = w->pre + (size_t)c * hid;
    float *dz = w->dz, *dmc = w->dmc, *dp = w->dp, *du = w->du;
    memset(dz, 0, 3 * (size_t)d * sizeof(float));
    for (int h = 0; h < hid; h++) {
      if (!(pre[h] > 0))
        continue;
      gw2[h] += gsc * pre[h];
      float dpre = gsc * w2[h];
      gb1[h] += dpre;
      cr_axpy(dpre, z, gW1 + (size_t)h * din, din);
      cr_axpy(dpre, W1 + (size_t)h * din, dz, 3 * d);
    }
    for (int r = 0; r < d; r++) {
      dmc[r] = dz[r] + dz[2 * d + r] * p[r];
      dp[r] = dz[d + r] + dz[2 * d + r] * mc[r];
    }
    memset(du, 0, (size_t)d * sizeof(float));
    for (int r = 0; r < d; r++) {
      cr_axpy(dp[r], u, gV + (size_t)r * d, d);
      cr_axpy(dp[r], V + (size_t)r * d, du, d);
    }
    if (L > 0) {
      float dot = 0;
      for (int j = 0; j < L; j++) {
        w->dal[j] = cr_dot(du, w->H + (size_t)j * d, d);
        dot += al[j] * w->dal[j];
      }
      for (int j = 0; j < L; j++) {
        float da = al[j] * (w->dal[j] - dot) * isd;
        cr_axpy(al[j], du, w->dH + (size_t)j * d, d);
        cr_axpy(da, mc, w->dK + (size_t)j * d, d);
        cr_axpy(da, w->K + (size_t)j * d, dmc, d);
      }
    }
    cr_axpy(1.0f, dmc, gM + (size_t)g->cands[c] * d, d);
  }
  for (int j = 0; j < L; j++) {
    const float *h = w->H + (size_t)j * d, *dk = w->dK + (size_t)j * d;
    float *dh = w->dH + (size_t)j * d;
    for (int r = 0; r < d; r++) {
      if (dk[r] == 0.0f)
        continue;
      cr_axpy(dk[r], h, gA + (size_t)r * d, d);
      cr_axpy(dk[r], A + (size_t)r * d, dh, d);
    }
    cr_axpy(1.0f, dh, gM + (size_t)w->hitem[j] * d, d);
    cr_axpy(1.0f, dh, gR + (size_t)w->hbucket[j] * d, d);
  }
}

/* Listwise softmax cross-entropy of one group against its normalized labels; adds scale * the
 * gradient into grad. Returns 0 (and adds nothing) for a group without a positive label. */
static int cr_group_grad(const cross_model *m, cross_ws *w, const cross_group *g, float scale,
                         float *grad, double *loss) {
  double ysum = 0;
  *loss = 0;
  for (int c = 0; c < g->n_cands; c++)
    ysum += g->y[c] > 0 ? g->y[c] : 0;
  if (!(ysum > 0))
    return 0;
  int L = cr_forward(m, w, g, 0);
  float mx = -INFINITY;
  for (int c = 0; c < g->n_cands; c++)
    mx = w->s[c] > mx ? w->s[c] : mx;
  double z = 0;
  for (int c = 0; c < g->n_cands; c++)
    z += exp((double)(w->s[c] - mx));
  if (!(z > 0)) /* unreachable: a positive label means a candidate */
    return 0;
  double lse = (double)mx + log(z), l = 0;
  for (int c = 0; c < g->n_cands; c++) {
    double q = (g->y[c] > 0 ? g->y[c] : 0) / ysum;
    l -= q * ((double)w->s[c] - lse);
    w->gs[c] = (float)((exp((double)w->s[c] - lse) - q) * scale);
  }
  *loss = l;
  cr_backward(m, w, g, L, grad);
  return 1;
}

/* Turns dL/dM (in the E block) into dL/dP for the listed movies (dE = dM stays in place). */
static void cr_grad_P(const cross_model *m, float *grad, const int32_t *items, int n) {
  int d = m->d, ns = m->n_side;
  if (!ns)
    return;
  float *gP = grad + m->off[CB_P];
  const float *gM = grad + m->off[CB_E];
  for (int k = 0; k < n; k++) {
    const float *dm = gM + (size_t)items[k] * d, *s = m->side + (size_t)items[k] * ns;
    for (int r = 0; r < d; r++)
      if (dm[r] != 0.0f)
        cr_axpy(dm[r], s, gP + (size_t)r * ns, ns);
  }
}

static int cr_check_train_group(const cross_model *m, const cross_group *g) {
  int rc = cr_check_group(m, g);
  if (rc)
    return rc;
  if (g->n_cands > 0 && !g->y)
    return MR_EINVAL;
  for (int c = 0; c < g->n_cands; c++)
    if (!(g->y[c] >= 0) || !isfinite(g->y[c]))
      return MR_EINVAL;
  return MR_OK;
}

int cross_loss_grad(const cross_model *m, cross_ws *ws, const cross_group *groups, int n,
                    double *loss, float *grad) {
  int used = 0, rc;
  for (int k = 0; k < n; k++) {
    if ((rc = cr_check_train_group(m, &groups[k])))
      return rc;
    double ys = 0;
    for (int c = 0; c < groups[k].n_cands; c++)
      ys += groups[k].y[c];
    used += ys > 0;
    int L = groups[k].n_hist < m->max_hist ? groups[k].n_hist : m->max_hist;
    if ((rc = cr_ws_reserve(m, ws, groups[k].n_cands, L)))
      return rc;
  }
  memset(grad, 0, m->n_params * sizeof(float));
  *loss = 0;
  if (!used)
    return MR_EEMPTY;
  for (int k = 0; k < n; k++) {
    double l = 0;
    cr_group_grad(m, ws, &groups[k], 1.0f / (float)used, grad, &l);
    *loss += l / used;
  }
  /* every movie: the gradient check looks at all of P */
  for (int32_t i = 0; i < m->n_items; i++)
    cr_grad_P(m, grad, &i, 1);
  return MR_OK;
}

int cross_predict(const cross_model *m, cross_ws *ws, const cross_group *g, float *out) {
  int rc = cr_check_group(m, g);
  if (rc)
    return rc;
  int L = g->n_hist < m->max_hist ? g->n_hist : m->max_hist;
  if ((rc = cr_ws_reserve(m, ws, g->n_cands, L)))
    return rc;
  cr_forward(m, ws, g, 1);
  memcpy(out, ws->s, (size_t)g->n_cands * sizeof(float));
  return MR_OK;
}

/* nDCG@10 of the scores in ws->s against g->y (linear gains). */
static double cr_ndcg10(cross_ws *w, const cross_group *g) {
  int n = g->n_cands, top = n < 10 ? n : 10;
  double dcg = 0, idcg = 0;
  if (n <= 0)
    return 0.0;
  memset(w->taken, 0, (size_t)n);
  for (int r = 0; r < top; r++) {
    int best = -1;
    for (int c = 0; c < n; c++)
      if (!w->taken[c] && (best < 0 || w->s[c] > w->s[best]))
        best = c;
    w->taken[best] = 1;
    dcg += g->y[best] / log2(r + 2.0);
  }
  memset(w->taken, 0, (size_t)n);
  for (int r = 0; r < top; r++) {
    int best = -1;
    for (int c = 0; c < n; c++)
      if (!w->taken[c] && (best < 0 || g->y[c] > g->y[best]))
        best = c;
    w->taken[best] = 1;
    idcg += g->y[best] / log2(r + 2.0);
  }
  return idcg > 0 ? dcg / idcg : 0.0;
}

/* Mean and inverse spread of every feature over the training rows (NaN skipped). */
static void cr_fit_scaling(cross_model *m, const cross_group *train, int n_train) {
  int nf = m->n_feat;
  for (int f = 0; f < nf; f++) {
    double s = 0, ss = 0;
    long cnt = 0;
    for (int k = 0; k < n_train; k++)
      for (int c = 0; c < train[k].n_cands; c++) {
        double v = train[k].x[(size_t)c * nf + f];
        if (v == v && isfinite(v)) {
          s += v;
          ss += v * v;
          cnt++;
        }
      }
    double mean = cnt ? s / cnt : 0.0;
    double var = cnt ? ss / cnt - mean * mean : 0.0;
    m->mean[f] = (float)mean;
    m->inv_std[f] = var > 1e-12 ? (float)(1.0 / sqrt(var)) : 1.0f;
  }
}

int cross_fit(cross_model *m, const cross_group *train, int n_train, const cross_group *valid,
              int n_valid, cross_fit_info *info) {
  const cross_opts *o = &m->o;
  int nt = o->threads > 0 ? o->threads : omp_get_max_threads();
  int B = o->batch, rc = MR_ENOMEM, maxc = 1, maxh = 1, n_used = 0;
  size_t np = m->n_params, dense0 = m->off[CB_P];
  double t0 = cr_now();
  cross_fit_info fi = {0};
  if (n_train < 0 || n_valid < 0 || (n_train > 0 && !train) || (n_valid > 0 && !valid))
    return MR_EINVAL;
  for (int k = 0; k < n_train + n_valid; k++) {
    const cross_group *g = k < n_train ? &train[k] : &valid[k - n_train];
    if ((rc = cr_check_train_group(m, g)))
      return rc;
    maxc = g->n_cands > maxc ? g->n_cands : maxc;
    int L = g->n_hist < m->max_hist ? g->n_hist : m->max_hist;
    maxh = L > maxh ? L : maxh;
  }
  cross_ws **ws = calloc((size_t)nt, sizeof(*ws));
  float *slots = calloc((size_t)B * np, sizeof(float));
  double *slot_loss = calloc((size_t)B, sizeof(double));
  int *order = malloc(((size_t)n_train + 1) * sizeof(int));
  float *G = malloc(np * sizeof(float)), *m1 = calloc(np, sizeof(float));
  float *m2 = calloc(np, sizeof(float)), *best = malloc(np * sizeof(float));
  double *vnd = calloc((size_t)n_valid + 1, sizeof(double));
  int32_t *touched = malloc(((size_t)m->n_items + 1) * sizeof(int32_t));
  uint8_t *seen = calloc((size_t)m->n_items + 1, 1);
  rc = MR_ENOMEM;
  if (!ws || !slots || !slot_loss || !order || !G || !m1 || !m2 || !best || !vnd || !touched ||
      !seen)
    goto done;
  for (int t = 0; t < nt; t++)
    if (cross_ws_create(m, &ws[t]) || cr_ws_reserve(m, ws[t], maxc, maxh))
      goto done;
  for (int k = 0; k < n_train; k++) {
    double ys = 0;
    for (int c = 0; c < train[k].n_cands; c++)
      ys += train[k].y[c];
    if (ys > 0)
      order[n_used++] = k;
  }
  if (!n_used) {
    rc = MR_EEMPTY;
    goto done;
  }
  cr_fit_scaling(m, train, n_train);
  memcpy(best, m->theta, np * sizeof(float));
  mr_rng rng;
  mr_rng_seed(&rng, o->seed ^ 0x5eed5eedULL);
  const float b1c = 0.9f, b2c = 0.999f, eps = 1e-8f;
  long step = 0;
  double best_nd = -1;
  int since_best = 0;
  for (int ep = 1; ep <= o->epochs; ep++) {
    for (int k = n_used - 1; k > 0; k--) {
      int j = (int)mr_rng_below(&rng, (uint64_t)k + 1);
      int t = order[k];
      order[k] = order[j];
      order[j] = t;
    }
    double ep_loss = 0;
    for (int b0 = 0; b0 < n_used; b0 += B) {
      int nb = n_used - b0 < B ? n_used - b0 : B;
      float scale = 1.0f / (float)nb;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
      for (int k = 0; k < nb; k++)
        cr_group_grad(m, ws[omp_get_thread_num()], &train[order[b0 + k]], scale,
                      slots + (size_t)k * np, &slot_loss[k]);
      /* reduce in group order; the E block (dL/dM) is sparse: only the group's movies */
      memset(G, 0, np * sizeof(float));
      int n_touched = 0;
      for (int k = 0; k < nb; k++) {
        float *sl = slots + (size_t)k * np;
        const cross_group *g = &train[order[b0 + k]];
        ep_loss += slot_loss[k];
        for (size_t q = dense0; q < np; q++)
          G[q] += sl[q];
        memset(sl + dense0, 0, (np - dense0) * sizeof(float));
        int L = g->n_hist < m->max_hist ? g->n_hist : m->max_hist;
        for (int e = 0; e < g->n_cands + L; e++) {
          int32_t it = e < g->n_cands ? g->cands[e] : g->hist[g->n_hist - L + (e - g->n_cands)];
          float *src = sl + (size_t)it * m->d, *dst = G + (size_t)it * m->d;
          for (int r = 0; r < m->d; r++) {
            dst[r] += src[r];
            src[r] = 0.0f; /* zeroed after use, so a repeated movie adds once */
          }
          if (!seen[it]) {
            seen[it] = 1;
            touched[n_touched++] = it;
          }
        }
      }
      cr_grad_P(m, G, touched, n_touched);
      for (int k = 0; k < n_touched; k++)
        seen[touched[k]] = 0;
      step++;
      float c1 = 1.0f / (1.0f - powf(b1c, (float)step));
      float c2 = 1.0f / (1.0f - powf(b2c, (float)step));
      for (size_t q = 0; q < np; q++) {
        float gq = G[q] + o->l2 * m->theta[q];
        m1[q] = b1c * m1[q] + (1 - b1c) * gq;
        m2[q] = b2c * m2[q] + (1 - b2c) * gq * gq;
        m->theta[q] -= o->lr * (m1[q] * c1) / (sqrtf(m2[q] * c2) + eps);
      }
      cr_update_M(m);
    }
    fi.epochs_run = ep;
    fi.train_loss = ep_loss / n_used;
    if (!isfinite(fi.train_loss)) {
      rc = MR_ENUMERIC;
      goto done;
    }
    if (n_valid > 0) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
      for (int k = 0; k < n_valid; k++) {
        cross_ws *w = ws[omp_get_thread_num()];
        cr_forward(m, w, &valid[k], 0);
        vnd[k] = cr_ndcg10(w, &valid[k]);
      }
      double nd = 0;
      int nv = 0;
      for (int k = 0; k < n_valid; k++) {
        double ys = 0;
        for (int c = 0; c < valid[k].n_cands; c++)
          ys += valid[k].y[c];
        if (ys > 0) {
          nd += vnd[k];
          nv++;
        }
      }
      nd = nv ? nd / nv : 0;
      if (nd > best_nd) {
        best_nd = nd;
        fi.best_epoch = ep;
        fi.best_valid_ndcg = nd;
        memcpy(best, m->theta, np * sizeof(float));
        since_best = 0;
      } else if (++since_best >= o->patience) {
        break;
      }
    }
  }
  if (n_valid > 0 && fi.best_epoch > 0) {
    memcpy(m->theta, best, np * sizeof(float));
    cr_update_M(m);
  }
  fi.seconds = cr_now() - t0;
  if (info)
    *info = fi;
  rc = MR_OK;
done:
  if (ws)
    for (int t = 0; t < nt; t++)
      cross_ws_free(ws[t]);
  free(ws);
  free(slots);
  free(slot_loss);
  free(order);
  free(G);
  free(m1);
  free(m2);
  free(best);
  free(vnd);
  free(touched);
  free(seen);
  return rc;
}

int32_t cross_n_items(const cross_model *m) {
  return m->n_items;
}
int cross_n_feat(const cross_model *m) {
  return m->n_feat;
}
size_t cross_n_params(const cross_model *m) {
  return m->n_params;
}
float *cross_params(cross_model *m) {
  return m->theta;
}
void cross_params_changed(cross_model *m) {
  cr_update_M(m);
}

int cross_blocks(const cross_model *m, cross_block *blocks) {
  for (int b = 0; b < CB_N; b++)
    blocks[b] = (cross_block){cr_block_names[b], m->off[b], m->size[b]};
  return CB_N;
}

int cross_save(const cross_model *m, const char *path) {
  int32_t meta[6] = {m->n_items, m->n_side, m->n_feat, m->d, m->hid, m->max_hist};
  mf_section sec[5];
  int n = 0;
  sec[n++] = (mf_section){"meta", MF_I32, 1, 6, meta};
  sec[n++] = (mf_section){"theta", MF_F32, 1, m->n_params, m->theta};
  if (m->n_side)
    sec[n++] = (mf_section){"side", MF_F32, (uint64_t)m->n_items, (uint64_t)m->n_side, m->side};
  if (m->n_feat) {
    sec[n++] = (mf_section){"mean", MF_F32, 1, (uint64_t)m->n_feat, m->mean};
    sec[n++] = (mf_section){"inv_std", MF_F32, 1, (uint64_t)m->n_feat, m->inv_std};
  }
  return mf_write(path, "cross", sec, n);
}

int cross_load(const char *path, cross_model **out, char *err, size_t errlen) {
  mf_file *f = NULL;
  cross_model *m = NULL;
  const void *meta, *theta, *side, *mean, *inv;
  uint64_t r, c;
  int rc = mf_open(path, &f, err, errlen);
  if (rc)
    return rc;
  rc = MR_EFORMAT;
  if (strcmp(mf_kind(f), "cross") != 0 || mf_get(f, "meta", MF_I32, &meta, &r, &c) || r * c != 6) {
    if (err)
      snprintf(err, errlen, "%s: not a cross ranker file", path);
    goto fail;
  }
  const int32_t *mt = meta;
  cross_opts o;
  cross_opts_default(&o);
  o.dim = mt[3];
  o.hidden = mt[4];
  o.max_hist = mt[5];
  if ((rc = cr_alloc(&o, mt[0], mt[1], mt[2], &m))) {
    if (err)
      snprintf(err, errlen, "%s: bad shape", path);
    rc = MR_EFORMAT;
    goto fail;
  }
  rc = MR_EFORMAT;
  if (mf_get(f, "theta", MF_F32, &theta, &r, &c) || r * c != m->n_params) {
    if (err)
      snprintf(err, errlen, "%s: parameter array does not match the shape", path);
    goto fail;
  }
  memcpy(m->theta, theta, m->n_params * sizeof(float));
  if (m->n_side) {
    if (mf_get(f, "side", MF_F32, &side, &r, &c) || r != (uint64_t)m->n_items ||
        c != (uint64_t)m->n_side) {
      if (err)
        snprintf(err, errlen, "%s: side features missing", path);
      goto fail;
    }
    memcpy(m->side, side, (size_t)r * c * sizeof(float));
  }
  if (m->n_feat) {
    if (mf_get(f, "mean", MF_F32, &mean, &r, &c) || r * c != (uint64_t)m->n_feat ||
        mf_get(f, "inv_std", MF_F32, &inv, &r, &c) || r * c != (uint64_t)m->n_feat) {
      if (err)
        snprintf(err, errlen, "%s: feature scaling missing", path);
      goto fail;
    }
    memcpy(m->mean, mean, (size_t)m->n_feat * sizeof(float));
    memcpy(m->inv_std, inv, (size_t)m->n_feat * sizeof(float));
  }
  for (size_t q = 0; q < m->n_params; q++)
    if (!isfinite(m->theta[q])) {
      if (err)
        snprintf(err, errlen, "%s: non-finite parameter", path);
      goto fail;
    }
  cr_update_M(m);
  mf_close(f);
  *out = m;
  return MR_OK;
fail:
  cross_free(m);
  mf_close(f);
  return rc;
}
