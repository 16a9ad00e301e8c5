/* Train/test splits of a rating list, as in DESIGN.md's offline protocol. */
#ifndef MR_SPLIT_H
#define MR_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

typedef enum split_kind {
  SPLIT_USER_TEMPORAL = 0, /* per user: last ceil(frac * n_u) ratings by (ts, item) are test */
  SPLIT_GLOBAL_TEMPORAL,   /* ratings with ts >= the (1-frac) quantile timestamp are test,
                              kept only for users who have train ratings */
  SPLIT_RANDOM             /* per user: a seeded random ceil(frac * n_u) are test */
} split_kind;

typedef struct split_result {
  mr_rating *train;
  size_t n_train;
  mr_rating *test;
  size_t n_test;
} split_result;

/* Parses "user-temporal" | "global-temporal" | "random". Returns MR_EINVAL otherwise. */
int split_parse_kind(const char *name, split_kind *out);
const char *split_kind_name(split_kind k);

/* Splits ratings[0..n) (n_users dense users) with test fraction frac (0.2 in the protocol).
 * Users with a single rating keep it in train for the per-user splits. The output arrays are
 * freshly allocated, in (user, ts, item) order; free with split_free. Deterministic for a seed. */
int split_make(split_kind kind, const mr_rating *ratings, size_t n, int32_t n_users, double frac,
               uint64_t seed, split_result **out);

/* The validation cut that mirrors a split's test protocol, taken from its train part: the end of
 * each user's train part for user-temporal, a global time cut at the train part's own (1 - frac)
 * quantile timestamp for global-temporal (its validation ratings kept for users seen before the
 * cut), a random per-user cut for the random split. */
int split_validation(split_kind kind, const mr_rating *train, size_t n_train, int32_t n_users,
                     double frac, uint64_t seed, split_result **out);

/* Number of a user's n_u ratings that a per-user split puts in test: ceil(frac * n_u), capped
 * at n_u - 1 so at least one rating stays in train (0 for n_u <= 1). */
size_t split_test_count(double frac, size_t n_u);

/* Releases a split result and its arrays. NULL is fine. */
void split_free(split_result *s);

#endif
