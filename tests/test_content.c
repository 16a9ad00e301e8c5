/* Content model: tokenizer, TF-IDF against hand-computed weights, SVD against LAPACKE's direct
 * SVD, nearest neighbour of a near-duplicate movie, profiles, save/load. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "data/csr.h"
#include "model_check.h"
#include "models/content.h"
#include "models/model.h"

typedef struct words {
  char w[8][32];
  int n;
} words;

static void collect(const char *word, void *ctx) {
  words *w = ctx;
  if (w->n < 8)
    snprintf(w->w[w->n++], sizeof(w->w[0]), "%s", word);
}

static void test_tokenizer(void **state) {
  (void)state;
  words w = {0};
  assert_int_equal(content_tokenize("The Boy's 2 dogs, and a CAT-fight!", collect, &w), 4);
  assert_int_equal(w.n, 4);
  assert_string_equal(w.w[0], "boy");
  assert_string_equal(w.w[1], "dogs");
  assert_string_equal(w.w[2], "cat");
  assert_string_equal(w.w[3], "fight");
  assert_true(content_is_stop_word("the"));
  assert_true(content_is_stop_word("yourself"));
  assert_true(content_is_stop_word("about"));
  assert_false(content_is_stop_word("dog"));
}

/* Corpus: d0 "a b b c", d1 "a c", d2 "a d". N = 3, df a 3, b 1, c 2, d 1,
 * idf = ln(4 / (1 + df)) + 1: a 1, b 1.693147, c 1.287682, d 1.693147.
 * d0 = (1, 2*1.693147, 1.287682) / 3.758372 = (0.266075, 0.901008, 0.342620)
 * d1 = (1, 1.287682) / 1.630364 = (0.613356, 0.789807)
 * d2 = (1, 1.693147) / 1.966432 = (0.508542, 0.861037) */
static const char *const corpus[] = {"a", "b", "b", "c", "a", "c", "a", "d"};
static const int64_t corpus_ptr[4] = {0, 4, 6, 8};

static void test_tfidf_hand_computed(void **state) {
  (void)state;
  content_tfidf *t = NULL;
  assert_int_equal(content_tfidf_build(3, corpus_ptr, corpus, NULL, 1, &t), MR_OK);
  assert_int_equal(t->n_docs, 3);
  assert_int_equal(t->n_terms, 4);
  assert_string_equal(t->terms[0], "a");
  assert_string_equal(t->terms[3], "d");
  assert_int_equal(t->df[0], 3);
  assert_int_equal(t->df[2], 2);
  assert_float_equal(content_tfidf_get(t, 0, "a"), 0.266075, 1e-5);
  assert_float_equal(content_tfidf_get(t, 0, "b"), 0.901008, 1e-5);
  assert_float_equal(content_tfidf_get(t, 0, "c"), 0.342620, 1e-5);
  assert_float_equal(content_tfidf_get(t, 0, "d"), 0.0, 1e-9);
  assert_float_equal(content_tfidf_get(t, 1, "a"), 0.613356, 1e-5);
  assert_float_equal(content_tfidf_get(t, 1, "c"), 0.789807, 1e-5);
  assert_float_equal(content_tfidf_get(t, 2, "a"), 0.508542, 1e-5);
  assert_float_equal(content_tfidf_get(t, 2, "d"), 0.861037, 1e-5);
  assert_int_equal(t->indptr[3], 7);
  content_tfidf_free(t);

  /* min_df 2 drops b and d (idf still from N = 3): d0 becomes d1's row, d2 is just "a" */
  assert_int_equal(content_tfidf_build(3, corpus_ptr, corpus, NULL, 2, &t), MR_OK);
  assert_int_equal(t->n_terms, 2);
  assert_float_equal(content_tfidf_get(t, 0, "a"), 0.613356, 1e-5);
  assert_float_equal(content_tfidf_get(t, 0, "c"), 0.789807, 1e-5);
  assert_float_equal(content_tfidf_get(t, 0, "b"), 0.0, 1e-9);
  assert_float_equal(content_tfidf_get(t, 2, "a"), 1.0, 1e-6);
  content_tfidf_free(t);

  /* field weights: c weighted 2 in d1 -> (1, 2*1.287682) normalized */
  const float w[8] = {1, 1, 1, 1, 1, 2, 1, 1};
  assert_int_equal(content_tfidf_build(3, corpus_ptr, corpus, w, 1, &t), MR_OK);
  double n1 = sqrt(1.0 + 4 * 1.287682 * 1.287682);
  assert_float_equal(content_tfidf_get(t, 1, "a"), 1.0 / n1, 1e-5);
  assert_float_equal(content_tfidf_get(t, 1, "c"), 2 * 1.287682 / n1, 1e-5);
  content_tfidf_free(t);
}

/* A 5 x 7 sparse matrix of rank 5. */
static const int64_t sv_ptr[6] = {0, 3, 5, 8, 10, 13};
static const int32_t sv_idx[13] = {0, 2, 5, 1, 2, 0, 3, 6, 4, 5, 1, 3, 6};
static const float sv_val[13] = {1.0f, 2.0f, 0.5f, 3.0f, 1.0f, 0.7f, 1.5f,
                                 2.5f, 1.2f, 0.3f, 0.9f, 2.2f, 0.4f};

static void test_svd_against_lapacke(void **state) {
  (void)state;
  float dense[5 * 7] = {0}, s_ref[5], u[25], vt[49];
  for (int r = 0; r < 5; r++)
    for (int64_t k = sv_ptr[r]; k < sv_ptr[r + 1]; k++)
      dense[r * 7 + sv_idx[k]] = sv_val[k];
  assert_int_equal(LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'A', 5, 7, dense, 7, s_ref, u, 5, vt, 7), 0);
  float us[25], sigma[5];
  assert_int_equal(content_svd(5, 7, sv_ptr, sv_idx, sv_val, 5, us, sigma), MR_OK);
  for (int j = 0; j < 5; j++)
    assert_float_equal(sigma[j], s_ref[j], 1e-3 * s_ref[0]);
  /* full rank: (U S)(U S)^T reconstructs X X^T */
  float xd[35] = {0};
  for (int r = 0; r < 5; r++)
    for (int64_t k = sv_ptr[r]; k < sv_ptr[r + 1]; k++)
      xd[r * 7 + sv_idx[k]] = sv_val[k];
  for (int a = 0; a < 5; a++)
    for (int b = 0; b < 5; b++) {
      double g = 0, h = 0;
      for (int c = 0; c < 7; c++)
        g += (double)xd[a * 7 + c] * xd[b * 7 + c];
      for (int j = 0; j < 5; j++)
        h += (double)us[a * 5 + j] * us[b * 5 + j];
      assert_float_equal(h, g, 1e-3);
    }
  /* truncated: the top 2 singular values only, columns match U S up to sign */
  float us2[10], sigma2[2];
  assert_int_equal(content_svd(5, 7, sv_ptr, sv_idx, sv_val, 2, us2, sigma2), MR_OK);
  for (int j = 0; j < 2; j++) {
    assert_float_equal(sigma2[j], s_ref[j], 1e-3 * s_ref[0]);
    double dot = 0;
    for (int r = 0; r < 5; r++)
      dot += (double)us2[r * 2 + j] * u[r * 5 + j] * s_ref[j];
    assert_float_equal(fabs(dot), (double)s_ref[j] * s_ref[j], 1e-2 * s_ref[j] * s_ref[j]);
  }
  assert_int_equal(content_svd(5, 7, sv_ptr, sv_idx, sv_val, 6, us, sigma), MR_EINVAL);
}

/* 7 movies with IMDb text; movie 6 is a near-copy of movie 2 (same description, director,
 * cast, one writer less). */
typedef struct fixture {
  mr_dataset ds;
  mr_movie mv[7];
  char *dirs[7][1], *cast[7][3], *wri[7][2];
  mr_rating r[12];
  csr *ui, *iu;
  rec_train_data d;
} fixture;

static const char *const fx_desc[7] = {
    "A young boy befriends a wild horse on a remote island after a shipwreck.",
    "Two detectives hunt a serial killer through a rainy city.",
    "A retired pilot trains his daughter to fly across the ocean in a small plane.",
    "A detective and his partner chase a killer across the city at night.",
    "A boy and his horse survive a storm on the island.",
    "A comedy about a wedding that goes wrong in every possible way.",
    "A retired pilot teaches his daughter to fly a small plane across the ocean.",
};
static const char *const fx_dir[7] = {"Carroll Ballard", "David Fincher",   "Ron Howard",
                                      "David Fincher",   "Carroll Ballard", "Garry Marshall",
                                      "Ron Howard"};
static const char *const fx_cast[7][3] = {
    {"Kelly Reno", "Teri Garr", "Mickey Rooney"}, {"Brad Pitt", "Morgan Freeman", "Kevin Spacey"},
    {"Tom Hanks", "Helen Hunt", "Bill Paxton"},   {"Morgan Freeman", "Ashley Judd", "Cary Elwes"},
    {"Kelly Reno", "Mickey Rooney", "Teri Garr"}, {"Julia Roberts", "Richard Gere", "Joan Cusack"},
    {"Tom Hanks", "Helen Hunt", "Gary Sinise"}};
static const uint32_t fx_genres[7] = {1u << 3, 1u << 16, 1u << 8, 1u << 16,
                                      1u << 3, 1u << 5,  1u << 8};

static int fx_setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  for (int i = 0; i < 7; i++) {
    mr_movie *m = &f->mv[i];
    m->id = i + 1;
    m->year = 1979 + 3 * i;
    m->genres = fx_genres[i];
    m->has_imdb = 1;
    m->description = (char *)fx_desc[i];
    f->dirs[i][0] = (char *)fx_dir[i];
    m->directors = (mr_strlist){f->dirs[i], 1};
    for (int k = 0; k < 3; k++)
      f->cast[i][k] = (char *)fx_cast[i][k];
    m->cast = (mr_strlist){f->cast[i], 3};
    f->wri[i][0] = (char *)(i % 2 ? "Writer One" : "Writer Two");
    f->wri[i][1] = (char *)"Writer Three";
    m->writers = (mr_strlist){f->wri[i], i == 6 ? 1 : 2};
    m->age_rating = (char *)(i % 3 ? "PG" : "R");
  }
  f->ds.movies = f->mv;
  f->ds.n_movies = 7;
  f->ds.n_users = 3;
  /* user 0 likes the horse films, dislikes the thriller; user 1 the detectives; user 2 none */
  const mr_rating r[6] = {{0, 0, 5, 1}, {0, 4, 5, 2}, {0, 1, 1, 3},
                          {1, 1, 5, 4}, {1, 3, 4, 5}, {1, 5, 2, 6}};
  memcpy(f->r, r, sizeof(r));
  assert_int_equal(csr_from_ratings(f->r, 6, 3, 7, 0, &f->ui), MR_OK);
  assert_int_equal(csr_transpose(f->ui, &f->iu), MR_OK);
  f->d = (rec_train_data){.ds = &f->ds, .ratings = f->r, .n_ratings = 6, .ui = f->ui, .iu = f->iu};
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

static void test_near_duplicate_neighbour(void **state) {
  fixture *f = *state;
  content_opts o;
  content_model *m = NULL;
  content_opts_default(&o);
  o.dim = 6;
  assert_int_equal(content_fit(&o, &f->d, &m), MR_OK);
  int d = 0;
  const float *e = content_item_embeddings(m, &d);
  assert_int_equal(d, 6);
  for (int i = 0; i < 7; i++) {
    double n = 0;
    for (int j = 0; j < d; j++)
      n += (double)e[i * d + j] * e[i * d + j];
    assert_float_equal(n, 1.0, 1e-4);
  }
  int32_t top[3];
  float ts[3];
  assert_int_equal(content_similar(m, 2, 3, top, ts), 3);
  assert_int_equal(top[0], 6);
  assert_true(ts[0] > 0.8f && ts[0] > ts[1]);
  assert_int_equal(content_similar(m, 6, 1, top, NULL), 1);
  assert_int_equal(top[0], 2);
  assert_int_equal(content_similar(m, 0, 1, top, NULL), 1);
  assert_int_equal(top[0], 4);
  assert_int_equal(content_similar(m, 3, 1, top, NULL), 1);
  assert_int_equal(top[0], 1);
  assert_int_equal(content_similar(m, 7, 1, top, NULL), MR_EINVAL);
  content_free(m);
}

static void test_profiles(void **state) {
  fixture *f = *state;
  content_opts o;
  content_model *m = NULL;
  float s[7], h[7];
  int32_t top[2];
  uint8_t ex[7] = {0};
  content_opts_default(&o);
  o.dim = 6;
  assert_int_equal(content_fit(&o, &f->d, &m), MR_OK);
  /* user 0: unseen movies ranked, the other horse film is gone (rated), so the best unseen is
   * not a detective film */
  assert_int_equal(content_score_user(m, 0, s), MR_OK);
  ex[0] = ex[4] = ex[1] = 1;
  assert_int_equal(rec_top_n(s, 7, ex, 1, top, NULL), 1);
  assert_true(top[0] != 3);
  assert_true(s[4] > s[3] && s[0] > s[1]);
  /* user 1 likes detectives: 3 scores above the horse films */
  assert_int_equal(content_score_user(m, 1, s), MR_OK);
  assert_true(s[3] > s[0] && s[3] > s[4]);
  /* score_history with the same history gives the same scores */
  const int32_t items[3] = {1, 3, 5};
  const float rt[3] = {5, 4, 2};
  assert_int_equal(content_score_history(m, items, rt, 3, h), MR_OK);
  for (int i = 0; i < 7; i++)
    assert_float_equal(h[i], s[i], 1e-5);
  /* no ratings: zeros */
  assert_int_equal(content_score_user(m, 2, s), MR_OK);
  for (int i = 0; i < 7; i++)
    assert_float_equal(s[i], 0.0, 1e-9);
  assert_int_equal(content_score_user(m, 3, s), MR_ERANGE);
  content_free(m);
}

static void test_save_load(void **state) {
  fixture *f = *state;
  content_opts o;
  content_model *m = NULL, *l = NULL;
  float a[7], b[7];
  char path[] = "/tmp/test_content_XXXXXX", err[256] = "";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  content_opts_default(&o);
  o.dim = 4;
  o.wmode = 2;
  assert_int_equal(content_fit(&o, &f->d, &m), MR_OK);
  assert_int_equal(content_save(m, path), MR_OK);
  assert_int_equal(content_load(path, &l, err, sizeof(err)), MR_OK);
  assert_int_equal(content_n_items(l), 7);
  int d1, d2;
  const float *e1 = content_item_embeddings(m, &d1), *e2 = content_item_embeddings(l, &d2);
  assert_int_equal(d1, d2);
  assert_memory_equal(e1, e2, 7 * (size_t)d1 * sizeof(float));
  for (int32_t u = 0; u < 3; u++) {
    assert_int_equal(content_score_user(m, u, a), MR_OK);
    assert_int_equal(content_score_user(l, u, b), MR_OK);
    assert_memory_equal(a, b, sizeof(a));
  }
  const int32_t items[2] = {0, 5};
  const float rt[2] = {4, 2};
  assert_int_equal(content_score_history(m, items, rt, 2, a), MR_OK);
  assert_int_equal(content_score_history(l, items, rt, 2, b), MR_OK);
  assert_memory_equal(a, b, sizeof(a));
  rec_model *r = NULL;
  assert_int_equal(rec_load(path, &r, err, sizeof(err)), MR_OK);
  assert_string_equal(rec_kind(r), "content");
  assert_int_equal(rec_score_user(r, 1, b), MR_OK);
  assert_int_equal(content_score_user(m, 1, a), MR_OK);
  assert_memory_equal(a, b, sizeof(a));
  check_score_items(r, 3, items, rt, 2);
  check_score_items(r, 3, NULL, NULL, 0);
  rec_free(r);
  content_free(l);
  content_free(m);
  content_free(NULL);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tokenizer),
      cmocka_unit_test(test_tfidf_hand_computed),
      cmocka_unit_test(test_svd_against_lapacke),
      cmocka_unit_test_setup_teardown(test_near_duplicate_neighbour, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_profiles, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_save_load, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
