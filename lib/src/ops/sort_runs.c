/* SPDX-License-Identifier: BSD-3-Clause */
/* The sort's records on disk and their state: spill runs, reading them back, passes that
 * keep the open spill files bounded, and the step's state (see sort_runs.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ops/sort_runs.h"

/* ---- temporary files ---- */
/* What to do about a failed spill file operation: out of file descriptors is the
 * per-process limit (as sl__spill_create says), not the folder; anything else is about
 * the folder the spill files are in. */
static const char *spill_hint(int e) {
  if (e == EMFILE || e == ENFILE)
    return "the per-process open file limit: raise it with 'ulimit -n'";
  if (e == ENOSPC || e == EDQUOT)
    return "spill files are in --sl-tmpdir, else $TMPDIR: free space there or set --sl-tmpdir";
  return "spill files are in --sl-tmpdir, else $TMPDIR";
}

static int spill_open(sl__run *run, FILE **out) {
  int fd;
  SL__CHECK(
      sl__spill_create(run->ctx, NULL, "the sort's records beyond --sl-sort-memory-bytes", &fd));
  FILE *f = fdopen(fd, "w+b");
  if (!f) {
    int e = errno;
    close(fd);
    SL__FAIL(SL_ERR_IO, "sort: cannot open a stream on a new spill file: %s (%s)", strerror(e),
             spill_hint(e));
  }
  *out = f;
  return SL_OK;
}

int sl__sort_write(FILE *f, const void *p, size_t n) {
  if (n && fwrite(p, 1, n, f) != n) {
    int e = errno;
    SL__FAIL(SL_ERR_IO, "%s while writing the sort's spill file (%s)", strerror(e), spill_hint(e));
  }
  return SL_OK;
}

/* A new spill file, registered as run number nruns (closed with the state on failure). */
int sl__sort_run_new(sl__run *r, sort_state *st, int packed, uint32_t klen, uint32_t vlen,
                     FILE **out) {
  if (st->nruns == st->capruns) {
    int cap = st->capruns ? 2 * st->capruns : 8;
    run *n = realloc(st->runs, (size_t)cap * sizeof *n);
    SL__CHECK_ALLOC(n);
    st->runs = n;
    st->capruns = cap;
  }
  FILE *f = NULL;
  SL__CHECK(spill_open(r, &f));
  run rn = {f, packed, klen, vlen, 0};
  st->runs[st->nruns++] = rn;
  *out = f;
  return SL_OK;
}

int sl__sort_run_done(FILE *f) {
  if (fflush(f) != 0) {
    int e = errno;
    SL__FAIL(SL_ERR_IO, "sort: cannot write a spill file: %s (%s)", strerror(e), spill_hint(e));
  }
  return SL_OK;
}

/* ---- reading runs ---- */
size_t sl__sort_read_buf_size(const sl__part *p, int nruns) {
  size_t b = budget(p) / (size_t)(nruns + 1);
  return b < READ_BUF_MIN ? READ_BUF_MIN : b > READ_BUF_MAX ? READ_BUF_MAX : b;
}

int sl__sort_reader_open_file(reader *r, const run *rn, size_t bufsz) {
  memset(r, 0, sizeof *r);
  r->buf = malloc(bufsz);
  SL__CHECK_ALLOC_FOR(r->buf, "a read buffer of the sort's merge", bufsz, "--sl-sort-memory-bytes");
  r->cap = bufsz;
  r->f = rn->f;
  r->packed = rn->packed;
  r->klen = rn->klen;
  r->vlen = rn->vlen;
  rewind(r->f);
  return SL_OK;
}

void sl__sort_reader_open_mem(reader *r, char *p, size_t len, uint32_t klen, uint32_t vlen) {
  memset(r, 0, sizeof *r);
  r->buf = p;
  r->cap = r->len = len;
  r->packed = 1;
  r->klen = klen;
  r->vlen = vlen;
}

void sl__sort_reader_close(reader *r) {
  if (r->f)
    free(r->buf);
  memset(r, 0, sizeof *r);
}

/* Makes need bytes available at buf + pos if the run has them (*have). */
static int reader_fill(reader *r, size_t need, int *have) {
  *have = r->len - r->pos >= need;
  if (*have || !r->f)
    return SL_OK;
  size_t rest = r->len - r->pos;
  memmove(r->buf, r->buf + r->pos, rest);
  r->len = rest;
  r->pos = 0;
  if (need > r->cap) { /* a record larger than the buffer */
    char *n = realloc(r->buf, need);
    SL__CHECK_ALLOC(n);
    r->buf = n;
    r->cap = need;
  }
  while (r->len < need) {
    size_t got = fread(r->buf + r->len, 1, r->cap - r->len, r->f);
    if (got == 0) {
      if (ferror(r->f)) {
        int e = errno;
        SL__FAIL(SL_ERR_IO, "sort: cannot read a spill file: %s (%s)", strerror(e), spill_hint(e));
      }
      break;
    }
    r->len += got;
  }
  *have = r->len >= need;
  return SL_OK;
}

int sl__sort_reader_next(reader *r) {
  int have;
  if (r->packed) {
    size_t w = (size_t)r->klen + r->vlen;
    SL__CHECK(reader_fill(r, w, &have));
    if (!have) {
      if (r->len != r->pos)
        SL__FAIL(SL_ERR_IO, "sort: spill file truncated");
      r->valid = 0;
      return SL_OK;
    }
    r->cur = rec_packed(r->buf + r->pos, r->klen, r->vlen);
    r->pos += w;
    r->valid = 1;
    return SL_OK;
  }
  SL__CHECK(reader_fill(r, SL__REC_HDR, &have));
  if (!have) {
    if (r->len != r->pos)
      SL__FAIL(SL_ERR_IO, "sort: spill file truncated");
    r->valid = 0;
    return SL_OK;
  }
  uint32_t hdr[2];
  memcpy(hdr, r->buf + r->pos, sizeof hdr);
  SL__CHECK(reader_fill(r, sl__rec_size(hdr[0], hdr[1]), &have));
  if (!have)
    SL__FAIL(SL_ERR_IO, "sort: spill file truncated");
  r->cur = rec_at(r->buf, r->pos);
  r->pos += sl__rec_size(hdr[0], hdr[1]);
  r->valid = 1;
  return SL_OK;
}

void sl__sort_account(sl__part *p, sort_state *st) {
  uint64_t now = st->mem.cap + st->capidx * sizeof(size_t) + st->capscratch + st->bcap +
                 st->samples.cap + (st->rd.f ? st->rd.cap : 0);
  for (int r = 0; r < st->nrds; r++)
    if (st->rds[r].f)
      now += st->rds[r].cap;
  if (now != st->accounted) {
    sl__state_add(p->run, (int64_t)now - (int64_t)st->accounted);
    st->accounted = now;
  }
}

/* Large blocks are mapped directly, so that each one replayed goes back to the system at
 * once (freed heap memory may stay with the process). */
block *sl__sort_block_alloc(size_t cap) {
  size_t bytes = sizeof(block) + cap;
  if (bytes < BLOCK_MMAP_MIN)
    return malloc(bytes);
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void sl__sort_block_free(block *b) {
  size_t bytes = sizeof(block) + b->cap;
  if (bytes < BLOCK_MMAP_MIN)
    free(b);
  else
    munmap(b, bytes);
}

void sl__sort_free_blocks(sort_state *st) {
  for (block *b = st->head, *nx; b; b = nx) {
    nx = b->next;
    sl__sort_block_free(b);
  }
  st->head = st->tail = NULL;
  st->held = st->bcap = 0;
}

/* The readers and the heap of a merge (the final one or a pass), given back. */
void sl__sort_merge_free(sort_state *st) {
  for (int r = 0; r < st->nrds; r++)
    sl__sort_reader_close(&st->rds[r]);
  free(st->rds);
  st->rds = NULL;
  st->nrds = 0;
  free(st->heap);
  st->heap = NULL;
  st->nheap = 0;
}

void sl__sort_release_all(sort_state *st) {
  for (int r = 0; r < st->nruns; r++)
    if (st->runs[r].f)
      fclose(st->runs[r].f);
  free(st->runs);
  st->runs = NULL;
  st->nruns = st->capruns = 0;
  sl__sort_reader_close(&st->rd);
  sl__sort_merge_free(st);
  sl__sort_free_blocks(st);
  free(st->mem.p);
  st->mem = (sl__bytes){0};
  st->n = st->cursor = 0; /* a checkpoint after the drain saves nothing of it */
  free(st->idx);
  st->idx = NULL;
  st->capidx = 0;
  free(st->scratch);
  st->scratch = NULL;
  st->capscratch = 0;
  sl__sort_fixed_job_free(st->job);
  st->job = NULL;
  sl__sort_drop_frames(st);
  free(st->samples.p);
  st->samples = (sl__bytes){0};
}

/* ---- step lifecycle ---- */
int sl__sort_create(sl__part *p, int i) {
  sl__run *run = p->run;
  sort_state *st = calloc(1, sizeof *st);
  SL__CHECK_ALLOC(st);
  st->step = p->steps[i].step;
  st->ord = step_order(st->step);
  st->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&p->steps[i];
  /* More samples make the sorted partitions more even (a partition's size is off from
   * the mean by about 1 / sqrt(samples per partition)); fewer keep the exchange of all
   * samples with every rank small on many ranks. */
  size_t ns = SAMPLES_TOTAL / (size_t)(run->size > 0 ? run->size : 1);
  st->maxsample = ns < SAMPLES_MIN ? SAMPLES_MIN : ns > SAMPLES_MAX ? SAMPLES_MAX : ns;
  st->soff = calloc(st->maxsample, sizeof *st->soff);
  st->passthrough = -1; /* decided at the first record or the drain */
  p->steps[i].state = st;
  SL__CHECK_ALLOC(st->soff);
  return SL_OK;
}

void sl__sort_destroy(sl__part *p, int i) {
  sort_state *st = p->steps[i].state;
  if (!st)
    return;
  sl__sort_release_all(st);
  sl__state_add(p->run, -(int64_t)st->accounted);
  free(st->soff);
  free(st);
  p->steps[i].state = NULL;
}

int sl__sort_emit_next(sl__part *p, int i, const sl_record *r) {
  sl_emitter em = {p, i + 1};
  return sl_emit(&em, r->key, r->key_len, r->value, r->value_len);
}

/* ---- merge heap (SORT_LOCAL) ---- */
/* Takes the next record of a run being merged (and its key words, when the order is by
 * key: the heap then compares numbers instead of calling the key function twice per
 * step). */
int sl__sort_merge_next(sort_state *st, reader *rd) {
  SL__CHECK(sl__sort_reader_next(rd));
  if (rd->valid && st->ord.words)
    sl__sort_key_words(&st->ord, &rd->cur, rd->key);
  return SL_OK;
}

static int heap_less(sort_state *st, int a, int b) {
  int c = st->ord.words ? sl__sort_words_cmp(st->rds[a].key, st->rds[b].key, st->ord.words)
                        : sl__sort_order_cmp(&st->ord, &st->rds[a].cur, &st->rds[b].cur);
  return c < 0 || (c == 0 && a < b); /* ties: the earlier run (arrival order) */
}
void sl__sort_heap_down(sort_state *st, int i) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < st->nheap && heap_less(st, st->heap[l], st->heap[m]))
      m = l;
    if (r < st->nheap && heap_less(st, st->heap[r], st->heap[m]))
      m = r;
    if (m == i)
      return;
    int t = st->heap[i];
    st->heap[i] = st->heap[m];
    st->heap[m] = t;
    i = m;
  }
}

/* ---- a bounded number of open runs: merge passes ---- */

/* The spill files one sort step keeps open at once (max_open_runs): its runs, and during a merge
 * pass the run the pass writes. File descriptors are limited per process (RLIMIT_NOFILE, 'ulimit
 * -n': often 1024, on some systems 256), and a rank shares its limit with MPI (shared
 * memory segments, sockets, pipes), its sources and sinks, HDF5 and the user's code, which
 * the sort cannot count; each rank is a process with a limit of its own. So the sort steps
 * of the rank's partitions (counted as the engine counts them for the memory budget:
 * run->held_shares)
 * take at most half of the limit together, in equal shares:
 *   cap = (soft RLIMIT_NOFILE / 2) / sort steps, within [OPEN_RUNS_MIN, OPEN_RUNS_MAX].
 * 64 at the usual limit of 1024 with one sort: more would gain little, since a merge's read
 * buffers (budget / (runs + 1) each) would get small and its reads many. At least 4, so
 * that a pass combines at least two runs while it writes another; a limit too low for that
 * fails in sl__spill_create with its 'ulimit -n' hint. */
static int max_open_runs(const sl__run *run) {
  int steps = run->held_shares;
  if (steps < 1)
    steps = 1;
  uint64_t lim = 1024;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    lim = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
  uint64_t cap = lim / 2 / (uint64_t)steps;
  return cap < OPEN_RUNS_MIN ? OPEN_RUNS_MIN : cap > OPEN_RUNS_MAX ? OPEN_RUNS_MAX : (int)cap;
}

/* A pass's read buffers: half of the budget over the runs read and the run written (the
 * other half is SORT_LOCAL's record buffer, kept for the records still to come). */
static size_t pass_buf_size(const sl__part *p, int nruns) {
  size_t b = budget(p) / 2 / (size_t)(nruns + 1);
  return b < READ_BUF_MIN ? READ_BUF_MIN : b > READ_BUF_MAX ? READ_BUF_MAX : b;
}

/* Writes the reader's current record to a run: packed (then the reader's run is packed
 * with the same lengths) or in the general encoding. A record in a reader's buffer is
 * contiguous: key then value, after its header in a general run. */
static int put_rec(FILE *out, int packed, const reader *rd) {
  const sl_record *r = &rd->cur;
  size_t kv = r->key_len + r->value_len;
  if (packed)
    return sl__sort_write(out, r->key, kv);
  if (!rd->packed)
    return sl__sort_write(out, (const char *)r->key - SL__REC_HDR, SL__REC_HDR + kv);
  uint32_t hdr[2] = {(uint32_t)r->key_len, (uint32_t)r->value_len};
  SL__CHECK(sl__sort_write(out, hdr, sizeof hdr));
  return sl__sort_write(out, r->key, kv);
}

/* SORT_LOCAL: merges runs [s, e) into out with the final merge's heap (st->rds and
 * st->heap are free until the drain). Reader r reads run s + r, and ties go to the lower
 * reader, i.e. the earlier run: equal records keep their arrival order. */
static int merge_runs(sl__part *p, sort_state *st, int s, int e, FILE *out, int packed) {
  int k = e - s;
  st->rds = calloc((size_t)k, sizeof *st->rds);
  st->heap = calloc((size_t)k, sizeof *st->heap);
  SL__CHECK_ALLOC(st->rds);
  SL__CHECK_ALLOC(st->heap);
  st->nrds = k;
  st->nheap = 0;
  size_t bufsz = pass_buf_size(p, k);
  for (int r = 0; r < k; r++)
    SL__CHECK(sl__sort_reader_open_file(&st->rds[r], &st->runs[s + r], bufsz));
  sl__sort_account(p, st);
  for (int r = 0; r < k; r++) {
    SL__CHECK(sl__sort_merge_next(st, &st->rds[r]));
    if (st->rds[r].valid)
      st->heap[st->nheap++] = r;
  }
  for (int h = st->nheap / 2 - 1; h >= 0; h--)
    sl__sort_heap_down(st, h);
  while (st->nheap > 0) {
    int top = st->heap[0];
    SL__CHECK(put_rec(out, packed, &st->rds[top]));
    SL__CHECK(sl__sort_merge_next(st, &st->rds[top]));
    if (!st->rds[top].valid)
      st->heap[0] = st->heap[--st->nheap];
    sl__sort_heap_down(st, 0);
  }
  return SL_OK;
}

/* SORT_SPLIT: its runs are only replayed, oldest first, so runs [s, e) become one by
 * concatenation: the bytes as they are where the encodings agree, else record by record
 * (a packed run into a general one). */
static int concat_runs(sl__part *p, sort_state *st, int s, int e, FILE *out, int packed) {
  for (int r = s; r < e; r++) {
    SL__CHECK(sl__sort_reader_open_file(&st->rd, &st->runs[r], pass_buf_size(p, 1)));
    sl__sort_account(p, st);
    if (packed || !st->rd.packed) {
      size_t got;
      while ((got = fread(st->rd.buf, 1, st->rd.cap, st->rd.f)) > 0)
        SL__CHECK(sl__sort_write(out, st->rd.buf, got));
      if (ferror(st->rd.f)) {
        int e2 = errno;
        SL__FAIL(SL_ERR_IO, "sort: cannot read a spill file: %s (%s)", strerror(e2),
                 spill_hint(e2));
      }
    } else {
      for (;;) {
        SL__CHECK(sl__sort_reader_next(&st->rd));
        if (!st->rd.valid)
          break;
        SL__CHECK(put_rec(out, 0, &st->rd));
      }
    }
    sl__sort_reader_close(&st->rd);
  }
  return SL_OK;
}

/* Keeps the step's spill files under st->maxopen. When a spill has left maxopen - 1 runs,
 * a pass combines the newest runs into one new run, which takes their place in the arrival
 * order; so a spill opens at most maxopen - 1 runs, and a pass at most maxopen files (the
 * runs it reads and the one it writes). SORT_LOCAL merges the runs (ties to the earlier
 * run: stable, like the final merge); SORT_SPLIT concatenates them.
 *
 * Which runs: those of the newest run's level (the runs written since the last pass), and
 * while that is a single run, also the runs of the next level up: a tiered merge, so a
 * record is rewritten about log(runs) / log(maxopen) times, where combining all the runs
 * every time would rewrite the oldest records on every pass. Levels never rise from an
 * older run to a newer one (a pass's run has a level above those it replaces and at most
 * that of the run before them), so the runs combined are always the newest ones, next to
 * each other in arrival order.
 *
 * With few runs (the usual case: the default budget) nothing happens here. */
int sl__sort_bound_runs(sl__part *p, sort_state *st) {
  if (!st->maxopen)
    st->maxopen = max_open_runs(p->run);
  if (st->nruns < st->maxopen - 1)
    return SL_OK;
  int e = st->nruns, s = e - 1;
  while (s > 0 && st->runs[s - 1].level == st->runs[e - 1].level)
    s--;
  while (e - s < 2) { /* maxopen - 1 >= 3 runs: there is a level up */
    int l = st->runs[s - 1].level;
    while (s > 0 && st->runs[s - 1].level == l)
      s--;
  }
  int packed = 1;
  for (int r = s; r < e; r++)
    packed &= st->runs[r].packed && st->runs[r].klen == st->runs[s].klen &&
              st->runs[r].vlen == st->runs[s].vlen;
  int level = st->runs[s].level + 1;
  /* No sorting during a pass: SORT_LOCAL's scratch goes back (sort_mem allocates it again
   * at the next spill), so the pass's buffers stay within the budget. */
  free(st->scratch);
  st->scratch = NULL;
  st->capscratch = 0;
  /* the new run is registered (runs[e]) before it is written: closed with the state on a
   * failure, like every run */
  FILE *out;
  SL__CHECK(sl__sort_run_new(p->run, st, packed, st->runs[s].klen, st->runs[s].vlen, &out));
  int rc = st->step->kind == SL__STEP_SORT_SPLIT ? concat_runs(p, st, s, e, out, packed)
                                                 : merge_runs(p, st, s, e, out, packed);
  sl__sort_merge_free(st);
  sl__sort_reader_close(&st->rd);
  sl__sort_account(p, st);
  SL__CHECK(rc);
  SL__CHECK(sl__sort_run_done(out));
  for (int r = s; r < e; r++)
    fclose(st->runs[r].f);
  st->runs[s] = st->runs[e];
  st->runs[s].level = level;
  st->nruns = s + 1;
  return SL_OK;
}
