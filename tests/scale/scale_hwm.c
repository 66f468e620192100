/* SPDX-License-Identifier: BSD-3-Clause */
/* scale_hwm [RECORDS_PER_RANK]: weak scaling of the batch-buffer memory.
 *
 * Every rank's source partition generates the same number of small records (default
 * 200k) with keys spread over all partitions; the flow is partition (one per rank) ->
 * reduce_by_key(COUNT) (so a combiner runs before the shuffle) -> to_count. Options come
 * from the command line (--sl-*), so a script can run it at several rank counts with the
 * same options. Prints one line that scale_hwm.sh reads:
 *   scale_hwm: ranks N records_per_rank R hwm_max X hwm_min Y state_hwm_max S keys C
 *              leaked_credits L seconds T
 * then the documented batch-buffer bound of a rank and how far the largest hwm is over it;
 * and exits 1 if inflight_hwm exceeds the bound with the EOS terms, or if the result is
 * wrong: the number of distinct keys (to_count) and the sum
 * of the counts (every record counted once) are checked against an oracle; 3 if the
 * result is right but credits leaked (below).
 *
 * Linked with sluice_internal to check one more thing after the run: every receiving
 * partition has all of its credits back in its pool (sum(held) + sum(ret) == 0), which
 * must hold once every sender has sent its end of stream. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "sluice.h"

enum { K = 20000 }; /* distinct keys */

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 33;
  return x;
}
static int key_of(int64_t i) {
  return (int)(mix((uint64_t)i) % K);
}

static int gen(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  char k[16];
  int n = snprintf(k, sizeof k, "k%d", key_of(i));
  uint32_t v = (uint32_t)i;
  return sl_emit(out, k, (size_t)n, &v, sizeof v);
}

static int sum_counts(const sl_record *in, void *arg) {
  uint64_t v;
  if (in->value_len != 8)
    return 1;
  memcpy(&v, in->value, 8);
  *(uint64_t *)arg += v;
  return 0;
}

/* credits still granted (held or pending return) in this rank's receiving partitions */
static uint64_t credits_out(const sl_flow *flow) {
  const sl__run *run = flow->last;
  uint64_t n = 0;
  for (int s = 1; s < run->nstages; s++)
    for (int i = 0; i < run->stages[s].nlocal; i++) {
      const sl__credits *c = &run->stages[s].parts[i]->cr;
      for (int j = 0; j < c->nsenders; j++)
        n += (uint64_t)(c->held[j] + c->ret[j]);
    }
  return n;
}

/* After a stop (SIGTERM, e.g. from timeout): the run's credit and send state, for the
 * diagnosis of a hang. One block per rank, written at once. */
static void dump_state(const sl_flow *flow) {
  const sl__run *run = flow->last;
  char buf[1 << 16];
  size_t n = 0;
#define OUT(...) (n += (size_t)snprintf(buf + n, n < sizeof buf ? sizeof buf - n : 0, __VA_ARGS__))
  OUT("[rank %d] state after stop\n", run->rank);
  for (int s = 0; s < run->nstages; s++) {
    const sl__srun *sr = &run->stages[s];
    for (int i = 0; i < sr->nlocal; i++) {
      const sl__part *p = sr->parts[i];
      int qn = 0;
      for (const sl__buf *b = p->in_head; b; b = b->next)
        qn++;
      OUT("[rank %d] stage %d part %d: input_ended %d done %d flush_step %d eos %d/%d "
          "queued-batches %d",
          run->rank, s, p->index, p->input_ended, p->done, p->flush_step, p->eos_count,
          p->cr.nsenders, qn);
      if (s > 0) {
        const sl__credits *c = &p->cr;
        OUT(" | budget %d pool %d qlen %d held/ret/flags:", c->budget, c->pool, c->qlen);
        for (int j = 0; j < c->nsenders; j++)
          if (c->held[j] || c->ret[j] || c->queued[j])
            OUT(" s%d=%d/%d/%d", j, c->held[j], c->ret[j], c->queued[j]);
      }
      OUT("\n");
    }
    if (sr->out) {
      const sl__out *o = sr->out;
      int nfree = 0;
      for (const sl__buf *b = o->free; b; b = b->next)
        nfree++;
      OUT("[rank %d] stage %d out: nalloc %d nbufs %d free %d blocked %d dests "
          "(credits/ready/cur/req/eos):",
          run->rank, s, o->nalloc, o->nbufs, nfree, sl__out_blocked((sl__out *)o));
      for (int q = 0; q < o->ndest; q++) {
        const sl__dest *d = &o->dest[q];
        OUT(" q%d=%d/%d/%zu/%d/%d", q, d->credits, d->nready, d->cur ? d->cur->len : 0,
            d->requested, d->eos_sent);
      }
      OUT("\n");
    }
  }
#undef OUT
  fwrite(buf, 1, n < sizeof buf ? n : sizeof buf, stderr);
  fflush(stderr);
}

/* The batch-buffer bound of this rank for this flow (stage 0 -> stage 1, one partition
 * of each per rank), as docs/architecture.md states it:
 *   (min(32, SB) + SB) * (recv_cap + 24) + nbufs * (cap + 24)
 * read from the run itself (the batch size, credits and pool sizes the engine derived
 * from the options), and with the two terms it leaves out: each EOS marker from another
 * rank sits in a receive buffer of recv_cap bytes without holding a credit (up to
 * size - 1 of them), and a remote EOS is sent from a 24-byte header (size - 1 of them).
 * See tests/scale/test_backpressure.c for the derivation. */
static void bounds(const sl_flow *flow, uint64_t *documented, uint64_t *exact, uint64_t *cap_out) {
  const sl__run *run = flow->last;
  const uint64_t H = sizeof(sl__msghdr);
  uint64_t SB = 0, send = 0, cap = 0;
  for (int s = 1; s < run->nstages; s++)
    for (int i = 0; i < run->stages[s].nlocal; i++)
      SB += (uint64_t)run->stages[s].parts[i]->cr.budget;
  for (int s = 0; s < run->nstages; s++)
    if (run->stages[s].out) {
      send += (uint64_t)run->stages[s].out->nbufs * (run->stages[s].out->cap + H);
      cap = run->stages[s].out->cap;
    }
  uint64_t nring = SB < 32 ? SB : 32;
  *documented = (nring + SB) * (run->recv_cap + H) + send;
  *exact = *documented + (uint64_t)(run->size - 1) * (run->recv_cap + H + H);
  *cap_out = cap;
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  if (sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 2;
  int rank = sl_rank(ctx), size = sl_size(ctx);
  MPI_Comm comm = sl_comm(ctx);
  int64_t per = argc > 1 ? strtoll(argv[1], NULL, 10) : 200000;
  int64_t n = per * size;

  /* oracle: which keys occur (each rank marks its own share, then OR) */
  unsigned char *mark = calloc(K, 1), *all = calloc(K, 1);
  for (int64_t i = per * rank; i < per * (rank + 1); i++)
    mark[key_of(i)] = 1;
  MPI_Allreduce(mark, all, K, MPI_UNSIGNED_CHAR, MPI_BOR, comm);
  uint64_t want_keys = 0;
  for (int k = 0; k < K; k++)
    want_keys += all[k];
  free(mark);
  free(all);

  uint64_t keys = 0, local_sum = 0;
  sl_flow *flow = NULL;
  double t0 = MPI_Wtime();
  int rc = sl_flow_create(ctx, &flow);
  if (rc == SL_OK)
    rc = sl_flow_from_generator(flow, n, gen, NULL, -1);
  if (rc == SL_OK)
    rc = sl_flow_partition(flow, -1, NULL, NULL);
  if (rc == SL_OK) {
    sl_aggregator a = sl_aggregator_builtin(SL_AGG_COUNT);
    rc = sl_flow_reduce_by_key(flow, &a);
  }
  if (rc == SL_OK)
    rc = sl_flow_each(flow, sum_counts, &local_sum);
  if (rc == SL_OK)
    rc = sl_flow_to_count(flow, &keys);
  if (rc == SL_OK)
    rc = sl_run(flow);
  double secs = MPI_Wtime() - t0;
  if (rc != SL_OK) {
    if (rank == 0)
      fprintf(stderr, "scale_hwm: sl_run failed: %s\n", sl_strerror(rc));
    if (rc == SL_ERR_STOPPED && flow->last && flow->last->stages)
      dump_state(flow);
    sl_flow_destroy(&flow);
    sl_finalize(&ctx);
    return 1;
  }
  sl_stats st;
  sl_flow_get_stats(flow, -1, &st);
  uint64_t hwm_max, hwm_min, state_max, sum = 0, leaked = 0, mine_leak = credits_out(flow);
  uint64_t doc, exact, cap;
  bounds(flow, &doc, &exact, &cap);
  int64_t over[2] = {(int64_t)st.inflight_hwm - (int64_t)doc,
                     (int64_t)st.inflight_hwm - (int64_t)exact},
          over_max[2];
  MPI_Allreduce(over, over_max, 2, MPI_INT64_T, MPI_MAX, comm);
  MPI_Allreduce(&st.inflight_hwm, &hwm_max, 1, MPI_UINT64_T, MPI_MAX, comm);
  MPI_Allreduce(&st.inflight_hwm, &hwm_min, 1, MPI_UINT64_T, MPI_MIN, comm);
  MPI_Allreduce(&st.reduce_state_hwm, &state_max, 1, MPI_UINT64_T, MPI_MAX, comm);
  MPI_Allreduce(&local_sum, &sum, 1, MPI_UINT64_T, MPI_SUM, comm);
  MPI_Allreduce(&mine_leak, &leaked, 1, MPI_UINT64_T, MPI_SUM, comm);
  int fail = 0;
  if (rank == 0) {
    printf("scale_hwm: ranks %d records_per_rank %" PRId64 " hwm_max %" PRIu64 " hwm_min %" PRIu64
           " state_hwm_max %" PRIu64 " keys %" PRIu64 " leaked_credits %" PRIu64 " seconds %.2f\n",
           size, per, hwm_max, hwm_min, state_max, keys, leaked, secs);
    printf("scale_hwm: batch %" PRIu64 " bytes; documented bound %" PRIu64
           " (largest excess over it %" PRId64 "), with the EOS terms %" PRIu64
           " (largest excess %" PRId64 ")\n",
           cap, doc, over_max[0], exact, over_max[1]);
    if (keys != want_keys) {
      fprintf(stderr, "scale_hwm: %" PRIu64 " keys, expected %" PRIu64 "\n", keys, want_keys);
      fail = 1;
    }
    if (sum != (uint64_t)n) {
      fprintf(stderr, "scale_hwm: counts add up to %" PRIu64 ", expected %" PRId64 "\n", sum, n);
      fail = 1;
    }
    if (over_max[1] > 0) {
      fprintf(stderr,
              "scale_hwm: inflight_hwm over the bound (with the EOS terms) by %" PRId64 " bytes\n",
              over_max[1]);
      fail = 1;
    }
    if (leaked && !fail) {
      fprintf(stderr,
              "scale_hwm: %" PRIu64 " credit(s) still granted after every sender ended (leak)\n",
              leaked);
      fail = 3;
    }
  }
  MPI_Bcast(&fail, 1, MPI_INT, 0, comm);
  sl_flow_destroy(&flow);
  sl_finalize(&ctx);
  return fail;
}
