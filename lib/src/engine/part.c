/* SPDX-License-Identifier: BSD-3-Clause */
/* A partition at run time: pulls its input, pushes records through the fused steps (each
 * an operator: engine/op.h), and finishes its steps in order once every upstream sender has
 * ended. */
#include <stdlib.h>
#include <string.h>

#include "engine/op.h"

static int output_blocked(const sl__part *p) {
  return p->out ? sl__out_blocked(p->out) : sl__sink_blocked(p);
}

int sl__part_drain_blocked(const sl__part *p, int k) {
  return p->flush_step > k || output_blocked(p);
}

static int capture_append(sl__part *p, const sl_record *r) {
  size_t before = p->capture.cap;
  SL__CHECK(sl__bytes_put_record(&p->capture, r));
  if (p->capture.cap != before)
    sl__state_add(p->run, (int64_t)(p->capture.cap - before));
  return SL_OK;
}

int sl_emit(sl_emitter *out, const void *key, size_t key_len, const void *value, size_t value_len) {
  if (!out)
    return SL_ERR_INVAL;
  if (__builtin_expect((key_len && !key) || (value_len && !value) || key_len > UINT32_MAX ||
                           value_len > UINT32_MAX,
                       0))
    SL__FAIL(SL_ERR_INVAL, "sl_emit: NULL data with a nonzero length, or a field over 4 GiB");
  sl_record r = {key, key_len, value, value_len};
  out->part->emitted++;
  int rc =
      out->step == SL__CAPTURE ? capture_append(out->part, &r) : sl__push(out->part, out->step, &r);
  if (rc != SL_OK && !out->part->emit_err)
    out->part->emit_err = rc;
  return rc;
}

/* A callback failed: if an sl_emit inside it failed, that engine error is the cause;
 * otherwise the callback itself failed with its own return value. */
int sl__callback_result(sl__part *p, int i, int rc) {
  if (p->emit_err) {
    int e = p->emit_err;
    p->emit_err = 0;
    return e;
  }
  return sl__callback_failed(p, i, rc);
}

int sl_batch_next(sl_batch *batch, sl_record *rec) {
  if (!batch || !rec)
    return 0;
  int rc = sl__batch_next(batch->data, batch->len, &batch->pos, rec);
  return rc > 0 ? 1 : 0;
}

int sl__callback_failed(sl__part *p, int i, int rc) {
  const char *step = i >= 0 ? p->stage->steps[i].name : "source";
  return sl__error_set(SL_ERR_CALLBACK, __FILE__, __LINE__,
                       "stage %d '%s', partition %d, step '%s': user callback failed (returned %d)",
                       p->stage->index, p->stage->name, p->index, step, rc);
}

int sl__push_out(sl__part *p, const sl_record *rec) {
  p->st->records_out++;
  if (!p->out) {
    sl__run *run = p->run;
    return run->sink_push(run->sink_impl, p, rec);
  }
  if (p->out->etime) { /* the next stage tracks event time: keep our watermark */
    int64_t t;
    int rc = p->out->etime(rec, &t, p->out->etime_arg);
    if (rc)
      return sl__error_set(SL_ERR_CALLBACK, __FILE__, __LINE__,
                           "stage %d '%s', partition %d: event-time function failed "
                           "(returned %d)",
                           p->stage->index, p->stage->name, p->index, rc);
    if (t > p->wm_sent)
      p->wm_sent = t;
    p->out->cur_t = t;
  }
  return sl__out_emit(p->out, rec);
}

/* Step i's instance: its operator, or the stage's wrapper around the first step it applies
 * to (e.g. windows around the stage's reducer: sl__stage.wrap). */
static int step_setup(sl__part *p, int i, int *wrapped) {
  const sl__stage *st = p->stage;
  sl__stepinst *si = &p->steps[i];
  si->step = &st->steps[i];
  si->op = si->step->op;
  if (st->wrap && (si->step->flags & SL__OPF_WRAPPABLE) && !*wrapped) {
    si->inner = si->op;
    si->op = st->wrap;
    *wrapped = 1;
  }
  si->push = si->op->push;
  if ((si->op->watermark || si->op->tick) && p->wm_step < 0)
    p->wm_step = i; /* the first step with time hooks: the loops below start there */
  return si->op->create ? si->op->create(p, i) : SL_OK;
}

int sl__part_setup(sl__run *run, sl__part *p) {
  const sl__stage *st = p->stage;
  p->run = run;
  p->nsteps = st->nsteps;
  p->flush_step = -1;
  p->wm_step = -1;
  p->pending_step = -1;
  p->cur_sender = -1;
  p->wm_sent = INT64_MIN;
  p->steps = calloc((size_t)st->nsteps + 1, sizeof *p->steps);
  p->em = calloc((size_t)st->nsteps + 1, sizeof *p->em);
  SL__CHECK_ALLOC(p->steps);
  SL__CHECK_ALLOC(p->em);
  for (int i = 0; i <= st->nsteps; i++)
    p->em[i] = (sl_emitter){p, i};
  /* the credits first: a step may size its state by the senders (watermarks per sender) */
  if (!st->source.vt) {
    SL__CHECK(sl__credits_init(run, p));
    int n = p->cr.nsenders > 0 ? p->cr.nsenders : 1;
    p->ended = calloc((size_t)n, 1);
    p->barrier = calloc((size_t)n, sizeof *p->barrier);
    SL__CHECK_ALLOC(p->ended);
    SL__CHECK_ALLOC(p->barrier);
  }
  int wrapped = 0;
  for (int i = 0; i < st->nsteps; i++)
    SL__CHECK(step_setup(p, i, &wrapped));
  if (st->source.vt) {
    const sl__source *src = &st->source;
    SL__CHECK(src->vt->open((sl__source *)src, p->index, st->partitions, &p->src_state));
  }
  return SL_OK;
}

void sl__part_teardown(sl__part *p) {
  if (!p)
    return;
  sl__run *run = p->run;
  if (p->src_state)
    p->stage->source.vt->close(p->src_state);
  for (int i = 0; p->steps && i < p->nsteps; i++)
    if (p->steps[i].op && p->steps[i].op->destroy)
      p->steps[i].op->destroy(p, i);
  while (p->in_head) {
    sl__buf *b = p->in_head;
    p->in_head = b->next;
    sl__buf_release(run, b);
  }
  sl__credits_free(&p->cr);
  free(p->ended);
  free(p->barrier);
  free(p->steps);
  free(p->em);
  sl__bytes_free(&p->capture);
  free(p);
}

static int consume(sl__part *p, sl__buf *b) {
  p->cur_slot = b->slot;
  p->cur_sender = p->cr.base[b->slot] + b->src_rank;
  if (b->pos == 0 && p->nsteps && p->steps[0].op->push_batch) { /* the whole batch at once */
    p->st->records_in += b->nrec;
    SL__CHECK(p->steps[0].op->push_batch(p, 0, sl__buf_payload(b), b->len, b->nrec));
    b->pos = b->len;
    return SL_OK;
  }
  const char *data = sl__buf_payload(b);
  while (b->pos < b->len) {
    if (sl__part_blocked(p))
      return SL_OK;
    sl_record rec;
    int r = sl__batch_next(data, b->len, &b->pos, &rec);
    if (r < 0)
      SL__FAIL(SL_ERR_INTERNAL, "malformed batch from rank %d", b->src_rank);
    p->st->records_in++;
    SL__CHECK(sl__push(p, 0, &rec));
  }
  return SL_OK;
}

/* A sender's watermark rose (a batch or its end of stream consumed). */
static int watermark(sl__part *p, int sender, int64_t wm) {
  for (int i = p->wm_step; i >= 0 && i < p->nsteps; i++)
    if (p->steps[i].op->watermark)
      SL__CHECK(p->steps[i].op->watermark(p, i, sender, wm));
  return SL_OK;
}

static void pop_input(sl__part *p) {
  sl__buf *b = p->in_head;
  p->in_head = b->next;
  if (!p->in_head)
    p->in_tail = NULL;
}

/* Seconds a partition may work before the loop turns again (after at least one unit). */
#define SL__WORK_SLICE 0.02

/* The trace's name for a turn of work: the stage, or the step it drains ("sort" in 'sort'). */
static void trace_work(sl__part *p, int draining, double a, double b) {
  char name[160];
  const char *stage = p->stage->name;
  if (draining && p->finish_step < p->nsteps)
    snprintf(name, sizeof name, "%s: %s", stage, p->steps[p->finish_step].op->name);
  else if (draining)
    snprintf(name, sizeof name, "%s: finish", stage);
  else
    snprintf(name, sizeof name, "%s", stage);
  sl__trace_span(p->run, SL__TRACK_LOOP, name, a, b);
}

int sl__part_work(sl__part *p, int *progress) {
  if (p->done || p->snapped) /* snapped: its checkpoint is saved, it waits for the commit */
    return SL_OK;
  sl__run *run = p->run;
  sl__srun *sr = &run->stages[p->stage->index];
  double t0 = sl__now();
  int rc = SL_OK, before = *progress;
  int draining = p->input_ended && p->finish_step < p->nsteps; /* names the trace's span */
  /* no timer fires while a checkpoint runs: what it emitted would follow the barrier */
  for (int i = p->wm_step;
       i >= 0 && i < p->nsteps && !p->input_ended && !run->ckpt_active && rc == SL_OK; i++)
    if (p->steps[i].op->tick)
      rc = p->steps[i].op->tick(p, i);
  for (int iter = 0; iter < 64 && rc == SL_OK; iter++) {
    /* at most 64 units, and no longer than a time slice: with slow callbacks 64 pulls of
     * a source can take seconds, and the loop must still turn (credits, progress) */
    if (iter > 0 && sl__now() - t0 > SL__WORK_SLICE)
      break;
    sl__out *o = p->out;
    if (o && sl__out_blocked(o)) {
      if (o->stall_since == 0)
        o->stall_since = sl__now();
      rc = sl__out_unstick(o);
      break;
    }
    if (!o && sl__sink_blocked(p))
      break; /* the sink's progress hook frees it */
    if (o && o->stall_since != 0) {
      double now = sl__now();
      p->st->stall += now - o->stall_since;
      if (run->trace)
        sl__trace_span(run, SL__TRACK_WAIT, p->stage->name, o->stall_since, now);
      o->stall_since = 0;
    }
    if (p->flush_step < 0 && p->pending_step >= 0)
      p->flush_step = p->pending_step;
    if (p->flush_step >= 0) {
      int fin = 1, k = p->flush_step;
      if (p->steps[k].op->drain) /* a step without one holds nothing to flush */
        rc = p->steps[k].op->drain(p, k, &fin);
      if (fin && p->flush_step == k) /* a later step may have asked to drain meanwhile */
        p->flush_step = -1;
      (*progress)++;
      continue;
    }
    if (!p->input_ended) {
      if (p->stage->source.vt) {
        /* a checkpoint runs and this partition has not saved yet: no more input, only its
         * queued drains, so that it comes to a point where it can save (between two pulls,
         * no trigger queued), even when every pull queues triggers (windows) */
        if (run->ckpt_active)
          break;
        int done = 0;
        p->cur_slot = 0;
        p->cur_sender = -1;
        rc = p->stage->source.vt->pull(p->src_state, p, &p->em[0], &done);
        if (done)
          p->input_ended = 1;
        if (p->src_idle && !done) { /* nothing for now: let the loop flush, tick, back off */
          p->src_idle = 0;
          break;
        }
        (*progress)++;
        continue;
      }
      sl__buf *b = p->in_head;
      if (!b) {
        if (p->eos_count < p->cr.nsenders)
          break; /* waiting for upstream */
        p->input_ended = 1;
        continue;
      }
      if (b->type == SL__MSG_BARRIER) { /* engine/checkpoint.c aligns on these */
        pop_input(p);
        p->barrier[p->cr.base[b->slot] + b->src_rank] = b->wm;
        sl__buf_release(run, b);
        (*progress)++;
        continue;
      }
      if (b->type == SL__MSG_EOS) {
        pop_input(p);
        p->eos_count++;
        int sender = p->cr.base[b->slot] + b->src_rank;
        p->ended[sender] = 1;
        rc = sl__credits_eos(run, p, sender);
        if (rc == SL_OK)
          rc = watermark(p, sender, INT64_MAX);
        sl__buf_release(run, b);
        (*progress)++;
        continue;
      }
      rc = consume(p, b);
      if (rc == SL_OK && b->pos >= b->len) {
        pop_input(p);
        int sender = p->cr.base[b->slot] + b->src_rank;
        rc = sl__credits_consumed(run, p, sender);
        if (rc == SL_OK && b->wm != INT64_MIN)
          rc = watermark(p, sender, b->wm);
        sl__buf_release(run, b);
      }
      (*progress)++;
      continue;
    }
    if (p->finish_step < p->nsteps) {
      int fin = 1;
      const sl__stepinst *si = &p->steps[p->finish_step];
      p->waiting = 0;
      if (si->op->drain)
        rc = si->op->drain(p, p->finish_step, &fin);
      if (p->waiting)
        break; /* e.g. waiting for a collective of its operator */
      if (fin)
        p->finish_step++;
      (*progress)++;
      continue;
    }
    p->done = 1;
    sr->nopen--;
    if (sr->nopen == 0 && sr->out)
      rc = sl__out_stage_done(sr->out);
    (*progress)++;
    break;
  }
  double now = sl__now();
  p->st->work += now - t0;
  if (*progress != before) { /* it did something: the stage was active until now */
    if (p->st->first == 0)
      p->st->first = t0;
    p->st->last = now;
    if (run->trace)
      trace_work(p, draining, t0, now);
  }
  if (rc == SL_OK && p->out && !p->done)
    rc = sl__out_flush_aged(p->out, now);
  return rc;
}
