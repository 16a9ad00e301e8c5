/* Score rows of every training user of a linear model (EASE, item-kNN), computed once when the
 * model is loaded for serving: a training user's request then reads its row instead of summing
 * hundreds of item rows. Users with live ratings take the history path. */
#ifndef MR_USER_ROWS_H
#define MR_USER_ROWS_H

#include <stdint.h>

/* Rows are kept only up to this many floats (256 MiB); bigger models score on demand. */
#define UROWS_MAX_FLOATS ((int64_t)1 << 26)

typedef int (*urows_score_fn)(const void *model, int32_t user, float *scores);

/* Fills *out (malloc'ed n_users x n_items, row-major) with score(model, u) for every user, in
 * parallel; *out = NULL (and MR_OK) when the matrix would exceed UROWS_MAX_FLOATS. */
int urows_build(const void *model, urows_score_fn score, int32_t n_users, int32_t n_items,
                float **out);

#endif
