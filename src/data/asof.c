/* As-of popularity index (see asof.h): per movie, its ratings' timestamps in time order with
 * prefix sums of the values, and a coarse time-bucket table so a lookup is one table read and
 * a short branch-free search. */
#include "data/asof.h"

#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"

struct asof_index {
  int32_t n_items;
  int64_t *ptr; /* n_items + 1: movie m's ratings are [ptr[m], ptr[m + 1]) */
  int64_t *ts;  /* in time order within a movie */
  double *rsum; /* prefix sums of the rating values in that order */
  int64_t t_first, t_end, bucket_width, max_count;
  /* bucket[m * (n_buckets + 1) + k] = the movie's ratings before t_first + k * bucket_width */
  int32_t *bucket;
  int n_buckets;
};

typedef struct asof_tr {
  int64_t ts;
  float r;
} asof_tr;

static int asof_cmp_tr(const void *a, const void *b) {
  const asof_tr *x = a, *y = b;
  if (x->ts != y->ts)
    return (x->ts > y->ts) - (x->ts < y->ts);
  return (x->r > y->r) - (x->r < y->r);
}

void asof_free(asof_index *x) {
  if (!x)
    return;
  free(x->ptr);
  free(x->ts);
  free(x->rsum);
  free(x->bucket);
  free(x);
}

/* 256 buckets over the data's time span, fewer when the catalogue is large (the table is
 * n_items x (buckets + 1) int32s); below 8 the binary search alone is as good. */
static int asof_build_buckets(asof_index *x) {
  if (x->ptr[x->n_items] == 0)
    return MR_OK;
  int64_t nb = ((int64_t)1 << 24) / ((int64_t)x->n_items + 1);
  nb = nb > 256 ? 256 : nb;
  if (nb < 8)
    return MR_OK;
  x->n_buckets = (int)nb;
  x->bucket_width = (x->t_end - x->t_first) / nb + 1;
  x->bucket = malloc((size_t)x->n_items * (size_t)(nb + 1) * sizeof(int32_t));
  if (!x->bucket)
    return MR_ENOMEM;
  for (int32_t m = 0; m < x->n_items; m++) {
    int64_t b = x->ptr[m], n = x->ptr[m + 1] - b, i = 0;
    int32_t *row = x->bucket + (size_t)m * (size_t)(nb + 1);
    for (int64_t k = 0; k <= nb; k++) {
      int64_t start = x->t_first + k * x->bucket_width;
      while (i < n && x->ts[b + i] < start)
        i++;
      row[k] = (int32_t)i;
    }
  }
  return MR_OK;
}

int asof_create(const mr_rating *r, size_t n, int32_t n_items, asof_index **out) {
  if (!out || n_items < 0 || (n && !r))
    return MR_EINVAL;
  asof_index *x = calloc(1, sizeof(*x));
  asof_tr *tr = NULL;
  int64_t *fill = NULL;
  int rc = MR_ENOMEM;
  if (!x)
    return rc;
  x->n_items = n_items;
  x->ptr = calloc((size_t)n_items + 1, sizeof(int64_t));
  x->ts = malloc((n + 1) * sizeof(int64_t));
  x->rsum = malloc((n + 1) * sizeof(double));
  tr = malloc((n + 1) * sizeof(*tr));
  fill = malloc(((size_t)n_items + 1) * sizeof(int64_t));
  if (!x->ptr || !x->ts || !x->rsum || !tr || !fill)
    goto fail;
  for (size_t i = 0; i < n; i++) {
    if (r[i].item < 0 || r[i].item >= n_items) {
      rc = MR_ERANGE;
      goto fail;
    }
    x->ptr[r[i].item + 1]++;
    if (i == 0 || r[i].ts > x->t_end)
      x->t_end = r[i].ts;
    if (i == 0 || r[i].ts < x->t_first)
      x->t_first = r[i].ts;
  }
  for (int32_t m = 0; m < n_items; m++)
    x->ptr[m + 1] += x->ptr[m];
  memcpy(fill, x->ptr, (size_t)n_items * sizeof(int64_t));
  for (size_t i = 0; i < n; i++)
    tr[fill[r[i].item]++] = (asof_tr){r[i].ts, r[i].rating};
  for (int32_t m = 0; m < n_items; m++) {
    int64_t b = x->ptr[m], e = x->ptr[m + 1];
    qsort(tr + b, (size_t)(e - b), sizeof(*tr), asof_cmp_tr);
    double acc = 0;
    for (int64_t k = b; k < e; k++) {
      x->ts[k] = tr[k].ts;
      acc += tr[k].r;
      x->rsum[k] = acc;
    }
    if (e - b > x->max_count)
      x->max_count = e - b;
  }
  if ((rc = asof_build_buckets(x)))
    goto fail;
  free(tr);
  free(fill);
  *out = x;
  return MR_OK;
fail:
  free(tr);
  free(fill);
  asof_free(x);
  return rc;
}

int32_t asof_n_items(const asof_index *x) {
  return x->n_items;
}
int64_t asof_end(const asof_index *x) {
  return x->t_end;
}
int64_t asof_max_count(const asof_index *x) {
  return x->max_count;
}

/* Number of entries <= t in the sorted ts[0..n): a branch-free binary search (the branch of
 * the textbook loop mispredicts half the time, and these searches run per candidate). */
static int64_t asof_upper_bound(const int64_t *ts, int64_t n, int64_t t) {
  if (n <= 0)
    return 0;
  const int64_t *base = ts;
  while (n > 1) {
    int64_t half = n / 2;
    base = base[half] <= t ? base + half : base;
    n -= half;
  }
  return (base - ts) + (*base <= t);
}

/* The bucket of time t: -1 before the first rating, n_buckets after the last bucket. */
static int64_t asof_bucket_of(const asof_index *x, int64_t t) {
  if (t < x->t_first)
    return -1;
  int64_t k = (t - x->t_first) / x->bucket_width;
  return k < x->n_buckets ? k : x->n_buckets;
}

static int64_t asof_upto(const asof_index *x, int32_t m, int64_t t) {
  int64_t b = x->ptr[m], n = x->ptr[m + 1] - b;
  if (t >= x->t_end)
    return n;
  if (!x->bucket)
    return asof_upper_bound(x->ts + b, n, t);
  int64_t k = asof_bucket_of(x, t);
  if (k < 0)
    return 0;
  if (k >= x->n_buckets)
    return n;
  /* the answer lies between this bucket's entry and the next one's */
  const int32_t *row = x->bucket + (size_t)m * (size_t)(x->n_buckets + 1);
  int64_t i = row[k];
  return i + asof_upper_bound(x->ts + b + i, row[k + 1] - i, t);
}

int64_t asof_count(const asof_index *x, int32_t m, int64_t t, double *sum) {
  int64_t cnt = asof_upto(x, m, t);
  if (sum)
    *sum = cnt ? x->rsum[x->ptr[m] + cnt - 1] : 0.0;
  return cnt;
}

void asof_count_all(const asof_index *x, int64_t t, float *count, double *sum) {
  for (int32_t m = 0; m < x->n_items; m++) {
    double s;
    count[m] = (float)asof_count(x, m, t, sum ? &s : NULL);
    if (sum)
      sum[m] = s;
  }
}

void asof_count_batch(const asof_index *x, const int32_t *items, int n, const int64_t *t, int n_t,
                      int64_t *const *out, double *sum0, int32_t *span) {
  if (!x->bucket) {
    for (int ci = 0; ci < n; ci++)
      for (int w = 0; w < n_t; w++)
        out[w][ci] = asof_upto(x, items[ci], t[w]);
  } else {
    const size_t stride = (size_t)x->n_buckets + 1;
    int64_t k[4];
    for (int w = 0; w < n_t; w++)
      k[w] = asof_bucket_of(x, t[w]);
    for (int ci = 0; ci < n; ci++)
      for (int w = 0; w < n_t; w++)
        if (k[w] >= 0 && k[w] < x->n_buckets)
          __builtin_prefetch(x->bucket + (size_t)items[ci] * stride + (size_t)k[w]);
    for (int ci = 0; ci < n; ci++) {
      int32_t m = items[ci];
      int64_t b = x->ptr[m], nr = x->ptr[m + 1] - b;
      for (int w = 0; w < n_t; w++) {
        int64_t i = k[w] < 0               ? 0
                    : k[w] >= x->n_buckets ? nr
                                           : x->bucket[(size_t)m * stride + (size_t)k[w]];
        int64_t e =
            k[w] < 0 || k[w] >= x->n_buckets ? i : x->bucket[(size_t)m * stride + (size_t)k[w] + 1];
        out[w][ci] = i;
        span[(size_t)w * n + ci] = (int32_t)(e - i);
        if (i < nr)
          __builtin_prefetch(x->ts + b + i);
      }
      if (sum0 && out[0][ci] > 0)
        __builtin_prefetch(x->rsum + b + out[0][ci] - 1);
    }
    for (int ci = 0; ci < n; ci++) {
      const int64_t *mts = x->ts + x->ptr[items[ci]];
      for (int w = 0; w < n_t; w++) /* within the bucket: a branch-free search */
        out[w][ci] += asof_upper_bound(mts + out[w][ci], span[(size_t)w * n + ci], t[w]);
    }
  }
  if (sum0)
    for (int ci = 0; ci < n; ci++) {
      int64_t cnt = out[0][ci];
      sum0[ci] = cnt ? x->rsum[x->ptr[items[ci]] + cnt - 1] : 0.0;
    }
}

int asof_user_ref(const mr_rating *r, size_t n, int32_t n_users, int per_user, int64_t *ref) {
  if (n_users < 0 || (n && !r) || (n_users && !ref))
    return MR_EINVAL;
  int64_t end = 0;
  for (size_t i = 0; i < n; i++) {
    if (r[i].user < 0 || r[i].user >= n_users)
      return MR_ERANGE;
    if (i == 0 || r[i].ts > end)
      end = r[i].ts;
  }
  for (int32_t u = 0; u < n_users; u++)
    ref[u] = per_user ? INT64_MIN : end;
  if (per_user) {
    for (size_t i = 0; i < n; i++)
      if (r[i].ts > ref[r[i].user])
        ref[r[i].user] = r[i].ts;
    for (int32_t u = 0; u < n_users; u++)
      if (ref[u] == INT64_MIN)
        ref[u] = end;
  }
  return MR_OK;
}
