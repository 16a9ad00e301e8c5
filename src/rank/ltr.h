/* LambdaMART ranker: trained with XGBoost's C API (rank:ndcg, hist), served by a flattened,
 * cache-friendly tree evaluator that is checked against XGBoost's own predictions. */
#ifndef MR_LTR_H
#define MR_LTR_H

#include <stddef.h>
#include <stdint.h>

typedef struct ltr_opts {
  int trees;              /* boosting rounds (upper bound with early stopping), default 300 */
  int max_depth;          /* default 6 */
  float eta;              /* learning rate, default 0.05 */
  float subsample;        /* row subsample, default 0.8 */
  float colsample;        /* column subsample per tree, default 0.8 */
  float min_child_weight; /* default 1 */
  float lambda;           /* L2 on leaf weights, default 1 */
  int early_stopping;     /* rounds without validation improvement before stopping; 0 = off */
  uint64_t seed;          /* default 42 */
  int threads;            /* 0 = all cores */
} ltr_opts;

void ltr_opts_default(ltr_opts *o);

/* A ranking data set: row-major X (n_rows x n_features, NaN = missing), graded labels, and
 * query groups of consecutive rows (group_sizes sum to n_rows). Borrowed by the calls below. */
typedef struct ltr_data {
  const float *x;
  const float *labels;
  const uint32_t *group_sizes;
  int64_t n_rows;
  int n_features;
  int n_groups;
} ltr_data;

typedef struct ltr_model ltr_model;

/* Trains on train; valid (may be NULL) is used for early stopping on nDCG@10. The feature names
 * (n_features strings, may be NULL) are stored in the model. err gets XGBoost's message. */
int ltr_train(const ltr_opts *o, const ltr_data *train, const ltr_data *valid,
              const char *const *feature_names, ltr_model **out, char *err, size_t errlen);
void ltr_free(ltr_model *m);

int ltr_n_features(const ltr_model *m);
int ltr_n_trees(const ltr_model *m);

/* Scores n_rows rows of x with the flattened trees (thread-safe, no allocation): forests up to
 * depth 8 are padded to perfect trees and walked branch-free, 64 rows at a time with AVX-512
 * gathers where the build targets it. */
void ltr_predict(const ltr_model *m, const float *x, int64_t n_rows, float *out);
/* The other walks, bit-identical to ltr_predict, for the tests: the portable perfect-tree walk
 * and the plain node walk. */
void ltr_predict_portable(const ltr_model *m, const float *x, int64_t n_rows, float *out);
void ltr_predict_nodes(const ltr_model *m, const float *x, int64_t n_rows, float *out);
/* The same through XGBoost's predictor, for checking; out gets n_rows margins. */
int ltr_predict_xgboost(const ltr_model *m, const float *x, int64_t n_rows, float *out);

/* Gain importance per feature (n_features doubles, summing to 1 unless all zero). */
int ltr_importance(const ltr_model *m, double *gain);

/* Saves the XGBoost model (JSON) and the flattened trees through modelfile (kind "ltr") /
 * loads and verifies them. */
int ltr_save(const ltr_model *m, const char *path);
int ltr_load(const char *path, ltr_model **out, char *err, size_t errlen);

/* Section-level helpers so a composite model file can embed the ranker: */
struct mf_section;
/* Fills up to 6 sections (prefix + name) describing m; returns the count. The section data
 * borrows from m. */
int ltr_sections(const ltr_model *m, const char *prefix, struct mf_section *sec, char names[][32]);
struct mf_file;
int ltr_from_file(const struct mf_file *f, const char *prefix, ltr_model **out, char *err,
                  size_t errlen);

#endif
