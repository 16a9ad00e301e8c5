/* The two-stage pipeline: candidate generators (stage 1) and a LambdaMART ranker over engineered
 * features (stage 2), fitted without leakage:
 *   1. cut a validation part V from train T, mirroring the protocol (data->protocol);
 *   2. fit every generator on T minus V, generate candidates for V's users, label them with
 *      their V ratings (graded), compute features from T minus V only, train the ranker;
 *   3. refit the generators on all of T and rebuild the features from T for serving.
 * Registered as model kind "two_stage"; its numeric parameters:
 *   gens      bitmask of candidate generators (1 als, 2 gcn, 4 content, 8 genre, 16 itemknn,
 *             32 ease, 64 gems); default 1
 *   per_gen   candidates taken from each generator (default 100)
 *   fgens     bitmask of the generators fitted besides ALS and the `gens` ones (default all):
 *             for their feature columns (the others' stay missing), and gems, which has no
 *             column, for the serving's hidden-gems section (TS_FGENS_FEATURES leaves it out)
 *   drop      feature groups blanked out (FEAT_GROUP_* bits), for ablations (default 0)
 *   label     1: binary labels (rated or not; the default, chosen on validation), 0: graded
 *   KIND.NAME a generator's parameter (e.g. als.factors=16); a generator with none given is
 *             tuned on the validation cut V of step 1 in its evaluation space
 *             (eval_generator_config), the same search `movierec eval` runs for its own row
 *   tune_gens 1 (default): tune as above; 0: generators without given parameters take their
 *             evaluation row's fixed parameters and their own defaults
 *   rank_users  train the ranker on the validation groups of about this many users, a seeded
 *             sample (0 = every user, the default); for large data (bench/bench_scale.c)
 *   trees, depth, eta, min_child, early_stop   ranker settings (150, 6, 0.1, XGBoost's
 *             default, 0 = off)
 *   pop_penalty  the final order is z(ranker score) - pop_penalty x z(log as-of popularity),
 *             both standardized over the user's candidates (default 0: the ranker's order);
 *             `movierec eval` raises it on validation until the lists cover at least as much
 *             of the catalogue as the row's best generator (eval.h)
 *   cold      1: also train the cold-start ranker (LambdaMART on the validation users'
 *             histories cut to their first 0, 1, 3, 5 ratings), which then scores every history
 *             of at most cold_max (5) ratings, with candidates from gens | cold_gens (default 8:
 *             genre, which ranks an empty history by quality and as-of popularity); default 0
 *   ranker    0: LambdaMART (default), 1: the neural cross ranker (rank/cross.h) alone,
 *             2: both trained on the same candidates, LambdaMART scoring unless asked otherwise
 *   cross_dim, cross_hidden, cross_epochs, cross_lr, cross_l2   cross ranker settings (32, 64,
 *             30 at most: the epoch is picked on the held-out fifth of the groups, 2e-3, 1e-5)
 *   seed      (default 42) */
#ifndef MR_TWO_STAGE_H
#define MR_TWO_STAGE_H

/* fgens for a pipeline that is only scored (evaluation): every feature generator, not gems. */
#define TS_FGENS_FEATURES "fgens=63"

#include "models/model.h"
#include "rank/ltr.h"

typedef struct ts_model ts_model;

/* Seconds spent per stage in the last fit (for logs and tables). */
typedef struct ts_fit_stats {
  double generators_seconds, features_seconds, ranker_seconds, cross_seconds;
  long train_groups, train_rows;
  int trees;
  int cross_epochs;        /* epochs of the kept cross ranker parameters */
  double cross_valid_ndcg; /* its held-out nDCG@10 on the validation-cut groups */
  long cold_groups;        /* groups behind the cold-start ranker (0: none) */
} ts_fit_stats;

/* Rankers, as bits of what was trained. TS_RANKER_COLD (the cold-start ranker) is asked about
 * with ts_has_ranker only: it scores short histories whenever LambdaMART is asked for. */
enum { TS_RANKER_LTR = 1, TS_RANKER_CROSS = 2, TS_RANKER_COLD = 4 };

/* Writes a fitted two-stage model as parts into the existing directory dir: one model file per
 * generator (<kind>.bin), ranker.bin (LambdaMART) and/or cross.bin (cross ranker), and
 * two_stage.json (parameters, generator list, default ranker). */
int ts_save_parts(const rec_model *m, const char *dir);

/* Rebuilds a two-stage model from the parts in dir; features come from history (the data the
 * generators were fitted on: ds + ratings + matrices, borrowed for the call; ds must outlive the
 * model). err names the file that failed. */
int ts_load_parts(const char *dir, const rec_train_data *history, rec_model **out, char *err,
                  size_t errlen);

/* The generators' parameters as "kind:p=v,...;kind:..." (the fitted ones, in bit order) into
 * buf. MR_ERANGE when buf is too small. */
int ts_generator_params(const rec_model *m, char *buf, size_t len);

/* Sets a fitted model's pop_penalty (>= 0) without refitting: the scoring changes, the ranker
 * does not. */
int ts_set_pop_penalty(rec_model *m, double penalty);

/* The fitted candidate generators (the `gens` bits), borrowed from m, into gens[0..*n);
 * max >= TS_MAX_GEN. */
#define TS_MAX_GEN 16
int ts_candidate_gens(const rec_model *m, const rec_model **gens, int max, int *n);

/* Whether the model has the ranker which (TS_RANKER_LTR or TS_RANKER_CROSS). */
int ts_has_ranker(const rec_model *m, int which);

/* Scores like rec_score_user (items NULL, user a dense index) or rec_score_history (user -1)
 * with the ranker which (0: the model's default). MR_ENOTFOUND when the model lacks that ranker,
 * MR_ERANGE for an index out of range. */
int ts_score_with(const rec_model *m, int which, int32_t user, const int32_t *items,
                  const float *ratings, int n, float *scores);

/* The n best movies not in exclude (n_items flags, may be NULL) for a user, as rec_top_n over
 * ts_score_with's scores would pick them (same order, same ties), but ranked among the
 * candidates when enough are left. scores is n_items floats of scratch. Returns the count
 * written to top (and top_scores, may be NULL), or a negative error. */
int ts_top_n(const rec_model *m, int which, int32_t user, const int32_t *items,
             const float *ratings, int n_hist, const uint8_t *exclude, int n, float *scores,
             int32_t *top, float *top_scores);

/* Where the serving time of one or more requests went (accumulated by ts_score_split). */
typedef struct ts_serve_split {
  double candidates_us; /* proposing generators' scores + candidate selection */
  double features_us;   /* feature-only generators at the candidates + the feature rows */
  double ranker_us;     /* the ranker (LambdaMART or cross) over the rows */
  long candidates;      /* rows ranked */
} ts_serve_split;

/* Scores every item like rec_score_user (user >= 0, dense index) or rec_score_history (user < 0:
 * items/ratings/n), adding the time of each stage to *split (may be NULL). Thread-safe. */
int ts_score_split(const rec_model *m, int32_t user, const int32_t *items, const float *ratings,
                   int n, float *scores, ts_serve_split *split);

/* The LambdaMART ranker of a fitted two-stage model (borrowed; NULL when only the cross ranker
 * was trained), for importance reports. */
const ltr_model *ts_ranker(const rec_model *m);
int ts_stats(const rec_model *m, ts_fit_stats *out);

#endif
