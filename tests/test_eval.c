/* Evaluation runner: configuration selection and eval_model on a hand-checked toy case. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "data/csr.h"
#include "eval/eval.h"

static void test_select_configs(void **state) {
  (void)state;
  const eval_config **c = NULL;
  int n = 0;
  char err[128] = "";
  assert_int_equal(eval_select_configs("all", &c, &n, err, sizeof(err)), MR_OK);
  assert_true(n >= 2);
  free(c);
  assert_int_equal(eval_select_configs("als,pop,als", &c, &n, err, sizeof(err)), MR_OK);
  assert_int_equal(n, 2);
  assert_string_equal(c[0]->name, "als");
  assert_string_equal(c[1]->name, "pop");
  free(c);
  c = NULL;
  assert_int_equal(eval_select_configs("pop,bogus", &c, &n, err, sizeof(err)), MR_ENOTFOUND);
  assert_non_null(strstr(err, "'bogus'"));
  assert_null(c);
}

static void test_eval_model_pop(void **state) {
  (void)state;
  /* 2 users x 5 items. Train: u0 {0,1}, u1 {0,2}. Pop counts: 2,1,1,0,0.
   * Test: u0 {2 (5 stars)}, u1 {3 (4 stars)}. k = 2.
   * u0 excludes 0,1 -> [2,3]: hit at rank 1: P .5, R 1, nDCG 1, MAP 1.
   * u1 excludes 0,2 -> [1,3]: hit at rank 2: P .5, R 1, nDCG 1/log2(3), MAP .5.
   * coverage = |{1,2,3}| / 5 = 0.6. */
  mr_rating train[] = {{0, 0, 4, 1}, {0, 1, 3, 2}, {1, 0, 5, 3}, {1, 2, 2, 4}};
  mr_rating test[] = {{0, 2, 5, 5}, {1, 3, 4, 6}};
  mr_user users[2] = {{.id = 11}, {.id = 12}};
  mr_movie movies[5] = {{.id = 101}, {.id = 102}, {.id = 103}, {.id = 104}, {.id = 105}};
  mr_dataset ds = {.users = users, .n_users = 2, .movies = movies, .n_movies = 5};
  csr *ui = NULL, *iu = NULL, *te = NULL;
  rec_model *m = NULL;
  rec_params p;
  eval_result r;
  char buf[1024] = "";
  assert_int_equal(csr_from_ratings(train, 4, 2, 5, 0, &ui), MR_OK);
  assert_int_equal(csr_transpose(ui, &iu), MR_OK);
  assert_int_equal(csr_from_ratings(test, 2, 2, 5, 0, &te), MR_OK);
  rec_params_parse("", &p);
  rec_train_data d = {.ds = &ds, .ratings = train, .n_ratings = 4, .ui = ui, .iu = iu};
  assert_int_equal(rec_fit("pop", &p, &d, &m), MR_OK);
  memset(&r, 0, sizeof(r));
  FILE *dump = fmemopen(buf, sizeof(buf) - 1, "w");
  assert_non_null(dump);
  assert_int_equal(eval_model(m, &ds, ui, te, 2, dump, "pop", &r), MR_OK);
  fclose(dump);
  assert_int_equal(r.n_users, 2);
  assert_true(fabs(r.m.precision - 0.5) < 1e-9);
  assert_true(fabs(r.m.recall - 1.0) < 1e-9);
  assert_true(fabs(r.m.ndcg - (1.0 + 1.0 / log2(3.0)) / 2.0) < 1e-9);
  assert_true(fabs(r.m.map - 0.75) < 1e-9);
  assert_true(fabs(r.coverage - 0.6) < 1e-9);
  assert_string_equal(buf, "pop\t11\t1\t103\npop\t11\t2\t104\npop\t12\t1\t102\npop\t12\t2\t104\n");
  /* shape mismatch is refused */
  assert_int_equal(eval_model(m, &ds, te, iu, 2, NULL, "pop", &r), MR_EINVAL);
  rec_free(m);
  csr_free(ui);
  csr_free(iu);
  csr_free(te);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_select_configs),
      cmocka_unit_test(test_eval_model_pop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
