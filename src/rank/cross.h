/* Neural cross ranker: scores (user, candidate movie) pairs jointly. Each movie is a learned
 * embedding plus a projection of its side features (genres, content vector); the candidate
 * attends over the user's most recent rated movies (bilinear target attention); an MLP reads the
 * candidate, the attended history, their product and the candidate's standardized ranking
 * features. Trained with a listwise softmax loss per user group, hand-derived gradients, Adam,
 * OpenMP over the groups of a minibatch with one gradient slot per group (reduced in group order,
 * so results do not depend on the thread count). */
#ifndef MR_CROSS_H
#define MR_CROSS_H

#include <stddef.h>
#include <stdint.h>

typedef struct cross_opts {
  int dim;       /* embedding width, default 32 */
  int hidden;    /* MLP hidden units, default 64 */
  int max_hist;  /* most recent history movies attended over, default 50 */
  int epochs;    /* upper bound on epochs, default 30 */
  int patience;  /* epochs without held-out improvement before stopping, default 3 */
  int batch;     /* groups per minibatch, default 16 */
  float lr;      /* Adam step, default 2e-3 */
  float l2;      /* L2 penalty on every parameter, default 1e-5 */
  uint64_t seed; /* initialization and shuffling, default 42 */
  int threads;   /* 0 = OpenMP's default */
} cross_opts;

void cross_opts_default(cross_opts *o);

/* What the model is built for: n_items movies with n_side side features each (side: n_items x
 * n_side row-major, copied; NULL when n_side == 0) and n_feat dense features per candidate. */
typedef struct cross_shape {
  int32_t n_items;
  int n_side;
  const float *side;
  int n_feat;
} cross_shape;

/* One user's group. Every pointer is borrowed for the call. */
typedef struct cross_group {
  const int32_t *hist;       /* rated movies, oldest first; the last max_hist are used */
  const float *hist_ratings; /* their ratings (1-5, rounded); NULL: unknown */
  int n_hist;
  const int32_t *cands; /* candidate movies */
  const float *x;       /* n_cands x n_feat ranking features, NaN = missing */
  const float *y;       /* labels >= 0 (fit only; may be NULL for prediction) */
  int n_cands;
} cross_group;

typedef struct cross_model cross_model;
/* Per-thread scratch for prediction and gradients; grows with the largest group it has seen. */
typedef struct cross_ws cross_ws;

/* A model with freshly initialized parameters (seeded by o->seed) and identity feature scaling.
 * Returns MR_EINVAL on bad options or shape. */
int cross_create(const cross_opts *o, const cross_shape *shape, cross_model **out);
void cross_free(cross_model *m);

typedef struct cross_fit_info {
  int epochs_run, best_epoch; /* best_epoch is 1-based; 0 when no held-out groups */
  double best_valid_ndcg;     /* held-out mean nDCG@10 at best_epoch */
  double train_loss;          /* mean listwise loss over the last epoch */
  double seconds;
} cross_fit_info;

/* Fits the feature scaling on train's rows, then trains on train (groups whose labels sum to 0
 * are skipped). valid (may be NULL / 0) picks the epoch: training stops after o->patience epochs
 * without a better held-out nDCG@10 and the best parameters are kept. info may be NULL.
 * Returns MR_EINVAL for groups that do not fit the shape, MR_EEMPTY without a usable group,
 * MR_ENUMERIC when training diverges. */
int cross_fit(cross_model *m, const cross_group *train, int n_train, const cross_group *valid,
              int n_valid, cross_fit_info *info);

int cross_ws_create(const cross_model *m, cross_ws **out);
void cross_ws_free(cross_ws *w);

/* Scores g's candidates into out[0..n_cands). Thread-safe on one model with one ws per thread;
 * allocates only when g is larger than any group ws has seen. MR_ERANGE for a movie index out of
 * range. */
int cross_predict(const cross_model *m, cross_ws *ws, const cross_group *g, float *out);

int32_t cross_n_items(const cross_model *m);
int cross_n_feat(const cross_model *m);

/* Saves through modelfile (kind "cross") / loads and checks shapes. */
int cross_save(const cross_model *m, const char *path);
int cross_load(const char *path, cross_model **out, char *err, size_t errlen);

/* For the gradient tests: the parameters as one array (borrowed, writable; call
 * cross_params_changed after writing), their blocks, and the mean listwise loss over groups with
 * its gradient (grad: cross_n_params floats, overwritten; no L2 term). */
typedef struct cross_block {
  const char *name;
  size_t offset, size;
} cross_block;
size_t cross_n_params(const cross_model *m);
float *cross_params(cross_model *m);
void cross_params_changed(cross_model *m);
/* Fills up to 8 blocks, returns the count. */
int cross_blocks(const cross_model *m, cross_block *blocks);
int cross_loss_grad(const cross_model *m, cross_ws *ws, const cross_group *groups, int n,
                    double *loss, float *grad);

#endif
