/* Small deterministic PRNG (splitmix64 seeding + xoshiro256**) so every run with the same
 * seed gives the same numbers on every machine. */
#ifndef MR_RNG_H
#define MR_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct mr_rng {
  uint64_t s[4];
} mr_rng;

static inline uint64_t mr_splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static inline void mr_rng_seed(mr_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++)
    r->s[i] = mr_splitmix64(&seed);
}

static inline uint64_t mr_rng_rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static inline uint64_t mr_rng_next(mr_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = mr_rng_rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = mr_rng_rotl(s[3], 45);
  return result;
}

/* Uniform double in [0, 1). */
static inline double mr_rng_uniform(mr_rng *r) {
  return (double)(mr_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n) for n > 0 (Lemire's multiply-shift; bias is negligible here). */
static inline uint64_t mr_rng_below(mr_rng *r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)mr_rng_next(r) * n) >> 64);
}

/* Standard normal via Box-Muller. */
static inline double mr_rng_normal(mr_rng *r) {
  double u1 = mr_rng_uniform(r), u2 = mr_rng_uniform(r);
  if (u1 < 1e-300)
    u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
