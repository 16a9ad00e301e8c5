/* Implicit ALS: objective decrease, planted-structure recovery, fold-in, determinism, I/O. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "data/csr.h"
#include "models/als.h"
#include "models/modelfile.h"

#define NU 200
#define NI 150
#define NC 3

/* Planted clusters: user u and item i belong to cluster u % NC and i % NC; a user rates items of
 * its own cluster with probability 0.3 and others with 0.02. One in-cluster rating per user is
 * held out (heldout[u], -1 if none) for the ranking check. */
typedef struct fixture {
  csr *ui, *iu;
  int32_t heldout[NU];
  uint8_t rated[NU][NI]; /* train or held out */
} fixture;

static fixture *make_fixture(uint64_t seed) {
  fixture *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  mr_rating *r = malloc(sizeof(mr_rating) * NU * NI);
  assert_non_null(r);
  size_t n = 0;
  mr_rng rng;
  mr_rng_seed(&rng, seed);
  for (int u = 0; u < NU; u++) {
    fx->heldout[u] = -1;
    for (int i = 0; i < NI; i++) {
      double p = (u % NC == i % NC) ? 0.3 : 0.02;
      if (mr_rng_uniform(&rng) >= p)
        continue;
      fx->rated[u][i] = 1;
      if (fx->heldout[u] < 0 && u % NC == i % NC && mr_rng_uniform(&rng) < 0.5) {
        fx->heldout[u] = i;
        continue;
      }
      r[n++] = (mr_rating){u, i, (float)(1 + mr_rng_below(&rng, 5)), 0};
    }
  }
  assert_int_equal(csr_from_ratings(r, n, NU, NI, 0, &fx->ui), MR_OK);
  assert_int_equal(csr_from_ratings(r, n, NU, NI, 1, &fx->iu), MR_OK);
  free(r);
  return fx;
}

static void free_fixture(fixture *fx) {
  csr_free(fx->ui);
  csr_free(fx->iu);
  free(fx);
}

static als_opts small_opts(int cg_steps, int iterations) {
  als_opts o;
  als_opts_default(&o);
  o.factors = 8;
  o.iterations = iterations;
  o.cg_steps = cg_steps;
  o.reg = 0.1f;
  o.alpha = 2.0f;
  o.seed = 7;
  return o;
}

static void test_loss_decreases(void **state) {
  (void)state;
  fixture *fx = make_fixture(1);
  double prev = INFINITY;
  for (int it = 1; it <= 8; it++) {
    als_opts o = small_opts(0, it);
    als_model *m = NULL;
    assert_int_equal(als_fit(&o, fx->ui, fx->iu, &m), MR_OK);
    double loss = als_loss(m, fx->ui);
    assert_true(isfinite(loss));
    /* exact block minimization never increases the objective (float rounding aside) */
    assert_true(loss <= prev * (1.0 + 1e-5));
    prev = loss;
    als_free(m);
  }
  free_fixture(fx);
}

static double heldout_auc(const als_model *m, const fixture *fx) {
  float scores[NI];
  double wins = 0.0, pairs = 0.0;
  for (int u = 0; u < NU; u++) {
    if (fx->heldout[u] < 0)
      continue;
    assert_int_equal(als_score_user(m, u, scores), MR_OK);
    float sp = scores[fx->heldout[u]];
    for (int i = 0; i < NI; i++) {
      /* negatives: unrated items of other clusters (unrated in-cluster items are positives the
       * user just did not sample) */
      if (fx->rated[u][i] || i % NC == u % NC)
        continue;
      wins += sp > scores[i] ? 1.0 : (sp == scores[i] ? 0.5 : 0.0);
      pairs += 1.0;
    }
  }
  return wins / pairs;
}

static void test_recovers_planted_structure(void **state) {
  (void)state;
  fixture *fx = make_fixture(2);
  for (int cg = 0; cg <= 3; cg += 3) {
    als_opts o = small_opts(cg, 10);
    /* as many factors as planted clusters: with 8 factors and reg 0.1 this tiny data set is
     * overfit (AUC ~0.88); with reg 30 both give ~0.99 */
    o.factors = NC;
    als_model *m = NULL;
    assert_int_equal(als_fit(&o, fx->ui, fx->iu, &m), MR_OK);
    double auc = heldout_auc(m, fx);
    print_message("cg_steps=%d held-out AUC %.4f\n", cg, auc);
    assert_true(auc > 0.9);
    als_free(m);
  }
  free_fixture(fx);
}

/* Largest |fold_in(u) - x_u| over all users, relative to the largest |x_u| component. */
static double fold_in_error(const als_model *m, const csr *ui) {
  int k = als_factors(m);
  const float *x = als_user_factors(m);
  float *f = malloc(sizeof(float) * (size_t)k);
  double worst = 0.0;
  for (int32_t u = 0; u < ui->n_rows; u++) {
    int64_t b = ui->indptr[u];
    int n = (int)(ui->indptr[u + 1] - b);
    assert_int_equal(als_fold_in(m, ui->indices + b, ui->values + b, n, f), MR_OK);
    double scale = 1e-3;
    for (int j = 0; j < k; j++)
      scale = fmax(scale, fabs(x[(size_t)u * k + j]));
    for (int j = 0; j < k; j++)
      worst = fmax(worst, fabs(f[j] - x[(size_t)u * k + j]) / scale);
  }
  free(f);
  return worst;
}

static void test_fold_in_reproduces_training_users(void **state) {
  (void)state;
  fixture *fx = make_fixture(3);
  als_opts o = small_opts(0, 6);
  als_model *m = NULL;
  assert_int_equal(als_fit(&o, fx->ui, fx->iu, &m), MR_OK);
  double err = fold_in_error(m, fx->ui);
  print_message("exact solver: fold-in max relative diff %.2e\n", err);
  assert_true(err < 1e-3);
  als_free(m);

  /* CG (3 warm-started steps per sweep) is not an exact solve of the final system, so the
   * trained vectors sit slightly off the exact fold-in; after 15 sweeps they are close. */
  o = small_opts(3, 15);
  assert_int_equal(als_fit(&o, fx->ui, fx->iu, &m), MR_OK);
  err = fold_in_error(m, fx->ui);
  print_message("CG 3 steps: fold-in max relative diff %.2e\n", err);
  assert_true(err < 5e-2);

  float z[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  assert_int_equal(als_fold_in(m, NULL, NULL, 0, z), MR_OK);
  for (int j = 0; j < 8; j++)
    assert_true(z[j] == 0.0f);
  int32_t bad_item = NI;
  float one = 1.0f;
  assert_int_equal(als_fold_in(m, &bad_item, &one, 1, z), MR_ERANGE);
  als_free(m);
  free_fixture(fx);
}

static int same_factors(const als_model *a, const als_model *b) {
  size_t k = (size_t)als_factors(a);
  return memcmp(als_user_factors(a), als_user_factors(b), sizeof(float) * k * NU) == 0 &&
         memcmp(als_item_factors(a), als_item_factors(b), sizeof(float) * k * NI) == 0;
}

static void test_deterministic(void **state) {
  (void)state;
  fixture *fx = make_fixture(4);
  for (int cg = 0; cg <= 3; cg += 3) {
    als_opts o = small_opts(cg, 5);
    als_model *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    o.threads = 2;
    assert_int_equal(als_fit(&o, fx->ui, fx->iu, &a), MR_OK);
    assert_int_equal(als_fit(&o, fx->ui, fx->iu, &b), MR_OK);
    o.threads = 1;
    assert_int_equal(als_fit(&o, fx->ui, fx->iu, &c), MR_OK);
    assert_true(same_factors(a, b));
    assert_true(same_factors(a, c));
    o.threads = 2;
    o.seed = 8;
    assert_int_equal(als_fit(&o, fx->ui, fx->iu, &d), MR_OK);
    assert_false(same_factors(a, d));
    als_free(a);
    als_free(b);
    als_free(c);
    als_free(d);
  }
  /* k = 64 goes through the specialized kernel */
  als_opts o = small_opts(3, 3);
  o.factors = 64;
  als_model *a = NULL, *c = NULL;
  o.threads = 2;
  assert_int_equal(als_fit(&o, fx->ui, fx->iu, &a), MR_OK);
  o.threads = 1;
  assert_int_equal(als_fit(&o, fx->ui, fx->iu, &c), MR_OK);
  assert_true(same_factors(a, c));
  als_free(a);
  als_free(c);
  free_fixture(fx);
}

static void test_save_load(void **state) {
  (void)state;
  fixture *fx = make_fixture(5);
  als_opts o = small_opts(3, 5);
  als_model *m = NULL, *l = NULL;
  assert_int_equal(als_fit(&o, fx->ui, fx->iu, &m), MR_OK);
  char path[256], err[256];
  snprintf(path, sizeof(path), "/tmp/mr_test_als_%ld.bin", (long)getpid());
  assert_int_equal(als_save(m, path), MR_OK);
  assert_int_equal(als_load(path, &l, err, sizeof(err)), MR_OK);
  assert_int_equal(als_n_users(l), NU);
  assert_int_equal(als_n_items(l), NI);
  assert_int_equal(als_factors(l), 8);
  assert_true(same_factors(m, l));
  float s1[NI], s2[NI], f1[8], f2[8];
  for (int u = 0; u < NU; u++) { /* every row of the loaded score table */
    assert_int_equal(als_score_user(m, u, s1), MR_OK);
    assert_int_equal(als_score_user(l, u, s2), MR_OK);
    assert_memory_equal(s1, s2, sizeof(s1));
    int64_t b = fx->ui->indptr[u];
    int n = (int)(fx->ui->indptr[u + 1] - b);
    assert_int_equal(als_fold_in(m, fx->ui->indices + b, fx->ui->values + b, n, f1), MR_OK);
    assert_int_equal(als_fold_in(l, fx->ui->indices + b, fx->ui->values + b, n, f2), MR_OK);
    assert_memory_equal(f1, f2, sizeof(f1));
  }
  assert_true(fabs(als_loss(m, fx->ui) - als_loss(l, fx->ui)) <= 1e-9 * als_loss(m, fx->ui));
  als_free(l);
  l = NULL;

  /* flip one factor byte: the checksum must refuse the file */
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  fseek(f, -200, SEEK_END);
  int c = fgetc(f);
  fseek(f, -200, SEEK_END);
  fputc(c ^ 0x10, f);
  fclose(f);
  assert_int_equal(als_load(path, &l, err, sizeof(err)), MR_ECORRUPT);
  assert_null(l);
  assert_non_null(strstr(err, "checksum"));

  /* a valid model file of another kind is refused too */
  float v = 1.0f;
  mf_section s = {"user_factors", MF_F32, 1, 1, &v};
  assert_int_equal(mf_write(path, "pop", &s, 1), MR_OK);
  assert_int_equal(als_load(path, &l, err, sizeof(err)), MR_EFORMAT);
  assert_null(l);
  unlink(path);
  assert_int_equal(als_load(path, &l, err, sizeof(err)), MR_ENOTFOUND);
  als_free(m);
  als_free(NULL);
  free_fixture(fx);
}

static void test_bad_inputs(void **state) {
  (void)state;
  fixture *fx = make_fixture(6);
  als_opts o = small_opts(3, 2);
  als_model *m = NULL;
  /* ui and iu swapped: shapes do not match */
  assert_int_equal(als_fit(&o, fx->iu, fx->iu, &m), MR_EINVAL);
  assert_null(m);
  o.factors = 0;
  assert_int_equal(als_fit(&o, fx->ui, fx->iu, &m), MR_EINVAL);
  o = small_opts(3, 2);
  float saved = fx->ui->values[3];
  fx->ui->values[3] = NAN;
  assert_int_equal(als_fit(&o, fx->ui, fx->iu, &m), MR_ERANGE);
  fx->ui->values[3] = saved;
  /* finite inputs whose confidence overflows: the fit must report it, not return NaNs */
  for (int64_t e = 0; e < fx->ui->nnz; e++)
    fx->ui->values[e] = fx->iu->values[e] = 3e38f;
  o.alpha = 10.0f;
  for (int cg = 0; cg <= 3; cg += 3) {
    o.cg_steps = cg;
    assert_int_equal(als_fit(&o, fx->ui, fx->iu, &m), MR_ENUMERIC);
    assert_null(m);
  }
  free_fixture(fx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_loss_decreases),
      cmocka_unit_test(test_recovers_planted_structure),
      cmocka_unit_test(test_fold_in_reproduces_training_users),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_save_load),
      cmocka_unit_test(test_bad_inputs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
