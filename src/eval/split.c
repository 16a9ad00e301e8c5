/* Train/test and validation splits of a rating list (per-user temporal, global temporal, random).
 */
#include "eval/split.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"

/* XORed into the test split's seed so the random validation cut draws different numbers. */
#define SPLIT_VALIDATION_SEED_MIX 0x5eedULL

static const char *const split_names[] = {"user-temporal", "global-temporal", "random"};

int split_parse_kind(const char *name, split_kind *out) {
  if (!name || !out)
    return MR_EINVAL;
  for (int k = 0; k < (int)(sizeof(split_names) / sizeof(split_names[0])); k++) {
    if (strcmp(name, split_names[k]) == 0) {
      *out = (split_kind)k;
      return MR_OK;
    }
  }
  return MR_EINVAL;
}

const char *split_kind_name(split_kind k) {
  if ((int)k < 0 || (int)k >= (int)(sizeof(split_names) / sizeof(split_names[0])))
    return "unknown";
  return split_names[k];
}

size_t split_test_count(double frac, size_t n_u) {
  if (n_u <= 1 || !(frac > 0.0))
    return 0;
  /* The small slack keeps products like 0.2 * 15 = 3.0000000000000004 from rounding up to 4. */
  double c = ceil(frac * (double)n_u - 1e-9);
  size_t t = c < 0.0 ? 0 : (size_t)c;
  return t >= n_u ? n_u - 1 : t;
}

void split_free(split_result *s) {
  if (!s)
    return;
  free(s->train);
  free(s->test);
  free(s);
}

/* Order within a user: (ts, item); rating last only so equal-key duplicates sort the same way on
 * every libc, which keeps the random split deterministic. */
static int split_cmp_ts_item(const void *pa, const void *pb) {
  const mr_rating *a = pa, *b = pb;
  if (a->ts != b->ts)
    return a->ts < b->ts ? -1 : 1;
  if (a->item != b->item)
    return a->item < b->item ? -1 : 1;
  if (a->rating != b->rating)
    return a->rating < b->rating ? -1 : 1;
  return 0;
}

static int split_cmp_i64(const void *pa, const void *pb) {
  int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
  return (a > b) - (a < b);
}

/* Groups ratings by user with a counting sort (O(n + n_users)) and sorts each user's slice by
 * (ts, item). On success *grouped (n entries) and *off (n_users + 1 offsets) are malloc'ed. */
static int split_group(const mr_rating *ratings, size_t n, int32_t n_users, mr_rating **grouped,
                       size_t **off) {
  int rc = MR_ENOMEM;
  mr_rating *g = malloc((n + 1) * sizeof(*g));
  size_t *o = calloc((size_t)n_users + 2, sizeof(*o));
  size_t *pos = NULL;
  if (!g || !o)
    goto fail;
  for (size_t i = 0; i < n; i++) {
    if (ratings[i].user < 0 || ratings[i].user >= n_users) {
      rc = MR_ERANGE;
      goto fail;
    }
    o[(size_t)ratings[i].user + 1]++;
  }
  for (int32_t u = 0; u < n_users; u++)
    o[u + 1] += o[u];
  pos = malloc(((size_t)n_users + 1) * sizeof(*pos));
  if (!pos)
    goto fail;
  memcpy(pos, o, (size_t)n_users * sizeof(*pos));
  for (size_t i = 0; i < n; i++)
    g[pos[ratings[i].user]++] = ratings[i];
  free(pos);
  for (int32_t u = 0; u < n_users; u++) {
    if (o[u + 1] - o[u] > 1)
      qsort(g + o[u], o[u + 1] - o[u], sizeof(*g), split_cmp_ts_item);
  }
  *grouped = g;
  *off = o;
  return MR_OK;
fail:
  free(g);
  free(o);
  return rc;
}

/* Per-user temporal: the last split_test_count ratings of each sorted slice go to test. */
static void split_user_temporal(const mr_rating *g, const size_t *off, int32_t n_users, double frac,
                                split_result *r) {
  for (int32_t u = 0; u < n_users; u++) {
    size_t nu = off[u + 1] - off[u];
    size_t nt = split_test_count(frac, nu);
    memcpy(r->train + r->n_train, g + off[u], (nu - nt) * sizeof(*g));
    r->n_train += nu - nt;
    memcpy(r->test + r->n_test, g + off[u] + (nu - nt), nt * sizeof(*g));
    r->n_test += nt;
  }
}

/* Global temporal: one cut timestamp for everyone; a user's test part is kept only when the user
 * has train ratings, since there would be nothing to recommend from otherwise. */
static int split_global_temporal(const mr_rating *ratings, size_t n, const mr_rating *g,
                                 const size_t *off, int32_t n_users, double frac, split_result *r) {
  if (n == 0)
    return MR_OK;
  int64_t *ts = malloc(n * sizeof(*ts));
  if (!ts)
    return MR_ENOMEM;
  for (size_t i = 0; i < n; i++)
    ts[i] = ratings[i].ts;
  qsort(ts, n, sizeof(*ts), split_cmp_i64);
  size_t idx = (size_t)floor((1.0 - frac) * (double)n);
  if (idx >= n)
    idx = n - 1;
  int64_t cut = ts[idx];
  free(ts);
  for (int32_t u = 0; u < n_users; u++) {
    size_t b = off[u], e = off[u + 1], m = b;
    while (m < e && g[m].ts < cut) /* slices are in ts order: train is a prefix */
      m++;
    memcpy(r->train + r->n_train, g + b, (m - b) * sizeof(*g));
    r->n_train += m - b;
    if (m > b) {
      memcpy(r->test + r->n_test, g + m, (e - m) * sizeof(*g));
      r->n_test += e - m;
    }
  }
  return MR_OK;
}

/* Random per user: a partial Fisher-Yates over each sorted slice picks the test positions; users
 * are visited in index order from one seeded stream, so the result depends only on the seed and
 * the multiset of ratings, not on their input order. */
static int split_random(const mr_rating *g, const size_t *off, int32_t n_users, double frac,
                        uint64_t seed, split_result *r) {
  size_t max_nu = 0;
  for (int32_t u = 0; u < n_users; u++)
    if (off[u + 1] - off[u] > max_nu)
      max_nu = off[u + 1] - off[u];
  size_t *perm = malloc((max_nu + 1) * sizeof(*perm));
  unsigned char *is_test = malloc(max_nu + 1);
  if (!perm || !is_test) {
    free(perm);
    free(is_test);
    return MR_ENOMEM;
  }
  mr_rng rng;
  mr_rng_seed(&rng, seed);
  for (int32_t u = 0; u < n_users; u++) {
    size_t nu = off[u + 1] - off[u];
    size_t nt = split_test_count(frac, nu);
    for (size_t i = 0; i < nu; i++) {
      perm[i] = i;
      is_test[i] = 0;
    }
    for (size_t i = 0; i < nt; i++) {
      size_t j = i + (size_t)mr_rng_below(&rng, nu - i);
      size_t t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
      is_test[perm[i]] = 1;
    }
    for (size_t i = 0; i < nu; i++) {
      if (is_test[i])
        r->test[r->n_test++] = g[off[u] + i];
      else
        r->train[r->n_train++] = g[off[u] + i];
    }
  }
  free(perm);
  free(is_test);
  return MR_OK;
}

/* Gives back the unused tail of an array sized for the worst case; keeps the old block if the
 * allocator cannot shrink it. */
static void split_shrink(mr_rating **a, size_t n) {
  mr_rating *s = realloc(*a, (n + 1) * sizeof(**a));
  if (s)
    *a = s;
}

int split_make(split_kind kind, const mr_rating *ratings, size_t n, int32_t n_users, double frac,
               uint64_t seed, split_result **out) {
  if (!out || (n > 0 && !ratings) || n_users < 0 || !(frac > 0.0 && frac < 1.0))
    return MR_EINVAL;
  if (kind != SPLIT_USER_TEMPORAL && kind != SPLIT_GLOBAL_TEMPORAL && kind != SPLIT_RANDOM)
    return MR_EINVAL;
  *out = NULL;
  mr_rating *g = NULL;
  size_t *off = NULL;
  split_result *r = NULL;
  int rc = split_group(ratings, n, n_users, &g, &off);
  if (rc != MR_OK)
    goto fail;
  rc = MR_ENOMEM;
  r = calloc(1, sizeof(*r));
  if (!r)
    goto fail;
  r->train = malloc((n + 1) * sizeof(*r->train));
  r->test = malloc((n + 1) * sizeof(*r->test));
  if (!r->train || !r->test)
    goto fail;
  switch (kind) {
  case SPLIT_USER_TEMPORAL:
    split_user_temporal(g, off, n_users, frac, r);
    rc = MR_OK;
    break;
  case SPLIT_GLOBAL_TEMPORAL:
    rc = split_global_temporal(ratings, n, g, off, n_users, frac, r);
    break;
  case SPLIT_RANDOM:
    rc = split_random(g, off, n_users, frac, seed, r);
    break;
  }
  if (rc != MR_OK)
    goto fail;
  split_shrink(&r->train, r->n_train);
  split_shrink(&r->test, r->n_test);
  free(g);
  free(off);
  *out = r;
  return MR_OK;
fail:
  split_free(r);
  free(g);
  free(off);
  return rc;
}

int split_validation(split_kind kind, const mr_rating *train, size_t n_train, int32_t n_users,
                     double frac, uint64_t seed, split_result **out) {
  /* The cut mirrors the test protocol inside train: the end of each user's train part for
   * user-temporal, a global time cut at train's own (1 - frac) quantile timestamp for
   * global-temporal (validated on the users seen before it), a random per-user cut for random. */
  switch (kind) {
  case SPLIT_USER_TEMPORAL:
  case SPLIT_GLOBAL_TEMPORAL:
    return split_make(kind, train, n_train, n_users, frac, seed, out);
  case SPLIT_RANDOM:
    return split_make(SPLIT_RANDOM, train, n_train, n_users, frac, seed ^ SPLIT_VALIDATION_SEED_MIX,
                      out);
  }
  return MR_EINVAL;
}
