/* SPDX-License-Identifier: BSD-3-Clause */
/* For the serial HDF5 oracle programs of the tests (h5oracle.c, h5stats_edge.c): a
 * mismatch is printed with the program's name and counted in `fails`; a failing HDF5 call
 * prints HDF5's error stack and ends the program with status 3. Define ORACLE_NAME first. */
#ifndef SLUICE_ORACLE_H
#define SLUICE_ORACLE_H

#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ORACLE_NAME
#error "define ORACLE_NAME (the program's name in messages) before including oracle.h"
#endif

static int fails = 0;
#define FAILF(...)                                                                                 \
  do {                                                                                             \
    fprintf(stderr, ORACLE_NAME ": MISMATCH: " __VA_ARGS__);                                       \
    fprintf(stderr, "\n");                                                                         \
    fails++;                                                                                       \
  } while (0)
#define OK(expr)                                                                                   \
  do {                                                                                             \
    if ((expr) < 0) {                                                                              \
      fprintf(stderr, ORACLE_NAME ": HDF5 call failed at line %d: %s\n", __LINE__, #expr);         \
      H5Eprint2(H5E_DEFAULT, stderr);                                                              \
      exit(3);                                                                                     \
    }                                                                                              \
  } while (0)

/* A row of sluice-h5stats' /stats table (docs/hdf5.md). */
typedef struct srow {
  char field[256];
  uint64_t count, nan_count;
  double min, max, mean, std;
} srow;

/* Reads the /stats table of the open file of: *n rows, calloc'd (one more, zeroed). */
static srow *read_stats(hid_t of, hsize_t *n) {
  hid_t s256 = H5Tcopy(H5T_C_S1);
  OK(s256);
  OK(H5Tset_size(s256, 256));
  OK(H5Tset_strpad(s256, H5T_STR_NULLTERM));
  hid_t st = H5Tcreate(H5T_COMPOUND, sizeof(srow));
  OK(st);
  OK(H5Tinsert(st, "field", HOFFSET(srow, field), s256));
  OK(H5Tinsert(st, "count", HOFFSET(srow, count), H5T_NATIVE_UINT64));
  OK(H5Tinsert(st, "nan_count", HOFFSET(srow, nan_count), H5T_NATIVE_UINT64));
  OK(H5Tinsert(st, "min", HOFFSET(srow, min), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(st, "max", HOFFSET(srow, max), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(st, "mean", HOFFSET(srow, mean), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(st, "std", HOFFSET(srow, std), H5T_NATIVE_DOUBLE));
  hid_t sd = H5Dopen2(of, "/stats", H5P_DEFAULT);
  OK(sd);
  hid_t ssp = H5Dget_space(sd);
  OK(ssp);
  *n = 0;
  OK(H5Sget_simple_extent_dims(ssp, n, NULL));
  srow *rows = calloc(*n + 1, sizeof *rows);
  if (rows == NULL) {
    fprintf(stderr, ORACLE_NAME ": out of memory\n");
    exit(3);
  }
  if (*n)
    OK(H5Dread(sd, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows));
  H5Sclose(ssp);
  H5Dclose(sd);
  H5Tclose(st);
  H5Tclose(s256);
  return rows;
}

/* equal, both NaN, the same infinity, or finite and close */
static int same(double a, double b, double tol) {
  if (isnan(a) || isnan(b))
    return isnan(a) && isnan(b);
  if (isinf(a) || isinf(b))
    return a == b;
  return fabs(a - b) <= tol * (1.0 + fabs(a) + fabs(b));
}

static void encode(const char *name, char *buf) {
  if (!strcmp(name, ".")) {
    strcpy(buf, "%2E");
    return;
  }
  for (; *name; name++) {
    if (*name == '/') {
      strcpy(buf, "%2F");
      buf += 3;
    } else if (*name == '%') {
      strcpy(buf, "%25");
      buf += 3;
    } else {
      *buf++ = *name;
    }
  }
  *buf = 0;
}

/* Checks the /stats row o and the histogram of field `name` in the output file of against
 * the field's n values v, by the documented rules (docs/hdf5.md, sluice-h5stats): count =
 * non-NaN values; min/max include infinities; mean/std are over the finite values, except
 * mean = +inf (-inf) when +inf (-inf) occurs, NaN when both do, and std = NaN when any
 * infinity occurs; the histogram's range is [rlo, rhi] if have_range, else the finite
 * min..max (0..0 without finite values); values outside it and infinities are not binned,
 * the last bin is closed; edges (dataset /edges/ENCODED) are bins+1 finite values from lo
 * to hi;
 * /histogram/ENCODED has the attribute 'field' with the name. */
static void check_field(hid_t of, const srow *o, const char *name, const double *v, size_t n,
                        int bins, int have_range, double rlo, double rhi) {
  uint64_t cnt = 0, nan = 0, fin = 0, pinf = 0, ninf = 0;
  double mn = NAN, mx = NAN, fmn = 0, fmx = 0, sum = 0;
  for (size_t r = 0; r < n; r++) {
    double x = v[r];
    if (isnan(x)) {
      nan++;
      continue;
    }
    if (!cnt || x < mn)
      mn = x;
    if (!cnt || x > mx)
      mx = x;
    cnt++;
    if (isinf(x)) {
      if (x > 0)
        pinf++;
      else
        ninf++;
      continue;
    }
    if (!fin || x < fmn)
      fmn = x;
    if (!fin || x > fmx)
      fmx = x;
    fin++;
    sum += x;
  }
  double fmean = fin ? sum / (double)fin : NAN, ss = 0;
  for (size_t r = 0; r < n; r++)
    if (isfinite(v[r]))
      ss += (v[r] - fmean) * (v[r] - fmean);
  double mean = pinf && ninf ? NAN : pinf ? INFINITY : ninf ? -INFINITY : fmean;
  double sdv = pinf || ninf || !fin ? NAN : sqrt(ss / (double)fin);
  if (strcmp(o->field, name))
    FAILF("/stats row: field '%s', expected '%s'", o->field, name);
  if (o->count != cnt || o->nan_count != nan)
    FAILF("%s: count %llu, nan_count %llu, expected %llu, %llu", name, (unsigned long long)o->count,
          (unsigned long long)o->nan_count, (unsigned long long)cnt, (unsigned long long)nan);
  if (!same(o->min, mn, 0) || !same(o->max, mx, 0))
    FAILF("%s: min/max %.17g/%.17g, expected %.17g/%.17g", name, o->min, o->max, mn, mx);
  if (!same(o->mean, mean, 1e-9))
    FAILF("%s: mean %.17g, expected %.17g", name, o->mean, mean);
  if (!same(o->std, sdv, 1e-9))
    FAILF("%s: std %.17g, expected %.17g", name, o->std, sdv);
  /* the histogram */
  double lo = have_range ? rlo : fin ? fmn : 0, hi = have_range ? rhi : fin ? fmx : 0;
  uint64_t *h = calloc((size_t)bins, sizeof *h), *got = calloc((size_t)bins, sizeof *got);
  for (size_t r = 0; r < n; r++) {
    double x = v[r];
    if (!isfinite(x) || x < lo || x > hi)
      continue;
    long b = x == hi ? bins - 1 : (long)((x - lo) / (hi - lo) * bins);
    h[b < 0 ? 0 : b >= bins ? bins - 1 : b]++;
  }
  char enc[1024], hp[1100];
  encode(name, enc);
  snprintf(hp, sizeof hp, "/histogram/%s", enc);
  H5E_BEGIN_TRY { /* a missing dataset is a mismatch, not an HDF5 error to print */
    htri_t e = H5Lexists(of, hp, H5P_DEFAULT);
    if (e <= 0)
      FAILF("%s (field '%s') missing", hp, name);
  }
  H5E_END_TRY;
  hid_t hd = -1;
  H5E_BEGIN_TRY {
    hd = H5Dopen2(of, hp, H5P_DEFAULT);
  }
  H5E_END_TRY;
  if (hd >= 0) {
    hid_t hs = H5Dget_space(hd);
    hsize_t hn = 0;
    H5Sget_simple_extent_dims(hs, &hn, NULL);
    H5Sclose(hs);
    if ((int)hn != bins) {
      FAILF("%s: %llu bins, expected %d", hp, (unsigned long long)hn, bins);
    } else {
      OK(H5Dread(hd, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, got));
      for (int b = 0; b < bins; b++)
        if (got[b] != h[b])
          FAILF("%s: bin %d has %llu, expected %llu", hp, b, (unsigned long long)got[b],
                (unsigned long long)h[b]);
    }
    /* the edges: dataset /edges/ENCODED (an attribute could not hold more than 8190) */
    char ep[1100];
    snprintf(ep, sizeof ep, "/edges/%s", enc);
    hid_t ed = -1;
    H5E_BEGIN_TRY {
      ed = H5Dopen2(of, ep, H5P_DEFAULT);
    }
    H5E_END_TRY;
    if (ed < 0)
      FAILF("%s (edges of field '%s') missing", ep, name);
    hsize_t an = 0;
    if (ed >= 0) {
      hid_t as = H5Dget_space(ed);
      H5Sget_simple_extent_dims(as, &an, NULL);
      H5Sclose(as);
    }
    double *e = calloc(an + 1, sizeof *e);
    if (ed >= 0) {
      OK(H5Dread(ed, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, e));
      H5Dclose(ed);
    }
    if (ed < 0) {
      /* reported above */
    } else if ((int)an != bins + 1 || e[0] != lo || e[bins] != hi) {
      FAILF("%s: edges (%llu of them, %g..%g), expected %d over %g..%g", ep, (unsigned long long)an,
            e[0], an ? e[an - 1] : 0, bins + 1, lo, hi);
    } else {
      for (int b = 0; b <= bins; b++) {
        if (!isfinite(e[b]))
          FAILF("%s: edge %d is %g (expected finite)", ep, b, e[b]);
        else if (b && e[b] < e[b - 1])
          FAILF("%s: edge %d (%.17g) below edge %d (%.17g)", ep, b, e[b], b - 1, e[b - 1]);
        else if (b < bins && !same(e[b], lo + (hi - lo) * b / bins, 1e-12))
          FAILF("%s: edge %d is %.17g, expected %.17g", ep, b, e[b], lo + (hi - lo) * b / bins);
      }
    }
    free(e);
    /* the field name, verbatim */
    hid_t a = H5Aopen(hd, "field", H5P_DEFAULT);
    if (a < 0) {
      FAILF("%s: no attribute 'field'", hp);
    } else {
      hid_t at = H5Aget_type(a);
      size_t asz = H5Tget_size(at);
      char *fv = calloc(asz + 1, 1);
      OK(H5Aread(a, at, fv));
      if (strcmp(fv, name))
        FAILF("%s: attribute 'field' is '%s', expected '%s'", hp, fv, name);
      free(fv);
      H5Tclose(at);
      H5Aclose(a);
    }
    H5Dclose(hd);
  }
  free(h);
  free(got);
}

#endif
