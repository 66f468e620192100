/* SPDX-License-Identifier: BSD-3-Clause */
/* The AVX2 kernels of algo/moments.c (see moments.h): the SSE2 loops there, four lanes a
 * register. Compiled with the target attribute; called only where sl__cpu_avx2() (core/cpu.c) says
 * so. */
#include "algo/moments.h"

#if defined(SL__HAVE_AVX2_KERNELS)
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

__attribute__((target("avx2"))) static sl__chunk_sums chunk_sums_masked(const double *x, size_t n) {
  const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1),
                pinf = _mm256_set1_pd(INFINITY), ninf = _mm256_set1_pd(-INFINITY);
  __m256d s0 = zero, s1 = zero, c0 = zero, c1 = zero, lo0 = pinf, lo1 = pinf, hi0 = ninf,
          hi1 = ninf;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256d a = _mm256_loadu_pd(x + i), b = _mm256_loadu_pd(x + i + 4);
    __m256d fa = _mm256_cmp_pd(_mm256_sub_pd(a, a), zero, _CMP_EQ_OQ);
    __m256d fb = _mm256_cmp_pd(_mm256_sub_pd(b, b), zero, _CMP_EQ_OQ);
    __m256d va = _mm256_and_pd(fa, a), vb = _mm256_and_pd(fb, b);
    s0 = _mm256_add_pd(s0, va);
    s1 = _mm256_add_pd(s1, vb);
    c0 = _mm256_add_pd(c0, _mm256_and_pd(fa, one));
    c1 = _mm256_add_pd(c1, _mm256_and_pd(fb, one));
    lo0 = _mm256_min_pd(_mm256_blendv_pd(pinf, a, fa), lo0);
    lo1 = _mm256_min_pd(_mm256_blendv_pd(pinf, b, fb), lo1);
    hi0 = _mm256_max_pd(_mm256_blendv_pd(ninf, a, fa), hi0);
    hi1 = _mm256_max_pd(_mm256_blendv_pd(ninf, b, fb), hi1);
  }
  double s[4], c[4], lo[4], hi[4];
  _mm256_storeu_pd(s, _mm256_add_pd(s0, s1));
  _mm256_storeu_pd(c, _mm256_add_pd(c0, c1));
  _mm256_storeu_pd(lo, _mm256_min_pd(lo0, lo1));
  _mm256_storeu_pd(hi, _mm256_max_pd(hi0, hi1));
  sl__chunk_sums r = {0, 0, INFINITY, -INFINITY};
  for (int l = 0; l < 4; l++) {
    r.n += c[l];
    r.sum += s[l];
    r.min = lo[l] < r.min ? lo[l] : r.min;
    r.max = hi[l] > r.max ? hi[l] : r.max;
  }
  return sl__chunk_sums_tail(x, i, n, r);
}

/* Without masks where every value is finite (moments.c's chunk_sums). */
__attribute__((target("avx2"))) sl__chunk_sums sl__chunk_sums_avx2(const double *x, size_t n) {
  const __m256d zero = _mm256_setzero_pd(), pinf = _mm256_set1_pd(INFINITY),
                ninf = _mm256_set1_pd(-INFINITY);
  __m256d s0 = zero, s1 = zero, lo0 = pinf, lo1 = pinf, hi0 = ninf, hi1 = ninf;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256d a = _mm256_loadu_pd(x + i), b = _mm256_loadu_pd(x + i + 4);
    s0 = _mm256_add_pd(s0, a);
    s1 = _mm256_add_pd(s1, b);
    lo0 = _mm256_min_pd(a, lo0);
    lo1 = _mm256_min_pd(b, lo1);
    hi0 = _mm256_max_pd(a, hi0);
    hi1 = _mm256_max_pd(b, hi1);
  }
  __m256d f0 = _mm256_cmp_pd(_mm256_sub_pd(s0, s0), zero, _CMP_EQ_OQ),
          f1 = _mm256_cmp_pd(_mm256_sub_pd(s1, s1), zero, _CMP_EQ_OQ);
  if (_mm256_movemask_pd(_mm256_and_pd(f0, f1)) != 15)
    return chunk_sums_masked(x, n);
  double s[4], lo[4], hi[4];
  _mm256_storeu_pd(s, _mm256_add_pd(s0, s1));
  _mm256_storeu_pd(lo, _mm256_min_pd(lo0, lo1));
  _mm256_storeu_pd(hi, _mm256_max_pd(hi0, hi1));
  sl__chunk_sums r = {(double)i, 0, INFINITY, -INFINITY};
  for (int l = 0; l < 4; l++) {
    r.sum += s[l];
    r.min = lo[l] < r.min ? lo[l] : r.min;
    r.max = hi[l] > r.max ? hi[l] : r.max;
  }
  return sl__chunk_sums_tail(x, i, n, r);
}

__attribute__((target("avx2"))) double sl__chunk_m2_avx2(const double *x, size_t n, double mean,
                                                         int finite) {
  const __m256d zero = _mm256_setzero_pd(), m = _mm256_set1_pd(mean);
  __m256d q0 = zero, q1 = zero;
  size_t i = 0;
  if (finite)
    for (; i + 8 <= n; i += 8) {
      __m256d da = _mm256_sub_pd(_mm256_loadu_pd(x + i), m),
              db = _mm256_sub_pd(_mm256_loadu_pd(x + i + 4), m);
      q0 = _mm256_add_pd(q0, _mm256_mul_pd(da, da));
      q1 = _mm256_add_pd(q1, _mm256_mul_pd(db, db));
    }
  for (; i + 8 <= n; i += 8) {
    __m256d a = _mm256_loadu_pd(x + i), b = _mm256_loadu_pd(x + i + 4);
    __m256d fa = _mm256_cmp_pd(_mm256_sub_pd(a, a), zero, _CMP_EQ_OQ);
    __m256d fb = _mm256_cmp_pd(_mm256_sub_pd(b, b), zero, _CMP_EQ_OQ);
    __m256d da = _mm256_sub_pd(a, m), db = _mm256_sub_pd(b, m);
    q0 = _mm256_add_pd(q0, _mm256_and_pd(fa, _mm256_mul_pd(da, da)));
    q1 = _mm256_add_pd(q1, _mm256_and_pd(fb, _mm256_mul_pd(db, db)));
  }
  double q[4];
  _mm256_storeu_pd(q, _mm256_add_pd(q0, q1));
  double r = q[0] + q[1] + q[2] + q[3];
  for (; i < n; i++) {
    double v = x[i], d = v - mean;
    r += v - v == 0 ? d * d : 0;
  }
  return r;
}

#else
typedef int sl__moments_avx2_unused; /* an empty translation unit is not ISO C */
#endif
