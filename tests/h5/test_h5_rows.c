/* SPDX-License-Identifier: BSD-3-Clause */
/* Sources of fixed-size rows (sl_flow_from_rows_generator, sl_flow_from_rows; sluice/sl_block.h)
 * and the HDF5 sink's bulk path (rows copied a block at a time), against a sequential oracle:
 * the rows are {int64 a = i, float64 b = i / 2 + 1}, computed here again for every check.
 *   - rows generator -> to_h5 (write rounds; ctest sets 1 KiB output buffers, so the sink
 *     takes part of a block and the source offers the rest again): every row exactly once,
 *     the rows of each partition in order; per-record generator -> to_h5 gives the same rows;
 *     one partition, more partitions than ranks, zero rows;
 *   - rows generator -> per-record filter -> to_h5 (the per-row path): the even rows once;
 *   - rows array -> each_block -> count: blocks carry the layout and their first row, every
 *     row seen once (sum and count against the oracle);
 *   - a rows function that fails on one rank: SL_ERR_CALLBACK everywhere, no output;
 *   - argument checks (row size 0, a layout of another size, NULL function or rows).
 *   mpirun -n N test_h5_rows DIR */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

#include "h5test.h"

enum { ROW = 16 };

static sl_ctx *ctx;
static int rank, size;
static char dir[4000];

static void fill(int64_t i, unsigned char *out) {
  double b = (double)i / 2 + 1;
  memcpy(out, &i, 8);
  memcpy(out + 8, &b, 8);
}

static sl_h5_layout *layout(void) {
  sl_h5_layout *l = NULL;
  if (sl_h5_layout_create(&l) || sl_h5_layout_add(l, "a", SL_H5_INT, 8) ||
      sl_h5_layout_add(l, "b", SL_H5_FLOAT, 8))
    MPI_Abort(MPI_COMM_WORLD, 1);
  return l;
}

static int64_t fail_at = -1; /* the rows function fails on the block holding this row */
static int gen_rows(int64_t first, size_t n, void *rows, void *arg) {
  (void)arg;
  if (fail_at >= first && fail_at < first + (int64_t)n)
    return 7;
  for (size_t j = 0; j < n; j++)
    fill(first + (int64_t)j, (unsigned char *)rows + j * ROW);
  return 0;
}

static int gen_rec(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  unsigned char row[ROW];
  fill(i, row);
  return sl_emit(out, NULL, 0, row, ROW);
}

static int even(const sl_record *r, void *arg) {
  (void)arg;
  int64_t a;
  memcpy(&a, r->value, 8);
  return a % 2 == 0;
}

/* source: 0 rows generator, 1 per-record generator; filter: keep even rows */
static int write_flow(int source, int64_t n, int partitions, int filter, const char *out) {
  sl_h5_layout *lay = layout();
  sl_flow *flow = NULL;
  int rc = sl_flow_create(ctx, &flow);
  if (!rc)
    rc = source ? sl_flow_from_generator(flow, n, gen_rec, NULL, partitions)
                : sl_flow_from_rows_generator(flow, n, ROW, lay, gen_rows, NULL, partitions);
  if (!rc && filter)
    rc = sl_flow_filter(flow, even, NULL);
  sl_h5_sink_opts so = {0};
  so.overwrite = 1;
  if (!rc)
    rc = sl_flow_to_h5(flow, out, lay, &so);
  if (!rc)
    rc = sl_run(flow);
  sl_flow_destroy(&flow);
  sl_h5_layout_destroy(&lay);
  return rc;
}

/* Rank 0 reads the output: rows (a, b) with b = a / 2 + 1, each a in [0, n) (even ones
 * only when filter) exactly once. Returns the rows (on every rank). */
static int64_t check_file(const char *label, const char *file, int64_t n, int filter) {
  int64_t got = -1;
  if (rank == 0) {
    hid_t fapl = h5t_fapl();
    hid_t fid = H5Fopen(file, H5F_ACC_RDONLY, fapl);
    H5_OK(fid);
    hid_t d = H5Dopen2(fid, "/rows", H5P_DEFAULT);
    H5_OK(d);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[1] = {0};
    H5Sget_simple_extent_dims(sp, dims, NULL);
    hid_t mt = H5Tcreate(H5T_COMPOUND, ROW);
    H5Tinsert(mt, "a", 0, H5T_NATIVE_INT64);
    H5Tinsert(mt, "b", 8, H5T_NATIVE_DOUBLE);
    unsigned char *rows = malloc(dims[0] * ROW + 1);
    unsigned char *seen = calloc((size_t)n + 1, 1);
    if (dims[0])
      H5_OK(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows));
    int bad = 0;
    for (hsize_t k = 0; k < dims[0]; k++) {
      int64_t a;
      double b;
      memcpy(&a, rows + k * ROW, 8);
      memcpy(&b, rows + k * ROW + 8, 8);
      if (a < 0 || a >= n || seen[a] || b != (double)a / 2 + 1 || (filter && a % 2)) {
        if (bad++ < 3)
          fprintf(stderr, "%s: row %llu: a %lld b %g\n", label, (unsigned long long)k, (long long)a,
                  b);
        continue;
      }
      seen[a] = 1;
    }
    int64_t expect = filter ? (n + 1) / 2 : n, count = 0;
    for (int64_t a = 0; a < n; a++)
      count += seen[a];
    T_CHECK(!bad && (int64_t)dims[0] == expect && count == expect,
            "%s: %llu rows, %lld distinct valid, %d bad; expected %lld", label,
            (unsigned long long)dims[0], (long long)count, bad, (long long)expect);
    got = (int64_t)dims[0];
    free(rows);
    free(seen);
    H5Tclose(mt);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(fid);
    H5Pclose(fapl);
  }
  MPI_Bcast(&got, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  return got;
}

/* The rows of each partition in order: for every a > 0 that is not the first row of a
 * partition's share, a - 1 comes before a in the file. Shares are the sources' split
 * (equal, contiguous), recomputed here as floor(n * p / parts). */
static void check_order(const char *label, const char *file, int64_t n, int parts) {
  if (rank != 0)
    return;
  hid_t fapl = h5t_fapl();
  hid_t fid = H5Fopen(file, H5F_ACC_RDONLY, fapl);
  H5_OK(fid);
  hid_t d = H5Dopen2(fid, "/rows", H5P_DEFAULT);
  H5_OK(d);
  int64_t *a = malloc((size_t)n * 8 + 8);
  hid_t mt = H5Tcreate(H5T_COMPOUND, 8);
  H5Tinsert(mt, "a", 0, H5T_NATIVE_INT64);
  if (n)
    H5_OK(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, a));
  int64_t *pos = malloc((size_t)n * 8 + 8);
  for (int64_t k = 0; k < n; k++)
    pos[a[k]] = k;
  unsigned char *start = calloc((size_t)n + 1, 1);
  for (int p = 0; p < parts; p++) {
    int64_t lo = (int64_t)((unsigned __int128)n * (unsigned)p / (unsigned)parts);
    if (lo < n)
      start[lo] = 1;
  }
  int64_t wrong = 0;
  for (int64_t v = 1; v < n; v++)
    wrong += !start[v] && pos[v - 1] > pos[v];
  T_CHECK(wrong == 0, "%s: %lld rows out of their partition's order", label, (long long)wrong);
  free(a);
  free(pos);
  free(start);
  H5Tclose(mt);
  H5Dclose(d);
  H5Fclose(fid);
  H5Pclose(fapl);
}

static void case_write(const char *label, int64_t n, int partitions) {
  char f1[4300], f2[4300];
  snprintf(f1, sizeof f1, "%s/%s.h5:/rows", dir, label);
  snprintf(f2, sizeof f2, "%s/%s.rec.h5:/rows", dir, label);
  int rc = write_flow(0, n, partitions, 0, f1);
  T_CHECK(rc == SL_OK, "%s: rows generator: %s", label, sl_strerror(rc));
  rc = write_flow(1, n, partitions, 0, f2);
  T_CHECK(rc == SL_OK, "%s: generator: %s", label, sl_strerror(rc));
  *strrchr(f1, ':') = 0;
  *strrchr(f2, ':') = 0;
  check_file(label, f1, n, 0);
  check_file(label, f2, n, 0);
  check_order(label, f1, n, partitions ? partitions : size);
}

/* each_block over an array of rows: layout, first row and the rows of every block. */
typedef struct blk_acc {
  int64_t rows, sum, blocks;
  int bad;
} blk_acc;

static int on_block(const sl_block *b, void *arg) {
  blk_acc *acc = arg;
  acc->blocks++;
  if (!b->layout || b->row_size != ROW || sl_h5_layout_row_size(b->layout) != ROW || b->with_index)
    acc->bad++;
  sl_block_col col;
  if (sl_block_column(b, 0, &col) != SL_OK)
    acc->bad++;
  for (size_t r = 0; r < b->nrows; r++) {
    int64_t a;
    double x;
    memcpy(&a, (const char *)b->rows + r * ROW, 8);
    memcpy(&x, (const char *)b->rows + r * ROW + 8, 8);
    if (a != (int64_t)b->first_row + (int64_t)r || x != (double)a / 2 + 1)
      acc->bad++;
    acc->sum += a;
  }
  acc->rows += (int64_t)b->nrows;
  return 0;
}

static void case_array(int64_t n, int partitions) {
  unsigned char *rows = malloc((size_t)n * ROW + 1);
  for (int64_t i = 0; i < n; i++)
    fill(i, rows + i * ROW);
  sl_h5_layout *lay = layout();
  blk_acc acc = {0};
  uint64_t count = 0;
  sl_flow *flow = NULL;
  int rc = sl_flow_create(ctx, &flow);
  if (!rc)
    rc = sl_flow_from_rows(flow, rows, (size_t)n, ROW, lay, partitions);
  if (!rc)
    rc = sl_flow_each_block(flow, on_block, &acc);
  if (!rc)
    rc = sl_flow_to_count(flow, &count);
  if (!rc)
    rc = sl_run(flow);
  sl_flow_destroy(&flow);
  T_CHECK(rc == SL_OK, "array: %s", sl_strerror(rc));
  int64_t loc[4] = {acc.rows, acc.sum, acc.bad, acc.blocks}, tot[4];
  MPI_Allreduce(loc, tot, 4, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  T_CHECK(tot[0] == n && tot[1] == n * (n - 1) / 2 && tot[2] == 0 && (int64_t)count == n &&
              (n == 0 || tot[3] > 0),
          "array: %lld rows, sum %lld, %lld bad, count %llu (n %lld)", (long long)tot[0],
          (long long)tot[1], (long long)tot[2], (unsigned long long)count, (long long)n);
  sl_h5_layout_destroy(&lay);
  free(rows);
}

static void case_fail(void) {
  char f[4300];
  snprintf(f, sizeof f, "%s/fail.h5:/rows", dir);
  int64_t n = 40000;
  fail_at = rank == size - 1 ? n - 1 : -1; /* the last rank's last block */
  int rc = write_flow(0, n, 0, 0, f);
  fail_at = -1;
  T_CHECK(rc == SL_ERR_CALLBACK, "fail: %s", sl_strerror(rc));
  *strrchr(f, ':') = 0;
  T_CHECK(access(f, F_OK) != 0, "fail: %s exists", f);
}

static void case_args(void) {
  sl_h5_layout *lay = layout();
  unsigned char row[ROW] = {0};
  sl_flow *flow = NULL;
  sl_flow_create(ctx, &flow);
  T_CHECK(sl_flow_from_rows_generator(flow, 10, 0, NULL, gen_rows, NULL, 0) == SL_ERR_INVAL,
          "row size 0");
  T_CHECK(sl_flow_from_rows_generator(flow, 10, 8, lay, gen_rows, NULL, 0) == SL_ERR_INVAL,
          "layout of another size");
  T_CHECK(sl_flow_from_rows_generator(flow, 10, ROW, lay, NULL, NULL, 0) == SL_ERR_INVAL,
          "NULL function");
  T_CHECK(sl_flow_from_rows_generator(flow, -1, ROW, lay, gen_rows, NULL, 0) == SL_ERR_INVAL,
          "negative count");
  T_CHECK(sl_flow_from_rows(flow, NULL, 3, ROW, NULL, 0) == SL_ERR_INVAL, "NULL rows");
  (void)row;
  sl_flow_destroy(&flow);
  sl_h5_layout_destroy(&lay);
}

int main(int argc, char **argv) {
  if (sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 1;
  rank = sl_rank(ctx);
  size = sl_size(ctx);
  h5t_workdir(argc, argv, "h5rows", size, dir, sizeof dir);
  case_write("one_per_rank", 20011, 0);
  case_write("three_per_rank", 10007, 3 * size);
  case_write("one_partition", 8000, 1);
  case_write("empty", 0, 0);
  {
    char f[4300];
    snprintf(f, sizeof f, "%s/filtered.h5:/rows", dir);
    int rc = write_flow(0, 6001, 2 * size, 1, f);
    T_CHECK(rc == SL_OK, "filtered: %s", sl_strerror(rc));
    *strrchr(f, ':') = 0;
    check_file("filtered", f, 6001, 1);
  }
  case_array(70001, 0);
  case_array(5, 3 * size);
  case_array(0, 0);
  case_fail();
  case_args();
  int tot = 0;
  MPI_Allreduce(&h5t_failures, &tot, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("test_h5_rows: %d ranks, %d failure(s)\n", size, tot);
  sl_finalize(&ctx);
  return tot ? 1 : 0;
}
