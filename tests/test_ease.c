/* EASE^R: B against a direct Gauss-Jordan inverse, zero diagonal, dense-reference scores,
 * argument checks, save/load round trip. */
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
#include "core/mr_rng.h"
#include "data/csr.h"
#include "models/ease.h"
#include "models/model.h"

#define NU 12
#define NI 6

/* A fixed 12 x 6 matrix with ratings 1-5: each user rates 2-5 items, item 5 only twice, so the
 * Gram matrix is far from diagonal but well conditioned once lambda is added. */
static int make_ratings(mr_rating *r) {
  mr_rng g;
  int n = 0;
  mr_rng_seed(&g, 7);
  for (int u = 0; u < NU; u++)
    for (int i = 0; i < NI; i++) {
      double p = i == 5 ? 0.0 : 0.55;
      if ((u == 3 && i == 5) || (u == 8 && i == 5) || mr_rng_uniform(&g) < p)
        r[n++] = (mr_rating){u, i, (float)(1 + mr_rng_below(&g, 5)), n};
    }
  return n;
}

static void dense_x(const mr_rating *r, int n, int weighting, double x[NU][NI]) {
  memset(x, 0, sizeof(double) * NU * NI);
  for (int k = 0; k < n; k++)
    x[r[k].user][r[k].item] = weighting ? r[k].rating : 1.0;
}

/* Reference: G = X^T X + lambda I, P = G^-1 by Gauss-Jordan with partial pivoting,
 * B = I - P / diag(P). */
static void reference_b(double x[NU][NI], double lambda, double b[NI][NI]) {
  double a[NI][2 * NI];
  for (int i = 0; i < NI; i++)
    for (int j = 0; j < NI; j++) {
      double s = 0.0;
      for (int u = 0; u < NU; u++)
        s += x[u][i] * x[u][j];
      a[i][j] = s + (i == j ? lambda : 0.0);
      a[i][NI + j] = i == j ? 1.0 : 0.0;
    }
  for (int c = 0; c < NI; c++) {
    int piv = c;
    for (int r = c + 1; r < NI; r++)
      if (fabs(a[r][c]) > fabs(a[piv][c]))
        piv = r;
    for (int k = 0; k < 2 * NI; k++) {
      double t = a[c][k];
      a[c][k] = a[piv][k];
      a[piv][k] = t;
    }
    double d = a[c][c];
    for (int k = 0; k < 2 * NI; k++)
      a[c][k] /= d;
    for (int r = 0; r < NI; r++)
      if (r != c) {
        double f = a[r][c];
        for (int k = 0; k < 2 * NI; k++)
          a[r][k] -= f * a[c][k];
      }
  }
  for (int i = 0; i < NI; i++)
    for (int j = 0; j < NI; j++)
      b[i][j] = i == j ? 0.0 : -a[i][NI + j] / a[j][NI + j];
}

static void check_against_reference(int weighting, double lambda) {
  mr_rating r[NU * NI];
  int n = make_ratings(r);
  double x[NU][NI], bref[NI][NI];
  csr *ui = NULL;
  ease_model *m = NULL;
  float scores[NI], hist[NI];
  assert_int_equal(csr_from_ratings(r, (size_t)n, NU, NI, 0, &ui), MR_OK);
  dense_x(r, n, weighting, x);
  reference_b(x, lambda, bref);
  ease_opts o;
  ease_opts_default(&o);
  o.lambda = lambda;
  o.weighting = weighting;
  assert_int_equal(ease_fit(&o, ui, &m), MR_OK);
  assert_int_equal(ease_n_items(m), NI);
  assert_int_equal(ease_n_users(m), NU);
  const float *b = ease_weights(m);
  double maxabs = 0.0;
  for (int i = 0; i < NI; i++)
    for (int j = 0; j < NI; j++) {
      assert_true(fabs(b[i * NI + j] - bref[i][j]) < 1e-4);
      if (i == j)
        assert_true(b[i * NI + j] == 0.0f);
      maxabs = fmax(maxabs, fabs(bref[i][j]));
    }
  /* the comparison means something only if B is not near zero */
  assert_true(maxabs > 0.05);
  for (int u = 0; u < NU; u++) {
    int32_t items[NI];
    float rat[NI];
    int nh = 0;
    assert_int_equal(ease_score_user(m, u, scores), MR_OK);
    for (int j = 0; j < NI; j++) {
      double s = 0.0;
      for (int i = 0; i < NI; i++)
        s += x[u][i] * (double)b[i * NI + j];
      assert_true(fabs(scores[j] - s) < 1e-5);
    }
    for (int64_t k = ui->indptr[u]; k < ui->indptr[u + 1]; k++) {
      items[nh] = ui->indices[k];
      rat[nh++] = ui->values[k];
    }
    assert_int_equal(ease_score_history(m, items, rat, nh, hist), MR_OK);
    assert_memory_equal(scores, hist, sizeof(scores));
  }
  ease_free(m);
  csr_free(ui);
}

static void test_binary_matches_direct_inverse(void **state) {
  (void)state;
  check_against_reference(0, 2.0);
  check_against_reference(0, 0.5);
}

static void test_weighted_matches_direct_inverse(void **state) {
  (void)state;
  check_against_reference(1, 10.0);
}

static void test_arguments(void **state) {
  (void)state;
  mr_rating r[NU * NI];
  int n = make_ratings(r);
  csr *ui = NULL;
  ease_model *m = NULL;
  float scores[NI];
  int32_t bad_item = NI;
  float one = 1.0f;
  ease_opts o;
  assert_int_equal(csr_from_ratings(r, (size_t)n, NU, NI, 0, &ui), MR_OK);
  ease_opts_default(&o);
  o.lambda = 0.0;
  assert_int_equal(ease_fit(&o, ui, &m), MR_EINVAL);
  o.lambda = NAN;
  assert_int_equal(ease_fit(&o, ui, &m), MR_EINVAL);
  o.lambda = 1.0;
  o.weighting = 2;
  assert_int_equal(ease_fit(&o, ui, &m), MR_EINVAL);
  o.weighting = 0;
  ui->values[0] = INFINITY;
  assert_int_equal(ease_fit(&o, ui, &m), MR_ENUMERIC);
  ui->values[0] = 3.0f;
  assert_null(m);
  assert_int_equal(ease_fit(&o, ui, &m), MR_OK);
  assert_int_equal(ease_score_user(m, NU, scores), MR_ERANGE);
  assert_int_equal(ease_score_user(m, -1, scores), MR_ERANGE);
  assert_int_equal(ease_score_history(m, &bad_item, &one, 1, scores), MR_ERANGE);
  assert_int_equal(ease_score_history(m, NULL, NULL, 0, scores), MR_OK);
  for (int j = 0; j < NI; j++)
    assert_true(scores[j] == 0.0f);
  ease_free(m);
  ease_free(NULL);
  csr_free(ui);
}

static void test_save_load(void **state) {
  (void)state;
  mr_rating r[NU * NI];
  int n = make_ratings(r);
  csr *ui = NULL, *iu = NULL;
  ease_model *m = NULL, *m2 = NULL;
  rec_model *rm = NULL, *rm2 = NULL;
  float s1[NI], s2[NI];
  char path[] = "/tmp/mr_test_ease_XXXXXX", err[256];
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(csr_from_ratings(r, (size_t)n, NU, NI, 0, &ui), MR_OK);
  ease_opts o;
  ease_opts_default(&o);
  o.lambda = 3.0;
  o.weighting = 1;
  assert_int_equal(ease_fit(&o, ui, &m), MR_OK);
  assert_int_equal(ease_save(m, path), MR_OK);
  assert_int_equal(ease_load(path, &m2, err, sizeof(err)), MR_OK);
  assert_int_equal(ease_n_items(m2), NI);
  assert_int_equal(ease_n_users(m2), NU);
  assert_true(ease_get_opts(m2)->lambda == 3.0 && ease_get_opts(m2)->weighting == 1);
  assert_memory_equal(ease_weights(m), ease_weights(m2), sizeof(float) * NI * NI);
  for (int u = 0; u < NU; u++) {
    assert_int_equal(ease_score_user(m, u, s1), MR_OK);
    assert_int_equal(ease_score_user(m2, u, s2), MR_OK);
    assert_memory_equal(s1, s2, sizeof(s1));
  }
  ease_free(m2);
  /* through the registry: kind "ease" with parameters, loaded back by kind */
  rec_params p;
  assert_int_equal(rec_params_parse("lambda=3,weighting=1", &p), MR_OK);
  assert_int_equal(csr_transpose(ui, &iu), MR_OK);
  rec_train_data d = {.ratings = r, .n_ratings = (size_t)n, .ui = ui, .iu = iu};
  assert_int_equal(rec_fit("ease", &p, &d, &rm), MR_OK);
  assert_string_equal(rec_kind(rm), "ease");
  assert_int_equal(rec_save(rm, path), MR_OK);
  assert_int_equal(rec_load(path, &rm2, err, sizeof(err)), MR_OK);
  assert_string_equal(rec_kind(rm2), "ease");
  assert_int_equal(rec_score_user(rm2, 5, s2), MR_OK);
  assert_int_equal(ease_score_user(m, 5, s1), MR_OK);
  assert_memory_equal(s1, s2, sizeof(s1));
  /* candidate scorer: fitted (sums at the items) and loaded (training users' rows) */
  const int32_t hist[3] = {1, 4, 2};
  const float hr[3] = {5, 3, 4};
  check_score_items(rm, NU, hist, hr, 3);
  check_score_items(rm2, NU, hist, hr, 3);
  rec_free(rm);
  rec_free(rm2);
  ease_free(m);
  csr_free(ui);
  csr_free(iu);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_binary_matches_direct_inverse),
      cmocka_unit_test(test_weighted_matches_direct_inverse),
      cmocka_unit_test(test_arguments),
      cmocka_unit_test(test_save_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
