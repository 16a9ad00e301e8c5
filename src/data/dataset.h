/* The in-memory data set: ratings, users, movies (any MovieLens release or the generic
 * catalogue format, docs/DATA.md), enriched with IMDb details. Users and movies are addressed by
 * dense 0-based indexes; their external 64-bit ids map to those indexes once (data/idmap.h). */
#ifndef MR_DATASET_H
#define MR_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "data/idmap.h"

/* Genres are a bit mask per movie: a data set's vocabulary holds at most this many (MovieLens
 * releases have 19 or 20); further names are reported as bad fields and dropped. */
#define MR_MAX_GENRES 32

/* One rating. user/item are dense indexes into mr_dataset.users / .movies. */
typedef struct mr_rating {
  int32_t user;
  int32_t item;
  float rating;
  int64_t ts; /* unix seconds */
} mr_rating;

typedef struct mr_user {
  int64_t id;     /* external id */
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
  int64_t id;         /* external id */
  char *title;        /* UTF-8, e.g. "Toy Story (1995)" */
  int year;           /* release year, 0 when unknown */
  char *release_date; /* as in u.item, e.g. "01-Jan-1995", may be "" */
  char *imdb_url;     /* MovieLens' IMDb URL, may be "" */
  uint32_t genres;    /* bit g set when the movie has genre g (ds->genre_names order) */
  mr_strlist tags;    /* user tags (tags.dat / tags.csv), distinct, content terms */

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
  long ratings_dup; /* (user, movie) pairs rated more than once: the latest rating was kept */
  long tags_read, tags_bad;
  long users_read, users_bad_fields;
  long movies_read, movies_bad_fields;
  long imdb_rows_read, imdb_rows_bad, imdb_rows_unmatched, imdb_fields_bad;
} mr_load_report;

/* The rating scale, read from the data: values min, min + step, ..., max (step 0: any value in
 * [min, max]). implicit: the data had no rating column; every rating is 1 ("liked"). */
typedef struct mr_scale {
  float min, max, step;
  int implicit;
} mr_scale;

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
  /* external id -> dense index (built by the loaders and ds_build_index) */
  idmap *user_ids;
  idmap *movie_ids;
  mr_scale scale;
  /* allocated lengths of users/movies/ratings; 0 for arrays made by hand (ds_add_* regrows) */
  size_t users_cap, movies_cap, ratings_cap;
  char format[16]; /* the loaded format: "ml-100k", "ml-1m", "ml-10m", "ml-csv", "generic" */
  mr_load_report report;
} mr_dataset;

/* Loads a data set from dir: a release folder itself (ml-100k, ml-1m, ml-10M100K, ml-20m ...
 * ml-latest-small, or the generic format; detected from the files, or $MOVIEREC_FORMAT), or a
 * folder holding several (then $MOVIEREC_DATASET names the subfolder, default ml-100k when
 * present, else the only release there). For ml-100k, IMDb details come from
 * imdb/ml100k_imdb_details.csv beside the release (optional: missing file -> has_imdb = 0
 * everywhere and a note on stderr). Bad rows are counted in report, described on stderr with
 * file:line (at most a few lines per file) and skipped; they never shift other rows. Duplicate
 * (user, movie) ratings keep the latest. The rating scale is read from the data.
 * On success *out owns everything; free with ds_free. On a missing required file returns
 * MR_ENOTFOUND and writes a message naming the file into err (if err != NULL). */
int ds_load(const char *dir, mr_dataset **out, char *err, size_t errlen);

/* ds_load with the format given ("ml-100k", "ml-1m", "ml-10m", "ml-csv" or one of its
 * release names ml-20m/ml-25m/ml-32m/ml-latest/ml-latest-small, "generic"; NULL or "" or
 * "auto": detect) and the dataset subfolder (NULL: $MOVIEREC_DATASET / the default). */
int ds_load_as(const char *dir, const char *dataset, const char *format, mr_dataset **out,
               char *err, size_t errlen);

/* Releases a data set and everything it owns. NULL is fine. */
void ds_free(mr_dataset *ds);

/* Dense index of an external user/movie id, or -1. */
int32_t ds_user_index(const mr_dataset *ds, int64_t id);
int32_t ds_movie_index(const mr_dataset *ds, int64_t id);

/* Index of genre name in ds->genre_names, adding it when new. -1 when the vocabulary is full
 * (MR_MAX_GENRES) or on allocation failure (*rc set). */
int ds_genre_add(mr_dataset *ds, const char *name, size_t len, int *rc);

/* Reads the rating scale from ds->ratings into ds->scale (implicit is kept as set). Steps
 * tried: 1, 0.5, 0.25, 0.1, else 0 (continuous). An empty data set gets 1..5 step 1. */
void ds_scale_from_data(mr_dataset *ds);

/* 1 when value is one of the scale's values (implicit: only 1). */
int ds_scale_allows(const mr_scale *s, double value);

/* Writes the allowed values for messages: "0.5, 1, 1.5, ..., 5" (every value when there are at
 * most 10, else the first three, "...", the last), "any value in [a, b]" for step 0, "1
 * (implicit feedback: liked)". Always NUL-terminates. */
void ds_scale_describe(const mr_scale *s, char *buf, size_t len);

/* Keeps only the latest rating of each (user, movie) pair (largest timestamp; on a tie the row
 * read last), preserving the order of the kept rows; the dropped count goes to
 * report.ratings_dup and stderr. */
int ds_dedupe_ratings(mr_dataset *ds);

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

/* Building blocks for the format loaders (data/formats.c). ds_add_user adds a user with unknown
 * demographics (age 0, gender '?', occupation -1) when id is new; *idx gets its index, *added
 * (may be NULL) 1 when it was new. ds_add_movie appends a movie with every string "" and
 * returns it in *m (borrowed; valid until the next ds_add_movie); MR_EINVAL when the id is
 * already there. ds_add_rating appends a rating by dense indexes. ds_add_tag adds a distinct
 * (case-insensitive) tag to movie index m, at most 64 per movie (*added 0 otherwise). */
int ds_add_user(mr_dataset *ds, int64_t id, int32_t *idx, int *added);
int ds_add_movie(mr_dataset *ds, int64_t id, mr_movie **m);
int ds_add_rating(mr_dataset *ds, int32_t user, int32_t movie, float rating, int64_t ts);
int ds_add_tag(mr_dataset *ds, int32_t movie, const char *tag, size_t len, int *added);

/* Rebuilds the id -> index maps from users[]/movies[] (for data sets assembled by hand; the
 * loaders keep them up to date). MR_EINVAL on a duplicate id. */
int ds_build_index(mr_dataset *ds);

/* Allocates an empty data set (for tests and synthetic data). */
int ds_create_empty(mr_dataset **out);

#endif
