/* Two-stage pipeline on synthetic data: it fits, ranks candidates above the rest, learns from
 * the features, tunes its generators on its own cut and is deterministic. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "data/csr.h"
#include "eval/eval.h"
#include "eval/split.h"
#include "eval/tune.h"
#include "pipeline/two_stage.h"

#define NU 120
#define NI 80

typedef struct world {
  mr_user users[NU];
  mr_movie movies[NI];
  mr_dataset ds;
  mr_rating *r;
  size_t n;
  csr *ui, *iu;
} world;

/* Two taste clusters over two genres; every user rates 12-20 movies of their cluster, over time. */
static void world_make(world *w) {
  memset(w, 0, sizeof(*w));
  mr_rng rng;
  mr_rng_seed(&rng, 7);
  for (int i = 0; i < NI; i++)
    w->movies[i] = (mr_movie){.id = i + 1, .year = 1980 + i % 20, .genres = 1u << (1 + i % 2)};
  for (int u = 0; u < NU; u++)
    w->users[u] = (mr_user){.id = u + 1, .age = 20 + u % 30, .gender = u % 2 ? 'M' : 'F'};
  w->r = malloc(NU * 20 * sizeof(mr_rating));
  for (int u = 0; u < NU; u++) {
    int n_u = 12 + (int)mr_rng_below(&rng, 9);
    uint8_t seen[NI] = {0};
    for (int k = 0; k < n_u; k++) {
      int i;
      do
        i = 2 * (int)mr_rng_below(&rng, NI / 2) + u % 2;
      while (seen[i]);
      seen[i] = 1;
      w->r[w->n++] = (mr_rating){u, i, (float)(3 + mr_rng_below(&rng, 3)), 1000 + u + 100 * k};
    }
  }
  w->ds = (mr_dataset){.users = w->users, .n_users = NU, .movies = w->movies, .n_movies = NI};
  assert_int_equal(csr_from_ratings(w->r, w->n, NU, NI, 0, &w->ui), MR_OK);
  assert_int_equal(csr_transpose(w->ui, &w->iu), MR_OK);
}

static void world_free(world *w) {
  free(w->r);
  csr_free(w->ui);
  csr_free(w->iu);
}

/* Fits under a protocol (split_kind: its validation cut and reference times, model.h). */
static rec_model *fit_under(world *w, const char *params, int protocol) {
  rec_params p;
  rec_model *m = NULL;
  assert_int_equal(rec_params_parse(params, &p), MR_OK);
  /* generators at their fixed parameters unless the test asks for the search (it is slow and
   * test_generators_tuned_on_the_cut covers it) */
  if (rec_params_get(&p, "tune_gens", -1) < 0)
    assert_int_equal(rec_params_set(&p, "tune_gens", 0), MR_OK);
  rec_train_data d = {.ds = &w->ds,
                      .ratings = w->r,
                      .n_ratings = w->n,
                      .ui = w->ui,
                      .iu = w->iu,
                      .protocol = protocol};
  assert_int_equal(rec_fit("two_stage", &p, &d, &m), MR_OK);
  return m;
}

static rec_model *fit(world *w, const char *params) {
  return fit_under(w, params, SPLIT_USER_TEMPORAL);
}

static void test_fit_and_score(void **state) {
  (void)state;
  world w;
  world_make(&w);
  rec_model *m = fit(&w, "gens=1,per_gen=20,trees=30,early_stop=0");
  ts_fit_stats st;
  assert_int_equal(ts_stats(m, &st), MR_OK);
  assert_true(st.train_groups > 10);
  assert_true(st.train_rows >= st.train_groups);
  assert_int_equal(st.trees, 30);
  assert_non_null(ts_ranker(m));
  float s[NI];
  /* user 0 likes even movies: its top unseen candidates are mostly even */
  assert_int_equal(rec_score_user(m, 0, s), MR_OK);
  uint8_t exclude[NI] = {0};
  for (int64_t j = w.ui->indptr[0]; j < w.ui->indptr[1]; j++)
    exclude[w.ui->indices[j]] = 1;
  int32_t top[10];
  int got = rec_top_n(s, NI, exclude, 10, top, NULL);
  assert_int_equal(got, 10);
  int even = 0;
  for (int k = 0; k < 10; k++)
    even += top[k] % 2 == 0;
  assert_true(even >= 8);
  /* a history-only user who rated odd movies gets odd movies */
  int32_t items[3] = {1, 3, 5};
  float ratings[3] = {5, 5, 4};
  assert_int_equal(rec_score_history(m, items, ratings, 3, s), MR_OK);
  memset(exclude, 0, sizeof(exclude));
  exclude[1] = exclude[3] = exclude[5] = 1;
  got = rec_top_n(s, NI, exclude, 10, top, NULL);
  int odd = 0;
  for (int k = 0; k < got; k++)
    odd += top[k] % 2 == 1;
  assert_true(odd >= 8);
  assert_int_equal(rec_score_user(m, NU, s), MR_ERANGE);
  rec_free(m);
  world_free(&w);
}

/* ts_top_n picks what rec_top_n picks over the full scores, for every user and n, from the
 * candidates when enough are left and from the catalogue when not (n above per_gen), with and
 * without an exclusion set, for training users and for histories. */
static void test_top_n_matches_full_ranking(void **state) {
  (void)state;
  world w;
  world_make(&w);
  rec_model *m = fit(&w, "gens=1,per_gen=15,trees=20,early_stop=0");
  float s[NI], scratch[NI], ts_a[NI], ts_b[NI];
  int32_t a[NI], b[NI];
  uint8_t exclude[NI];
  static const int ns[] = {1, 5, 10, 14, 15, 16, 30, NI};
  int from_catalogue = 0;
  for (int u = 0; u < NU; u++) {
    memset(exclude, 0, sizeof(exclude));
    for (int64_t j = w.ui->indptr[u]; j < w.ui->indptr[u + 1]; j++)
      exclude[w.ui->indices[j]] = 1;
    assert_int_equal(rec_score_user(m, u, s), MR_OK);
    for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
      int want = rec_top_n(s, NI, exclude, ns[k], a, ts_a);
      int got = ts_top_n(m, 0, u, NULL, NULL, 0, exclude, ns[k], scratch, b, ts_b);
      assert_int_equal(got, want);
      assert_memory_equal(a, b, (size_t)got * sizeof(int32_t));
      assert_memory_equal(ts_a, ts_b, (size_t)got * sizeof(float));
      from_catalogue += ns[k] > 15;
    }
  }
  assert_true(from_catalogue > 0);
  /* a history, and an exclusion set wider than the history (candidates dropped) */
  int32_t items[3] = {1, 3, 5};
  float ratings[3] = {5, 5, 4};
  assert_int_equal(rec_score_history(m, items, ratings, 3, s), MR_OK);
  memset(exclude, 0, sizeof(exclude));
  exclude[1] = exclude[3] = exclude[5] = 1;
  for (int i = 7; i < NI; i += 4)
    exclude[i] = 1;
  for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
    int want = rec_top_n(s, NI, exclude, ns[k], a, NULL);
    int got = ts_top_n(m, 0, -1, items, ratings, 3, exclude, ns[k], scratch, b, NULL);
    assert_int_equal(got, want);
    assert_memory_equal(a, b, (size_t)got * sizeof(int32_t));
  }
  assert_true(ts_top_n(m, 0, NU, NULL, NULL, 0, NULL, 5, scratch, b, NULL) < 0);
  assert_true(ts_top_n(m, 3, 0, NULL, NULL, 0, NULL, 5, scratch, b, NULL) < 0);
  rec_free(m);
  world_free(&w);
}

/* The same seed gives bit-identical scores. (What an evaluation's test part and later ratings
 * can reach is checked end to end in test_protocol.c and for each feature in test_features.c.) */
static void test_determinism(void **state) {
  (void)state;
  world w;
  world_make(&w);
  rec_model *a = fit(&w, "gens=1,per_gen=20,trees=20,early_stop=0");
  rec_model *b = fit(&w, "gens=1,per_gen=20,trees=20,early_stop=0");
  float sa[NI], sb[NI];
  for (int u = 0; u < NU; u += 7) {
    assert_int_equal(rec_score_user(a, u, sa), MR_OK);
    assert_int_equal(rec_score_user(b, u, sb), MR_OK);
    assert_memory_equal(sa, sb, sizeof(sa));
  }
  rec_free(a);
  rec_free(b);
  world_free(&w);
}

/* rank_users: the ranker learns from a seeded sample of the users' groups (large data), the
 * same sample at every fit, and the pipeline still ranks by taste. */
static void test_rank_users_sample(void **state) {
  (void)state;
  world w;
  world_make(&w);
  rec_model *all = fit(&w, "gens=1,per_gen=20,trees=20,early_stop=0");
  rec_model *a = fit(&w, "gens=1,per_gen=20,trees=20,early_stop=0,rank_users=30");
  rec_model *b = fit(&w, "gens=1,per_gen=20,trees=20,early_stop=0,rank_users=30");
  ts_fit_stats s_all, s_a, s_b;
  assert_int_equal(ts_stats(all, &s_all), MR_OK);
  assert_int_equal(ts_stats(a, &s_a), MR_OK);
  assert_int_equal(ts_stats(b, &s_b), MR_OK);
  /* about 30 of 120 users, 4/5 of them in the training part (the rest stop early) */
  assert_true(s_all.train_groups > 60);
  assert_true(s_a.train_groups >= 8 && s_a.train_groups <= 45);
  assert_int_equal(s_a.train_groups, s_b.train_groups);
  assert_int_equal(s_a.train_rows, s_b.train_rows);
  float sa[NI], sb[NI];
  for (int u = 0; u < NU; u += 11) {
    assert_int_equal(rec_score_user(a, u, sa), MR_OK);
    assert_int_equal(rec_score_user(b, u, sb), MR_OK);
    assert_memory_equal(sa, sb, sizeof(sa));
  }
  /* user 1 likes odd movies */
  uint8_t exclude[NI] = {0};
  for (int64_t j = w.ui->indptr[1]; j < w.ui->indptr[2]; j++)
    exclude[w.ui->indices[j]] = 1;
  int32_t top[10];
  assert_int_equal(rec_score_user(a, 1, sa), MR_OK);
  int got = rec_top_n(sa, NI, exclude, 10, top, NULL), odd = 0;
  for (int k = 0; k < got; k++)
    odd += top[k] % 2 == 1;
  assert_true(odd >= 8);
  rec_free(all);
  rec_free(a);
  rec_free(b);
  world_free(&w);
}

/* The cross ranker trained beside LambdaMART on the same candidates: it learns the clusters,
 * scores on request while LambdaMART stays the default, survives save/load, and a model with
 * only one ranker refuses the other. */
static void test_cross_ranker(void **state) {
  (void)state;
  world w;
  world_make(&w);
  /* fitted as of the end of the data, as a loaded pipeline serves (model.h) */
  rec_model *m = fit_under(&w, "gens=1,per_gen=20,trees=20,ranker=2,cross_dim=8,cross_hidden=16",
                           SPLIT_RANDOM);
  assert_true(ts_has_ranker(m, TS_RANKER_LTR));
  assert_true(ts_has_ranker(m, TS_RANKER_CROSS));
  ts_fit_stats st;
  assert_int_equal(ts_stats(m, &st), MR_OK);
  assert_true(st.cross_epochs >= 1);
  float s[NI], l[NI];
  assert_int_equal(ts_score_with(m, TS_RANKER_CROSS, 0, NULL, NULL, 0, s), MR_OK);
  assert_int_equal(rec_score_user(m, 0, l), MR_OK);
  assert_true(memcmp(s, l, sizeof(s)) != 0); /* the default is LambdaMART, not the cross ranker */
  assert_int_equal(ts_score_with(m, TS_RANKER_LTR, 0, NULL, NULL, 0, s), MR_OK);
  assert_memory_equal(s, l, sizeof(s));
  uint8_t exclude[NI] = {0};
  int32_t top[10];
  for (int u = 0; u < 2; u++) {
    assert_int_equal(ts_score_with(m, TS_RANKER_CROSS, u, NULL, NULL, 0, s), MR_OK);
    memset(exclude, 0, sizeof(exclude));
    for (int64_t j = w.ui->indptr[u]; j < w.ui->indptr[u + 1]; j++)
      exclude[w.ui->indices[j]] = 1;
    int got = rec_top_n(s, NI, exclude, 10, top, NULL);
    int same = 0;
    for (int k = 0; k < got; k++)
      same += top[k] % 2 == u % 2;
    assert_true(same >= 8);
  }
  int32_t items[3] = {1, 3, 5};
  float ratings[3] = {5, 5, 4};
  assert_int_equal(ts_score_with(m, TS_RANKER_CROSS, -1, items, ratings, 3, s), MR_OK);
  memset(exclude, 0, sizeof(exclude));
  exclude[1] = exclude[3] = exclude[5] = 1;
  int got = rec_top_n(s, NI, exclude, 10, top, NULL);
  int odd = 0;
  for (int k = 0; k < got; k++)
    odd += top[k] % 2 == 1;
  assert_true(odd >= 8);
  assert_int_equal(ts_score_with(m, 3, 0, NULL, NULL, 0, s), MR_EINVAL);
  assert_int_equal(ts_score_with(m, TS_RANKER_CROSS, NU, NULL, NULL, 0, s), MR_ERANGE);
  items[1] = NI;
  assert_int_equal(ts_score_with(m, TS_RANKER_CROSS, -1, items, ratings, 3, s), MR_ERANGE);
  items[1] = 3;
  /* parts on disk: the reloaded pipeline scores exactly as the fitted one, with both rankers */
  char dir[] = "/tmp/test_two_stage_XXXXXX";
  assert_non_null(mkdtemp(dir));
  assert_int_equal(ts_save_parts(m, dir), MR_OK);
  char one[300];
  snprintf(one, sizeof(one), "%s/two_stage.bin", dir);
  assert_int_equal(rec_save(m, one), MR_EUNSUPPORTED); /* parts only: no single-file form */
  rec_train_data d = {.ds = &w.ds, .ratings = w.r, .n_ratings = w.n, .ui = w.ui, .iu = w.iu};
  rec_model *r = NULL;
  char err[256] = "";
  assert_int_equal(ts_load_parts(dir, &d, &r, err, sizeof(err)), MR_OK);
  assert_int_equal(ts_score_with(m, TS_RANKER_CROSS, 3, NULL, NULL, 0, s), MR_OK);
  assert_int_equal(ts_score_with(r, TS_RANKER_CROSS, 3, NULL, NULL, 0, l), MR_OK);
  assert_memory_equal(s, l, sizeof(s));
  assert_int_equal(ts_score_with(r, TS_RANKER_CROSS, -1, items, ratings, 3, l), MR_OK);
  assert_int_equal(ts_score_with(m, TS_RANKER_CROSS, -1, items, ratings, 3, s), MR_OK);
  assert_memory_equal(s, l, sizeof(s));
  rec_free(r);
  /* without cross.bin the version still loads, and says it has no cross ranker */
  char path[sizeof(dir) + 32];
  snprintf(path, sizeof(path), "%s/cross.bin", dir);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(ts_load_parts(dir, &d, &r, err, sizeof(err)), MR_OK);
  assert_false(ts_has_ranker(r, TS_RANKER_CROSS));
  assert_int_equal(ts_score_with(r, TS_RANKER_CROSS, 3, NULL, NULL, 0, l), MR_ENOTFOUND);
  rec_free(r);
  char cmd[sizeof(dir) + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
  rec_free(m);
  /* the cross ranker alone */
  m = fit(&w, "gens=1,per_gen=20,ranker=1,cross_dim=8,cross_hidden=16");
  assert_false(ts_has_ranker(m, TS_RANKER_LTR));
  assert_null(ts_ranker(m));
  assert_int_equal(ts_score_with(m, TS_RANKER_LTR, 0, NULL, NULL, 0, s), MR_ENOTFOUND);
  assert_int_equal(rec_score_user(m, 0, l), MR_OK);
  assert_int_equal(ts_score_with(m, TS_RANKER_CROSS, 0, NULL, NULL, 0, s), MR_OK);
  assert_memory_equal(s, l, sizeof(s));
  rec_free(m);
  world_free(&w);
}

/* Without given parameters a generator is tuned on the pipeline's own validation cut, in its
 * evaluation space, with the answer tune_search gives on that cut; given ones are used as they
 * are. (ALS alone: fgens=0.) */
static void test_generators_tuned_on_the_cut(void **state) {
  (void)state;
  world w;
  world_make(&w);
  rec_model *m = fit(&w, "gens=1,fgens=0,per_gen=20,trees=10,tune_gens=1");
  char got[4096], want[4096];
  assert_int_equal(ts_generator_params(m, got, sizeof(got)), MR_OK);
  split_result *v = NULL;
  csr *ui = NULL, *iu = NULL, *valid = NULL;
  assert_int_equal(split_validation(SPLIT_USER_TEMPORAL, w.r, w.n, NU, 0.2, 42, &v), MR_OK);
  assert_int_equal(csr_from_ratings(v->train, v->n_train, NU, NI, 0, &ui), MR_OK);
  assert_int_equal(csr_transpose(ui, &iu), MR_OK);
  assert_int_equal(csr_from_ratings(v->test, v->n_test, NU, NI, 0, &valid), MR_OK);
  rec_train_data d = {
      .ds = &w.ds, .ratings = v->train, .n_ratings = v->n_train, .ui = ui, .iu = iu};
  tune_cut cut = {&d, valid, 10};
  const eval_config *c = eval_generator_config("als");
  assert_non_null(c);
  rec_params fixed;
  assert_int_equal(rec_params_parse(c->params, &fixed), MR_OK);
  tune_result t;
  assert_int_equal(tune_search("als", &fixed, c->grid, &cut, 0, NULL, &t), MR_OK);
  assert_true(t.n_fits >= 36);
  char p[1024];
  rec_params_format(&t.best, p, sizeof(p));
  snprintf(want, sizeof(want), "als:%s", p);
  assert_string_equal(got, want);
  rec_free(m);
  /* given: used as they are, on top of the fixed ones */
  m = fit(&w, "gens=1,fgens=0,per_gen=20,trees=10,tune_gens=1,als.factors=7,als.reg=3");
  assert_int_equal(ts_generator_params(m, got, sizeof(got)), MR_OK);
  snprintf(want, sizeof(want), "als:%s,factors=7,reg=3", c->params);
  assert_string_equal(got, want);
  rec_free(m);
  split_free(v);
  csr_free(ui);
  csr_free(iu);
  csr_free(valid);
  world_free(&w);
}

/* Mean number of ratings of user u's top 10 unseen movies under m. */
static double top_popularity(world *w, rec_model *m, int32_t u) {
  float s[NI];
  uint8_t exclude[NI] = {0};
  int count[NI] = {0};
  for (size_t k = 0; k < w->n; k++)
    count[w->r[k].item]++;
  for (int64_t j = w->ui->indptr[u]; j < w->ui->indptr[u + 1]; j++)
    exclude[w->ui->indices[j]] = 1;
  assert_int_equal(rec_score_user(m, u, s), MR_OK);
  int32_t top[10];
  int got = rec_top_n(s, NI, exclude, 10, top, NULL);
  assert_int_equal(got, 10);
  double sum = 0;
  for (int k = 0; k < got; k++)
    sum += count[top[k]];
  return sum / got;
}

/* pop_penalty moves less popular candidates up without refitting; the fitted parameter, the
 * setter and a reloaded version score alike; negative values are refused. */
static void test_pop_penalty(void **state) {
  (void)state;
  world w;
  world_make(&w);
  rec_model *m = fit(&w, "gens=1,per_gen=30,trees=20");
  double before = 0, after = 0;
  for (int32_t u = 0; u < 20; u++)
    before += top_popularity(&w, m, u);
  assert_int_equal(ts_set_pop_penalty(m, 8), MR_OK);
  for (int32_t u = 0; u < 20; u++)
    after += top_popularity(&w, m, u);
  assert_true(after < before);
  assert_int_equal(ts_set_pop_penalty(m, -1), MR_EINVAL);
  rec_model *p = fit(&w, "gens=1,per_gen=30,trees=20,pop_penalty=8");
  float a[NI], b[NI];
  assert_int_equal(rec_score_user(m, 3, a), MR_OK);
  assert_int_equal(rec_score_user(p, 3, b), MR_OK);
  assert_memory_equal(a, b, sizeof(a));
  /* a reloaded version serves as of the end of its data, which is what the random protocol
   * fits with: the same popularity column, the same order */
  rec_free(p);
  p = fit_under(&w, "gens=1,per_gen=30,trees=20,pop_penalty=8", SPLIT_RANDOM);
  assert_int_equal(rec_score_user(p, 3, a), MR_OK);
  char dir[] = "/tmp/test_two_stage_pop_XXXXXX";
  assert_non_null(mkdtemp(dir));
  assert_int_equal(ts_save_parts(p, dir), MR_OK);
  rec_train_data d = {.ds = &w.ds, .ratings = w.r, .n_ratings = w.n, .ui = w.ui, .iu = w.iu};
  rec_model *r = NULL;
  char err[256] = "";
  assert_int_equal(ts_load_parts(dir, &d, &r, err, sizeof(err)), MR_OK);
  assert_int_equal(rec_score_user(r, 3, b), MR_OK);
  assert_memory_equal(a, b, sizeof(a));
  char cmd[sizeof(dir) + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
  rec_free(r);
  rec_free(p);
  rec_free(m);
  rec_params q;
  rec_params_parse("pop_penalty=-0.5", &q);
  m = NULL;
  assert_int_equal(rec_fit("two_stage", &q, &d, &m), MR_EINVAL);
  assert_null(m);
  world_free(&w);
}

static void test_bad_params(void **state) {
  (void)state;
  world w;
  world_make(&w);
  rec_params p;
  rec_model *m = NULL;
  rec_train_data d = {.ds = &w.ds, .ratings = w.r, .n_ratings = w.n, .ui = w.ui, .iu = w.iu};
  rec_params_parse("gens=0", &p);
  assert_int_equal(rec_fit("two_stage", &p, &d, &m), MR_EINVAL);
  rec_params_parse("per_gen=0", &p);
  assert_int_equal(rec_fit("two_stage", &p, &d, &m), MR_EINVAL);
  /* more candidates per generator than the catalogue holds: every movie is a candidate */
  rec_params_parse("per_gen=100000,tune_gens=0,trees=5", &p);
  assert_int_equal(rec_fit("two_stage", &p, &d, &m), MR_OK);
  rec_free(m);
  m = NULL;
  rec_params_parse("rank_users=-1", &p);
  assert_int_equal(rec_fit("two_stage", &p, &d, &m), MR_EINVAL);
  rec_params_parse("ranker=3", &p);
  assert_int_equal(rec_fit("two_stage", &p, &d, &m), MR_EINVAL);
  rec_params_parse("ranker=1,cross_dim=0", &p);
  assert_int_equal(rec_fit("two_stage", &p, &d, &m), MR_EINVAL);
  assert_null(m);
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fit_and_score), cmocka_unit_test(test_top_n_matches_full_ranking),
      cmocka_unit_test(test_determinism),   cmocka_unit_test(test_rank_users_sample),
      cmocka_unit_test(test_cross_ranker),  cmocka_unit_test(test_generators_tuned_on_the_cut),
      cmocka_unit_test(test_bad_params),    cmocka_unit_test(test_pop_penalty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
