/* `movierec retrain`: the continuous-learning service (services/retrain.c). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "data/dataset.h"
#include "pipeline/publish.h"
#include "services/retrain.h"

enum {
  O_REDIS,
  O_DATA,
  O_DATASET,
  O_FORMAT,
  O_MODELS,
  O_PARAMS,
  O_MIN_NEW,
  O_PERIOD,
  O_KEEP,
  O_EPSILON,
  O_ONCE,
  O_FORCE,
  O_SABOTAGE,
  O_N
};
static const cli_opt retrain_opts[O_N] = {
    [O_REDIS] = {"redis", CLI_STR, "redis://127.0.0.1:6379", "MOVIEREC_REDIS_URL", "Redis URL"},
    [O_DATA] = {"data", CLI_STR, NULL, "MOVIEREC_DATA",
                "data directory holding ml-100k/ and imdb/ (else ../shared/data, else data/)"},
    [O_DATASET] = CLI_OPT_DATASET,
    [O_FORMAT] = CLI_OPT_FORMAT,
    [O_MODELS] = {"models", CLI_STR, "models", "MOVIEREC_MODELS",
                  "model root: writes ROOT/vN and points ROOT/current at it"},
    [O_PARAMS] = {"params", CLI_STR, PUB_PIPELINE_PARAMS, NULL,
                  "two-stage pipeline parameters (see src/pipeline/two_stage.h)"},
    [O_MIN_NEW] = {"min-new", CLI_INT, "1000", "MOVIEREC_RETRAIN_MIN_NEW",
                   "retrain once this many ratings were stored since the serving version"},
    [O_PERIOD] = {"period", CLI_INT, "3600", "MOVIEREC_RETRAIN_PERIOD",
                  "... or once this many seconds passed (with at least one new rating)"},
    [O_KEEP] = {"keep", CLI_INT, "5", NULL, "model versions kept on disk"},
    [O_EPSILON] = {"epsilon", CLI_STR, "0.01", NULL,
                   "publish when candidate nDCG@10 >= serving nDCG@10 - epsilon"},
    [O_ONCE] = {"once", CLI_FLAG, NULL, NULL, "check once (retrain if due), then exit"},
    [O_FORCE] = {"force", CLI_FLAG, NULL, NULL, "retrain now whatever the trigger says"},
    [O_SABOTAGE] = {"sabotage", CLI_FLAG, NULL, NULL,
                    "tests only: train the candidate on scrambled movies (must be rejected)"},
};

static volatile sig_atomic_t retrain_stop;

static void retrain_on_signal(int sig) {
  (void)sig;
  retrain_stop = 1;
}

int cmd_retrain(int argc, char **argv) {
  cli_values v;
  int rc =
      cli_parse("retrain",
                "Retrain when enough new ratings arrived (or a period passed): snapshot the\n"
                "base data and every live rating in Redis, train a candidate, compare it with\n"
                "the serving version on the newest ratings, publish it if not worse.",
                retrain_opts, O_N, argc, argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  if (cli_data_select(v.str[O_DATASET], v.str[O_FORMAT]))
    return 2;
  char *end = NULL;
  double eps = strtod(v.str[O_EPSILON], &end);
  if (end == v.str[O_EPSILON] || *end || !(eps >= 0 && eps <= 1) || v.num[O_MIN_NEW] < 1 ||
      v.num[O_PERIOD] < 1 || v.num[O_KEEP] < 1 || v.num[O_KEEP] > 1000) {
    fprintf(stderr, "movierec retrain: --epsilon 0..1, --min-new >= 1, --period >= 1, "
                    "--keep 1..1000\n");
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = retrain_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  retrain_config cfg = {.redis_url = v.str[O_REDIS],
                        .data_dir = ds_resolve_dir(v.str[O_DATA]),
                        .models = v.str[O_MODELS],
                        .params = v.str[O_PARAMS],
                        .min_new = v.num[O_MIN_NEW],
                        .period_s = v.num[O_PERIOD],
                        .keep = (int)v.num[O_KEEP],
                        .k = 10,
                        .epsilon = eps,
                        .once = (int)v.num[O_ONCE],
                        .force = (int)v.num[O_FORCE],
                        .sabotage = (int)v.num[O_SABOTAGE]};
  return retrain_run(&cfg, &retrain_stop) ? 1 : 0;
}
