/* CSR construction by counting sort: O(nnz + rows), stable, duplicates resolved last-wins. */
#include "data/csr.h"

#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"

static int csr_alloc(int32_t n_rows, int32_t n_cols, int64_t nnz, csr **out) {
  csr *a = calloc(1, sizeof(*a));
  if (!a)
    return MR_ENOMEM;
  a->n_rows = n_rows;
  a->n_cols = n_cols;
  a->nnz = nnz;
  a->indptr = calloc((size_t)n_rows + 1, sizeof(int64_t));
  a->indices = malloc(((size_t)nnz + 1) * sizeof(int32_t));
  a->values = malloc(((size_t)nnz + 1) * sizeof(float));
  if (!a->indptr || !a->indices || !a->values) {
    csr_free(a);
    return MR_ENOMEM;
  }
  *out = a;
  return MR_OK;
}

void csr_free(csr *a) {
  if (!a)
    return;
  free(a->indptr);
  free(a->indices);
  free(a->values);
  free(a);
}

/* Sorts each row's columns ascending and drops duplicate columns keeping the later entry
 * (entries within a row are in input order before this runs). */
static void csr_sort_dedup_rows(csr *a) {
  int64_t w = 0;
  for (int32_t r = 0; r < a->n_rows; r++) {
    int64_t b = a->indptr[r], e = a->indptr[r + 1];
    /* insertion sort, stable: rows are short and mostly sorted */
    for (int64_t i = b + 1; i < e; i++) {
      int32_t c = a->indices[i];
      float v = a->values[i];
      int64_t j = i - 1;
      while (j >= b && a->indices[j] > c) {
        a->indices[j + 1] = a->indices[j];
        a->values[j + 1] = a->values[j];
        j--;
      }
      a->indices[j + 1] = c;
      a->values[j + 1] = v;
    }
    int64_t row_start = w;
    for (int64_t i = b; i < e; i++) {
      if (w > row_start && a->indices[w - 1] == a->indices[i]) {
        a->values[w - 1] = a->values[i]; /* stable sort kept input order: last wins */
        continue;
      }
      a->indices[w] = a->indices[i];
      a->values[w] = a->values[i];
      w++;
    }
    a->indptr[r] = row_start;
  }
  a->indptr[a->n_rows] = w;
  a->nnz = w;
}

int csr_from_ratings(const mr_rating *r, size_t n, int32_t n_users, int32_t n_items, int transpose,
                     csr **out) {
  int32_t n_rows = transpose ? n_items : n_users;
  int32_t n_cols = transpose ? n_users : n_items;
  csr *a = NULL;
  int64_t *fill = NULL;
  int rc;
  if (!r && n)
    return MR_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (r[i].user < 0 || r[i].user >= n_users || r[i].item < 0 || r[i].item >= n_items)
      return MR_ERANGE;
  if ((rc = csr_alloc(n_rows, n_cols, (int64_t)n, &a)) != MR_OK)
    return rc;
  fill = malloc(((size_t)n_rows + 1) * sizeof(int64_t));
  if (!fill) {
    rc = MR_ENOMEM;
    goto fail;
  }
  for (size_t i = 0; i < n; i++)
    a->indptr[(transpose ? r[i].item : r[i].user) + 1]++;
  for (int32_t k = 0; k < n_rows; k++)
    a->indptr[k + 1] += a->indptr[k];
  memcpy(fill, a->indptr, ((size_t)n_rows + 1) * sizeof(int64_t));
  for (size_t i = 0; i < n; i++) {
    int32_t row = transpose ? r[i].item : r[i].user;
    int64_t pos = fill[row]++;
    a->indices[pos] = transpose ? r[i].user : r[i].item;
    a->values[pos] = r[i].rating;
  }
  free(fill);
  csr_sort_dedup_rows(a);
  *out = a;
  return MR_OK;
fail:
  free(fill);
  csr_free(a);
  return rc;
}

int csr_transpose(const csr *a, csr **out) {
  csr *t = NULL;
  int64_t *fill = NULL;
  int rc;
  if ((rc = csr_alloc(a->n_cols, a->n_rows, a->nnz, &t)) != MR_OK)
    return rc;
  fill = malloc(((size_t)a->n_cols + 1) * sizeof(int64_t));
  if (!fill) {
    csr_free(t);
    return MR_ENOMEM;
  }
  for (int64_t i = 0; i < a->nnz; i++)
    t->indptr[a->indices[i] + 1]++;
  for (int32_t k = 0; k < a->n_cols; k++)
    t->indptr[k + 1] += t->indptr[k];
  memcpy(fill, t->indptr, ((size_t)a->n_cols + 1) * sizeof(int64_t));
  /* rows of a are visited in order, so each row of t comes out sorted */
  for (int32_t r = 0; r < a->n_rows; r++)
    for (int64_t i = a->indptr[r]; i < a->indptr[r + 1]; i++) {
      int64_t pos = fill[a->indices[i]]++;
      t->indices[pos] = r;
      t->values[pos] = a->values[i];
    }
  free(fill);
  *out = t;
  return MR_OK;
}

float csr_get(const csr *a, int32_t row, int32_t col) {
  if (row < 0 || row >= a->n_rows)
    return 0.0f;
  int64_t lo = a->indptr[row], hi = a->indptr[row + 1];
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (a->indices[mid] < col)
      lo = mid + 1;
    else
      hi = mid;
  }
  return (lo < a->indptr[row + 1] && a->indices[lo] == col) ? a->values[lo] : 0.0f;
}
