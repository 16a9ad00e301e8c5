/* Continuous learning, the model side: the holdout of the newest live ratings and the scoring of
 * a model version on it (the candidate and the serving version are compared on the same
 * holdout, through the same serving code path). */
#ifndef MR_RETRAIN_H
#define MR_RETRAIN_H

#include <stddef.h>

#include "data/dataset.h"
#include "pipeline/reco.h"
#include "pipeline/snapshot.h"

/* A snapshot's live ratings cut in two. */
typedef struct rt_holdout {
  snap_rating *train; /* live ratings both models may know: everything but held */
  size_t n_train;
  snap_rating *held; /* at most one per user, the newest rating the serving version never saw */
  size_t n_held;
} rt_holdout;

/* Cuts the holdout from live[0..n) (one entry per (user, movie)): for each user, the newest
 * (largest ts, then largest movie id) live rating whose (user, movie) is neither in
 * serving_live[0..n_serving) (the live ratings the serving version was trained on) nor in base
 * (the base data set), provided the user keeps at least one other rating (base or live) to
 * recommend from. Everything else goes to train. Both arrays are malloc'd into out (free with
 * rt_holdout_free); out->train is sorted by user id then movie id. */
int rt_split_holdout(const mr_dataset *base, const snap_rating *live, size_t n,
                     const snap_rating *serving_live, size_t n_serving, rt_holdout *out);

void rt_holdout_free(rt_holdout *h);

/* nDCG@k of r on the holdout: for every held rating (user u, movie m), u's top k personalized
 * movies from r with u's live history = the train ratings of u (the serving path: r's own base
 * history of u, live ratings winning), m the one relevant item. *ndcg is the mean over held
 * ratings, *users their count (0: *ndcg = 0). */
int rt_score(const reco *r, const rt_holdout *h, int k, double *ndcg, long *users);

#endif
