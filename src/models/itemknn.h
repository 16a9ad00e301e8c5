/* Item-item k-nearest-neighbour recommender: cosine similarity between item columns of the
 * train matrix (optionally shrunk), top-K neighbours kept per item, scores summed over a user's
 * items. */
#ifndef MR_ITEMKNN_H
#define MR_ITEMKNN_H

#include <stddef.h>
#include <stdint.h>

#include "data/csr.h"

typedef struct itemknn_opts {
  int k;         /* neighbours kept per item (default 100) */
  double shrink; /* sim = dot / (|x_i| |x_j| + shrink); 0 = plain cosine (default 0) */
  int weighting; /* 0: x_ui = 1 for every rating (default); 1: x_ui = the rating */
} itemknn_opts;

void itemknn_opts_default(itemknn_opts *o);

typedef struct itemknn_model itemknn_model;

/* Fits on ui (users x items, values = ratings): for every item i, sim(i, j) over all j != i
 * with a common user, keeping the K largest (ties by lower j) in descending order. Rows are
 * computed independently (OpenMP over items), so the result is identical for any thread count.
 * The model keeps a copy of ui's rows; ui is not referenced after the call. *out is owned by the
 * caller (itemknn_free). */
int itemknn_fit(const itemknn_opts *o, const csr *ui, itemknn_model **out);
/* Frees the model; accepts NULL. */
void itemknn_free(itemknn_model *m);

int32_t itemknn_n_users(const itemknn_model *m);
int32_t itemknn_n_items(const itemknn_model *m);
const itemknn_opts *itemknn_get_opts(const itemknn_model *m);

/* Item i's neighbour list: *count entries of neighbour indexes and similarities, sorted by
 * similarity descending (ties by lower index). The arrays are borrowed, valid until
 * itemknn_free. MR_ERANGE for i outside the model. */
int itemknn_neighbors(const itemknn_model *m, int32_t i, const int32_t **idx, const float **sim,
                      int *count);
/* S[i][j]: the similarity of j in i's neighbour list, 0 when j is not among i's top K (so S is
 * not symmetric after truncation). 0 for out-of-range indexes. */
float itemknn_similarity(const itemknn_model *m, int32_t i, int32_t j);

/* scores[i] = sum over the training user's items j of x_uj S[j][i], i.e. the neighbour lists of
 * the user's items added up (n_items floats). MR_ERANGE for a user outside the model. */
int itemknn_score_user(const itemknn_model *m, int32_t user, float *scores);
/* The same for an arbitrary history (n may be 0, giving all zeros); ratings may be NULL when
 * weighting is 0. */
int itemknn_score_history(const itemknn_model *m, const int32_t *items, const float *ratings, int n,
                          float *scores);

/* Scores of items[0..n) only, equal to itemknn_score_user (user >= 0) or
 * itemknn_score_history (user < 0) at those items; scratch has n_items floats. */
int itemknn_score_items(const itemknn_model *m, int32_t user, const int32_t *hist,
                        const float *ratings, int n_h, const int32_t *items, int n, float *out,
                        float *scratch);

/* Saves through modelfile, kind "itemknn": neighbour indexes (i32, n_items x K, -1 padded),
 * similarities (f32), counts, user rows and options. */
int itemknn_save(const itemknn_model *m, const char *path);
/* Loads and verifies a file written by itemknn_save (copied out of the mapping). err (may be
 * NULL) gets a message on failure. *out is owned by the caller. */
int itemknn_load(const char *path, itemknn_model **out, char *err, size_t errlen);

#endif
