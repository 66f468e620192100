/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the vector kernels of algo/moments.c. The AVX2 ones (moments_avx2.c)
 * are compiled for AVX2 whatever the build's baseline and chosen at run time where the CPU
 * has it (cluster nodes differ). */
#ifndef SLUICE_MOMENTS_H
#define SLUICE_MOMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h" /* sl__cpu_avx2 */

/* A chunk's finite count, sum, min and max. */
typedef struct sl__chunk_sums {
  double n, sum, min, max;
} sl__chunk_sums;

/* The finite values of x[i..n) folded into r (the kernels' scalar loop: their tails, and the
 * whole chunk where no vector kernel is built). */
static inline sl__chunk_sums sl__chunk_sums_tail(const double *x, size_t i, size_t n,
                                                 sl__chunk_sums r) {
  for (; i < n; i++) {
    double v = x[i];
    if (v - v == 0) {
      r.n += 1;
      r.sum += v;
      r.min = v < r.min ? v : r.min;
      r.max = v > r.max ? v : r.max;
    }
  }
  return r;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SL__HAVE_AVX2_KERNELS 1
/* The chunk's sums without masks, and with them only when the chunk holds a non-finite
 * value (the same bits either way). */
sl__chunk_sums sl__chunk_sums_avx2(const double *x, size_t n);
/* The sum of (x - mean)^2 over the finite values; finite: every value of x is (no masks,
 * the same bits). */
double sl__chunk_m2_avx2(const double *x, size_t n, double mean, int finite);
#endif

#endif
