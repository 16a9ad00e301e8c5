/* Item kNN: hand-computed cosines (plain, shrunk, rating-weighted), top-K truncation, scores
 * against a dense reference, determinism across thread counts, save/load round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>

#include "model_check.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "data/csr.h"
#include "models/itemknn.h"
#include "models/model.h"

/* 4 users x 4 items:
 *   u0: i0=4 i1=2   u1: i0=5 i1=3 i2=1   u2: i1=4 i2=2   u3: i0=1 i3=5 */
static const mr_rating tiny[] = {{0, 0, 4, 0}, {0, 1, 2, 0}, {1, 0, 5, 0},
                                 {1, 1, 3, 0}, {1, 2, 1, 0}, {2, 1, 4, 0},
                                 {2, 2, 2, 0}, {3, 0, 1, 0}, {3, 3, 5, 0}};
#define TINY_N (sizeof(tiny) / sizeof(tiny[0]))

static itemknn_model *fit_tiny(int k, double shrink, int weighting) {
  csr *ui = NULL;
  itemknn_model *m = NULL;
  itemknn_opts o;
  assert_int_equal(csr_from_ratings(tiny, TINY_N, 4, 4, 0, &ui), MR_OK);
  itemknn_opts_default(&o);
  o.k = k;
  o.shrink = shrink;
  o.weighting = weighting;
  assert_int_equal(itemknn_fit(&o, ui, &m), MR_OK);
  csr_free(ui);
  return m;
}

static void assert_close(double a, double b) {
  if (fabs(a - b) > 1e-6)
    fail_msg("%.9f != %.9f", a, b);
}

static void test_cosine_by_hand(void **state) {
  (void)state;
  /* binary: |i0| = |i1| = sqrt 3, |i2| = sqrt 2, |i3| = 1 */
  itemknn_model *m = fit_tiny(10, 0.0, 0);
  assert_close(itemknn_similarity(m, 0, 1), 2.0 / 3.0);
  assert_close(itemknn_similarity(m, 1, 0), 2.0 / 3.0);
  assert_close(itemknn_similarity(m, 0, 2), 1.0 / sqrt(6.0));
  assert_close(itemknn_similarity(m, 0, 3), 1.0 / sqrt(3.0));
  assert_close(itemknn_similarity(m, 1, 2), 2.0 / sqrt(6.0));
  assert_close(itemknn_similarity(m, 2, 1), 2.0 / sqrt(6.0));
  assert_true(itemknn_similarity(m, 1, 3) == 0.0f);
  assert_true(itemknn_similarity(m, 2, 3) == 0.0f);
  assert_true(itemknn_similarity(m, 0, 0) == 0.0f);
  assert_true(itemknn_similarity(m, 0, 4) == 0.0f);
  itemknn_free(m);
  /* shrinkage adds to the denominator only */
  m = fit_tiny(10, 1.0, 0);
  assert_close(itemknn_similarity(m, 0, 1), 2.0 / 4.0);
  assert_close(itemknn_similarity(m, 0, 2), 1.0 / (sqrt(6.0) + 1.0));
  assert_close(itemknn_similarity(m, 3, 0), 1.0 / (sqrt(3.0) + 1.0));
  assert_close(itemknn_similarity(m, 2, 1), 2.0 / (sqrt(6.0) + 1.0));
  itemknn_free(m);
  /* rating-weighted: |i0| = sqrt 42, |i1| = sqrt 29, |i2| = sqrt 5, |i3| = 5 */
  m = fit_tiny(10, 0.0, 1);
  assert_close(itemknn_similarity(m, 0, 1), 23.0 / sqrt(42.0 * 29.0));
  assert_close(itemknn_similarity(m, 0, 2), 5.0 / sqrt(42.0 * 5.0));
  assert_close(itemknn_similarity(m, 0, 3), 5.0 / (sqrt(42.0) * 5.0));
  assert_close(itemknn_similarity(m, 1, 2), 11.0 / sqrt(29.0 * 5.0));
  itemknn_free(m);
}

static void test_topk_keeps_largest(void **state) {
  (void)state;
  const int32_t *idx;
  const float *sim;
  int count;
  /* item 0's cosines: i1 0.667, i3 0.577, i2 0.408 */
  itemknn_model *m = fit_tiny(2, 0.0, 0);
  assert_int_equal(itemknn_neighbors(m, 0, &idx, &sim, &count), MR_OK);
  assert_int_equal(count, 2);
  assert_int_equal(idx[0], 1);
  assert_int_equal(idx[1], 3);
  assert_true(sim[0] > sim[1]);
  assert_true(itemknn_similarity(m, 0, 2) == 0.0f);
  /* item 3 has a single co-rated item: the list is shorter than K */
  assert_int_equal(itemknn_neighbors(m, 3, &idx, &sim, &count), MR_OK);
  assert_int_equal(count, 1);
  assert_int_equal(idx[0], 0);
  assert_int_equal(itemknn_neighbors(m, 4, &idx, &sim, &count), MR_ERANGE);
  itemknn_free(m);
  m = fit_tiny(1, 0.0, 0);
  assert_int_equal(itemknn_neighbors(m, 1, &idx, &sim, &count), MR_OK);
  assert_int_equal(count, 1);
  assert_int_equal(idx[0], 2); /* 2/sqrt 6 = 0.816 beats 2/3 */
  itemknn_free(m);
  /* one user rated all 5 items: every similarity is 1, so ties keep the lowest indexes */
  const mr_rating all[] = {{0, 0, 1, 0}, {0, 1, 1, 0}, {0, 2, 1, 0}, {0, 3, 1, 0}, {0, 4, 1, 0}};
  csr *ui = NULL;
  itemknn_opts o;
  itemknn_opts_default(&o);
  o.k = 2;
  assert_int_equal(csr_from_ratings(all, 5, 1, 5, 0, &ui), MR_OK);
  assert_int_equal(itemknn_fit(&o, ui, &m), MR_OK);
  assert_int_equal(itemknn_neighbors(m, 0, &idx, &sim, &count), MR_OK);
  assert_int_equal(count, 2);
  assert_int_equal(idx[0], 1);
  assert_int_equal(idx[1], 2);
  assert_int_equal(itemknn_neighbors(m, 4, &idx, &sim, &count), MR_OK);
  assert_int_equal(idx[0], 0);
  assert_int_equal(idx[1], 1);
  assert_close(sim[1], 1.0);
  itemknn_free(m);
  csr_free(ui);
}

/* A random sparse matrix: nu x ni with about density * nu * ni ratings 1-5. */
static csr *random_ui(int32_t nu, int32_t ni, double density, uint64_t seed) {
  mr_rng g;
  mr_rating *r = malloc((size_t)nu * (size_t)ni * sizeof(*r));
  size_t n = 0;
  csr *ui = NULL;
  assert_non_null(r);
  mr_rng_seed(&g, seed);
  for (int32_t u = 0; u < nu; u++)
    for (int32_t i = 0; i < ni; i++)
      if (mr_rng_uniform(&g) < density)
        r[n++] = (mr_rating){u, i, (float)(1 + mr_rng_below(&g, 5)), 0};
  assert_int_equal(csr_from_ratings(r, n, nu, ni, 0, &ui), MR_OK);
  free(r);
  return ui;
}

static void test_against_dense_reference(void **state) {
  (void)state;
  const int32_t nu = 40, ni = 25;
  const int k = 6;
  const double shrink = 2.0;
  csr *ui = random_ui(nu, ni, 0.2, 11);
  double *x = calloc((size_t)nu * ni, sizeof(double)), *s = calloc((size_t)ni * ni, sizeof(double));
  float *scores = malloc((size_t)ni * sizeof(float));
  assert_true(x && s && scores);
  for (int32_t u = 0; u < nu; u++)
    for (int64_t c = ui->indptr[u]; c < ui->indptr[u + 1]; c++)
      x[(size_t)u * ni + ui->indices[c]] = ui->values[c];
  /* dense rating-weighted cosine with shrinkage */
  for (int32_t i = 0; i < ni; i++)
    for (int32_t j = 0; j < ni; j++) {
      double d = 0, ni2 = 0, nj2 = 0;
      for (int32_t u = 0; u < nu; u++) {
        d += x[(size_t)u * ni + i] * x[(size_t)u * ni + j];
        ni2 += x[(size_t)u * ni + i] * x[(size_t)u * ni + i];
        nj2 += x[(size_t)u * ni + j] * x[(size_t)u * ni + j];
      }
      s[(size_t)i * ni + j] = i == j || d == 0 ? 0.0 : d / (sqrt(ni2) * sqrt(nj2) + shrink);
    }
  itemknn_opts o;
  itemknn_model *m = NULL;
  itemknn_opts_default(&o);
  o.k = k;
  o.shrink = shrink;
  o.weighting = 1;
  assert_int_equal(itemknn_fit(&o, ui, &m), MR_OK);
  for (int32_t i = 0; i < ni; i++) {
    const int32_t *idx;
    const float *sim;
    int count, nonzero = 0;
    assert_int_equal(itemknn_neighbors(m, i, &idx, &sim, &count), MR_OK);
    for (int32_t j = 0; j < ni; j++)
      nonzero += s[(size_t)i * ni + j] != 0.0;
    assert_int_equal(count, nonzero < k ? nonzero : k);
    /* kept values match, are sorted, and no dropped neighbour beats the smallest kept one */
    for (int c = 0; c < count; c++) {
      assert_close(sim[c], s[(size_t)i * ni + idx[c]]);
      if (c)
        assert_true(sim[c - 1] >= sim[c]);
    }
    for (int32_t j = 0; j < ni; j++) {
      int kept = 0;
      for (int c = 0; c < count; c++)
        kept |= idx[c] == j;
      if (!kept && count)
        assert_true(s[(size_t)i * ni + j] <= sim[count - 1] + 1e-7);
    }
  }
  /* scores[i] = sum_j x_uj S[j][i] with S the truncated lists */
  for (int32_t u = 0; u < nu; u++) {
    assert_int_equal(itemknn_score_user(m, u, scores), MR_OK);
    for (int32_t i = 0; i < ni; i++) {
      double ref = 0.0;
      for (int32_t j = 0; j < ni; j++)
        ref += x[(size_t)u * ni + j] * itemknn_similarity(m, j, i);
      assert_true(fabs(scores[i] - ref) < 1e-5);
    }
  }
  itemknn_free(m);
  csr_free(ui);
  free(x);
  free(s);
  free(scores);
}

static void test_deterministic_across_threads(void **state) {
  (void)state;
  const int32_t ni = 300;
  csr *ui = random_ui(500, ni, 0.05, 5);
  itemknn_opts o;
  itemknn_model *m1 = NULL, *m2 = NULL;
  itemknn_opts_default(&o);
  o.k = 20;
  o.shrink = 5.0;
  o.weighting = 1;
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  assert_int_equal(itemknn_fit(&o, ui, &m1), MR_OK);
  omp_set_num_threads(4);
  assert_int_equal(itemknn_fit(&o, ui, &m2), MR_OK);
  omp_set_num_threads(saved);
  int total = 0;
  for (int32_t i = 0; i < ni; i++) {
    const int32_t *i1, *i2;
    const float *s1, *s2;
    int c1, c2;
    assert_int_equal(itemknn_neighbors(m1, i, &i1, &s1, &c1), MR_OK);
    assert_int_equal(itemknn_neighbors(m2, i, &i2, &s2, &c2), MR_OK);
    assert_int_equal(c1, c2);
    assert_memory_equal(i1, i2, (size_t)c1 * sizeof(int32_t));
    assert_memory_equal(s1, s2, (size_t)c1 * sizeof(float));
    total += c1;
  }
  assert_true(total > ni * 10); /* the lists are not trivially empty */
  itemknn_free(m1);
  itemknn_free(m2);
  csr_free(ui);
}

static void test_arguments(void **state) {
  (void)state;
  csr *ui = NULL;
  itemknn_model *m = NULL;
  itemknn_opts o;
  float scores[4];
  int32_t bad = 4;
  float one = 1.0f;
  assert_int_equal(csr_from_ratings(tiny, TINY_N, 4, 4, 0, &ui), MR_OK);
  itemknn_opts_default(&o);
  o.k = 0;
  assert_int_equal(itemknn_fit(&o, ui, &m), MR_EINVAL);
  o.k = 5;
  o.shrink = -1.0;
  assert_int_equal(itemknn_fit(&o, ui, &m), MR_EINVAL);
  o.shrink = 0.0;
  o.weighting = 3;
  assert_int_equal(itemknn_fit(&o, ui, &m), MR_EINVAL);
  assert_null(m);
  o.weighting = 0;
  assert_int_equal(itemknn_fit(&o, ui, &m), MR_OK);
  assert_int_equal(itemknn_score_user(m, 4, scores), MR_ERANGE);
  assert_int_equal(itemknn_score_history(m, &bad, &one, 1, scores), MR_ERANGE);
  assert_int_equal(itemknn_score_history(m, NULL, NULL, 0, scores), MR_OK);
  for (int i = 0; i < 4; i++)
    assert_true(scores[i] == 0.0f);
  itemknn_free(m);
  itemknn_free(NULL);
  csr_free(ui);
}

static void test_save_load(void **state) {
  (void)state;
  csr *ui = random_ui(60, 30, 0.15, 3), *iu = NULL;
  itemknn_model *m = NULL, *m2 = NULL;
  rec_model *rm = NULL, *rm2 = NULL;
  itemknn_opts o;
  float s1[30], s2[30];
  char path[] = "/tmp/mr_test_itemknn_XXXXXX", err[256];
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  itemknn_opts_default(&o);
  o.k = 7;
  o.shrink = 1.5;
  o.weighting = 1;
  assert_int_equal(itemknn_fit(&o, ui, &m), MR_OK);
  assert_int_equal(itemknn_save(m, path), MR_OK);
  assert_int_equal(itemknn_load(path, &m2, err, sizeof(err)), MR_OK);
  assert_int_equal(itemknn_n_items(m2), 30);
  assert_int_equal(itemknn_n_users(m2), 60);
  assert_true(itemknn_get_opts(m2)->k == 7 && itemknn_get_opts(m2)->shrink == 1.5 &&
              itemknn_get_opts(m2)->weighting == 1);
  for (int32_t i = 0; i < 30; i++)
    for (int32_t j = 0; j < 30; j++)
      assert_true(itemknn_similarity(m, i, j) == itemknn_similarity(m2, i, j));
  for (int32_t u = 0; u < 60; u++) {
    assert_int_equal(itemknn_score_user(m, u, s1), MR_OK);
    assert_int_equal(itemknn_score_user(m2, u, s2), MR_OK);
    assert_memory_equal(s1, s2, sizeof(s1));
  }
  itemknn_free(m2);
  /* through the registry */
  rec_params p;
  assert_int_equal(rec_params_parse("k=7,shrink=1.5,weighting=1", &p), MR_OK);
  assert_int_equal(csr_transpose(ui, &iu), MR_OK);
  rec_train_data d = {.ui = ui, .iu = iu};
  assert_int_equal(rec_fit("itemknn", &p, &d, &rm), MR_OK);
  assert_int_equal(rec_save(rm, path), MR_OK);
  assert_int_equal(rec_load(path, &rm2, err, sizeof(err)), MR_OK);
  assert_string_equal(rec_kind(rm2), "itemknn");
  assert_int_equal(rec_score_user(rm2, 9, s2), MR_OK);
  assert_int_equal(itemknn_score_user(m, 9, s1), MR_OK);
  assert_memory_equal(s1, s2, sizeof(s1));
  const int32_t hist[3] = {1, 4, 2};
  const float hr[3] = {5, 3, 4};
  check_score_items(rm, 60, hist, hr, 3);
  check_score_items(rm2, 60, hist, hr, 3);
  rec_free(rm);
  rec_free(rm2);
  itemknn_free(m);
  csr_free(ui);
  csr_free(iu);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cosine_by_hand),
      cmocka_unit_test(test_topk_keeps_largest),
      cmocka_unit_test(test_against_dense_reference),
      cmocka_unit_test(test_deterministic_across_threads),
      cmocka_unit_test(test_arguments),
      cmocka_unit_test(test_save_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
