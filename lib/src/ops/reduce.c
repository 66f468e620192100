/* SPDX-License-Identifier: BSD-3-Clause */
/* reduce: the user's reducer folds every record of the partition into one accumulator and
 * emits it at the end (Flow.reduce); emit_and_reduce folds and may emit as it goes
 * (Flow.emit_and_reduce). */
#include <stdlib.h>

#include "ops/ops.h"

/* The state holds the accumulator by pointer: an on_trigger callback may replace it. */
typedef struct reduce_state {
  void *acc;
} reduce_state;

void **sl__reduce_acc(void *state) {
  return &((reduce_state *)state)->acc;
}

static int reduce_create(sl__part *p, int i) {
  const sl__step *s = p->steps[i].step;
  reduce_state *rs = calloc(1, sizeof *rs);
  SL__CHECK_ALLOC(rs);
  p->steps[i].state = rs;
  int rc = s->reducer.init(&rs->acc, s->reducer.arg);
  if (rc)
    SL__FAIL(SL_ERR_CALLBACK, "step '%s': reducer init failed (returned %d)", s->name, rc);
  return SL_OK;
}

static void reduce_destroy(sl__part *p, int i) {
  const sl__step *s = p->steps[i].step;
  reduce_state *rs = p->steps[i].state;
  if (rs && rs->acc && s->reducer.destroy)
    s->reducer.destroy(rs->acc, s->reducer.arg);
  free(rs);
  p->steps[i].state = NULL;
}

static int reduce_push(sl__part *p, int i, const sl_record *rec) {
  const sl__step *s = p->steps[i].step;
  void *acc = ((reduce_state *)p->steps[i].state)->acc;
  if (s->fold_emit) { /* emit_and_reduce */
    int rc = s->fold_emit(acc, rec, &p->em[i + 1], s->reducer.arg);
    return rc ? sl__callback_result(p, i, rc) : SL_OK;
  }
  int rc = s->reducer.fold(acc, rec, s->reducer.arg);
  return rc ? sl__callback_failed(p, i, rc) : SL_OK;
}

static int reduce_drain(sl__part *p, int i, int *finished) {
  const sl__step *s = p->steps[i].step;
  int capture;
  if (sl__reducer_drain_begin(p, i, &capture, finished))
    return SL_OK;
  sl_emitter em = {p, capture ? SL__CAPTURE : i + 1};
  int rc = s->reducer.emit(((reduce_state *)p->steps[i].state)->acc, &em, s->reducer.arg);
  if (rc)
    return sl__callback_result(p, i, rc);
  return sl__reducer_drain_end(p, i, capture, finished);
}

const sl__op_vt sl__op_reduce = {.name = "reduce",
                                 .phase = "reducing",
                                 .flags = SL__OPF_REDUCER | SL__OPF_WRAPPABLE,
                                 .create = reduce_create,
                                 .destroy = reduce_destroy,
                                 .push = reduce_push,
                                 .drain = reduce_drain};

int sl_flow_reduce(sl_flow *flow, const sl_reducer *reducer) {
  SL__CHECK(sl__check_reducer_slot(flow, "sl_flow_reduce"));
  if (!reducer || !reducer->init || !reducer->fold || !reducer->emit)
    return sl__builder_fail(flow,
                            sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                          "sl_flow_reduce: init, fold and emit are required"));
  sl__step *st = NULL;
  SL__CHECK(sl__ops_add_step(flow, SL__STEP_REDUCE, NULL, reducer->arg, &st));
  st->reducer = *reducer;
  return SL_OK;
}

int sl_flow_emit_and_reduce(sl_flow *flow, const sl_reducer *reducer, sl_fold_emit_fn fold) {
  SL__CHECK(sl__check_reducer_slot(flow, "sl_flow_emit_and_reduce"));
  if (!reducer || !reducer->init || !reducer->emit || !fold)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_emit_and_reduce: init, emit and fold are "
                                                "required"));
  sl__step *st = NULL;
  SL__CHECK(sl__ops_add_step(flow, SL__STEP_REDUCE, NULL, reducer->arg, &st));
  st->reducer = *reducer;
  st->fold_emit = fold;
  return SL_OK;
}
