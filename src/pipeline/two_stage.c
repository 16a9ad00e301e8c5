/* Two-stage pipeline: generators propose candidates, LambdaMART reranks them (see the header for
 * the leakage-free fitting protocol). */
#include "pipeline/two_stage.h"

#include <jansson.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "core/mr_sort.h"
#include "data/csr.h"
#include "eval/split.h"
#include "eval/eval.h"
#include "eval/tune.h"
#include "models/model_ops.h"
#include "rank/cross.h"
#include "rank/features.h"

/* Generators in bit order of the `gens` parameter. Their parameters are not written here: each
 * is tuned on the pipeline's own validation cut in the space of its evaluation row
 * (eval_generator_config), unless the caller gives them ("als.factors=16", see two_stage.h). */
typedef struct ts_gen_def {
  const char *kind;
  int feat_slot; /* FEAT_GEN_* column, -1: candidates only */
} ts_gen_def;

static const ts_gen_def ts_gens[] = {
    {"als", FEAT_GEN_ALS},
    {"gcn", FEAT_GEN_GCN},
    {"content", FEAT_GEN_CONTENT},
    {"genre", FEAT_GEN_GENRE},
    {"itemknn", FEAT_GEN_ITEMKNN},
    {"ease", FEAT_GEN_EASE},
    {"gems", -1},
};
#define TS_N_GEN ((int)(sizeof(ts_gens) / sizeof(ts_gens[0])))
_Static_assert(sizeof(ts_gens) / sizeof(ts_gens[0]) <= TS_MAX_GEN, "TS_MAX_GEN too small");

/* The cross ranker attends over this many of the user's most recent movies. */
#define TS_CROSS_HIST 50

typedef struct ts_state {
  const mr_dataset *ds; /* borrowed: metadata outlives the model */
  rec_model *gens[TS_N_GEN];
  int owned[TS_N_GEN];
  feat_ctx *feat;
  ltr_model *ranker; /* NULL when only the cross ranker was trained */
  /* the cold-start ranker: LambdaMART trained on the same validation users with their
   * histories cut to their first 0..cold_max ratings, candidates from gens_mask | cold_gens;
   * it scores histories of at most cold_max ratings (NULL: the warm ranker does) */
  ltr_model *cold;
  int cold_on, cold_max, cold_gens;
  cross_model *cross; /* NULL when not trained */
  int rankers;        /* TS_RANKER_* bits of the rankers trained */
  int which;          /* the ranker that scores by default: TS_RANKER_LTR or TS_RANKER_CROSS */
  const csr *hist_ui; /* borrowed: ratings behind the features (cross ranker's history) */
  int gens_mask, per_gen, drop;
  int fgens_mask; /* generators fitted for their feature columns (besides gens_mask and ALS) */
  int binary_labels;
  int rank_users; /* at most about this many users' groups train the ranker; 0: all */
  /* the final order is z(ranker score) - pop_penalty * z(log as-of popularity) over the user's
   * candidates (0: the ranker's order); pop_col is that feature's column */
  double pop_penalty;
  int pop_col;
  uint64_t rank_seed; /* which users: a hash of (seed, user), independent of thread count */
  rec_params gen_params[TS_N_GEN]; /* each generator's parameters (given or tuned) */
  int gen_tuned[TS_N_GEN];         /* 1 when tuned here on the validation cut */
  int32_t n_users, n_items;
  ts_fit_stats stats;
  /* spare serving buffers: a request takes one and gives it back (they are ~100 KB, and
   * allocating them per request showed in profiles) */
  pthread_mutex_t pool_mu;
  struct ts_buf *pool;
} ts_state;

/* Per-thread buffers for one user's candidates and features. */
typedef struct ts_buf {
  float *scores[TS_N_GEN];
  uint8_t *flag;     /* per item: 1 history, 2 candidate */
  uint8_t *proposed; /* per candidate */
  int32_t *cands;
  int32_t *top;
  float *x;
  float *y;
  feat_scratch *scratch;
  float *pred;      /* ranker scores per candidate */
  uint64_t *keys;   /* 2 x (max_cands + 1): the final top-n over the candidates */
  cross_ws *cws;    /* the cross ranker's scratch (made on first use) */
  int32_t *h_items; /* the user's recent history, for the cross ranker */
  float *h_ratings;
  int max_cands;
  struct ts_buf *next; /* in the state's pool of spare buffers */
} ts_buf;

/* The column of the as-of log popularity feature. */
static int ts_pop_col(void) {
  const char *const *names = feat_names();
  for (int f = 0; f < feat_count(); f++)
    if (!strcmp(names[f], "movie_log_popularity"))
      return f;
  return -1;
}

static double ts_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void ts_buf_free(ts_buf *b) {
  if (!b)
    return;
  for (int g = 0; g < TS_N_GEN; g++)
    free(b->scores[g]);
  free(b->flag);
  free(b->proposed);
  free(b->cands);
  free(b->top);
  free(b->x);
  free(b->y);
  free(b->pred);
  free(b->keys);
  feat_scratch_free(b->scratch);
  cross_ws_free(b->cws);
  free(b->h_items);
  free(b->h_ratings);
  free(b);
}

static int ts_buf_create(const ts_state *s, ts_buf **out) {
  ts_buf *b = calloc(1, sizeof(*b));
  if (!b)
    return MR_ENOMEM;
  int n = s->n_items, nf = feat_count();
  int n_gens = 0, mask = s->gens_mask | (s->cold_on ? s->cold_gens : 0);
  for (int g = 0; g < TS_N_GEN; g++)
    n_gens += (mask >> g) & 1;
  b->max_cands = s->per_gen * n_gens < n ? s->per_gen * n_gens : n;
  int ok = 1;
  for (int g = 0; g < TS_N_GEN; g++)
    if (s->gens[g])
      ok &= (b->scores[g] = malloc((size_t)n * sizeof(float))) != NULL;
  b->flag = calloc((size_t)n, 1);
  b->proposed = calloc((size_t)b->max_cands + 1, 1);
  b->cands = malloc(((size_t)b->max_cands + 1) * sizeof(int32_t));
  b->top = malloc(((size_t)s->per_gen + 1) * sizeof(int32_t));
  b->x = malloc(((size_t)b->max_cands + 1) * (size_t)nf * sizeof(float));
  b->y = malloc(((size_t)b->max_cands + 1) * sizeof(float));
  b->pred = malloc(((size_t)b->max_cands + 1) * sizeof(float));
  b->keys = malloc(2 * ((size_t)b->max_cands + 1) * sizeof(uint64_t));
  b->h_items = malloc(TS_CROSS_HIST * sizeof(int32_t));
  b->h_ratings = malloc(TS_CROSS_HIST * sizeof(float));
  if (!ok || !b->flag || !b->proposed || !b->cands || !b->top || !b->x || !b->y || !b->pred ||
      !b->keys || !b->h_items || !b->h_ratings || feat_scratch_create(s->feat, &b->scratch)) {
    ts_buf_free(b);
    return MR_ENOMEM;
  }
  *out = b;
  return MR_OK;
}

/* A serving buffer from the pool, or a new one. */
static int ts_buf_take(ts_state *s, ts_buf **out) {
  pthread_mutex_lock(&s->pool_mu);
  ts_buf *b = s->pool;
  if (b)
    s->pool = b->next;
  pthread_mutex_unlock(&s->pool_mu);
  if (b) {
    *out = b;
    return MR_OK;
  }
  return ts_buf_create(s, out);
}

static void ts_buf_give(ts_state *s, ts_buf *b) {
  if (!b)
    return;
  pthread_mutex_lock(&s->pool_mu);
  b->next = s->pool;
  s->pool = b;
  pthread_mutex_unlock(&s->pool_mu);
}

/* The generators proposing candidates for a row: gens_mask, and the cold ones for a short
 * history scored by the cold ranker. */
static int ts_propose_mask(const ts_state *s, int cold_row) {
  return s->gens_mask | (cold_row ? s->cold_gens : 0);
}

/* Whether generator g must score every movie: it proposes candidates, or it is ALS. */
static int ts_full_scores(int mask, int g) {
  return g == 0 || ((mask >> g) & 1);
}

/* Whether generator g is fitted: ALS, the proposing ones (warm and cold) and the fgens ones
 * (for their feature column, or gems, which has none, for the serving's hidden-gems section). */
static int ts_wanted(const ts_state *s, int g) {
  int propose = s->gens_mask | (s->cold_on ? s->cold_gens : 0);
  return g == 0 || (((propose | s->fgens_mask) >> g) & 1);
}

/* Whether a request is a cold row: a history (user < 0) short enough for the cold ranker. */
static int ts_cold_row(const ts_state *s, int32_t user, int n_h) {
  return s->cold && user < 0 && n_h <= s->cold_max;
}

/* Scores, candidates and features for one user (dense index, or -1 with a history). Fills
 * b->cands[0..*n_cands) and b->x. */
static int ts_user_rows(const ts_state *s, ts_buf *b, int32_t user, const int32_t *h_items,
                        const float *h_ratings, int n_h, int64_t ref_ts, int cold_row, int *n_cands,
                        ts_serve_split *split) {
  const int mask = ts_propose_mask(s, cold_row);
  double t0 = split ? ts_now() : 0;
  const int32_t *hist;
  int64_t nh;
  int rc;
  if (user >= 0) {
    feat_history(s->feat, user, &hist, &nh);
  } else {
    hist = h_items;
    nh = n_h;
  }
  /* stage 1 needs every score of the proposing generators (and ALS, the order behind the
   * candidates); feature-only generators are scored at the candidates further down */
  for (int g = 0; g < TS_N_GEN; g++) {
    if (!s->gens[g] || !ts_full_scores(mask, g))
      continue;
    rc = user >= 0
             ? rec_score_user(s->gens[g], user, b->scores[g])
             : rec_score_history_at(s->gens[g], h_items, h_ratings, n_h, ref_ts, b->scores[g]);
    if (rc)
      return rc;
  }
  for (int64_t k = 0; k < nh; k++)
    b->flag[hist[k]] = 1;
  int nc = 0;
  for (int g = 0; g < TS_N_GEN; g++) {
    if (!((mask >> g) & 1) || !s->gens[g])
      continue;
    int got = rec_top_n(b->scores[g], s->n_items, b->flag, s->per_gen, b->top, NULL);
    for (int k = 0; k < got; k++) {
      int32_t it = b->top[k];
      if (b->flag[it] == 2) {
        for (int c = 0; c < nc; c++)
          if (b->cands[c] == it) {
            b->proposed[c]++;
            break;
          }
        continue;
      }
      if (nc == b->max_cands)
        break;
      b->flag[it] = 2;
      b->proposed[nc] = 1;
      b->cands[nc++] = it;
    }
  }
  for (int64_t k = 0; k < nh; k++)
    b->flag[hist[k]] = 0;
  for (int c = 0; c < nc; c++)
    b->flag[b->cands[c]] = 0;
  double t1 = split ? ts_now() : 0;
  for (int g = 0; g < TS_N_GEN; g++) {
    if (!s->gens[g] || ts_full_scores(mask, g) || ts_gens[g].feat_slot < 0)
      continue;
    rc = rec_score_items(s->gens[g], user, h_items, h_ratings, n_h, ref_ts, b->cands, nc, b->y,
                         b->scores[g]);
    if (rc)
      return rc;
    for (int c = 0; c < nc; c++) /* only the candidates' entries are read */
      b->scores[g][b->cands[c]] = b->y[c];
  }
  feat_user_input in;
  memset(&in, 0, sizeof(in));
  in.user = user;
  in.hist_items = h_items;
  in.hist_ratings = h_ratings;
  in.n_hist = n_h;
  in.ref_ts = ref_ts == REC_REF_END ? FEAT_REF_AUTO : ref_ts;
  for (int g = 0; g < TS_N_GEN; g++)
    if (ts_gens[g].feat_slot >= 0 && s->gens[g])
      in.gen_scores[ts_gens[g].feat_slot] = b->scores[g];
  in.cands = b->cands;
  in.proposed = b->proposed;
  in.n_cands = nc;
  in.drop_groups = s->drop;
  *n_cands = nc;
  rc = feat_compute(s->feat, b->scratch, &in, b->x);
  if (split) {
    double t2 = ts_now();
    split->candidates_us += (t1 - t0) * 1e6;
    split->features_us += (t2 - t1) * 1e6;
  }
  return rc;
}

/* A data-set user's most recent rated movies (at most TS_CROSS_HIST, oldest first) and their
 * ratings, for the cross ranker. */
static int ts_recent(const ts_state *s, ts_buf *b, int32_t user) {
  const int32_t *hist;
  int64_t nh;
  feat_history(s->feat, user, &hist, &nh);
  int64_t first = nh > TS_CROSS_HIST ? nh - TS_CROSS_HIST : 0;
  for (int64_t k = first; k < nh; k++) {
    b->h_items[k - first] = hist[k];
    b->h_ratings[k - first] = csr_get(s->hist_ui, user, hist[k]);
  }
  return (int)(nh - first);
}

/* Scores the candidates in b (from ts_user_rows) with the cross ranker into b->pred. */
static int ts_cross_predict(const ts_state *s, ts_buf *b, int32_t user, const int32_t *h_items,
                            const float *h_ratings, int n_h, int nc) {
  cross_group g = {h_items, h_ratings, n_h, b->cands, b->x, NULL, nc};
  int rc;
  if (!b->cws && (rc = cross_ws_create(s->cross, &b->cws)))
    return rc;
  if (user >= 0) {
    g.hist = b->h_items;
    g.hist_ratings = b->h_ratings;
    g.n_hist = ts_recent(s, b, user);
  }
  return cross_predict(s->cross, b->cws, &g, b->pred);
}

/* The caller's parameters of generator kind (names "kind.param" in p), overlaid on the kind's
 * fixed evaluation parameters; 0 in *given when p names none of them. */
static int ts_given_params(const rec_params *p, const char *kind, rec_params *out, int *given) {
  const eval_config *c = eval_generator_config(kind);
  int rc = rec_params_parse(c ? c->params : "", out);
  size_t kl = strlen(kind);
  *given = 0;
  for (int i = 0; !rc && i < p->n; i++)
    if (!strncmp(p->kv[i].name, kind, kl) && p->kv[i].name[kl] == '.') {
      rc = rec_params_set(out, p->kv[i].name + kl + 1, p->kv[i].value);
      *given = 1;
    }
  return rc;
}

/* Each wanted generator's parameters: given by the caller, else (tune != 0) searched in its
 * evaluation space on the cut (train part d1, validation ratings valid), else its fixed ones. */
static int ts_choose_params(ts_state *s, const rec_params *p, const rec_train_data *d1,
                            const csr *valid, int tune) {
  for (int g = 0; g < TS_N_GEN; g++) {
    int given = 0, rc;
    s->gen_tuned[g] = 0;
    if (!ts_wanted(s, g))
      continue;
    if ((rc = ts_given_params(p, ts_gens[g].kind, &s->gen_params[g], &given)))
      return rc;
    const eval_config *c = eval_generator_config(ts_gens[g].kind);
    if (given || !tune || !c || !c->grid || !*c->grid)
      continue;
    tune_cut cut = {d1, valid, 10};
    tune_result t;
    if ((rc = tune_search(ts_gens[g].kind, &s->gen_params[g], c->grid, &cut, 0, NULL, &t)))
      return rc;
    s->gen_params[g] = t.best;
    s->gen_tuned[g] = 1;
  }
  return MR_OK;
}

/* Fits (or takes from the cache) every wanted generator on d with its chosen parameters. Kinds
 * not registered are skipped (their feature columns stay missing). */
static int ts_fit_generators(ts_state *s, const rec_train_data *d) {
  for (int g = 0; g < TS_N_GEN; g++) {
    if (!ts_wanted(s, g)) {
      s->gens[g] = NULL;
      continue;
    }
    int rc = rec_fit_cached(d->cache, ts_gens[g].kind, &s->gen_params[g], d, &s->gens[g]);
    if (rc == MR_ENOTFOUND) {
      s->gens[g] = NULL;
      continue;
    }
    if (rc)
      return rc;
    s->owned[g] = d->cache == NULL;
  }
  if (!s->gens[0])
    return MR_ENOTFOUND; /* ALS is the backbone of every configuration */
  return MR_OK;
}

static void ts_release_generators(ts_state *s) {
  for (int g = 0; g < TS_N_GEN; g++) {
    if (s->owned[g])
      rec_free(s->gens[g]);
    s->gens[g] = NULL;
    s->owned[g] = 0;
  }
}

/* per_user_ref: the rule of d's protocol while fitting (model.h); a loaded pipeline serves as of
 * the end of its data. */
static int ts_build_feat(ts_state *s, const rec_train_data *d, int per_user_ref) {
  const float *emb = NULL;
  int dim = 0;
  for (int g = 0; g < TS_N_GEN; g++)
    if (s->gens[g] && ts_gens[g].feat_slot == FEAT_GEN_CONTENT &&
        rec_item_embeddings(s->gens[g], &emb, &dim) != MR_OK)
      emb = NULL;
  feat_ctx_free(s->feat);
  s->feat = NULL;
  return feat_ctx_create(d->ds, d->ratings, d->n_ratings, d->ui, d->iu, emb, dim, per_user_ref,
                         &s->feat);
}

/* One user's labelled group, kept until the groups are concatenated in user order. */
typedef struct ts_group {
  float *x, *y;
  int32_t *cands; /* kept for the cross ranker */
  int32_t *hist;  /* the user's recent movies and ratings (cross ranker) */
  float *hist_ratings;
  int n, n_hist;
} ts_group;

/* Whether user u's group may train the ranker: all users, or a seeded sample of about
 * rank_users of them (on large data the ranker needs far fewer groups than there are users, and
 * every group costs candidates, features and memory: 150 rows x 37 floats). */
static int ts_rank_user(const ts_state *s, int32_t u, int32_t n_users) {
  if (s->rank_users <= 0 || s->rank_users >= n_users)
    return 1;
  uint64_t h = s->rank_seed ^ ((uint64_t)u * 0x9e3779b97f4a7c15ULL);
  return mr_splitmix64(&h) % (uint64_t)n_users < (uint64_t)s->rank_users;
}

/* Builds ranking groups for users with labels in `target` (users x items, graded ratings). */
static int ts_build_groups(const ts_state *s, const csr *target, ts_group *groups) {
  int failed = MR_OK;
  int nf = feat_count();
#pragma omp parallel
  {
    ts_buf *b = NULL;
    if (ts_buf_create(s, &b)) {
#pragma omp atomic write
      failed = MR_ENOMEM;
    }
#pragma omp for schedule(dynamic, 8)
    for (int32_t u = 0; u < target->n_rows; u++) {
      if (!b || failed || target->indptr[u + 1] == target->indptr[u] ||
          !ts_rank_user(s, u, target->n_rows))
        continue;
      int nc = 0;
      int rc = ts_user_rows(s, b, u, NULL, NULL, 0, REC_REF_END, 0, &nc, NULL);
      if (rc) {
#pragma omp atomic write
        failed = rc;
        continue;
      }
      float pos = 0;
      for (int c = 0; c < nc; c++) {
        float r = csr_get(target, u, b->cands[c]);
        b->y[c] = s->binary_labels ? (r > 0) : r;
        pos += b->y[c];
      }
      if (pos <= 0) /* a group with no relevant candidate teaches the ranker nothing */
        continue;
      groups[u].x = malloc((size_t)nc * (size_t)nf * sizeof(float));
      groups[u].y = malloc((size_t)nc * sizeof(float));
      if (!groups[u].x || !groups[u].y) {
#pragma omp atomic write
        failed = MR_ENOMEM;
        continue;
      }
      memcpy(groups[u].x, b->x, (size_t)nc * (size_t)nf * sizeof(float));
      memcpy(groups[u].y, b->y, (size_t)nc * sizeof(float));
      groups[u].n = nc;
      if (s->rankers & TS_RANKER_CROSS) {
        int nh = ts_recent(s, b, u);
        groups[u].cands = malloc((size_t)nc * sizeof(int32_t));
        groups[u].hist = malloc(((size_t)nh + 1) * sizeof(int32_t));
        groups[u].hist_ratings = malloc(((size_t)nh + 1) * sizeof(float));
        if (!groups[u].cands || !groups[u].hist || !groups[u].hist_ratings) {
#pragma omp atomic write
          failed = MR_ENOMEM;
          continue;
        }
        memcpy(groups[u].cands, b->cands, (size_t)nc * sizeof(int32_t));
        memcpy(groups[u].hist, b->h_items, (size_t)nh * sizeof(int32_t));
        memcpy(groups[u].hist_ratings, b->h_ratings, (size_t)nh * sizeof(float));
        groups[u].n_hist = nh;
      }
    }
    ts_buf_free(b);
  }
  return failed;
}

/* Whether user u's groups are in the held-out fifth (early stopping, the cross ranker's epoch). */
static int ts_held_out(uint64_t seed, int32_t u) {
  uint64_t h = seed ^ (uint64_t)u;
  return mr_splitmix64(&h) % 5 == 0;
}

/* Concatenates groups[0..n) (per_user consecutive entries per user) whose user's hash bucket
 * matches `valid` (1 = the held-out fifth, 0 = the rest, -1 = every group) into d (malloc'ed x,
 * y, group sizes). */
static int ts_concat(const ts_group *groups, int32_t n, int per_user, uint64_t seed, int valid,
                     ltr_data *d, float **x, float **y, uint32_t **gs) {
  int nf = feat_count();
  int64_t rows = 0;
  int n_groups = 0;
  for (int32_t i = 0; i < n; i++)
    if (groups[i].n && (valid < 0 || ts_held_out(seed, i / per_user) == valid)) {
      rows += groups[i].n;
      n_groups++;
    }
  *x = malloc(((size_t)rows + 1) * (size_t)nf * sizeof(float));
  *y = malloc(((size_t)rows + 1) * sizeof(float));
  *gs = malloc(((size_t)n_groups + 1) * sizeof(uint32_t));
  if (!*x || !*y || !*gs)
    return MR_ENOMEM;
  int64_t r = 0;
  int g = 0;
  for (int32_t i = 0; i < n; i++) {
    if (!groups[i].n || (valid >= 0 && ts_held_out(seed, i / per_user) != valid))
      continue;
    memcpy(*x + (size_t)r * nf, groups[i].x, (size_t)groups[i].n * (size_t)nf * sizeof(float));
    memcpy(*y + r, groups[i].y, (size_t)groups[i].n * sizeof(float));
    (*gs)[g++] = (uint32_t)groups[i].n;
    r += groups[i].n;
  }
  *d = (ltr_data){*x, *y, *gs, rows, nf, n_groups};
  return MR_OK;
}

/* History lengths the cold-start ranker learns from (a new user's first ratings). */
static const int ts_cold_levels[] = {0, 1, 3, 5};
#define TS_N_COLD ((int)(sizeof(ts_cold_levels) / sizeof(ts_cold_levels[0])))

/* Cold-start groups: for every validation user with labels, their T minus V history cut to its
 * first k ratings (k in ts_cold_levels, at most cold_max), scored as a history as of the user's
 * reference time with the cold candidates; groups[u * TS_N_COLD + l]. */
static int ts_build_cold_groups(const ts_state *s, const csr *target, ts_group *groups) {
  int failed = MR_OK;
  int nf = feat_count();
#pragma omp parallel
  {
    ts_buf *b = NULL;
    int32_t hi[8];
    float hr[8];
    if (ts_buf_create(s, &b)) {
#pragma omp atomic write
      failed = MR_ENOMEM;
    }
#pragma omp for schedule(dynamic, 8)
    for (int32_t u = 0; u < target->n_rows; u++) {
      if (!b || failed || target->indptr[u + 1] == target->indptr[u] ||
          !ts_rank_user(s, u, target->n_rows))
        continue;
      const int32_t *hist;
      int64_t nh;
      feat_history(s->feat, u, &hist, &nh);
      int64_t ref = feat_ref_per_user(s->feat) ? feat_user_ref_time(s->feat, u) : REC_REF_END;
      for (int l = 0; l < TS_N_COLD; l++) {
        int k = ts_cold_levels[l];
        if (k > s->cold_max || k > nh || k > 8)
          continue;
        for (int j = 0; j < k; j++) {
          hi[j] = hist[j];
          hr[j] = csr_get(s->hist_ui, u, hist[j]);
        }
        int nc = 0, rc = ts_user_rows(s, b, -1, hi, hr, k, ref, 1, &nc, NULL);
        if (rc) {
#pragma omp atomic write
          failed = rc;
          break;
        }
        float pos = 0;
        for (int c = 0; c < nc; c++) {
          float r = csr_get(target, u, b->cands[c]);
          b->y[c] = s->binary_labels ? (r > 0) : r;
          pos += b->y[c];
        }
        if (pos <= 0)
          continue;
        ts_group *g = &groups[(size_t)u * TS_N_COLD + l];
        g->x = malloc((size_t)nc * (size_t)nf * sizeof(float));
        g->y = malloc((size_t)nc * sizeof(float));
        if (!g->x || !g->y) {
#pragma omp atomic write
          failed = MR_ENOMEM;
          break;
        }
        memcpy(g->x, b->x, (size_t)nc * (size_t)nf * sizeof(float));
        memcpy(g->y, b->y, (size_t)nc * sizeof(float));
        g->n = nc;
      }
    }
    ts_buf_free(b);
  }
  return failed;
}

/* Trains the cold-start ranker with the warm ranker's settings o on every cold group. */
static int ts_train_cold(ts_state *s, const ltr_opts *o, const csr *labels) {
  size_t n = (size_t)labels->n_rows * TS_N_COLD;
  ts_group *groups = calloc(n + 1, sizeof(*groups));
  float *x = NULL, *y = NULL;
  uint32_t *gs = NULL;
  ltr_data d;
  char err[512] = "";
  int rc = groups ? MR_OK : MR_ENOMEM;
  if (!rc)
    rc = ts_build_cold_groups(s, labels, groups);
  if (!rc)
    rc = ts_concat(groups, (int32_t)n, TS_N_COLD, o->seed, -1, &d, &x, &y, &gs);
  if (!rc && d.n_groups == 0)
    rc = MR_EEMPTY;
  if (!rc) {
    ltr_opts co = *o;
    co.early_stopping = 0;
    rc = ltr_train(&co, &d, NULL, feat_names(), &s->cold, err, sizeof(err));
    s->stats.cold_groups = d.n_groups;
  }
  for (size_t i = 0; groups && i < n; i++) {
    free(groups[i].x);
    free(groups[i].y);
  }
  free(groups);
  free(x);
  free(y);
  free(gs);
  return rc;
}

static void ts_free(void *state) {
  ts_state *s = state;
  if (!s)
    return;
  while (s->pool) {
    ts_buf *b = s->pool;
    s->pool = b->next;
    ts_buf_free(b);
  }
  pthread_mutex_destroy(&s->pool_mu);
  ts_release_generators(s);
  feat_ctx_free(s->feat);
  ltr_free(s->ranker);
  ltr_free(s->cold);
  cross_free(s->cross);
  free(s);
}

/* Per-movie side features for the cross ranker: genre bits, then the content and graph
 * embeddings when those generators were fitted (rows L2-normalized so no source dominates).
 * *side is malloc'ed (n_items x *n_side). */
static int ts_cross_side(const ts_state *s, float **side, int *n_side) {
  const float *emb[2] = {NULL, NULL};
  int dims[2] = {0, 0};
  const int which[2] = {2, 1}; /* content, gcn (ts_gens order) */
  for (int k = 0; k < 2; k++)
    if (s->gens[which[k]] && rec_item_embeddings(s->gens[which[k]], &emb[k], &dims[k]) != MR_OK) {
      emb[k] = NULL;
      dims[k] = 0;
    }
  int ng = s->ds->n_genres, ns = ng + dims[0] + dims[1];
  float *out = calloc((size_t)s->n_items * (size_t)ns + 1, sizeof(float));
  if (!out)
    return MR_ENOMEM;
  for (int32_t i = 0; i < s->n_items; i++) {
    float *row = out + (size_t)i * ns;
    for (int g = 0; g < ng; g++)
      row[g] = (float)((s->ds->movies[i].genres >> g) & 1u);
    int at = ng;
    for (int k = 0; k < 2; k++) {
      if (!emb[k])
        continue;
      const float *e = emb[k] + (size_t)i * dims[k];
      double nrm = 0;
      for (int j = 0; j < dims[k]; j++)
        nrm += (double)e[j] * e[j];
      float inv = nrm > 0 && isfinite(nrm) ? (float)(1.0 / sqrt(nrm)) : 0.0f;
      for (int j = 0; j < dims[k]; j++)
        row[at + j] = e[j] * inv;
      at += dims[k];
    }
  }
  *side = out;
  *n_side = ns;
  return MR_OK;
}

/* Trains the cross ranker on the same groups as LambdaMART: the same fifth of the users (hash
 * bucket) is held out, here to pick the epoch. */
static int ts_train_cross(ts_state *s, const rec_params *p, const ts_group *groups, int32_t n_users,
                          uint64_t seed) {
  cross_opts o;
  cross_opts_default(&o);
  o.dim = (int)rec_params_get(p, "cross_dim", o.dim);
  o.hidden = (int)rec_params_get(p, "cross_hidden", o.hidden);
  o.epochs = (int)rec_params_get(p, "cross_epochs", o.epochs);
  o.lr = (float)rec_params_get(p, "cross_lr", o.lr);
  o.l2 = (float)rec_params_get(p, "cross_l2", o.l2);
  o.max_hist = TS_CROSS_HIST;
  o.seed = seed;
  float *side = NULL;
  int n_side = 0, nt = 0, nv = 0;
  cross_group *g = calloc((size_t)n_users + 1, sizeof(*g));
  int rc = g ? ts_cross_side(s, &side, &n_side) : MR_ENOMEM;
  if (rc)
    goto done;
  /* train groups first, held-out groups from the end, both in user order */
  for (int32_t u = 0; u < n_users; u++) {
    if (!groups[u].n)
      continue;
    uint64_t h = seed ^ (uint64_t)u;
    int is_valid = mr_splitmix64(&h) % 5 == 0;
    cross_group *dst = is_valid ? &g[n_users - 1 - nv++] : &g[nt++];
    *dst = (cross_group){groups[u].hist,   groups[u].hist_ratings,
                         groups[u].n_hist, groups[u].cands,
                         groups[u].x,      groups[u].y,
                         groups[u].n};
  }
  /* the held-out groups were stored backwards: restore user order */
  for (int k = 0; k < nv / 2; k++) {
    cross_group t = g[n_users - nv + k];
    g[n_users - nv + k] = g[n_users - 1 - k];
    g[n_users - 1 - k] = t;
  }
  cross_shape sh = {s->n_items, n_side, side, feat_count()};
  cross_fit_info info;
  double t0 = ts_now();
  if ((rc = cross_create(&o, &sh, &s->cross)) ||
      (rc = cross_fit(s->cross, g, nt, g + n_users - nv, nv, &info)))
    goto done;
  s->stats.cross_seconds = ts_now() - t0;
  s->stats.cross_epochs = info.best_epoch ? info.best_epoch : info.epochs_run;
  s->stats.cross_valid_ndcg = info.best_valid_ndcg;
done:
  free(side);
  free(g);
  return rc;
}

static int ts_train_ranker(ts_state *s, const rec_params *p, const csr *labels) {
  ts_group *groups = calloc((size_t)labels->n_rows + 1, sizeof(*groups));
  float *tx = NULL, *ty = NULL, *vx = NULL, *vy = NULL;
  uint32_t *tg = NULL, *vg = NULL;
  ltr_data td, vd;
  ltr_opts o;
  char err[512] = "";
  int rc;
  if (!groups)
    return MR_ENOMEM;
  double t0 = ts_now();
  if ((rc = ts_build_groups(s, labels, groups)))
    goto done;
  ltr_opts_default(&o);
  /* a fixed forest: early stopping on a fifth of the groups stopped after a handful of trees
   * on noise and made the ranker unstable */
  o.trees = (int)rec_params_get(p, "trees", 150);
  o.max_depth = (int)rec_params_get(p, "depth", 6);
  o.eta = (float)rec_params_get(p, "eta", 0.1);
  o.min_child_weight = (float)rec_params_get(p, "min_child", o.min_child_weight);
  o.early_stopping = (int)rec_params_get(p, "early_stop", 0);
  o.seed = (uint64_t)rec_params_get(p, "seed", 42);
  /* without early stopping the held-out fifth trains LambdaMART too (the cross ranker still
   * holds it out to pick its epoch) */
  if ((rc = ts_concat(groups, labels->n_rows, 1, o.seed, o.early_stopping ? 0 : -1, &td, &tx, &ty,
                      &tg)) ||
      (rc = ts_concat(groups, labels->n_rows, 1, o.seed, 1, &vd, &vx, &vy, &vg)))
    goto done;
  s->stats.features_seconds = ts_now() - t0;
  s->stats.train_groups = td.n_groups;
  s->stats.train_rows = (long)td.n_rows;
  if (td.n_groups == 0) {
    rc = MR_EEMPTY;
    goto done;
  }
  if (s->rankers & TS_RANKER_LTR) {
    t0 = ts_now();
    rc = ltr_train(&o, &td, o.early_stopping && vd.n_groups ? &vd : NULL, feat_names(), &s->ranker,
                   err, sizeof(err));
    s->stats.ranker_seconds = ts_now() - t0;
    if (rc)
      goto done;
    s->stats.trees = ltr_n_trees(s->ranker);
  }
  if (!rc && s->cold_on && (s->rankers & TS_RANKER_LTR)) {
    t0 = ts_now();
    rc = ts_train_cold(s, &o, labels);
    s->stats.ranker_seconds += ts_now() - t0;
  }
  if (!rc && (s->rankers & TS_RANKER_CROSS))
    rc = ts_train_cross(s, p, groups, labels->n_rows, o.seed);
done:
  for (int32_t u = 0; u < labels->n_rows; u++) {
    free(groups[u].x);
    free(groups[u].y);
    free(groups[u].cands);
    free(groups[u].hist);
    free(groups[u].hist_ratings);
  }
  free(groups);
  free(tx);
  free(ty);
  free(tg);
  free(vx);
  free(vy);
  free(vg);
  return rc;
}

static int ts_fit(const rec_params *p, const rec_train_data *d, void **state) {
  ts_state *s = calloc(1, sizeof(*s));
  split_result *cut = NULL;
  csr *ui1 = NULL, *iu1 = NULL, *labels = NULL;
  int rc = MR_ENOMEM;
  if (!s)
    return rc;
  pthread_mutex_init(&s->pool_mu, NULL);
  s->ds = d->ds;
  s->n_users = d->ui->n_rows;
  s->n_items = d->ui->n_cols;
  s->gens_mask = (int)rec_params_get(p, "gens", 1);
  s->per_gen = (int)rec_params_get(p, "per_gen", 100);
  if (s->per_gen > s->n_items)
    s->per_gen = s->n_items; /* a small catalogue: every item is a candidate */
  s->fgens_mask = (int)rec_params_get(p, "fgens", (1 << TS_N_GEN) - 1);
  s->drop = (int)rec_params_get(p, "drop", 0);
  int tune_gens = (int)rec_params_get(p, "tune_gens", 1);
  s->cold_on = (int)rec_params_get(p, "cold", 0) != 0;
  s->cold_max = (int)rec_params_get(p, "cold_max", 5);
  s->cold_gens = (int)rec_params_get(p, "cold_gens", 8);
  s->binary_labels = rec_params_get(p, "label", 1) == 1;
  s->rank_users = (int)rec_params_get(p, "rank_users", 0);
  s->pop_penalty = rec_params_get(p, "pop_penalty", 0);
  s->pop_col = ts_pop_col();
  int ranker = (int)rec_params_get(p, "ranker", 0);
  s->rankers = ranker == 0   ? TS_RANKER_LTR
               : ranker == 1 ? TS_RANKER_CROSS
                             : TS_RANKER_LTR | TS_RANKER_CROSS;
  s->which = ranker == 1 ? TS_RANKER_CROSS : TS_RANKER_LTR;
  uint64_t seed = (uint64_t)rec_params_get(p, "seed", 42);
  s->rank_seed = seed ^ 0x72616e6bULL;
  if (!d->ds || ranker < 0 || ranker > 2 || s->gens_mask <= 0 || s->gens_mask >= (1 << TS_N_GEN) ||
      s->fgens_mask < 0 || s->fgens_mask >= (1 << TS_N_GEN) || s->per_gen < 1 ||
      s->rank_users < 0 || !(s->pop_penalty >= 0) || s->pop_penalty > 1e6 || s->cold_max < 0 ||
      s->cold_max > 8 || s->cold_gens < 0 || s->cold_gens >= (1 << TS_N_GEN)) {
    rc = MR_EINVAL;
    goto fail;
  }
  /* 1. the validation cut, mirroring the protocol */
  double t0 = ts_now();
  if ((rc = split_validation((split_kind)d->protocol, d->ratings, d->n_ratings, s->n_users, 0.2,
                             seed, &cut)) ||
      (rc = csr_from_ratings(cut->train, cut->n_train, s->n_users, s->n_items, 0, &ui1)) ||
      (rc = csr_transpose(ui1, &iu1)) ||
      (rc = csr_from_ratings(cut->test, cut->n_test, s->n_users, s->n_items, 0, &labels)))
    goto fail;
  rec_train_data d1 = {.ds = d->ds,
                       .ratings = cut->train,
                       .n_ratings = cut->n_train,
                       .ui = ui1,
                       .iu = iu1,
                       .cache = d->cache,
                       .protocol = d->protocol};
  /* 2. generators tuned on (T minus V -> V), fitted with features on T minus V; the ranker on
   * V's candidates */
  s->hist_ui = ui1;
  if ((rc = ts_choose_params(s, p, &d1, labels, tune_gens)) || (rc = ts_fit_generators(s, &d1)) ||
      (rc = ts_build_feat(s, &d1, rec_ref_per_user(&d1))))
    goto fail;
  s->stats.generators_seconds = ts_now() - t0;
  if ((rc = ts_train_ranker(s, p, labels)))
    goto fail;
  /* 3. refit on all of train for serving */
  ts_release_generators(s);
  t0 = ts_now();
  s->hist_ui = d->ui;
  if ((rc = ts_fit_generators(s, d)) || (rc = ts_build_feat(s, d, rec_ref_per_user(d))))
    goto fail;
  s->stats.generators_seconds += ts_now() - t0;
  csr_free(ui1);
  csr_free(iu1);
  csr_free(labels);
  split_free(cut);
  *state = s;
  return MR_OK;
fail:
  csr_free(ui1);
  csr_free(iu1);
  csr_free(labels);
  split_free(cut);
  ts_free(s);
  return rc;
}

/* Mean and standard deviation (1 when flat) of v[0], v[stride], ... over n values. */
static void ts_moments(const float *v, int n, int stride, double *mean, double *sd) {
  double s1 = 0, s2 = 0;
  for (int c = 0; c < n; c++)
    s1 += v[(size_t)c * stride];
  *mean = n ? s1 / n : 0;
  for (int c = 0; c < n; c++) {
    double d = v[(size_t)c * stride] - *mean;
    s2 += d * d;
  }
  *sd = n > 1 && s2 > 0 ? sqrt(s2 / n) : 1;
}

/* Trades the ranker's order for less popular candidates: both sides standardized over the
 * user's candidates, so one pop_penalty means the same on any score scale. A missing
 * popularity column (an ablation that blanks it) leaves the order alone. */
static void ts_pop_adjust(const ts_state *s, ts_buf *b, int nc) {
  int nf = feat_count();
  if (s->pop_penalty <= 0 || s->pop_col < 0 || nc < 2 || b->x[s->pop_col] != b->x[s->pop_col])
    return;
  double mp, sp, ml, sl;
  ts_moments(b->pred, nc, 1, &mp, &sp);
  ts_moments(b->x + s->pop_col, nc, nf, &ml, &sl);
  for (int c = 0; c < nc; c++)
    b->pred[c] = (float)((b->pred[c] - mp) / sp -
                         s->pop_penalty * (b->x[(size_t)c * nf + s->pop_col] - ml) / sl);
}

int ts_set_pop_penalty(rec_model *m, double penalty) {
  ts_state *s = rec_state_of(m, "two_stage");
  if (!s || !(penalty >= 0) || penalty > 1e6)
    return MR_EINVAL;
  s->pop_penalty = penalty;
  return MR_OK;
}

/* Candidates and their ranker scores for one user into b (b->cands, b->pred, *nc). */
static int ts_rank(const ts_state *s, ts_buf *b, int which, int32_t user, const int32_t *items,
                   const float *ratings, int n, int64_t ref_ts, int *nc, ts_serve_split *split) {
  if (which == 0)
    which = s->which;
  if (which != TS_RANKER_LTR && which != TS_RANKER_CROSS)
    return MR_EINVAL;
  if ((which == TS_RANKER_LTR && !s->ranker) || (which == TS_RANKER_CROSS && !s->cross))
    return MR_ENOTFOUND;
  int cold = which == TS_RANKER_LTR && ts_cold_row(s, user, n);
  int rc = ts_user_rows(s, b, user, items, ratings, n, ref_ts, cold, nc, split);
  if (rc)
    return rc;
  double t0 = split ? ts_now() : 0;
  if (which == TS_RANKER_CROSS)
    rc = ts_cross_predict(s, b, user, items, ratings, n, *nc);
  else
    ltr_predict(cold ? s->cold : s->ranker, b->x, *nc, b->pred);
  if (!rc)
    ts_pop_adjust(s, b, *nc);
  if (split && !rc) {
    split->ranker_us += (ts_now() - t0) * 1e6;
    split->candidates += *nc;
  }
  return rc;
}

/* Every movie's score from b's ranked candidates: candidates get the ranker's score; every other
 * movie sits far below, ordered by ALS. */
static void ts_fill_scores(const ts_state *s, const ts_buf *b, int nc, float *scores) {
  for (int32_t i = 0; i < s->n_items; i++)
    scores[i] = -1e6f + b->scores[0][i] * 1e-3f;
  for (int c = 0; c < nc; c++)
    scores[b->cands[c]] = b->pred[c];
}

static int ts_score(const ts_state *cs, int which, int32_t user, const int32_t *items,
                    const float *ratings, int n, int64_t ref_ts, float *scores,
                    ts_serve_split *split) {
  ts_state *s = (ts_state *)cs; /* only the buffer pool changes, under its mutex */
  ts_buf *b = NULL;
  int nc = 0;
  int rc = ts_buf_take(s, &b);
  if (rc)
    return rc;
  if (!(rc = ts_rank(s, b, which, user, items, ratings, n, ref_ts, &nc, split)))
    ts_fill_scores(s, b, nc, scores);
  ts_buf_give(s, b);
  return rc;
}

int ts_score_split(const rec_model *m, int32_t user, const int32_t *items, const float *ratings,
                   int n, float *scores, ts_serve_split *split) {
  const ts_state *s = rec_state_of(m, "two_stage");
  if (!s || (user < 0 && n < 0) || user >= s->n_users)
    return MR_EINVAL;
  for (int k = 0; user < 0 && k < n; k++)
    if (items[k] < 0 || items[k] >= s->n_items)
      return MR_ERANGE;
  return ts_score(s, 0, user, items, ratings, n, REC_REF_END, scores, split);
}

static int ts_score_user(const void *state, int32_t user, float *scores) {
  const ts_state *s = state;
  if (user < 0 || user >= s->n_users)
    return MR_ERANGE;
  return ts_score(s, 0, user, NULL, NULL, 0, REC_REF_END, scores, NULL);
}

static int ts_score_history_at(const void *state, const int32_t *items, const float *ratings, int n,
                               int64_t ref_ts, float *scores) {
  const ts_state *s = state;
  for (int k = 0; k < n; k++)
    if (items[k] < 0 || items[k] >= s->n_items)
      return MR_ERANGE;
  return ts_score(s, 0, -1, items, ratings, n, ref_ts, scores, NULL);
}

static int ts_score_history(const void *state, const int32_t *items, const float *ratings, int n,
                            float *scores) {
  return ts_score_history_at(state, items, ratings, n, REC_REF_END, scores);
}

static int32_t ts_n_items(const void *state) {
  return ((const ts_state *)state)->n_items;
}

const rec_ops rec_two_stage_ops = {
    .kind = "two_stage",
    .fit = ts_fit,
    .score_user = ts_score_user,
    .score_history = ts_score_history,
    .score_history_at = ts_score_history_at,
    /* no single-file save/load: the features read the training history (ts_save_parts) */
    .n_items = ts_n_items,
    .free = ts_free,
};

int ts_save_parts(const rec_model *m, const char *dir) {
  const ts_state *s = rec_state_of(m, "two_stage");
  char path[4096];
  int rc;
  if (!s)
    return MR_EINVAL;
  json_t *gens = json_array(), *gparams = json_object();
  if (!gens || !gparams) {
    json_decref(gens);
    json_decref(gparams);
    return MR_ENOMEM;
  }
  for (int g = 0; g < TS_N_GEN; g++) {
    if (!s->gens[g])
      continue;
    snprintf(path, sizeof(path), "%s/%s.bin", dir, ts_gens[g].kind);
    if ((rc = rec_save(s->gens[g], path))) {
      json_decref(gens);
      json_decref(gparams);
      return rc;
    }
    char buf[1024];
    rec_params_format(&s->gen_params[g], buf, sizeof(buf));
    json_array_append_new(gens, json_string(ts_gens[g].kind));
    json_object_set_new(gparams, ts_gens[g].kind,
                        json_pack("{s:s, s:b}", "params", buf, "tuned", s->gen_tuned[g]));
  }
  snprintf(path, sizeof(path), "%s/ranker.bin", dir);
  if ((s->ranker && (rc = ltr_save(s->ranker, path))) ||
      (snprintf(path, sizeof(path), "%s/cold_ranker.bin", dir),
       s->cold && (rc = ltr_save(s->cold, path))) ||
      (snprintf(path, sizeof(path), "%s/cross.bin", dir),
       s->cross && (rc = cross_save(s->cross, path)))) {
    json_decref(gens);
    json_decref(gparams);
    return rc;
  }
  json_t *root = json_pack("{s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:i, s:s}", "gens", s->gens_mask,
                           "fgens", s->fgens_mask, "per_gen", s->per_gen, "drop", s->drop, "label",
                           s->binary_labels, "generators", gens, "generator_params", gparams,
                           "trees", s->ranker ? ltr_n_trees(s->ranker) : 0, "ranker",
                           s->which == TS_RANKER_CROSS ? "cross" : "ltr");
  if (!root)
    return MR_ENOMEM;
  if (s->cold)
    json_object_set_new(root, "cold",
                        json_pack("{s:i, s:i}", "max_history", s->cold_max, "gens", s->cold_gens));
  if (s->pop_penalty > 0)
    json_object_set_new(root, "pop_penalty", json_real(s->pop_penalty));
  snprintf(path, sizeof(path), "%s/two_stage.json", dir);
  rc = json_dump_file(root, path, JSON_INDENT(2)) ? MR_EIO : MR_OK;
  json_decref(root);
  return rc;
}

int ts_load_parts(const char *dir, const rec_train_data *history, rec_model **out, char *err,
                  size_t errlen) {
  char path[4096];
  json_error_t jerr;
  ts_state *s = calloc(1, sizeof(*s));
  rec_model *m = NULL;
  int rc = MR_ENOMEM;
  if (!s)
    return rc;
  pthread_mutex_init(&s->pool_mu, NULL);
  snprintf(path, sizeof(path), "%s/two_stage.json", dir);
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root) {
    rec_set_err(err, errlen, "%s: %s", path, jerr.text);
    rc = MR_EFORMAT;
    goto fail;
  }
  s->ds = history->ds;
  s->n_users = history->ui->n_rows;
  s->n_items = history->ui->n_cols;
  s->gens_mask = (int)json_integer_value(json_object_get(root, "gens"));
  s->per_gen = (int)json_integer_value(json_object_get(root, "per_gen"));
  s->drop = (int)json_integer_value(json_object_get(root, "drop"));
  json_t *fg = json_object_get(root, "fgens"); /* absent in versions before it existed: all */
  s->fgens_mask = fg ? (int)json_integer_value(fg) : (1 << TS_N_GEN) - 1;
  s->binary_labels = (int)json_integer_value(json_object_get(root, "label"));
  /* absent in versions before it existed: the ranker's order */
  s->pop_penalty = json_number_value(json_object_get(root, "pop_penalty"));
  s->pop_col = ts_pop_col();
  if (!(s->pop_penalty >= 0)) {
    rec_set_err(err, errlen, "%s: bad pop_penalty", path);
    json_decref(root);
    rc = MR_EFORMAT;
    goto fail;
  }
  const char *which = json_string_value(json_object_get(root, "ranker"));
  s->which = which && !strcmp(which, "cross") ? TS_RANKER_CROSS : TS_RANKER_LTR;
  json_t *cold = json_object_get(root, "cold"); /* a cold-start ranker (cold_ranker.bin) */
  if (cold) {
    s->cold_on = 1;
    s->cold_max = (int)json_integer_value(json_object_get(cold, "max_history"));
    s->cold_gens = (int)json_integer_value(json_object_get(cold, "gens"));
  }
  /* the generators' parameters, for what the version reports (absent in older versions) */
  json_t *gp = json_object_get(root, "generator_params");
  for (int g = 0; g < TS_N_GEN && gp; g++) {
    json_t *e = json_object_get(gp, ts_gens[g].kind);
    const char *text = json_string_value(json_object_get(e, "params"));
    if (text && rec_params_parse(text, &s->gen_params[g]) != MR_OK) {
      rec_set_err(err, errlen, "%s: bad parameters of %s", path, ts_gens[g].kind);
      json_decref(root);
      rc = MR_EFORMAT;
      goto fail;
    }
    s->gen_tuned[g] = json_is_true(json_object_get(e, "tuned"));
  }
  json_decref(root);
  if (s->gens_mask <= 0 || s->gens_mask >= (1 << TS_N_GEN) || s->fgens_mask < 0 ||
      s->fgens_mask >= (1 << TS_N_GEN) || s->per_gen < 1 || s->per_gen > s->n_items ||
      s->cold_max < 0 || s->cold_max > 8 || s->cold_gens < 0 || s->cold_gens >= (1 << TS_N_GEN)) {
    rec_set_err(err, errlen, "%s: bad parameters", path);
    rc = MR_EFORMAT;
    goto fail;
  }
  for (int g = 0; g < TS_N_GEN; g++) {
    snprintf(path, sizeof(path), "%s/%s.bin", dir, ts_gens[g].kind);
    if (!ts_wanted(s, g)) {
      s->gens[g] = NULL;
      continue;
    }
    rc = rec_load(path, &s->gens[g], err, errlen);
    if (rc == MR_ENOTFOUND && g != 0 && !((s->gens_mask >> g) & 1)) {
      s->gens[g] = NULL; /* a feature-only generator that was not built: its columns stay NaN */
      continue;
    }
    if (rc)
      goto fail;
    s->owned[g] = 1;
    if (rec_n_items(s->gens[g]) != s->n_items) {
      rec_set_err(err, errlen, "%s: %d movies, the data has %d", path, rec_n_items(s->gens[g]),
                  s->n_items);
      rc = MR_EFORMAT;
      goto fail;
    }
  }
  /* the default ranker must be there; the other one is optional (older versions lack cross.bin) */
  snprintf(path, sizeof(path), "%s/ranker.bin", dir);
  rc = ltr_load(path, &s->ranker, err, errlen);
  if (rc == MR_ENOTFOUND && s->which == TS_RANKER_CROSS)
    rc = MR_OK;
  if (rc)
    goto fail;
  if (s->cold_on) {
    snprintf(path, sizeof(path), "%s/cold_ranker.bin", dir);
    if ((rc = ltr_load(path, &s->cold, err, errlen)))
      goto fail;
    if (ltr_n_features(s->cold) != feat_count()) {
      rec_set_err(err, errlen, "%s: %d features, this build computes %d", path,
                  ltr_n_features(s->cold), feat_count());
      rc = MR_EFORMAT;
      goto fail;
    }
  }
  snprintf(path, sizeof(path), "%s/cross.bin", dir);
  rc = cross_load(path, &s->cross, err, errlen);
  if (rc == MR_ENOTFOUND && s->which == TS_RANKER_LTR)
    rc = MR_OK;
  if (rc)
    goto fail;
  if (s->cross &&
      (cross_n_feat(s->cross) != feat_count() || cross_n_items(s->cross) != s->n_items)) {
    rec_set_err(err, errlen, "%s: %d features x %d movies, this build and data have %d x %d", path,
                cross_n_feat(s->cross), cross_n_items(s->cross), feat_count(), s->n_items);
    rc = MR_EFORMAT;
    goto fail;
  }
  snprintf(path, sizeof(path), "%s/ranker.bin", dir);
  if (s->ranker && ltr_n_features(s->ranker) != feat_count()) {
    rec_set_err(err, errlen, "%s: %d features, this build computes %d", path,
                ltr_n_features(s->ranker), feat_count());
    rc = MR_EFORMAT;
    goto fail;
  }
  s->hist_ui = history->ui;
  if ((rc = ts_build_feat(s, history, 0)))
    goto fail;
  if ((rc = rec_wrap_state(&rec_two_stage_ops, s, &m)))
    return rc; /* rec_wrap_state freed s */
  *out = m;
  return MR_OK;
fail:
  ts_free(s);
  return rc;
}

int ts_generator_params(const rec_model *m, char *buf, size_t len) {
  const ts_state *s = rec_state_of(m, "two_stage");
  if (!s || !buf || !len)
    return MR_EINVAL;
  size_t used = 0;
  buf[0] = '\0';
  for (int g = 0; g < TS_N_GEN; g++) {
    if (!s->gens[g])
      continue;
    char p[1024];
    rec_params_format(&s->gen_params[g], p, sizeof(p));
    int w = snprintf(buf + used, len - used, "%s%s:%s", used ? ";" : "", ts_gens[g].kind, p);
    if (w < 0 || (size_t)w >= len - used)
      return MR_ERANGE;
    used += (size_t)w;
  }
  return MR_OK;
}

int ts_candidate_gens(const rec_model *m, const rec_model **gens, int max, int *n) {
  const ts_state *s = rec_state_of(m, "two_stage");
  *n = 0;
  if (!s || max < TS_N_GEN)
    return MR_EINVAL;
  for (int g = 0; g < TS_N_GEN; g++)
    if ((s->gens_mask & (1 << g)) && s->gens[g])
      gens[(*n)++] = s->gens[g];
  return MR_OK;
}

const ltr_model *ts_ranker(const rec_model *m) {
  const ts_state *s = rec_state_of(m, "two_stage");
  return s ? s->ranker : NULL;
}

int ts_stats(const rec_model *m, ts_fit_stats *out) {
  const ts_state *s = rec_state_of(m, "two_stage");
  if (!s)
    return MR_EINVAL;
  *out = s->stats;
  return MR_OK;
}

int ts_has_ranker(const rec_model *m, int which) {
  const ts_state *s = rec_state_of(m, "two_stage");
  if (!s)
    return 0;
  return which == TS_RANKER_LTR     ? s->ranker != NULL
         : which == TS_RANKER_CROSS ? s->cross != NULL
         : which == TS_RANKER_COLD  ? s->cold != NULL
                                    : 0;
}

/* A request's user (dense index, or -1 with a history) and history items are in range. */
static int ts_check_request(const ts_state *s, int32_t user, const int32_t *items, int n) {
  if (user >= s->n_users)
    return MR_ERANGE;
  for (int k = 0; k < n; k++)
    if (items[k] < 0 || items[k] >= s->n_items)
      return MR_ERANGE;
  return MR_OK;
}

int ts_score_with(const rec_model *m, int which, int32_t user, const int32_t *items,
                  const float *ratings, int n, float *scores) {
  const ts_state *s = rec_state_of(m, "two_stage");
  if (!s)
    return MR_EINVAL;
  int rc = ts_check_request(s, user, items, n);
  return rc ? rc : ts_score(s, which, user, items, ratings, n, REC_REF_END, scores, NULL);
}

int ts_top_n(const rec_model *m, int which, int32_t user, const int32_t *items,
             const float *ratings, int n_hist, const uint8_t *exclude, int n, float *scores,
             int32_t *top, float *top_scores) {
  ts_state *s = rec_state_of(m, "two_stage");
  if (!s || n < 1 || !scores || !top)
    return MR_EINVAL;
  int rc = ts_check_request(s, user, items, n_hist);
  if (rc)
    return rc;
  ts_buf *b = NULL;
  int nc = 0, got = 0;
  if ((rc = ts_buf_take(s, &b)))
    return rc;
  if ((rc = ts_rank(s, b, which, user, items, ratings, n_hist, REC_REF_END, &nc, NULL)))
    goto done;
  /* every non-candidate scores below every candidate, so with n candidates left the answer is
   * among them: rank those instead of the catalogue (same keys, same ties) */
  uint64_t *keys = b->keys;
  int m_left = 0;
  for (int c = 0; c < nc; c++)
    if (!(exclude && exclude[b->cands[c]]) && b->pred[c] == b->pred[c])
      keys[m_left++] = mr_rank_key(b->pred[c], (uint32_t)b->cands[c]);
  if (m_left >= n) {
    mr_select_rank_keys(keys, (size_t)m_left, (size_t)n);
    mr_sort_rank_keys(keys, (size_t)n, keys + m_left);
    for (int c = 0; c < nc; c++)
      scores[b->cands[c]] = b->pred[c];
    for (int k = 0; k < n; k++) {
      top[k] = (int32_t)mr_rank_key_index(keys[k]);
      if (top_scores)
        top_scores[k] = scores[top[k]];
    }
    got = n;
  } else {
    ts_fill_scores(s, b, nc, scores);
    got = rec_top_n(scores, s->n_items, exclude, n, top, top_scores);
  }
done:
  ts_buf_give(s, b);
  return rc ? rc : got;
}
