/* Radix sort and quickselect over packed ranking keys (see mr_sort.h). */
#include "core/mr_sort.h"

void mr_sort_rank_keys(uint64_t *keys, size_t n, uint64_t *tmp) {
  if (n < 2)
    return;
  if (n <= 32) { /* insertion sort: cheaper than four counting passes */
    for (size_t i = 1; i < n; i++) {
      uint64_t v = keys[i];
      size_t j = i;
      while (j > 0 && keys[j - 1] > v) {
        keys[j] = keys[j - 1];
        j--;
      }
      keys[j] = v;
    }
    return;
  }
  uint64_t *src = keys, *dst = tmp;
  for (int shift = 0; shift < 64; shift += 8) {
    size_t count[257] = {0};
    for (size_t i = 0; i < n; i++)
      count[((src[i] >> shift) & 0xFF) + 1]++;
    if (count[((src[0] >> shift) & 0xFF) + 1] == n)
      continue; /* every key has the same byte here */
    for (int d = 0; d < 256; d++)
      count[d + 1] += count[d];
    for (size_t i = 0; i < n; i++)
      dst[count[(src[i] >> shift) & 0xFF]++] = src[i];
    uint64_t *t = src;
    src = dst;
    dst = t;
  }
  if (src != keys)
    memcpy(keys, src, n * sizeof(uint64_t));
}

void mr_select_rank_keys(uint64_t *keys, size_t n, size_t k) {
  if (k == 0 || k >= n)
    return;
  /* nth_element for position k - 1: afterwards keys[0..k) <= keys[k - 1] <= keys[k..n) */
  ptrdiff_t target = (ptrdiff_t)k - 1, lo = 0, hi = (ptrdiff_t)n - 1;
  while (lo < hi) {
    uint64_t a = keys[lo], b = keys[lo + (hi - lo) / 2], c = keys[hi];
    uint64_t pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
    ptrdiff_t i = lo, j = hi;
    while (i <= j) {
      while (keys[i] < pivot)
        i++;
      while (keys[j] > pivot)
        j--;
      if (i <= j) {
        uint64_t t = keys[i];
        keys[i] = keys[j];
        keys[j] = t;
        i++;
        j--;
      }
    }
    /* [lo, j] <= pivot <= [i, hi]; between them only the pivot */
    if (target <= j)
      hi = j;
    else if (target >= i)
      lo = i;
    else
      return;
  }
}
