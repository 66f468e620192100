/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-gen: Zipf sampling with Walker's alias method, in tiers.
 *
 * Rank k (0-based) of n has probability proportional to (k+1)^-s; s = 0 is uniform.
 * One alias table over a large n costs a cache miss per sample, since its column is
 * uniform over the whole table. Under Zipf most of the mass sits in the first few
 * thousand ranks, so the ranks are split into tiers ([0, 4K), [4K, 64K), [64K, n)): a
 * sample first picks a tier by its mass, then a rank with that tier's alias table. The
 * first tier's table stays in L1/L2, and only the ~10% of samples that reach the last
 * tier miss. The distribution is exactly the mixture, i.e. the same Zipf law.
 */
#ifndef SLUICE_GEN_ZIPF_H
#define SLUICE_GEN_ZIPF_H

#include <stdint.h>

#include "rng.h"

#define GEN_ZIPF_TIERS 3

typedef struct gen_zipf_entry {
  uint32_t thresh; /* keep the column when the low 32 random bits are below this */
  uint32_t alias;  /* otherwise take this rank (relative to the tier's first) */
} gen_zipf_entry;

typedef struct gen_zipf_tier {
  uint32_t first, n; /* ranks [first, first + n) */
  gen_zipf_entry *table;
} gen_zipf_tier;

typedef struct gen_zipf {
  /* A 32-bit uniform u picks tier (u >= cut[0]) + (u >= cut[1]); a cut of 2^32 is never
   * reached, which is how an empty tier gets no samples. */
  uint64_t cut[GEN_ZIPF_TIERS - 1];
  gen_zipf_tier tier[GEN_ZIPF_TIERS];
} gen_zipf;

/* Build the tables for n ranks (1 <= n < 2^32) and exponent s >= 0. The result depends
 * only on (n, s). Returns 0, or -1 when memory runs out (z is then empty). */
int gen_zipf_init(gen_zipf *z, uint32_t n, double s);
/* Accepts an empty or zeroed z. */
void gen_zipf_free(gen_zipf *z);

/* A rank in [0, n) from two independent 64-bit random numbers: the tier from the high
 * half of r1, the column from the high half of r2, the coin from its low half. */
static inline uint32_t gen_zipf_sample(const gen_zipf *z, uint64_t r1, uint64_t r2) {
  uint64_t u = r1 >> 32;
  const gen_zipf_tier *t = &z->tier[(u >= z->cut[0]) + (u >= z->cut[1])];
  uint32_t col = gen_below32(r2, t->n);
  gen_zipf_entry e = t->table[col];
  return t->first + ((uint32_t)r2 < e.thresh ? col : e.alias);
}

#endif
