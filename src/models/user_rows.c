/* Per-user score rows of linear models, built when a model is loaded for serving. */
#include "models/user_rows.h"

#include <stdlib.h>

#include "core/mr_error.h"

int urows_build(const void *model, urows_score_fn score, int32_t n_users, int32_t n_items,
                float **out) {
  *out = NULL;
  if (n_users <= 0 || n_items <= 0 || (int64_t)n_users * n_items > UROWS_MAX_FLOATS)
    return MR_OK;
  float *rows = malloc((size_t)n_users * (size_t)n_items * sizeof(float));
  if (!rows)
    return MR_ENOMEM;
  int failed = MR_OK;
#pragma omp parallel for schedule(dynamic, 16)
  for (int32_t u = 0; u < n_users; u++) {
    int rc = score(model, u, rows + (size_t)u * (size_t)n_items);
    if (rc) {
#pragma omp atomic write
      failed = rc;
    }
  }
  if (failed) {
    free(rows);
    return failed;
  }
  *out = rows;
  return MR_OK;
}
