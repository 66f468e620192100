/* sluice internal: the plan a flow builds (stages of fused steps) before it runs.
 *
 * A flow is a list of stages. Stage 0 has a source; every later stage receives the
 * records of the previous one through a boundary (hash partition, round-robin shuffle,
 * or a single partition). Within a stage, steps are fused: a record goes through them by
 * function calls, never by messages. The last stage ends in the sink. */
#ifndef SLUICE_PLAN_H
#define SLUICE_PLAN_H

#include "core/core.h"

typedef enum sl__boundary {
  SL__BOUND_SOURCE,
  SL__BOUND_HASH,
  SL__BOUND_SHUFFLE,
  SL__BOUND_SINGLE,
  SL__BOUND_RANGE /* by splitters sampled from the data (sort) */
} sl__boundary;

typedef enum sl__step_kind {
  SL__STEP_MAP,
  SL__STEP_FLAT_MAP,
  SL__STEP_FILTER,
  SL__STEP_REJECT,
  SL__STEP_EACH,
  SL__STEP_MAP_BATCH,
  SL__STEP_REDUCE,        /* user reducer */
  SL__STEP_REDUCE_BY_KEY, /* aggregator; merge_input when fed by a combiner */
  SL__STEP_COMBINER,      /* map-side half of a reduce_by_key */
  SL__STEP_GROUP,
  SL__STEP_UNIQ,
  SL__STEP_TOPK,
  SL__STEP_SORT_SPLIT, /* end of the stage before a sort: hold, sample, then replay */
  SL__STEP_SORT_LOCAL, /* start of the sorted stage: sort (spilling runs), emit in order */
  SL__STEP_JOIN        /* symmetric hash join of the stage's two inputs */
} sl__step_kind;

typedef struct sl__step {
  sl__step_kind kind;
  char name[64];
  void *fn; /* the user callback, cast per kind */
  void *arg;
  sl_reducer reducer;
  sl_aggregator agg;
  int merge_input;         /* REDUCE_BY_KEY: input records carry partial states */
  size_t k;                /* TOPK */
  int descending;          /* SORT_* */
  sl_sort_key_fn sort_key; /* SORT_*: order by this key (fn is then NULL, arg its arg) */
  sl_emit_mode emit_mode;
  sl_fold_emit_fn fold_emit; /* REDUCE: emit_and_reduce */
  sl_join_mode join_mode;    /* JOIN */
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
} sl__source_vt;

struct sl__source {
  const sl__source_vt *vt;
  void *impl;
  uint64_t total_bytes; /* for progress; 0 if unknown */
};

typedef enum sl__sink_kind {
  SL__SINK_NONE,
  SL__SINK_COUNT,
  SL__SINK_COLLECT,
  SL__SINK_CALLBACK,
  SL__SINK_TEXT,
  SL__SINK_EXT /* a sink defined by another module through sl__sink_vt (e.g. HDF5) */
} sl__sink_kind;

/* A pluggable sink: prepare and finish are collective; push runs on the rank of the
 * record's partition and must not block (buffer, spill, or write in bounded pieces). */
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
} sl__sink_vt;

typedef struct sl__sinkdef {
  sl__sink_kind kind;
  uint64_t *count_out;
  sl_collection **collect_out;
  sl_each_fn fn;
  void *arg;
  sl_format_fn fmt;
  void *fmt_arg;
  char *path; /* NULL: stdout of rank 0 */
  int overwrite;
  const sl__sink_vt *ext;
  void *ext_impl; /* owned: ext->destroy frees it with the flow */
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
  sl__boundary boundary;
  sl_hash_fn hash;
  void *hash_arg;
  sl_cmp_fn range_cmp; /* SL__BOUND_RANGE (or range_key) */
  sl_sort_key_fn range_key;
  void *range_arg;
  int range_descending;
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
  int build_error; /* first error while building: reported by sl_run */
  sl__run *last;   /* stats of the last run */
};

sl__stage *sl__flow_last_stage(sl_flow *flow);
int sl__step_kind_is_reducer(int kind);
/* Install a source (takes ownership of impl, also on failure). */
int sl__flow_set_source(sl_flow *flow, int partitions, const sl__source_vt *vt, void *impl,
                        const char *what);
/* Install a pluggable sink (takes ownership of impl, also on failure). */
int sl__flow_set_ext_sink(sl_flow *flow, const sl__sink_vt *vt, void *impl, const char *what);

#endif
