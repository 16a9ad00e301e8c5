/* Content model ("content" kind): TF-IDF over each movie's text fields, truncated SVD to d
 * dimensions, cosine between a user's rating-weighted profile and each movie.
 *
 * Terms per movie, each with a field prefix and a field weight (parameters):
 *   g:<genre>            MovieLens genres (the data set merges IMDb's genre list into the
 *                        same bitmask)                                      w_genre  (1)
 *   w:<word>             description words: ASCII-lowercased, split at anything not a letter or
 *                        digit (bytes >= 0x80 stay inside words), length >= 2, no stop words
 *                                                                           w_desc   (1)
 *   dir:<name>           directors, names lowercased with non-alphanumerics -> '_'  w_dir (1)
 *   cast:<name>          the first cast_n billed actors (5)                 w_cast   (1)
 *   wri:<name>           writers                                            w_writer (1)
 *   age:<rating>         age rating ("age:pg-13")                           w_age    (0.5)
 *   dec:<decade>         release decade ("dec:1990")                        w_decade (0.5)
 * Terms in fewer than min_df (2) movies are dropped (they cannot make two movies similar, they
 * only dilute the norm). Weight of term t in movie j: field_weight * tf * idf(t), tf = raw count,
 * idf = ln((1 + N) / (1 + df)) + 1 (smoothed, as in scikit-learn); rows are L2-normalized.
 *
 * SVD: the rank-d truncated SVD X ~ U S V^T is taken from the eigendecomposition of the
 * movie Gram matrix X X^T = U S^2 U^T (N x N with N = movies, much smaller than the vocabulary),
 * with LAPACKE_ssyevr computing only the top d eigenpairs. Movie embedding = row of U_d S_d,
 * L2-normalized (so a dot product is a cosine).
 *
 * User profile = sum of w_i * e_i over the user's train movies, with w_i chosen by `wmode`:
 * 0: r_i - mean_u (centered), 1: r_i - 2.5 (default), 2: 1 (unweighted); a profile that comes out
 * (near) zero falls back to the unweighted sum. score = cosine(profile, e_i). */
#ifndef MR_CONTENT_H
#define MR_CONTENT_H

#include <stddef.h>
#include <stdint.h>

#include "models/model.h"

typedef struct content_opts {
  int dim;    /* SVD dimensions d (64) */
  int cast_n; /* first N billed actors (5) */
  int min_df; /* minimum document frequency (2) */
  int wmode;  /* profile weights: 0 centered, 1 r - 2.5, 2 unweighted (1) */
  float w_genre, w_desc, w_dir, w_cast, w_writer, w_age, w_decade;
} content_opts;

void content_opts_default(content_opts *o);
/* Reads the options from p by their names above (missing names keep defaults). */
void content_opts_from_params(const rec_params *p, content_opts *o);

typedef struct content_model content_model;

/* Fits on train data: embeddings from d->ds's movies, profiles from d->ui (train only).
 * *out is owned by the caller; free with content_free. */
int content_fit(const content_opts *o, const rec_train_data *d, content_model **out);
void content_free(content_model *m);

int32_t content_n_items(const content_model *m);
/* Row-major n_items x d normalized movie embeddings, valid until content_free. */
const float *content_item_embeddings(const content_model *m, int *d);

/* scores[n_items] = cosine(profile_u, e_i) for a training user; zeros for users without ratings. */
int content_score_user(const content_model *m, int32_t user, float *scores);
/* The same from a given history (n may be 0: zeros). */
int content_score_history(const content_model *m, const int32_t *items, const float *ratings, int n,
                          float *scores);
/* The scores of items[0..n) only, equal to content_score_user's (user >= 0) or
 * content_score_history's (user < 0, history h_*) values there. */
int content_score_items(const content_model *m, int32_t user, const int32_t *h_items,
                        const float *h_ratings, int n_h, const int32_t *items, int n, float *out);
/* "More like this": up to n movies most similar (cosine) to item, the item itself excluded,
 * best first, ties by lower index. out_items[n], out_scores[n] (may be NULL) are the caller's.
 * Returns the count written (>= 0) or a negative status. Allocates an n_items workspace. */
int content_similar(const content_model *m, int32_t item, int n, int32_t *out_items,
                    float *out_scores);

/* Model file (kind "content"): embeddings, per-user profiles, singular values, options. */
int content_save(const content_model *m, const char *path);
int content_load(const char *path, content_model **out, char *err, size_t errlen);

/* Each movie's terms as described above (field prefix, description words in text order, then
 * directors, cast, writers, age rating), with their field weights; terms of a zero-weight field
 * are left out. Shared with the semantic model, which reads the same text. */
typedef struct content_docs {
  int32_t n_docs; /* ds->n_movies */
  int64_t *ptr;   /* n_docs + 1: movie j has terms tok[ptr[j] .. ptr[j+1]) */
  char **tok;     /* NUL-terminated terms, owned */
  float *w;       /* field weight of each term */
} content_docs;

/* Builds the terms of every movie of ds under o (cast_n and the field weights are used).
 * *out is owned by the caller; free with content_docs_free (NULL is fine). */
int content_docs_build(const mr_dataset *ds, const content_opts *o, content_docs **out);
void content_docs_free(content_docs *d);

/* ---- internals exposed for tests ---- */

/* A sparse TF-IDF matrix (docs x terms, CSR with sorted columns, L2-normalized rows) and its
 * vocabulary. Free with content_tfidf_free. */
typedef struct content_tfidf {
  int32_t n_docs, n_terms;
  int64_t *indptr;  /* n_docs + 1 */
  int32_t *indices; /* term ids */
  float *values;
  char **terms; /* n_terms strings, in order of first appearance */
  int32_t *df;  /* n_terms */
} content_tfidf;

/* Builds TF-IDF from token lists: doc j has tokens[tok_ptr[j] .. tok_ptr[j+1]), each counted
 * with weight tok_weight[k] (NULL = all 1; a term's entry is idf * sum of its token weights).
 * Token strings are copied. */
int content_tfidf_build(int32_t n_docs, const int64_t *tok_ptr, const char *const *tokens,
                        const float *tok_weight, int min_df, content_tfidf **out);
void content_tfidf_free(content_tfidf *t);
/* Weight of term in doc, 0 when absent (or the term is not in the vocabulary). */
float content_tfidf_get(const content_tfidf *t, int32_t doc, const char *term);

/* Splits text into lowercased words as described above, dropping stop words and words shorter
 * than 2; calls emit(word, ctx) for each. Returns the number of words emitted. */
int content_tokenize(const char *text, void (*emit)(const char *word, void *ctx), void *ctx);
/* 1 when word (lowercase) is in the built-in English stop word list. */
int content_is_stop_word(const char *word);

/* Top-d truncated SVD of the sparse n_rows x n_cols matrix (CSR) through the Gram matrix:
 * sigma[d] the singular values (descending), us[n_rows x d] = U_d S_d (row-major). d is capped
 * at n_rows by the caller. */
int content_svd(int32_t n_rows, int32_t n_cols, const int64_t *indptr, const int32_t *indices,
                const float *values, int d, float *us, float *sigma);

#endif
