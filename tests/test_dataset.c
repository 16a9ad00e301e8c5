/* Tests for the MovieLens / IMDb loaders (dataset.c) on malformed fixtures and the real data. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "data/dataset.h"

#define MINI MR_FIXTURES "/mini"
#define REAL MR_TESTS_DIR "/../../shared/data"

static mr_dataset *load_mini(void) {
  mr_dataset *ds = NULL;
  char err[512] = "x";
  assert_int_equal(ds_load(MINI, &ds, err, sizeof(err)), MR_OK);
  assert_non_null(ds);
  assert_string_equal(err, "");
  return ds;
}

static const mr_movie *movie(const mr_dataset *ds, int32_t id) {
  int32_t i = ds_movie_index(ds, id);
  assert_true(i >= 0);
  assert_int_equal(ds->movies[i].id, id);
  return &ds->movies[i];
}

static void test_genres_occupations(void **state) {
  (void)state;
  mr_dataset *ds = load_mini();
  assert_int_equal(ds->n_genres, 3); /* trailing blank line ignored */
  assert_string_equal(ds->genre_names[0], "unknown");
  assert_string_equal(ds->genre_names[2], "Comedy");
  assert_null(ds->genre_names[3]);
  assert_int_equal(ds->n_occupations, 2);
  assert_string_equal(ds->occupations[1], "doctor");
  ds_free(ds);
}

static void test_movies(void **state) {
  (void)state;
  mr_dataset *ds = load_mini();
  /* rows 4 (too few fields) and "abc" (bad id) are skipped without shifting the others */
  assert_int_equal(ds->n_movies, 5);
  assert_int_equal(ds->report.movies_read, 7);
  assert_int_equal(ds->report.movies_bad_fields, 6); /* 2 bad rows + 4 bad fields */
  assert_int_equal(ds->movies[0].id, 1);
  assert_int_equal(ds->movies[3].id, 5);
  assert_int_equal(ds_movie_index(ds, 4), -1);
  assert_int_equal(ds_movie_index(ds, 6), 4);
  assert_int_equal(ds_movie_index(ds, 1000), -1);
  assert_int_equal(ds_movie_index(ds, -3), -1);

  const mr_movie *m = movie(ds, 1);
  assert_string_equal(m->title, "Toy Story (1995)");
  assert_int_equal(m->year, 1995);
  assert_string_equal(m->release_date, "01-Jan-1995");
  assert_string_equal(m->imdb_url, "http://x/Toy");
  assert_int_equal(m->genres, 1u << 2);

  m = movie(ds, 2); /* Latin-1 0xE9 -> UTF-8 C3 A9 */
  assert_memory_equal(m->title, "Caf\xC3\xA9 Society (1996)",
                      strlen("Caf\xC3\xA9 Society (1996)") + 1);
  assert_int_equal(m->year, 1996); /* one-digit day */

  m = movie(ds, 3); /* "unknown" with empty fields is kept */
  assert_string_equal(m->title, "unknown");
  assert_int_equal(m->year, 0);
  assert_string_equal(m->release_date, "");
  assert_int_equal(m->genres, 1u);

  m = movie(ds, 5); /* year from the title when the date is empty */
  assert_int_equal(m->year, 1993);
  assert_int_equal(m->genres, 6u);

  m = movie(ds, 6); /* bad flag 'x' ignored, the good one kept */
  assert_int_equal(m->genres, 1u << 2);
  ds_free(ds);
}

static void test_users(void **state) {
  (void)state;
  mr_dataset *ds = load_mini();
  assert_int_equal(ds->n_users, 4);
  assert_int_equal(ds->report.users_read, 6);
  assert_int_equal(ds->report.users_bad_fields, 7); /* 2 bad rows + 3 (user 0) + 2 (user 4) */
  const mr_user *u = &ds->users[ds_user_index(ds, 0)];
  assert_int_equal(ds_user_index(ds, 0), 0);
  assert_int_equal(u->id, 0);
  assert_int_equal(u->age, 0);
  assert_int_equal(u->gender, '?');
  assert_int_equal(u->occupation, -1);
  assert_string_equal(u->zip, "0000");
  u = &ds->users[ds_user_index(ds, 2)];
  assert_int_equal(u->age, 53);
  assert_int_equal(u->gender, 'F');
  assert_int_equal(u->occupation, 1);
  assert_string_equal(u->zip, "94043");
  assert_int_equal(ds_user_index(ds, 3), -1);
  u = &ds->users[ds_user_index(ds, 4)];
  assert_int_equal(ds_user_index(ds, 4), 3);
  assert_int_equal(u->age, 0);
  assert_int_equal(u->gender, 'F');
  assert_string_equal(u->zip, "");
  ds_free(ds);
}

static void test_ratings(void **state) {
  (void)state;
  mr_dataset *ds = load_mini();
  assert_int_equal(ds->report.ratings_read, 10);
  assert_int_equal(ds->report.ratings_bad, 6);
  assert_int_equal(ds->n_ratings, 4);
  const mr_rating *r = &ds->ratings[0];
  assert_int_equal(r->user, ds_user_index(ds, 1));
  assert_int_equal(r->item, ds_movie_index(ds, 1));
  assert_true(r->rating == 5.0f);
  assert_int_equal(r->ts, 881250949);
  r = &ds->ratings[3]; /* last line, after the bad ones */
  assert_int_equal(r->user, ds_user_index(ds, 0));
  assert_int_equal(r->item, ds_movie_index(ds, 5));
  assert_true(r->rating == 2.0f);
  assert_int_equal(r->ts, 100);
  for (size_t i = 0; i < ds->n_ratings; i++)
    assert_true(ds->ratings[i].rating >= 1.0f && ds->ratings[i].rating <= 5.0f);
  ds_free(ds);
}

static void test_imdb(void **state) {
  (void)state;
  mr_dataset *ds = load_mini();
  assert_int_equal(ds->report.imdb_rows_read, 7);
  assert_int_equal(ds->report.imdb_rows_bad, 3); /* too few fields, bad id, open quote */
  assert_int_equal(ds->report.imdb_rows_unmatched, 1);
  assert_int_equal(ds->report.imdb_fields_bad, 2); /* movie 2: rating, runtime */

  const mr_movie *m = movie(ds, 1);
  assert_true(m->has_imdb);
  assert_string_equal(m->imdb_id, "tt0114709");
  assert_string_equal(m->poster_url, "https://img/a_CR0,6,190,281_.jpg");
  assert_string_equal(m->description, "A toy, named \"Woody\",\nmeets Buzz.");
  assert_float_equal(m->imdb_rating, 8.3f, 1e-6);
  assert_true(m->imdb_votes == 1400.0);
  assert_int_equal(m->directors.n, 1);
  assert_string_equal(m->directors.items[0], "John O'Brien");
  assert_int_equal(m->writers.n, 2);
  assert_string_equal(m->writers.items[1], "Andrew Stanton");
  assert_int_equal(m->cast.n, 3);
  assert_string_equal(m->cast.items[1], "Ren\xC3\xA9"
                                        "e Taylor");
  assert_string_equal(m->cast.items[2], "It's Me");
  assert_string_equal(m->age_rating, "G");
  assert_int_equal(m->imdb_year, 1995);
  assert_int_equal(m->runtime_min, 81);

  m = movie(ds, 2); /* bad fields are counted and left at their defaults */
  assert_true(m->has_imdb);
  assert_string_equal(m->imdb_id, "tt0000002");
  assert_string_equal(m->poster_url, "https://img/c.jpg");
  assert_true(m->imdb_rating == 0.0f);
  assert_true(m->imdb_votes == 2100000.0);
  assert_int_equal(m->runtime_min, 0);
  assert_string_equal(m->age_rating, "PG");

  m = movie(ds, 5); /* the row right after the short one loads intact */
  assert_true(m->has_imdb);
  assert_string_equal(m->imdb_id, "tt0000005");
  assert_string_equal(m->poster_url, "https://img/e_CR0,1,2,3_.jpg");
  assert_string_equal(m->description, "Five, after a short row.");
  assert_true(m->imdb_votes == 930000.0);
  assert_int_equal(m->runtime_min, 45);
  assert_int_equal(m->writers.n, 0);
  assert_int_equal(m->cast.n, 2);
  assert_string_equal(m->cast.items[1], "B'C");
  assert_string_equal(m->age_rating, "R");

  m = movie(ds, 3); /* no IMDb row */
  assert_false(m->has_imdb);
  assert_string_equal(m->imdb_id, "");
  assert_string_equal(m->description, "");
  assert_int_equal(m->cast.n, 0);
  m = movie(ds, 6); /* its row has an unterminated quote at EOF */
  assert_false(m->has_imdb);
  assert_string_equal(m->description, "");
  ds_free(ds);
}

static void test_missing_files(void **state) {
  (void)state;
  mr_dataset *ds = NULL;
  char err[512];
  assert_int_equal(ds_load(MR_FIXTURES "/nope", &ds, err, sizeof(err)), MR_ENOTFOUND);
  assert_null(ds);
  assert_non_null(strstr(err, "missing data file: " MR_FIXTURES "/nope/ml-100k/u.data"));
  assert_non_null(strstr(err, "scripts/download-data"));

  assert_int_equal(ds_create_empty(&ds), MR_OK);
  assert_int_equal(ds_load_ratings(ds, MINI "/ml-100k/u.nothing"), MR_ENOTFOUND);
  assert_int_equal(ds_load_imdb(ds, MINI "/imdb/none.csv"), MR_ENOTFOUND);
  /* no users or movies loaded: every rating is unknown and skipped */
  assert_int_equal(ds_load_ratings(ds, MINI "/ml-100k/u.data"), MR_OK);
  assert_int_equal(ds->n_ratings, 0);
  assert_int_equal(ds->report.ratings_bad, 10);
  assert_int_equal(ds_user_index(ds, 1), -1);
  ds_free(ds);
  ds_free(NULL);
}

static void test_missing_imdb_is_optional(void **state) {
  (void)state;
  mr_dataset *ds = NULL;
  assert_int_equal(ds_create_empty(&ds), MR_OK);
  assert_int_equal(ds_load_genres(ds, MINI "/ml-100k/u.genre"), MR_OK);
  assert_int_equal(ds_load_movies(ds, MINI "/ml-100k/u.item"), MR_OK);
  assert_int_equal(ds->n_movies, 5);
  for (int32_t i = 0; i < ds->n_movies; i++)
    assert_false(ds->movies[i].has_imdb);
  /* loading u.item again appends nothing: every id is a duplicate */
  assert_int_equal(ds_load_movies(ds, MINI "/ml-100k/u.item"), MR_OK);
  assert_int_equal(ds->n_movies, 5);
  ds_free(ds);
}

static void test_utf8_item_kept(void **state) {
  (void)state;
  mr_dataset *ds = NULL;
  /* a u.item that is already UTF-8 must not be encoded twice */
  assert_int_equal(ds_create_empty(&ds), MR_OK);
  assert_int_equal(ds_load_movies(ds, MR_FIXTURES "/utf8/u.item"), MR_OK);
  assert_int_equal(ds->n_movies, 2);
  assert_string_equal(ds->movies[0].title, "Caf\xC3\xA9 (1996)");
  assert_string_equal(ds->movies[1].title, "Ren\xC3\xA9"
                                           "e (1997)");
  assert_int_equal(ds->movies[1].year, 1997);
  ds_free(ds);
}

static void test_mixed_utf8_latin1_item(void **state) {
  (void)state;
  /* Found by fuzz_dataset: a file with valid UTF-8 sequences AND a stray Latin-1 byte is
   * converted as Latin-1, where every byte >= 0x80 doubles; the buffer was sized for one extra
   * byte per sequence and overflowed. */
  char path[] = "/tmp/mr_test_mixed_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char row[] = "1|Caf\xC3\xA9 \xE9t\xE9 \xF0\x9F\x98\x80 (1995)|01-Jan-1995||http://x/1|"
                     "0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|1\n";
  assert_int_equal(write(fd, row, sizeof(row) - 1), (ssize_t)(sizeof(row) - 1));
  close(fd);
  mr_dataset *ds = NULL;
  assert_int_equal(ds_create_empty(&ds), MR_OK);
  assert_int_equal(ds_load_movies(ds, path), MR_OK);
  unlink(path);
  assert_int_equal(ds->n_movies, 1);
  /* each of the 9 high bytes became two: C3 A9 -> "Ã©", E9 -> "é", F0 9F 98 80 -> 4 pairs */
  assert_string_equal(ds->movies[0].title, "Caf\xC3\x83\xC2\xA9 \xC3\xA9t\xC3\xA9 "
                                           "\xC3\xB0\xC2\x9F\xC2\x98\xC2\x80 (1995)");
  assert_int_equal(ds->movies[0].year, 1995);
  ds_free(ds);
}

static void test_resolve_dir(void **state) {
  (void)state;
  assert_string_equal(ds_resolve_dir("/flag/dir"), "/flag/dir");
  setenv("MOVIEREC_DATA", "/env/dir", 1);
  assert_string_equal(ds_resolve_dir(NULL), "/env/dir");
  assert_string_equal(ds_resolve_dir("/flag/dir"), "/flag/dir");
  unsetenv("MOVIEREC_DATA");
  struct stat st;
  int shared = stat("../shared/data", &st) == 0 && S_ISDIR(st.st_mode);
  assert_string_equal(ds_resolve_dir(NULL), shared ? "../shared/data" : "data");
}

static void test_real_data(void **state) {
  (void)state;
  struct stat st;
  if (stat(REAL "/ml-100k/u.data", &st) != 0) {
    skip();
    return;
  }
  mr_dataset *ds = NULL;
  char err[512];
  assert_int_equal(ds_load(REAL, &ds, err, sizeof(err)), MR_OK);
  assert_int_equal(ds->n_ratings, 100000);
  assert_int_equal(ds->n_movies, 1682);
  assert_int_equal(ds->n_users, 944); /* includes the extra id 0 row */
  assert_int_equal(ds->report.ratings_bad, 0);
  assert_int_equal(ds->n_genres, 19);
  assert_int_equal(ds->n_occupations, 21);

  char *rated = calloc((size_t)ds->n_users, 1);
  assert_non_null(rated);
  int n_rated = 0;
  for (size_t i = 0; i < ds->n_ratings; i++)
    if (!rated[ds->ratings[i].user]) {
      rated[ds->ratings[i].user] = 1;
      n_rated++;
    }
  free(rated);
  assert_int_equal(n_rated, 943);

  assert_string_equal(movie(ds, 1)->title, "Toy Story (1995)");
  assert_int_equal(movie(ds, 1)->year, 1995);
  assert_int_equal(ds_movie_index(ds, 1), 0);
  assert_string_equal(movie(ds, 267)->title, "unknown");
  assert_int_equal(ds->users[ds_user_index(ds, 0)].gender, '?');

  const mr_movie *m = movie(ds, 1681);
  assert_string_equal(m->title, "You So Crazy (1994)");
  assert_true(m->has_imdb);
  assert_string_equal(m->imdb_id, "tt0111804");
  assert_true(m->imdb_votes == 951.0);
  assert_int_equal(m->runtime_min, 84);
  assert_int_equal(m->directors.n, 1);
  assert_string_equal(m->directors.items[0], "Thomas Schlamme");
  assert_int_equal(strncmp(m->poster_url, "https://", 8), 0);
  assert_null(strstr(m->poster_url, " "));

  int n_imdb = 0;
  for (int32_t i = 0; i < ds->n_movies; i++)
    n_imdb += ds->movies[i].has_imdb;
  assert_true(n_imdb >= 1500);
  ds_free(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_genres_occupations),
      cmocka_unit_test(test_movies),
      cmocka_unit_test(test_users),
      cmocka_unit_test(test_ratings),
      cmocka_unit_test(test_imdb),
      cmocka_unit_test(test_missing_files),
      cmocka_unit_test(test_missing_imdb_is_optional),
      cmocka_unit_test(test_utf8_item_kept),
      cmocka_unit_test(test_mixed_utf8_latin1_item),
      cmocka_unit_test(test_resolve_dir),
      cmocka_unit_test(test_real_data),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
