/* Continuous learning, the model side: holdout of the newest live ratings, scoring on it. */
#include "pipeline/retrain.h"

#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "eval/metrics.h"

#define RT_MAX_K 100

static int rt_pair_cmp(const void *a, const void *b) {
  const snap_rating *x = a, *y = b;
  if (x->user_id != y->user_id)
    return x->user_id < y->user_id ? -1 : 1;
  return (x->movie_id > y->movie_id) - (x->movie_id < y->movie_id);
}

/* 1 when the base data holds a rating of (user id, movie id). */
static int rt_in_base(const mr_dataset *base, const int64_t *ptr, const int32_t *items, int32_t uid,
                      int32_t mid) {
  int32_t u = ds_user_index(base, uid), m = ds_movie_index(base, mid);
  if (u < 0 || m < 0)
    return 0;
  for (int64_t i = ptr[u]; i < ptr[u + 1]; i++)
    if (items[i] == m)
      return 1;
  return 0;
}

void rt_holdout_free(rt_holdout *h) {
  if (!h)
    return;
  free(h->train);
  free(h->held);
  memset(h, 0, sizeof(*h));
}

int rt_split_holdout(const mr_dataset *base, const snap_rating *live, size_t n,
                     const snap_rating *serving_live, size_t n_serving, rt_holdout *out) {
  memset(out, 0, sizeof(*out));
  snap_rating *lv = malloc((n + 1) * sizeof(*lv));
  snap_rating *sv = malloc((n_serving + 1) * sizeof(*sv));
  int64_t *ptr = calloc((size_t)base->n_users + 1, sizeof(*ptr));
  int32_t *items = malloc((base->n_ratings + 1) * sizeof(*items));
  int64_t *fill = malloc(((size_t)base->n_users + 1) * sizeof(*fill));
  out->train = malloc((n + 1) * sizeof(*out->train));
  out->held = malloc((n + 1) * sizeof(*out->held));
  int rc = MR_ENOMEM;
  if (!lv || !sv || !ptr || !items || !fill || !out->train || !out->held)
    goto done;
  /* base ratings per user, to tell a re-rated base movie from a new one */
  for (size_t i = 0; i < base->n_ratings; i++)
    ptr[base->ratings[i].user + 1]++;
  for (int32_t u = 0; u < base->n_users; u++)
    ptr[u + 1] += ptr[u];
  memcpy(fill, ptr, (size_t)base->n_users * sizeof(*fill));
  for (size_t i = 0; i < base->n_ratings; i++)
    items[fill[base->ratings[i].user]++] = base->ratings[i].item;
  if (n)
    memcpy(lv, live, n * sizeof(*lv));
  if (n_serving)
    memcpy(sv, serving_live, n_serving * sizeof(*sv));
  qsort(lv, n, sizeof(*lv), rt_pair_cmp);
  qsort(sv, n_serving, sizeof(*sv), rt_pair_cmp);
  for (size_t b = 0; b < n;) {
    size_t e = b;
    while (e < n && lv[e].user_id == lv[b].user_id)
      e++;
    /* the user's newest rating that neither the serving version nor the base data knows */
    size_t pick = e;
    for (size_t i = b; i < e; i++) {
      if (bsearch(&lv[i], sv, n_serving, sizeof(*sv), rt_pair_cmp) ||
          rt_in_base(base, ptr, items, lv[i].user_id, lv[i].movie_id))
        continue;
      if (pick == e || lv[i].ts > lv[pick].ts ||
          (lv[i].ts == lv[pick].ts && lv[i].movie_id > lv[pick].movie_id))
        pick = i;
    }
    int32_t u = ds_user_index(base, lv[b].user_id);
    int64_t n_base = u >= 0 ? ptr[u + 1] - ptr[u] : 0;
    if (pick < e && (e - b) + (size_t)n_base < 2)
      pick = e; /* nothing left to recommend from */
    for (size_t i = b; i < e; i++) {
      if (i == pick)
        out->held[out->n_held++] = lv[i];
      else
        out->train[out->n_train++] = lv[i];
    }
    b = e;
  }
  rc = MR_OK;
done:
  free(lv);
  free(sv);
  free(ptr);
  free(items);
  free(fill);
  if (rc)
    rt_holdout_free(out);
  return rc;
}

int rt_score(const reco *r, const rt_holdout *h, int k, double *ndcg, long *users) {
  const mr_dataset *ds = reco_dataset(r);
  *ndcg = 0;
  *users = 0;
  if (k < 1 || k > RT_MAX_K)
    return MR_EINVAL;
  reco_rating *hist = malloc((h->n_train + 1) * sizeof(*hist));
  if (!hist)
    return MR_ENOMEM;
  reco_item top[RT_MAX_K];
  int32_t recs[RT_MAX_K];
  double sum = 0;
  long count = 0;
  int rc = MR_OK;
  size_t t = 0;
  for (size_t i = 0; i < h->n_held; i++) {
    const snap_rating *held = &h->held[i];
    int32_t target = ds_movie_index(ds, held->movie_id);
    if (target < 0)
      continue;
    /* train is sorted by user: advance to this user's ratings */
    while (t < h->n_train && h->train[t].user_id < held->user_id)
      t++;
    int nh = 0;
    for (size_t j = t; j < h->n_train && h->train[j].user_id == held->user_id; j++) {
      int32_t m = ds_movie_index(ds, h->train[j].movie_id);
      if (m >= 0)
        hist[nh++] = (reco_rating){m, h->train[j].rating, h->train[j].ts};
    }
    int got = 0;
    if ((rc = reco_recommend(r, held->user_id, hist, nh, RECO_PERSONALIZED, 0, k, top, &got)))
      break;
    for (int j = 0; j < got; j++)
      recs[j] = top[j].movie;
    metrics_row row;
    float rt = held->rating;
    metrics_user(recs, got, k, &target, &rt, 1, &row);
    sum += row.ndcg;
    count++;
  }
  free(hist);
  if (rc)
    return rc;
  *ndcg = count ? sum / (double)count : 0;
  *users = count;
  return MR_OK;
}
