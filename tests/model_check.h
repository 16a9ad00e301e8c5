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
  /* the history at the end of the data and at time 0 (before every rating: a model with
   * popularity-derived scores must then count nothing, or refuse when it was loaded) */
  const int64_t refs[2] = {REC_REF_END, 0};
  for (int32_t u = -2; u < n_users; u++) {
    int64_t ref = u < 0 ? refs[u + 2] : REC_REF_END;
    int rc_full = u >= 0 ? rec_score_user(m, u, full)
                         : rec_score_history_at(m, hist, ratings, n_h, ref, full);
    int rc = rec_score_items(m, u < 0 ? -1 : u, hist, ratings, n_h, ref, items, n, got, scratch);
    assert_int_equal(rc, rc_full);
    if (u == -2)
      assert_int_equal(rc, 0);
    if (rc)
      continue;
    for (int k = 0; k < n; k++)
      assert_true(got[k] == full[items[k]] ||
                  fabsf(got[k] - full[items[k]]) <= 1e-6f * (1.0f + fabsf(full[items[k]])));
  }
  items[0] = ni; /* out of range */
  assert_int_not_equal(
      rec_score_items(m, 0, hist, ratings, n_h, REC_REF_END, items, 1, got, scratch), 0);
  free(full);
  free(scratch);
  free(got);
  free(items);
}

#endif
