/* SPDX-License-Identifier: BSD-3-Clause */
/* How reducers emit when they drain: to the next step, or (sl_flow_emit(SL_EMIT_STATE), or a
 * window's on_trigger) into the partition's capture buffer; SL_EMIT_NOTHING emits nothing. */
#include "ops/ops.h"

int sl__reducer_drain_begin(sl__part *p, int i, int *capture, int *finished) {
  sl__stepinst *si = &p->steps[i];
  const sl__step *s = si->step;
  *finished = 0;
  if (s->emit_mode == SL_EMIT_NOTHING && !si->force_capture) {
    *finished = 1;
    return 1;
  }
  *capture = s->emit_mode == SL_EMIT_STATE || si->force_capture;
  if (*capture && !si->draining)
    p->capture.len = 0;
  si->draining = 1;
  return 0;
}

int sl__drain_emit(sl__part *p, int i, int capture, const void *k, size_t kl, const void *v,
                   size_t vl) {
  sl_emitter em = {p, capture ? SL__CAPTURE : i + 1};
  return sl_emit(&em, k, kl, v, vl);
}

int sl__reducer_drain_end(sl__part *p, int i, int capture, int *finished) {
  sl__stepinst *si = &p->steps[i];
  si->draining = 0;
  *finished = 1;
  if (capture && !si->force_capture) {
    sl_record one = {NULL, 0, p->capture.p, p->capture.len};
    return sl__push(p, i + 1, &one);
  }
  return SL_OK;
}

void sl__op_account(sl__part *p, uint64_t *accounted, uint64_t now) {
  sl__state_add(p->run, (int64_t)now - (int64_t)*accounted);
  *accounted = now;
}

int sl__reducer_failed(sl__part *p, int i, int rc) {
  const sl__step *s = p->steps[i].step;
  return s->agg.kind == SL_AGG_USER || s->kind == SL__STEP_REDUCE ? sl__callback_failed(p, i, rc)
                                                                  : rc;
}
