/* Tests for model versions on disk (publish.c: begin/commit, atomic switch, verify, manifest,
 * list, prune), live ratings merged into a data set (snapshot.c) and the holdout cut
 * (retrain.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "pipeline/publish.h"
#include "pipeline/retrain.h"
#include "pipeline/snapshot.h"

static char root[256];

static int setup(void **state) {
  (void)state;
  snprintf(root, sizeof(root), "/tmp/mr_test_publish.XXXXXX");
  return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[PUB_PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int exists(const char *fmt, int v) {
  char path[PUB_PATH_MAX + 64], name[64];
  snprintf(name, sizeof(name), fmt, v);
  snprintf(path, sizeof(path), "%s/%s", root, name);
  struct stat sb;
  return stat(path, &sb) == 0;
}

/* Publishes one version with two files; returns its number. */
static int make_version(const char *payload) {
  char tmp[PUB_PATH_MAX];
  int v = 0;
  assert_int_equal(pub_begin(root, &v, tmp), MR_OK);
  assert_true(exists(".v%d.tmp", v));
  write_file(tmp, "ranker.bin", payload);
  write_file(tmp, "meta.json", "{}");
  json_t *m = json_pack("{s:I}", "ratings", (json_int_t)100 + v);
  assert_int_equal(pub_commit(root, tmp, v, m), MR_OK);
  json_decref(m);
  assert_false(exists(".v%d.tmp", v));
  assert_true(exists("v%d", v));
  return v;
}

static void test_commit_switch_manifest(void **state) {
  (void)state;
  int cur = 0;
  assert_int_equal(pub_current(root, &cur), MR_ENOTFOUND);
  int v1 = make_version("one");
  int v2 = make_version("second");
  assert_int_equal(v1, 1);
  assert_int_equal(v2, 2);
  char err[256] = "";
  assert_int_equal(pub_switch(root, v1, err, sizeof(err)), MR_OK);
  assert_int_equal(pub_current(root, &cur), MR_OK);
  assert_int_equal(cur, 1);
  assert_int_equal(pub_switch(root, v2, err, sizeof(err)), MR_OK);
  assert_int_equal(pub_current(root, &cur), MR_OK);
  assert_int_equal(cur, 2);
  /* the link is relative and the temporary link is gone */
  char link[PUB_PATH_MAX + 16], target[64] = "";
  snprintf(link, sizeof(link), "%s/current", root);
  assert_true(readlink(link, target, sizeof(target) - 1) > 0);
  assert_string_equal(target, "v2");
  assert_false(exists(".current.tmp%.0d", 0));
  json_t *m = NULL;
  assert_int_equal(pub_manifest_read(root, v2, &m), MR_OK);
  assert_string_equal(json_string_value(json_object_get(m, "version")), "v2");
  assert_int_equal(json_integer_value(json_object_get(m, "ratings")), 102);
  assert_true(json_integer_value(json_object_get(m, "created_at")) > 0);
  json_t *files = json_object_get(m, "files");
  assert_int_equal(json_integer_value(json_object_get(files, "ranker.bin")), 6);
  assert_non_null(json_object_get(files, "meta.json"));
  assert_null(json_object_get(files, "manifest.json"));
  json_decref(m);
  int *list = NULL, n = 0;
  assert_int_equal(pub_list(root, &list, &n), MR_OK);
  assert_int_equal(n, 2);
  assert_int_equal(list[0], 1);
  assert_int_equal(list[1], 2);
  free(list);
}

static void test_refuses_incomplete(void **state) {
  (void)state;
  int v = make_version("payload");
  char err[256] = "", path[PUB_PATH_MAX + 64];
  /* a truncated file */
  snprintf(path, sizeof(path), "%s/v%d/ranker.bin", root, v);
  assert_int_equal(truncate(path, 2), 0);
  assert_int_equal(pub_verify(root, v, err, sizeof(err)), MR_ECORRUPT);
  assert_non_null(strstr(err, "ranker.bin"));
  assert_int_equal(pub_switch(root, v, err, sizeof(err)), MR_ECORRUPT);
  int cur = 0;
  assert_int_equal(pub_current(root, &cur), MR_ENOTFOUND); /* never switched */
  /* no manifest (and no meta.json): a directory someone copied half-way */
  snprintf(path, sizeof(path), "%s/v%d", root, v + 1);
  assert_int_equal(mkdir(path, 0755), 0);
  write_file(path, "ranker.bin", "x");
  assert_int_equal(pub_switch(root, v + 1, err, sizeof(err)), MR_ECORRUPT);
  assert_non_null(strstr(err, "incomplete"));
  /* a missing version */
  assert_int_equal(pub_switch(root, 99, err, sizeof(err)), MR_ENOTFOUND);
  /* a legacy version (meta.json, no manifest) is accepted */
  write_file(path, "meta.json", "{\"ratings\": 7, \"trained_at\": 5}");
  assert_int_equal(pub_switch(root, v + 1, err, sizeof(err)), MR_OK);
  json_t *m = NULL;
  assert_int_equal(pub_manifest_read(root, v + 1, &m), MR_OK);
  assert_true(json_is_true(json_object_get(m, "legacy")));
  assert_int_equal(json_integer_value(json_object_get(m, "ratings")), 7);
  json_decref(m);
}

static void test_prune(void **state) {
  (void)state;
  char err[256] = "";
  for (int i = 0; i < 6; i++)
    make_version("x");
  /* current = v2: kept although old; keep 2 -> v5, v6 stay; protect v3 */
  assert_int_equal(pub_switch(root, 2, err, sizeof(err)), MR_OK);
  int removed = -1;
  assert_int_equal(pub_prune(root, 2, 3, &removed), MR_OK);
  assert_int_equal(removed, 2); /* v1 and v4 */
  assert_false(exists("v%d", 1));
  assert_true(exists("v%d", 2));
  assert_true(exists("v%d", 3));
  assert_false(exists("v%d", 4));
  assert_true(exists("v%d", 5));
  assert_true(exists("v%d", 6));
  assert_int_equal(pub_prune(root, 0, 0, NULL), MR_EINVAL);
  /* the next version number stays above every one ever seen on disk */
  char tmp[PUB_PATH_MAX];
  int v = 0;
  assert_int_equal(pub_begin(root, &v, tmp), MR_OK);
  assert_int_equal(v, 7);
  /* a fresh temporary directory (a writer at work) survives a prune */
  assert_int_equal(pub_prune(root, 1, 0, NULL), MR_OK);
  assert_true(exists(".v%d.tmp", 7));
  assert_true(exists("v%d", 2)); /* current */
  assert_true(exists("v%d", 6));
  assert_false(exists("v%d", 5));
  pub_abort(tmp);
  assert_false(exists(".v%d.tmp", 7));
}

/* users 1, 2; movies 10, 11, 12; ratings (1,10), (1,11), (2,12) */
static mr_dataset *small_ds(void) {
  mr_dataset *ds = NULL;
  assert_int_equal(ds_create_empty(&ds), MR_OK);
  ds->users = calloc(2, sizeof(*ds->users));
  ds->movies = calloc(3, sizeof(*ds->movies));
  ds->ratings = calloc(3, sizeof(*ds->ratings));
  assert_non_null(ds->users);
  assert_non_null(ds->movies);
  assert_non_null(ds->ratings);
  ds->n_users = 2;
  ds->n_movies = 3;
  ds->users[0].id = 1;
  ds->users[1].id = 2;
  for (int i = 0; i < 3; i++)
    ds->movies[i].id = 10 + i;
  ds->ratings[0] = (mr_rating){0, 0, 3, 100};
  ds->ratings[1] = (mr_rating){0, 1, 4, 101};
  ds->ratings[2] = (mr_rating){1, 2, 2, 102};
  ds->n_ratings = 3;
  assert_int_equal(ds_build_index(ds), MR_OK);
  return ds;
}

static void test_snap_apply(void **state) {
  (void)state;
  mr_dataset *ds = small_ds();
  const snap_rating live[] = {
      {1, 10, 5, 200},       /* replaces the base rating */
      {7, 12, 1, 201},       /* a new user */
      {7, 12, 4, 202},       /* the same (user, movie) again: the later wins */
      {2, 99, 3, 203},       /* unknown movie: skipped */
      {7, 11, 2, 204},       /* the new user once more (one new user, not two) */
      {5000000, 10, 3, 205}, /* over the data set's id range: skipped */
  };
  size_t skipped = 0;
  assert_int_equal(snap_apply(ds, live, 6, &skipped), MR_OK);
  assert_int_equal(skipped, 2);
  assert_int_equal(ds->n_users, 3);
  int32_t u7 = ds_user_index(ds, 7);
  assert_int_equal(u7, 2);
  assert_int_equal(ds->users[u7].gender, '?');
  assert_int_equal(ds->n_ratings, 5);
  assert_true(ds->ratings[0].rating == 5.0f && ds->ratings[0].ts == 200);
  int seen = 0;
  for (size_t i = 3; i < ds->n_ratings; i++) {
    assert_int_equal(ds->ratings[i].user, u7);
    if (ds->ratings[i].item == 2) {
      assert_true(ds->ratings[i].rating == 4.0f);
      seen++;
    }
  }
  assert_int_equal(seen, 1);
  ds_free(ds);
}

static void test_tsv_round_trip(void **state) {
  (void)state;
  const snap_rating r[] = {{1, 10, 5, 200}, {7, 12, 3.5f, 201}};
  char path[PUB_PATH_MAX], err[256] = "";
  snprintf(path, sizeof(path), "%s/%s", root, SNAP_LIVE_FILE);
  assert_int_equal(snap_write_tsv(path, r, 2), MR_OK);
  snap_rating *back = NULL;
  size_t n = 0;
  assert_int_equal(snap_read_tsv(path, &back, &n, err, sizeof(err)), MR_OK);
  assert_int_equal(n, 2);
  assert_int_equal(back[1].user_id, 7);
  assert_true(back[1].rating == 3.5f);
  assert_int_equal(back[1].ts, 201);
  free(back);
  write_file(root, "bad.tsv", "user_id\tmovie_id\trating\tts\n1\t2\tnine\t3\n");
  snprintf(path, sizeof(path), "%s/bad.tsv", root);
  assert_int_equal(snap_read_tsv(path, &back, &n, err, sizeof(err)), MR_EFORMAT);
  assert_non_null(strstr(err, ":2:"));
  snprintf(path, sizeof(path), "%s/missing.tsv", root);
  assert_int_equal(snap_read_tsv(path, &back, &n, err, sizeof(err)), MR_OK);
  assert_int_equal(n, 0);
}

static void test_holdout(void **state) {
  (void)state;
  mr_dataset *ds = small_ds();
  const snap_rating live[] = {
      {1, 12, 4, 300}, /* user 1's newest new rating: held */
      {1, 11, 5, 310}, /* newer, but a re-rating of a base movie: never held */
      {2, 10, 3, 300}, /* the serving version knows it: never held */
      {2, 11, 4, 290}, /* user 2's newest unseen: held */
      {8, 10, 5, 400}, /* a new user with one rating: nothing left to recommend from */
      {9, 10, 5, 401}, /* a new user with two: the newer held */
      {9, 11, 5, 402},
  };
  const snap_rating serving[] = {{2, 10, 3, 300}};
  rt_holdout h;
  assert_int_equal(rt_split_holdout(ds, live, 7, serving, 1, &h), MR_OK);
  assert_int_equal(h.n_held, 3);
  assert_int_equal(h.n_train, 4);
  assert_int_equal(h.held[0].user_id, 1);
  assert_int_equal(h.held[0].movie_id, 12);
  assert_int_equal(h.held[1].user_id, 2);
  assert_int_equal(h.held[1].movie_id, 11);
  assert_int_equal(h.held[2].user_id, 9);
  assert_int_equal(h.held[2].movie_id, 11);
  for (size_t i = 1; i < h.n_train; i++) /* sorted by user, then movie */
    assert_true(h.train[i - 1].user_id < h.train[i].user_id ||
                (h.train[i - 1].user_id == h.train[i].user_id &&
                 h.train[i - 1].movie_id < h.train[i].movie_id));
  rt_holdout_free(&h);
  rt_holdout_free(NULL);
  ds_free(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_commit_switch_manifest, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refuses_incomplete, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
      cmocka_unit_test(test_snap_apply),
      cmocka_unit_test_setup_teardown(test_tsv_round_trip, setup, teardown),
      cmocka_unit_test(test_holdout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
