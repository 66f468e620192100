/* SPDX-License-Identifier: BSD-3-Clause */
/* The library's small-result HDF5 layer (sluice/sl_h5.h): sl_h5_file_* (tables written by
 * rank 0 and published through sl_output), sl_h5_describe_numeric, the array and string-pad
 * layouts. The oracle is HDF5's own API: rank 0 writes the inputs and reads every output
 * back with serial HDF5 (its own memory types, built from C structs), checking types,
 * values and every attribute. Every call must return the same code on every rank, also
 * when only one rank failed, and a failed file leaves nothing under its name and no
 * temporary.
 *   mpirun -n N test_h5_table DIR */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice.h>

#include "h5test.h"

static sl_ctx *ctx;
static int rank, size;
static char dir[4000];

/* rc is the same on every rank, and the expected one */
static void same_code(const char *what, int rc, int want) {
  int lo = 0, hi = 0;
  MPI_Allreduce(&rc, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&rc, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  T_CHECK(lo == hi, "%s: codes differ across ranks (%s .. %s)", what, sl_err_name(lo),
          sl_err_name(hi));
  T_CHECK(rc == want, "%s: %s, expected %s", what, sl_err_name(rc), sl_err_name(want));
}

static void path_of(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", dir, name);
}

static int exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

/* rank 0: no temporary of sl_output left in dir */
static void no_temporaries(const char *what) {
  if (rank != 0)
    return;
  DIR *d = opendir(dir);
  T_CHECK(d != NULL, "%s: cannot list %s", what, dir);
  if (!d)
    return;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    T_CHECK(!strstr(e->d_name, ".sluice-tmp-"), "%s: temporary '%s' left in %s", what, e->d_name,
            dir);
  closedir(d);
}

/* ---- the oracle's reading helpers (rank 0, serial HDF5) ---- */

static int read_str_attr(hid_t obj, const char *name, char *v, size_t cap) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0)
    return -1;
  hid_t ft = H5Aget_type(a), st = H5Tcopy(H5T_C_S1);
  int ok = ft >= 0 && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) == 0 &&
           H5Tget_size(ft) < cap && H5Tget_strpad(ft) == H5T_STR_NULLTERM;
  if (ok) {
    H5Tset_size(st, H5Tget_size(ft));
    memset(v, 0, cap);
    ok = H5Aread(a, st, v) >= 0;
  }
  H5Tclose(st);
  if (ft >= 0)
    H5Tclose(ft);
  H5Aclose(a);
  return ok ? 0 : -1;
}

static int read_num_attr(hid_t obj, const char *name, hid_t mtype, hid_t want_class, void *v) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0)
    return -1;
  hid_t ft = H5Aget_type(a);
  int ok = ft >= 0 && H5Tget_class(ft) == want_class && H5Tget_size(ft) == 8 &&
           H5Aread(a, mtype, v) >= 0;
  if (ft >= 0)
    H5Tclose(ft);
  H5Aclose(a);
  return ok ? 0 : -1;
}

/* the standard provenance attributes, as sl_flow_to_h5 writes them */
static void check_provenance(hid_t d, const char *what, const char *inputs, uint64_t rows) {
  char v[5000];
  T_CHECK(read_str_attr(d, "sluice_version", v, sizeof v) == 0 && !strcmp(v, sl_version()),
          "%s: sluice_version '%s', expected '%s'", what, v, sl_version());
  T_CHECK(read_str_attr(d, "command_line", v, sizeof v) == 0 && strstr(v, "test_h5_table"),
          "%s: command_line '%s'", what, v);
  T_CHECK(read_str_attr(d, "inputs", v, sizeof v) == 0 && !strcmp(v, inputs),
          "%s: inputs '%s', expected '%s'", what, v, inputs);
  T_CHECK(read_str_attr(d, "created_utc", v, sizeof v) == 0 && strlen(v) == 20 && v[4] == '-' &&
              v[10] == 'T' && v[19] == 'Z',
          "%s: created_utc '%s'", what, v);
  int64_t ranks = -1;
  T_CHECK(read_num_attr(d, "ranks", H5T_NATIVE_INT64, H5T_INTEGER, &ranks) == 0 && ranks == size,
          "%s: ranks %lld, expected %d", what, (long long)ranks, size);
  uint64_t r = 0;
  T_CHECK(read_num_attr(d, "rows", H5T_NATIVE_UINT64, H5T_INTEGER, &r) == 0 && r == rows,
          "%s: rows %llu, expected %llu", what, (unsigned long long)r, (unsigned long long)rows);
  const char *job = getenv("SLURM_JOB_ID");
  if (job && job[0])
    T_CHECK(read_str_attr(d, "slurm_job_id", v, sizeof v) == 0 && !strcmp(v, job),
            "%s: slurm_job_id '%s', expected '%s'", what, v, job);
  else
    T_CHECK(H5Aexists(d, "slurm_job_id") == 0, "%s: slurm_job_id outside Slurm", what);
}

/* ---- a table of every class and size ---- */

typedef struct orow { /* the oracle's memory form of a row */
  char name[8], tag[4];
  int8_t i8;
  int16_t i16;
  int32_t i32;
  int64_t i64;
  uint8_t u8;
  uint16_t u16;
  uint32_t u32;
  uint64_t u64;
  float f32;
  double f64;
} orow;

enum { NROWS = 5 };

static orow expected_row(int r) {
  orow o;
  memset(&o, 0, sizeof o);
  snprintf(o.name, sizeof o.name, "row%d", r);
  memcpy(o.tag, r % 2 ? "abcd" : "xy\0\0", 4); /* the full width: no terminator (NULLPAD) */
  o.i8 = (int8_t)(-r - 100);
  o.i16 = (int16_t)(-1000 * r - 7);
  o.i32 = -100000 * r - 3;
  o.i64 = -((int64_t)1 << 40) * r - 1;
  o.u8 = (uint8_t)(200 + r);
  o.u16 = (uint16_t)(60000 + r);
  o.u32 = 4000000000u + (uint32_t)r;
  o.u64 = ((uint64_t)1 << 63) + (uint64_t)r;
  o.f32 = (float)r + 0.25f;
  o.f64 = r ? 1e300 / r : -0.0;
  return o;
}

static sl_h5_layout *all_classes_layout(void) {
  sl_h5_layout *l = NULL;
  int rc = sl_h5_layout_create(&l);
  struct {
    const char *n;
    sl_h5_class c;
    size_t s;
  } f[] = {{"name", SL_H5_STRING, 8}, {"tag", SL_H5_STRING, 4}, {"i8", SL_H5_INT, 1},
           {"i16", SL_H5_INT, 2},     {"i32", SL_H5_INT, 4},    {"i64", SL_H5_INT, 8},
           {"u8", SL_H5_UINT, 1},     {"u16", SL_H5_UINT, 2},   {"u32", SL_H5_UINT, 4},
           {"u64", SL_H5_UINT, 8},    {"f32", SL_H5_FLOAT, 4},  {"f64", SL_H5_FLOAT, 8}};
  for (size_t i = 0; i < sizeof f / sizeof f[0] && rc == SL_OK; i++)
    rc = sl_h5_layout_add(l, f[i].n, f[i].c, f[i].s);
  if (rc == SL_OK)
    rc = sl_h5_layout_set_strpad(l, 0, SL_H5_NULLTERM);
  T_CHECK(rc == SL_OK, "building the layout: %s", sl_err_name(rc));
  return l;
}

/* the packed rows of the layout (the library's form), from the oracle's rows */
static char *pack_rows(const sl_h5_layout *l, const orow *o, int n) {
  size_t rs = sl_h5_layout_row_size(l);
  char *b = calloc((size_t)n, rs);
  const size_t off[] = {offsetof(orow, name), offsetof(orow, tag), offsetof(orow, i8),
                        offsetof(orow, i16),  offsetof(orow, i32), offsetof(orow, i64),
                        offsetof(orow, u8),   offsetof(orow, u16), offsetof(orow, u32),
                        offsetof(orow, u64),  offsetof(orow, f32), offsetof(orow, f64)};
  for (int r = 0; r < n; r++)
    for (size_t i = 0; i < sl_h5_layout_nfields(l); i++) {
      sl_h5_field f;
      sl_h5_layout_field(l, i, &f);
      memcpy(b + (size_t)r * rs + f.offset, (const char *)&o[r] + off[i], f.size);
    }
  return b;
}

static hid_t oracle_row_type(void) {
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(orow)), s8 = H5Tcopy(H5T_C_S1), s4 = H5Tcopy(H5T_C_S1);
  H5_OK(H5Tset_size(s8, 8));
  H5_OK(H5Tset_strpad(s8, H5T_STR_NULLTERM));
  H5_OK(H5Tset_size(s4, 4));
  H5_OK(H5Tset_strpad(s4, H5T_STR_NULLPAD));
  H5_OK(H5Tinsert(t, "name", HOFFSET(orow, name), s8));
  H5_OK(H5Tinsert(t, "tag", HOFFSET(orow, tag), s4));
  H5_OK(H5Tinsert(t, "i8", HOFFSET(orow, i8), H5T_NATIVE_INT8));
  H5_OK(H5Tinsert(t, "i16", HOFFSET(orow, i16), H5T_NATIVE_INT16));
  H5_OK(H5Tinsert(t, "i32", HOFFSET(orow, i32), H5T_NATIVE_INT32));
  H5_OK(H5Tinsert(t, "i64", HOFFSET(orow, i64), H5T_NATIVE_INT64));
  H5_OK(H5Tinsert(t, "u8", HOFFSET(orow, u8), H5T_NATIVE_UINT8));
  H5_OK(H5Tinsert(t, "u16", HOFFSET(orow, u16), H5T_NATIVE_UINT16));
  H5_OK(H5Tinsert(t, "u32", HOFFSET(orow, u32), H5T_NATIVE_UINT32));
  H5_OK(H5Tinsert(t, "u64", HOFFSET(orow, u64), H5T_NATIVE_UINT64));
  H5_OK(H5Tinsert(t, "f32", HOFFSET(orow, f32), H5T_NATIVE_FLOAT));
  H5_OK(H5Tinsert(t, "f64", HOFFSET(orow, f64), H5T_NATIVE_DOUBLE));
  H5Tclose(s8);
  H5Tclose(s4);
  return t;
}

/* the file type of member i: class, size, sign or pad */
static void check_member(hid_t ft, const char *name, H5T_class_t c, size_t sz, int detail) {
  int i = H5Tget_member_index(ft, name);
  T_CHECK(i >= 0, "member '%s' missing", name);
  if (i < 0)
    return;
  hid_t m = H5Tget_member_type(ft, (unsigned)i);
  T_CHECK(H5Tget_class(m) == c && H5Tget_size(m) == sz, "member '%s': class %d size %zu", name,
          (int)H5Tget_class(m), H5Tget_size(m));
  if (c == H5T_INTEGER)
    T_CHECK((int)H5Tget_sign(m) == detail, "member '%s': sign %d, expected %d", name,
            (int)H5Tget_sign(m), detail);
  if (c == H5T_STRING)
    T_CHECK((int)H5Tget_strpad(m) == detail, "member '%s': pad %d, expected %d", name,
            (int)H5Tget_strpad(m), detail);
  H5Tclose(m);
}

static void check_all_classes(hid_t fid) {
  hid_t d = H5Dopen2(fid, "/results/table", H5P_DEFAULT);
  T_CHECK(d >= 0, "dataset /results/table missing");
  if (d < 0)
    return;
  hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
  hsize_t dims[2] = {0, 0};
  T_CHECK(H5Tget_class(ft) == H5T_COMPOUND && H5Tget_nmembers(ft) == 12, "not a 12-member table");
  T_CHECK(H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, dims, NULL) == 1 &&
              dims[0] == NROWS,
          "table of %llu rows, expected %d", (unsigned long long)dims[0], NROWS);
  check_member(ft, "name", H5T_STRING, 8, H5T_STR_NULLTERM);
  check_member(ft, "tag", H5T_STRING, 4, H5T_STR_NULLPAD);
  check_member(ft, "i8", H5T_INTEGER, 1, H5T_SGN_2);
  check_member(ft, "i16", H5T_INTEGER, 2, H5T_SGN_2);
  check_member(ft, "i32", H5T_INTEGER, 4, H5T_SGN_2);
  check_member(ft, "i64", H5T_INTEGER, 8, H5T_SGN_2);
  check_member(ft, "u8", H5T_INTEGER, 1, H5T_SGN_NONE);
  check_member(ft, "u16", H5T_INTEGER, 2, H5T_SGN_NONE);
  check_member(ft, "u32", H5T_INTEGER, 4, H5T_SGN_NONE);
  check_member(ft, "u64", H5T_INTEGER, 8, H5T_SGN_NONE);
  check_member(ft, "f32", H5T_FLOAT, 4, 0);
  check_member(ft, "f64", H5T_FLOAT, 8, 0);
  orow got[NROWS];
  memset(got, 0, sizeof got);
  hid_t mt = oracle_row_type();
  H5_OK(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, got));
  for (int r = 0; r < NROWS; r++) {
    orow e = expected_row(r);
    T_CHECK(!memcmp(got[r].name, e.name, 8) && !memcmp(got[r].tag, e.tag, 4),
            "row %d: strings '%.8s' '%.4s', expected '%.8s' '%.4s'", r, got[r].name, got[r].tag,
            e.name, e.tag);
    T_CHECK(got[r].i8 == e.i8 && got[r].i16 == e.i16 && got[r].i32 == e.i32 && got[r].i64 == e.i64,
            "row %d: signed %d %d %d %lld", r, got[r].i8, got[r].i16, got[r].i32,
            (long long)got[r].i64);
    T_CHECK(got[r].u8 == e.u8 && got[r].u16 == e.u16 && got[r].u32 == e.u32 && got[r].u64 == e.u64,
            "row %d: unsigned %u %u %u %llu", r, got[r].u8, got[r].u16, got[r].u32,
            (unsigned long long)got[r].u64);
    T_CHECK(got[r].f32 == e.f32 && got[r].f64 == e.f64 && signbit(got[r].f64) == signbit(e.f64),
            "row %d: floats %g %g, expected %g %g", r, got[r].f32, got[r].f64, e.f32, e.f64);
  }
  check_provenance(d, "/results/table", "in.h5:/t\nin2.h5:/t", NROWS);
  char v[256];
  T_CHECK(read_str_attr(d, "units", v, sizeof v) == 0 && !strcmp(v, "SI"), "units '%s'", v);
  T_CHECK(read_str_attr(d, "empty", v, sizeof v) == 0 && !strcmp(v, ""), "empty '%s'", v);
  hid_t ocpl = H5Dget_create_plist(d);
  T_CHECK(H5Pget_layout(ocpl) == H5D_CONTIGUOUS, "the table is not contiguous");
  H5Pclose(ocpl);
  H5Tclose(mt);
  H5Tclose(ft);
  H5Sclose(sp);
  H5Dclose(d);
}

/* a plain 1-D dataset of n values (class c, 8 bytes), with attribute field = fld */
static void check_array(hid_t fid, const char *path, H5T_class_t c, const void *want, hsize_t n,
                        const char *fld) {
  hid_t d = H5Dopen2(fid, path, H5P_DEFAULT);
  T_CHECK(d >= 0, "dataset %s missing", path);
  if (d < 0)
    return;
  hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
  hsize_t dims[2] = {0, 0};
  T_CHECK(H5Tget_class(ft) == c && H5Tget_size(ft) == 8, "%s: class %d size %zu", path,
          (int)H5Tget_class(ft), H5Tget_size(ft));
  T_CHECK(H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, dims, NULL) == 1 &&
              dims[0] == n,
          "%s: %llu elements, expected %llu", path, (unsigned long long)dims[0],
          (unsigned long long)n);
  void *got = calloc(n ? n : 1, 8);
  if (dims[0] == n && n)
    H5_OK(H5Dread(d, c == H5T_FLOAT ? H5T_NATIVE_DOUBLE : H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL,
                  H5P_DEFAULT, got));
  T_CHECK(!memcmp(got, want, n * 8), "%s: values differ", path);
  free(got);
  char v[256] = "";
  T_CHECK(read_str_attr(d, "field", v, sizeof v) == 0 && !strcmp(v, fld),
          "%s: attribute field '%s', expected '%s'", path, v, fld);
  T_CHECK(H5Aexists(d, "sluice_version") == 0, "%s: provenance without asking", path);
  H5Tclose(ft);
  H5Sclose(sp);
  H5Dclose(d);
}

/* ---- cases ---- */

static void case_write_read(void) {
  char out[4200];
  path_of(out, sizeof out, "results.h5");
  unlink(out);
  MPI_Barrier(MPI_COMM_WORLD);
  sl_h5_file *f = NULL;
  int rc = sl_h5_file_create(ctx, out, 0, NULL, 0, &f);
  same_code("create", rc, SL_OK);
  if (rc != SL_OK)
    return;
  sl_h5_layout *l = all_classes_layout();
  orow o[NROWS];
  for (int r = 0; r < NROWS; r++)
    o[r] = expected_row(r);
  /* rank 0's rows are written; the others pass garbage or nothing */
  char *rows = pack_rows(l, o, NROWS);
  if (rank != 0)
    memset(rows, 0xee, NROWS * sl_h5_layout_row_size(l));
  const char *an[] = {"units", "empty"}, *av[] = {"SI", ""};
  sl_h5_table_opts to = {1, "in.h5:/t\nin2.h5:/t", an, av, 2};
  rc = sl_h5_file_write_table(f, "/results/table", l, rows, NROWS, &to);
  same_code("write the table", rc, SL_OK);

  sl_h5_layout *hu = NULL, *hf = NULL;
  T_CHECK(sl_h5_layout_create_array(&hu, SL_H5_UINT, 8) == SL_OK &&
              sl_h5_layout_create_array(&hf, SL_H5_FLOAT, 8) == SL_OK,
          "array layouts");
  uint64_t counts[7] = {0, 1, 2, 3, UINT64_MAX, 5, 6};
  double edges[8] = {-1.5, 0, 1, 2, 3, 4, 5, INFINITY};
  const char *fn[] = {"field"}, *fv[] = {"pos/x"};
  sl_h5_table_opts fo = {0, NULL, fn, fv, 1};
  rc = sl_h5_file_write_table(f, "/histogram/pos%2Fx", hu, rank ? NULL : counts, 7, &fo);
  same_code("write a uint64 array", rc, SL_OK);
  rc = sl_h5_file_write_table(f, "/edges/pos%2Fx", hf, rank ? NULL : edges, 8, &fo);
  same_code("write a float64 array", rc, SL_OK);
  rc = sl_h5_file_write_table(f, "/empty", l, NULL, 0, NULL);
  same_code("write zero rows", rc, SL_OK);

  /* the columns of a 2-D dataset (its described layout) come back 2-D */
  sl_h5_layout *gl = NULL;
  char spec[4300];
  path_of(spec, sizeof spec, "grid.h5:/g");
  rc = sl_h5_describe(ctx, spec, NULL, &gl);
  same_code("describe the grid", rc, SL_OK);
  double grid[4][3];
  for (int i = 0; i < 4; i++)
    for (int c = 0; c < 3; c++)
      grid[i][c] = i * 10 + c;
  if (rc == SL_OK) {
    rc = sl_h5_file_write_table(f, "/grid", gl, grid, 4, NULL);
    same_code("write 2-D columns", rc, SL_OK);
  }
  T_CHECK(!exists(out), "'%s' exists before the commit", out);
  rc = sl_h5_file_commit(f);
  same_code("commit", rc, SL_OK);
  same_code("commit twice", sl_h5_file_commit(f), SL_ERR_STATE);
  same_code("write after the commit", sl_h5_file_write_table(f, "/late", hu, counts, 7, NULL),
            SL_ERR_STATE);
  sl_h5_file_destroy(&f);
  T_CHECK(f == NULL, "destroy did not clear the pointer");
  sl_h5_file_destroy(&f); /* NULL is fine */
  sl_h5_file_destroy(NULL);
  MPI_Barrier(MPI_COMM_WORLD);
  no_temporaries("write_read");

  if (rank == 0) { /* the oracle */
    hid_t fapl = h5t_fapl(), fid = H5Fopen(out, H5F_ACC_RDONLY, fapl);
    T_CHECK(fid >= 0, "cannot open '%s' with HDF5", out);
    if (fid >= 0) {
      check_all_classes(fid);
      check_array(fid, "/histogram/pos%2Fx", H5T_INTEGER, counts, 7, "pos/x");
      check_array(fid, "/edges/pos%2Fx", H5T_FLOAT, edges, 8, "pos/x");
      hid_t d = H5Dopen2(fid, "/empty", H5P_DEFAULT), sp = d >= 0 ? H5Dget_space(d) : -1;
      hsize_t n = 99;
      T_CHECK(sp >= 0 && H5Sget_simple_extent_dims(sp, &n, NULL) == 1 && n == 0,
              "/empty: %llu rows, expected 0", (unsigned long long)n);
      T_CHECK(d >= 0 && H5Aget_num_attrs(d) == 0, "/empty has attributes");
      if (sp >= 0)
        H5Sclose(sp);
      if (d >= 0)
        H5Dclose(d);
      d = H5Dopen2(fid, "/grid", H5P_DEFAULT);
      sp = d >= 0 ? H5Dget_space(d) : -1;
      hsize_t gd[2] = {0, 0};
      T_CHECK(sp >= 0 && H5Sget_simple_extent_dims(sp, gd, NULL) == 2 && gd[0] == 4 && gd[1] == 3,
              "/grid: %llux%llu, expected 4x3", (unsigned long long)gd[0],
              (unsigned long long)gd[1]);
      double back[4][3];
      memset(back, 0, sizeof back);
      if (d >= 0 && gd[0] == 4 && gd[1] == 3)
        H5_OK(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, back));
      T_CHECK(!memcmp(back, grid, sizeof grid), "/grid: values differ");
      if (sp >= 0)
        H5Sclose(sp);
      if (d >= 0)
        H5Dclose(d);
      T_CHECK(H5Lexists(fid, "/late", H5P_DEFAULT) == 0, "/late written after the commit");
      H5Fclose(fid);
    }
    H5Pclose(fapl);
  }
  free(rows);
  sl_h5_layout_destroy(&l);
  sl_h5_layout_destroy(&hu);
  sl_h5_layout_destroy(&hf);
  sl_h5_layout_destroy(&gl);
}

/* A failure on one rank (or rank 0's HDF5) fails every rank alike; nothing is published. */
static void case_failures(void) {
  char out[4200], spec[4300];
  path_of(out, sizeof out, "fail.h5");
  unlink(out);
  MPI_Barrier(MPI_COMM_WORLD);
  sl_h5_layout *hu = NULL;
  sl_h5_layout_create_array(&hu, SL_H5_UINT, 8);
  uint64_t v[3] = {1, 2, 3};

  /* the same dataset twice: H5Dcreate fails on rank 0 alone */
  sl_h5_file *f = NULL;
  int rc = sl_h5_file_create(ctx, out, 0, NULL, 0, &f);
  same_code("create", rc, SL_OK);
  if (rc == SL_OK) {
    same_code("first /a", sl_h5_file_write_table(f, "/a", hu, v, 3, NULL), SL_OK);
    same_code("second /a", sl_h5_file_write_table(f, "/a", hu, v, 3, NULL), SL_ERR_HDF5);
    same_code("write after a failure", sl_h5_file_write_table(f, "/b", hu, v, 3, NULL),
              SL_ERR_HDF5);
    same_code("commit after a failure", sl_h5_file_commit(f), SL_ERR_HDF5);
    sl_h5_file_destroy(&f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  T_CHECK(!exists(out), "'%s' published after a failure", out);
  no_temporaries("duplicate dataset");

  /* a bad argument on the last rank only (and rows missing on rank 0 only) */
  rc = sl_h5_file_create(ctx, out, 0, NULL, 0, &f);
  same_code("create again", rc, SL_OK);
  if (rc == SL_OK) {
    const char *an[] = {"field"}, *av[] = {"x"};
    sl_h5_table_opts bad = {0, NULL, an, rank == size - 1 ? NULL : av, 1};
    same_code("attributes without values on the last rank",
              sl_h5_file_write_table(f, "/a", hu, v, 3, &bad), SL_ERR_INVAL);
    sl_h5_file_destroy(&f); /* without a commit: the temporary goes */
  }
  MPI_Barrier(MPI_COMM_WORLD);
  no_temporaries("bad argument on one rank");
  rc = sl_h5_file_create(ctx, out, 0, NULL, 0, &f);
  if (rc == SL_OK) {
    same_code("no rows on rank 0", sl_h5_file_write_table(f, "/a", hu, NULL, 3, NULL),
              SL_ERR_INVAL);
    same_code("not an absolute path", sl_h5_file_write_table(f, "a", hu, v, 3, NULL), SL_ERR_INVAL);
    same_code("commit", sl_h5_file_commit(f), SL_ERR_INVAL);
    sl_h5_file_destroy(&f);
  }
  rc = sl_h5_file_create(ctx, out, 0, NULL, 0, &f);
  if (rc == SL_OK) {
    same_code("NULL layout", sl_h5_file_write_table(f, "/a", NULL, v, 3, NULL), SL_ERR_INVAL);
    sl_h5_file_destroy(&f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  T_CHECK(!exists(out), "'%s' published after a failure", out);
  no_temporaries("bad arguments");

  /* destinations: existing, missing directory, an input; overwrite replaces */
  char keep[4200];
  path_of(keep, sizeof keep, "keep.h5");
  if (rank == 0) {
    FILE *k = fopen(keep, "w");
    fputs("precious", k);
    fclose(k);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  f = NULL;
  same_code("existing output", sl_h5_file_create(ctx, keep, 0, NULL, 0, &f), SL_ERR_EXISTS);
  T_CHECK(f == NULL, "a file was returned on failure");
  const char *in[] = {keep};
  same_code("output is an input", sl_h5_file_create(ctx, keep, 1, in, 1, &f), SL_ERR_USAGE);
  snprintf(spec, sizeof spec, "%s/nodir/x.h5", dir);
  same_code("missing directory", sl_h5_file_create(ctx, spec, 0, NULL, 0, &f), SL_ERR_USAGE);
  same_code("directory as output", sl_h5_file_create(ctx, dir, 1, NULL, 0, &f), SL_ERR_USAGE);
  if (rank == 0) {
    char txt[16] = "";
    FILE *k = fopen(keep, "r");
    T_CHECK(k && fgets(txt, sizeof txt, k) && !strcmp(txt, "precious"), "'%s' was changed", keep);
    if (k)
      fclose(k);
  }
  rc = sl_h5_file_create(ctx, keep, 1, NULL, 0, &f);
  same_code("overwrite", rc, SL_OK);
  if (rc == SL_OK) {
    same_code("overwrite: write", sl_h5_file_write_table(f, "/a", hu, v, 3, NULL), SL_OK);
    same_code("overwrite: commit", sl_h5_file_commit(f), SL_OK);
    sl_h5_file_destroy(&f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    hid_t fapl = h5t_fapl(), fid = H5Fopen(keep, H5F_ACC_RDONLY, fapl);
    T_CHECK(fid >= 0, "'%s' is not the new HDF5 file", keep);
    if (fid >= 0) {
      hid_t d = H5Dopen2(fid, "/a", H5P_DEFAULT);
      uint64_t back[3] = {0, 0, 0};
      T_CHECK(d >= 0 && H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0 &&
                  !memcmp(back, v, sizeof v),
              "overwritten /a differs");
      if (d >= 0)
        H5Dclose(d);
      H5Fclose(fid);
    }
    H5Pclose(fapl);
  }
  same_code("create: NULL file", sl_h5_file_create(ctx, out, 0, NULL, 0, NULL), SL_ERR_INVAL);
  same_code("write: NULL file", sl_h5_file_write_table(NULL, "/a", hu, v, 3, NULL), SL_ERR_INVAL);
  same_code("commit: NULL file", sl_h5_file_commit(NULL), SL_ERR_INVAL);
  no_temporaries("destinations");
  sl_h5_layout_destroy(&hu);
}

/* ---- layouts: arrays, string pads, numeric fields ---- */

static void case_layouts(void) {
  sl_h5_layout *l = NULL;
  same_code("array: string", sl_h5_layout_create_array(&l, SL_H5_STRING, 5), SL_OK);
  sl_h5_field f;
  T_CHECK(l && sl_h5_layout_nfields(l) == 1 && sl_h5_layout_field(l, 0, &f) == SL_OK &&
              !strcmp(f.name, "value") && f.cls == SL_H5_STRING && f.size == 5 && f.offset == 0,
          "array layout: one field 'value'");
  same_code("strpad", sl_h5_layout_set_strpad(l, 0, SL_H5_SPACEPAD), SL_OK);
  same_code("strpad: index", sl_h5_layout_set_strpad(l, 1, SL_H5_NULLPAD), SL_ERR_INVAL);
  same_code("strpad: pad", sl_h5_layout_set_strpad(l, 0, (sl_h5_strpad)7), SL_ERR_INVAL);
  sl_h5_layout_destroy(&l);
  same_code("array: float of 2 bytes", sl_h5_layout_create_array(&l, SL_H5_FLOAT, 2), SL_ERR_TYPE);
  T_CHECK(l == NULL, "a layout was returned on failure");
  same_code("array: NULL", sl_h5_layout_create_array(NULL, SL_H5_INT, 4), SL_ERR_INVAL);
  sl_h5_layout_create(&l);
  sl_h5_layout_add(l, "n", SL_H5_INT, 4);
  same_code("strpad: not a string", sl_h5_layout_set_strpad(l, 0, SL_H5_NULLTERM), SL_ERR_INVAL);
  sl_h5_layout_destroy(&l);
  T_CHECK(sl_h5_class_is_numeric(SL_H5_INT) && sl_h5_class_is_numeric(SL_H5_UINT) &&
              sl_h5_class_is_numeric(SL_H5_FLOAT) && !sl_h5_class_is_numeric(SL_H5_STRING),
          "sl_h5_class_is_numeric");
}

/* the input table: numeric members beside a string, an enum, an array and a vlen string */
typedef struct mrow {
  int32_t id;
  int8_t flag;
  char name[6];
  double pos[3];
  char *vs;
  double x;
  uint16_t u;
} mrow;
enum { MROWS = 1000 };

static void write_inputs(void) {
  if (rank != 0)
    return;
  char p[4200];
  path_of(p, sizeof p, "mixed.h5");
  hid_t fapl = h5t_fapl(), fid = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5_OK(fid);
  hid_t en = H5Tenum_create(H5T_NATIVE_INT8);
  int8_t e0 = 0, e1 = 1;
  H5_OK(H5Tenum_insert(en, "FALSE", &e0));
  H5_OK(H5Tenum_insert(en, "TRUE", &e1));
  hsize_t three = 3;
  hid_t arr = H5Tarray_create2(H5T_NATIVE_DOUBLE, 1, &three), vls = H5Tcopy(H5T_C_S1),
        s6 = H5Tcopy(H5T_C_S1);
  H5_OK(H5Tset_size(vls, H5T_VARIABLE));
  H5_OK(H5Tset_size(s6, 6));
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(mrow));
  H5_OK(H5Tinsert(t, "id", HOFFSET(mrow, id), H5T_NATIVE_INT32));
  H5_OK(H5Tinsert(t, "flag", HOFFSET(mrow, flag), en));
  H5_OK(H5Tinsert(t, "name", HOFFSET(mrow, name), s6));
  H5_OK(H5Tinsert(t, "pos", HOFFSET(mrow, pos), arr));
  H5_OK(H5Tinsert(t, "vs", HOFFSET(mrow, vs), vls));
  H5_OK(H5Tinsert(t, "x", HOFFSET(mrow, x), H5T_NATIVE_DOUBLE));
  H5_OK(H5Tinsert(t, "u", HOFFSET(mrow, u), H5T_NATIVE_UINT16));
  /* in the file: u big-endian (converted to native by the reader) */
  hid_t tf = H5Tcreate(H5T_COMPOUND, sizeof(mrow));
  H5_OK(H5Tinsert(tf, "id", HOFFSET(mrow, id), H5T_NATIVE_INT32));
  H5_OK(H5Tinsert(tf, "flag", HOFFSET(mrow, flag), en));
  H5_OK(H5Tinsert(tf, "name", HOFFSET(mrow, name), s6));
  H5_OK(H5Tinsert(tf, "pos", HOFFSET(mrow, pos), arr));
  H5_OK(H5Tinsert(tf, "vs", HOFFSET(mrow, vs), vls));
  H5_OK(H5Tinsert(tf, "x", HOFFSET(mrow, x), H5T_NATIVE_DOUBLE));
  H5_OK(H5Tinsert(tf, "u", HOFFSET(mrow, u), H5T_STD_U16BE));
  mrow *rows = calloc(MROWS, sizeof *rows);
  for (int i = 0; i < MROWS; i++) {
    rows[i].id = i - 300;
    rows[i].flag = (int8_t)(i % 2);
    memcpy(rows[i].name, "abcdef", 6);
    rows[i].vs = "v";
    rows[i].x = i * 0.5;
    rows[i].u = (uint16_t)(i * 3);
  }
  hsize_t n = MROWS;
  hid_t sp = H5Screate_simple(1, &n, NULL);
  hid_t d = H5Dcreate2(fid, "/t", tf, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5_OK(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows));
  H5Dclose(d);
  H5Tclose(tf);
  /* only non-numeric members: a string and an enum */
  hid_t t2 = H5Tcreate(H5T_COMPOUND, 8);
  H5_OK(H5Tinsert(t2, "name", 0, s6));
  H5_OK(H5Tinsert(t2, "flag", 6, en));
  d = H5Dcreate2(fid, "/nonum", t2, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  char *z = calloc(MROWS, 12); /* the widest row below: /plain */
  H5_OK(H5Dwrite(d, t2, H5S_ALL, H5S_ALL, H5P_DEFAULT, z));
  H5Dclose(d);
  /* a 1-D string dataset, and a compound of numbers only */
  d = H5Dcreate2(fid, "/strings", s6, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5_OK(H5Dwrite(d, s6, H5S_ALL, H5S_ALL, H5P_DEFAULT, z));
  H5Dclose(d);
  hid_t t3 = H5Tcreate(H5T_COMPOUND, 12);
  H5_OK(H5Tinsert(t3, "a", 0, H5T_NATIVE_INT32));
  H5_OK(H5Tinsert(t3, "b", 4, H5T_IEEE_F64BE));
  d = H5Dcreate2(fid, "/plain", t3, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5_OK(H5Dwrite(d, t3, H5S_ALL, H5S_ALL, H5P_DEFAULT, z));
  H5Dclose(d);
  free(z);
  H5Sclose(sp);
  H5Tclose(t);
  H5Tclose(t2);
  H5Tclose(t3);
  H5Tclose(en);
  H5Tclose(arr);
  H5Tclose(vls);
  H5Tclose(s6);
  H5Fclose(fid);
  /* a 2-D float64 grid (4 x 3) */
  path_of(p, sizeof p, "grid.h5");
  fid = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  hsize_t gd[2] = {4, 3};
  double g[4][3];
  for (int i = 0; i < 4; i++)
    for (int c = 0; c < 3; c++)
      g[i][c] = i * 10 + c;
  sp = H5Screate_simple(2, gd, NULL);
  d = H5Dcreate2(fid, "/g", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5_OK(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, g));
  H5Dclose(d);
  H5Sclose(sp);
  H5Fclose(fid);
  H5Pclose(fapl);
  free(rows);
}

/* the layout's fields are exactly names/classes/sizes, packed in that order */
static void check_fields(const char *what, const sl_h5_layout *l, int n, const char *const *names,
                         const sl_h5_class *cls, const size_t *sizes) {
  T_CHECK(l && (int)sl_h5_layout_nfields(l) == n, "%s: %zu fields, expected %d", what,
          l ? sl_h5_layout_nfields(l) : 0, n);
  if (!l || (int)sl_h5_layout_nfields(l) != n)
    return;
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    sl_h5_field f;
    sl_h5_layout_field(l, (size_t)i, &f);
    T_CHECK(!strcmp(f.name, names[i]) && f.cls == cls[i] && f.size == sizes[i] && f.offset == off,
            "%s: field %d is %s class %d size %zu offset %zu, expected %s %d %zu %zu", what, i,
            f.name, (int)f.cls, f.size, f.offset, names[i], (int)cls[i], sizes[i], off);
    off += sizes[i];
  }
  T_CHECK(sl_h5_layout_row_size(l) == off, "%s: row size %zu, expected %zu", what,
          sl_h5_layout_row_size(l), off);
}

typedef struct sums {
  const sl_h5_layout *l;
  double x, u;
  int64_t id;
} sums;

static int add_row(const sl_record *rec, void *arg) {
  sums *s = arg;
  sl_h5_field f;
  for (size_t i = 0; i < sl_h5_layout_nfields(s->l); i++) {
    sl_h5_layout_field(s->l, i, &f);
    if (!strcmp(f.name, "x"))
      s->x += sl_h5_get_f64(&f, rec->value);
    else if (!strcmp(f.name, "u"))
      s->u += sl_h5_get_f64(&f, rec->value);
    else if (!strcmp(f.name, "id"))
      s->id += sl_h5_get_i64(&f, rec->value);
  }
  return 0;
}

static void case_numeric(void) {
  char spec[4300];
  sl_h5_layout *l = NULL;
  path_of(spec, sizeof spec, "mixed.h5:/t");
  int rc = sl_h5_describe_numeric(ctx, spec, NULL, &l);
  same_code("numeric of a mixed table", rc, SL_OK);
  const char *n3[] = {"id", "x", "u"};
  const sl_h5_class c3[] = {SL_H5_INT, SL_H5_FLOAT, SL_H5_UINT};
  const size_t s3[] = {4, 8, 2};
  if (rc == SL_OK) {
    check_fields("mixed", l, 3, n3, c3, s3);
    T_CHECK(sl_h5_layout_rows(l) == MROWS, "mixed: %llu rows",
            (unsigned long long)sl_h5_layout_rows(l));
    /* its names read exactly those fields: sums against the closed forms */
    const char *names[3];
    sl_h5_field f;
    for (size_t i = 0; i < 3 && i < sl_h5_layout_nfields(l); i++) {
      sl_h5_layout_field(l, i, &f);
      names[i] = f.name;
    }
    sl_h5_opts o = {0};
    o.fields = names;
    o.nfields = 3;
    sums s = {l, 0, 0, 0};
    sl_flow *flow = NULL;
    const char *specs[] = {spec};
    sl_flow_create(ctx, &flow);
    sl_flow_from_h5(flow, specs, 1, &o, 0);
    sl_flow_each(flow, add_row, &s);
    uint64_t count = 0;
    sl_flow_to_count(flow, &count);
    rc = sl_run(flow);
    sl_flow_destroy(&flow);
    same_code("read the numeric fields", rc, SL_OK);
    double tot[3] = {s.x, s.u, (double)s.id}, all[3] = {0, 0, 0};
    MPI_Allreduce(tot, all, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    /* sum i*0.5, sum 3i, sum (i - 300) over i < MROWS */
    double n = MROWS, si = n * (n - 1) / 2;
    T_CHECK(all[0] == si * 0.5 && all[1] == 3 * si && all[2] == si - 300 * n,
            "sums x %g u %g id %g, expected %g %g %g", all[0], all[1], all[2], si * 0.5, 3 * si,
            si - 300 * n);
  }
  sl_h5_layout_destroy(&l);

  /* a selection of numeric fields, in its order */
  const char *sel[] = {"u", "x"};
  sl_h5_opts o = {0};
  o.fields = sel;
  o.nfields = 2;
  rc = sl_h5_describe_numeric(ctx, spec, &o, &l);
  same_code("numeric selection", rc, SL_OK);
  const char *n2[] = {"u", "x"};
  const sl_h5_class c2[] = {SL_H5_UINT, SL_H5_FLOAT};
  const size_t s2[] = {2, 8};
  if (rc == SL_OK)
    check_fields("selection", l, 2, n2, c2, s2);
  sl_h5_layout_destroy(&l);

  /* refusals: a selected string, no numeric field, a missing file */
  const char *sstr[] = {"x", "name"}, *senum[] = {"flag"}, *smissing[] = {"zz"};
  o.fields = sstr;
  o.nfields = 2;
  same_code("selected string", sl_h5_describe_numeric(ctx, spec, &o, &l), SL_ERR_TYPE);
  /* an enum (a boolean) selected by name is read as its integer base type */
  o.fields = senum;
  o.nfields = 1;
  same_code("selected enum", sl_h5_describe_numeric(ctx, spec, &o, &l), SL_OK);
  sl_h5_layout_destroy(&l);
  o.fields = smissing;
  same_code("selected missing field", sl_h5_describe_numeric(ctx, spec, &o, &l), SL_ERR_TYPE);
  T_CHECK(l == NULL, "a layout was returned on failure");
  path_of(spec, sizeof spec, "mixed.h5:/nonum");
  same_code("no numeric member", sl_h5_describe_numeric(ctx, spec, NULL, &l), SL_ERR_TYPE);
  path_of(spec, sizeof spec, "mixed.h5:/strings");
  same_code("a string dataset", sl_h5_describe_numeric(ctx, spec, NULL, &l), SL_ERR_TYPE);
  path_of(spec, sizeof spec, "nope.h5:/t");
  same_code("a missing file", sl_h5_describe_numeric(ctx, spec, NULL, &l), SL_ERR_NOTFOUND);
  path_of(spec, sizeof spec, "mixed.h5:/nope");
  same_code("a missing dataset", sl_h5_describe_numeric(ctx, spec, NULL, &l), SL_ERR_NOTFOUND);
  same_code("NULL spec", sl_h5_describe_numeric(ctx, NULL, NULL, &l), SL_ERR_INVAL);
  T_CHECK(l == NULL, "a layout was returned on failure");

  /* all numeric: every member (big-endian converted to native); a 2-D grid: its columns; a
   * glob: its first file's members */
  path_of(spec, sizeof spec, "mixed.h5:/plain");
  rc = sl_h5_describe_numeric(ctx, spec, NULL, &l);
  same_code("all numeric", rc, SL_OK);
  const char *np[] = {"a", "b"};
  const sl_h5_class cp[] = {SL_H5_INT, SL_H5_FLOAT};
  const size_t sp[] = {4, 8};
  if (rc == SL_OK)
    check_fields("all numeric", l, 2, np, cp, sp);
  sl_h5_layout_destroy(&l);
  path_of(spec, sizeof spec, "grid.h5:/g");
  rc = sl_h5_describe_numeric(ctx, spec, NULL, &l);
  same_code("2-D", rc, SL_OK);
  const char *ng[] = {"c0", "c1", "c2"};
  const sl_h5_class cg[] = {SL_H5_FLOAT, SL_H5_FLOAT, SL_H5_FLOAT};
  const size_t sg[] = {8, 8, 8};
  if (rc == SL_OK)
    check_fields("2-D", l, 3, ng, cg, sg);
  sl_h5_layout_destroy(&l);
  path_of(spec, sizeof spec, "mix*.h5:/t");
  rc = sl_h5_describe_numeric(ctx, spec, NULL, &l);
  same_code("a glob", rc, SL_OK);
  if (rc == SL_OK)
    check_fields("glob", l, 3, n3, c3, s3);
  sl_h5_layout_destroy(&l);
}

int main(int argc, char **argv) {
  if (sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 1;
  rank = sl_rank(ctx);
  size = sl_size(ctx);
  h5t_workdir(argc, argv, "h5table", size, dir, sizeof dir);
  write_inputs();
  MPI_Barrier(MPI_COMM_WORLD);
  case_layouts();
  case_numeric();
  case_write_read();
  case_failures();
  int tot = 0;
  MPI_Allreduce(&h5t_failures, &tot, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("test_h5_table: %d ranks, %d failure(s)\n", size, tot);
  sl_finalize(&ctx);
  return tot ? 1 : 0;
}
