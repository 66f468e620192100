/* SPDX-License-Identifier: BSD-3-Clause */
/* Read throughput of the HDF5 source: sl_flow_from_h5 -> count, with the sec2 (POSIX)
 * and the MPI-IO (independent) drivers, alternating, best of R runs each; with OUT.h5,
 * also a copy through the sink (sl_flow_to_h5, collective rounds), best of R.
 *   mpirun -n N bench_h5_read FILE:/dataset [R [OUT.h5]]
 * The figures behind SL__H5_READ_DEFAULT_DRIVER (docs/hdf5.md). */
#include <stdio.h>
#include <stdlib.h>

#include <sluice.h>

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  if (sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 1;
  if (argc < 2) {
    fprintf(stderr, "usage: bench_h5_read FILE:/dataset [REPEATS]\n");
    sl_finalize(&ctx);
    return 2;
  }
  int reps = argc > 2 ? atoi(argv[2]) : 3;
  const char *specs[1] = {argv[1]};
  double best[3] = {1e30, 1e30, 1e30};
  uint64_t rows = 0, bytes = 0;
  for (int r = 0; r < reps; r++)
    for (int drv = 1; drv <= 2; drv++) {
      sl_h5_opts o = {0};
      o.read_driver = drv;
      sl_flow *flow = NULL;
      MPI_Barrier(sl_comm(ctx));
      double t0 = MPI_Wtime();
      int rc = sl_flow_create(ctx, &flow);
      if (!rc)
        rc = sl_flow_from_h5(flow, specs, 1, &o, 0);
      if (!rc)
        rc = sl_flow_to_count(flow, &rows);
      if (!rc)
        rc = sl_run(flow);
      double t = MPI_Wtime() - t0;
      sl_stats st;
      sl_flow_get_stats(flow, -1, &st);
      uint64_t b = st.input_bytes;
      MPI_Allreduce(&b, &bytes, 1, MPI_UINT64_T, MPI_SUM, sl_comm(ctx));
      sl_flow_destroy(&flow);
      if (rc) {
        sl_finalize(&ctx);
        return 1;
      }
      if (t < best[drv])
        best[drv] = t;
    }
  if (argc > 3) { /* copy through the sink */
    double bestc = 1e30;
    sl_h5_layout *lay = NULL;
    if (sl_h5_describe(ctx, argv[1], NULL, &lay) != SL_OK) {
      sl_finalize(&ctx);
      return 1;
    }
    char out[4200];
    snprintf(out, sizeof out, "%s:/copy", argv[3]);
    for (int r = 0; r < reps; r++) {
      sl_flow *flow = NULL;
      sl_h5_sink_opts so = {0};
      so.overwrite = 1;
      MPI_Barrier(sl_comm(ctx));
      double t0 = MPI_Wtime();
      int rc = sl_flow_create(ctx, &flow);
      if (!rc)
        rc = sl_flow_from_h5(flow, specs, 1, NULL, 0);
      if (!rc)
        rc = sl_flow_to_h5(flow, out, lay, &so);
      if (!rc)
        rc = sl_run(flow);
      double t = MPI_Wtime() - t0;
      sl_flow_destroy(&flow);
      if (rc) {
        sl_finalize(&ctx);
        return 1;
      }
      if (t < bestc)
        bestc = t;
    }
    sl_h5_layout_destroy(&lay);
    if (sl_rank(ctx) == 0)
      printf("bench_h5_read copy to %s: %.3f s (%.0f MB/s)\n", argv[3], bestc, bytes / 1e6 / bestc);
  }
  if (sl_rank(ctx) == 0)
    printf("bench_h5_read %s: %d ranks, %llu rows, %.1f MB: posix(sec2) %.3f s (%.0f MB/s), "
           "mpio-independent %.3f s (%.0f MB/s)\n",
           argv[1], sl_size(ctx), (unsigned long long)rows, bytes / 1e6, best[1],
           bytes / 1e6 / best[1], best[2], bytes / 1e6 / best[2]);
  sl_finalize(&ctx);
  return 0;
}
