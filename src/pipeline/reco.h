/* Online serving of one trained model version: opens a model directory (written by
 * `movierec train`), and answers "top n for this user" per section from the user's history
 * (the data set's ratings plus live ratings from Redis). Thread-safe after reco_open: every
 * function below may be called concurrently from several event-loop threads. */
#ifndef MR_RECO_H
#define MR_RECO_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

typedef struct reco reco;

typedef enum reco_section {
  RECO_PERSONALIZED = 0, /* two-stage ranker over the generators' union (ALS fold-in fallback) */
  RECO_HIDDEN_GEMS,      /* graph model with the popularity penalty */
  RECO_GENRE,            /* genre preferences x weighted rating (explicit genres for new users) */
  RECO_POPULAR           /* most rated (fallback) */
} reco_section;

typedef struct reco_item {
  int32_t movie; /* dense movie index into ds->movies */
  float score;
} reco_item;

/* A rating not (yet) in the data set, e.g. from Redis; movie is a dense index. */
typedef struct reco_rating {
  int32_t movie;
  float rating;
  int64_t ts;
} reco_rating;

/* Opens dir (e.g. "models/current", resolved through the symlink) against ds, which must outlive
 * the reco. The version is the directory's name ("v3"). err names the file that failed. */
int reco_open(const char *dir, const mr_dataset *ds, reco **out, char *err, size_t errlen);
void reco_free(reco *r);

const char *reco_version(const reco *r);
const mr_dataset *reco_dataset(const reco *r);
/* The two-stage model behind RECO_PERSONALIZED (borrowed), e.g. for ts_score_split. */
struct rec_model;
const struct rec_model *reco_personal_model(const reco *r);

/* The base history of a data-set user (dense index; -1 or unknown -> n = 0): parallel arrays,
 * newest last, borrowed from r. */
void reco_base_history(const reco *r, int32_t user, const int32_t **movies, const float **ratings,
                       const int64_t **ts, int *n);

/* Top n (1..500) movies of a section for a user: user_id is the external (MovieLens) id (any id;
 * unknown ids are new users), live[0..n_live) the user's ratings not in the data set (they win
 * over base ratings of the same movie). Movies the user rated are never returned. genre_mask
 * (bits of ds->genre_names) seeds RECO_GENRE for users without ratings (0: none). Writes up to n
 * items into out and their count into *n_out. No allocation beyond a per-call scratch. */
int reco_recommend(const reco *r, int32_t user_id, const reco_rating *live, int n_live,
                   reco_section section, uint32_t genre_mask, int n, reco_item *out, int *n_out);

/* "More like this": up to n (1..500) movies nearest to movie (dense index) by the semantic
 * model's embeddings, the movie itself excluded, best first (score = cosine). Writes them into
 * out and their count into *n_out. MR_EINVAL for a bad movie or n; MR_EUNSUPPORTED when the
 * model version has no semantic.bin (trained before the semantic model existed). */
int reco_similar(const reco *r, int32_t movie, int n, reco_item *out, int *n_out);

/* Parses "Action,Comedy" (case-insensitive genre names) into a mask; MR_EINVAL names the first
 * unknown genre in err. */
int reco_parse_genres(const reco *r, const char *list, uint32_t *mask, char *err, size_t errlen);

#endif
