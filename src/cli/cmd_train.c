/* `movierec train`: fit every model on all ratings and write the model files. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "core/mr_error.h"
#include "data/csr.h"
#include "models/model.h"

/* Defaults chosen on the user-temporal validation cut by `movierec eval` (see docs). */
#define TRAIN_ALS_PARAMS "factors=64,alpha=0.3,reg=20,iterations=15,cg_steps=3,seed=42"

enum { O_DATA, O_MODELS, O_ALS_PARAMS, O_N };
static const cli_opt train_opts[O_N] = {
    [O_DATA] = {"data", CLI_STR, NULL, "MOVIEREC_DATA",
                "data directory holding ml-100k/ and imdb/ (else ../shared/data, else data/)"},
    [O_MODELS] = {"models", CLI_STR, "models", "MOVIEREC_MODELS", "where model files go"},
    [O_ALS_PARAMS] = {"als-params", CLI_STR, TRAIN_ALS_PARAMS, NULL, "ALS hyper-parameters"},
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

static void train_progress_note(const char *what, double seconds) {
  fprintf(stderr, "train: %-4s fitted in %.2f s\n", what, seconds);
}

static double train_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int train_one(const char *kind, const char *params_text, const rec_train_data *d,
                     const char *dir) {
  rec_params p;
  rec_model *m = NULL;
  char path[4096];
  int rc = rec_params_parse(params_text, &p);
  if (rc) {
    fprintf(stderr, "movierec train: bad parameters for %s: '%s'\n", kind, params_text);
    return rc;
  }
  double t0 = train_now();
  if ((rc = rec_fit(kind, &p, d, &m))) {
    fprintf(stderr, "movierec train: fitting %s failed: %s\n", kind, mr_strerror(rc));
    return rc;
  }
  train_progress_note(kind, train_now() - t0);
  snprintf(path, sizeof(path), "%s/%s.bin", dir, kind);
  if ((rc = rec_save(m, path)))
    fprintf(stderr, "movierec train: writing %s failed: %s\n", path, mr_strerror(rc));
  else
    fprintf(stderr, "train: wrote %s\n", path);
  rec_free(m);
  return rc;
}

static int train_write_meta(const char *dir, const char *data_dir, const mr_dataset *ds,
                            const char *als_params) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/meta.json", dir);
  json_t *root =
      json_pack("{s:s, s:i, s:i, s:I, s:{s:s, s:s}, s:I}", "data", data_dir, "users",
                (int)ds->n_users, "movies", (int)ds->n_movies, "ratings", (json_int_t)ds->n_ratings,
                "models", "pop", "", "als", als_params, "trained_at", (json_int_t)time(NULL));
  if (!root)
    return MR_ENOMEM;
  int rc = json_dump_file(root, path, JSON_INDENT(2)) ? MR_EIO : MR_OK;
  json_decref(root);
  return rc;
}

int cmd_train(int argc, char **argv) {
  cli_values v;
  mr_dataset *ds = NULL;
  csr *ui = NULL, *iu = NULL;
  int rc = cli_parse("train", "Fit pop and ALS on every rating and write <models>/{pop,als}.bin.",
                     train_opts, O_N, argc, argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  const char *dir = v.str[O_MODELS];
  if (mkdir(dir, 0755) && errno != EEXIST) {
    fprintf(stderr, "movierec train: cannot create %s: %s\n", dir, strerror(errno));
    return 1;
  }
  if (cli_load_dataset(v.str[O_DATA], &ds))
    return 1;
  fprintf(stderr, "train: %d users, %d movies, %zu ratings\n", ds->n_users, ds->n_movies,
          ds->n_ratings);
  if ((rc = csr_from_ratings(ds->ratings, ds->n_ratings, ds->n_users, ds->n_movies, 0, &ui)) ||
      (rc = csr_transpose(ui, &iu))) {
    fprintf(stderr, "movierec train: %s\n", mr_strerror(rc));
    goto done;
  }
  rec_train_data d = {
      .ds = ds, .ratings = ds->ratings, .n_ratings = ds->n_ratings, .ui = ui, .iu = iu};
  if ((rc = train_one("pop", "", &d, dir)) ||
      (rc = train_one("als", v.str[O_ALS_PARAMS], &d, dir)) ||
      (rc = train_write_meta(dir, ds_resolve_dir(v.str[O_DATA]), ds, v.str[O_ALS_PARAMS])))
    goto done;
  fprintf(stderr, "train: done\n");
done:
  csr_free(ui);
  csr_free(iu);
  ds_free(ds);
  return rc ? 1 : 0;
}
