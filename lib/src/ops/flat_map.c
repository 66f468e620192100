/* SPDX-License-Identifier: BSD-3-Clause */
/* flat_map: a record in, any number out through the emitter (Flow.flat_map). */
#include "ops/ops.h"

static int flat_map_push(sl__part *p, int i, const sl_record *rec) {
  const sl__step *s = p->steps[i].step;
  int rc = ((sl_flat_map_fn)s->fn)(rec, &p->em[i + 1], s->arg);
  return rc ? sl__callback_result(p, i, rc) : SL_OK;
}

const sl__op_vt sl__op_flat_map = {.name = "flat_map", .push = flat_map_push};

int sl_flow_flat_map(sl_flow *flow, sl_flat_map_fn fn, void *arg) {
  return sl__ops_add_fn(flow, SL__STEP_FLAT_MAP, (void *)fn, arg, "sl_flow_flat_map");
}
