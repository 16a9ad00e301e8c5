/* LambdaMART through XGBoost's C API; prediction by our own flattened trees (no per-call
 * allocation, thread-safe), checked against XGBoost in the tests. */
#include "rank/ltr.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

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
};

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

/* A JSON node index or feature id as an int: -1 for anything that is not an integer in
 * [-1, INT32_MAX] (a cast of a larger or non-finite double is undefined). */
static int ltr_json_index(const json_t *v) {
  double d = ltr_json_num(v);
  return d >= -1.0 && d <= (double)INT32_MAX && d == (double)(int)d ? (int)d : -2;
}

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
  rc = MR_OK;
done:
  json_decref(root);
  return rc;
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

void ltr_predict(const ltr_model *m, const float *x, int64_t n_rows, float *out) {
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
