/* Top-k ranking metrics for offline evaluation (binary and graded relevance). */
#ifndef MR_METRICS_H
#define MR_METRICS_H

#include <stdint.h>

/* Per-user or averaged metrics at k. */
typedef struct metrics_row {
  double precision;       /* hits / k */
  double recall;          /* hits / |test| */
  double ndcg;            /* binary gain, ideal = min(k, |test|) ones */
  double graded_ndcg;     /* gain = rating, ideal = the user's top-k test ratings */
  double precision_liked; /* hits with rating >= 4, / k */
  double map;             /* sum of precision@i at hits / min(k, |test|) */
} metrics_row;

/* Metrics of one user's ranked list recs[0..n_recs) (n_recs <= k; missing slots count as
 * misses) against the user's test items/ratings (test_items need not be sorted). */
void metrics_user(const int32_t *recs, int n_recs, int k, const int32_t *test_items,
                  const float *test_ratings, int n_test, metrics_row *out);

/* Accumulates per-user rows and the set of recommended items for coverage. */
typedef struct metrics_acc metrics_acc;

int metrics_acc_create(int32_t n_items, int k, metrics_acc **out);
void metrics_acc_free(metrics_acc *a);
/* Adds one user's list and test set. */
void metrics_acc_add(metrics_acc *a, const int32_t *recs, int n_recs, const int32_t *test_items,
                     const float *test_ratings, int n_test);
/* Means over users added so far; coverage = distinct recommended items / n_items. */
void metrics_acc_result(const metrics_acc *a, metrics_row *mean, double *coverage, long *n_users);

#endif
