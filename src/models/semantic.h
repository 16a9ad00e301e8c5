/* Semantic model ("semantic" kind): word vectors learned here from the co-occurrence statistics
 * of the movies' own text, pooled into movie embeddings; cosine to the user's liked movies.
 *
 * It stands in for sentence embeddings: a pretrained sentence encoder (or any pretrained language
 * model) cannot be downloaded on this machine, so the "meaning" of words comes only from the
 * ~1,700 movies' descriptions, genres and people. Words that occur in similar contexts get
 * similar vectors, so two movies can be near without sharing a single term (which TF-IDF in
 * content.h cannot do), but the corpus is tiny next to what a sentence encoder learns from.
 *
 * Text: the content model's terms (content_docs_build: "g:" genres, "w:" description words in
 * text order, "dir:", "cast:" (first cast_n), "wri:" people as single tokens, "age:", "dec:").
 * Terms in fewer than min_count movies are dropped, and so are the description words of a
 * placeholder plot (one text shared word for word by 5 or more movies: IMDb's "It looks like we
 * don't have any Plot Summaries..." stands in for 51 of them).
 *
 * Co-occurrence (symmetric, per movie): two description words at distance k <= window add 1/k;
 * a movie-level term (every term but "w:") and any other term of the same movie add w_meta, so
 * genres and people act as a document-wide context of the words they come with.
 *
 * PPMI: P(a) = #(a)^alpha / sum #^alpha (context smoothing on both sides keeps the matrix
 * symmetric), PMI(a,b) = ln(#(a,b) / D) - ln P(a) - ln P(b) - ln(shift), kept where > 0.
 *
 * SVD: the PPMI matrix is symmetric, so its truncated SVD is its top-dim eigenpairs by
 * |eigenvalue|: a randomized subspace iteration (iters steps, Gaussian start from seed,
 * Rayleigh-Ritz) for vocabularies above 256 terms, a dense LAPACK eigensolver below. Word vector
 * = U_d |Lambda_d|^eig_p.
 *
 * Pooling: movie = mean over its terms of field_weight * weight(t) * vec(t), weight by `pool`:
 * 0 SIF a / (a + p(t)) with p(t) the term's corpus frequency, 1 idf, 2 plain; then the movies'
 * first rm_pc principal components are removed (SIF's common-component removal); rows are
 * L2-normalized, so a dot product is a cosine.
 *
 * Users: profile = sum of w_i * e_i over the user's movies, w_i by wmode: 0 r - mean_u,
 * 1 r - 2.5, 2 unweighted, 3 liked only (1 for r >= 4; none liked: unweighted). Score =
 * cosine(profile, e_j).
 *
 * Deterministic for a seed regardless of the OpenMP thread count (parallel loops write disjoint
 * rows in a fixed order; every reduction is sequential). */
#ifndef MR_SEMANTIC_H
#define MR_SEMANTIC_H

#include <stddef.h>
#include <stdint.h>

#include "models/model.h"

typedef struct semantic_opts {
  int dim;       /* vector dimensions (64) */
  int window;    /* description-word window on each side (5) */
  int min_count; /* minimum number of movies a term occurs in (2) */
  int cast_n;    /* first N billed actors (5) */
  float alpha;   /* context distribution smoothing, (0, 1] (0.75) */
  float shift;   /* PMI shift, >= 1 (1: plain PPMI) */
  float eig_p;   /* eigenvalue weighting exponent, [0, 1] (0.5) */
  int pool;      /* 0 SIF, 1 idf, 2 plain mean (1) */
  float sif_a;   /* SIF smoothing a > 0 (1e-3) */
  int rm_pc;     /* common components removed from the movie vectors, 0..16 (1) */
  float w_meta;  /* weight of a movie-level term's co-occurrences, >= 0 (1) */
  int wmode;     /* profile weights 0..3 as above (1) */
  int iters;     /* subspace iterations, 1..50 (6) */
  uint64_t seed; /* random start of the eigensolver (42) */
} semantic_opts;

void semantic_opts_default(semantic_opts *o);
/* Reads the options from p by their names above (missing names keep defaults). */
void semantic_opts_from_params(const rec_params *p, semantic_opts *o);
/* 1 when every option is in range. */
int semantic_opts_valid(const semantic_opts *o);

typedef struct semantic_model semantic_model;

/* Fits on d->ds's movie text and d->ui's ratings (profiles). MR_EINVAL for bad options or data.
 * *out is owned by the caller; free with semantic_free (NULL is fine). */
int semantic_fit(const semantic_opts *o, const rec_train_data *d, semantic_model **out);
void semantic_free(semantic_model *m);

int32_t semantic_n_items(const semantic_model *m);
/* Row-major n_items x d normalized movie embeddings (zero rows for movies without known terms),
 * valid until semantic_free. */
const float *semantic_item_embeddings(const semantic_model *m, int *d);
/* Size of the vocabulary the word vectors were learned over (0 for a loaded model). */
int32_t semantic_vocab_size(const semantic_model *m);

/* scores[n_items] = cosine(profile_u, e_j) for a training user; zeros without ratings. */
int semantic_score_user(const semantic_model *m, int32_t user, float *scores);
/* The same from a given history (n may be 0: zeros). */
int semantic_score_history(const semantic_model *m, const int32_t *items, const float *ratings,
                           int n, float *scores);
/* "More like this": up to n movies most similar (cosine) to item, item itself excluded, best
 * first, ties by lower index; out_items[n] and out_scores[n] (may be NULL) are the caller's.
 * Returns the count written (>= 0) or a negative status (MR_EINVAL for a bad item or n).
 * Thread-safe; allocates an n_items workspace. */
int semantic_similar(const semantic_model *m, int32_t item, int n, int32_t *out_items,
                     float *out_scores);

/* Model file (kind "semantic"): embeddings, per-user profiles, options. */
int semantic_save(const semantic_model *m, const char *path);
int semantic_load(const char *path, semantic_model **out, char *err, size_t errlen);

/* The semantic model inside a rec_model of kind "semantic", else NULL (borrowed). */
const semantic_model *semantic_of(const rec_model *m);

#endif
