/* The in-memory data set: MovieLens 100k ratings, users, movies, enriched with IMDb details.
 * Users and movies are addressed by dense 0-based indexes; external (MovieLens) ids are kept
 * beside them. */
#ifndef MR_DATASET_H
#define MR_DATASET_H

#include <stddef.h>
#include <stdint.h>

#define MR_MAX_GENRES 32

/* One rating. user/item are dense indexes into mr_dataset.users / .movies. */
typedef struct mr_rating {
  int32_t user;
  int32_t item;
  float rating;
  int64_t ts; /* unix seconds */
} mr_rating;

typedef struct mr_user {
  int32_t id;     /* MovieLens id */
  int age;        /* 0 when unknown */
  char gender;    /* 'M', 'F', or '?' when unknown */
  int occupation; /* index into mr_dataset.occupations, -1 when unknown */
  char zip[12];
} mr_user;

/* A string list owned by the movie (IMDb director/writer/cast). */
typedef struct mr_strlist {
  char **items;
  int n;
} mr_strlist;

typedef struct mr_movie {
  int32_t id;         /* MovieLens id */
  char *title;        /* UTF-8, e.g. "Toy Story (1995)" */
  int year;           /* release year, 0 when unknown */
  char *release_date; /* as in u.item, e.g. "01-Jan-1995", may be "" */
  char *imdb_url;     /* MovieLens' IMDb URL, may be "" */
  uint32_t genres;    /* bit g set when the movie has genre g (u.genre order) */

  /* IMDb enrichment; has_imdb == 0 when the movie has no usable IMDb row. */
  int has_imdb;
  char imdb_id[16];  /* "tt0111804", "" when unknown */
  char *description; /* "" when missing */
  float imdb_rating; /* 1-10, 0 when missing */
  double imdb_votes; /* parsed "951"/"1.4K"/"930K", 0 when missing */
  mr_strlist directors, writers, cast;
  char *age_rating; /* "PG-13", "" when missing */
  int runtime_min;  /* from "1h 24min", 0 when missing */
  char *poster_url; /* first URL of the poster srcset, "" when missing */
  int imdb_year;    /* IMDb's year, 0 when missing */
} mr_movie;

/* Counts of what the loaders could not use; every loader reports these on stderr too. */
typedef struct mr_load_report {
  long ratings_read, ratings_bad;
  long users_read, users_bad_fields;
  long movies_read, movies_bad_fields;
  long imdb_rows_read, imdb_rows_bad, imdb_rows_unmatched, imdb_fields_bad;
} mr_load_report;

typedef struct mr_dataset {
  mr_user *users;
  int32_t n_users;
  mr_movie *movies;
  int32_t n_movies;
  mr_rating *ratings;
  size_t n_ratings;
  char *genre_names[MR_MAX_GENRES];
  int n_genres;
  char **occupations;
  int n_occupations;
  /* external id -> dense index lookups; -1 when absent */
  int32_t *user_index_by_id;
  int32_t max_user_id;
  int32_t *movie_index_by_id;
  int32_t max_movie_id;
  mr_load_report report;
} mr_dataset;

/* Loads MovieLens 100k from dir/ml-100k (u.data, u.item, u.user, u.genre, u.occupation) and
 * IMDb details from dir/imdb/ml100k_imdb_details.csv (optional: missing file -> has_imdb = 0
 * everywhere and a note on stderr). Bad rows are counted in report, described on stderr
 * (at most a few lines per file) and skipped; they never shift other rows.
 * On success *out owns everything; free with ds_free. On a missing required file returns
 * MR_ENOTFOUND and writes a message naming the file into err (if err != NULL). */
int ds_load(const char *dir, mr_dataset **out, char *err, size_t errlen);

/* Releases a data set and everything it owns. NULL is fine. */
void ds_free(mr_dataset *ds);

/* Dense index of a MovieLens user/movie id, or -1. */
int32_t ds_user_index(const mr_dataset *ds, int32_t id);
int32_t ds_movie_index(const mr_dataset *ds, int32_t id);

/* Resolves the data directory: flag (may be NULL) > env MOVIEREC_DATA > ../shared/data when it
 * exists > "data". Returns a static or borrowed string. */
const char *ds_resolve_dir(const char *flag);

/* Individual loaders, used by ds_load and by tests on small fixtures. Each appends to ds and
 * updates ds->report; "path" is the file itself. */
int ds_load_genres(mr_dataset *ds, const char *path);
int ds_load_occupations(mr_dataset *ds, const char *path);
int ds_load_movies(mr_dataset *ds, const char *path);  /* u.item, Latin-1 -> UTF-8 */
int ds_load_users(mr_dataset *ds, const char *path);   /* needs occupations loaded */
int ds_load_ratings(mr_dataset *ds, const char *path); /* needs users and movies */
int ds_load_imdb(mr_dataset *ds, const char *path);    /* needs movies */

/* Builds the id -> index tables from users[]/movies[] (called by the loaders). */
int ds_build_index(mr_dataset *ds);

/* Allocates an empty data set (for tests and synthetic data). */
int ds_create_empty(mr_dataset **out);

#endif
