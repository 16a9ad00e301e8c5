/* Hyper-parameter search on a validation cut: a grid that grows past an edge while the optimum
 * sits on it, memoized in the model cache per (kind, parameters, grid, cut), so that every
 * configuration of one run that needs a generator tuned on the same cut (the generator's own row,
 * the two-stage rows that use it) shares one search and one answer. */
#ifndef MR_TUNE_H
#define MR_TUNE_H

#include "data/csr.h"
#include "models/model.h"

/* Grid syntax: dimensions separated by ';', each "name=v1|v2|...", optionally followed by
 * "!" (a fixed set: categorical, never grown) or "@lo:hi" (growth stays within [lo, hi]; either
 * side may be empty = unbounded). Values are numbers; a dimension whose listed values are all
 * integers grows by integers, one that starts at or above 0 never grows below 0. A
 * dimension with one value is fixed. */
#define TUNE_MAX_DIMS 8
#define TUNE_MAX_VALUES 16

typedef struct tune_result {
  rec_params best;
  double best_ndcg;     /* validation nDCG@k of best */
  double best_coverage; /* validation coverage@k of best */
  int n_fits;           /* fits this search made (0 when it came from the cache) */
  /* comma-separated names of the parameters whose optimum lies on an edge of the values
   * searched: at_edge where the search could have gone on (its growth budget ran out),
   * at_bound where the edge is a declared bound or the set is fixed */
  char at_edge[256];
  char at_bound[256];
} tune_result;

/* A validation cut: fit on fit (train minus validation, with its matrices and cache) and score
 * every user with ratings in valid (users x items, graded) at k, excluding the user's fit
 * movies. Borrowed for the call. */
typedef struct tune_cut {
  const rec_train_data *fit;
  const csr *valid;
  int k;
} tune_cut;

/* Searches grid for kind on cut, starting from fixed (the parameters not in the grid). With a
 * cache in cut->fit the result is memoized there. label (may be NULL) names the search in the
 * progress lines written to stderr when verbose. MR_EINVAL for a malformed grid. */
int tune_search(const char *kind, const rec_params *fixed, const char *grid, const tune_cut *cut,
                int verbose, const char *label, tune_result *out);

/* tune_search that also hands over the best point's fitted model in *best_model (the caller
 * frees it), or NULL when the memo answered and nothing was fitted. */
int tune_search_keep(const char *kind, const rec_params *fixed, const char *grid,
                     const tune_cut *cut, int verbose, const char *label, tune_result *out,
                     rec_model **best_model);

/* nDCG@k (the metric tune_search maximizes) and coverage@k (may be NULL) of model m on cut. */
int tune_score(const rec_model *m, const tune_cut *cut, double *ndcg, double *coverage);

#endif
