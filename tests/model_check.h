/* Shared cmocka check for model kinds with a candidate scorer: rec_score_items must give the
 * full scorers' values at the asked items, for training users and for a history. Include after
 * cmocka.h. */
#ifndef MR_TEST_MODEL_CHECK_H
#define MR_TEST_MODEL_CHECK_H

#include <stdlib.h>

#include "models/model.h"

static void check_score_items(const rec_model *m, int32_t n_users, const int32_t *hist,
                              const float *ratings, int n_h) {
  int32_t ni = rec_n_items(m);
  float *full = malloc((size_t)ni * sizeof(float)), *scratch = malloc((size_t)ni * sizeof(float));
  float *got = malloc((size_t)ni * sizeof(float));
  int32_t *items = malloc((size_t)ni * sizeof(int32_t));
  assert_non_null(full);
  assert_non_null(scratch);
  assert_non_null(got);
  assert_non_null(items);
  int n = 0;
  for (int32_t i = ni - 1; i >= 0; i -= 2) /* every other item, in reverse order */
    items[n++] = i;
  for (int32_t u = -1; u < n_users; u++) {
    if (u >= 0)
      assert_int_equal(rec_score_user(m, u, full), 0);
    else
      assert_int_equal(rec_score_history(m, hist, ratings, n_h, full), 0);
    assert_int_equal(rec_score_items(m, u, hist, ratings, n_h, items, n, got, scratch), 0);
    for (int k = 0; k < n; k++)
      assert_true(got[k] == full[items[k]] ||
                  fabsf(got[k] - full[items[k]]) <= 1e-6f * (1.0f + fabsf(full[items[k]])));
  }
  items[0] = ni; /* out of range */
  assert_int_not_equal(rec_score_items(m, 0, hist, ratings, n_h, items, 1, got, scratch), 0);
  free(full);
  free(scratch);
  free(got);
  free(items);
}

#endif
