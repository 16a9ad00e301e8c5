/* Writes the seed corpus of fuzz_modelfile: one small model file per kind, fitted on the mini
 * test fixture (tests/fixtures/mini) with every user rating every movie, plus a 3-tree ranker on
 * a synthetic ranking set. Usage: make_seeds OUTDIR (scripts/fuzz --seeds regenerates them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "core/mr_error.h"
#include "data/csr.h"
#include "data/dataset.h"
#include "models/model.h"
#include "rank/ltr.h"

static int load_fixture(mr_dataset *ds) {
  static const char *const rel[6] = {"mini/ml-100k/u.genre",   "mini/ml-100k/u.occupation",
                                     "mini/ml-100k/u.item.in", "mini/ml-100k/u.user.in",
                                     "mini/ml-100k/u.data.in", "mini/imdb/details.csv.in"};
  int (*const loaders[6])(mr_dataset *, const char *) = {ds_load_genres,  ds_load_occupations,
                                                         ds_load_movies,  ds_load_users,
                                                         ds_load_ratings, ds_load_imdb};
  for (int i = 0; i < 6; i++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", MR_FIXTURES_SRC, rel[i]);
    int rc = loaders[i](ds, path);
    if (rc)
      return rc;
  }
  return MR_OK;
}

int main(int argc, char **argv) {
  static const struct {
    const char *kind, *params;
  } kinds[] = {
      {"pop", ""},
      {"als", "factors=4,iterations=2"},
      {"gcn", "dim=4,epochs=2,layers=2,threads=1"},
      {"gems", "dim=4,epochs=2,layers=2,threads=1"},
      {"genre", ""},
      {"content", "dim=2,min_df=1"},
      {"ease", "lambda=10"},
      {"itemknn", "k=2"},
      {"semantic", "dim=2,min_count=1"},
  };
  mr_dataset *ds = NULL;
  char path[4096];
  int fails = 0;
  if (argc != 2) {
    fprintf(stderr, "usage: make_seeds OUTDIR\n");
    return 2;
  }
  if (ds_create_empty(&ds) || load_fixture(ds)) {
    fprintf(stderr, "make_seeds: cannot load the fixture\n");
    return 1;
  }
  size_t n = (size_t)ds->n_users * (size_t)ds->n_movies;
  mr_rating *r = calloc(n, sizeof(*r));
  size_t k = 0;
  for (int32_t u = 0; u < ds->n_users; u++)
    for (int32_t i = 0; i < ds->n_movies; i++, k++)
      r[k] = (mr_rating){u, i, (float)(1 + (u * 3 + i) % 5), 881250949 + (int64_t)k};
  csr *ui = NULL, *iu = NULL;
  if (csr_from_ratings(r, n, ds->n_users, ds->n_movies, 0, &ui) || csr_transpose(ui, &iu))
    return 1;
  rec_train_data d = {.ds = ds, .ratings = r, .n_ratings = n, .ui = ui, .iu = iu};
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
    rec_params p;
    rec_model *m = NULL;
    rec_params_parse(kinds[i].params, &p);
    int rc = rec_fit(kinds[i].kind, &p, &d, &m);
    snprintf(path, sizeof(path), "%s/%s.bin", argv[1], kinds[i].kind);
    if (rc == MR_OK)
      rc = rec_save(m, path);
    if (rc) {
      fprintf(stderr, "make_seeds: %s: %s\n", kinds[i].kind, mr_strerror(rc));
      fails++;
    }
    rec_free(m);
  }
  /* a ranker: 4 groups of 4 rows, 3 features, label = first feature */
  float x[16 * 3], y[16];
  uint32_t g[4] = {4, 4, 4, 4};
  for (int i = 0; i < 16; i++) {
    for (int f = 0; f < 3; f++)
      x[i * 3 + f] = (float)((i * 7 + f * 3) % 5);
    y[i] = x[i * 3] > 2 ? 1.0f : 0.0f;
  }
  x[5] = 0.0f / 0.0f; /* one missing value */
  ltr_opts o;
  ltr_opts_default(&o);
  o.trees = 3;
  o.max_depth = 2;
  o.threads = 1;
  o.early_stopping = 0;
  ltr_data ld = {x, y, g, 16, 3, 4};
  ltr_model *lm = NULL;
  char err[256] = "";
  snprintf(path, sizeof(path), "%s/ltr.bin", argv[1]);
  if (ltr_train(&o, &ld, NULL, NULL, &lm, err, sizeof(err)) || ltr_save(lm, path)) {
    fprintf(stderr, "make_seeds: ltr: %s\n", err);
    fails++;
  }
  ltr_free(lm);
  csr_free(ui);
  csr_free(iu);
  free(r);
  ds_free(ds);
  return fails ? 1 : 0;
}
