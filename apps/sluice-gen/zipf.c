/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-gen: tiered Zipf alias tables (Vose's construction per tier). */
#include "zipf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tier boundaries: the first tier's table (32 KiB) and words fit in L1/L2, the second's
 * in L2/L3. */
static const uint32_t tier_end[GEN_ZIPF_TIERS - 1] = {UINT32_C(1) << 12, UINT32_C(1) << 16};

/* Alias table for weights w[0, n) (overwritten). Returns NULL when out of memory. */
static gen_zipf_entry *alias_build(double *w, uint32_t n, double sum) {
  uint32_t *small = malloc((size_t)n * sizeof *small);
  uint32_t *large = malloc((size_t)n * sizeof *large);
  gen_zipf_entry *t = malloc((size_t)n * sizeof *t);
  if (!small || !large || !t) {
    free(small), free(large), free(t);
    return NULL;
  }
  uint32_t ns = 0, nl = 0;
  for (uint32_t k = 0; k < n; k++) {
    w[k] = w[k] * (double)n / sum; /* mean 1 */
    if (w[k] < 1.0)
      small[ns++] = k;
    else
      large[nl++] = k;
  }
  while (ns > 0 && nl > 0) {
    uint32_t sm = small[--ns], lg = large[nl - 1];
    double th = ldexp(w[sm], 32);
    t[sm].thresh = th >= 4294967295.0 ? UINT32_MAX : (uint32_t)th;
    t[sm].alias = lg;
    w[lg] = (w[lg] + w[sm]) - 1.0;
    if (w[lg] < 1.0) {
      nl--;
      small[ns++] = lg;
    }
  }
  /* What is left has weight 1 up to rounding: always keep the column. The alias points
   * at the column itself so the 2^-32 chance of a "miss" still returns it. */
  while (nl > 0) {
    uint32_t k = large[--nl];
    t[k].thresh = UINT32_MAX;
    t[k].alias = k;
  }
  while (ns > 0) {
    uint32_t k = small[--ns];
    t[k].thresh = UINT32_MAX;
    t[k].alias = k;
  }
  free(small), free(large);
  return t;
}

int gen_zipf_init(gen_zipf *z, uint32_t n, double s) {
  memset(z, 0, sizeof *z);
  if (n == 0)
    return -1;
  double *w = malloc((size_t)n * sizeof *w);
  if (!w)
    return -1;
  double mass[GEN_ZIPF_TIERS] = {0};
  uint32_t bound[GEN_ZIPF_TIERS + 1] = {0};
  for (int i = 0; i < GEN_ZIPF_TIERS - 1; i++)
    bound[i + 1] = tier_end[i] < n ? tier_end[i] : n;
  bound[GEN_ZIPF_TIERS] = n;
  /* Sum each tier from its smallest weights up so the tail is not lost to rounding. */
  for (int i = GEN_ZIPF_TIERS - 1; i >= 0; i--) {
    for (uint32_t k = bound[i + 1]; k-- > bound[i];) {
      w[k] = s == 0.0 ? 1.0 : pow((double)k + 1.0, -s);
      mass[i] += w[k];
    }
  }
  double total = 0.0;
  for (int i = GEN_ZIPF_TIERS - 1; i >= 0; i--)
    total += mass[i];
  double acc = 0.0;
  for (int i = 0; i < GEN_ZIPF_TIERS - 1; i++) {
    acc += mass[i];
    /* The last non-empty tier takes whatever rounding leaves. */
    z->cut[i] =
        bound[i + 2] == bound[i + 1] ? (UINT64_C(1) << 32) : (uint64_t)ldexp(acc / total, 32);
  }
  for (int i = 0; i < GEN_ZIPF_TIERS; i++) {
    uint32_t m = bound[i + 1] - bound[i];
    z->tier[i].first = bound[i];
    if (m == 0)
      continue;
    if (mass[i] <= 0.0) { /* weights underflowed: cut[] never picks this tier */
      for (uint32_t k = bound[i]; k < bound[i + 1]; k++)
        w[k] = 1.0;
      mass[i] = m;
    }
    z->tier[i].table = alias_build(w + bound[i], m, mass[i]);
    if (!z->tier[i].table) {
      free(w);
      gen_zipf_free(z);
      return -1;
    }
    z->tier[i].n = m;
  }
  free(w);
  return 0;
}

void gen_zipf_free(gen_zipf *z) {
  if (!z)
    return;
  for (int i = 0; i < GEN_ZIPF_TIERS; i++)
    free(z->tier[i].table);
  memset(z, 0, sizeof *z);
}
