/* Building windows, triggers, merges and joins: the parts of Flow's model that go beyond
 * one linear chain of stages with one window. What they do at run time is in
 * reduce/window.c and reduce/join.c. */
#include <stdlib.h>
#include <string.h>

#include "flow/builder.h"

/* ---- windows ---- */
sl_window sl_window_global(void) {
  sl_window w;
  memset(&w, 0, sizeof w);
  w.kind = SL_WINDOW_GLOBAL;
  return w;
}

sl_window sl_window_count(int64_t n) {
  sl_window w = sl_window_global();
  w.kind = SL_WINDOW_COUNT;
  w.count = n;
  return w;
}

sl_window sl_window_fixed(int64_t duration, sl_event_time_fn time, void *arg) {
  sl_window w = sl_window_global();
  w.kind = SL_WINDOW_FIXED;
  w.duration = duration;
  w.time = time;
  w.time_arg = arg;
  return w;
}

sl_window sl_window_periodic(double seconds) {
  sl_window w = sl_window_global();
  w.kind = SL_WINDOW_PERIODIC;
  w.period = seconds;
  return w;
}

int sl_window_allowed_lateness(sl_window *w, int64_t lateness) {
  if (!w)
    SL__FAIL(SL_ERR_INVAL, "sl_window_allowed_lateness: NULL window");
  if (w->kind != SL_WINDOW_FIXED)
    SL__FAIL(SL_ERR_INVAL, "sl_window_allowed_lateness: only fixed (event-time) windows have "
                           "lateness");
  if (lateness < 0)
    SL__FAIL(SL_ERR_INVAL, "sl_window_allowed_lateness: negative lateness %lld",
             (long long)lateness);
  w->lateness = lateness;
  return SL_OK;
}

static int set_trigger(sl_window *w, int kind, const char *name, sl_trigger_action action,
                       const char *what) {
  if (!w)
    SL__FAIL(SL_ERR_INVAL, "%s: NULL window", what);
  if (w->trigger)
    SL__FAIL(SL_ERR_STATE, "%s: the window already has a trigger ('%s')", what, w->trigger_name);
  if (action != SL_TRIGGER_KEEP && action != SL_TRIGGER_RESET)
    SL__FAIL(SL_ERR_INVAL, "%s: action must be SL_TRIGGER_KEEP or SL_TRIGGER_RESET", what);
  w->trigger = kind;
  w->action = action;
  snprintf(w->trigger_name, sizeof w->trigger_name, "%s", name);
  return SL_OK;
}

int sl_window_trigger_every(sl_window *w, int64_t n, sl_trigger_action action) {
  if (n <= 0)
    SL__FAIL(SL_ERR_INVAL, "sl_window_trigger_every: n must be positive, got %lld", (long long)n);
  SL__CHECK(set_trigger(w, 1, "every", action, "sl_window_trigger_every"));
  w->every = n;
  return SL_OK;
}

int sl_window_trigger_periodically(sl_window *w, double seconds, sl_trigger_action action) {
  if (!(seconds > 0))
    SL__FAIL(SL_ERR_INVAL, "sl_window_trigger_periodically: the period must be positive");
  SL__CHECK(set_trigger(w, 2, "periodically", action, "sl_window_trigger_periodically"));
  w->trigger_period = seconds;
  return SL_OK;
}

int sl_window_trigger(sl_window *w, sl_trigger_fn fn, size_t state_size, const char *name,
                      void *arg) {
  if (!fn || !name || !*name)
    SL__FAIL(SL_ERR_INVAL, "sl_window_trigger: a function and a name are required");
  if (!strcmp(name, "done") || !strcmp(name, "watermark"))
    SL__FAIL(SL_ERR_INVAL, "sl_window_trigger: '%s' is the name of a window's own trigger", name);
  SL__CHECK(set_trigger(w, 3, name, SL_TRIGGER_KEEP, "sl_window_trigger"));
  w->trigger_fn = fn;
  w->trigger_state_size = state_size;
  w->trigger_arg = arg;
  return SL_OK;
}

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
  s->window = *w;
  s->windowed = 1;
  drop_combiners(flow, s);
  return SL_OK;
}

int sl_flow_on_trigger(sl_flow *flow, sl_on_trigger_fn fn, void *arg) {
  SL__CHECK(sl__check_open(flow, "sl_flow_on_trigger"));
  if (!fn)
    return sl__builder_fail(
        flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__, "sl_flow_on_trigger: NULL function"));
  sl__stage *s = sl__flow_last_stage(flow);
  s->on_trigger = fn;
  s->on_trigger_arg = arg;
  if (!s->windowed) {
    s->window = sl_window_global();
    s->windowed = 1;
  }
  drop_combiners(flow, s);
  return SL_OK;
}

int sl_flow_emit_and_reduce(sl_flow *flow, const sl_reducer *reducer, sl_fold_emit_fn fold) {
  SL__CHECK(sl__check_reducer_slot(flow, "sl_flow_emit_and_reduce"));
  if (!reducer || !reducer->init || !reducer->emit || !fold)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_emit_and_reduce: init, emit and fold are "
                                                "required"));
  sl__step *st = NULL;
  SL__CHECK(sl__add_step(flow, SL__STEP_REDUCE, NULL, reducer->arg, &st));
  st->reducer = *reducer;
  st->fold_emit = fold;
  return SL_OK;
}

/* ---- merge and join ---- */

/* Move the stages of `o` to the end of f's list (renumbered), leaving o empty. */
static int absorb(sl_flow *f, sl_flow *o, int *last) {
  int off = f->nstages, n = o->nstages;
  if (f->nstages + n > f->capstages) {
    int cap = f->nstages + n + 4;
    sl__stage *ns = realloc(f->stages, (size_t)cap * sizeof *ns);
    SL__CHECK_ALLOC(ns);
    f->stages = ns;
    f->capstages = cap;
  }
  for (int s = 0; s < n; s++) {
    sl__stage *st = &f->stages[off + s];
    *st = o->stages[s];
    st->index += off;
    if (st->target >= 0)
      st->target += off;
    for (int j = 0; j < st->ninputs; j++)
      st->inputs[j] += off;
  }
  f->nstages += n;
  free(o->stages);
  o->stages = NULL;
  o->nstages = o->capstages = 0;
  *last = off + n - 1;
  return SL_OK;
}

static int check_other(sl_flow *f, sl_flow *o, const char *what) {
  if (!o || o == f)
    SL__FAIL(SL_ERR_INVAL, "%s: NULL flow, or a flow merged with itself", what);
  if (o->ctx != f->ctx)
    SL__FAIL(SL_ERR_INVAL, "%s: the flows belong to different contexts", what);
  if (o->build_error)
    return o->build_error;
  if (!o->nstages)
    SL__FAIL(SL_ERR_STATE, "%s: a flow to merge has no source (or was merged already)", what);
  if (o->sink.kind != SL__SINK_NONE || o->ran)
    SL__FAIL(SL_ERR_STATE, "%s: a flow to merge already has a sink or has run", what);
  return SL_OK;
}

int sl_flow_merge(sl_flow *flow, sl_flow *const *others, int n, int partitions, sl_hash_fn hash,
                  void *arg) {
  SL__CHECK(sl__check_open(flow, "sl_flow_merge"));
  int rc = SL_OK;
  if (n < 0 || (n > 0 && !others) || n + 1 > SL__MAX_INPUTS)
    rc =
        sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                      "sl_flow_merge: between 0 and %d other flows, got %d", SL__MAX_INPUTS - 1, n);
  for (int i = 0; i < n && rc == SL_OK; i++) {
    rc = check_other(flow, others[i], "sl_flow_merge");
    for (int k = 0; k < i && rc == SL_OK; k++)
      if (others[k] == others[i])
        rc = sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                           "sl_flow_merge: the same flow is given twice");
  }
  if (rc != SL_OK)
    return sl__builder_fail(flow, rc);
  int lasts[SL__MAX_INPUTS];
  lasts[0] = flow->nstages - 1;
  for (int i = 0; i < n; i++)
    SL__CHECK(sl__builder_fail(flow, absorb(flow, others[i], &lasts[i + 1])));
  sl__stage *s = NULL;
  SL__CHECK(
      sl__add_stage(flow, SL__BOUND_HASH, partitions > 0 ? partitions : sl_size(flow->ctx), &s));
  /* sl__add_stage linked the stage before it (the last absorbed one): link them all. */
  s->hash = hash;
  s->hash_arg = arg;
  s->ninputs = n + 1;
  for (int j = 0; j <= n; j++) {
    s->inputs[j] = lasts[j];
    flow->stages[lasts[j]].target = s->index;
    flow->stages[lasts[j]].target_slot = j;
  }
  return SL_OK;
}

int sl_flow_join(sl_flow *left, sl_flow *right, sl_join_mode mode, int partitions, sl_join_fn fn,
                 void *arg) {
  SL__CHECK(sl__check_open(left, "sl_flow_join"));
  if (mode < SL_JOIN_INNER || mode > SL_JOIN_FULL)
    return sl__builder_fail(left, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_join: unknown mode %d", (int)mode));
  sl_flow *r[1] = {right};
  SL__CHECK(sl_flow_merge(left, r, 1, partitions, NULL, NULL));
  sl__step *st = NULL;
  SL__CHECK(sl__add_step(left, SL__STEP_JOIN, (void *)fn, arg, &st));
  st->join_mode = mode;
  return SL_OK;
}
