/* Synthetic rating generator for benchmarks (DESIGN.md): Zipf(1.0) movie popularity with shuffled
 * ids, lognormal(sigma 1.0) user activity, distinct pairs, ML-like rating distribution. */
#ifndef MR_SYNTH_H
#define MR_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

/* Generates about n_ratings distinct (user, item) ratings over n_users x n_items with a fixed
 * seed. *out is malloc'ed (free with free()); *n_out is the count produced. */
int synth_generate(int32_t n_users, int32_t n_items, size_t n_ratings, uint64_t seed,
                   mr_rating **out, size_t *n_out);

#endif
