/* "pop": most-rated movies in train, as of the user's reference time (model.h); the
 * non-personalized baseline and the cold-start fallback. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "data/asof.h"
#include "models/model.h"
#include "models/model_ops.h"
#include "models/modelfile.h"

typedef struct pop_state {
  int32_t n_items, n_users;
  float *counts; /* at the end of the fit data */
  /* fitted under per-user reference times: the counts over time and each user's time (a loaded
   * model has neither and counts as of the end) */
  asof_index *asof;
  int64_t *ref;
} pop_state;

static void pop_free(void *state) {
  pop_state *s = state;
  if (!s)
    return;
  free(s->counts);
  asof_free(s->asof);
  free(s->ref);
  free(s);
}

static int pop_alloc(int32_t n_items, pop_state **out) {
  pop_state *s = calloc(1, sizeof(*s));
  if (!s)
    return MR_ENOMEM;
  s->n_items = n_items;
  s->counts = calloc((size_t)n_items + 1, sizeof(float));
  if (!s->counts) {
    free(s);
    return MR_ENOMEM;
  }
  *out = s;
  return MR_OK;
}

static int pop_fit(const rec_params *p, const rec_train_data *d, void **state) {
  (void)p;
  pop_state *s = NULL;
  int rc = pop_alloc(d->iu->n_rows, &s);
  if (rc)
    return rc;
  s->n_users = d->ui->n_rows;
  for (int32_t i = 0; i < d->iu->n_rows; i++)
    s->counts[i] = (float)(d->iu->indptr[i + 1] - d->iu->indptr[i]);
  if (rec_ref_per_user(d)) {
    if (!(s->ref = malloc(((size_t)s->n_users + 1) * sizeof(int64_t)))) {
      rc = MR_ENOMEM;
      goto fail;
    }
    if ((rc = asof_create(d->ratings, d->n_ratings, s->n_items, &s->asof)) ||
        (rc = asof_user_ref(d->ratings, d->n_ratings, s->n_users, 1, s->ref)))
      goto fail;
  }
  *state = s;
  return MR_OK;
fail:
  pop_free(s);
  return rc;
}

/* Counts as of ref_ts: the stored end-of-data counts when nothing later is excluded. */
static int pop_scores_at(const pop_state *s, int64_t ref_ts, float *scores) {
  if (!s->asof || ref_ts >= asof_end(s->asof)) {
    if (!s->asof && ref_ts != REC_REF_END)
      return MR_EUNSUPPORTED; /* a loaded model keeps only the end-of-data counts */
    memcpy(scores, s->counts, (size_t)s->n_items * sizeof(float));
    return MR_OK;
  }
  asof_count_all(s->asof, ref_ts, scores, NULL);
  return MR_OK;
}

static int pop_score_history_at(const void *state, const int32_t *items, const float *ratings,
                                int n, int64_t ref_ts, float *scores) {
  (void)items;
  (void)ratings;
  (void)n;
  return pop_scores_at(state, ref_ts, scores);
}

static int pop_score_history(const void *state, const int32_t *items, const float *ratings, int n,
                             float *scores) {
  return pop_score_history_at(state, items, ratings, n, REC_REF_END, scores);
}

static int pop_score_user(const void *state, int32_t user, float *scores) {
  const pop_state *s = state;
  if (user < 0 || (s->ref && user >= s->n_users))
    return MR_ERANGE;
  return pop_scores_at(s, s->ref ? s->ref[user] : REC_REF_END, scores);
}

static int pop_save(const void *state, const char *path) {
  const pop_state *s = state;
  mf_section sec = {"item_scores", MF_F32, 1, (uint64_t)s->n_items, s->counts};
  return mf_write(path, "pop", &sec, 1);
}

static int pop_load(const char *path, void **state, char *err, size_t errlen) {
  mf_file *f = NULL;
  pop_state *s = NULL;
  const void *data;
  uint64_t rows, cols;
  int rc = mf_open(path, &f, err, errlen);
  if (rc)
    return rc;
  if ((rc = mf_get(f, "item_scores", MF_F32, &data, &rows, &cols)) != MR_OK || rows != 1 ||
      cols == 0 || cols > INT32_MAX) {
    rec_set_err(err, errlen, "%s: missing or malformed section item_scores", path);
    rc = rc ? rc : MR_EFORMAT;
    goto fail;
  }
  if ((rc = pop_alloc((int32_t)cols, &s)) != MR_OK)
    goto fail;
  memcpy(s->counts, data, cols * sizeof(float));
  mf_close(f);
  *state = s;
  return MR_OK;
fail:
  mf_close(f);
  return rc;
}

static int32_t pop_n_items(const void *state) {
  return ((const pop_state *)state)->n_items;
}

const rec_ops rec_pop_ops = {
    .kind = "pop",
    .fit = pop_fit,
    .score_user = pop_score_user,
    .score_history = pop_score_history,
    .score_history_at = pop_score_history_at,
    .save = pop_save,
    .load = pop_load,
    .n_items = pop_n_items,
    .free = pop_free,
};
