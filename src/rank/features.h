/* Ranker features: one documented table of (user, candidate movie) features computed from a
 * rating history only (never from the data being predicted), plus generator scores. */
#ifndef MR_FEATURES_H
#define MR_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "data/csr.h"
#include "data/dataset.h"

/* The candidate generators whose scores are features, in column order. */
#define FEAT_GENERATORS(X)                                                                         \
  X(ALS, "als")                                                                                    \
  X(GCN, "gcn")                                                                                    \
  X(CONTENT, "content")                                                                            \
  X(GENRE, "genre")                                                                                \
  X(ITEMKNN, "itemknn")                                                                            \
  X(EASE, "ease")

typedef enum feat_gen {
#define FEAT_GEN_ENUM(id, name) FEAT_GEN_##id,
  FEAT_GENERATORS(FEAT_GEN_ENUM)
#undef FEAT_GEN_ENUM
      FEAT_N_GEN
} feat_gen;

/* Feature groups, for ablations. */
enum {
  FEAT_GROUP_GENERATOR = 1,
  FEAT_GROUP_USER = 2,
  FEAT_GROUP_MOVIE = 4,
  FEAT_GROUP_IMDB = 8,
  FEAT_GROUP_USER_MOVIE = 16
};

typedef struct feat_def {
  const char *name;
  int groups; /* FEAT_GROUP_* bits */
  const char *description;
} feat_def;

/* Number of features and their table (docs/FEATURES.md mirrors it). */
int feat_count(void);
const feat_def *feat_table(void);
/* Column names, feat_count() entries, static. */
const char *const *feat_names(void);

typedef struct feat_ctx feat_ctx;

#define FEAT_REF_AUTO INT64_MIN

/* Precomputes user and movie statistics from a history: ratings[0..n) (with timestamps) and its
 * CSR forms. item_emb (may be NULL) are L2-normalized movie embeddings (n_movies x emb_dim) for
 * the similarity features. per_user_ref (model.h, rec_ref_per_user): 1 = a training user's
 * popularity features are as of their latest rating, 0 = as of the end of the history. Borrows
 * ds and item_emb for its lifetime; ratings and the matrices only for the call. */
int feat_ctx_create(const mr_dataset *ds, const mr_rating *ratings, size_t n, const csr *ui,
                    const csr *iu, const float *item_emb, int emb_dim, int per_user_ref,
                    feat_ctx **out);
void feat_ctx_free(feat_ctx *c);

/* Whether training users' reference times are their latest ratings (per_user_ref at create). */
int feat_ref_per_user(const feat_ctx *c);
/* Training user u's reference time: their latest rating under per-user times, else the end of
 * the history. */
int64_t feat_user_ref_time(const feat_ctx *c, int32_t u);

/* A user's history in the context (items in (ts, item) order); borrowed from c. */
void feat_history(const feat_ctx *c, int32_t user, const int32_t **items, int64_t *n);

/* Generator scores for one user: gen_scores[g] is NULL (generator absent: NaN features) or an
 * n_movies array of that generator's scores; proposed[c] counts the generators that proposed
 * candidate c (may be NULL). */
typedef struct feat_user_input {
  int32_t user;              /* dense index, or -1 for a history-only user */
  const int32_t *hist_items; /* history-only users: their items / ratings / times */
  const float *hist_ratings;
  const int64_t *hist_ts; /* may be NULL: times unknown */
  int n_hist;
  /* a history-only user's reference time: popularity counts only ratings at or before it
   * (capped at the end of the history); FEAT_REF_AUTO = the history's latest time under
   * per-user times (the end without hist_ts), else the end of the context's history */
  int64_t ref_ts;
  const float *gen_scores[FEAT_N_GEN];
  const int32_t *cands;
  const uint8_t *proposed;
  int n_cands;
  int drop_groups; /* FEAT_GROUP_* bits whose columns are set to NaN */
} feat_user_input;

/* Fills x (n_cands x feat_count(), row-major). Allocates no memory beyond the context's
 * per-call scratch; not thread-safe on one context unless each thread has its own scratch:
 * pass a scratch from feat_scratch_create. */
typedef struct feat_scratch feat_scratch;
int feat_scratch_create(const feat_ctx *c, feat_scratch **out);
void feat_scratch_free(feat_scratch *s);
int feat_compute(const feat_ctx *c, feat_scratch *s, const feat_user_input *in, float *x);

#endif
