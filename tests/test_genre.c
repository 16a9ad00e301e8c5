/* Genre model: weighted rating against hand-computed values, MovieLens fallback, explicit genres,
 * history-driven shifts, save/load. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>

#include "model_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "data/csr.h"
#include "eval/split.h"
#include "models/genre.h"
#include "models/model.h"

/* 6 movies, 3 genres (0 Action, 1 Comedy, 2 Drama), 4 users.
 * IMDb: m0..m3 votes 100/200/300/400, ratings 6/7/8/9; m4 has an IMDb row with 0 votes; m5 none.
 * Train counts: m0 2, m1 2, m2 1, m3 1, m4 3 (mean 4), m5 0. */
typedef struct fixture {
  mr_dataset ds;
  mr_movie movies[6];
  csr *ui, *iu;
  mr_rating ratings[10];
  rec_train_data d;
} fixture;

static const mr_rating fx_ratings[10] = {
    {0, 0, 5, 1}, {0, 1, 4, 2}, {0, 4, 3, 3}, {1, 0, 4, 4}, {1, 2, 5, 5},
    {1, 4, 5, 6}, {2, 1, 2, 7}, {2, 3, 4, 8}, {3, 4, 4, 9}, {3, 4, 4, 9},
};

static int fx_setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  const double votes[6] = {100, 200, 300, 400, 0, 0};
  const float rat[6] = {6, 7, 8, 9, 0, 0};
  const uint32_t genres[6] = {1u, 2u, 4u, 1u | 4u, 2u, 1u};
  for (int i = 0; i < 6; i++) {
    f->movies[i].id = i + 1;
    f->movies[i].has_imdb = i < 5;
    f->movies[i].imdb_votes = votes[i];
    f->movies[i].imdb_rating = rat[i];
    f->movies[i].genres = genres[i];
  }
  f->ds.movies = f->movies;
  f->ds.n_movies = 6;
  f->ds.n_users = 4;
  f->ds.n_genres = 3;
  /* the duplicate last rating collapses in the csr: user 3 has one rating of m4 */
  memcpy(f->ratings, fx_ratings, sizeof(fx_ratings));
  assert_int_equal(csr_from_ratings(f->ratings, 9, 4, 6, 0, &f->ui), MR_OK);
  assert_int_equal(csr_transpose(f->ui, &f->iu), MR_OK);
  /* reference time = the end of the data for every user (random split); test_as_of_* covers
   * per-user times */
  f->d = (rec_train_data){.ds = &f->ds,
                          .ratings = f->ratings,
                          .n_ratings = 9,
                          .ui = f->ui,
                          .iu = f->iu,
                          .protocol = SPLIT_RANDOM};
  *state = f;
  return 0;
}

static int fx_teardown(void **state) {
  fixture *f = *state;
  csr_free(f->ui);
  csr_free(f->iu);
  free(f);
  return 0;
}

static void test_weighted_rating_formula(void **state) {
  (void)state;
  /* 1000/1500*8 + 500/1500*6 */
  assert_float_equal(genre_weighted_rating(1000, 8, 500, 6), 22.0 / 3.0, 1e-12);
  assert_float_equal(genre_weighted_rating(0, 9, 0, 6.5), 6.5, 1e-12);
  double x[5] = {400, 100, 300, 200, 1000};
  /* sorted 100 200 300 400 1000: q=0.8 at position 3.2 -> 400 + 0.2*600 */
  assert_float_equal(genre_quantile(x, 5, 0.8), 520.0, 1e-9);
  double y[4] = {100, 200, 300, 400};
  assert_float_equal(genre_quantile(y, 4, 0.5), 250.0, 1e-9);
}

static void test_quality_hand_computed(void **state) {
  fixture *f = *state;
  genre_opts o;
  genre_model *m = NULL;
  genre_opts_default(&o);
  o.m_quantile = 0.5;
  assert_int_equal(genre_fit(&o, &f->d, &m), MR_OK);
  const float *q = genre_quality(m);
  /* m = 250 (median of 100..400), C = 7.5 (mean of 6..9) */
  assert_float_equal(q[0], (100 * 6 + 250 * 7.5) / 350, 1e-5);
  assert_float_equal(q[1], (200 * 7 + 250 * 7.5) / 450, 1e-5);
  assert_float_equal(q[2], (300 * 8 + 250 * 7.5) / 550, 1e-5);
  assert_float_equal(q[3], (400 * 9 + 250 * 7.5) / 650, 1e-5);
  /* m4 has 0 IMDb votes: MovieLens count 3, mean 4 -> 7.75 on 1-10, m' = median of the train
   * counts {1,1,2,2,3} = 2, shrunk toward the same C */
  assert_float_equal(q[4], 3.0 / 5 * 7.75 + 2.0 / 5 * 7.5, 1e-5);
  /* m5: neither IMDb nor train ratings -> C */
  assert_float_equal(q[5], 7.5, 1e-5);
  genre_free(m);
}

static void test_empty_history_is_wr(void **state) {
  fixture *f = *state;
  genre_opts o;
  genre_model *m = NULL;
  float s[6];
  genre_opts_default(&o);
  o.pop = 0;
  assert_int_equal(genre_fit(&o, &f->d, &m), MR_OK);
  assert_int_equal(genre_score_history(m, NULL, NULL, 0, s), MR_OK);
  for (int i = 0; i < 6; i++)
    assert_float_equal(s[i], genre_quality(m)[i], 1e-6);
  assert_int_equal(genre_score_genres(m, 0, s), MR_OK);
  for (int i = 0; i < 6; i++)
    assert_float_equal(s[i], genre_quality(m)[i], 1e-6);
  genre_free(m);
  /* pop = 1 multiplies by 1 + train count (2, 2, 1, 1, 3, 0); explicit genres stay on WR */
  const double cnt[6] = {2, 2, 1, 1, 3, 0};
  o.pop = 1;
  assert_int_equal(genre_fit(&o, &f->d, &m), MR_OK);
  assert_int_equal(genre_score_history(m, NULL, NULL, 0, s), MR_OK);
  for (int i = 0; i < 6; i++)
    assert_float_equal(s[i], genre_quality(m)[i] * (1 + cnt[i]), 1e-5);
  assert_int_equal(genre_score_genres(m, 0, s), MR_OK);
  for (int i = 0; i < 6; i++)
    assert_float_equal(s[i], genre_quality(m)[i], 1e-6);
  genre_free(m);
}

static void test_explicit_genres_first(void **state) {
  fixture *f = *state;
  genre_opts o;
  genre_model *m = NULL;
  float s[6];
  int32_t top[6];
  genre_opts_default(&o);
  o.m_quantile = 0.5;
  assert_int_equal(genre_fit(&o, &f->d, &m), MR_OK);
  /* Comedy: m1 (WR 7.28) and m4 (7.65), though m3 (8.42) and m2 (7.77) are better overall */
  assert_int_equal(genre_score_genres(m, 1u << 1, s), MR_OK);
  assert_int_equal(rec_top_n(s, 6, NULL, 6, top, NULL), 6);
  assert_int_equal(top[0], 4);
  assert_int_equal(top[1], 1);
  assert_int_equal(top[2], 3);
  /* Action + Drama: m3, m2, m5, m0 (all by WR), then the comedies */
  assert_int_equal(genre_score_genres(m, 1u | 4u, s), MR_OK);
  assert_int_equal(rec_top_n(s, 6, NULL, 6, top, NULL), 6);
  assert_int_equal(top[0], 3);
  assert_int_equal(top[1], 2);
  assert_int_equal(top[2], 5);
  assert_int_equal(top[3], 0);
  genre_free(m);
}

static void test_history_shifts_to_genres(void **state) {
  fixture *f = *state;
  genre_opts o;
  genre_model *m = NULL;
  float s[6];
  int32_t top[2];
  genre_opts_default(&o);
  o.smooth = 1;
  o.beta = 2;
  o.pop = 0;
  assert_int_equal(genre_fit(&o, &f->d, &m), MR_OK);
  const float *q = genre_quality(m);
  const int32_t items[2] = {1, 4};
  const float ratings[2] = {5, 5};
  assert_int_equal(genre_score_history(m, items, ratings, 2, s), MR_OK);
  /* comedies gain, everything else loses against WR alone */
  assert_true(s[1] > q[1] && s[4] > q[4]);
  assert_true(s[0] < q[0] && s[2] < q[2] && s[3] < q[3] && s[5] < q[5]);
  assert_int_equal(rec_top_n(s, 6, NULL, 2, top, NULL), 2);
  assert_true((top[0] == 1 && top[1] == 4) || (top[0] == 4 && top[1] == 1));
  /* ratings matter: a disliked action movie next to a liked comedy pulls action down and
   * comedy up, against liking both */
  float sa[6], sb[6];
  const int32_t pair[2] = {1, 0};
  const float both[2] = {5, 5}, one[2] = {5, 1};
  assert_int_equal(genre_score_history(m, pair, both, 2, sa), MR_OK);
  assert_int_equal(genre_score_history(m, pair, one, 2, sb), MR_OK);
  assert_true(sb[0] < sa[0]);
  assert_true(sb[1] > sa[1]);
  /* a training user's scores are its own history's */
  float su[6], sh[6];
  const int32_t u2_items[2] = {1, 3};
  const float u2_r[2] = {2, 4};
  assert_int_equal(genre_score_user(m, 2, su), MR_OK);
  assert_int_equal(genre_score_history(m, u2_items, u2_r, 2, sh), MR_OK);
  for (int i = 0; i < 6; i++)
    assert_float_equal(su[i], sh[i], 1e-5);
  assert_int_equal(genre_score_user(m, 4, su), MR_ERANGE);
  genre_free(m);
}

static void test_save_load(void **state) {
  fixture *f = *state;
  genre_opts o;
  genre_model *m = NULL, *l = NULL;
  float a[6], b[6];
  char path[] = "/tmp/test_genre_XXXXXX", err[256] = "";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  genre_opts_default(&o);
  o.beta = 1.5;
  o.pop = 0.7;
  assert_int_equal(genre_fit(&o, &f->d, &m), MR_OK);
  assert_int_equal(genre_save(m, path), MR_OK);
  assert_int_equal(genre_load(path, &l, err, sizeof(err)), MR_OK);
  assert_int_equal(genre_n_items(l), 6);
  assert_int_equal(genre_n_genres(l), 3);
  for (int32_t u = 0; u < 4; u++) {
    assert_int_equal(genre_score_user(m, u, a), MR_OK);
    assert_int_equal(genre_score_user(l, u, b), MR_OK);
    assert_memory_equal(a, b, sizeof(a));
  }
  /* through the registry as well */
  rec_model *r = NULL;
  assert_int_equal(rec_load(path, &r, err, sizeof(err)), MR_OK);
  assert_string_equal(rec_kind(r), "genre");
  assert_int_equal(rec_score_user(r, 1, b), MR_OK);
  assert_int_equal(genre_score_user(m, 1, a), MR_OK);
  assert_memory_equal(a, b, sizeof(a));
  const int32_t hist[2] = {0, 3};
  const float hr[2] = {5, 2};
  check_score_items(r, 4, hist, hr, 2);
  rec_free(r);
  genre_free(l);
  genre_free(m);
  genre_free(NULL);
  unlink(path);
}

/* Fitted under per-user reference times (user-temporal), a user's scores are those of a model
 * fitted on nothing but the ratings up to that user's latest one: WR's MovieLens fallback, the
 * popularity boost and the genre mix never count a later rating. A history scored as of a time
 * matches the same refit; a loaded model refuses an earlier time. */
static void test_as_of_matches_refit(void **state) {
  fixture *f = *state;
  genre_opts o;
  genre_model *m = NULL;
  float a[6], b[6];
  genre_opts_default(&o);
  o.pop = 1.5;
  o.m_quantile = 0.5;
  rec_train_data d = f->d;
  d.protocol = SPLIT_USER_TEMPORAL;
  assert_int_equal(genre_fit(&o, &d, &m), MR_OK);
  const int32_t hist[2] = {0, 3};
  const float hr[2] = {5, 2};
  for (int32_t u = 0; u < 4; u++) {
    int64_t ref = 0;
    for (int k = 0; k < 9; k++)
      if (f->ratings[k].user == u && f->ratings[k].ts > ref)
        ref = f->ratings[k].ts;
    mr_rating past[9];
    size_t n = 0;
    for (int k = 0; k < 9; k++)
      if (f->ratings[k].ts <= ref)
        past[n++] = f->ratings[k];
    csr *ui = NULL, *iu = NULL;
    genre_model *oracle = NULL;
    assert_int_equal(csr_from_ratings(past, n, 4, 6, 0, &ui), MR_OK);
    assert_int_equal(csr_transpose(ui, &iu), MR_OK);
    rec_train_data dp = {.ds = &f->ds,
                         .ratings = past,
                         .n_ratings = n,
                         .ui = ui,
                         .iu = iu,
                         .protocol = SPLIT_RANDOM};
    assert_int_equal(genre_fit(&o, &dp, &oracle), MR_OK);
    assert_int_equal(genre_score_user(m, u, a), MR_OK);
    assert_int_equal(genre_score_user(oracle, u, b), MR_OK);
    for (int i = 0; i < 6; i++)
      assert_float_equal(a[i], b[i], 1e-5 * (1 + fabs(b[i])));
    assert_int_equal(genre_score_history_at(m, hist, hr, 2, ref, a), MR_OK);
    assert_int_equal(genre_score_history(oracle, hist, hr, 2, b), MR_OK);
    for (int i = 0; i < 6; i++)
      assert_float_equal(a[i], b[i], 1e-5 * (1 + fabs(b[i])));
    genre_free(oracle);
    csr_free(ui);
    csr_free(iu);
  }
  /* user 0's time (3) excludes later ratings of m4: its boost is smaller than at the end */
  assert_int_equal(genre_score_history_at(m, hist, hr, 2, 3, a), MR_OK);
  assert_int_equal(genre_score_history_at(m, hist, hr, 2, REC_REF_END, b), MR_OK);
  assert_true(a[4] < b[4]);
  /* through the registry, and refused once loaded */
  char path[] = "/tmp/test_genre_asof_XXXXXX", err[256] = "";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(genre_save(m, path), MR_OK);
  rec_model *r = NULL;
  assert_int_equal(rec_load(path, &r, err, sizeof(err)), MR_OK);
  assert_int_equal(rec_score_history_at(r, hist, hr, 2, 3, a), MR_EUNSUPPORTED);
  assert_int_equal(rec_score_history_at(r, hist, hr, 2, REC_REF_END, a), MR_OK);
  rec_free(r);
  unlink(path);
  rec_params p;
  assert_int_equal(rec_params_parse("pop=1.5,m_quantile=0.5", &p), MR_OK);
  assert_int_equal(rec_fit("genre", &p, &d, &r), MR_OK);
  check_score_items(r, 4, hist, hr, 2);
  rec_free(r);
  genre_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_weighted_rating_formula),
      cmocka_unit_test_setup_teardown(test_quality_hand_computed, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_empty_history_is_wr, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_explicit_genres_first, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_history_shifts_to_genres, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_save_load, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_as_of_matches_refit, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
