/* SPDX-License-Identifier: BSD-3-Clause */
/* Blocks of rows (sluice/sl_block.h) against a sequential oracle. Rank 0 writes a compound
 * table (an int64 id equal to the row index, an int32 cell, a float64 x with NaNs and
 * infinities, a float32 m, a uint16 u) and a CF-packed int16 array with the serial HDF5
 * API, and computes every expected result from its own arrays. The flows:
 *   - each_block: the blocks' first_row, row_size and layout; per field, columns decoded
 *     with sl_block_column_f64 folded into sl_moments and an sl_hist, merged across ranks,
 *     against the oracle's counts, min, max, mean, variance and histogram; then a
 *     per-record each after the block step (the block split into records: key = row index,
 *     the same bytes) and a count sink;
 *   - a per-record filter, then each_block (one-row blocks that keep the source's layout);
 *   - map_block emitting records, then a per-record each;
 *   - CF decoding: missing values flagged and the packed values unpacked.
 *   mpirun -n N test_h5_block DIR */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

#include "h5test.h"

static sl_ctx *ctx;
static int rank, size;
static char dir[4000], table[4200], packed[4200];

enum { NROWS = 30011, NF = 5, BINS = 7, NV = 5003 };

typedef struct trow { /* the oracle's memory form of a table row */
  int64_t id;
  int32_t cell;
  double x;
  float m;
  uint16_t u;
} trow;

static trow row_of(int64_t r) {
  trow t;
  t.id = r;
  t.cell = (int32_t)((r * 7919) % 13);
  t.x = sin((double)r) * 1e3 + 1e6; /* a large mean: tests the variance's numerics */
  if (r % 1009 == 5)
    t.x = NAN;
  if (r % 2003 == 7)
    t.x = r % 2 ? INFINITY : -INFINITY;
  t.m = (float)(r % 101) * 0.5f;
  t.u = (uint16_t)(r * 31 % 65535);
  return t;
}

static double field_of(const trow *t, int k) {
  switch (k) {
  case 0:
    return (double)t->id;
  case 1:
    return (double)t->cell;
  case 2:
    return t->x;
  case 3:
    return (double)t->m;
  default:
    return (double)t->u;
  }
}

static int16_t v_of(int r) {
  return r % 17 == 3 ? (int16_t)-999 : (int16_t)(r % 1000 - 500);
}

static void write_inputs(const char *path) {
  if (rank != 0)
    return;
  hid_t fapl = h5t_fapl();
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5_OK(f);
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(trow));
  H5_OK(H5Tinsert(t, "id", HOFFSET(trow, id), H5T_NATIVE_INT64));
  H5_OK(H5Tinsert(t, "cell", HOFFSET(trow, cell), H5T_NATIVE_INT32));
  H5_OK(H5Tinsert(t, "x", HOFFSET(trow, x), H5T_NATIVE_DOUBLE));
  H5_OK(H5Tinsert(t, "m", HOFFSET(trow, m), H5T_NATIVE_FLOAT));
  H5_OK(H5Tinsert(t, "u", HOFFSET(trow, u), H5T_NATIVE_UINT16));
  trow *rows = malloc(NROWS * sizeof *rows);
  for (int r = 0; r < NROWS; r++)
    rows[r] = row_of(r);
  hsize_t dims[1] = {NROWS}, chunk[1] = {1000};
  hid_t sp = H5Screate_simple(1, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5_OK(H5Pset_chunk(dcpl, 1, chunk));
  hid_t d = H5Dcreate2(f, "/t", t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5_OK(d);
  H5_OK(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows));
  H5Dclose(d);
  H5Sclose(sp);
  H5Tclose(t);
  free(rows);
  /* the CF-packed array: _FillValue -999, scale_factor 0.5, add_offset 10 */
  int16_t *v = malloc(NV * sizeof *v);
  for (int r = 0; r < NV; r++)
    v[r] = v_of(r);
  hsize_t vd[1] = {NV}, vc[1] = {512};
  sp = H5Screate_simple(1, vd, NULL);
  H5_OK(H5Pset_chunk(dcpl, 1, vc));
  d = H5Dcreate2(f, "/v", H5T_NATIVE_INT16, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5_OK(d);
  H5_OK(H5Dwrite(d, H5T_NATIVE_INT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
  hid_t as = H5Screate(H5S_SCALAR);
  int16_t fill = -999;
  double sf = 0.5, ao = 10;
  hid_t a = H5Acreate2(d, "_FillValue", H5T_NATIVE_INT16, as, H5P_DEFAULT, H5P_DEFAULT);
  H5_OK(H5Awrite(a, H5T_NATIVE_INT16, &fill));
  H5Aclose(a);
  a = H5Acreate2(d, "scale_factor", H5T_NATIVE_DOUBLE, as, H5P_DEFAULT, H5P_DEFAULT);
  H5_OK(H5Awrite(a, H5T_NATIVE_DOUBLE, &sf));
  H5Aclose(a);
  a = H5Acreate2(d, "add_offset", H5T_NATIVE_DOUBLE, as, H5P_DEFAULT, H5P_DEFAULT);
  H5_OK(H5Awrite(a, H5T_NATIVE_DOUBLE, &ao));
  H5Aclose(a);
  H5Sclose(as);
  H5Dclose(d);
  H5Sclose(sp);
  H5Pclose(dcpl);
  H5Fclose(f);
  H5Pclose(fapl);
  free(v);
}

/* ---- flow 1: each_block with statistics, then records ---- */

typedef struct stats_job {
  sl_moments mo[NF];
  uint64_t hist[NF][BINS];
  double lo[NF], hi[NF];
  uint64_t rows, blocks, bad_index, bad_layout, records, bad_records;
} stats_job;

static int stats_block(const sl_block *b, void *arg) {
  stats_job *j = arg;
  j->blocks++;
  j->rows += b->nrows;
  if (!b->layout || b->row_size != 8 + 4 + 8 + 4 + 2 || !b->with_index ||
      sl_h5_layout_nfields(b->layout) != NF)
    j->bad_layout++;
  sl_block_col id;
  if (sl_block_column(b, 0, &id) != SL_OK)
    return 1;
  for (size_t r = 0; r < b->nrows; r++) { /* the strided column as user code reads it */
    int64_t v;
    memcpy(&v, id.base + r * id.stride, 8);
    if ((uint64_t)v != b->first_row + r)
      j->bad_index++;
  }
  double x[100]; /* odd chunks: the library's loops see every remainder */
  for (int k = 0; k < NF; k++) {
    sl_block_col c;
    if (sl_block_column(b, (size_t)k, &c) != SL_OK)
      return 2;
    sl_hist h = {j->lo[k], j->hi[k], BINS, j->hist[k]};
    for (size_t at = 0; at < c.n; at += 97) {
      size_t n = c.n - at < 97 ? c.n - at : 97, miss = 9;
      if (sl_block_column_f64(&c, at, n, x, NULL, &miss) != SL_OK || miss != 0)
        return 3;
      sl_moments_add(&j->mo[k], x, n);
      sl_hist_add(&h, x, n);
    }
  }
  return 0;
}

static int stats_record(const sl_record *rec, void *arg) {
  stats_job *j = arg;
  j->records++;
  uint64_t idx;
  int64_t id;
  if (rec->key_len != 8 || rec->value_len != 26) {
    j->bad_records++;
    return 0;
  }
  memcpy(&idx, rec->key, 8);
  memcpy(&id, rec->value, 8);
  if ((uint64_t)id != idx)
    j->bad_records++;
  return 0;
}

static int same_rel(double a, double b, double tol) {
  if (isnan(a) || isnan(b))
    return isnan(a) && isnan(b);
  return a == b || fabs(a - b) <= tol * fmax(fabs(a), fabs(b));
}

static void case_stats(void) {
  /* the oracle: every rank computes it (the inputs are a function of the row index) */
  double lo[NF] = {0, 0, 999000, 0, 0}, hi[NF] = {NROWS, 12, 1001000, 50, 65535};
  double n[NF] = {0}, sum[NF] = {0}, mn[NF], mx[NF], nan[NF] = {0}, pinf[NF] = {0}, ninf[NF] = {0};
  uint64_t oh[NF][BINS] = {{0}};
  for (int k = 0; k < NF; k++) {
    mn[k] = INFINITY;
    mx[k] = -INFINITY;
  }
  for (int r = 0; r < NROWS; r++) {
    trow t = row_of(r);
    for (int k = 0; k < NF; k++) {
      double v = field_of(&t, k);
      if (isnan(v)) {
        nan[k]++;
        continue;
      }
      if (isinf(v)) {
        if (v > 0)
          pinf[k]++;
        else
          ninf[k]++;
        continue;
      }
      n[k]++;
      sum[k] += v;
      mn[k] = v < mn[k] ? v : mn[k];
      mx[k] = v > mx[k] ? v : mx[k];
      if (v >= lo[k] && v <= hi[k]) {
        long b = v == hi[k] ? BINS - 1 : (long)floor((v - lo[k]) / (hi[k] - lo[k]) * BINS);
        oh[k][b < BINS ? b : BINS - 1]++;
      }
    }
  }
  double var[NF] = {0};
  for (int r = 0; r < NROWS; r++) { /* two passes: the variance about the exact mean */
    trow t = row_of(r);
    for (int k = 0; k < NF; k++) {
      double v = field_of(&t, k);
      if (isfinite(v))
        var[k] += (v - sum[k] / n[k]) * (v - sum[k] / n[k]);
    }
  }
  stats_job j;
  memset(&j, 0, sizeof j);
  memcpy(j.lo, lo, sizeof lo);
  memcpy(j.hi, hi, sizeof hi);
  sl_flow *f = NULL;
  uint64_t count = 0;
  const char *specs[1] = {table};
  sl_h5_opts o = {0};
  o.with_index = 1;
  int rc = sl_flow_create(ctx, &f);
  if (rc == SL_OK)
    rc = sl_flow_from_h5(f, specs, 1, &o, 0);
  if (rc == SL_OK)
    rc = sl_flow_each_block(f, stats_block, &j);
  if (rc == SL_OK)
    rc = sl_flow_each(f, stats_record, &j);
  if (rc == SL_OK)
    rc = sl_flow_to_count(f, &count);
  if (rc == SL_OK)
    rc = sl_run(f);
  sl_flow_destroy(&f);
  T_CHECK(rc == SL_OK, "stats flow: %s", sl_err_name(rc));
  T_CHECK(count == NROWS, "stats flow: count %llu, expected %d", (unsigned long long)count, NROWS);
  uint64_t loc[5] = {j.rows, j.bad_index, j.bad_layout, j.records, j.bad_records}, tot[5];
  MPI_Allreduce(loc, tot, 5, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  T_CHECK(tot[0] == NROWS && tot[3] == NROWS, "rows in blocks %llu, records %llu, expected %d",
          (unsigned long long)tot[0], (unsigned long long)tot[3], NROWS);
  T_CHECK(tot[1] == 0 && tot[2] == 0 && tot[4] == 0,
          "%llu rows off their first_row, %llu bad layouts, %llu bad records",
          (unsigned long long)tot[1], (unsigned long long)tot[2], (unsigned long long)tot[4]);
  sl_moments *all = malloc((size_t)size * sizeof j.mo);
  MPI_Allgather(j.mo, NF * SL_MOMENTS_DOUBLES, MPI_DOUBLE, all, NF * SL_MOMENTS_DOUBLES, MPI_DOUBLE,
                MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, j.hist, NF * BINS, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  for (int k = 0; k < NF; k++) {
    sl_moments g = {0};
    for (int r = 0; r < size; r++)
      sl_moments_merge(&g, &all[r * NF + k]);
    T_CHECK(g.n == n[k] && g.nan == nan[k] && g.pinf == pinf[k] && g.ninf == ninf[k],
            "field %d: n %g nan %g +inf %g -inf %g, expected %g %g %g %g", k, g.n, g.nan, g.pinf,
            g.ninf, n[k], nan[k], pinf[k], ninf[k]);
    T_CHECK(g.min == mn[k] && g.max == mx[k], "field %d: min %.17g max %.17g, expected %.17g %.17g",
            k, g.min, g.max, mn[k], mx[k]);
    T_CHECK(same_rel(g.mean, sum[k] / n[k], 1e-13), "field %d: mean %.17g, expected %.17g", k,
            g.mean, sum[k] / n[k]);
    T_CHECK(same_rel(sl_moments_var(&g), var[k] / n[k], 1e-10),
            "field %d: variance %.17g, expected %.17g", k, sl_moments_var(&g), var[k] / n[k]);
    for (int b = 0; b < BINS; b++)
      T_CHECK(j.hist[k][b] == oh[k][b], "field %d bin %d: %llu, expected %llu", k, b,
              (unsigned long long)j.hist[k][b], (unsigned long long)oh[k][b]);
  }
  free(all);
}

/* ---- flow 2: a per-record filter, then each_block (one-row blocks with the layout) ---- */

typedef struct after_job {
  uint64_t rows, blocks, bad;
  double sum_x;
} after_job;

static int even_cell(const sl_record *rec, void *arg) {
  (void)arg;
  int32_t c;
  memcpy(&c, (const char *)rec->value + 8, 4);
  return c % 2 == 0;
}

static int after_block(const sl_block *b, void *arg) {
  after_job *j = arg;
  j->blocks++;
  j->rows += b->nrows;
  sl_block_col c;
  double x;
  if (b->nrows != 1 || sl_block_column(b, 1, &c) != SL_OK ||
      sl_block_column_f64(&c, 0, 1, &x, NULL, NULL) != SL_OK || (int)x % 2 != 0)
    j->bad++;
  int64_t id;
  memcpy(&id, b->rows, 8);
  if ((uint64_t)id != b->first_row)
    j->bad++;
  j->sum_x += (double)id;
  return 0;
}

static void case_record_then_block(void) {
  uint64_t want = 0;
  double want_sum = 0;
  for (int r = 0; r < NROWS; r++) {
    trow t = row_of(r);
    if (t.cell % 2 == 0) {
      want++;
      want_sum += (double)r;
    }
  }
  after_job j = {0};
  sl_flow *f = NULL;
  uint64_t count = 0;
  const char *specs[1] = {table};
  sl_h5_opts o = {0};
  o.with_index = 1;
  int rc = sl_flow_create(ctx, &f);
  if (rc == SL_OK)
    rc = sl_flow_from_h5(f, specs, 1, &o, 0);
  if (rc == SL_OK)
    rc = sl_flow_filter(f, even_cell, NULL);
  if (rc == SL_OK)
    rc = sl_flow_each_block(f, after_block, &j);
  if (rc == SL_OK)
    rc = sl_flow_to_count(f, &count);
  if (rc == SL_OK)
    rc = sl_run(f);
  sl_flow_destroy(&f);
  T_CHECK(rc == SL_OK, "filter + each_block: %s", sl_err_name(rc));
  double loc[3] = {(double)j.rows, (double)j.bad, j.sum_x}, tot[3];
  MPI_Allreduce(loc, tot, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  T_CHECK(count == want && tot[0] == (double)want && tot[1] == 0 && tot[2] == want_sum,
          "filter + each_block: count %llu, rows %g, bad %g, sum %.17g; expected %llu rows, sum "
          "%.17g",
          (unsigned long long)count, tot[0], tot[1], tot[2], (unsigned long long)want, want_sum);
}

/* ---- flow 3: map_block emitting records, then a per-record step ---- */

static int cell3(const sl_block *b, sl_emitter *out, void *arg) {
  (void)arg;
  sl_block_col c;
  if (sl_block_column(b, 1, &c) != SL_OK)
    return 1;
  for (size_t r = 0; r < c.n; r++) {
    int32_t v;
    memcpy(&v, c.base + r * c.stride, 4);
    if (v == 3) {
      uint64_t idx = b->first_row + r;
      int rc = sl_emit(out, &idx, 8, &v, 4);
      if (rc != SL_OK)
        return rc;
    }
  }
  return 0;
}

typedef struct sum_job {
  uint64_t n, bad;
  double sum;
} sum_job;

static int add_key(const sl_record *rec, void *arg) {
  sum_job *s = arg;
  uint64_t idx;
  int32_t v;
  memcpy(&idx, rec->key, 8);
  memcpy(&v, rec->value, 4);
  s->n++;
  s->sum += (double)idx;
  s->bad += v != 3 || row_of((int64_t)idx).cell != 3;
  return 0;
}

static void case_map_block(void) {
  uint64_t want = 0;
  double want_sum = 0;
  for (int r = 0; r < NROWS; r++)
    if (row_of(r).cell == 3) {
      want++;
      want_sum += r;
    }
  sum_job s = {0};
  sl_flow *f = NULL;
  uint64_t count = 0;
  const char *specs[1] = {table};
  int rc = sl_flow_create(ctx, &f);
  if (rc == SL_OK)
    rc = sl_flow_from_h5(f, specs, 1, NULL, 0);
  if (rc == SL_OK)
    rc = sl_flow_map_block(f, cell3, NULL);
  if (rc == SL_OK)
    rc = sl_flow_each(f, add_key, &s);
  if (rc == SL_OK)
    rc = sl_flow_to_count(f, &count);
  if (rc == SL_OK)
    rc = sl_run(f);
  sl_flow_destroy(&f);
  T_CHECK(rc == SL_OK, "map_block: %s", sl_err_name(rc));
  double loc[3] = {(double)s.n, (double)s.bad, s.sum}, tot[3];
  MPI_Allreduce(loc, tot, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  T_CHECK(count == want && tot[0] == (double)want && tot[1] == 0 && tot[2] == want_sum,
          "map_block: count %llu, records %g, bad %g, sum %.17g; expected %llu, sum %.17g",
          (unsigned long long)count, tot[0], tot[1], tot[2], (unsigned long long)want, want_sum);
}

/* ---- flow 4: CF decoding of a column ---- */

typedef struct cf_job {
  uint64_t n, miss, bad;
  double sum;
} cf_job;

static int cf_block(const sl_block *b, void *arg) {
  cf_job *j = arg;
  sl_block_col c;
  double x[64];
  unsigned char m[64];
  if (sl_block_column(b, 0, &c) != SL_OK || !c.field.cf)
    return 1;
  for (size_t at = 0; at < c.n; at += 64) {
    size_t n = c.n - at < 64 ? c.n - at : 64, miss = 0, flagged = 0;
    if (sl_block_column_f64(&c, at, n, x, m, &miss) != SL_OK)
      return 2;
    for (size_t i = 0; i < n; i++) {
      flagged += m[i];
      if (m[i] != (unsigned char)isnan(x[i]))
        j->bad++;
      if (!m[i])
        j->sum += x[i];
    }
    j->bad += flagged != miss;
    j->miss += miss;
    j->n += n;
  }
  return 0;
}

static void case_cf(void) {
  uint64_t want_miss = 0;
  double want_sum = 0;
  for (int r = 0; r < NV; r++) {
    if (v_of(r) == -999)
      want_miss++;
    else
      want_sum += v_of(r) * 0.5 + 10;
  }
  cf_job j = {0};
  sl_flow *f = NULL;
  uint64_t count = 0;
  const char *specs[1] = {packed};
  int rc = sl_flow_create(ctx, &f);
  if (rc == SL_OK)
    rc = sl_flow_from_h5(f, specs, 1, NULL, 0);
  if (rc == SL_OK)
    rc = sl_flow_each_block(f, cf_block, &j);
  if (rc == SL_OK)
    rc = sl_flow_to_count(f, &count);
  if (rc == SL_OK)
    rc = sl_run(f);
  sl_flow_destroy(&f);
  T_CHECK(rc == SL_OK, "CF each_block: %s", sl_err_name(rc));
  double loc[4] = {(double)j.n, (double)j.miss, (double)j.bad, j.sum}, tot[4];
  MPI_Allreduce(loc, tot, 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  T_CHECK(count == NV && tot[0] == NV && tot[1] == (double)want_miss && tot[2] == 0 &&
              same_rel(tot[3], want_sum, 1e-12),
          "CF: count %llu, values %g, missing %g (expected %llu), bad %g, sum %.17g (expected "
          "%.17g)",
          (unsigned long long)count, tot[0], tot[1], (unsigned long long)want_miss, tot[2], tot[3],
          want_sum);
}

/* ---- sl_hist_add on values on and near bin edges, against the documented formula ---- */
static void check_hist(double lo, double hi, long bins, const double *x, int n) {
  uint64_t *got = calloc((size_t)bins, 8), *want = calloc((size_t)bins, 8);
  sl_hist h = {lo, hi, bins, got};
  sl_hist_add(&h, x, 13); /* a remainder first */
  sl_hist_add(&h, x + 13, (size_t)n - 13);
  for (int i = 0; i < n; i++) {
    double v = x[i];
    if (!(v >= lo && v <= hi))
      continue;
    long b = v == hi ? bins - 1 : (long)((v - lo) / (hi - lo) * (double)bins);
    want[b > bins - 1 ? bins - 1 : b < 0 ? 0 : b]++;
  }
  for (long b = 0; b < bins; b++)
    T_CHECK(got[b] == want[b], "[%.17g, %.17g] in %ld bins, bin %ld: %llu, expected %llu", lo, hi,
            bins, b, (unsigned long long)got[b], (unsigned long long)want[b]);
  free(got);
  free(want);
}

static void case_hist_edges(void) {
  enum { N = 20011 };
  double *x = malloc(N * sizeof *x);
  const long nb[] = {7, 10, 64, 65, 1000};
  for (int i = 0; i < N; i++) /* many values on edges, and their neighbours */
    x[i] = i % 3 == 0 ? i * 0.007 : i % 3 == 1 ? nextafter(i * 0.007, 0) : (i / 7) * 0.49;
  for (size_t c = 0; c < sizeof nb / sizeof nb[0]; c++)
    check_hist(0.007 * 3, 70, nb[c], x, N);
  /* a range where (x - lo) * (1 / w) * bins and (x - lo) / w * bins floor differently for
   * some values on the edges (found with numpy): the edges, one ulp either side, repeated */
  const double lo = 5.516690202580241, hi = 46.01482671778749;
  const long bins = 42;
  int n = 0;
  for (int rep = 0; rep < 40; rep++)
    for (long e = 0; e <= bins && n + 3 <= N; e++) {
      double v = lo + (hi - lo) * (double)e / (double)bins;
      x[n++] = v;
      x[n++] = nextafter(v, -INFINITY);
      x[n++] = nextafter(v, INFINITY);
    }
  check_hist(lo, hi, bins, x, n);
  free(x);
}

int main(int argc, char **argv) {
  if (sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 1;
  rank = sl_rank(ctx);
  size = sl_size(ctx);
  h5t_workdir(argc, argv, "h5block", size, dir, sizeof dir);
  snprintf(table, sizeof table, "%s/t.h5:/t", dir);
  snprintf(packed, sizeof packed, "%s/t.h5:/v", dir);
  char file[4200];
  snprintf(file, sizeof file, "%s/t.h5", dir);
  write_inputs(file);
  MPI_Barrier(MPI_COMM_WORLD);
  case_stats();
  case_record_then_block();
  case_map_block();
  case_cf();
  case_hist_edges();
  int tot = 0;
  MPI_Allreduce(&h5t_failures, &tot, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("test_h5_block: %d ranks, %d failure(s)\n", size, tot);
  sl_finalize(&ctx);
  return tot ? 1 : 0;
}
