/* SPDX-License-Identifier: BSD-3-Clause */
/* map_block: a block of rows in, any number of records out through the emitter
 * (sluice/sl_block.h; flat_map a block at a time). A record that reaches it is a block of
 * one row. */
#include "engine/rows.h"
#include "ops/ops.h"

static int map_block_push_block(sl__part *p, int i, const sl_block *b) {
  const sl__step *s = p->steps[i].step;
  int rc = ((sl_block_map_fn)s->fn)(b, &p->em[i + 1], s->arg);
  return rc ? sl__callback_result(p, i, rc) : SL_OK;
}

static int map_block_push(sl__part *p, int i, const sl_record *rec) {
  sl_block b;
  sl__record_block(p, i, rec, &b);
  return map_block_push_block(p, i, &b);
}

const sl__op_vt sl__op_map_block = {
    .name = "map_block", .push = map_block_push, .push_block = map_block_push_block};

int sl_flow_map_block(sl_flow *flow, sl_block_map_fn fn, void *arg) {
  return sl__ops_add_fn(flow, SL__STEP_MAP_BLOCK, (void *)fn, arg, "sl_flow_map_block");
}
