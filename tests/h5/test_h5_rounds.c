/* SPDX-License-Identifier: BSD-3-Clause */
/* The HDF5 sink's write rounds (flows whose output order across ranks does not matter):
 * rows of {partition, sequence number} from a callback source, written by all ranks in
 * collective rounds agreed in the event loop (docs/hdf5.md, "The sink"). Checks, reading
 * the output back with serial HDF5: every row exactly once, the rows of each partition in
 * their order, the rows attribute; zero rows, a fan-out past the buffer (flat_map), more
 * partitions than ranks and fewer, deflate; a sorted flow still comes out in key order; a
 * sort followed by a shuffle (rounds beside the sort's collectives: every row once);
 * a callback that fails on one rank mid-write makes sl_run fail on every rank and leaves
 * nothing under the output name (a hang fails the test by its timeout).
 *   mpirun -n N test_h5_rounds DIR [abort]   (ctest sets SLUICE_OUTPUT_BUFFER_BYTES=1K;
 *   "abort": one write only, for test_h5_abort.sh, which kills it mid-write) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

#include "h5test.h"

enum { MAXP = 64 };

static sl_ctx *ctx;
static int rank, size;
static char dir[4000];

typedef struct src_cfg {
  int64_t per_part; /* rows per partition (partition p: per_part + p) */
  int fail_part;    /* -1: none; else this partition fails after fail_at rows */
  int64_t fail_at;
  int64_t emitted[MAXP];
} src_cfg;

static int64_t part_rows(const src_cfg *c, int p) {
  return c->per_part ? c->per_part + p : 0;
}

static int src_fn(int partition, int partitions, sl_emitter *out, int *done, void *arg) {
  (void)partitions;
  src_cfg *c = arg;
  int64_t n = part_rows(c, partition);
  for (int i = 0; i < 256 && c->emitted[partition] < n; i++) {
    if (partition == c->fail_part && c->emitted[partition] == c->fail_at)
      return -1;
    int64_t row[2] = {partition, c->emitted[partition]};
    int rc = sl_emit(out, NULL, 0, row, sizeof row);
    if (rc)
      return rc;
    c->emitted[partition]++;
  }
  *done = c->emitted[partition] >= n;
  return 0;
}

/* fan-out: each row becomes `fan` rows {p, seq * fan + j} */
static int fan;
static int fan_fn(const sl_record *in, sl_emitter *out, void *arg) {
  (void)arg;
  int64_t row[2];
  memcpy(row, in->value, sizeof row);
  int64_t seq = row[1];
  for (int j = 0; j < fan; j++) {
    row[1] = seq * fan + j;
    int rc = sl_emit(out, NULL, 0, row, sizeof row);
    if (rc)
      return rc;
  }
  return 0;
}

static int by_seq(const sl_record *a, const sl_record *b, void *arg) {
  (void)arg;
  int64_t x[2], y[2];
  memcpy(x, a->value, sizeof x);
  memcpy(y, b->value, sizeof y);
  if (x[1] != y[1])
    return x[1] < y[1] ? -1 : 1;
  return x[0] < y[0] ? -1 : x[0] > y[0];
}

static sl_h5_layout *layout(void) {
  sl_h5_layout *l = NULL;
  if (sl_h5_layout_create(&l) || sl_h5_layout_add(l, "part", SL_H5_INT, 8) ||
      sl_h5_layout_add(l, "seq", SL_H5_INT, 8))
    MPI_Abort(MPI_COMM_WORLD, 1);
  return l;
}

typedef struct flow_cfg {
  int partitions; /* of the source; 0: one per rank */
  int fan;        /* 0: no flat_map */
  int sorted;     /* sl_flow_sort by seq */
  int deflate;
  int shuffle_after; /* sl_flow_shuffle after the sort: rounds beside the sort's collectives;
                      * rows of one source partition then arrive in no particular order */
} flow_cfg;

static int run_flow(const flow_cfg *f, src_cfg *c, const char *out) {
  sl_h5_layout *lay = layout();
  sl_flow *flow = NULL;
  memset(c->emitted, 0, sizeof c->emitted);
  fan = f->fan;
  int rc = sl_flow_create(ctx, &flow);
  if (!rc)
    rc = sl_flow_from_callback(flow, src_fn, c, f->partitions);
  if (!rc && f->fan)
    rc = sl_flow_flat_map(flow, fan_fn, NULL);
  if (!rc && f->sorted)
    rc = sl_flow_sort(flow, by_seq, NULL, 0);
  if (!rc && f->shuffle_after)
    rc = sl_flow_shuffle(flow, 0);
  sl_h5_sink_opts so = {0};
  so.overwrite = 1;
  so.deflate = f->deflate;
  so.shuffle = f->deflate > 0;
  if (!rc)
    rc = sl_flow_to_h5(flow, out, lay, &so);
  if (!rc)
    rc = sl_run(flow);
  sl_flow_destroy(&flow);
  sl_h5_layout_destroy(&lay);
  return rc;
}

/* Read the output on rank 0 and check it; the verdict is shared. */
static void check_output(const char *label, const char *file, const flow_cfg *f, const src_cfg *c) {
  int parts = f->partitions ? f->partitions : size, fails = 0;
  if (rank == 0) {
    int64_t want = 0;
    for (int p = 0; p < parts; p++)
      want += part_rows(c, p) * (f->fan ? f->fan : 1);
    hid_t fapl = h5t_fapl();
    hid_t fid = H5Fopen(file, H5F_ACC_RDONLY, fapl);
    H5_OK(fid);
    hid_t d = H5Dopen2(fid, "/g/rows", H5P_DEFAULT);
    H5_OK(d);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[1] = {0};
    H5Sget_simple_extent_dims(sp, dims, NULL);
    T_CHECK((int64_t)dims[0] == want, "%s: %llu rows, expected %lld", label,
            (unsigned long long)dims[0], (long long)want);
    uint64_t attr = 0;
    hid_t a = H5Aopen(d, "rows", H5P_DEFAULT);
    H5_OK(a);
    H5_OK(H5Aread(a, H5T_NATIVE_UINT64, &attr));
    H5Aclose(a);
    T_CHECK((int64_t)attr == want, "%s: rows attribute %llu, expected %lld", label,
            (unsigned long long)attr, (long long)want);
    int64_t *rows = malloc(sizeof(int64_t) * 2 * (dims[0] ? dims[0] : 1));
    hid_t mt = H5Tcreate(H5T_COMPOUND, 16);
    H5Tinsert(mt, "part", 0, H5T_NATIVE_INT64);
    H5Tinsert(mt, "seq", 8, H5T_NATIVE_INT64);
    if (dims[0])
      H5_OK(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows));
    int64_t next[MAXP] = {0}, prev_seq = -1, sum[MAXP] = {0};
    int bad = 0;
    for (hsize_t i = 0; i < dims[0] && (int64_t)dims[0] == want && !bad && f->shuffle_after; i++) {
      int64_t p = rows[2 * i];
      if (p < 0 || p >= parts) {
        T_CHECK(0, "%s: row %llu: partition %lld", label, (unsigned long long)i, (long long)p);
        bad = 1;
      } else {
        next[p]++;
        sum[p] += rows[2 * i + 1];
      }
    }
    for (int p = 0; p < parts && f->shuffle_after && !bad; p++) {
      int64_t n = part_rows(c, p);
      T_CHECK(next[p] == n && sum[p] == n * (n - 1) / 2,
              "%s: partition %d: %lld rows (sum %lld), expected %lld (sum %lld)", label, p,
              (long long)next[p], (long long)sum[p], (long long)n, (long long)(n * (n - 1) / 2));
    }
    for (hsize_t i = 0; i < dims[0] && (int64_t)dims[0] == want && !bad && !f->shuffle_after; i++) {
      int64_t p = rows[2 * i], q = rows[2 * i + 1];
      if (p < 0 || p >= parts || q != next[p]) {
        T_CHECK(0, "%s: row %llu is {%lld, %lld}, expected partition %lld's row %lld", label,
                (unsigned long long)i, (long long)p, (long long)q, (long long)p,
                (long long)(p >= 0 && p < parts ? next[p] : -1));
        bad = 1;
      } else if (f->sorted && q < prev_seq) {
        T_CHECK(0, "%s: row %llu: seq %lld after %lld in a sorted output", label,
                (unsigned long long)i, (long long)q, (long long)prev_seq);
        bad = 1;
      } else {
        next[p]++;
        prev_seq = q;
      }
    }
    free(rows);
    H5Tclose(mt);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(fid);
    H5Pclose(fapl);
    fails = h5t_failures;
  }
  MPI_Bcast(&fails, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (rank == 0 && !fails)
    printf("ok: %s\n", label);
}

static void case_ok(const char *label, int partitions, int64_t per_part, int fan_out, int sorted,
                    int deflate, int shuffle_after) {
  char out[4300], file[4200];
  snprintf(file, sizeof file, "%.3900s/%.150s.h5", dir, label);
  snprintf(out, sizeof out, "%s:/g/rows", file);
  flow_cfg f = {partitions, fan_out, sorted, deflate, shuffle_after};
  src_cfg c = {per_part, -1, 0, {0}};
  int rc = run_flow(&f, &c, out);
  T_CHECK(rc == 0, "%s: sl_run returned %d (%s)", label, rc, sl_strerror(rc));
  if (rc == 0)
    check_output(label, file, &f, &c);
}

static void case_fail(const char *label, int partitions, int fail_part, int64_t fail_at) {
  char out[4300], file[4200];
  snprintf(file, sizeof file, "%.3900s/%.150s.h5", dir, label);
  snprintf(out, sizeof out, "%s:/g/rows", file);
  if (rank == 0)
    unlink(file);
  MPI_Barrier(MPI_COMM_WORLD);
  flow_cfg f = {partitions, 0, 0, 0, 0};
  src_cfg c = {20000, fail_part, fail_at, {0}};
  int rc = run_flow(&f, &c, out);
  T_CHECK(rc == SL_ERR_CALLBACK, "%s: sl_run returned %d (%s), expected SL_ERR_CALLBACK", label, rc,
          sl_strerror(rc));
  if (rank == 0) {
    T_CHECK(access(file, F_OK) != 0, "%s: '%s' exists after a failed run", label, file);
    if (!h5t_failures)
      printf("ok: %s\n", label);
  }
}

int main(int argc, char **argv) {
  if (sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 1;
  rank = sl_rank(ctx);
  size = sl_size(ctx);
  h5t_workdir(argc, argv, "h5rounds", size, dir, sizeof dir);
  if (argc > 2 && !strcmp(argv[2], "abort")) {
    /* for test_h5_abort.sh: SLUICE_TEST_ABORT_RANK kills the job after the first round */
    case_ok("killed", 0, 20000, 0, 0, 0, 0);
    sl_finalize(&ctx);
    return 1;
  }
  case_ok("one_per_rank", 0, 20000, 0, 0, 0, 0);
  case_ok("empty", 0, 0, 0, 0, 0, 0);
  case_ok("three_per_rank", 3 * size, 5001, 0, 0, 0, 0);
  case_ok("one_partition", 1, 7777, 0, 0, 0, 0);
  case_ok("fan_out", 0, 3000, 40, 0, 0, 0);
  case_ok("deflate", 2 * size, 4000, 0, 0, 3, 0);
  case_ok("sorted", 0, 3000, 0, 1, 0, 0);
  case_ok("sorted_then_shuffled", 2 * size, 3000, 0, 1, 0, 1);
  /* failures mid-write: on the last rank, on rank 0, and on a rank whose partitions
   * would end long before the others' */
  case_fail("fail_last_rank", 0, size - 1, 9000);
  case_fail("fail_rank0", 0, 0, 3000);
  case_fail("fail_early", 2 * size, size > 1 ? 1 : 0, 10);
  int tot = 0;
  MPI_Allreduce(&h5t_failures, &tot, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("test_h5_rounds: %d ranks, %d failure(s)\n", size, tot);
  sl_finalize(&ctx);
  return tot ? 1 : 0;
}
