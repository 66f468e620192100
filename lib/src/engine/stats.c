/* SPDX-License-Identifier: BSD-3-Clause */
/* Statistics: per-rank and per-stage counters (sl_flow_get_stats), and their gathering
 * for the run record (record.c) and the log view (logview.c). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine/engine.h"

const char *const sl__st_rank_names[SL__ST_NRANK] = {
    "inflight_hwm_bytes", "reduce_state_hwm_bytes", "rss_hwm_bytes", "wall_seconds", "bound_core",
    "bytes_read",         "bytes_written"};
const char *const sl__st_stage_names[SL__ST_NSTAGE] = {
    "records_in",   "records_out",      "bytes_sent",   "bytes_received",
    "batches_sent", "batches_received", "input_bytes",  "stall_seconds",
    "work_seconds", "active_seconds",   "late_dropped", "triggers"};

static void stage_vals(const sl__stagestats *s, double *v) {
  v[SL__ST_REC_IN] = (double)s->records_in;
  v[SL__ST_REC_OUT] = (double)s->records_out;
  v[SL__ST_BYTES_SENT] = (double)s->bytes_sent;
  v[SL__ST_BYTES_RECV] = (double)s->bytes_received;
  v[SL__ST_BATCH_SENT] = (double)s->batches_sent;
  v[SL__ST_BATCH_RECV] = (double)s->batches_received;
  v[SL__ST_INPUT] = (double)s->input_bytes;
  v[SL__ST_STALL] = s->stall;
  v[SL__ST_WORK] = s->work;
  v[SL__ST_ACTIVE] = s->first > 0 ? s->last - s->first : 0;
  v[SL__ST_LATE] = (double)s->late_dropped;
  v[SL__ST_TRIGGERS] = (double)s->triggers;
}

/* The process's peak resident memory (Linux reports KiB). */
static double rss_hwm(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return (double)ru.ru_maxrss * 1024.0;
}

void sl__st_over_ranks(const sl__gathered *g, int idx, double *mn, double *avg, double *mx) {
  *mn = *mx = g->all[idx];
  double sum = 0;
  for (int r = 0; r < g->size; r++) {
    double v = g->all[(size_t)r * (size_t)g->per + (size_t)idx];
    if (v < *mn)
      *mn = v;
    if (v > *mx)
      *mx = v;
    sum += v;
  }
  *avg = g->size ? sum / g->size : 0;
}

static void fill_totals(sl__run *run) {
  sl_stats *t = &run->total;
  memset(t, 0, offsetof(sl_stats, wall_seconds));
  t->late_dropped = t->triggers = 0;
  for (int s = 0; s < run->nstages; s++) {
    const sl__stagestats *st = &run->stages[s].st;
    t->records_in += st->records_in;
    t->records_out += st->records_out;
    t->bytes_sent += st->bytes_sent;
    t->bytes_received += st->bytes_received;
    t->batches_sent += st->batches_sent;
    t->batches_received += st->batches_received;
    t->input_bytes += st->input_bytes;
    t->stall_seconds += st->stall;
    t->work_seconds += st->work;
    t->late_dropped += st->late_dropped;
    t->triggers += st->triggers;
  }
  t->inflight_hwm = run->mem_hwm;
  t->reduce_state_hwm = run->state_hwm;
  t->bound_core = run->ctx->bound_core;
}

int sl_flow_stage_count(const sl_flow *flow, int *count) {
  if (!flow || !count)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_stage_count: NULL argument");
  *count = flow->nstages;
  return SL_OK;
}

int sl_flow_get_stats(const sl_flow *flow, int stage, sl_stats *stats) {
  if (!flow || !stats)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_get_stats: NULL argument");
  const sl__run *run = flow->last;
  if (!run || !run->stages)
    SL__FAIL(SL_ERR_STATE, "sl_flow_get_stats: the flow has not run");
  if (stage < -1 || stage >= run->nstages)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_get_stats: no stage %d", stage);
  if (stage == -1) {
    *stats = run->total;
    return SL_OK;
  }
  const sl__stagestats *st = &run->stages[stage].st;
  memset(stats, 0, sizeof *stats);
  stats->records_in = st->records_in;
  stats->records_out = st->records_out;
  stats->bytes_sent = st->bytes_sent;
  stats->bytes_received = st->bytes_received;
  stats->batches_sent = st->batches_sent;
  stats->batches_received = st->batches_received;
  stats->input_bytes = st->input_bytes;
  stats->stall_seconds = st->stall;
  stats->work_seconds = st->work;
  stats->late_dropped = st->late_dropped;
  stats->triggers = st->triggers;
  stats->wall_seconds = run->total.wall_seconds;
  stats->inflight_hwm = run->mem_hwm;
  stats->reduce_state_hwm = run->state_hwm;
  stats->bound_core = run->ctx->bound_core;
  return SL_OK;
}

/* Collective: every rank, after the outcome is agreed. Only these counters and the host
 * names go to rank 0 (a few doubles per rank and stage), never data. */
int sl__stats_report(sl__run *run) {
  fill_totals(run);
  const sl__options *o = &run->ctx->opt;
  if (!o->stats_file[0] && !o->log_view)
    return SL_OK;
  int S = run->nstages, per = SL__ST_NRANK + S * SL__ST_NSTAGE;
  char path[4096] = "";
  int rc = SL_OK;
  if (o->stats_file[0])
    rc = sl__expand_name(run->ctx, "--sl-stats", o->stats_file, path, sizeof path);
  double *mine = calloc((size_t)per, sizeof *mine);
  char host[SL__HOST_LEN] = "", *hosts = NULL;
  double *all = NULL;
  if (run->rank == 0) {
    all = calloc((size_t)per * (size_t)run->size, sizeof *all);
    hosts = calloc((size_t)run->size, SL__HOST_LEN);
  }
  /* agree before the gather: a rank short of memory must not leave rank 0 inside it */
  int bad = rc != SL_OK || !mine || (run->rank == 0 && (!all || !hosts)), any = 1;
  int arc = MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, run->comm);
  if (arc != MPI_SUCCESS || any) {
    free(mine);
    free(all);
    free(hosts);
    if (arc != MPI_SUCCESS)
      return sl__error_mpi(arc, __FILE__, __LINE__, "MPI_Allreduce");
    if (rc != SL_OK)
      return rc;
    return bad ? sl__error_nomem(__FILE__, __LINE__, "the run's statistics",
                                 (uint64_t)per * sizeof *mine * (uint64_t)run->size, NULL)
               : SL_ERR_REMOTE;
  }
  mine[SL__ST_HWM] = (double)run->mem_hwm;
  mine[SL__ST_STATE] = (double)run->state_hwm;
  mine[SL__ST_RSS] = rss_hwm();
  mine[SL__ST_WALL] = run->total.wall_seconds;
  mine[SL__ST_CORE] = run->ctx->bound_core;
  mine[SL__ST_READ] = (double)run->total.input_bytes;
  mine[SL__ST_WRITTEN] = (double)(run->ctx->bytes_written - run->written0);
  for (int s = 0; s < S; s++)
    stage_vals(&run->stages[s].st, mine + SL__ST_NRANK + s * SL__ST_NSTAGE);
  int hl = 0;
  char pn[MPI_MAX_PROCESSOR_NAME] = "";
  if (MPI_Get_processor_name(pn, &hl) == MPI_SUCCESS) { /* a longer name is cut */
    size_t l = strnlen(pn, sizeof host - 1);
    memcpy(host, pn, l);
    host[l] = '\0';
  }
  int mrc = MPI_Gather(mine, per, MPI_DOUBLE, all, per, MPI_DOUBLE, 0, run->comm);
  if (mrc == MPI_SUCCESS)
    mrc = MPI_Gather(host, SL__HOST_LEN, MPI_CHAR, hosts, SL__HOST_LEN, MPI_CHAR, 0, run->comm);
  free(mine);
  if (mrc != MPI_SUCCESS) {
    free(all);
    free(hosts);
    return sl__error_mpi(mrc, __FILE__, __LINE__, "MPI_Gather(stats)");
  }
  int err = SL_OK;
  if (run->rank == 0) {
    sl__gathered g = {all, per, run->size, S, hosts};
    if (path[0])
      err = sl__record_write(run, &g, path);
    if (o->log_view)
      sl__log_view(run, &g, stderr);
  }
  free(all);
  free(hosts);
  return err;
}
