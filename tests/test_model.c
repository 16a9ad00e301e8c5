/* Model registry: parameter parsing, top-n selection, pop fit/save/load, unknown kinds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "data/csr.h"
#include "eval/split.h"
#include "models/model.h"
#include "models/modelfile.h"

static void test_params_parse(void **state) {
  (void)state;
  rec_params p;
  char buf[128];
  assert_int_equal(rec_params_parse("factors=64, alpha=2.5,reg=1e-2", &p), MR_OK);
  assert_int_equal(p.n, 3);
  assert_true(rec_params_get(&p, "factors", 0) == 64.0);
  assert_true(rec_params_get(&p, "alpha", 0) == 2.5);
  assert_true(rec_params_get(&p, "reg", 0) == 0.01);
  assert_true(rec_params_get(&p, "missing", 7.0) == 7.0);
  assert_int_equal(rec_params_set(&p, "alpha", 3.0), MR_OK);
  assert_int_equal(p.n, 3);
  rec_params_format(&p, buf, sizeof(buf));
  assert_string_equal(buf, "factors=64,alpha=3,reg=0.01");
  assert_int_equal(rec_params_parse("", &p), MR_OK);
  assert_int_equal(p.n, 0);
  assert_int_equal(rec_params_parse("factors", &p), MR_EINVAL);
  assert_int_equal(rec_params_parse("factors=abc", &p), MR_EINVAL);
  assert_int_equal(rec_params_parse("=3", &p), MR_EINVAL);
  assert_int_equal(rec_params_parse("a=1x", &p), MR_EINVAL);
}

static void test_top_n(void **state) {
  (void)state;
  const float scores[8] = {0.5f, 2.0f, 2.0f, -1.0f, 3.0f, 0.0f / 0.0f, 1.0f, 2.5f};
  uint8_t exclude[8] = {0, 0, 0, 0, 1, 0, 0, 0};
  int32_t top[4];
  float ts[4];
  int n = rec_top_n(scores, 8, exclude, 4, top, ts);
  assert_int_equal(n, 4);
  /* 4 is excluded, 5 is NaN; ties (1, 2) keep the lower index first */
  assert_int_equal(top[0], 7);
  assert_int_equal(top[1], 1);
  assert_int_equal(top[2], 2);
  assert_int_equal(top[3], 6);
  assert_true(ts[0] == 2.5f && ts[3] == 1.0f);
  n = rec_top_n(scores, 3, NULL, 10, top, NULL);
  assert_int_equal(n, 3);
  assert_int_equal(top[0], 1);
  assert_int_equal(top[2], 0);
}

static void test_pop_roundtrip(void **state) {
  (void)state;
  /* 3 users x 4 items: item 2 rated 3 times, item 0 twice, item 3 once */
  mr_rating r[] = {{0, 2, 5, 1}, {1, 2, 3, 2}, {2, 2, 4, 3},
                   {0, 0, 1, 4}, {1, 0, 2, 5}, {2, 3, 5, 6}};
  csr *ui = NULL, *iu = NULL;
  rec_model *m = NULL, *m2 = NULL;
  rec_params p;
  float s1[4], s2[4];
  char path[] = "/tmp/mr_test_pop_XXXXXX", err[256];
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(csr_from_ratings(r, 6, 3, 4, 0, &ui), MR_OK);
  assert_int_equal(csr_transpose(ui, &iu), MR_OK);
  rec_params_parse("", &p);
  rec_train_data d = {.ratings = r, .n_ratings = 6, .ui = ui, .iu = iu, .protocol = SPLIT_RANDOM};
  assert_int_equal(rec_fit("pop", &p, &d, &m), MR_OK);
  assert_string_equal(rec_kind(m), "pop");
  assert_int_equal(rec_n_items(m), 4);
  assert_int_equal(rec_score_user(m, 1, s1), MR_OK);
  assert_true(s1[0] == 2.0f && s1[1] == 0.0f && s1[2] == 3.0f && s1[3] == 1.0f);
  assert_int_equal(rec_save(m, path), MR_OK);
  assert_int_equal(rec_load(path, &m2, err, sizeof(err)), MR_OK);
  assert_string_equal(rec_kind(m2), "pop");
  assert_int_equal(rec_score_history(m2, NULL, NULL, 0, s2), MR_OK);
  assert_memory_equal(s1, s2, sizeof(s1));
  assert_int_equal(rec_fit("nosuch", &p, &d, &m2 /* untouched on failure */), MR_ENOTFOUND);
  assert_int_equal(rec_score_history(m, NULL, NULL, -1, s2), MR_EINVAL);
  /* loaded, it knows only the end-of-data counts */
  assert_int_equal(rec_score_history_at(m2, NULL, NULL, 0, 3, s2), MR_EUNSUPPORTED);
  rec_free(m);
  rec_free(m2);
  /* per-user reference times (user-temporal): user 1's latest rating is at t=5, so item 3's
   * rating at t=6 does not count for them; user 2's (t=6) does. As of t=3: item 0 not yet. */
  d.protocol = SPLIT_USER_TEMPORAL;
  assert_int_equal(rec_fit("pop", &p, &d, &m), MR_OK);
  assert_int_equal(rec_score_user(m, 1, s1), MR_OK);
  assert_true(s1[0] == 2.0f && s1[1] == 0.0f && s1[2] == 3.0f && s1[3] == 0.0f);
  assert_int_equal(rec_score_user(m, 2, s1), MR_OK);
  assert_true(s1[0] == 2.0f && s1[2] == 3.0f && s1[3] == 1.0f);
  assert_int_equal(rec_score_history_at(m, NULL, NULL, 0, 3, s1), MR_OK);
  assert_true(s1[0] == 0.0f && s1[2] == 3.0f && s1[3] == 0.0f);
  assert_int_equal(rec_score_history(m, NULL, NULL, 0, s1), MR_OK);
  assert_true(s1[0] == 2.0f && s1[3] == 1.0f);
  assert_int_equal(rec_score_user(m, 3, s1), MR_ERANGE);
  rec_free(m);
  rec_free(NULL);
  csr_free(ui);
  csr_free(iu);
  unlink(path);
}

/* The fuzz seeds are small model files of every kind (fuzz/make_seeds.c). */
#define SEEDS MR_TESTS_DIR "/../fuzz/corpus/fuzz_modelfile"

/* Copies model file src to dst with element k of the F64 section `name` set to v. */
static void patch_f64(const char *src, const char *dst, const char *name, int k, double v) {
  mf_file *f = NULL;
  char err[256];
  assert_int_equal(mf_open(src, &f, err, sizeof(err)), MR_OK);
  uint32_t n = mf_n_sections(f);
  mf_section sec[16];
  double *patched = NULL;
  assert_true(n <= 16);
  for (uint32_t i = 0; i < n; i++) {
    mf_dtype dt;
    assert_int_equal(
        mf_section_at(f, i, &sec[i].name, &dt, &sec[i].data, &sec[i].rows, &sec[i].cols), MR_OK);
    sec[i].dtype = dt;
    if (!strcmp(sec[i].name, name)) {
      assert_int_equal(dt, MF_F64);
      assert_true((uint64_t)k < sec[i].rows * sec[i].cols);
      patched = malloc(sec[i].rows * sec[i].cols * sizeof(double));
      assert_non_null(patched);
      memcpy(patched, sec[i].data, sec[i].rows * sec[i].cols * sizeof(double));
      patched[k] = v;
      sec[i].data = patched;
    }
  }
  assert_non_null(patched);
  assert_int_equal(mf_write(dst, mf_kind(f), sec, (int)n), MR_OK);
  free(patched);
  mf_close(f);
}

static void test_load_refuses_out_of_range_params(void **state) {
  (void)state;
  /* Found by fuzz_modelfile: loaders converted stored doubles to int without a range check
   * (content's min_df = -3.1e231 is undefined behaviour in the cast). A file with a valid CRC
   * and such a value is refused now. */
  static const struct {
    const char *file, *section;
    int k;
    double v;
  } bad[] = {
      {"als.bin", "meta", 1, 1e300},          {"als.bin", "meta", 2, -1e12},
      {"als.bin", "meta", 5, -1.0},           {"als.bin", "meta", 6, 1e20},
      {"content.bin", "params", 2, -3.1e231}, {"content.bin", "params", 0, 0.0 / 0.0},
      {"content.bin", "params", 3, 1e10},     {"gcn.bin", "params", 1, 1e10},
      {"gcn.bin", "params", 1, -1.0},         {"semantic.bin", "params", 1, 1e300},
      {"semantic.bin", "params", 12, -1e19},
  };
  char path[] = "/tmp/mr_test_badparams_XXXXXX", err[256], src[512];
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  rec_model *m = NULL;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    snprintf(src, sizeof(src), "%s/%s", SEEDS, bad[i].file);
    assert_int_equal(rec_load(src, &m, err, sizeof(err)), MR_OK); /* the seed itself loads */
    rec_free(m);
    m = NULL;
    patch_f64(src, path, bad[i].section, bad[i].k, bad[i].v);
    assert_int_equal(rec_load(path, &m, err, sizeof(err)), MR_EFORMAT);
    assert_null(m);
  }
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_params_parse),
      cmocka_unit_test(test_top_n),
      cmocka_unit_test(test_pop_roundtrip),
      cmocka_unit_test(test_load_refuses_out_of_range_params),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
