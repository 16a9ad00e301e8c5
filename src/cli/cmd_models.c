/* `movierec models list|rollback VERSION|prune`: the model versions on disk (pipeline/publish.h).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "core/mr_error.h"
#include "infra/store.h"
#include "pipeline/publish.h"
#include "services/retrain.h"

enum { O_MODELS, O_REDIS, O_KEEP, O_N };
static const cli_opt models_opts[O_N] = {
    [O_MODELS] = {"models", CLI_STR, "models", "MOVIEREC_MODELS",
                  "model root (ROOT/vN, ROOT/current)"},
    [O_REDIS] = {"redis", CLI_STR, "redis://127.0.0.1:6379", "MOVIEREC_REDIS_URL",
                 "Redis URL (rollback announces the version on mr:models)"},
    [O_KEEP] = {"keep", CLI_INT, "5", NULL, "prune: versions kept (the current one always is)"},
};

static const char models_summary[] =
    "Model versions: `models list`, `models rollback VERSION` (points current at VERSION and\n"
    "announces it; the API follows), `models prune --keep K`.";

static void models_list(const char *root) {
  int *v = NULL, n = 0, cur = 0;
  if (pub_list(root, &v, &n) || n == 0) {
    printf("no model versions under %s\n", root);
    free(v);
    return;
  }
  pub_current(root, &cur);
  printf("%-3s %-8s %-20s %-9s %-8s %-8s %-10s %-10s %s\n", "", "version", "created (UTC)",
         "ratings", "live", "parent", "cand.nDCG", "serv.nDCG", "state");
  for (int i = n - 1; i >= 0; i--) {
    json_t *m = NULL;
    char err[256] = "", created[32] = "-", name[16], cs[16] = "-", ss[16] = "-";
    snprintf(name, sizeof(name), "v%d", v[i]);
    int complete = pub_verify(root, v[i], err, sizeof(err)) == MR_OK;
    pub_manifest_read(root, v[i], &m);
    time_t t = (time_t)json_integer_value(json_object_get(m, "created_at"));
    struct tm tm;
    if (t > 0 && gmtime_r(&t, &tm))
      strftime(created, sizeof(created), "%Y-%m-%d %H:%M:%S", &tm);
    json_t *h = json_object_get(m, "holdout");
    if (json_is_object(h)) {
      snprintf(cs, sizeof(cs), "%.4f", json_number_value(json_object_get(h, "candidate_ndcg")));
      snprintf(ss, sizeof(ss), "%.4f", json_number_value(json_object_get(h, "serving_ndcg")));
    }
    const char *parent = json_string_value(json_object_get(m, "parent"));
    printf("%-3s %-8s %-20s %-9lld %-8lld %-8s %-10s %-10s %s\n", v[i] == cur ? "*" : "", name,
           created, (long long)json_integer_value(json_object_get(m, "ratings")),
           (long long)json_integer_value(json_object_get(m, "live_ratings")), parent ? parent : "-",
           cs, ss,
           complete ? "complete"
                    : (json_is_true(json_object_get(m, "legacy")) ? "legacy" : "INCOMPLETE"));
    json_decref(m);
  }
  free(v);
}

static int models_parse_version(const char *s) {
  if (s && (*s == 'v' || *s == 'V'))
    s++;
  char *end;
  long v = s && *s ? strtol(s, &end, 10) : 0;
  return s && *s && !*end && v > 0 && v < 100000000 ? (int)v : 0;
}

static int models_rollback(const char *root, const char *redis_url, int version) {
  char err[512] = "";
  int rc = pub_switch(root, version, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "movierec models rollback: %s\n", *err ? err : mr_strerror(rc));
    return 1;
  }
  printf("current -> v%d\n", version);
  store *st = NULL;
  char name[16];
  snprintf(name, sizeof(name), "v%d", version);
  long long receivers = 0;
  if (store_connect(redis_url, 2000, &st, err, sizeof(err)) ||
      store_publish(st, RETRAIN_CHANNEL, name, &receivers))
    fprintf(stderr,
            "movierec models rollback: not announced on %s (%s); the API notices within a few "
            "seconds anyway\n",
            RETRAIN_CHANNEL, st ? store_errstr(st) : err);
  else
    printf("announced %s on %s (%lld subscribers)\n", name, RETRAIN_CHANNEL, receivers);
  store_free(st);
  return 0;
}

int cmd_models(int argc, char **argv) {
  cli_values v;
  const char *sub = argc >= 1 ? argv[0] : NULL;
  if (!sub || !strcmp(sub, "--help") || !strcmp(sub, "-h")) {
    cli_usage("models list|rollback VERSION|prune", models_summary, models_opts, O_N);
    return sub ? 0 : 2;
  }
  int positional = !strcmp(sub, "rollback") ? 1 : 0;
  if (strcmp(sub, "list") && strcmp(sub, "rollback") && strcmp(sub, "prune")) {
    fprintf(stderr, "movierec models: unknown subcommand '%s' (list, rollback, prune)\n", sub);
    return 2;
  }
  if (positional && (argc < 2 || argv[1][0] == '-')) {
    fprintf(stderr, "movierec models rollback: which version? (e.g. `models rollback v3`)\n");
    return 2;
  }
  int rc = cli_parse("models", models_summary, models_opts, O_N, argc - 1 - positional,
                     argv + 1 + positional, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  const char *root = v.str[O_MODELS];
  if (!strcmp(sub, "list")) {
    models_list(root);
    return 0;
  }
  if (!strcmp(sub, "prune")) {
    int removed = 0;
    if (v.num[O_KEEP] < 1 || (rc = pub_prune(root, (int)v.num[O_KEEP], 0, &removed))) {
      fprintf(stderr, "movierec models prune: --keep >= 1 (%s)\n", mr_strerror(rc));
      return 2;
    }
    printf("pruned %d versions\n", removed);
    return 0;
  }
  int version = models_parse_version(argv[1]);
  if (!version) {
    fprintf(stderr, "movierec models rollback: bad version '%s' (e.g. v3)\n", argv[1]);
    return 2;
  }
  return models_rollback(root, v.str[O_REDIS], version);
}
