/* SPDX-License-Identifier: BSD-3-Clause */
/* map: one record in, one record out (Flow.map). */
#include "ops/ops.h"

static int map_push(sl__part *p, int i, const sl_record *rec) {
  const sl__step *s = p->steps[i].step;
  sl_record o = {0};
  int rc = ((sl_map_fn)s->fn)(rec, &o, s->arg);
  if (rc)
    return sl__callback_failed(p, i, rc);
  return sl__push(p, i + 1, &o);
}

const sl__op_vt sl__op_map = {.name = "map", .push = map_push};

int sl_flow_map(sl_flow *flow, sl_map_fn fn, void *arg) {
  return sl__ops_add_fn(flow, SL__STEP_MAP, (void *)fn, arg, "sl_flow_map");
}
