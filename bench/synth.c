/* Synthetic MovieLens-like ratings for benchmarks: Zipf popularity, lognormal activity. */
#include "synth.h"

#include <math.h>
#include <stdlib.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"

/* Index of the first cum[] entry > u (cum is increasing, cum[n-1] == 1). */
static int32_t synth_pick(const double *cum, int32_t n, double u) {
  int32_t lo = 0, hi = n - 1;
  while (lo < hi) {
    int32_t mid = lo + (hi - lo) / 2;
    if (cum[mid] > u)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

int synth_generate(int32_t n_users, int32_t n_items, size_t n_ratings, uint64_t seed,
                   mr_rating **out, size_t *n_out) {
  static const double rating_cum[5] = {0.06, 0.17, 0.44, 0.78, 1.0};
  double *cum = NULL, *act = NULL;
  int32_t *item_of_rank = NULL, *count = NULL, *mark = NULL;
  mr_rating *r = NULL;
  int rc = MR_ENOMEM;
  if (!out || !n_out || n_users <= 0 || n_items <= 0)
    return MR_EINVAL;
  *out = NULL;
  *n_out = 0;
  mr_rng rng;
  mr_rng_seed(&rng, seed);
  cum = malloc((size_t)n_items * sizeof(*cum));
  item_of_rank = malloc((size_t)n_items * sizeof(*item_of_rank));
  mark = malloc((size_t)n_items * sizeof(*mark));
  act = malloc((size_t)n_users * sizeof(*act));
  count = malloc((size_t)n_users * sizeof(*count));
  if (!cum || !item_of_rank || !mark || !act || !count)
    goto fail;

  /* popularity by rank: Zipf(1.0); ranks map to shuffled item ids (Fisher-Yates) */
  double total = 0.0;
  for (int32_t i = 0; i < n_items; i++) {
    total += 1.0 / (double)(i + 1);
    cum[i] = total;
    item_of_rank[i] = i;
    mark[i] = -1;
  }
  for (int32_t i = 0; i < n_items; i++)
    cum[i] /= total;
  cum[n_items - 1] = 1.0;
  for (int32_t i = n_items - 1; i > 0; i--) {
    int32_t j = (int32_t)mr_rng_below(&rng, (uint64_t)i + 1);
    int32_t t = item_of_rank[i];
    item_of_rank[i] = item_of_rank[j];
    item_of_rank[j] = t;
  }

  /* activity: lognormal(0, 1), scaled so the capped counts sum to about n_ratings; the cap makes
   * the sum sublinear in the scale, so a few fixed-point rounds correct for it */
  int32_t cap = n_items / 2 > 0 ? n_items / 2 : 1;
  double act_sum = 0.0;
  for (int32_t u = 0; u < n_users; u++) {
    act[u] = exp(mr_rng_normal(&rng));
    act_sum += act[u];
  }
  double scale = (double)n_ratings / act_sum;
  size_t n_total = 0;
  for (int round = 0; round < 8; round++) {
    n_total = 0;
    for (int32_t u = 0; u < n_users; u++) {
      double c = floor(act[u] * scale + 0.5);
      count[u] = c < 1.0 ? 1 : (c > cap ? cap : (int32_t)c);
      n_total += (size_t)count[u];
    }
    if (n_total == 0 || (double)n_total > 0.999 * (double)n_ratings)
      break;
    scale *= (double)n_ratings / (double)n_total;
  }

  r = malloc((n_total ? n_total : 1) * sizeof(*r));
  if (!r)
    goto fail;
  size_t w = 0;
  int64_t ts = 874724710; /* MovieLens 100k's first timestamp */
  for (int32_t u = 0; u < n_users; u++) {
    int32_t got = 0;
    /* rejection sampling by popularity; mark[] holds the last user that took each rank, so
     * duplicates are detected without clearing between users */
    uint64_t tries = 0, max_tries = 64u * (uint64_t)count[u] + 1024u;
    while (got < count[u] && tries < max_tries) {
      tries++;
      int32_t rank = synth_pick(cum, n_items, mr_rng_uniform(&rng));
      if (mark[rank] == u)
        continue;
      mark[rank] = u;
      r[w].user = u;
      r[w].item = item_of_rank[rank];
      double q = mr_rng_uniform(&rng);
      int v = 0;
      while (v < 4 && q >= rating_cum[v])
        v++;
      r[w].rating = (float)(v + 1);
      ts += 1 + (int64_t)mr_rng_below(&rng, 30);
      r[w].ts = ts;
      w++;
      got++;
    }
    /* heavy users whose remaining items are all unpopular: take them in popularity order */
    for (int32_t rank = 0; got < count[u] && rank < n_items; rank++) {
      if (mark[rank] == u)
        continue;
      mark[rank] = u;
      r[w].user = u;
      r[w].item = item_of_rank[rank];
      r[w].rating = 3.0f;
      ts += 1;
      r[w].ts = ts;
      w++;
      got++;
    }
  }
  *out = r;
  *n_out = w;
  r = NULL;
  rc = MR_OK;

fail:
  free(r);
  free(count);
  free(act);
  free(mark);
  free(item_of_rank);
  free(cum);
  return rc;
}
