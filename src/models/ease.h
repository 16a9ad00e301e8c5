/* EASE^R (Steck 2019): a closed-form item-item linear autoencoder, B = I - P / diag(P) with
 * P = (X^T X + lambda I)^-1, so that a user's scores are x_u B. */
#ifndef MR_EASE_H
#define MR_EASE_H

#include <stddef.h>
#include <stdint.h>

#include "data/csr.h"

typedef struct ease_opts {
  double lambda; /* L2 regularization on B, added to the diagonal of the Gram matrix (500) */
  int weighting; /* 0: x_ui = 1 for every rating (default); 1: x_ui = the rating */
} ease_opts;

void ease_opts_default(ease_opts *o);

typedef struct ease_model ease_model;

/* Fits on ui (users x items, values = ratings). The Gram matrix and its inverse are computed in
 * float64 (Cholesky: dpotrf + dpotri) and B is kept as float32. The model keeps a copy of ui's
 * rows so training users can be scored; ui is not referenced after the call. Memory is dense in
 * the item count (8 n^2 bytes while fitting, 4 n^2 kept): meant for catalogues up to ~20k items.
 * Returns MR_EINVAL for bad options or shapes, MR_ENUMERIC when the factorization fails or yields
 * non-finite values. *out is owned by the caller (ease_free). */
int ease_fit(const ease_opts *o, const csr *ui, ease_model **out);
/* Frees the model; accepts NULL. */
void ease_free(ease_model *m);

int32_t ease_n_users(const ease_model *m);
int32_t ease_n_items(const ease_model *m);
const ease_opts *ease_get_opts(const ease_model *m);
/* Row-major n_items x n_items B (B[i * n + j]: weight of item i's presence on item j's score;
 * zero diagonal). Valid until ease_free. */
const float *ease_weights(const ease_model *m);

/* scores[j] = sum over the training user's items i of x_ui B[i][j] (n_items floats).
 * MR_ERANGE for a user outside the model. */
int ease_score_user(const ease_model *m, int32_t user, float *scores);
/* The same for an arbitrary history (items with their ratings; n may be 0, giving all zeros).
 * Items outside the model give MR_ERANGE; ratings may be NULL when weighting is 0. */
int ease_score_history(const ease_model *m, const int32_t *items, const float *ratings, int n,
                       float *scores);

/* Scores of items[0..n) only, equal to ease_score_user (user >= 0) or ease_score_history
 * (user < 0, the history hist/ratings/n_h) at those items. */
int ease_score_items(const ease_model *m, int32_t user, const int32_t *hist, const float *ratings,
                     int n_h, const int32_t *items, int n, float *out, float *scratch);

/* Saves through modelfile, kind "ease": B (f32), user rows (i32 indptr/indices, f32 ratings) and
 * the options. The number of stored ratings must fit in int32. */
int ease_save(const ease_model *m, const char *path);
/* Loads and verifies a file written by ease_save; everything is copied out of the mapping, and
 * the training users' score rows are computed for serving (models/user_rows.h).
 * err (may be NULL) gets a message on failure. *out is owned by the caller. */
int ease_load(const char *path, ease_model **out, char *err, size_t errlen);

#endif
