/* Ranker features: table sanity, hand-checked values, popularity as of each user's reference time
 * (training users and history-only users), ablation blanking. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "data/csr.h"
#include "rank/features.h"

#define DAY 86400

static int feat_index(const char *name) {
  for (int f = 0; f < feat_count(); f++)
    if (!strcmp(feat_table()[f].name, name))
      return f;
  fail_msg("no feature %s", name);
  return -1;
}

static void test_table(void **state) {
  (void)state;
  assert_true(feat_count() >= 25);
  for (int a = 0; a < feat_count(); a++) {
    assert_non_null(feat_table()[a].description);
    assert_true(feat_table()[a].groups != 0);
    for (int b = a + 1; b < feat_count(); b++)
      assert_string_not_equal(feat_table()[a].name, feat_table()[b].name);
  }
  assert_string_equal(feat_names()[0], feat_table()[0].name);
}

/* 3 users, 4 movies. Movies: 0 Action (1990), 1 Comedy (2000), 2 Action|Comedy (1995), 3 Drama.
 * User 0 history: m0 r5 @day10, m1 r3 @day20. */
typedef struct world {
  mr_movie movies[4];
  mr_user users[3];
  mr_dataset ds;
  char *dir_a[1], *dir_b[1];
} world;

static void world_init(world *w) {
  memset(w, 0, sizeof(*w));
  w->movies[0] = (mr_movie){.id = 1, .year = 1990, .genres = 1u << 1};
  w->movies[1] = (mr_movie){.id = 2, .year = 2000, .genres = 1u << 5};
  w->movies[2] = (mr_movie){.id = 3, .year = 1995, .genres = (1u << 1) | (1u << 5)};
  w->movies[3] = (mr_movie){.id = 4, .year = 0, .genres = 1u << 8};
  w->dir_a[0] = "Jane Doe";
  w->dir_b[0] = "Jane Doe";
  w->movies[0].has_imdb = 1;
  w->movies[0].directors = (mr_strlist){w->dir_a, 1};
  w->movies[2].has_imdb = 1;
  w->movies[2].directors = (mr_strlist){w->dir_b, 1};
  w->movies[2].imdb_rating = 7.5f;
  w->movies[2].imdb_votes = 1000;
  w->users[0] = (mr_user){.id = 1, .age = 30, .gender = 'F', .occupation = 2};
  w->users[1] = (mr_user){.id = 2, .age = 0, .gender = '?', .occupation = -1};
  w->users[2] = (mr_user){.id = 3, .age = 40, .gender = 'M', .occupation = 1};
  w->ds.movies = w->movies;
  w->ds.n_movies = 4;
  w->ds.users = w->users;
  w->ds.n_users = 3;
}

static void compute(const world *w, const mr_rating *r, size_t n, int32_t user,
                    const int32_t *cands, int nc, int drop, float *x) {
  csr *ui = NULL, *iu = NULL;
  feat_ctx *c = NULL;
  feat_scratch *s = NULL;
  assert_int_equal(csr_from_ratings(r, n, 3, 4, 0, &ui), MR_OK);
  assert_int_equal(csr_transpose(ui, &iu), MR_OK);
  assert_int_equal(feat_ctx_create(&w->ds, r, n, ui, iu, NULL, 0, 1, &c), MR_OK);
  assert_int_equal(feat_scratch_create(c, &s), MR_OK);
  feat_user_input in;
  memset(&in, 0, sizeof(in));
  in.user = user;
  in.ref_ts = FEAT_REF_AUTO;
  in.cands = cands;
  in.n_cands = nc;
  in.drop_groups = drop;
  assert_int_equal(feat_compute(c, s, &in, x), MR_OK);
  feat_scratch_free(s);
  feat_ctx_free(c);
  csr_free(ui);
  csr_free(iu);
}

static void test_values(void **state) {
  (void)state;
  world w;
  world_init(&w);
  mr_rating r[] = {{0, 0, 5, 10 * DAY},
                   {0, 1, 3, 20 * DAY},
                   {1, 2, 4, 15 * DAY},
                   {2, 2, 2, 18 * DAY},
                   {2, 3, 1, 40 * DAY}};
  int32_t cands[2] = {2, 3};
  int nf = feat_count();
  float *x = calloc(2 * (size_t)nf, sizeof(float));
  compute(&w, r, 5, 0, cands, 2, 0, x);
  assert_float_equal(x[feat_index("user_log_activity")], log1p(2.0), 1e-6);
  assert_float_equal(x[feat_index("user_mean_rating")], 4.0, 1e-6);
  assert_float_equal(x[feat_index("user_rating_std")], 1.0, 1e-6);
  assert_float_equal(x[feat_index("user_tenure_days")], 10.0, 1e-6);
  assert_float_equal(x[feat_index("user_age")], 30.0, 0);
  assert_float_equal(x[feat_index("user_gender_male")], 0.0, 0);
  /* movie 2 rated twice (4, 2) */
  assert_float_equal(x[feat_index("movie_log_popularity")], log1p(2.0), 1e-6);
  assert_float_equal(x[feat_index("movie_mean_rating")], 3.0, 1e-6);
  /* as of user 0's last rating (day 20): ratings of movie 2 at days 15 and 18 */
  assert_float_equal(x[feat_index("movie_pop_7d")], 2.0, 0);
  /* genre shares of user 0: Action 1/2, Comedy 1/2; movie 2 has both: (1/2 + 1/2) / 2 */
  assert_float_equal(x[feat_index("genre_affinity")], 0.5, 1e-6);
  /* user's mean year (1990 + 2000) / 2 = 1995 */
  assert_float_equal(x[feat_index("year_distance")], 0.0, 1e-6);
  assert_float_equal(x[feat_index("genre_count")], 2.0, 0);
  /* user 0 liked movie 0 (5 stars), directed by Jane Doe, who directed movie 2 too */
  assert_float_equal(x[feat_index("same_director_liked")], 1.0, 0);
  assert_float_equal(x[feat_index("imdb_rating")], 7.5, 1e-6);
  /* movie 3 (second row) has no IMDb row and no year */
  assert_true(isnan(x[nf + feat_index("imdb_rating")]));
  assert_true(isnan(x[nf + feat_index("release_year")]));
  assert_true(isnan(x[nf + feat_index("same_director_liked")]));
  /* no generator scores given: their columns are missing */
  assert_true(isnan(x[feat_index("als_score")]));
  /* ablation blanks a whole group */
  compute(&w, r, 5, 0, cands, 2, FEAT_GROUP_USER, x);
  assert_true(isnan(x[feat_index("user_mean_rating")]));
  assert_false(isnan(x[feat_index("movie_log_popularity")]));
  free(x);
}

/* Two feature rows are the same, NaN for NaN. */
static void assert_rows_equal(const float *a, const float *b, int n) {
  for (int f = 0; f < n; f++) {
    if (isnan(a[f]) || isnan(b[f]))
      assert_true(isnan(a[f]) && isnan(b[f]));
    else
      assert_true(a[f] == b[f]);
  }
}

/* Popularity as of the user's reference time (their last rating, per-user times) ignores later
 * ratings: other users' ratings after user 0's last one change no feature of user 0. */
static void test_as_of_time(void **state) {
  (void)state;
  world w;
  world_init(&w);
  mr_rating r[] = {
      {0, 0, 5, 10 * DAY}, {0, 1, 3, 20 * DAY}, {1, 2, 4, 15 * DAY}, {2, 2, 2, 18 * DAY}};
  mr_rating later[] = {{0, 0, 5, 10 * DAY}, {0, 1, 3, 20 * DAY}, {1, 2, 4, 15 * DAY},
                       {2, 2, 2, 18 * DAY}, {1, 3, 5, 21 * DAY}, {2, 2, 5, 25 * DAY}};
  int32_t cands[2] = {2, 3};
  int nf = feat_count();
  float *a = calloc(2 * (size_t)nf, sizeof(float)), *b = calloc(2 * (size_t)nf, sizeof(float));
  compute(&w, r, 4, 0, cands, 2, 0, a);
  compute(&w, later, 6, 0, cands, 2, 0, b);
  assert_rows_equal(a, b, 2 * nf);
  int p7 = feat_index("movie_pop_7d"), p30 = feat_index("movie_pop_30d");
  int lp = feat_index("movie_log_popularity"), mr = feat_index("movie_mean_rating");
  assert_float_equal(b[nf + p30], 0.0, 0); /* movie 3's rating comes a day after user 0's last */
  assert_true(isnan(b[nf + mr]));          /* movie 3: no rating up to day 20 */
  /* an earlier rating does count */
  mr_rating earlier[] = {{0, 0, 5, 10 * DAY},
                         {0, 1, 3, 20 * DAY},
                         {1, 2, 4, 15 * DAY},
                         {2, 2, 2, 18 * DAY},
                         {1, 3, 5, 19 * DAY}};
  compute(&w, earlier, 5, 0, cands, 2, 0, b);
  assert_float_equal(b[nf + p7], 1.0, 0);
  assert_float_equal(b[nf + lp], log1p(1.0), 1e-6);
  assert_float_equal(b[nf + mr], 5.0, 0);
  free(a);
  free(b);
}

/* Rows of a history-only user with reference time ref from a context over r[0..n). */
static void compute_history(const world *w, const mr_rating *r, size_t n, int per_user, int64_t ref,
                            float *x) {
  csr *ui = NULL, *iu = NULL;
  feat_ctx *c = NULL;
  feat_scratch *s = NULL;
  assert_int_equal(csr_from_ratings(r, n, 3, 4, 0, &ui), MR_OK);
  assert_int_equal(csr_transpose(ui, &iu), MR_OK);
  assert_int_equal(feat_ctx_create(&w->ds, r, n, ui, iu, NULL, 0, per_user, &c), MR_OK);
  assert_int_equal(feat_scratch_create(c, &s), MR_OK);
  const int32_t hist[1] = {0};
  const float hr[1] = {4};
  const int32_t cands[3] = {1, 2, 3};
  feat_user_input in;
  memset(&in, 0, sizeof(in));
  in.user = -1;
  in.hist_items = hist;
  in.hist_ratings = hr;
  in.n_hist = 1;
  in.ref_ts = ref;
  in.cands = cands;
  in.n_cands = 3;
  assert_int_equal(feat_compute(c, s, &in, x), MR_OK);
  feat_scratch_free(s);
  feat_ctx_free(c);
  csr_free(ui);
  csr_free(iu);
}

/* A history-only (cold-start) user's features never read past the reference time given, and
 * without one they count everything (the end of the history: "now"). */
static void test_history_reference_time(void **state) {
  (void)state;
  world w;
  world_init(&w);
  mr_rating r[] = {
      {0, 0, 5, 10 * DAY}, {0, 1, 3, 20 * DAY}, {1, 2, 4, 15 * DAY}, {2, 2, 2, 18 * DAY}};
  mr_rating later[] = {{0, 0, 5, 10 * DAY}, {0, 1, 3, 20 * DAY}, {1, 2, 4, 15 * DAY},
                       {2, 2, 2, 18 * DAY}, {1, 3, 5, 21 * DAY}, {2, 2, 5, 25 * DAY},
                       {1, 1, 2, 30 * DAY}};
  int nf = feat_count();
  float *a = calloc(3 * (size_t)nf, sizeof(float)), *b = calloc(3 * (size_t)nf, sizeof(float));
  for (int per_user = 0; per_user < 2; per_user++) {
    compute_history(&w, r, 4, per_user, 20 * DAY, a);
    compute_history(&w, later, 7, per_user, 20 * DAY, b);
    assert_rows_equal(a, b, 3 * nf);
  }
  int lp = feat_index("movie_log_popularity");
  compute_history(&w, later, 7, 1, FEAT_REF_AUTO, b);   /* no times: the end of the history */
  assert_float_equal(b[2 * nf + lp], log1p(1.0), 1e-6); /* movie 3's day-21 rating counts */
  compute_history(&w, later, 7, 0, 16 * DAY, b);
  assert_float_equal(b[nf + lp], log1p(1.0), 1e-6); /* movie 2: only the day-15 rating */
  free(a);
  free(b);
}

/* Under end-of-data reference times (per_user 0: global-temporal, serving) a training user's
 * popularity counts every rating of the history, later than their own last one too. */
static void test_end_of_data_reference(void **state) {
  (void)state;
  world w;
  world_init(&w);
  mr_rating later[] = {{0, 0, 5, 10 * DAY}, {0, 1, 3, 20 * DAY}, {1, 2, 4, 15 * DAY},
                       {2, 2, 2, 18 * DAY}, {1, 3, 5, 21 * DAY}, {2, 2, 5, 25 * DAY}};
  csr *ui = NULL, *iu = NULL;
  feat_ctx *c = NULL;
  feat_scratch *s = NULL;
  assert_int_equal(csr_from_ratings(later, 6, 3, 4, 0, &ui), MR_OK);
  assert_int_equal(csr_transpose(ui, &iu), MR_OK);
  assert_int_equal(feat_ctx_create(&w.ds, later, 6, ui, iu, NULL, 0, 0, &c), MR_OK);
  assert_int_equal(feat_scratch_create(c, &s), MR_OK);
  int32_t cands[2] = {2, 3};
  int nf = feat_count();
  float *x = calloc(2 * (size_t)nf, sizeof(float));
  feat_user_input in;
  memset(&in, 0, sizeof(in));
  in.user = 0;
  in.ref_ts = FEAT_REF_AUTO;
  in.cands = cands;
  in.n_cands = 2;
  assert_int_equal(feat_compute(c, s, &in, x), MR_OK);
  assert_float_equal(x[feat_index("movie_log_popularity")], log1p(3.0), 1e-6);
  assert_float_equal(x[nf + feat_index("movie_log_popularity")], log1p(1.0), 1e-6);
  free(x);
  feat_scratch_free(s);
  feat_ctx_free(c);
  csr_free(ui);
  csr_free(iu);
}

/* The as-of popularity features (count, mean rating, 7- and 30-day counts, computed through the
 * per-movie time buckets in batched sweeps) against a scan over every rating, for every user and
 * all 60 movies as candidates, on 3,000 random ratings over 400 days (bursty: many on a few
 * days, so buckets hold runs of equal and near timestamps). */
static void test_popularity_matches_brute_force(void **state) {
  (void)state;
  enum { NU = 50, NM = 60, NR = 3000 };
  static mr_movie movies[NM];
  static mr_user users[NU];
  static mr_rating r[NR];
  memset(movies, 0, sizeof(movies));
  memset(users, 0, sizeof(users));
  for (int m = 0; m < NM; m++)
    movies[m] = (mr_movie){.id = m + 1, .year = 1950 + m, .genres = 1u << (m % 18)};
  for (int u = 0; u < NU; u++)
    users[u] = (mr_user){.id = u + 1, .age = 20, .gender = 'F', .occupation = 1};
  mr_dataset ds = {.movies = movies, .n_movies = NM, .users = users, .n_users = NU};
  uint64_t x = 12345;
  static uint8_t used[NU][NM];
  memset(used, 0, sizeof(used));
  size_t n = 0;
  for (int k = 0; k < 20 * NR && n < NR; k++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int u = (int)(x % NU), m = (int)((x >> 8) % NM);
    if (used[u][m])
      continue;
    used[u][m] = 1;
    int64_t day = (x >> 20) % 4 ? (int64_t)((x >> 24) % 400) : 100 + (int64_t)((x >> 24) % 3);
    r[n++] = (mr_rating){u, m, (float)(1 + (x >> 40) % 5), day * DAY + (int64_t)((x >> 44) % DAY)};
  }
  csr *ui = NULL, *iu = NULL;
  feat_ctx *c = NULL;
  feat_scratch *s = NULL;
  assert_int_equal(csr_from_ratings(r, n, NU, NM, 0, &ui), MR_OK);
  assert_int_equal(csr_transpose(ui, &iu), MR_OK);
  assert_int_equal(feat_ctx_create(&ds, r, n, ui, iu, NULL, 0, 1, &c), MR_OK);
  assert_int_equal(feat_scratch_create(c, &s), MR_OK);
  int32_t cands[NM];
  for (int m = 0; m < NM; m++)
    cands[m] = NM - 1 - m;
  int nf = feat_count();
  float *row = malloc((size_t)NM * (size_t)nf * sizeof(float));
  assert_non_null(row);
  int lp = feat_index("movie_log_popularity"), mr = feat_index("movie_mean_rating");
  int p7 = feat_index("movie_pop_7d"), p30 = feat_index("movie_pop_30d");
  for (int u = 0; u < NU; u++) {
    int64_t t_u = INT64_MIN;
    for (size_t k = 0; k < n; k++)
      if (r[k].user == u && r[k].ts > t_u)
        t_u = r[k].ts;
    if (t_u == INT64_MIN)
      continue;
    feat_user_input in;
    memset(&in, 0, sizeof(in));
    in.user = u;
    in.ref_ts = FEAT_REF_AUTO;
    in.cands = cands;
    in.n_cands = NM;
    assert_int_equal(feat_compute(c, s, &in, row), MR_OK);
    for (int ci = 0; ci < NM; ci++) {
      int m = cands[ci];
      long cnt = 0, c7 = 0, c30 = 0;
      double sum = 0;
      for (size_t k = 0; k < n; k++) {
        if (r[k].item != m || r[k].ts > t_u)
          continue;
        cnt++;
        sum += r[k].rating;
        c7 += r[k].ts > t_u - 7 * DAY;
        c30 += r[k].ts > t_u - 30 * DAY;
      }
      const float *xr = row + (size_t)ci * nf;
      assert_float_equal(xr[lp], log1p((double)cnt), 1e-6);
      if (cnt)
        assert_float_equal(xr[mr], sum / (double)cnt, 1e-5);
      else
        assert_true(isnan(xr[mr]));
      assert_float_equal(xr[p7], (double)c7, 0);
      assert_float_equal(xr[p30], (double)c30, 0);
    }
  }
  free(row);
  feat_scratch_free(s);
  feat_ctx_free(c);
  csr_free(ui);
  csr_free(iu);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_as_of_time),
      cmocka_unit_test(test_history_reference_time),
      cmocka_unit_test(test_end_of_data_reference),
      cmocka_unit_test(test_popularity_matches_brute_force),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
