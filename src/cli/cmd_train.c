/* `movierec train`: fit every model on all ratings and publish a new model version directory
 * (models/vN, then the models/current link switched atomically). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "core/mr_error.h"
#include "pipeline/publish.h"

enum { O_DATA, O_DATASET, O_FORMAT, O_MODELS, O_PARAMS, O_N };
static const cli_opt train_opts[O_N] = {
    [O_DATA] = {"data", CLI_STR, NULL, "MOVIEREC_DATA",
                "data directory holding ml-100k/ and imdb/ (else ../shared/data, else data/)"},
    [O_DATASET] = CLI_OPT_DATASET,
    [O_FORMAT] = CLI_OPT_FORMAT,
    [O_MODELS] = {"models", CLI_STR, "models", "MOVIEREC_MODELS",
                  "model root: writes ROOT/vN and points ROOT/current at it"},
    [O_PARAMS] = {"params", CLI_STR, PUB_PIPELINE_PARAMS, NULL,
                  "two-stage pipeline parameters (see src/pipeline/two_stage.h)"},
};

int cli_load_dataset(const char *data_flag, mr_dataset **out) {
  const char *dir = ds_resolve_dir(data_flag);
  char err[512] = "";
  int rc = ds_load(dir, out, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "movierec: cannot load data from %s: %s\n", dir, *err ? err : mr_strerror(rc));
    return rc;
  }
  return MR_OK;
}

int cli_data_select(const char *dataset, const char *format) {
  if (format && *format && strcmp(format, "auto") && !fmt_canonical(format)) {
    fprintf(stderr, "movierec: unknown data format '%s' (" FMT_NAMES " or auto)\n", format);
    return -1;
  }
  if ((dataset && setenv("MOVIEREC_DATASET", dataset, 1)) ||
      (format && setenv("MOVIEREC_FORMAT", format, 1))) {
    fprintf(stderr, "movierec: cannot set the data set choice: %s\n", strerror(errno));
    return -1;
  }
  return 0;
}

int cmd_train(int argc, char **argv) {
  cli_values v;
  mr_dataset *ds = NULL;
  json_t *manifest = NULL;
  char tmp[PUB_PATH_MAX], err[512] = "";
  int version = 0;
  int rc = cli_parse("train",
                     "Fit every model on all ratings and publish them as a new version:\n"
                     "<models>/vN/ (one file per model, the ranker, meta.json, manifest.json),\n"
                     "then <models>/current -> vN.",
                     train_opts, O_N, argc, argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  if (cli_data_select(v.str[O_DATASET], v.str[O_FORMAT]))
    return 2;
  const char *root = v.str[O_MODELS];
  if (cli_load_dataset(v.str[O_DATA], &ds))
    return 1;
  if ((rc = pub_begin(root, &version, tmp))) {
    fprintf(stderr, "movierec train: cannot create a version under %s: %s\n", root,
            mr_strerror(rc));
    ds_free(ds);
    return 1;
  }
  fprintf(stderr, "train: %d users, %d movies, %zu ratings -> %s/v%d\n", ds->n_users, ds->n_movies,
          ds->n_ratings, root, version);
  pub_train_stats st;
  if ((rc = pub_train(ds, ds_resolve_dir(v.str[O_DATA]), v.str[O_PARAMS], tmp, &st, err,
                      sizeof(err)))) {
    fprintf(stderr, "movierec train: %s\n", *err ? err : mr_strerror(rc));
    goto done;
  }
  fprintf(stderr, "train: fitted in %.2f s (generators %.2f s, features %.2f s, ranker %.2f s)\n",
          st.seconds, st.ts.generators_seconds, st.ts.features_seconds, st.ts.ranker_seconds);
  int parent = 0;
  pub_current(root, &parent);
  manifest = json_pack("{s:s, s:I, s:I, s:s, s:f}", "trigger", "train", "ratings",
                       (json_int_t)ds->n_ratings, "live_ratings", (json_int_t)0, "pipeline",
                       v.str[O_PARAMS], "train_seconds", st.seconds);
  if (!manifest) {
    rc = MR_ENOMEM;
    goto done;
  }
  if (parent)
    json_object_set_new(manifest, "parent", json_sprintf("v%d", parent));
  if ((rc = pub_commit(root, tmp, version, manifest))) {
    fprintf(stderr, "movierec train: cannot complete %s/v%d: %s\n", root, version, mr_strerror(rc));
    goto done;
  }
  *tmp = '\0';
  if ((rc = pub_switch(root, version, err, sizeof(err)))) {
    fprintf(stderr, "movierec train: %s: %s\n", *err ? err : "switching current", mr_strerror(rc));
    goto done;
  }
  fprintf(stderr, "train: published %s/v%d as %s/current in %.1f s\n", root, version, root,
          st.seconds);
done:
  if (rc && *tmp)
    pub_abort(tmp);
  json_decref(manifest);
  ds_free(ds);
  return rc ? 1 : 0;
}
