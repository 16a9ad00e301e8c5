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

/* A synthetic data set around synth_generate's ratings, for code that needs metadata (the
 * two-stage features, the genre model): users with ids 1..n_users, a random age (7-73), gender
 * (71% M, as in MovieLens 100k) and occupation (21 kinds); movies with ids 1..n_items, the 19
 * MovieLens genre names, 1-3 genres each drawn with MovieLens 100k's genre frequencies, a
 * release year (1998 minus an exponential with mean 12 years, at least 1920), no title text and
 * no IMDb details. Genres and years are independent of the ratings (no signal, only cost). Takes
 * ownership of ratings[0..n) (freed with the data set, also on error). *out: free with ds_free. */
int synth_dataset(int32_t n_users, int32_t n_items, mr_rating *ratings, size_t n, uint64_t seed,
                  mr_dataset **out);

#endif
