/* Tests for the release loaders (formats.c), the id map (idmap.c), format detection, the rating
 * scale read from the data and duplicate handling, on tiny fixtures each test writes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "data/dataset.h"
#include "data/formats.h"
#include "data/idmap.h"

static char root[256];

/* Writes text (byte-exact) to root/rel, creating the one directory level it names. */
static void put(const char *rel, const char *text) {
  char path[512], dir[512];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  snprintf(dir, sizeof(dir), "%s", path);
  *strrchr(dir, '/') = '\0';
  for (char *p = dir + strlen(root) + 1; (p = strchr(p, '/')); *p++ = '/') {
    *p = '\0';
    mkdir(dir, 0755);
  }
  mkdir(dir, 0755);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  fclose(f);
}

static int setup(void **state) {
  (void)state;
  snprintf(root, sizeof(root), "%s/fmt-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

static mr_dataset *load(const char *rel, const char *dataset, const char *format) {
  char dir[512], err[1024] = "x";
  mr_dataset *ds = NULL;
  snprintf(dir, sizeof(dir), "%s/%s", root, rel);
  int rc = ds_load_as(dir, dataset, format, &ds, err, sizeof(err));
  if (rc != MR_OK)
    fprintf(stderr, "load %s: %s\n", rel, err);
  assert_int_equal(rc, MR_OK);
  assert_string_equal(err, "");
  return ds;
}

static const mr_movie *movie(const mr_dataset *ds, int64_t id) {
  int32_t i = ds_movie_index(ds, id);
  assert_true(i >= 0);
  assert_true(ds->movies[i].id == id);
  return &ds->movies[i];
}

static int genre_of(const mr_dataset *ds, const mr_movie *m, const char *name) {
  for (int g = 0; g < ds->n_genres; g++)
    if (strcmp(ds->genre_names[g], name) == 0)
      return (m->genres >> g) & 1;
  return -1;
}

static const mr_rating *rating(const mr_dataset *ds, int64_t uid, int64_t mid) {
  int32_t u = ds_user_index(ds, uid), m = ds_movie_index(ds, mid);
  const mr_rating *found = NULL;
  for (size_t k = 0; k < ds->n_ratings; k++)
    if (ds->ratings[k].user == u && ds->ratings[k].item == m) {
      assert_null(found); /* at most one per pair after dedupe */
      found = &ds->ratings[k];
    }
  return found;
}

static void test_idmap(void **state) {
  (void)state;
  idmap *m = NULL;
  int32_t idx;
  int added;
  assert_int_equal(idmap_create(0, &m), MR_OK);
  assert_int_equal(idmap_find(m, 5), -1);
  const int64_t big = (int64_t)1 << 60;
  assert_int_equal(idmap_add(m, big, &idx, &added), MR_OK);
  assert_int_equal(idx, 0);
  assert_int_equal(added, 1);
  assert_int_equal(idmap_add(m, -7, &idx, &added), MR_OK);
  assert_int_equal(idx, 1);
  assert_int_equal(idmap_add(m, big, &idx, &added), MR_OK);
  assert_int_equal(idx, 0);
  assert_int_equal(added, 0);
  /* many strided ids force rehashes; every one keeps its index */
  for (int64_t i = 0; i < 100000; i++)
    assert_int_equal(idmap_add(m, i * 193609, &idx, NULL), MR_OK);
  assert_int_equal(idmap_size(m), 100002); /* big, -7, then 100000 new ones */
  for (int64_t i = 0; i < 100000; i += 997)
    assert_int_equal(idmap_ext(m, idmap_find(m, i * 193609)), i * 193609);
  assert_true(idmap_ext(m, 1) == -7);
  assert_true(idmap_ext(m, 0) == big);
  assert_int_equal(idmap_ext(m, -1), -1);
  assert_int_equal(idmap_find(m, 193608), -1);
  idmap_free(m);
  idmap_free(NULL);
  assert_int_equal(idmap_find(NULL, 1), -1);
}

static void test_scale(void **state) {
  (void)state;
  char buf[128];
  mr_scale half = {0.5f, 5.0f, 0.5f, 0}, stars = {1, 5, 1, 0}, implicit = {1, 1, 1, 1};
  assert_true(ds_scale_allows(&half, 3.5));
  assert_false(ds_scale_allows(&half, 3.25));
  assert_false(ds_scale_allows(&half, 0));
  assert_false(ds_scale_allows(&stars, 3.5));
  assert_true(ds_scale_allows(&stars, 5));
  assert_true(ds_scale_allows(&implicit, 1));
  assert_false(ds_scale_allows(&implicit, 4));
  ds_scale_describe(&stars, buf, sizeof(buf));
  assert_string_equal(buf, "1, 2, 3, 4, 5");
  ds_scale_describe(&half, buf, sizeof(buf));
  assert_string_equal(buf, "0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5");
  mr_scale tenth = {0, 10, 0.1f, 0};
  ds_scale_describe(&tenth, buf, sizeof(buf));
  assert_string_equal(buf, "0, 0.1, 0.2, ..., 10");
  ds_scale_describe(&implicit, buf, sizeof(buf));
  assert_non_null(strstr(buf, "implicit"));
}

/* ml-1m: "::" files, Latin-1 title, genres A|B, users with occupation codes, a duplicate pair
 * (the later timestamp wins), a truncated last line. */
static void test_ml1m(void **state) {
  (void)state;
  put("ml-1m/movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n"
                          "2::Caf\xe9 au lait (1993)::Comedy\n"
                          "3::No Genre (2001)::\n");
  put("ml-1m/users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n3::X::25::99::55117\n");
  put("ml-1m/ratings.dat", "1::1::5::978300760\n1::2::3::978302109\n2::1::4::978301968\n"
                           "1::1::2::978300000\n2::3::1::978300001\n2::9::4::978300002\n"
                           "3::2::4");
  mr_dataset *ds = load("ml-1m", NULL, NULL);
  assert_string_equal(ds->format, "ml-1m");
  assert_int_equal(ds->n_movies, 3);
  assert_int_equal(ds->n_users, 3);
  assert_string_equal(movie(ds, 2)->title, "Caf\xc3\xa9 au lait (1993)");
  assert_int_equal(movie(ds, 2)->year, 1993);
  assert_int_equal(genre_of(ds, movie(ds, 1), "Children's"), 1);
  assert_int_equal(genre_of(ds, movie(ds, 2), "Animation"), 0);
  assert_int_equal(movie(ds, 3)->genres, 0);
  assert_int_equal(ds->n_genres, 3);
  const mr_user *u = &ds->users[ds_user_index(ds, 2)];
  assert_int_equal(u->age, 56);
  assert_string_equal(ds->occupations[u->occupation], "self-employed");
  assert_int_equal(ds->users[ds_user_index(ds, 3)].occupation, -1);
  /* (1,1) twice: the row with the later timestamp (5 stars) is kept */
  assert_float_equal(rating(ds, 1, 1)->rating, 5.0f, 1e-6);
  assert_int_equal(ds->report.ratings_dup, 1);
  assert_int_equal(ds->n_ratings, 4); /* 7 rows, 1 duplicate, unknown movie 9 and the cut line */
  assert_int_equal(ds->report.ratings_bad, 2);
  assert_true(ds->scale.step == 1.0f && ds->scale.min == 1.0f && ds->scale.max == 5.0f);
  ds_free(ds);
}

/* ml-10m under a folder holding several releases: half stars, tags, users from the ratings. */
static void test_ml10m(void **state) {
  (void)state;
  put("many/ml-10M100K/movies.dat", "1::Toy Story (1995)::Adventure|Animation\n"
                                    "65133::Blackadder Back & Forth (1999)::Comedy\n");
  put("many/ml-10M100K/ratings.dat", "1::1::5::838985046\n1::65133::3.5::838983525\n"
                                     "71567::1::0.5::838983392\n");
  put("many/ml-10M100K/tags.dat", "15::1::pixar::1215184630\n20::1::Pixar::1188263867\n"
                                  "20::65133::british comedy::1188263880\n20::7::x::1\n");
  put("many/ml-1m/ratings.dat", "1::1::5::1\n");
  put("many/ml-1m/users.dat", "1::F::1::10::48067\n");
  put("many/ml-1m/movies.dat", "1::A (1995)::Comedy\n");
  char dir[512], err[1024];
  mr_dataset *ds = NULL;
  snprintf(dir, sizeof(dir), "%s/many", root);
  /* two releases, no ml-100k: the choice is the user's */
  assert_int_equal(ds_load_as(dir, "", NULL, &ds, err, sizeof(err)), MR_EINVAL);
  assert_null(ds);
  assert_non_null(strstr(err, "--dataset"));
  ds = load("many", "ml-10m", NULL);
  assert_string_equal(ds->format, "ml-10m");
  assert_int_equal(ds->n_users, 2);
  assert_float_equal(rating(ds, 1, 65133)->rating, 3.5f, 1e-6);
  assert_float_equal(rating(ds, 71567, 1)->rating, 0.5f, 1e-6);
  assert_true(ds->scale.step == 0.5f && ds->scale.min == 0.5f && ds->scale.max == 5.0f);
  /* tags are distinct per movie, case-insensitively; an unknown movie's tag is a bad row */
  assert_int_equal(movie(ds, 1)->tags.n, 1);
  assert_string_equal(movie(ds, 65133)->tags.items[0], "british comedy");
  assert_int_equal(ds->report.tags_bad, 1);
  ds_free(ds);
}

/* ml-latest: CSV with header, CRLF, a quoted title with a comma and a quote, a movie without
 * genres, IMAX, sparse and huge ids, a duplicate pair, links, a truncated last line. */
static void test_ml_csv(void **state) {
  (void)state;
  put("ml-latest/movies.csv",
      "movieId,title,genres\r\n"
      "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\r\n"
      "193609,\"Andrew Dice Clay: Dice Rules, \"\"Live\"\" (1991)\",Comedy\r\n"
      "288983,Untitled Spider-Man Reboot (2017),(no genres listed)\r\n"
      "4000000000,\"Avatar, IMAX (2009)\",Action|IMAX\r\n");
  put("ml-latest/ratings.csv", "userId,movieId,rating,timestamp\r\n"
                               "1,1,4.0,964982703\r\n"
                               "1,193609,2.5,964981247\r\n"
                               "9000000000,4000000000,4.5,964982224\r\n"
                               "1,1,0.5,964982800\r\n"
                               "2,288983,3.0,964983815\r\n"
                               "2,5,3.0,964983815\r\n"
                               "2,1,7.0,964983815\r\n"
                               "2,1,3.5");
  put("ml-latest/links.csv", "movieId,imdbId,tmdbId\n1,0114709,862\n193609,0101726,37891\n");
  put("ml-latest/tags.csv", "userId,movieId,tag,timestamp\n2,1,\"pixar, fun\",1445714994\n");
  mr_dataset *ds = load("ml-latest", NULL, NULL);
  assert_string_equal(ds->format, "ml-csv");
  assert_int_equal(ds->n_movies, 4);
  assert_string_equal(movie(ds, 193609)->title, "Andrew Dice Clay: Dice Rules, \"Live\" (1991)");
  assert_int_equal(movie(ds, 193609)->year, 1991);
  assert_int_equal(movie(ds, 288983)->genres, 0);
  assert_int_equal(genre_of(ds, movie(ds, 4000000000LL), "IMAX"), 1);
  assert_int_equal(ds->n_genres, 7); /* from the data, "(no genres listed)" is none */
  assert_string_equal(movie(ds, 193609)->imdb_id, "tt0101726");
  assert_string_equal(movie(ds, 1)->tags.items[0], "pixar, fun");
  assert_int_equal(ds->n_users, 3);
  assert_true(ds_user_index(ds, 9000000000LL) >= 0);
  /* (1,1): the later row (0.5) wins; 7 stars, movie 5 and the cut row are bad */
  assert_float_equal(rating(ds, 1, 1)->rating, 0.5f, 1e-6);
  assert_float_equal(rating(ds, 1, 193609)->rating, 2.5f, 1e-6);
  assert_int_equal(ds->report.ratings_dup, 1);
  assert_int_equal(ds->report.ratings_bad, 3);
  assert_int_equal(ds->n_ratings, 4);
  assert_true(ds->scale.step == 0.5f && ds->scale.min == 0.5f && ds->scale.max == 5.0f);
  ds_free(ds);
  /* the same folder with --format forced: ml-25m is an alias of the CSV format */
  ds = load("ml-latest", NULL, "ml-25m");
  assert_string_equal(ds->format, "ml-csv");
  ds_free(ds);
}

/* The generic format: implicit feedback (no rating column), items with optional columns,
 * users.csv with free-text occupations, ids far beyond 32 bits. */
static void test_generic(void **state) {
  (void)state;
  put("shop/items.csv", "item_id,title,year,genres,description,directors,cast\n"
                        "10,First,2001,Drama|Noir,\"A film, with a comma\",Ann Lee|Bo Wu,Cy\n"
                        "20000000000,Second,,,,,\n"
                        "30,Third,19x5,Drama,,,\n");
  put("shop/users.csv", "user_id,age,gender,occupation\n7,34,F,baker\n8,,,baker\n");
  put("shop/ratings.csv", "user_id,item_id\n7,10\n8,20000000000\n9,30\n7,10\n8,31\n");
  mr_dataset *ds = load("shop", NULL, NULL);
  assert_string_equal(ds->format, "generic");
  assert_int_equal(ds->n_movies, 3);
  assert_int_equal(movie(ds, 10)->year, 2001);
  assert_int_equal(movie(ds, 30)->year, 0);
  assert_string_equal(movie(ds, 10)->description, "A film, with a comma");
  assert_int_equal(movie(ds, 10)->directors.n, 2);
  assert_string_equal(movie(ds, 10)->directors.items[1], "Bo Wu");
  assert_int_equal(genre_of(ds, movie(ds, 10), "Noir"), 1);
  assert_int_equal(ds->n_users, 3); /* 7, 8 from users.csv, 9 from the ratings */
  assert_int_equal(ds->users[ds_user_index(ds, 7)].age, 34);
  assert_int_equal(ds->users[ds_user_index(ds, 8)].occupation,
                   ds->users[ds_user_index(ds, 7)].occupation);
  assert_int_equal(ds->scale.implicit, 1);
  assert_int_equal(ds->n_ratings, 3);
  assert_int_equal(ds->report.ratings_dup, 1);
  assert_int_equal(ds->report.ratings_bad, 1);
  assert_float_equal(rating(ds, 8, 20000000000LL)->rating, 1.0f, 1e-6);
  ds_free(ds);
}

static void test_detect_and_errors(void **state) {
  (void)state;
  char dir[512], err[1024];
  mr_dataset *ds = NULL;
  put("empty/readme.txt", "nothing here\n");
  snprintf(dir, sizeof(dir), "%s/empty", root);
  assert_null(fmt_detect(dir));
  assert_int_equal(ds_load_as(dir, NULL, NULL, &ds, err, sizeof(err)), MR_ENOTFOUND);
  assert_non_null(strstr(err, "missing data file"));
  assert_int_equal(ds_load_as(dir, "nope", NULL, &ds, err, sizeof(err)), MR_ENOTFOUND);
  assert_non_null(strstr(err, "no data set nope"));
  put("badfmt/ratings.csv", "userId,movieId\n1,1\n");
  put("badfmt/movies.csv", "movieId,title\n1,A\n");
  snprintf(dir, sizeof(dir), "%s/badfmt", root);
  assert_int_equal(ds_load_as(dir, NULL, "ml-99m", &ds, err, sizeof(err)), MR_EINVAL);
  assert_non_null(strstr(err, "unknown data format 'ml-99m'"));
  /* a header without the movie column is refused with the file named */
  put("nohdr/movies.csv", "id,title\n1,A\n");
  put("nohdr/ratings.csv", "userId,movieId\n1,1\n");
  snprintf(dir, sizeof(dir), "%s/nohdr", root);
  assert_int_equal(ds_load_as(dir, NULL, NULL, &ds, err, sizeof(err)), MR_EFORMAT);
  assert_non_null(strstr(err, "movies.csv"));
  assert_null(ds);
  assert_string_equal(fmt_canonical("ml-10M100K"), "ml-10m");
  assert_null(fmt_canonical("ml-7m"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idmap),
      cmocka_unit_test(test_scale),
      cmocka_unit_test(test_ml1m),
      cmocka_unit_test(test_ml10m),
      cmocka_unit_test(test_ml_csv),
      cmocka_unit_test(test_generic),
      cmocka_unit_test(test_detect_and_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
