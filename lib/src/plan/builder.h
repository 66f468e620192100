/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the builder's shared helpers (plan/builder.c), used by the builders of
 * operators (ops/), sources and sinks, and of merges (plan/compose.c). */
#ifndef SLUICE_BUILDER_H
#define SLUICE_BUILDER_H

#include "plan/plan.h"

/* Remember the first builder error in the flow (sl_run reports it) and return code. */
int sl__builder_fail(sl_flow *flow, int code);
/* The flow has a source, no sink and has not run. */
int sl__check_open(sl_flow *f, const char *what);
/* The current stage has no reducer yet. */
int sl__check_reducer_slot(sl_flow *f, const char *what);
/* Append a stage; a non-source stage is fed by the stage before it. */
int sl__add_stage(sl_flow *f, sl__boundary b, int partitions, sl__stage **out);
/* Append a step running operator `op` to stage s (built-in kinds: ops/registry.c fills op,
 * flags and opname from the registry; an operator outside it passes SL__STEP_EXTERN). */
int sl__add_step_to(sl_flow *f, sl__stage *s, sl__step_kind kind, const struct sl__op_vt *op,
                    unsigned flags, const char *opname, void *fn, void *arg, sl__step **out);
/* Start the flow's one source stage (its source is then set by the caller). */
int sl__flow_begin_source(sl_flow *f, int partitions, const char *what);

#endif
