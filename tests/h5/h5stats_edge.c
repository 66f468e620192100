/* SPDX-License-Identifier: BSD-3-Clause */
/* h5stats_edge: inputs and an independent oracle for sluice-h5stats' edge cases
 * (serial HDF5 only; test_h5_stats_edge.sh drives it).
 *
 *   h5stats_edge make DIR      DIR/edge.h5 with
 *                                /inf    doubles with +inf, -inf, both, NaN, only infinities
 *                                /rich   numeric members beside an enum (as h5py writes
 *                                        booleans), an array, a variable-length and a
 *                                        fixed-length string
 *                                /names  members "pos/x", "mass [kg]", "a,b", "100%", "."
 *   h5stats_edge check IN.h5:/dset OUT.h5 [-f NAME]... [--bins N] [--range LO:HI]
 *                              compare sluice-h5stats' OUT.h5 with values computed here
 *                              (no -f: every integer or float member)
 *
 * The rules checked (docs/hdf5.md, sluice-h5stats): NaNs are counted apart; count is the
 * non-NaN values; min/max include infinities; mean/std are over the finite values, except
 * mean = +inf (-inf) when +inf (-inf) occurs, NaN when both do, and std = NaN when any
 * infinity occurs; the histogram's default range is the finite min..max (0..0 without
 * finite values), infinities and values outside the range are not binned, the last bin
 * is closed; edges are N+1 finite values from lo to hi. /histogram/NAME has the field
 * name with '%' as %25, '/' as %2F, "." as %2E, and an attribute 'field' with the name.
 * Exit 0 when everything matches; prints every mismatch. */
#define _GNU_SOURCE
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORACLE_NAME "h5stats_edge"
#include "oracle.h"

#define NROWS 1000

/* ---- inputs ---- */
typedef struct irow {
  double pinf, ninf, both, tail, onlyinf, plain;
  char tag[4];
} irow;

static void make_inf(hid_t f) {
  irow *r = calloc(NROWS, sizeof *r);
  for (int i = 0; i < NROWS; i++) {
    double v = (double)(i % 250) * 0.5 - 20; /* finite: -20 .. 104.5 */
    /* +inf in the last rows only (ranks before the last see none) and NaN every 37th */
    r[i].pinf = i >= 900 ? INFINITY : i % 37 == 0 ? NAN : v;
    /* -inf in the first rows only */
    r[i].ninf = i < 30 ? -INFINITY : i % 41 == 0 ? NAN : v;
    /* -inf first, +inf last, NaN in between */
    r[i].both = i < 10 ? -INFINITY : i >= 990 ? INFINITY : i % 43 == 0 ? NAN : v;
    /* the last quarter +inf: at 4 ranks one rank has infinities only */
    r[i].tail = i >= 750 ? INFINITY : v;
    /* no finite value */
    r[i].onlyinf = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -INFINITY;
    r[i].plain = i % 29 == 0 ? NAN : v;
    snprintf(r[i].tag, sizeof r[i].tag, "t%d", i % 10);
  }
  hid_t s4 = H5Tcopy(H5T_C_S1);
  OK(H5Tset_size(s4, 4));
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(irow));
  OK(H5Tinsert(t, "pinf", HOFFSET(irow, pinf), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(t, "ninf", HOFFSET(irow, ninf), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(t, "both", HOFFSET(irow, both), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(t, "tail", HOFFSET(irow, tail), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(t, "onlyinf", HOFFSET(irow, onlyinf), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(t, "plain", HOFFSET(irow, plain), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(t, "tag", HOFFSET(irow, tag), s4));
  hsize_t n = NROWS, ch = 100;
  hid_t sp = H5Screate_simple(1, &n, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  OK(H5Pset_chunk(dcpl, 1, &ch));
  hid_t d = H5Dcreate2(f, "/inf", t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  OK(d);
  OK(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, r));
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(sp);
  H5Tclose(t);
  H5Tclose(s4);
  free(r);
}

typedef struct rrow {
  int32_t id;
  int8_t flag;
  double pos[3];
  char *vs;
  float w;
  char nt[6];
  uint16_t u;
} rrow;

static void make_rich(hid_t f) {
  rrow *r = calloc(NROWS, sizeof *r);
  for (int i = 0; i < NROWS; i++) {
    r[i].id = i - 300;
    r[i].flag = (int8_t)(i % 3 == 0);
    r[i].pos[0] = i;
    r[i].pos[1] = -i;
    r[i].pos[2] = 0.5;
    r[i].vs = "vlen";
    r[i].w = i % 50 == 0 ? NAN : (float)(i % 17) * 0.25f;
    snprintf(r[i].nt, sizeof r[i].nt, "k%d", i % 12);
    r[i].u = (uint16_t)(i * 7 % 1000);
  }
  hid_t en = H5Tenum_create(H5T_NATIVE_INT8);
  int8_t v0 = 0, v1 = 1;
  OK(H5Tenum_insert(en, "FALSE", &v0));
  OK(H5Tenum_insert(en, "TRUE", &v1));
  hsize_t three = 3;
  hid_t arr = H5Tarray_create2(H5T_NATIVE_DOUBLE, 1, &three);
  hid_t vls = H5Tcopy(H5T_C_S1);
  OK(H5Tset_size(vls, H5T_VARIABLE));
  hid_t nt = H5Tcopy(H5T_C_S1);
  OK(H5Tset_size(nt, 6));
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(rrow));
  OK(H5Tinsert(t, "id", HOFFSET(rrow, id), H5T_NATIVE_INT32));
  OK(H5Tinsert(t, "flag", HOFFSET(rrow, flag), en));
  OK(H5Tinsert(t, "pos", HOFFSET(rrow, pos), arr));
  OK(H5Tinsert(t, "vs", HOFFSET(rrow, vs), vls));
  OK(H5Tinsert(t, "w", HOFFSET(rrow, w), H5T_NATIVE_FLOAT));
  OK(H5Tinsert(t, "nt", HOFFSET(rrow, nt), nt));
  OK(H5Tinsert(t, "u", HOFFSET(rrow, u), H5T_NATIVE_UINT16));
  hsize_t n = NROWS;
  hid_t sp = H5Screate_simple(1, &n, NULL);
  hid_t d = H5Dcreate2(f, "/rich", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  OK(d);
  OK(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, r));
  H5Dclose(d);
  H5Sclose(sp);
  H5Tclose(t);
  H5Tclose(en);
  H5Tclose(arr);
  H5Tclose(vls);
  H5Tclose(nt);
  free(r);
}

static void make_names(hid_t f) {
  enum { NC = 5 };
  static const char *names[NC] = {"pos/x", "mass [kg]", "a,b", "100%", "."};
  double *r = calloc(NROWS * NC, sizeof *r);
  for (int i = 0; i < NROWS; i++)
    for (int c = 0; c < NC; c++)
      r[i * NC + c] = (double)(i % (20 + c)) * (c + 1) - c;
  hid_t t = H5Tcreate(H5T_COMPOUND, NC * sizeof(double));
  for (int c = 0; c < NC; c++)
    OK(H5Tinsert(t, names[c], (size_t)c * sizeof(double), H5T_NATIVE_DOUBLE));
  hsize_t n = NROWS;
  hid_t sp = H5Screate_simple(1, &n, NULL);
  hid_t d = H5Dcreate2(f, "/names", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  OK(d);
  OK(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, r));
  H5Dclose(d);
  H5Sclose(sp);
  H5Tclose(t);
  free(r);
}

static int make(const char *dir) {
  char p[4096];
  snprintf(p, sizeof p, "%s/edge.h5", dir);
  hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  OK(f);
  make_inf(f);
  make_rich(f);
  make_names(f);
  OK(H5Fclose(f));
  return 0;
}

/* ---- the oracle ---- */
static double *read_field(hid_t d, const char *name, hsize_t *n) {
  hid_t sp = H5Dget_space(d);
  OK(sp);
  OK(H5Sget_simple_extent_dims(sp, n, NULL));
  H5Sclose(sp);
  double *v = calloc(*n + 1, sizeof *v);
  hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(double));
  OK(H5Tinsert(mt, name, 0, H5T_NATIVE_DOUBLE));
  if (*n)
    OK(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
  H5Tclose(mt);
  return v;
}

static int check(int argc, char **argv) {
  const char *in = argv[2], *out = argv[3];
  char *names[64];
  int nf = 0, bins = 10, have_range = 0;
  double rlo = 0, rhi = 0;
  for (int i = 4; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "-f") && nf < 64)
      names[nf++] = strdup(argv[i + 1]);
    else if (!strcmp(argv[i], "--bins"))
      bins = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--range")) {
      have_range = 1;
      if (sscanf(argv[i + 1], "%lf:%lf", &rlo, &rhi) != 2)
        return 3;
    }
  }
  const char *sep = strstr(in, ":/");
  if (!sep)
    return 3;
  char file[4096];
  snprintf(file, sizeof file, "%.*s", (int)(sep - in), in);
  hid_t fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
  OK(fid);
  hid_t d = H5Dopen2(fid, sep + 1, H5P_DEFAULT);
  OK(d);
  if (!nf) {
    hid_t t = H5Dget_type(d);
    for (int i = 0; i < H5Tget_nmembers(t) && nf < 64; i++) {
      H5T_class_t c = H5Tget_member_class(t, (unsigned)i);
      char *mn = H5Tget_member_name(t, (unsigned)i);
      if (c == H5T_INTEGER || c == H5T_FLOAT)
        names[nf++] = strdup(mn);
      H5free_memory(mn);
    }
    H5Tclose(t);
  }
  hid_t of = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
  OK(of);
  hsize_t sn = 0;
  srow *rows = read_stats(of, &sn);
  if ((int)sn != nf)
    FAILF("/stats has %llu rows, expected %d", (unsigned long long)sn, nf);
  for (int k = 0; k < nf && k < (int)sn; k++) {
    hsize_t n = 0;
    double *v = read_field(d, names[k], &n);
    check_field(of, &rows[k], names[k], v, (size_t)n, bins, have_range, rlo, rhi);
    free(v);
  }
  free(rows);
  H5Fclose(of);
  H5Dclose(d);
  H5Fclose(fid);
  for (int k = 0; k < nf; k++)
    free(names[k]);
  return fails ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "make"))
    return make(argv[2]);
  if (argc >= 4 && !strcmp(argv[1], "check")) {
    int rc = check(argc, argv);
    printf("h5stats_edge check: %d mismatches\n", fails);
    return rc;
  }
  fprintf(stderr, "usage: h5stats_edge make DIR | check IN.h5:/d OUT.h5 [-f NAME]... [--bins N] "
                  "[--range LO:HI]\n");
  return 2;
}
