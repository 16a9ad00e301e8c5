/* Radix sort and quickselect over packed ranking keys (see mr_sort.h). */
#include "core/mr_sort.h"

/* LSD radix over the bytes of `bytes_mask` (bit 7 = the top byte) where keys differ. */
static void mr_radix(uint64_t *keys, size_t n, uint64_t *tmp, unsigned bytes_mask) {
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
  /* the bytes where keys differ, in one pass: the others need no counting pass at all (for 150
   * candidates that skips 4 of 8 passes: the index's high bytes and the sign/exponent byte) */
  uint64_t any = 0, all = ~(uint64_t)0;
  for (size_t i = 0; i < n; i++) {
    any |= keys[i];
    all &= keys[i];
  }
  const uint64_t differ = any ^ all;
  uint64_t *src = keys, *dst = tmp;
  for (int byte = 0; byte < 8; byte++) {
    int shift = 8 * byte;
    if (!((bytes_mask >> byte) & 1) || !((differ >> shift) & 0xFF))
      continue;                /* not asked for, or every key has the same byte here */
    uint32_t count[257] = {0}; /* n < 2^32 */
    for (size_t i = 0; i < n; i++)
      count[((src[i] >> shift) & 0xFF) + 1]++;
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

void mr_sort_rank_keys(uint64_t *keys, size_t n, uint64_t *tmp) {
  mr_radix(keys, n, tmp, 0xFF);
}

void mr_sort_rank_keys_in_index_order(uint64_t *keys, size_t n, uint64_t *tmp) {
  mr_radix(keys, n, tmp, 0xF0);
}

void mr_select_rank_keys(uint64_t *keys, size_t n, size_t k) {
  if (k == 0 || k >= n)
    return;
  /* nth_element for position k - 1 (afterwards keys[0..k) <= keys[k - 1] <= keys[k..n)) with a
   * branch-free Lomuto partition: whether a key is below the pivot is a coin flip, and the
   * classic Hoare loops mispredicted about half of their compares (top-150 of 1,682 scores ran
   * ~12 us, most of it in mispredictions) */
  size_t lo = 0, hi = n, t = k - 1;
  while (hi - lo > 16) {
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    uint64_t a = keys[lo], b = keys[mid], c = keys[last];
    size_t pi = a < b ? (b < c ? mid : (a < c ? last : lo)) : (a < c ? lo : (b < c ? last : mid));
    uint64_t pivot = keys[pi];
    keys[pi] = keys[last];
    keys[last] = pivot;
    uint64_t *first = keys + lo;
    for (uint64_t *read = keys + lo; read < keys + last; read++) {
      uint64_t x = *read;
      ptrdiff_t smaller = -(ptrdiff_t)(x < pivot);
      ptrdiff_t delta = smaller & (read - first);
      first[delta] = *first;
      read[-delta] = x;
      first -= smaller;
    }
    size_t p = (size_t)(first - keys);
    keys[last] = keys[p];
    keys[p] = pivot;
    if (t == p)
      return;
    if (t < p)
      hi = p;
    else
      lo = p + 1;
  }
  for (size_t i = lo + 1; i < hi; i++) { /* the last few: insertion sort */
    uint64_t v = keys[i];
    size_t j = i;
    while (j > lo && keys[j - 1] > v) {
      keys[j] = keys[j - 1];
      j--;
    }
    keys[j] = v;
  }
}
