/* Ranker features from a rating history: user, movie, user-movie and generator-score columns. */
#include "rank/features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#undef I /* complex.h, pulled in by cblas.h: this file names the imdb group I */

#include "core/mr_error.h"
#include "core/mr_sort.h"
#include "data/asof.h"

#define FEAT_RECENT 10  /* recent movies for the similarity features */
#define FEAT_CAST_TOP 5 /* billed cast members that count */
#define FEAT_DAY 86400.0

enum {
  G = FEAT_GROUP_GENERATOR,
  U = FEAT_GROUP_USER,
  M = FEAT_GROUP_MOVIE,
  I = FEAT_GROUP_IMDB,
  UM = FEAT_GROUP_USER_MOVIE
};

/* Column order is the order of this table; feat_compute writes the same order. */
static const feat_def feat_defs[] = {
    {"als_score", G, "ALS score <x_u, y_i>"},
    {"als_rank", G, "rank of the ALS score among the user's candidates (1 = best)"},
    {"gcn_score", G, "graph model (LightGCN) score"},
    {"gcn_rank", G, "rank of the graph score among the candidates"},
    {"content_score", G | I, "content model (TF-IDF + SVD) cosine to the user's profile"},
    {"content_rank", G | I, "rank of the content score among the candidates"},
    {"genre_score", G, "genre preference x weighted rating score"},
    {"genre_rank", G, "rank of the genre score among the candidates"},
    {"itemknn_score", G, "item-kNN cosine score"},
    {"itemknn_rank", G, "rank of the item-kNN score among the candidates"},
    {"ease_score", G, "EASE score"},
    {"ease_rank", G, "rank of the EASE score among the candidates"},
    {"n_generators", G, "how many generators proposed the movie"},
    {"user_log_activity", U, "log(1 + number of the user's ratings)"},
    {"user_mean_rating", U, "the user's mean rating"},
    {"user_rating_std", U, "standard deviation of the user's ratings"},
    {"user_tenure_days", U, "days between the user's first and last rating"},
    {"user_age", U, "age (u.user)"},
    {"user_gender_male", U, "1 male, 0 female (u.user)"},
    {"user_occupation", U, "occupation index (u.user)"},
    {"movie_log_popularity", M, "log(1 + ratings of the movie up to the user's last rating)"},
    {"movie_mean_rating", M, "mean rating of the movie up to the user's last rating"},
    {"movie_pop_7d", M, "ratings of the movie in the 7 days up to the user's last rating"},
    {"movie_pop_30d", M, "ratings of the movie in the 30 days up to the user's last rating"},
    {"imdb_rating", M | I, "IMDb mean rating (1-10)"},
    {"imdb_log_votes", M | I, "log(1 + IMDb vote count)"},
    {"weighted_rating", M | I, "IMDb weighted rating v/(v+m) R + m/(v+m) C"},
    {"runtime_min", M | I, "runtime in minutes (IMDb)"},
    {"release_year", M, "release year"},
    {"genre_count", M, "number of genres of the movie"},
    {"genre_affinity", UM, "the user's genre shares summed over the movie's genres, / genres"},
    {"year_distance", UM, "|release year - mean release year of the user's movies|"},
    {"popularity_vs_habit", UM,
     "log popularity minus the mean log popularity of the user's movies"},
    {"max_sim_recent", UM | I, "max content similarity to the user's 10 most recent movies"},
    {"mean_sim_recent", UM | I, "mean content similarity to the user's 10 most recent movies"},
    {"same_director_liked", UM | I, "directors shared with movies the user rated >= 4"},
    {"same_cast_liked", UM | I, "top-5 cast members shared with movies the user rated >= 4"},
};
#define FEAT_N ((int)(sizeof(feat_defs) / sizeof(feat_defs[0])))

int feat_count(void) {
  return FEAT_N;
}
const feat_def *feat_table(void) {
  return feat_defs;
}

const char *const *feat_names(void) {
  static const char *names[FEAT_N];
  for (int f = 0; f < FEAT_N; f++)
    names[f] = feat_defs[f].name;
  return names;
}

struct feat_ctx {
  const mr_dataset *ds;
  int32_t n_users, n_movies;
  /* history grouped by user, each user's slice in (ts, item) order */
  int64_t *u_ptr;
  int32_t *u_item;
  float *u_rating;
  int64_t *u_ts;
  /* per movie: the ratings over time, for popularity as of a reference time */
  asof_index *asof;
  int per_user_ref; /* 1: a user's reference time is their latest rating, 0: latest_ts */
  float *m_wr;
  float *m_logvotes; /* the imdb_log_votes feature per movie */
  float *log_count;  /* log1p(k) for k = 0 .. the most ratings of a movie (log popularity) */
  int64_t latest_ts;
  /* people: directors and top cast mapped to dense ids */
  int32_t *dir_ptr, *dir_ids, *cast_ptr, *cast_ids;
  int32_t n_people;
  const float *emb;
  int emb_dim;
  double *u_mean_logpop; /* per training user, as of their reference time */
};

struct feat_scratch {
  int32_t *mark; /* per person: stamp of the last user that liked them */
  int32_t stamp;
  float *recent_emb; /* FEAT_RECENT x dim: the user's recent movies */
  float *cand_emb;   /* cap x dim: the candidates' embeddings, then */
  float *sims;       /* cap x FEAT_RECENT: their similarities to the recent movies */
  int cap;
  uint64_t *order; /* sort keys: order-preserving score bits (high), candidate (low) */
  float *genre_share;
  /* per candidate (n_movies + 1 each): ratings up to "now", 7 and 30 days before, rating sum */
  int64_t *pop_now, *pop_7d, *pop_30d;
  double *pop_rsum;
  int32_t *pop_span; /* 3 x (n_movies + 1): ratings in the bucket of each lookup */
};

/* ---- people dictionary (open addressing on name hashes) ---- */

typedef struct feat_dict {
  const char **keys;
  int32_t *vals;
  size_t cap;
  int32_t n;
} feat_dict;

static uint64_t feat_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  while (*s)
    h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
  return h;
}

static int32_t feat_dict_id(feat_dict *d, const char *key) {
  size_t i = feat_hash(key) & (d->cap - 1);
  while (d->keys[i]) {
    if (!strcmp(d->keys[i], key))
      return d->vals[i];
    i = (i + 1) & (d->cap - 1);
  }
  d->keys[i] = key;
  d->vals[i] = d->n;
  return d->n++;
}

static int feat_build_people(feat_ctx *c) {
  const mr_dataset *ds = c->ds;
  size_t total = 0;
  for (int32_t m = 0; m < c->n_movies; m++)
    total += (size_t)ds->movies[m].directors.n +
             (size_t)(ds->movies[m].cast.n < FEAT_CAST_TOP ? ds->movies[m].cast.n : FEAT_CAST_TOP);
  feat_dict d = {0};
  d.cap = 16;
  while (d.cap < 2 * total + 16)
    d.cap <<= 1;
  d.keys = calloc(d.cap, sizeof(*d.keys));
  d.vals = calloc(d.cap, sizeof(*d.vals));
  c->dir_ptr = calloc((size_t)c->n_movies + 1, sizeof(int32_t));
  c->cast_ptr = calloc((size_t)c->n_movies + 1, sizeof(int32_t));
  c->dir_ids = malloc((total + 1) * sizeof(int32_t));
  c->cast_ids = malloc((total + 1) * sizeof(int32_t));
  int rc = MR_ENOMEM;
  if (!d.keys || !d.vals || !c->dir_ptr || !c->cast_ptr || !c->dir_ids || !c->cast_ids)
    goto done;
  int32_t nd = 0, nc = 0;
  for (int32_t m = 0; m < c->n_movies; m++) {
    const mr_movie *mv = &ds->movies[m];
    for (int k = 0; k < mv->directors.n; k++)
      c->dir_ids[nd++] = feat_dict_id(&d, mv->directors.items[k]);
    for (int k = 0; k < mv->cast.n && k < FEAT_CAST_TOP; k++)
      c->cast_ids[nc++] = feat_dict_id(&d, mv->cast.items[k]);
    c->dir_ptr[m + 1] = nd;
    c->cast_ptr[m + 1] = nc;
  }
  c->n_people = d.n;
  rc = MR_OK;
done:
  free(d.keys);
  free(d.vals);
  return rc;
}

/* ---- context ---- */

void feat_ctx_free(feat_ctx *c) {
  if (!c)
    return;
  free(c->u_ptr);
  free(c->u_item);
  free(c->u_rating);
  free(c->u_ts);
  asof_free(c->asof);
  free(c->m_wr);
  free(c->m_logvotes);
  free(c->log_count);
  free(c->dir_ptr);
  free(c->dir_ids);
  free(c->cast_ptr);
  free(c->cast_ids);
  free(c->u_mean_logpop);
  free(c);
}

/* Mean log(1 + as-of popularity) of a history's movies, "now" being t. */
static double feat_mean_logpop(const feat_ctx *c, const int32_t *items, int64_t n, int64_t t) {
  double acc = 0;
  for (int64_t k = 0; k < n; k++)
    acc += log1p((double)asof_count(c->asof, items[k], t, NULL));
  return n ? acc / (double)n : NAN;
}

static int feat_cmp_f64(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* A training user's reference time (model.h): their latest rating under per-user times, else
 * the end of the history. */
static int64_t feat_user_ref(const feat_ctx *c, int32_t u) {
  int64_t e = c->u_ptr[u + 1];
  return c->per_user_ref && e > c->u_ptr[u] ? c->u_ts[e - 1] : c->latest_ts;
}

/* WR per movie; m = 80th percentile of IMDb votes, C = mean IMDb rating. */
static int feat_weighted_ratings(feat_ctx *c) {
  const mr_dataset *ds = c->ds;
  double *votes = malloc(((size_t)c->n_movies + 1) * sizeof(double)), sum_r = 0;
  int n = 0;
  if (!votes)
    return MR_ENOMEM;
  for (int32_t m = 0; m < c->n_movies; m++)
    if (ds->movies[m].has_imdb && ds->movies[m].imdb_votes > 0 && ds->movies[m].imdb_rating > 0) {
      votes[n++] = ds->movies[m].imdb_votes;
      sum_r += ds->movies[m].imdb_rating;
    }
  double mq = 0, cmean = 0;
  if (n) {
    qsort(votes, (size_t)n, sizeof(double), feat_cmp_f64);
    mq = votes[(size_t)(0.8 * (n - 1))];
    cmean = sum_r / n;
  }
  for (int32_t m = 0; m < c->n_movies; m++) {
    const mr_movie *mv = &ds->movies[m];
    if (mv->has_imdb && mv->imdb_votes > 0 && mv->imdb_rating > 0) {
      double v = mv->imdb_votes;
      c->m_wr[m] = (float)(v / (v + mq) * mv->imdb_rating + mq / (v + mq) * cmean);
    } else {
      c->m_wr[m] = NAN;
    }
    c->m_logvotes[m] = mv->has_imdb && mv->imdb_votes > 0 ? (float)log1p(mv->imdb_votes) : NAN;
  }
  free(votes);
  return MR_OK;
}

int feat_ctx_create(const mr_dataset *ds, const mr_rating *r, size_t n, const csr *ui,
                    const csr *iu, const float *item_emb, int emb_dim, int per_user_ref,
                    feat_ctx **out) {
  (void)iu;
  feat_ctx *c = calloc(1, sizeof(*c));
  int rc = MR_ENOMEM;
  if (!c)
    return rc;
  c->ds = ds;
  c->n_users = ui->n_rows;
  c->n_movies = ui->n_cols;
  c->emb = item_emb;
  c->emb_dim = item_emb ? emb_dim : 0;
  c->per_user_ref = per_user_ref != 0;
  if (c->n_movies != ds->n_movies || c->n_users > ds->n_users) {
    rc = MR_EINVAL;
    goto fail;
  }
  c->u_ptr = calloc((size_t)c->n_users + 1, sizeof(int64_t));
  c->u_item = malloc((n + 1) * sizeof(int32_t));
  c->u_rating = malloc((n + 1) * sizeof(float));
  c->u_ts = malloc((n + 1) * sizeof(int64_t));
  c->m_wr = calloc((size_t)c->n_movies, sizeof(float));
  c->m_logvotes = calloc((size_t)c->n_movies + 1, sizeof(float));
  int64_t *fill = malloc(((size_t)c->n_users + 1) * sizeof(int64_t));
  if (!c->u_ptr || !c->u_item || !c->u_rating || !c->u_ts || !c->m_wr || !c->m_logvotes || !fill) {
    free(fill);
    goto fail;
  }
  for (size_t i = 0; i < n; i++) {
    if (r[i].user < 0 || r[i].user >= c->n_users || r[i].item < 0 || r[i].item >= c->n_movies) {
      free(fill);
      rc = MR_ERANGE;
      goto fail;
    }
    c->u_ptr[r[i].user + 1]++;
    if (r[i].ts > c->latest_ts)
      c->latest_ts = r[i].ts;
  }
  for (int32_t u = 0; u < c->n_users; u++)
    c->u_ptr[u + 1] += c->u_ptr[u];
  memcpy(fill, c->u_ptr, (size_t)c->n_users * sizeof(int64_t));
  for (size_t i = 0; i < n; i++) {
    int64_t p = fill[r[i].user]++;
    c->u_item[p] = r[i].item;
    c->u_rating[p] = r[i].rating;
    c->u_ts[p] = r[i].ts;
  }
  free(fill);
  if ((rc = asof_create(r, n, c->n_movies, &c->asof)))
    goto fail;
  int64_t most = asof_max_count(c->asof);
  rc = MR_ENOMEM;
  if (!(c->log_count = malloc(((size_t)most + 1) * sizeof(float))))
    goto fail;
  for (int64_t k = 0; k <= most; k++)
    c->log_count[k] = (float)log1p((double)k);
  /* each user's slice by (ts, item): insertion sort, slices are short and often sorted */
  for (int32_t u = 0; u < c->n_users; u++)
    for (int64_t i = c->u_ptr[u] + 1; i < c->u_ptr[u + 1]; i++) {
      int32_t it = c->u_item[i];
      float rt = c->u_rating[i];
      int64_t ts = c->u_ts[i], j = i - 1;
      while (j >= c->u_ptr[u] && (c->u_ts[j] > ts || (c->u_ts[j] == ts && c->u_item[j] > it))) {
        c->u_item[j + 1] = c->u_item[j];
        c->u_rating[j + 1] = c->u_rating[j];
        c->u_ts[j + 1] = c->u_ts[j];
        j--;
      }
      c->u_item[j + 1] = it;
      c->u_rating[j + 1] = rt;
      c->u_ts[j + 1] = ts;
    }
  if ((rc = feat_weighted_ratings(c)) || (rc = feat_build_people(c)))
    goto fail;
  /* a per-user constant that costs one search per rated movie: once here, not per request */
  if (!(c->u_mean_logpop = malloc(((size_t)c->n_users + 1) * sizeof(double)))) {
    rc = MR_ENOMEM;
    goto fail;
  }
#pragma omp parallel for schedule(dynamic, 32)
  for (int32_t u = 0; u < c->n_users; u++) {
    int64_t b = c->u_ptr[u], e = c->u_ptr[u + 1];
    c->u_mean_logpop[u] = feat_mean_logpop(c, c->u_item + b, e - b, feat_user_ref(c, u));
  }
  *out = c;
  return MR_OK;
fail:
  feat_ctx_free(c);
  return rc;
}

int feat_ref_per_user(const feat_ctx *c) {
  return c->per_user_ref;
}

int64_t feat_user_ref_time(const feat_ctx *c, int32_t u) {
  return u >= 0 && u < c->n_users ? feat_user_ref(c, u) : c->latest_ts;
}

void feat_history(const feat_ctx *c, int32_t user, const int32_t **items, int64_t *n) {
  if (user < 0 || user >= c->n_users) {
    *items = NULL;
    *n = 0;
    return;
  }
  *items = c->u_item + c->u_ptr[user];
  *n = c->u_ptr[user + 1] - c->u_ptr[user];
}

int feat_scratch_create(const feat_ctx *c, feat_scratch **out) {
  feat_scratch *s = calloc(1, sizeof(*s));
  if (!s)
    return MR_ENOMEM;
  s->mark = calloc((size_t)c->n_people + 1, sizeof(int32_t));
  s->order = malloc(((size_t)c->n_movies + 1) * 2 * sizeof(uint64_t)); /* keys + radix tmp */
  s->genre_share = calloc(MR_MAX_GENRES, sizeof(float));
  size_t nm = (size_t)c->n_movies + 1;
  s->pop_now = malloc(nm * sizeof(int64_t));
  s->pop_7d = malloc(nm * sizeof(int64_t));
  s->pop_30d = malloc(nm * sizeof(int64_t));
  s->pop_rsum = malloc(nm * sizeof(double));
  s->pop_span = malloc(3 * nm * sizeof(int32_t));
  if (!s->mark || !s->order || !s->genre_share || !s->pop_now || !s->pop_7d || !s->pop_30d ||
      !s->pop_rsum || !s->pop_span) {
    feat_scratch_free(s);
    return MR_ENOMEM;
  }
  *out = s;
  return MR_OK;
}

void feat_scratch_free(feat_scratch *s) {
  if (!s)
    return;
  free(s->mark);
  free(s->recent_emb);
  free(s->cand_emb);
  free(s->sims);
  free(s->order);
  free(s->genre_share);
  free(s->pop_now);
  free(s->pop_7d);
  free(s->pop_30d);
  free(s->pop_rsum);
  free(s->pop_span);
  free(s);
}

/* The as-of counts of every candidate at three times (t_u, 7 and 30 days before) and the
 * rating sum up to t_u. */
static void feat_pop_batch(const feat_ctx *c, feat_scratch *s, const int32_t *cands, int n,
                           int64_t t_u) {
  const int64_t t[3] = {t_u, t_u - (int64_t)(7 * FEAT_DAY), t_u - (int64_t)(30 * FEAT_DAY)};
  int64_t *const out[3] = {s->pop_now, s->pop_7d, s->pop_30d};
  asof_count_batch(c->asof, cands, n, t, 3, out, s->pop_rsum, s->pop_span);
}

static int genre_count_of(uint32_t g) {
  return __builtin_popcount(g);
}

int feat_compute(const feat_ctx *c, feat_scratch *s, const feat_user_input *in, float *x) {
  const mr_dataset *ds = c->ds;
  const int32_t *items;
  const float *ratings;
  const int64_t *ts;
  int64_t n_h;
  if (in->n_cands < 0 || in->n_cands > c->n_movies)
    return MR_EINVAL;
  if (in->user >= 0) {
    if (in->user >= c->n_users)
      return MR_ERANGE;
    int64_t b = c->u_ptr[in->user];
    items = c->u_item + b;
    ratings = c->u_rating + b;
    ts = c->u_ts + b;
    n_h = c->u_ptr[in->user + 1] - b;
  } else {
    items = in->hist_items;
    ratings = in->hist_ratings;
    ts = in->hist_ts;
    n_h = in->n_hist;
  }
  /* user statistics, from the history alone */
  double sum = 0, sq = 0, year_sum = 0, genre_total = 0;
  int year_n = 0;
  memset(s->genre_share, 0, MR_MAX_GENRES * sizeof(float));
  if (++s->stamp == INT32_MAX) {
    memset(s->mark, 0, ((size_t)c->n_people + 1) * sizeof(int32_t));
    s->stamp = 1;
  }
  /* "now" for this user (model.h): popularity never counts later ratings. A history-only user
   * gives it (ref_ts), else it is the latest time of the history under per-user times. */
  int64_t t_u;
  if (in->user >= 0)
    t_u = feat_user_ref(c, in->user);
  else if (in->ref_ts != FEAT_REF_AUTO)
    t_u = in->ref_ts < c->latest_ts ? in->ref_ts : c->latest_ts;
  else
    t_u = c->per_user_ref && n_h && ts ? ts[n_h - 1] : c->latest_ts;
  for (int64_t k = 0; k < n_h; k++) {
    int32_t m = items[k];
    if (m < 0 || m >= c->n_movies)
      return MR_ERANGE;
    sum += ratings[k];
    sq += (double)ratings[k] * ratings[k];
    if (ds->movies[m].year > 0) {
      year_sum += ds->movies[m].year;
      year_n++;
    }
    uint32_t g = ds->movies[m].genres;
    for (int b = 0; g; b++, g >>= 1)
      if (g & 1) {
        s->genre_share[b] += 1.0f;
        genre_total += 1.0;
      }
    if (ratings[k] >= 4.0f) {
      for (int32_t p = c->dir_ptr[m]; p < c->dir_ptr[m + 1]; p++)
        s->mark[c->dir_ids[p]] = s->stamp;
      for (int32_t p = c->cast_ptr[m]; p < c->cast_ptr[m + 1]; p++)
        s->mark[c->cast_ids[p]] = s->stamp;
    }
  }
  if (genre_total > 0)
    for (int b = 0; b < MR_MAX_GENRES; b++)
      s->genre_share[b] /= (float)genre_total;
  double mean = n_h ? sum / (double)n_h : NAN;
  double var = n_h ? sq / (double)n_h - mean * mean : NAN;
  float u_std = n_h ? (float)sqrt(var > 0 ? var : 0) : NAN;
  float tenure = n_h && ts ? (float)((double)(ts[n_h - 1] - ts[0]) / FEAT_DAY) : NAN;
  float mean_year = year_n ? (float)(year_sum / year_n) : NAN;
  float mean_logpop = in->user >= 0 ? (float)c->u_mean_logpop[in->user]
                                    : (float)feat_mean_logpop(c, items, n_h, t_u);
  const mr_user *usr = in->user >= 0 ? &ds->users[in->user] : NULL;
  int64_t recent_b = n_h > FEAT_RECENT ? n_h - FEAT_RECENT : 0;

  /* similarities of every candidate to the recent movies: one small matrix product */
  int n_recent = (int)(n_h - recent_b);
  if (c->emb && n_h) {
    int d = c->emb_dim;
    if (in->n_cands > s->cap) {
      float *ce = realloc(s->cand_emb, (size_t)in->n_cands * (size_t)d * sizeof(float));
      if (ce)
        s->cand_emb = ce;
      float *sm = realloc(s->sims, (size_t)in->n_cands * FEAT_RECENT * sizeof(float));
      if (sm)
        s->sims = sm;
      if (!ce || !sm)
        return MR_ENOMEM;
      s->cap = in->n_cands;
    }
    if (!s->recent_emb &&
        !(s->recent_emb = malloc((size_t)FEAT_RECENT * (size_t)d * sizeof(float))))
      return MR_ENOMEM;
    for (int k = 0; k < n_recent; k++)
      memcpy(s->recent_emb + (size_t)k * d, c->emb + (size_t)items[recent_b + k] * d,
             (size_t)d * sizeof(float));
    for (int ci = 0; ci < in->n_cands; ci++) {
      if (in->cands[ci] < 0 || in->cands[ci] >= c->n_movies)
        return MR_ERANGE;
      memcpy(s->cand_emb + (size_t)ci * d, c->emb + (size_t)in->cands[ci] * d,
             (size_t)d * sizeof(float));
    }
    if (in->n_cands > 0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, in->n_cands, n_recent, d, 1.0f,
                  s->cand_emb, d, s->recent_emb, d, 0.0f, s->sims, FEAT_RECENT);
  }

  const int nf = FEAT_N;
  for (int ci = 0; ci < in->n_cands; ci++)
    if (in->cands[ci] < 0 || in->cands[ci] >= c->n_movies)
      return MR_ERANGE;
  feat_pop_batch(c, s, in->cands, in->n_cands, t_u);
  const float log_nh = (float)log1p((double)n_h);
  for (int ci = 0; ci < in->n_cands; ci++) {
    int32_t m = in->cands[ci];
    const mr_movie *mv = &ds->movies[m];
    float *row = x + (size_t)ci * nf;
    int f = 0;
    for (int g = 0; g < FEAT_N_GEN; g++) {
      row[f++] = in->gen_scores[g] ? in->gen_scores[g][m] : NAN;
      row[f++] = NAN; /* rank, filled below */
    }
    row[f++] = in->proposed ? (float)in->proposed[ci] : NAN;
    row[f++] = log_nh;
    row[f++] = (float)mean;
    row[f++] = u_std;
    row[f++] = tenure;
    row[f++] = usr && usr->age > 0 ? (float)usr->age : NAN;
    row[f++] = usr && usr->gender == 'M' ? 1.0f : usr && usr->gender == 'F' ? 0.0f : NAN;
    row[f++] = usr && usr->occupation >= 0 ? (float)usr->occupation : NAN;
    int64_t cnt = s->pop_now[ci];
    float logpop = c->log_count[cnt];
    row[f++] = logpop;
    row[f++] = cnt ? (float)(s->pop_rsum[ci] / (double)cnt) : NAN;
    row[f++] = (float)(cnt - s->pop_7d[ci]);
    row[f++] = (float)(cnt - s->pop_30d[ci]);
    int imdb = mv->has_imdb;
    row[f++] = imdb && mv->imdb_rating > 0 ? mv->imdb_rating : NAN;
    row[f++] = c->m_logvotes[m];
    row[f++] = c->m_wr[m];
    row[f++] = imdb && mv->runtime_min > 0 ? (float)mv->runtime_min : NAN;
    row[f++] = mv->year > 0 ? (float)mv->year : NAN;
    int gc = genre_count_of(mv->genres);
    row[f++] = (float)gc;
    float aff = 0;
    for (uint32_t g = mv->genres, b = 0; g; b++, g >>= 1)
      if (g & 1)
        aff += s->genre_share[b];
    row[f++] = gc ? aff / (float)gc : 0.0f;
    row[f++] = mv->year > 0 && mean_year == mean_year ? fabsf((float)mv->year - mean_year) : NAN;
    row[f++] = n_h ? logpop - mean_logpop : NAN;
    if (c->emb && n_h) {
      const float *sim = s->sims + (size_t)ci * FEAT_RECENT;
      float mx = -2.0f, acc = 0.0f;
      for (int k = 0; k < n_recent; k++) {
        mx = sim[k] > mx ? sim[k] : mx;
        acc += sim[k];
      }
      row[f++] = mx;
      row[f++] = acc / (float)n_recent;
    } else {
      row[f++] = NAN;
      row[f++] = NAN;
    }
    float sd = 0, sc = 0;
    for (int32_t p = c->dir_ptr[m]; p < c->dir_ptr[m + 1]; p++)
      sd += s->mark[c->dir_ids[p]] == s->stamp;
    for (int32_t p = c->cast_ptr[m]; p < c->cast_ptr[m + 1]; p++)
      sc += s->mark[c->cast_ids[p]] == s->stamp;
    row[f++] = imdb ? sd : NAN;
    row[f++] = imdb ? sc : NAN;
  }
  /* generator ranks among the candidates */
  for (int g = 0; g < FEAT_N_GEN; g++) {
    if (!in->gen_scores[g])
      continue;
    for (int ci = 0; ci < in->n_cands; ci++)
      s->order[ci] = mr_rank_key(in->gen_scores[g][in->cands[ci]], (uint32_t)ci);
    mr_sort_rank_keys_in_index_order(s->order, (size_t)in->n_cands, s->order + in->n_cands);
    for (int k = 0; k < in->n_cands; k++)
      x[(size_t)mr_rank_key_index(s->order[k]) * nf + 2 * g + 1] = (float)(k + 1);
  }
  if (in->drop_groups)
    for (int f = 0; f < nf; f++)
      if (feat_defs[f].groups & in->drop_groups)
        for (int ci = 0; ci < in->n_cands; ci++)
          x[(size_t)ci * nf + f] = NAN;
  return MR_OK;
}
