/* SPDX-License-Identifier: BSD-3-Clause */
/* Round trips through sl_flow_from_h5 -> sl_flow_to_h5 at any rank count: contiguous,
 * chunked and compressed datasets, native and big-endian types, 1-D, 2-D and compound
 * (with a field selection), several files by glob, zero rows, the row index key.
 * Inputs are written with the serial HDF5 API here; outputs are read back with HDF5 and
 * compared value by value with what was generated.
 *   mpirun -n N test_h5_roundtrip DIR */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

#include "h5test.h"

static sl_ctx *ctx;
static int rank, size;
static int xfer; /* the source's transfer mode of this pass (sl_h5_opts.transfer) */
static char dir[4000];

typedef struct prow { /* the compound input row, in native memory */
  int64_t id;
  uint16_t cell;
  double x;
  float mass;
  char name[8];
} prow;

static double xval(uint64_t i) {
  return (double)i * 0.5 - 100.25;
}

/* Write a dataset with the given file type, filters and chunking (rank 0, serial). */
static void write_ds(const char *file, const char *dset, hid_t ftype, hid_t mtype, int nd,
                     const hsize_t *dims, hsize_t chunk0, int deflate, int shuffle,
                     const void *data) {
  if (rank != 0)
    return;
  hid_t fapl = h5t_fapl();
  hid_t f = access(file, F_OK) == 0 ? H5Fopen(file, H5F_ACC_RDWR, fapl)
                                    : H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5_OK(f);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (chunk0) {
    hsize_t cd[4] = {chunk0, nd > 1 ? dims[1] : 1, nd > 2 ? dims[2] : 1, 1};
    H5_OK(H5Pset_chunk(dcpl, nd, cd));
    if (shuffle)
      H5_OK(H5Pset_shuffle(dcpl));
    if (deflate)
      H5_OK(H5Pset_deflate(dcpl, (unsigned)deflate));
  }
  hsize_t maxd[4] = {chunk0 ? H5S_UNLIMITED : dims[0], nd > 1 ? dims[1] : 0, nd > 2 ? dims[2] : 0,
                     0};
  hid_t sp = H5Screate_simple(nd, dims, maxd);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5_OK(H5Pset_create_intermediate_group(lcpl, 1));
  hid_t d = H5Dcreate2(f, dset, ftype, sp, lcpl, dcpl, H5P_DEFAULT);
  H5_OK(d);
  if (dims[0])
    H5_OK(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  H5Dclose(d);
  H5Pclose(lcpl);
  H5Sclose(sp);
  H5Pclose(dcpl);
  H5Fclose(f);
  H5Pclose(fapl);
}

/* Read a whole output dataset (rank 0) with mtype; returns rows. */
static uint64_t read_ds(const char *file, const char *dset, hid_t mtype, size_t row_bytes,
                        void **out, hid_t *ftype_out) {
  hid_t fapl = h5t_fapl();
  hid_t f = H5Fopen(file, H5F_ACC_RDONLY, fapl);
  H5_OK(f);
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  H5_OK(d);
  hid_t sp = H5Dget_space(d);
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(sp, dims, NULL);
  *out = malloc(dims[0] * row_bytes + 1);
  if (dims[0])
    H5_OK(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out));
  uint64_t rows_attr = 0;
  hid_t a = H5Aopen(d, "rows", H5P_DEFAULT);
  H5_OK(a);
  H5_OK(H5Aread(a, H5T_NATIVE_UINT64, &rows_attr));
  H5Aclose(a);
  T_CHECK(rows_attr == dims[0], "attribute rows %llu, dataset has %llu",
          (unsigned long long)rows_attr, (unsigned long long)dims[0]);
  const char *attrs[] = {"sluice_version", "command_line", "ranks", "inputs", "created_utc"};
  for (int i = 0; i < 5; i++)
    T_CHECK(H5Aexists(d, attrs[i]) > 0, "attribute %s missing in %s", attrs[i], file);
  const char *job = getenv("SLURM_JOB_ID");
  if (job) { /* provenance: the Slurm job id when running under Slurm */
    hid_t ja = H5Aopen(d, "slurm_job_id", H5P_DEFAULT);
    T_CHECK(ja >= 0, "attribute slurm_job_id missing in %s (SLURM_JOB_ID=%s)", file, job);
    if (ja >= 0) {
      char v[64] = "";
      hid_t st = H5Tcopy(H5T_C_S1);
      H5Tset_size(st, sizeof v);
      H5_OK(H5Aread(ja, st, v));
      T_CHECK(!strcmp(v, job), "slurm_job_id '%s', expected '%s'", v, job);
      H5Tclose(st);
      H5Aclose(ja);
    }
  }
  if (ftype_out)
    *ftype_out = H5Dget_type(d);
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);
  H5Pclose(fapl);
  return dims[0];
}

static int run_copy(const char *const *specs, size_t n, const sl_h5_opts *o, const char *out,
                    sl_h5_layout **lay_out) {
  sl_h5_layout *lay = NULL;
  int rc = sl_h5_describe(ctx, specs[0], o, &lay);
  if (rc)
    return rc;
  sl_h5_opts oo = {0};
  if (o)
    oo = *o;
  oo.transfer = xfer;
  sl_flow *flow = NULL;
  rc = sl_flow_create(ctx, &flow);
  if (!rc)
    rc = sl_flow_from_h5(flow, specs, n, &oo, 0);
  sl_h5_sink_opts so = {0};
  so.overwrite = 1;
  so.deflate = 1;
  if (!rc)
    rc = sl_flow_to_h5(flow, out, lay, &so);
  if (!rc)
    rc = sl_run(flow);
  sl_flow_destroy(&flow);
  if (lay_out)
    *lay_out = lay;
  else
    sl_h5_layout_destroy(&lay);
  return rc;
}

static void path(char *buf, const char *name) {
  snprintf(buf, 4200, "%.4000s/%.190s", dir, name);
}

static void case_1d(const char *label, hid_t ftype, hsize_t chunk, int deflate, int shuffle,
                    uint64_t n) {
  char in[4200], spec[4300], out[4200], ospec[4300];
  char nm[128];
  snprintf(nm, sizeof nm, "rt_%s.h5", label);
  path(in, nm);
  snprintf(nm, sizeof nm, "rt_%s.out.h5", label);
  path(out, nm);
  int64_t *v = malloc((n + 1) * 8);
  for (uint64_t i = 0; i < n; i++)
    v[i] = (int64_t)(i * 7919 % 30011) - (H5Tget_sign(ftype) == H5T_SGN_NONE ? 0 : 15000);
  hsize_t dims[1] = {n};
  if (rank == 0)
    unlink(in);
  write_ds(in, "/data/v", ftype, H5T_NATIVE_INT64, 1, dims, chunk, deflate, shuffle, v);
  MPI_Barrier(MPI_COMM_WORLD);
  snprintf(spec, sizeof spec, "%s:/data/v", in);
  snprintf(ospec, sizeof ospec, "%s:/copy/v", out);
  const char *specs[1] = {spec};
  sl_h5_layout *lay = NULL;
  int rc = run_copy(specs, 1, NULL, ospec, &lay);
  T_CHECK(rc == SL_OK, "%s: run failed: %s", label, sl_strerror(rc));
  if (rc == SL_OK) {
    sl_h5_field f;
    sl_h5_layout_field(lay, 0, &f);
    T_CHECK(sl_h5_layout_nfields(lay) == 1 && !strcmp(f.name, "value"), "%s: layout", label);
    T_CHECK(f.size == H5Tget_size(ftype), "%s: field size %zu", label, f.size);
    T_CHECK(sl_h5_layout_rows(lay) == n, "%s: rows %llu", label,
            (unsigned long long)sl_h5_layout_rows(lay));
  }
  if (rc == SL_OK && rank == 0) {
    void *got = NULL;
    hid_t ft = -1;
    uint64_t rows = read_ds(out, "/copy/v", H5T_NATIVE_INT64, 8, &got, &ft);
    T_CHECK(rows == n, "%s: %llu rows, expected %llu", label, (unsigned long long)rows,
            (unsigned long long)n);
    T_CHECK(H5Tget_class(ft) == H5Tget_class(ftype) && H5Tget_size(ft) == H5Tget_size(ftype),
            "%s: output type", label);
    H5Tclose(ft);
    for (uint64_t i = 0; i < rows && i < n; i++)
      if (((int64_t *)got)[i] != v[i]) {
        T_CHECK(0, "%s: row %llu: %lld, expected %lld", label, (unsigned long long)i,
                (long long)((int64_t *)got)[i], (long long)v[i]);
        break;
      }
    free(got);
  }
  sl_h5_layout_destroy(&lay);
  free(v);
}

static void case_2d(void) {
  char in[4200], spec[4300], out[4200], ospec[4300];
  path(in, "rt_2d.h5");
  path(out, "rt_2d.out.h5");
  const uint64_t n = 777, m = 3;
  float *v = malloc(n * m * sizeof *v);
  for (uint64_t i = 0; i < n * m; i++)
    v[i] = (float)i * 0.25f;
  hsize_t dims[2] = {n, m};
  if (rank == 0)
    unlink(in);
  write_ds(in, "/grid", H5T_IEEE_F32BE, H5T_NATIVE_FLOAT, 2, dims, 50, 0, 0, v);
  MPI_Barrier(MPI_COMM_WORLD);
  snprintf(spec, sizeof spec, "%s:/grid", in);
  snprintf(ospec, sizeof ospec, "%s:/grid", out);
  const char *specs[1] = {spec};
  sl_h5_layout *lay = NULL;
  int rc = run_copy(specs, 1, NULL, ospec, &lay);
  T_CHECK(rc == SL_OK, "2d: run failed: %s", sl_strerror(rc));
  if (rc == SL_OK) {
    size_t k;
    T_CHECK(sl_h5_layout_nfields(lay) == 3 && sl_h5_layout_find(lay, "c2", &k) == SL_OK && k == 2,
            "2d: layout");
  }
  if (rc == SL_OK && rank == 0) {
    void *got = NULL;
    uint64_t rows = read_ds(out, "/grid", H5T_NATIVE_FLOAT, m * sizeof(float), &got, NULL);
    T_CHECK(rows == n, "2d: rows %llu", (unsigned long long)rows);
    for (uint64_t i = 0; i < n * m && rows == n; i++)
      if (((float *)got)[i] != v[i]) {
        T_CHECK(0, "2d: element %llu: %g expected %g", (unsigned long long)i, ((float *)got)[i],
                v[i]);
        break;
      }
    free(got);
  }
  /* column selection c2,c0 */
  const char *cols[2] = {"c2", "c0"};
  sl_h5_opts o = {0};
  o.fields = cols;
  o.nfields = 2;
  snprintf(ospec, sizeof ospec, "%s:/sel", out);
  path(out, "rt_2dsel.out.h5");
  snprintf(ospec, sizeof ospec, "%s:/sel", out);
  sl_h5_layout_destroy(&lay);
  rc = run_copy(specs, 1, &o, ospec, NULL);
  T_CHECK(rc == SL_OK, "2d selection: run failed: %s", sl_strerror(rc));
  if (rc == SL_OK && rank == 0) {
    void *got = NULL;
    uint64_t rows = read_ds(out, "/sel", H5T_NATIVE_FLOAT, 2 * sizeof(float), &got, NULL);
    T_CHECK(rows == n, "2d selection: rows");
    for (uint64_t i = 0; i < n && rows == n; i++) {
      float *g = (float *)got + 2 * i;
      if (g[0] != v[i * m + 2] || g[1] != v[i * m]) {
        T_CHECK(0, "2d selection: row %llu", (unsigned long long)i);
        break;
      }
    }
    free(got);
  }
  free(v);
}

static hid_t prow_type(int big_endian) {
  hid_t s8 = H5Tcopy(H5T_C_S1);
  H5Tset_size(s8, 8);
  H5Tset_strpad(s8, H5T_STR_NULLPAD);
  hid_t t;
  if (!big_endian) {
    t = H5Tcreate(H5T_COMPOUND, sizeof(prow));
    H5Tinsert(t, "id", offsetof(prow, id), H5T_NATIVE_INT64);
    H5Tinsert(t, "cell", offsetof(prow, cell), H5T_NATIVE_UINT16);
    H5Tinsert(t, "x", offsetof(prow, x), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "mass", offsetof(prow, mass), H5T_NATIVE_FLOAT);
    H5Tinsert(t, "name", offsetof(prow, name), s8);
  } else { /* packed, big-endian file type */
    t = H5Tcreate(H5T_COMPOUND, 8 + 2 + 8 + 4 + 8);
    H5Tinsert(t, "id", 0, H5T_STD_I64BE);
    H5Tinsert(t, "cell", 8, H5T_STD_U16BE);
    H5Tinsert(t, "x", 10, H5T_IEEE_F64BE);
    H5Tinsert(t, "mass", 18, H5T_IEEE_F32BE);
    H5Tinsert(t, "name", 22, s8);
  }
  H5Tclose(s8);
  return t;
}

static void gen_prows(prow *p, uint64_t n, uint64_t first) {
  for (uint64_t i = 0; i < n; i++) {
    uint64_t g = first + i;
    memset(&p[i], 0, sizeof p[i]);
    p[i].id = (int64_t)g;
    p[i].cell = (uint16_t)(g % 17);
    p[i].x = xval(g);
    p[i].mass = (float)(g % 101) / 4.0f;
    snprintf(p[i].name, sizeof p[i].name, "n%llu", (unsigned long long)(g % 1000));
  }
}

/* Compound: two files by glob (big-endian packed + native), chunked and compressed;
 * fields selected x, id, name; the row index as key. */
static void case_compound(void) {
  char in1[4200], in2[4200], spec[4300], out[4200], ospec[4300];
  path(in1, "rt_cmp_a.h5");
  path(in2, "rt_cmp_b.h5");
  path(out, "rt_cmp.out.h5");
  const uint64_t n1 = 3001, n2 = 1999;
  prow *p = malloc((n1 + n2) * sizeof *p);
  gen_prows(p, n1 + n2, 0);
  hid_t mt = prow_type(0), be = prow_type(1);
  hsize_t d1[1] = {n1}, d2[1] = {n2};
  if (rank == 0) {
    unlink(in1);
    unlink(in2);
  }
  write_ds(in1, "/t", be, mt, 1, d1, 128, 4, 1, p);
  write_ds(in2, "/t", mt, mt, 1, d2, 0, 0, 0, p + n1);
  MPI_Barrier(MPI_COMM_WORLD);
  snprintf(spec, sizeof spec, "%s/rt_cmp_?.h5:/t", dir);
  snprintf(ospec, sizeof ospec, "%s:/out/table", out);
  const char *specs[1] = {spec};
  const char *fields[3] = {"x", "id", "name"};
  sl_h5_opts o = {0};
  o.fields = fields;
  o.nfields = 3;
  sl_h5_layout *lay = NULL;
  int rc = run_copy(specs, 1, &o, ospec, &lay);
  T_CHECK(rc == SL_OK, "compound: run failed: %s", sl_strerror(rc));
  if (rc == SL_OK) {
    sl_h5_field f[3];
    for (int i = 0; i < 3; i++)
      sl_h5_layout_field(lay, (size_t)i, &f[i]);
    T_CHECK(sl_h5_layout_row_size(lay) == 24 && f[0].offset == 0 && f[1].offset == 8 &&
                f[2].offset == 16 && f[0].cls == SL_H5_FLOAT && f[1].cls == SL_H5_INT &&
                f[2].cls == SL_H5_STRING && f[2].size == 8,
            "compound: layout");
    T_CHECK(sl_h5_layout_rows(lay) == n1 + n2, "compound: rows %llu",
            (unsigned long long)sl_h5_layout_rows(lay));
  }
  if (rc == SL_OK && rank == 0) {
    typedef struct orow {
      double x;
      int64_t id;
      char name[8];
    } orow;
    hid_t s8 = H5Tcopy(H5T_C_S1);
    H5Tset_size(s8, 8);
    H5Tset_strpad(s8, H5T_STR_NULLPAD);
    hid_t ot = H5Tcreate(H5T_COMPOUND, sizeof(orow));
    H5Tinsert(ot, "x", offsetof(orow, x), H5T_NATIVE_DOUBLE);
    H5Tinsert(ot, "id", offsetof(orow, id), H5T_NATIVE_INT64);
    H5Tinsert(ot, "name", offsetof(orow, name), s8);
    void *got = NULL;
    uint64_t rows = read_ds(out, "/out/table", ot, sizeof(orow), &got, NULL);
    T_CHECK(rows == n1 + n2, "compound: rows %llu", (unsigned long long)rows);
    for (uint64_t i = 0; i < rows && rows == n1 + n2; i++) {
      orow *g = (orow *)got + i;
      if (g->x != p[i].x || g->id != p[i].id || memcmp(g->name, p[i].name, 8)) {
        T_CHECK(0, "compound: row %llu: x %g id %lld name %.8s", (unsigned long long)i, g->x,
                (long long)g->id, g->name);
        break;
      }
    }
    free(got);
    H5Tclose(ot);
    H5Tclose(s8);
  }
  sl_h5_layout_destroy(&lay);
  H5Tclose(mt);
  H5Tclose(be);
  free(p);
}

/* The key is the global row index: check it against the id field in a callback. */
static uint64_t key_bad, key_seen;
static int check_key(const sl_record *r, void *arg) {
  (void)arg;
  uint64_t k;
  int64_t id;
  if (r->key_len != 8 || r->value_len != 8) {
    key_bad++;
    return 0;
  }
  memcpy(&k, r->key, 8);
  memcpy(&id, r->value, 8);
  if ((int64_t)k != id)
    key_bad++;
  key_seen++;
  return 0;
}

static void case_index(void) {
  char spec[4300];
  snprintf(spec, sizeof spec, "%s/rt_cmp_?.h5:/t", dir);
  const char *specs[1] = {spec};
  const char *fields[1] = {"id"};
  sl_h5_opts o = {0};
  o.fields = fields;
  o.nfields = 1;
  o.with_index = 1;
  o.transfer = xfer;
  for (int drv = 1; drv <= 2; drv++) {
    /* collective transfers need MPI-IO: the default driver stands in for POSIX */
    o.read_driver = xfer == SL_H5_XFER_COLLECTIVE && drv == SL_H5_READ_POSIX ? 0 : drv;
    key_bad = key_seen = 0;
    sl_flow *flow = NULL;
    int rc = sl_flow_create(ctx, &flow);
    if (!rc)
      rc = sl_flow_from_h5(flow, specs, 1, &o, 2 * size + 1);
    if (!rc)
      rc = sl_flow_to_callback(flow, check_key, NULL);
    if (!rc)
      rc = sl_run(flow);
    sl_flow_destroy(&flow);
    T_CHECK(rc == SL_OK, "index: run failed: %s", sl_strerror(rc));
    uint64_t tot[2], mine[2] = {key_bad, key_seen};
    MPI_Allreduce(mine, tot, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    T_CHECK(tot[0] == 0 && tot[1] == 5000, "index (driver %d): %llu bad keys of %llu", drv,
            (unsigned long long)tot[0], (unsigned long long)tot[1]);
  }
}

/* Failures through the library API: every rank gets the same code, nothing is written. */
static void case_errors(void) {
  char a[4300], b[4300], out[4200], ospec[4300];
  snprintf(a, sizeof a, "%s/rt_cmp_a.h5:/t", dir);
  snprintf(b, sizeof b, "%s/rt_2d.h5:/grid", dir);
  path(out, "rt_err.out.h5");
  snprintf(ospec, sizeof ospec, "%s:/x", out);
  const char *specs[2] = {a, b};
  sl_h5_layout *lay = NULL;
  int rc = sl_h5_layout_create(&lay);
  if (!rc)
    rc = sl_h5_layout_add(lay, "x", SL_H5_FLOAT, 8);
  T_CHECK(rc == SL_OK, "layout_add");
  /* two inputs with different row layouts */
  sl_flow *flow = NULL;
  rc = sl_flow_create(ctx, &flow);
  if (!rc)
    rc = sl_flow_from_h5(flow, specs, 2, NULL, 0);
  if (!rc)
    rc = sl_flow_to_h5(flow, ospec, lay, NULL);
  if (!rc)
    rc = sl_run(flow);
  sl_flow_destroy(&flow);
  T_CHECK(rc == SL_ERR_FORMAT, "mismatched layouts: %s, expected FORMAT", sl_err_name(rc));
  T_CHECK(access(out, F_OK) != 0, "output exists after a failed run");
  /* records of the wrong size for the sink's layout (compound rows of 24 bytes) */
  const char *fields[3] = {"x", "id", "name"};
  sl_h5_opts o = {0};
  o.fields = fields;
  o.nfields = 3;
  rc = sl_flow_create(ctx, &flow);
  if (!rc)
    rc = sl_flow_from_h5(flow, specs, 1, &o, 0);
  if (!rc)
    rc = sl_flow_to_h5(flow, ospec, lay, NULL);
  if (!rc)
    rc = sl_run(flow);
  sl_flow_destroy(&flow);
  T_CHECK(rc == SL_ERR_TYPE, "wrong row size: %s, expected TYPE", sl_err_name(rc));
  T_CHECK(access(out, F_OK) != 0, "output exists after a failed run");
  /* describe of a missing field, of a missing file */
  const char *bad[1] = {"nope"};
  o.fields = bad;
  o.nfields = 1;
  sl_h5_layout *l2 = NULL;
  rc = sl_h5_describe(ctx, a, &o, &l2);
  T_CHECK(rc == SL_ERR_TYPE && l2 == NULL, "describe, missing field: %s", sl_err_name(rc));
  /* collective transfers with the POSIX driver, an unknown transfer mode */
  sl_h5_opts ob = {0};
  ob.read_driver = SL_H5_READ_POSIX;
  ob.transfer = SL_H5_XFER_COLLECTIVE;
  rc = sl_flow_create(ctx, &flow);
  int rb = rc ? rc : sl_flow_from_h5(flow, specs, 1, &ob, 0);
  sl_flow_destroy(&flow);
  T_CHECK(rb == SL_ERR_INVAL, "collective + POSIX: %s, expected INVAL", sl_err_name(rb));
  ob.read_driver = 0;
  ob.transfer = 7;
  rc = sl_flow_create(ctx, &flow);
  rb = rc ? rc : sl_flow_from_h5(flow, specs, 1, &ob, 0);
  sl_flow_destroy(&flow);
  T_CHECK(rb == SL_ERR_INVAL, "transfer 7: %s, expected INVAL", sl_err_name(rb));
  char missing[4300];
  snprintf(missing, sizeof missing, "%s/none.h5:/t", dir);
  rc = sl_h5_describe(ctx, missing, NULL, &l2);
  T_CHECK(rc == SL_ERR_NOTFOUND && l2 == NULL, "describe, missing file: %s", sl_err_name(rc));
  sl_h5_layout_destroy(&lay);
}

int main(int argc, char **argv) {
  if (sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 1;
  rank = sl_rank(ctx);
  size = sl_size(ctx);
  h5t_workdir(argc, argv, "h5rt", size, dir, sizeof dir);
  /* every case with independent, then with collective transfers */
  for (xfer = SL_H5_XFER_INDEPENDENT; xfer <= SL_H5_XFER_COLLECTIVE; xfer++) {
    case_1d("i32_contig", H5T_NATIVE_INT32, 0, 0, 0, 1000);
    case_1d("i64be_chunk_deflate", H5T_STD_I64BE, 64, 6, 1, 10007);
    case_1d("u16_chunk", H5T_STD_U16LE, 100, 0, 0, 5);
    case_1d("f64_chunk", H5T_NATIVE_DOUBLE, 1000, 1, 0, 20000);
    case_1d("i16be_contig", H5T_STD_I16BE, 0, 0, 0, 3333);
    case_1d("empty", H5T_NATIVE_INT32, 16, 0, 0, 0);
    case_2d();
    case_compound();
    case_index();
    case_errors();
  }
  int tot = 0;
  MPI_Allreduce(&h5t_failures, &tot, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("test_h5_roundtrip: %d ranks, %d failure(s)\n", size, tot);
  sl_finalize(&ctx);
  return tot ? 1 : 0;
}
