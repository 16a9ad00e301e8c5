/* Genre preferences x IMDb weighted rating: the cold-start candidate generator ("genre" kind).
 *
 * Quality of a movie (1-10 scale): the IMDb weighted rating
 *   WR = v/(v+m) * R + m/(v+m) * C
 * with v = imdb_votes, R = imdb_rating, m = the m_quantile quantile of v over movies with IMDb
 * votes, C = the mean R over those movies. A movie without IMDb votes falls back to its MovieLens
 * train count v' and mean train rating R' rescaled from 1-5 to 1-10 (1 + (R'-1) * 9/4), shrunk by
 * m' (the same quantile of the train counts) toward the same C; a movie with neither gets C.
 *
 * User genre affinity: each train rating (r) of the user weighs w = max(0, 1 + slope*(r - mean_u))
 * and spreads w equally over the movie's genres giving n_u(g), W_u = sum w; the global genre
 * distribution P(g) is the same spread over all train ratings (count weight 1, Laplace +1).
 * Smoothed preference p_u(g) = (n_u(g) + smooth * P(g)) / (W_u + smooth); lift L_u(g) = p_u(g) /
 * P(g) (1 = neutral). A movie's affinity A_u(i) = mean of L_u(g) over its genres (1 without
 * genres).
 *
 *   score(u, i) = WR_i * (1 + n_i)^pop * A_u(i)^beta
 *
 * n_i = the movie's train rating count as of the user's reference time (model.h; so are the
 * MovieLens fallback of WR and P(g)): WR says "good", IMDb votes are a weak stand-in for what
 * MovieLens users actually watch, so pop > 0 adds "popular here" (tuned on validation; pop = 0
 * is the plain WR of DESIGN.md). beta = 0 or no history gives the quality alone. Parameters:
 * m_quantile (0.8), smooth (20), beta (1), slope (0.5), pop (2). */
#ifndef MR_GENRE_H
#define MR_GENRE_H

#include <stddef.h>
#include <stdint.h>

#include "models/model.h"

typedef struct genre_opts {
  double m_quantile; /* quantile of the vote counts used as m (default 0.8) */
  double smooth;     /* pseudo-count pulling user preferences to the global genre mix (20) */
  double beta;       /* exponent of the affinity (1) */
  double slope;      /* rating weight slope around the user's mean (0.5) */
  double pop;        /* exponent of the MovieLens popularity boost (2; 0 = off) */
} genre_opts;

void genre_opts_default(genre_opts *o);
/* Reads the options above from p by name (missing names keep their defaults). */
void genre_opts_from_params(const rec_params *p, genre_opts *o);

typedef struct genre_model genre_model;

/* Fits on the train data (d->ds gives genres and IMDb fields; d->ratings/d->ui/d->iu are train
 * only). *out is owned by the caller, free with genre_free. */
int genre_fit(const genre_opts *o, const rec_train_data *d, genre_model **out);
void genre_free(genre_model *m);

int32_t genre_n_items(const genre_model *m);
int genre_n_genres(const genre_model *m);
/* Per-movie quality WR (n_items floats), valid until genre_free. */
const float *genre_quality(const genre_model *m);

/* scores[n_items] for a training user (dense index); users without train ratings get WR. */
int genre_score_user(const genre_model *m, int32_t user, float *scores);
/* scores[n_items] from a rating history (items/ratings of length n, n may be 0 = WR alone). */
int genre_score_history(const genre_model *m, const int32_t *items, const float *ratings, int n,
                        float *scores);
/* The same as of reference time ref_ts (model.h: WR, boost and genre mix from the ratings up to
 * ref_ts; REC_REF_END = the end of the fit data). A loaded model refuses an earlier time
 * (MR_EUNSUPPORTED). */
int genre_score_history_at(const genre_model *m, const int32_t *items, const float *ratings, int n,
                           int64_t ref_ts, float *scores);
/* Scores of items[0..n) only, equal to genre_score_user (user >= 0) or genre_score_history_at
 * (user < 0, the history hist/ratings/n_h as of ref_ts) at those items. */
int genre_score_items(const genre_model *m, int32_t user, const int32_t *hist, const float *ratings,
                      int n_h, int64_t ref_ts, const int32_t *items, int n, float *out);
/* Explicit genre choice for a user without ratings (bit g of genre_mask = genre g, u.genre
 * order): movies with at least one chosen genre come first, each group ordered by WR:
 * score = WR + 10 * [movie has a chosen genre] (no popularity boost: the cold-start
 * ordering is WR, as in DESIGN.md). genre_mask == 0 gives WR alone. */
int genre_score_genres(const genre_model *m, uint32_t genre_mask, float *scores);

/* Model file (kind "genre"): quality, item genres, prior, per-user lifts, options. */
int genre_save(const genre_model *m, const char *path);
int genre_load(const char *path, genre_model **out, char *err, size_t errlen);

/* ---- internals exposed for tests ---- */

/* The weighted rating v/(v+m)*R + m/(v+m)*C (C when v + m == 0). */
double genre_weighted_rating(double v, double R, double m, double C);
/* Quantile q in [0,1] of x[0..n) by linear interpolation between order statistics at q*(n-1);
 * sorts x in place. 0 for n == 0. */
double genre_quantile(double *x, size_t n, double q);

#endif
