/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice: flows (sources -> per-record operators -> partitioning -> reduction -> sinks).
 *
 * Lifecycle: sl_flow_create -> sl_flow_from_* -> operators / partition / reduce ... ->
 * one sl_flow_to_* sink -> sl_run (collective) -> sl_flow_destroy.
 * Building a flow is local, but every rank must build the same flow (SPMD), as with
 * any MPI program; sl_run checks this and fails with SL_ERR_STATE if the plans differ.
 *
 * Records are key/value byte strings (either may be empty). The pointers in a record
 * handed to a callback are valid only during that call.
 *
 * A user callback returns 0 on success. Any other value stops the job on every rank:
 * the first failing rank prints one message naming the rank, the stage and the value,
 * and sl_run returns that rank's error code (here SL_ERR_CALLBACK) on every rank.
 */
#ifndef SLUICE_SL_FLOW_H
#define SLUICE_SL_FLOW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sluice/sl_context.h"
#include "sluice/sl_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_flow sl_flow;

typedef struct sl_record {
  const void *key;
  size_t key_len;
  const void *value;
  size_t value_len;
} sl_record;

/* Where a callback sends its output records. */
typedef struct sl_emitter sl_emitter;
/* Emit one record; the bytes are copied. Local. */
SL_EXPORT int sl_emit(sl_emitter *out, const void *key, size_t key_len, const void *value,
                      size_t value_len);

/* A batch as seen by map_batch callbacks. */
typedef struct sl_batch sl_batch;
/* Next record of the batch: returns 1 and fills rec, or 0 at the end. Local. */
SL_EXPORT int sl_batch_next(sl_batch *batch, sl_record *rec);

/* ---- flow object ---- */
SL_EXPORT int sl_flow_create(sl_ctx *ctx, sl_flow **flow);
/* Accepts NULL and *flow == NULL; sets *flow to NULL. Local. */
SL_EXPORT int sl_flow_destroy(sl_flow **flow);
/* Names the most recently added stage step (used in errors, stats and describe). Local. */
SL_EXPORT int sl_flow_name(sl_flow *flow, const char *name);
/* Names the current stage (the one the next operator joins; by default "stage<N>"): the
 * log view, the run record and the trace show it (rank 0's names). Up to 63 bytes are
 * kept. Local. */
SL_EXPORT int sl_flow_name_stage(sl_flow *flow, const char *name);
/* A label for the run, such as "pass 1 of 2", shown by progress lines, the log view, the
 * run record and the trace. Up to 127 bytes are kept. Local. */
SL_EXPORT int sl_flow_set_label(sl_flow *flow, const char *label);

/* ---- sources (exactly one per flow, first). partitions <= 0 means one per rank. ---- */
/* Integers first..last-1, as records with an empty key and an 8-byte native int64 value. */
SL_EXPORT int sl_flow_from_range(sl_flow *flow, int64_t first, int64_t last, int partitions);
/* Generator: fn(i, out, arg) is called for each i in [0, n), split across partitions. */
typedef int (*sl_generate_fn)(int64_t i, sl_emitter *out, void *arg);
SL_EXPORT int sl_flow_from_generator(sl_flow *flow, int64_t n, sl_generate_fn fn, void *arg,
                                     int partitions);
/* An in-memory array, identical on every rank; partition p takes the p-th contiguous
 * slice. The array must stay valid until sl_run returns. */
SL_EXPORT int sl_flow_from_array(sl_flow *flow, const sl_record *records, size_t count,
                                 int partitions);
/* User source: fn is called repeatedly while downstream has room; it emits some records
 * and sets *done = 1 when its partition has no more. To wait for data (an instrument, a
 * slow reader), return without emitting, after a short sleep if you like: the rank then
 * sends what its partitions hold (within --sl-flush-interval), runs the other partitions'
 * windows and triggers, and calls fn again. Do not block for long inside one call: the
 * rank's partitions share one thread. */
typedef int (*sl_source_fn)(int partition, int partitions, sl_emitter *out, int *done, void *arg);
SL_EXPORT int sl_flow_from_callback(sl_flow *flow, sl_source_fn fn, void *arg, int partitions);
/* Text files, as one record per line (empty key, value = the line without its '\n').
 * The files' bytes are split across partitions in byte ranges aligned to newlines and
 * read in bounded blocks; a line may be of any length. Paths are copied. */
SL_EXPORT int sl_flow_from_text_files(sl_flow *flow, const char *const *paths, size_t count,
                                      int partitions);

/* ---- per-record operators, fused into the current stage ---- */
typedef int (*sl_map_fn)(const sl_record *in, sl_record *out, void *arg);
typedef int (*sl_flat_map_fn)(const sl_record *in, sl_emitter *out, void *arg);
/* Returns 1 to keep, 0 to drop, negative to fail. */
typedef int (*sl_filter_fn)(const sl_record *in, void *arg);
typedef int (*sl_each_fn)(const sl_record *in, void *arg);
typedef int (*sl_map_batch_fn)(sl_batch *in, sl_emitter *out, void *arg);

SL_EXPORT int sl_flow_map(sl_flow *flow, sl_map_fn fn, void *arg);
SL_EXPORT int sl_flow_flat_map(sl_flow *flow, sl_flat_map_fn fn, void *arg);
SL_EXPORT int sl_flow_filter(sl_flow *flow, sl_filter_fn fn, void *arg);
SL_EXPORT int sl_flow_reject(sl_flow *flow, sl_filter_fn fn, void *arg);
SL_EXPORT int sl_flow_each(sl_flow *flow, sl_each_fn fn, void *arg);
/* Sees whole batches; must be the first operator of its stage (as in Flow). */
SL_EXPORT int sl_flow_map_batch(sl_flow *flow, sl_map_batch_fn fn, void *arg);

/* ---- repartitioning: each call starts a new stage ---- */
/* A user hash sees the whole record and its value modulo the number of partitions picks
 * the partition (return the partition index itself to choose it). NULL: a 64-bit hash of
 * the key. partitions <= 0: one per rank. */
typedef uint64_t (*sl_hash_fn)(const sl_record *rec, void *arg);
SL_EXPORT int sl_flow_partition(sl_flow *flow, int partitions, sl_hash_fn hash, void *arg);
/* Round-robin rebalance, not keyed. */
SL_EXPORT int sl_flow_shuffle(sl_flow *flow, int partitions);
/* One partition (on rank 0) that receives every record of the previous stage. */
SL_EXPORT int sl_flow_departition(sl_flow *flow);

/* ---- reduction: at most one per stage ---- */
typedef struct sl_reducer {
  /* Make a new accumulator for a partition. */
  int (*init)(void **acc, void *arg);
  /* Fold one record into it. */
  int (*fold)(void *acc, const sl_record *in, void *arg);
  /* At the trigger (end of input): emit the accumulator as events. */
  int (*emit)(void *acc, sl_emitter *out, void *arg);
  /* Free it (may be NULL). */
  void (*destroy)(void *acc, void *arg);
  void *arg;
} sl_reducer;
SL_EXPORT int sl_flow_reduce(sl_flow *flow, const sl_reducer *reducer);

typedef enum sl_agg_kind {
  SL_AGG_COUNT,   /* uint64 number of records; value ignored */
  SL_AGG_SUM_I64, /* value: 8-byte native int64 -> int64 */
  SL_AGG_SUM_F64, /* value: 8-byte native double -> double */
  SL_AGG_MIN_I64,
  SL_AGG_MAX_I64,
  SL_AGG_MIN_F64,
  SL_AGG_MAX_F64,
  SL_AGG_MEAN_F64, /* value: double -> double */
  SL_AGG_USER
} sl_agg_kind;

/* An aggregator over fixed-size state. For SL_AGG_USER: init, update and finalize are
 * required; merge (optional) lets sluice combine map-side before the shuffle. finalize
 * turns the state into the output value in place and sets its length (<= state_size). */
typedef struct sl_aggregator {
  sl_agg_kind kind;
  size_t state_size;
  int (*init)(void *state, void *arg);
  int (*update)(void *state, const sl_record *in, void *arg);
  int (*merge)(void *state, const void *other, void *arg);
  int (*finalize)(void *state, size_t *value_len, void *arg);
  void *arg;
} sl_aggregator;
/* Convenience: a built-in aggregator. */
SL_EXPORT sl_aggregator sl_aggregator_builtin(sl_agg_kind kind);
/* One output record per distinct key: (key, finalized state). If the previous stage
 * boundary is a key-hash partition or departition and this is the stage's first step,
 * an aggregator with merge runs map-side first as a bounded combiner. */
SL_EXPORT int sl_flow_reduce_by_key(sl_flow *flow, const sl_aggregator *agg);
/* (key, values) per key; values encoded as repeated [uint32 native length][bytes], in
 * arrival order (Flow lists them newest first: docs/flow-mapping.md). */
SL_EXPORT int sl_flow_group_by_key(sl_flow *flow);
/* Drop records already seen in this partition (whole record / the bytes uniq_by returns);
 * survivors pass on at once, in arrival order. */
typedef int (*sl_uniq_by_fn)(const sl_record *in, sl_record *key_out, void *arg);
SL_EXPORT int sl_flow_uniq(sl_flow *flow);
SL_EXPORT int sl_flow_uniq_by(sl_flow *flow, sl_uniq_by_fn fn, void *arg);
/* Top k by cmp (negative: a before b), in one partition on rank 0, emitted in order.
 * Memory per partition is bounded by k. Adds a departition stage. */
typedef int (*sl_cmp_fn)(const sl_record *a, const sl_record *b, void *arg);
SL_EXPORT int sl_flow_take_sort(sl_flow *flow, size_t k, sl_cmp_fn cmp, void *arg);

/* Global sort (sample sort): the records are sampled, P-1 splitters chosen, records routed
 * by range to one partition per rank and sorted there, so that the concatenation of the
 * partitions in rank order is sorted by cmp (reversed if descending). A partition holds at
 * most --sl-sort-memory-bytes of records in memory and spills sorted runs to files in
 * --sl-tmpdir (default $TMPDIR or /tmp), merged at the end. Adds a stage. Equal records
 * keep their arrival order within a partition; for a stable sort across ranks, break ties
 * in cmp by a source row index (e.g. sl_flow_from_h5 with with_index). Text and HDF5
 * sinks write partitions in rank order, so a sorted flow gives a sorted file. */
SL_EXPORT int sl_flow_sort(sl_flow *flow, sl_cmp_fn cmp, void *arg, int descending);

/* Global sort by a 64-bit key: as sl_flow_sort, with records ordered by key(record) as
 * unsigned integers (reversed if descending) instead of by a compare function. Records
 * with equal keys keep their arrival order within a partition. Because the order is that
 * of numbers, each partition sorts by radix (a few linear passes) instead of O(n log n)
 * comparisons: use it whenever the order is numeric. sl_sort_key_u64/i64/f64 map a
 * number to such a key; for several fields, pack them (most significant first) into
 * the 64 bits, or use sl_flow_sort. key may run more than once per record and must give
 * the same result each time. */
typedef uint64_t (*sl_sort_key_fn)(const sl_record *r, void *arg);
SL_EXPORT int sl_flow_sort_by_key(sl_flow *flow, sl_sort_key_fn key, void *arg, int descending);

/* Global sort by a key of several 64-bit words: as sl_flow_sort_by_key, with key(record,
 * arg, words) writing nwords words (1 to SL_SORT_KEY_WORDS_MAX), the most significant
 * first, and records ordered by the words as one unsigned number (lexicographically, word
 * by word; reversed if descending: every word complemented). Still a radix sort per
 * partition: digits that are the same in every record cost a counting pass only. For a
 * key wider than 64 bits (a double and a tie break, a fixed-length string) or an order the
 * number alone cannot give: a stable sort across ranks is (value, row index) with the
 * index of sl_flow_from_h5's with_index as the last word. key may run more than once per
 * record and must give the same words each time. Builds the flow (not collective);
 * SL_ERR_INVAL for a NULL key or nwords out of range. */
#define SL_SORT_KEY_WORDS_MAX 8
typedef void (*sl_sort_keys_fn)(const sl_record *r, void *arg, uint64_t *words);
SL_EXPORT int sl_flow_sort_by_keys(sl_flow *flow, sl_sort_keys_fn key, size_t nwords, void *arg,
                                   int descending);

/* Order-preserving 64-bit keys for sl_flow_sort_by_key. */
static inline uint64_t sl_sort_key_u64(uint64_t v) {
  return v;
}
static inline uint64_t sl_sort_key_i64(int64_t v) {
  return (uint64_t)v ^ ((uint64_t)1 << 63); /* INT64_MIN -> 0, -1 -> 2^63 - 1, 0 -> 2^63 */
}
/* IEEE doubles: -inf < negative < -0.0 < +0.0 < positive < +inf; NaNs with the sign bit
 * clear sort after +inf, with it set before -inf. */
static inline uint64_t sl_sort_key_f64(double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u >> 63 ? ~u : u ^ ((uint64_t)1 << 63);
}

typedef enum sl_emit_mode {
  SL_EMIT_EVENTS = 0, /* the accumulator enumerated as records (default) */
  SL_EMIT_STATE,      /* the accumulator as one record: its events encoded as repeated
                         [uint32 klen][uint32 vlen][key][value] (native lengths) */
  SL_EMIT_NOTHING
} sl_emit_mode;
/* Emission mode of the current stage's reducer. */
SL_EXPORT int sl_flow_emit(sl_flow *flow, sl_emit_mode mode);

/* ---- windows and triggers (Flow.Window), per partition of a stage ----
 *
 * A window splits the input of the current stage's reducer (reduce, emit_and_reduce,
 * reduce_by_key, group_by_key, join) into windows with their own accumulators. A trigger
 * makes the reducer emit; what it emits follows the stage's emit mode (sl_flow_emit) or
 * its on_trigger callback. Every window ends with a "done" trigger, after which its
 * accumulator is discarded. Trigger names: "done", "watermark" (fixed windows with
 * allowed lateness), "every", "periodically", or a custom trigger's name. */
typedef enum sl_window_kind {
  SL_WINDOW_GLOBAL = 0, /* one window, done when the partition's input has ended (default) */
  SL_WINDOW_COUNT,      /* tumbling, every n records of the partition; ids 0, 1, 2, ... */
  SL_WINDOW_FIXED,      /* tumbling by event time; id = window start (a multiple of duration) */
  SL_WINDOW_PERIODIC    /* tumbling by processing time; ids 0, 1, 2, ... */
} sl_window_kind;

/* Event time of a record, as an integer in any unit (the unit of the window's duration). */
typedef int (*sl_event_time_fn)(const sl_record *rec, int64_t *time, void *arg);

/* What a trigger does to the accumulator after emitting. */
typedef enum sl_trigger_action {
  SL_TRIGGER_KEEP = 0, /* go on accumulating (the next trigger emits everything again) */
  SL_TRIGGER_RESET     /* start again from an empty accumulator */
} sl_trigger_action;

/* A custom trigger, called for every record that reaches the reducer, before it is folded.
 * state: state_size bytes, zeroed when the window starts. Returns 0 to go on, or a
 * combination of SL_TRIGGER_FIRE (fire after folding this record) or SL_TRIGGER_FIRE_BEFORE
 * (fire before folding it) with SL_TRIGGER_RESET_FLAG (reset after firing; default keep);
 * a negative value fails the job. */
enum { SL_TRIGGER_FIRE = 1, SL_TRIGGER_FIRE_BEFORE = 2, SL_TRIGGER_RESET_FLAG = 4 };
typedef int (*sl_trigger_fn)(const sl_record *rec, void *state, void *arg);

typedef struct sl_window {
  sl_window_kind kind;
  int64_t count;         /* COUNT: records per window */
  int64_t duration;      /* FIXED: in event-time units */
  double period;         /* PERIODIC: seconds */
  sl_event_time_fn time; /* FIXED */
  void *time_arg;
  int64_t lateness; /* FIXED: allowed lateness, event-time units (0: none) */
  /* optional trigger (at most one besides the window's own) */
  int trigger;           /* 0 none, 1 every, 2 periodically, 3 custom */
  int64_t every;         /* records since the last trigger of the window */
  double trigger_period; /* seconds */
  sl_trigger_action action;
  sl_trigger_fn trigger_fn;
  size_t trigger_state_size;
  void *trigger_arg;
  char trigger_name[32];
} sl_window;

/* Constructors. Local. */
SL_EXPORT sl_window sl_window_global(void);
SL_EXPORT sl_window sl_window_count(int64_t n);
/* Windows [k*duration, (k+1)*duration) of event time. A window closes when every upstream
 * partition has sent a record at or past its end (the watermark: the minimum over the
 * senders of the latest event time each has sent, carried with the batches and
 * end-of-stream markers; for a window in the source's stage, the partition's own latest
 * time). Input is assumed ordered by time per upstream partition; records for a closed
 * window are late: dropped and counted (sl_stats.late_dropped). The time function is
 * called on the records as they reach the reducer AND, by the senders, on the records as
 * they enter the stage (for the watermark): operators between the stage's start and its
 * reducer must keep the time readable by the same function. A sender that sends nothing
 * to a partition holds that partition's windows open until it ends. */
SL_EXPORT sl_window sl_window_fixed(int64_t duration, sl_event_time_fn time, void *arg);
SL_EXPORT sl_window sl_window_periodic(double seconds);
/* FIXED only: when the watermark passes a window's end, fire "watermark" and keep accepting
 * its records until the watermark passes end + lateness (event-time units, unlike Flow's
 * processing time, so results are reproducible), then fire "done". */
SL_EXPORT int sl_window_allowed_lateness(sl_window *w, int64_t lateness);
/* Fire "every" after each n records folded into a window. */
SL_EXPORT int sl_window_trigger_every(sl_window *w, int64_t n, sl_trigger_action action);
/* Fire "periodically" every `seconds` of processing time, in every window that received
 * records since its last trigger. */
SL_EXPORT int sl_window_trigger_periodically(sl_window *w, double seconds,
                                             sl_trigger_action action);
/* A custom trigger named `name` (copied, up to 31 bytes). */
SL_EXPORT int sl_window_trigger(sl_window *w, sl_trigger_fn fn, size_t state_size, const char *name,
                                void *arg);
/* Set the window of the current stage: applies to its reducer (added before or after this
 * call). Local; every rank must set the same window. */
SL_EXPORT int sl_flow_window(sl_flow *flow, const sl_window *w);

/* Identity of a trigger, as given to on_trigger. */
typedef struct sl_trigger_info {
  int partition, partitions;
  sl_window_kind window_kind;
  int64_t window;      /* window id: 0 (global), index (count, periodic), start (fixed) */
  const char *trigger; /* "done", "watermark", "every", "periodically" or a custom name */
} sl_trigger_info;

/* Called at each trigger instead of the default emission.
 * For sl_flow_reduce / sl_flow_emit_and_reduce: *acc is the accumulator and events is NULL;
 * emit with out, and leave *acc (keep), or replace it (the callback then owns the old one;
 * after "done" whatever is left in *acc is destroyed).
 * For the built-in reducers (reduce_by_key, group_by_key, join): acc is NULL and events
 * holds the records the reducer would emit (iterate with sl_batch_next); the trigger's
 * action (keep / reset) applies to the accumulator afterwards. */
typedef int (*sl_on_trigger_fn)(void **acc, sl_batch *events, const sl_trigger_info *info,
                                sl_emitter *out, void *arg);
SL_EXPORT int sl_flow_on_trigger(sl_flow *flow, sl_on_trigger_fn fn, void *arg);

/* Flow's departition/4 for windows: merges, per window, what every partition of the current
 * stage emits at its triggers, in a new stage of one partition (on rank 0), and emits the
 * merged result once that window is done in every partition.
 *   init(&acc, arg): a new accumulator, when a window is first heard of;
 *   merge(acc, events, from, arg): one partition's trigger output for the window (events:
 *     the records its reducer would emit, iterate with sl_batch_next; from: that partition,
 *     the window kind and id, and the trigger's name: "done", "watermark", "every", ...);
 *   done(acc, info, out, arg): the window is done in every partition: emit its result with
 *     out (info: partition 0 of 1, the window, trigger "done"); windows some partition never
 *     closed are done at the end of the input, in window order;
 *   destroy(acc, arg): optional, after done.
 * The current stage must end with its reducer (Flow: "must follow a reduce"), without an
 * on_trigger; its window applies (none set: the global window). Local; adds a stage. */
typedef struct sl_departition {
  int (*init)(void **acc, void *arg);
  int (*merge)(void *acc, sl_batch *events, const sl_trigger_info *from, void *arg);
  int (*done)(void *acc, const sl_trigger_info *info, sl_emitter *out, void *arg);
  void (*destroy)(void *acc, void *arg);
  void *arg;
} sl_departition;
SL_EXPORT int sl_flow_departition_window(sl_flow *flow, const sl_departition *d);

/* Like sl_flow_reduce, but fold may also emit records at once (Flow's emit_and_reduce);
 * the accumulator is still emitted at each trigger. reducer->fold is ignored. */
typedef int (*sl_fold_emit_fn)(void *acc, const sl_record *in, sl_emitter *out, void *arg);
SL_EXPORT int sl_flow_emit_and_reduce(sl_flow *flow, const sl_reducer *reducer,
                                      sl_fold_emit_fn fold);

/* ---- checkpoints of the user's state (docs/checkpoint.md) ----
 * A flow holding state that only the user's code understands (a reduce or emit_and_reduce
 * accumulator, a departition_window accumulator, a callback source's read position) can be
 * checkpointed (--sl-checkpoint-dir) only with these hooks; without them such a run is
 * refused before it starts, with one line naming the step or source. */
/* Where a save hook writes the state's bytes (valid during the call only). */
typedef struct sl_state_out sl_state_out;
/* Append len bytes to the state being saved. Local. */
SL_EXPORT int sl_state_write(sl_state_out *out, const void *data, size_t len);
/* save: write the accumulator as bytes with sl_state_write (any length, 0 included).
 * restore: a resumed run's accumulator, just made by init, as *acc; set it from the bytes
 * save wrote (or replace *acc, freeing the old one). Both return 0 on success; called on the
 * rank of the partition (and once per open window of a windowed reducer). */
typedef int (*sl_acc_save_fn)(const void *acc, sl_state_out *out, void *arg);
typedef int (*sl_acc_restore_fn)(void **acc, const void *data, size_t len, void *arg);
/* Give the flow's last step, a reduce, emit_and_reduce or departition_window, a way to save
 * its accumulator in a checkpoint and restore it on resume. Local (SPMD): call it on every
 * rank, right after adding that step. */
SL_EXPORT int sl_flow_checkpoint_acc(sl_flow *flow, sl_acc_save_fn save, sl_acc_restore_fn restore,
                                     void *arg);
/* A callback source's position, per partition: save runs between two calls of the source's
 * function and writes what a resumed run needs to go on from there; restore runs in the
 * resumed run before the first call of that partition's function. 0 on success. */
typedef int (*sl_source_save_fn)(int partition, int partitions, sl_state_out *out, void *arg);
typedef int (*sl_source_restore_fn)(int partition, int partitions, const void *data, size_t len,
                                    void *arg);
/* Give the flow's callback source (sl_flow_from_callback, the flow's first stage) save and
 * restore hooks, so that the flow can be checkpointed. Local (SPMD), before merging or
 * joining the flow into another. */
SL_EXPORT int sl_flow_checkpoint_source(sl_flow *flow, sl_source_save_fn save,
                                        sl_source_restore_fn restore, void *arg);

/* ---- several flows into one stage ---- */
/* Merge: a new stage of `partitions` partitions (<= 0: one per rank) fed by the current
 * last stage of flow and of each of others[0..n-1], routed as sl_flow_partition routes
 * (hash NULL: by key hash). The other flows are moved into flow: they must not have a
 * sink, and are left empty (destroy them as usual). Local (SPMD). */
SL_EXPORT int sl_flow_merge(sl_flow *flow, sl_flow *const *others, int n, int partitions,
                            sl_hash_fn hash, void *arg);

typedef enum sl_join_mode {
  SL_JOIN_INNER = 0,
  SL_JOIN_LEFT,  /* left outer: every left record, matched or with an empty right side */
  SL_JOIN_RIGHT, /* right outer */
  SL_JOIN_FULL   /* full outer */
} sl_join_mode;
/* Called per match (both non-NULL) and, at the window's end, per unmatched record of an
 * outer side (the other NULL). key is the join key. NULL join function: emit (key, value)
 * with value = [uint32 left_len][left][uint32 right_len][right], a missing side having
 * length UINT32_MAX and no bytes. */
typedef int (*sl_join_fn)(const sl_record *left, const sl_record *right, sl_emitter *out,
                          void *arg);
/* Join flow (left) with right by record key: both are partitioned by key hash into a new
 * stage of `partitions` partitions where a symmetric hash join emits each match as soon as
 * both sides have arrived, and unmatched records (outer modes) when the window closes
 * (the global window by default; set one with sl_flow_window for Flow's window_join, the
 * event-time function sees each side's records). right is moved into flow and left empty.
 * Join state is reduce state: it grows with the input of a window. Local (SPMD). */
SL_EXPORT int sl_flow_join(sl_flow *left, sl_flow *right, sl_join_mode mode, int partitions,
                           sl_join_fn fn, void *arg);

/* ---- sinks: exactly one, last ---- */
/* Count the records; *count is set on every rank after sl_run. */
SL_EXPORT int sl_flow_to_count(sl_flow *flow, uint64_t *count);
/* Gather the records to rank 0. For SMALL results only: they are held in rank 0's memory.
 * Lifetimes: *out is set to NULL here, and `out` itself must stay valid until sl_run
 * returns (sl_run writes through it). When the run succeeds, sl_run stores a new collection
 * in *out on every rank (rank 0 holds the records, the other ranks an empty one); after a
 * failed run *out stays NULL. The caller owns the collection: it does not point into the
 * flow, outlives sl_flow_destroy, and is freed with sl_collection_destroy. Records from
 * sl_collection_get point into the collection and live as long as it does. Local (SPMD). */
typedef struct sl_collection sl_collection;
SL_EXPORT int sl_flow_to_collect(sl_flow *flow, sl_collection **out);
SL_EXPORT size_t sl_collection_count(const sl_collection *c);
SL_EXPORT int sl_collection_get(const sl_collection *c, size_t i, sl_record *rec);
SL_EXPORT void sl_collection_destroy(sl_collection **c);
/* Text output. fmt formats one record as bytes appended to a line (the sink adds '\n');
 * NULL writes the value bytes. Built-in formatters: */
typedef struct sl_text sl_text;
SL_EXPORT int sl_text_append(sl_text *line, const void *bytes, size_t len);
typedef int (*sl_format_fn)(const sl_record *rec, sl_text *line, void *arg);
SL_EXPORT int sl_format_value(const sl_record *rec, sl_text *line, void *arg);
SL_EXPORT int sl_format_tsv(const sl_record *rec, sl_text *line, void *arg);     /* key\tvalue */
SL_EXPORT int sl_format_tsv_u64(const sl_record *rec, sl_text *line, void *arg); /* key\tdecimal */
SL_EXPORT int sl_format_tsv_i64(const sl_record *rec, sl_text *line, void *arg);
SL_EXPORT int sl_format_tsv_f64(const sl_record *rec, sl_text *line, void *arg);
/* Write ONE file from all ranks in parallel (MPI-IO at offsets from an exclusive scan;
 * nothing gathered to rank 0). The file is written under a temporary name and renamed
 * when complete; an existing file is refused unless overwrite is nonzero.
 * path "-" streams to rank 0's stdout (through a single partition). */
SL_EXPORT int sl_flow_to_text(sl_flow *flow, const char *path, sl_format_fn fmt, void *arg,
                              int overwrite);
/* Hand every record to fn on the rank of its partition. */
SL_EXPORT int sl_flow_to_callback(sl_flow *flow, sl_each_fn fn, void *arg);

/* ---- running ---- */
/* Execute the flow. Collective over the context's communicator. May be called once. */
SL_EXPORT int sl_run(sl_flow *flow);
/* How the last sl_run of this flow went with --sl-checkpoint-dir (docs/checkpoint.md): *how
 * is 0 when it ran from the start, 1 when it resumed from a checkpoint, 2 when it was
 * skipped: the checkpoint is of a later sl_run of the same program, so an earlier job
 * finished this one (its outputs are there) and the regions kept with
 * sl_checkpoint_keep hold what they held at that checkpoint. Local. */
SL_EXPORT int sl_flow_checkpoint_outcome(const sl_flow *flow, int *how);
/* Keep n bytes at p (state that the program's callbacks fill on this rank, such as an
 * accumulator of sl_flow_each_block) in every checkpoint of the runs that follow, and put
 * them back when a run resumes or is skipped (see sl_flow_checkpoint_outcome). Regions are
 * matched by the order of the calls, which must be the same in the resumed program; p NULL
 * and n 0 forget every region. Local; every rank keeps its own. */
SL_EXPORT int sl_checkpoint_keep(sl_ctx *ctx, void *p, size_t n);
/* Print the stage graph: stages, steps, partitions and their placement on ranks. Local. */
SL_EXPORT int sl_flow_describe(const sl_flow *flow, FILE *out);
/* Print the plan as sl_run would run it, without running it: what sl_flow_describe
 * prints, then each source's inputs and their sizes, and the memory budgets of a rank
 * (batches, send and receive budgets, read blocks, combiner table, output buffers, the
 * memory for held records of sorts and joins as resolved on this node). The sources are
 * prepared as sl_run prepares them: their inputs are opened and checked, and a missing or
 * bad input fails here (the first failing rank prints the one line; every rank returns
 * its code). Rank 0 prints to out; the others may pass NULL. The sink is not prepared: no
 * output is created. The flow is then spent: sl_run on it is SL_ERR_STATE (destroy it).
 * Collective over the flow's communicator. SL_ERR_INVAL: NULL flow, or NULL out on rank
 * 0; SL_ERR_STATE: run or described before, no source; a builder's error; the sources'
 * errors (SL_ERR_IO, SL_ERR_HDF5, ...). */
SL_EXPORT int sl_flow_describe_run(sl_flow *flow, FILE *out);

/* Statistics of the last run on this rank. stage = -1: totals of the rank. Local. */
typedef struct sl_stats {
  uint64_t records_in, records_out;
  uint64_t bytes_sent, bytes_received;
  uint64_t batches_sent, batches_received;
  uint64_t input_bytes;      /* bytes read by sources */
  uint64_t inflight_hwm;     /* high-water mark of batch buffer bytes (send+receive) */
  uint64_t reduce_state_hwm; /* high-water mark of reduce/combiner state bytes */
  double stall_seconds;      /* time a producer waited for credit */
  double work_seconds;       /* time the stage's partitions spent working: pulling input,
                                running its steps (user callbacks included), draining */
  double wall_seconds;
  uint64_t late_dropped; /* records dropped by fixed windows: later than allowed */
  uint64_t triggers;     /* triggers fired by windowed reducers */
  int bound_core;        /* OS index of the core this rank is bound to, or -1 */
} sl_stats;
SL_EXPORT int sl_flow_stage_count(const sl_flow *flow, int *count);
SL_EXPORT int sl_flow_get_stats(const sl_flow *flow, int stage, sl_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
