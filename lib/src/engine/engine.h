/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the runtime of one sl_run (see docs/architecture.md).
 *
 * Every rank runs one single-threaded event loop over its local partitions. A partition
 * pulls input (its source, or batches that arrived from the previous stage), pushes each
 * record through the stage's fused steps, and appends output records to per-destination
 * batches of its stage's output ("out"). Full batches leave with MPI_Isend when the edge
 * has credit; same-rank edges hand the buffer over without MPI.
 *
 * Memory: an out owns a fixed pool of send buffers; when none is free the stage is
 * "blocked" and its partitions stop pulling input (backpressure). A receiving partition
 * owns a fixed budget of credits (batches) that it grants to senders. */
#ifndef SLUICE_ENGINE_H
#define SLUICE_ENGINE_H

#include "core/batch.h"
#include "plan/plan.h"

/* Message types on the data tag (ordered per sender) and the control tag. */
enum { SL__TAG_DATA = 101, SL__TAG_BIG = 102, SL__TAG_CTRL = 103 };
/* BARRIER: a checkpoint's marker (its epoch in the header's wm), after every batch the
 * sender emitted before its snapshot; like EOS it carries no payload and takes no credit. */
enum { SL__MSG_DATA = 1, SL__MSG_EOS = 2, SL__MSG_BIG = 3, SL__MSG_BARRIER = 4 };
static inline int sl__msg_marker(int type) {
  return type == SL__MSG_EOS || type == SL__MSG_BARRIER;
}
/* CKPT_*: the checkpoint protocol (engine/checkpoint.c); count: the epoch, slot: a flag. */
enum {
  SL__CTRL_GRANT = 1,
  SL__CTRL_REQUEST = 2,
  SL__CTRL_ABORT = 3,
  SL__CTRL_RELEASE = 4,
  SL__CTRL_CKPT_REQUEST = 5, /* to rank 0: a stop signal arrived here */
  SL__CTRL_CKPT_START = 6,   /* from rank 0: epoch `count` begins (slot 1: then stop) */
  SL__CTRL_CKPT_DONE = 7,    /* to rank 0: this rank's part is written (slot 1) or failed */
  SL__CTRL_CKPT_COMMIT = 8   /* from rank 0: committed (slot 1) or not */
};

typedef struct sl__msghdr {
  uint32_t type;
  int32_t stage; /* receiving stage */
  int32_t part;  /* receiving partition */
  uint32_t nrec;
  uint64_t len; /* payload bytes (for BIG: bytes of the payload message) */
  int32_t slot; /* the sending stage's input slot in the receiving stage */
  int32_t pad;
  int64_t wm; /* the sending rank's event-time watermark (sl__stage.event_time), or INT64_MIN */
} sl__msghdr;

/* stage/part: the receiving partition; slot: the sending stage's input slot there. */
typedef struct sl__ctrlmsg {
  int32_t type, stage, part, count, slot;
} sl__ctrlmsg;

typedef struct sl__out sl__out;

/* A batch buffer: message header followed by up to cap payload bytes. */
typedef struct sl__buf {
  char *data; /* sl__msghdr then payload */
  size_t cap; /* payload capacity */
  size_t len; /* payload bytes used */
  uint32_t nrec;
  int type;       /* SL__MSG_* */
  int src_rank;   /* inbound: sender */
  sl__out *owner; /* the out whose pool it returns to (NULL: receive pool / malloc) */
  int pool;       /* 1: from a pool (out or receive), 0: one-off allocation */
  size_t pos;     /* inbound: decode cursor */
  int pending;    /* outbound: MPI requests not yet complete */
  int slot;       /* inbound: input slot of the sending stage */
  int64_t wm;     /* inbound: the sender's watermark */
  int64_t tmin;   /* outbound, with event time: the oldest event time in it */
  double born;    /* outbound: when its first record came (--sl-flush-interval) */
  struct sl__buf *next;
} sl__buf;

static inline char *sl__buf_payload(sl__buf *b) {
  return b->data + sizeof(sl__msghdr);
}

typedef struct sl__dest {
  sl__buf *cur; /* being filled */
  sl__buf *ready_head, *ready_tail;
  int nready;
  int rank;      /* owner rank of the destination partition */
  int credits;   /* batches we may send now */
  int requested; /* a REQUEST is outstanding */
  int eos_pending, eos_sent;
  int64_t barrier; /* a checkpoint barrier of this epoch waits to follow the ready batches */
} sl__dest;

struct sl__out {
  sl__run *run;
  int stage;              /* sending stage */
  int target;             /* receiving stage */
  int slot;               /* the sending stage's input slot in the receiving stage */
  int ndest;              /* partitions of the receiving stage */
  sl_event_time_fn etime; /* the receiving stage tracks event time: the records' */
  void *etime_arg;
  int64_t cur_t; /* event time of the record being emitted (etime set) */
  sl__boundary boundary;
  /* the edge's router: the destination partition of a record (key hash, user hash, round
   * robin, single, or one an operator installed: sl__out_set_router) */
  int (*route)(void *arg, const sl_record *rec, int ndest);
  void *route_arg;
  sl_hash_fn hash;
  void *hash_arg;
  sl__dest *dest;
  size_t cap;
  int initial; /* credits every sender is guaranteed per destination (may be 0) */
  int nbufs, nalloc;
  int nready; /* full batches waiting for credit, over all destinations */
  sl__buf *free;
  uint64_t rr;
  double stall_since;      /* when it last became blocked (0 if not blocked) */
  double next_flush_check; /* when partial batches are next looked at (sl__out_flush_aged) */
};

/* Credit state of a receiving partition (see docs/architecture.md, "credits"). */
typedef struct sl__credits {
  int budget;   /* C: batches this partition may have granted at once */
  int initial;  /* granted up front to every sender, without messages */
  int thresh;   /* return credits to a sender in groups of this many */
  int pool;     /* not granted */
  int nsenders; /* sender ids: base[slot] + rank, for the ranks hosting each input stage */
  int base[SL__MAX_INPUTS + 1];
  int *srank, *sslot; /* sender id -> rank, slot */
  int *held;          /* per sender: granted and not yet consumed */
  int *ret;           /* per sender: consumed, to be returned */
  unsigned char *queued;
  int *queue; /* FIFO of senders waiting for a grant */
  int qhead, qlen;
} sl__credits;

typedef struct sl__stepinst {
  const sl__step *step;
  const struct sl__op_vt *op;    /* what the engine calls: the step's operator, or the
                                    stage's wrapper around it */
  const struct sl__op_vt *inner; /* wrapped: the step's own operator, else NULL */
  int (*push)(sl__part *p, int i, const sl_record *rec); /* op->push, asked per record */
  void *state;                                           /* the (inner) operator's state */
  void *wrap;                                            /* wrapped: the wrapper's state */
  /* How a wrapper asks the inner operator to drain: */
  int draining;      /* a drain is in progress (cursor in state) */
  int force_capture; /* drain into the part's capture buffer and stop there */
  int keep_open;     /* the state lives on after this drain (hold unmatched records) */
  int ckpt_inner;    /* checkpoints: the chunks being saved or restored are the inner
                        operator's (engine/op.h, restore) */
} sl__stepinst;

struct sl_emitter {
  sl__part *part;
  int step; /* index of the step that receives emitted records */
};

struct sl_batch {
  const char *data;
  size_t len, pos;
};

typedef struct sl__stagestats {
  uint64_t records_in, records_out, bytes_sent, bytes_received, batches_sent, batches_received;
  uint64_t input_bytes;
  uint64_t late_dropped, triggers;
  double stall, work; /* seconds a producer waited for credit; seconds partitions worked */
  double first, last; /* sl__now() of the stage's first and last work on this rank (0: none) */
} sl__stagestats;

struct sl__part {
  sl__run *run;
  const sl__stage *stage;
  int index;
  int nsteps;
  sl__stepinst *steps;
  sl_emitter *em; /* em[i] feeds step i; em[nsteps] feeds the output */
  sl__out *out;   /* NULL in the last stage (the sink) */
  /* input */
  void *src_state;
  sl__buf *in_head, *in_tail;
  int eos_count;
  sl__credits cr;
  int input_ended;
  int finish_step; /* next step to finish after input ended */
  int flush_step;  /* a step that asked to drain mid-stream (combiner full), or -1 */
  int done;
  int waiting;      /* a step waits for something other than data (a collective) */
  int emit_err;     /* the engine error an sl_emit returned to a callback, if any */
  int cur_slot;     /* input slot of the batch being consumed (a stage with several inputs) */
  int cur_sender;   /* its sender id, or -1 in a source stage */
  int64_t wm_sent;  /* latest event time sent to a stage that tracks event time */
  uint64_t emitted; /* records emitted with sl_emit in this partition (any step) */
  int src_idle;     /* its source has nothing for now (a callback returned empty-handed) */
  int wm_step;      /* index of the first step with a watermark or tick hook, or -1 */
  int pending_step; /* a step has output queued to emit before more input: its index, or -1 */
  sl__stagestats *st;
  /* emit mode "state": events captured here, then emitted as one record */
  sl__bytes capture;
  /* checkpoints (engine/checkpoint.c): per sender, whether it ended and the epoch of its
   * last barrier; snapped: this partition saved its part of the running epoch and waits
   * for the commit */
  unsigned char *ended;
  int64_t *barrier;
  int snapped;
  /* the layout of the rows its source pushes (engine/rows.h), or NULL */
  const sl_h5_layout *row_layout;
};

#define SL__CAPTURE (-1)

typedef struct sl__srun {
  sl__part **parts; /* local partitions of this stage */
  int nlocal;
  int nopen;
  sl__out *out;
  sl__stagestats st;
  void **rstate; /* per step of the stage: its run-wide state (sl__op_vt.run_setup) */
  int forwarded; /* checkpoints: this rank's barrier of the running epoch left the stage */
} sl__srun;

typedef struct sl__sendreq {
  sl__buf *buf;  /* NULL for control messages */
  void *ctrlmem; /* owned control message */
} sl__sendreq;

struct sl__run {
  sl_flow *flow;
  sl_ctx *ctx;
  MPI_Comm comm;
  int rank, size;
  int nstages;
  sl__srun *stages;
  /* receive ring (data tag, ANY_SOURCE), processed in posting order */
  int nring, ring_head;
  sl__buf **ring;
  MPI_Request *ring_req;
  size_t recv_cap;
  sl__buf *recv_free;
  /* control receives */
  int nctrl;
  sl__ctrlmsg *ctrl_buf;
  MPI_Request *ctrl_req;
  /* local control messages (same-rank edges) */
  sl__ctrlmsg *lctrl;
  int nlctrl, caplctrl;
  /* outstanding sends */
  MPI_Request *sreq;
  sl__sendreq *sinfo;
  int nsend, capsend;
  int *sidx;
  /* per-peer message counts, to drain at the end (normal or abort) */
  uint64_t *data_sent, *data_recv, *ctrl_sent, *ctrl_recv;
  /* memory accounting of batch buffers */
  uint64_t mem_cur, mem_hwm, state_cur, state_hwm;
  int held_shares;      /* partitions' steps on this rank that asked for memory (SL__OPF_MEMORY) */
  uint64_t held_budget; /* bytes each of them may hold (sl__held_memory_bytes) */
  int err;              /* local error code */
  int remote_abort;     /* another rank failed */
  int stopped;
  /* the sink (the flow's), its hooks asked once per record cached */
  const sl__sink_vt *sink;
  int (*sink_blocked)(void *impl, const sl__part *part);
  int (*sink_push)(void *impl, sl__part *part, const sl_record *rec);
  void *sink_impl;
  /* progress, record, trace */
  double t0;    /* sl__now() when every rank had entered the run (after its first collective) */
  double wall0; /* rank 0's UTC seconds at t0 (the same on every rank) */
  double t_end; /* sl__now() when the outcome was agreed */
  uint64_t total_input;
  uint64_t written0; /* ctx->bytes_written when the run began */
  sl_stats total;
  struct sl__progress *prog; /* NULL: no progress lines in this run */
  struct sl__trace *trace;   /* NULL: no --sl-trace */
  struct sl__ckpt *ckpt;     /* NULL: no --sl-checkpoint-dir */
  int ckpt_active;           /* a checkpoint's epoch runs on this rank */
  int status;                /* the agreed outcome (SL_OK or the code every rank returns) */
};

/* ---- engine/part.c ---- */
/* A record out of the stage's last step: to the next stage's batches or the sink. */
int sl__push_out(sl__part *p, const sl_record *rec);
/* A record into step i of the partition (i == nsteps: out of the stage). */
static inline int sl__push(sl__part *p, int i, const sl_record *rec) {
  if (i == p->nsteps)
    return sl__push_out(p, rec);
  return p->steps[i].push(p, i, rec);
}
/* May a drain of step k emit now? (output not blocked, no later step flushing) */
int sl__part_drain_blocked(const sl__part *p, int k);
int sl__part_work(sl__part *p, int *progress);
int sl__part_setup(sl__run *run, sl__part *p);
void sl__part_teardown(sl__part *p);

/* ---- engine/transport.c ---- */
int sl__out_create(sl__run *run, int stage, sl__out **out);
void sl__out_destroy(sl__out *o);
int sl__out_emit(sl__out *o, const sl_record *rec);
int sl__out_stage_done(sl__out *o); /* all local partitions done: flush + EOS */
int sl__out_all_eos(const sl__out *o);
void sl__buf_release(sl__run *run, sl__buf *b);
int sl__transport_start(sl__run *run);
int sl__transport_poll(sl__run *run, int *progress);
int sl__transport_finish(sl__run *run);
int sl__transport_abort_all(sl__run *run);
void sl__transport_free(sl__run *run);
int sl__out_unstick(sl__out *o);
/* Send the partial batches that waited --sl-flush-interval (now: sl__now()). */
int sl__out_flush_aged(sl__out *o, double now);
int sl__credits_eos(sl__run *run, sl__part *p, int sender);
/* A control message (same rank: queued locally). */
int sl__send_ctrl(sl__run *run, int rank, int type, int stage, int part, int count, int slot);
/* Checkpoints: flush the partial batches and queue a barrier of `epoch` behind them toward
 * every destination that has not ended. */
int sl__out_barrier(sl__out *o, int64_t epoch);
int sl__credits_init(sl__run *run, sl__part *p);
int sl__credits_consumed(sl__run *run, sl__part *p, int sender);
void sl__credits_free(sl__credits *c);
void sl__mem_add(sl__run *run, int64_t bytes);
void sl__state_add(sl__run *run, int64_t bytes);

/* ---- engine/part.c: what operators use ---- */
int sl__callback_failed(sl__part *p, int i, int rc);
/* A callback returned rc: an sl_emit failure inside it is the cause, else the callback. */
int sl__callback_result(sl__part *p, int i, int rc);

/* ---- stats (engine/stats.c): gathers the ranks' counters, then the run record
 * (engine/record.c) and the log view (engine/logview.c) ---- */
int sl__stats_report(sl__run *run); /* collective */
/* The gathered figures, on rank 0: per rank, SL__ST_NRANK run-wide values then
 * SL__ST_NSTAGE per stage (names in sl__st_rank_names / sl__st_stage_names). */
enum {
  SL__ST_HWM,
  SL__ST_STATE,
  SL__ST_RSS,
  SL__ST_WALL,
  SL__ST_CORE,
  SL__ST_READ,
  SL__ST_WRITTEN,
  SL__ST_NRANK
};
enum {
  SL__ST_REC_IN,
  SL__ST_REC_OUT,
  SL__ST_BYTES_SENT,
  SL__ST_BYTES_RECV,
  SL__ST_BATCH_SENT,
  SL__ST_BATCH_RECV,
  SL__ST_INPUT,
  SL__ST_STALL,
  SL__ST_WORK,
  SL__ST_ACTIVE,
  SL__ST_LATE,
  SL__ST_TRIGGERS,
  SL__ST_NSTAGE
};
extern const char *const sl__st_rank_names[SL__ST_NRANK];
extern const char *const sl__st_stage_names[SL__ST_NSTAGE];
typedef struct sl__gathered {
  const double *all; /* size rows of `per` values */
  int per, size, nstages;
  const char *hosts; /* size names of SL__HOST_LEN bytes */
} sl__gathered;
#define SL__HOST_LEN 64
/* min, average and max of value idx over the ranks */
void sl__st_over_ranks(const sl__gathered *g, int idx, double *mn, double *avg, double *mx);
/* Append one JSON line to the --sl-stats file (rank 0; O_APPEND, one write). */
int sl__record_write(sl__run *run, const sl__gathered *g, const char *path);
/* The PETSc-style summary on f (rank 0). */
void sl__log_view(sl__run *run, const sl__gathered *g, FILE *f);

/* ---- checkpoints (engine/checkpoint.c, docs/checkpoint.md) ---- */
struct sl__ckpt_writer;
/* Collective, after the transport started: with --sl-checkpoint-dir, refuse a flow that
 * cannot be checkpointed, load and check a committed checkpoint and restore every local
 * partition, source and the sink from it. Agreed: every rank returns the same code. */
int sl__ckpt_begin(sl__run *run);
/* Every turn of the loop: signals, the interval, snapshots, the commit. SL_ERR_STOPPED
 * (recorded) once a checkpoint that stops the run has been committed. */
int sl__ckpt_poll(sl__run *run, int *progress);
/* A checkpoint control message (SL__CTRL_CKPT_*). */
int sl__ckpt_ctrl(sl__run *run, int src, const sl__ctrlmsg *m);
/* 1 while the loop must go on for checkpoints (an epoch runs, or ranks may still start
 * one: a non-blocking barrier of the ranks done with their part has not completed). */
int sl__ckpt_linger(sl__run *run);
/* After the run: success removes the checkpoint (rank 0); frees the state. */
void sl__ckpt_end(sl__run *run, int status);
/* 1 when sl__ckpt_begin found a checkpoint of a later sl_run: this run is not run. */
int sl__ckpt_skipped(const sl__run *run);
/* Tests only (SLUICE_TEST_CKPT_SIGNAL, engine/checkpoint.c): a source passed on n rows (or
 * text lines or blocks; at_sink 0), the sink took n rows or lines (1), or a sort's drain
 * made n more steps of its in-memory sort (2). */
void sl__ckpt_test_rows(sl__run *run, uint64_t n, int at_sink);
/* A step's or the sink's chunk of state (op.h, plan.h). */
int sl__ckpt_put_step(struct sl__ckpt_writer *w, const sl__part *p, int i, const void *d, size_t n);
int sl__ckpt_put_sink(struct sl__ckpt_writer *w, const void *d, size_t n);
/* A file sink's part: the first spilled bytes of spill_fd (read back in pieces of cap
 * bytes; what names the file in errors), then len bytes of buf; restored chunk by chunk in
 * the same order. */
int sl__ckpt_put_sink_spilled(struct sl__ckpt_writer *w, int spill_fd, uint64_t spilled,
                              const char *buf, size_t len, size_t cap, const char *what);
/* A chunk of step `step` of stage `stage`'s run-wide state (op.h, run_snapshot). */
int sl__ckpt_put_run(struct sl__ckpt_writer *w, int stage, int step, const void *d, size_t n);

/* ---- progress (engine/progress.c) ----
 * Lines on rank 0's stderr about every rank, through non-blocking reductions on a
 * duplicate of the run's communicator: start and finish are collective (every rank, every
 * run, start after the agreement that precedes the loop), poll never blocks. */
int sl__progress_start(sl__run *run, int mode, double period);
void sl__progress_poll(sl__run *run);
/* The rank's part is done: 1 while it should stay in the loop (a non-blocking barrier on
 * the progress state's own communicator has not completed), so progress lines go on while
 * other ranks work. 0 without progress. */
int sl__progress_linger(sl__run *run);
/* Rank 0, local: a line naming a phase after the loop that no reduction can follow (the
 * sink's final write), when the run has printed progress before. */
void sl__progress_note(sl__run *run, const char *phase);
int sl__progress_finish(sl__run *run);
/* The mode rank 0 picks from --sl-progress and its stderr: 0 off, 1 a redrawn line on a
 * terminal, 2 plain lines. */
int sl__progress_mode(const sl_ctx *ctx);

/* ---- the timeline (engine/trace.c), --sl-trace ----
 * Spans on this rank's tracks, merged when closer than --sl-trace-merge-us and bounded by
 * --sl-trace-max-spans; kept in the context across runs, so the file holds every run. */
enum { SL__TRACK_LOOP = 0, SL__TRACK_WAIT = 1, SL__TRACK_RUNS = 2 };
int sl__trace_begin(sl__run *run); /* local: attach the context's trace (made on first use) */
/* A span [a, b) in sl__now() seconds on track tid; name is copied (interned). */
void sl__trace_span(sl__run *run, int tid, const char *name, double a, double b);
/* Collective (every rank, after the outcome is agreed): write the file. */
int sl__trace_write(sl__run *run);

/* ---- asked once per record: inline ---- */
/* The out has no free send buffer: its stage must stop producing. */
static inline int sl__out_blocked(const sl__out *o) {
  return o->free == NULL && o->nalloc >= o->nbufs;
}
/* The sink's buffer is full (its blocked hook). */
static inline int sl__sink_blocked(const sl__part *p) {
  const sl__run *run = p->run;
  return run->sink_blocked && run->sink_blocked(run->sink_impl, p);
}
/* The partition must not take input now: a drain or a trigger is pending, or its output
 * (the next stage's batches or the sink) is full. */
static inline int sl__part_blocked(const sl__part *p) {
  return p->flush_step >= 0 || p->pending_step >= 0 ||
         (p->out ? sl__out_blocked(p->out) : sl__sink_blocked(p));
}

#endif
