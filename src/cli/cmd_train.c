/* `movierec train`: fit every model on all ratings and publish a new model version directory
 * (models/vN, then the models/current link switched atomically). */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "core/mr_error.h"
#include "data/csr.h"
#include "models/model.h"
#include "pipeline/two_stage.h"

/* The serving pipeline: LambdaMART over ALS candidates, with every generator's scores as
 * features (two_stage_ltr_als: the best two-stage configuration on the user-temporal validation
 * cut, 0.223 against 0.216 for the union; docs/EVALUATION.md). */
#define TRAIN_PIPELINE_PARAMS "gens=1,per_gen=150"

/* The semantic model behind "more like this" (GET /movies/{id}/similar): the user-temporal
 * validation cut's best setting at d = 128 (d = 192 scored the same, 0.049, for twice the fit). */
#define TRAIN_SEMANTIC_PARAMS "window=5,min_count=2,cast_n=5,pool=1,seed=42,wmode=1,dim=128"

enum { O_DATA, O_MODELS, O_PARAMS, O_N };
static const cli_opt train_opts[O_N] = {
    [O_DATA] = {"data", CLI_STR, NULL, "MOVIEREC_DATA",
                "data directory holding ml-100k/ and imdb/ (else ../shared/data, else data/)"},
    [O_MODELS] = {"models", CLI_STR, "models", "MOVIEREC_MODELS",
                  "model root: writes ROOT/vN and points ROOT/current at it"},
    [O_PARAMS] = {"params", CLI_STR, TRAIN_PIPELINE_PARAMS, NULL,
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

static double train_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The next free version number under root (v1, v2, ...). */
static int train_next_version(const char *root) {
  DIR *d = opendir(root);
  int best = 0;
  if (!d)
    return 1;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] == 'v') {
      char *end;
      long v = strtol(e->d_name + 1, &end, 10);
      if (*end == '\0' && v > best && v < 1000000)
        best = (int)v;
    }
  closedir(d);
  return best + 1;
}

static int train_write_meta(const char *dir, const char *data_dir, const mr_dataset *ds,
                            const char *params, const ts_fit_stats *st, double seconds) {
  char path[4096 + 16];
  snprintf(path, sizeof(path), "%s/meta.json", dir);
  json_t *root = json_pack(
      "{s:s, s:i, s:i, s:I, s:s, s:I, s:f, s:{s:f, s:f, s:f, s:I, s:I, s:i}}", "data", data_dir,
      "users", (int)ds->n_users, "movies", (int)ds->n_movies, "ratings", (json_int_t)ds->n_ratings,
      "pipeline", params, "trained_at", (json_int_t)time(NULL), "train_seconds", seconds, "stats",
      "generators_seconds", st->generators_seconds, "features_seconds", st->features_seconds,
      "ranker_seconds", st->ranker_seconds, "ranker_groups", (json_int_t)st->train_groups,
      "ranker_rows", (json_int_t)st->train_rows, "trees", st->trees);
  if (!root)
    return MR_ENOMEM;
  int rc = json_dump_file(root, path, JSON_INDENT(2)) ? MR_EIO : MR_OK;
  json_decref(root);
  return rc;
}

/* Points root/current at version vN: a temporary link renamed over the old one (atomic). */
static int train_publish(const char *root, int version) {
  char tmp[4096 + 16], cur[4096 + 16], target[32];
  snprintf(target, sizeof(target), "v%d", version);
  snprintf(tmp, sizeof(tmp), "%s/.current.tmp", root);
  snprintf(cur, sizeof(cur), "%s/current", root);
  unlink(tmp);
  if (symlink(target, tmp) || rename(tmp, cur))
    return mr_from_errno(errno);
  return MR_OK;
}

static int train_fit_save(const char *kind, const char *params, const rec_train_data *d,
                          const char *dir, rec_model **keep) {
  rec_params p;
  rec_model *m = NULL;
  char path[4096 + 64];
  int rc = rec_params_parse(params, &p);
  if (rc) {
    fprintf(stderr, "movierec train: bad parameters for %s: '%s'\n", kind, params);
    return rc;
  }
  double t0 = train_now();
  if ((rc = rec_fit(kind, &p, d, &m))) {
    fprintf(stderr, "movierec train: fitting %s failed: %s\n", kind, mr_strerror(rc));
    return rc;
  }
  fprintf(stderr, "train: %-9s fitted in %.2f s\n", kind, train_now() - t0);
  if (!strcmp(kind, "two_stage")) {
    rc = ts_save_parts(m, dir);
  } else {
    snprintf(path, sizeof(path), "%s/%s.bin", dir, kind);
    rc = rec_save(m, path);
  }
  if (rc)
    fprintf(stderr, "movierec train: writing %s into %s failed: %s\n", kind, dir, mr_strerror(rc));
  if (!rc && keep)
    *keep = m;
  else
    rec_free(m);
  return rc;
}

int cmd_train(int argc, char **argv) {
  cli_values v;
  mr_dataset *ds = NULL;
  csr *ui = NULL, *iu = NULL;
  rec_model *pipeline = NULL;
  char dir[4096];
  int rc = cli_parse("train",
                     "Fit every model on all ratings and publish them as a new version:\n"
                     "<models>/vN/ (one file per model, the ranker, meta.json), then\n"
                     "<models>/current -> vN.",
                     train_opts, O_N, argc, argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  const char *root = v.str[O_MODELS];
  if (mkdir(root, 0755) && errno != EEXIST) {
    fprintf(stderr, "movierec train: cannot create %s: %s\n", root, strerror(errno));
    return 1;
  }
  if (cli_load_dataset(v.str[O_DATA], &ds))
    return 1;
  int version = train_next_version(root);
  snprintf(dir, sizeof(dir), "%s/v%d", root, version);
  if (mkdir(dir, 0755)) {
    fprintf(stderr, "movierec train: cannot create %s: %s\n", dir, strerror(errno));
    ds_free(ds);
    return 1;
  }
  fprintf(stderr, "train: %d users, %d movies, %zu ratings -> %s\n", ds->n_users, ds->n_movies,
          ds->n_ratings, dir);
  double t0 = train_now();
  if ((rc = csr_from_ratings(ds->ratings, ds->n_ratings, ds->n_users, ds->n_movies, 0, &ui)) ||
      (rc = csr_transpose(ui, &iu))) {
    fprintf(stderr, "movierec train: %s\n", mr_strerror(rc));
    goto done;
  }
  rec_train_data d = {
      .ds = ds, .ratings = ds->ratings, .n_ratings = ds->n_ratings, .ui = ui, .iu = iu};
  ts_fit_stats st;
  if ((rc = train_fit_save("pop", "", &d, dir, NULL)) ||
      (rc = train_fit_save("semantic", TRAIN_SEMANTIC_PARAMS, &d, dir, NULL)) ||
      (rc = train_fit_save("two_stage", v.str[O_PARAMS], &d, dir, &pipeline)) ||
      (rc = ts_stats(pipeline, &st)) ||
      (rc = train_write_meta(dir, ds_resolve_dir(v.str[O_DATA]), ds, v.str[O_PARAMS], &st,
                             train_now() - t0)))
    goto done;
  if ((rc = train_publish(root, version))) {
    fprintf(stderr, "movierec train: cannot point %s/current at v%d: %s\n", root, version,
            mr_strerror(rc));
    goto done;
  }
  fprintf(stderr, "train: published %s as %s/current in %.1f s\n", dir, root, train_now() - t0);
done:
  rec_free(pipeline);
  csr_free(ui);
  csr_free(iu);
  ds_free(ds);
  return rc ? 1 : 0;
}
