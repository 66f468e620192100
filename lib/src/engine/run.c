/* SPDX-License-Identifier: BSD-3-Clause */
/* sl_run: set up the partitions of every stage on this rank, run the event loop until
 * every partition has ended, then agree on the outcome with the other ranks. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/op.h"

static void sl__run_destroy(sl__run *run) {
  if (!run)
    return;
  /* Partitions first: after a failure their input queues may still hold buffers that
   * belong to a same-rank sender's pool, which must outlive them. */
  for (int s = 0; s < run->nstages; s++)
    for (int i = 0; i < run->stages[s].nlocal; i++)
      sl__part_teardown(run->stages[s].parts[i]);
  for (int s = 0; s < run->nstages; s++) {
    const sl__stage *st = &run->flow->stages[s];
    sl__srun *sr = &run->stages[s];
    for (int i = 0; sr->rstate && i < st->nsteps; i++)
      if (sr->rstate[i] && st->steps[i].op->run_free)
        st->steps[i].op->run_free(run, sr->rstate[i]);
    free(sr->rstate);
    sl__out_destroy(sr->out);
    free(sr->parts);
  }
  sl__transport_free(run);
  free(run->stages);
  free(run->data_sent);
  free(run->data_recv);
  free(run->ctrl_sent);
  free(run->ctrl_recv);
  free(run);
}

/* Partitions of stage st on this rank: p on rank p mod size. */
static int local_partitions(const sl__run *run, const sl__stage *st) {
  return st->partitions > run->rank ? (st->partitions - 1 - run->rank) / run->size + 1 : 0;
}

static int setup(sl__run *run) {
  sl_flow *f = run->flow;
  run->stages = calloc((size_t)f->nstages, sizeof *run->stages);
  if (run->stages)
    run->nstages = f->nstages;
  run->data_sent = calloc((size_t)run->size, sizeof(uint64_t));
  run->data_recv = calloc((size_t)run->size, sizeof(uint64_t));
  run->ctrl_sent = calloc((size_t)run->size, sizeof(uint64_t));
  run->ctrl_recv = calloc((size_t)run->size, sizeof(uint64_t));
  if (!run->stages || !run->data_sent || !run->data_recv || !run->ctrl_sent || !run->ctrl_recv)
    SL__FAIL(SL_ERR_NOMEM, "out of memory");
  /* Memory for held records: the option, or with "auto" the rank's share divided among the
   * steps of its partitions that ask for one (a stage may have several partitions per
   * rank, a flow several such steps), so that together they stay within it. Known before
   * any partition is made: an operator may size its state by it. */
  for (int s = 0; s < f->nstages; s++)
    for (int i = 0; i < f->stages[s].nsteps; i++)
      if (f->stages[s].steps[i].flags & SL__OPF_MEMORY)
        run->held_shares += local_partitions(run, &f->stages[s]);
  run->held_budget = sl__held_memory_bytes(run->ctx, run->held_shares);
  for (int s = 0; s < f->nstages; s++) {
    const sl__stage *st = &f->stages[s];
    sl__srun *sr = &run->stages[s];
    int nlocal = local_partitions(run, st);
    sr->parts = calloc((size_t)(nlocal ? nlocal : 1), sizeof *sr->parts);
    SL__CHECK_ALLOC(sr->parts);
    if (nlocal && st->target >= 0)
      SL__CHECK(sl__out_create(run, s, &sr->out));
    for (int i = 0; i < nlocal; i++) {
      sl__part *p = calloc(1, sizeof *p);
      SL__CHECK_ALLOC(p);
      sr->parts[i] = p;
      sr->nlocal = i + 1;
      p->stage = st;
      p->index = run->rank + i * run->size;
      p->out = sr->out;
      p->st = &sr->st;
      SL__CHECK(sl__part_setup(run, p));
    }
    sr->nopen = nlocal;
    sr->rstate = calloc((size_t)(st->nsteps ? st->nsteps : 1), sizeof *sr->rstate);
    SL__CHECK_ALLOC(sr->rstate);
  }
  return SL_OK;
}

/* The operators' run-wide setup, in plan order, on every rank; then every routed edge must
 * have its router. */
static int ops_setup(sl__run *run) {
  for (int s = 0; s < run->nstages; s++) {
    const sl__stage *st = &run->flow->stages[s];
    for (int i = 0; i < st->nsteps; i++)
      if (st->steps[i].op->run_setup)
        SL__CHECK(st->steps[i].op->run_setup(run, s, i, &run->stages[s].rstate[i]));
  }
  for (int s = 0; s < run->nstages; s++) {
    const sl__out *o = run->stages[s].out;
    if (o && !o->route)
      SL__FAIL(SL_ERR_INTERNAL, "stage %d '%s': no operator installed the router of its output", s,
               run->flow->stages[s].name);
  }
  return SL_OK;
}

void *sl__run_state(const sl__run *run, int stage, int step) {
  return run->stages[stage].rstate[step];
}

/* Each step's run-wide hooks, in plan order. Collectives must be posted in the same order
 * on every rank: a step still in flight holds the later ones back. */
static int ops_progress(sl__run *run, int *progress) {
  for (int s = 0; s < run->nstages; s++) {
    const sl__stage *st = &run->flow->stages[s];
    for (int i = 0; i < st->nsteps; i++) {
      const sl__op_vt *op = st->steps[i].op;
      void *rs = run->stages[s].rstate[i];
      if (op->run_progress)
        SL__CHECK(op->run_progress(run, s, rs, progress));
      if (op->run_quiescent && !op->run_quiescent(run, rs))
        return SL_OK;
    }
  }
  return SL_OK;
}

static int ops_quiescent(const sl__run *run) {
  for (int s = 0; s < run->nstages; s++) {
    const sl__stage *st = &run->flow->stages[s];
    for (int i = 0; i < st->nsteps; i++)
      if (st->steps[i].op->run_quiescent &&
          !st->steps[i].op->run_quiescent(run, run->stages[s].rstate[i]))
        return 0;
  }
  return 1;
}

/* After the loop, on every rank: complete what the operators posted. The first error. */
static int ops_settle(sl__run *run) {
  int err = SL_OK;
  for (int s = 0; s < run->nstages; s++) {
    const sl__stage *st = &run->flow->stages[s];
    for (int i = 0; run->stages[s].rstate && i < st->nsteps; i++) {
      if (!st->steps[i].op->run_settle)
        continue;
      int rc = st->steps[i].op->run_settle(run, s, run->stages[s].rstate[i]);
      if (rc && !err)
        err = rc;
    }
  }
  return err;
}

static int all_done(sl__run *run) {
  if (!ops_quiescent(run))
    return 0;
  for (int s = 0; s < run->nstages; s++) {
    sl__source *src = &run->flow->stages[s].source;
    if (src->vt && src->vt->quiescent && !src->vt->quiescent(src, run))
      return 0;
  }
  if (run->sink->quiescent && !run->sink->quiescent(run->sink_impl, run))
    return 0;
  for (int s = 0; s < run->nstages; s++) {
    const sl__srun *sr = &run->stages[s];
    if (sr->nopen)
      return 0;
    if (sr->out && !sl__out_all_eos(sr->out))
      return 0;
  }
  return 1;
}

static void idle(int *spins) {
  /* Nothing to do: poll MPI a few times, then yield, then sleep briefly, so that ranks
   * oversubscribed on few cores leave the CPU to the ones with work. */
  ++*spins;
  if (*spins < 16)
    return;
  if (*spins < 4096) {
    sched_yield();
    return;
  }
  struct timespec ts = {0, 50000};
  nanosleep(&ts, NULL);
}

/* A span of the trace for a hook that did something (progress moved) from t0 to now. */
static void trace_hook(sl__run *run, const char *what, const char *name, int before, int after,
                       double t0) {
  if (!run->trace || before == after)
    return;
  char n[128];
  snprintf(n, sizeof n, "%s%s", what, name);
  sl__trace_span(run, SL__TRACK_LOOP, n, t0, sl__now());
}

static int loop(sl__run *run) {
  int spins = 0;
  for (;;) {
    int progress = 0, before;
    int rc = sl__transport_poll(run, &progress);
    double t0 = run->trace ? sl__now() : 0;
    before = progress;
    if (rc == SL_OK)
      rc = ops_progress(run, &progress);
    trace_hook(run, "collective: ", "operators", before, progress, t0);
    for (int s = 0; s < run->nstages && rc == SL_OK; s++) {
      sl__source *src = &run->flow->stages[s].source;
      if (src->vt && src->vt->progress) {
        before = progress;
        t0 = run->trace ? sl__now() : 0;
        rc = src->vt->progress(src, run, &progress);
        trace_hook(run, "io: read ", src->vt->name, before, progress, t0);
      }
    }
    if (rc == SL_OK && run->sink->progress) {
      before = progress;
      t0 = run->trace ? sl__now() : 0;
      rc = run->sink->progress(run->sink_impl, run, &progress);
      trace_hook(run, "io: write ", run->sink->name, before, progress, t0);
    }
    for (int s = run->nstages - 1; s >= 0 && rc == SL_OK; s--) {
      sl__srun *sr = &run->stages[s];
      for (int i = 0; i < sr->nlocal && rc == SL_OK; i++)
        rc = sl__part_work(sr->parts[i], &progress);
    }
    if (rc == SL_OK)
      rc = sl__ckpt_poll(run, &progress); /* with checkpoints, a stop signal asks for one */
    if (rc == SL_ERR_STOPPED)
      run->stopped = 1;
    if (rc == SL_OK && sl__stop_flag && !run->ckpt) {
      run->stopped = 1;
      rc = sl__error_set(
          SL_ERR_STOPPED, __FILE__, __LINE__,
          "stopped by a signal (SIGTERM or SIGUSR1) before the end: no output was written");
    }
    if (rc != SL_OK) {
      run->err = rc;
      sl__transport_abort_all(run);
      return rc;
    }
    if (run->remote_abort)
      return SL_ERR_REMOTE;
    sl__progress_poll(run);
    if (all_done(run) && !sl__progress_linger(run) && !sl__ckpt_linger(run))
      return SL_OK;
    if (progress)
      spins = 0;
    else
      idle(&spins);
  }
}

/* Agree on the outcome; the lowest failing rank prints the one error line. */
static int agree(sl__run *run, int local) {
  int flags[2] = {local != SL_OK && local != SL_ERR_REMOTE, local == SL_ERR_STOPPED}, any[2];
  int mine = flags[0] ? run->rank : INT_MAX, first;
  if (MPI_Allreduce(flags, any, 2, MPI_INT, MPI_MAX, run->comm) != MPI_SUCCESS)
    return SL_ERR_MPI;
  if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, run->comm) != MPI_SUCCESS)
    return SL_ERR_MPI;
  if (!any[0])
    return SL_OK;
  if (first == run->rank)
    sl__report_error(run->ctx, local);
  if (any[1]) {
    /* the job is stopping: every rank behaves as if it got the signal (sl_stop_requested;
     * sl_finalize keeps the flag handler, so the launcher's own SIGTERM to the ranks still
     * finishing cannot turn their exit 3 into death by signal) */
    sl__stop_flag = 1;
    return SL_ERR_STOPPED;
  }
  /* Every rank returns the first failing rank's code, so all exit alike. */
  int code = local;
  if (MPI_Bcast(&code, 1, MPI_INT, first, run->comm) != MPI_SUCCESS)
    return SL_ERR_MPI;
  return code;
}

/* After a step every rank took: *rc becomes SL_ERR_REMOTE where only another rank failed.
 * Returns SL_ERR_MPI (recorded) when the agreement itself failed. */
static int all_agree(sl__run *run, int *rc) {
  int bad = *rc != SL_OK, any = 1;
  if (MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, run->comm) != MPI_SUCCESS) {
    *rc = sl__error_set(SL_ERR_MPI, __FILE__, __LINE__, "cannot agree between the ranks");
    return SL_ERR_MPI;
  }
  if (any && *rc == SL_OK)
    *rc = SL_ERR_REMOTE;
  return SL_OK;
}

int sl_run(sl_flow *flow) {
  if (!flow)
    SL__FAIL(SL_ERR_INVAL, "sl_run: NULL flow");
  sl_ctx *ctx = flow->ctx;
  int rc = SL_OK;
  /* A message left by an earlier failed call (a local API error, a previous run) must
   * not be reported as this run's cause. The builder's own errors are kept in the flow. */
  sl__error_clear();
  if (flow->ran)
    rc = sl__error_set(SL_ERR_STATE, __FILE__, __LINE__, "sl_run: this flow has already run");
  else if (flow->build_error)
    rc = flow->build_error;
  else if (!flow->nstages)
    rc = sl__error_set(SL_ERR_STATE, __FILE__, __LINE__, "sl_run: the flow has no source");
  else if (!flow->sink.vt)
    rc = sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                       "sl_run: the flow has no sink (call one sl_flow_to_*)");
  else
    rc = sl__plan_check(flow);
  flow->ran = 1;
  sl__run *run = calloc(1, sizeof *run);
  if (!run)
    return SL_ERR_NOMEM;
  if (flow->last && flow->last_free)
    flow->last_free(flow->last);
  flow->last = run;
  flow->last_free = sl__run_destroy;
  run->flow = flow;
  run->ctx = ctx;
  run->comm = sl_comm(ctx);
  run->rank = sl_rank(ctx);
  run->size = sl_size(ctx);
  run->t0 = sl__now();
  run->total.bound_core = ctx->bound_core;
  run->written0 = ctx->bytes_written;
  ctx->runs++;

  /* Phase 1 (collective): the same plan everywhere, inputs and outputs checked. */
  uint64_t fp = rc == SL_OK ? sl__plan_fingerprint(flow) : 0, fmin = 0, fmax = 0;
  if (MPI_Allreduce(&fp, &fmin, 1, MPI_UINT64_T, MPI_MIN, run->comm) != MPI_SUCCESS ||
      MPI_Allreduce(&fp, &fmax, 1, MPI_UINT64_T, MPI_MAX, run->comm) != MPI_SUCCESS)
    return sl__error_set(SL_ERR_MPI, __FILE__, __LINE__, "cannot compare the ranks' flows");
  /* Every rank left the reduction at about the same time: the run's common start. Rank 0
   * says what the others cannot know alike: its wall clock (the record's and the trace's
   * origin) and whether progress lines are wanted (its stderr may be a terminal). */
  run->t0 = sl__now();
  double hdr[2] = {sl__wall_now(), run->rank == 0 ? sl__progress_mode(ctx) : 0};
  if (MPI_Bcast(hdr, 2, MPI_DOUBLE, 0, run->comm) != MPI_SUCCESS)
    return sl__error_set(SL_ERR_MPI, __FILE__, __LINE__, "cannot start the run on every rank");
  run->wall0 = hdr[0];
  int prog_mode = (int)hdr[1];
  if (rc == SL_OK && fmin != fmax)
    rc = sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                       "ranks built different flows (every rank must build the same flow)");
  if (rc == SL_OK)
    rc = sl__trace_begin(run);
  if (all_agree(run, &rc) != SL_OK || rc != SL_OK)
    return agree(run, rc);
  for (int s = 0; s < flow->nstages && rc == SL_OK; s++) {
    sl__source *src = &flow->stages[s].source;
    if (src->vt && src->vt->prepare)
      rc = src->vt->prepare(src, ctx);
  }
  /* The sink's preparation is collective: a rank whose source failed alone must not skip
   * it while the others wait inside it. Agree first. */
  if (all_agree(run, &rc) != SL_OK || rc != SL_OK)
    return agree(run, rc);
  run->sink = flow->sink.vt;
  run->sink_impl = flow->sink.impl;
  run->sink_push = run->sink->push;
  run->sink_blocked = run->sink->blocked;
  rc = run->sink->prepare(run->sink_impl, ctx, run);
  if (all_agree(run, &rc) != SL_OK || rc != SL_OK)
    return agree(run, rc);
  for (int s = 0; s < flow->nstages; s++)
    run->total_input += flow->stages[s].source.total_bytes;

  /* Phase 2 (local): partitions and buffers; then agree before any data moves. */
  rc = setup(run);
  if (rc == SL_OK)
    rc = ops_setup(run);
  if (rc == SL_OK)
    rc = sl__transport_start(run);
  /* a checkpoint: checked, and the partitions, sources and sink restored from it */
  if (all_agree(run, &rc) == SL_OK && rc == SL_OK)
    rc = sl__ckpt_begin(run);
  if (all_agree(run, &rc) == SL_OK && rc == SL_OK)
    rc = sl__progress_start(run, prog_mode, prog_mode == 1 ? 1.0 : ctx->opt.progress_interval);
  if (rc != SL_OK) {
    /* every rank, started or not: the finish is collective (and progress_start agrees) */
    (void)sl__transport_finish(run);
    rc = agree(run, rc);
    sl__ckpt_end(run, rc);
    return rc;
  }

  /* Phase 3: the event loop, then the drain and the outcome. */
  rc = sl__ckpt_skipped(run) ? SL_OK : loop(run); /* skipped: an earlier job ran it */
  /* Complete the collectives every rank posted in the loop (sources' and sinks' I/O
   * rounds, operators' collectives): the loop may have ended early on some ranks only.
   * No blocking collective may come first: a rank still inside a collective read waits
   * for this one to settle its round. */
  int loop_failed = rc != SL_OK;
  double t = sl__now(), t1;
  for (int s = 0; s < run->nstages; s++) {
    sl__source *src = &flow->stages[s].source;
    if (src->vt && src->vt->settle) {
      int r = src->vt->settle(src, run, loop_failed);
      if (rc == SL_OK)
        rc = r;
    }
  }
  int krc = run->sink->settle ? run->sink->settle(run->sink_impl, run, loop_failed) : SL_OK;
  if (rc == SL_OK)
    rc = krc;
  t1 = sl__now();
  sl__trace_span(run, SL__TRACK_LOOP, "collective: settle I/O", t, t1);
  int frc = ops_settle(run);           /* complete the operators' collectives every rank posted */
  int trc = sl__transport_finish(run); /* collective: every rank, whatever happened */
  if (frc == SL_OK)
    frc = trc;
  if (rc == SL_OK)
    rc = frc;
  t = sl__now();
  sl__trace_span(run, SL__TRACK_LOOP, "collective: finish the exchange", t1, t);
  /* a skipped run publishes nothing: its outputs are the earlier job's */
  int flags = rc != SL_OK || sl__ckpt_skipped(run), failed = 1;
  if (MPI_Allreduce(&flags, &failed, 1, MPI_INT, MPI_MAX, run->comm) != MPI_SUCCESS && rc == SL_OK)
    rc = sl__error_set(SL_ERR_MPI, __FILE__, __LINE__, "cannot agree on the run's outcome");
  if (!failed)
    sl__progress_note(run, "writing the output");
  int src = run->sink->finish(run->sink_impl, ctx, failed);
  if (rc == SL_OK)
    rc = src;
  t1 = sl__now();
  sl__trace_span(run, SL__TRACK_LOOP, "io: publish the output", t, t1);
  run->total.wall_seconds = sl__now() - run->t0;
  rc = agree(run, rc);
  sl__ckpt_end(run, rc); /* collective; a success removes the checkpoint */
  run->status = rc;
  run->t_end = sl__now();
  /* every rank, whatever the outcome: each of these is collective */
  int prc = sl__progress_finish(run);
  int strc = sl__stats_report(run);
  char name[200];
  snprintf(name, sizeof name, "run %d%s%s", ctx->runs, flow->label[0] ? ": " : "", flow->label);
  sl__trace_span(run, SL__TRACK_RUNS, name, run->t0, run->t_end);
  int wrc = sl__trace_write(run);
  int rep = prc != SL_OK ? prc : strc != SL_OK ? strc : wrc;
  /* A report may fail on one rank only (rank 0 writes the record): agree, so that every
   * rank returns the same code and one line says why. Every rank takes this branch alike:
   * the options are the same everywhere, and the progress mode was broadcast. */
  const sl__options *o = &ctx->opt;
  if (prog_mode || o->stats_file[0] || o->log_view || o->trace_file[0]) {
    rep = agree(run, rep);
    if (rc == SL_OK)
      rc = rep;
  }
  return rc;
}
