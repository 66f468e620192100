/* SPDX-License-Identifier: BSD-3-Clause */
/* The first half of the sort, SORT_SPLIT, at the end of the stage before it: hold the
 * records (memory blocks, then spill runs), keep a reservoir sample; when every local
 * partition has sampled, the ranks exchange samples (two non-blocking collectives: the
 * step's run-wide hooks) and pick splitters, the router of the routed boundary; then the
 * held records are replayed into it, each block and run given back once replayed. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "ops/sort_runs.h"

/* The splitters of a sort: sampled by the partitions of the stage before the sort and
 * exchanged with two non-blocking collectives (sizes, then samples): SORT_SPLIT's run-wide
 * state. Every rank posts them in plan order (the engine holds later steps' collectives
 * back until this one is quiescent), so they match even on ranks with no partition of
 * that stage. */
typedef struct sortsync {
  int phase; /* 0 sampling, 1 sizes exchanged, 2 samples exchanged, 3 splitters ready */
  int nready;
  sl__bytes mine;
  int mine_int;
  int *counts, *displs;
  char *all;
  MPI_Request req;
  sl__sort_order ord;
  sl_record *split;     /* nsplit records pointing into `all` */
  uint64_t *split_keys; /* by key: their key words (ord.words each), so that routing a
                           record takes its key once */
  int nsplit;
  uint64_t rr;
} sortsync;

static int sync_cmp(const sortsync *ss, const sl_record *a, const sl_record *b) {
  return sl__sort_order_cmp(&ss->ord, a, b);
}

static uint64_t next_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Reservoir sample: each record seen so far is in the sample with equal probability. A
 * replaced record is overwritten in place when the sizes agree, else appended (the
 * reservoir is compacted when the dead bytes dominate). */
static int sample(sl__part *p, sort_state *st, const sl_record *r) {
  st->seen++;
  size_t sz = sl__rec_size(r->key_len, r->value_len);
  if (st->seen == 1) { /* and at most an eighth of the budget, by the first record's size */
    size_t by_bytes = budget(p) / 8 / sz;
    if (by_bytes < st->maxsample)
      st->maxsample = by_bytes < SAMPLES_MIN ? SAMPLES_MIN : by_bytes;
  }
  if (st->nsample < st->maxsample) {
    st->soff[st->nsample++] = st->samples.len;
    st->live += sz;
    return sl__bytes_put_record(&st->samples, r);
  }
  /* uniform in [0, seen): the high half of a 64x64-bit product, no division per record */
  uint64_t j = (uint64_t)(((unsigned __int128)next_rand(&st->rng) * st->seen) >> 64);
  if (j >= st->maxsample)
    return SL_OK;
  sl_record old = rec_at(st->samples.p, st->soff[j]);
  size_t osz = sl__rec_size(old.key_len, old.value_len);
  if (osz == sz) {
    size_t at = st->soff[j];
    sl__batch_append(st->samples.p, at + sz, &at, r->key, r->key_len, r->value, r->value_len);
    return SL_OK;
  }
  st->live += sz - osz;
  if (st->samples.len > 2 * st->live + 4096) { /* compact: re-encode the live records */
    sl__bytes nv = {0};
    for (size_t i = 0; i < st->nsample; i++) {
      sl_record x = rec_at(st->samples.p, st->soff[i]);
      size_t at = nv.len;
      int rc = sl__bytes_put_record(&nv, &x);
      if (rc) {
        free(nv.p);
        return rc;
      }
      st->soff[i] = at;
    }
    free(st->samples.p);
    st->samples = nv;
  }
  st->soff[j] = st->samples.len;
  return sl__bytes_put_record(&st->samples, r);
}

static size_t block_size(const sl__part *p) {
  size_t b = budget(p) / 8;
  return b < 256 ? 256 : b > HOLD_BLOCK_MAX ? HOLD_BLOCK_MAX : b;
}

/* Appends a record to the last block, or to a new one: packed while the lengths repeat;
 * a block of other lengths after a packed one is in the general encoding. */
static int hold_put(sl__part *p, sort_state *st, const sl_record *r) {
  block *b = st->tail;
  size_t kv = r->key_len + r->value_len;
  int same = b && b->packed && b->klen == r->key_len && b->vlen == r->value_len;
  if (same && b->cap - b->len >= kv) {
    put_kv(b->data + b->len, r);
    b->len += kv;
    st->held += kv;
    return SL_OK;
  }
  if (b && !b->packed && b->cap - b->len >= kv + SL__REC_HDR) {
    sl__batch_append(b->data, b->cap, &b->len, r->key, r->key_len, r->value, r->value_len);
    st->held += kv + SL__REC_HDR;
    return SL_OK;
  }
  int packed = packable(r) && !(b && b->packed && !same);
  size_t need = packed ? kv : kv + SL__REC_HDR, cap = block_size(p);
  if (cap < need)
    cap = need;
  block *nb = sl__sort_block_alloc(cap);
  SL__CHECK_ALLOC_FOR(nb, "a block of the sort's held records", cap, "--sl-sort-memory-bytes");
  nb->next = NULL;
  nb->len = 0;
  nb->cap = cap;
  nb->packed = packed;
  nb->klen = (uint32_t)r->key_len;
  nb->vlen = (uint32_t)r->value_len;
  if (b)
    b->next = nb;
  else
    st->head = nb;
  st->tail = nb;
  st->bcap += cap;
  return hold_put(p, st, r);
}

/* Writes the blocks to a new run (packed if they all are, with the same lengths) and
 * frees them. */
static int spill_hold(sl__part *p, sort_state *st) {
  if (!st->head)
    return SL_OK;
  int packed = 1;
  for (block *b = st->head; b; b = b->next)
    packed &= b->packed && b->klen == st->head->klen && b->vlen == st->head->vlen;
  FILE *f;
  SL__CHECK(sl__sort_run_new(p->run, st, packed, st->head->klen, st->head->vlen, &f));
  for (block *b = st->head; b; b = b->next) {
    if (packed || !b->packed) {
      SL__CHECK(sl__sort_write(f, b->data, b->len));
      continue;
    }
    size_t w = (size_t)b->klen + b->vlen;
    uint32_t hdr[2] = {b->klen, b->vlen};
    for (size_t o = 0; o < b->len; o += w) {
      SL__CHECK(sl__sort_write(f, hdr, sizeof hdr));
      SL__CHECK(sl__sort_write(f, b->data + o, w));
    }
  }
  SL__CHECK(sl__sort_run_done(f));
  sl__sort_free_blocks(st);
  return sl__sort_bound_runs(p, st);
}

static int split_push(sl__part *p, int i, const sl_record *rec) {
  sort_state *st = p->steps[i].state;
  if (st->passthrough < 0) /* one partition after the boundary: nothing to split */
    st->passthrough = p->out && p->out->ndest == 1;
  if (st->passthrough)
    return sl__sort_emit_next(p, i, rec);
  SL__CHECK(hold_put(p, st, rec));
  SL__CHECK(sample(p, st, rec));
  if (st->bcap >= budget(p))
    SL__CHECK(spill_hold(p, st));
  sl__sort_account(p, st);
  return SL_OK;
}

static int split_drain(sl__part *p, int i, int *finished) {
  sort_state *st = p->steps[i].state;
  *finished = 0;
  sortsync *ss = sl__run_state(p->run, p->stage->index, i);
  if (st->phase == 0) { /* contribute the sample, then wait for the splitters */
    SL__CHECK(sl__bytes_reserve(&ss->mine, st->live, 0));
    for (size_t k = 0; k < st->nsample; k++) {
      sl_record x = rec_at(st->samples.p, st->soff[k]);
      SL__CHECK(sl__bytes_put_record(&ss->mine, &x));
    }
    ss->nready++;
    st->phase = 1;
  }
  if (st->phase == 1) {
    if (ss->phase < 3) {
      p->waiting = 1;
      return SL_OK;
    }
    st->phase = 2;
    st->cursor = 0;
    st->run_i = 0;
  }
  /* replay in arrival order: the spill files (oldest first), then the blocks in memory.
   * The next stage sorts, but it keeps equal records in the order they reach it, so this
   * order is what makes a sort from one source partition on one rank stable. Each file
   * and block is given back once replayed. */
  while (st->run_i < st->nruns) {
    if (!st->rd.f) {
      SL__CHECK(
          sl__sort_reader_open_file(&st->rd, &st->runs[st->run_i], sl__sort_read_buf_size(p, 1)));
      SL__CHECK(sl__sort_reader_next(&st->rd));
      sl__sort_account(p, st);
    }
    if (!st->rd.valid) { /* this run is done */
      sl__sort_reader_close(&st->rd);
      fclose(st->runs[st->run_i].f);
      st->runs[st->run_i].f = NULL;
      st->run_i++;
      sl__sort_account(p, st);
      continue;
    }
    if (sort_drain_pause(p, i, st))
      return SL_OK;
    SL__CHECK(sl__sort_emit_next(p, i, &st->rd.cur));
    SL__CHECK(sl__sort_reader_next(&st->rd));
  }
  while (st->head) {
    block *b = st->head;
    size_t w = (size_t)b->klen + b->vlen;
    while (st->cursor < b->len) {
      if (sort_drain_pause(p, i, st))
        return SL_OK;
      sl_record r;
      if (b->packed) {
        r = rec_packed(b->data + st->cursor, b->klen, b->vlen);
        st->cursor += w;
      } else if (sl__batch_next(b->data, b->len, &st->cursor, &r) != 1) {
        SL__FAIL(SL_ERR_INTERNAL, "sort: bad record");
      }
      SL__CHECK(sl__sort_emit_next(p, i, &r));
    }
    st->head = b->next;
    if (!st->head)
      st->tail = NULL;
    st->bcap -= b->cap;
    st->held -= b->len;
    sl__sort_block_free(b);
    st->cursor = 0;
    sl__sort_account(p, st);
  }
  sl__sort_release_all(st);
  sl__sort_account(p, st);
  *finished = 1;
  return SL_OK;
}

/* ---- splitters: SORT_SPLIT's run-wide hooks ---- */
static int split_route(void *arg, const sl_record *rec, int ndest);

static int split_run_setup(sl__run *run, int stage, int step, void **rstate) {
  const sl__step *s = &run->flow->stages[stage].steps[step];
  sortsync *ss = calloc(1, sizeof *ss);
  SL__CHECK_ALLOC(ss);
  *rstate = ss;
  ss->ord = step_order(s);
  ss->req = MPI_REQUEST_NULL;
  ss->counts = calloc((size_t)run->size, sizeof *ss->counts);
  ss->displs = calloc((size_t)run->size, sizeof *ss->displs);
  SL__CHECK_ALLOC(ss->counts);
  SL__CHECK_ALLOC(ss->displs);
  sl__out_set_router(run, stage, split_route, ss);
  return SL_OK;
}

static void split_run_free(sl__run *run, void *rstate) {
  sortsync *ss = rstate;
  (void)run;
  sl__bytes_free(&ss->mine);
  free(ss->counts);
  free(ss->displs);
  free(ss->all);
  free(ss->split);
  free(ss->split_keys);
  free(ss);
}

static const sortsync *qsync;
static int sample_cmp(const void *a, const void *b) {
  return sync_cmp(qsync, (const sl_record *)a, (const sl_record *)b);
}

static int pick_splitters(sl__run *run, sortsync *ss, int ndest) {
  size_t total = 0;
  for (int r = 0; r < run->size; r++)
    total += (size_t)ss->counts[r];
  size_t n = 0, pos = 0;
  sl_record tmp;
  while (pos < total && sl__batch_next(ss->all, total, &pos, &tmp) == 1)
    n++;
  sl_record *recs = calloc(n ? n : 1, sizeof *recs);
  SL__CHECK_ALLOC(recs);
  pos = 0;
  for (size_t k = 0; k < n; k++)
    sl__batch_next(ss->all, total, &pos, &recs[k]);
  qsync = ss;
  qsort(recs, n, sizeof *recs, sample_cmp);
  ss->nsplit = n ? ndest - 1 : 0;
  ss->split = calloc((size_t)(ss->nsplit > 0 ? ss->nsplit : 1), sizeof *ss->split);
  if (!ss->split) {
    free(recs);
    SL__FAIL(SL_ERR_NOMEM, "out of memory for splitters");
  }
  for (int k = 0; k < ss->nsplit; k++)
    ss->split[k] = recs[(size_t)(k + 1) * n / (size_t)ndest];
  free(recs);
  if (ss->ord.words && ss->nsplit > 0) {
    ss->split_keys = malloc((size_t)ss->nsplit * ss->ord.words * sizeof *ss->split_keys);
    SL__CHECK_ALLOC(ss->split_keys);
    for (int k = 0; k < ss->nsplit; k++)
      sl__sort_key_words(&ss->ord, &ss->split[k], ss->split_keys + (size_t)k * ss->ord.words);
  }
  return SL_OK;
}

static int wait_or_test(MPI_Request *req, int wait, int *flag) {
  if (wait) {
    *flag = 1;
    SL__CHECK_MPI(MPI_Wait(req, MPI_STATUS_IGNORE));
  } else {
    SL__CHECK_MPI(MPI_Test(req, flag, MPI_STATUS_IGNORE));
  }
  return SL_OK;
}

static int advance(sl__run *run, int s, sortsync *ss, int wait, int *progress) {
  int flag = 0;
  if (ss->phase == 0) {
    if (ss->mine.len > (size_t)INT32_MAX)
      SL__FAIL(SL_ERR_UNSUPPORTED, "sort: samples over 2 GiB (records too large)");
    ss->mine_int = (int)ss->mine.len;
    SL__CHECK_MPI(
        MPI_Iallgather(&ss->mine_int, 1, MPI_INT, ss->counts, 1, MPI_INT, run->comm, &ss->req));
    ss->phase = 1;
    (*progress)++;
  }
  if (ss->phase == 1) {
    SL__CHECK(wait_or_test(&ss->req, wait, &flag));
    if (!flag)
      return SL_OK;
    size_t total = 0;
    for (int r = 0; r < run->size; r++) {
      ss->displs[r] = (int)total;
      total += (size_t)ss->counts[r];
    }
    if (total > (size_t)INT32_MAX)
      SL__FAIL(SL_ERR_UNSUPPORTED, "sort: samples over 2 GiB (records too large)");
    ss->all = malloc(total ? total : 1);
    SL__CHECK_ALLOC(ss->all);
    SL__CHECK_MPI(MPI_Iallgatherv(ss->mine.p, ss->mine_int, MPI_BYTE, ss->all, ss->counts,
                                  ss->displs, MPI_BYTE, run->comm, &ss->req));
    ss->phase = 2;
    (*progress)++;
  }
  if (ss->phase == 2) {
    SL__CHECK(wait_or_test(&ss->req, wait, &flag));
    if (!flag)
      return SL_OK;
    SL__CHECK(pick_splitters(run, ss, run->flow->stages[run->flow->stages[s].target].partitions));
    ss->phase = 3;
    (*progress)++;
  }
  return SL_OK;
}

static int split_run_progress(sl__run *run, int stage, void *rstate, int *progress) {
  sortsync *ss = rstate;
  if (ss->phase == 3 || (ss->phase == 0 && ss->nready < run->stages[stage].nlocal))
    return SL_OK; /* done, or this rank's partitions are still sampling */
  return advance(run, stage, ss, 0, progress);
}

static int split_run_quiescent(const sl__run *run, const void *rstate) {
  (void)run;
  return ((const sortsync *)rstate)->phase == 3;
}

static int split_run_settle(sl__run *run, int stage, void *rstate) {
  sortsync *ss = rstate;
  int dummy = 0;
  return ss->phase < 3 ? advance(run, stage, ss, 1, &dummy) : SL_OK;
}

/* Splitter m against the record (whose key words, by key, are in rk): <0, 0, >0. */
static int split_cmp(const sortsync *ss, int m, const sl_record *rec, const uint64_t *rk) {
  unsigned kw = ss->ord.words;
  if (kw)
    return sl__sort_words_cmp(ss->split_keys + (size_t)m * kw, rk, kw);
  return sync_cmp(ss, &ss->split[m], rec);
}

static int split_route(void *arg, const sl_record *rec, int ndest) {
  sortsync *ss = arg;
  if (ss->nsplit <= 0)
    return 0;
  uint64_t rk[SL_SORT_KEY_WORDS_MAX];
  if (ss->ord.words)
    sl__sort_key_words(&ss->ord, rec, rk);
  /* a: first splitter >= rec; b: first splitter > rec. The search for a saw whether
   * splitter a equals rec: only then is b searched for (ties are rare). */
  int lo = 0, hi = ss->nsplit, eq = 0;
  while (lo < hi) {
    int m = (lo + hi) / 2;
    int c = split_cmp(ss, m, rec, rk);
    if (c < 0) {
      lo = m + 1;
    } else {
      hi = m;
      eq = c == 0;
    }
  }
  int a = lo, b = a;
  if (a < ss->nsplit && eq) {
    lo = a + 1;
    hi = ss->nsplit;
    while (lo < hi) {
      int m = (lo + hi) / 2;
      if (split_cmp(ss, m, rec, rk) <= 0)
        lo = m + 1;
      else
        hi = m;
    }
    b = lo;
  }
  /* Records equal to splitters may go to any partition between them: spreading them keeps
   * heavy duplicates from piling onto one rank, and the order is still right. */
  int q = b > a ? a + (int)(ss->rr++ % (uint64_t)(b - a + 1)) : a;
  return q < ndest ? q : ndest - 1;
}

/* Checkpoints: the samples this rank's partitions contributed and how many did. The
 * exchange in flight, and the splitters, are not saved: every rank posts it again after a
 * resume. Once any partition replayed records (it had the splitters), every partition of
 * every rank had contributed, and the same samples give the same splitters (every rank
 * sorts the same bytes), so the records still to replay go where the others went. Before
 * that, no record went anywhere: any splitters will do. */
typedef struct sync_head {
  int32_t nready, pad;
} sync_head;

static int split_run_snapshot(sl__run *run, int stage, int step, void *rstate,
                              struct sl__ckpt_writer *w) {
  sortsync *ss = rstate;
  (void)run;
  sync_head h = {ss->nready, 0};
  sl__bytes b = {0};
  int rc = sl__bytes_append(&b, &h, sizeof h);
  if (rc == SL_OK && ss->mine.len)
    rc = sl__bytes_append(&b, ss->mine.p, ss->mine.len);
  if (rc == SL_OK)
    rc = sl__ckpt_put_run(w, stage, step, b.p, b.len);
  sl__bytes_free(&b);
  return rc;
}

static int split_run_restore(sl__run *run, int stage, int step, void *rstate, const void *data,
                             size_t len) {
  sortsync *ss = rstate;
  sync_head h;
  if (len < sizeof h)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: step '%s': a damaged sample",
             run->flow->stages[stage].steps[step].name);
  memcpy(&h, data, sizeof h);
  ss->nready = h.nready;
  ss->mine.len = 0;
  return sl__bytes_append(&ss->mine, (const char *)data + sizeof h, len - sizeof h);
}

const sl__op_vt sl__op_sort_sample = {.name = "sort_sample",
                                      .phase = "sorting",
                                      .flags = SL__OPF_MEMORY,
                                      .create = sl__sort_create,
                                      .destroy = sl__sort_destroy,
                                      .push = split_push,
                                      .drain = split_drain,
                                      .run_setup = split_run_setup,
                                      .run_progress = split_run_progress,
                                      .run_quiescent = split_run_quiescent,
                                      .run_settle = split_run_settle,
                                      .run_free = split_run_free,
                                      .snapshot = sl__sort_snapshot,
                                      .restore = sl__sort_restore,
                                      .run_snapshot = split_run_snapshot,
                                      .run_restore = split_run_restore};
