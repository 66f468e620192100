/* SPDX-License-Identifier: BSD-3-Clause */
/* h5oracle: test inputs and sequential oracles for the HDF5 app tests (serial HDF5 only).
 *
 *   h5oracle make DIR                     inputs: DIR/table.h5 (/t compound, /grid 2-D,
 *                                         /v 1-D, /empty), DIR/skew.h5, DIR/notes.h5 (not
 *                                         HDF5), DIR/trunc.h5, DIR/filter.h5 (unknown filter)
 *   h5oracle stats IN:/dset OUT.h5 [--fields a,b] [--bins N] [--range LO:HI]
 *                                         compare sluice-h5stats' OUT.h5 with an oracle
 *   h5oracle groupby IN:/dset OUT.h5:/dset --key a,b --agg LIST
 *                                         compare sluice-h5groupby's output with an oracle
 * Exit 0 when everything matches; prints every mismatch. */
#define _GNU_SOURCE
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ORACLE_NAME "h5oracle"
#include "oracle.h"

/* ---- inputs ---- */
typedef struct trow {
  int64_t id;
  int32_t cell;
  char grp[6];
  double x;
  float m;
  uint16_t u;
} trow;

static hid_t trow_mem(void) {
  hid_t s6 = H5Tcopy(H5T_C_S1);
  H5Tset_size(s6, 6);
  H5Tset_strpad(s6, H5T_STR_NULLPAD);
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(trow));
  H5Tinsert(t, "id", offsetof(trow, id), H5T_NATIVE_INT64);
  H5Tinsert(t, "cell", offsetof(trow, cell), H5T_NATIVE_INT32);
  H5Tinsert(t, "grp", offsetof(trow, grp), s6);
  H5Tinsert(t, "x", offsetof(trow, x), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "m", offsetof(trow, m), H5T_NATIVE_FLOAT);
  H5Tinsert(t, "u", offsetof(trow, u), H5T_NATIVE_UINT16);
  H5Tclose(s6);
  return t;
}

static hid_t trow_file(void) { /* packed, big-endian numbers */
  hid_t s6 = H5Tcopy(H5T_C_S1);
  H5Tset_size(s6, 6);
  H5Tset_strpad(s6, H5T_STR_NULLPAD);
  hid_t t = H5Tcreate(H5T_COMPOUND, 8 + 4 + 6 + 8 + 4 + 2);
  H5Tinsert(t, "id", 0, H5T_STD_I64BE);
  H5Tinsert(t, "cell", 8, H5T_STD_I32BE);
  H5Tinsert(t, "grp", 12, s6);
  H5Tinsert(t, "x", 18, H5T_IEEE_F64BE);
  H5Tinsert(t, "m", 26, H5T_IEEE_F32LE);
  H5Tinsert(t, "u", 30, H5T_STD_U16BE);
  H5Tclose(s6);
  return t;
}

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static hid_t fcreate(const char *path) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  OK(H5Pset_fapl_sec2(fapl));
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  OK(f);
  H5Pclose(fapl);
  return f;
}

static void dwrite(hid_t f, const char *name, hid_t ft, hid_t mt, int nd, const hsize_t *dims,
                   hsize_t chunk0, int deflate, const void *data) {
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hsize_t maxd[2] = {H5S_UNLIMITED, nd > 1 ? dims[1] : 0};
  if (chunk0) {
    hsize_t cd[2] = {chunk0, nd > 1 ? dims[1] : 1};
    OK(H5Pset_chunk(dcpl, nd, cd));
    if (deflate) {
      OK(H5Pset_shuffle(dcpl));
      OK(H5Pset_deflate(dcpl, (unsigned)deflate));
    }
  }
  hid_t sp = H5Screate_simple(nd, dims, chunk0 ? maxd : NULL);
  hid_t d = H5Dcreate2(f, name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  OK(d);
  if (dims[0])
    OK(H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  H5Dclose(d);
  H5Sclose(sp);
  H5Pclose(dcpl);
}

static void make_table(const char *path, uint64_t n, int skew) {
  trow *r = calloc(n + 1, sizeof *r);
  for (uint64_t i = 0; i < n; i++) {
    uint64_t h = mix(i);
    r[i].id = (int64_t)i - 1000;
    r[i].cell = skew ? (h % 100 < 90 ? 0 : (int32_t)(h % 37)) : (int32_t)(h % 13) - 6;
    snprintf(r[i].grp, sizeof r[i].grp, "g%d", (int)(h >> 20) % 7);
    r[i].x = (i % 97 == 5) ? NAN : ((double)(h >> 11) / 9007199254740992.0) * 200.0 - 50.0;
    r[i].m = (float)((h >> 40) % 1000) / 8.0f;
    r[i].u = (uint16_t)(h >> 48);
  }
  hid_t f = fcreate(path);
  hid_t mt = trow_mem(), ft = trow_file();
  hsize_t d1[1] = {n};
  dwrite(f, "/t", ft, mt, 1, d1, 1000, 4, r);
  hsize_t d0[1] = {0};
  dwrite(f, "/empty", ft, mt, 1, d0, 64, 0, r);
  if (!skew) {
    hid_t grp = H5Gcreate2(f, "/group", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    OK(grp);
    H5Gclose(grp);
    double *g = malloc(n * 3 * sizeof *g);
    for (uint64_t i = 0; i < n * 3; i++)
      g[i] = (double)(mix(i + 77) % 100000) / 7.0 - 3000.0;
    hsize_t d2[2] = {n, 3};
    dwrite(f, "/grid", H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, 2, d2, 0, 0, g);
    int32_t *v = malloc(n * sizeof *v);
    for (uint64_t i = 0; i < n; i++)
      v[i] = (int32_t)(mix(i + 5) % 2001) - 1000;
    dwrite(f, "/v", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, 0, 0, v);
    free(g);
    free(v);
  }
  H5Tclose(mt);
  H5Tclose(ft);
  OK(H5Fclose(f));
  free(r);
}

static int make(const char *dir) {
  char p[4096];
  snprintf(p, sizeof p, "%s/table.h5", dir);
  make_table(p, 20000, 0);
  snprintf(p, sizeof p, "%s/skew.h5", dir);
  make_table(p, 200000, 1);
  /* not HDF5 */
  snprintf(p, sizeof p, "%s/notes.h5", dir);
  FILE *fp = fopen(p, "w");
  if (!fp)
    return 3;
  for (int i = 0; i < 200; i++)
    fprintf(fp, "this is a text file, line %d\n", i);
  fclose(fp);
  /* truncated: the table file cut in half */
  char src[4096];
  snprintf(src, sizeof src, "%s/table.h5", dir);
  snprintf(p, sizeof p, "%s/trunc.h5", dir);
  FILE *in = fopen(src, "rb"), *out = fopen(p, "wb");
  if (!in || !out)
    return 3;
  fseek(in, 0, SEEK_END);
  long sz = ftell(in);
  fseek(in, 0, SEEK_SET);
  char *buf = malloc((size_t)sz);
  if (fread(buf, 1, (size_t)sz, in) != (size_t)sz)
    return 3;
  fwrite(buf, 1, (size_t)sz / 2, out);
  fclose(in);
  fclose(out);
  free(buf);
  /* a dataset with a filter this HDF5 does not have (id 32001, optional so it writes) */
  snprintf(p, sizeof p, "%s/filter.h5", dir);
  hid_t f = fcreate(p);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hsize_t dims[1] = {1000}, cd[1] = {100};
  OK(H5Pset_chunk(dcpl, 1, cd));
  OK(H5Pset_filter(dcpl, 32001, H5Z_FLAG_OPTIONAL, 0, NULL));
  hid_t sp = H5Screate_simple(1, dims, NULL);
  hid_t d = H5Dcreate2(f, "/v", H5T_NATIVE_INT32, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  OK(d);
  int32_t v[1000];
  for (int i = 0; i < 1000; i++)
    v[i] = i;
  OK(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
  H5Dclose(d);
  H5Sclose(sp);
  H5Pclose(dcpl);
  OK(H5Fclose(f));
  return 0;
}

/* ---- reading a field of any dataset as doubles / int64 / raw string bytes ---- */
typedef struct col {
  char name[256];
  int kind; /* 0 int, 1 uint, 2 float, 3 string */
  size_t size;
  double *d;
  int64_t *i;
  char *s;
} col;

static hid_t open_ds(const char *spec, hid_t *fid) {
  char file[4096];
  const char *sep = strstr(spec, ":/");
  snprintf(file, sizeof file, "%.*s", (int)(sep - spec), spec);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  OK(H5Pset_fapl_sec2(fapl));
  *fid = H5Fopen(file, H5F_ACC_RDONLY, fapl);
  OK(*fid);
  H5Pclose(fapl);
  hid_t d = H5Dopen2(*fid, sep + 1, H5P_DEFAULT);
  OK(d);
  return d;
}

static int kind_of(hid_t t) {
  H5T_class_t c = H5Tget_class(t);
  if (c == H5T_INTEGER)
    return H5Tget_sign(t) == H5T_SGN_NONE ? 1 : 0;
  if (c == H5T_FLOAT)
    return 2;
  return 3;
}

/* Read field `name` of a compound dataset, or column c of an array ("value", "cN"). */
static uint64_t read_col(hid_t d, const char *name, col *c) {
  hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
  hsize_t dims[2] = {0, 1};
  int nd = H5Sget_simple_extent_ndims(sp);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  uint64_t n = dims[0];
  snprintf(c->name, sizeof c->name, "%s", name);
  hid_t et;
  if (H5Tget_class(t) == H5T_COMPOUND) {
    int idx = H5Tget_member_index(t, name);
    if (idx < 0) {
      fprintf(stderr, "h5oracle: no field %s\n", name);
      exit(3);
    }
    et = H5Tget_member_type(t, (unsigned)idx);
  } else {
    et = H5Tcopy(t);
  }
  c->kind = kind_of(et);
  c->size = H5Tget_size(et);
  hid_t mt;
  if (c->kind == 3) {
    mt = H5Tcopy(et);
  } else {
    mt = H5Tcopy(c->kind == 2 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64);
  }
  size_t es = H5Tget_size(mt);
  char *buf = malloc(n * es + 1);
  if (H5Tget_class(t) == H5T_COMPOUND) {
    hid_t ct = H5Tcreate(H5T_COMPOUND, es);
    H5Tinsert(ct, name, 0, mt);
    if (n)
      OK(H5Dread(d, ct, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
    H5Tclose(ct);
  } else {
    uint64_t ncols = nd > 1 ? dims[1] : 1, col = 0;
    if (nd > 1)
      col = strtoull(name + 1, NULL, 10);
    char *all = malloc(n * ncols * es + 1);
    if (n)
      OK(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, all));
    for (uint64_t r = 0; r < n; r++)
      memcpy(buf + r * es, all + (r * ncols + col) * es, es);
    free(all);
  }
  if (c->kind == 3)
    c->s = buf;
  else if (c->kind == 2)
    c->d = (double *)buf;
  else
    c->i = (int64_t *)buf;
  H5Tclose(mt);
  H5Tclose(et);
  H5Tclose(t);
  H5Sclose(sp);
  return n;
}

static double colv(const col *c, uint64_t r) {
  return c->kind == 2 ? c->d[r] : (double)c->i[r];
}

/* ---- stats ---- */
static int stats(int argc, char **argv) {
  const char *in = argv[2], *out = argv[3], *fields = NULL;
  int bins = 10, have_range = 0;
  double rlo = 0, rhi = 0;
  for (int i = 4; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--fields"))
      fields = argv[i + 1];
    else if (!strcmp(argv[i], "--bins"))
      bins = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--range")) {
      have_range = 1;
      sscanf(argv[i + 1], "%lf:%lf", &rlo, &rhi);
    }
  }
  hid_t fid, d = open_ds(in, &fid);
  /* the field list: given, or every numeric field / column */
  char names[256][256];
  int nf = 0;
  hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
  hsize_t dims[2] = {0, 1};
  int nd = H5Sget_simple_extent_ndims(sp);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  if (fields) {
    char *fc = strdup(fields);
    for (char *s = NULL, *tok = strtok_r(fc, ",", &s); tok; tok = strtok_r(NULL, ",", &s))
      snprintf(names[nf++], 256, "%s", tok);
    free(fc);
  } else if (H5Tget_class(t) == H5T_COMPOUND) {
    for (int i = 0; i < H5Tget_nmembers(t); i++) {
      hid_t mt = H5Tget_member_type(t, (unsigned)i);
      char *mn = H5Tget_member_name(t, (unsigned)i);
      if (kind_of(mt) != 3)
        snprintf(names[nf++], 256, "%s", mn);
      H5free_memory(mn);
      H5Tclose(mt);
    }
  } else if (nd == 1) {
    snprintf(names[nf++], 256, "value");
  } else {
    for (hsize_t c = 0; c < dims[1]; c++)
      snprintf(names[nf++], 256, "c%llu", (unsigned long long)c);
  }
  H5Tclose(t);
  H5Sclose(sp);
  /* the output */
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  OK(H5Pset_fapl_sec2(fapl));
  hid_t of = H5Fopen(out, H5F_ACC_RDONLY, fapl);
  OK(of);
  H5Pclose(fapl);
  hsize_t sn = 0;
  srow *rows = read_stats(of, &sn);
  if ((int)sn != nf)
    FAILF("/stats has %llu rows, expected %d", (unsigned long long)sn, nf);
  for (int k = 0; k < nf && k < (int)sn; k++) {
    col c;
    memset(&c, 0, sizeof c);
    uint64_t n = read_col(d, names[k], &c);
    double *v = calloc(n + 1, sizeof *v);
    if (!v)
      exit(3);
    for (uint64_t r = 0; r < n; r++)
      v[r] = colv(&c, r);
    check_field(of, &rows[k], names[k], v, (size_t)n, bins, have_range, rlo, rhi);
    free(v);
    free(c.d);
    free(c.i);
    free(c.s);
  }
  free(rows);
  H5Fclose(of);
  H5Dclose(d);
  H5Fclose(fid);
  return fails ? 1 : 0;
}

/* ---- groupby ---- */
typedef struct grp {
  char *key; /* printable key tuple, for sorting and messages */
  uint64_t count;
  double *v; /* per aggregate */
} grp;

static int grp_cmp(const void *a, const void *b) {
  return strcmp(((const grp *)a)->key, ((const grp *)b)->key);
}

static char *key_str(col *k, int nk, uint64_t r) {
  char buf[4096];
  size_t pos = 0;
  for (int i = 0; i < nk; i++) {
    if (k[i].kind == 3)
      pos +=
          (size_t)snprintf(buf + pos, sizeof buf - pos, "%.*s|",
                           (int)strnlen(k[i].s + r * k[i].size, k[i].size), k[i].s + r * k[i].size);
    else
      pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "%lld|", (long long)k[i].i[r]);
  }
  return strdup(buf);
}

static int groupby(int argc, char **argv) {
  const char *in = argv[2], *out = argv[3], *keys = NULL, *aggs = NULL;
  for (int i = 4; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--key"))
      keys = argv[i + 1];
    else if (!strcmp(argv[i], "--agg"))
      aggs = argv[i + 1];
  }
  hid_t fid, d = open_ds(in, &fid);
  hid_t ofid, od = open_ds(out, &ofid);
  col k[16], ok[16];
  int nk = 0;
  uint64_t n = 0, on = 0;
  char *kc = strdup(keys);
  for (char *s = NULL, *t = strtok_r(kc, ",", &s); t; t = strtok_r(NULL, ",", &s)) {
    memset(&k[nk], 0, sizeof k[nk]);
    memset(&ok[nk], 0, sizeof ok[nk]);
    n = read_col(d, t, &k[nk]);
    on = read_col(od, t, &ok[nk]);
    if (ok[nk].kind != k[nk].kind || ok[nk].size != k[nk].size)
      FAILF("key %s: output type differs from input", t);
    nk++;
  }
  /* aggregates: op and input column */
  char ops[64][8], an[64][300];
  col av[64], oa[64];
  int na = 0;
  char *ac = strdup(aggs);
  for (char *s = NULL, *t = strtok_r(ac, ",", &s); t; t = strtok_r(NULL, ",", &s)) {
    char *colon = strchr(t, ':');
    memset(&av[na], 0, sizeof av[na]);
    memset(&oa[na], 0, sizeof oa[na]);
    if (colon) {
      *colon = 0;
      snprintf(ops[na], 8, "%s", t);
      read_col(d, colon + 1, &av[na]);
      snprintf(an[na], 300, "%s_%s", t, colon + 1);
    } else {
      snprintf(ops[na], 8, "count");
      snprintf(an[na], 300, "count");
    }
    read_col(od, an[na], &oa[na]);
    if (!strcmp(ops[na], "count") && oa[na].kind != 1)
      FAILF("count: expected uint64");
    if (strcmp(ops[na], "count") && strcmp(ops[na], "mean") && av[na].kind != 2 && oa[na].kind != 0)
      FAILF("%s: expected int64 for an integer field", an[na]);
    if (!strcmp(ops[na], "mean") && oa[na].kind != 2)
      FAILF("%s: expected float64", an[na]);
    na++;
  }
  /* the oracle: sort row indices by key, then fold runs */
  grp *rows = calloc(n + 1, sizeof *rows);
  for (uint64_t r = 0; r < n; r++) {
    rows[r].key = key_str(k, nk, r);
    rows[r].count = r; /* row index */
  }
  qsort(rows, n, sizeof *rows, grp_cmp);
  grp *g = calloc(n + 1, sizeof *g);
  uint64_t ng = 0;
  for (uint64_t a = 0; a < n;) {
    uint64_t b = a;
    while (b < n && !strcmp(rows[b].key, rows[a].key))
      b++;
    grp *x = &g[ng++];
    x->key = rows[a].key;
    x->count = b - a;
    x->v = calloc((size_t)na, sizeof *x->v);
    for (int q = 0; q < na; q++) {
      double sum = 0, mn = INFINITY, mx = -INFINITY;
      int64_t isum = 0, imn = INT64_MAX, imx = INT64_MIN;
      for (uint64_t r = a; r < b; r++) {
        uint64_t row = rows[r].count;
        if (!strcmp(ops[q], "count"))
          continue;
        if (av[q].kind == 2) {
          double v = av[q].d[row];
          sum += v;
          mn = fmin(mn, v);
          mx = fmax(mx, v);
        } else {
          int64_t v = av[q].i[row];
          isum += v;
          if (v < imn)
            imn = v;
          if (v > imx)
            imx = v;
        }
      }
      int isint = av[q].kind != 2;
      if (!strcmp(ops[q], "count"))
        x->v[q] = (double)x->count;
      else if (!strcmp(ops[q], "sum"))
        x->v[q] = isint ? (double)isum : sum;
      else if (!strcmp(ops[q], "mean"))
        x->v[q] = (isint ? (double)isum : sum) / (double)x->count;
      else if (!strcmp(ops[q], "min"))
        x->v[q] = isint ? (double)imn : mn;
      else
        x->v[q] = isint ? (double)imx : mx;
    }
    a = b;
  }
  /* the output, sorted the same way */
  grp *o = calloc(on + 1, sizeof *o);
  for (uint64_t r = 0; r < on; r++) {
    o[r].key = key_str(ok, nk, r);
    o[r].v = calloc((size_t)na, sizeof *o[r].v);
    for (int q = 0; q < na; q++)
      o[r].v[q] = colv(&oa[q], r);
  }
  qsort(o, on, sizeof *o, grp_cmp);
  if (on != ng)
    FAILF("%llu groups in the output, expected %llu", (unsigned long long)on,
          (unsigned long long)ng);
  for (uint64_t r = 0; r < on && r < ng; r++) {
    if (strcmp(o[r].key, g[r].key)) {
      FAILF("group %llu: key %s, expected %s", (unsigned long long)r, o[r].key, g[r].key);
      break;
    }
    for (int q = 0; q < na; q++) {
      /* sums of floats may differ in the last bits: the order of additions differs */
      double tol = !strcmp(ops[q], "sum") || !strcmp(ops[q], "mean") ? 1e-9 : 0;
      if (!same(o[r].v[q], g[r].v[q], tol) && !(tol == 0 && o[r].v[q] == g[r].v[q]))
        FAILF("group %s: %s = %.17g, expected %.17g", g[r].key, an[q], o[r].v[q], g[r].v[q]);
    }
  }
  printf("h5oracle groupby: %llu rows, %llu groups, %d mismatches\n", (unsigned long long)n,
         (unsigned long long)ng, fails);
  H5Dclose(d);
  H5Dclose(od);
  H5Fclose(fid);
  H5Fclose(ofid);
  return fails ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "make"))
    return make(argv[2]);
  if (argc >= 4 && !strcmp(argv[1], "stats")) {
    int rc = stats(argc, argv);
    printf("h5oracle stats: %d mismatches\n", fails);
    return rc;
  }
  if (argc >= 4 && !strcmp(argv[1], "groupby"))
    return groupby(argc, argv);
  fprintf(stderr, "usage: h5oracle make DIR | stats IN:/d OUT.h5 [...] | groupby IN:/d OUT.h5:/d "
                  "--key K --agg A\n");
  return 2;
}
