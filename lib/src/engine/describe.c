/* SPDX-License-Identifier: BSD-3-Clause */
/* sl_flow_describe_run: the plan as sl_run would run it, without running it: the stage
 * graph (sl_flow_describe), each source's inputs and their sizes, and the memory budgets
 * of a rank. The sources are prepared (the inputs opened and checked, their sizes
 * learnt) the way sl_run's first phase does it, so a bad input fails here alike. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "engine/engine.h"

/* "256 KiB", "1.5 GiB", "17 B": binary units, at most one decimal. */
static void human(uint64_t n, char *buf, size_t cap) {
  static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = (double)n;
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  if (u == 0 || v >= 100 || v == (double)(uint64_t)v)
    snprintf(buf, cap, "%.0f %s", v, unit[u]);
  else
    snprintf(buf, cap, "%.1f %s", v, unit[u]);
}

/* Partitions of a stage on rank r of size ranks (partition p lives on rank p mod size). */
static int local_parts(int partitions, int r, int size) {
  return partitions > r ? (partitions - 1 - r) / size + 1 : 0;
}

/* Every rank returns the first failing rank's code; that rank prints the one line. */
static int agree(sl_ctx *ctx, int local) {
  int mine = local != SL_OK && local != SL_ERR_REMOTE ? sl_rank(ctx) : INT_MAX, first = INT_MAX;
  if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, sl_comm(ctx)) != MPI_SUCCESS)
    return sl__error_set(SL_ERR_MPI, __FILE__, __LINE__, "cannot agree between the ranks");
  if (first == INT_MAX)
    return SL_OK;
  if (first == sl_rank(ctx))
    sl__report_error(ctx, local);
  int code = local;
  if (MPI_Bcast(&code, 1, MPI_INT, first, sl_comm(ctx)) != MPI_SUCCESS)
    return SL_ERR_MPI;
  return code;
}

static void print_memory(const sl_flow *flow, FILE *out) {
  const sl_ctx *ctx = flow->ctx;
  const sl__options *o = &ctx->opt;
  char a[32], b[32], c[32];
  int size = sl_size(ctx), held_steps = 0;
  for (int s = 0; s < flow->nstages; s++)
    for (int i = 0; i < flow->stages[s].nsteps; i++)
      if (flow->stages[s].steps[i].flags & SL__OPF_MEMORY)
        held_steps += local_parts(flow->stages[s].partitions, 0, size);
  fprintf(out, "  memory per rank (rank 0; --sl-help lists the options):\n");
  human(o->batch_bytes, a, sizeof a);
  human(o->send_budget_bytes, b, sizeof b);
  human(o->recv_budget_bytes, c, sizeof c);
  fprintf(out, "    batches: %s each; send budget %s per stage; receive budget %s per partition\n",
          a, b, c);
  human(o->read_block_bytes, a, sizeof a);
  human(o->combiner_bytes, b, sizeof b);
  human(o->output_buffer_bytes, c, sizeof c);
  fprintf(out, "    read blocks %s; combiner table %s; output buffer %s per partition\n", a, b, c);
  if (held_steps) {
    human(sl__held_memory_bytes(ctx, held_steps), a, sizeof a);
    fprintf(out, "    held records (sorts, joins): %s for each of %d step(s) on this rank (%s)\n",
            a, held_steps, o->held_memory_bytes ? "--sl-sort-memory-bytes" : "auto");
  }
}

int sl_flow_describe_run(sl_flow *flow, FILE *out) {
  if (!flow)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_describe_run: NULL flow");
  sl_ctx *ctx = flow->ctx;
  int root = sl_rank(ctx) == 0, rc = SL_OK;
  sl__error_clear();
  if (root && !out)
    rc =
        sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__, "sl_flow_describe_run: NULL out on rank 0");
  else if (flow->ran)
    rc = sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                       "sl_flow_describe_run: this flow has already run (or been described)");
  else if (flow->build_error)
    rc = flow->build_error;
  else if (!flow->nstages)
    rc = sl__error_set(SL_ERR_STATE, __FILE__, __LINE__, "sl_flow_describe_run: no source");
  else
    rc = sl__plan_check(flow);
  /* the sources' preparation is collective: nobody enters it after a local failure */
  rc = agree(ctx, rc);
  if (rc != SL_OK)
    return rc;
  flow->ran = 1; /* prepared sources are not prepared twice: a described flow is not run */
  for (int s = 0; s < flow->nstages && rc == SL_OK; s++) {
    sl__source *src = &flow->stages[s].source;
    if (src->vt && src->vt->prepare)
      rc = src->vt->prepare(src, ctx);
  }
  rc = agree(ctx, rc);
  if (rc != SL_OK || !root)
    return rc;
  SL__CHECK(sl_flow_describe(flow, out));
  fprintf(out, "  inputs:\n");
  for (int s = 0; s < flow->nstages; s++) {
    const sl__source *src = &flow->stages[s].source;
    if (!src->vt)
      continue;
    char total[32];
    human(src->total_bytes, total, sizeof total);
    fprintf(out, "    stage %d, %s: %s%s\n", s, src->vt->name,
            src->total_bytes ? total : "size not known before the run",
            src->vt->describe ? ":" : "");
    if (src->vt->describe)
      src->vt->describe(src, out);
  }
  print_memory(flow, out);
  return fflush(out) == 0 ? SL_OK : SL_ERR_IO;
}
