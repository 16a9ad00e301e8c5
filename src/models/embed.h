/* Shared scoring of the embedding models (content, semantic): rating-weighted user profiles over
 * L2-normalized movie embeddings, cosine scores, "more like this". */
#ifndef MR_EMBED_H
#define MR_EMBED_H

#include <stdint.h>

/* Profile weights of a rated movie. */
typedef enum embed_wmode {
  EMBED_CENTERED = 0, /* r - the user's mean rating */
  EMBED_SHIFTED = 1,  /* r - 2.5 */
  EMBED_PLAIN = 2,    /* 1 */
  EMBED_LIKED = 3     /* 1 for r >= 4, else 0 */
} embed_wmode;

/* Scales x[d] to unit length (a zero vector stays zero). */
void embed_normalize(float *x, int d);

/* prof[d] = the normalized sum of w_j * emb[items[j]] over a history (items outside
 * [0, n_items) skipped), w_j by wmode; when the weights leave (nearly) nothing (every rating
 * alike, nothing liked) the plain sum; zeros for an empty history. */
void embed_profile(const float *emb, int32_t n_items, int d, embed_wmode wmode,
                   const int32_t *items, const float *ratings, int n, float *prof);

/* <x, e> over d floats. Every scorer of an embedding model (all items, or only some) goes
 * through this one loop, so both give bit-identical scores. */
static inline float embed_dot(const float *x, const float *e, int d) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int c = 0; c < d; c++)
    s += x[c] * e[c];
  return s;
}

/* scores[n_items] = emb (row-major n_items x d) times v[d]. */
void embed_scores(const float *emb, int32_t n_items, int d, const float *v, float *scores);

/* MR_ERANGE when an item of items[0..n) is outside [0, n_items), else MR_OK. */
int embed_items_in_range(const int32_t *items, int n, int32_t n_items);

/* out[k] = <emb[items[k]], v> for k < n: embed_scores at those items only (items in range). */
void embed_scores_at(const float *emb, int d, const float *v, const int32_t *items, int n,
                     float *out);

/* Up to n movies with the highest emb_i . emb_item, item itself excluded, best first, ties by
 * lower index, into out_items[n] and out_scores[n] (may be NULL). Returns the count written or
 * MR_EINVAL (bad item or n) / MR_ENOMEM; allocates an n_items workspace. */
int embed_similar(const float *emb, int32_t n_items, int d, int32_t item, int n, int32_t *out_items,
                  float *out_scores);

#endif
