/* Hand-computed checks of the top-k metrics and the coverage accumulator. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "core/mr_error.h"
#include "eval/metrics.h"

#define TOL 1e-9

static void assert_near(double got, double want) {
  if (fabs(got - want) > TOL)
    fail_msg("got %.15g, want %.15g", got, want);
}

/* recs [5,3,9,1,7], k = 5, test {3,7,8} with ratings {5,2,4}: hits at positions 1 (item 3, r=5)
 * and 4 (item 7, r=2).
 *   P = 2/5 = 0.4, R = 2/3
 *   DCG = 1/log2(3) + 1/log2(6) = 0.630929753571458 + 0.386852807234542 = 1.017782560805999
 *   IDCG (min(5,3) = 3 ones) = 1 + 1/log2(3) + 1/log2(4) = 2.130929753571458
 *   nDCG = 1.017782560805999 / 2.130929753571458 = 0.477623703503218
 *   graded DCG = 5/log2(3) + 2/log2(6) = 3.928354382326371
 *   graded IDCG (ratings 5,4,2) = 5 + 4/log2(3) + 2/log2(4) = 8.523719014285831
 *   graded nDCG = 0.460873284976008
 *   P-liked = 1 (item 3, r=5 >= 4) / 5 = 0.2
 *   MAP = (1/2 + 2/5) / min(5,3) = 0.9 / 3 = 0.3 */
static void test_example_k5(void **state) {
  (void)state;
  const int32_t recs[] = {5, 3, 9, 1, 7};
  const int32_t test[] = {3, 7, 8};
  const float rt[] = {5, 2, 4};
  metrics_row m;
  metrics_user(recs, 5, 5, test, rt, 3, &m);
  assert_near(m.precision, 0.4);
  assert_near(m.recall, 2.0 / 3.0);
  assert_near(m.ndcg, 0.4776237035032179);
  assert_near(m.graded_ndcg, 0.4608732849760079);
  assert_near(m.precision_liked, 0.2);
  assert_near(m.map, 0.3);
}

/* The same list padded to k = 10 with misses: P = 2/10 = 0.2, P-liked = 1/10 = 0.1; R, nDCG,
 * graded nDCG and MAP are unchanged because the ideal still has min(10, 3) = 3 slots. The test
 * items are given unsorted ({8,3,7} with ratings {4,5,2}): same numbers expected. */
static void test_example_k10_unsorted_test(void **state) {
  (void)state;
  const int32_t recs[] = {5, 3, 9, 1, 7, 11, 12, 13, 14, 15};
  const int32_t test[] = {8, 3, 7};
  const float rt[] = {4, 5, 2};
  metrics_row m;
  metrics_user(recs, 10, 10, test, rt, 3, &m);
  assert_near(m.precision, 0.2);
  assert_near(m.recall, 2.0 / 3.0);
  assert_near(m.ndcg, 0.4776237035032179);
  assert_near(m.graded_ndcg, 0.4608732849760079);
  assert_near(m.precision_liked, 0.1);
  assert_near(m.map, 0.3);
}

static void test_no_hits(void **state) {
  (void)state;
  const int32_t recs[] = {1, 2, 3};
  const int32_t test[] = {4, 5};
  const float rt[] = {5, 5};
  metrics_row m = {1, 1, 1, 1, 1, 1};
  metrics_user(recs, 3, 3, test, rt, 2, &m);
  assert_near(m.precision, 0);
  assert_near(m.recall, 0);
  assert_near(m.ndcg, 0);
  assert_near(m.graded_ndcg, 0);
  assert_near(m.precision_liked, 0);
  assert_near(m.map, 0);
}

/* An empty test set yields all zeros (not NaN from 0/0). */
static void test_empty_test_set(void **state) {
  (void)state;
  const int32_t recs[] = {1, 2, 3};
  metrics_row m = {1, 1, 1, 1, 1, 1};
  metrics_user(recs, 3, 3, NULL, NULL, 0, &m);
  assert_near(m.precision, 0);
  assert_near(m.recall, 0);
  assert_near(m.ndcg, 0);
  assert_near(m.map, 0);
}

/* recs [3,8,7], k = 3, test {3,7,8} ratings {5,2,4}: every slot a hit in graded order
 * (5, 4, 2), so everything is 1 except P-liked = 2/3 (items 3 and 8). */
static void test_perfect_list(void **state) {
  (void)state;
  const int32_t recs[] = {3, 8, 7};
  const int32_t test[] = {3, 7, 8};
  const float rt[] = {5, 2, 4};
  metrics_row m;
  metrics_user(recs, 3, 3, test, rt, 3, &m);
  assert_near(m.precision, 1);
  assert_near(m.recall, 1);
  assert_near(m.ndcg, 1);
  assert_near(m.graded_ndcg, 1);
  assert_near(m.precision_liked, 2.0 / 3.0);
  assert_near(m.map, 1);
}

/* recs [7,8,3]: still all hits, so binary nDCG = 1, but graded order (2,4,5) is worst first:
 * graded nDCG = (2 + 4/log2(3) + 5/log2(4)) / 8.523719014285831 = 0.824020477741466. */
static void test_perfect_binary_wrong_grade_order(void **state) {
  (void)state;
  const int32_t recs[] = {7, 8, 3};
  const int32_t test[] = {3, 7, 8};
  const float rt[] = {5, 2, 4};
  metrics_row m;
  metrics_user(recs, 3, 3, test, rt, 3, &m);
  assert_near(m.ndcg, 1);
  assert_near(m.map, 1);
  assert_near(m.graded_ndcg, 0.8240204777414663);
}

/* recs [3] with k = 10, test {3,7,8} ratings {5,2,4}: the 9 missing slots are misses.
 *   P = 1/10, R = 1/3, nDCG = 1 / 2.130929753571458 = 0.469278726022756,
 *   graded nDCG = 5 / 8.523719014285831 = 0.586598407528446, P-liked = 1/10, MAP = 1 / 3 */
static void test_fewer_recs_than_k(void **state) {
  (void)state;
  const int32_t recs[] = {3};
  const int32_t test[] = {3, 7, 8};
  const float rt[] = {5, 2, 4};
  metrics_row m;
  metrics_user(recs, 1, 10, test, rt, 3, &m);
  assert_near(m.precision, 0.1);
  assert_near(m.recall, 1.0 / 3.0);
  assert_near(m.ndcg, 0.46927872602275644);
  assert_near(m.graded_ndcg, 5.0 / 8.523719014285831);
  assert_near(m.precision_liked, 0.1);
  assert_near(m.map, 1.0 / 3.0);
}

/* Only the first k of a longer list count: item 3 sits at position 2 with k = 2 -> no hit. */
static void test_list_longer_than_k(void **state) {
  (void)state;
  const int32_t recs[] = {1, 2, 3};
  const int32_t test[] = {3};
  const float rt[] = {5};
  metrics_row m;
  metrics_user(recs, 3, 2, test, rt, 1, &m);
  assert_near(m.precision, 0);
  assert_near(m.recall, 0);
  metrics_user(recs, 3, 3, test, rt, 1, &m);
  assert_near(m.precision, 1.0 / 3.0);
  assert_near(m.recall, 1);
}

/* recs [3,3,7], k = 3, test {3,7} ratings {4,1}: the repeated 3 is a miss at position 1.
 *   P = 2/3, R = 1, DCG = 1 + 1/log2(4) = 1.5, IDCG = 1 + 1/log2(3) -> nDCG = 0.919720789148188
 *   P-liked = 1/3, MAP = (1/1 + 2/3) / 2 = 0.833333333333333 */
static void test_duplicate_recs_count_once(void **state) {
  (void)state;
  const int32_t recs[] = {3, 3, 7};
  const int32_t test[] = {3, 7};
  const float rt[] = {4, 1};
  metrics_row m;
  metrics_user(recs, 3, 3, test, rt, 2, &m);
  assert_near(m.precision, 2.0 / 3.0);
  assert_near(m.recall, 1);
  assert_near(m.ndcg, 0.9197207891481876);
  assert_near(m.precision_liked, 1.0 / 3.0);
  assert_near(m.map, (1.0 + 2.0 / 3.0) / 2.0);
}

/* A test set larger than the on-stack lookup buffer: items 0..299 all rated 3,
 * recs [299, 1000, 0], k = 3: hits at positions 0 and 2.
 *   P = 2/3, R = 2/300, nDCG = (1 + 0.5) / 2.130929753571458 = 0.703918089034135,
 *   graded nDCG equal (all gains 3), P-liked = 0, MAP = (1 + 2/3) / 3 = 0.555555555555556 */
static void test_large_test_set(void **state) {
  (void)state;
  enum { NT = 300 };
  int32_t *test = malloc(NT * sizeof(*test));
  float *rt = malloc(NT * sizeof(*rt));
  assert_non_null(test);
  assert_non_null(rt);
  for (int i = 0; i < NT; i++) {
    test[i] = NT - 1 - i; /* descending, so the lookup must sort */
    rt[i] = 3;
  }
  const int32_t recs[] = {299, 1000, 0};
  metrics_row m;
  metrics_user(recs, 3, 3, test, rt, NT, &m);
  assert_near(m.precision, 2.0 / 3.0);
  assert_near(m.recall, 2.0 / 300.0);
  assert_near(m.ndcg, 0.7039180890341347);
  assert_near(m.graded_ndcg, 0.7039180890341347);
  assert_near(m.precision_liked, 0);
  assert_near(m.map, 0.5555555555555555);
  free(test);
  free(rt);
}

/* n_items = 20, k = 3:
 *   A: recs [1,2,3], test {2} r 5   -> P 1/3, R 1, nDCG 1/log2(3), graded same, P-liked 1/3, MAP
 * 1/2 B: recs [3,4,5,6] (6 beyond k), test {9} r 3 -> all 0 C: recs [7,8], no test           ->
 * ignored, its items not in coverage D: recs [1,1,10], test {1} r 4   -> P 1/3, R 1, nDCG 1, graded
 * 1, P-liked 1/3, MAP 1 means over 3 users: P 2/9, R 2/3, nDCG (0.630929753571458 + 1)/3 =
 * 0.543643251190486, P-liked 2/9, MAP 1.5/3 = 0.5; coverage {1,2,3,4,5,10} = 6/20 = 0.3 */
static void test_acc_coverage_and_means(void **state) {
  (void)state;
  metrics_acc *a = NULL;
  assert_int_equal(metrics_acc_create(20, 3, &a), MR_OK);
  const int32_t ra[] = {1, 2, 3}, ta[] = {2};
  const int32_t rb[] = {3, 4, 5, 6}, tb[] = {9};
  const int32_t rc[] = {7, 8};
  const int32_t rd[] = {1, 1, 10}, td[] = {1};
  const float ga[] = {5}, gb[] = {3}, gd[] = {4};
  metrics_acc_add(a, ra, 3, ta, ga, 1);
  metrics_acc_add(a, rb, 4, tb, gb, 1);
  metrics_acc_add(a, rc, 2, NULL, NULL, 0);
  metrics_acc_add(a, rd, 3, td, gd, 1);
  metrics_row mean;
  double cov = -1;
  long nu = -1;
  metrics_acc_result(a, &mean, &cov, &nu);
  assert_int_equal(nu, 3);
  assert_near(cov, 0.3);
  assert_near(mean.precision, 2.0 / 9.0);
  assert_near(mean.recall, 2.0 / 3.0);
  assert_near(mean.ndcg, 0.5436432511904858);
  assert_near(mean.graded_ndcg, 0.5436432511904858);
  assert_near(mean.precision_liked, 2.0 / 9.0);
  assert_near(mean.map, 0.5);
  metrics_acc_free(a);
}

static void test_acc_empty_and_args(void **state) {
  (void)state;
  metrics_acc *a = NULL;
  assert_int_equal(metrics_acc_create(10, 0, &a), MR_EINVAL);
  assert_int_equal(metrics_acc_create(-1, 10, &a), MR_EINVAL);
  assert_int_equal(metrics_acc_create(10, 10, NULL), MR_EINVAL);
  assert_int_equal(metrics_acc_create(10, 10, &a), MR_OK);
  metrics_row mean = {1, 1, 1, 1, 1, 1};
  double cov = -1;
  long nu = -1;
  metrics_acc_result(a, &mean, &cov, &nu);
  assert_int_equal(nu, 0);
  assert_near(cov, 0);
  assert_near(mean.precision, 0);
  assert_near(mean.ndcg, 0);
  metrics_acc_free(a);
  metrics_acc_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_example_k5),
      cmocka_unit_test(test_example_k10_unsorted_test),
      cmocka_unit_test(test_no_hits),
      cmocka_unit_test(test_empty_test_set),
      cmocka_unit_test(test_perfect_list),
      cmocka_unit_test(test_perfect_binary_wrong_grade_order),
      cmocka_unit_test(test_fewer_recs_than_k),
      cmocka_unit_test(test_list_longer_than_k),
      cmocka_unit_test(test_duplicate_recs_count_once),
      cmocka_unit_test(test_large_test_set),
      cmocka_unit_test(test_acc_coverage_and_means),
      cmocka_unit_test(test_acc_empty_and_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
