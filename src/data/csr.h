/* Compressed sparse rows for the user x movie rating matrix (and its transpose). */
#ifndef MR_CSR_H
#define MR_CSR_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

/* Row r holds columns indices[indptr[r] .. indptr[r+1]) sorted ascending, with values.
 * Plain struct: the arrays are owned by the csr and freed by csr_free. */
typedef struct csr {
  int32_t n_rows, n_cols;
  int64_t nnz;
  int64_t *indptr;  /* n_rows + 1 */
  int32_t *indices; /* nnz */
  float *values;    /* nnz (the rating) */
} csr;

/* Builds users x movies (transpose = 0) or movies x users (transpose = 1) from ratings.
 * Duplicate (user, item) pairs keep the last one in input order. */
int csr_from_ratings(const mr_rating *r, size_t n, int32_t n_users, int32_t n_items, int transpose,
                     csr **out);

/* Transposes a (n_rows x n_cols) into (n_cols x n_rows). */
int csr_transpose(const csr *a, csr **out);

void csr_free(csr *a);

/* Value at (row, col) or 0 when absent (binary search). */
float csr_get(const csr *a, int32_t row, int32_t col);

#endif
