/* A partition at run time: pulls its input, pushes records through the fused steps, and
 * finishes its steps in order once every upstream sender has ended. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

static int output_blocked(const sl__part *p) {
  return p->out ? sl__out_blocked(p->out) : sl__sink_blocked(p);
}

int sl__part_drain_blocked(const sl__part *p, int k) {
  return p->flush_step > k || output_blocked(p);
}

static int capture_append(sl__part *p, const sl_record *r) {
  size_t need = sl__rec_size(r->key_len, r->value_len);
  if (p->capture_cap - p->capture_len < need) {
    size_t cap = p->capture_cap ? p->capture_cap : 4096;
    while (cap - p->capture_len < need)
      cap *= 2;
    char *n = realloc(p->capture, cap);
    SL__CHECK_ALLOC(n);
    sl__state_add(p->run, (int64_t)(cap - p->capture_cap));
    p->capture = n;
    p->capture_cap = cap;
  }
  sl__batch_append(p->capture, p->capture_cap, &p->capture_len, r->key, r->key_len, r->value,
                   r->value_len);
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

int sl__push(sl__part *p, int i, const sl_record *rec) {
  if (i == p->nsteps) {
    p->st->records_out++;
    if (!p->out) {
      sl__run *run = p->run;
      return run->sink_push ? run->sink_push(run->sink_impl, p, rec) : sl__sink_push(p, rec);
    }
    if (p->out->wtime) { /* the next stage has a fixed window: track our watermark */
      int64_t t;
      int rc = p->out->wtime(rec, &t, p->out->wtime_arg);
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
  const sl__step *s = p->steps[i].step;
  int rc;
  switch (s->kind) {
  case SL__STEP_MAP: {
    sl_record o = {0};
    rc = ((sl_map_fn)s->fn)(rec, &o, s->arg);
    if (rc)
      return sl__callback_failed(p, i, rc);
    return sl__push(p, i + 1, &o);
  }
  case SL__STEP_FLAT_MAP:
    rc = ((sl_flat_map_fn)s->fn)(rec, &p->em[i + 1], s->arg);
    if (rc)
      return sl__callback_result(p, i, rc);
    return SL_OK;
  case SL__STEP_FILTER:
  case SL__STEP_REJECT:
    rc = ((sl_filter_fn)s->fn)(rec, s->arg);
    if (rc < 0)
      return sl__callback_failed(p, i, rc);
    if ((rc > 0) == (s->kind == SL__STEP_FILTER))
      return sl__push(p, i + 1, rec);
    return SL_OK;
  case SL__STEP_EACH:
    rc = ((sl_each_fn)s->fn)(rec, s->arg);
    if (rc)
      return sl__callback_failed(p, i, rc);
    return sl__push(p, i + 1, rec);
  default:
    return sl__step_push(p, i, rec);
  }
}

int sl__part_setup(sl__run *run, sl__part *p) {
  const sl__stage *st = p->stage;
  p->run = run;
  p->nsteps = st->nsteps;
  p->flush_step = -1;
  p->wstep = -1;
  p->wpending = -1;
  p->cur_sender = -1;
  p->wm_sent = INT64_MIN;
  p->steps = calloc((size_t)st->nsteps + 1, sizeof *p->steps);
  p->em = calloc((size_t)st->nsteps + 1, sizeof *p->em);
  SL__CHECK_ALLOC(p->steps);
  SL__CHECK_ALLOC(p->em);
  for (int i = 0; i <= st->nsteps; i++)
    p->em[i] = (sl_emitter){p, i};
  for (int i = 0; i < st->nsteps; i++) {
    SL__CHECK(sl__step_create(run, &st->steps[i], &p->steps[i]));
    if (st->windowed && p->wstep < 0 &&
        (sl__step_kind_is_reducer(st->steps[i].kind) || st->steps[i].kind == SL__STEP_JOIN))
      p->wstep = i;
  }
  if (st->source.vt) {
    const sl__source *src = &st->source;
    SL__CHECK(src->vt->open((sl__source *)src, p->index, st->partitions, &p->src_state));
  } else {
    SL__CHECK(sl__credits_init(run, p));
  }
  if (st->windowed && p->wstep < 0)
    SL__FAIL(SL_ERR_STATE,
             "stage %d '%s' has a window or on_trigger but no reducer to apply it to (add "
             "sl_flow_reduce, reduce_by_key, group_by_key or a join to the stage)",
             st->index, st->name);
  if (p->wstep >= 0)
    SL__CHECK(sl__window_create(run, p, p->wstep));
  return SL_OK;
}

void sl__part_teardown(sl__part *p) {
  if (!p)
    return;
  sl__run *run = p->run;
  if (p->src_state)
    p->stage->source.vt->close(p->src_state);
  for (int i = 0; i < p->nsteps; i++)
    sl__step_destroy(run, &p->steps[i]);
  while (p->in_head) {
    sl__buf *b = p->in_head;
    p->in_head = b->next;
    sl__buf_release(run, b);
  }
  sl__credits_free(&p->cr);
  free(p->steps);
  free(p->em);
  free(p->capture);
  free(p);
}

/* Whole-batch input for a stage that starts with map_batch. */
static int run_map_batch(sl__part *p, sl__buf *b) {
  const sl__step *s = p->steps[0].step;
  sl_batch batch = {sl__buf_payload(b), b->len, 0};
  p->st->records_in += b->nrec;
  int rc = ((sl_map_batch_fn)s->fn)(&batch, &p->em[1], s->arg);
  if (rc)
    return sl__callback_result(p, 0, rc);
  b->pos = b->len;
  return SL_OK;
}

static int consume(sl__part *p, sl__buf *b) {
  p->cur_slot = b->slot;
  p->cur_sender = p->cr.base[b->slot] + b->src_rank;
  if (b->pos == 0 && p->nsteps && p->steps[0].step->kind == SL__STEP_MAP_BATCH)
    return run_map_batch(p, b);
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

static void pop_input(sl__part *p) {
  sl__buf *b = p->in_head;
  p->in_head = b->next;
  if (!p->in_head)
    p->in_tail = NULL;
}

int sl__part_work(sl__part *p, int *progress) {
  if (p->done)
    return SL_OK;
  sl__run *run = p->run;
  sl__srun *sr = &run->stages[p->stage->index];
  double t0 = sl__now();
  int rc = SL_OK;
  if (p->wstep >= 0 && !p->input_ended)
    rc = sl__window_tick(p);
  for (int iter = 0; iter < 64 && rc == SL_OK; iter++) {
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
      p->st->stall += sl__now() - o->stall_since;
      o->stall_since = 0;
    }
    if (p->flush_step < 0 && p->wpending >= 0)
      p->flush_step = p->wpending;
    if (p->flush_step >= 0) {
      int fin = 0, k = p->flush_step;
      rc = sl__step_drain(p, k, &fin);
      if (fin && p->flush_step == k) /* a later step may have asked to drain meanwhile */
        p->flush_step = -1;
      (*progress)++;
      continue;
    }
    if (!p->input_ended) {
      if (p->stage->source.vt) {
        int done = 0;
        p->cur_slot = 0;
        p->cur_sender = -1;
        rc = p->stage->source.vt->pull(p->src_state, p, &p->em[0], &done);
        if (done)
          p->input_ended = 1;
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
      if (b->type == SL__MSG_EOS) {
        pop_input(p);
        p->eos_count++;
        int sender = p->cr.base[b->slot] + b->src_rank;
        rc = sl__credits_eos(run, p, sender);
        if (rc == SL_OK && p->wstep >= 0)
          rc = sl__window_watermark(p, sender, INT64_MAX);
        sl__buf_release(run, b);
        (*progress)++;
        continue;
      }
      rc = consume(p, b);
      if (rc == SL_OK && b->pos >= b->len) {
        pop_input(p);
        int sender = p->cr.base[b->slot] + b->src_rank;
        rc = sl__credits_consumed(run, p, sender);
        if (rc == SL_OK && p->wstep >= 0 && b->wm != INT64_MIN)
          rc = sl__window_watermark(p, sender, b->wm);
        sl__buf_release(run, b);
      }
      (*progress)++;
      continue;
    }
    if (p->finish_step < p->nsteps) {
      int fin = 1;
      p->waiting = 0;
      if (sl__step_has_state(p->steps[p->finish_step].step))
        rc = sl__step_drain(p, p->finish_step, &fin);
      if (p->waiting)
        break; /* e.g. a sort waiting for its splitters */
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
  p->st->user += sl__now() - t0;
  return rc;
}
