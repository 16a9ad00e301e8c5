/* `movierec recommend`: a user's top movies (titles and scores) from the published model. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "core/mr_error.h"
#include "pipeline/reco.h"
#include "pipeline/snapshot.h"

enum { O_USER, O_N_RECS, O_SECTION, O_GENRES, O_DATA, O_DATASET, O_FORMAT, O_MODELS, O_N };
static const cli_opt rec_opts[O_N] = {
    [O_USER] = {"user", CLI_INT, NULL, NULL,
                "MovieLens user id (required; ids not in the data are new users)"},
    [O_N_RECS] = {"n", CLI_INT, "10", NULL, "how many movies (1-500)"},
    [O_SECTION] = {"section", CLI_STR, "personalized", NULL,
                   "personalized | hidden_gems | genre | popular"},
    [O_GENRES] = {"genres", CLI_STR, NULL, NULL,
                  "favourite genres of a new user, e.g. Action,Comedy"},
    [O_DATA] = {"data", CLI_STR, NULL, "MOVIEREC_DATA", "data directory (titles, history)"},
    [O_DATASET] = CLI_OPT_DATASET,
    [O_FORMAT] = CLI_OPT_FORMAT,
    [O_MODELS] = {"models", CLI_STR, "models", "MOVIEREC_MODELS",
                  "model root (reads ROOT/current)"},
};

static int recommend_section(const char *name, reco_section *out) {
  static const char *const names[] = {"personalized", "hidden_gems", "genre", "popular"};
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, names[i])) {
      *out = (reco_section)i;
      return MR_OK;
    }
  return MR_EINVAL;
}

int cmd_recommend(int argc, char **argv) {
  cli_values v;
  mr_dataset *ds = NULL;
  reco *r = NULL;
  reco_item *items = NULL;
  reco_section section;
  uint32_t mask = 0;
  char dir[4096], err[512] = "";
  int status = 1;
  int rc = cli_parse("recommend", "Print a user's top movies with titles and scores.", rec_opts,
                     O_N, argc, argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  if (cli_data_select(v.str[O_DATASET], v.str[O_FORMAT]))
    return 2;
  if (!v.set[O_USER]) {
    fprintf(stderr, "movierec recommend: --user is required\n");
    return 2;
  }
  long n = v.num[O_N_RECS], uid = v.num[O_USER];
  if (n < 1 || n > 500) {
    fprintf(stderr, "movierec recommend: --n must be between 1 and 500, got %ld\n", n);
    return 2;
  }
  if (uid < 0 || uid > INT32_MAX) {
    fprintf(stderr, "movierec recommend: --user must be a non-negative 32-bit id\n");
    return 2;
  }
  if (recommend_section(v.str[O_SECTION], &section)) {
    fprintf(stderr, "movierec recommend: unknown section '%s'\n", v.str[O_SECTION]);
    return 2;
  }
  if (cli_load_dataset(v.str[O_DATA], &ds))
    return 1;
  snprintf(dir, sizeof(dir), "%s/current", v.str[O_MODELS]);
  /* a retrained version also knows the live ratings it was trained on (new users among them) */
  char real[PATH_MAX], live_path[PATH_MAX + 32];
  snap_rating *live = NULL;
  size_t n_live = 0;
  if (realpath(dir, real)) {
    snprintf(dir, sizeof(dir), "%s", real);
    snprintf(live_path, sizeof(live_path), "%s/%s", real, SNAP_LIVE_FILE);
    if ((rc = snap_read_tsv(live_path, &live, &n_live, err, sizeof(err))) ||
        (rc = snap_apply(ds, live, n_live, NULL))) {
      free(live);
      fprintf(stderr, "movierec recommend: %s\n", *err ? err : mr_strerror(rc));
      goto done;
    }
    free(live);
  }
  if ((rc = reco_open(dir, ds, &r, err, sizeof(err)))) {
    fprintf(stderr, "movierec recommend: %s\n", *err ? err : mr_strerror(rc));
    goto done;
  }
  if (v.str[O_GENRES] && reco_parse_genres(r, v.str[O_GENRES], &mask, err, sizeof(err))) {
    fprintf(stderr, "movierec recommend: %s\n", err);
    goto done;
  }
  if (ds_user_index(ds, uid) < 0)
    fprintf(stderr, "recommend: user %ld is not in the data: a new user\n", uid);
  if (!(items = malloc((size_t)n * sizeof(*items))))
    goto done;
  int got = 0;
  if ((rc = reco_recommend(r, (int32_t)uid, NULL, 0, section, mask, (int)n, items, &got))) {
    fprintf(stderr, "movierec recommend: %s\n", mr_strerror(rc));
    goto done;
  }
  printf("model %s, section %s\n", reco_version(r), v.str[O_SECTION]);
  printf("%-5s %-9s %-6s %s\n", "rank", "score", "movie", "title");
  for (int i = 0; i < got; i++)
    printf("%-5d %-9.4f %-6lld %s\n", i + 1, items[i].score,
           (long long)ds->movies[items[i].movie].id, ds->movies[items[i].movie].title);
  status = 0;
done:
  free(items);
  reco_free(r);
  ds_free(ds);
  return status;
}
