/* The offline protocol itself (eval_run, eval_tune, cold_run) on synthetic data: nothing behind
 * the test part reaches a chosen parameter, a fitted model or a list. (a) change every test
 * rating: the tuned parameters, the validation scores and every list are identical; (b) on
 * global-temporal, add ratings after the cut: every list is identical; the cold-start runner's
 * chosen parameters do not move with the test ratings either. Per-feature as-of checks ((c), (d))
 * are in test_features.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "eval/cold_start.h"
#include "eval/eval.h"
#include "eval/split.h"

#define NU 90
#define NI 60
#define MAXR (NU * 24)

typedef struct world {
  mr_user users[NU];
  mr_movie movies[NI];
  mr_rating r[MAXR];
  mr_dataset ds;
} world;

/* Two taste clusters over two genres; every user rates 10-17 movies of their cluster over time,
 * users interleaved in time so a global cut leaves most of them on both sides. */
static void world_make(world *w) {
  memset(w, 0, sizeof(*w));
  mr_rng rng;
  mr_rng_seed(&rng, 11);
  for (int i = 0; i < NI; i++)
    w->movies[i] = (mr_movie){.id = i + 1, .year = 1980 + i % 20, .genres = 1u << (1 + i % 2)};
  for (int u = 0; u < NU; u++)
    w->users[u] = (mr_user){.id = u + 1, .age = 20 + u % 30, .gender = u % 2 ? 'M' : 'F'};
  size_t n = 0;
  for (int u = 0; u < NU; u++) {
    int n_u = 10 + (int)mr_rng_below(&rng, 8);
    uint8_t seen[NI] = {0};
    for (int k = 0; k < n_u; k++) {
      int i;
      do
        i = 2 * (int)mr_rng_below(&rng, NI / 2) + u % 2;
      while (seen[i]);
      seen[i] = 1;
      w->r[n++] = (mr_rating){u, i, (float)(3 + mr_rng_below(&rng, 3)),
                              86400LL * (10 * k + (int64_t)mr_rng_below(&rng, 10))};
    }
  }
  w->ds = (mr_dataset){.users = w->users,
                       .n_users = NU,
                       .movies = w->movies,
                       .n_movies = NI,
                       .ratings = w->r,
                       .n_ratings = n};
}

/* A copy of w whose data set points at the copy's own arrays. */
static world *world_clone(const world *w) {
  world *v = malloc(sizeof(*v));
  assert_non_null(v);
  *v = *w;
  v->ds.users = v->users;
  v->ds.movies = v->movies;
  v->ds.ratings = v->r;
  return v;
}

/* Whether rating x is in the split's test part (test arrays are sorted by user, then time). */
static int in_test(const split_result *s, const mr_rating *x) {
  for (size_t i = 0; i < s->n_test; i++)
    if (s->test[i].user == x->user && s->test[i].item == x->item && s->test[i].ts == x->ts)
      return 1;
  return 0;
}

/* The configurations under test: baselines with as-of popularity, a tuned generator, and a
 * two-stage pipeline whose generators (ALS, genre) are tuned on its own validation cut. */
static const eval_config cfg_pop = {"pop", "pop", "", NULL, ""};
static const eval_config cfg_genre = {"genre", "genre", "", "pop=0|0.5", ""};
static const eval_config cfg_als = {"als", "als", "iters=6", "factors=4|8;reg=1|10", ""};
static const eval_config cfg_ts = {"ts", "two_stage", "gens=1,per_gen=20,trees=15,fgens=8",
                                   "depth=2|3!", ""};
static const eval_config *const cfgs[] = {&cfg_pop, &cfg_genre, &cfg_als, &cfg_ts};
#define NCFG 4

/* Runs the configurations; *lists gets every test user's top-10 (eval's --dump-recs lines). */
static void run(const world *w, split_kind k, eval_result *res, char **lists) {
  eval_opts o;
  eval_opts_default(&o);
  o.split = k;
  o.verbose = getenv("MR_TEST_VERBOSE") != NULL;
  size_t len = 0;
  FILE *f = open_memstream(lists, &len);
  assert_non_null(f);
  o.dump = f;
  assert_int_equal(eval_run(&w->ds, &o, cfgs, NCFG, res), MR_OK);
  fclose(f);
  assert_true(len > 0);
}

static void assert_same_choices(const eval_result *a, const eval_result *b) {
  for (int c = 0; c < NCFG; c++) {
    assert_string_equal(a[c].params, b[c].params);
    assert_string_equal(a[c].generators, b[c].generators);
    assert_string_equal(a[c].at_edge, b[c].at_edge);
    assert_true(a[c].valid_ndcg == b[c].valid_ndcg); /* bit-identical validation scores */
    assert_int_equal(a[c].tune_fits, b[c].tune_fits);
    assert_true(a[c].pop_penalty == b[c].pop_penalty && a[c].floor_met == b[c].floor_met);
    assert_true(a[c].valid_coverage == b[c].valid_coverage);
  }
}

/* (a) Every test rating changed (its value; on global-temporal its movie as well): the split's
 * train part, every chosen parameter, every validation score and every list stay identical,
 * while the test metrics move (the change is real). */
static void check_test_ratings_reach_nothing(split_kind k) {
  world *w = malloc(sizeof(*w));
  assert_non_null(w);
  world_make(w);
  world *v = world_clone(w);
  split_result *s = NULL, *t = NULL;
  assert_int_equal(split_make(k, w->r, w->ds.n_ratings, NU, 0.2, 42, &s), MR_OK);
  size_t changed = 0;
  for (size_t i = 0; i < v->ds.n_ratings; i++) {
    mr_rating *x = &v->r[i];
    if (!in_test(s, x))
      continue;
    x->rating = x->rating >= 4 ? 1.0f : 5.0f;
    if (k == SPLIT_GLOBAL_TEMPORAL) {
      /* a movie of the other cluster the user never rated: a different item altogether */
      int j = (x->item + 1) % NI;
      x->item = j;
    }
    changed++;
  }
  assert_true(changed > 50);
  assert_int_equal(split_make(k, v->r, v->ds.n_ratings, NU, 0.2, 42, &t), MR_OK);
  assert_int_equal(s->n_train, t->n_train);
  assert_memory_equal(s->train, t->train, s->n_train * sizeof(mr_rating));

  eval_result a[NCFG], b[NCFG];
  char *la = NULL, *lb = NULL;
  run(w, k, a, &la);
  run(v, k, b, &lb);
  assert_same_choices(a, b);
  assert_string_equal(la, lb);
  int moved = 0;
  for (int c = 0; c < NCFG; c++)
    moved += a[c].m.graded_ndcg != b[c].m.graded_ndcg; /* nDCG reads no rating value */
  assert_true(moved > 0);
  assert_true(a[3].tune_fits > 0);                  /* the pipeline's row was tuned */
  assert_non_null(strstr(a[3].generators, "als:")); /* and says what its generators used */
  /* the coverage floor: set from its generator on validation; met, or the ranker's own order */
  assert_true(a[3].coverage_floor > 0);
  if (a[3].floor_met)
    assert_true(a[3].valid_coverage >= a[3].coverage_floor);
  else
    assert_true(a[3].pop_penalty == 0);
  assert_true((strstr(a[3].params, "pop_penalty=") != NULL) == (a[3].pop_penalty > 0));
  free(la);
  free(lb);
  split_free(s);
  split_free(t);
  free(w);
  free(v);
}

static void test_user_temporal_test_part_unread(void **state) {
  (void)state;
  check_test_ratings_reach_nothing(SPLIT_USER_TEMPORAL);
}

static void test_global_temporal_test_part_unread(void **state) {
  (void)state;
  check_test_ratings_reach_nothing(SPLIT_GLOBAL_TEMPORAL);
}

static void test_random_test_part_unread(void **state) {
  (void)state;
  check_test_ratings_reach_nothing(SPLIT_RANDOM);
}

/* (b) Global-temporal: ratings added after the cut (new movies for users already in the test
 * part) change no list. The last 30% of the ratings share the cut's timestamp, so the (1 - 0.2)
 * quantile, hence the cut, stays where it was. */
static void test_global_temporal_ratings_after_cut(void **state) {
  (void)state;
  world *w = malloc(sizeof(*w));
  assert_non_null(w);
  world_make(w);
  size_t n = w->ds.n_ratings;
  int64_t *ts = malloc(n * sizeof(int64_t));
  for (size_t i = 0; i < n; i++)
    ts[i] = w->r[i].ts;
  /* the 70th percentile timestamp by counting */
  int64_t lo = 0, hi = 86400LL * 200;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    size_t below = 0;
    for (size_t i = 0; i < n; i++)
      below += ts[i] <= mid;
    if ((double)below >= 0.7 * (double)n)
      hi = mid;
    else
      lo = mid + 1;
  }
  free(ts);
  const int64_t cut = lo + 1;
  for (size_t i = 0; i < n; i++)
    if (w->r[i].ts >= cut)
      w->r[i].ts = cut;
  split_result *s = NULL, *t = NULL;
  assert_int_equal(split_make(SPLIT_GLOBAL_TEMPORAL, w->r, n, NU, 0.2, 42, &s), MR_OK);
  for (size_t i = 0; i < s->n_test; i++)
    assert_true(s->test[i].ts == cut);
  world *v = world_clone(w);
  /* a new movie for every test user, a day after the cut */
  int added = 0;
  for (size_t i = 0; i < s->n_test && v->ds.n_ratings < MAXR; i++) {
    if (i && s->test[i].user == s->test[i - 1].user)
      continue;
    int32_t u = s->test[i].user;
    uint8_t seen[NI] = {0};
    for (size_t j = 0; j < n; j++)
      if (v->r[j].user == u)
        seen[v->r[j].item] = 1;
    int m = 0;
    while (m < NI && seen[m])
      m++;
    if (m == NI)
      continue;
    v->r[v->ds.n_ratings++] = (mr_rating){u, m, 4.0f, cut + 86400};
    added++;
  }
  assert_true(added > 10);
  assert_int_equal(split_make(SPLIT_GLOBAL_TEMPORAL, v->r, v->ds.n_ratings, NU, 0.2, 42, &t),
                   MR_OK);
  assert_int_equal(t->n_test, s->n_test + (size_t)added);
  assert_int_equal(s->n_train, t->n_train);
  assert_memory_equal(s->train, t->train, s->n_train * sizeof(mr_rating));

  eval_result a[NCFG], b[NCFG];
  char *la = NULL, *lb = NULL;
  run(w, SPLIT_GLOBAL_TEMPORAL, a, &la);
  run(v, SPLIT_GLOBAL_TEMPORAL, b, &lb);
  assert_same_choices(a, b);
  assert_string_equal(la, lb);
  free(la);
  free(lb);
  split_free(s);
  split_free(t);
  free(w);
  free(v);
}

/* The cold-start runner tunes on the warm data's validation cut: changing every test rating
 * leaves every row's chosen parameters as they were, and the rows do score the test part. */
static void test_cold_start_test_part_unread(void **state) {
  (void)state;
  world *w = malloc(sizeof(*w));
  assert_non_null(w);
  world_make(w);
  world *v = world_clone(w);
  split_result *s = NULL;
  assert_int_equal(split_make(SPLIT_USER_TEMPORAL, w->r, w->ds.n_ratings, NU, 0.2, 42, &s), MR_OK);
  for (size_t i = 0; i < v->ds.n_ratings; i++)
    if (in_test(s, &v->r[i]))
      v->r[i].rating = v->r[i].rating >= 4 ? 1.0f : 5.0f;
  eval_opts o;
  eval_opts_default(&o);
  o.split = SPLIT_USER_TEMPORAL;
  o.verbose = getenv("MR_TEST_VERBOSE") != NULL;
  int nc = 0;
  while (cold_configs()[nc])
    nc++;
  cold_result *a = calloc((size_t)nc * COLD_N_LEVELS, sizeof(*a));
  cold_result *b = calloc((size_t)nc * COLD_N_LEVELS, sizeof(*b));
  int na = 0, nb = 0;
  assert_int_equal(cold_run(&w->ds, &o, a, &na), MR_OK);
  assert_int_equal(cold_run(&v->ds, &o, b, &nb), MR_OK);
  assert_int_equal(na, nc * COLD_N_LEVELS);
  assert_int_equal(na, nb);
  long users = 0;
  for (int i = 0; i < na; i++) {
    assert_string_equal(a[i].config, b[i].config);
    assert_int_equal(a[i].history, b[i].history);
    assert_string_equal(a[i].params, b[i].params);
    assert_int_equal(a[i].n_users, b[i].n_users);
    users += a[i].n_users;
  }
  assert_true(users > 0);
  free(a);
  free(b);
  split_free(s);
  free(w);
  free(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_user_temporal_test_part_unread),
      cmocka_unit_test(test_global_temporal_test_part_unread),
      cmocka_unit_test(test_random_test_part_unread),
      cmocka_unit_test(test_global_temporal_ratings_after_cut),
      cmocka_unit_test(test_cold_start_test_part_unread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
