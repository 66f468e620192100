/* SPDX-License-Identifier: BSD-3-Clause */
/* Statistics: per-rank and per-stage counters, the --sl-stats JSON file, the
 * --sl-log-view summary (max/min ratios across ranks) and the progress line. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"

enum {
  F_REC_IN,
  F_REC_OUT,
  F_BYTES_SENT,
  F_BYTES_RECV,
  F_BATCH_SENT,
  F_BATCH_RECV,
  F_INPUT,
  F_STALL,
  F_WORK,
  F_LATE,
  F_TRIGGERS,
  NF
};
static const char *fnames[NF] = {"records_in",     "records_out",   "bytes_sent",
                                 "bytes_received", "batches_sent",  "batches_received",
                                 "input_bytes",    "stall_seconds", "work_seconds",
                                 "late_dropped",   "triggers"};
enum { T_HWM = 0, T_STATE, T_WALL, T_CORE, NT };
static const char *tnames[NT] = {"inflight_hwm_bytes", "reduce_state_hwm_bytes", "wall_seconds",
                                 "bound_core"};

static void stage_vals(const sl__stagestats *s, double *v) {
  v[F_REC_IN] = (double)s->records_in;
  v[F_REC_OUT] = (double)s->records_out;
  v[F_BYTES_SENT] = (double)s->bytes_sent;
  v[F_BYTES_RECV] = (double)s->bytes_received;
  v[F_BATCH_SENT] = (double)s->batches_sent;
  v[F_BATCH_RECV] = (double)s->batches_received;
  v[F_INPUT] = (double)s->input_bytes;
  v[F_STALL] = s->stall;
  v[F_WORK] = s->work;
  v[F_LATE] = (double)s->late_dropped;
  v[F_TRIGGERS] = (double)s->triggers;
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

static void write_json(sl__run *run, FILE *f, const double *all, int per) {
  int S = run->nstages;
  fprintf(
      f,
      "{\n  \"sluice_version\": \"%s\",\n  \"ranks\": %d,\n  \"stages\": %d,\n  \"per_rank\": [\n",
      sl_version(), run->size, S);
  for (int r = 0; r < run->size; r++) {
    const double *v = all + (size_t)r * (size_t)per;
    fprintf(f, "    {\"rank\": %d", r);
    for (int t = 0; t < NT; t++)
      fprintf(f, ", \"%s\": %.17g", tnames[t], v[t]);
    fprintf(f, ",\n     \"stages\": [");
    for (int s = 0; s < S; s++) {
      const double *sv = v + NT + (size_t)s * NF;
      fprintf(f, "%s{\"stage\": %d, \"name\": \"%s\"", s ? ", " : "", s, run->flow->stages[s].name);
      for (int k = 0; k < NF; k++)
        fprintf(f, ", \"%s\": %.17g", fnames[k], sv[k]);
      fprintf(f, "}");
    }
    fprintf(f, "]}%s\n", r + 1 < run->size ? "," : "");
  }
  fprintf(f, "  ]\n}\n");
}

static void minmax(const double *all, int size, int per, int idx, double *mn, double *mx,
                   double *sum) {
  *mn = all[idx];
  *mx = all[idx];
  *sum = 0;
  for (int r = 0; r < size; r++) {
    double v = all[(size_t)r * (size_t)per + (size_t)idx];
    if (v < *mn)
      *mn = v;
    if (v > *mx)
      *mx = v;
    *sum += v;
  }
}

static void log_view(sl__run *run, FILE *f, const double *all, int per) {
  int S = run->nstages;
  fprintf(f, "---------------- sluice log view: %d rank(s), %d stage(s) ----------------\n",
          run->size, S);
  fprintf(f, "%-28s %14s %14s %8s %16s\n", "metric", "min", "max", "max/min", "total");
  for (int t = 0; t < NT - 1; t++) {
    double mn, mx, sum;
    minmax(all, run->size, per, t, &mn, &mx, &sum);
    fprintf(f, "%-28s %14.6g %14.6g %8.2f %16s\n", tnames[t], mn, mx,
            mn > 0 ? mx / mn : (mx > 0 ? 0.0 : 1.0), "-");
  }
  for (int s = 0; s < S; s++) {
    fprintf(f, "stage %d '%s'\n", s, run->flow->stages[s].name);
    for (int k = 0; k < NF; k++) {
      double mn, mx, sum;
      minmax(all, run->size, per, NT + s * NF + k, &mn, &mx, &sum);
      if (mx == 0)
        continue;
      fprintf(f, "  %-26s %14.6g %14.6g %8.2f %16.6g\n", fnames[k], mn, mx, mn > 0 ? mx / mn : 0.0,
              sum);
    }
  }
  fprintf(f, "(max/min 0.00: some rank had none)\n");
}

int sl__stats_report(sl__run *run) {
  fill_totals(run);
  const sl__options *o = &run->ctx->opt;
  if (!o->stats_file[0] && !o->log_view)
    return SL_OK;
  int S = run->nstages, per = NT + S * NF;
  double *mine = calloc((size_t)per, sizeof *mine);
  double *all = run->rank == 0 ? calloc((size_t)per * (size_t)run->size, sizeof *all) : NULL;
  /* agree before the gather: a rank short of memory must not leave rank 0 inside it */
  int bad = !mine || (run->rank == 0 && !all), any = 1;
  int arc = MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, run->comm);
  if (arc != MPI_SUCCESS || any) {
    free(mine);
    free(all);
    if (arc != MPI_SUCCESS)
      return sl__error_mpi(arc, __FILE__, __LINE__, "MPI_Allreduce");
    return bad ? sl__error_nomem(__FILE__, __LINE__, "the run's statistics",
                                 (uint64_t)per * sizeof *mine, NULL)
               : SL_ERR_REMOTE;
  }
  mine[T_HWM] = (double)run->mem_hwm;
  mine[T_STATE] = (double)run->state_hwm;
  mine[T_WALL] = run->total.wall_seconds;
  mine[T_CORE] = run->ctx->bound_core;
  for (int s = 0; s < S; s++)
    stage_vals(&run->stages[s].st, mine + NT + s * NF);
  /* Only these small counters go to rank 0, never data. */
  int rc = MPI_Gather(mine, per, MPI_DOUBLE, all, per, MPI_DOUBLE, 0, run->comm);
  free(mine);
  if (rc != MPI_SUCCESS) {
    free(all);
    return sl__error_mpi(rc, __FILE__, __LINE__, "MPI_Gather(stats)");
  }
  int err = SL_OK;
  if (run->rank == 0) {
    if (o->stats_file[0]) {
      FILE *f = fopen(o->stats_file, "w");
      if (!f) {
        err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot write stats file '%s'",
                            o->stats_file);
      } else {
        write_json(run, f, all, per);
        if (fclose(f) != 0)
          err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot write stats file '%s'",
                              o->stats_file);
      }
    }
    if (o->log_view)
      log_view(run, stderr, all, per);
  }
  free(all);
  return err;
}

void sl__progress_tick(sl__run *run, int force) {
  const sl__options *o = &run->ctx->opt;
  int on = o->progress > 0 || (o->progress < 0 && isatty(2));
  if (!on)
    return;
  double now = sl__now();
  if (!force && now - run->last_progress < 1.0)
    return;
  if (force && run->last_progress == 0)
    return; /* never printed: a short run needs no final line */
  run->last_progress = now;
  const sl__srun *s0 = &run->stages[0];
  uint64_t done = s0->st.input_bytes, recs = s0->st.records_out;
  double el = now - run->t0;
  int P0 = run->flow->stages[0].partitions;
  double share = P0 ? (double)run->total_input * s0->nlocal / P0 : 0;
  if (share > 0)
    fprintf(stderr,
            "sluice: progress: %5.1f%% of rank 0's input (%.1f of %.1f MB), %.2f M records/s, %.0f "
            "s%s\n",
            100.0 * (double)done / share, done / 1e6, share / 1e6, el > 0 ? recs / el / 1e6 : 0.0,
            el, force ? ", done" : "");
  else
    fprintf(stderr, "sluice: progress: %llu records from rank 0's sources, %.0f s%s\n",
            (unsigned long long)recs, el, force ? ", done" : "");
}
