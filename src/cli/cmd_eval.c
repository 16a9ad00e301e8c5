/* `movierec eval`: the evaluation table on one split, printed and optionally written as JSON. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "core/mr_error.h"
#include "eval/cold_start.h"
#include "eval/eval.h"

enum {
  O_DATA,
  O_DATASET,
  O_FORMAT,
  O_SPLIT,
  O_CONFIGS,
  O_JSON,
  O_DUMP,
  O_CHART,
  O_MARKDOWN,
  O_COLD,
  O_COLD_JSON,
  O_SEED,
  O_NO_TUNE,
  O_QUIET,
  O_N
};
static const cli_opt eval_cli_opts[O_N] = {
    [O_DATA] = {"data", CLI_STR, NULL, "MOVIEREC_DATA", "data directory"},
    [O_DATASET] = CLI_OPT_DATASET,
    [O_FORMAT] = CLI_OPT_FORMAT,
    [O_SPLIT] = {"split", CLI_STR, "user-temporal", NULL,
                 "user-temporal | global-temporal | random"},
    [O_CONFIGS] = {"configs", CLI_STR, "all", NULL, "comma-separated configurations, or all"},
    [O_JSON] = {"json", CLI_STR, NULL, NULL, "also write the table as JSON to this file"},
    [O_DUMP] = {"dump-recs", CLI_STR, NULL, NULL,
                "write config<TAB>user_id<TAB>rank<TAB>movie_id lines to this file"},
    [O_CHART] = {"chart", CLI_STR, NULL, NULL, "write an SVG chart of nDCG@10 against coverage"},
    [O_MARKDOWN] = {"markdown", CLI_STR, NULL, NULL, "write the table(s) as Markdown to this file"},
    [O_COLD] = {"cold-start", CLI_FLAG, NULL, NULL,
                "also run the cold-start table (histories cut to 0, 1, 3, 5 ratings)"},
    [O_COLD_JSON] = {"cold-json", CLI_STR, NULL, NULL, "write the cold-start table as JSON"},
    [O_SEED] = {"seed", CLI_INT, "42", NULL, "seed of the random split and of every model"},
    [O_NO_TUNE] = {"no-tune", CLI_FLAG, NULL, NULL,
                   "skip the validation-cut grid search (use each configuration's defaults)"},
    [O_QUIET] = {"quiet", CLI_FLAG, NULL, NULL, "no progress on stderr"},
};

int cmd_eval(int argc, char **argv) {
  cli_values v;
  mr_dataset *ds = NULL;
  const eval_config **cfgs = NULL;
  eval_result *results = NULL;
  FILE *dump = NULL, *md = NULL;
  int n = 0, status = 1;
  eval_opts o;
  char err[256] = "";
  int rc = cli_parse("eval",
                     "Split the ratings, tune each configuration on a validation cut of train,\n"
                     "refit on train and report top-10 metrics on test.",
                     eval_cli_opts, O_N, argc, argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  if (cli_data_select(v.str[O_DATASET], v.str[O_FORMAT]))
    return 2;
  eval_opts_default(&o);
  if (split_parse_kind(v.str[O_SPLIT], &o.split)) {
    fprintf(stderr, "movierec eval: unknown split '%s' (user-temporal, global-temporal, random)\n",
            v.str[O_SPLIT]);
    return 2;
  }
  if (eval_select_configs(v.str[O_CONFIGS], &cfgs, &n, err, sizeof(err))) {
    fprintf(stderr, "movierec eval: %s\n", err);
    return 2;
  }
  o.seed = (uint64_t)v.num[O_SEED];
  o.tune = !v.num[O_NO_TUNE];
  o.verbose = !v.num[O_QUIET];
  if (cli_load_dataset(v.str[O_DATA], &ds))
    goto done;
  if (v.str[O_DUMP] && !(dump = fopen(v.str[O_DUMP], "w"))) {
    perror(v.str[O_DUMP]);
    goto done;
  }
  o.dump = dump;
  if (!(results = calloc((size_t)n, sizeof(*results))))
    goto done;
  if ((rc = eval_run(ds, &o, cfgs, n, results))) {
    fprintf(stderr, "movierec eval: %s\n", mr_strerror(rc));
    goto done;
  }
  eval_print_table(stdout, split_kind_name(o.split), results, n);
  if (v.str[O_JSON] && eval_write_json(v.str[O_JSON], split_kind_name(o.split), results, n)) {
    fprintf(stderr, "movierec eval: cannot write %s\n", v.str[O_JSON]);
    goto done;
  }
  if (v.str[O_CHART] && eval_write_chart(v.str[O_CHART], split_kind_name(o.split), results, n)) {
    fprintf(stderr, "movierec eval: cannot write %s\n", v.str[O_CHART]);
    goto done;
  }
  if (v.str[O_MARKDOWN]) {
    if (!(md = fopen(v.str[O_MARKDOWN], "w"))) {
      perror(v.str[O_MARKDOWN]);
      goto done;
    }
    eval_print_markdown(md, results, n);
  }
  if (v.num[O_COLD] || v.str[O_COLD_JSON]) {
    cold_result cold[32];
    int n_cold = 0;
    if ((rc = cold_run(ds, &o, cold, &n_cold))) {
      fprintf(stderr, "movierec eval: cold start: %s\n", mr_strerror(rc));
      goto done;
    }
    printf("\n");
    cold_print_table(stdout, split_kind_name(o.split), cold, n_cold);
    if (md) {
      fprintf(md, "\n");
      cold_print_markdown(md, cold, n_cold);
    }
    if (v.str[O_COLD_JSON] &&
        cold_write_json(v.str[O_COLD_JSON], split_kind_name(o.split), cold, n_cold)) {
      fprintf(stderr, "movierec eval: cannot write %s\n", v.str[O_COLD_JSON]);
      goto done;
    }
  }
  status = 0;
done:
  if (md && fclose(md)) {
    perror(v.str[O_MARKDOWN]);
    status = 1;
  }
  if (dump && fclose(dump)) {
    perror(v.str[O_DUMP]);
    status = 1;
  }
  free(results);
  free(cfgs);
  ds_free(ds);
  return status;
}
