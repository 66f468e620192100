/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the kernels of sl_hist_add (algo/hist.c). A histogram of few bins is
 * counted by comparisons with exact thresholds (the smallest double of each bin, found once
 * per range by bisection on the bin formula, which is monotone): no store per value and no
 * division. Up to SL__HIST_LOCAL bins, by the formula in vector lanes, each lane into its own
 * copy of the counts. The AVX2 variants (hist_avx2.c) are compiled for AVX2 whatever the
 * build's baseline and chosen at run time where the CPU has it (sl__cpu_avx2). */
#ifndef SLUICE_HIST_H
#define SLUICE_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "algo/moments.h"

/* Histograms of up to SL__HIST_CMP bins are counted by comparisons; of up to SL__HIST_LOCAL
 * bins in SL__HIST_COPIES private copies, one per lane of a step of 8 values (no chain of
 * increments of one counter through memory when neighbouring values share a bin). */
enum { SL__HIST_CMP = 12, SL__HIST_LOCAL = 64, SL__HIST_COPIES = 8 };

/* The comparison counts of x[0..n - n % 8): ge[j] += #{x >= th[j]} for j < nth (th[0] is
 * lo, th[k] the smallest value of bin k), *gt += #{x > hi}. NaNs count nowhere. */
typedef void sl__hist_cmp_fn(const double *th, int nth, double hi, const double *x, size_t n,
                             uint64_t *ge, uint64_t *gt);

#if defined(SL__HAVE_AVX2_KERNELS)
sl__hist_cmp_fn sl__hist_cmp_avx2;
/* The bins of x[0..n - n % 8) into local[lane][bin] (bin `bins` for a value outside
 * [lo, hi]), by the scalar formula of sl_hist_add; lo < hi and bins / (hi - lo) finite. */
void sl__hist_local_avx2(double lo, double hi, long bins, const double *x, size_t n,
                         uint64_t local[SL__HIST_COPIES][SL__HIST_LOCAL + 1]);
#endif

#endif
