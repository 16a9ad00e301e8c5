/* Internal: the function table each model kind provides to the registry in model.c. */
#ifndef MR_MODEL_OPS_H
#define MR_MODEL_OPS_H

#include "models/model.h"

typedef struct rec_ops {
  const char *kind;
  int (*fit)(const rec_params *p, const rec_train_data *d, void **state);
  int (*score_user)(const void *state, int32_t user, float *scores);
  int (*score_history)(const void *state, const int32_t *items, const float *ratings, int n,
                       float *scores);
  /* NULL for a kind without a single-file form (two_stage saves as parts) */
  int (*save)(const void *state, const char *path);
  int (*load)(const char *path, void **state, char *err, size_t errlen);
  int32_t (*n_items)(const void *state);
  void (*free)(void *state);
  /* optional (NULL when the kind has none) */
  int (*item_embeddings)(const void *state, const float **emb, int *dim);
  /* scores of items[0..n) only (user >= 0: a training user, else the history h_* as of ref_ts),
   * equal to the full scorers' values at those items; scratch has n_items floats */
  int (*score_items)(const void *state, int32_t user, const int32_t *h_items,
                     const float *h_ratings, int n_h, int64_t ref_ts, const int32_t *items, int n,
                     float *out, float *scratch);
  /* score_history as of reference time ref_ts (kinds with popularity-derived signals; the
   * others ignore time and score_history stands in) */
  int (*score_history_at)(const void *state, const int32_t *items, const float *ratings, int n,
                          int64_t ref_ts, float *scores);
} rec_ops;

/* Wraps a state built outside rec_fit/rec_load (composite models assembled from parts). On
 * failure the state is freed with ops->free. */
int rec_wrap_state(const rec_ops *ops, void *state, rec_model **out);

/* The state of m when m is of kind `kind`, else NULL (for kind-specific accessors). */
void *rec_state_of(const rec_model *m, const char *kind);

/* Writes a formatted message into err when err is non-NULL. */
void rec_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
