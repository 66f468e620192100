/* SPDX-License-Identifier: BSD-3-Clause */
/* Statistics over arrays of doubles (sluice/sl_block.h), for a block's
 * columns: per chunk a sum, min and max loop and a sum of squared deviations from the
 * chunk's mean (both on data in cache, with independent accumulators the compiler can keep
 * in vector registers), merged into the running state with Chan, Golub and LeVeque's
 * pairwise formula; NaNs and infinities, rare, are counted in a second loop only when a
 * chunk has any. */
#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "algo/moments.h"
#include "core/core.h"

enum { SL__MOMENTS_CHUNK = 512, SL__LANES = 4 };

void sl_moments_merge(sl_moments *a, const sl_moments *b) {
  a->nan += b->nan;
  a->miss += b->miss;
  a->pinf += b->pinf;
  a->ninf += b->ninf;
  if (b->n == 0)
    return;
  if (a->n == 0) {
    a->n = b->n;
    a->mean = b->mean;
    a->m2 = b->m2;
    a->min = b->min;
    a->max = b->max;
    return;
  }
  double n = a->n + b->n, d = b->mean - a->mean;
  a->mean += d * (b->n / n);
  a->m2 += b->m2 + d * d * (a->n * b->n / n);
  if (b->min < a->min)
    a->min = b->min;
  if (b->max > a->max)
    a->max = b->max;
  a->n = n;
}

double sl_moments_var(const sl_moments *s) {
  return s->n > 0 ? s->m2 / s->n : NAN;
}

/* The non-finite values of x[0..n) counted into s. */
static void count_nonfinite(sl_moments *s, const double *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double v = x[i];
    if (isnan(v))
      s->nan += 1;
    else if (isinf(v)) {
      if (v > 0)
        s->pinf += 1;
      else
        s->ninf += 1;
    }
  }
}

/* The chunk's finite count, sum, min and max, and the sum of squared deviations from its
 * mean (the chunk is in cache for the second loop). */

#if defined(__SSE2__)
/* SSE2 (every x86-64): two pairs of lanes, non-finite lanes masked out (to 0 in the sums,
 * to +inf / -inf in min / max). */
static sl__chunk_sums chunk_sums_masked(const double *x, size_t n) {
  const __m128d zero = _mm_setzero_pd(), one = _mm_set1_pd(1), pinf = _mm_set1_pd(INFINITY),
                ninf = _mm_set1_pd(-INFINITY);
  __m128d s0 = zero, s1 = zero, c0 = zero, c1 = zero, lo0 = pinf, lo1 = pinf, hi0 = ninf,
          hi1 = ninf;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m128d a = _mm_loadu_pd(x + i), b = _mm_loadu_pd(x + i + 2);
    __m128d fa = _mm_cmpeq_pd(_mm_sub_pd(a, a), zero), fb = _mm_cmpeq_pd(_mm_sub_pd(b, b), zero);
    __m128d va = _mm_and_pd(fa, a), vb = _mm_and_pd(fb, b);
    s0 = _mm_add_pd(s0, va);
    s1 = _mm_add_pd(s1, vb);
    c0 = _mm_add_pd(c0, _mm_and_pd(fa, one));
    c1 = _mm_add_pd(c1, _mm_and_pd(fb, one));
    lo0 = _mm_min_pd(_mm_or_pd(va, _mm_andnot_pd(fa, pinf)), lo0);
    lo1 = _mm_min_pd(_mm_or_pd(vb, _mm_andnot_pd(fb, pinf)), lo1);
    hi0 = _mm_max_pd(_mm_or_pd(va, _mm_andnot_pd(fa, ninf)), hi0);
    hi1 = _mm_max_pd(_mm_or_pd(vb, _mm_andnot_pd(fb, ninf)), hi1);
  }
  double s[2], c[2], lo[2], hi[2];
  _mm_storeu_pd(s, _mm_add_pd(s0, s1));
  _mm_storeu_pd(c, _mm_add_pd(c0, c1));
  _mm_storeu_pd(lo, _mm_min_pd(lo0, lo1));
  _mm_storeu_pd(hi, _mm_max_pd(hi0, hi1));
  sl__chunk_sums r = {c[0] + c[1], s[0] + s[1], lo[0] < lo[1] ? lo[0] : lo[1],
                      hi[0] > hi[1] ? hi[0] : hi[1]};
  return sl__chunk_sums_tail(x, i, n, r);
}

/* The same without masks where every value is finite: the same sums in the same order, so
 * the same bits. Non-finite values are found after the loop (a lane's sum that met one is
 * inf or NaN for good; a finite sum that overflowed also goes back), and then the masked
 * loop gives the result. */
static sl__chunk_sums chunk_sums(const double *x, size_t n) {
  const __m128d zero = _mm_setzero_pd(), pinf = _mm_set1_pd(INFINITY),
                ninf = _mm_set1_pd(-INFINITY);
  __m128d s0 = zero, s1 = zero, lo0 = pinf, lo1 = pinf, hi0 = ninf, hi1 = ninf;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m128d a = _mm_loadu_pd(x + i), b = _mm_loadu_pd(x + i + 2);
    s0 = _mm_add_pd(s0, a);
    s1 = _mm_add_pd(s1, b);
    lo0 = _mm_min_pd(a, lo0);
    lo1 = _mm_min_pd(b, lo1);
    hi0 = _mm_max_pd(a, hi0);
    hi1 = _mm_max_pd(b, hi1);
  }
  __m128d f0 = _mm_cmpeq_pd(_mm_sub_pd(s0, s0), zero), f1 = _mm_cmpeq_pd(_mm_sub_pd(s1, s1), zero);
  if (_mm_movemask_pd(_mm_and_pd(f0, f1)) != 3)
    return chunk_sums_masked(x, n);
  double s[2], lo[2], hi[2];
  _mm_storeu_pd(s, _mm_add_pd(s0, s1));
  _mm_storeu_pd(lo, _mm_min_pd(lo0, lo1));
  _mm_storeu_pd(hi, _mm_max_pd(hi0, hi1));
  sl__chunk_sums r = {(double)i, s[0] + s[1], lo[0] < lo[1] ? lo[0] : lo[1],
                      hi[0] > hi[1] ? hi[0] : hi[1]};
  return sl__chunk_sums_tail(x, i, n, r);
}

/* finite: every value of x is (no masks: the same bits). */
static double chunk_m2(const double *x, size_t n, double mean, int finite) {
  const __m128d zero = _mm_setzero_pd(), m = _mm_set1_pd(mean);
  __m128d q0 = zero, q1 = zero;
  size_t i = 0;
  if (finite)
    for (; i + 4 <= n; i += 4) {
      __m128d da = _mm_sub_pd(_mm_loadu_pd(x + i), m), db = _mm_sub_pd(_mm_loadu_pd(x + i + 2), m);
      q0 = _mm_add_pd(q0, _mm_mul_pd(da, da));
      q1 = _mm_add_pd(q1, _mm_mul_pd(db, db));
    }
  for (; i + 4 <= n; i += 4) {
    __m128d a = _mm_loadu_pd(x + i), b = _mm_loadu_pd(x + i + 2);
    __m128d fa = _mm_cmpeq_pd(_mm_sub_pd(a, a), zero), fb = _mm_cmpeq_pd(_mm_sub_pd(b, b), zero);
    __m128d da = _mm_sub_pd(a, m), db = _mm_sub_pd(b, m);
    q0 = _mm_add_pd(q0, _mm_and_pd(fa, _mm_mul_pd(da, da)));
    q1 = _mm_add_pd(q1, _mm_and_pd(fb, _mm_mul_pd(db, db)));
  }
  double q[2];
  _mm_storeu_pd(q, _mm_add_pd(q0, q1));
  double r = q[0] + q[1];
  for (; i < n; i++) {
    double v = x[i], d = v - mean;
    r += v - v == 0 ? d * d : 0;
  }
  return r;
}
#else
static sl__chunk_sums chunk_sums(const double *x, size_t n) {
  return sl__chunk_sums_tail(x, 0, n, (sl__chunk_sums){0, 0, INFINITY, -INFINITY});
}

static double chunk_m2(const double *x, size_t n, double mean, int finite) {
  (void)finite;
  double r = 0;
  for (size_t i = 0; i < n; i++) {
    double v = x[i], d = v - mean;
    r += v - v == 0 ? d * d : 0;
  }
  return r;
}
#endif

/* One chunk (n <= SL__MOMENTS_CHUNK) folded into s. */
static void add_chunk(sl_moments *s, const double *x, size_t n) {
#if defined(SL__HAVE_AVX2_KERNELS)
  int avx2 = sl__cpu_avx2();
  sl__chunk_sums t = avx2 ? sl__chunk_sums_avx2(x, n) : chunk_sums(x, n);
#else
  sl__chunk_sums t = chunk_sums(x, n);
#endif
  sl_moments c = {0};
  c.n = t.n;
  c.min = t.min;
  c.max = t.max;
  if (c.n < (double)n)
    count_nonfinite(&c, x, n);
  if (c.n > 0) {
    c.mean = t.sum / c.n;
    int finite = c.n == (double)n;
#if defined(SL__HAVE_AVX2_KERNELS)
    c.m2 = avx2 ? sl__chunk_m2_avx2(x, n, c.mean, finite) : chunk_m2(x, n, c.mean, finite);
#else
    c.m2 = chunk_m2(x, n, c.mean, finite);
#endif
  }
  sl_moments_merge(s, &c);
}

void sl_moments_add(sl_moments *s, const double *x, size_t n) {
  for (size_t i = 0; i < n; i += SL__MOMENTS_CHUNK)
    add_chunk(s, x + i, n - i < SL__MOMENTS_CHUNK ? n - i : SL__MOMENTS_CHUNK);
}
