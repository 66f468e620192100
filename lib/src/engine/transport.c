/* SPDX-License-Identifier: BSD-3-Clause */
/* Batches between ranks: send pools, the receive ring, credits and the end-of-run drain.
 *
 * Data messages travel on one tag and are received into a ring of receives posted with
 * MPI_ANY_SOURCE; the ring is completed in posting order, which is arrival order, so the
 * batches of one sender reach a partition in the order they were sent and an end-of-stream
 * marker never overtakes data. Control messages (credit grants and requests, abort) use
 * another tag and are order-free. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

void sl__mem_add(sl__run *run, int64_t bytes) {
  run->mem_cur += (uint64_t)bytes;
  if (run->mem_cur > run->mem_hwm)
    run->mem_hwm = run->mem_cur;
}

void sl__state_add(sl__run *run, int64_t bytes) {
  run->state_cur += (uint64_t)bytes;
  if (run->state_cur > run->state_hwm)
    run->state_hwm = run->state_cur;
}

static sl__buf *buf_new(sl__run *run, size_t cap, int pool) {
  sl__buf *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  b->data = malloc(sizeof(sl__msghdr) + cap);
  if (!b->data) {
    free(b);
    return NULL;
  }
  b->cap = cap;
  b->pool = pool;
  sl__mem_add(run, (int64_t)(sizeof(sl__msghdr) + cap));
  return b;
}

static void buf_free(sl__run *run, sl__buf *b) {
  if (!b)
    return;
  if (b->data)
    sl__mem_add(run, -(int64_t)(sizeof(sl__msghdr) + b->cap));
  free(b->data);
  free(b);
}

/* ---- edge parameters: sender and receiver compute the same numbers ---- */
static size_t edge_cap(const sl__run *run, int recv_stage) {
  const sl__options *o = &run->ctx->opt;
  size_t cap = (size_t)o->batch_bytes;
  int ndest = run->flow->stages[recv_stage].partitions;
  /* Keep two batches per destination within the send budget; at many ranks batches get
   * smaller instead of memory getting larger (floor: 512 bytes or the batch size). Below
   * the floor, the pool has fewer buffers than destinations and partial batches are sent
   * early instead (sl__out_unstick). */
  size_t lim = (size_t)(o->send_budget_bytes / (2 * (uint64_t)ndest));
  size_t floor = cap < 512 ? cap : 512;
  if (lim < cap)
    cap = lim > floor ? lim : floor;
  return cap;
}

/* Senders of a stage: for each input slot, the ranks hosting that input stage. */
static int stage_senders(const sl__run *run, int recv_stage, int *base) {
  const sl__stage *st = &run->flow->stages[recv_stage];
  int ns = 0;
  for (int j = 0; j < st->ninputs; j++) {
    int prev = run->flow->stages[st->inputs[j]].partitions;
    if (base)
      base[j] = ns;
    ns += prev < run->size ? prev : run->size;
  }
  if (base)
    base[st->ninputs] = ns;
  return ns;
}

static void edge_params(const sl__run *run, int recv_stage, int *budget, int *initial,
                        int *nsenders) {
  const sl__options *o = &run->ctx->opt;
  size_t cap = edge_cap(run, recv_stage);
  int ns = stage_senders(run, recv_stage, NULL);
  uint64_t b = o->recv_budget_bytes / cap;
  if (b < 1)
    b = 1;
  if (b > 1 << 20)
    b = 1 << 20;
  int init = (int)(b / (uint64_t)ns);
  if (init > o->credits_per_edge)
    init = o->credits_per_edge;
  *budget = (int)b;
  *initial = init;
  *nsenders = ns;
}

static sl__part *local_part(sl__run *run, int stage, int q) {
  if (stage < 0 || stage >= run->nstages || q < 0 || q % run->size != run->rank)
    return NULL;
  int li = q / run->size;
  sl__srun *sr = &run->stages[stage];
  return li < sr->nlocal ? sr->parts[li] : NULL;
}

/* ---- send list ---- */
static int send_track(sl__run *run, MPI_Request req, sl__buf *buf, void *ctrlmem) {
  if (run->nsend == run->capsend) {
    int cap = run->capsend ? 2 * run->capsend : 64;
    MPI_Request *r = realloc(run->sreq, (size_t)cap * sizeof *r);
    if (r)
      run->sreq = r;
    sl__sendreq *i = realloc(run->sinfo, (size_t)cap * sizeof *i);
    if (i)
      run->sinfo = i;
    int *x = realloc(run->sidx, (size_t)cap * sizeof *x);
    if (x)
      run->sidx = x;
    if (!r || !i || !x)
      SL__FAIL(SL_ERR_NOMEM, "out of memory for send requests");
    run->capsend = cap;
  }
  run->sreq[run->nsend] = req;
  run->sinfo[run->nsend] = (sl__sendreq){buf, ctrlmem};
  run->nsend++;
  return SL_OK;
}

static int send_ctrl(sl__run *run, int rank, int type, int stage, int part, int count, int slot) {
  sl__ctrlmsg m = {type, stage, part, count, slot};
  if (rank == run->rank) {
    if (run->nlctrl == run->caplctrl) {
      int cap = run->caplctrl ? 2 * run->caplctrl : 16;
      sl__ctrlmsg *n = realloc(run->lctrl, (size_t)cap * sizeof *n);
      SL__CHECK_ALLOC(n);
      run->lctrl = n;
      run->caplctrl = cap;
    }
    run->lctrl[run->nlctrl++] = m;
    return SL_OK;
  }
  sl__ctrlmsg *mem = malloc(sizeof *mem);
  SL__CHECK_ALLOC(mem);
  *mem = m;
  MPI_Request req;
  int rc = MPI_Isend(mem, (int)sizeof *mem, MPI_BYTE, rank, SL__TAG_CTRL, run->comm, &req);
  if (rc != MPI_SUCCESS) {
    free(mem);
    return sl__error_mpi(rc, __FILE__, __LINE__, "MPI_Isend(control)");
  }
  run->ctrl_sent[rank]++;
  return send_track(run, req, NULL, mem);
}

int sl__send_ctrl(sl__run *run, int rank, int type, int stage, int part, int count, int slot) {
  return send_ctrl(run, rank, type, stage, part, count, slot);
}

int sl__transport_abort_all(sl__run *run) {
  for (int r = 0; r < run->size; r++)
    if (r != run->rank)
      (void)send_ctrl(run, r, SL__CTRL_ABORT, 0, 0, 0, 0);
  return SL_OK;
}

/* ---- credits (receiver side) ---- */
int sl__credits_init(sl__run *run, sl__part *p) {
  sl__credits *c = &p->cr;
  edge_params(run, p->stage->index, &c->budget, &c->initial, &c->nsenders);
  stage_senders(run, p->stage->index, c->base);
  c->srank = calloc((size_t)c->nsenders, sizeof *c->srank);
  c->sslot = calloc((size_t)c->nsenders, sizeof *c->sslot);
  if (!c->srank || !c->sslot)
    SL__FAIL(SL_ERR_NOMEM, "out of memory for credit state");
  for (int j = 0; j < p->stage->ninputs; j++)
    for (int id = c->base[j]; id < c->base[j + 1]; id++) {
      c->srank[id] = id - c->base[j];
      c->sslot[id] = j;
    }
  c->thresh = c->initial / 2 > 1 ? c->initial / 2 : 1;
  c->pool = c->budget - c->initial * c->nsenders;
  c->held = calloc((size_t)c->nsenders, sizeof *c->held);
  c->ret = calloc((size_t)c->nsenders, sizeof *c->ret);
  c->queued = calloc((size_t)c->nsenders, 1);
  c->queue = calloc((size_t)c->nsenders, sizeof *c->queue);
  if (!c->held || !c->ret || !c->queued || !c->queue)
    SL__FAIL(SL_ERR_NOMEM, "out of memory for credit state");
  for (int s = 0; s < c->nsenders; s++)
    c->held[s] = c->initial;
  return SL_OK;
}

void sl__credits_free(sl__credits *c) {
  free(c->srank);
  free(c->sslot);
  free(c->held);
  free(c->ret);
  free(c->queued);
  free(c->queue);
  memset(c, 0, sizeof *c);
}

enum { CR_QUEUED = 1, CR_ENDED = 2 };

static int grant(sl__run *run, sl__part *p, int s, int n) {
  p->cr.held[s] += n;
  return send_ctrl(run, p->cr.srank[s], SL__CTRL_GRANT, p->stage->index, p->index, n,
                   p->cr.sslot[s]);
}

static int serve_queue(sl__run *run, sl__part *p) {
  sl__credits *c = &p->cr;
  while (c->qlen > 0 && c->pool > 0) {
    int s = c->queue[c->qhead];
    c->qhead = (c->qhead + 1) % c->nsenders;
    c->qlen--;
    c->queued[s] &= (unsigned char)~CR_QUEUED;
    if (c->queued[s] & CR_ENDED)
      continue;
    c->pool--;
    SL__CHECK(grant(run, p, s, 1));
  }
  return SL_OK;
}

int sl__credits_consumed(sl__run *run, sl__part *p, int s) {
  sl__credits *c = &p->cr;
  c->held[s]--;
  if (c->queued[s] & CR_ENDED) {
    c->pool++;
    return serve_queue(run, p);
  }
  /* A sender's guaranteed credits always come back to it, so every edge keeps at least
   * `initial` and no cycle of waiting senders can form. Return them in groups (GenStage's
   * min_demand) to keep control traffic low. */
  if (c->held[s] + c->ret[s] < c->initial) {
    if (++c->ret[s] >= c->thresh) {
      int n = c->ret[s];
      c->ret[s] = 0;
      return grant(run, p, s, n);
    }
    return SL_OK;
  }
  /* An extra credit goes back to the pool and to whoever waits for one. */
  c->pool++;
  return serve_queue(run, p);
}

/* A sender gives back credits it holds but has nothing to send with: an idle credit held
 * by one sender while another waits could otherwise close a cycle of waits. */
static int credits_release(sl__run *run, sl__part *p, int s, int n) {
  sl__credits *c = &p->cr;
  /* After the sender's end-of-stream everything it held is back in the pool already (a
   * release may arrive after the marker: they travel on different tags). */
  if (c->queued[s] & CR_ENDED)
    return SL_OK;
  if (n > c->held[s])
    SL__FAIL(SL_ERR_INTERNAL, "sender %d released %d credits, holds %d", s, n, c->held[s]);
  c->held[s] -= n;
  c->pool += n;
  return serve_queue(run, p);
}

static int credits_request(sl__run *run, sl__part *p, int s) {
  sl__credits *c = &p->cr;
  if (s < 0 || s >= c->nsenders)
    SL__FAIL(SL_ERR_INTERNAL, "credit request from sender %d, not a sender", s);
  /* A request can be handled after the sender's end-of-stream (control and data travel on
   * different tags): the sender needs nothing any more. */
  if (c->queued[s] & CR_ENDED)
    return SL_OK;
  if (c->ret[s] > 0) {
    int n = c->ret[s];
    c->ret[s] = 0;
    return grant(run, p, s, n);
  }
  if (c->pool > 0) {
    int n = c->initial > 1 ? c->initial : 1;
    if (n > c->pool)
      n = c->pool;
    c->pool -= n;
    return grant(run, p, s, n);
  }
  if (!(c->queued[s] & CR_QUEUED)) {
    c->queued[s] |= CR_QUEUED;
    c->queue[(c->qhead + c->qlen) % c->nsenders] = s;
    c->qlen++;
  }
  return SL_OK;
}

static int credits_eos(sl__run *run, sl__part *p, int s) {
  sl__credits *c = &p->cr;
  c->queued[s] |= CR_ENDED;
  c->pool += c->held[s] + c->ret[s];
  c->held[s] = c->ret[s] = 0;
  return serve_queue(run, p);
}

/* ---- routers: where a record goes among the receiving stage's ndest partitions ---- */
/* by key: the key hash's well-mixed high bits */
static int route_key(void *arg, const sl_record *rec, int ndest) {
  (void)arg;
  return sl__hash_partition(sl__hash_bytes(rec->key, rec->key_len), ndest);
}

/* A user hash picks the partition modulo P (as Flow's :hash picks it directly), so a hash
 * of small integers spreads too. */
static int route_user_hash(void *arg, const sl_record *rec, int ndest) {
  const sl__out *o = arg;
  return (int)(o->hash(rec, o->hash_arg) % (uint64_t)ndest);
}

static int route_round_robin(void *arg, const sl_record *rec, int ndest) {
  sl__out *o = arg;
  (void)rec;
  return (int)(o->rr++ % (uint64_t)ndest);
}

static int route_single(void *arg, const sl_record *rec, int ndest) {
  (void)arg;
  (void)rec;
  (void)ndest;
  return 0;
}

void sl__out_set_router(sl__run *run, int stage, int (*route)(void *, const sl_record *, int),
                        void *arg) {
  sl__out *o = run->stages[stage].out;
  if (o) {
    o->route = route;
    o->route_arg = arg;
  }
}

/* ---- outs (sender side) ---- */
int sl__out_create(sl__run *run, int stage, sl__out **out) {
  sl__out *o = calloc(1, sizeof *o);
  SL__CHECK_ALLOC(o);
  const sl__stage *cur = &run->flow->stages[stage];
  const sl__stage *next = &run->flow->stages[cur->target];
  o->run = run;
  o->stage = stage;
  o->target = cur->target;
  o->slot = cur->target_slot;
  o->etime = next->event_time;
  o->etime_arg = next->event_time_arg;
  o->ndest = next->partitions;
  o->boundary = next->boundary;
  o->hash = next->hash;
  o->hash_arg = next->hash_arg;
  o->route_arg = o;
  switch (next->boundary) {
  case SL__BOUND_HASH:
    o->route = next->hash ? route_user_hash : route_key;
    break;
  case SL__BOUND_SHUFFLE:
    o->route = route_round_robin;
    break;
  case SL__BOUND_SINGLE:
    o->route = route_single;
    break;
  default:
    o->route = NULL; /* routed: an operator installs it (sl__out_set_router) */
  }
  o->cap = edge_cap(run, o->target);
  uint64_t nb = run->ctx->opt.send_budget_bytes / o->cap;
  o->nbufs = nb < 2 ? 2 : (nb > 1 << 20 ? 1 << 20 : (int)nb);
  o->dest = calloc((size_t)o->ndest, sizeof *o->dest);
  if (!o->dest) {
    int n = o->ndest;
    free(o);
    SL__FAIL(SL_ERR_NOMEM, "out of memory for %d destinations", n);
  }
  int budget, initial, ns;
  edge_params(run, o->target, &budget, &initial, &ns);
  o->initial = initial;
  for (int q = 0; q < o->ndest; q++) {
    o->dest[q].rank = q % run->size;
    o->dest[q].credits = initial;
  }
  /* Spread round-robin starts so that shuffles from many ranks do not all hit partition 0. */
  o->rr = (uint64_t)run->rank;
  *out = o;
  return SL_OK;
}

static void buflist_free(sl__run *run, sl__buf *b) {
  while (b) {
    sl__buf *n = b->next;
    buf_free(run, b);
    b = n;
  }
}

void sl__out_destroy(sl__out *o) {
  if (!o)
    return;
  for (int q = 0; q < o->ndest; q++) {
    buf_free(o->run, o->dest[q].cur);
    buflist_free(o->run, o->dest[q].ready_head);
  }
  buflist_free(o->run, o->free);
  free(o->dest);
  free(o);
}

static void out_release(sl__out *o, sl__buf *b) {
  if (!b->pool || o->nalloc > o->nbufs) {
    if (b->pool)
      o->nalloc--;
    buf_free(o->run, b);
    return;
  }
  b->len = 0;
  b->nrec = 0;
  b->next = o->free;
  o->free = b;
}

void sl__buf_release(sl__run *run, sl__buf *b) {
  if (b->owner) {
    out_release(b->owner, b);
  } else if (b->pool) {
    b->next = run->recv_free;
    run->recv_free = b;
  } else {
    buf_free(run, b);
  }
}

static sl__buf *out_get(sl__out *o) {
  sl__buf *b = o->free;
  if (b) {
    o->free = b->next;
    b->next = NULL;
    return b;
  }
  /* Past the pool only when one input record expands to many outputs (flat_map, a
   * reducer's emit); such extra buffers are freed as soon as they are sent. */
  b = buf_new(o->run, o->cap, 1);
  if (b) {
    b->owner = o;
    o->nalloc++;
  }
  return b;
}

/* This rank's watermark toward destination q of a stage that tracks event time, sent with a
 * batch: no
 * record older than it will follow. That is the oldest of the latest event times its
 * partitions of the sending stage have emitted (an ended partition holds nothing back;
 * each partition emits in time order), lowered to the oldest record still buffered for q
 * behind this batch. */
static int64_t out_watermark(const sl__out *o, int q) {
  const sl__srun *sr = &o->run->stages[o->stage];
  int64_t wm = INT64_MAX;
  for (int i = 0; i < sr->nlocal; i++) {
    const sl__part *p = sr->parts[i];
    if (!p->done && p->wm_sent < wm)
      wm = p->wm_sent;
  }
  const sl__dest *d = &o->dest[q];
  for (const sl__buf *b = d->ready_head; b; b = b->next)
    if (b->tmin < wm)
      wm = b->tmin;
  if (d->cur && d->cur->len && d->cur->tmin < wm)
    wm = d->cur->tmin;
  return wm;
}

static int send_batch(sl__out *o, int q, sl__buf *b) {
  sl__run *run = o->run;
  sl__dest *d = &o->dest[q];
  sl__msghdr h = {(uint32_t)b->type, o->target, q, b->nrec, b->len, o->slot, 0, INT64_MIN};
  if (b->type == SL__MSG_BARRIER)
    h.wm = b->wm; /* its epoch */
  else if (o->etime)
    h.wm = b->type == SL__MSG_EOS ? INT64_MAX : out_watermark(o, q);
  if (b->data)
    memcpy(b->data, &h, sizeof h);
  sl__stagestats *st = &run->stages[o->stage].st;
  if (!sl__msg_marker(b->type)) {
    st->batches_sent++;
    st->bytes_sent += b->len;
  }
  if (d->rank == run->rank) { /* same rank: hand the buffer over, no MPI */
    sl__part *p = local_part(run, o->target, q);
    if (!p)
      SL__FAIL(SL_ERR_INTERNAL, "no local partition %d of stage %d", q, o->target);
    b->src_rank = run->rank;
    b->slot = o->slot;
    b->wm = h.wm;
    b->pos = 0;
    b->next = NULL;
    if (p->in_tail)
      p->in_tail->next = b;
    else
      p->in_head = b;
    p->in_tail = b;
    if (!sl__msg_marker(b->type)) {
      p->st->batches_received++;
      p->st->bytes_received += b->len;
    }
    return SL_OK;
  }
  MPI_Request req;
  size_t first = b->type == SL__MSG_BIG ? sizeof h : sizeof h + b->len;
  b->pending = 1;
  SL__CHECK_MPI(MPI_Isend(b->data, (int)first, MPI_BYTE, d->rank, SL__TAG_DATA, run->comm, &req));
  run->data_sent[d->rank]++;
  SL__CHECK(send_track(run, req, b, NULL));
  if (b->type == SL__MSG_BIG) {
    if (b->len > (uint64_t)INT32_MAX)
      SL__FAIL(SL_ERR_UNSUPPORTED, "record of %llu bytes: larger than 2 GiB",
               (unsigned long long)b->len);
    b->pending = 2;
    SL__CHECK_MPI(MPI_Isend(sl__buf_payload(b), (int)b->len, MPI_BYTE, d->rank, SL__TAG_BIG,
                            run->comm, &req));
    SL__CHECK(send_track(run, req, b, NULL));
  }
  return SL_OK;
}

static int dest_pump(sl__out *o, int q) {
  sl__dest *d = &o->dest[q];
  while (d->ready_head && d->credits > 0) {
    sl__buf *b = d->ready_head;
    d->ready_head = b->next;
    if (!d->ready_head)
      d->ready_tail = NULL;
    d->nready--;
    o->nready--;
    b->next = NULL;
    d->credits--;
    SL__CHECK(send_batch(o, q, b));
  }
  if (d->ready_head && d->credits == 0 && !d->requested) {
    d->requested = 1;
    SL__CHECK(send_ctrl(o->run, d->rank, SL__CTRL_REQUEST, o->target, q, 1, o->slot));
  }
  if (!d->ready_head && d->credits > o->initial &&
      !d->eos_pending) { /* keep the guarantee, return the rest */
    int n = d->credits - o->initial;
    d->credits = o->initial;
    SL__CHECK(send_ctrl(o->run, d->rank, SL__CTRL_RELEASE, o->target, q, n, o->slot));
  }
  if (!d->ready_head && d->barrier) { /* after every batch emitted before the snapshot */
    sl__buf *e = d->rank == o->run->rank ? calloc(1, sizeof *e) : buf_new(o->run, 0, 0);
    SL__CHECK_ALLOC(e);
    e->type = SL__MSG_BARRIER;
    e->wm = d->barrier;
    d->barrier = 0;
    SL__CHECK(send_batch(o, q, e));
  }
  if (!d->ready_head && d->eos_pending && !d->eos_sent) {
    sl__buf *e;
    if (d->rank == o->run->rank) {
      e = calloc(1, sizeof *e); /* a marker only: no payload */
      SL__CHECK_ALLOC(e);
    } else {
      e = buf_new(o->run, 0, 0);
      SL__CHECK_ALLOC(e);
    }
    e->type = SL__MSG_EOS;
    d->eos_sent = 1;
    SL__CHECK(send_batch(o, q, e));
  }
  return SL_OK;
}

static int dest_ready(sl__out *o, int q, sl__buf *b) {
  sl__dest *d = &o->dest[q];
  b->next = NULL;
  if (d->ready_tail)
    d->ready_tail->next = b;
  else
    d->ready_head = b;
  d->ready_tail = b;
  d->nready++;
  o->nready++;
  return dest_pump(o, q);
}

/* A partial batch was born at t: it is due for the idle flush at t + --sl-flush-interval. */
static inline void out_due(sl__out *o, double t) {
  double due = t + o->run->ctx->opt.flush_interval;
  if (due < o->next_flush_check)
    o->next_flush_check = due;
}

int sl__out_emit(sl__out *o, const sl_record *rec) {
  int q = o->route(o->route_arg, rec, o->ndest);
  sl__dest *d = &o->dest[q];
  size_t need = sl__rec_size(rec->key_len, rec->value_len);
  if (need > o->cap) {
    /* Larger than a batch: it travels alone, after what is already queued. */
    if (d->cur && d->cur->len) {
      sl__buf *c = d->cur;
      d->cur = NULL;
      SL__CHECK(dest_ready(o, q, c));
    }
    sl__buf *b = buf_new(o->run, need, 0);
    if (!b)
      SL__FAIL(SL_ERR_NOMEM, "out of memory for a record of %zu bytes", need);
    b->owner = o;
    b->type = SL__MSG_BIG;
    sl__batch_append(sl__buf_payload(b), need, &b->len, rec->key, rec->key_len, rec->value,
                     rec->value_len);
    b->nrec = 1;
    b->tmin = o->cur_t;
    return dest_ready(o, q, b);
  }
  if (!d->cur) {
    d->cur = out_get(o);
    SL__CHECK_ALLOC_FOR(d->cur, "a send buffer (one batch)", o->cap, "--sl-batch-bytes");
    d->cur->type = SL__MSG_DATA;
    d->cur->tmin = INT64_MAX;
    d->cur->born = sl__now();
    out_due(o, d->cur->born);
  }
  if (!sl__batch_append(sl__buf_payload(d->cur), o->cap, &d->cur->len, rec->key, rec->key_len,
                        rec->value, rec->value_len)) {
    sl__buf *full = d->cur;
    d->cur = out_get(o);
    SL__CHECK_ALLOC_FOR(d->cur, "a send buffer (one batch)", o->cap, "--sl-batch-bytes");
    d->cur->type = SL__MSG_DATA;
    d->cur->tmin = o->cur_t;
    d->cur->born = sl__now();
    out_due(o, d->cur->born);
    sl__batch_append(sl__buf_payload(d->cur), o->cap, &d->cur->len, rec->key, rec->key_len,
                     rec->value, rec->value_len);
    d->cur->nrec++;
    return dest_ready(o, q, full);
  }
  if (o->cur_t < d->cur->tmin)
    d->cur->tmin = o->cur_t;
  d->cur->nrec++;
  return SL_OK;
}

/* Blocked with nothing on its way out: send the fullest partial batch, or the pool would
 * never free a buffer (many destinations, each holding a partial batch). */
int sl__out_unstick(sl__out *o) {
  if (o->nready)
    return SL_OK;
  int best = -1;
  size_t best_len = 0;
  for (int q = 0; q < o->ndest; q++) {
    if (o->dest[q].cur && o->dest[q].cur->len > best_len) {
      best = q;
      best_len = o->dest[q].cur->len;
    }
  }
  if (best < 0)
    return SL_OK;
  sl__buf *b = o->dest[best].cur;
  o->dest[best].cur = NULL;
  return dest_ready(o, best, b);
}

/* Partial batches older than --sl-flush-interval leave now: a source that is idle or slow
 * (an instrument polled by a callback) must not hold records back from the next stage's
 * windows and triggers until its batch fills, as Flow's stages hand over what they have when
 * asked. Only toward a destination that has credit and nothing queued: a batch that could not
 * leave anyway keeps filling. A batch that fills within the interval (bulk work) is never cut
 * short. o->next_flush_check is the earliest due time of a partial batch (lowered when one is
 * born: sl__out_emit), so the destinations are scanned only when one is due. */
int sl__out_flush_aged(sl__out *o, double now) {
  if (now < o->next_flush_check)
    return SL_OK;
  double iv = o->run->ctx->opt.flush_interval, next = HUGE_VAL;
  for (int q = 0; q < o->ndest; q++) {
    sl__dest *d = &o->dest[q];
    if (!d->cur || !d->cur->len)
      continue;
    if (now - d->cur->born >= iv && d->credits > 0 && !d->ready_head) {
      sl__buf *b = d->cur;
      d->cur = NULL;
      SL__CHECK(dest_ready(o, q, b));
    } else {
      double due = d->cur->born + iv;
      next = due > now ? (due < next ? due : next) : (now + iv < next ? now + iv : next);
    }
  }
  o->next_flush_check = next;
  return SL_OK;
}

int sl__out_stage_done(sl__out *o) {
  for (int q = 0; q < o->ndest; q++) {
    sl__dest *d = &o->dest[q];
    if (d->cur) {
      sl__buf *b = d->cur;
      d->cur = NULL;
      if (b->len) {
        SL__CHECK(dest_ready(o, q, b));
      } else {
        out_release(o, b);
      }
    }
    d->eos_pending = 1;
    SL__CHECK(dest_pump(o, q));
  }
  return SL_OK;
}

int sl__out_barrier(sl__out *o, int64_t epoch) {
  for (int q = 0; q < o->ndest; q++) {
    sl__dest *d = &o->dest[q];
    if (d->eos_pending || d->eos_sent)
      continue; /* ended: the receiver expects nothing more from this rank */
    if (d->cur) {
      sl__buf *b = d->cur;
      d->cur = NULL;
      if (b->len) {
        SL__CHECK(dest_ready(o, q, b));
      } else {
        out_release(o, b);
      }
    }
    d->barrier = epoch;
    SL__CHECK(dest_pump(o, q));
  }
  return SL_OK;
}

int sl__out_all_eos(const sl__out *o) {
  for (int q = 0; q < o->ndest; q++)
    if (!o->dest[q].eos_sent)
      return 0;
  return 1;
}

/* ---- receiving ---- */
static int ring_post(sl__run *run, int slot) {
  sl__buf *b = run->recv_free;
  if (b) {
    run->recv_free = b->next;
  } else {
    b = buf_new(run, run->recv_cap, 1);
    SL__CHECK_ALLOC_FOR(b, "a receive buffer (one batch)", run->recv_cap, "--sl-batch-bytes");
  }
  b->next = NULL;
  b->owner = NULL;
  run->ring[slot] = b;
  SL__CHECK_MPI(MPI_Irecv(b->data, (int)(sizeof(sl__msghdr) + run->recv_cap), MPI_BYTE,
                          MPI_ANY_SOURCE, SL__TAG_DATA, run->comm, &run->ring_req[slot]));
  return SL_OK;
}

int sl__transport_start(sl__run *run) {
  int S = run->nstages;
  size_t cap = 0;
  int credits = 0;
  for (int s = 0; s < S; s++) {
    if (!run->flow->stages[s].ninputs)
      continue;
    size_t c = edge_cap(run, s);
    if (c > cap)
      cap = c;
    for (int i = 0; i < run->stages[s].nlocal; i++)
      credits += run->stages[s].parts[i]->cr.budget;
  }
  run->recv_cap = cap;
  run->nring = credits < 32 ? credits : 32;
  if (run->nring) {
    run->ring = calloc((size_t)run->nring, sizeof *run->ring);
    run->ring_req = malloc((size_t)run->nring * sizeof *run->ring_req);
    if (!run->ring || !run->ring_req)
      run->nring = 0; /* sl__transport_finish must not walk a ring that is not there */
    SL__CHECK_ALLOC(run->ring);
    SL__CHECK_ALLOC(run->ring_req);
    /* a failure part-way leaves the rest unposted: finish skips them */
    for (int i = 0; i < run->nring; i++)
      run->ring_req[i] = MPI_REQUEST_NULL;
    for (int i = 0; i < run->nring; i++)
      SL__CHECK(ring_post(run, i));
  }
  run->nctrl = 8;
  run->ctrl_buf = calloc((size_t)run->nctrl, sizeof *run->ctrl_buf);
  run->ctrl_req = malloc((size_t)run->nctrl * sizeof *run->ctrl_req);
  if (!run->ctrl_buf || !run->ctrl_req)
    run->nctrl = 0;
  SL__CHECK_ALLOC(run->ctrl_buf);
  SL__CHECK_ALLOC(run->ctrl_req);
  for (int i = 0; i < run->nctrl; i++)
    run->ctrl_req[i] = MPI_REQUEST_NULL;
  for (int i = 0; i < run->nctrl; i++)
    SL__CHECK_MPI(MPI_Irecv(&run->ctrl_buf[i], (int)sizeof(sl__ctrlmsg), MPI_BYTE, MPI_ANY_SOURCE,
                            SL__TAG_CTRL, run->comm, &run->ctrl_req[i]));
  return SL_OK;
}

static int handle_ctrl(sl__run *run, int src, const sl__ctrlmsg *m) {
  switch (m->type) {
  case SL__CTRL_GRANT: {
    const sl__stage *st =
        m->stage >= 0 && m->stage < run->nstages ? &run->flow->stages[m->stage] : NULL;
    if (!st || m->slot < 0 || m->slot >= st->ninputs || !run->stages[st->inputs[m->slot]].out)
      SL__FAIL(SL_ERR_INTERNAL, "credit grant for unknown stage %d slot %d", m->stage, m->slot);
    sl__out *o = run->stages[st->inputs[m->slot]].out;
    if (m->part < 0 || m->part >= o->ndest)
      SL__FAIL(SL_ERR_INTERNAL, "credit grant for unknown partition %d", m->part);
    o->dest[m->part].credits += m->count;
    o->dest[m->part].requested = 0;
    return dest_pump(o, m->part);
  }
  case SL__CTRL_REQUEST: {
    sl__part *p = local_part(run, m->stage, m->part);
    if (!p)
      SL__FAIL(SL_ERR_INTERNAL, "credit request for a partition not on this rank");
    if (m->slot < 0 || m->slot >= p->stage->ninputs)
      SL__FAIL(SL_ERR_INTERNAL, "credit request for unknown slot %d", m->slot);
    return credits_request(run, p, p->cr.base[m->slot] + src);
  }
  case SL__CTRL_RELEASE: {
    sl__part *p = local_part(run, m->stage, m->part);
    if (!p)
      SL__FAIL(SL_ERR_INTERNAL, "credit release for a partition not on this rank");
    if (m->slot < 0 || m->slot >= p->stage->ninputs)
      SL__FAIL(SL_ERR_INTERNAL, "credit release for unknown slot %d", m->slot);
    return credits_release(run, p, p->cr.base[m->slot] + src, m->count);
  }
  case SL__CTRL_ABORT:
    run->remote_abort = 1;
    return SL_OK;
  case SL__CTRL_CKPT_REQUEST:
  case SL__CTRL_CKPT_START:
  case SL__CTRL_CKPT_DONE:
  case SL__CTRL_CKPT_COMMIT:
    return sl__ckpt_ctrl(run, src, m);
  }
  SL__FAIL(SL_ERR_INTERNAL, "unknown control message %d", m->type);
}

static int route_inbound(sl__run *run, sl__buf *b, int src, const sl__msghdr *h) {
  sl__part *p = local_part(run, h->stage, h->part);
  if (!p)
    SL__FAIL(SL_ERR_INTERNAL, "batch for stage %d partition %d, which is not on this rank",
             h->stage, h->part);
  if (h->slot < 0 || h->slot >= p->stage->ninputs)
    SL__FAIL(SL_ERR_INTERNAL, "batch for stage %d from unknown input slot %d", h->stage, h->slot);
  b->type = (int)h->type;
  b->len = h->len;
  b->nrec = h->nrec;
  b->src_rank = src;
  b->slot = h->slot;
  b->wm = h->wm;
  b->pos = 0;
  b->next = NULL;
  if (p->in_tail)
    p->in_tail->next = b;
  else
    p->in_head = b;
  p->in_tail = b;
  if (!sl__msg_marker(b->type)) {
    p->st->batches_received++;
    p->st->bytes_received += b->len;
  }
  return SL_OK;
}

int sl__transport_poll(sl__run *run, int *progress) {
  /* control: order-free */
  int n = 0;
  for (int i = 0; i < run->nctrl; i++) {
    int flag;
    MPI_Status stt;
    SL__CHECK_MPI(MPI_Test(&run->ctrl_req[i], &flag, &stt));
    if (!flag)
      continue;
    run->ctrl_recv[stt.MPI_SOURCE]++;
    sl__ctrlmsg m = run->ctrl_buf[i];
    SL__CHECK_MPI(MPI_Irecv(&run->ctrl_buf[i], (int)sizeof(sl__ctrlmsg), MPI_BYTE, MPI_ANY_SOURCE,
                            SL__TAG_CTRL, run->comm, &run->ctrl_req[i]));
    SL__CHECK(handle_ctrl(run, stt.MPI_SOURCE, &m));
    n++;
  }
  for (int i = 0; i < run->nlctrl; i++) { /* may append more while handling */
    sl__ctrlmsg m = run->lctrl[i];
    SL__CHECK(handle_ctrl(run, run->rank, &m));
    n++;
  }
  run->nlctrl = 0;
  /* data: in posting order */
  while (run->nring) {
    int h = run->ring_head, flag;
    MPI_Status stt;
    SL__CHECK_MPI(MPI_Test(&run->ring_req[h], &flag, &stt));
    if (!flag)
      break;
    int src = stt.MPI_SOURCE;
    run->data_recv[src]++;
    sl__buf *b = run->ring[h];
    sl__msghdr hd;
    memcpy(&hd, b->data, sizeof hd);
    if (hd.type == SL__MSG_BIG) {
      sl__buf *big = buf_new(run, (size_t)hd.len, 0);
      if (!big)
        SL__FAIL(SL_ERR_NOMEM, "out of memory for a record of %llu bytes",
                 (unsigned long long)hd.len);
      /* The sender posted the payload together with this header, so it is on its way. */
      SL__CHECK_MPI(MPI_Recv(sl__buf_payload(big), (int)hd.len, MPI_BYTE, src, SL__TAG_BIG,
                             run->comm, MPI_STATUS_IGNORE));
      SL__CHECK(route_inbound(run, big, src, &hd));
      b->next = run->recv_free; /* the ring buffer only held the header */
      run->recv_free = b;
    } else if (sl__msg_marker((int)hd.type)) {
      /* An end-of-stream marker takes no credit, so it must not hold a full receive buffer
       * either (or buffers would grow with the number of senders): keep a bare marker. */
      sl__buf *m = calloc(1, sizeof *m);
      SL__CHECK_ALLOC(m);
      SL__CHECK(route_inbound(run, m, src, &hd));
      b->next = run->recv_free;
      run->recv_free = b;
    } else {
      SL__CHECK(route_inbound(run, b, src, &hd));
    }
    SL__CHECK(ring_post(run, h));
    run->ring_head = (h + 1) % run->nring;
    n++;
  }
  /* completed sends */
  if (run->nsend) {
    int outcount;
    SL__CHECK_MPI(MPI_Testsome(run->nsend, run->sreq, &outcount, run->sidx, MPI_STATUSES_IGNORE));
    if (outcount > 0 && outcount != MPI_UNDEFINED) {
      /* free in descending index order so swap-removal keeps indices valid */
      for (int a = 0; a < outcount; a++)
        for (int c = a + 1; c < outcount; c++)
          if (run->sidx[c] > run->sidx[a]) {
            int t = run->sidx[a];
            run->sidx[a] = run->sidx[c];
            run->sidx[c] = t;
          }
      for (int a = 0; a < outcount; a++) {
        int i = run->sidx[a];
        sl__sendreq info = run->sinfo[i];
        if (info.buf && --info.buf->pending == 0) {
          if (sl__msg_marker(info.buf->type) || !info.buf->owner)
            buf_free(run, info.buf);
          else
            out_release(info.buf->owner, info.buf);
        }
        free(info.ctrlmem);
        run->nsend--;
        run->sreq[i] = run->sreq[run->nsend];
        run->sinfo[i] = run->sinfo[run->nsend];
      }
      n += outcount;
    }
  }
  *progress += n;
  return SL_OK;
}

int sl__credits_eos(sl__run *run, sl__part *p, int s) {
  return credits_eos(run, p, s);
}

/* Receive and discard `count` messages from src on tag (and their big payloads). */
static int drain_from(sl__run *run, int src, int tag, uint64_t count) {
  for (uint64_t i = 0; i < count; i++) {
    MPI_Status stt;
    int bytes;
    SL__CHECK_MPI(MPI_Probe(src, tag, run->comm, &stt));
    SL__CHECK_MPI(MPI_Get_count(&stt, MPI_BYTE, &bytes));
    char *tmp = malloc(bytes > 0 ? (size_t)bytes : 1);
    SL__CHECK_ALLOC(tmp);
    SL__CHECK_MPI(MPI_Recv(tmp, bytes, MPI_BYTE, src, tag, run->comm, MPI_STATUS_IGNORE));
    int big = tag == SL__TAG_DATA && bytes >= (int)sizeof(sl__msghdr) &&
              ((sl__msghdr *)tmp)->type == SL__MSG_BIG;
    free(tmp);
    if (big)
      SL__CHECK(drain_from(run, src, SL__TAG_BIG, 1));
  }
  return SL_OK;
}

static int cancel_recv(sl__run *run, MPI_Request *req, int tag, const void *buf) {
  if (*req == MPI_REQUEST_NULL)
    return SL_OK;
  MPI_Status stt;
  int cancelled;
  SL__CHECK_MPI(MPI_Cancel(req));
  SL__CHECK_MPI(MPI_Wait(req, &stt));
  SL__CHECK_MPI(MPI_Test_cancelled(&stt, &cancelled));
  if (cancelled)
    return SL_OK;
  if (tag == SL__TAG_DATA) {
    run->data_recv[stt.MPI_SOURCE]++;
    if (((const sl__msghdr *)buf)->type == SL__MSG_BIG)
      SL__CHECK(drain_from(run, stt.MPI_SOURCE, SL__TAG_BIG, 1));
  } else {
    run->ctrl_recv[stt.MPI_SOURCE]++;
  }
  return SL_OK;
}

/* End of a run, normal or not (collective: every rank calls it, also one whose transport
 * never started): every message sent is received, every request completed, so nothing is
 * left for the next run on this communicator. */
int sl__transport_finish(sl__run *run) {
  int P = run->size;
  uint64_t *sent = malloc(2 * (size_t)P * sizeof *sent);
  uint64_t *expect = malloc(2 * (size_t)P * sizeof *expect);
  /* agree before the all-to-all: a rank short of memory must not leave the others in it */
  int bad = !sent || !expect, any = 1;
  int arc = MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, run->comm);
  if (arc != MPI_SUCCESS || any) {
    free(sent);
    free(expect);
    if (arc != MPI_SUCCESS)
      return sl__error_mpi(arc, __FILE__, __LINE__, "MPI_Allreduce");
    if (bad)
      return sl__error_nomem(__FILE__, __LINE__, "the end-of-run message counts",
                             4 * (uint64_t)P * sizeof *sent, NULL);
    return SL_ERR_REMOTE;
  }
  /* a rank whose setup failed early may have no counters: it sent nothing */
  int counted = run->data_sent && run->ctrl_sent && run->data_recv && run->ctrl_recv;
  for (int r = 0; r < P; r++) {
    sent[2 * r] = counted ? run->data_sent[r] : 0;
    sent[2 * r + 1] = counted ? run->ctrl_sent[r] : 0;
  }
  int rc = MPI_Alltoall(sent, 2, MPI_UINT64_T, expect, 2, MPI_UINT64_T, run->comm);
  free(sent);
  if (rc != MPI_SUCCESS) {
    free(expect);
    return sl__error_mpi(rc, __FILE__, __LINE__, "MPI_Alltoall");
  }
  int err = SL_OK;
  for (int i = 0; i < run->nring && err == SL_OK; i++) {
    int slot = (run->ring_head + i) % run->nring;
    if (run->ring[slot])
      err = cancel_recv(run, &run->ring_req[slot], SL__TAG_DATA, run->ring[slot]->data);
  }
  for (int i = 0; i < run->nctrl && err == SL_OK; i++)
    err = cancel_recv(run, &run->ctrl_req[i], SL__TAG_CTRL, NULL);
  for (int r = 0; r < P && err == SL_OK && counted; r++) {
    if (expect[2 * r] > run->data_recv[r])
      err = drain_from(run, r, SL__TAG_DATA, expect[2 * r] - run->data_recv[r]);
    if (err == SL_OK && expect[2 * r + 1] > run->ctrl_recv[r])
      err = drain_from(run, r, SL__TAG_CTRL, expect[2 * r + 1] - run->ctrl_recv[r]);
  }
  free(expect);
  SL__CHECK(err);
  if (run->nsend)
    SL__CHECK_MPI(MPI_Waitall(run->nsend, run->sreq, MPI_STATUSES_IGNORE));
  for (int i = 0; i < run->nsend; i++) {
    sl__sendreq info = run->sinfo[i];
    if (info.buf && --info.buf->pending == 0) {
      if (sl__msg_marker(info.buf->type) || !info.buf->owner)
        buf_free(run, info.buf);
      else
        out_release(info.buf->owner, info.buf);
    }
    free(info.ctrlmem);
  }
  run->nsend = 0;
  return SL_OK;
}

void sl__transport_free(sl__run *run) {
  for (int i = 0; i < run->nring; i++)
    buf_free(run, run->ring[i]);
  free(run->ring);
  free(run->ring_req);
  buflist_free(run, run->recv_free);
  run->recv_free = NULL;
  free(run->ctrl_buf);
  free(run->ctrl_req);
  free(run->lctrl);
  free(run->sreq);
  free(run->sinfo);
  free(run->sidx);
  run->ring = NULL;
  run->nring = 0;
}
