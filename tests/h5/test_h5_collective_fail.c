/* SPDX-License-Identifier: BSD-3-Clause */
/* Collective HDF5 reads that end early on one rank: every rank must return the same error,
 * and none may hang inside a collective read (the source's settle hook joins the rounds
 * the others are in). Also: two HDF5 sources reading collectively in one flow are
 * refused on every rank, one collective and one independent source work together, and a
 * stop signal on one rank mid-read stops every rank (last: the stop flag stays set).
 * Small read blocks (--sl-read-block-bytes=4K) give many rounds per partition. Run under
 * ctest's timeout: a hang is a failure.
 *   mpirun -n N test_h5_collective_fail DIR */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

#include "h5test.h"

#define ROWS 60000
#define CHUNK 256

static sl_ctx *ctx;
static int rank, size;
static char file[4200], spec[4300];

static void write_input(void) {
  if (rank == 0) {
    int64_t *v = malloc(ROWS * sizeof *v);
    if (!v)
      MPI_Abort(MPI_COMM_WORLD, 1);
    for (int64_t i = 0; i < ROWS; i++)
      v[i] = i;
    hid_t fapl = h5t_fapl();
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5_OK(f);
    hsize_t dims[1] = {ROWS}, chunk[1] = {CHUNK};
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5_OK(H5Pset_chunk(dcpl, 1, chunk));
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(f, "/v", H5T_STD_I64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5_OK(d);
    H5_OK(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
    H5Dclose(d);
    H5Sclose(sp);
    H5Pclose(dcpl);
    H5Fclose(f);
    H5Pclose(fapl);
    free(v);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

/* The failure: rank `on` fails (or raises SIGUSR1) at its `after`-th record. */
typedef struct failer {
  int on;
  uint64_t after, seen;
  int signal; /* raise SIGUSR1 instead of failing */
} failer;

static int map_fail(const sl_record *in, sl_record *out, void *arg) {
  failer *f = arg;
  *out = *in;
  if (rank == f->on && ++f->seen == f->after) {
    if (f->signal) {
      raise(SIGUSR1);
      return 0;
    }
    return -1;
  }
  return 0;
}

static int add_source(sl_flow *flow, int transfer, int partitions) {
  const char *specs[1] = {spec};
  sl_h5_opts o = {0};
  o.transfer = transfer;
  return sl_flow_from_h5(flow, specs, 1, &o, partitions);
}

/* Every rank returned `want` (and the same code). */
static void expect_all(int rc, int want, const char *what) {
  int lo = 0, hi = 0;
  MPI_Allreduce(&rc, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&rc, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  T_CHECK(lo == want && hi == want, "%s: rank %d got %s (all ranks: %d..%d), expected %s", what,
          rank, sl_err_name(rc), lo, hi, sl_err_name(want));
  if (rank == 0)
    printf("%s %s: %s on every rank\n", lo == want && hi == want ? "ok" : "FAIL", what,
           sl_err_name(want));
}

/* source (collective) -> map failing on rank `on` -> [partition] -> count */
static void case_fail(const char *what, int on, uint64_t after, int repartition, int signal,
                      int want) {
  sl_flow *flow = NULL;
  uint64_t count = 0;
  failer f = {on, after, 0, signal};
  if (sl_flow_create(ctx, &flow) != SL_OK)
    MPI_Abort(MPI_COMM_WORLD, 1);
  add_source(flow, SL_H5_XFER_COLLECTIVE, 0);
  sl_flow_map(flow, map_fail, &f);
  if (repartition)
    sl_flow_partition(flow, 0, NULL, NULL);
  sl_flow_to_count(flow, &count);
  int rc = sl_run(flow);
  sl_flow_destroy(&flow);
  expect_all(rc, want, what);
}

/* A normal collective read: every row once (also after the failed runs above). */
static void case_ok(const char *what, int partitions) {
  sl_flow *flow = NULL;
  uint64_t count = 0;
  if (sl_flow_create(ctx, &flow) != SL_OK)
    MPI_Abort(MPI_COMM_WORLD, 1);
  add_source(flow, SL_H5_XFER_COLLECTIVE, partitions);
  sl_flow_to_count(flow, &count);
  int rc = sl_run(flow);
  sl_flow_destroy(&flow);
  expect_all(rc, SL_OK, what);
  T_CHECK(count == ROWS, "%s: count %llu, expected %d", what, (unsigned long long)count, ROWS);
}

/* Two HDF5 sources merged into one flow: collective + collective is refused,
 * collective + independent reads every row of both. */
static void case_two_sources(int second_transfer, int want) {
  sl_flow *a = NULL, *b = NULL;
  uint64_t count = 0;
  if (sl_flow_create(ctx, &a) != SL_OK || sl_flow_create(ctx, &b) != SL_OK)
    MPI_Abort(MPI_COMM_WORLD, 1);
  add_source(a, SL_H5_XFER_COLLECTIVE, 0);
  add_source(b, second_transfer, 0);
  sl_flow *others[1] = {b};
  int mrc = sl_flow_merge(a, others, 1, 0, NULL, NULL);
  T_CHECK(mrc == SL_OK, "sl_flow_merge: %s", sl_err_name(mrc));
  sl_flow_to_count(a, &count);
  int rc = sl_run(a);
  sl_flow_destroy(&a);
  sl_flow_destroy(&b);
  expect_all(rc, want,
             second_transfer == SL_H5_XFER_COLLECTIVE ? "two collective sources (refused)"
                                                      : "collective + independent sources");
  if (want == SL_OK)
    T_CHECK(count == 2 * ROWS, "two sources: count %llu, expected %d", (unsigned long long)count,
            2 * ROWS);
}

int main(int argc, char **argv) {
  /* small read blocks: 512 rows (2 chunks) per round, many rounds per partition */
  char *args[8];
  int n = 0;
  args[n++] = argv[0];
  args[n++] = "--sl-read-block-bytes=4K";
  args[n] = NULL;
  char **av = args;
  if (sl_init(&n, &av, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 1;
  rank = sl_rank(ctx);
  size = sl_size(ctx);
  snprintf(file, sizeof file, "%s/h5cf.np%d.h5", argc > 1 ? argv[1] : ".", size);
  snprintf(spec, sizeof spec, "%s:/v", file);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  write_input();

  int last = size - 1;
  uint64_t few = 3 * 512 + 7; /* in the fourth block of the failing rank's partition */
  case_fail("map fails on the last rank mid-read", last, few, 0, 0, SL_ERR_CALLBACK);
  case_fail("map fails on rank 0 mid-read", 0, few, 0, 0, SL_ERR_CALLBACK);
  case_fail("map fails on the last rank, then a hash partition", last, few, 1, 0, SL_ERR_CALLBACK);
  case_fail("map fails on rank 0 at its first row", 0, 1, 1, 0, SL_ERR_CALLBACK);
  case_ok("collective read after the failures", 0);
  case_ok("collective read, 3 partitions per rank", 3 * size);
  case_two_sources(SL_H5_XFER_COLLECTIVE, SL_ERR_UNSUPPORTED);
  case_two_sources(SL_H5_XFER_INDEPENDENT, SL_OK);
  /* last: the stop flag stays set in this process */
  case_fail("SIGUSR1 on the last rank mid-read", last, few, 1, 1, SL_ERR_STOPPED);

  int tot = 0;
  MPI_Allreduce(&h5t_failures, &tot, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) {
    unlink(file);
    printf("test_h5_collective_fail: %d ranks, %d failure(s)\n", size, tot);
  }
  sl_finalize(&ctx);
  return tot ? 1 : 0;
}
