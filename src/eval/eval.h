/* The offline evaluation runner: split, tune each configuration on the validation cut, refit on
 * train, score every test user, and collect the metrics table. */
#ifndef MR_EVAL_H
#define MR_EVAL_H

#include <stdio.h>

#include "data/dataset.h"
#include "eval/metrics.h"
#include "eval/split.h"
#include "models/model.h"

/* A configuration in the table: a model kind, fixed parameters and a tuning grid
 * ("factors=32|64;reg=0.1|1" is the Cartesian product of the listed values). */
typedef struct eval_config {
  const char *name;
  const char *kind;
  const char *params;
  const char *grid; /* NULL or "" = nothing to tune */
  const char *description;
} eval_config;

typedef struct eval_opts {
  split_kind split;
  double test_frac; /* 0.2 */
  uint64_t seed;    /* 42 */
  int k;            /* 10 */
  int tune;         /* 1: search the grid on the validation cut */
  FILE *dump;       /* --dump-recs target or NULL */
  int verbose;      /* progress on stderr */
} eval_opts;

void eval_opts_default(eval_opts *o);

typedef struct eval_result {
  char config[48];
  char params[1024]; /* the parameters used for the final fit */
  metrics_row m;
  double coverage;
  long n_users;
  double train_seconds;
  double tune_seconds;
  double valid_ndcg;  /* best validation nDCG@k (0 when nothing was tuned) */
  int tune_fits;      /* fits the search made (0: nothing tuned, or the cache answered) */
  char at_edge[256];  /* tuned parameters whose optimum is still on an edge the search could pass */
  char at_bound[256]; /* ... on a declared bound or a fixed set's end */
  /* two-stage rows: the validation coverage@k of the chosen parameters, the floor it must reach
   * (the validation coverage of the row's best candidate generator by validation nDCG), whether
   * it does, and the pop_penalty chosen to reach it (eval_tune) */
  double valid_coverage, coverage_floor, pop_penalty;
  int floor_met;
  /* two-stage rows: "kind:params;kind:params" of the generators the final fit used */
  char generators[4096];
} eval_result;

/* All known configurations, NULL-terminated. */
const eval_config *const *eval_all_configs(void);

/* The single-generator configuration of model kind `kind` (its fixed parameters and grid), or
 * NULL when the table has none: the space two_stage.c tunes a generator in. */
const eval_config *eval_generator_config(const char *kind);

/* Resolves "all" or a comma-separated list of names into configs (caller frees *out with
 * free()). Unknown names: MR_ENOTFOUND, and err names the first unknown one. */
int eval_select_configs(const char *list, const eval_config ***out, int *n, char *err,
                        size_t errlen);

/* Searches c's grid (tune.h) on the validation cut of train[0..n_train) that mirrors o->split:
 * *best holds c's fixed parameters on entry and the chosen ones on return; r gets the
 * validation nDCG, the fit count and the parameters left on an edge. */
int eval_tune(const mr_dataset *ds, const eval_opts *o, rec_cache *cache, const eval_config *c,
              const mr_rating *train, size_t n_train, rec_params *best, eval_result *r);

/* Runs configs[0..n) on ds under o; results[0..n) are filled. */
int eval_run(const mr_dataset *ds, const eval_opts *o, const eval_config *const *configs, int n,
             eval_result *results);

/* Scores every user of test_ui (rows with test items) with m, excluding train_ui items, and
 * accumulates metrics at k into r (m, coverage, n_users). If dump != NULL writes
 * "config\tuser_id\trank\tmovie_id" lines. */
int eval_model(const rec_model *m, const mr_dataset *ds, const csr *train_ui, const csr *test_ui,
               int k, FILE *dump, const char *config, eval_result *r);

/* Prints the table / writes the JSON document {"split": ..., "results": [...]}. */
void eval_print_table(FILE *f, const char *split, const eval_result *r, int n);
int eval_write_json(const char *path, const char *split, const eval_result *r, int n);
/* The table as Markdown rows (with the chosen parameters). */
void eval_print_markdown(FILE *f, const eval_result *r, int n);
/* Writes an SVG scatter chart of nDCG@10 against coverage@10. */
int eval_write_chart(const char *path, const char *split, const eval_result *r, int n);

#endif
