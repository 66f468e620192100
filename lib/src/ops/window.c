/* SPDX-License-Identifier: BSD-3-Clause */
/* Windows and triggers of a reducer step (Flow.Window), per partition: an operator that
 * wraps the stage's first wrappable step (a reducer or a join; engine/op.h, the stage's
 * `wrap`).
 *
 * Each open window owns a state of the wrapped operator (made by its create, as an
 * unwindowed step's); the step instance's state is swapped to the window being folded into
 * or emitted, and the wrapped operator's push and drain run on it. A trigger is queued, not run in
 * place: records arriving while triggers wait (from the same input record's fan-out) are held in a
 * small replay buffer, and the partition stops taking input (p->pending_step) until the queue is
 * empty, so every trigger sees exactly the records before it, and its emission can pause when the
 * output is blocked and resume.
 *
 * Event time (fixed windows): the watermark is the minimum over the senders of the latest
 * event time each has sent. It rises with each record folded (that sender's running
 * maximum: exact at record granularity for one sender) and with the watermark carried by
 * each batch header (the sender rank's own, covering what it sent to other partitions)
 * and end-of-stream markers (no limit). In a source stage it is the partition's own latest
 * time.
 *
 * Empty windows (Flow's semantics): every fixed window from the partition's first one up to the
 * watermark closes with its triggers, records or not, and every periodic window whose period
 * ended; at the end of the input, the windows up to the last one that holds records. An empty
 * window's state is made only when its trigger fires (a queued fire with `make`), so a jump
 * costs a queue entry per window, and at most --sl-window-empty-limit of them per jump (the
 * rest are skipped, with a warning). */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

typedef struct win {
  int64_t id;
  void *state; /* the reducer's state for this window */
  int draining;
  int64_t since;       /* records folded since its last "every" trigger */
  int touched;         /* records folded since its last periodic trigger */
  int watermark_fired; /* fixed with lateness: "watermark" queued */
  int closing;         /* "done" queued */
  unsigned char *tstate;
} win;

typedef struct fire {
  int64_t id;
  const char *name;
  int reset; /* start from an empty accumulator afterwards */
  int close; /* "done": discard the window afterwards */
  int make;  /* an empty window: make its state when it fires */
} fire;

enum { PEND_SKIP_TRIGGER = 1, PEND_WATERMARK = 2 };

typedef struct wstate {
  const sl_window *w;
  win *wins; /* open windows, ascending id */
  int nwins, capwins;
  fire *q; /* FIFO of triggers to fire */
  int qhead, qlen, qcap;
  sl__bytes tag;  /* the key of a tagged trigger (sl__stage.tag_triggers) */
  sl__bytes pend; /* entries: [u8 flags][i32 slot][i32 sender][i64 wm][record] */
  size_t pend_pos;
  int64_t cur_id;    /* count / periodic: the current window */
  int64_t in_window; /* count: records in the current window */
  double t0, next_window_tick, next_trigger_tick;
  int64_t *swm;        /* fixed: latest event time per sender */
  unsigned char *sone; /* the sender rank hosts one partition of its stage: its records
                          alone show how far it has got */
  int nsenders;
  int64_t own_wm, wm;
  int64_t gap_from; /* fixed: the first window start the watermark has not passed yet */
  int have_gap;     /* gap_from is set (a window was seen) */
  int warned_skip;  /* the empty-window limit was hit once (warned) */
  int final_queued;
  int firing;       /* the head trigger's emission has started */
  size_t replay_at; /* replaying the entry that starts here (SIZE_MAX: not replaying) */
  int restoring;    /* checkpoints: the window whose inner chunks come next */
} wstate;

static wstate *ws_of(sl__part *p, int i) {
  return p->steps[i].wrap;
}

/* floor(t / d) * d (saturated at INT64_MIN), and a + b saturated, for any int64 time */
static int64_t window_start(int64_t t, int64_t d) {
  int64_t q = t / d, s;
  if (t % d < 0)
    q--;
  if (__builtin_mul_overflow(q, d, &s))
    return INT64_MIN;
  return s;
}
static int64_t add_sat(int64_t a, int64_t b) {
  if (b > 0 && a > INT64_MAX - b)
    return INT64_MAX;
  return a + b;
}

/* ---- window states ---- */
static int state_new(sl__part *p, int i, void **state) {
  sl__stepinst *si = &p->steps[i];
  void *cur = si->state;
  si->state = NULL;
  int rc = si->inner->create ? si->inner->create(p, i) : SL_OK;
  *state = si->state;
  si->state = cur;
  return rc;
}

static void state_free(sl__part *p, int i, void *state) {
  sl__stepinst *si = &p->steps[i];
  void *cur = si->state;
  si->state = state;
  if (si->inner->destroy)
    si->inner->destroy(p, i);
  si->state = cur;
}

static win *find(wstate *ws, int64_t id) {
  for (int k = 0; k < ws->nwins; k++)
    if (ws->wins[k].id == id)
      return &ws->wins[k];
  return NULL;
}

static int find_or_add(sl__part *p, int i, wstate *ws, int64_t id, win **out) {
  win *w = find(ws, id);
  if (w) {
    *out = w;
    return SL_OK;
  }
  if (ws->nwins == ws->capwins) {
    int cap = ws->capwins ? 2 * ws->capwins : 4;
    win *n = realloc(ws->wins, (size_t)cap * sizeof *n);
    SL__CHECK_ALLOC(n);
    ws->wins = n;
    ws->capwins = cap;
  }
  int k = ws->nwins;
  while (k > 0 && ws->wins[k - 1].id > id)
    k--;
  memmove(&ws->wins[k + 1], &ws->wins[k], (size_t)(ws->nwins - k) * sizeof *ws->wins);
  w = &ws->wins[k];
  memset(w, 0, sizeof *w);
  w->id = id;
  ws->nwins++;
  if (ws->w->trigger_state_size) {
    w->tstate = calloc(1, ws->w->trigger_state_size);
    SL__CHECK_ALLOC(w->tstate);
  }
  SL__CHECK(state_new(p, i, &w->state));
  *out = w;
  return SL_OK;
}

static void remove_win(sl__part *p, int i, wstate *ws, win *w) {
  state_free(p, i, w->state);
  free(w->tstate);
  int k = (int)(w - ws->wins);
  memmove(&ws->wins[k], &ws->wins[k + 1], (size_t)(ws->nwins - k - 1) * sizeof *ws->wins);
  ws->nwins--;
}

static int queue_fire_m(sl__part *p, int i, wstate *ws, int64_t id, const char *name, int reset,
                        int close, int make) {
  if (ws->qlen == ws->qcap) {
    int cap = ws->qcap ? 2 * ws->qcap : 8;
    fire *n = malloc((size_t)cap * sizeof *n);
    SL__CHECK_ALLOC(n);
    for (int k = 0; k < ws->qlen; k++)
      n[k] = ws->q[(ws->qhead + k) % ws->qcap];
    free(ws->q);
    ws->q = n;
    ws->qcap = cap;
    ws->qhead = 0;
  }
  ws->q[(ws->qhead + ws->qlen) % ws->qcap] = (fire){id, name, reset, close, make};
  ws->qlen++;
  p->pending_step = i;
  return SL_OK;
}

static int queue_fire(sl__part *p, int i, wstate *ws, int64_t id, const char *name, int reset,
                      int close) {
  return queue_fire_m(p, i, ws, id, name, reset, close, 0);
}

/* The empty-window limit was hit: say so once per partition (Flow has no limit). */
static void warn_skipped(sl__part *p, wstate *ws, uint64_t n, const char *what) {
  if (ws->warned_skip)
    return;
  ws->warned_skip = 1;
  sl_log(p->run->ctx, SL_LOG_WARN,
         "stage %d '%s', partition %d: %s skipped %llu empty windows beyond "
         "--sl-window-empty-limit=%d (they emit nothing)",
         p->stage->index, p->stage->name, p->index, what, (unsigned long long)n,
         p->run->ctx->opt.window_empty_limit);
}

/* ---- the replay buffer ---- */
static int pend_add(wstate *ws, int flags, int slot, int sender, int64_t wm, const sl_record *r) {
  size_t need = 1 + 4 + 4 + 8 + (r ? sl__rec_size(r->key_len, r->value_len) : 0);
  SL__CHECK(sl__bytes_reserve(&ws->pend, need, 0));
  char *e = ws->pend.p + ws->pend.len;
  unsigned char f = (unsigned char)flags;
  int32_t s32 = slot, n32 = sender;
  memcpy(e, &f, 1);
  memcpy(e + 1, &s32, 4);
  memcpy(e + 5, &n32, 4);
  memcpy(e + 9, &wm, 8);
  ws->pend.len += 17;
  if (r)
    sl__batch_append(ws->pend.p, ws->pend.cap, &ws->pend.len, r->key, r->key_len, r->value,
                     r->value_len);
  return SL_OK;
}

static int pending(const wstate *ws) {
  return ws->qlen > 0 || ws->pend_pos < ws->pend.len;
}

/* ---- watermark (fixed windows) ---- */
/* The triggers of one window the watermark passed: "watermark" when it passes the end (with
 * an allowed lateness), "done" when it passes the end plus the lateness; at the end of the
 * input "done" only, as Flow does. */
static int queue_window_passed(sl__part *p, int i, wstate *ws, int64_t id, win *w, int ended) {
  const sl_window *W = ws->w;
  int64_t end = add_sat(id, W->duration);
  int fired = w ? w->watermark_fired : 0;
  int make = w == NULL;
  if (!ended && W->lateness > 0 && !fired && end <= ws->wm) {
    if (w)
      w->watermark_fired = 1;
    SL__CHECK(queue_fire_m(p, i, ws, id, "watermark", 0, 0, make));
  }
  if (ended || add_sat(end, W->lateness) <= ws->wm) {
    if (w)
      w->closing = 1;
    SL__CHECK(queue_fire_m(p, i, ws, id, "done", 0, 1, make));
  }
  return SL_OK;
}

/* Queue the triggers of every window the watermark passed, in window order: the open
 * windows and the empty ones between the first window seen and the watermark (ended: up to
 * the last open window). */
static int queue_passed(sl__part *p, int i, wstate *ws, int ended) {
  const sl_window *W = ws->w;
  const int64_t d = W->duration;
  int64_t last = INT64_MIN; /* the last empty window start to fill, inclusive */
  int fill = ws->have_gap;
  if (fill && ended) {
    fill = ws->nwins > 0;
    if (fill)
      last = ws->wins[ws->nwins - 1].id;
  } else if (fill) {
    fill = ws->wm >= INT64_MIN + d;
    if (fill)
      last = window_start(ws->wm - d, d); /* its end is at or before the watermark */
  }
  if (fill && last < ws->gap_from)
    fill = 0;
  int64_t s = fill ? ws->gap_from : INT64_MAX;
  int budget = p->run->ctx->opt.window_empty_limit;
  int k = 0;
  for (;;) {
    while (k < ws->nwins && ws->wins[k].closing)
      k++;
    int64_t wid = k < ws->nwins ? ws->wins[k].id : INT64_MAX;
    int gap = fill && s <= last;
    if (!gap && k >= ws->nwins)
      break;
    if (k < ws->nwins && (!gap || wid <= s)) { /* an open window */
      win *w = &ws->wins[k++];
      if (gap && wid == s) {
        if (s > INT64_MAX - d)
          fill = 0; /* the last representable window */
        else
          s += d;
      }
      if (ended || add_sat(w->id, d) <= ws->wm)
        SL__CHECK(queue_window_passed(p, i, ws, w->id, w, ended));
      continue;
    }
    if (budget <= 0) { /* skip the rest of the gap; count the windows skipped */
      uint64_t n = ((uint64_t)last - (uint64_t)s) / (uint64_t)d + 1;
      for (int j = k; j < ws->nwins; j++)
        if (ws->wins[j].id >= s && ws->wins[j].id <= last && n > 0)
          n--;
      warn_skipped(p, ws, n, "the watermark jumped:");
      s = INT64_MAX;
      fill = 0;
      continue;
    }
    budget--;
    SL__CHECK(queue_window_passed(p, i, ws, s, NULL, ended));
    s = s > INT64_MAX - d ? INT64_MAX : s + d;
    if (s == INT64_MAX)
      fill = 0;
  }
  if (ws->have_gap && last != INT64_MIN && last >= ws->gap_from)
    ws->gap_from = add_sat(last, d);
  return SL_OK;
}

static int advance(sl__part *p, int i, wstate *ws, int sender, int64_t t, int from_record) {
  int64_t nwm;
  if (from_record && sender >= 0 && ws->nsenders && !ws->sone[sender])
    return SL_OK; /* several partitions share that rank's order: wait for its header */
  if (sender < 0 || !ws->nsenders) {
    if (t > ws->own_wm)
      ws->own_wm = t;
    nwm = ws->own_wm;
  } else {
    if (t > ws->swm[sender])
      ws->swm[sender] = t;
    nwm = INT64_MAX;
    for (int s = 0; s < ws->nsenders; s++)
      if (ws->swm[s] < nwm)
        nwm = ws->swm[s];
  }
  if (nwm <= ws->wm)
    return SL_OK;
  ws->wm = nwm;
  return queue_passed(p, i, ws, nwm == INT64_MAX);
}

static int window_watermark(sl__part *p, int i, int sender, int64_t wm) {
  wstate *ws = ws_of(p, i);
  if (ws->w->kind != SL_WINDOW_FIXED)
    return SL_OK;
  if (pending(ws)) /* after the records that arrived before it */
    return pend_add(ws, PEND_WATERMARK, 0, sender, wm, NULL);
  return advance(p, i, ws, sender, wm, 0);
}

/* ---- folding one record ---- */
static int fold(sl__part *p, int i, wstate *ws, const sl_record *rec, int flags) {
  const sl_window *W = ws->w;
  sl__stepinst *si = &p->steps[i];
  int64_t id = 0, t = 0;
  int rc;
  if (W->kind == SL_WINDOW_COUNT || W->kind == SL_WINDOW_PERIODIC) {
    id = ws->cur_id;
  } else if (W->kind == SL_WINDOW_FIXED) {
    rc = W->time(rec, &t, W->time_arg);
    if (rc)
      return sl__error_set(SL_ERR_CALLBACK, __FILE__, __LINE__,
                           "stage %d '%s', partition %d: event-time function failed (returned %d)",
                           p->stage->index, p->stage->name, p->index, rc);
    id = window_start(t, W->duration);
    if (add_sat(add_sat(id, W->duration), W->lateness) <= ws->wm) {
      p->st->late_dropped++; /* its window is done */
      return SL_OK;
    }
    /* Empty windows are filled from the earliest window seen before the watermark passed
     * it (Flow catches up from the smallest window it holds): no window at or after id has
     * been passed yet, so moving the start back emits nothing twice. */
    if (!ws->have_gap || (id < ws->gap_from && add_sat(id, W->duration) > ws->wm)) {
      ws->have_gap = 1;
      ws->gap_from = id;
    }
  }
  win *w;
  SL__CHECK(find_or_add(p, i, ws, id, &w));
  int tr = 0;
  if (W->trigger == 3 && !(flags & PEND_SKIP_TRIGGER)) {
    tr = W->trigger_fn(rec, w->tstate, W->trigger_arg);
    if (tr < 0)
      return sl__callback_failed(p, i, tr);
    if (tr & SL_TRIGGER_FIRE_BEFORE) { /* fire, then fold it */
      SL__CHECK(queue_fire(p, i, ws, id, W->trigger_name, !!(tr & SL_TRIGGER_RESET_FLAG), 0));
      if (ws->replay_at != SIZE_MAX) { /* held already: fold it again from where it is */
        ws->pend.p[ws->replay_at] = PEND_SKIP_TRIGGER;
        ws->pend_pos = ws->replay_at;
        return SL_OK;
      }
      return pend_add(ws, PEND_SKIP_TRIGGER, p->cur_slot, p->cur_sender, 0, rec);
    }
  }
  si->state = w->state;
  si->draining = 0;
  rc = si->inner->push(p, i, rec);
  w->state = si->state;
  si->state = NULL;
  if (rc)
    return rc;
  w->since++;
  w->touched = 1;
  if (tr & SL_TRIGGER_FIRE)
    SL__CHECK(queue_fire(p, i, ws, id, W->trigger_name, !!(tr & SL_TRIGGER_RESET_FLAG), 0));
  if (W->trigger == 1 && w->since >= W->every) {
    w->since = 0;
    SL__CHECK(queue_fire(p, i, ws, id, "every", W->action == SL_TRIGGER_RESET, 0));
  }
  if (W->kind == SL_WINDOW_COUNT && ++ws->in_window >= W->count) {
    w->closing = 1;
    SL__CHECK(queue_fire(p, i, ws, id, "done", 0, 1));
    ws->cur_id++;
    ws->in_window = 0;
  }
  if (W->kind == SL_WINDOW_FIXED)
    SL__CHECK(advance(p, i, ws, p->cur_sender, t, 1));
  return SL_OK;
}

static int window_push(sl__part *p, int i, const sl_record *rec) {
  wstate *ws = ws_of(p, i);
  if (pending(ws)) /* triggers wait: keep the order */
    return pend_add(ws, 0, p->cur_slot, p->cur_sender, 0, rec);
  return fold(p, i, ws, rec, 0);
}

/* Fold the held records until a trigger is queued again. */
static int replay(sl__part *p, int i, wstate *ws) {
  int slot = p->cur_slot, sender = p->cur_sender;
  int rc = SL_OK;
  while (rc == SL_OK && ws->qlen == 0 && ws->pend_pos < ws->pend.len) {
    size_t start = ws->pend_pos;
    const char *e = ws->pend.p + ws->pend_pos;
    unsigned char f;
    int32_t s32, n32;
    int64_t wm;
    memcpy(&f, e, 1);
    memcpy(&s32, e + 1, 4);
    memcpy(&n32, e + 5, 4);
    memcpy(&wm, e + 9, 8);
    ws->pend_pos += 17;
    if (f & PEND_WATERMARK) {
      rc = advance(p, i, ws, n32, wm, 0);
      continue;
    }
    sl_record r;
    if (sl__batch_next(ws->pend.p, ws->pend.len, &ws->pend_pos, &r) != 1)
      SL__FAIL(SL_ERR_INTERNAL, "window replay buffer is corrupt");
    p->cur_slot = s32;
    p->cur_sender = n32;
    ws->replay_at = start;
    rc = fold(p, i, ws, &r, f);
    ws->replay_at = SIZE_MAX;
  }
  p->cur_slot = slot;
  p->cur_sender = sender;
  if (ws->pend_pos >= ws->pend.len)
    ws->pend_pos = ws->pend.len = 0;
  return rc;
}

/* ---- firing ---- */
static int emit_window(sl__part *p, int i, wstate *ws, win *w, const fire *f, int *fin) {
  sl__stepinst *si = &p->steps[i];
  const sl__stage *st = p->stage;
  sl_trigger_info info = {p->index, st->partitions, ws->w->kind, f->id, f->name};
  int rc = SL_OK;
  si->state = w->state;
  si->draining = w->draining;
  si->keep_open = !(f->close || f->reset); /* a reset drops what is unmatched: emit it */
  *fin = 1;
  if (st->tag_triggers) { /* one record: the trigger's identity, then its events */
    si->force_capture = 1;
    rc = si->inner->drain(p, i, fin);
    si->force_capture = 0;
    if (rc == SL_OK && *fin)
      rc = sl__depart_tag(p, &info, f->close, &ws->tag);
    if (rc == SL_OK && *fin) {
      sl_record one = {ws->tag.p, ws->tag.len, p->capture.p, p->capture.len};
      rc = sl__push(p, i + 1, &one);
    }
  } else if (st->on_trigger && si->step->kind == SL__STEP_REDUCE) {
    rc = st->on_trigger(sl__reduce_acc(si->state), NULL, &info, &p->em[i + 1], st->on_trigger_arg);
    if (rc)
      rc = sl__callback_result(p, i, rc);
  } else if (st->on_trigger) {
    si->force_capture = 1; /* the events, then the callback */
    rc = si->inner->drain(p, i, fin);
    si->force_capture = 0;
    if (rc == SL_OK && *fin) {
      sl_batch b = {p->capture.p, p->capture.len, 0};
      rc = st->on_trigger(NULL, &b, &info, &p->em[i + 1], st->on_trigger_arg);
      if (rc)
        rc = sl__callback_result(p, i, rc);
    }
  } else {
    rc = si->inner->drain(p, i, fin);
  }
  w->state = si->state;
  w->draining = si->draining;
  si->state = NULL;
  si->draining = 0;
  si->keep_open = 0;
  return rc;
}

static int queue_final(sl__part *p, int i, wstate *ws) {
  const sl_window *W = ws->w;
  win *w;
  /* The global window, the last count window and the current periodic one close at the
   * end even when empty; fixed windows up to the last open one (as Flow does). */
  if (W->kind == SL_WINDOW_GLOBAL || W->kind == SL_WINDOW_COUNT || W->kind == SL_WINDOW_PERIODIC)
    SL__CHECK(find_or_add(p, i, ws, ws->cur_id, &w));
  if (W->kind == SL_WINDOW_FIXED)
    SL__CHECK(queue_passed(p, i, ws, 1));
  for (int k = 0; k < ws->nwins; k++) {
    w = &ws->wins[k];
    if (w->closing)
      continue;
    w->closing = 1;
    SL__CHECK(queue_fire(p, i, ws, w->id, "done", 0, 1));
  }
  return SL_OK;
}

static int window_drain(sl__part *p, int i, int *finished) {
  wstate *ws = ws_of(p, i);
  *finished = 0;
  for (;;) {
    if (ws->qlen) {
      fire f = ws->q[ws->qhead];
      win *w = find(ws, f.id);
      if (!w && f.make) { /* an empty window: its state now, only for as long as it fires */
        SL__CHECK(find_or_add(p, i, ws, f.id, &w));
        w->closing = f.close;
        w->watermark_fired = !f.close;
      }
      if (w) {
        if (!ws->firing && (p->stage->on_trigger || p->stage->tag_triggers))
          p->capture.len = 0;
        ws->firing = 1;
        int fin;
        SL__CHECK(emit_window(p, i, ws, w, &f, &fin));
        if (!fin)
          return SL_OK; /* the output is blocked: resume here */
        ws->firing = 0;
        p->st->triggers++;
        if (f.close) {
          remove_win(p, i, ws, w);
        } else if (f.reset) {
          state_free(p, i, w->state);
          w->state = NULL;
          SL__CHECK(state_new(p, i, &w->state));
        }
      }
      ws->qhead = (ws->qhead + 1) % ws->qcap;
      ws->qlen--;
      continue;
    }
    if (ws->pend_pos < ws->pend.len) {
      SL__CHECK(replay(p, i, ws));
      continue;
    }
    if (p->input_ended && !ws->final_queued) {
      ws->final_queued = 1;
      SL__CHECK(queue_final(p, i, ws));
      continue;
    }
    break;
  }
  p->pending_step = -1;
  *finished = 1;
  return SL_OK;
}

static int window_tick(sl__part *p, int i) {
  wstate *ws = ws_of(p, i);
  const sl_window *W = ws->w;
  if (W->kind != SL_WINDOW_PERIODIC && W->trigger != 2)
    return SL_OK;
  double now = sl__now();
  if (W->kind == SL_WINDOW_PERIODIC && now >= ws->next_window_tick) {
    /* every period that ended closes its window, records or not */
    int64_t next = (int64_t)((now - ws->t0) / W->period);
    int budget = p->run->ctx->opt.window_empty_limit;
    for (int64_t id = ws->cur_id; id < next; id++) {
      win *w = find(ws, id);
      if (w && w->closing)
        continue;
      if (!w && id > ws->cur_id && budget-- <= 0) {
        warn_skipped(p, ws, (uint64_t)(next - id), "a stalled clock:");
        break;
      }
      if (w)
        w->closing = 1;
      SL__CHECK(queue_fire_m(p, i, ws, id, "done", 0, 1, w == NULL));
    }
    ws->cur_id = next;
    ws->next_window_tick = ws->t0 + (double)(ws->cur_id + 1) * W->period;
  }
  if (W->trigger == 2 && now >= ws->next_trigger_tick) {
    for (int k = 0; k < ws->nwins; k++) {
      win *w = &ws->wins[k];
      if (!w->touched || w->closing)
        continue;
      w->touched = 0;
      SL__CHECK(queue_fire(p, i, ws, w->id, "periodically", W->action == SL_TRIGGER_RESET, 0));
    }
    ws->next_trigger_tick = now + W->trigger_period;
  }
  return SL_OK;
}

/* ---- checkpoints ----
 * Chunks, in order: 'H' the partition's window state (watermarks, counters, the queued
 * triggers and the replay buffer), then per open window 'W' (its id, trigger counters and
 * the custom trigger's state) followed by the inner operator's own chunks for that window
 * (saved with ckpt_inner set). A checkpoint comes between triggers (the partition is not
 * ready while triggers are queued: p->pending_step), so no window is half emitted. */
typedef struct ck_head {
  int64_t cur_id, in_window, own_wm, wm, gap_from, elapsed_periods;
  int32_t have_gap, warned_skip, final_queued, nsenders, qlen, pad;
} ck_head;

typedef struct ck_win {
  int64_t id, since;
  int32_t draining, touched, watermark_fired, closing;
} ck_win;

typedef struct ck_fire {
  int64_t id;
  int32_t reset, close, make, name; /* name: an index in trigger_names, -1: the custom one */
} ck_fire;

static const char *const trigger_names[] = {"every", "done", "watermark", "periodically"};
enum { NTRIGGER_NAMES = (int)(sizeof trigger_names / sizeof *trigger_names) };

static int name_code(const wstate *ws, const char *name) {
  if (name == ws->w->trigger_name)
    return -1;
  for (int k = 0; k < NTRIGGER_NAMES; k++)
    if (!strcmp(name, trigger_names[k]))
      return k;
  return -1;
}

static int window_snapshot(sl__part *p, int i, struct sl__ckpt_writer *w) {
  wstate *ws = ws_of(p, i);
  sl__stepinst *si = &p->steps[i];
  const sl_window *W = ws->w;
  sl__bytes b = {0};
  char tag = 'H';
  ck_head h = {ws->cur_id,   ws->in_window,   ws->own_wm,       ws->wm,       ws->gap_from, 0,
               ws->have_gap, ws->warned_skip, ws->final_queued, ws->nsenders, ws->qlen,     0};
  int rc = sl__bytes_append(&b, &tag, 1);
  if (rc == SL_OK)
    rc = sl__bytes_append(&b, &h, sizeof h);
  if (rc == SL_OK && ws->nsenders)
    rc = sl__bytes_append(&b, ws->swm, (size_t)ws->nsenders * sizeof *ws->swm);
  for (int k = 0; rc == SL_OK && k < ws->qlen; k++) {
    const fire *f = &ws->q[(ws->qhead + k) % ws->qcap];
    ck_fire cf = {f->id, f->reset, f->close, f->make, name_code(ws, f->name)};
    rc = sl__bytes_append(&b, &cf, sizeof cf);
  }
  if (rc == SL_OK)
    rc = sl__bytes_append(&b, ws->pend.p + ws->pend_pos, ws->pend.len - ws->pend_pos);
  if (rc == SL_OK)
    rc = sl__ckpt_put_step(w, p, i, b.p, b.len);
  for (int k = 0; rc == SL_OK && k < ws->nwins; k++) {
    win *wn = &ws->wins[k];
    ck_win cw = {wn->id, wn->since, wn->draining, wn->touched, wn->watermark_fired, wn->closing};
    tag = 'W';
    b.len = 0;
    rc = sl__bytes_append(&b, &tag, 1);
    if (rc == SL_OK)
      rc = sl__bytes_append(&b, &cw, sizeof cw);
    if (rc == SL_OK && W->trigger_state_size)
      rc = sl__bytes_append(&b, wn->tstate, W->trigger_state_size);
    if (rc == SL_OK)
      rc = sl__ckpt_put_step(w, p, i, b.p, b.len);
    if (rc != SL_OK || !si->inner->snapshot)
      continue;
    si->state = wn->state;
    si->draining = wn->draining;
    si->ckpt_inner = 1;
    rc = si->inner->snapshot(p, i, w);
    si->ckpt_inner = 0;
    si->state = NULL;
    si->draining = 0;
  }
  sl__bytes_free(&b);
  return rc;
}

static int restore_head(sl__part *p, int i, wstate *ws, const char *d, size_t len) {
  const sl_window *W = ws->w;
  ck_head h;
  if (len < sizeof h)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: a window record of %zu bytes, expected at least %zu", len,
             sizeof h);
  memcpy(&h, d, sizeof h);
  size_t need = sizeof h + (size_t)h.nsenders * sizeof *ws->swm + (size_t)h.qlen * sizeof(ck_fire);
  if (h.nsenders != ws->nsenders || h.qlen < 0 || len < need)
    SL__FAIL(SL_ERR_FORMAT,
             "checkpoint: windows of %d senders and %d queued triggers in %zu bytes, expected "
             "%d senders and %zu bytes",
             h.nsenders, h.qlen, len, ws->nsenders, need);
  ws->cur_id = h.cur_id;
  ws->in_window = h.in_window;
  ws->own_wm = h.own_wm;
  ws->wm = h.wm;
  ws->gap_from = h.gap_from;
  ws->have_gap = h.have_gap;
  ws->warned_skip = h.warned_skip;
  ws->final_queued = h.final_queued;
  d += sizeof h;
  if (ws->nsenders)
    memcpy(ws->swm, d, (size_t)ws->nsenders * sizeof *ws->swm);
  d += (size_t)ws->nsenders * sizeof *ws->swm;
  for (int k = 0; k < h.qlen; k++, d += sizeof(ck_fire)) {
    ck_fire cf;
    memcpy(&cf, d, sizeof cf);
    if (cf.name >= NTRIGGER_NAMES)
      SL__FAIL(SL_ERR_FORMAT, "checkpoint: a queued trigger of unknown kind %d", (int)cf.name);
    const char *name = cf.name < 0 ? W->trigger_name : trigger_names[cf.name];
    SL__CHECK(queue_fire_m(p, i, ws, cf.id, name, cf.reset, cf.close, cf.make));
  }
  ws->pend.len = ws->pend_pos = 0;
  SL__CHECK(sl__bytes_append(&ws->pend, d, len - need));
  if (ws->pend.len)
    p->pending_step = i;
  /* processing time starts again from the resume, in the current period */
  ws->t0 = sl__now() - (double)ws->cur_id * W->period;
  ws->next_window_tick = ws->t0 + (double)(ws->cur_id + 1) * W->period;
  return SL_OK;
}

static int window_restore(sl__part *p, int i, const void *data, size_t len) {
  wstate *ws = ws_of(p, i);
  sl__stepinst *si = &p->steps[i];
  const char *d = data;
  int rc = SL_OK;
  if (si->ckpt_inner) { /* the inner operator's chunk of the last window restored */
    if (!ws->nwins || ws->restoring < 0 || !si->inner->restore)
      rc = SL_ERR_FORMAT;
    else {
      win *wn = &ws->wins[ws->restoring];
      si->state = wn->state;
      rc = si->inner->restore(p, i, data, len);
      wn->state = si->state;
      si->state = NULL;
      return rc;
    }
  } else if (len >= 1 && d[0] == 'H') {
    rc = restore_head(p, i, ws, d + 1, len - 1);
  } else if (len >= 1 + sizeof(ck_win) + ws->w->trigger_state_size && d[0] == 'W') {
    ck_win cw;
    memcpy(&cw, d + 1, sizeof cw);
    win *wn;
    SL__CHECK(find_or_add(p, i, ws, cw.id, &wn));
    wn->since = cw.since;
    wn->draining = 0; /* its inner state holds what it has not emitted yet */
    wn->touched = cw.touched;
    wn->watermark_fired = cw.watermark_fired;
    wn->closing = cw.closing;
    if (ws->w->trigger_state_size)
      memcpy(wn->tstate, d + 1 + sizeof cw, ws->w->trigger_state_size);
    ws->restoring = (int)(wn - ws->wins);
  } else {
    rc = SL_ERR_FORMAT;
  }
  if (rc == SL_ERR_FORMAT)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: stage %d '%s', partition %d: a damaged window state",
             p->stage->index, p->stage->name, p->index);
  return rc;
}

/* The windows make their own states of the wrapped operator: none is made for the step. */
static int window_create(sl__part *p, int i) {
  sl__run *run = p->run;
  sl__stepinst *si = &p->steps[i];
  wstate *ws = calloc(1, sizeof *ws);
  SL__CHECK_ALLOC(ws);
  si->wrap = ws;
  ws->w = &p->stage->window;
  ws->replay_at = SIZE_MAX;
  ws->restoring = -1;
  ws->wm = ws->own_wm = INT64_MIN;
  ws->t0 = sl__now();
  ws->next_window_tick = ws->t0 + ws->w->period;
  ws->next_trigger_tick = ws->t0 + ws->w->trigger_period;
  if (ws->w->kind == SL_WINDOW_FIXED && p->stage->ninputs) {
    ws->nsenders = p->cr.nsenders;
    ws->swm = malloc((size_t)(ws->nsenders ? ws->nsenders : 1) * sizeof *ws->swm);
    ws->sone = calloc((size_t)(ws->nsenders ? ws->nsenders : 1), 1);
    SL__CHECK_ALLOC(ws->swm);
    SL__CHECK_ALLOC(ws->sone);
    for (int s = 0; s < ws->nsenders; s++) {
      ws->swm[s] = INT64_MIN;
      const sl__stage *in = &run->flow->stages[p->stage->inputs[p->cr.sslot[s]]];
      ws->sone[s] = in->partitions <= run->size;
    }
  }
  return SL_OK;
}

static void window_destroy(sl__part *p, int i) {
  sl__stepinst *si = &p->steps[i];
  wstate *ws = si->wrap;
  if (!ws)
    return;
  si->wrap = NULL;
  for (int k = 0; k < ws->nwins; k++) {
    state_free(p, i, ws->wins[k].state);
    free(ws->wins[k].tstate);
  }
  free(ws->wins);
  free(ws->q);
  sl__bytes_free(&ws->pend);
  sl__bytes_free(&ws->tag);
  free(ws->swm);
  free(ws->sone);
  free(ws);
}

const sl__op_vt sl__op_window = {.name = "window",
                                 .phase = "reducing",
                                 .create = window_create,
                                 .destroy = window_destroy,
                                 .push = window_push,
                                 .drain = window_drain,
                                 .watermark = window_watermark,
                                 .tick = window_tick,
                                 .snapshot = window_snapshot,
                                 .restore = window_restore};

/* ---- building ---- */
static int check_window(const sl_window *w) {
  switch (w->kind) {
  case SL_WINDOW_GLOBAL:
    break;
  case SL_WINDOW_COUNT:
    if (w->count <= 0)
      SL__FAIL(SL_ERR_INVAL, "count window: the count must be positive, got %lld",
               (long long)w->count);
    break;
  case SL_WINDOW_FIXED:
    if (w->duration <= 0 || !w->time)
      SL__FAIL(SL_ERR_INVAL, "fixed window: needs a positive duration and an event-time function");
    break;
  case SL_WINDOW_PERIODIC:
    if (!(w->period > 0))
      SL__FAIL(SL_ERR_INVAL, "periodic window: the period must be positive");
    break;
  default:
    SL__FAIL(SL_ERR_INVAL, "unknown window kind %d", (int)w->kind);
  }
  if (w->lateness && w->kind != SL_WINDOW_FIXED)
    SL__FAIL(SL_ERR_INVAL, "only fixed windows have an allowed lateness");
  return SL_OK;
}

/* A windowed reducer must see every record: take the map-side combiner out again. */
static void drop_combiners(sl_flow *f, sl__stage *s) {
  for (int i = 0; i < s->nsteps; i++) {
    if (s->steps[i].kind != SL__STEP_REDUCE_BY_KEY || !s->steps[i].merge_input)
      continue;
    s->steps[i].merge_input = 0;
    for (int j = 0; j < s->ninputs; j++) {
      sl__stage *in = &f->stages[s->inputs[j]];
      if (in->nsteps && in->steps[in->nsteps - 1].kind == SL__STEP_COMBINER)
        in->nsteps--;
    }
  }
}

int sl_flow_window(sl_flow *flow, const sl_window *w) {
  SL__CHECK(sl__check_open(flow, "sl_flow_window"));
  if (!w)
    return sl__builder_fail(
        flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__, "sl_flow_window: NULL window"));
  int rc = check_window(w);
  if (rc != SL_OK)
    return sl__builder_fail(flow, rc);
  sl__stage *s = sl__flow_last_stage(flow);
  for (int k = 0; k < s->nsteps; k++)
    if (s->steps[k].kind == SL__STEP_DEPART_WINDOW)
      return sl__builder_fail(flow, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                                                  "sl_flow_window: a departition_window stage "
                                                  "has the windows of the stage before it"));
  s->window = *w;
  s->windowed = 1;
  s->wrap = &sl__op_window;
  s->event_time = w->kind == SL_WINDOW_FIXED ? w->time : NULL;
  s->event_time_arg = w->kind == SL_WINDOW_FIXED ? w->time_arg : NULL;
  drop_combiners(flow, s);
  return SL_OK;
}

void sl__window_ensure(sl_flow *f, sl__stage *s) {
  if (!s->windowed) {
    s->window = sl_window_global();
    s->windowed = 1;
    s->wrap = &sl__op_window;
  }
  drop_combiners(f, s);
}

int sl_flow_on_trigger(sl_flow *flow, sl_on_trigger_fn fn, void *arg) {
  SL__CHECK(sl__check_open(flow, "sl_flow_on_trigger"));
  if (!fn)
    return sl__builder_fail(
        flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__, "sl_flow_on_trigger: NULL function"));
  sl__stage *s = sl__flow_last_stage(flow);
  if (s->tag_triggers)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                                                "sl_flow_on_trigger: this stage's triggers feed "
                                                "a departition_window"));
  s->on_trigger = fn;
  s->on_trigger_arg = arg;
  sl__window_ensure(flow, s);
  return SL_OK;
}
