/* SPDX-License-Identifier: BSD-3-Clause */
/* ckpt_h5copy IN.h5:/dset OUT.h5:/dset [independent|collective]: the checkpoint tests'
 * HDF5 flow (test_ckpt_h5.sh): the rows of a table whose first field (an integer) is not a
 * multiple of 3, copied in order (the HDF5 source, a filter, the HDF5 sink in rank order).
 * Stops come from the library's test knob SLUICE_TEST_CKPT_SIGNAL (engine/checkpoint.c).
 *
 * ckpt_h5copy gen N OUT.h5:/dset: rows (id int64, x float64 = id / 2) for id in 0..N-1
 * from a range into the HDF5 sink (a flow that writes in rounds without a checkpoint
 * directory); SIGUSR1 on rank CKPT_SIGNAL_RANK (0) at its CKPT_SIGNAL_AT-th row, a sleep of
 * CKPT_SLOW_US microseconds every 1000 rows.
 *
 * Its exit status is sl_exit_status of the run. */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <sluice.h>

typedef struct gen {
  long long seen, at;
  int rank, signal_rank;
  long slow_us;
  char row[16];
} gen;

static int to_row(const sl_record *in, sl_record *out, void *arg) {
  gen *g = arg;
  int64_t id;
  memcpy(&id, in->value, sizeof id);
  double x = (double)id / 2;
  memcpy(g->row, &id, 8);
  memcpy(g->row + 8, &x, 8);
  *out = (sl_record){NULL, 0, g->row, sizeof g->row};
  g->seen++;
  if (g->at && g->rank == g->signal_rank && g->seen == g->at)
    raise(SIGUSR1);
  if (g->slow_us && g->seen % 1000 == 0)
    usleep((useconds_t)g->slow_us);
  return 0;
}

static int gen_main(sl_ctx *ctx, long long n, const char *out) {
  gen g = {.rank = sl_rank(ctx)};
  const char *e = getenv("CKPT_SIGNAL_AT");
  g.at = e ? atoll(e) : 0;
  e = getenv("CKPT_SIGNAL_RANK");
  g.signal_rank = e ? atoi(e) : 0;
  e = getenv("CKPT_SLOW_US");
  g.slow_us = e ? atol(e) : 0;
  sl_h5_layout *l = NULL;
  int rc = sl_h5_layout_create(&l);
  if (rc == SL_OK)
    rc = sl_h5_layout_add(l, "id", SL_H5_INT, 8);
  if (rc == SL_OK)
    rc = sl_h5_layout_add(l, "x", SL_H5_FLOAT, 8);
  sl_flow *flow = NULL;
  if (rc == SL_OK)
    rc = sl_flow_create(ctx, &flow);
  if (rc == SL_OK)
    rc = sl_flow_from_range(flow, 0, n, 0);
  if (rc == SL_OK)
    rc = sl_flow_map(flow, to_row, &g);
  if (rc == SL_OK)
    rc = sl_flow_to_h5(flow, out, l, NULL);
  if (rc == SL_OK)
    rc = sl_run(flow);
  sl_flow_destroy(&flow);
  sl_h5_layout_destroy(&l);
  return rc;
}

static int keep(const sl_record *rec, void *arg) {
  (void)arg;
  int64_t id;
  memcpy(&id, rec->value, sizeof id);
  return id % 3 != 0;
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  int rc = sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx);
  if (rc != SL_OK)
    return sl_exit_status(rc);
  if (argc < 3 || (!strcmp(argv[1], "gen") && argc < 4)) {
    fprintf(stderr, "usage: ckpt_h5copy IN.h5:/dset OUT.h5:/dset [independent|collective]\n"
                    "       ckpt_h5copy gen N OUT.h5:/dset\n");
    sl_finalize(&ctx);
    return 2;
  }
  if (!strcmp(argv[1], "gen")) {
    int status = sl_exit_status(gen_main(ctx, atoll(argv[2]), argv[3]));
    sl_finalize(&ctx);
    return status;
  }
  sl_h5_opts o = {0};
  o.transfer =
      argc > 3 && !strcmp(argv[3], "collective") ? SL_H5_XFER_COLLECTIVE : SL_H5_XFER_INDEPENDENT;
  sl_h5_layout *l = NULL;
  rc = sl_h5_describe(ctx, argv[1], &o, &l);
  sl_flow *flow = NULL;
  if (rc == SL_OK)
    rc = sl_flow_create(ctx, &flow);
  const char *specs[1] = {argv[1]};
  if (rc == SL_OK)
    rc = sl_flow_from_h5(flow, specs, 1, &o, 0);
  if (rc == SL_OK)
    rc = sl_flow_filter(flow, keep, NULL);
  if (rc == SL_OK)
    rc = sl_flow_to_h5(flow, argv[2], l, NULL);
  if (rc == SL_OK)
    rc = sl_run(flow);
  sl_flow_destroy(&flow);
  sl_h5_layout_destroy(&l);
  int status = sl_exit_status(rc);
  sl_finalize(&ctx);
  return status;
}
