/* Genre preferences x IMDb weighted rating ("genre" kind): cold start and a cheap candidate source.
 */
#include "models/genre.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "data/asof.h"
#include "models/model_ops.h"
#include "models/modelfile.h"

#define GENRE_MAX MR_MAX_GENRES
#define GENRE_EXPLICIT_BONUS 10.0f /* > any WR (1-10): chosen genres always rank first */

struct genre_model {
  int32_t n_items, n_users;
  int n_genres;
  genre_opts o;
  float *quality;       /* n_items: WR */
  float *boost;         /* n_items: (1 + train count)^pop */
  int32_t *item_genres; /* n_items: bitmask (int32 for the model file) */
  float *prior;         /* n_genres: P(g) */
  float *user_lift;     /* n_users x n_genres: L_u(g), 1 for users without ratings */
  double m_imdb, m_ml, C;
  /* Fitted under per-user reference times (model.h): WR, boost and P(g) are recomputed from the
   * counts as of each user's time, so the model also keeps what they are made of. A loaded
   * model has none of these and scores as of the end of its data. */
  asof_index *asof;
  int64_t *ref;     /* n_users: each user's reference time */
  float *imdb_wr;   /* n_items: IMDb WR, NaN for movies without IMDb votes */
  float *user_acc;  /* n_users x n_genres: the rating-weighted genre mass of the user's history */
  float *user_wsum; /* n_users: its total weight */
  int any_imdb;
};

/* Per-call arrays of an as-of scoring (n_items each). */
typedef struct genre_work {
  float *count, *quality;
  double *sum, *tmp;
} genre_work;

void genre_opts_default(genre_opts *o) {
  o->m_quantile = 0.8;
  /* smooth, beta, pop: the validation optimum of both per-user splits (see eval.c) */
  o->smooth = 20.0;
  o->beta = 1.0;
  o->slope = 0.5;
  o->pop = 2.0;
}

void genre_opts_from_params(const rec_params *p, genre_opts *o) {
  genre_opts_default(o);
  o->m_quantile = rec_params_get(p, "m_quantile", o->m_quantile);
  o->smooth = rec_params_get(p, "smooth", o->smooth);
  o->beta = rec_params_get(p, "beta", o->beta);
  o->slope = rec_params_get(p, "slope", o->slope);
  o->pop = rec_params_get(p, "pop", o->pop);
}

static int genre_opts_valid(const genre_opts *o) {
  return o->m_quantile >= 0 && o->m_quantile <= 1 && o->smooth > 0 && isfinite(o->smooth) &&
         isfinite(o->beta) && isfinite(o->slope) && o->pop >= 0 && isfinite(o->pop);
}

double genre_weighted_rating(double v, double R, double m, double C) {
  if (v + m <= 0)
    return C;
  return v / (v + m) * R + m / (v + m) * C;
}

static int genre_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double genre_quantile(double *x, size_t n, double q) {
  if (!n)
    return 0.0;
  qsort(x, n, sizeof(*x), genre_cmp_double);
  double pos = q * (double)(n - 1);
  size_t lo = (size_t)floor(pos);
  if (lo >= n - 1)
    return x[n - 1];
  double frac = pos - (double)lo;
  return x[lo] + frac * (x[lo + 1] - x[lo]);
}

static int genre_has_imdb(const mr_movie *mv) {
  return mv->has_imdb && mv->imdb_votes > 0 && mv->imdb_rating > 0;
}

/* IMDb WR of every movie (NaN without usable IMDb votes), with m = the m_quantile quantile of
 * the votes and C = the mean IMDb rating; *any = 0 when no movie has IMDb votes. */
static int genre_imdb_wr(const mr_dataset *ds, double m_quantile, float *wr, double *m_imdb,
                         double *C, int *any) {
  int32_t n = ds->n_movies;
  double *tmp = malloc(((size_t)n + 1) * sizeof(double));
  if (!tmp)
    return MR_ENOMEM;
  size_t k = 0;
  double rsum = 0;
  for (int32_t i = 0; i < n; i++)
    if (genre_has_imdb(&ds->movies[i])) {
      tmp[k++] = ds->movies[i].imdb_votes;
      rsum += ds->movies[i].imdb_rating;
    }
  double mi = genre_quantile(tmp, k, m_quantile), c = k ? rsum / (double)k : 0.0;
  free(tmp);
  for (int32_t i = 0; i < n; i++) {
    const mr_movie *mv = &ds->movies[i];
    wr[i] = genre_has_imdb(mv)
                ? (float)genre_weighted_rating(mv->imdb_votes, mv->imdb_rating, mi, c)
                : NAN;
  }
  *m_imdb = mi;
  *C = c;
  *any = k > 0;
  return MR_OK;
}

/* WR of every movie from the IMDb WR and the MovieLens counts and rating sums per movie (train
 * ratings up to some time): a movie without IMDb votes falls back to its MovieLens count and
 * mean, shrunk by m' (the m_quantile quantile of the counts) toward C. Without any IMDb row
 * the prior mean C comes from MovieLens ratings on the same 1-10 scale. tmp: n doubles. */
static void genre_quality_from(const genre_model *m, const float *count, const double *sum,
                               float *quality, double *tmp, double *m_ml, double *C) {
  int32_t n = m->n_items;
  double c = m->C;
  if (!m->any_imdb) {
    double cs = 0, cc = 0;
    for (int32_t i = 0; i < n; i++) {
      cs += sum[i];
      cc += count[i];
    }
    c = cc > 0 ? 1.0 + (cs / cc - 1.0) * 9.0 / 4.0 : 5.5;
  }
  size_t kc = 0;
  for (int32_t i = 0; i < n; i++)
    if (count[i] > 0)
      tmp[kc++] = count[i];
  double mm = genre_quantile(tmp, kc, m->o.m_quantile);
  for (int32_t i = 0; i < n; i++) {
    double wr;
    if (m->imdb_wr[i] == m->imdb_wr[i])
      wr = m->imdb_wr[i];
    else if (count[i] > 0)
      wr = genre_weighted_rating(count[i], 1.0 + (sum[i] / count[i] - 1.0) * 9.0 / 4.0, mm, c);
    else
      wr = c;
    quality[i] = (float)wr;
  }
  if (m_ml)
    *m_ml = mm;
  if (C)
    *C = c;
}

static int genre_popcount(uint32_t x) {
  return __builtin_popcount(x);
}

static int genre_alloc(int32_t n_items, int32_t n_users, int n_genres, genre_model **out) {
  genre_model *m = calloc(1, sizeof(*m));
  if (!m)
    return MR_ENOMEM;
  m->n_items = n_items;
  m->n_users = n_users;
  m->n_genres = n_genres;
  m->quality = calloc((size_t)n_items + 1, sizeof(float));
  m->boost = calloc((size_t)n_items + 1, sizeof(float));
  m->item_genres = calloc((size_t)n_items + 1, sizeof(int32_t));
  m->prior = calloc((size_t)n_genres + 1, sizeof(float));
  m->user_lift = calloc((size_t)n_users * (size_t)n_genres + 1, sizeof(float));
  if (!m->quality || !m->boost || !m->item_genres || !m->prior || !m->user_lift) {
    genre_free(m);
    return MR_ENOMEM;
  }
  *out = m;
  return MR_OK;
}

void genre_free(genre_model *m) {
  if (!m)
    return;
  asof_free(m->asof);
  free(m->ref);
  free(m->imdb_wr);
  free(m->user_acc);
  free(m->user_wsum);
  free(m->quality);
  free(m->boost);
  free(m->item_genres);
  free(m->prior);
  free(m->user_lift);
  free(m);
}

/* The rating-weighted genre mass acc[g] of one history and its total weight *wsum: each rating
 * r weighs 1 + slope * (r - the history's mean) (dropped when <= 0), spread over its genres. */
static void genre_history_acc(const genre_model *m, const int32_t *items, const float *ratings,
                              int n, double *acc, double *wsum) {
  int G = m->n_genres;
  double mean = 0;
  for (int g = 0; g < G; g++)
    acc[g] = 0;
  *wsum = 0;
  int used = 0;
  for (int j = 0; j < n; j++)
    if (items[j] >= 0 && items[j] < m->n_items) {
      mean += ratings[j];
      used++;
    }
  mean = used ? mean / used : 0;
  for (int j = 0; j < n; j++) {
    if (items[j] < 0 || items[j] >= m->n_items)
      continue;
    uint32_t gm = (uint32_t)m->item_genres[items[j]];
    int k = genre_popcount(gm);
    double w = 1.0 + m->o.slope * (ratings[j] - mean);
    if (w <= 0 || !k)
      continue;
    *wsum += w;
    for (int g = 0; g < G; g++)
      if (gm >> g & 1u)
        acc[g] += w / k;
  }
}

/* Lift L(g) = p(g) / P(g) from a history's genre mass; wsum == 0 (no usable history) gives 1
 * everywhere. */
static void genre_lift_from(const genre_model *m, const double *acc, double wsum,
                            const float *prior, float *lift) {
  for (int g = 0; g < m->n_genres; g++) {
    double P = prior[g];
    double p = (acc[g] + m->o.smooth * P) / (wsum + m->o.smooth);
    lift[g] = (float)(p / P);
  }
}

static void genre_history_lift(const genre_model *m, const int32_t *items, const float *ratings,
                               int n, double *acc, float *lift) {
  double wsum;
  genre_history_acc(m, items, ratings, n, acc, &wsum);
  genre_lift_from(m, acc, wsum, m->prior, lift);
}

/* P(g): the genre mix of the rated movies given per-movie counts; Laplace +1 keeps every
 * P(g) > 0 for the lift. acc: n_genres doubles. */
static void genre_prior_from(const genre_model *m, const float *count, double *acc, float *prior) {
  int G = m->n_genres;
  double total = 0;
  for (int g = 0; g < G; g++)
    acc[g] = 0;
  for (int32_t i = 0; i < m->n_items; i++) {
    uint32_t gm = (uint32_t)m->item_genres[i];
    int k = genre_popcount(gm);
    if (!k)
      continue;
    for (int g = 0; g < G; g++)
      if (gm >> g & 1u)
        acc[g] += count[i] / k;
    total += count[i];
  }
  for (int g = 0; g < G; g++)
    prior[g] = (float)((acc[g] + 1.0) / (total + G));
}

/* A movie's mean lift over its genres raised to beta (1 without genres). */
static double genre_affinity(const genre_model *m, const float *lift, int32_t i) {
  uint32_t gm = (uint32_t)m->item_genres[i] & (m->n_genres < 32 ? (1u << m->n_genres) - 1 : ~0u);
  double a = 0;
  int k = 0;
  for (; gm; gm &= gm - 1, k++)
    a += lift[__builtin_ctz(gm)];
  a = k ? a / k : 1.0;
  /* beta is 1 in most configurations: skip pow's cost there */
  return m->o.beta == 1.0 ? a : pow(a, m->o.beta);
}

/* score = WR * (1 + count)^pop * A^beta, A = mean lift over the movie's genres. */
static float genre_item_score(const genre_model *m, const float *lift, int32_t i) {
  return (float)(m->quality[i] * m->boost[i] * genre_affinity(m, lift, i));
}

static void genre_work_free(genre_work *w) {
  free(w->count);
  free(w->quality);
  free(w->sum);
  free(w->tmp);
}

static int genre_work_alloc(const genre_model *m, genre_work *w) {
  size_t n = (size_t)m->n_items + 1;
  w->count = malloc(n * sizeof(float));
  w->quality = malloc(n * sizeof(float));
  w->sum = malloc(n * sizeof(double));
  w->tmp = malloc(n * sizeof(double));
  if (!w->count || !w->quality || !w->sum || !w->tmp) {
    genre_work_free(w);
    return MR_ENOMEM;
  }
  return MR_OK;
}

/* Whether scoring at ref_ts needs the as-of path (an earlier time than the end of the data). */
static int genre_needs_asof(const genre_model *m, int64_t ref_ts) {
  return m->asof && ref_ts < asof_end(m->asof);
}

/* Scores as of ref_ts from a genre mass (acc, wsum): every movie into scores (items == NULL) or
 * items[0..n) into scores[0..n). WR, the boost and P(g) from the counts at ref_ts. */
static int genre_score_asof(const genre_model *m, int64_t ref_ts, const double *acc, double wsum,
                            const int32_t *items, int n, float *scores) {
  genre_work w;
  float prior[GENRE_MAX], lift[GENRE_MAX];
  double gacc[GENRE_MAX];
  int rc = genre_work_alloc(m, &w);
  if (rc)
    return rc;
  asof_count_all(m->asof, ref_ts, w.count, w.sum);
  genre_quality_from(m, w.count, w.sum, w.quality, w.tmp, NULL, NULL);
  genre_prior_from(m, w.count, gacc, prior);
  genre_lift_from(m, acc, wsum, prior, lift);
  int32_t total = items ? n : m->n_items;
  for (int32_t c = 0; c < total; c++) {
    int32_t i = items ? items[c] : c;
    double boost = m->o.pop == 0 ? 1.0 : pow(1.0 + w.count[i], m->o.pop);
    scores[c] = (float)(w.quality[i] * boost * genre_affinity(m, lift, i));
  }
  genre_work_free(&w);
  return MR_OK;
}

/* A training user's genre mass, as doubles. */
static void genre_user_acc(const genre_model *m, int32_t user, double *acc, double *wsum) {
  for (int g = 0; g < m->n_genres; g++)
    acc[g] = m->user_acc[(size_t)user * m->n_genres + g];
  *wsum = m->user_wsum[user];
}

static void genre_score_lift(const genre_model *m, const float *lift, float *scores) {
  for (int32_t i = 0; i < m->n_items; i++)
    scores[i] = genre_item_score(m, lift, i);
}

int genre_fit(const genre_opts *o, const rec_train_data *d, genre_model **out) {
  const mr_dataset *ds = d->ds;
  genre_model *m = NULL;
  float *count = NULL;
  double *sum = NULL, *tmp = NULL, acc[GENRE_MAX];
  int rc;
  if (!o || !genre_opts_valid(o) || !ds || !d->ui || !d->iu || d->iu->n_rows != ds->n_movies ||
      d->ui->n_cols != ds->n_movies)
    return MR_EINVAL;
  /* genres beyond ds->n_genres may still be set in bitmasks from a hand-made data set */
  int G = ds->n_genres;
  for (int32_t i = 0; i < ds->n_movies; i++)
    for (int g = G; g < GENRE_MAX; g++)
      if (ds->movies[i].genres >> g & 1u)
        G = g + 1;
  if (G <= 0)
    G = 1;
  if ((rc = genre_alloc(ds->n_movies, d->ui->n_rows, G, &m)))
    return rc;
  m->o = *o;
  rc = MR_ENOMEM;
  count = calloc((size_t)m->n_items + 1, sizeof(float));
  sum = calloc((size_t)m->n_items + 1, sizeof(double));
  tmp = calloc((size_t)m->n_items + 1, sizeof(double));
  m->imdb_wr = malloc(((size_t)m->n_items + 1) * sizeof(float));
  m->user_acc = calloc((size_t)m->n_users * (size_t)G + 1, sizeof(float));
  m->user_wsum = calloc((size_t)m->n_users + 1, sizeof(float));
  if (!count || !sum || !tmp || !m->imdb_wr || !m->user_acc || !m->user_wsum)
    goto fail;
  for (int32_t i = 0; i < m->n_items; i++) {
    m->item_genres[i] = (int32_t)ds->movies[i].genres;
    for (int64_t j = d->iu->indptr[i]; j < d->iu->indptr[i + 1]; j++) {
      count[i] += 1;
      sum[i] += d->iu->values[j];
    }
  }
  if ((rc = genre_imdb_wr(ds, o->m_quantile, m->imdb_wr, &m->m_imdb, &m->C, &m->any_imdb)))
    goto fail;
  genre_quality_from(m, count, sum, m->quality, tmp, &m->m_ml, &m->C);
  for (int32_t i = 0; i < m->n_items; i++)
    m->boost[i] = (float)pow(1.0 + count[i], o->pop);
  genre_prior_from(m, count, acc, m->prior);
  /* each user's genre mass (kept for as-of scoring) and lift under the end-of-data prior */
  for (int32_t u = 0; u < m->n_users; u++) {
    double wsum, uacc[GENRE_MAX];
    int64_t b = d->ui->indptr[u], e = d->ui->indptr[u + 1];
    genre_history_acc(m, d->ui->indices + b, d->ui->values + b, (int)(e - b), uacc, &wsum);
    for (int g = 0; g < G; g++)
      m->user_acc[(size_t)u * G + g] = (float)uacc[g];
    m->user_wsum[u] = (float)wsum;
    genre_lift_from(m, uacc, wsum, m->prior, m->user_lift + (size_t)u * G);
  }
  if (rec_ref_per_user(d)) {
    if (!(m->ref = malloc(((size_t)m->n_users + 1) * sizeof(int64_t)))) {
      rc = MR_ENOMEM;
      goto fail;
    }
    if ((rc = asof_create(d->ratings, d->n_ratings, m->n_items, &m->asof)) ||
        (rc = asof_user_ref(d->ratings, d->n_ratings, m->n_users, 1, m->ref)))
      goto fail;
  }
  free(count);
  free(sum);
  free(tmp);
  *out = m;
  return MR_OK;
fail:
  free(count);
  free(sum);
  free(tmp);
  genre_free(m);
  return rc;
}

int32_t genre_n_items(const genre_model *m) {
  return m->n_items;
}
int genre_n_genres(const genre_model *m) {
  return m->n_genres;
}
const float *genre_quality(const genre_model *m) {
  return m->quality;
}

int genre_score_user(const genre_model *m, int32_t user, float *scores) {
  if (user < 0 || user >= m->n_users)
    return MR_ERANGE;
  if (m->ref && genre_needs_asof(m, m->ref[user])) {
    double acc[GENRE_MAX], wsum;
    genre_user_acc(m, user, acc, &wsum);
    return genre_score_asof(m, m->ref[user], acc, wsum, NULL, 0, scores);
  }
  genre_score_lift(m, m->user_lift + (size_t)user * m->n_genres, scores);
  return MR_OK;
}

int genre_score_history_at(const genre_model *m, const int32_t *items, const float *ratings, int n,
                           int64_t ref_ts, float *scores) {
  double acc[GENRE_MAX], wsum;
  float lift[GENRE_MAX];
  if (n < 0 || (n > 0 && (!items || !ratings)))
    return MR_EINVAL;
  if (genre_needs_asof(m, ref_ts)) {
    genre_history_acc(m, items, ratings, n, acc, &wsum);
    return genre_score_asof(m, ref_ts, acc, wsum, NULL, 0, scores);
  }
  if (!m->asof && ref_ts != REC_REF_END)
    return MR_EUNSUPPORTED; /* a loaded model keeps only the end-of-data counts */
  genre_history_lift(m, items, ratings, n, acc, lift);
  genre_score_lift(m, lift, scores);
  return MR_OK;
}

int genre_score_history(const genre_model *m, const int32_t *items, const float *ratings, int n,
                        float *scores) {
  return genre_score_history_at(m, items, ratings, n, REC_REF_END, scores);
}

int genre_score_items(const genre_model *m, int32_t user, const int32_t *hist, const float *ratings,
                      int n_h, int64_t ref_ts, const int32_t *items, int n, float *out) {
  double acc[GENRE_MAX], wsum;
  float own[GENRE_MAX];
  const float *lift = own;
  if (n < 0 || (n > 0 && (!items || !out)))
    return MR_EINVAL;
  for (int c = 0; c < n; c++)
    if (items[c] < 0 || items[c] >= m->n_items)
      return MR_ERANGE;
  if (user >= 0) {
    if (user >= m->n_users)
      return MR_ERANGE;
    if (m->ref && genre_needs_asof(m, m->ref[user])) {
      genre_user_acc(m, user, acc, &wsum);
      return genre_score_asof(m, m->ref[user], acc, wsum, items, n, out);
    }
    lift = m->user_lift + (size_t)user * m->n_genres;
  } else {
    if (n_h < 0 || (n_h > 0 && (!hist || !ratings)))
      return MR_EINVAL;
    if (genre_needs_asof(m, ref_ts)) {
      genre_history_acc(m, hist, ratings, n_h, acc, &wsum);
      return genre_score_asof(m, ref_ts, acc, wsum, items, n, out);
    }
    if (!m->asof && ref_ts != REC_REF_END)
      return MR_EUNSUPPORTED;
    genre_history_lift(m, hist, ratings, n_h, acc, own);
  }
  for (int c = 0; c < n; c++)
    out[c] = genre_item_score(m, lift, items[c]);
  return MR_OK;
}

int genre_score_genres(const genre_model *m, uint32_t genre_mask, float *scores) {
  for (int32_t i = 0; i < m->n_items; i++)
    scores[i] =
        m->quality[i] + (((uint32_t)m->item_genres[i] & genre_mask) ? GENRE_EXPLICIT_BONUS : 0.0f);
  return MR_OK;
}

int genre_save(const genre_model *m, const char *path) {
  double params[8] = {m->o.m_quantile, m->o.smooth, m->o.beta, m->o.slope,
                      m->m_imdb,       m->m_ml,     m->C,      m->o.pop};
  mf_section sec[6] = {
      {"quality", MF_F32, 1, (uint64_t)m->n_items, m->quality},
      {"boost", MF_F32, 1, (uint64_t)m->n_items, m->boost},
      {"item_genres", MF_I32, 1, (uint64_t)m->n_items, m->item_genres},
      {"prior", MF_F32, 1, (uint64_t)m->n_genres, m->prior},
      {"user_lift", MF_F32, (uint64_t)m->n_users, (uint64_t)m->n_genres, m->user_lift},
      {"params", MF_F64, 1, 8, params},
  };
  return mf_write(path, "genre", sec, 6);
}

int genre_load(const char *path, genre_model **out, char *err, size_t errlen) {
  mf_file *f = NULL;
  genre_model *m = NULL;
  const void *q, *bo, *ig, *pr, *ul, *pa;
  uint64_t qr, qc, br, bc, gr, gc, pr_r, pr_c, ur, uc, par, pac;
  int rc = mf_open(path, &f, err, errlen);
  if (rc)
    return rc;
  if (mf_get(f, "quality", MF_F32, &q, &qr, &qc) || mf_get(f, "boost", MF_F32, &bo, &br, &bc) ||
      mf_get(f, "item_genres", MF_I32, &ig, &gr, &gc) ||
      mf_get(f, "prior", MF_F32, &pr, &pr_r, &pr_c) ||
      mf_get(f, "user_lift", MF_F32, &ul, &ur, &uc) ||
      mf_get(f, "params", MF_F64, &pa, &par, &pac) || qr != 1 || qc == 0 || qc > INT32_MAX ||
      br != 1 || bc != qc || gr != 1 || gc != qc || pr_r != 1 || pr_c == 0 || pr_c > GENRE_MAX ||
      uc != pr_c || ur > INT32_MAX || par != 1 || pac != 8) {
    rec_set_err(err, errlen, "%s: missing or malformed genre model sections", path);
    rc = MR_EFORMAT;
    goto fail;
  }
  if ((rc = genre_alloc((int32_t)qc, (int32_t)ur, (int)pr_c, &m)))
    goto fail;
  const double *p = pa;
  m->o.m_quantile = p[0];
  m->o.smooth = p[1];
  m->o.beta = p[2];
  m->o.slope = p[3];
  m->m_imdb = p[4];
  m->m_ml = p[5];
  m->C = p[6];
  m->o.pop = p[7];
  if (!genre_opts_valid(&m->o)) {
    rec_set_err(err, errlen, "%s: invalid genre model parameters", path);
    rc = MR_EFORMAT;
    goto fail;
  }
  memcpy(m->quality, q, qc * sizeof(float));
  memcpy(m->boost, bo, qc * sizeof(float));
  memcpy(m->item_genres, ig, qc * sizeof(int32_t));
  memcpy(m->prior, pr, pr_c * sizeof(float));
  memcpy(m->user_lift, ul, ur * uc * sizeof(float));
  for (uint64_t g = 0; g < pr_c; g++)
    if (!(m->prior[g] > 0)) {
      rec_set_err(err, errlen, "%s: non-positive genre prior", path);
      rc = MR_EFORMAT;
      goto fail;
    }
  mf_close(f);
  *out = m;
  return MR_OK;
fail:
  genre_free(m);
  mf_close(f);
  return rc;
}

/* ---- registry adapter ---- */

static int genre_reg_fit(const rec_params *p, const rec_train_data *d, void **state) {
  genre_opts o;
  genre_model *m = NULL;
  genre_opts_from_params(p, &o);
  int rc = genre_fit(&o, d, &m);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}
static int genre_reg_score_user(const void *state, int32_t user, float *scores) {
  return genre_score_user(state, user, scores);
}
static int genre_reg_score_history(const void *state, const int32_t *items, const float *ratings,
                                   int n, float *scores) {
  return genre_score_history(state, items, ratings, n, scores);
}
static int genre_reg_score_history_at(const void *state, const int32_t *items, const float *ratings,
                                      int n, int64_t ref_ts, float *scores) {
  return genre_score_history_at(state, items, ratings, n, ref_ts, scores);
}
static int genre_reg_save(const void *state, const char *path) {
  return genre_save(state, path);
}
static int genre_reg_load(const char *path, void **state, char *err, size_t errlen) {
  genre_model *m = NULL;
  int rc = genre_load(path, &m, err, errlen);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}
static int32_t genre_reg_n_items(const void *state) {
  return genre_n_items(state);
}
static void genre_reg_free(void *state) {
  genre_free(state);
}

static int genre_reg_score_items(const void *state, int32_t user, const int32_t *hist,
                                 const float *ratings, int n_h, int64_t ref_ts,
                                 const int32_t *items, int n, float *out, float *scratch) {
  (void)scratch;
  return genre_score_items(state, user, hist, ratings, n_h, ref_ts, items, n, out);
}

const rec_ops rec_genre_ops = {
    .kind = "genre",
    .fit = genre_reg_fit,
    .score_user = genre_reg_score_user,
    .score_history = genre_reg_score_history,
    .score_history_at = genre_reg_score_history_at,
    .save = genre_reg_save,
    .load = genre_reg_load,
    .n_items = genre_reg_n_items,
    .free = genre_reg_free,
    .score_items = genre_reg_score_items,
};
