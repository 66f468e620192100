/* SPDX-License-Identifier: BSD-3-Clause */
/* Building windows and merges: the parts of Flow's model that go beyond one linear chain
 * of stages, as plan data (the window operator and its builders: ops/window.c; joins:
 * ops/join.c). */
#include <stdlib.h>
#include <string.h>

#include "plan/builder.h"

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
  if (o->sink.vt || o->ran)
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
