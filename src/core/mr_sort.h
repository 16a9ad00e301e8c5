/* Ranking keys and small sorts shared by the top-n selection and the ranker features: a score
 * and an index packed into one uint64 whose ascending order is "higher score first, then lower
 * index" (NaN last), so selection and sorting compare integers. */
#ifndef MR_SORT_H
#define MR_SORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t mr_rank_key(float score, uint32_t index) {
  /* branch-free (a catalogue's worth of keys per request): + 0.0f turns -0 into +0 so they tie */
  float s = score + 0.0f;
  uint32_t b;
  memcpy(&b, &s, sizeof(b));
  uint32_t neg = (uint32_t) - (int32_t)(b >> 31);
  b ^= neg | 0x80000000u;               /* ascending as unsigned */
  b = ~b;                               /* descending */
  b = score == score ? b : 0xFFFFFFFFu; /* NaN ranks last */
  return (uint64_t)b << 32 | index;
}

static inline uint32_t mr_rank_key_index(uint64_t key) {
  return (uint32_t)key;
}

/* Sorts keys[0..n) ascending; tmp has n entries. LSD radix, 8 bits a pass, skipping the bytes
 * every key shares (the index's high bytes, mostly). */
void mr_sort_rank_keys(uint64_t *keys, size_t n, uint64_t *tmp);

/* The same for keys whose indexes ascend in input order (keys built in index order): LSD radix
 * is stable, so passes over the score half alone give the same order (~20% faster for the
 * ranker's 150-candidate rank features). */
void mr_sort_rank_keys_in_index_order(uint64_t *keys, size_t n, uint64_t *tmp);

/* Puts the k smallest keys (any order) in keys[0..k) (quickselect; keys must be distinct, which
 * the packed index guarantees). */
void mr_select_rank_keys(uint64_t *keys, size_t n, size_t k);

#endif
