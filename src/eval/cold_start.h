/* Cold-start evaluation: a seeded fifth of the users become new users whose history is cut to
 * their first 0, 1, 3 or 5 train ratings; models are fitted without those users' ratings and
 * score them from the short history alone (fold-in for ALS). */
#ifndef MR_COLD_START_H
#define MR_COLD_START_H

#include "eval/eval.h"

#define COLD_N_LEVELS 4

/* The cold-start table's configurations (genre, pop, als with fold-in, two_stage_ltr_genre),
 * NULL-terminated. */
const eval_config *const *cold_configs(void);

typedef struct cold_result {
  char config[48];
  int history;       /* ratings kept: 0, 1, 3 or 5 */
  char params[1024]; /* the parameters of the fit (tuned on the warm data's validation cut) */
  metrics_row m;
  double coverage;
  long n_users;
} cold_result;

/* Runs every cold configuration at every level; results has n_configs * COLD_N_LEVELS rows in
 * (config, level) order. */
int cold_run(const mr_dataset *ds, const eval_opts *o, cold_result *results, int *n_results);

void cold_print_table(FILE *f, const char *split, const cold_result *r, int n);
void cold_print_markdown(FILE *f, const cold_result *r, int n);
int cold_write_json(const char *path, const char *split, const cold_result *r, int n);

#endif
