/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the credit protocol of engine/transport.c, receiver and sender side:
 * sl__credits_init, sl__credits_consumed, sl__credits_eos, the control messages (REQUEST,
 * GRANT and, where the engine has it, RELEASE) handled by sl__transport_poll, and the
 * senders' outs (sl__out_create, sl__out_emit, sl__out_unstick, sl__out_stage_done).
 *
 * No MPI runtime. The test simulates several ranks in one process: each rank is a
 * hand-built sl__run (the fields the transport reads: ctx->opt, flow->stages[],
 * rank/size, stages[].parts/nlocal/out, the message counters), with the stage-1
 * partitions it owns (q % size == rank) and, if it hosts a stage-0 partition, a real
 * sl__out. The program defines MPI_Isend, MPI_Irecv, MPI_Test and MPI_Testsome itself (the
 * linker takes the executable's definitions over libmpi's for the static
 * sluice_internal; MPI_Init is never called): every message a rank sends goes into a
 * simulated network, one FIFO per (source, destination, data or control) like MPI's
 * non-overtaking rule, and the test decides when each one arrives. Control messages to
 * the same rank go through run->lctrl, data to the same rank is handed over, as in the
 * engine. The receiving side's data path (the ring) is replaced by the test: an arrived
 * batch joins the partition's input and the test "consumes" it, calling
 * sl__credits_consumed / sl__credits_eos as sl__part_work does.
 *
 * Checked after every step:
 *   sum(held) + sum(ret) + pool == budget, pool >= 0, held >= 0, for every partition;
 *   batches sent to a partition and not yet consumed <= its budget (the memory bound);
 *   for a sender whose EOS the partition has not consumed: held[s] == the credits the
 *   sender has + its batches not consumed + grants on their way + releases on their way;
 *   every engine call succeeds.
 * At the end: every record arrived once, every credit is back in the pool, and no
 * deadlock (while the flow is not finished, some step is always possible).
 *
 * Two network orders: "in order" (a rank handles the control messages that arrived
 * before it consumes later data) and "reordered" (control and data on separate tags, as
 * in MPI: a control message sent before an EOS may be handled after it). The engine must
 * be right under both; the second one is where the late-REQUEST leak shows (see
 * test_late_request_after_eos). */
#include <stdlib.h>

#include "engine/engine.h"
#include "unit.h"

/* Control message types by number: RELEASE (4) exists only in engines that have it. */
enum { CT_GRANT = SL__CTRL_GRANT, CT_REQUEST = SL__CTRL_REQUEST, CT_RELEASE = 4 };

enum { MAXR = 40, MAXP = 64, MAXMSG = 1 << 18 };

/* ---- the simulated network ---- */
typedef struct msg {
  int src, dst, kind; /* kind 0: control, 1: data */
  sl__ctrlmsg c;      /* control */
  int type, part;     /* data: SL__MSG_DATA / SL__MSG_EOS, receiving partition */
  uint32_t nrec;
  uint64_t seq; /* send order */
  struct msg *next;
} msg;

typedef struct fifo {
  msg *head, *tail;
  int n;
} fifo;

static void fifo_push(fifo *f, msg *m) {
  m->next = NULL;
  if (f->tail)
    f->tail->next = m;
  else
    f->head = m;
  f->tail = m;
  f->n++;
}
static msg *fifo_pop(fifo *f) {
  msg *m = f->head;
  if (!m)
    return NULL;
  f->head = m->next;
  if (!f->head)
    f->tail = NULL;
  f->n--;
  return m;
}
static void fifo_free(fifo *f) {
  while (f->head)
    free(fifo_pop(f));
}

static fifo chan[MAXR][MAXR][2]; /* in the network */
static fifo actrl[MAXR];         /* control arrived at a rank, not yet handled */
static fifo pin[MAXP];           /* data arrived from other ranks, not yet consumed */
static int cur = -1;             /* the rank whose engine code runs now */
static void *ctrl_recv_buf[MAXR];
static int unexpected_mpi;
static uint64_t msg_seq;

int MPI_Isend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
              MPI_Request *request) {
  (void)datatype;
  (void)comm;
  *request = MPI_REQUEST_NULL;
  if (cur < 0 || dest < 0 || dest >= MAXR) {
    unexpected_mpi++;
    return MPI_ERR_OTHER;
  }
  msg *m = calloc(1, sizeof *m);
  if (!m)
    return MPI_ERR_OTHER;
  m->src = cur;
  m->dst = dest;
  m->seq = msg_seq++;
  if (tag == SL__TAG_CTRL && count == (int)sizeof(sl__ctrlmsg)) {
    m->kind = 0;
    memcpy(&m->c, buf, sizeof m->c);
  } else if (tag == SL__TAG_DATA && count >= (int)sizeof(sl__msghdr)) {
    sl__msghdr h;
    memcpy(&h, buf, sizeof h);
    m->kind = 1;
    m->type = (int)h.type;
    m->part = h.part;
    m->nrec = h.nrec;
    if (h.type != SL__MSG_DATA && h.type != SL__MSG_EOS)
      unexpected_mpi++;
  } else {
    unexpected_mpi++; /* big records are not used here */
    free(m);
    return MPI_ERR_OTHER;
  }
  fifo_push(&chan[cur][dest][m->kind], m);
  return MPI_SUCCESS;
}

int MPI_Irecv(void *buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
              MPI_Request *request) {
  (void)count;
  (void)datatype;
  (void)source;
  (void)comm;
  *request = MPI_REQUEST_NULL;
  if (tag != SL__TAG_CTRL || cur < 0)
    unexpected_mpi++;
  else
    ctrl_recv_buf[cur] = buf;
  return MPI_SUCCESS;
}

int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status) {
  (void)request;
  *flag = 0;
  if (cur < 0 || !actrl[cur].head || !ctrl_recv_buf[cur])
    return MPI_SUCCESS;
  msg *m = fifo_pop(&actrl[cur]);
  memcpy(ctrl_recv_buf[cur], &m->c, sizeof m->c);
  status->MPI_SOURCE = m->src;
  status->MPI_TAG = SL__TAG_CTRL;
  ctrl_recv_buf[cur] = NULL; /* until MPI_Irecv posts it again */
  free(m);
  *flag = 1;
  return MPI_SUCCESS;
}

int MPI_Testsome(int incount, MPI_Request array_of_requests[], int *outcount,
                 int array_of_indices[], MPI_Status array_of_statuses[]) {
  (void)array_of_requests;
  (void)array_of_statuses;
  /* a send completes at once: the network holds a copy of what matters */
  for (int i = 0; i < incount; i++)
    array_of_indices[i] = i;
  *outcount = incount > 0 ? incount : MPI_UNDEFINED;
  return MPI_SUCCESS;
}

/* ---- the simulated ranks ---- */
typedef struct frank {
  sl__run run;
  sl__srun sr[2];
  sl__part *parts[MAXP];
  int nparts;
  sl__out *out;
} frank;

static sl_ctx CTX;
static sl_flow FLOW;
static sl__stage ST[2];
static frank R[MAXR];
static int SIZE, P0, P1, NS;
static int failed; /* an engine call failed or an invariant broke: stop the scenario */

/* routes a record to the partition written in its key */
static uint64_t route(const sl_record *rec, void *arg) {
  (void)arg;
  int q;
  memcpy(&q, rec->key, sizeof q);
  return (uint64_t)q; /* a user hash picks the partition modulo P */
}

static int call_ok(int rc, const char *what) {
  if (rc != SL_OK) {
    if (!failed)
      fprintf(stderr, "\n%s failed: %s: %s\n", what, sl_err_name(rc), sl__error_message());
    sl__error_clear();
    failed = 1;
    CU_FAIL("an engine call failed");
  }
  return rc == SL_OK;
}

static void setup(int size, int p0, int p1, const char *batch, const char *recv_budget,
                  const char *send_budget, const char *cpe) {
  CU_ASSERT_FATAL(size <= MAXR && p1 <= MAXP);
  memset(R, 0, sizeof R);
  memset(&CTX, 0, sizeof CTX);
  memset(&FLOW, 0, sizeof FLOW);
  memset(ctrl_recv_buf, 0, sizeof ctrl_recv_buf);
  unexpected_mpi = 0;
  failed = 0;
  SIZE = size;
  P0 = p0;
  P1 = p1;
  NS = p0 < size ? p0 : size;
  CU_ASSERT_FATAL(sl__options_defaults(&CTX.opt) == SL_OK);
  CU_ASSERT_FATAL(sl__options_set(&CTX.opt, "batch-bytes", batch) == SL_OK);
  CU_ASSERT_FATAL(sl__options_set(&CTX.opt, "recv-budget-bytes", recv_budget) == SL_OK);
  CU_ASSERT_FATAL(sl__options_set(&CTX.opt, "send-budget-bytes", send_budget) == SL_OK);
  CU_ASSERT_FATAL(sl__options_set(&CTX.opt, "credits-per-edge", cpe) == SL_OK);
  CTX.size = size;
  CTX.comm = MPI_COMM_NULL;
  ST[0] = (sl__stage){
      .index = 0, .partitions = p0, .boundary = SL__BOUND_SOURCE, .target = 1, .target_slot = 0};
  ST[1] = (sl__stage){.index = 1,
                      .partitions = p1,
                      .boundary = SL__BOUND_HASH,
                      .hash = route,
                      .inputs = {0},
                      .ninputs = 1,
                      .target = -1};
  FLOW.ctx = &CTX;
  FLOW.stages = ST;
  FLOW.nstages = 2;
  for (int r = 0; r < size; r++) {
    frank *f = &R[r];
    cur = r;
    f->run.flow = &FLOW;
    f->run.ctx = &CTX;
    f->run.comm = MPI_COMM_NULL;
    f->run.rank = r;
    f->run.size = size;
    f->run.nstages = 2;
    f->run.stages = f->sr;
    f->run.data_sent = calloc((size_t)size, sizeof(uint64_t));
    f->run.data_recv = calloc((size_t)size, sizeof(uint64_t));
    f->run.ctrl_sent = calloc((size_t)size, sizeof(uint64_t));
    f->run.ctrl_recv = calloc((size_t)size, sizeof(uint64_t));
    f->run.nctrl = 1;
    f->run.ctrl_buf = calloc(1, sizeof *f->run.ctrl_buf);
    f->run.ctrl_req = calloc(1, sizeof *f->run.ctrl_req);
    CU_ASSERT_FATAL(f->run.data_sent && f->run.data_recv && f->run.ctrl_sent && f->run.ctrl_recv &&
                    f->run.ctrl_buf && f->run.ctrl_req);
    ctrl_recv_buf[r] = f->run.ctrl_buf;
    for (int q = r; q < p1; q += size) {
      sl__part *p = calloc(1, sizeof *p);
      CU_ASSERT_FATAL(p != NULL);
      p->run = &f->run;
      p->stage = &ST[1];
      p->index = q;
      p->flush_step = -1;
      p->st = &f->sr[1].st;
      CU_ASSERT_FATAL(sl__credits_init(&f->run, p) == SL_OK);
      f->parts[f->nparts++] = p;
    }
    f->sr[1].parts = f->parts;
    f->sr[1].nlocal = f->nparts;
    f->sr[1].nopen = f->nparts;
    if (r < p0) {
      CU_ASSERT_FATAL(sl__out_create(&f->run, 0, &f->out) == SL_OK);
      f->sr[0].out = f->out;
    }
  }
  cur = -1;
}

static void teardown(void) {
  for (int r = 0; r < SIZE; r++) {
    frank *f = &R[r];
    cur = r;
    for (int i = 0; i < f->nparts; i++) {
      sl__part *p = f->parts[i];
      while (p->in_head) {
        sl__buf *b = p->in_head;
        p->in_head = b->next;
        sl__buf_release(&f->run, b);
      }
      sl__credits_free(&p->cr);
      free(p);
    }
    sl__out_destroy(f->out);
    sl__transport_free(&f->run);
    free(f->run.data_sent);
    free(f->run.data_recv);
    free(f->run.ctrl_sent);
    free(f->run.ctrl_recv);
    fifo_free(&actrl[r]);
    for (int d = 0; d < SIZE; d++) {
      fifo_free(&chan[r][d][0]);
      fifo_free(&chan[r][d][1]);
    }
  }
  for (int q = 0; q < MAXP; q++)
    fifo_free(&pin[q]);
  cur = -1;
  EXPECT_INT(unexpected_mpi, 0);
  memset(R, 0, sizeof R);
}

static int owner(int q) {
  return q % SIZE;
}
static sl__part *part_q(int q) {
  frank *f = &R[owner(q)];
  for (int i = 0; i < f->nparts; i++)
    if (f->parts[i]->index == q)
      return f->parts[i];
  return NULL;
}

/* ---- steps the test can take (each as the engine would) ---- */
static int rec_bytes = 200; /* value size: one record per batch with 256-byte batches */

static void emit(int s, int q) {
  char key[4], val[4096];
  memcpy(key, &q, 4);
  memset(val, 'v', sizeof val);
  sl_record rec = {key, 4, val, (size_t)rec_bytes};
  cur = s;
  call_ok(sl__out_emit(R[s].out, &rec), "sl__out_emit");
}

static void stage_done(int s) {
  cur = s;
  call_ok(sl__out_stage_done(R[s].out), "sl__out_stage_done");
}

static void poll(int r) {
  cur = r;
  int progress = 0;
  call_ok(sl__transport_poll(&R[r].run, &progress), "sl__transport_poll");
}

static int can_poll(int r) {
  return actrl[r].n || R[r].run.nlctrl || R[r].run.nsend;
}

static void settle_rank(int r) {
  for (int i = 0; i < 100 && can_poll(r) && !failed; i++)
    poll(r);
}

/* deliver the head of a channel */
static int deliver(int src, int dst, int kind) {
  msg *m = fifo_pop(&chan[src][dst][kind]);
  if (!m)
    return 0;
  if (kind == 0)
    fifo_push(&actrl[dst], m);
  else
    fifo_push(&pin[m->part], m);
  return 1;
}

static void deliver_all(int src, int dst, int kind) {
  while (deliver(src, dst, kind)) {
  }
}

/* per (sender, partition): records received, EOS consumed */
static uint64_t got_rec[MAXR][MAXP];
static int eos_done[MAXR][MAXP];

/* Consume the next batch of partition q: local (handed over) if local, else remote. */
static int consume(int q, int local) {
  sl__part *p = part_q(q);
  frank *f = &R[owner(q)];
  cur = owner(q);
  if (local) {
    sl__buf *b = p->in_head;
    if (!b)
      return 0;
    p->in_head = b->next;
    if (!p->in_head)
      p->in_tail = NULL;
    int s = b->src_rank;
    if (b->type == SL__MSG_EOS) {
      eos_done[s][q] = 1;
      p->eos_count++;
      call_ok(sl__credits_eos(&f->run, p, s), "sl__credits_eos");
    } else {
      got_rec[s][q] += b->nrec;
      call_ok(sl__credits_consumed(&f->run, p, s), "sl__credits_consumed");
    }
    sl__buf_release(&f->run, b);
    return 1;
  }
  msg *m = fifo_pop(&pin[q]);
  if (!m)
    return 0;
  if (m->type == SL__MSG_EOS) {
    eos_done[m->src][q] = 1;
    p->eos_count++;
    call_ok(sl__credits_eos(&f->run, p, m->src), "sl__credits_eos");
  } else {
    got_rec[m->src][q] += m->nrec;
    call_ok(sl__credits_consumed(&f->run, p, m->src), "sl__credits_consumed");
  }
  free(m);
  return 1;
}

/* control messages for partition q between s and owner(q), of a type, on their way */
static int ctrl_transit(int type, int from, int to, int q) {
  int n = 0;
  for (msg *m = chan[from][to][0].head; m; m = m->next)
    if (m->c.type == type && m->c.part == q)
      n += m->c.count;
  for (msg *m = actrl[to].head; m; m = m->next)
    if (m->src == from && m->c.type == type && m->c.part == q)
      n += m->c.count;
  if (from == to)
    for (int i = 0; i < R[to].run.nlctrl; i++)
      if (R[to].run.lctrl[i].type == type && R[to].run.lctrl[i].part == q)
        n += R[to].run.lctrl[i].count;
  return n;
}

static int data_unconsumed(int s, int q) {
  int n = 0;
  for (msg *m = chan[s][owner(q)][1].head; m; m = m->next)
    if (m->part == q && m->type == SL__MSG_DATA)
      n++;
  for (msg *m = pin[q].head; m; m = m->next)
    if (m->src == s && m->type == SL__MSG_DATA)
      n++;
  for (sl__buf *b = part_q(q)->in_head; b; b = b->next)
    if (b->src_rank == s && b->type != SL__MSG_EOS)
      n++;
  return n;
}

static void dump(void) {
  for (int q = 0; q < P1; q++) {
    const sl__credits *c = &part_q(q)->cr;
    fprintf(stderr, "  partition %d (rank %d): budget %d pool %d qlen %d |", q, owner(q), c->budget,
            c->pool, c->qlen);
    for (int s = 0; s < c->nsenders; s++)
      fprintf(stderr, " s%d held %d ret %d cred %d ready %d%s", s, c->held[s], c->ret[s],
              R[s].out ? R[s].out->dest[q].credits : -1, R[s].out ? R[s].out->dest[q].nready : -1,
              eos_done[s][q] ? " ended" : "");
    fprintf(stderr, "\n");
  }
}

static void check(const char *where) {
  if (failed)
    return;
  for (int q = 0; q < P1; q++) {
    const sl__credits *c = &part_q(q)->cr;
    long sum = c->pool;
    int ok = c->pool >= 0, infl = 0;
    for (int s = 0; s < c->nsenders; s++) {
      sum += c->held[s] + c->ret[s];
      ok = ok && c->held[s] >= 0 && c->ret[s] >= 0;
      infl += data_unconsumed(s, q);
    }
    if (sum != c->budget || !ok) {
      fprintf(stderr, "\n%s: partition %d: held + ret + pool = %ld, budget %d\n", where, q, sum,
              c->budget);
      CU_FAIL("credit sum invariant");
      failed = 1;
    }
    if (c->qlen > 0 && c->pool > 0) {
      fprintf(stderr, "\n%s: partition %d: %d sender(s) wait while the pool has %d credit(s)\n",
              where, q, c->qlen, c->pool);
      CU_FAIL("a sender waits while the pool has credits");
      failed = 1;
    }
    if (infl > c->budget) {
      fprintf(stderr, "\n%s: partition %d: %d batches not consumed, budget %d\n", where, q, infl,
              c->budget);
      CU_FAIL("more batches in flight than the budget");
      failed = 1;
    }
    for (int s = 0; s < c->nsenders && !failed; s++) {
      if (eos_done[s][q])
        continue;
      int want = R[s].out->dest[q].credits + data_unconsumed(s, q) +
                 ctrl_transit(CT_GRANT, owner(q), s, q) + ctrl_transit(CT_RELEASE, s, owner(q), q);
      if (c->held[s] != want) {
        fprintf(stderr,
                "\n%s: partition %d sender %d: held %d, but sender credits %d + unconsumed %d + "
                "grants on the way %d "
                "+ releases on the way %d\n",
                where, q, s, c->held[s], R[s].out->dest[q].credits, data_unconsumed(s, q),
                ctrl_transit(CT_GRANT, owner(q), s, q), ctrl_transit(CT_RELEASE, s, owner(q), q));
        CU_FAIL("held differs from the sender's view");
        failed = 1;
      }
    }
  }
  if (failed)
    dump();
}

/* ---- random scenarios ---- */
static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
  return sl_test_xorshift(&rng);
}

static int left[MAXR][MAXP]; /* records each sender still has for each partition */
static int left_total[MAXR], done_called[MAXR];
static uint64_t sent_rec[MAXR][MAXP];

static int out_can_unstick(const sl__out *o) {
  for (int q = 0; q < o->ndest; q++)
    if (o->dest[q].nready)
      return 0;
  for (int q = 0; q < o->ndest; q++)
    if (o->dest[q].cur && o->dest[q].cur->len)
      return 1;
  return 0;
}

typedef struct action {
  int kind, a, b, c;
} action;
enum { A_EMIT, A_UNSTICK, A_DONE, A_POLL, A_DELIVER, A_CONSUME };

/* the last steps of a random run, printed when it fails */
enum { TRACE = 48 };
static char trace[TRACE][160];
static long ntrace;
static void trace_dump(void) {
  long from = ntrace > TRACE ? ntrace - TRACE : 0;
  fprintf(stderr, "  last steps:\n");
  for (long i = from; i < ntrace; i++)
    fprintf(stderr, "    %s\n", trace[i % TRACE]);
}
static const char *ctrl_name(int t) {
  return t == CT_GRANT ? "GRANT" : t == CT_REQUEST ? "REQUEST" : t == CT_RELEASE ? "RELEASE" : "?";
}
static void trace_action(const action *a) {
  char *t = trace[ntrace++ % TRACE];
  switch (a->kind) {
  case A_EMIT:
    snprintf(t, 160, "sender %d emits a record", a->a);
    break;
  case A_UNSTICK:
    snprintf(t, 160, "sender %d unsticks", a->a);
    break;
  case A_DONE:
    snprintf(t, 160, "sender %d: stage done (flush, EOS)", a->a);
    break;
  case A_POLL:
    snprintf(t, 160, "rank %d polls (%d control arrived, %d local)", a->a, actrl[a->a].n,
             R[a->a].run.nlctrl);
    break;
  case A_DELIVER: {
    int k = a->c;
    const msg *c0 = chan[a->a][a->b][0].head, *c1 = chan[a->a][a->b][1].head;
    if (k < 0)
      k = !c0 ? 1 : !c1 ? 0 : c0->seq < c1->seq ? 0 : 1;
    const msg *m = chan[a->a][a->b][k].head;
    if (k == 0)
      snprintf(t, 160, "deliver %d -> %d: %s(part %d, %d)", a->a, a->b, ctrl_name(m->c.type),
               m->c.part, m->c.count);
    else
      snprintf(t, 160, "deliver %d -> %d: %s(part %d)", a->a, a->b,
               m->type == SL__MSG_EOS ? "EOS" : "DATA", m->part);
    break;
  }
  default: {
    const sl__part *p = part_q(a->a);
    int src = a->b ? (p->in_head ? p->in_head->src_rank : -1)
                   : (pin[a->a].head ? pin[a->a].head->src : -1);
    int eos = a->b ? (p->in_head && p->in_head->type == SL__MSG_EOS)
                   : (pin[a->a].head && pin[a->a].head->type == SL__MSG_EOS);
    snprintf(t, 160, "partition %d consumes %s from %d (%s)", a->a, eos ? "EOS" : "a batch", src,
             a->b ? "local" : "remote");
  }
  }
}

/* Returns 1 if the whole flow finished, 0 on deadlock or failure. */
static int simulate(int size, int p0, int p1, const char *batch, const char *recv_budget,
                    const char *send_budget, const char *cpe, int max_per_edge, int reordered,
                    long step_limit) {
  setup(size, p0, p1, batch, recv_budget, send_budget, cpe);
  memset(left, 0, sizeof left);
  memset(left_total, 0, sizeof left_total);
  memset(done_called, 0, sizeof done_called);
  memset(sent_rec, 0, sizeof sent_rec);
  memset(got_rec, 0, sizeof got_rec);
  memset(eos_done, 0, sizeof eos_done);
  for (int s = 0; s < NS; s++)
    for (int q = 0; q < P1; q++) {
      left[s][q] = (int)(rnd() % (uint64_t)(max_per_edge + 1));
      left_total[s] += left[s][q];
    }
  static action acts[MAXR * MAXR * 2 + 4 * MAXR + 2 * MAXP];
  long steps = 0;
  int finished = 0;
  ntrace = 0;
  char where[160];
  while (!failed) {
    int n = 0;
    for (int s = 0; s < NS; s++) {
      sl__out *o = R[s].out;
      if (left_total[s] && !sl__out_blocked(o))
        acts[n++] = (action){A_EMIT, s, 0, 0};
      if (sl__out_blocked(o) && out_can_unstick(o))
        acts[n++] = (action){A_UNSTICK, s, 0, 0};
      if (!left_total[s] && !done_called[s])
        acts[n++] = (action){A_DONE, s, 0, 0};
    }
    for (int r = 0; r < SIZE; r++) {
      if (can_poll(r))
        acts[n++] = (action){A_POLL, r, 0, 0};
      for (int d = 0; d < SIZE; d++) {
        if (reordered) {
          for (int k = 0; k < 2; k++)
            if (chan[r][d][k].n)
              acts[n++] = (action){A_DELIVER, r, d, k};
        } else if (chan[r][d][0].n || chan[r][d][1].n) {
          acts[n++] = (action){A_DELIVER, r, d, -1}; /* oldest of the two: one FIFO */
        }
      }
    }
    for (int q = 0; q < P1; q++) {
      int r = owner(q);
      /* in order: a rank handles the control messages that arrived before consuming */
      if (!reordered && (actrl[r].n || R[r].run.nlctrl))
        continue;
      if (pin[q].n)
        acts[n++] = (action){A_CONSUME, q, 0, 0};
      if (part_q(q)->in_head)
        acts[n++] = (action){A_CONSUME, q, 1, 0};
    }
    if (!n) {
      finished = 1;
      break;
    }
    action a = acts[rnd() % (uint64_t)n];
    trace_action(&a);
    switch (a.kind) {
    case A_EMIT: {
      int pick = (int)(rnd() % (uint64_t)left_total[a.a]), q = 0;
      while (pick >= left[a.a][q])
        pick -= left[a.a][q++];
      left[a.a][q]--;
      left_total[a.a]--;
      sent_rec[a.a][q]++;
      emit(a.a, q);
      break;
    }
    case A_UNSTICK:
      cur = a.a;
      call_ok(sl__out_unstick(R[a.a].out), "sl__out_unstick");
      break;
    case A_DONE:
      done_called[a.a] = 1;
      stage_done(a.a);
      break;
    case A_POLL:
      poll(a.a);
      break;
    case A_DELIVER:
      if (a.c >= 0) {
        deliver(a.a, a.b, a.c);
      } else { /* one FIFO per pair: the older of the two heads */
        const msg *c0 = chan[a.a][a.b][0].head, *c1 = chan[a.a][a.b][1].head;
        deliver(a.a, a.b, !c0 ? 1 : !c1 ? 0 : c0->seq < c1->seq ? 0 : 1);
      }
      break;
    default:
      consume(a.a, a.b);
      break;
    }
    snprintf(where, sizeof where, "size %d %s step %ld action %d(%d,%d,%d)", size,
             reordered ? "reordered" : "in order", steps, a.kind, a.a, a.b, a.c);
    check(where);
    if (++steps > step_limit) {
      fprintf(stderr, "\n%s: no end after %ld steps\n", where, steps);
      CU_FAIL("simulation did not finish");
      failed = 1;
    }
  }
  int ok = finished && !failed;
  if (failed)
    trace_dump();
  if (finished && !failed) {
    /* everything delivered and consumed: every record once, every EOS, credits home */
    int bad = 0;
    for (int s = 0; s < NS; s++)
      for (int q = 0; q < P1; q++) {
        if (got_rec[s][q] != sent_rec[s][q] || !eos_done[s][q]) {
          if (bad++ < 5)
            fprintf(stderr, "\nsize %d: sender %d -> partition %d: %llu of %llu records, eos %d\n",
                    size, s, q, (unsigned long long)got_rec[s][q],
                    (unsigned long long)sent_rec[s][q], eos_done[s][q]);
        }
      }
    if (bad) {
      fprintf(stderr,
              "\nsize %d (%s): DEADLOCK: no step is possible and the flow has not finished\n", size,
              reordered ? "reordered" : "in order");
      CU_FAIL("deadlock: no step possible before the end");
      dump();
      trace_dump();
      teardown();
      return 0;
    }
    int leaked = 0;
    for (int q = 0; q < P1; q++) {
      const sl__credits *c = &part_q(q)->cr;
      if (c->pool != c->budget)
        leaked += c->budget - c->pool;
    }
    if (leaked) {
      fprintf(stderr, "\nsize %d (%s): %d credit(s) not back in their pools at the end\n", size,
              reordered ? "reordered" : "in order", leaked);
      dump();
      CU_FAIL("credits leaked");
      ok = 0;
    }
  }
  teardown();
  return ok;
}

/* ---- directed scenarios ---- */

static int ctrl_in_chan(int type, int from, int to, int q) {
  int n = 0;
  for (msg *m = chan[from][to][0].head; m; m = m->next)
    if (m->c.type == type && m->c.part == q)
      n += m->c.count;
  return n;
}
static int chan_empty(void) {
  for (int a = 0; a < SIZE; a++)
    for (int b = 0; b < SIZE; b++)
      if (chan[a][b][0].n || chan[a][b][1].n)
        return 0;
  return 1;
}

/* Budget, initial grant, threshold and pool from the options; the senders start with
 * the same initial credits, without a message. */
static void test_init(void) {
  setup(4, 4, 8, "4K", "32K", "1M", "4"); /* B = 8, 4 senders: initial min(8/4, 4) = 2 */
  for (int q = 1; q < 8; q += 4) {
    const sl__credits *c = &part_q(q)->cr;
    EXPECT_INT(c->budget, 8);
    EXPECT_INT(c->nsenders, 4);
    EXPECT_INT(c->initial, 2);
    EXPECT_INT(c->thresh, 1);
    EXPECT_INT(c->pool, 0);
    for (int s = 0; s < 4; s++)
      EXPECT_INT(c->held[s], 2);
  }
  for (int s = 0; s < 4; s++)
    for (int q = 0; q < 8; q++) {
      EXPECT_INT(R[s].out->dest[q].credits, 2);
      EXPECT_INT(R[s].out->dest[q].rank, q % 4);
    }
  CU_ASSERT(chan_empty());
  check("init");
  teardown();

  setup(2, 2, 2, "4K", "64K", "1M", "3"); /* credits-per-edge caps the initial grant */
  EXPECT_INT(part_q(0)->cr.budget, 16);
  EXPECT_INT(part_q(0)->cr.initial, 3);
  EXPECT_INT(part_q(0)->cr.pool, 10);
  check("init cpe");
  teardown();

  setup(32, 32, 32, "4K", "64K", "4M", "4"); /* more senders than credits: all pool */
  EXPECT_INT(part_q(5)->cr.budget, 16);
  EXPECT_INT(part_q(5)->cr.nsenders, 32);
  EXPECT_INT(part_q(5)->cr.initial, 0);
  EXPECT_INT(part_q(5)->cr.pool, 16);
  EXPECT_INT(R[7].out->dest[5].credits, 0);
  check("init starving");
  teardown();

  setup(3, 1, 3, "4K", "32K", "32K", "2"); /* one sender whatever the rank count */
  EXPECT_INT(part_q(2)->cr.nsenders, 1);
  EXPECT_INT(part_q(2)->cr.budget, 8);
  EXPECT_INT(part_q(2)->cr.initial, 2);
  EXPECT_INT(part_q(2)->cr.pool, 6);
  CU_ASSERT(R[2].out == NULL);
  teardown();

  /* many destinations: the batch shrinks (send budget / (2 * partitions), floor 4K) and
   * the budget in credits grows */
  setup(2, 2, 64, "64K", "1M", "1M", "4");
  EXPECT_U64(R[0].out->cap, 8192);
  EXPECT_INT(part_q(0)->cr.budget, 128);
  teardown();
}

/* Consumed batches return their credits to the sender in groups of thresh = initial / 2. */
static void test_threshold(void) {
  /* 256-byte batches (one 212-byte record each), B = 32, initial 8, thresh 4, pool 16 */
  setup(2, 2, 2, "256", "8K", "64K", "8");
  EXPECT_INT(part_q(0)->cr.initial, 8);
  EXPECT_INT(part_q(0)->cr.thresh, 4);
  EXPECT_INT(part_q(0)->cr.pool, 16);
  for (int i = 0; i < 9; i++)
    emit(1, 0); /* 8 batches leave on the initial credits */
  EXPECT_INT(chan[1][0][1].n, 8);
  EXPECT_INT(R[1].out->dest[0].credits, 0);
  deliver_all(1, 0, 1);
  for (int i = 1; i <= 8; i++) {
    CU_ASSERT(consume(0, 0));
    EXPECT_INT(ctrl_in_chan(CT_GRANT, 0, 1, 0), i < 4 ? 0 : i < 8 ? 4 : 8);
    check("threshold");
  }
  /* the grants reach the sender: it sends its last batch at once */
  deliver_all(0, 1, 0);
  settle_rank(1);
  EXPECT_INT(R[1].out->dest[0].credits, 8);
  check("threshold, granted");
  teardown();

  /* the same through lctrl: sender and receiver on one rank */
  setup(1, 1, 1, "256", "8K", "64K", "8"); /* B 32, 1 sender: initial 8, thresh 4 */
  for (int i = 0; i < 9; i++)
    emit(0, 0);
  EXPECT_INT(R[0].out->dest[0].credits, 0);
  for (int i = 1; i <= 4; i++)
    CU_ASSERT(consume(0, 1));
  EXPECT_INT(R[0].run.nlctrl, 1); /* one GRANT of 4, queued locally */
  settle_rank(0);
  EXPECT_INT(R[0].run.nlctrl, 0);
  EXPECT_INT(R[0].out->dest[0].credits, 4); /* the 9th record is still being filled */
  CU_ASSERT(chan_empty());                  /* no MPI message to itself */
  check("threshold local");
  teardown();
}

/* More senders than credits: everyone asks; a queued sender gets the next freed credit. */
static void test_starving(void) {
  setup(4, 4, 4, "256", "512", "64K", "4"); /* B 2, 4 senders: initial 0, pool 2 */
  for (int s = 1; s <= 3; s++) {
    emit(s, 0);
    emit(s, 0); /* the first batch is ready: no credit, so a REQUEST */
    EXPECT_INT(ctrl_in_chan(CT_REQUEST, s, 0, 0), 1);
  }
  for (int s = 1; s <= 3; s++)
    deliver_all(s, 0, 0);
  settle_rank(0);
  EXPECT_INT(ctrl_in_chan(CT_GRANT, 0, 1, 0), 1);
  EXPECT_INT(ctrl_in_chan(CT_GRANT, 0, 2, 0), 1);
  EXPECT_INT(ctrl_in_chan(CT_GRANT, 0, 3, 0), 0);
  EXPECT_INT(part_q(0)->cr.pool, 0);
  EXPECT_INT(part_q(0)->cr.qlen, 1);
  check("starving: 3 queued");
  for (int s = 1; s <= 2; s++) {
    deliver_all(0, s, 0);
    settle_rank(s);
    deliver_all(s, 0, 1);
  }
  check("starving: 2 batches sent");
  CU_ASSERT(consume(0, 0)); /* sender 1's batch: its credit goes to 3, who waits */
  EXPECT_INT(ctrl_in_chan(CT_GRANT, 0, 3, 0), 1);
  EXPECT_INT(ctrl_in_chan(CT_GRANT, 0, 1, 0), 0);
  EXPECT_INT(part_q(0)->cr.qlen, 0);
  check("starving: served");
  teardown();
}

/* EOS: a sender's credits (held and pending return) go back to the pool, or to a sender
 * that waits. */
static void test_eos(void) {
  setup(3, 3, 3, "256", "2K", "64K", "2"); /* B 8, 3 senders: initial 2, pool 2 */
  stage_done(1);                           /* nothing to send: EOS everywhere */
  deliver_all(1, 0, 1);
  CU_ASSERT(consume(0, 0));
  EXPECT_INT(part_q(0)->cr.held[1], 0);
  EXPECT_INT(part_q(0)->cr.pool, 4);
  check("eos");
  /* sender 2 uses up its credits and the pool, then waits; sender 0's EOS feeds it */
  for (int i = 0; i < 12 && !failed; i++) {
    emit(2, 0);
    deliver_all(2, 0, 0);
    settle_rank(0);
    deliver_all(0, 2, 0);
    settle_rank(2);
  }
  EXPECT_INT(part_q(0)->cr.pool, 0);
  EXPECT_INT(part_q(0)->cr.qlen, 1);
  int before = ctrl_in_chan(CT_GRANT, 0, 2, 0);
  stage_done(0); /* local sender of partition 0: EOS handed over */
  CU_ASSERT(consume(0, 1));
  EXPECT_INT(part_q(0)->cr.qlen, 0);
  CU_ASSERT(ctrl_in_chan(CT_GRANT, 0, 2, 0) > before);
  check("eos to a waiting sender");
  teardown();
}

/* A REQUEST sent before the sender's EOS, handled after the EOS was consumed (control and
 * data are on different tags; the engine tests control receives before the data ring, so
 * this order happens): the sender asked for one more credit, then a threshold return
 * crossed its request, it sent its last batch and its EOS with that credit. The late
 * REQUEST must not take a credit from the pool: the sender has ended and will never use
 * nor return it, so the pool would lose it for the rest of the run. */
static void test_late_request_after_eos(void) {
  setup(2, 2, 2, "256", "1K", "64K", "1"); /* B 4, 2 senders: initial 1, thresh 1, pool 2 */
  emit(1, 0);
  emit(1, 0);    /* batch 1 leaves on the initial credit */
  stage_done(1); /* batch 2 is ready, no credit: REQUEST; EOS waits behind batch 2 */
  EXPECT_INT(ctrl_in_chan(CT_REQUEST, 1, 0, 0), 1);
  deliver(1, 0, 1);
  CU_ASSERT(consume(0, 0)); /* batch 1: the credit returns to sender 1 (threshold 1) */
  EXPECT_INT(ctrl_in_chan(CT_GRANT, 0, 1, 0), 1);
  deliver_all(0, 1, 0); /* the grant overtakes the REQUEST */
  settle_rank(1);       /* batch 2 and the EOS leave */
  deliver_all(1, 0, 1);
  while (consume(0, 0)) {
  }
  EXPECT_INT(part_q(0)->cr.held[1], 0);
  const int pool_after_eos = part_q(0)->cr.pool;
  const int granted_before = ctrl_in_chan(CT_GRANT, 0, 1, 0); /* returns before the EOS */
  deliver_all(1, 0, 0);                                       /* the REQUEST, late */
  settle_rank(0);
  int granted = ctrl_in_chan(CT_GRANT, 0, 1, 0) - granted_before;
  const sl__credits *c = &part_q(0)->cr;
  if (failed || granted || c->held[1] || c->pool != pool_after_eos)
    fprintf(stderr,
            "\nENGINE BUG: a REQUEST handled after the sender's EOS granted %d credit(s) to the "
            "ended sender "
            "(held %d, pool %d; expected 0, 0 and %d): they never return to the pool\n",
            granted, c->held[1], c->pool, pool_after_eos);
  EXPECT_INT(granted, 0);
  EXPECT_INT(c->held[1], 0);
  EXPECT_INT(c->pool, pool_after_eos);
  teardown();
}

/* ---- random runs ---- */
static int sim_many(int size, int p0, int p1, const char *batch, const char *recv, const char *send,
                    const char *cpe, int max_per_edge, int reordered, int reps) {
  int ok = 0;
  for (int rep = 0; rep < reps; rep++) {
    int r = simulate(size, p0, p1, batch, recv, send, cpe, max_per_edge, reordered, 2000000);
    ok += r;
    if (!r) {
      fprintf(stderr,
              "  (size %d, %d -> %d partitions, batch %s, recv %s, send %s, credits-per-edge %s, "
              "%s, rep %d)\n",
              size, p0, p1, batch, recv, send, cpe, reordered ? "reordered" : "in order", rep);
      break; /* one failure tells; the rest would repeat it */
    }
  }
  return ok;
}

static void run_sims(int reordered) {
  sim_many(1, 3, 4, "256", "1K", "1K", "2", 40, reordered, 100); /* one rank: lctrl only */
  sim_many(2, 2, 2, "256", "1K", "1K", "1", 40, reordered, 100);
  sim_many(3, 1, 3, "256", "2K", "1K", "2", 60, reordered, 60); /* one sender */
  sim_many(4, 4, 8, "256", "2K", "2K", "4", 20, reordered, 60);
  sim_many(4, 2, 4, "256", "512", "1K", "2", 20, reordered, 60);  /* B 2, ranks without a sender */
  sim_many(8, 8, 8, "256", "1K", "1K", "1", 10, reordered, 30);   /* B 4 < 8 senders: asking */
  sim_many(6, 6, 12, "256", "512", "2K", "4", 8, reordered, 30);  /* B 2: all pool */
  sim_many(16, 16, 16, "256", "1K", "2K", "2", 4, reordered, 10); /* B 4, 16 senders */
  sim_many(5, 5, 5, "256", "4K", "512", "8", 30, reordered, 40);  /* send pool of 2 buffers */
}

static void test_sim_in_order(void) {
  run_sims(0);
}
static void test_sim_reordered(void) {
  run_sims(1);
}

/* unit_credits: everything that must hold and does; unit_credits_late_request ("late"):
 * the control/data reordering cases, which fail against the engine as it is (see
 * test_late_request_after_eos and the report). */
int main(int argc, char **argv) {
  static const sl_test tests[] = {
      {"initial grants from the options", test_init},
      {"credits return in groups (threshold)", test_threshold},
      {"more senders than credits: a waiting sender gets the next credit", test_starving},
      {"EOS returns a sender's credits", test_eos},
      {"random runs, control handled in order", test_sim_in_order},
      {NULL, NULL}};
  static const sl_test late[] = {
      {"a REQUEST handled after the sender's EOS grants nothing", test_late_request_after_eos},
      {"random runs, control and data reordered", test_sim_reordered},
      {NULL, NULL}};
  if (argc > 1 && strcmp(argv[1], "late") == 0)
    return sl_test_main("credits_late_request", late);
  return sl_test_main("credits", tests);
}
