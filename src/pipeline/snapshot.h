/* Live ratings merged into the base data set: the training data of a retrained version (base +
 * the live ratings it was trained on, stored beside the model as live_ratings.tsv) and the data
 * set a served version is opened against. */
#ifndef MR_SNAPSHOT_H
#define MR_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "pipeline/reco.h"

#define SNAP_LIVE_FILE "live_ratings.tsv"

/* One live rating with external (MovieLens) ids. */
typedef struct snap_rating {
  int32_t user_id, movie_id;
  float rating;
  int64_t ts;
} snap_rating;

/* Merges r[0..n) into ds: a rating of a (user, movie) the data already has replaces it (live
 * wins), others are appended; a user id new to the data set is appended to ds->users (age 0,
 * gender '?', no occupation) and the id indexes are rebuilt; ratings of movies not in the
 * catalogue are skipped and counted in *skipped (may be NULL). If r holds one (user, movie)
 * twice, the later entry wins. */
int snap_apply(mr_dataset *ds, const snap_rating *r, size_t n, size_t *skipped);

/* Writes r[0..n) as "user_id<TAB>movie_id<TAB>rating<TAB>ts" lines (with a header line). */
int snap_write_tsv(const char *path, const snap_rating *r, size_t n);

/* Reads a file written by snap_write_tsv; a missing file is no ratings (MR_OK, *n = 0).
 * *out malloc'd (caller frees). MR_EFORMAT names the bad line in err. */
int snap_read_tsv(const char *path, snap_rating **out, size_t *n, char *err, size_t errlen);

/* Opens a model version for serving: loads the data set from data_dir, merges the version's
 * live_ratings.tsv (the live ratings it was trained on) and opens the reco over it. dir may be
 * the current link (resolved once). On success *ds and *r are owned by the caller (free r
 * first, then ds). err gets a one-line reason. */
int snap_open_version(const char *data_dir, const char *dir, mr_dataset **ds, reco **r, char *err,
                      size_t errlen);

#endif
