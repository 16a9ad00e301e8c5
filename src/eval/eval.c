/* Evaluation runner: validation-cut tuning, final fit on train, top-k metrics on test. */
#include "eval/eval.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mr_error.h"
#include "data/csr.h"
#include "eval/tune.h"
#include "pipeline/two_stage.h"

static const eval_config eval_cfg_pop = {"pop", "pop", "", NULL,
                                         "most-rated movies in train, as of the user's time"};
/* Generator grids: tune.h's syntax. Each grows past an edge while its optimum sits there ("@"
 * bounds are the real limits: counts and weights are positive, shrinkage is not negative);
 * "!" marks a fixed set of choices. The two-stage rows take their generators' parameters from
 * the same searches (two_stage.c tunes each generator on its own validation cut, which is this
 * one, so the cache answers). */
static const eval_config eval_cfg_als = {
    "als", "als", "iterations=15,cg_steps=3,seed=42",
    "factors=16|32|64@4:512;alpha=0.3|1|3@0.003:300;reg=1|5|20|50@0.01:10000",
    "implicit ALS (confidence 1 + alpha * rating), CG solver"};

/* LightGCN: lr and the edge threshold tuned on validation. gems is the same model scored with a
 * fixed popularity penalty: tuning beta on nDCG would always pick 0; beta = 0.3 raised
 * validation coverage@10 from 0.32 to 0.46 (user-temporal) and 0.29 to 0.42 (random) for 7-9%
 * less nDCG@10. */
static const eval_config eval_cfg_gcn = {"gcn", "gcn", "epochs=30,reg=1e-4,seed=42",
                                         "lr=0.03|0.05@0.001:0.5;min_rating=0|3!",
                                         "LightGCN, 3 layers, BPR + Adam (generator alone)"};
static const eval_config eval_cfg_gems = {"gems", "gems", "epochs=30,reg=1e-4,beta=0.3,seed=42",
                                          "lr=0.03|0.05@0.001:0.5;min_rating=0|3!",
                                          "hidden gems: gcn minus beta * popularity z-score"};

/* genre: pop and beta trade "popular here" against genre affinity. content: the profile
 * weighting and the SVD dimension are searched; other field weights did worse on validation. */
static const eval_config eval_cfg_genre = {
    "genre", "genre", "m_quantile=0.8,slope=0.5,smooth=20", "pop=1|2@0:16;beta=0.5|1|2|3@0:16",
    "genre affinity x IMDb weighted rating x popularity (cold start)"};
static const eval_config eval_cfg_content = {
    "content", "content", "cast_n=5,min_df=2", "wmode=0|1|2!;dim=48|64@8:512",
    "TF-IDF + truncated SVD, cosine to the rating-weighted profile"};

/* semantic: on the user-temporal validation cut (d = 128) idf pooling beat SIF weights (0.048
 * against 0.042), removing one common component beat none (0.031), two or four (0.042), and 6
 * subspace iterations beat 3 (0.045 against 0.044, wmode 3), as on the random cut; so only the
 * profile weighting and d are searched. */
static const eval_config eval_cfg_semantic = {
    "semantic", "semantic", "window=5,min_count=2,cast_n=5,pool=1,seed=42",
    "wmode=1|3!;dim=64|128|192@16:512",
    "PPMI word vectors from the movies' text, idf-pooled; stands in for sentence embeddings"};

static const eval_config eval_cfg_ease = {"ease", "ease", "weighting=0",
                                          "lambda=50|100|200|400|800|1600@1:1000000",
                                          "EASE^R closed-form item-item autoencoder (binary X)"};
static const eval_config eval_cfg_itemknn = {"itemknn", "itemknn", "weighting=1",
                                             "k=20|50|200|400@2:100000;shrink=0|10@0:10000",
                                             "item-item cosine kNN, top-K neighbours per item"};

/* SASRec: self-attention over each user's time-ordered ratings, full-softmax loss. */
static const eval_config eval_cfg_sasrec = {
    "sasrec", "sasrec", "blocks=2,max_len=100,batch=64,lr=1e-3,seed=42", "epochs=40;dropout=0.2",
    "SASRec: causal self-attention over the user's sequence, full softmax"};

/* Two-stage configurations: gens is the candidate-generator bitmask (1 als, 2 gcn, 4 content,
 * 8 genre, 16 itemknn, 32 ease, 64 gems), drop the ablated feature groups (features.h). The
 * ranker's tree depth (3 or 6) and its minimum child weight (grown past an edge) are chosen on
 * the validation cut; eta 0.1 and 150 trees are fixed (on the user-temporal cut, eta
 * 0.05|0.1|0.2 scored best at 0.1 for depth 6, the better depth, and 0.2 beat 0.1 by 0.002 at
 * depth 3). */
#define EVAL_TS(var, name, params, desc)                                                           \
  static const eval_config var = {name, "two_stage", params "," TS_FGENS_FEATURES,                 \
                                  "depth=3|6!;min_child=1|10@0:", desc};
EVAL_TS(eval_cfg_ts_als, "two_stage_ltr_als", "gens=1,per_gen=150",
        "LambdaMART over ALS candidates (the original system's headline)")
/* The cross ranker picks its epoch on the held-out fifth of its training groups; the one-point
 * grid only measures its validation nDCG beside the LambdaMART rows (tree depth means nothing
 * to it). */
static const eval_config eval_cfg_ts_cross_als = {
    "two_stage_cross_als", "two_stage", "gens=1,per_gen=150,ranker=1," TS_FGENS_FEATURES,
    "cross_dim=32", "neural cross ranker (target attention + MLP) over ALS candidates"};
EVAL_TS(eval_cfg_ts_gcn, "two_stage_ltr_gcn", "gens=2,per_gen=150",
        "LambdaMART over graph-model candidates")
EVAL_TS(eval_cfg_ts_gems, "two_stage_ltr_gems", "gens=64,per_gen=150",
        "LambdaMART over hidden-gems candidates (popularity-penalized graph model)")
EVAL_TS(eval_cfg_ts_genre, "two_stage_ltr_genre", "gens=8,per_gen=150",
        "LambdaMART over genre candidates (new users)")
EVAL_TS(eval_cfg_ts_content, "two_stage_ltr_content", "gens=4,per_gen=150",
        "LambdaMART over content candidates")
EVAL_TS(eval_cfg_ts_itemknn, "two_stage_ltr_itemknn", "gens=16,per_gen=150",
        "LambdaMART over item-kNN candidates")
EVAL_TS(eval_cfg_ts_ease, "two_stage_ltr_ease", "gens=32,per_gen=150",
        "LambdaMART over EASE candidates")
EVAL_TS(eval_cfg_ts_als_gcn, "two_stage_ltr_als_gcn", "gens=3,per_gen=100",
        "LambdaMART over ALS + graph candidates")
EVAL_TS(eval_cfg_ts_union, "two_stage_ltr_union", "gens=127,per_gen=50",
        "LambdaMART over the union of every generator")
EVAL_TS(eval_cfg_ts_als_nogen, "two_stage_ltr_als_no_gen_feats", "gens=1,per_gen=150,drop=1",
        "ablation: two_stage_ltr_als without generator-score features")
EVAL_TS(eval_cfg_ts_als_noimdb, "two_stage_ltr_als_no_imdb", "gens=1,per_gen=150,drop=8",
        "ablation: two_stage_ltr_als without IMDb-derived features")
EVAL_TS(eval_cfg_ts_union_nogen, "two_stage_ltr_union_no_gen_feats", "gens=127,per_gen=50,drop=1",
        "ablation: the union without generator-score features")
EVAL_TS(eval_cfg_ts_union_noimdb, "two_stage_ltr_union_no_imdb", "gens=127,per_gen=50,drop=8",
        "ablation: the union without IMDb-derived features")
EVAL_TS(eval_cfg_ts_union_nomovie, "two_stage_ltr_union_no_movie_feats",
        "gens=127,per_gen=50,drop=4", "ablation: the union without movie features")
EVAL_TS(eval_cfg_ts_union_nouser, "two_stage_ltr_union_no_user_feats", "gens=127,per_gen=50,drop=2",
        "ablation: the union without user features")

/* One line per configuration, in table order. */
/* clang-format off */
static const eval_config *const eval_configs[] = {
    &eval_cfg_pop,
    &eval_cfg_als,
    &eval_cfg_genre,
    &eval_cfg_content,
    &eval_cfg_semantic,
    &eval_cfg_ease,
    &eval_cfg_itemknn,
    &eval_cfg_gcn,
    &eval_cfg_gems,
    &eval_cfg_sasrec,
    &eval_cfg_ts_als,
    &eval_cfg_ts_cross_als,
    &eval_cfg_ts_gcn,
    &eval_cfg_ts_gems,
    &eval_cfg_ts_genre,
    &eval_cfg_ts_content,
    &eval_cfg_ts_itemknn,
    &eval_cfg_ts_ease,
    &eval_cfg_ts_als_gcn,
    &eval_cfg_ts_union,
    &eval_cfg_ts_als_nogen,
    &eval_cfg_ts_als_noimdb,
    &eval_cfg_ts_union_nogen,
    &eval_cfg_ts_union_noimdb,
    &eval_cfg_ts_union_nouser,
    &eval_cfg_ts_union_nomovie,
    NULL,
};
/* clang-format on */

const eval_config *const *eval_all_configs(void) {
  return eval_configs;
}

void eval_opts_default(eval_opts *o) {
  memset(o, 0, sizeof(*o));
  o->split = SPLIT_USER_TEMPORAL;
  o->test_frac = 0.2;
  o->seed = 42;
  o->k = 10;
  o->tune = 1;
}

static double eval_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int eval_select_configs(const char *list, const eval_config ***out, int *n, char *err,
                        size_t errlen) {
  int total = 0;
  while (eval_configs[total])
    total++;
  const eval_config **sel = calloc((size_t)total + 1, sizeof(*sel));
  int count = 0;
  if (!sel)
    return MR_ENOMEM;
  if (!list || !strcmp(list, "all")) {
    for (int i = 0; i < total; i++)
      sel[count++] = eval_configs[i];
    *out = sel;
    *n = count;
    return MR_OK;
  }
  const char *s = list;
  while (*s) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    int found = -1;
    for (int i = 0; i < total; i++)
      if (strlen(eval_configs[i]->name) == len && !strncmp(eval_configs[i]->name, s, len))
        found = i;
    if (found < 0) {
      snprintf(err, errlen, "unknown configuration '%.*s'", (int)len, s);
      free(sel);
      return MR_ENOTFOUND;
    }
    int dup = 0;
    for (int i = 0; i < count; i++)
      dup |= sel[i] == eval_configs[found];
    if (!dup && count < total)
      sel[count++] = eval_configs[found];
    s += len;
    if (*s == ',')
      s++;
  }
  if (!count) {
    snprintf(err, errlen, "no configuration selected");
    free(sel);
    return MR_EINVAL;
  }
  *out = sel;
  *n = count;
  return MR_OK;
}

int eval_model(const rec_model *m, const mr_dataset *ds, const csr *train_ui, const csr *test_ui,
               int k, FILE *dump, const char *config, eval_result *r) {
  int32_t n_users = test_ui->n_rows, n_items = rec_n_items(m);
  int32_t *recs = NULL;
  int *n_recs = NULL;
  metrics_acc *acc = NULL;
  int rc = MR_OK;
  if (n_items != test_ui->n_cols || train_ui->n_cols != n_items || train_ui->n_rows != n_users)
    return MR_EINVAL;
  recs = malloc((size_t)n_users * (size_t)k * sizeof(*recs));
  n_recs = calloc((size_t)n_users, sizeof(*n_recs));
  if (!recs || !n_recs) {
    rc = MR_ENOMEM;
    goto fail;
  }
  if ((rc = metrics_acc_create(n_items, k, &acc)) != MR_OK)
    goto fail;
  int failed = MR_OK;
#pragma omp parallel
  {
    float *scores = malloc((size_t)n_items * sizeof(float));
    uint8_t *exclude = calloc((size_t)n_items, 1);
    if (!scores || !exclude) {
#pragma omp atomic write
      failed = MR_ENOMEM;
    }
#pragma omp for schedule(dynamic, 16)
    for (int32_t u = 0; u < n_users; u++) {
      if (!scores || !exclude || test_ui->indptr[u + 1] == test_ui->indptr[u])
        continue;
      int src = rec_score_user(m, u, scores);
      if (src) {
#pragma omp atomic write
        failed = src;
        continue;
      }
      for (int64_t j = train_ui->indptr[u]; j < train_ui->indptr[u + 1]; j++)
        exclude[train_ui->indices[j]] = 1;
      n_recs[u] = rec_top_n(scores, n_items, exclude, k, recs + (size_t)u * k, NULL);
      for (int64_t j = train_ui->indptr[u]; j < train_ui->indptr[u + 1]; j++)
        exclude[train_ui->indices[j]] = 0;
    }
    free(scores);
    free(exclude);
  }
  if (failed) {
    rc = failed;
    goto fail;
  }
  for (int32_t u = 0; u < n_users; u++) {
    int64_t b = test_ui->indptr[u], e = test_ui->indptr[u + 1];
    if (b == e)
      continue;
    metrics_acc_add(acc, recs + (size_t)u * k, n_recs[u], test_ui->indices + b, test_ui->values + b,
                    (int)(e - b));
    if (dump)
      for (int i = 0; i < n_recs[u]; i++)
        fprintf(dump, "%s\t%lld\t%d\t%lld\n", config, (long long)ds->users[u].id, i + 1,
                (long long)ds->movies[recs[(size_t)u * k + i]].id);
  }
  metrics_acc_result(acc, &r->m, &r->coverage, &r->n_users);
fail:
  metrics_acc_free(acc);
  free(recs);
  free(n_recs);
  return rc;
}

/* Train/test matrices for one split. */
typedef struct eval_mats {
  csr *train_ui, *train_iu, *test_ui;
  const mr_rating *train;
  size_t n_train;
} eval_mats;

static void eval_mats_free(eval_mats *e) {
  csr_free(e->train_ui);
  csr_free(e->train_iu);
  csr_free(e->test_ui);
  memset(e, 0, sizeof(*e));
}

static int eval_mats_build(const mr_dataset *ds, const split_result *s, eval_mats *e) {
  int rc;
  memset(e, 0, sizeof(*e));
  e->train = s->train;
  e->n_train = s->n_train;
  if ((rc = csr_from_ratings(s->train, s->n_train, ds->n_users, ds->n_movies, 0, &e->train_ui)) ||
      (rc = csr_transpose(e->train_ui, &e->train_iu)) ||
      (rc = csr_from_ratings(s->test, s->n_test, ds->n_users, ds->n_movies, 0, &e->test_ui))) {
    eval_mats_free(e);
    return rc;
  }
  return MR_OK;
}

static int eval_fit_and_score(const mr_dataset *ds, const eval_opts *o, rec_cache *cache,
                              const eval_config *c, const rec_params *p, const eval_mats *e,
                              FILE *dump, eval_result *r, double *fit_seconds) {
  rec_train_data d = {.ds = ds,
                      .ratings = e->train,
                      .n_ratings = e->n_train,
                      .ui = e->train_ui,
                      .iu = e->train_iu,
                      .cache = cache,
                      .protocol = (int)o->split};
  int k = o->k;
  rec_model *m = NULL;
  double t0 = eval_now();
  int rc = rec_fit(c->kind, p, &d, &m);
  if (rc)
    return rc;
  if (fit_seconds)
    *fit_seconds = eval_now() - t0;
  rc = eval_model(m, ds, e->train_ui, e->test_ui, k, dump, c->name, r);
  if (!rc && !strcmp(c->kind, "two_stage"))
    rc = ts_generator_params(m, r->generators, sizeof(r->generators));
  rec_free(m);
  return rc;
}

/* A ranker trained for nDCG alone learns that, as of one time, the popular movies are the safe
 * answer, and can hand most users the same list (global-temporal: a tenth of the coverage of its
 * own generators). A two-stage row must show at least as much of the catalogue as its best
 * candidate generator does, on the validation cut: the floor is the validation coverage of the
 * generator with the best validation nDCG. Below it, pop_penalty climbs a doubling ladder on the
 * fitted model m (scoring only: the ranker is the same) until the floor holds, and the feasible
 * step with the best validation nDCG is kept (the ladder goes one step past the first feasible
 * one). Fills r's floor fields and sets pop_penalty in *best. */
static int eval_coverage_floor(rec_model *m, const tune_cut *cut, const tune_result *t, int verbose,
                               rec_params *best, eval_result *r) {
  const rec_model *gens[TS_MAX_GEN];
  int n = 0, rc;
  if ((rc = ts_candidate_gens(m, gens, TS_MAX_GEN, &n)))
    return rc;
  double best_gen = -1;
  for (int g = 0; g < n; g++) {
    double ndcg, coverage;
    if ((rc = tune_score(gens[g], cut, &ndcg, &coverage)))
      return rc;
    if (ndcg > best_gen) {
      best_gen = ndcg;
      r->coverage_floor = coverage;
    }
  }
  r->valid_coverage = t->best_coverage;
  r->pop_penalty = 0;
  r->floor_met = t->best_coverage >= r->coverage_floor;
  if (verbose)
    fprintf(stderr, "  floor %-10s pop_penalty 0      valid nDCG %.4f coverage %.4f\n", r->config,
            t->best_ndcg, t->best_coverage);
  if (r->floor_met)
    return MR_OK; /* the ranker's own order */
  /* the doubling ladder brackets the floor, halving the bracket four times narrows it; nDCG falls
   * as the penalty grows, so the feasible step with the best nDCG is kept */
  double lo = 0, hi = -1, chosen_ndcg = -1, chosen_cov = 0, chosen = -1;
  for (int step = 0; step < 14; step++) {
    double beta = hi < 0 ? (lo > 0 ? 2 * lo : 0.125) : (lo + hi) / 2;
    if (hi < 0 && beta > 64)
      break;
    if (hi >= 0 && step >= 4 && hi - lo < 0.0625 * hi)
      break;
    double ndcg, coverage;
    if ((rc = ts_set_pop_penalty(m, beta)) || (rc = tune_score(m, cut, &ndcg, &coverage)))
      return rc;
    int ok = coverage >= r->coverage_floor;
    if (verbose)
      fprintf(stderr, "  floor %-10s pop_penalty %-8.4g valid nDCG %.4f coverage %.4f\n", r->config,
              beta, ndcg, coverage);
    if (ok && ndcg > chosen_ndcg) {
      chosen = beta;
      chosen_ndcg = ndcg;
      chosen_cov = coverage;
    }
    if (ok)
      hi = beta;
    else
      lo = beta;
  }
  if (chosen < 0)
    return MR_OK; /* no penalty reaches the floor: the ranker's order, flagged */
  r->floor_met = 1;
  r->pop_penalty = chosen;
  r->valid_coverage = chosen_cov;
  r->valid_ndcg = chosen_ndcg;
  return r->pop_penalty > 0 ? rec_params_set(best, "pop_penalty", r->pop_penalty) : MR_OK;
}

/* Searches c's grid on the validation cut of the train part (the cut that mirrors the protocol)
 * and leaves the chosen parameters in *best (which holds the fixed ones on entry). */
int eval_tune(const mr_dataset *ds, const eval_opts *o, rec_cache *cache, const eval_config *c,
              const mr_rating *train, size_t n_train, rec_params *best, eval_result *r) {
  split_result *v = NULL;
  eval_mats e;
  int rc;
  if ((rc = split_validation(o->split, train, n_train, ds->n_users, o->test_frac, o->seed, &v)))
    return rc;
  if ((rc = eval_mats_build(ds, v, &e))) {
    split_free(v);
    return rc;
  }
  rec_train_data d = {.ds = ds,
                      .ratings = e.train,
                      .n_ratings = e.n_train,
                      .ui = e.train_ui,
                      .iu = e.train_iu,
                      .cache = cache,
                      .protocol = (int)o->split};
  tune_cut cut = {&d, e.test_ui, o->k};
  tune_result t;
  rec_model *m = NULL;
  int two_stage = !strcmp(c->kind, "two_stage");
  rc = tune_search_keep(c->kind, best, c->grid, &cut, o->verbose, c->name, &t,
                        two_stage ? &m : NULL);
  if (!rc) {
    *best = t.best;
    r->valid_ndcg = t.best_ndcg;
    r->tune_fits = t.n_fits;
    snprintf(r->at_edge, sizeof(r->at_edge), "%s", t.at_edge);
    snprintf(r->at_bound, sizeof(r->at_bound), "%s", t.at_bound);
  }
  if (!rc && two_stage && !m)
    rc = rec_fit(c->kind, best, &d, &m); /* the memo answered: fit the chosen point once */
  if (!rc && two_stage)
    rc = eval_coverage_floor(m, &cut, &t, o->verbose, best, r);
  if (!rc && two_stage && o->verbose)
    fprintf(stderr,
            "  floor %-10s valid coverage %.4f (floor %.4f from its best generator) %s, "
            "pop_penalty %g, valid nDCG %.4f\n",
            c->name, r->valid_coverage, r->coverage_floor, r->floor_met ? "met" : "NOT met",
            r->pop_penalty, r->valid_ndcg);
  rec_free(m);
  eval_mats_free(&e);
  split_free(v);
  return rc;
}

const eval_config *eval_generator_config(const char *kind) {
  for (int i = 0; eval_configs[i]; i++)
    if (!strcmp(eval_configs[i]->name, kind) && !strcmp(eval_configs[i]->kind, kind))
      return eval_configs[i];
  return NULL;
}

int eval_run(const mr_dataset *ds, const eval_opts *o, const eval_config *const *configs, int n,
             eval_result *results) {
  split_result *s = NULL;
  rec_cache *cache = NULL;
  eval_mats e;
  int rc = split_make(o->split, ds->ratings, ds->n_ratings, ds->n_users, o->test_frac, o->seed, &s);
  if (rc)
    return rc;
  if ((rc = rec_cache_create(&cache))) {
    split_free(s);
    return rc;
  }
  if ((rc = eval_mats_build(ds, s, &e))) {
    split_free(s);
    rec_cache_free(cache);
    return rc;
  }
  if (o->verbose)
    fprintf(stderr, "eval: split %s: %zu train, %zu test ratings\n", split_kind_name(o->split),
            s->n_train, s->n_test);
  for (int i = 0; i < n && !rc; i++) {
    const eval_config *c = configs[i];
    eval_result *r = &results[i];
    rec_params p;
    memset(r, 0, sizeof(*r));
    snprintf(r->config, sizeof(r->config), "%s", c->name);
    if ((rc = rec_params_parse(c->params, &p)))
      break;
    if (o->tune && c->grid && *c->grid) {
      double t0 = eval_now();
      if ((rc = eval_tune(ds, o, cache, c, s->train, s->n_train, &p, r)))
        break;
      r->tune_seconds = eval_now() - t0;
    }
    if (!o->tune)
      rec_params_set(&p, "tune_gens", 0); /* two-stage rows: generators at their defaults */
    rec_params_format(&p, r->params, sizeof(r->params));
    if ((rc = eval_fit_and_score(ds, o, cache, c, &p, &e, o->dump, r, &r->train_seconds)))
      break;
    if (o->verbose)
      fprintf(stderr, "eval: %-10s nDCG@%d %.4f  (%s, fit %.2fs, tuning %.1fs)\n", c->name, o->k,
              r->m.ndcg, r->params, r->train_seconds, r->tune_seconds);
  }
  eval_mats_free(&e);
  split_free(s);
  rec_cache_free(cache);
  return rc;
}

void eval_print_table(FILE *f, const char *split, const eval_result *r, int n) {
  fprintf(f, "split: %s\n", split);
  fprintf(f, "%-34s %7s %7s %8s %9s %9s %7s %9s %8s\n", "config", "P@10", "R@10", "nDCG@10",
          "gnDCG@10", "P@10r>=4", "MAP@10", "coverage", "train_s");
  for (int i = 0; i < n; i++)
    fprintf(f, "%-34s %7.4f %7.4f %8.4f %9.4f %9.4f %7.4f %9.4f %8.2f\n", r[i].config,
            r[i].m.precision, r[i].m.recall, r[i].m.ndcg, r[i].m.graded_ndcg,
            r[i].m.precision_liked, r[i].m.map, r[i].coverage, r[i].train_seconds);
}

void eval_print_markdown(FILE *f, const eval_result *r, int n) {
  fprintf(f, "| configuration | P@10 | R@10 | nDCG@10 | graded nDCG@10 | P@10 (r>=4) | MAP@10 | "
             "coverage@10 | train s | parameters |\n");
  fprintf(f, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
  for (int i = 0; i < n; i++)
    fprintf(f, "| `%s` | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.2f | `%s` |\n",
            r[i].config, r[i].m.precision, r[i].m.recall, r[i].m.ndcg, r[i].m.graded_ndcg,
            r[i].m.precision_liked, r[i].m.map, r[i].coverage, r[i].train_seconds, r[i].params);
}

/* "a,b" -> ["a", "b"] */
static json_t *eval_json_names(const char *list) {
  json_t *a = json_array();
  const char *s = list;
  while (a && *s) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    json_array_append_new(a, json_stringn(s, len));
    s += len;
    if (*s == ',')
      s++;
  }
  return a;
}

/* "als:x=1,y=2;gcn:z=3" -> {"als": "x=1,y=2", "gcn": "z=3"} */
static json_t *eval_json_generators(const char *list) {
  json_t *o = json_object();
  const char *s = list;
  while (o && *s) {
    const char *semi = strchr(s, ';'), *colon = strchr(s, ':');
    size_t len = semi ? (size_t)(semi - s) : strlen(s);
    if (colon && (size_t)(colon - s) < len) {
      char kind[32];
      snprintf(kind, sizeof(kind), "%.*s", (int)(colon - s), s);
      json_object_set_new(o, kind, json_stringn(colon + 1, len - (size_t)(colon - s) - 1));
    }
    s += len;
    if (*s == ';')
      s++;
  }
  return o;
}

int eval_write_json(const char *path, const char *split, const eval_result *r, int n) {
  json_t *root = json_object(), *arr = json_array();
  int rc = MR_ENOMEM;
  if (!root || !arr)
    goto fail;
  json_object_set_new(root, "split", json_string(split));
  for (int i = 0; i < n; i++) {
    json_t *o = json_object();
    if (!o)
      goto fail;
    json_object_set_new(o, "config", json_string(r[i].config));
    json_object_set_new(o, "precision_at_10", json_real(r[i].m.precision));
    json_object_set_new(o, "recall_at_10", json_real(r[i].m.recall));
    json_object_set_new(o, "ndcg_at_10", json_real(r[i].m.ndcg));
    json_object_set_new(o, "graded_ndcg_at_10", json_real(r[i].m.graded_ndcg));
    json_object_set_new(o, "precision_liked_at_10", json_real(r[i].m.precision_liked));
    json_object_set_new(o, "map_at_10", json_real(r[i].m.map));
    json_object_set_new(o, "coverage_at_10", json_real(r[i].coverage));
    if (r[i].coverage_floor > 0) {
      json_object_set_new(o, "validation_coverage_at_10", json_real(r[i].valid_coverage));
      json_object_set_new(o, "coverage_floor", json_real(r[i].coverage_floor));
      json_object_set_new(o, "coverage_floor_met", json_boolean(r[i].floor_met));
      json_object_set_new(o, "pop_penalty", json_real(r[i].pop_penalty));
    }
    json_object_set_new(o, "train_seconds", json_real(r[i].train_seconds));
    json_object_set_new(o, "tune_seconds", json_real(r[i].tune_seconds));
    json_object_set_new(o, "validation_ndcg_at_10", json_real(r[i].valid_ndcg));
    json_object_set_new(o, "users", json_integer(r[i].n_users));
    json_object_set_new(o, "params", json_string(r[i].params));
    json_object_set_new(o, "tune_fits", json_integer(r[i].tune_fits));
    json_object_set_new(o, "at_edge", eval_json_names(r[i].at_edge));
    json_object_set_new(o, "at_bound", eval_json_names(r[i].at_bound));
    if (*r[i].generators)
      json_object_set_new(o, "generators", eval_json_generators(r[i].generators));
    json_array_append_new(arr, o);
  }
  json_object_set_new(root, "results", arr);
  arr = NULL;
  rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) ? MR_EIO : MR_OK;
fail:
  json_decref(arr);
  json_decref(root);
  return rc;
}
