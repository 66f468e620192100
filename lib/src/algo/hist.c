/* SPDX-License-Identifier: BSD-3-Clause */
/* Histograms over arrays of doubles (sluice/sl_block.h), with the kernels of algo/hist.h:
 * few bins by comparisons with each bin's exact lower threshold (cached per thread for the
 * last few ranges), up to SL__HIST_LOCAL bins by the formula in vector lanes, more bins (or
 * a range whose width the kernels cannot take) by the scalar formula. Every path gives the
 * formula's bins. */
#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "algo/hist.h"
#include "core/core.h"

double sl_hist_edge(const sl_hist *h, long e) {
  double lo = h->lo, hi = h->hi, t = (double)e / (double)h->bins;
  if (e == h->bins)
    return hi;
  if (isfinite(hi - lo))
    return lo + (hi - lo) * t;
  return lo * (1 - t) + hi * t;
}

/* The bin of v in [lo, hi] by the formula (w = hi - lo finite); outside: -1. */
static long bin_of(double lo, double hi, long bins, double v) {
  if (!(v >= lo && v <= hi))
    return -1;
  long last = bins - 1, b = v == hi ? last : (long)((v - lo) / (hi - lo) * (double)bins);
  return b > last ? last : b < 0 ? 0 : b;
}

/* Doubles as integers in the same order (-0 just below +0), and back. */
static int64_t order_key(double d) {
  int64_t b;
  memcpy(&b, &d, sizeof b);
  return b < 0 ? b ^ INT64_MAX : b;
}

static double from_key(int64_t k) {
  int64_t b = k < 0 ? k ^ INT64_MAX : k;
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}

/* th[0] = lo and th[k] (0 < k < bins) the smallest double v in [lo, hi] with bin_of(v) >= k.
 * The formula is monotone in v (a difference, a quotient by w > 0 and a product by bins > 0,
 * each correctly rounded, then truncated and clamped), so bin_of(v) >= k exactly when
 * v >= th[k]: the counts of x >= th[k] give the bins without the formula. */
static void thresholds(double lo, double hi, long bins, double *th) {
  th[0] = lo;
  int64_t from = order_key(lo);
  for (long k = 1; k < bins; k++) {
    int64_t a = from, b = order_key(hi); /* bin_of(hi) = bins - 1 >= k */
    while (a < b) {
      int64_t mid = a + (int64_t)(((uint64_t)b - (uint64_t)a) / 2);
      if (bin_of(lo, hi, bins, from_key(mid)) >= k)
        b = mid;
      else
        a = mid + 1;
    }
    th[k] = from_key(a);
    from = a;
  }
}

/* The thresholds of the last few ranges, per thread (a block's fields take turns). The
 * bisection costs about (bins - 1) x 64 evaluations of the formula, so a range gets its
 * thresholds when a call has many values or when the range comes back (a second call while
 * it is still remembered); until then, and when more ranges take turns than the table
 * holds, the per-lane kernel bins the call. */
enum { TH_CACHE = 16, TH_AT_ONCE = 4096 };
typedef struct th_entry {
  double lo, hi;
  long bins; /* 0: an empty entry */
  int ready; /* th holds the thresholds */
  double th[SL__HIST_CMP];
} th_entry;
static _Thread_local th_entry th_cache[TH_CACHE];
static _Thread_local unsigned th_next;

/* The thresholds of [lo, hi] in `bins` bins, or NULL when this call goes without. */
static const double *cached_thresholds(double lo, double hi, long bins, size_t n) {
  th_entry *e = NULL;
  for (int i = 0; i < TH_CACHE && !e; i++)
    if (th_cache[i].bins == bins && !memcmp(&th_cache[i].lo, &lo, sizeof lo) &&
        !memcmp(&th_cache[i].hi, &hi, sizeof hi))
      e = &th_cache[i];
  if (e && e->ready)
    return e->th;
  if (!e) {
    e = &th_cache[th_next++ % TH_CACHE];
    e->lo = lo;
    e->hi = hi;
    e->bins = bins;
    e->ready = 0;
    if (n < TH_AT_ONCE)
      return NULL; /* remembered; thresholds if it comes back */
  }
  thresholds(lo, hi, bins, e->th);
  e->ready = 1;
  return e->th;
}

#if defined(__SSE2__)
/* The comparison kernel (hist.h) with NTH thresholds known at compile time: one counter
 * register per threshold, 8 values a step. */
static inline __attribute__((always_inline)) void cmp_sse2(const double *th, const int nth,
                                                           double hi, const double *x, size_t n,
                                                           uint64_t *ge, uint64_t *gt) {
  __m128i c[SL__HIST_CMP], g = _mm_setzero_si128();
  __m128d t[SL__HIST_CMP];
  const __m128d hiv = _mm_set1_pd(hi);
  for (int j = 0; j < nth; j++) {
    c[j] = _mm_setzero_si128();
    t[j] = _mm_set1_pd(th[j]);
  }
  for (size_t i = 0; i + 8 <= n; i += 8) {
    __m128d a[4];
    for (int q = 0; q < 4; q++) {
      a[q] = _mm_loadu_pd(x + i + 2 * q);
      g = _mm_sub_epi64(g, _mm_castpd_si128(_mm_cmpgt_pd(a[q], hiv)));
    }
    /* unrolled: the counters stay in registers */
#pragma GCC unroll 12
    for (int j = 0; j < nth; j++)
#pragma GCC unroll 4
      for (int q = 0; q < 4; q++) /* a mask is -1 where true */
        c[j] = _mm_sub_epi64(c[j], _mm_castpd_si128(_mm_cmpge_pd(a[q], t[j])));
  }
  uint64_t v[2];
  for (int j = 0; j < nth; j++) {
    _mm_storeu_si128((__m128i *)(void *)v, c[j]);
    ge[j] += v[0] + v[1];
  }
  _mm_storeu_si128((__m128i *)(void *)v, g);
  *gt += v[0] + v[1];
}

#define SL__CMP_CASES(K) K(1) K(2) K(3) K(4) K(5) K(6) K(7) K(8) K(9) K(10) K(11) K(12)

static void hist_cmp_sse2(const double *th, int nth, double hi, const double *x, size_t n,
                          uint64_t *ge, uint64_t *gt) {
  switch (nth) {
#define SL__CASE(N)                                                                                \
  case N:                                                                                          \
    cmp_sse2(th, N, hi, x, n, ge, gt);                                                             \
    break;
    SL__CMP_CASES(SL__CASE)
#undef SL__CASE
  default:
    break;
  }
}

/* The bins of 2 values by the formula (x == hi: (hi - lo) / w * bins is bins, clamped to the
 * last bin like the formula's x == hi), a value outside [lo, hi] (NaNs and infinities too)
 * to the dummy bin `bins`. */
static inline __m128i bins2(__m128d a, __m128d lov, __m128d hiv, __m128d wv, __m128d binv,
                            __m128d lastv) {
  __m128d in = _mm_and_pd(_mm_cmpge_pd(a, lov), _mm_cmple_pd(a, hiv));
  __m128d t = _mm_mul_pd(_mm_div_pd(_mm_sub_pd(a, lov), wv), binv);
  t = _mm_min_pd(_mm_max_pd(t, _mm_setzero_pd()), lastv);
  t = _mm_or_pd(_mm_and_pd(in, t), _mm_andnot_pd(in, binv));
  return _mm_cvttpd_epi32(t);
}

/* The bins of x[0..n - n % 8) into local[lane][bin], 8 values a step (see hist.h). */
static void hist_local_sse2(double lo, double hi, long bins, const double *x, size_t n,
                            uint64_t local[SL__HIST_COPIES][SL__HIST_LOCAL + 1]) {
  const __m128d lov = _mm_set1_pd(lo), hiv = _mm_set1_pd(hi), wv = _mm_set1_pd(hi - lo),
                binv = _mm_set1_pd((double)bins), lastv = _mm_set1_pd((double)(bins - 1));
  for (size_t i = 0; i + 8 <= n; i += 8) {
    int k[8];
    for (int q = 0; q < 4; q++)
      _mm_storel_epi64((__m128i *)(void *)(k + 2 * q),
                       bins2(_mm_loadu_pd(x + i + 2 * q), lov, hiv, wv, binv, lastv));
    for (int l = 0; l < 8; l++)
      local[l][k[l]]++;
  }
}

/* x[0..n - n % 8) binned into count by the kernels. */
static void hist_vector(const sl_hist *h, const double *x, size_t n) {
  const double lo = h->lo, hi = h->hi;
  const long bins = h->bins;
  uint64_t *count = h->count;
#if defined(SL__HAVE_AVX2_KERNELS)
  int avx2 = sl__cpu_avx2();
#endif
  const double *th = bins <= SL__HIST_CMP ? cached_thresholds(lo, hi, bins, n) : NULL;
  if (th) {
    uint64_t ge[SL__HIST_CMP + 1] = {0}, gt = 0;
#if defined(SL__HAVE_AVX2_KERNELS)
    if (avx2)
      sl__hist_cmp_avx2(th, (int)bins, hi, x, n, ge, &gt);
    else
#endif
      hist_cmp_sse2(th, (int)bins, hi, x, n, ge, &gt);
    ge[bins] = gt; /* #{x >= th[k]} - #{x >= th[k + 1]}: bin k; the last bin ends at hi */
    for (long k = 0; k < bins; k++)
      count[k] += ge[k] - ge[k + 1];
    return;
  }
  uint64_t local[SL__HIST_COPIES][SL__HIST_LOCAL + 1];
  memset(local, 0, sizeof local);
#if defined(SL__HAVE_AVX2_KERNELS)
  if (avx2)
    sl__hist_local_avx2(lo, hi, bins, x, n, local);
  else
#endif
    hist_local_sse2(lo, hi, bins, x, n, local);
  for (long k = 0; k < bins; k++) {
    uint64_t c = 0;
    for (int l = 0; l < SL__HIST_COPIES; l++)
      c += local[l][k];
    count[k] += c;
  }
}
#endif

void sl_hist_add(sl_hist *h, const double *x, size_t n) {
  const double lo = h->lo, hi = h->hi, w = hi - lo, bins = (double)h->bins;
  const long last = h->bins - 1;
  uint64_t *count = h->count;
  if (!isfinite(w)) {
    /* hi - lo overflows (a range near -DBL_MAX..DBL_MAX): halves */
    for (size_t i = 0; i < n; i++) {
      double v = x[i];
      if (!(v >= lo && v <= hi))
        continue; /* outside, and so the infinities and NaNs */
      long b = v == hi ? last : (long)((v / 2 - lo / 2) / (hi / 2 - lo / 2) * bins);
      b = b > last ? last : b < 0 ? 0 : b;
      count[b]++;
    }
    return;
  }
  size_t i = 0;
#if defined(__SSE2__)
  /* the vector kernels: up to SL__HIST_LOCAL bins, and a width whose bins / w is finite
   * (lo == hi, or a width near the smallest doubles, stay with the scalar loop) */
  if (h->bins <= SL__HIST_LOCAL && w > 0 && isfinite(bins / w) && n >= 8) {
    hist_vector(h, x, n);
    i = n - n % 8;
  }
#endif
  for (; i < n; i++) {
    long b = bin_of(lo, hi, h->bins, x[i]);
    if (b >= 0)
      count[b]++;
  }
}
