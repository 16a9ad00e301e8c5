/* Semantic model: bad options refused, movies that share words (or only word contexts) nearer
 * than unrelated ones, identical vectors across runs and OpenMP thread counts, profiles,
 * save/load round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "data/csr.h"
#include "models/model.h"
#include "models/semantic.h"

/* ---- a small hand-written catalogue ---- */

#define SMALL_N 9
typedef struct small_fx {
  mr_movie mv[SMALL_N];
  char *dirs[SMALL_N][1];
  mr_dataset ds;
  mr_rating r[6];
  csr *ui, *iu;
  rec_train_data d;
} small_fx;

/* 0 and 1 share no term (not a word, a director, a genre or a decade that the others lack), but
 * their words keep company in 2, 3 and 4 (the sea films); 5 and 6 are detective films, 7 and 8
 * near-duplicate pilot films. Every movie has the same genre and decade. */
static const char *const small_desc[SMALL_N] = {
    "ocean ship sailor voyage storm",           "sea boat captain journey wave",
    "ocean sea ship boat sailor captain",       "ship boat voyage journey storm wave",
    "sailor captain ocean sea voyage journey",  "detective killer city night murder",
    "detective murder killer police city",      "retired pilot daughter plane fly",
    "retired pilot teaches daughter fly plane",
};
static const char *const small_dir[SMALL_N] = {"Ann Sea",   "Bob Sea",   "Ann Sea",
                                               "Bob Sea",   "Ann Sea",   "Carl Noir",
                                               "Carl Noir", "Dee Pilot", "Dee Pilot"};

static int small_setup(void **state) {
  small_fx *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  for (int i = 0; i < SMALL_N; i++) {
    mr_movie *m = &f->mv[i];
    m->id = i + 1;
    m->year = 1990;
    m->genres = 1;
    m->has_imdb = 1;
    m->description = (char *)small_desc[i];
    f->dirs[i][0] = (char *)small_dir[i];
    m->directors = (mr_strlist){f->dirs[i], 1};
    m->age_rating = (char *)"";
  }
  f->ds.movies = f->mv;
  f->ds.n_movies = SMALL_N;
  f->ds.n_users = 3;
  /* user 0 loves the sea films, dislikes a detective film; user 1 the reverse; user 2 none */
  const mr_rating r[6] = {{0, 0, 5, 1}, {0, 2, 4, 2}, {0, 5, 1, 3},
                          {1, 5, 5, 4}, {1, 6, 4, 5}, {1, 3, 1, 6}};
  memcpy(f->r, r, sizeof(r));
  assert_int_equal(csr_from_ratings(f->r, 6, 3, SMALL_N, 0, &f->ui), MR_OK);
  assert_int_equal(csr_transpose(f->ui, &f->iu), MR_OK);
  f->d = (rec_train_data){.ds = &f->ds, .ratings = f->r, .n_ratings = 6, .ui = f->ui, .iu = f->iu};
  *state = f;
  return 0;
}

static int small_teardown(void **state) {
  small_fx *f = *state;
  csr_free(f->ui);
  csr_free(f->iu);
  free(f);
  return 0;
}

static double cosine(const semantic_model *m, int32_t a, int32_t b) {
  int d = 0;
  const float *e = semantic_item_embeddings(m, &d);
  double s = 0;
  for (int k = 0; k < d; k++)
    s += (double)e[(size_t)a * d + k] * e[(size_t)b * d + k];
  return s;
}

static void small_opts(semantic_opts *o) {
  semantic_opts_default(o);
  o->dim = 8;
  o->window = 3;
  o->rm_pc = 0; /* nine movies: the first component is most of the signal */
}

static void test_bad_options(void **state) {
  small_fx *f = *state;
  semantic_model *m = NULL;
  semantic_opts o;
  /* one field out of range at a time */
  for (int c = 0; c < 14; c++) {
    small_opts(&o);
    switch (c) {
    case 0:
      o.dim = 0;
      break;
    case 1:
      o.window = 0;
      break;
    case 2:
      o.min_count = 0;
      break;
    case 3:
      o.alpha = 0;
      break;
    case 4:
      o.alpha = 1.5f;
      break;
    case 5:
      o.shift = 0.5f;
      break;
    case 6:
      o.eig_p = -0.1f;
      break;
    case 7:
      o.pool = 3;
      break;
    case 8:
      o.sif_a = 0;
      break;
    case 9:
      o.rm_pc = 17;
      break;
    case 10:
      o.w_meta = -1;
      break;
    case 11:
      o.wmode = 4;
      break;
    case 12:
      o.iters = 0;
      break;
    default:
      o.cast_n = -1;
      break;
    }
    assert_false(semantic_opts_valid(&o));
    assert_int_equal(semantic_fit(&o, &f->d, &m), MR_EINVAL);
    assert_null(m);
  }
  /* through the registry, from text */
  rec_params p;
  rec_model *rm = NULL;
  assert_int_equal(rec_params_parse("dim=-4", &p), MR_OK);
  assert_int_equal(rec_fit("semantic", &p, &f->d, &rm), MR_EINVAL);
  assert_int_equal(rec_params_parse("seed=-1", &p), MR_OK);
  assert_int_equal(rec_fit("semantic", &p, &f->d, &rm), MR_EINVAL);
  assert_null(rm);
  /* no vocabulary: every term occurs in one movie only */
  small_opts(&o);
  o.min_count = 100;
  assert_int_equal(semantic_fit(&o, &f->d, &m), MR_EINVAL);
  assert_null(m);
}

static void test_shared_words_nearer(void **state) {
  small_fx *f = *state;
  semantic_opts o;
  semantic_model *m = NULL;
  small_opts(&o);
  assert_int_equal(semantic_fit(&o, &f->d, &m), MR_OK);
  int d = 0;
  const float *e = semantic_item_embeddings(m, &d);
  assert_int_equal(d, 8);
  for (int i = 0; i < SMALL_N; i++) {
    double n = 0;
    for (int k = 0; k < d; k++)
      n += (double)e[i * d + k] * e[i * d + k];
    assert_float_equal(n, 1.0, 1e-4);
  }
  /* near-duplicates are each other's nearest neighbour */
  int32_t top[3];
  float ts[3];
  assert_int_equal(semantic_similar(m, 7, 3, top, ts), 3);
  assert_int_equal(top[0], 8);
  assert_true(ts[0] > ts[1] && ts[1] >= ts[2]);
  assert_int_equal(semantic_similar(m, 5, 1, top, NULL), 1);
  assert_int_equal(top[0], 6);
  for (int i = 0; i < SMALL_N; i++) {
    int32_t all[SMALL_N];
    assert_int_equal(semantic_similar(m, i, SMALL_N, all, NULL), SMALL_N - 1);
    for (int k = 0; k < SMALL_N - 1; k++)
      assert_int_not_equal(all[k], i);
  }
  /* 0 and 1 share no description word, yet are nearer than 0 and an unrelated film */
  printf("cos(0,1) %.3f cos(0,5) %.3f cos(0,7) %.3f cos(7,8) %.3f\n", cosine(m, 0, 1),
         cosine(m, 0, 5), cosine(m, 0, 7), cosine(m, 7, 8));
  assert_true(cosine(m, 0, 1) > cosine(m, 0, 5) + 0.1);
  assert_true(cosine(m, 0, 1) > cosine(m, 0, 7) + 0.1);
  assert_true(cosine(m, 5, 6) > cosine(m, 5, 7) + 0.1);
  assert_int_equal(semantic_similar(m, SMALL_N, 1, top, NULL), MR_EINVAL);
  assert_int_equal(semantic_similar(m, -1, 1, top, NULL), MR_EINVAL);
  assert_int_equal(semantic_similar(m, 0, -1, top, NULL), MR_EINVAL);
  assert_int_equal(semantic_similar(m, 0, 0, top, NULL), 0);
  semantic_free(m);
}

static void test_profiles(void **state) {
  small_fx *f = *state;
  semantic_opts o;
  semantic_model *m = NULL;
  float s[SMALL_N], h[SMALL_N];
  small_opts(&o);
  assert_int_equal(semantic_fit(&o, &f->d, &m), MR_OK);
  /* user 0 likes sea films: the unseen sea films outrank the unseen detective film */
  assert_int_equal(semantic_score_user(m, 0, s), MR_OK);
  assert_true(s[1] > s[6] && s[3] > s[6] && s[4] > s[6]);
  /* user 1 likes detectives */
  assert_int_equal(semantic_score_user(m, 1, s), MR_OK);
  assert_true(s[6] > s[0] && s[5] > s[1]);
  /* score_history from the same history gives the same scores */
  const int32_t items[3] = {3, 5, 6};
  const float rt[3] = {1, 5, 4};
  assert_int_equal(semantic_score_history(m, items, rt, 3, h), MR_OK);
  for (int i = 0; i < SMALL_N; i++)
    assert_float_equal(h[i], s[i], 1e-5);
  /* no ratings: zeros; unknown user: range error */
  assert_int_equal(semantic_score_user(m, 2, s), MR_OK);
  for (int i = 0; i < SMALL_N; i++)
    assert_float_equal(s[i], 0.0, 1e-9);
  assert_int_equal(semantic_score_history(m, NULL, NULL, 0, s), MR_OK);
  for (int i = 0; i < SMALL_N; i++)
    assert_float_equal(s[i], 0.0, 1e-9);
  assert_int_equal(semantic_score_user(m, 3, s), MR_ERANGE);
  assert_int_equal(semantic_score_history(m, NULL, NULL, 2, s), MR_EINVAL);
  semantic_free(m);
}

static void test_save_load(void **state) {
  small_fx *f = *state;
  semantic_opts o;
  semantic_model *m = NULL, *l = NULL;
  float a[SMALL_N], b[SMALL_N];
  char path[] = "/tmp/test_semantic_XXXXXX", err[256] = "";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  small_opts(&o);
  o.wmode = 3;
  o.pool = 0;
  assert_int_equal(semantic_fit(&o, &f->d, &m), MR_OK);
  assert_int_equal(semantic_save(m, path), MR_OK);
  assert_int_equal(semantic_load(path, &l, err, sizeof(err)), MR_OK);
  assert_int_equal(semantic_n_items(l), SMALL_N);
  int d1, d2;
  const float *e1 = semantic_item_embeddings(m, &d1), *e2 = semantic_item_embeddings(l, &d2);
  assert_int_equal(d1, d2);
  assert_memory_equal(e1, e2, SMALL_N * (size_t)d1 * sizeof(float));
  for (int32_t u = 0; u < 3; u++) {
    assert_int_equal(semantic_score_user(m, u, a), MR_OK);
    assert_int_equal(semantic_score_user(l, u, b), MR_OK);
    assert_memory_equal(a, b, sizeof(a));
  }
  const int32_t items[2] = {0, 5};
  const float rt[2] = {5, 2};
  assert_int_equal(semantic_score_history(m, items, rt, 2, a), MR_OK);
  assert_int_equal(semantic_score_history(l, items, rt, 2, b), MR_OK);
  assert_memory_equal(a, b, sizeof(a));
  int32_t t1[4], t2[4];
  assert_int_equal(semantic_similar(m, 2, 4, t1, a), 4);
  assert_int_equal(semantic_similar(l, 2, 4, t2, b), 4);
  assert_memory_equal(t1, t2, sizeof(t1));
  assert_memory_equal(a, b, 4 * sizeof(float));
  /* through the registry */
  rec_model *r = NULL;
  assert_int_equal(rec_load(path, &r, err, sizeof(err)), MR_OK);
  assert_string_equal(rec_kind(r), "semantic");
  assert_non_null(semantic_of(r));
  assert_int_equal(rec_score_user(r, 1, b), MR_OK);
  assert_int_equal(semantic_score_user(m, 1, a), MR_OK);
  assert_memory_equal(a, b, sizeof(a));
  rec_free(r);
  /* a truncated file is refused with a message */
  FILE *fp = fopen(path, "r+b");
  assert_non_null(fp);
  assert_int_equal(ftruncate(fileno(fp), 100), 0);
  fclose(fp);
  semantic_free(l);
  l = NULL;
  err[0] = '\0';
  assert_true(semantic_load(path, &l, err, sizeof(err)) < 0);
  assert_null(l);
  assert_true(strlen(err) > 0);
  semantic_free(m);
  semantic_free(NULL);
  unlink(path);
}

/* ---- a generated catalogue large enough for the randomized eigensolver ---- */

#define GEN_MOVIES 240
#define GEN_TOPICS 8
#define GEN_WORDS 80 /* per topic */

typedef struct gen_fx {
  mr_movie mv[GEN_MOVIES];
  char desc[GEN_MOVIES][400];
  mr_dataset ds;
  mr_rating r[GEN_MOVIES];
  csr *ui, *iu;
  rec_train_data d;
} gen_fx;

static int gen_setup(void **state) {
  gen_fx *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  mr_rng rng;
  mr_rng_seed(&rng, 7);
  for (int i = 0; i < GEN_MOVIES; i++) {
    int topic = i % GEN_TOPICS;
    size_t off = 0;
    for (int w = 0; w < 30; w++) {
      /* mostly the movie's topic, sometimes any word */
      int t = mr_rng_uniform(&rng) < 0.8 ? topic : (int)mr_rng_below(&rng, GEN_TOPICS);
      int word = (int)mr_rng_below(&rng, GEN_WORDS);
      off += (size_t)snprintf(f->desc[i] + off, sizeof(f->desc[i]) - off, "t%dw%d ", t, word);
    }
    mr_movie *m = &f->mv[i];
    m->id = i + 1;
    m->year = 1950 + i % 40;
    m->genres = 1u << topic;
    m->has_imdb = 1;
    m->description = f->desc[i];
    m->age_rating = (char *)"";
    f->r[i] = (mr_rating){i % 10, i, (float)(1 + i % 5), i};
  }
  f->ds.movies = f->mv;
  f->ds.n_movies = GEN_MOVIES;
  f->ds.n_users = 10;
  assert_int_equal(csr_from_ratings(f->r, GEN_MOVIES, 10, GEN_MOVIES, 0, &f->ui), MR_OK);
  assert_int_equal(csr_transpose(f->ui, &f->iu), MR_OK);
  f->d = (rec_train_data){
      .ds = &f->ds, .ratings = f->r, .n_ratings = GEN_MOVIES, .ui = f->ui, .iu = f->iu};
  *state = f;
  return 0;
}

static int gen_teardown(void **state) {
  gen_fx *f = *state;
  csr_free(f->ui);
  csr_free(f->iu);
  free(f);
  return 0;
}

static void test_deterministic_across_threads(void **state) {
  gen_fx *f = *state;
  semantic_opts o;
  semantic_model *m[3] = {NULL, NULL, NULL};
  semantic_opts_default(&o);
  o.dim = 16;
  int threads[3] = {1, 2, 2};
  int saved = omp_get_max_threads();
  for (int k = 0; k < 3; k++) {
    omp_set_num_threads(threads[k]);
    assert_int_equal(semantic_fit(&o, &f->d, &m[k]), MR_OK);
  }
  omp_set_num_threads(saved);
  /* the randomized path: the vocabulary is larger than the dense solver's limit */
  assert_true(semantic_vocab_size(m[0]) > 256);
  int d = 0;
  const float *e0 = semantic_item_embeddings(m[0], &d);
  assert_int_equal(d, 16);
  for (int k = 1; k < 3; k++) {
    int dk = 0;
    const float *ek = semantic_item_embeddings(m[k], &dk);
    assert_int_equal(dk, d);
    assert_memory_equal(e0, ek, (size_t)GEN_MOVIES * (size_t)d * sizeof(float));
    float a[GEN_MOVIES], b[GEN_MOVIES];
    for (int32_t u = 0; u < 10; u++) {
      assert_int_equal(semantic_score_user(m[0], u, a), MR_OK);
      assert_int_equal(semantic_score_user(m[k], u, b), MR_OK);
      assert_memory_equal(a, b, sizeof(a));
    }
  }
  /* the vectors mean something: a movie's nearest neighbours share its topic */
  int hits = 0;
  for (int32_t i = 0; i < GEN_MOVIES; i++) {
    int32_t top[5];
    assert_int_equal(semantic_similar(m[0], i, 5, top, NULL), 5);
    for (int k = 0; k < 5; k++)
      hits += top[k] % GEN_TOPICS == i % GEN_TOPICS;
  }
  assert_true(hits > GEN_MOVIES * 5 * 9 / 10);
  /* another seed: still a valid fit with normalized rows */
  semantic_model *s2 = NULL;
  o.seed = 43;
  assert_int_equal(semantic_fit(&o, &f->d, &s2), MR_OK);
  const float *e2 = semantic_item_embeddings(s2, &d);
  for (int i = 0; i < GEN_MOVIES; i++) {
    double n = 0;
    for (int k = 0; k < d; k++)
      n += (double)e2[i * d + k] * e2[i * d + k];
    assert_float_equal(n, 1.0, 1e-4);
  }
  semantic_free(s2);
  for (int k = 0; k < 3; k++)
    semantic_free(m[k]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_bad_options, small_setup, small_teardown),
      cmocka_unit_test_setup_teardown(test_shared_words_nearer, small_setup, small_teardown),
      cmocka_unit_test_setup_teardown(test_profiles, small_setup, small_teardown),
      cmocka_unit_test_setup_teardown(test_save_load, small_setup, small_teardown),
      cmocka_unit_test_setup_teardown(test_deterministic_across_threads, gen_setup, gen_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
