/* Top-k ranking metrics (precision, recall, nDCG, graded nDCG, liked precision, MAP, coverage). */
#include "eval/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"

/* Test sets up to this size are looked up from a stack copy, so the common case never allocates. */
#define METRICS_STACK_TEST 256
/* Ratings at or above this count as "liked" for precision_liked (DESIGN.md: r >= 4). */
#define METRICS_LIKED 4.0f

typedef struct metrics_test_entry {
  int32_t item;
  float rating;
  int used; /* set on the first hit so a duplicated recommendation is not counted twice */
} metrics_test_entry;

struct metrics_acc {
  int32_t n_items;
  int k;
  long n_users;
  metrics_row sum;
  unsigned char *seen; /* n_items flags: item appeared in some added top-k list */
  long n_seen;
};

static int metrics_cmp_item(const void *pa, const void *pb) {
  const metrics_test_entry *a = pa, *b = pb;
  return (a->item > b->item) - (a->item < b->item);
}

static int metrics_cmp_rating_desc(const void *pa, const void *pb) {
  const metrics_test_entry *a = pa, *b = pb;
  return (a->rating < b->rating) - (a->rating > b->rating);
}

static metrics_test_entry *metrics_find(metrics_test_entry *t, int n, int32_t item) {
  int lo = 0, hi = n;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (t[mid].item < item)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && t[lo].item == item ? &t[lo] : NULL;
}

void metrics_user(const int32_t *recs, int n_recs, int k, const int32_t *test_items,
                  const float *test_ratings, int n_test, metrics_row *out) {
  if (!out)
    return;
  memset(out, 0, sizeof(*out));
  if (k <= 0 || n_test <= 0 || !test_items)
    return;
  if (!recs || n_recs < 0)
    n_recs = 0;
  if (n_recs > k)
    n_recs = k;

  metrics_test_entry stack_buf[METRICS_STACK_TEST];
  metrics_test_entry *t = stack_buf;
  if (n_test > METRICS_STACK_TEST) {
    t = malloc((size_t)n_test * sizeof(*t));
    /* metrics_user cannot report failure, so without memory fall back to linear scans over the
     * caller's arrays: slower but the same numbers. */
  }

  int hits = 0, liked = 0;
  double dcg = 0.0, gdcg = 0.0, ap = 0.0;
  if (t) {
    for (int j = 0; j < n_test; j++) {
      t[j].item = test_items[j];
      t[j].rating = test_ratings ? test_ratings[j] : 1.0f;
      t[j].used = 0;
    }
    qsort(t, (size_t)n_test, sizeof(*t), metrics_cmp_item);
  }
  for (int i = 0; i < n_recs; i++) {
    float r;
    if (t) {
      metrics_test_entry *e = metrics_find(t, n_test, recs[i]);
      if (!e || e->used)
        continue;
      e->used = 1;
      r = e->rating;
    } else {
      int j = 0, dup = 0;
      while (j < n_test && test_items[j] != recs[i])
        j++;
      if (j == n_test)
        continue;
      for (int p = 0; p < i && !dup; p++)
        dup = recs[p] == recs[i];
      if (dup)
        continue;
      r = test_ratings ? test_ratings[j] : 1.0f;
    }
    double disc = 1.0 / log2((double)i + 2.0);
    hits++;
    dcg += disc;
    gdcg += (double)r * disc;
    ap += (double)hits / (double)(i + 1);
    if (r >= METRICS_LIKED)
      liked++;
  }

  int ideal_n = n_test < k ? n_test : k;
  double idcg = 0.0, gidcg = 0.0;
  for (int i = 0; i < ideal_n; i++)
    idcg += 1.0 / log2((double)i + 2.0);
  if (t) {
    qsort(t, (size_t)n_test, sizeof(*t), metrics_cmp_rating_desc);
    for (int i = 0; i < ideal_n; i++)
      gidcg += (double)t[i].rating / log2((double)i + 2.0);
  } else {
    /* Fallback selection of the ideal_n best ratings without scratch memory: each round takes the
     * best rating strictly below the previous one and uses it as often as it occurs. */
    int taken = 0;
    float prev = INFINITY;
    while (taken < ideal_n) {
      float best = -INFINITY;
      int cnt = 0;
      for (int j = 0; j < n_test; j++) {
        float v = test_ratings ? test_ratings[j] : 1.0f;
        if (v < prev && v > best) {
          best = v;
          cnt = 0;
        }
        if (v == best)
          cnt++;
      }
      if (cnt == 0)
        break;
      for (; cnt > 0 && taken < ideal_n; cnt--, taken++)
        gidcg += (double)best / log2((double)taken + 2.0);
      prev = best;
    }
  }
  if (t != stack_buf)
    free(t);

  out->precision = (double)hits / k;
  out->recall = (double)hits / n_test;
  out->ndcg = idcg > 0.0 ? dcg / idcg : 0.0;
  out->graded_ndcg = gidcg > 0.0 ? gdcg / gidcg : 0.0;
  out->precision_liked = (double)liked / k;
  out->map = ap / ideal_n;
}

int metrics_acc_create(int32_t n_items, int k, metrics_acc **out) {
  if (!out || n_items < 0 || k <= 0)
    return MR_EINVAL;
  *out = NULL;
  metrics_acc *a = calloc(1, sizeof(*a));
  if (!a)
    goto fail;
  a->seen = calloc((size_t)n_items + 1, 1);
  if (!a->seen)
    goto fail;
  a->n_items = n_items;
  a->k = k;
  *out = a;
  return MR_OK;
fail:
  metrics_acc_free(a);
  return MR_ENOMEM;
}

void metrics_acc_free(metrics_acc *a) {
  if (!a)
    return;
  free(a->seen);
  free(a);
}

void metrics_acc_add(metrics_acc *a, const int32_t *recs, int n_recs, const int32_t *test_items,
                     const float *test_ratings, int n_test) {
  /* Users without test ratings have nothing to measure against; counting them would drag every
   * mean toward zero and their lists are left out of coverage too. */
  if (!a || n_test <= 0)
    return;
  metrics_row row;
  metrics_user(recs, n_recs, a->k, test_items, test_ratings, n_test, &row);
  a->sum.precision += row.precision;
  a->sum.recall += row.recall;
  a->sum.ndcg += row.ndcg;
  a->sum.graded_ndcg += row.graded_ndcg;
  a->sum.precision_liked += row.precision_liked;
  a->sum.map += row.map;
  a->n_users++;
  int m = (!recs || n_recs < 0) ? 0 : (n_recs < a->k ? n_recs : a->k);
  for (int i = 0; i < m; i++) {
    int32_t it = recs[i];
    if (it >= 0 && it < a->n_items && !a->seen[it]) {
      a->seen[it] = 1;
      a->n_seen++;
    }
  }
}

void metrics_acc_result(const metrics_acc *a, metrics_row *mean, double *coverage, long *n_users) {
  if (mean)
    memset(mean, 0, sizeof(*mean));
  if (coverage)
    *coverage = 0.0;
  if (n_users)
    *n_users = 0;
  if (!a)
    return;
  if (mean && a->n_users > 0) {
    double n = (double)a->n_users;
    mean->precision = a->sum.precision / n;
    mean->recall = a->sum.recall / n;
    mean->ndcg = a->sum.ndcg / n;
    mean->graded_ndcg = a->sum.graded_ndcg / n;
    mean->precision_liked = a->sum.precision_liked / n;
    mean->map = a->sum.map / n;
  }
  if (coverage && a->n_items > 0)
    *coverage = (double)a->n_seen / (double)a->n_items;
  if (n_users)
    *n_users = a->n_users;
}
