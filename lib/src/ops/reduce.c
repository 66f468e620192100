/* SPDX-License-Identifier: BSD-3-Clause */
/* reduce: the user's reducer folds every record of the partition into one accumulator and
 * emits it at the end (Flow.reduce); emit_and_reduce folds and may emit as it goes
 * (Flow.emit_and_reduce). */
#include <stdio.h>
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

/* ---- checkpoints: the accumulator through the user's hooks (sl_flow_checkpoint_acc) ---- */
int sl__acc_can_snapshot(const sl__step *s, char *why, size_t cap) {
  if (s->acc_save && s->acc_restore)
    return 1;
  snprintf(why, cap,
           "step '%s' (%s) holds a user accumulator: give it save and restore hooks with "
           "sl_flow_checkpoint_acc",
           s->name, s->opname);
  return 0;
}

int sl__acc_save(sl__part *p, int i, const void *acc, sl__bytes *out) {
  const sl__step *s = p->steps[i].step;
  sl_state_out o = {out};
  int rc = s->acc_save(acc, &o, s->acc_state_arg);
  return rc ? sl__callback_failed(p, i, rc) : SL_OK;
}

int sl__acc_restore(sl__part *p, int i, void **acc, const void *data, size_t len) {
  const sl__step *s = p->steps[i].step;
  int rc = s->acc_restore(acc, data, len, s->acc_state_arg);
  return rc ? sl__callback_failed(p, i, rc) : SL_OK;
}

/* One chunk: the accumulator's bytes. */
static int reduce_snapshot(sl__part *p, int i, struct sl__ckpt_writer *w) {
  sl__bytes b = {0};
  int rc = sl__acc_save(p, i, ((reduce_state *)p->steps[i].state)->acc, &b);
  if (rc == SL_OK)
    rc = sl__ckpt_put_step(w, p, i, b.p, b.len);
  sl__bytes_free(&b);
  return rc;
}

static int reduce_restore(sl__part *p, int i, const void *data, size_t len) {
  return sl__acc_restore(p, i, &((reduce_state *)p->steps[i].state)->acc, data, len);
}

const sl__op_vt sl__op_reduce = {.name = "reduce",
                                 .phase = "reducing",
                                 .snapshot = reduce_snapshot,
                                 .restore = reduce_restore,
                                 .can_snapshot = sl__acc_can_snapshot,
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

int sl_flow_checkpoint_acc(sl_flow *flow, sl_acc_save_fn save, sl_acc_restore_fn restore,
                           void *arg) {
  SL__CHECK(sl__check_open(flow, "sl_flow_checkpoint_acc"));
  if (!save || !restore)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_checkpoint_acc: NULL save or restore"));
  sl__stage *s = sl__flow_last_stage(flow);
  sl__step *st = s->nsteps ? &s->steps[s->nsteps - 1] : NULL;
  if (!st || (st->kind != SL__STEP_REDUCE && st->kind != SL__STEP_DEPART_WINDOW))
    return sl__builder_fail(flow, sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                                                "sl_flow_checkpoint_acc: the flow's last step "
                                                "must be a reduce, emit_and_reduce or "
                                                "departition_window"));
  st->acc_save = save;
  st->acc_restore = restore;
  st->acc_state_arg = arg;
  return SL_OK;
}
