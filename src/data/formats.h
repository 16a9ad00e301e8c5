/* Loaders for the MovieLens releases after 100k (1M and 10M "::" files; the CSV releases 20M,
 * 25M, 32M, latest, latest-small) and the generic catalogue format (docs/DATA.md), and the
 * format detection ds_load uses. Each file loader appends to ds, reports bad rows on stderr
 * with file:line, counts them in ds->report and skips them; "path" is the file itself. */
#ifndef MR_FORMATS_H
#define MR_FORMATS_H

#include "data/dataset.h"

/* The format of a release folder from the files in it: "ml-100k" (u.data), "ml-1m"
 * (ratings.dat + users.dat), "ml-10m" (ratings.dat, no users.dat), "ml-csv" (ratings.csv +
 * movies.csv), "generic" (ratings.csv + items.csv); NULL when none matches. Static string. */
const char *fmt_detect(const char *dir);

/* Every format name --format and MOVIEREC_FORMAT take, for messages and help. */
#define FMT_NAMES                                                                                  \
  "ml-100k, ml-1m, ml-10m, ml-csv (or a release name: ml-20m, ml-25m, ml-32m, ml-latest, "         \
  "ml-latest-small), generic"

/* The canonical format name for name or one of its aliases (ml-20m, ml-25m, ml-32m, ml-latest,
 * ml-latest-small -> "ml-csv"; ml-10M100K -> "ml-10m"), or NULL when unknown. */
const char *fmt_canonical(const char *name);

/* Loads the release in dir in the given canonical format (not ml-100k: see ds_load).
 * MR_ENOTFOUND names the missing required file in err. */
int fmt_load(mr_dataset *ds, const char *format, const char *dir, char *err, size_t errlen);

/* "::" files (1M, 10M). movies.dat: MovieID::Title::Genres (A|B; Latin-1 -> UTF-8).
 * users.dat: UserID::Gender::Age::Occupation::Zip (occupation codes 0-20 named as in the 1M
 * README). ratings.dat: UserID::MovieID::Rating::Timestamp; users are created on first sight
 * when create_users. tags.dat: UserID::MovieID::Tag::Timestamp. */
int fmt_load_dat_movies(mr_dataset *ds, const char *path);
int fmt_load_dat_users(mr_dataset *ds, const char *path);
int fmt_load_dat_ratings(mr_dataset *ds, const char *path, int create_users);
int fmt_load_dat_tags(mr_dataset *ds, const char *path);

/* CSV files with a header row (RFC 4180, CRLF or LF), columns found by name.
 * movies.csv: movieId,title,genres ("(no genres listed)" = none). ratings.csv:
 * userId|user_id, movieId|item_id, [rating], [timestamp]; without a rating column the data is
 * implicit feedback (every rating 1, ds->scale.implicit = 1); users are created on first sight.
 * tags.csv: userId,movieId,tag[,timestamp]. links.csv: movieId,imdbId[,tmdbId] (imdb_id and
 * imdb_url; has_imdb stays 0: no details). items.csv (generic): item_id,title[,year][,genres]
 * [,description][,directors][,cast] with '|' between list items. users.csv (generic):
 * user_id[,age][,gender][,occupation][,zip]. */
int fmt_load_csv_movies(mr_dataset *ds, const char *path);
int fmt_load_csv_ratings(mr_dataset *ds, const char *path);
int fmt_load_csv_tags(mr_dataset *ds, const char *path);
int fmt_load_csv_links(mr_dataset *ds, const char *path);
int fmt_load_items(mr_dataset *ds, const char *path);
int fmt_load_csv_users(mr_dataset *ds, const char *path);

#endif
