/* SPDX-License-Identifier: BSD-3-Clause */
/* ckpt_flow N MOD OUT: a flow for the checkpoint tests (test_ckpt.sh): the integers 0..N-1
 * keyed "kNNN" by v % MOD, summed per key (reduce_by_key with its combiner), written as
 * "key<TAB>sum" lines to OUT. Its exit status is sl_exit_status of the run.
 *
 * Faults, from the environment (not the command line, so a rerun is "the same command"):
 *   CKPT_SIGNAL_AT=K    raise SIGUSR1 on rank CKPT_SIGNAL_RANK (0) at its K-th record
 *   CKPT_SLOW_US=U      sleep U microseconds every 1000 records (a run that lasts) */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

typedef struct job {
  int64_t mod, seen, signal_at;
  int signal_rank, rank;
  long slow_us;
  char key[32];
} job;

static int keyed(const sl_record *in, sl_emitter *out, void *arg) {
  job *j = arg;
  int64_t v;
  memcpy(&v, in->value, sizeof v);
  j->seen++;
  if (j->signal_at && j->rank == j->signal_rank && j->seen == j->signal_at)
    raise(SIGUSR1);
  if (j->slow_us && j->seen % 1000 == 0)
    usleep((useconds_t)j->slow_us);
  int n = snprintf(j->key, sizeof j->key, "k%03lld", (long long)(v % j->mod));
  return sl_emit(out, j->key, (size_t)n, &v, sizeof v);
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  int rc = sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx);
  if (rc != SL_OK)
    return sl_exit_status(rc);
  if (argc != 4) {
    fprintf(stderr, "usage: ckpt_flow N MOD OUT [--sl-checkpoint-dir=DIR ...]\n");
    sl_finalize(&ctx);
    return 2;
  }
  job j = {.mod = atoll(argv[2]), .rank = sl_rank(ctx)};
  const char *e = getenv("CKPT_SIGNAL_AT");
  j.signal_at = e ? atoll(e) : 0;
  e = getenv("CKPT_SIGNAL_RANK");
  j.signal_rank = e ? atoi(e) : 0;
  e = getenv("CKPT_SLOW_US");
  j.slow_us = e ? atol(e) : 0;
  sl_flow *flow = NULL;
  rc = sl_flow_create(ctx, &flow);
  if (rc == SL_OK)
    rc = sl_flow_from_range(flow, 0, atoll(argv[1]), 0);
  if (rc == SL_OK)
    rc = sl_flow_flat_map(flow, keyed, &j);
  if (rc == SL_OK)
    rc = sl_flow_partition(flow, 0, NULL, NULL);
  sl_aggregator sum = sl_aggregator_builtin(SL_AGG_SUM_I64);
  if (rc == SL_OK)
    rc = sl_flow_reduce_by_key(flow, &sum);
  if (rc == SL_OK)
    rc = sl_flow_to_text(flow, argv[3], sl_format_tsv_i64, NULL, 0);
  if (rc == SL_OK)
    rc = sl_run(flow);
  sl_flow_destroy(&flow);
  int status = sl_exit_status(rc);
  sl_finalize(&ctx);
  return status;
}
