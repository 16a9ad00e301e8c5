/* As-of popularity: how often (and how well) each movie was rated up to a given time, so that
 * every popularity-derived signal can mean "popular as of this user's reference time" and never
 * count ratings made later (DESIGN.md, offline protocol). Built once from a rating list;
 * read-only afterwards, so any number of threads may query one index. */
#ifndef MR_ASOF_H
#define MR_ASOF_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

typedef struct asof_index asof_index;

/* Indexes ratings[0..n) over n_items movies (items out of range: MR_ERANGE). The ratings are
 * copied (per movie, in time order); *out is owned by the caller, free with asof_free. */
int asof_create(const mr_rating *ratings, size_t n, int32_t n_items, asof_index **out);
void asof_free(asof_index *x);

int32_t asof_n_items(const asof_index *x);
/* Latest timestamp indexed (0 when empty): any t >= asof_end counts everything. */
int64_t asof_end(const asof_index *x);
/* Most ratings of any one movie. */
int64_t asof_max_count(const asof_index *x);

/* Ratings of movie item at or before time t; *sum (may be NULL) gets the sum of their values. */
int64_t asof_count(const asof_index *x, int32_t item, int64_t t, double *sum);

/* asof_count for every movie at once: count[n_items] (and sum[n_items], may be NULL). */
void asof_count_all(const asof_index *x, int64_t t, float *count, double *sum);

/* asof_count of items[0..n) at n_t times t[0..n_t) (n_t <= 4) into out[w][0..n), and the
 * rating sums at t[0] into sum0[0..n) (may be NULL). span is scratch of n_t * n int32s. Done in
 * sweeps (bucket entries, then timestamps, then the searches) so the cache misses of one
 * candidate overlap those of the next: this runs for every candidate of every request. */
void asof_count_batch(const asof_index *x, const int32_t *items, int n, const int64_t *t, int n_t,
                      int64_t *const *out, double *sum0, int32_t *span);

/* The reference time of each of n_users users into ref[n_users]: with per_user, the time of the
 * user's latest rating in ratings[0..n) (users without ratings: the latest time overall); else
 * the latest time overall for everyone. Users out of range: MR_ERANGE. */
int asof_user_ref(const mr_rating *ratings, size_t n, int32_t n_users, int per_user, int64_t *ref);

#endif
