/* Packed ranking keys, radix sort, quickselect and rec_top_n against a plain reference. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_rng.h"
#include "core/mr_sort.h"
#include "models/model.h"

static const float *ref_scores;

/* higher score first, NaN last, then lower index */
static int ref_cmp(const void *a, const void *b) {
  int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
  float x = ref_scores[i], y = ref_scores[j];
  int xn = x != x, yn = y != y;
  if (xn != yn)
    return xn - yn;
  if (!xn && x != y)
    return x > y ? -1 : 1;
  return (i > j) - (i < j);
}

static void test_keys_order(void **state) {
  (void)state;
  assert_true(mr_rank_key(2.0f, 5) < mr_rank_key(1.0f, 0));
  assert_true(mr_rank_key(-1.0f, 0) < mr_rank_key(-2.0f, 0));
  assert_true(mr_rank_key(1.0f, 1) < mr_rank_key(1.0f, 2));
  assert_true(mr_rank_key(-INFINITY, 0) < mr_rank_key(NAN, 0));
  assert_true(mr_rank_key(0.0f, 3) < mr_rank_key(-0.0f, 4)); /* -0 ties with +0 */
  assert_true(mr_rank_key(-0.0f, 3) < mr_rank_key(0.0f, 4));
  assert_int_equal(mr_rank_key_index(mr_rank_key(3.5f, 77)), 77);
}

static void test_top_n_matches_reference(void **state) {
  (void)state;
  uint64_t rng = 42;
  const int32_t sizes[] = {1, 7, 33, 150, 1682, 5000};
  for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
    int32_t ni = sizes[si];
    float *s = malloc((size_t)ni * sizeof(float));
    uint8_t *ex = calloc((size_t)ni, 1);
    int32_t *ref = malloc((size_t)ni * sizeof(int32_t)),
            *top = malloc((size_t)ni * sizeof(int32_t));
    float *ts = malloc((size_t)ni * sizeof(float));
    assert_true(s && ex && ref && top && ts);
    for (int rep = 0; rep < 20; rep++) {
      int32_t nref = 0;
      for (int32_t i = 0; i < ni; i++) {
        uint64_t r = mr_splitmix64(&rng);
        /* coarse values make many ties; a few NaN and excluded items */
        s[i] = (float)(int)(r % 50) - 25.0f;
        if (r % 97 == 0)
          s[i] = NAN;
        ex[i] = (r >> 20) % 13 == 0;
        if (!ex[i] && s[i] == s[i])
          ref[nref++] = i;
      }
      ref_scores = s;
      qsort(ref, (size_t)nref, sizeof(int32_t), ref_cmp);
      const int ns[] = {1, 10, 31, 33, 150, ni};
      for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
        int n = ns[k];
        int got = rec_top_n(s, ni, ex, n, top, ts);
        assert_int_equal(got, n < nref ? n : nref);
        for (int j = 0; j < got; j++) {
          assert_int_equal(top[j], ref[j]);
          assert_true(ts[j] == s[ref[j]]);
        }
        assert_int_equal(rec_top_n(s, ni, ex, n, top, NULL), got);
      }
    }
    free(s);
    free(ex);
    free(ref);
    free(top);
    free(ts);
  }
}

static void test_sort_and_select(void **state) {
  (void)state;
  enum { MAXN = 3000 };
  static uint64_t a[MAXN], b[MAXN], tmp[MAXN];
  uint64_t rng = 7;
  for (int rep = 0; rep < 300; rep++) {
    /* sizes around the insertion-sort cut-offs and up to catalogue size */
    size_t n = 1 + mr_splitmix64(&rng) % (rep % 2 ? 40 : MAXN);
    for (size_t i = 0; i < n; i++)
      a[i] = b[i] = (mr_splitmix64(&rng) & 0xFFFF00000000ull) | i; /* distinct */
    mr_sort_rank_keys(a, n, tmp);
    for (size_t i = 1; i < n; i++)
      assert_true(a[i - 1] < a[i]);
    size_t k = 1 + mr_splitmix64(&rng) % n;
    mr_select_rank_keys(b, n, k);
    uint64_t max_in = 0;
    for (size_t i = 0; i < k; i++)
      max_in = b[i] > max_in ? b[i] : max_in;
    assert_true(max_in == a[k - 1]);
    for (size_t i = k; i < n; i++)
      assert_true(b[i] > max_in);
    mr_sort_rank_keys(b, n, tmp); /* a permutation of the input: nothing lost or doubled */
    assert_memory_equal(a, b, n * sizeof(uint64_t));
  }
}

/* Keys built in index order, many tied scores (ties are where the index decides): sorting the
 * score half alone gives the full sort's order. */
static void test_sort_in_index_order(void **state) {
  (void)state;
  enum { MAXN = 600 };
  static uint64_t a[MAXN], b[MAXN], tmp[MAXN];
  uint64_t rng = 11;
  for (int rep = 0; rep < 200; rep++) {
    size_t n = 1 + mr_splitmix64(&rng) % MAXN;
    int levels = 1 + (int)(mr_splitmix64(&rng) % 50); /* few distinct scores: ties */
    for (size_t i = 0; i < n; i++) {
      uint64_t r = mr_splitmix64(&rng);
      float s = r & 1 ? (float)((r >> 1) % (uint64_t)levels) * 0.37f - 3.0f   /* ties */
                      : (float)(r >> 11) / 9007199254740992.0f * 8.0f - 4.0f; /* full mantissa */
      a[i] = b[i] = mr_rank_key(rep % 7 ? s : NAN, (uint32_t)i);
    }
    mr_sort_rank_keys(a, n, tmp);
    mr_sort_rank_keys_in_index_order(b, n, tmp);
    assert_memory_equal(a, b, n * sizeof(uint64_t));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys_order),
      cmocka_unit_test(test_top_n_matches_reference),
      cmocka_unit_test(test_sort_and_select),
      cmocka_unit_test(test_sort_in_index_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
