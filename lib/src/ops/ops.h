/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: what the built-in operators share (ops/). An operator is one file: its
 * table (sl__op_NAME, engine/op.h) and its builder (sl_flow_NAME). Two halves of one
 * operator share a file (reduce_by_key and its combiner; filter and reject) or a header
 * (the sort: sort_sample.c, sort.c, sort_runs.h). */
#ifndef SLUICE_OPS_H
#define SLUICE_OPS_H

#include "engine/op.h"
#include "plan/builder.h"

#define SL__OP_DECLARE(K, name) extern const sl__op_vt sl__op_##name;
SL__OPERATORS(SL__OP_DECLARE)
#undef SL__OP_DECLARE
/* Wrappers are not step kinds: a stage's `wrap` names one (ops/window.c). */
extern const sl__op_vt sl__op_window;

/* ---- registry.c: adding steps of built-in kinds ---- */
/* Append a step of `kind` to stage s (its table, flags and name from the registry). */
int sl__ops_add_step_to(sl_flow *f, sl__stage *s, sl__step_kind kind, void *fn, void *arg,
                        sl__step **out);
/* The same, to the flow's last stage. */
int sl__ops_add_step(sl_flow *f, sl__step_kind kind, void *fn, void *arg, sl__step **out);
/* A builder of a step around one user function: the flow is open, fn is not NULL. */
int sl__ops_add_fn(sl_flow *f, sl__step_kind kind, void *fn, void *arg, const char *what);
/* Append a step running an operator outside the registry (an extension, or the example of
 * docs/architecture.md) to the flow's last stage. */
int sl__ops_add_extern(sl_flow *f, const sl__op_vt *op, void *fn, void *arg, sl__step **out);

/* ---- emit.c: how a reducer's drain emits (sl_flow_emit's modes, and a wrapper's
 * force_capture) ---- */
/* Start or resume a drain of reducer step i. Returns 1 when there is nothing to emit (mode
 * "nothing": *finished is set), else 0 with *capture: emit into the partition's capture
 * buffer instead of the next step. */
int sl__reducer_drain_begin(sl__part *p, int i, int *capture, int *finished);
/* One record out of the drain of step i (to step i + 1, or captured). */
int sl__drain_emit(sl__part *p, int i, int capture, const void *k, size_t kl, const void *v,
                   size_t vl);
/* All emitted: mode "state" sends the captured records on as one record. */
int sl__reducer_drain_end(sl__part *p, int i, int capture, int *finished);
/* Keep the run's state accounting in step with an operator's: *accounted becomes now. */
void sl__op_account(sl__part *p, uint64_t *accounted, uint64_t now);
/* A failure of an aggregator or reducer's callback (built-in aggregators set their own). */
int sl__reducer_failed(sl__part *p, int i, int rc);

/* ---- window.c ---- */
/* Give stage s a window wrapper (the global window when none is set), as on_trigger does,
 * and take map-side combiners out (a windowed reducer sees every record). */
void sl__window_ensure(sl_flow *f, sl__stage *s);

/* ---- departition_window.c ---- */
/* The tag of a trigger's output that crosses to a departition_window stage: the key of the
 * one record holding the trigger's events; closes: the trigger closes the window. */
int sl__depart_tag(sl__part *p, const sl_trigger_info *info, int closes, sl__bytes *key);

/* ---- snapshot.c: checkpoints of hash-table state ---- */
struct sl__htab;
struct sl__ctab;
/* Step i's table entries from slot (htab) or entry (ctab) `from` on, values of vsize bytes
 * (0: keys only). */
int sl__ckpt_put_htab(struct sl__ckpt_writer *w, const sl__part *p, int i, const struct sl__htab *t,
                      size_t from, size_t vsize);
int sl__ckpt_put_ctab(struct sl__ckpt_writer *w, const sl__part *p, int i, const struct sl__ctab *t,
                      size_t from, size_t vsize);
/* Records next(arg, &r) gives (until it returns 0), in the batch encoding, in chunks. */
int sl__ckpt_put_records(struct sl__ckpt_writer *w, const sl__part *p, int i,
                         int (*next)(void *arg, sl_record *r), void *arg);
/* One chunk of table entries back into t (upserted; values copied). */
int sl__ckpt_restore_htab(sl__part *p, int i, struct sl__htab *t, size_t vsize, const void *data,
                          size_t len);
int sl__ckpt_restore_ctab(sl__part *p, int i, struct sl__ctab *t, size_t vsize, const void *data,
                          size_t len);

/* ---- reduce.c ---- */
/* The accumulator of a user reducer's state (a window's on_trigger gets it). */
void **sl__reduce_acc(void *state);
/* Checkpoints of a user accumulator of step i (reduce, departition_window) through the
 * hooks of sl_flow_checkpoint_acc: can_snapshot says whether they were given; save appends
 * the accumulator's bytes to out; restore sets *acc (made by init) from them. */
int sl__acc_can_snapshot(const sl__step *s, char *why, size_t cap);
int sl__acc_save(sl__part *p, int i, const void *acc, sl__bytes *out);
int sl__acc_restore(sl__part *p, int i, void **acc, const void *data, size_t len);

#endif
