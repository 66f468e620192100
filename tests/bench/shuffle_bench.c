/* SPDX-License-Identifier: BSD-3-Clause */
/* shuffle_bench N: an all-to-all shuffle of N 16-byte records per rank (generator ->
 * partition by key -> count), the traffic pattern the batch size matters most for.
 * Prints the wall time of sl_run on rank 0. Used by batch_size_bench.sh to pick the
 * default of --sl-batch-bytes. */
#include <stdio.h>
#include <stdlib.h>

#include <sluice.h>

static int gen(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  uint64_t k = (uint64_t)i * 0x9E3779B97F4A7C15ull, v = (uint64_t)i;
  return sl_emit(out, &k, 8, &v, 8);
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  if (sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 1;
  long long n = argc > 1 ? atoll(argv[1]) : 4000000;
  uint64_t count = 0;
  sl_flow *flow = NULL;
  int rc = sl_flow_create(ctx, &flow);
  if (!rc)
    rc = sl_flow_from_generator(flow, n * sl_size(ctx), gen, NULL, 0);
  if (!rc)
    rc = sl_flow_partition(flow, 0, NULL, NULL);
  if (!rc)
    rc = sl_flow_to_count(flow, &count);
  double t0 = MPI_Wtime();
  if (!rc)
    rc = sl_run(flow);
  double t = MPI_Wtime() - t0;
  if (sl_rank(ctx) == 0 && rc == SL_OK)
    printf("%.4f %llu\n", t, (unsigned long long)count);
  sl_flow_destroy(&flow);
  sl_finalize(&ctx);
  return rc == SL_OK ? 0 : 1;
}
