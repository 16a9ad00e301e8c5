/* "gcn" and "gems" in the model registry: LightGCN candidates, and the same model scored with a
 * popularity penalty (Hidden Gems section). Both share one state (gcn_model) and one file
 * format; the file's kind says which scorer a loaded model uses. The popularity behind the
 * penalty and behind the empty-history fallback is taken as of the user's reference time
 * (model.h) when the model was fitted under per-user times. */
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "data/asof.h"
#include "models/gcn.h"
#include "models/model.h"
#include "models/model_ops.h"

typedef struct gcn_reg {
  gcn_model *m;
  asof_index *asof; /* NULL: popularity as of the end of the data (loaded, or not per-user) */
  int64_t *ref;     /* n_users reference times, with asof */
  int32_t n_users;
} gcn_reg;

static void gcn_reg_free(void *state) {
  gcn_reg *r = state;
  if (!r)
    return;
  gcn_free(r->m);
  asof_free(r->asof);
  free(r->ref);
  free(r);
}

/* popz as of ref_ts into popz[n_items] when that excludes ratings; else NULL (the model's). */
static int gcn_reg_popz_at(const gcn_reg *r, int64_t ref_ts, float *popz, const float **out) {
  *out = gcn_item_popz(r->m);
  if (!r->asof || ref_ts >= asof_end(r->asof)) {
    if (!r->asof && ref_ts != REC_REF_END)
      return MR_EUNSUPPORTED; /* a loaded model keeps only the end-of-data popularity */
    return MR_OK;
  }
  asof_count_all(r->asof, ref_ts, popz, NULL);
  gcn_popz_from_counts(gcn_n_items(r->m), popz, popz);
  *out = popz;
  return MR_OK;
}

static int gcn_reg_wrap(gcn_model *m, gcn_reg **out) {
  gcn_reg *r = calloc(1, sizeof(*r));
  if (!r) {
    gcn_free(m);
    return MR_ENOMEM;
  }
  r->m = m;
  *out = r;
  return MR_OK;
}

static int gcn_reg_fit(const rec_params *p, const rec_train_data *d, void **state) {
  gcn_opts o;
  gcn_model *m = NULL;
  gcn_reg *r = NULL;
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
  if (rc || (rc = gcn_reg_wrap(m, &r)))
    return rc;
  if (rec_ref_per_user(d)) {
    r->n_users = d->ui->n_rows;
    if (!(r->ref = malloc(((size_t)r->n_users + 1) * sizeof(int64_t)))) {
      gcn_reg_free(r);
      return MR_ENOMEM;
    }
    if ((rc = asof_create(d->ratings, d->n_ratings, gcn_n_items(m), &r->asof)) ||
        (rc = asof_user_ref(d->ratings, d->n_ratings, r->n_users, 1, r->ref))) {
      gcn_reg_free(r);
      return rc;
    }
  }
  *state = r;
  return MR_OK;
}

static int gcn_reg_score_user(const void *state, int32_t user, float *scores) {
  return gcn_score_user(((const gcn_reg *)state)->m, user, scores);
}

/* Empty history (or only ratings below min_rating): nothing to personalize from, so both
 * scorers fall back to popularity order as of ref_ts (the cold-start models own that case). */
static int gcn_reg_history(const gcn_reg *r, const int32_t *items, const float *ratings, int n,
                           int64_t ref_ts, int gems, float *scores) {
  const gcn_model *m = r->m;
  int32_t ni = gcn_n_items(m);
  float *x = malloc((size_t)gcn_dim(m) * sizeof(float));
  float *popz = malloc(((size_t)ni + 1) * sizeof(float));
  const float *pz = NULL;
  int rc = x && popz ? gcn_reg_popz_at(r, ref_ts, popz, &pz) : MR_ENOMEM;
  if (!rc) {
    rc = gcn_user_from_history(m, items, ratings, n, x);
    if (rc == MR_EEMPTY) {
      memcpy(scores, pz, (size_t)ni * sizeof(float));
      rc = MR_OK;
    } else if (!rc && !(rc = gcn_score_vector(m, x, scores)) && gems) {
      gcn_gems_adjust_with(ni, pz, gcn_gems_beta(m), scores);
    }
  }
  free(x);
  free(popz);
  return rc;
}

static int gcn_reg_score_history_at(const void *state, const int32_t *items, const float *ratings,
                                    int n, int64_t ref_ts, float *scores) {
  return gcn_reg_history(state, items, ratings, n, ref_ts, 0, scores);
}

static int gcn_reg_score_history(const void *state, const int32_t *items, const float *ratings,
                                 int n, float *scores) {
  return gcn_reg_history(state, items, ratings, n, REC_REF_END, 0, scores);
}

static int gcn_reg_save(const void *state, const char *path) {
  return gcn_save(((const gcn_reg *)state)->m, path, "gcn");
}

static int gcn_reg_load(const char *path, void **state, char *err, size_t errlen) {
  gcn_model *m = NULL;
  gcn_reg *r = NULL;
  int rc = gcn_load(path, &m, err, errlen);
  if (rc || (rc = gcn_reg_wrap(m, &r)))
    return rc;
  *state = r;
  return MR_OK;
}

static int32_t gcn_reg_n_items(const void *state) {
  return gcn_n_items(((const gcn_reg *)state)->m);
}

static int gems_reg_score_user(const void *state, int32_t user, float *scores) {
  const gcn_reg *r = state;
  if (!r->ref)
    return gcn_score_gems(r->m, user, gcn_gems_beta(r->m), scores);
  if (user < 0 || user >= r->n_users)
    return MR_ERANGE;
  int32_t ni = gcn_n_items(r->m);
  float *popz = malloc(((size_t)ni + 1) * sizeof(float));
  const float *pz = NULL;
  int rc = popz ? gcn_reg_popz_at(r, r->ref[user], popz, &pz) : MR_ENOMEM;
  if (!rc && !(rc = gcn_score_user(r->m, user, scores)))
    gcn_gems_adjust_with(ni, pz, gcn_gems_beta(r->m), scores);
  free(popz);
  return rc;
}

static int gems_reg_score_history_at(const void *state, const int32_t *items, const float *ratings,
                                     int n, int64_t ref_ts, float *scores) {
  return gcn_reg_history(state, items, ratings, n, ref_ts, 1, scores);
}

static int gems_reg_score_history(const void *state, const int32_t *items, const float *ratings,
                                  int n, float *scores) {
  return gcn_reg_history(state, items, ratings, n, REC_REF_END, 1, scores);
}

static int gems_reg_save(const void *state, const char *path) {
  return gcn_save(((const gcn_reg *)state)->m, path, "gems");
}

static int gcn_reg_score_items(const void *state, int32_t user, const int32_t *h_items,
                               const float *h_ratings, int n_h, int64_t ref_ts,
                               const int32_t *items, int n, float *out, float *scratch) {
  const gcn_reg *r = state;
  (void)scratch;
  /* an empty history scores popularity: the full scorer knows the time */
  if (user < 0 && ref_ts != REC_REF_END) {
    int rc = gcn_reg_history(r, h_items, h_ratings, n_h, ref_ts, 0, scratch);
    for (int k = 0; !rc && k < n; k++)
      out[k] = scratch[items[k]];
    return rc;
  }
  return gcn_score_items(r->m, user, h_items, h_ratings, n_h, items, n, out);
}

/* Final item embeddings, for features of the ranker and similar-movie lookups. */
static int gcn_reg_item_embeddings(const void *state, const float **emb, int *dim) {
  const gcn_reg *r = state;
  *emb = gcn_item_emb(r->m);
  *dim = gcn_dim(r->m);
  return MR_OK;
}

const gcn_model *gcn_of(const rec_model *m) {
  const gcn_reg *r = rec_state_of(m, "gcn");
  if (!r)
    r = rec_state_of(m, "gems");
  return r ? r->m : NULL;
}

const rec_ops rec_gcn_ops = {
    .kind = "gcn",
    .fit = gcn_reg_fit,
    .score_user = gcn_reg_score_user,
    .score_history = gcn_reg_score_history,
    .score_history_at = gcn_reg_score_history_at,
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
    .score_history_at = gems_reg_score_history_at,
    .save = gems_reg_save,
    .load = gcn_reg_load,
    .n_items = gcn_reg_n_items,
    .free = gcn_reg_free,
    .item_embeddings = gcn_reg_item_embeddings,
};
