/* Cold-start evaluation (see cold_start.h). */
#include "eval/cold_start.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "data/csr.h"
#include "pipeline/two_stage.h"

static const int cold_levels[COLD_N_LEVELS] = {0, 1, 3, 5};

/* Rows: the baselines, the generators tuned on the warm data's validation cut (their evaluation
 * rows' spaces), and the serving pipeline with its cold-start ranker (two_stage.h, cold=1): the
 * path the API takes for a new user. */
static const eval_config cold_cfg_pop = {"pop", "pop", "", NULL,
                                         "most rated, as of the user's time"};
static const eval_config cold_cfg_genre = {"genre", "genre", NULL, NULL, "genre x weighted rating"};
static const eval_config cold_cfg_als = {
    "als_fold_in", "als", NULL, NULL,
    "ALS, the new user's vector folded in from the short history"};
static const eval_config cold_cfg_ts = {"two_stage_cold", "two_stage",
                                        "gens=1,per_gen=150,cold=1," TS_FGENS_FEATURES, NULL,
                                        "the serving pipeline with its cold-start ranker"};
static const eval_config *const cold_cfgs[] = {&cold_cfg_pop, &cold_cfg_genre, &cold_cfg_als,
                                               &cold_cfg_ts, NULL};

const eval_config *const *cold_configs(void) {
  return cold_cfgs;
}

/* A user is cold when its seeded hash falls in the first fifth. */
static int cold_is_cold(uint64_t seed, int32_t u) {
  uint64_t h = seed ^ 0xc01d5ea7ULL ^ (uint64_t)u;
  return mr_splitmix64(&h) % 5 == 0;
}

int cold_run(const mr_dataset *ds, const eval_opts *o, cold_result *results, int *n_results) {
  split_result *s = NULL;
  mr_rating *warm = NULL;
  csr *ui = NULL, *iu = NULL, *test = NULL;
  int64_t *u_ptr = NULL;
  rec_cache *cache = NULL;
  float *scores = NULL;
  uint8_t *exclude = NULL;
  int32_t *h_items = NULL, top[64];
  float *h_ratings = NULL;
  metrics_acc *acc = NULL;
  int rc, n_out = 0;
  if (o->k > 64)
    return MR_EINVAL;
  if ((rc = split_make(o->split, ds->ratings, ds->n_ratings, ds->n_users, o->test_frac, o->seed,
                       &s)))
    return rc;
  /* train without the cold users' ratings: they are new to every model */
  size_t n_warm = 0;
  if (!(warm = malloc((s->n_train + 1) * sizeof(*warm)))) {
    rc = MR_ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < s->n_train; i++)
    if (!cold_is_cold(o->seed, s->train[i].user))
      warm[n_warm++] = s->train[i];
  if ((rc = csr_from_ratings(warm, n_warm, ds->n_users, ds->n_movies, 0, &ui)) ||
      (rc = csr_transpose(ui, &iu)) ||
      (rc = csr_from_ratings(s->test, s->n_test, ds->n_users, ds->n_movies, 0, &test)) ||
      (rc = rec_cache_create(&cache)))
    goto done;
  /* split output is sorted by (user, ts, item): each user's train part is one slice */
  if (!(u_ptr = calloc((size_t)ds->n_users + 1, sizeof(int64_t)))) {
    rc = MR_ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < s->n_train; i++)
    u_ptr[s->train[i].user + 1]++;
  for (int32_t u = 0; u < ds->n_users; u++)
    u_ptr[u + 1] += u_ptr[u];
  scores = malloc((size_t)ds->n_movies * sizeof(float));
  exclude = calloc((size_t)ds->n_movies, 1);
  h_items = malloc(8 * sizeof(int32_t));
  h_ratings = malloc(8 * sizeof(float));
  if (!scores || !exclude || !h_items || !h_ratings) {
    rc = MR_ENOMEM;
    goto done;
  }
  rec_train_data d = {.ds = ds,
                      .ratings = warm,
                      .n_ratings = n_warm,
                      .ui = ui,
                      .iu = iu,
                      .cache = cache,
                      .protocol = (int)o->split};
  for (int c = 0; cold_cfgs[c]; c++) {
    rec_params p;
    rec_model *m = NULL;
    const eval_config *space =
        cold_cfgs[c]->params ? cold_cfgs[c] : eval_generator_config(cold_cfgs[c]->kind);
    if ((rc = rec_params_parse(space ? space->params : "", &p)))
      goto done;
    if (o->tune && space && space->grid && *space->grid) {
      eval_result tr;
      memset(&tr, 0, sizeof(tr));
      if ((rc = eval_tune(ds, o, cache, space, warm, n_warm, &p, &tr)))
        goto done;
    } else if (!o->tune) {
      rec_params_set(&p, "tune_gens", 0);
    }
    if ((rc = rec_fit(cold_cfgs[c]->kind, &p, &d, &m)))
      goto done;
    for (int l = 0; l < COLD_N_LEVELS && !rc; l++) {
      int keep = cold_levels[l];
      if ((rc = metrics_acc_create(ds->n_movies, o->k, &acc)))
        break;
      for (int32_t u = 0; u < ds->n_users && !rc; u++) {
        int64_t tb = test->indptr[u], te = test->indptr[u + 1];
        if (tb == te || !cold_is_cold(o->seed, u))
          continue;
        int n_h = 0;
        for (int64_t i = u_ptr[u]; i < u_ptr[u + 1] && n_h < keep; i++) {
          h_items[n_h] = s->train[i].item;
          h_ratings[n_h++] = s->train[i].rating;
        }
        /* the user's reference time (model.h): their latest train rating on user-temporal, the
         * end of the warm data otherwise; nothing later is counted as popular */
        int64_t ref = o->split == SPLIT_USER_TEMPORAL && u_ptr[u + 1] > u_ptr[u]
                          ? s->train[u_ptr[u + 1] - 1].ts
                          : REC_REF_END;
        if ((rc = rec_score_history_at(m, h_items, h_ratings, n_h, ref, scores)))
          break;
        for (int k = 0; k < n_h; k++)
          exclude[h_items[k]] = 1;
        int got = rec_top_n(scores, ds->n_movies, exclude, o->k, top, NULL);
        for (int k = 0; k < n_h; k++)
          exclude[h_items[k]] = 0;
        metrics_acc_add(acc, top, got, test->indices + tb, test->values + tb, (int)(te - tb));
      }
      cold_result *r = &results[n_out++];
      memset(r, 0, sizeof(*r));
      snprintf(r->config, sizeof(r->config), "%s", cold_cfgs[c]->name);
      rec_params_format(&p, r->params, sizeof(r->params));
      r->history = keep;
      metrics_acc_result(acc, &r->m, &r->coverage, &r->n_users);
      metrics_acc_free(acc);
      acc = NULL;
      if (o->verbose)
        fprintf(stderr, "cold: %-20s history %d: nDCG@%d %.4f over %ld users\n", r->config, keep,
                o->k, r->m.ndcg, r->n_users);
    }
    rec_free(m);
    if (rc)
      goto done;
  }
  *n_results = n_out;
done:
  metrics_acc_free(acc);
  free(scores);
  free(exclude);
  free(h_items);
  free(h_ratings);
  rec_cache_free(cache);
  csr_free(ui);
  csr_free(iu);
  free(u_ptr);
  csr_free(test);
  free(warm);
  split_free(s);
  return rc;
}

void cold_print_table(FILE *f, const char *split, const cold_result *r, int n) {
  fprintf(f, "cold start (split %s; a fifth of the users keep only their first ratings)\n", split);
  fprintf(f, "%-22s %7s %7s %7s %8s %9s %9s %9s %6s\n", "config", "history", "P@10", "R@10",
          "nDCG@10", "gnDCG@10", "P@10r>=4", "coverage", "users");
  for (int i = 0; i < n; i++)
    fprintf(f, "%-22s %7d %7.4f %7.4f %8.4f %9.4f %9.4f %9.4f %6ld\n", r[i].config, r[i].history,
            r[i].m.precision, r[i].m.recall, r[i].m.ndcg, r[i].m.graded_ndcg,
            r[i].m.precision_liked, r[i].coverage, r[i].n_users);
}

void cold_print_markdown(FILE *f, const cold_result *r, int n) {
  fprintf(f, "| configuration | ratings kept | P@10 | R@10 | nDCG@10 | P@10 (r>=4) | coverage@10 | "
             "users |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (int i = 0; i < n; i++)
    fprintf(f, "| `%s` | %d | %.4f | %.4f | %.4f | %.4f | %.4f | %ld |\n", r[i].config,
            r[i].history, r[i].m.precision, r[i].m.recall, r[i].m.ndcg, r[i].m.precision_liked,
            r[i].coverage, r[i].n_users);
}

int cold_write_json(const char *path, const char *split, const cold_result *r, int n) {
  json_t *root = json_object(), *arr = json_array();
  int rc = MR_ENOMEM;
  if (!root || !arr)
    goto fail;
  json_object_set_new(root, "split", json_string(split));
  for (int i = 0; i < n; i++) {
    json_t *o = json_pack("{s:s, s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I}", "config",
                          r[i].config, "params", r[i].params, "history", r[i].history,
                          "precision_at_10", r[i].m.precision, "recall_at_10", r[i].m.recall,
                          "ndcg_at_10", r[i].m.ndcg, "graded_ndcg_at_10", r[i].m.graded_ndcg,
                          "precision_liked_at_10", r[i].m.precision_liked, "map_at_10", r[i].m.map,
                          "coverage_at_10", r[i].coverage, "users", (json_int_t)r[i].n_users);
    if (!o || json_array_append_new(arr, o))
      goto fail;
  }
  json_object_set_new(root, "cold_start", arr);
  arr = NULL;
  rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) ? MR_EIO : MR_OK;
fail:
  json_decref(arr);
  json_decref(root);
  return rc;
}
