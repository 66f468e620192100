/* Global sort (sample sort) in two steps around a range boundary:
 *
 *   stage s:   ... -> SORT_SPLIT: hold the records (memory, then spill files), keep a
 *              reservoir sample; when every local partition has sampled, the ranks
 *              exchange samples (non-blocking collectives) and pick splitters; then the
 *              held records are replayed into the range boundary.
 *   stage s+1: SORT_LOCAL -> ...: collect (sorting and spilling runs beyond the memory
 *              budget), then emit in order, merging the runs.
 *
 * Partition p of the sorted stage is on rank p, and sinks write partitions in rank order,
 * so the output is globally sorted. Spill files are unlinked as soon as they are created:
 * nothing is left behind, even after a crash. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"

#define SAMPLES_PER_PARTITION 64

typedef struct vec {
  char *p;
  size_t len, cap;
} vec;

typedef struct reader {
  FILE *f;
  char *buf;
  size_t cap;
  sl_record cur;
  int valid;
  int index; /* run index: ties go to the earlier run (arrival order) */
} reader;

typedef struct sort_state {
  const sl__step *step;
  vec mem;     /* encoded records */
  size_t *idx; /* SORT_LOCAL: offsets of the records in mem, sorted at the end */
  size_t nidx, capidx;
  size_t fixed; /* size of every record in mem, or 0 when they differ */
  FILE **runs;
  int nruns, capruns;
  int phase;
  size_t cursor;
  /* SORT_SPLIT */
  vec samples; /* encoded reservoir */
  size_t *soff;
  size_t nsample;
  uint64_t seen, rng;
  int run_i;
  reader rd;
  /* SORT_LOCAL merge */
  reader *rds;
  int *heap;
  int nheap;
  uint64_t accounted;
} sort_state;

static int vec_reserve(vec *v, size_t more) {
  if (v->cap - v->len >= more)
    return SL_OK;
  size_t cap = v->cap ? v->cap : 4096;
  while (cap - v->len < more)
    cap *= 2;
  char *n = realloc(v->p, cap);
  SL__CHECK_ALLOC(n);
  v->p = n;
  v->cap = cap;
  return SL_OK;
}

static int vec_put(vec *v, const sl_record *r) {
  SL__CHECK(vec_reserve(v, sl__rec_size(r->key_len, r->value_len)));
  sl__batch_append(v->p, v->cap, &v->len, r->key, r->key_len, r->value, r->value_len);
  return SL_OK;
}

/* The record encoded at base+off (written by vec_put, so well-formed). */
static sl_record rec_at(const char *base, size_t off) {
  uint32_t k, v;
  memcpy(&k, base + off, 4);
  memcpy(&v, base + off + 4, 4);
  sl_record r = {base + off + SL__REC_HDR, k, base + off + SL__REC_HDR + k, v};
  return r;
}

static int cmpdir(const sl__step *s, const sl_record *a, const sl_record *b) {
  sl_cmp_fn cmp = (sl_cmp_fn)s->fn;
  return s->descending ? cmp(b, a, s->arg) : cmp(a, b, s->arg);
}

static int sync_cmp(const sl__sortsync *ss, const sl_record *a, const sl_record *b) {
  return ss->descending ? ss->cmp(b, a, ss->arg) : ss->cmp(a, b, ss->arg);
}

/* ---- temporary files ---- */
static int spill_open(sl__run *run, FILE **out) {
  const char *dir = run->ctx->opt.tmpdir[0] ? run->ctx->opt.tmpdir : getenv("TMPDIR");
  if (!dir || !*dir)
    dir = "/tmp";
  char path[4200];
  snprintf(path, sizeof path, "%s/.sluice-sort-XXXXXX", dir);
  int fd = mkstemp(path);
  if (fd < 0)
    SL__FAIL(SL_ERR_IO, "sort: cannot create a spill file in '%s': %s (set --sl-tmpdir)", dir,
             strerror(errno));
  unlink(path); /* anonymous from now on */
  FILE *f = fdopen(fd, "w+b");
  if (!f) {
    close(fd);
    SL__FAIL(SL_ERR_IO, "sort: cannot open a spill file: %s", strerror(errno));
  }
  *out = f;
  return SL_OK;
}

static int write_recs(FILE *f, const char *base, const size_t *offs, size_t n, size_t total) {
  if (!offs) {
    if (total && fwrite(base, 1, total, f) != total)
      SL__FAIL(SL_ERR_IO, "sort: cannot write a spill file: %s", strerror(errno));
    return SL_OK;
  }
  for (size_t i = 0; i < n; i++) {
    sl_record r = rec_at(base, offs[i]);
    size_t sz = sl__rec_size(r.key_len, r.value_len);
    if (fwrite(base + offs[i], 1, sz, f) != sz)
      SL__FAIL(SL_ERR_IO, "sort: cannot write a spill file: %s", strerror(errno));
  }
  return SL_OK;
}

static int add_run(sort_state *st, FILE *f) {
  if (st->nruns == st->capruns) {
    int cap = st->capruns ? 2 * st->capruns : 8;
    FILE **n = realloc(st->runs, (size_t)cap * sizeof *n);
    SL__CHECK_ALLOC(n);
    st->runs = n;
    st->capruns = cap;
  }
  st->runs[st->nruns++] = f;
  return SL_OK;
}

static int reader_next(reader *r) {
  uint32_t hdr[2];
  size_t got = fread(hdr, 1, sizeof hdr, r->f);
  if (got == 0 && feof(r->f)) {
    r->valid = 0;
    return SL_OK;
  }
  if (got != sizeof hdr)
    SL__FAIL(SL_ERR_IO, "sort: spill file truncated");
  size_t need = (size_t)hdr[0] + hdr[1];
  if (need > r->cap) {
    char *n = realloc(r->buf, need ? need : 1);
    SL__CHECK_ALLOC(n);
    r->buf = n;
    r->cap = need;
  }
  if (need && fread(r->buf, 1, need, r->f) != need)
    SL__FAIL(SL_ERR_IO, "sort: spill file truncated");
  r->cur.key = r->buf;
  r->cur.key_len = hdr[0];
  r->cur.value = r->buf + hdr[0];
  r->cur.value_len = hdr[1];
  r->valid = 1;
  return SL_OK;
}

static void account(sl__part *p, sort_state *st) {
  uint64_t now = st->mem.cap + st->capidx * sizeof(size_t) + st->samples.cap;
  sl__state_add(p->run, (int64_t)now - (int64_t)st->accounted);
  st->accounted = now;
}

/* ---- step lifecycle ---- */
int sl__sort_step_create(sl__run *run, const sl__step *step, sl__stepinst *si) {
  (void)run;
  sort_state *st = calloc(1, sizeof *st);
  SL__CHECK_ALLOC(st);
  st->step = step;
  st->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)si;
  st->soff = calloc(SAMPLES_PER_PARTITION, sizeof *st->soff);
  si->state = st;
  SL__CHECK_ALLOC(st->soff);
  return SL_OK;
}

void sl__sort_step_destroy(sl__run *run, sl__stepinst *si) {
  sort_state *st = si->state;
  if (!st)
    return;
  for (int i = 0; i < st->nruns; i++)
    if (st->runs[i])
      fclose(st->runs[i]);
  if (st->rds)
    for (int i = 0; i < st->nruns; i++)
      free(st->rds[i].buf);
  sl__state_add(run, -(int64_t)st->accounted);
  free(st->rd.buf);
  free(st->rds);
  free(st->heap);
  free(st->runs);
  free(st->mem.p);
  free(st->idx);
  free(st->samples.p);
  free(st->soff);
  free(st);
  si->state = NULL;
}

static uint64_t next_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Reservoir sample: each record seen so far is in the sample with equal probability. The
 * reservoir is re-encoded when it is replaced into, which is rare after the start. */
static int sample(sort_state *st, const sl_record *r) {
  st->seen++;
  if (st->nsample < SAMPLES_PER_PARTITION) {
    st->soff[st->nsample++] = st->samples.len;
    return vec_put(&st->samples, r);
  }
  uint64_t j = next_rand(&st->rng) % st->seen;
  if (j >= SAMPLES_PER_PARTITION)
    return SL_OK;
  vec nv = {0};
  size_t noff[SAMPLES_PER_PARTITION];
  for (size_t i = 0; i < st->nsample; i++) {
    noff[i] = nv.len;
    sl_record x = i == j ? *r : rec_at(st->samples.p, st->soff[i]);
    int rc = vec_put(&nv, &x);
    if (rc) {
      free(nv.p);
      return rc;
    }
  }
  free(st->samples.p);
  st->samples = nv;
  memcpy(st->soff, noff, sizeof noff);
  return SL_OK;
}

static const sl__step *qstep;
static const char *qbase;
static int qcmp(const void *a, const void *b, void *arg) {
  (void)arg;
  size_t oa = *(const size_t *)a, ob = *(const size_t *)b;
  sl_record ra = rec_at(qbase, oa), rb = rec_at(qbase, ob);
  int c = cmpdir(qstep, &ra, &rb);
  if (c)
    return c;
  return (oa > ob) - (oa < ob); /* arrival order: a stable local sort */
}

/* Copy one fixed-size record: whole words when it can (no libc call per record). */
static inline void copy_rec(char *dst, const char *src, size_t w) {
  if ((w & 7) == 0) {
    for (size_t o = 0; o < w; o += 8) {
      uint64_t x;
      memcpy(&x, src + o, 8);
      memcpy(dst + o, &x, 8);
    }
  } else {
    memcpy(dst, src, w);
  }
}

#define SORT_RUN 16 /* insertion-sorted runs before merging: fewer merge passes */

/* Records of one size (rows, fixed structs: the common case) are merge-sorted in place:
 * sequential memory access instead of chasing offsets, and stable by construction. */
static int sort_fixed(sort_state *st) {
  size_t n = st->nidx, w = st->fixed;
  char *a = st->mem.p, *b = malloc(n * w + w), *orig = a;
  if (!b)
    return -1;
  char *hold = b + n * w; /* one record of scratch */
  for (size_t lo = 0; lo < n; lo += SORT_RUN) {
    size_t hi = lo + SORT_RUN < n ? lo + SORT_RUN : n;
    for (size_t i = lo + 1; i < hi; i++) {
      sl_record x = rec_at(a, i * w);
      size_t j = i;
      while (j > lo) {
        sl_record y = rec_at(a, (j - 1) * w);
        if (cmpdir(st->step, &x, &y) >= 0) /* stable: stop at an equal record */
          break;
        j--;
      }
      if (j == i)
        continue;
      copy_rec(hold, a + i * w, w);
      memmove(a + (j + 1) * w, a + j * w, (i - j) * w);
      copy_rec(a + j * w, hold, w);
    }
  }
  for (size_t width = SORT_RUN; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        sl_record x = rec_at(a, i * w), y = rec_at(a, j * w);
        if (cmpdir(st->step, &y, &x) < 0) /* ties take the left (earlier) record */
          copy_rec(b + k++ * w, a + j++ * w, w);
        else
          copy_rec(b + k++ * w, a + i++ * w, w);
      }
      memcpy(b + k * w, a + i * w, (mid - i) * w);
      k += mid - i;
      memcpy(b + k * w, a + j * w, (hi - j) * w);
    }
    char *t = a;
    a = b;
    b = t;
  }
  if (a != orig) {
    memcpy(orig, a, n * w);
    free(a);
  } else {
    free(b);
  }
  for (size_t i = 0; i < n; i++)
    st->idx[i] = i * w;
  return 0;
}

static void sort_mem(sort_state *st) {
  if (st->nidx > 1 && st->fixed && sort_fixed(st) == 0)
    return;
  qstep = st->step; /* single-threaded per rank */
  qbase = st->mem.p;
  if (st->nidx)
    qsort_r(st->idx, st->nidx, sizeof *st->idx, qcmp, NULL);
}

/* Write the records held in memory to a new run (sorted for SORT_LOCAL) and forget them. */
static int spill_mem(sl__run *run, sort_state *st, int sorted) {
  if (!st->mem.len)
    return SL_OK;
  FILE *f;
  SL__CHECK(spill_open(run, &f));
  int rc = add_run(st, f);
  if (rc) {
    fclose(f);
    return rc;
  }
  if (sorted)
    sort_mem(st);
  SL__CHECK(write_recs(f, st->mem.p, sorted ? st->idx : NULL, st->nidx, st->mem.len));
  if (fflush(f) != 0)
    SL__FAIL(SL_ERR_IO, "sort: cannot write a spill file: %s", strerror(errno));
  st->mem.len = 0;
  st->nidx = 0;
  return SL_OK;
}

int sl__sort_step_push(sl__part *p, int i, const sl_record *rec) {
  sort_state *st = p->steps[i].state;
  const sl__step *s = st->step;
  SL__CHECK(vec_put(&st->mem, rec));
  if (s->kind == SL__STEP_SORT_SPLIT) {
    SL__CHECK(sample(st, rec));
  } else {
    if (st->nidx == st->capidx) {
      size_t cap = st->capidx ? 2 * st->capidx : 1024;
      size_t *n = realloc(st->idx, cap * sizeof *n);
      SL__CHECK_ALLOC(n);
      st->idx = n;
      st->capidx = cap;
    }
    size_t sz = sl__rec_size(rec->key_len, rec->value_len);
    if (st->nidx == 0)
      st->fixed = sz;
    else if (st->fixed != sz)
      st->fixed = 0;
    st->idx[st->nidx++] = st->mem.len - sz;
  }
  if (st->mem.len + st->nidx * sizeof(size_t) >= p->run->ctx->opt.sort_memory_bytes)
    SL__CHECK(spill_mem(p->run, st, s->kind == SL__STEP_SORT_LOCAL));
  account(p, st);
  return SL_OK;
}

/* ---- merge heap (SORT_LOCAL) ---- */
static int heap_less(sort_state *st, int a, int b) {
  int c = cmpdir(st->step, &st->rds[a].cur, &st->rds[b].cur);
  return c < 0 || (c == 0 && a < b);
}
static void heap_down(sort_state *st, int i) {
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

static int emit_next(sl__part *p, int i, const sl_record *r) {
  sl_emitter em = {p, i + 1};
  return sl_emit(&em, r->key, r->key_len, r->value, r->value_len);
}

/* Everything this step held has been emitted: give the memory and the spill files back
 * now, not when the flow is destroyed (the next stage is holding the data by now). */
static void release_held(sl__part *p, sort_state *st) {
  for (int r = 0; r < st->nruns; r++) {
    if (st->runs[r])
      fclose(st->runs[r]);
    if (st->rds)
      free(st->rds[r].buf);
  }
  st->nruns = 0;
  free(st->rds);
  st->rds = NULL;
  free(st->heap);
  st->heap = NULL;
  free(st->rd.buf);
  st->rd = (reader){0};
  free(st->mem.p);
  st->mem = (vec){0};
  free(st->idx);
  st->idx = NULL;
  st->nidx = st->capidx = 0;
  free(st->samples.p);
  st->samples = (vec){0};
  account(p, st);
}

static int drain_split(sl__part *p, int i, sort_state *st, int *finished) {
  sl__sortsync *ss = p->run->stages[p->stage->index].sort;
  if (st->phase == 0) { /* contribute the sample, then wait for the splitters */
    size_t need = st->samples.len;
    if (ss->mine_cap - ss->mine_len < need) {
      size_t cap = ss->mine_cap ? ss->mine_cap : 4096;
      while (cap - ss->mine_len < need)
        cap *= 2;
      char *n = realloc(ss->mine, cap);
      SL__CHECK_ALLOC(n);
      ss->mine = n;
      ss->mine_cap = cap;
    }
    if (need)
      memcpy(ss->mine + ss->mine_len, st->samples.p, need);
    ss->mine_len += need;
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
    st->rd.f = NULL;
    st->rd.valid = 0;
  }
  /* replay in arrival order: the spill files (oldest first), then what is still in memory.
   * The next stage sorts, but it keeps equal records in the order they reach it, so this
   * order is what makes a sort from one source partition on one rank stable. */
  while (st->run_i < st->nruns) {
    if (!st->rd.valid) {
      if (st->rd.f) { /* this run is done */
        st->rd.f = NULL;
        st->run_i++;
        continue;
      }
      st->rd.f = st->runs[st->run_i];
      rewind(st->rd.f);
      SL__CHECK(reader_next(&st->rd));
      continue;
    }
    if (sl__part_drain_blocked(p, i))
      return SL_OK;
    SL__CHECK(emit_next(p, i, &st->rd.cur));
    SL__CHECK(reader_next(&st->rd));
  }
  while (st->cursor < st->mem.len) {
    if (sl__part_drain_blocked(p, i))
      return SL_OK;
    sl_record r;
    if (sl__batch_next(st->mem.p, st->mem.len, &st->cursor, &r) != 1)
      SL__FAIL(SL_ERR_INTERNAL, "sort: bad record");
    SL__CHECK(emit_next(p, i, &r));
  }
  release_held(p, st);
  *finished = 1;
  return SL_OK;
}

static int drain_local(sl__part *p, int i, sort_state *st, int *finished) {
  if (st->phase == 0) {
    if (st->nruns == 0) {
      sort_mem(st);
      st->phase = 1;
      st->cursor = 0;
    } else {
      SL__CHECK(spill_mem(p->run, st, 1));
      st->rds = calloc((size_t)st->nruns, sizeof *st->rds);
      st->heap = calloc((size_t)st->nruns, sizeof *st->heap);
      SL__CHECK_ALLOC(st->rds);
      SL__CHECK_ALLOC(st->heap);
      for (int r = 0; r < st->nruns; r++) {
        st->rds[r].f = st->runs[r];
        st->rds[r].index = r;
        rewind(st->runs[r]);
        SL__CHECK(reader_next(&st->rds[r]));
        if (st->rds[r].valid)
          st->heap[st->nheap++] = r;
      }
      for (int h = st->nheap / 2 - 1; h >= 0; h--)
        heap_down(st, h);
      st->phase = 2;
    }
  }
  if (st->phase == 1) {
    for (; st->cursor < st->nidx; st->cursor++) {
      if (sl__part_drain_blocked(p, i))
        return SL_OK;
      sl_record r = rec_at(st->mem.p, st->idx[st->cursor]);
      SL__CHECK(emit_next(p, i, &r));
    }
  } else {
    while (st->nheap > 0) {
      if (sl__part_drain_blocked(p, i))
        return SL_OK;
      int top = st->heap[0];
      SL__CHECK(emit_next(p, i, &st->rds[top].cur));
      SL__CHECK(reader_next(&st->rds[top]));
      if (!st->rds[top].valid)
        st->heap[0] = st->heap[--st->nheap];
      heap_down(st, 0);
    }
  }
  release_held(p, st);
  *finished = 1;
  return SL_OK;
}

int sl__sort_step_drain(sl__part *p, int i, int *finished) {
  sort_state *st = p->steps[i].state;
  *finished = 0;
  if (st->step->kind == SL__STEP_SORT_SPLIT)
    return drain_split(p, i, st, finished);
  return drain_local(p, i, st, finished);
}

/* ---- splitters ---- */
int sl__sort_setup(sl__run *run) {
  for (int s = 0; s + 1 < run->nstages; s++) {
    const sl__stage *next = &run->flow->stages[s + 1];
    if (next->boundary != SL__BOUND_RANGE)
      continue;
    sl__sortsync *ss = calloc(1, sizeof *ss);
    SL__CHECK_ALLOC(ss);
    run->stages[s].sort = ss;
    ss->cmp = next->range_cmp;
    ss->arg = next->range_arg;
    ss->descending = next->range_descending;
    ss->req = MPI_REQUEST_NULL;
    ss->counts = calloc((size_t)run->size, sizeof *ss->counts);
    ss->displs = calloc((size_t)run->size, sizeof *ss->displs);
    SL__CHECK_ALLOC(ss->counts);
    SL__CHECK_ALLOC(ss->displs);
    if (run->stages[s].out)
      run->stages[s].out->sort = ss;
  }
  return SL_OK;
}

void sl__sort_free(sl__run *run) {
  for (int s = 0; s < run->nstages; s++) {
    sl__sortsync *ss = run->stages[s].sort;
    if (!ss)
      continue;
    free(ss->mine);
    free(ss->counts);
    free(ss->displs);
    free(ss->all);
    free(ss->split);
    free(ss);
    run->stages[s].sort = NULL;
  }
}

static const sl__sortsync *qsync;
static int sample_cmp(const void *a, const void *b) {
  return sync_cmp(qsync, (const sl_record *)a, (const sl_record *)b);
}

static int pick_splitters(sl__run *run, sl__sortsync *ss, int ndest) {
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

static int advance(sl__run *run, int s, sl__sortsync *ss, int wait, int *progress) {
  int flag = 0;
  if (ss->phase == 0) {
    if (ss->mine_len > (size_t)INT32_MAX)
      SL__FAIL(SL_ERR_UNSUPPORTED, "sort: samples over 2 GiB (records too large)");
    ss->mine_int = (int)ss->mine_len;
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
    SL__CHECK_MPI(MPI_Iallgatherv(ss->mine, ss->mine_int, MPI_BYTE, ss->all, ss->counts, ss->displs,
                                  MPI_BYTE, run->comm, &ss->req));
    ss->phase = 2;
    (*progress)++;
  }
  if (ss->phase == 2) {
    SL__CHECK(wait_or_test(&ss->req, wait, &flag));
    if (!flag)
      return SL_OK;
    SL__CHECK(pick_splitters(run, ss, run->flow->stages[s + 1].partitions));
    ss->phase = 3;
    (*progress)++;
  }
  return SL_OK;
}

int sl__sort_progress(sl__run *run, int *progress) {
  for (int s = 0; s < run->nstages; s++) {
    sl__sortsync *ss = run->stages[s].sort;
    if (!ss || ss->phase == 3)
      continue;
    if (ss->phase == 0 && ss->nready < run->stages[s].nlocal)
      return SL_OK; /* keep stage order */
    SL__CHECK(advance(run, s, ss, 0, progress));
    if (ss->phase < 3)
      return SL_OK;
  }
  return SL_OK;
}

int sl__sort_settle(sl__run *run) {
  int dummy = 0, err = SL_OK;
  for (int s = 0; s < run->nstages; s++) {
    sl__sortsync *ss = run->stages[s].sort;
    if (ss && ss->phase < 3) {
      int rc = advance(run, s, ss, 1, &dummy);
      if (rc && !err)
        err = rc;
    }
  }
  return err;
}

int sl__sort_all_ready(const sl__run *run) {
  for (int s = 0; s < run->nstages; s++)
    if (run->stages[s].sort && run->stages[s].sort->phase < 3)
      return 0;
  return 1;
}

int sl__sort_route(sl__sortsync *ss, const sl_record *rec, int ndest) {
  if (ss->nsplit <= 0)
    return 0;
  /* lo: first splitter >= rec; hi: first splitter > rec */
  int lo = 0, hi = ss->nsplit;
  while (lo < hi) {
    int m = (lo + hi) / 2;
    if (sync_cmp(ss, &ss->split[m], rec) < 0)
      lo = m + 1;
    else
      hi = m;
  }
  int a = lo;
  hi = ss->nsplit;
  while (lo < hi) {
    int m = (lo + hi) / 2;
    if (sync_cmp(ss, &ss->split[m], rec) <= 0)
      lo = m + 1;
    else
      hi = m;
  }
  int b = lo;
  /* Records equal to splitters may go to any partition between them: spreading them keeps
   * heavy duplicates from piling onto one rank, and the order is still right. */
  int q = b > a ? a + (int)(ss->rr++ % (uint64_t)(b - a + 1)) : a;
  return q < ndest ? q : ndest - 1;
}
