/* SPDX-License-Identifier: BSD-3-Clause */
/* each: call the user's function on every record and pass it on (Flow.each). */
#include "ops/ops.h"

static int each_push(sl__part *p, int i, const sl_record *rec) {
  const sl__step *s = p->steps[i].step;
  int rc = ((sl_each_fn)s->fn)(rec, s->arg);
  if (rc)
    return sl__callback_failed(p, i, rc);
  return sl__push(p, i + 1, rec);
}

const sl__op_vt sl__op_each = {.name = "each", .flags = SL__OPF_KEEPS_ROWS, .push = each_push};

int sl_flow_each(sl_flow *flow, sl_each_fn fn, void *arg) {
  return sl__ops_add_fn(flow, SL__STEP_EACH, (void *)fn, arg, "sl_flow_each");
}
