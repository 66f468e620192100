/* SPDX-License-Identifier: BSD-3-Clause */
/* Progress lines (--sl-progress): every rank's share, summed by non-blocking reductions.
 *
 * Why a duplicate communicator: the reductions are posted by each rank on its own clock,
 * while operators and sources post their own collectives on the run's communicator in
 * plan order; on one communicator the two sequences could interleave differently on
 * different ranks, which MPI forbids. On their own communicator only their count must
 * match, and sl__progress_finish makes it match before waiting for them.
 *
 * A rank done with its part stays in the event loop (sl__progress_linger) until every rank
 * is, through a non-blocking barrier on a second duplicate: it keeps taking part in the
 * reductions, so lines go on while the last ranks work, and the loop's hooks keep running
 * as they do for any rank waiting for others.
 *
 * What each rank contributes (summed): input bytes read, the total input, records read and
 * records that reached the sink, and a 1 in the slot of its phase, so rank 0 can say
 * "3 reading, 1 sorting". */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/op.h"

/* Phases in the order a line names the first one any rank is in; an operator's drain
 * names its own (sl__op_vt.phase), one of these. */
enum {
  PH_READING,
  PH_SORTING,
  PH_REDUCING,
  PH_GROUPING,
  PH_JOINING,
  PH_DRAINING,
  PH_EXCHANGING,
  PH_WRITING,
  PH_DONE,
  NPH
};
static const char *phase_names[NPH] = {"reading",  "sorting",    "reducing", "grouping", "joining",
                                       "draining", "exchanging", "writing",  "done"};
enum { V_DONE, V_RECORDS, V_SINK, V_PHASE, NV = V_PHASE + NPH };

typedef struct sl__progress {
  int mode;       /* 1 terminal (redrawn line), 2 plain lines */
  double period;  /* seconds between reductions */
  MPI_Comm comm;  /* this run's duplicate (see above) */
  MPI_Comm bcomm; /* another, for the barrier of ranks done with the loop (linger) */
  MPI_Request breq;
  int bposted, bdone; /* this rank posted the barrier; it completed */
  MPI_Request req;
  int pending; /* req is posted and not complete */
  long posted; /* reductions this rank has posted */
  double next; /* sl__now() of the next post */
  double send[NV], recv[NV];
  int printed; /* rank 0 printed a line */
  int forced;  /* --sl-progress=on: a final line even when the run was short */
  int width;   /* terminal: the last line's length, to blank it */
} sl__progress;

int sl__progress_mode(const sl_ctx *ctx) {
  if (ctx->opt.progress == 0)
    return 0;
  return isatty(STDERR_FILENO) ? 1 : 2; /* on and auto alike: plain lines in a log */
}

/* Human units: "1.5 GiB", "3.20 M". */
static void fmt_count(double v, char *buf, size_t cap) {
  if (v >= 1e9)
    snprintf(buf, cap, "%.2f G", v / 1e9);
  else if (v >= 1e6)
    snprintf(buf, cap, "%.2f M", v / 1e6);
  else if (v >= 1e4)
    snprintf(buf, cap, "%.1f k", v / 1e3);
  else
    snprintf(buf, cap, "%.0f", v);
}

static void fmt_secs(double s, char *buf, size_t cap) {
  if (s < 0)
    s = 0;
  if (s < 10)
    snprintf(buf, cap, "%.1f s", s);
  else if (s < 120)
    snprintf(buf, cap, "%.0f s", s);
  else if (s < 7200)
    snprintf(buf, cap, "%.0f min %02.0f s", (double)(long)(s / 60),
             s - 60.0 * (double)(long)(s / 60));
  else
    snprintf(buf, cap, "%.1f h", s / 3600);
}

static int drain_phase(const char *name) {
  for (int k = PH_SORTING; k < PH_DRAINING; k++)
    if (name && !strcmp(name, phase_names[k]))
      return k;
  return PH_DRAINING;
}

/* This rank's phase: reading while a source partition reads, the operator's while a step
 * empties its state (sorting), exchanging while batches still come, writing while the sink
 * is busy, done when nothing is left here. */
static int local_phase(sl__run *run) {
  int reading = 0, drain = NPH, open = 0;
  for (int s = 0; s < run->nstages; s++) {
    const sl__srun *sr = &run->stages[s];
    for (int i = 0; i < sr->nlocal; i++) {
      const sl__part *p = sr->parts[i];
      if (p->done)
        continue;
      open = 1;
      if (!p->input_ended && p->stage->source.vt) {
        reading = 1;
      } else if (p->input_ended && p->finish_step < p->nsteps &&
                 p->steps[p->finish_step].op->drain) {
        int k = drain_phase(p->steps[p->finish_step].op->phase);
        if (k < drain)
          drain = k;
      }
    }
  }
  if (reading)
    return PH_READING;
  if (drain < NPH)
    return drain;
  if (open)
    return PH_EXCHANGING;
  if (run->sink->quiescent && !run->sink->quiescent(run->sink_impl, run))
    return PH_WRITING;
  return PH_DONE;
}

static void fill(sl__run *run, sl__progress *pg) {
  memset(pg->send, 0, sizeof pg->send);
  for (int s = 0; s < run->nstages; s++) {
    const sl__stagestats *st = &run->stages[s].st;
    pg->send[V_DONE] += (double)st->input_bytes;
    if (run->flow->stages[s].source.vt)
      pg->send[V_RECORDS] += (double)st->records_out;
    if (s == run->nstages - 1)
      pg->send[V_SINK] += (double)st->records_out;
  }
  pg->send[V_PHASE + local_phase(run)] = 1;
}

/* Rank 0: one line from the sums. */
static void print_line(sl__run *run, sl__progress *pg, const double *v, int final) {
  double now = sl__now(), el = now - run->t0, total = (double)run->total_input;
  char line[1024], a[32], b[32], r[32], eta[32], recs[32];
  int n = 0;
/* appends, never past the end: n stays within the buffer */
#define ADD(...)                                                                                   \
  do {                                                                                             \
    if (n < (int)sizeof line)                                                                      \
      n += snprintf(line + n, sizeof line - (size_t)n, __VA_ARGS__);                               \
  } while (0)
  char label[256];
  sl__printable(run->flow->label, label, sizeof label);
  ADD("sluice: progress: %s%s", label, label[0] ? ": " : "");
  int ph = PH_DONE;
  for (int k = 0; k < NPH; k++)
    if (v[V_PHASE + k] > 0) {
      ph = k;
      break;
    }
  const char *phname = phase_names[ph];
  if (final)
    phname = run->status == SL_OK ? "done" : "failed";
  if (total > 0) { /* bytes of the sources: known up front, so a share and an ETA */
    sl__fmt_bytes((uint64_t)v[V_DONE], a, sizeof a);
    sl__fmt_bytes((uint64_t)total, b, sizeof b);
    double rate = el > 0 ? v[V_DONE] / el : 0;
    sl__fmt_bytes((uint64_t)rate, r, sizeof r);
    ADD("%s, %.1f%% read (%s of %s), %s/s", phname, 100.0 * v[V_DONE] / total, a, b, r);
    if (!final && ph == PH_READING && rate > 0) {
      fmt_secs((total - v[V_DONE]) / rate, eta, sizeof eta);
      ADD(", reading ETA %s", eta);
    }
  } else { /* generated or callback sources: records, no total */
    fmt_count(v[V_RECORDS], a, sizeof a);
    fmt_count(el > 0 ? v[V_RECORDS] / el : 0, r, sizeof r);
    ADD("%s, %s records from the sources (%s/s)", phname, a, r);
  }
  fmt_count(v[V_SINK], recs, sizeof recs);
  fmt_secs(el, eta, sizeof eta);
  ADD(", %s records to the sink, %s elapsed", recs, eta);
  if (!final && run->size > 1) {
    ADD("; ranks:");
    for (int k = 0; k < NPH; k++)
      if (v[V_PHASE + k] > 0)
        ADD(" %.0f %s", v[V_PHASE + k], phase_names[k]);
  }
#undef ADD
  if (n >= (int)sizeof line)
    n = (int)sizeof line - 1;
  if (pg->mode == 1) { /* redrawn in place; the last one stays */
    fprintf(stderr, "\r%s%*s%s", line, pg->width > n ? pg->width - n : 0, "", final ? "\n" : "");
    pg->width = n;
  } else {
    fprintf(stderr, "%s\n", line);
  }
  fflush(stderr);
  pg->printed = 1;
}

int sl__progress_start(sl__run *run, int mode, double period) {
  if (mode == 0)
    return SL_OK;
  sl__progress *pg = calloc(1, sizeof *pg);
  /* the duplicate is collective: every rank makes it, even one short of memory, and the
   * outcome is agreed before anyone posts on it */
  MPI_Comm c = MPI_COMM_NULL, bc = MPI_COMM_NULL;
  int mrc = MPI_Comm_dup(run->comm, &c), brc = MPI_Comm_dup(run->comm, &bc);
  if (mrc == MPI_SUCCESS)
    mrc = brc;
  int bad = pg == NULL || mrc != MPI_SUCCESS, any = 1;
  int arc = MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, run->comm);
  if (arc != MPI_SUCCESS || any) {
    if (c != MPI_COMM_NULL)
      (void)MPI_Comm_free(&c);
    if (bc != MPI_COMM_NULL)
      (void)MPI_Comm_free(&bc);
    free(pg);
    if (arc != MPI_SUCCESS)
      return sl__error_mpi(arc, __FILE__, __LINE__, "MPI_Allreduce(progress)");
    if (mrc != MPI_SUCCESS)
      return sl__error_mpi(mrc, __FILE__, __LINE__, "MPI_Comm_dup(progress)");
    return bad ? sl__error_nomem(__FILE__, __LINE__, "the progress state", sizeof *pg, NULL)
               : SL_ERR_REMOTE;
  }
  pg->mode = mode;
  pg->period = period;
  pg->forced = run->ctx->opt.progress > 0;
  pg->comm = c;
  pg->bcomm = bc;
  pg->req = pg->breq = MPI_REQUEST_NULL;
  pg->next = run->t0 + period;
  run->prog = pg;
  return SL_OK;
}

void sl__progress_poll(sl__run *run) {
  sl__progress *pg = run->prog;
  if (!pg)
    return;
  if (pg->pending) {
    int done = 0;
    /* a failed test leaves the request to sl__progress_finish, which reports nothing
     * either: progress never fails a run */
    if (MPI_Test(&pg->req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS || !done)
      return;
    pg->pending = 0;
    if (run->rank == 0)
      print_line(run, pg, pg->recv, 0);
  }
  double now = sl__now();
  if (now < pg->next)
    return;
  pg->next = now + pg->period;
  fill(run, pg);
  if (MPI_Iallreduce(pg->send, pg->recv, NV, MPI_DOUBLE, MPI_SUM, pg->comm, &pg->req) !=
      MPI_SUCCESS)
    return; /* not counted: finish matches the counts of posted reductions */
  pg->posted++;
  pg->pending = 1;
}

int sl__progress_linger(sl__run *run) {
  sl__progress *pg = run->prog;
  if (!pg || pg->bdone)
    return 0;
  if (!pg->bposted) {
    if (MPI_Ibarrier(pg->bcomm, &pg->breq) != MPI_SUCCESS)
      return 0; /* leave now; finish completes what the others posted */
    pg->bposted = 1;
  }
  int done = 0;
  if (MPI_Test(&pg->breq, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
    return 0;
  pg->bdone = done;
  return !done;
}

void sl__progress_note(sl__run *run, const char *phase) {
  sl__progress *pg = run->prog;
  if (!pg || run->rank != 0 || !pg->printed)
    return; /* a short run stays quiet */
  char label[256], el[32];
  sl__printable(run->flow->label, label, sizeof label);
  fmt_secs(sl__now() - run->t0, el, sizeof el);
  fprintf(stderr, "%ssluice: progress: %s%s%s (every rank), %s elapsed\n",
          pg->mode == 1 ? "\n" : "", label, label[0] ? ": " : "", phase, el);
  fflush(stderr);
  pg->width = 0;
}

int sl__progress_finish(sl__run *run) {
  sl__progress *pg = run->prog;
  if (!pg)
    return SL_OK;
  /* Ranks may have posted different numbers of reductions (their clocks differ, and a rank
   * that left the loop early posted fewer). Agree on the most, on the run's communicator
   * (no progress reduction is matched there), post the missing ones, then wait: every
   * reduction now has all its ranks. */
  long most = pg->posted;
  int rc = MPI_Allreduce(&pg->posted, &most, 1, MPI_LONG, MPI_MAX, run->comm);
  /* non-blocking ones to the end: a blocking reduction never matches a non-blocking one */
  if (rc == MPI_SUCCESS && pg->pending)
    rc = MPI_Wait(&pg->req, MPI_STATUS_IGNORE);
  pg->pending = 0;
  /* the missing ones, then one more for the final line: every rank's figures at the end */
  for (; rc == MPI_SUCCESS && pg->posted <= most; pg->posted++) {
    fill(run, pg);
    rc = MPI_Iallreduce(pg->send, pg->recv, NV, MPI_DOUBLE, MPI_SUM, pg->comm, &pg->req);
    if (rc == MPI_SUCCESS)
      rc = MPI_Wait(&pg->req, MPI_STATUS_IGNORE);
  }
  if (rc == MPI_SUCCESS && run->rank == 0 && (pg->printed || pg->forced))
    print_line(run, pg, pg->recv, 1);
  /* the lingering barrier: a rank that left the loop on a failure never posted it */
  int posted = pg->bposted, any = 0;
  if (rc == MPI_SUCCESS)
    rc = MPI_Allreduce(&posted, &any, 1, MPI_INT, MPI_MAX, run->comm);
  if (rc == MPI_SUCCESS && any && !posted)
    rc = MPI_Ibarrier(pg->bcomm, &pg->breq);
  if (rc == MPI_SUCCESS && any && !pg->bdone)
    rc = MPI_Wait(&pg->breq, MPI_STATUS_IGNORE);
  int frc = MPI_Comm_free(&pg->comm), brc = MPI_Comm_free(&pg->bcomm);
  if (frc == MPI_SUCCESS)
    frc = brc;
  free(pg);
  run->prog = NULL;
  if (rc != MPI_SUCCESS)
    return sl__error_mpi(rc, __FILE__, __LINE__, "progress reductions");
  if (frc != MPI_SUCCESS)
    return sl__error_mpi(frc, __FILE__, __LINE__, "MPI_Comm_free(progress)");
  return SL_OK;
}
