/* `movierec recommend`: a user's top movies (titles and scores) from the trained model files. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "core/mr_error.h"
#include "models/model.h"

enum { O_USER, O_N_RECS, O_MODEL, O_DATA, O_MODELS, O_N };
static const cli_opt rec_opts[O_N] = {
    [O_USER] = {"user", CLI_INT, NULL, NULL, "MovieLens user id (required; unknown ids are new "
                                             "users and get the popularity fallback)"},
    [O_N_RECS] = {"n", CLI_INT, "10", NULL, "how many movies (1-1000)"},
    [O_MODEL] = {"model", CLI_STR, "als", NULL, "model file to use: als or pop"},
    [O_DATA] = {"data", CLI_STR, NULL, "MOVIEREC_DATA", "data directory (titles, seen movies)"},
    [O_MODELS] = {"models", CLI_STR, "models", "MOVIEREC_MODELS", "directory of model files"},
};

static int recommend_load(const char *dir, const char *kind, int32_t n_items, rec_model **out) {
  char path[4096], err[512] = "";
  snprintf(path, sizeof(path), "%s/%s.bin", dir, kind);
  int rc = rec_load(path, out, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "movierec recommend: %s (run `movierec train` first)\n",
            *err ? err : mr_strerror(rc));
    return rc;
  }
  if (rec_n_items(*out) != n_items) {
    fprintf(stderr, "movierec recommend: %s has %d movies but the data has %d: retrain\n", path,
            rec_n_items(*out), n_items);
    rec_free(*out);
    *out = NULL;
    return MR_EFORMAT;
  }
  return MR_OK;
}

int cmd_recommend(int argc, char **argv) {
  cli_values v;
  mr_dataset *ds = NULL;
  rec_model *m = NULL;
  float *scores = NULL, *top_scores = NULL;
  int32_t *top = NULL;
  uint8_t *seen = NULL;
  int status = 1;
  int rc = cli_parse("recommend", "Print a user's top movies with titles and scores.", rec_opts,
                     O_N, argc, argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  if (!v.set[O_USER]) {
    fprintf(stderr, "movierec recommend: --user is required\n");
    return 2;
  }
  long n = v.num[O_N_RECS];
  if (n < 1 || n > 1000) {
    fprintf(stderr, "movierec recommend: --n must be between 1 and 1000, got %ld\n", n);
    return 2;
  }
  if (cli_load_dataset(v.str[O_DATA], &ds))
    return 1;
  int32_t user = ds_user_index(ds, (int32_t)v.num[O_USER]);
  const char *kind = v.str[O_MODEL];
  if (user < 0 && v.num[O_USER] != 0) {
    fprintf(stderr, "recommend: user %ld is not in the data: new user, most popular movies\n",
            v.num[O_USER]);
    kind = "pop";
  }
  if (recommend_load(v.str[O_MODELS], kind, ds->n_movies, &m))
    goto done;
  scores = malloc((size_t)ds->n_movies * sizeof(float));
  seen = calloc((size_t)ds->n_movies, 1);
  top = malloc((size_t)n * sizeof(int32_t));
  top_scores = malloc((size_t)n * sizeof(float));
  if (!scores || !seen || !top || !top_scores)
    goto done;
  if (user >= 0)
    for (size_t i = 0; i < ds->n_ratings; i++)
      if (ds->ratings[i].user == user)
        seen[ds->ratings[i].item] = 1;
  rc = user >= 0 && user < ds->n_users ? rec_score_user(m, user, scores)
                                       : rec_score_history(m, NULL, NULL, 0, scores);
  if (rc == MR_ERANGE) /* a user added to the data after training: score by history */
    rc = rec_score_history(m, NULL, NULL, 0, scores);
  if (rc) {
    fprintf(stderr, "movierec recommend: scoring failed: %s\n", mr_strerror(rc));
    goto done;
  }
  int got = rec_top_n(scores, ds->n_movies, seen, (int)n, top, top_scores);
  printf("%-5s %-9s %-6s %s\n", "rank", "score", "movie", "title");
  for (int i = 0; i < got; i++)
    printf("%-5d %-9.4f %-6d %s\n", i + 1, top_scores[i], ds->movies[top[i]].id,
           ds->movies[top[i]].title);
  status = 0;
done:
  free(scores);
  free(seen);
  free(top);
  free(top_scores);
  rec_free(m);
  ds_free(ds);
  return status;
}
