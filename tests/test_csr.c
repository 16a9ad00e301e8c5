/* Tests for CSR construction, duplicate handling, transpose and lookup (csr.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/mr_error.h"
#include "data/csr.h"

/* 3 users x 4 items; (1, 2) appears twice and the later 5.0 must win. */
static const mr_rating ratings[] = {
    {1, 2, 1.0f, 10}, {0, 3, 4.0f, 11}, {2, 0, 2.0f, 12}, {0, 1, 3.0f, 13},
    {1, 0, 4.5f, 14}, {1, 2, 5.0f, 15}, {2, 3, 1.5f, 16},
};
#define N_RATINGS (sizeof(ratings) / sizeof(ratings[0]))

static void assert_csr_equal(const csr *a, const csr *b) {
  assert_int_equal(a->n_rows, b->n_rows);
  assert_int_equal(a->n_cols, b->n_cols);
  assert_int_equal(a->nnz, b->nnz);
  assert_memory_equal(a->indptr, b->indptr, ((size_t)a->n_rows + 1) * sizeof(int64_t));
  assert_memory_equal(a->indices, b->indices, (size_t)a->nnz * sizeof(int32_t));
  assert_memory_equal(a->values, b->values, (size_t)a->nnz * sizeof(float));
}

static void test_build_duplicate_last_wins(void **state) {
  (void)state;
  csr *a = NULL;
  assert_int_equal(csr_from_ratings(ratings, N_RATINGS, 3, 4, 0, &a), MR_OK);
  assert_int_equal(a->n_rows, 3);
  assert_int_equal(a->n_cols, 4);
  assert_int_equal(a->nnz, 6);
  const int64_t indptr[] = {0, 2, 4, 6};
  const int32_t indices[] = {1, 3, 0, 2, 0, 3};
  const float values[] = {3.0f, 4.0f, 4.5f, 5.0f, 2.0f, 1.5f};
  assert_memory_equal(a->indptr, indptr, sizeof(indptr));
  assert_memory_equal(a->indices, indices, sizeof(indices));
  assert_memory_equal(a->values, values, sizeof(values));
  assert_true(csr_get(a, 1, 2) == 5.0f);
  assert_true(csr_get(a, 0, 3) == 4.0f);
  assert_true(csr_get(a, 0, 0) == 0.0f); /* absent */
  assert_true(csr_get(a, 2, 3) == 1.5f);
  assert_true(csr_get(a, 3, 0) == 0.0f);  /* row out of range */
  assert_true(csr_get(a, -1, 0) == 0.0f); /* row out of range */
  csr_free(a);
}

static void test_transpose_round_trip(void **state) {
  (void)state;
  csr *a = NULL, *t = NULL, *tt = NULL, *direct = NULL;
  assert_int_equal(csr_from_ratings(ratings, N_RATINGS, 3, 4, 0, &a), MR_OK);
  assert_int_equal(csr_transpose(a, &t), MR_OK);
  assert_int_equal(t->n_rows, 4);
  assert_int_equal(t->n_cols, 3);
  assert_int_equal(t->nnz, 6);
  for (int32_t r = 0; r < 3; r++)
    for (int32_t c = 0; c < 4; c++)
      assert_true(csr_get(a, r, c) == csr_get(t, c, r));
  assert_true(csr_get(t, 2, 1) == 5.0f);
  /* building the transpose directly gives the same matrix */
  assert_int_equal(csr_from_ratings(ratings, N_RATINGS, 3, 4, 1, &direct), MR_OK);
  assert_csr_equal(t, direct);
  assert_int_equal(csr_transpose(t, &tt), MR_OK);
  assert_csr_equal(a, tt);
  csr_free(a);
  csr_free(t);
  csr_free(tt);
  csr_free(direct);
}

static void test_bad_input(void **state) {
  (void)state;
  csr *a = NULL;
  const mr_rating bad[] = {{0, 4, 1.0f, 0}};
  assert_int_equal(csr_from_ratings(bad, 1, 3, 4, 0, &a), MR_ERANGE);
  assert_null(a);
  assert_int_equal(csr_from_ratings(NULL, 2, 3, 4, 0, &a), MR_EINVAL);
  assert_int_equal(csr_from_ratings(NULL, 0, 2, 2, 0, &a), MR_OK); /* empty matrix is fine */
  assert_int_equal(a->nnz, 0);
  assert_int_equal(a->indptr[2], 0);
  assert_true(csr_get(a, 1, 1) == 0.0f);
  csr_free(a);
  csr_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_build_duplicate_last_wins),
      cmocka_unit_test(test_transpose_round_trip),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
