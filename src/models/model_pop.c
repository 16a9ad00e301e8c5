/* "pop": most-rated movies in train; the non-personalized baseline and the cold-start fallback. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "models/model.h"
#include "models/model_ops.h"
#include "models/modelfile.h"

typedef struct pop_state {
  int32_t n_items;
  float *counts;
} pop_state;

static void pop_free(void *state) {
  pop_state *s = state;
  if (!s)
    return;
  free(s->counts);
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
  for (int32_t i = 0; i < d->iu->n_rows; i++)
    s->counts[i] = (float)(d->iu->indptr[i + 1] - d->iu->indptr[i]);
  *state = s;
  return MR_OK;
}

static int pop_score_history(const void *state, const int32_t *items, const float *ratings, int n,
                             float *scores) {
  (void)items;
  (void)ratings;
  (void)n;
  const pop_state *s = state;
  memcpy(scores, s->counts, (size_t)s->n_items * sizeof(float));
  return MR_OK;
}

static int pop_score_user(const void *state, int32_t user, float *scores) {
  (void)user;
  return pop_score_history(state, NULL, NULL, 0, scores);
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
    .save = pop_save,
    .load = pop_load,
    .n_items = pop_n_items,
    .free = pop_free,
};
