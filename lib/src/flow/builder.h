/* sluice internal: the builder's shared helpers (flow/builder.c), used by the builders of
 * windows, merges and joins (flow/compose.c). */
#ifndef SLUICE_BUILDER_H
#define SLUICE_BUILDER_H

#include "engine/plan.h"

/* Remember the first builder error in the flow (sl_run reports it) and return code. */
int sl__builder_fail(sl_flow *flow, int code);
/* The flow has a source, no sink and has not run. */
int sl__check_open(sl_flow *f, const char *what);
/* The current stage has no reducer yet. */
int sl__check_reducer_slot(sl_flow *f, const char *what);
/* Append a stage; a non-source stage is fed by the stage before it. */
int sl__add_stage(sl_flow *f, sl__boundary b, int partitions, sl__stage **out);
int sl__add_step(sl_flow *f, sl__step_kind kind, void *fn, void *arg, sl__step **out);
int sl__add_step_to(sl_flow *f, sl__stage *s, sl__step_kind kind, void *fn, void *arg,
                    sl__step **out);

#endif
