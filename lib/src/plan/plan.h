/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the plan a flow builds (stages of fused steps) before it runs.
 *
 * A flow is a list of stages. Stage 0 has a source; every later stage receives the
 * records of the previous one through a boundary (hash partition, round-robin shuffle,
 * or a single partition). Within a stage, steps are fused: a record goes through them by
 * function calls, never by messages. The last stage ends in the sink. */
#ifndef SLUICE_PLAN_H
#define SLUICE_PLAN_H

#include "core/core.h"

struct sl__ckpt_writer; /* core/ckpt_store.h: checkpoint hooks of sinks and operators */

typedef enum sl__boundary {
  SL__BOUND_SOURCE,
  SL__BOUND_HASH,
  SL__BOUND_SHUFFLE,
  SL__BOUND_SINGLE,
  /* by a router that an operator of the stage before installs at run time (engine/op.h,
   * sl__out_set_router): e.g. a sort's splitters, sampled from the data */
  SL__BOUND_ROUTED
} sl__boundary;

/* The built-in operators, one line each: the kind and the name of its table, sl__op_NAME
 * (engine/op.h), defined in ops/NAME.c. ops/registry.c makes the table of tables from this
 * same list, so a kind without an operator does not link. */
#define SL__OPERATORS(X)                                                                           \
  X(MAP, map)                                                                                      \
  X(FLAT_MAP, flat_map)                                                                            \
  X(FILTER, filter)                                                                                \
  X(REJECT, reject)                                                                                \
  X(EACH, each)                                                                                    \
  X(EACH_BLOCK, each_block)                                                                        \
  X(MAP_BLOCK, map_block)                                                                          \
  X(MAP_BATCH, map_batch)                                                                          \
  X(REDUCE, reduce)               /* user reducer, and emit_and_reduce */                          \
  X(REDUCE_BY_KEY, reduce_by_key) /* aggregator; merge_input when fed by a combiner */             \
  X(COMBINER, combiner)           /* map-side half of a reduce_by_key */                           \
  X(GROUP, group_by_key)                                                                           \
  X(UNIQ, uniq)                                                                                    \
  X(TOPK, take_sort)                                                                               \
  X(SORT_SPLIT, sort_sample) /* end of the stage before a sort: hold, sample, then replay */       \
  X(SORT_LOCAL, sort)        /* start of the sorted stage: sort (spilling runs), emit in order */  \
  X(JOIN, join)              /* symmetric hash join of the stage's two inputs */                   \
  X(DEPART_WINDOW, departition_window) /* per-window merge of every partition's triggers */

typedef enum sl__step_kind {
#define SL__KIND_ENUM(K, name) SL__STEP_##K,
  SL__OPERATORS(SL__KIND_ENUM)
#undef SL__KIND_ENUM
      SL__STEP_KIND_COUNT,
  SL__STEP_EXTERN = SL__STEP_KIND_COUNT /* an operator outside the registry (its table given) */
} sl__step_kind;

/* What the plan and other modules may ask of an operator (its table's flags).
 * SL__OPF_REDUCER: sl_flow_emit's modes apply to it, so its drain goes through
 * sl__reducer_drain_begin/_end (ops/ops.h). SL__OPF_WRAPPABLE: a wrapper (windows) makes and
 * destroys its state once per window, mid-run, with p->steps[i].state swapped, and drains
 * it with force_capture, keep_open and draining set (engine/engine.h): the operator honours
 * them and resets its drain cursor when finished. */
enum {
  SL__OPF_REDUCER = 1u << 0,      /* fills the stage's one reducer slot (as in Flow) */
  SL__OPF_WRAPPABLE = 1u << 1,    /* a stage wrapper (windows) applies to it */
  SL__OPF_ORDERED = 1u << 2,      /* its partitions emit consecutive ranges in partition order: a
                                     sink must write partitions in rank order */
  SL__OPF_MEMORY = 1u << 3,       /* asks for a share of the rank's memory for held records
                                     (--sl-sort-memory-bytes), see sl__run.held_budget */
  SL__OPF_KEEPS_ROWS = 1u << 4,   /* passes its input records on unchanged (filter, each): a
                                     record after it still has its source's row layout */
  SL__OPF_CKPT_PORTABLE = 1u << 5 /* what its snapshot saves belongs to the partition, not to
                                     the rank: its checkpoint may resume on another number of
                                     ranks (docs/checkpoint.md) */
};

struct sl__op_vt; /* engine/op.h */

typedef struct sl__step {
  sl__step_kind kind;
  const struct sl__op_vt *op; /* its operator */
  unsigned flags;             /* op's SL__OPF_* */
  const char *opname;         /* op's name */
  char name[64];
  void *fn; /* the user callback, cast per kind */
  void *arg;
  sl_reducer reducer;
  sl_aggregator agg;
  int merge_input;           /* REDUCE_BY_KEY: input records carry partial states */
  size_t k;                  /* TOPK */
  int descending;            /* SORT_* */
  sl_sort_key_fn sort_key;   /* SORT_*: order by this key (fn is then NULL, arg its arg) */
  sl_sort_keys_fn sort_keys; /* SORT_*: or by these key_words words (fn NULL, arg its arg) */
  unsigned key_words;
  sl_emit_mode emit_mode;
  sl_fold_emit_fn fold_emit; /* REDUCE: emit_and_reduce */
  sl_join_mode join_mode;    /* JOIN */
  sl_departition depart;     /* DEPART_WINDOW */
  /* REDUCE, DEPART_WINDOW: the user's accumulator to and from bytes (checkpoints,
   * sl_flow_checkpoint_acc); NULL: such a flow cannot be checkpointed */
  sl_acc_save_fn acc_save;
  sl_acc_restore_fn acc_restore;
  void *acc_state_arg;
} sl__step;

/* A source: opened once per local partition, pulled while downstream has room. */
typedef struct sl__run sl__run;
typedef struct sl__source sl__source;
typedef struct sl__part sl__part;
typedef struct sl__source_vt {
  const char *name;
  /* Collective check before the run (all ranks): files exist, sizes, ... */
  int (*prepare)(sl__source *src, sl_ctx *ctx);
  /* Optional, after prepare, on rank 0: does the source read the file with this device and
   * inode? (A sink refuses to replace an input.) */
  int (*reads_file)(const sl__source *src, unsigned long long dev, unsigned long long ino);
  int (*open)(sl__source *src, int partition, int partitions, void **state);
  /* Emit a bounded amount; stop early when sl__part_blocked(part). Set *done at end. */
  int (*pull)(void *state, sl__part *part, sl_emitter *out, int *done);
  void (*close)(void *state);
  void (*destroy)(sl__source *src);
  /* Optional: called on every turn of the event loop on every rank (e.g. to drive
   * non-blocking collectives that agree on collective I/O rounds). Count work done in
   * *progress. May be NULL. */
  int (*progress)(sl__source *src, sl__run *run, int *progress);
  /* Optional: the event loop of this rank ends only once this returns 1 (a source in
   * collective rounds keeps joining them until every rank has finished). May be NULL. */
  int (*quiescent)(sl__source *src, sl__run *run);
  /* Optional, collective: called on EVERY rank once its event loop has ended, before
   * any blocking collective of the engine. failed: this rank's loop ended on an error,
   * a stop, or another rank's abort (the others learn it by their own abort messages).
   * Complete whatever collective rounds other ranks may be in (join them with empty
   * selections) until every rank has settled, so that no rank stays inside a collective
   * call. After a normal end (quiescent was 1 everywhere) there is nothing left. May be
   * NULL. */
  int (*settle)(sl__source *src, sl__run *run, int failed);
  /* What other modules may ask of a source (they never compare tables): */
  unsigned caps; /* SL__SRC_* */
  /* Optional: the inputs it reads, for an output's provenance, as one string; writes at
   * most cap bytes (NUL included) and returns the length it needs. May be NULL. */
  size_t (*inputs)(const sl__source *src, char *buf, size_t cap);
  /* Optional: 1 when this source reads in collective I/O rounds (agreed on a communicator
   * of its own): two such sources in one flow could enter their collectives in different
   * orders on two ranks. May be NULL (never). */
  int (*collective)(const sl__source *src);
  /* Optional: its inputs and their sizes, one indented line each, for
   * sl_flow_describe_run (called on rank 0 after prepare). May be NULL. */
  void (*describe)(const sl__source *src, FILE *out);
  /* Optional, checkpoints: a partition's read position between two pulls, as bytes (a
   * source without it cannot be checkpointed), and back into a state open made. */
  int (*snapshot)(void *state, sl__bytes *out);
  int (*restore)(void *state, const void *data, size_t len);
  /* Optional: why a source without snapshot cannot be checkpointed, and what to do (the
   * rest of the refusal line). NULL: "it cannot save its read position yet". */
  const char *ckpt_refusal;
} sl__source_vt;

enum {
  SL__SRC_ORDERED = 1u << 0 /* its records have an order a copy keeps (rows of a table): a
                               sink writes partitions in rank order */
};

struct sl__source {
  const sl__source_vt *vt;
  void *impl;
  uint64_t total_bytes; /* for progress; 0 if unknown */
};

/* A sink: every flow ends in one, the built-in ones (count, collect, callback, text:
 * sinks/) and the HDF5 one alike. prepare and finish are collective; push runs on the rank
 * of the record's partition and must not block (buffer, spill, or write in bounded
 * pieces). The sink's impl is made by its builder, owned by the flow and freed by destroy
 * with it; a flow runs once, so impl also holds the run's state. */
typedef struct sl__sink_vt {
  const char *name;
  int (*prepare)(void *impl, sl_ctx *ctx, sl__run *run);
  int (*push)(void *impl, sl__part *part, const sl_record *rec);
  int (*finish)(void *impl, sl_ctx *ctx, int job_failed);
  void (*destroy)(void *impl);
  /* Optional: 1 while the sink cannot take records from this partition now (its buffer
   * is full and waits for a write round): the partition stops pulling input, which is
   * backpressure up to the sources. May be NULL. */
  int (*blocked)(void *impl, const sl__part *part);
  /* Optional: called on every turn of the event loop on every rank, also after this
   * rank's partitions ended and until every rank's loop ends. May be NULL. */
  int (*progress)(void *impl, sl__run *run, int *progress);
  /* Optional: the event loop of this rank ends only once this returns 1 (see the source's
   * quiescent). May be NULL. */
  int (*quiescent)(void *impl, sl__run *run);
  /* Optional, collective: as the source's settle, before the sink's finish. May be NULL. */
  int (*settle)(void *impl, sl__run *run, int failed);
  /* Optional: take n records at once whose contents do not matter (a sink that only
   * counts); returns 1 when taken, 0 to have them pushed one by one. May be NULL. */
  int (*count_rows)(void *impl, sl__part *part, size_t n);
  /* Optional: take up to n rows of row_size bytes (row i at rows + i * row_size), the
   * values of n records whose keys the sink ignores, in one call: *taken is set to the rows
   * taken, exactly those that push one by one would take before blocked() says 1 (the rest
   * come again later). Called only for a partition without steps or stage output that no
   * drain or trigger holds. May be NULL. */
  int (*push_rows)(void *impl, sl__part *part, const char *rows, size_t n, size_t row_size,
                   size_t *taken);
  /* Optional: what sl_flow_describe prints after "sink: " (default: the name). */
  void (*describe)(const void *impl, FILE *out);
  /* Optional, checkpoints: what this rank's part of the sink holds (sl__ckpt_put_sink
   * chunks), taken once every partition of the last stage here has snapshotted, and each
   * chunk back after prepare (a sink without them cannot be checkpointed). */
  int (*snapshot)(void *impl, sl__run *run, struct sl__ckpt_writer *w);
  int (*restore)(void *impl, sl__run *run, const void *data, size_t len);
  /* 1: restore adds to what the sink holds, so one rank may take the saved parts of several
   * (a resume on fewer or more ranks gives each new rank the parts of the old ranks
   * r * new / old maps to it, in rank order). */
  int ckpt_portable;
  /* Optional: why a sink without snapshot cannot be checkpointed, and what to do (the rest
   * of the refusal line). NULL: "it cannot save what it holds yet". */
  const char *ckpt_refusal;
} sl__sink_vt;

typedef struct sl__sinkdef {
  const sl__sink_vt *vt; /* NULL: no sink yet */
  void *impl;            /* owned: vt->destroy frees it with the flow */
} sl__sinkdef;

/* Most inputs a stage may have (flows merged into it). */
#define SL__MAX_INPUTS 64

typedef struct sl__stage {
  int index;
  int partitions;
  sl__source source;          /* vt set: the stage reads this source (and has no inputs) */
  int inputs[SL__MAX_INPUTS]; /* the stages that feed this one, in slot order */
  int ninputs;
  int target;       /* the stage this one feeds, or -1 (the last stage: the sink) */
  int target_slot;  /* this stage's slot among target's inputs */
  sl_window window; /* of the stage's reducer (kind GLOBAL and no trigger: unwindowed) */
  int windowed;     /* window or trigger or on_trigger set */
  sl_on_trigger_fn on_trigger;
  void *on_trigger_arg;
  /* Each trigger of the (last) reducer leaves as one record tagged with the trigger's
   * identity (sl_flow_departition_window; ops/departition_window.c has the layout). */
  int tag_triggers;
  /* An operator that wraps the stage's first SL__OPF_WRAPPABLE step at run time (windows),
   * or NULL. */
  const struct sl__op_vt *wrap;
  /* The stage tracks event-time watermarks (fixed windows): each sender computes the
   * event time of what it sends here with this function. NULL: none. */
  sl_event_time_fn event_time;
  void *event_time_arg;
  sl__boundary boundary;
  sl_hash_fn hash;
  void *hash_arg;
  sl__step *steps;
  int nsteps, capsteps;
  char name[64];
} sl__stage;

struct sl_flow {
  sl_ctx *ctx;
  sl__stage *stages; /* in an order where every stage comes after its inputs */
  int nstages, capstages;
  sl__sinkdef sink;
  int ran;
  int build_error;                 /* first error while building: reported by sl_run */
  sl__run *last;                   /* stats of the last run */
  void (*last_free)(sl__run *run); /* frees it (set by the engine) */
  char label[128];                 /* sl_flow_set_label: progress, record, log view, trace */
  int ckpt_outcome;                /* sl_flow_checkpoint_outcome of the last run */
};

sl__stage *sl__flow_last_stage(sl_flow *flow);
/* Install a source (takes ownership of impl, also on failure). */
int sl__flow_set_source(sl_flow *flow, int partitions, const sl__source_vt *vt, void *impl,
                        const char *what);
/* Install the flow's sink (takes ownership of impl, also on failure). */
int sl__flow_set_sink(sl_flow *flow, const sl__sink_vt *vt, void *impl, const char *what);
/* Questions about the plan that sinks and sources ask. */
/* Must the output be written in rank order? An SL__OPF_ORDERED step in the last stage, or
 * an SL__SRC_ORDERED source anywhere. */
int sl__plan_ordered_output(const sl_flow *flow);
/* Sources of the flow that read in collective rounds (their collective hook says 1). */
int sl__plan_collective_sources(const sl_flow *flow);
/* The inputs of the flow's sources, for provenance: every source's inputs hook, in stage
 * order, one input a line; 0 and "" when none has one. Returns the length it needs. */
size_t sl__plan_inputs(const sl_flow *flow, char *buf, size_t cap);
/* Every rank must build the same plan: sl_run compares this. */
uint64_t sl__plan_fingerprint(const sl_flow *flow);
/* Checks before a run (plan/builder.c): a wrapper without a step to wrap, ... */
int sl__plan_check(const sl_flow *flow);

#endif
