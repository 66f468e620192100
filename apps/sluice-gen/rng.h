/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-gen: the random number generators.
 *
 * Output must be a pure function of the seed, never of the rank count, so every stream is
 * keyed by a counter (a text segment index, a particle row index) rather than advanced
 * across the whole output. splitmix64 turns (seed, counter) into well-mixed state;
 * xoshiro256** is the fast sequential stream inside one text segment.
 */
#ifndef SLUICE_GEN_RNG_H
#define SLUICE_GEN_RNG_H

#include <stdint.h>

#define GEN_GOLDEN UINT64_C(0x9E3779B97F4A7C15)

/* The splitmix64 output function: a bijective 64-bit mixer. */
static inline uint64_t gen_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* splitmix64 as a sequential generator. */
static inline uint64_t gen_splitmix64(uint64_t *state) {
  *state += GEN_GOLDEN;
  return gen_mix64(*state);
}

/* A uniform double in [0, 1) from the top 53 bits. */
static inline double gen_unit(uint64_t r) {
  return (double)(r >> 11) * 0x1.0p-53;
}

/* A uniform integer in [0, n) for n < 2^32 from the top 32 bits (multiply-high: no
 * division, bias below 2^-32 * n). */
static inline uint32_t gen_below32(uint64_t r, uint32_t n) {
  return (uint32_t)(((r >> 32) * (uint64_t)n) >> 32);
}

typedef struct gen_xoshiro {
  uint64_t s[4];
} gen_xoshiro;

static inline void gen_xoshiro_seed(gen_xoshiro *x, uint64_t seed) {
  uint64_t st = seed;
  for (int i = 0; i < 4; i++)
    x->s[i] = gen_splitmix64(&st);
}

static inline uint64_t gen_rotl(uint64_t v, int k) {
  return (v << k) | (v >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna). */
static inline uint64_t gen_xoshiro_next(gen_xoshiro *x) {
  uint64_t *s = x->s;
  uint64_t result = gen_rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = gen_rotl(s[3], 45);
  return result;
}

#endif
