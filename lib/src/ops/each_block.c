/* SPDX-License-Identifier: BSD-3-Clause */
/* each_block: call the user's function on every block of rows and pass the block on
 * (sluice/sl_block.h). A record that reaches it is a block of one row. */
#include "engine/rows.h"
#include "ops/ops.h"

static int each_block_push_block(sl__part *p, int i, const sl_block *b) {
  const sl__step *s = p->steps[i].step;
  int rc = ((sl_block_fn)s->fn)(b, s->arg);
  if (rc)
    return sl__callback_failed(p, i, rc);
  return sl__push_block(p, i + 1, b);
}

static int each_block_push(sl__part *p, int i, const sl_record *rec) {
  sl_block b;
  sl__record_block(p, i, rec, &b);
  const sl__step *s = p->steps[i].step;
  int rc = ((sl_block_fn)s->fn)(&b, s->arg);
  if (rc)
    return sl__callback_failed(p, i, rc);
  return sl__push(p, i + 1, rec);
}

const sl__op_vt sl__op_each_block = {.name = "each_block",
                                     .flags = SL__OPF_KEEPS_ROWS,
                                     .push = each_block_push,
                                     .push_block = each_block_push_block};

int sl_flow_each_block(sl_flow *flow, sl_block_fn fn, void *arg) {
  return sl__ops_add_fn(flow, SL__STEP_EACH_BLOCK, (void *)fn, arg, "sl_flow_each_block");
}
