/* SPDX-License-Identifier: BSD-3-Clause */
/* filter and reject: keep the records the predicate accepts, or the ones it refuses
 * (Flow.filter, Flow.reject). One operator with two polarities. */
#include "ops/ops.h"

static int pass(sl__part *p, int i, const sl_record *rec, int keep_if) {
  const sl__step *s = p->steps[i].step;
  int rc = ((sl_filter_fn)s->fn)(rec, s->arg);
  if (rc < 0)
    return sl__callback_failed(p, i, rc);
  return (rc > 0) == keep_if ? sl__push(p, i + 1, rec) : SL_OK;
}

static int filter_push(sl__part *p, int i, const sl_record *rec) {
  return pass(p, i, rec, 1);
}

static int reject_push(sl__part *p, int i, const sl_record *rec) {
  return pass(p, i, rec, 0);
}

const sl__op_vt sl__op_filter = {
    .name = "filter", .flags = SL__OPF_KEEPS_ROWS, .push = filter_push};
const sl__op_vt sl__op_reject = {
    .name = "reject", .flags = SL__OPF_KEEPS_ROWS, .push = reject_push};

int sl_flow_filter(sl_flow *flow, sl_filter_fn fn, void *arg) {
  return sl__ops_add_fn(flow, SL__STEP_FILTER, (void *)fn, arg, "sl_flow_filter");
}

int sl_flow_reject(sl_flow *flow, sl_filter_fn fn, void *arg) {
  return sl__ops_add_fn(flow, SL__STEP_REJECT, (void *)fn, arg, "sl_flow_reject");
}
