/* "gcn" and "gems" in the model registry: LightGCN candidates, and the same model scored with a
 * popularity penalty (Hidden Gems section). Both share one state (gcn_model) and one file
 * format; the file's kind says which scorer a loaded model uses. */
#include <stdlib.h>

#include "core/mr_error.h"
#include "models/gcn.h"
#include "models/model.h"
#include "models/model_ops.h"

static int gcn_reg_fit(const rec_params *p, const rec_train_data *d, void **state) {
  gcn_opts o;
  gcn_model *m = NULL;
  gcn_opts_default(&o);
  o.dim = (int)rec_params_get(p, "dim", o.dim);
  o.layers = (int)rec_params_get(p, "layers", o.layers);
  o.epochs = (int)rec_params_get(p, "epochs", o.epochs);
  o.batch_size = (int)rec_params_get(p, "batch", o.batch_size);
  o.lr = (float)rec_params_get(p, "lr", o.lr);
  o.reg = (float)rec_params_get(p, "reg", o.reg);
  o.min_rating = (float)rec_params_get(p, "min_rating", o.min_rating);
  o.init_std = (float)rec_params_get(p, "init_std", o.init_std);
  o.gems_beta = (float)rec_params_get(p, "beta", o.gems_beta);
  o.seed = (uint64_t)rec_params_get(p, "seed", (double)o.seed);
  o.threads = (int)rec_params_get(p, "threads", o.threads);
  int rc = gcn_fit(&o, d->ui, &m);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}

static int gcn_reg_score_user(const void *state, int32_t user, float *scores) {
  return gcn_score_user(state, user, scores);
}

/* Empty history (or only ratings below min_rating): nothing to personalize from, so both
 * scorers fall back to popularity order (the cold-start models own that case). */
static int gcn_reg_history(const gcn_model *m, const int32_t *items, const float *ratings, int n,
                           float *scores, int *empty) {
  float *x = malloc((size_t)gcn_dim(m) * sizeof(float));
  if (!x)
    return MR_ENOMEM;
  int rc = gcn_user_from_history(m, items, ratings, n, x);
  *empty = rc == MR_EEMPTY;
  if (*empty) {
    const float *pz = gcn_item_popz(m);
    for (int32_t i = 0; i < gcn_n_items(m); i++)
      scores[i] = pz[i];
    rc = MR_OK;
  } else if (!rc) {
    rc = gcn_score_vector(m, x, scores);
  }
  free(x);
  return rc;
}

static int gcn_reg_score_history(const void *state, const int32_t *items, const float *ratings,
                                 int n, float *scores) {
  int empty;
  return gcn_reg_history(state, items, ratings, n, scores, &empty);
}

static int gcn_reg_save(const void *state, const char *path) {
  return gcn_save(state, path, "gcn");
}

static int gcn_reg_load(const char *path, void **state, char *err, size_t errlen) {
  gcn_model *m = NULL;
  int rc = gcn_load(path, &m, err, errlen);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}

static int32_t gcn_reg_n_items(const void *state) {
  return gcn_n_items(state);
}
static void gcn_reg_free(void *state) {
  gcn_free(state);
}

static int gems_reg_score_user(const void *state, int32_t user, float *scores) {
  const gcn_model *m = state;
  return gcn_score_gems(m, user, gcn_gems_beta(m), scores);
}

static int gems_reg_score_history(const void *state, const int32_t *items, const float *ratings,
                                  int n, float *scores) {
  const gcn_model *m = state;
  int empty;
  int rc = gcn_reg_history(m, items, ratings, n, scores, &empty);
  if (!rc && !empty)
    gcn_gems_adjust(m, gcn_gems_beta(m), scores);
  return rc;
}

static int gems_reg_save(const void *state, const char *path) {
  return gcn_save(state, path, "gems");
}

static int gcn_reg_score_items(const void *state, int32_t user, const int32_t *h_items,
                               const float *h_ratings, int n_h, const int32_t *items, int n,
                               float *out, float *scratch) {
  (void)scratch;
  return gcn_score_items(state, user, h_items, h_ratings, n_h, items, n, out);
}

/* Final item embeddings, for features of the ranker and similar-movie lookups. */
static int gcn_reg_item_embeddings(const void *state, const float **emb, int *dim) {
  *emb = gcn_item_emb(state);
  *dim = gcn_dim(state);
  return MR_OK;
}

const rec_ops rec_gcn_ops = {
    .kind = "gcn",
    .fit = gcn_reg_fit,
    .score_user = gcn_reg_score_user,
    .score_history = gcn_reg_score_history,
    .save = gcn_reg_save,
    .load = gcn_reg_load,
    .n_items = gcn_reg_n_items,
    .free = gcn_reg_free,
    .item_embeddings = gcn_reg_item_embeddings,
    .score_items = gcn_reg_score_items,
};
const rec_ops rec_gems_ops = {
    .kind = "gems",
    .fit = gcn_reg_fit,
    .score_user = gems_reg_score_user,
    .score_history = gems_reg_score_history,
    .save = gems_reg_save,
    .load = gcn_reg_load,
    .n_items = gcn_reg_n_items,
    .free = gcn_reg_free,
    .item_embeddings = gcn_reg_item_embeddings,
};
