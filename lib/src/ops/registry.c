/* SPDX-License-Identifier: BSD-3-Clause */
/* The registry of built-in operators: one table per kind of plan/plan.h's SL__OPERATORS
 * list, made from that same list, so that every kind has exactly one operator. */
#include <stdio.h>

#include "ops/ops.h"

/* Complete by construction: the enum and this table come from the same list, and a kind
 * whose sl__op_NAME is not defined fails to link. */
#define SL__OP_ENTRY(K, name) [SL__STEP_##K] = &sl__op_##name,
const sl__op_vt *const sl__op_registry[SL__STEP_KIND_COUNT] = {SL__OPERATORS(SL__OP_ENTRY)};
#undef SL__OP_ENTRY

int sl__ops_add_step_to(sl_flow *f, sl__stage *s, sl__step_kind kind, void *fn, void *arg,
                        sl__step **out) {
  const sl__op_vt *op = sl__op_registry[kind];
  return sl__add_step_to(f, s, kind, op, op->flags, op->name, fn, arg, out);
}

int sl__ops_add_step(sl_flow *f, sl__step_kind kind, void *fn, void *arg, sl__step **out) {
  return sl__ops_add_step_to(f, sl__flow_last_stage(f), kind, fn, arg, out);
}

int sl__ops_add_fn(sl_flow *f, sl__step_kind kind, void *fn, void *arg, const char *what) {
  SL__CHECK(sl__check_open(f, what));
  if (!fn)
    return sl__builder_fail(
        f, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__, "%s: NULL function", what));
  return sl__ops_add_step(f, kind, fn, arg, NULL);
}

int sl__ops_add_extern(sl_flow *f, const sl__op_vt *op, void *fn, void *arg, sl__step **out) {
  if (!op || !op->name || !op->push ||
      ((op->flags & (SL__OPF_REDUCER | SL__OPF_WRAPPABLE)) && !op->drain))
    return sl__builder_fail(f, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                             "sl__ops_add_extern: an operator needs a name and a "
                                             "push, and a reducer a drain"));
  SL__CHECK(sl__check_open(f, op->name));
  return sl__add_step_to(f, sl__flow_last_stage(f), SL__STEP_EXTERN, op, op->flags, op->name, fn,
                         arg, out);
}
