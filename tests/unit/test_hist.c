/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of sl_hist_add's kernels (algo/hist.c, hist_avx2.c): the comparison kernel
 * (up to 12 bins), the per-lane copies (up to 64) and the scalar loop give the bins of the
 * documented formula, spelled out here one value at a time, on values on and next to every
 * edge, lo and hi and their neighbours, NaN, both infinities, both zeros, huge and
 * subnormal values, random values around the range; ranges from subnormal widths to
 * -DBL_MAX..DBL_MAX, lo == hi; any split of the input into calls (tails of 0..7 values).
 * Run twice by ctest: as is (AVX2 where the CPU has it) and with SLUICE_SIMD=sse2. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/hist.h"
#include "sluice.h"
#include "unit.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  return sl_test_xorshift(&rng_state);
}

static double unif(void) {
  return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* The oracle: sl_block.h's formula, one value at a time. */
static void oracle(double lo, double hi, long bins, const double *x, size_t n, uint64_t *count) {
  const long last = bins - 1;
  for (size_t i = 0; i < n; i++) {
    double v = x[i];
    if (!(v >= lo && v <= hi))
      continue;
    double w = hi - lo;
    long b;
    if (v == hi)
      b = last;
    else if (isfinite(w))
      b = (long)((v - lo) / w * (double)bins);
    else
      b = (long)((v / 2 - lo / 2) / (hi / 2 - lo / 2) * (double)bins);
    count[b > last ? last : b < 0 ? 0 : b]++;
  }
}

/* Values for [lo, hi] in `bins` bins: edges and their neighbours, the range's ends, the
 * special values, random values over [lo - w/8, hi + w/8]; n values, shuffled. */
static size_t make_values(double lo, double hi, long bins, double *x, size_t cap) {
  size_t n = 0;
  sl_hist h = {lo, hi, bins, NULL};
  for (long e = 0; e <= bins && n + 3 <= cap / 2; e++) {
    double v = sl_hist_edge(&h, e);
    x[n++] = v;
    x[n++] = nextafter(v, -INFINITY);
    x[n++] = nextafter(v, INFINITY);
  }
  const double special[] = {NAN,
                            -NAN,
                            INFINITY,
                            -INFINITY,
                            0.0,
                            -0.0,
                            DBL_MAX,
                            -DBL_MAX,
                            DBL_MIN,
                            -DBL_MIN,
                            4.9e-324,
                            -4.9e-324,
                            1e300,
                            -1e300,
                            1e-300,
                            lo,
                            hi,
                            lo,
                            hi,
                            nextafter(lo, -INFINITY),
                            nextafter(hi, INFINITY)};
  for (size_t i = 0; i < sizeof special / sizeof special[0] && n < cap; i++)
    x[n++] = special[i];
  double w = hi - lo;
  while (n < cap) {
    double u = unif() * 1.25 - 0.125;
    x[n++] = isfinite(w) ? lo + w * u : lo * (1 - u) + hi * u;
  }
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(rnd() % (i + 1));
    double t = x[i];
    x[i] = x[j];
    x[j] = t;
  }
  return n;
}

static int compare(double lo, double hi, long bins, const double *x, size_t n, size_t piece) {
  uint64_t *got = calloc((size_t)bins, sizeof *got), *want = calloc((size_t)bins, sizeof *want);
  sl_hist h = {lo, hi, bins, got};
  for (size_t i = 0; i < n; i += piece)
    sl_hist_add(&h, x + i, n - i < piece ? n - i : piece);
  oracle(lo, hi, bins, x, n, want);
  int bad = 0;
  for (long b = 0; b < bins; b++)
    if (got[b] != want[b]) {
      if (!bad)
        fprintf(stderr,
                "\n[%.17g, %.17g] %ld bins, pieces of %zu: bin %ld has %llu, expected %llu\n", lo,
                hi, bins, piece, b, (unsigned long long)got[b], (unsigned long long)want[b]);
      bad = 1;
    }
  free(got);
  free(want);
  return bad;
}

static const double ranges[][2] = {
    {0, 1},
    {0.021, 70},
    {-5.5, 3.25},
    {5.516690202580241, 46.01482671778749}, /* edges where a reciprocal floors differently */
    {0, 4095},
    {0, 26843544},
    {-1, -0.0},
    {1e-300, 2e-300},
    {0, 4.9e-324 * 1000}, /* a subnormal width: bins / w overflows */
    {-1e300, 1e300},
    {1e308, 1.7e308},
    {-DBL_MAX, DBL_MAX}, /* hi - lo overflows */
    {3, 3},              /* lo == hi */
    {-2.5, nextafter(-2.5, 0)},
};

static void test_formula(void) {
  enum { CAP = 4099 };
  double *x = malloc(CAP * sizeof *x);
  const long nbins[] = {1, 2, 3, 5, 7, 9, 10, 11, 12, 13, 16, 42, 63, 64, 65, 100, 1000};
  const size_t pieces[] = {CAP, 512, 13, 8, 7, 1};
  int bad = 0;
  for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
    for (size_t b = 0; b < sizeof nbins / sizeof nbins[0]; b++) {
      size_t n = make_values(ranges[r][0], ranges[r][1], nbins[b], x, CAP);
      for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++)
        bad += compare(ranges[r][0], ranges[r][1], nbins[b], x, n, pieces[p]);
    }
  EXPECT_INT(bad, 0);
  free(x);
}

/* Random ranges (many threshold-cache entries, evicted and refilled), few bins. */
static void test_random_ranges(void) {
  enum { N = 1000 };
  double x[N];
  int bad = 0;
  for (int t = 0; t < 300; t++) {
    double a = (unif() - 0.5) * pow(10, (double)(rnd() % 40) - 20);
    double w = unif() * pow(10, (double)(rnd() % 40) - 20);
    long bins = 1 + (long)(rnd() % 20);
    size_t n = make_values(a, a + w, bins, x, N);
    bad += compare(a, a + w, bins, x, n, rnd() % 2 ? n : 64 + rnd() % 64);
  }
  EXPECT_INT(bad, 0);
}

/* Sorted input: long runs of one bin (the per-lane copies' case). */
static void test_sorted(void) {
  enum { N = 100003 };
  double *x = malloc(N * sizeof *x);
  for (size_t i = 0; i < N; i++)
    x[i] = (double)i;
  int bad = 0;
  const long nbins[] = {10, 12, 50, 64};
  for (size_t b = 0; b < sizeof nbins / sizeof nbins[0]; b++)
    bad += compare(0, N - 1, nbins[b], x, N, 512);
  EXPECT_INT(bad, 0);
  free(x);
}

/* More ranges taking turns than the thresholds table holds (each call of a range without its
 * thresholds: the per-lane kernel), and fewer (thresholds from their second call on). */
static void test_ranges_in_turn(void) {
  enum { R = 20, N = 4096, PIECE = 512 };
  double *x = malloc(R * N * sizeof *x);
  uint64_t got[R][10] = {{0}}, want[R][10] = {{0}};
  for (int nr = 4; nr <= R; nr += R - 4) {
    memset(got, 0, sizeof got);
    memset(want, 0, sizeof want);
    for (int r = 0; r < nr; r++) {
      size_t n = make_values(r, r + 1.5, 10, x + (size_t)r * N, N);
      oracle(r, r + 1.5, 10, x + (size_t)r * N, n, want[r]);
    }
    for (size_t at = 0; at < N; at += PIECE)
      for (int r = 0; r < nr; r++) {
        sl_hist h = {r, r + 1.5, 10, got[r]};
        sl_hist_add(&h, x + (size_t)r * N + at, PIECE);
      }
    int bad = 0;
    for (int r = 0; r < nr; r++)
      for (int b = 0; b < 10; b++)
        bad += got[r][b] != want[r][b];
    EXPECT_INT(bad, 0);
  }
  free(x);
}

int main(void) {
#if defined(SL__HAVE_AVX2_KERNELS)
  fprintf(stderr, "kernels: %s\n", sl__cpu_avx2() ? "avx2" : "sse2");
#endif
  const sl_test tests[] = {{"the formula on edges and special values", test_formula},
                           {"random ranges", test_random_ranges},
                           {"sorted values", test_sorted},
                           {"ranges in turn", test_ranges_in_turn},
                           {NULL, NULL}};
  return sl_test_main("hist", tests);
}
