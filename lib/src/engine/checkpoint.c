/* SPDX-License-Identifier: BSD-3-Clause */
/* Checkpoints of a running flow and the resume from one (docs/checkpoint.md).
 *
 * The protocol, in short. Rank 0 starts epoch E (a stop signal on any rank, or the
 * interval): a START control message to every rank. A source partition saves its read
 * position between two pulls, then its steps' state; a partition of a later stage saves its
 * steps once a barrier of E (or the end of stream) has come from every sender and it has
 * taken every batch before them. A saved partition pauses: nothing it would emit after the
 * snapshot may reach a partition that has not saved yet (stop-the-world alignment: since
 * every producer pauses at its barrier, no batch ever follows one, so the channels hold
 * nothing at the cut). Once every partition of a stage on this rank saved, the stage's
 * output queues a barrier behind the batches it emitted before (SL__MSG_BARRIER, on the
 * data channels, so it never overtakes them). Once every partition of the rank saved, the
 * operators' run-wide states (the sort's samples: run_snapshot) and the sink save theirs,
 * the rank's part file is written and fsynced (core/ckpt_store.c), and DONE goes to rank 0;
 * with every rank's DONE, rank 0 renames the manifest into place (the commit) and sends
 * COMMIT; the partitions resume, or, for a stop, every rank stops with exit 3. A failure
 * while saving (a full disk) fails the checkpoint, never the run.
 *
 * Ranks done with their part stay in the loop (a non-blocking barrier) so that rank 0 can
 * still start an epoch that they must join; rank 0 starts none once it joined that barrier.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "core/ckpt_store.h"
#include "engine/op.h"

/* TAG_INNER: a wrapper's inner operator's chunk (engine/op.h, restore); TAG_RUN: a step's
 * run-wide state (op.h, run_snapshot); TAG_KEEP: a region of sl_checkpoint_keep */
enum {
  TAG_PART = 1,
  TAG_SOURCE = 2,
  TAG_STEP = 3,
  TAG_SINK = 4,
  TAG_RUN = 5,
  TAG_INNER = 6,
  TAG_KEEP = 7
};

typedef struct sl__ckpt {
  char dir[4096];
  double interval, next_due; /* seconds; next_due on rank 0 */
  double started;            /* rank 0: when the running epoch started */
  double seen, t_parts;      /* this rank: when START came, time saving its partitions */
  int64_t epoch;             /* the running epoch, or the last one committed or loaded */
  int old_ranks;             /* the ranks of the checkpoint resumed from (0: none) */
  int stop;                  /* the running epoch stops the run once committed */
  int signalled;             /* a stop signal was seen on this rank and passed on */
  int want_stop;             /* rank 0: a stop was asked (its own signal or a REQUEST) */
  int closing;               /* rank 0 joined the final barrier: no new epoch */
  int written;               /* this rank's part of the running epoch is written */
  int local_failed;          /* this rank could not write it (why: the recorded line) */
  int ndone, nok;            /* rank 0: DONE messages of the running epoch */
  int outcome;               /* 1: the running epoch committed, -1: failed, 0: not yet */
  int stop_now;              /* committed a stop (1) or failed one (-1): leave the loop */
  struct sl__ckpt_writer *w;
  MPI_Comm bcomm;
  MPI_Request breq;
  int bposted, bdone;
  sl__ckpt_manifest id; /* what a resume must match */
  int skip;             /* the checkpoint is of a later sl_run: this one is not run */
  /* tests only (SLUICE_TEST_CKPT_SIGNAL=RUN:RANK:ROWS[:SLOW_US[:WHERE]]): raise SIGUSR1 on
   * RANK once its source partitions passed on ROWS rows in the program's RUN-th sl_run, and
   * sleep SLOW_US microseconds after every block they pass on, so the run lasts; WHERE
   * "sink" counts the rows its sink took instead (t_sink 1), "sort" the steps of a sort's
   * in-memory sort (t_sink 2) */
  int t_run, t_rank, t_fired, t_sink;
  long long t_at, t_slow;
  uint64_t t_seen;
} sl__ckpt;

/* ---- what a checkpoint must match ---- */

/* Each input file's path, size and modification time, from the sources' provenance
 * strings (paths separated by newlines or ", "; a HDF5 spec's ":/dataset" dropped). */
static int add_inputs(sl__run *run, sl__ckpt_manifest *m) {
  int k = 0;
  for (int s = 0; s < run->nstages; s++) {
    const sl__source *src = &run->flow->stages[s].source;
    if (!src->vt)
      continue;
    char skey[32];
    snprintf(skey, sizeof skey, "source.%d", s);
    SL__CHECK(sl__ckpt_manifest_add(m, skey, "%s, %llu bytes", src->vt->name,
                                    (unsigned long long)src->total_bytes));
    if (!src->vt->inputs)
      continue;
    size_t need = src->vt->inputs(src, NULL, 0);
    char *buf = malloc(need + 1);
    SL__CHECK_ALLOC(buf);
    src->vt->inputs(src, buf, need + 1);
    for (char *save = NULL, *tok = strtok_r(buf, "\n", &save); tok;
         tok = strtok_r(NULL, "\n", &save)) {
      char path[4096];
      snprintf(path, sizeof path, "%s", tok);
      char *colon = strstr(path, ":/");
      if (colon)
        *colon = '\0';
      struct stat st;
      char key[64];
      snprintf(key, sizeof key, "input.%d", k++);
      int rc = stat(path, &st) == 0
                   ? sl__ckpt_manifest_add(m, key, "%s, %lld bytes, modified %lld.%09ld", path,
                                           (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                                           st.st_mtim.tv_nsec)
                   : sl__ckpt_manifest_add(m, key, "%s", tok);
      if (rc != SL_OK) {
        free(buf);
        return rc;
      }
    }
    free(buf);
  }
  return SL_OK;
}

static int identity(sl__run *run, sl__ckpt_manifest *m) {
  const sl_flow *f = run->flow;
  SL__CHECK(
      sl__ckpt_manifest_add(m, "plan", "%016llx", (unsigned long long)sl__plan_fingerprint(f)));
  SL__CHECK(sl__ckpt_manifest_add(m, "command", "%s", run->ctx->program_args));
  SL__CHECK(sl__ckpt_manifest_add(m, "ranks", "%d", run->size));
  /* which sl_run of the program: a checkpoint of a later one skips this one (examine) */
  SL__CHECK(sl__ckpt_manifest_add(m, "run", "%d", run->ctx->runs));
  char parts[1024];
  int n = 0;
  for (int s = 0; s < f->nstages && n < (int)sizeof parts; s++)
    n += snprintf(parts + n, sizeof parts - (size_t)n, "%s%d", s ? " " : "",
                  f->stages[s].partitions);
  SL__CHECK(sl__ckpt_manifest_add(m, "partitions", "%s", parts));
  return add_inputs(run, m);
}

/* Why this flow cannot be checkpointed (a part without the hooks), or "" when it can. */
static void why_not(const sl__run *run, char *why, size_t cap) {
  why[0] = '\0';
  const sl_flow *f = run->flow;
  for (int s = 0; s < f->nstages; s++) {
    const sl__stage *st = &f->stages[s];
    const sl__source_vt *src = st->source.vt;
    if (src && !src->snapshot) {
      snprintf(why, cap, "its source (%s) %s", src->name,
               src->ckpt_refusal ? src->ckpt_refusal : "cannot save its read position yet");
      return;
    }
    if (st->wrap && !st->wrap->snapshot) {
      snprintf(why, cap, "stage '%s' has a %s, which cannot be saved yet", st->name,
               st->wrap->name);
      return;
    }
    for (int i = 0; i < st->nsteps; i++) {
      const sl__op_vt *op = st->steps[i].op;
      if ((op->drain || op->create) && !op->snapshot) {
        snprintf(why, cap, "step '%s' (%s) holds state that cannot be saved yet", st->steps[i].name,
                 op->name);
        return;
      }
      if (op->snapshot && op->can_snapshot && !op->can_snapshot(&st->steps[i], why, cap))
        return;
      if (op->run_setup && (!op->run_snapshot || !op->run_restore)) {
        snprintf(why, cap, "step '%s' (%s) runs collectives that cannot be saved yet",
                 st->steps[i].name, op->name);
        return;
      }
    }
  }
  if (!run->sink->snapshot)
    snprintf(why, cap, "its sink (%s) %s", run->sink->name,
             run->sink->ckpt_refusal ? run->sink->ckpt_refusal : "cannot save what it holds yet");
}

/* Why this flow's checkpoint cannot resume on another number of ranks, or "" when it can:
 * every saved state must belong to a partition, not to a rank. */
static void why_not_portable(const sl__run *run, char *why, size_t cap) {
  why[0] = '\0';
  const sl_flow *f = run->flow;
  if (sl__plan_ordered_output(f)) {
    snprintf(why, cap, "its output is written in rank order");
    return;
  }
  for (int s = 0; s < f->nstages; s++) {
    const sl__stage *st = &f->stages[s];
    if (st->wrap) {
      snprintf(why, cap, "stage '%s' has windows", st->name);
      return;
    }
    for (int i = 0; i < st->nsteps; i++) {
      const sl__op_vt *op = st->steps[i].op;
      if (op->snapshot && !(op->flags & SL__OPF_CKPT_PORTABLE)) {
        snprintf(why, cap, "step '%s' (%s) saves state tied to its rank", st->steps[i].name,
                 op->name);
        return;
      }
    }
  }
  if (!run->sink->ckpt_portable)
    snprintf(why, cap, "its sink (%s) saves what it holds per rank", run->sink->name);
  else if (run->ctx->nkeep)
    snprintf(why, cap, "the program keeps state of its own per rank (sl_checkpoint_keep)");
}

/* ---- saving ---- */

int sl__ckpt_put_step(struct sl__ckpt_writer *w, const sl__part *p, int i, const void *d,
                      size_t n) {
  return sl__ckpt_put(w, p->steps[i].ckpt_inner ? TAG_INNER : TAG_STEP, p->stage->index, p->index,
                      i, d, n);
}

int sl__ckpt_put_sink(struct sl__ckpt_writer *w, const void *d, size_t n) {
  return sl__ckpt_put(w, TAG_SINK, -1, -1, -1, d, n);
}

int sl__ckpt_put_sink_spilled(struct sl__ckpt_writer *w, int spill_fd, uint64_t spilled,
                              const char *buf, size_t len, size_t cap, const char *what) {
  char *tmp = spilled ? malloc(cap) : NULL;
  if (spilled)
    SL__CHECK_ALLOC_FOR(tmp, "a checkpoint copy buffer", cap, "--sl-output-buffer-bytes");
  int rc = SL_OK;
  for (uint64_t done = 0; rc == SL_OK && done < spilled;) {
    size_t want = spilled - done < cap ? (size_t)(spilled - done) : cap;
    rc = sl__pread_all(spill_fd, tmp, want, done, what);
    if (rc == SL_OK)
      rc = sl__ckpt_put_sink(w, tmp, want);
    done += want;
  }
  free(tmp);
  if (rc == SL_OK && len)
    rc = sl__ckpt_put_sink(w, buf, len);
  return rc;
}

int sl__ckpt_put_run(struct sl__ckpt_writer *w, int stage, int step, const void *d, size_t n) {
  return sl__ckpt_put(w, TAG_RUN, stage, -1, step, d, n);
}

/* The operators' run-wide state, in plan order (every rank, all its partitions saved). */
static int save_run_states(sl__run *run) {
  for (int s = 0; s < run->nstages; s++) {
    const sl__stage *st = &run->flow->stages[s];
    for (int i = 0; i < st->nsteps; i++)
      if (st->steps[i].op->run_snapshot)
        SL__CHECK(st->steps[i].op->run_snapshot(run, s, i, run->stages[s].rstate[i], run->ckpt->w));
  }
  return SL_OK;
}

/* The engine's own state of a partition: where it is in its input and its steps. */
typedef struct part_head {
  int32_t input_ended, finish_step, done, eos_count, nsenders, pad;
} part_head;

static int save_part(sl__run *run, sl__part *p) {
  sl__ckpt *c = run->ckpt;
  int ns = p->stage->source.vt ? 0 : p->cr.nsenders;
  part_head h = {p->input_ended, p->finish_step, p->done, p->eos_count, ns, 0};
  sl__bytes b = {0};
  int rc = sl__bytes_append(&b, &h, sizeof h);
  if (rc == SL_OK && ns)
    rc = sl__bytes_append(&b, p->ended, (size_t)ns);
  if (rc == SL_OK)
    rc = sl__ckpt_put(c->w, TAG_PART, p->stage->index, p->index, -1, b.p, b.len);
  if (rc == SL_OK && p->stage->source.vt && !p->done) {
    b.len = 0;
    rc = p->stage->source.vt->snapshot(p->src_state, &b);
    if (rc == SL_OK)
      rc = sl__ckpt_put(c->w, TAG_SOURCE, p->stage->index, p->index, -1, b.p, b.len);
  }
  sl__bytes_free(&b);
  for (int i = 0; rc == SL_OK && i < p->nsteps && !p->done; i++)
    if (p->steps[i].op->snapshot)
      rc = p->steps[i].op->snapshot(p, i, c->w);
  return rc;
}

/* May p save now? Between two pulls of its source; or once every sender ended or sent its
 * barrier of this epoch and every batch before them is taken; never while a step drains
 * mid-stream (a full combiner) or has output queued to emit before more input. */
static int ready(const sl__run *run, const sl__part *p) {
  if (p->done)
    return 1;
  if (p->flush_step >= 0 || p->pending_step >= 0)
    return 0;
  if (p->stage->source.vt)
    return 1;
  if (p->in_head)
    return 0;
  for (int k = 0; k < p->cr.nsenders; k++)
    if (!p->ended[k] && p->barrier[k] < run->ckpt->epoch)
      return 0;
  return 1;
}

/* The rank's failure to save: a warning line, DONE(failed); the run goes on. */
static void local_failure(sl__run *run, int rc) {
  sl__ckpt *c = run->ckpt;
  if (c->local_failed)
    return;
  c->local_failed = 1;
  sl_log(run->ctx, SL_LOG_WARN, "rank %d: checkpoint %lld could not be saved in '%s': %s",
         run->rank, (long long)c->epoch, c->dir,
         sl__error_message()[0] ? sl__error_message() : sl_strerror(rc));
  sl__error_clear();
}

/* Save what is ready on this rank; once all is saved, the sink, the part file, DONE. */
static int save_ready(sl__run *run, int *progress) {
  sl__ckpt *c = run->ckpt;
  if (c->written)
    return SL_OK;
  if (!c->w && !c->local_failed) {
    int rc = sl__ckpt_part_create(c->dir, (uint64_t)c->epoch, run->rank, &c->w);
    if (rc != SL_OK)
      local_failure(run, rc);
  }
  int all = 1;
  for (int s = 0; s < run->nstages; s++) {
    sl__srun *sr = &run->stages[s];
    int stage_all = 1;
    for (int i = 0; i < sr->nlocal; i++) {
      sl__part *p = sr->parts[i];
      if (!p->snapped && ready(run, p)) {
        if (c->w && !c->local_failed) {
          double t0 = sl__now();
          int rc = save_part(run, p);
          c->t_parts += sl__now() - t0;
          if (rc != SL_OK)
            local_failure(run, rc);
        }
        p->snapped = 1;
        (*progress)++;
      }
      stage_all &= p->snapped;
    }
    if (stage_all && sr->out && !sr->forwarded) {
      SL__CHECK(sl__out_barrier(sr->out, c->epoch));
      sr->forwarded = 1;
    }
    all &= stage_all;
  }
  if (!all)
    return SL_OK;
  int rc = SL_OK;
  uint64_t bytes = 0;
  double t_all = sl__now(); /* every partition here saved */
  if (c->w && !c->local_failed)
    rc = save_run_states(run);
  if (c->w && !c->local_failed && rc == SL_OK)
    rc = run->sink->snapshot(run->sink_impl, run, c->w);
  double t_sync = sl__now();
  /* the program's kept regions: every partition here has saved and waits, so no callback
   * changes them until the commit */
  for (int k = 0; rc == SL_OK && c->w && !c->local_failed && k < run->ctx->nkeep; k++)
    rc = sl__ckpt_put(c->w, TAG_KEEP, -1, k, -1, run->ctx->keep[k].p, run->ctx->keep[k].n);
  if (c->w && !c->local_failed && rc == SL_OK) {
    rc = sl__ckpt_part_finish(c->w, &bytes);
    c->w = NULL;
  }
  /* where a checkpoint's time goes, per rank (--sl-log-level=debug) */
  double t_end = sl__now();
  sl_log(run->ctx, SL_LOG_DEBUG,
         "rank %d: checkpoint %lld: %.1f MB; its partitions saved in %.3f s (%.3f s of it "
         "waiting to align), run-wide state and sink %.3f s, end and fsync %.3f s",
         run->rank, (long long)c->epoch, (double)bytes / 1e6, t_all - c->seen,
         t_all - c->seen - c->t_parts, t_sync - t_all, t_end - t_sync);
  if (rc != SL_OK)
    local_failure(run, rc);
  if (c->w) {
    sl__ckpt_part_abandon(c->w);
    c->w = NULL;
  }
  c->written = 1;
  (*progress)++;
  return sl__send_ctrl(run, 0, SL__CTRL_CKPT_DONE, 0, 0, (int)c->epoch, !c->local_failed);
}

static int start_epoch(sl__run *run, int stop) {
  sl__ckpt *c = run->ckpt;
  c->ndone = c->nok = 0;
  c->started = sl__now();
  sl_log(run->ctx, SL_LOG_DEBUG, "checkpoint %lld starts (%s)", (long long)(c->epoch + 1),
         stop ? "a stop" : "periodic");
  for (int r = 1; r < run->size; r++)
    SL__CHECK(sl__send_ctrl(run, r, SL__CTRL_CKPT_START, 0, 0, (int)(c->epoch + 1), stop));
  /* rank 0 at once, not through its own queue: a turn sooner */
  sl__ctrlmsg m = {SL__CTRL_CKPT_START, 0, 0, (int32_t)(c->epoch + 1), stop};
  return sl__ckpt_ctrl(run, 0, &m);
}

/* Rank 0, every rank's DONE in: commit (or not), then COMMIT to every rank. */
static int finish_epoch(sl__run *run) {
  sl__ckpt *c = run->ckpt;
  int ok = c->nok == run->size;
  if (ok) {
    sl__ckpt_manifest m = {.epoch = (uint64_t)c->epoch};
    int rc = SL_OK;
    for (size_t i = 0; rc == SL_OK && i < c->id.n; i++)
      rc = sl__ckpt_manifest_add(&m, c->id.kv[i].key, "%s", c->id.kv[i].value);
    if (rc == SL_OK)
      rc = sl__ckpt_commit(c->dir, &m);
    sl__ckpt_manifest_free(&m);
    if (rc != SL_OK) {
      local_failure(run, rc);
      ok = 0;
    } else {
      sl_log(run->ctx, SL_LOG_INFO, "checkpoint %lld committed in %s, %.3f s after it started",
             (long long)c->epoch, c->dir, sl__now() - c->started);
    }
  }
  for (int r = 0; r < run->size; r++)
    SL__CHECK(sl__send_ctrl(run, r, SL__CTRL_CKPT_COMMIT, 0, 0, (int)c->epoch, ok));
  return SL_OK;
}

static int end_epoch(sl__run *run);

int sl__ckpt_ctrl(sl__run *run, int src, const sl__ctrlmsg *m) {
  sl__ckpt *c = run->ckpt;
  if (!c)
    SL__FAIL(SL_ERR_INTERNAL, "a checkpoint message from rank %d without --sl-checkpoint-dir", src);
  switch (m->type) {
  case SL__CTRL_CKPT_REQUEST:
    c->want_stop = 1;
    return SL_OK;
  case SL__CTRL_CKPT_START:
    /* the previous epoch's COMMIT came in the same turn (checkpoints back to back): end
     * it first, or its partitions would still count as saved for this one */
    if (c->outcome)
      SL__CHECK(end_epoch(run));
    c->epoch = m->count;
    c->stop = m->slot;
    c->written = c->local_failed = 0;
    c->outcome = 0;
    c->seen = sl__now();
    c->t_parts = 0;
    run->ckpt_active = 1;
    return SL_OK;
  case SL__CTRL_CKPT_DONE:
    c->ndone++;
    c->nok += m->slot != 0;
    return c->ndone == run->size ? finish_epoch(run) : SL_OK;
  case SL__CTRL_CKPT_COMMIT:
    c->outcome = m->slot ? 1 : -1;
    return SL_OK;
  }
  SL__FAIL(SL_ERR_INTERNAL, "unknown checkpoint message %d", m->type);
}

/* The running epoch ended (committed or not): resume, or stop. */
static int end_epoch(sl__run *run) {
  sl__ckpt *c = run->ckpt;
  run->ckpt_active = 0;
  for (int s = 0; s < run->nstages; s++) {
    run->stages[s].forwarded = 0;
    for (int i = 0; i < run->stages[s].nlocal; i++)
      run->stages[s].parts[i]->snapped = 0;
  }
  if (run->rank == 0 && c->outcome < 0 && !c->stop)
    sl_log(run->ctx, SL_LOG_WARN,
           "checkpoint %lld failed (see the warning above); the run goes on and "
           "the previous checkpoint, if any, stays in '%s'",
           (long long)c->epoch, c->dir);
  if (c->stop)
    c->stop_now = c->outcome;
  /* the interval counts from the end of a checkpoint: one that takes longer than the
   * interval (a sort holding GBs) is not followed at once by the next, with no work between */
  if (c->interval > 0)
    c->next_due = sl__now() + c->interval;
  c->outcome = 0; /* ended: once */
  return SL_OK;
}

static void test_knob(sl__run *run) {
  sl__ckpt *c = run->ckpt;
  const char *e = getenv("SLUICE_TEST_CKPT_SIGNAL");
  char where[8] = "";
  if (!e ||
      sscanf(e, "%d:%d:%lld:%lld:%7s", &c->t_run, &c->t_rank, &c->t_at, &c->t_slow, where) < 3)
    c->t_run = 0;
  c->t_sink = !strcmp(where, "sink") ? 1 : !strcmp(where, "sort") ? 2 : 0;
}

/* The test knob: a source passed on n more rows on this rank (at_sink 0), or the sink took
 * n more (at_sink 1; slowed every 1000 rows, not every call: it is called per record). */
void sl__ckpt_test_rows(sl__run *run, uint64_t n, int at_sink) {
  sl__ckpt *c = run->ckpt;
  if (!c || !c->t_run || c->t_run != run->ctx->runs || !n || at_sink != c->t_sink)
    return;
  uint64_t before = c->t_seen;
  c->t_seen += n;
  if (c->t_slow > 0 && (!at_sink || before / 1000 != c->t_seen / 1000)) {
    struct timespec ts = {c->t_slow / 1000000, (c->t_slow % 1000000) * 1000};
    nanosleep(&ts, NULL);
  }
  if (!c->t_fired && run->rank == c->t_rank && (long long)c->t_seen >= c->t_at) {
    c->t_fired = 1;
    raise(SIGUSR1);
  }
}

int sl__ckpt_poll(sl__run *run, int *progress) {
  sl__ckpt *c = run->ckpt;
  if (!c)
    return SL_OK;
  if (c->stop_now > 0)
    SL__FAIL(SL_ERR_STOPPED,
             "stopped by a signal: checkpoint saved in %s; run the same command "
             "again to resume",
             c->dir);
  if (c->stop_now < 0)
    SL__FAIL(SL_ERR_STOPPED,
             "stopped by a signal; the checkpoint could not be saved (see the "
             "warning above), the previous one, if any, stays in %s",
             c->dir);
  if (sl__stop_flag && !c->signalled) { /* a stop signal here: ask rank 0 for a checkpoint */
    c->signalled = 1;
    if (run->rank == 0)
      c->want_stop = 1;
    else
      SL__CHECK(sl__send_ctrl(run, 0, SL__CTRL_CKPT_REQUEST, 0, 0, 0, 0));
  }
  if (!run->ckpt_active) {
    if (run->rank != 0 || c->closing)
      return SL_OK;
    double now = sl__now();
    if (c->want_stop) {
      c->want_stop = 0;
      SL__CHECK(start_epoch(run, 1));
    } else if (c->interval > 0 && now >= c->next_due) {
      c->next_due = now + c->interval; /* and again from the epoch's end (end_epoch) */
      SL__CHECK(start_epoch(run, 0));
    } else {
      return SL_OK;
    }
  }
  SL__CHECK(save_ready(run, progress));
  if (c->outcome)
    SL__CHECK(end_epoch(run));
  return SL_OK;
}

int sl__ckpt_linger(sl__run *run) {
  sl__ckpt *c = run->ckpt;
  if (!c || c->bdone)
    return 0;
  /* an epoch runs, or starts on the next turn (never once rank 0 closed: a stop asked
   * after that, by a late signal here or another rank's REQUEST, lets the job finish) */
  if (run->ckpt_active || (run->rank == 0 && c->want_stop && !c->closing))
    return 1;
  if (!c->bposted) {
    if (MPI_Ibarrier(c->bcomm, &c->breq) != MPI_SUCCESS)
      return 0;
    c->bposted = 1;
    if (run->rank == 0)
      c->closing = 1;
  }
  int done = 0;
  if (MPI_Test(&c->breq, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
    return 0;
  c->bdone = done;
  return !done;
}

/* ---- resuming ---- */

static sl__part *find_part(sl__run *run, int stage, int part) {
  if (stage < 0 || stage >= run->nstages)
    return NULL;
  sl__srun *sr = &run->stages[stage];
  for (int i = 0; i < sr->nlocal; i++)
    if (sr->parts[i]->index == part)
      return sr->parts[i];
  return NULL;
}

/* The engine's record of a partition from a section, checked. */
static int read_head(const sl__ckpt_section *s, part_head *h) {
  if (s->len < sizeof *h)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: partition %d of stage %d: a short record", s->part,
             s->stage);
  memcpy(h, s->data, sizeof *h);
  if (h->nsenders < 0 || s->len != sizeof *h + (size_t)h->nsenders)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: partition %d of stage %d: a record of %zu bytes", s->part,
             s->stage, s->len);
  return SL_OK;
}

static int mark_ended(sl__run *run, sl__part *p, int sender) {
  p->ended[sender] = 1;
  p->eos_count++;
  return sl__credits_eos(run, p, sender);
}

/* Where p was in its input and steps; which senders ended only where ended (one flag a
 * sender) is given. */
static int apply_head(sl__run *run, sl__part *p, const part_head *h, const char *ended) {
  int ns = p->stage->source.vt ? 0 : p->cr.nsenders;
  if ((ended && h->nsenders != ns) || h->finish_step > p->nsteps)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: partition %d of stage %d had %d senders, now %d", p->index,
             p->stage->index, h->nsenders, ns);
  p->input_ended = h->input_ended;
  p->finish_step = h->finish_step;
  for (int k = 0; ended && k < ns; k++)
    if (ended[k])
      SL__CHECK(mark_ended(run, p, k));
  if (h->done) {
    p->done = 1;
    sl__srun *sr = &run->stages[p->stage->index];
    sr->nopen--;
    if (sr->nopen == 0 && sr->out) /* its end of stream went out before the checkpoint */
      for (int q = 0; q < sr->out->ndest; q++)
        sr->out->dest[q].eos_pending = sr->out->dest[q].eos_sent = 1;
  }
  return SL_OK;
}

/* A kept region back in place: the k-th region of sl_checkpoint_keep. Regions kept later
 * than this point of the program (a skipped run's) are not there yet: left alone. */
static int restore_keep(sl__run *run, const sl__ckpt_section *s) {
  sl_ctx *ctx = run->ctx;
  if (s->part < 0 || s->part >= ctx->nkeep)
    return SL_OK;
  if (ctx->keep[s->part].n != s->len)
    SL__FAIL(SL_ERR_FORMAT,
             "checkpoint: region %d kept with sl_checkpoint_keep had %zu bytes, now %zu (the "
             "program keeps other state than the run that saved it)",
             s->part, s->len, ctx->keep[s->part].n);
  if (s->len)
    memcpy(ctx->keep[s->part].p, s->data, s->len);
  return SL_OK;
}

/* One section of a local partition; TAG_PART with the senders' flags (the same ranks). */
static int restore_section(sl__run *run, sl__part *p, const sl__ckpt_section *s) {
  if (s->tag == TAG_PART) {
    part_head h;
    SL__CHECK(read_head(s, &h));
    return apply_head(run, p, &h, s->data + sizeof h);
  }
  if (s->tag == TAG_SOURCE && p->stage->source.vt)
    return p->stage->source.vt->restore(p->src_state, s->data, s->len);
  if ((s->tag == TAG_STEP || s->tag == TAG_INNER) && s->step >= 0 && s->step < p->nsteps &&
      p->steps[s->step].op->restore) {
    p->steps[s->step].ckpt_inner = s->tag == TAG_INNER;
    int rc = p->steps[s->step].op->restore(p, s->step, s->data, s->len);
    p->steps[s->step].ckpt_inner = 0;
    return rc;
  }
  SL__FAIL(SL_ERR_FORMAT, "checkpoint: an unknown section (tag %u, step %d)", (unsigned)s->tag,
           s->step);
}

/* This rank's part of the checkpoint back into the run; keep_only: only the kept regions
 * (a skipped run). */
static int restore_rank(sl__run *run, int keep_only) {
  sl__ckpt *c = run->ckpt;
  sl__ckpt_reader *r = NULL;
  SL__CHECK(sl__ckpt_part_open(c->dir, (uint64_t)c->epoch, run->rank, &r));
  int rc = SL_OK, more = 1;
  while (rc == SL_OK) {
    sl__ckpt_section s;
    rc = sl__ckpt_next(r, &s, &more);
    if (rc != SL_OK || !more)
      break;
    if (s.tag == TAG_KEEP) {
      rc = restore_keep(run, &s);
      continue;
    }
    if (keep_only)
      continue;
    if (s.tag == TAG_SINK) {
      rc = run->sink->restore(run->sink_impl, run, s.data, s.len);
      continue;
    }
    if (s.tag == TAG_RUN) {
      const sl__stage *st =
          s.stage >= 0 && s.stage < run->nstages ? &run->flow->stages[s.stage] : NULL;
      if (st && s.step >= 0 && s.step < st->nsteps && st->steps[s.step].op->run_restore)
        rc = st->steps[s.step].op->run_restore(run, s.stage, s.step,
                                               run->stages[s.stage].rstate[s.step], s.data, s.len);
      else
        rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                           "checkpoint: an unknown run-wide section (stage %d, step %d)", s.stage,
                           s.step);
      continue;
    }
    sl__part *p = find_part(run, s.stage, s.part);
    if (!p) {
      rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                         "checkpoint: partition %d of stage %d is not on rank %d", s.part, s.stage,
                         run->rank);
    } else {
      rc = restore_section(run, p, &s);
    }
  }
  sl__ckpt_part_close(r);
  return rc;
}

/* A resume on another number of ranks (why_not_portable said it may): every rank reads
 * every old rank's part file and takes the sections of its own partitions; the sink's
 * parts of old rank r go to rank r * ranks / old ranks, in rank order (a sink's lines keep
 * their order). Which senders ended is not read (senders are ranks, and the ranks changed)
 * but worked out from which partitions were done: a rank has ended for its receivers once
 * every partition of the input stage it hosts is done, the same rule by which that rank's
 * output holds back its end of stream after the restore (apply_head). */
static int restore_remapped(sl__run *run) {
  sl__ckpt *c = run->ckpt;
  const sl_flow *f = run->flow;
  unsigned char **done = calloc((size_t)f->nstages, sizeof *done);
  SL__CHECK_ALLOC(done);
  int rc = SL_OK;
  for (int s = 0; rc == SL_OK && s < f->nstages; s++)
    if (!(done[s] = calloc((size_t)f->stages[s].partitions, 1)))
      rc = sl__error_nomem(__FILE__, __LINE__, "the checkpoint's partition table",
                           (size_t)f->stages[s].partitions, NULL);
  for (int r = 0; rc == SL_OK && r < c->old_ranks; r++) {
    sl__ckpt_reader *rd = NULL;
    rc = sl__ckpt_part_open(c->dir, (uint64_t)c->epoch, r, &rd);
    int more = 1;
    while (rc == SL_OK) {
      sl__ckpt_section sec;
      rc = sl__ckpt_next(rd, &sec, &more);
      if (rc != SL_OK || !more)
        break;
      if (sec.tag == TAG_SINK) {
        if ((int)((int64_t)r * run->size / c->old_ranks) == run->rank)
          rc = run->sink->restore(run->sink_impl, run, sec.data, sec.len);
        continue;
      }
      if (sec.stage < 0 || sec.stage >= f->nstages || sec.part < 0 ||
          sec.part >= f->stages[sec.stage].partitions) {
        rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                           "checkpoint: rank %d's part names partition %d of stage %d, which "
                           "this flow does not have",
                           r, sec.part, sec.stage);
        break;
      }
      sl__part *p = find_part(run, sec.stage, sec.part);
      if (sec.tag == TAG_PART) {
        part_head h;
        rc = read_head(&sec, &h);
        if (rc == SL_OK)
          done[sec.stage][sec.part] = h.done != 0;
        if (rc == SL_OK && p)
          rc = apply_head(run, p, &h, NULL);
      } else if (p) {
        rc = restore_section(run, p, &sec);
      }
    }
    sl__ckpt_part_close(rd);
  }
  for (int s = 0; rc == SL_OK && s < run->nstages; s++) {
    const sl__stage *st = &f->stages[s];
    for (int i = 0; rc == SL_OK && !st->source.vt && i < run->stages[s].nlocal; i++) {
      sl__part *p = run->stages[s].parts[i];
      for (int j = 0; rc == SL_OK && !p->done && j < st->ninputs; j++) {
        int in = st->inputs[j], np = f->stages[in].partitions;
        for (int k = 0; rc == SL_OK && k < p->cr.base[j + 1] - p->cr.base[j]; k++) {
          int all = 1;
          for (int q = k; q < np; q += run->size)
            all &= done[in][q];
          if (all)
            rc = mark_ended(run, p, p->cr.base[j] + k);
        }
      }
    }
  }
  for (int s = 0; s < f->nstages; s++)
    free(done[s]);
  free(done);
  return rc;
}

/* The keys of the identity that a skipped run must share with the checkpoint: the same
 * program on the same ranks (its inputs are checked by the run the checkpoint is of). */
static int same_program(const sl__ckpt_manifest *have, const sl__ckpt_manifest *id, char *why,
                        size_t cap) {
  sl__ckpt_manifest want = {0};
  int rc = SL_OK;
  for (size_t i = 0; rc == SL_OK && i < id->n; i++)
    if (!strcmp(id->kv[i].key, "command") || !strcmp(id->kv[i].key, "ranks"))
      rc = sl__ckpt_manifest_add(&want, id->kv[i].key, "%s", id->kv[i].value);
  int differs = rc != SL_OK || sl__ckpt_manifest_diff(have, &want, why, cap);
  if (rc != SL_OK)
    snprintf(why, cap, "out of memory comparing the checkpoint");
  sl__ckpt_manifest_free(&want);
  return differs;
}

/* Rank 0: is there a checkpoint, and may this run resume from it? 1 resume, 2 skip (the
 * checkpoint is of a later sl_run of the same program), 0 start afresh; an error
 * (recorded) when it may not. */
static int examine(sl__run *run, int *resume) {
  sl__ckpt *c = run->ckpt;
  sl__ckpt_manifest have = {0};
  int found = 0;
  *resume = 0;
  SL__CHECK(sl__ckpt_load(c->dir, &have, &found));
  if (!found)
    return SL_OK;
  char why[1024];
  const char *hr = sl__ckpt_manifest_get(&have, "run");
  int later = hr && atoi(hr) > run->ctx->runs;
  const char *had_ranks = sl__ckpt_manifest_get(&have, "ranks");
  const char *had_parts = sl__ckpt_manifest_get(&have, "partitions");
  int old = had_ranks ? atoi(had_ranks) : 0;
  int rc = SL_OK;
  if (!later && old > 0 && old != run->size) {
    /* another rank count: only where every partition count stays and what was saved
     * belongs to partitions (then compare the rest as if the counts matched) */
    const char *now_parts = sl__ckpt_manifest_get(&c->id, "partitions");
    why_not_portable(run, why, sizeof why);
    if (!had_parts || strcmp(had_parts, now_parts))
      rc = sl__error_set(SL_ERR_USAGE, __FILE__, __LINE__,
                         "--sl-checkpoint-dir %s holds a checkpoint taken on %d ranks; this run "
                         "has %d, and the flow's partition counts follow the rank count (stages' "
                         "partitions were '%s', now '%s'): resume on %d ranks",
                         c->dir, old, run->size, had_parts ? had_parts : "?", now_parts, old);
    else if (why[0])
      rc = sl__error_set(SL_ERR_USAGE, __FILE__, __LINE__,
                         "--sl-checkpoint-dir %s holds a checkpoint taken on %d ranks; this run "
                         "has %d, and this flow can resume only on %d: %s",
                         c->dir, old, run->size, old, why);
    for (size_t i = 0; rc == SL_OK && i < have.n; i++)
      if (!strcmp(have.kv[i].key, "ranks")) {
        char *v = strdup(sl__ckpt_manifest_get(&c->id, "ranks"));
        if (!v)
          rc = sl__error_nomem(__FILE__, __LINE__, "a manifest line", 16, NULL);
        else {
          free(have.kv[i].value);
          have.kv[i].value = v;
        }
      }
  }
  int differs = rc == SL_OK && (later ? same_program(&have, &c->id, why, sizeof why)
                                      : sl__ckpt_manifest_diff(&have, &c->id, why, sizeof why));
  c->epoch = (int64_t)have.epoch;
  c->old_ranks = old > 0 ? old : run->size;
  sl__ckpt_manifest_free(&have);
  if (rc != SL_OK)
    return rc;
  if (differs)
    SL__FAIL(SL_ERR_USAGE,
             "--sl-checkpoint-dir %s holds a checkpoint of another run: %s (run the same "
             "command on the same inputs to resume, or remove the directory to start afresh)",
             c->dir, why);
  *resume = later ? 2 : 1;
  return SL_OK;
}

int sl__ckpt_begin(sl__run *run) {
  const sl__options *o = &run->ctx->opt;
  if (!o->checkpoint_dir[0])
    return SL_OK;
  sl__ckpt *c = calloc(1, sizeof *c);
  MPI_Comm bc = MPI_COMM_NULL;
  int mrc = MPI_Comm_dup(run->comm, &bc);
  int rc = c ? SL_OK : sl__error_nomem(__FILE__, __LINE__, "the checkpoint state", sizeof *c, NULL);
  if (rc == SL_OK && mrc != MPI_SUCCESS)
    rc = sl__error_mpi(mrc, __FILE__, __LINE__, "MPI_Comm_dup(checkpoint)");
  if (c) {
    run->ckpt = c;
    c->bcomm = bc;
    c->breq = MPI_REQUEST_NULL;
    snprintf(c->dir, sizeof c->dir, "%s", o->checkpoint_dir);
    c->interval = o->checkpoint_interval;
    c->next_due = sl__now() + c->interval;
  }
  char why[512];
  if (rc == SL_OK) {
    why_not(run, why, sizeof why);
    if (why[0])
      rc = sl__error_set(SL_ERR_USAGE, __FILE__, __LINE__,
                         "--sl-checkpoint-dir: this flow cannot be checkpointed: %s", why);
  }
  if (rc == SL_OK)
    rc = identity(run, &c->id);
  int resume = 0;
  if (rc == SL_OK && run->rank == 0)
    rc = examine(run, &resume);
  /* rank 0's verdict to all: resume (and from which epoch), afresh, or refused */
  int64_t verdict[3] = {rc != SL_OK ? -1 : resume, c ? c->epoch : 0, c ? c->old_ranks : 0};
  if (MPI_Bcast(verdict, 3, MPI_INT64_T, 0, run->comm) != MPI_SUCCESS && rc == SL_OK)
    rc = sl__error_set(SL_ERR_MPI, __FILE__, __LINE__, "cannot agree on the checkpoint");
  if (rc == SL_OK && verdict[0] < 0)
    rc = SL_ERR_REMOTE;
  if (rc == SL_OK && verdict[0] >= 1) {
    c->epoch = verdict[1];
    c->old_ranks = (int)verdict[2];
    c->skip = verdict[0] == 2;
    run->flow->ckpt_outcome = (int)verdict[0];
    double t0 = sl__now();
    rc = c->old_ranks == run->size || c->skip ? restore_rank(run, c->skip) : restore_remapped(run);
    if (rc == SL_OK) /* where a resume's time goes, per rank (--sl-log-level=debug) */
      sl_log(run->ctx, SL_LOG_DEBUG, "rank %d: checkpoint %lld restored in %.3f s", run->rank,
             (long long)c->epoch, sl__now() - t0);
    if (rc == SL_OK && run->rank == 0)
      sl_log(run->ctx, SL_LOG_INFO,
             c->skip ? "run %d: done by an earlier job (checkpoint %lld in %s is of a later run)%s"
                     : "run %d: resuming from checkpoint %lld in %s%s",
             run->ctx->runs, (long long)c->epoch, c->dir,
             c->old_ranks == run->size ? "" : " (taken on another number of ranks)");
  }
  if (rc == SL_OK)
    test_knob(run);
  return rc;
}

int sl__ckpt_skipped(const sl__run *run) {
  return run->ckpt && run->ckpt->skip;
}

int sl_flow_checkpoint_outcome(const sl_flow *flow, int *how) {
  if (!flow || !how)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_checkpoint_outcome: NULL %s", flow ? "how" : "flow");
  *how = flow->ckpt_outcome;
  return SL_OK;
}

int sl_checkpoint_keep(sl_ctx *ctx, void *p, size_t n) {
  if (!ctx)
    SL__FAIL(SL_ERR_INVAL, "sl_checkpoint_keep: NULL ctx");
  if (!p && n)
    SL__FAIL(SL_ERR_INVAL, "sl_checkpoint_keep: NULL region of %zu bytes", n);
  if (!p) {
    ctx->nkeep = 0;
    return SL_OK;
  }
  if (ctx->nkeep == ctx->capkeep) {
    int cap = ctx->capkeep ? 2 * ctx->capkeep : 8;
    struct sl__keep *k = realloc(ctx->keep, (size_t)cap * sizeof *k);
    SL__CHECK_ALLOC(k);
    ctx->keep = k;
    ctx->capkeep = cap;
  }
  ctx->keep[ctx->nkeep++] = (struct sl__keep){p, n};
  return SL_OK;
}

void sl__ckpt_end(sl__run *run, int status) {
  if (!run->ctx->opt.checkpoint_dir[0])
    return; /* the same on every rank: the collective below is taken by all or none */
  sl__ckpt *c = run->ckpt;
  /* the lingering barrier: a rank that left the loop on a failure never posted it */
  int posted = c && c->bposted, any = 0;
  if (MPI_Allreduce(&posted, &any, 1, MPI_INT, MPI_MAX, run->comm) == MPI_SUCCESS && any && c) {
    if (!posted && MPI_Ibarrier(c->bcomm, &c->breq) == MPI_SUCCESS)
      posted = 1;
    if (posted && !c->bdone)
      (void)MPI_Wait(&c->breq, MPI_STATUS_IGNORE);
  }
  if (!c)
    return;
  /* a skipped run leaves the checkpoint of the later run it belongs to */
  if (status == SL_OK && run->rank == 0 && !c->skip && sl__ckpt_remove(c->dir) != SL_OK) {
    sl_log(run->ctx, SL_LOG_WARN, "the run succeeded but its checkpoint could not be removed: %s",
           sl__error_message());
    sl__error_clear();
  }
  if (c->w)
    sl__ckpt_part_abandon(c->w);
  if (c->bcomm != MPI_COMM_NULL)
    (void)MPI_Comm_free(&c->bcomm);
  sl__ckpt_manifest_free(&c->id);
  free(c);
  run->ckpt = NULL;
}
