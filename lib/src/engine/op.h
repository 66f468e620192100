/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the operator interface. Every step kind of a plan (map, filter, the
 * reducers, and every other step kind) is one table of this type, in ops/ (one operator a
 * file, registered in ops/registry.c), and so is a stage's wrapper (windows: its state is
 * in p->steps[i].wrap, the wrapped operator's in .state, made once per window); the engine
 * calls operators only through it and never names one. docs/architecture.md, "Adding an
 * operator", walks through one.
 *
 * Per partition: the engine makes a state for each step of the stage (create), hands each
 * record to push, and once every input has ended calls drain until it says finished; then
 * destroy. A step emits to the next step with sl_emit(&p->em[i + 1], ...) or sl__push(p,
 * i + 1, rec): the records go through the stage's fused steps by calls, and the last
 * step's output leaves through the stage's output (the next stage's batches, or the sink).
 *
 * Rules (all hooks run on the rank's one event-loop thread):
 *   - Nothing blocks: no blocking MPI, no waiting. A drain that cannot emit now (its output
 *     is blocked: sl__part_drain_blocked) returns with *finished = 0 and resumes on the next
 *     call; one waiting for something other than data (a collective) sets p->waiting.
 *   - A push may ask for its step to be drained before more input (a combiner that is full)
 *     by setting p->flush_step = i; a step with output queued for later (triggers) sets
 *     p->pending_step = i and clears it when its drain finished.
 *   - Collectives: only in run_progress and run_settle, non-blocking in run_progress, and in
 *     the same order on every rank: the engine calls run_progress of the plan's steps in
 *     plan order and stops at the first one that is not yet quiescent, so collectives of
 *     later steps wait. run_settle may block: every rank calls it once its loop has ended.
 *     run_setup posts none (a failed setup skips the settle).
 *   - Memory: state grows only with what the operator must hold (reduce state); an operator
 *     with SL__OPF_MEMORY holds at most run->held_budget bytes per partition and step (set
 *     before any create), and spills the rest (--sl-tmpdir, through sl__spill_create).
 *     Account state with sl__state_add.
 *   - Errors: return an sl_error code set with SL__FAIL / sl__error_set (one line: what,
 *     where, expected vs found); a user callback's failure through sl__callback_failed.
 *
 * Blocks (sluice/sl_block.h, docs/architecture.md "Blocks and records"): an operator with
 * push_block takes a source's rows a block at a time and passes blocks on with
 * sl__push_block, which splits them into records for a step without the hook (and for the
 * stage's output); a record reaching push_block's step arrives through push (the operator
 * may wrap it with sl__record_block). SL__OPF_KEEPS_ROWS (plan/plan.h): the operator passes
 * its input on unchanged, so a record after it still has the source's layout.
 *
 * Checkpoints (engine/checkpoint.c, docs/checkpoint.md): a step that holds state between
 * records (it has a drain) must have snapshot and restore, or a flow with it cannot be
 * checkpointed (refused before the run). snapshot runs when the partition has taken every
 * record before the checkpoint's barrier and nothing after it, possibly in the middle of
 * its drain (then it saves only what it has not emitted yet). */
#ifndef SLUICE_OP_H
#define SLUICE_OP_H

#include "engine/engine.h"

/* A key of a record handed to push_keys: its bytes and its hash (sl__hash_bytes). */
typedef struct sl__keyref {
  const char *key;
  size_t len;
  uint64_t hash;
} sl__keyref;

typedef struct sl__op_vt {
  const char *name;  /* as in step names and sl_flow_describe */
  unsigned flags;    /* SL__OPF_* (plan/plan.h) */
  const char *phase; /* what progress lines say while the step drains ("sorting");
                        NULL: "draining" */

  /* ---- per partition ---- */
  /* Make step i's state in p->steps[i].state (may stay NULL). Optional. */
  int (*create)(sl__part *p, int i);
  /* Free p->steps[i].state (NULL or partly made). Optional. */
  void (*destroy)(sl__part *p, int i);
  /* One record for step i. */
  int (*push)(sl__part *p, int i, const sl_record *rec);
  /* Emit what the step holds into step i + 1; *finished = 1 once all is out. NULL: the
   * step holds nothing (map, filter). Called at the end of input, and mid-stream when
   * the step asked for it (flush_step, pending_step). */
  int (*drain)(sl__part *p, int i, int *finished);

  /* ---- optional, per partition ---- */
  /* A whole batch of encoded records from upstream (the step is first in its stage);
   * NULL: the records are pushed one by one. */
  int (*push_batch)(sl__part *p, int i, const char *data, size_t len, uint32_t nrec);
  /* A block of fixed-size rows from the stage's source (or from a block operator before
   * it); NULL: the block is split and its records pushed one by one. */
  int (*push_block)(sl__part *p, int i, const sl_block *b);
  /* n records with keys keys[0, n) (each with its sl__hash_bytes) and one shared value,
   * from sl_emit_words (engine/emit_words.c); NULL: the records are pushed one by one. */
  int (*push_keys)(sl__part *p, int i, const sl__keyref *keys, size_t n, const void *value,
                   size_t value_len);
  /* The event-time watermark from one sender rose to wm (INT64_MAX: it ended). The stage
   * must track event time (sl__stage.event_time). */
  int (*watermark)(sl__part *p, int i, int sender, int64_t wm);
  /* Every turn of the partition's work while its input lasts: processing-time timers. */
  int (*tick)(sl__part *p, int i);
  /* Save step i's state: any number of sl__ckpt_put_step calls (chunks of bounded size). */
  int (*snapshot)(sl__part *p, int i, struct sl__ckpt_writer *w);
  /* One chunk that snapshot saved, in order, into the state create made. A wrapper
   * (windows) saves its inner operator's states with p->steps[i].ckpt_inner set around the
   * inner snapshot; those chunks come back to the wrapper's restore with it set again. */
  int (*restore)(sl__part *p, int i, const void *data, size_t len);
  /* Optional, before the run: 0 when this step of the plan cannot be saved after all (a
   * user state without its save/restore hooks), with one line saying why in why; 1 when it
   * can. NULL: it can whenever snapshot is set. */
  int (*can_snapshot)(const sl__step *s, char *why, size_t cap);

  /* ---- optional, run-wide: once per step of the plan on every rank, whether or not the
   * rank hosts a partition of its stage; in plan order. rstate is this step's run-wide
   * state, shared by the rank's partitions (sl__run_state). ---- */
  /* After the partitions are made, before any data moves. */
  int (*run_setup)(sl__run *run, int stage, int step, void **rstate);
  /* Every turn of the event loop: advance non-blocking collectives. */
  int (*run_progress)(sl__run *run, int stage, void *rstate, int *progress);
  /* 1 once the step has no collective left in flight or to post: the loop ends only then. */
  int (*run_quiescent)(const sl__run *run, const void *rstate);
  /* After the loop (also a failed one), collective on every rank: complete what was posted. */
  int (*run_settle)(sl__run *run, int stage, void *rstate);
  void (*run_free)(sl__run *run, void *rstate);
  /* Checkpoints of the run-wide state (a step with run_setup needs both, or a flow with it
   * cannot be checkpointed): run_snapshot saves it (sl__ckpt_put_run chunks) on every rank
   * once all of the rank's partitions saved theirs (they are paused: nothing of theirs
   * changes it until the commit); run_restore takes each chunk back, in order, after
   * run_setup and before the loop. A restored run posts its collectives afresh: what was in
   * flight at the checkpoint is not saved, so the state saved must let every rank post the
   * same collectives again. */
  int (*run_snapshot)(sl__run *run, int stage, int step, void *rstate, struct sl__ckpt_writer *w);
  int (*run_restore)(sl__run *run, int stage, int step, void *rstate, const void *data, size_t len);
} sl__op_vt;

/* The table of the built-in operators by kind (ops/registry.c). */
extern const sl__op_vt *const sl__op_registry[SL__STEP_KIND_COUNT];

/* The run-wide state of step `step` of stage `stage` (run_setup made it). */
void *sl__run_state(const sl__run *run, int stage, int step);

/* Install the router of a routed boundary (SL__BOUND_ROUTED) on the output of stage `stage`
 * on this rank (nothing when the rank has no partition of it): route(arg, rec, ndest)
 * returns the destination partition. */
void sl__out_set_router(sl__run *run, int stage,
                        int (*route)(void *arg, const sl_record *rec, int ndest), void *arg);

#endif
