/* LambdaMART ranker: learns a planted ordering, flattened trees equal XGBoost's predictions,
 * save/load round trip, bad input refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "rank/ltr.h"
#include "models/modelfile.h"

#include <jansson.h>
#include <stdio.h>

#define NF 5
#define GROUPS 120
#define PER 20

typedef struct planted {
  float x[GROUPS * PER * NF];
  float y[GROUPS * PER];
  uint32_t g[GROUPS];
} planted;

/* Relevance depends on features 0 and 2 (2 is sometimes missing); 1, 3, 4 are noise. */
static void planted_make(planted *p, uint64_t seed) {
  mr_rng r;
  mr_rng_seed(&r, seed);
  for (int g = 0; g < GROUPS; g++) {
    p->g[g] = PER;
    for (int i = 0; i < PER; i++) {
      float *row = p->x + ((size_t)g * PER + i) * NF;
      for (int f = 0; f < NF; f++)
        row[f] = (float)mr_rng_uniform(&r);
      if (i % 7 == 3)
        row[2] = NAN;
      float signal = 2.0f * row[0] + (row[2] == row[2] ? row[2] : 0.5f);
      p->y[g * PER + i] = signal > 2.2f ? 3.0f : signal > 1.6f ? 2.0f : signal > 1.0f ? 1.0f : 0.0f;
    }
  }
}

/* Mean over groups of the fraction of correctly ordered pairs with different labels. */
static double pair_accuracy(const planted *p, const float *s) {
  double acc = 0;
  for (int g = 0; g < GROUPS; g++) {
    long ok = 0, all = 0;
    for (int i = 0; i < PER; i++)
      for (int j = 0; j < PER; j++) {
        int a = g * PER + i, b = g * PER + j;
        if (p->y[a] > p->y[b]) {
          all++;
          ok += s[a] > s[b];
        }
      }
    acc += all ? (double)ok / (double)all : 1.0;
  }
  return acc / GROUPS;
}

static void test_learns_planted_order(void **state) {
  (void)state;
  static planted tr, te;
  static float s1[GROUPS * PER], s2[GROUPS * PER], s3[GROUPS * PER];
  planted_make(&tr, 1);
  planted_make(&te, 2);
  ltr_opts o;
  ltr_opts_default(&o);
  o.trees = 60;
  o.early_stopping = 0;
  ltr_data d = {tr.x, tr.y, tr.g, GROUPS * PER, NF, GROUPS};
  const char *names[NF] = {"a", "b", "c", "d", "e"};
  ltr_model *m = NULL, *m2 = NULL;
  char err[256] = "";
  assert_int_equal(ltr_train(&o, &d, NULL, names, &m, err, sizeof(err)), MR_OK);
  assert_int_equal(ltr_n_features(m), NF);
  assert_int_equal(ltr_n_trees(m), 60);
  ltr_predict(m, te.x, GROUPS * PER, s1);
  double acc = pair_accuracy(&te, s1);
  assert_true(acc > 0.9);
  /* the flattened trees compute exactly XGBoost's margins (missing values included) */
  assert_int_equal(ltr_predict_xgboost(m, te.x, GROUPS * PER, s2), MR_OK);
  for (int i = 0; i < GROUPS * PER; i++)
    assert_true(fabsf(s1[i] - s2[i]) <= 1e-5f * (1.0f + fabsf(s2[i])));
  /* the three walks agree bit for bit, for every row count up to 130 (every split into passes) */
  static float s4[GROUPS * PER], s5[GROUPS * PER];
  for (int n = 1; n <= GROUPS * PER; n += n < 130 ? 1 : 97) {
    ltr_predict(m, te.x, n, s3);
    ltr_predict_portable(m, te.x, n, s4);
    ltr_predict_nodes(m, te.x, n, s5);
    assert_memory_equal(s3, s4, (size_t)n * sizeof(float));
    assert_memory_equal(s3, s5, (size_t)n * sizeof(float));
    assert_memory_equal(s3, s1, (size_t)n * sizeof(float));
  }
  /* gain importance: the planted features dominate */
  double gain[NF];
  assert_int_equal(ltr_importance(m, gain), MR_OK);
  assert_true(gain[0] > gain[1] && gain[0] > gain[3] && gain[0] > gain[4]);
  assert_true(gain[2] > gain[1] && gain[2] > gain[3] && gain[2] > gain[4]);
  /* round trip */
  char path[] = "/tmp/mr_test_ltr_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(ltr_save(m, path), MR_OK);
  assert_int_equal(ltr_load(path, &m2, err, sizeof(err)), MR_OK);
  ltr_predict(m2, te.x, GROUPS * PER, s3);
  assert_memory_equal(s1, s3, sizeof(s1));
  assert_int_equal(ltr_predict_xgboost(m2, te.x, GROUPS * PER, s3), MR_OK);
  assert_memory_equal(s2, s3, sizeof(s2));
  unlink(path);
  ltr_free(m);
  ltr_free(m2);
  ltr_free(NULL);
}

static void test_early_stopping_and_bad_input(void **state) {
  (void)state;
  static planted tr, va;
  planted_make(&tr, 3);
  planted_make(&va, 4);
  ltr_opts o;
  ltr_opts_default(&o);
  o.trees = 400;
  o.early_stopping = 10;
  ltr_data d = {tr.x, tr.y, tr.g, GROUPS * PER, NF, GROUPS};
  ltr_data v = {va.x, va.y, va.g, GROUPS * PER, NF, GROUPS};
  ltr_model *m = NULL;
  char err[256] = "";
  assert_int_equal(ltr_train(&o, &d, &v, NULL, &m, err, sizeof(err)), MR_OK);
  assert_true(ltr_n_trees(m) >= 1 && ltr_n_trees(m) < 400);
  ltr_free(m);
  m = NULL;
  uint32_t bad_groups[GROUPS];
  memcpy(bad_groups, tr.g, sizeof(bad_groups));
  bad_groups[0] = PER + 1; /* groups no longer sum to n_rows */
  ltr_data bad = {tr.x, tr.y, bad_groups, GROUPS * PER, NF, GROUPS};
  assert_int_equal(ltr_train(&o, &bad, NULL, NULL, &m, err, sizeof(err)), MR_EINVAL);
  assert_null(m);
  assert_int_equal(ltr_load("/nonexistent/ltr.bin", &m, err, sizeof(err)), MR_ENOTFOUND);
}

/* The fuzz seed: a 3-tree ranker over 3 features (fuzz/make_seeds.c). */
#define LTR_SEED MR_TESTS_DIR "/../fuzz/corpus/fuzz_modelfile/ltr.bin"

/* Writes the seed's sections to path with the XGBoost JSON replaced by json (NULL: kept) and
 * the JSON section's rows set to json_rows. */
static void write_ltr_variant(const char *path, const char *json, uint64_t json_rows) {
  mf_file *f = NULL;
  char err[256];
  assert_int_equal(mf_open(LTR_SEED, &f, err, sizeof(err)), MR_OK);
  mf_section sec[3];
  assert_int_equal(mf_n_sections(f), 3);
  for (uint32_t i = 0; i < 3; i++) {
    mf_dtype dt;
    assert_int_equal(
        mf_section_at(f, i, &sec[i].name, &dt, &sec[i].data, &sec[i].rows, &sec[i].cols), MR_OK);
    sec[i].dtype = dt;
    if (!strcmp(sec[i].name, "xgb_json")) {
      if (json) {
        sec[i].data = json;
        sec[i].cols = strlen(json);
      }
      sec[i].rows = json_rows;
    }
  }
  assert_int_equal(mf_write(path, "ltr", sec, 3), MR_OK);
  mf_close(f);
}

static void test_load_refuses_bad_trees(void **state) {
  (void)state;
  char path[] = "/tmp/mr_test_ltr_bad_XXXXXX", err[256];
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  ltr_model *m = NULL;
  assert_int_equal(ltr_load(LTR_SEED, &m, err, sizeof(err)), MR_OK);
  ltr_free(m);
  m = NULL;
  /* the seed's JSON with tree 0's root pointing back at itself: found by fuzz_modelfile, the
   * load accepted it and ltr_predict never returned */
  mf_file *f = NULL;
  const void *js;
  uint64_t rows, cols;
  assert_int_equal(mf_open(LTR_SEED, &f, err, sizeof(err)), MR_OK);
  assert_int_equal(mf_get(f, "xgb_json", MF_U8, &js, &rows, &cols), MR_OK);
  json_error_t je;
  json_t *root = json_loadb(js, cols, 0, &je);
  mf_close(f);
  assert_non_null(root);
  json_t *tree = json_array_get(
      json_object_get(
          json_object_get(json_object_get(json_object_get(root, "learner"), "gradient_booster"),
                          "model"),
          "trees"),
      0);
  json_t *left = json_object_get(tree, "left_children");
  assert_true(json_array_size(left) >= 3 && json_integer_value(json_array_get(left, 0)) > 0);
  static const double bad[] = {0, -7, 1e300, 2.5};
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    json_array_set_new(left, 0, k == 0 ? json_integer(0) : json_real(bad[k]));
    char *txt = json_dumps(root, JSON_COMPACT);
    write_ltr_variant(path, txt, 1);
    free(txt);
    assert_int_equal(ltr_load(path, &m, err, sizeof(err)), MR_EFORMAT);
    assert_null(m);
  }
  /* tree 0 as a chain of 60 nodes where each node's two children are the same next node: a
   * valid order, but the recursive depth walk took 2^60 steps (the load must be quick) */
  const char *keys[] = {"left_children",    "right_children", "split_indices",
                        "split_conditions", "default_left",   "loss_changes"};
  for (size_t k = 0; k < 6; k++) {
    json_t *a = json_array();
    for (int i = 0; i <= 60; i++)
      json_array_append_new(a, k < 2    ? json_integer(i < 60 ? i + 1 : -1)
                               : k == 3 ? json_real(0.5)
                                        : json_integer(0));
    json_object_set_new(tree, keys[k], a);
  }
  char *txt = json_dumps(root, JSON_COMPACT);
  write_ltr_variant(path, txt, 1);
  free(txt);
  assert_int_equal(ltr_load(path, &m, err, sizeof(err)), MR_OK);
  float x[3] = {1, 0, 0}, out;
  ltr_predict(m, x, 1, &out);
  assert_true(out == out);
  ltr_free(m);
  m = NULL;
  json_decref(root);
  /* a JSON section with zero rows claims its columns over zero bytes: refused, not read */
  write_ltr_variant(path, NULL, 0);
  assert_int_equal(ltr_load(path, &m, err, sizeof(err)), MR_EFORMAT);
  assert_null(m);
  unlink(path);
}

/* Shallow forests are padded to the 6-level walk, deep ones (7-8) take the gather walk and
 * deeper ones the node walk: each must give XGBoost's margins and agree across the walks. */
static void test_every_depth_walks_alike(void **state) {
  (void)state;
  static planted tr, te;
  static float s1[GROUPS * PER], s2[GROUPS * PER], s3[GROUPS * PER], s4[GROUPS * PER];
  planted_make(&tr, 5);
  planted_make(&te, 6);
  const int depths[] = {1, 3, 7, 8, 10};
  for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
    ltr_opts o;
    ltr_opts_default(&o);
    o.trees = 20;
    o.early_stopping = 0;
    o.max_depth = depths[i];
    o.min_child_weight = 0.0f;
    ltr_data d = {tr.x, tr.y, tr.g, GROUPS * PER, NF, GROUPS};
    ltr_model *m = NULL;
    char err[256] = "";
    assert_int_equal(ltr_train(&o, &d, NULL, NULL, &m, err, sizeof(err)), MR_OK);
    ltr_predict(m, te.x, GROUPS * PER, s1);
    assert_int_equal(ltr_predict_xgboost(m, te.x, GROUPS * PER, s2), MR_OK);
    for (int k = 0; k < GROUPS * PER; k++)
      assert_true(fabsf(s1[k] - s2[k]) <= 1e-5f * (1.0f + fabsf(s2[k])));
    ltr_predict_portable(m, te.x, GROUPS * PER, s3);
    ltr_predict_nodes(m, te.x, GROUPS * PER, s4);
    assert_memory_equal(s1, s3, sizeof(s1));
    assert_memory_equal(s1, s4, sizeof(s1));
    ltr_free(m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_learns_planted_order),
      cmocka_unit_test(test_every_depth_walks_alike),
      cmocka_unit_test(test_early_stopping_and_bad_input),
      cmocka_unit_test(test_load_refuses_bad_trees),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
