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
enum { SL__MSG_DATA = 1, SL__MSG_EOS = 2, SL__MSG_BIG = 3 };
enum { SL__CTRL_GRANT = 1, SL__CTRL_REQUEST = 2, SL__CTRL_ABORT = 3, SL__CTRL_RELEASE = 4 };

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
};

#define SL__CAPTURE (-1)

typedef struct sl__srun {
  sl__part **parts; /* local partitions of this stage */
  int nlocal;
  int nopen;
  sl__out *out;
  sl__stagestats st;
  void **rstate; /* per step of the stage: its run-wide state (sl__op_vt.run_setup) */
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
  /* progress */
  double t0, last_progress;
  uint64_t total_input;
  sl_stats total;
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
int sl__credits_init(sl__run *run, sl__part *p);
int sl__credits_consumed(sl__run *run, sl__part *p, int sender);
void sl__credits_free(sl__credits *c);
void sl__mem_add(sl__run *run, int64_t bytes);
void sl__state_add(sl__run *run, int64_t bytes);

/* ---- engine/part.c: what operators use ---- */
int sl__callback_failed(sl__part *p, int i, int rc);
/* A callback returned rc: an sl_emit failure inside it is the cause, else the callback. */
int sl__callback_result(sl__part *p, int i, int rc);

/* ---- stats (engine/stats.c) ---- */
int sl__stats_report(sl__run *run); /* collective */
void sl__progress_tick(sl__run *run, int force);

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
