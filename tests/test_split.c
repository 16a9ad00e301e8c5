/* Invariant checks of the train/test and validation splits on generated ratings. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "eval/split.h"

#define N_USERS 52 /* users 0..49 rated, 50 and 51 get no ratings */
#define N_ITEMS 100
#define FRAC 0.2
#define SEED 42

typedef struct gen_data {
  mr_rating *r;
  size_t n;
  int32_t n_users;
} gen_data;

/* 50 users with 1..40 distinct items each (users 0-2 have exactly one rating), timestamps drawn
 * from a 30-second window at a per-user offset so ts ties are common and some users lie entirely
 * after the global cut. The input is shuffled so no order is assumed. */
static gen_data gen(uint64_t seed) {
  gen_data d = {malloc(50 * 40 * sizeof(mr_rating)), 0, N_USERS};
  assert_non_null(d.r);
  mr_rng rng;
  mr_rng_seed(&rng, seed);
  int32_t items[N_ITEMS];
  for (int32_t u = 0; u < 50; u++) {
    int nu = u < 3 ? 1 : 1 + (int)mr_rng_below(&rng, 40);
    int64_t base = 1000000 + (int64_t)mr_rng_below(&rng, 100);
    for (int i = 0; i < N_ITEMS; i++)
      items[i] = i;
    for (int i = 0; i < nu; i++) {
      int j = i + (int)mr_rng_below(&rng, (uint64_t)(N_ITEMS - i));
      int32_t t = items[i];
      items[i] = items[j];
      items[j] = t;
      mr_rating x = {u, items[i], (float)(1 + mr_rng_below(&rng, 5)),
                     base + (int64_t)mr_rng_below(&rng, 30)};
      d.r[d.n++] = x;
    }
  }
  for (size_t i = d.n; i > 1; i--) {
    size_t j = (size_t)mr_rng_below(&rng, i);
    mr_rating t = d.r[i - 1];
    d.r[i - 1] = d.r[j];
    d.r[j] = t;
  }
  return d;
}

static int cmp_full(const void *pa, const void *pb) {
  const mr_rating *a = pa, *b = pb;
  if (a->user != b->user)
    return a->user < b->user ? -1 : 1;
  if (a->item != b->item)
    return a->item < b->item ? -1 : 1;
  if (a->ts != b->ts)
    return a->ts < b->ts ? -1 : 1;
  if (a->rating != b->rating)
    return a->rating < b->rating ? -1 : 1;
  return 0;
}

/* (user, ts, item) order, the documented output order. */
static int cmp_uti(const mr_rating *a, const mr_rating *b) {
  if (a->user != b->user)
    return a->user < b->user ? -1 : 1;
  if (a->ts != b->ts)
    return a->ts < b->ts ? -1 : 1;
  if (a->item != b->item)
    return a->item < b->item ? -1 : 1;
  return 0;
}

static int same_rating(const mr_rating *a, const mr_rating *b) {
  return a->user == b->user && a->item == b->item && a->ts == b->ts && a->rating == b->rating;
}

/* Asserts that a[0..na) and b[0..nb) are equal as multisets. */
static void assert_same_multiset(const mr_rating *a, size_t na, const mr_rating *b, size_t nb) {
  assert_int_equal(na, nb);
  mr_rating *x = malloc((na + 1) * sizeof(*x)), *y = malloc((nb + 1) * sizeof(*y));
  assert_non_null(x);
  assert_non_null(y);
  if (na)
    memcpy(x, a, na * sizeof(*x));
  if (nb)
    memcpy(y, b, nb * sizeof(*y));
  qsort(x, na, sizeof(*x), cmp_full);
  qsort(y, nb, sizeof(*y), cmp_full);
  for (size_t i = 0; i < na; i++)
    assert_true(same_rating(&x[i], &y[i]));
  free(x);
  free(y);
}

/* train ++ test must be the multiset `whole` (the items are distinct per user, so this also
 * means train and test are disjoint). */
static void assert_partition(const mr_rating *whole, size_t n, const split_result *s) {
  mr_rating *u = malloc((s->n_train + s->n_test + 1) * sizeof(*u));
  assert_non_null(u);
  if (s->n_train)
    memcpy(u, s->train, s->n_train * sizeof(*u));
  if (s->n_test)
    memcpy(u + s->n_train, s->test, s->n_test * sizeof(*u));
  assert_same_multiset(whole, n, u, s->n_train + s->n_test);
  free(u);
}

static void assert_sorted_uti(const mr_rating *a, size_t n) {
  for (size_t i = 1; i < n; i++)
    assert_true(cmp_uti(&a[i - 1], &a[i]) < 0);
}

static void count_per_user(const mr_rating *a, size_t n, size_t *cnt, int32_t n_users) {
  memset(cnt, 0, (size_t)n_users * sizeof(*cnt));
  for (size_t i = 0; i < n; i++) {
    assert_true(a[i].user >= 0 && a[i].user < n_users);
    cnt[a[i].user]++;
  }
}

/* Per-user split sizes: ceil(0.2 n_u) test, written as integer ceil(n_u / 5), never all. */
static void assert_per_user_counts(const mr_rating *whole, size_t n, const split_result *s,
                                   int32_t n_users) {
  size_t all[N_USERS], tst[N_USERS], trn[N_USERS];
  count_per_user(whole, n, all, n_users);
  count_per_user(s->test, s->n_test, tst, n_users);
  count_per_user(s->train, s->n_train, trn, n_users);
  for (int32_t u = 0; u < n_users; u++) {
    size_t want = all[u] <= 1 ? 0 : (all[u] + 4) / 5;
    assert_int_equal(tst[u], want);
    assert_int_equal(trn[u], all[u] - want);
  }
}

/* Every test rating of a user comes after every train rating of that user in (ts, item). */
static void assert_temporal_per_user(const split_result *s) {
  for (size_t i = 0; i < s->n_test; i++)
    for (size_t j = 0; j < s->n_train; j++)
      if (s->train[j].user == s->test[i].user)
        assert_true(cmp_uti(&s->train[j], &s->test[i]) < 0);
}

static void test_parse_kind(void **state) {
  (void)state;
  split_kind k = SPLIT_RANDOM;
  assert_int_equal(split_parse_kind("user-temporal", &k), MR_OK);
  assert_int_equal(k, SPLIT_USER_TEMPORAL);
  assert_int_equal(split_parse_kind("global-temporal", &k), MR_OK);
  assert_int_equal(k, SPLIT_GLOBAL_TEMPORAL);
  assert_int_equal(split_parse_kind("random", &k), MR_OK);
  assert_int_equal(k, SPLIT_RANDOM);
  assert_int_equal(split_parse_kind("temporal", &k), MR_EINVAL);
  assert_int_equal(split_parse_kind(NULL, &k), MR_EINVAL);
  assert_string_equal(split_kind_name(SPLIT_GLOBAL_TEMPORAL), "global-temporal");
  assert_string_equal(split_kind_name(SPLIT_USER_TEMPORAL), "user-temporal");
}

static void test_test_count(void **state) {
  (void)state;
  assert_int_equal(split_test_count(0.2, 0), 0);
  assert_int_equal(split_test_count(0.2, 1), 0);
  assert_int_equal(split_test_count(0.2, 2), 1);
  assert_int_equal(split_test_count(0.2, 5), 1);
  assert_int_equal(split_test_count(0.2, 6), 2);
  assert_int_equal(split_test_count(0.2, 15), 3);
  assert_int_equal(split_test_count(0.14, 50), 7);   /* 0.14 * 50 is 7.000000000000001 in double */
  assert_int_equal(split_test_count(0.55, 100), 55); /* 55.00000000000001 */
  assert_int_equal(split_test_count(0.9, 2), 1);     /* capped: one stays in train */
  assert_int_equal(split_test_count(0.5, 7), 4);
}

static void test_bad_args(void **state) {
  (void)state;
  gen_data d = gen(1);
  split_result *s = NULL;
  const double bad_frac[] = {0.0, 1.0, -0.1, 1.5, NAN};
  for (size_t i = 0; i < sizeof(bad_frac) / sizeof(bad_frac[0]); i++)
    assert_int_equal(split_make(SPLIT_RANDOM, d.r, d.n, d.n_users, bad_frac[i], SEED, &s),
                     MR_EINVAL);
  assert_int_equal(split_make(SPLIT_USER_TEMPORAL, d.r, d.n, d.n_users, FRAC, SEED, NULL),
                   MR_EINVAL);
  assert_int_equal(split_make((split_kind)7, d.r, d.n, d.n_users, FRAC, SEED, &s), MR_EINVAL);
  /* users are 0..49: a table of 49 users leaves user 49 out of range */
  assert_int_equal(split_make(SPLIT_USER_TEMPORAL, d.r, d.n, 49, FRAC, SEED, &s), MR_ERANGE);
  d.r[d.n / 2].user = -1;
  assert_int_equal(split_make(SPLIT_GLOBAL_TEMPORAL, d.r, d.n, d.n_users, FRAC, SEED, &s),
                   MR_ERANGE);
  assert_int_equal(split_validation(SPLIT_RANDOM, d.r, d.n, d.n_users, FRAC, SEED, &s), MR_ERANGE);
  assert_null(s);
  free(d.r);
  split_free(NULL);
}

static void test_empty_input(void **state) {
  (void)state;
  for (int k = SPLIT_USER_TEMPORAL; k <= SPLIT_RANDOM; k++) {
    split_result *s = NULL;
    assert_int_equal(split_make((split_kind)k, NULL, 0, 3, FRAC, SEED, &s), MR_OK);
    assert_non_null(s);
    assert_int_equal(s->n_train, 0);
    assert_int_equal(s->n_test, 0);
    split_free(s);
  }
}

static void test_user_temporal(void **state) {
  (void)state;
  gen_data d = gen(7);
  mr_rating *orig = malloc(d.n * sizeof(*orig));
  assert_non_null(orig);
  memcpy(orig, d.r, d.n * sizeof(*orig));
  split_result *s = NULL;
  assert_int_equal(split_make(SPLIT_USER_TEMPORAL, d.r, d.n, d.n_users, FRAC, SEED, &s), MR_OK);
  for (size_t i = 0; i < d.n; i++) /* input untouched, order included */
    assert_true(same_rating(&orig[i], &d.r[i]));
  assert_partition(d.r, d.n, s);
  assert_sorted_uti(s->train, s->n_train);
  assert_sorted_uti(s->test, s->n_test);
  assert_per_user_counts(d.r, d.n, s, d.n_users);
  assert_temporal_per_user(s);
  split_free(s);
  free(orig);
  free(d.r);
}

/* Ties on ts are broken by item: two ratings at the same ts, the larger item goes to test. */
static void test_user_temporal_tie_by_item(void **state) {
  (void)state;
  const mr_rating r[] = {
      {0, 9, 4, 100}, {0, 2, 3, 100}, {0, 5, 1, 50}, {0, 7, 5, 10}, {0, 1, 2, 20}};
  split_result *s = NULL;
  assert_int_equal(split_make(SPLIT_USER_TEMPORAL, r, 5, 1, FRAC, SEED, &s), MR_OK);
  assert_int_equal(s->n_test, 1);
  assert_int_equal(s->test[0].item, 9);
  assert_int_equal(s->n_train, 4);
  const int32_t want_train[] = {7, 1, 5, 2}; /* (ts, item) order */
  for (int i = 0; i < 4; i++)
    assert_int_equal(s->train[i].item, want_train[i]);
  split_free(s);
}

static int cmp_i64(const void *pa, const void *pb) {
  int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
  return (a > b) - (a < b);
}

static void test_global_temporal(void **state) {
  (void)state;
  gen_data d = gen(11);
  int64_t *ts = malloc(d.n * sizeof(*ts));
  assert_non_null(ts);
  for (size_t i = 0; i < d.n; i++)
    ts[i] = d.r[i].ts;
  qsort(ts, d.n, sizeof(*ts), cmp_i64);
  int64_t cut = ts[(size_t)floor((1.0 - FRAC) * (double)d.n)];
  free(ts);

  split_result *s = NULL;
  assert_int_equal(split_make(SPLIT_GLOBAL_TEMPORAL, d.r, d.n, d.n_users, FRAC, SEED, &s), MR_OK);
  assert_sorted_uti(s->train, s->n_train);
  assert_sorted_uti(s->test, s->n_test);
  int has_train[N_USERS] = {0};
  for (size_t i = 0; i < s->n_train; i++) {
    assert_true(s->train[i].ts < cut);
    has_train[s->train[i].user] = 1;
  }
  for (size_t i = 0; i < s->n_test; i++) {
    assert_true(s->test[i].ts >= cut);
    assert_true(has_train[s->test[i].user]);
  }
  /* Expected sets computed directly: train = ts < cut, test = ts >= cut of users with train. */
  mr_rating *wt = malloc(d.n * sizeof(*wt)), *we = malloc(d.n * sizeof(*we));
  assert_non_null(wt);
  assert_non_null(we);
  size_t nt = 0, ne = 0, dropped = 0;
  int user_early[N_USERS] = {0};
  for (size_t i = 0; i < d.n; i++)
    if (d.r[i].ts < cut)
      user_early[d.r[i].user] = 1;
  for (size_t i = 0; i < d.n; i++) {
    if (d.r[i].ts < cut)
      wt[nt++] = d.r[i];
    else if (user_early[d.r[i].user])
      we[ne++] = d.r[i];
    else
      dropped++;
  }
  /* The generator must exercise both the drop rule and the cut tie (ratings at ts == cut). */
  assert_true(dropped > 0);
  assert_true(ne > 0);
  int at_cut = 0;
  for (size_t i = 0; i < s->n_test; i++)
    at_cut |= s->test[i].ts == cut;
  assert_true(at_cut);
  assert_same_multiset(wt, nt, s->train, s->n_train);
  assert_same_multiset(we, ne, s->test, s->n_test);
  free(wt);
  free(we);
  split_free(s);
  free(d.r);
}

static int same_split(const split_result *a, const split_result *b) {
  if (a->n_train != b->n_train || a->n_test != b->n_test)
    return 0;
  for (size_t i = 0; i < a->n_train; i++)
    if (!same_rating(&a->train[i], &b->train[i]))
      return 0;
  for (size_t i = 0; i < a->n_test; i++)
    if (!same_rating(&a->test[i], &b->test[i]))
      return 0;
  return 1;
}

static void test_random(void **state) {
  (void)state;
  gen_data d = gen(13);
  split_result *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL, *ut = NULL;
  assert_int_equal(split_make(SPLIT_RANDOM, d.r, d.n, d.n_users, FRAC, SEED, &s1), MR_OK);
  assert_partition(d.r, d.n, s1);
  assert_sorted_uti(s1->train, s1->n_train);
  assert_sorted_uti(s1->test, s1->n_test);
  assert_per_user_counts(d.r, d.n, s1, d.n_users);

  /* same seed -> same split, also from a reversed input order */
  for (size_t i = 0; i < d.n / 2; i++) {
    mr_rating t = d.r[i];
    d.r[i] = d.r[d.n - 1 - i];
    d.r[d.n - 1 - i] = t;
  }
  assert_int_equal(split_make(SPLIT_RANDOM, d.r, d.n, d.n_users, FRAC, SEED, &s2), MR_OK);
  assert_true(same_split(s1, s2));
  /* another seed -> another split of the same sizes */
  assert_int_equal(split_make(SPLIT_RANDOM, d.r, d.n, d.n_users, FRAC, SEED + 1, &s3), MR_OK);
  assert_int_equal(s3->n_test, s1->n_test);
  assert_false(same_split(s1, s3));
  assert_per_user_counts(d.r, d.n, s3, d.n_users);
  /* and not simply the temporal split */
  assert_int_equal(split_make(SPLIT_USER_TEMPORAL, d.r, d.n, d.n_users, FRAC, SEED, &ut), MR_OK);
  assert_false(same_split(s1, ut));
  /* no state carried between calls: a fresh call with SEED + 1 repeats s3 */
  assert_int_equal(split_make(SPLIT_RANDOM, d.r, d.n, d.n_users, FRAC, SEED + 1, &s4), MR_OK);
  assert_true(same_split(s3, s4));
  split_free(s1);
  split_free(s2);
  split_free(s3);
  split_free(s4);
  split_free(ut);
  free(d.r);
}

/* Validation is cut from train only, covers train exactly, and follows the protocol's shape. */
static void test_validation(void **state) {
  (void)state;
  gen_data d = gen(17);
  for (int k = SPLIT_USER_TEMPORAL; k <= SPLIT_RANDOM; k++) {
    split_result *s = NULL, *v = NULL, *v2 = NULL;
    assert_int_equal(split_make((split_kind)k, d.r, d.n, d.n_users, FRAC, SEED, &s), MR_OK);
    assert_int_equal(
        split_validation((split_kind)k, s->train, s->n_train, d.n_users, FRAC, SEED, &v), MR_OK);
    assert_sorted_uti(v->train, v->n_train);
    assert_sorted_uti(v->test, v->n_test);
    assert_true(v->n_test > 0);
    if (k == SPLIT_GLOBAL_TEMPORAL) {
      /* the mirror of a global cut: train's own (1 - FRAC) quantile timestamp; validation keeps
       * the later ratings of users seen before it, as the test split does */
      int64_t *ts = malloc((s->n_train + 1) * sizeof(*ts));
      assert_non_null(ts);
      for (size_t i = 0; i < s->n_train; i++)
        ts[i] = s->train[i].ts;
      qsort(ts, s->n_train, sizeof(*ts), cmp_i64);
      int64_t cut = ts[(size_t)floor((1.0 - FRAC) * (double)s->n_train)];
      free(ts);
      int early[N_USERS] = {0};
      size_t n_early = 0, n_late_seen = 0;
      for (size_t i = 0; i < s->n_train; i++)
        if (s->train[i].ts < cut) {
          early[s->train[i].user] = 1;
          n_early++;
        }
      for (size_t i = 0; i < s->n_train; i++)
        n_late_seen += s->train[i].ts >= cut && early[s->train[i].user];
      for (size_t i = 0; i < v->n_train; i++)
        assert_true(v->train[i].ts < cut);
      for (size_t i = 0; i < v->n_test; i++)
        assert_true(v->test[i].ts >= cut && early[v->test[i].user]);
      assert_int_equal(v->n_train, n_early);
      assert_int_equal(v->n_test, n_late_seen);
      assert_true(n_late_seen < s->n_train - n_early); /* some late users are dropped */
    } else {
      assert_partition(s->train, s->n_train, v);
      assert_per_user_counts(s->train, s->n_train, v, d.n_users);
    }
    if (k == SPLIT_USER_TEMPORAL) {
      /* the end of each user's train part */
      assert_temporal_per_user(v);
    } else if (k == SPLIT_RANDOM) {
      /* deterministic, and not the test split's draw replayed on train */
      assert_int_equal(
          split_validation((split_kind)k, s->train, s->n_train, d.n_users, FRAC, SEED, &v2), MR_OK);
      assert_true(same_split(v, v2));
      split_result *same_seed = NULL;
      assert_int_equal(
          split_make(SPLIT_RANDOM, s->train, s->n_train, d.n_users, FRAC, SEED, &same_seed), MR_OK);
      assert_false(same_split(v, same_seed));
      split_free(same_seed);
    }
    split_free(s);
    split_free(v);
    split_free(v2);
  }
  free(d.r);
}

/* MovieLens-100k-sized input (943 users, 100k ratings): exercises the grouping path at scale
 * and checks the partition; timing is left to benchmarks. */
static void test_large(void **state) {
  (void)state;
  const int32_t nu = 943;
  const size_t n = 100000;
  mr_rating *r = malloc(n * sizeof(*r));
  assert_non_null(r);
  mr_rng rng;
  mr_rng_seed(&rng, 5);
  for (size_t i = 0; i < n; i++) {
    mr_rating x = {(int32_t)mr_rng_below(&rng, (uint64_t)nu), (int32_t)i,
                   (float)(1 + mr_rng_below(&rng, 5)), (int64_t)mr_rng_below(&rng, 1000000)};
    r[i] = x;
  }
  for (int k = SPLIT_USER_TEMPORAL; k <= SPLIT_RANDOM; k++) {
    split_result *s = NULL;
    assert_int_equal(split_make((split_kind)k, r, n, nu, FRAC, SEED, &s), MR_OK);
    assert_sorted_uti(s->train, s->n_train);
    assert_sorted_uti(s->test, s->n_test);
    if (k != SPLIT_GLOBAL_TEMPORAL)
      assert_partition(r, n, s);
    assert_true(s->n_test > n / 6 && s->n_test <= n / 5 + (size_t)nu);
    split_free(s);
  }
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_kind),      cmocka_unit_test(test_test_count),
      cmocka_unit_test(test_bad_args),        cmocka_unit_test(test_empty_input),
      cmocka_unit_test(test_user_temporal),   cmocka_unit_test(test_user_temporal_tie_by_item),
      cmocka_unit_test(test_global_temporal), cmocka_unit_test(test_random),
      cmocka_unit_test(test_validation),      cmocka_unit_test(test_large),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
