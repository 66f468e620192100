/* SPDX-License-Identifier: BSD-3-Clause */
/* Statistics and histograms over arrays of doubles (sluice/sl_block.h), for a block's
 * columns: per chunk a sum, min and max loop and a sum of squared deviations from the
 * chunk's mean (both on data in cache, with independent accumulators the compiler can keep
 * in vector registers), merged into the running state with Chan, Golub and LeVeque's
 * pairwise formula; NaNs and infinities, rare, are counted in a second loop only when a
 * chunk has any. */
#include <math.h>
#include <string.h>

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

/* One chunk (n <= SL__MOMENTS_CHUNK) folded into s. */
static void add_chunk(sl_moments *s, const double *x, size_t n) {
  double sum[SL__LANES] = {0}, cnt[SL__LANES] = {0};
  double lo[SL__LANES], hi[SL__LANES];
  for (int l = 0; l < SL__LANES; l++) {
    lo[l] = INFINITY;
    hi[l] = -INFINITY;
  }
  size_t i = 0;
  for (; i + SL__LANES <= n; i += SL__LANES)
    for (int l = 0; l < SL__LANES; l++) {
      double v = x[i + l];
      int fin = v - v == 0; /* false for NaN and the infinities */
      sum[l] += fin ? v : 0;
      cnt[l] += fin ? 1 : 0;
      lo[l] = fin && v < lo[l] ? v : lo[l];
      hi[l] = fin && v > hi[l] ? v : hi[l];
    }
  for (; i < n; i++) {
    double v = x[i];
    int fin = v - v == 0;
    sum[0] += fin ? v : 0;
    cnt[0] += fin ? 1 : 0;
    lo[0] = fin && v < lo[0] ? v : lo[0];
    hi[0] = fin && v > hi[0] ? v : hi[0];
  }
  sl_moments c = {0};
  for (int l = 0; l < SL__LANES; l++) {
    c.n += cnt[l];
    if (lo[l] < c.min || l == 0)
      c.min = lo[l];
    if (hi[l] > c.max || l == 0)
      c.max = hi[l];
  }
  if (c.n < (double)n)
    count_nonfinite(&c, x, n);
  if (c.n > 0) {
    c.mean = (sum[0] + sum[1] + sum[2] + sum[3]) / c.n;
    double m2[SL__LANES] = {0}, mean = c.mean;
    for (i = 0; i + SL__LANES <= n; i += SL__LANES)
      for (int l = 0; l < SL__LANES; l++) {
        double v = x[i + l], d = v - mean;
        m2[l] += v - v == 0 ? d * d : 0;
      }
    for (; i < n; i++) {
      double v = x[i], d = v - mean;
      m2[0] += v - v == 0 ? d * d : 0;
    }
    c.m2 = m2[0] + m2[1] + m2[2] + m2[3];
  }
  sl_moments_merge(s, &c);
}

void sl_moments_add(sl_moments *s, const double *x, size_t n) {
  for (size_t i = 0; i < n; i += SL__MOMENTS_CHUNK)
    add_chunk(s, x + i, n - i < SL__MOMENTS_CHUNK ? n - i : SL__MOMENTS_CHUNK);
}

double sl_hist_edge(const sl_hist *h, long e) {
  double lo = h->lo, hi = h->hi, t = (double)e / (double)h->bins;
  if (e == h->bins)
    return hi;
  if (isfinite(hi - lo))
    return lo + (hi - lo) * t;
  return lo * (1 - t) + hi * t;
}

void sl_hist_add(sl_hist *h, const double *x, size_t n) {
  const double lo = h->lo, hi = h->hi, w = hi - lo, bins = (double)h->bins;
  const long last = h->bins - 1;
  uint64_t *count = h->count;
  if (isfinite(w)) {
    for (size_t i = 0; i < n; i++) {
      double v = x[i];
      if (!(v >= lo && v <= hi))
        continue; /* outside, and so the infinities and NaNs */
      long b = v == hi ? last : (long)((v - lo) / w * bins);
      b = b > last ? last : b < 0 ? 0 : b;
      count[b]++;
    }
    return;
  }
  /* hi - lo overflows (a range near -DBL_MAX..DBL_MAX): halves */
  for (size_t i = 0; i < n; i++) {
    double v = x[i];
    if (!(v >= lo && v <= hi))
      continue;
    long b = v == hi ? last : (long)((v / 2 - lo / 2) / (hi / 2 - lo / 2) * bins);
    b = b > last ? last : b < 0 ? 0 : b;
    count[b]++;
  }
}
