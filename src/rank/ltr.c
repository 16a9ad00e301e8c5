/* LambdaMART through XGBoost's C API; prediction by our own flattened trees (no per-call
 * allocation, thread-safe), checked against XGBoost in the tests. */
#include "rank/ltr.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "core/mr_error.h"
#include "models/modelfile.h"

/* 16 bytes: a node and its children addresses fit in one cache line with three siblings. */
typedef struct ltr_node {
  float value;     /* split threshold (x < value goes left), or the leaf value */
  int16_t feature; /* -1 for a leaf */
  uint8_t default_left;
  uint8_t pad;
  int32_t left, right;
} ltr_node;

struct ltr_model {
  int32_t n_features;
  int n_trees;
  float base_score;
  ltr_node *nodes;
  int32_t n_nodes;
  int32_t *roots;
  double *gain;   /* per-feature total gain */
  char *xgb_json; /* XGBoost's own model, for ltr_predict_xgboost and re-saving */
  size_t xgb_json_len;
  char *names;           /* feature names joined by '\n' */
  BoosterHandle booster; /* created lazily from xgb_json */
  /* The same forest padded to perfect trees of depth p_depth (leaves above the bottom copied to
   * every descendant), walked without branches over blocks of rows; NULL when too deep. */
  int p_depth;
  int32_t *p_feat; /* per tree 2^d - 1 nodes: feature | LTR_DEFAULT_RIGHT */
  float *p_thr;    /* per tree 2^d - 1 thresholds */
  float *p_leaf;   /* per tree 2^d leaf values */
};

#define LTR_DEFAULT_RIGHT 0x40000000
#define LTR_PERFECT_MAX_DEPTH 8
#define LTR_BLOCK 16
#define LTR_PERMUTE_DEPTH 6 /* 63 nodes + 64 leaves: every level fits one or two registers */

void ltr_opts_default(ltr_opts *o) {
  memset(o, 0, sizeof(*o));
  o->trees = 300;
  o->max_depth = 6;
  o->eta = 0.05f;
  o->subsample = 0.8f;
  o->colsample = 0.8f;
  o->min_child_weight = 1.0f;
  o->lambda = 1.0f;
  o->early_stopping = 30;
  o->seed = 42;
}

static void ltr_err(char *err, size_t errlen, const char *what) {
  if (err && errlen)
    snprintf(err, errlen, "%s: %s", what, XGBGetLastError());
}

void ltr_free(ltr_model *m) {
  if (!m)
    return;
  if (m->booster)
    XGBoosterFree(m->booster);
  free(m->nodes);
  free(m->roots);
  free(m->gain);
  free(m->xgb_json);
  free(m->names);
  free(m->p_feat);
  free(m->p_thr);
  free(m->p_leaf);
  free(m);
}

int ltr_n_features(const ltr_model *m) {
  return m->n_features;
}
int ltr_n_trees(const ltr_model *m) {
  return m->n_trees;
}

static int ltr_dmatrix(const ltr_data *d, DMatrixHandle *out) {
  DMatrixHandle h = NULL;
  if (XGDMatrixCreateFromMat(d->x, (bst_ulong)d->n_rows, (bst_ulong)d->n_features, NAN, &h))
    return MR_EINVAL;
  if (XGDMatrixSetFloatInfo(h, "label", d->labels, (bst_ulong)d->n_rows) ||
      XGDMatrixSetUIntInfo(h, "group", d->group_sizes, (bst_ulong)d->n_groups)) {
    XGDMatrixFree(h);
    return MR_EINVAL;
  }
  *out = h;
  return MR_OK;
}

static int ltr_check_data(const ltr_data *d) {
  int64_t total = 0;
  if (!d || !d->x || !d->labels || !d->group_sizes || d->n_rows <= 0 || d->n_features <= 0 ||
      d->n_features > INT16_MAX || d->n_groups <= 0)
    return MR_EINVAL;
  for (int g = 0; g < d->n_groups; g++)
    total += d->group_sizes[g];
  return total == d->n_rows ? MR_OK : MR_EINVAL;
}

static double ltr_json_num(const json_t *v) {
  if (json_is_number(v))
    return json_number_value(v);
  if (json_is_string(v))
    return strtod(json_string_value(v), NULL);
  if (json_is_boolean(v))
    return json_is_true(v) ? 1.0 : 0.0;
  return NAN;
}

/* A JSON node index or feature id as an int: -2 for anything that is not an integer in
 * [-1, INT32_MAX] (a cast of a larger or non-finite double is undefined). */
static int ltr_json_index(const json_t *v) {
  double d = ltr_json_num(v);
  return d >= -1.0 && d <= (double)INT32_MAX && d == (double)(int)d ? (int)d : -2;
}

static int ltr_build_perfect(ltr_model *m);

/* Builds the flattened trees from XGBoost's JSON model. */
static int ltr_flatten(ltr_model *m, char *err, size_t errlen) {
  json_error_t jerr;
  json_t *root = json_loadb(m->xgb_json, m->xgb_json_len, 0, &jerr);
  int rc = MR_EFORMAT;
  if (!root) {
    if (err)
      snprintf(err, errlen, "ranker model JSON: %s", jerr.text);
    return MR_EFORMAT;
  }
  json_t *learner = json_object_get(root, "learner");
  json_t *trees = json_object_get(
      json_object_get(json_object_get(learner, "gradient_booster"), "model"), "trees");
  json_t *base = json_object_get(json_object_get(learner, "learner_model_param"), "base_score");
  if (!json_is_array(trees) || !base) {
    if (err)
      snprintf(err, errlen, "ranker model JSON: no trees");
    goto done;
  }
  m->base_score = (float)ltr_json_num(base);
  size_t n_trees = json_array_size(trees), total = 0;
  for (size_t t = 0; t < n_trees; t++)
    total += json_array_size(json_object_get(json_array_get(trees, t), "left_children"));
  free(m->nodes);
  free(m->roots);
  free(m->gain);
  m->nodes = calloc(total + 1, sizeof(ltr_node));
  m->roots = calloc(n_trees + 1, sizeof(int32_t));
  m->gain = calloc((size_t)m->n_features, sizeof(double));
  if (!m->nodes || !m->roots || !m->gain) {
    rc = MR_ENOMEM;
    goto done;
  }
  size_t off = 0;
  for (size_t t = 0; t < n_trees; t++) {
    json_t *tr = json_array_get(trees, t);
    json_t *lc = json_object_get(tr, "left_children"), *rcn = json_object_get(tr, "right_children");
    json_t *si = json_object_get(tr, "split_indices"),
           *sc = json_object_get(tr, "split_conditions");
    json_t *dl = json_object_get(tr, "default_left"), *lo = json_object_get(tr, "loss_changes");
    size_t n = json_array_size(lc);
    if (n == 0 || json_array_size(rcn) != n || json_array_size(si) != n ||
        json_array_size(sc) != n || json_array_size(dl) != n) {
      if (err)
        snprintf(err, errlen, "ranker model JSON: malformed tree %zu", t);
      goto done;
    }
    m->roots[t] = (int32_t)off;
    for (size_t i = 0; i < n; i++) {
      ltr_node *nd = &m->nodes[off + i];
      int l = ltr_json_index(json_array_get(lc, i)), r = ltr_json_index(json_array_get(rcn, i));
      nd->value = (float)ltr_json_num(json_array_get(sc, i));
      if (l == -1) {
        nd->feature = -1;
        continue;
      }
      int f = ltr_json_index(json_array_get(si, i));
      /* children come after their parent in XGBoost's node order; requiring it keeps every
       * path finite (a child index at or before its parent made ltr_predict loop forever) */
      if (f < 0 || f >= m->n_features || l <= (int)i || (size_t)l >= n || r <= (int)i ||
          (size_t)r >= n) {
        if (err)
          snprintf(err, errlen, "ranker model JSON: bad node %zu of tree %zu", i, t);
        goto done;
      }
      nd->feature = (int16_t)f;
      nd->default_left = ltr_json_num(json_array_get(dl, i)) != 0.0;
      nd->left = (int32_t)(off + (size_t)l);
      nd->right = (int32_t)(off + (size_t)r);
      double g = ltr_json_num(json_array_get(lo, i));
      if (g == g)
        m->gain[f] += g;
    }
    off += n;
  }
  m->n_trees = (int)n_trees;
  m->n_nodes = (int32_t)off;
  rc = ltr_build_perfect(m);
done:
  json_decref(root);
  return rc;
}

/* The depth of the deepest tree (longest root-to-leaf path), or -1 without memory. Children
 * come after their parent (ltr_flatten checks it), so one backward pass over the nodes gives
 * every node's depth: no recursion (a long chain would overflow the stack) and linear time even
 * when a file makes nodes share a child (a recursive walk would take time exponential in the
 * depth). */
static int ltr_max_depth(const ltr_model *m) {
  int32_t *dep = malloc(((size_t)m->n_nodes + 1) * sizeof(int32_t));
  int d = 0;
  if (!dep)
    return -1;
  for (int32_t i = m->n_nodes - 1; i >= 0; i--) {
    const ltr_node *nd = &m->nodes[i];
    dep[i] =
        nd->feature < 0 ? 0 : 1 + (dep[nd->left] > dep[nd->right] ? dep[nd->left] : dep[nd->right]);
  }
  for (int t = 0; t < m->n_trees; t++)
    d = dep[m->roots[t]] > d ? dep[m->roots[t]] : d;
  free(dep);
  return d;
}

/* Copies the subtree at node i into perfect-tree slot p (level-order numbering) of tree t. */
static void ltr_pad(ltr_model *m, int t, int32_t i, int32_t p, int level) {
  const ltr_node *nd = &m->nodes[i];
  int d = m->p_depth;
  int32_t n_inner = (1 << d) - 1;
  if (level == d) {
    m->p_leaf[(size_t)t * (size_t)(n_inner + 1) + (size_t)(p - n_inner)] = nd->value;
    return;
  }
  size_t at = (size_t)t * (size_t)n_inner + (size_t)p;
  if (nd->feature < 0) {
    /* a leaf above the bottom: both ways lead to the same value */
    m->p_feat[at] = 0;
    m->p_thr[at] = 0.0f;
    ltr_pad(m, t, i, 2 * p + 1, level + 1);
    ltr_pad(m, t, i, 2 * p + 2, level + 1);
    return;
  }
  m->p_feat[at] = nd->feature | (nd->default_left ? 0 : LTR_DEFAULT_RIGHT);
  m->p_thr[at] = nd->value;
  ltr_pad(m, t, nd->left, 2 * p + 1, level + 1);
  ltr_pad(m, t, nd->right, 2 * p + 2, level + 1);
}

/* Builds the perfect-tree layout when every tree is shallow enough; otherwise leaves it NULL and
 * prediction walks the nodes. */
static int ltr_build_perfect(ltr_model *m) {
  int d = ltr_max_depth(m);
  if (d < 0)
    return MR_ENOMEM;
  free(m->p_feat);
  free(m->p_thr);
  free(m->p_leaf);
  m->p_feat = NULL;
  m->p_thr = m->p_leaf = NULL;
  if (d < 1 || d > LTR_PERFECT_MAX_DEPTH)
    return MR_OK;
  if (d < LTR_PERMUTE_DEPTH)
    d = LTR_PERMUTE_DEPTH; /* shallower trees walk the same 6 levels through copied leaves */
  size_t n_inner = ((size_t)1 << d) - 1;
  m->p_depth = d;
  m->p_feat = malloc((size_t)m->n_trees * n_inner * sizeof(int32_t));
  m->p_thr = malloc((size_t)m->n_trees * n_inner * sizeof(float));
  m->p_leaf = malloc((size_t)m->n_trees * (n_inner + 1) * sizeof(float));
  if (!m->p_feat || !m->p_thr || !m->p_leaf)
    return MR_ENOMEM;
  for (int t = 0; t < m->n_trees; t++)
    ltr_pad(m, t, m->roots[t], 0, 0);
  return MR_OK;
}

static int ltr_capture_json(ltr_model *m, BoosterHandle b, char *err, size_t errlen) {
  bst_ulong len = 0;
  const char *buf = NULL;
  if (XGBoosterSaveModelToBuffer(b, "{\"format\": \"json\"}", &len, &buf)) {
    ltr_err(err, errlen, "saving the ranker");
    return MR_EINVAL;
  }
  free(m->xgb_json);
  m->xgb_json = malloc((size_t)len + 1);
  if (!m->xgb_json)
    return MR_ENOMEM;
  memcpy(m->xgb_json, buf, (size_t)len);
  m->xgb_json[len] = '\0';
  m->xgb_json_len = (size_t)len;
  return MR_OK;
}

static double ltr_parse_eval(const char *s) {
  const char *colon = strrchr(s, ':');
  return colon ? strtod(colon + 1, NULL) : NAN;
}

int ltr_train(const ltr_opts *o, const ltr_data *train, const ltr_data *valid,
              const char *const *feature_names, ltr_model **out, char *err, size_t errlen) {
  DMatrixHandle dtrain = NULL, dvalid = NULL;
  BoosterHandle b = NULL, best = NULL;
  ltr_model *m = NULL;
  int rc;
  char buf[64];
  if ((rc = ltr_check_data(train)) || (valid && (rc = ltr_check_data(valid))) ||
      (valid && valid->n_features != train->n_features) || o->trees <= 0) {
    if (err)
      snprintf(err, errlen, "ranker: inconsistent training data");
    return rc ? rc : MR_EINVAL;
  }
  if (!(m = calloc(1, sizeof(*m))))
    return MR_ENOMEM;
  m->n_features = train->n_features;
  rc = MR_EINVAL;
  if (ltr_dmatrix(train, &dtrain) || (valid && ltr_dmatrix(valid, &dvalid))) {
    ltr_err(err, errlen, "ranker data");
    goto fail;
  }
  DMatrixHandle cache[2] = {dtrain, dvalid};
  if (XGBoosterCreate(cache, valid ? 2 : 1, &b)) {
    ltr_err(err, errlen, "creating the ranker");
    goto fail;
  }
#define LTR_SET(k, fmt, v)                                                                         \
  do {                                                                                             \
    snprintf(buf, sizeof(buf), fmt, v);                                                            \
    if (XGBoosterSetParam(b, k, buf)) {                                                            \
      ltr_err(err, errlen, "ranker parameter " k);                                                 \
      goto fail;                                                                                   \
    }                                                                                              \
  } while (0)
  LTR_SET("objective", "%s", "rank:ndcg");
  LTR_SET("tree_method", "%s", "hist");
  LTR_SET("eval_metric", "%s", "ndcg@10");
  LTR_SET("max_depth", "%d", o->max_depth);
  LTR_SET("eta", "%g", (double)o->eta);
  LTR_SET("subsample", "%g", (double)o->subsample);
  LTR_SET("colsample_bytree", "%g", (double)o->colsample);
  LTR_SET("min_child_weight", "%g", (double)o->min_child_weight);
  LTR_SET("lambda", "%g", (double)o->lambda);
  LTR_SET("seed", "%llu", (unsigned long long)o->seed);
  LTR_SET("nthread", "%d", o->threads);
  LTR_SET("verbosity", "%d", 0);
#undef LTR_SET
  double best_score = -1.0;
  int best_iter = o->trees - 1, since_best = 0;
  for (int it = 0; it < o->trees; it++) {
    if (XGBoosterUpdateOneIter(b, it, dtrain)) {
      ltr_err(err, errlen, "ranker training");
      goto fail;
    }
    if (!valid || o->early_stopping <= 0)
      continue;
    const char *names[1] = {"valid"};
    const char *res = NULL;
    if (XGBoosterEvalOneIter(b, it, &dvalid, names, 1, &res)) {
      ltr_err(err, errlen, "ranker validation");
      goto fail;
    }
    double s = ltr_parse_eval(res);
    if (s > best_score) {
      best_score = s;
      best_iter = it;
      since_best = 0;
    } else if (++since_best >= o->early_stopping) {
      break;
    }
  }
  if (valid && o->early_stopping > 0) {
    if (XGBoosterSlice(b, 0, best_iter + 1, 1, &best)) {
      ltr_err(err, errlen, "ranker slice");
      goto fail;
    }
    XGBoosterFree(b);
    b = best;
    best = NULL;
  }
  if ((rc = ltr_capture_json(m, b, err, errlen)) || (rc = ltr_flatten(m, err, errlen)))
    goto fail;
  if (feature_names) {
    size_t len = 1;
    for (int f = 0; f < m->n_features; f++)
      len += strlen(feature_names[f]) + 1;
    if (!(m->names = calloc(len, 1))) {
      rc = MR_ENOMEM;
      goto fail;
    }
    for (int f = 0; f < m->n_features; f++) {
      strcat(m->names, feature_names[f]);
      strcat(m->names, "\n");
    }
  }
  m->booster = b;
  XGDMatrixFree(dtrain);
  if (dvalid)
    XGDMatrixFree(dvalid);
  *out = m;
  return MR_OK;
fail:
  if (b)
    XGBoosterFree(b);
  if (dtrain)
    XGDMatrixFree(dtrain);
  if (dvalid)
    XGDMatrixFree(dvalid);
  ltr_free(m);
  return rc ? rc : MR_EINVAL;
}

/* Perfect trees, LTR_BLOCK rows at a time, tree by tree: the walk has no data-dependent branch
 * and the inner loop over rows vectorizes into gathers. Sums in the same order as the node walk,
 * so both give the same floats. */
void ltr_predict_portable(const ltr_model *m, const float *x, int64_t n_rows, float *out) {
  if (!m->p_feat) {
    ltr_predict_nodes(m, x, n_rows, out);
    return;
  }
  const int d = m->p_depth, nf = m->n_features;
  const int32_t n_inner = (1 << d) - 1;
  for (int64_t r0 = 0; r0 < n_rows; r0 += LTR_BLOCK) {
    int nb = n_rows - r0 < LTR_BLOCK ? (int)(n_rows - r0) : LTR_BLOCK;
    const float *xb = x + r0 * nf;
    float acc[LTR_BLOCK];
    int32_t idx[LTR_BLOCK], base[LTR_BLOCK];
    for (int k = 0; k < LTR_BLOCK; k++) {
      acc[k] = m->base_score;
      base[k] = (k < nb ? k : 0) * nf; /* a short last block repeats row 0 */
    }
    for (int t = 0; t < m->n_trees; t++) {
      const int32_t *feat = m->p_feat + (size_t)t * (size_t)n_inner;
      const float *thr = m->p_thr + (size_t)t * (size_t)n_inner;
      const float *leaf = m->p_leaf + (size_t)t * (size_t)(n_inner + 1);
      for (int k = 0; k < LTR_BLOCK; k++)
        idx[k] = 0;
      for (int level = 0; level < d; level++)
        for (int k = 0; k < LTR_BLOCK; k++) {
          int32_t fd = feat[idx[k]];
          float v = xb[base[k] + (fd & ~LTR_DEFAULT_RIGHT)];
          int32_t right = (v >= thr[idx[k]]) | ((v != v) & ((fd & LTR_DEFAULT_RIGHT) != 0));
          idx[k] = 2 * idx[k] + 1 + right;
        }
      for (int k = 0; k < LTR_BLOCK; k++)
        acc[k] += leaf[idx[k] - n_inner];
    }
    for (int k = 0; k < nb; k++)
      out[r0 + k] = acc[k];
  }
}

#ifdef __AVX512F__
#define LTR_LANES 16
#define LTR_VECS                                                                                   \
  5 /* at most this many blocks walked together, so one block's gathers hide                       \
     * another's latency; rows are split into equal passes (150 rows: 2 x 5                        \
     * blocks, 8% faster than 4 + 4 + 2) */

#define LTR_PASS_STRIDE 128     /* a pass's rows per feature in the transposed copy (shift 7) */
#define LTR_MAX_T_FEATURES 1024 /* wider rows keep the row-major gathers (copy <= 512 KB) */
#define LTR_STACK_T_FEATURES                                                                       \
  64                      /* up to here the copy (32 KB) lives on the stack: no allocation         \
                           * per request for the served 37-feature ranker */
#define LTR_LOAD_LEVELS 3 /* levels read with plain loads: 1 + 2 + 4 nodes (2 or 4: slower) */
_Static_assert(LTR_LANES *LTR_VECS <= LTR_PASS_STRIDE, "a pass must fit the transposed copy");

/* The perfect-tree walk with AVX-512, up to LTR_VECS blocks of 16 rows per pass; the same
 * additions in the same order as ltr_predict_perfect. Each pass copies its rows transposed
 * (feature-major), so the top levels, whose 1, 2 and 4 nodes every lane shares, read 16 rows'
 * values with one plain load per node instead of a 16-element gather; deeper levels permute the
 * nodes out of registers and gather only the feature values. */
static void ltr_predict_avx512(const ltr_model *m, const float *x, int64_t n_rows, float *out) {
  const int d = m->p_depth, nf = m->n_features;
  const int32_t n_inner = (1 << d) - 1;
  const __m512i one = _mm512_set1_epi32(1), inner = _mm512_set1_epi32(n_inner);
  const __m512i fmask = _mm512_set1_epi32(~LTR_DEFAULT_RIGHT),
                dright = _mm512_set1_epi32(LTR_DEFAULT_RIGHT);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int64_t blocks = (n_rows + LTR_LANES - 1) / LTR_LANES;
  const int64_t passes = (blocks + LTR_VECS - 1) / LTR_VECS;
  const int per_pass = passes ? (int)((blocks + passes - 1) / passes) : 1;
  const int transposed = d == LTR_PERMUTE_DEPTH && nf <= LTR_MAX_T_FEATURES;
  _Alignas(64) float xt_stack[LTR_STACK_T_FEATURES * LTR_PASS_STRIDE];
  float *xt_heap = NULL, *xt = xt_stack;
  if (transposed && nf > LTR_STACK_T_FEATURES &&
      !(xt = xt_heap = aligned_alloc(64, (size_t)nf * LTR_PASS_STRIDE * sizeof(float)))) {
    ltr_predict_portable(m, x, n_rows, out);
    return;
  }
  for (int64_t r0 = 0; r0 < n_rows; r0 += (int64_t)LTR_LANES * per_pass) {
    const float *xb = x + r0 * nf;
    int64_t left = n_rows - r0;
    int nv = left >= (int64_t)LTR_LANES * per_pass ? per_pass
                                                   : (int)((left + LTR_LANES - 1) / LTR_LANES);
    __m512i base[LTR_VECS];
    __m512 acc[LTR_VECS];
    for (int j = 0; j < nv; j++) {
      __m512i row = _mm512_add_epi32(lane, _mm512_set1_epi32(j * LTR_LANES));
      /* rows past the end repeat row 0: valid memory, results dropped */
      __mmask16 valid =
          _mm512_cmplt_epi32_mask(row, _mm512_set1_epi32(left > 1 << 30 ? 1 << 30 : (int)left));
      row = _mm512_maskz_mov_epi32(valid, row);
      base[j] = transposed ? row : _mm512_mullo_epi32(row, _mm512_set1_epi32(nf));
      acc[j] = _mm512_set1_ps(m->base_score);
    }
    if (transposed) {
      int rows = nv * LTR_LANES;
      for (int r = 0; r < rows; r++) {
        const float *src = xb + (size_t)(r < left ? r : 0) * (size_t)nf;
        for (int f = 0; f < nf; f++)
          xt[f * LTR_PASS_STRIDE + r] = src[f];
      }
    }
    for (int t = 0; t < m->n_trees; t++) {
      const int32_t *feat = m->p_feat + (size_t)t * (size_t)n_inner;
      const float *thr = m->p_thr + (size_t)t * (size_t)n_inner;
      const float *leaf = m->p_leaf + (size_t)t * (size_t)(n_inner + 1);
      __m512i idx[LTR_VECS];
      for (int j = 0; j < nv; j++)
        idx[j] = _mm512_setzero_si512();
      if (transposed) {
        int level = 0;
        for (; level < LTR_LOAD_LEVELS; level++) {
          /* each lane's node value: one load per node, then a blend tree on the bits of the
           * lane's node number; thresholds and default directions by register permutes */
          int start = (1 << level) - 1, nodes = 1 << level;
          const float *col[1 << (LTR_LOAD_LEVELS - 1)];
          for (int q = 0; q < nodes; q++)
            col[q] = xt + (feat[start + q] & ~LTR_DEFAULT_RIGHT) * LTR_PASS_STRIDE;
          const __m512i fv = _mm512_loadu_si512(feat + start), vs = _mm512_set1_epi32(start);
          const __m512 tv = _mm512_loadu_ps(thr + start);
          for (int j = 0; j < nv; j++) {
            __m512i k = _mm512_sub_epi32(idx[j], vs);
            __m512 v[1 << (LTR_LOAD_LEVELS - 1)];
            for (int q = 0; q < nodes; q++)
              v[q] = _mm512_load_ps(col[q] + j * LTR_LANES);
            for (int b = 0, w = nodes; w > 1; b++, w >>= 1) {
              __mmask16 hi = _mm512_test_epi32_mask(k, _mm512_set1_epi32(1 << b));
              for (int q = 0; q < w / 2; q++)
                v[q] = _mm512_mask_blend_ps(hi, v[2 * q], v[2 * q + 1]);
            }
            __m512 th = _mm512_permutexvar_ps(k, tv);
            __m512i fd = _mm512_permutexvar_epi32(k, fv);
            __mmask16 right =
                _mm512_cmp_ps_mask(v[0], th, _CMP_GE_OQ) |
                (_mm512_cmp_ps_mask(v[0], v[0], _CMP_UNORD_Q) & _mm512_test_epi32_mask(fd, dright));
            idx[j] = _mm512_add_epi32(_mm512_slli_epi32(idx[j], 1), one);
            idx[j] = _mm512_mask_add_epi32(idx[j], right, idx[j], one);
          }
        }
        for (; level < d; level++) {
          int start = (1 << level) - 1;
          __m512i fa = _mm512_loadu_si512(feat + start), fb = fa;
          __m512 ta = _mm512_loadu_ps(thr + start), tb = ta;
          if (level == d - 1) {
            fb = _mm512_loadu_si512(feat + start + 16);
            tb = _mm512_loadu_ps(thr + start + 16);
          }
          const __m512i vs = _mm512_set1_epi32(start);
          for (int j = 0; j < nv; j++) {
            __m512i k = _mm512_sub_epi32(idx[j], vs);
            __m512i fd = _mm512_permutex2var_epi32(fa, k, fb);
            __m512 th = _mm512_permutex2var_ps(ta, k, tb);
            /* base[j] is the row within the pass: element (feature, row) of the copy */
            __m512i at =
                _mm512_add_epi32(_mm512_slli_epi32(_mm512_and_si512(fd, fmask), 7), base[j]);
            __m512 v = _mm512_i32gather_ps(at, xt, 4);
            __mmask16 right =
                _mm512_cmp_ps_mask(v, th, _CMP_GE_OQ) |
                (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & _mm512_test_epi32_mask(fd, dright));
            idx[j] = _mm512_add_epi32(_mm512_slli_epi32(idx[j], 1), one);
            idx[j] = _mm512_mask_add_epi32(idx[j], right, idx[j], one);
          }
        }
        const __m512 l0 = _mm512_loadu_ps(leaf), l1 = _mm512_loadu_ps(leaf + 16),
                     l2 = _mm512_loadu_ps(leaf + 32), l3 = _mm512_loadu_ps(leaf + 48);
        for (int j = 0; j < nv; j++) {
          __m512i k = _mm512_sub_epi32(idx[j], inner);
          __m512 lo = _mm512_permutex2var_ps(l0, k, l1), hi = _mm512_permutex2var_ps(l2, k, l3);
          __mmask16 upper = _mm512_test_epi32_mask(k, _mm512_set1_epi32(32));
          acc[j] = _mm512_add_ps(acc[j], _mm512_mask_blend_ps(upper, lo, hi));
        }
        continue;
      }
      for (int level = 0; level < d; level++)
        for (int j = 0; j < nv; j++) {
          __m512i fd = _mm512_i32gather_epi32(idx[j], feat, 4);
          __m512 th = _mm512_i32gather_ps(idx[j], thr, 4);
          __m512i at = _mm512_add_epi32(base[j], _mm512_and_si512(fd, fmask));
          __m512 v = _mm512_i32gather_ps(at, xb, 4);
          __mmask16 right =
              _mm512_cmp_ps_mask(v, th, _CMP_GE_OQ) |
              (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & _mm512_test_epi32_mask(fd, dright));
          idx[j] = _mm512_add_epi32(_mm512_slli_epi32(idx[j], 1), one);
          idx[j] = _mm512_mask_add_epi32(idx[j], right, idx[j], one);
        }
      for (int j = 0; j < nv; j++)
        acc[j] =
            _mm512_add_ps(acc[j], _mm512_i32gather_ps(_mm512_sub_epi32(idx[j], inner), leaf, 4));
    }
    for (int j = 0; j < nv; j++) {
      int64_t n = left - j * LTR_LANES;
      _mm512_mask_storeu_ps(out + r0 + j * LTR_LANES,
                            n >= LTR_LANES ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1),
                            acc[j]);
    }
  }
  free(xt_heap);
}
#endif

void ltr_predict(const ltr_model *m, const float *x, int64_t n_rows, float *out) {
  if (m->p_feat) {
#ifdef __AVX512F__
    ltr_predict_avx512(m, x, n_rows, out);
#else
    ltr_predict_portable(m, x, n_rows, out);
#endif
    return;
  }
  ltr_predict_nodes(m, x, n_rows, out);
}

void ltr_predict_nodes(const ltr_model *m, const float *x, int64_t n_rows, float *out) {
  const ltr_node *nodes = m->nodes;
  for (int64_t r = 0; r < n_rows; r++) {
    const float *row = x + r * m->n_features;
    float s = m->base_score;
    for (int t = 0; t < m->n_trees; t++) {
      const ltr_node *nd = &nodes[m->roots[t]];
      while (nd->feature >= 0) {
        float v = row[nd->feature];
        int go_left = v != v ? nd->default_left : v < nd->value;
        nd = &nodes[go_left ? nd->left : nd->right];
      }
      s += nd->value;
    }
    out[r] = s;
  }
}

static int ltr_ensure_booster(ltr_model *m) {
  if (m->booster)
    return MR_OK;
  if (XGBoosterCreate(NULL, 0, &m->booster))
    return MR_EINVAL;
  if (XGBoosterLoadModelFromBuffer(m->booster, m->xgb_json, (bst_ulong)m->xgb_json_len)) {
    XGBoosterFree(m->booster);
    m->booster = NULL;
    return MR_EFORMAT;
  }
  return MR_OK;
}

int ltr_predict_xgboost(const ltr_model *cm, const float *x, int64_t n_rows, float *out) {
  ltr_model *m = (ltr_model *)cm; /* the booster is created on first use */
  DMatrixHandle h = NULL;
  bst_ulong len = 0;
  const float *res = NULL;
  int rc = ltr_ensure_booster(m);
  if (rc)
    return rc;
  if (XGDMatrixCreateFromMat(x, (bst_ulong)n_rows, (bst_ulong)m->n_features, NAN, &h))
    return MR_EINVAL;
  /* option_mask 1: raw margins, the quantity the flattened trees compute */
  if (XGBoosterPredict(m->booster, h, 1, 0, 0, &len, &res) || len != (bst_ulong)n_rows) {
    XGDMatrixFree(h);
    return MR_EINVAL;
  }
  memcpy(out, res, (size_t)n_rows * sizeof(float));
  XGDMatrixFree(h);
  return MR_OK;
}

int ltr_importance(const ltr_model *m, double *gain) {
  double total = 0.0;
  for (int f = 0; f < m->n_features; f++)
    total += m->gain[f];
  for (int f = 0; f < m->n_features; f++)
    gain[f] = total > 0 ? m->gain[f] / total : 0.0;
  return MR_OK;
}

int ltr_sections(const ltr_model *m, const char *prefix, mf_section *sec, char names[][32]) {
  static const char *const suffix[] = {"xgb_json", "names", "meta"};
  int n = 0;
  for (int i = 0; i < 3; i++)
    snprintf(names[i], 32, "%s%s", prefix, suffix[i]);
  sec[n++] = (mf_section){names[0], MF_U8, 1, m->xgb_json_len, m->xgb_json};
  const char *nm = m->names ? m->names : "";
  sec[n++] = (mf_section){names[1], MF_U8, 1, strlen(nm) + 1, nm};
  /* the trees are rebuilt from the JSON on load, so the file holds one truth */
  sec[n++] = (mf_section){names[2], MF_I32, 1, 1, &m->n_features};
  return n;
}

int ltr_from_file(const mf_file *f, const char *prefix, ltr_model **out, char *err, size_t errlen) {
  const void *json, *names, *meta;
  uint64_t r1, c1, r2, c2, r3, c3;
  char k1[48], k2[48], k3[48];
  snprintf(k1, sizeof(k1), "%sxgb_json", prefix);
  snprintf(k2, sizeof(k2), "%snames", prefix);
  snprintf(k3, sizeof(k3), "%smeta", prefix);
  /* shapes as ltr_sections writes them: one row each (with zero rows the columns could claim
   * any length over an empty section) */
  if (mf_get(f, k1, MF_U8, &json, &r1, &c1) || mf_get(f, k2, MF_U8, &names, &r2, &c2) ||
      mf_get(f, k3, MF_I32, &meta, &r3, &c3) || r1 != 1 || r2 != 1 || r3 != 1 || c3 != 1 ||
      c2 == 0 || ((const char *)names)[c2 - 1] != '\0') {
    if (err)
      snprintf(err, errlen, "ranker sections missing or malformed");
    return MR_EFORMAT;
  }
  ltr_model *m = calloc(1, sizeof(*m));
  int rc = MR_ENOMEM;
  if (!m)
    return rc;
  m->n_features = ((const int32_t *)meta)[0];
  if (m->n_features <= 0 || m->n_features > INT16_MAX) {
    rc = MR_EFORMAT;
    goto fail;
  }
  if (!(m->xgb_json = malloc(c1 + 1)) || !(m->names = strdup(names)))
    goto fail;
  memcpy(m->xgb_json, json, c1);
  m->xgb_json[c1] = '\0';
  m->xgb_json_len = c1;
  if ((rc = ltr_flatten(m, err, errlen)))
    goto fail;
  *out = m;
  return MR_OK;
fail:
  ltr_free(m);
  return rc;
}

int ltr_save(const ltr_model *m, const char *path) {
  mf_section sec[6];
  char names[6][32];
  int n = ltr_sections(m, "", sec, names);
  return mf_write(path, "ltr", sec, n);
}

int ltr_load(const char *path, ltr_model **out, char *err, size_t errlen) {
  mf_file *f = NULL;
  int rc = mf_open(path, &f, err, errlen);
  if (rc)
    return rc;
  rc = ltr_from_file(f, "", out, err, errlen);
  mf_close(f);
  return rc;
}
