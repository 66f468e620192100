/* SPDX-License-Identifier: BSD-3-Clause */
/* The AVX2 kernels of algo/hist.c (see hist.h): its SSE2 loops, four lanes a register.
 * Compiled with the target attribute; called only where sl__cpu_avx2() says so. */
#include "algo/hist.h"

#if defined(SL__HAVE_AVX2_KERNELS)
#include <immintrin.h>

/* The comparison kernel (hist.h) with NTH thresholds known at compile time: one counter
 * register per threshold, 8 values a step. */
static inline __attribute__((always_inline, target("avx2"))) void
cmp_avx2(const double *th, const int nth, double hi, const double *x, size_t n, uint64_t *ge,
         uint64_t *gt) {
  __m256i c[SL__HIST_CMP], g = _mm256_setzero_si256();
  __m256d t[SL__HIST_CMP];
  const __m256d hiv = _mm256_set1_pd(hi);
  for (int j = 0; j < nth; j++) {
    c[j] = _mm256_setzero_si256();
    t[j] = _mm256_set1_pd(th[j]);
  }
  for (size_t i = 0; i + 8 <= n; i += 8) {
    __m256d a = _mm256_loadu_pd(x + i), b = _mm256_loadu_pd(x + i + 4);
    g = _mm256_sub_epi64(g, _mm256_castpd_si256(_mm256_cmp_pd(a, hiv, _CMP_GT_OQ)));
    g = _mm256_sub_epi64(g, _mm256_castpd_si256(_mm256_cmp_pd(b, hiv, _CMP_GT_OQ)));
    /* unrolled: the counters stay in registers */
#pragma GCC unroll 12
    for (int j = 0; j < nth; j++) { /* a mask is -1 where true */
      __m256i m = _mm256_add_epi64(_mm256_castpd_si256(_mm256_cmp_pd(a, t[j], _CMP_GE_OQ)),
                                   _mm256_castpd_si256(_mm256_cmp_pd(b, t[j], _CMP_GE_OQ)));
      c[j] = _mm256_sub_epi64(c[j], m);
    }
  }
  uint64_t v[4];
  for (int j = 0; j < nth; j++) {
    _mm256_storeu_si256((__m256i *)(void *)v, c[j]);
    ge[j] += v[0] + v[1] + v[2] + v[3];
  }
  _mm256_storeu_si256((__m256i *)(void *)v, g);
  *gt += v[0] + v[1] + v[2] + v[3];
}

__attribute__((target("avx2"))) void sl__hist_cmp_avx2(const double *th, int nth, double hi,
                                                       const double *x, size_t n, uint64_t *ge,
                                                       uint64_t *gt) {
  switch (nth) {
#define SL__CASE(N)                                                                                \
  case N:                                                                                          \
    cmp_avx2(th, N, hi, x, n, ge, gt);                                                             \
    break;
    SL__CASE(1)
    SL__CASE(2)
    SL__CASE(3)
    SL__CASE(4)
    SL__CASE(5)
    SL__CASE(6)
    SL__CASE(7)
    SL__CASE(8)
    SL__CASE(9)
    SL__CASE(10)
    SL__CASE(11)
    SL__CASE(12)
#undef SL__CASE
  default:
    break;
  }
}

/* The bins of 4 values: (x - lo) * (bins / w) is within a few ulps of the formula's
 * (x - lo) / w * bins (t <= 64 here: within 1e-13); only where that could move t across an
 * integer (a lane within 1e-9 of one) is the division made. x == hi needs no case of its
 * own: (hi - lo) / w * bins is bins, clamped to the last bin as the formula's x == hi is. A
 * value outside [lo, hi] (NaNs and infinities too) goes to the dummy bin `bins`. */
__attribute__((target("avx2"))) static inline __m128i bins4(__m256d a, __m256d lov, __m256d hiv,
                                                            __m256d wv, __m256d binv,
                                                            __m256d scalev, __m256d lastv,
                                                            __m256d dummy) {
  const __m256d zero = _mm256_setzero_pd(), signv = _mm256_set1_pd(-0.0),
                epsv = _mm256_set1_pd(1e-9);
  __m256d in = _mm256_and_pd(_mm256_cmp_pd(a, lov, _CMP_GE_OQ), _mm256_cmp_pd(a, hiv, _CMP_LE_OQ));
  __m256d d = _mm256_sub_pd(a, lov);
  __m256d t = _mm256_mul_pd(d, scalev);
  __m256d r = _mm256_round_pd(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256d near = _mm256_cmp_pd(_mm256_andnot_pd(signv, _mm256_sub_pd(t, r)), epsv, _CMP_LT_OQ);
  if (__builtin_expect(_mm256_movemask_pd(_mm256_and_pd(near, in)) != 0, 0))
    t = _mm256_mul_pd(_mm256_div_pd(d, wv), binv);
  t = _mm256_min_pd(_mm256_max_pd(t, zero), lastv);
  t = _mm256_blendv_pd(dummy, t, in);
  return _mm256_cvttpd_epi32(t);
}

__attribute__((target("avx2"))) void
sl__hist_local_avx2(double lo, double hi, long bins, const double *x, size_t n,
                    uint64_t local[SL__HIST_COPIES][SL__HIST_LOCAL + 1]) {
  const __m256d lov = _mm256_set1_pd(lo), hiv = _mm256_set1_pd(hi), wv = _mm256_set1_pd(hi - lo),
                binv = _mm256_set1_pd((double)bins), lastv = _mm256_set1_pd((double)(bins - 1)),
                dummy = _mm256_set1_pd((double)bins),
                scalev = _mm256_set1_pd((double)bins / (hi - lo));
  /* 8 values a step, each lane into its own copy of the counts: a run of equal bins (sorted
   * data) increments 8 counters in turn instead of one through memory */
  for (size_t i = 0; i + 8 <= n; i += 8) {
    __m128i ka = bins4(_mm256_loadu_pd(x + i), lov, hiv, wv, binv, scalev, lastv, dummy);
    __m128i kb = bins4(_mm256_loadu_pd(x + i + 4), lov, hiv, wv, binv, scalev, lastv, dummy);
    int k[8];
    _mm_storeu_si128((__m128i *)(void *)k, ka);
    _mm_storeu_si128((__m128i *)(void *)(k + 4), kb);
    local[0][k[0]]++;
    local[1][k[1]]++;
    local[2][k[2]]++;
    local[3][k[3]]++;
    local[4][k[4]]++;
    local[5][k[5]]++;
    local[6][k[6]]++;
    local[7][k[7]]++;
  }
}
#else
typedef int sl__hist_avx2_unused; /* an empty translation unit is not ISO C */
#endif
