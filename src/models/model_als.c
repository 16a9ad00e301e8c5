/* "als" in the model registry: implicit ALS with fold-in for histories (real-time path). */
#include <stdlib.h>

#include "core/mr_error.h"
#include "models/als.h"
#include "models/model.h"
#include "models/model_ops.h"

static int als_reg_fit(const rec_params *p, const rec_train_data *d, void **state) {
  als_opts o;
  als_model *m = NULL;
  als_opts_default(&o);
  o.factors = (int)rec_params_get(p, "factors", o.factors);
  o.iterations = (int)rec_params_get(p, "iterations", o.iterations);
  o.cg_steps = (int)rec_params_get(p, "cg_steps", o.cg_steps);
  o.reg = (float)rec_params_get(p, "reg", o.reg);
  o.alpha = (float)rec_params_get(p, "alpha", o.alpha);
  o.seed = (uint64_t)rec_params_get(p, "seed", (double)o.seed);
  int rc = als_fit(&o, d->ui, d->iu, &m);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}

static int als_reg_score_user(const void *state, int32_t user, float *scores) {
  return als_score_user(state, user, scores);
}

static int als_reg_score_history(const void *state, const int32_t *items, const float *ratings,
                                 int n, float *scores) {
  const als_model *m = state;
  float *x = malloc((size_t)als_factors(m) * sizeof(float));
  if (!x)
    return MR_ENOMEM;
  int rc = als_fold_in(m, items, ratings, n, x);
  if (!rc)
    rc = als_score_vector(m, x, scores);
  free(x);
  return rc;
}

static int als_reg_save(const void *state, const char *path) {
  return als_save(state, path);
}

static int als_reg_load(const char *path, void **state, char *err, size_t errlen) {
  als_model *m = NULL;
  int rc = als_load(path, &m, err, errlen);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}

static int32_t als_reg_n_items(const void *state) {
  return als_n_items(state);
}
static void als_reg_free(void *state) {
  als_free(state);
}

const rec_ops rec_als_ops = {
    .kind = "als",
    .fit = als_reg_fit,
    .score_user = als_reg_score_user,
    .score_history = als_reg_score_history,
    .save = als_reg_save,
    .load = als_reg_load,
    .n_items = als_reg_n_items,
    .free = als_reg_free,
};
