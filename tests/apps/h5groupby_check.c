/* SPDX-License-Identifier: BSD-3-Clause */
/* h5groupby_check: inputs for sluice-h5groupby's edge cases and an oracle for its output,
 * with HDF5's own API, independently of sluice.
 *
 *   h5groupby_check make FILE.h5
 *     /t: 2800 rows (g int32, i int64, u uint64, f float64), g = row % 7:
 *       g=0: i near INT64_MAX (the group's int64 sum overflows upwards)
 *       g=1: i near INT64_MIN (overflows downwards)
 *       g=2: u near UINT64_MAX (above 2^63-1: read as int64, wrapped, except by mean)
 *       g=3: f all NaN; g=4: f partly NaN; g=5: f all +inf; g=6: small values
 *     /c: 10 rows (count int32, v float64, sum_v int32): key fields named like outputs
 *   h5groupby_check check FILE.h5 OUT.h5 /dataset
 *     checks the output of `--key g --agg count,sum:i,mean:i,min:i,max:i,sum:u,mean:u,
 *     min:f,max:f,mean:f` on /t against sums computed here (means from long double sums
 *     of the values, not from int64 arithmetic). Prints the mismatches; exit 0 if none. */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NROWS 2800
#define NGRP 7

typedef struct trow {
  int32_t g;
  int64_t i;
  uint64_t u;
  double f;
} trow;

typedef struct orow {
  int32_t g;
  uint64_t count;
  int64_t sum_i;
  double mean_i;
  int64_t min_i, max_i, sum_u;
  double mean_u, min_f, max_f, mean_f;
} orow;

static hid_t in_type(void) {
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(trow));
  H5Tinsert(t, "g", HOFFSET(trow, g), H5T_NATIVE_INT32);
  H5Tinsert(t, "i", HOFFSET(trow, i), H5T_NATIVE_INT64);
  H5Tinsert(t, "u", HOFFSET(trow, u), H5T_NATIVE_UINT64);
  H5Tinsert(t, "f", HOFFSET(trow, f), H5T_NATIVE_DOUBLE);
  return t;
}

static int make(const char *path) {
  trow *r = calloc(NROWS, sizeof *r);
  for (int k = 0; k < NROWS; k++) {
    int g = k % NGRP, j = k / NGRP;
    r[k].g = g;
    r[k].i = g == 0   ? INT64_MAX - (int64_t)(j * 977)
             : g == 1 ? INT64_MIN + (int64_t)(j * 131)
                      : (int64_t)(j * 37) - 5000;
    r[k].u = g == 2 ? UINT64_MAX - (uint64_t)j * 12345 : (uint64_t)j * 3;
    r[k].f = g == 3 ? NAN : g == 4 && j % 3 == 0 ? NAN : g == 5 ? INFINITY : j * 0.5 - 17.25;
  }
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0)
    return 1;
  hid_t t = in_type();
  hsize_t n = NROWS;
  hid_t s = H5Screate_simple(1, &n, NULL);
  hid_t d = H5Dcreate2(f, "/t", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, r);
  H5Dclose(d);
  H5Sclose(s);
  H5Tclose(t);
  /* a key field named "count" */
  typedef struct crow {
    int32_t count;
    double v;
    int32_t sum_v;
  } crow;
  crow c[10];
  for (int k = 0; k < 10; k++) {
    c[k].count = k % 3;
    c[k].v = k;
    c[k].sum_v = k % 2;
  }
  t = H5Tcreate(H5T_COMPOUND, sizeof(crow));
  H5Tinsert(t, "count", HOFFSET(crow, count), H5T_NATIVE_INT32);
  H5Tinsert(t, "v", HOFFSET(crow, v), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "sum_v", HOFFSET(crow, sum_v), H5T_NATIVE_INT32);
  n = 10;
  s = H5Screate_simple(1, &n, NULL);
  d = H5Dcreate2(f, "/c", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (e >= 0)
    e = H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, c);
  H5Dclose(d);
  H5Sclose(s);
  H5Tclose(t);
  H5Fclose(f);
  free(r);
  return e < 0;
}

static int fails = 0;
#define FAILF(...)                                                                                 \
  do {                                                                                             \
    printf(__VA_ARGS__);                                                                           \
    printf("\n");                                                                                  \
    fails++;                                                                                       \
  } while (0)

static int same(double a, double b, double rel) {
  if (isnan(a) || isnan(b))
    return isnan(a) && isnan(b);
  if (a == b)
    return 1;
  return fabs(a - b) <= rel * fmax(fabs(a), fabs(b));
}

static int check(const char *inpath, const char *outpath, const char *dset) {
  hid_t f = H5Fopen(inpath, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = f < 0 ? -1 : H5Dopen2(f, "/t", H5P_DEFAULT);
  trow *r = calloc(NROWS, sizeof *r);
  hid_t t = in_type();
  if (d < 0 || H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, r) < 0) {
    printf("cannot read %s:/t\n", inpath);
    return 1;
  }
  H5Tclose(t);
  H5Dclose(d);
  H5Fclose(f);

  /* the oracle, group by group */
  orow want[NGRP];
  for (int g = 0; g < NGRP; g++) {
    long double si = 0, su = 0, sf = 0;
    uint64_t wi = 0, wu = 0, n = 0;
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    double fmn = NAN, fmx = NAN;
    for (int k = 0; k < NROWS; k++) {
      if (r[k].g != g)
        continue;
      n++;
      si += (long double)r[k].i;
      su += (long double)r[k].u;
      sf += r[k].f;
      wi += (uint64_t)r[k].i;
      wu += r[k].u;
      if (r[k].i < mn)
        mn = r[k].i;
      if (r[k].i > mx)
        mx = r[k].i;
      if (!isnan(r[k].f)) {
        if (isnan(fmn) || r[k].f < fmn)
          fmn = r[k].f;
        if (isnan(fmx) || r[k].f > fmx)
          fmx = r[k].f;
      }
    }
    orow *w = &want[g];
    w->g = g;
    w->count = n;
    w->sum_i = (int64_t)wi; /* documented: the int64 sum wraps */
    w->mean_i = (double)(si / n);
    w->min_i = mn;
    w->max_i = mx;
    w->sum_u = (int64_t)wu;
    w->mean_u = (double)(su / n);
    w->min_f = fmn;
    w->max_f = fmx;
    w->mean_f = (double)(sf / n);
  }

  f = H5Fopen(outpath, H5F_ACC_RDONLY, H5P_DEFAULT);
  d = f < 0 ? -1 : H5Dopen2(f, dset, H5P_DEFAULT);
  if (d < 0) {
    printf("cannot open %s:%s\n", outpath, dset);
    return 1;
  }
  hid_t s = H5Dget_space(d);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(s, &n, NULL);
  H5Sclose(s);
  t = H5Tcreate(H5T_COMPOUND, sizeof(orow));
  H5Tinsert(t, "g", HOFFSET(orow, g), H5T_NATIVE_INT32);
  H5Tinsert(t, "count", HOFFSET(orow, count), H5T_NATIVE_UINT64);
  H5Tinsert(t, "sum_i", HOFFSET(orow, sum_i), H5T_NATIVE_INT64);
  H5Tinsert(t, "mean_i", HOFFSET(orow, mean_i), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "min_i", HOFFSET(orow, min_i), H5T_NATIVE_INT64);
  H5Tinsert(t, "max_i", HOFFSET(orow, max_i), H5T_NATIVE_INT64);
  H5Tinsert(t, "sum_u", HOFFSET(orow, sum_u), H5T_NATIVE_INT64);
  H5Tinsert(t, "mean_u", HOFFSET(orow, mean_u), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "min_f", HOFFSET(orow, min_f), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "max_f", HOFFSET(orow, max_f), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "mean_f", HOFFSET(orow, mean_f), H5T_NATIVE_DOUBLE);
  orow *o = calloc(n + 1, sizeof *o);
  if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, o) < 0) {
    printf("cannot read %s:%s with the expected fields\n", outpath, dset);
    return 1;
  }
  H5Tclose(t);
  H5Dclose(d);
  H5Fclose(f);

  if (n != NGRP)
    FAILF("%llu groups, expected %d", (unsigned long long)n, NGRP);
  int seen[NGRP] = {0};
  for (hsize_t k = 0; k < n; k++) {
    const orow *x = &o[k];
    if (x->g < 0 || x->g >= NGRP || seen[x->g]++) {
      FAILF("unexpected or repeated group g=%d", x->g);
      continue;
    }
    const orow *w = &want[x->g];
    int g = x->g;
    if (x->count != w->count)
      FAILF("g=%d: count %llu, expected %llu", g, (unsigned long long)x->count,
            (unsigned long long)w->count);
    if (x->sum_i != w->sum_i)
      FAILF("g=%d: sum_i %lld, expected %lld", g, (long long)x->sum_i, (long long)w->sum_i);
    if (x->min_i != w->min_i || x->max_i != w->max_i)
      FAILF("g=%d: min_i/max_i %lld/%lld, expected %lld/%lld", g, (long long)x->min_i,
            (long long)x->max_i, (long long)w->min_i, (long long)w->max_i);
    if (x->sum_u != w->sum_u)
      FAILF("g=%d: sum_u %lld, expected %lld", g, (long long)x->sum_u, (long long)w->sum_u);
    if (!same(x->mean_i, w->mean_i, 1e-12))
      FAILF("g=%d: mean_i %.17g, expected %.17g", g, x->mean_i, w->mean_i);
    if (!same(x->mean_u, w->mean_u, 1e-12))
      FAILF("g=%d: mean_u %.17g, expected %.17g", g, x->mean_u, w->mean_u);
    if (!same(x->min_f, w->min_f, 0) || !same(x->max_f, w->max_f, 0))
      FAILF("g=%d: min_f/max_f %.17g/%.17g, expected %.17g/%.17g", g, x->min_f, x->max_f, w->min_f,
            w->max_f);
    if (!same(x->mean_f, w->mean_f, 1e-12))
      FAILF("g=%d: mean_f %.17g, expected %.17g", g, x->mean_f, w->mean_f);
  }
  printf("h5groupby_check: %llu groups, %d mismatches\n", (unsigned long long)n, fails);
  free(o);
  free(r);
  return fails != 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "make"))
    return make(argv[2]);
  if (argc == 5 && !strcmp(argv[1], "check"))
    return check(argv[2], argv[3], argv[4]);
  fprintf(stderr, "usage: h5groupby_check make FILE.h5 | check FILE.h5 OUT.h5 /dataset\n");
  return 2;
}
