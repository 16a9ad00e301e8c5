/* Synthetic MovieLens-like ratings for benchmarks: Zipf popularity, lognormal activity. */
#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* MovieLens 100k's genre names (u.genre order) and how many of its 1,682 movies carry each. */
static const char *const synth_genre_names[19] = {
    "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance",     "Sci-Fi", "Thriller",  "War",       "Western"};
static const double synth_genre_freq[19] = {2,  251, 135, 42, 122, 505, 109, 50, 725, 22,
                                            24, 92,  56,  61, 247, 101, 251, 71, 27};

int synth_dataset(int32_t n_users, int32_t n_items, mr_rating *ratings, size_t n, uint64_t seed,
                  mr_dataset **out) {
  mr_dataset *ds = NULL;
  int rc;
  if (!out || n_users <= 0 || n_items <= 0 || (n && !ratings)) {
    free(ratings);
    return MR_EINVAL;
  }
  if ((rc = ds_create_empty(&ds))) {
    free(ratings);
    return rc;
  }
  ds->ratings = ratings;
  ds->n_ratings = n;
  rc = MR_ENOMEM;
  mr_rng rng;
  mr_rng_seed(&rng, seed ^ 0x5eedda7aULL);
  ds->users = calloc((size_t)n_users, sizeof(*ds->users));
  ds->movies = calloc((size_t)n_items, sizeof(*ds->movies));
  ds->occupations = calloc(21, sizeof(char *));
  if (!ds->users || !ds->movies || !ds->occupations)
    goto fail;
  ds->n_users = n_users;
  ds->n_movies = n_items;
  for (int g = 0; g < 19; g++)
    if (!(ds->genre_names[g] = strdup(synth_genre_names[g])))
      goto fail;
  ds->n_genres = 19;
  for (int o = 0; o < 21; o++) {
    char name[16];
    snprintf(name, sizeof(name), "occupation%d", o);
    if (!(ds->occupations[o] = strdup(name)))
      goto fail;
    ds->n_occupations = o + 1;
  }
  for (int32_t u = 0; u < n_users; u++) {
    mr_user *us = &ds->users[u];
    us->id = u + 1;
    us->age = 7 + (int)mr_rng_below(&rng, 67);
    us->gender = mr_rng_uniform(&rng) < 0.71 ? 'M' : 'F';
    us->occupation = (int)mr_rng_below(&rng, 21);
    snprintf(us->zip, sizeof(us->zip), "%05d", (int)mr_rng_below(&rng, 100000));
  }
  double cum[19], total = 0.0;
  for (int g = 0; g < 19; g++) {
    total += synth_genre_freq[g];
    cum[g] = total;
  }
  for (int g = 0; g < 19; g++)
    cum[g] /= total;
  cum[18] = 1.0;
  for (int32_t i = 0; i < n_items; i++) {
    mr_movie *mv = &ds->movies[i];
    mv->id = i + 1;
    int k = 1 + (int)mr_rng_below(&rng, 3);
    for (int j = 0; j < k; j++)
      mv->genres |= 1u << synth_pick(cum, 19, mr_rng_uniform(&rng));
    int back = (int)(-12.0 * log(1.0 - mr_rng_uniform(&rng)));
    mv->year = 1998 - back < 1920 ? 1920 : 1998 - back;
  }
  if ((rc = ds_build_index(ds)))
    goto fail;
  *out = ds;
  return MR_OK;
fail:
  ds_free(ds);
  return rc;
}
