/* Global sort (sample sort) in two steps around a range boundary:
 *
 *   stage s:   ... -> SORT_SPLIT: hold the records (memory blocks, then spill files), keep
 *              a reservoir sample; when every local partition has sampled, the ranks
 *              exchange samples (non-blocking collectives) and pick splitters; then the
 *              held records are replayed into the range boundary, each block and file
 *              given back as soon as it is replayed. With one destination partition (one
 *              rank) there is nothing to split: records pass straight through.
 *   stage s+1: SORT_LOCAL -> ...: collect (sorting and spilling runs beyond the memory
 *              budget), then emit in order, merging the runs.
 *
 * Records whose key and value lengths are all the same (the common case) are held packed,
 * key|value without the 8-byte record header, and sorted by sl__sort_fixed (sort_fixed.c);
 * a record of other lengths turns the held records back into the general encoding
 * ([u32 klen][u32 vlen][key][value]). A spilled run is in one of the two formats.
 *
 * Memory: a partition holds at most --sl-sort-memory-bytes: in SORT_SPLIT its blocks, in
 * SORT_LOCAL its records plus the sort's scratch (packed: as many bytes again; general: an
 * 8-byte offset per record). Beyond it, it spills.
 *
 * Open files: a step keeps at most max_open_runs spill files open (64, fewer under a low
 * 'ulimit -n'); when its runs reach that, a pass combines the newest ones into one run
 * (bound_runs: SORT_LOCAL merges them, stably; SORT_SPLIT, which only replays its runs,
 * concatenates them), so a big input on a small budget does not run out of descriptors.
 *
 * Partition p of the sorted stage is on rank p, and sinks write partitions in rank order,
 * so the output is globally sorted (the sorted stage's operator is SL__OPF_ORDERED). Spill files
 * are unlinked as soon as they are created: nothing is left behind, even after a crash. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "algo/sort_fixed.h"
#include "ops/ops.h"

/* reservoir samples per source partition: SAMPLES_TOTAL / ranks within [MIN, MAX], and no
 * more than an eighth of the budget holds (by the first record's size; MIN at least) */
#define SAMPLES_MIN 64
#define SAMPLES_MAX 1024
#define SAMPLES_TOTAL (1u << 20)
#define HOLD_BLOCK_MAX (1u << 20)  /* SORT_SPLIT: bytes per memory block */
#define BLOCK_MMAP_MIN (64u << 10) /* blocks of this size and more are mapped */
#define READ_BUF_MAX (1u << 20)    /* a run's read buffer */
#define READ_BUF_MIN 256u
#define OPEN_RUNS_MAX 64 /* spill files open at once per sort step: see max_open_runs */
#define OPEN_RUNS_MIN 4

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
  sl_cmp_fn cmp; /* or key */
  sl_sort_key_fn key;
  void *arg;
  int descending;
  sl_record *split; /* nsplit records pointing into `all` */
  int nsplit;
  uint64_t rr;
} sortsync;

/* A spilled run: packed records (klen + vlen bytes each) or general ones. level: how many
 * merge passes its records went through (0: written from memory); see bound_runs. */
typedef struct run {
  FILE *f;
  int packed;
  uint32_t klen, vlen;
  int level;
} run;

/* Reads a run through a buffer: a file, or (f NULL) sorted packed records in memory. */
typedef struct reader {
  FILE *f;
  int packed;
  uint32_t klen, vlen;
  char *buf; /* owned when f is set */
  size_t cap, len, pos;
  sl_record cur;
  int valid;
  uint64_t key; /* the merge by a 64-bit key: cur's key (descending: complemented) */
} reader;

/* SORT_SPLIT: the held records, in arrival order. */
typedef struct block {
  struct block *next;
  size_t len, cap;
  int packed;
  uint32_t klen, vlen;
  char data[];
} block;

typedef struct sort_state {
  const sl__step *step;
  int phase;
  run *runs; /* in arrival order: a run holds records that arrived after the previous run's */
  int nruns, capruns;
  int maxopen; /* spill files open at once, at most (max_open_runs; 0: not computed yet) */
  int run_i;   /* SORT_SPLIT: the run being replayed */
  reader rd;
  /* SORT_SPLIT */
  int passthrough; /* one destination partition: no hold, no sample */
  block *head, *tail;
  size_t held; /* bytes of records in the blocks */
  size_t bcap; /* bytes allocated for blocks */
  size_t cursor;
  sl__bytes samples; /* encoded reservoir, records at soff[0..nsample) (and dead ones) */
  size_t *soff;
  size_t nsample, maxsample;
  size_t live; /* bytes of the records in the reservoir */
  uint64_t seen, rng;
  /* SORT_LOCAL */
  sl__bytes mem; /* the records: packed, or general encoding */
  size_t n;      /* records in mem */
  int packed;    /* mem holds packed records of klen + vlen bytes */
  uint32_t klen, vlen;
  size_t *idx; /* general: offsets of the records in mem, sorted at the end */
  size_t capidx;
  char *scratch; /* packed: the merge sort's second buffer */
  size_t capscratch;
  reader *rds; /* the merge: one reader per run, the last maybe over mem */
  int nrds;
  int *heap;
  int nheap;
  uint64_t accounted;
} sort_state;

/* The record encoded at base+off (written by sl__bytes_put_record, so well-formed). */
static sl_record rec_at(const char *base, size_t off) {
  uint32_t k, v;
  memcpy(&k, base + off, 4);
  memcpy(&v, base + off + 4, 4);
  sl_record r = {base + off + SL__REC_HDR, k, base + off + SL__REC_HDR + k, v};
  return r;
}

/* The packed record at p. */
static inline sl_record rec_packed(const char *p, uint32_t klen, uint32_t vlen) {
  sl_record r = {p, klen, p + klen, vlen};
  return r;
}

/* Copies the key and the value of r to dst, back to back (8-byte fields without a call). */
static inline void put_kv(char *dst, const sl_record *r) {
  if (r->key_len == 8 && r->value_len == 8) {
    uint64_t k, v;
    memcpy(&k, r->key, 8);
    memcpy(&v, r->value, 8);
    memcpy(dst, &k, 8);
    memcpy(dst + 8, &v, 8);
    return;
  }
  if (r->key_len) /* an empty key or value may be NULL */
    memcpy(dst, r->key, r->key_len);
  if (r->value_len)
    memcpy(dst + r->key_len, r->value, r->value_len);
}

/* May records of these lengths be held packed? (Not empty ones: a packed run is counted
 * by its bytes.) */
static int packable(const sl_record *r) {
  return r->key_len + r->value_len > 0 && r->key_len <= UINT32_MAX && r->value_len <= UINT32_MAX;
}

/* The order of a sort: by the compare function, or by the 64-bit key. */
static inline int order(sl_cmp_fn cmp, sl_sort_key_fn key, void *arg, int descending,
                        const sl_record *a, const sl_record *b) {
  if (descending) {
    const sl_record *t = a;
    a = b;
    b = t;
  }
  if (key) {
    uint64_t x = key(a, arg), y = key(b, arg);
    return (x > y) - (x < y);
  }
  return cmp(a, b, arg);
}

static int cmpdir(const sl__step *s, const sl_record *a, const sl_record *b) {
  return order((sl_cmp_fn)s->fn, s->sort_key, s->arg, s->descending, a, b);
}

static int sync_cmp(const sortsync *ss, const sl_record *a, const sl_record *b) {
  return order(ss->cmp, ss->key, ss->arg, ss->descending, a, b);
}

static size_t budget(const sl__part *p) {
  return (size_t)p->run->held_budget;
}

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

static int write_bytes(FILE *f, const void *p, size_t n) {
  if (n && fwrite(p, 1, n, f) != n) {
    int e = errno;
    SL__FAIL(SL_ERR_IO, "%s while writing the sort's spill file (%s)", strerror(e), spill_hint(e));
  }
  return SL_OK;
}

/* A new spill file, registered as run number nruns (closed with the state on failure). */
static int run_new(sl__run *r, sort_state *st, int packed, uint32_t klen, uint32_t vlen,
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

static int run_done(FILE *f) {
  if (fflush(f) != 0) {
    int e = errno;
    SL__FAIL(SL_ERR_IO, "sort: cannot write a spill file: %s (%s)", strerror(e), spill_hint(e));
  }
  return SL_OK;
}

/* ---- reading runs ---- */
static size_t read_buf_size(const sl__part *p, int nruns) {
  size_t b = budget(p) / (size_t)(nruns + 1);
  return b < READ_BUF_MIN ? READ_BUF_MIN : b > READ_BUF_MAX ? READ_BUF_MAX : b;
}

static int reader_open_file(reader *r, const run *rn, size_t bufsz) {
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

static void reader_open_mem(reader *r, char *p, size_t len, uint32_t klen, uint32_t vlen) {
  memset(r, 0, sizeof *r);
  r->buf = p;
  r->cap = r->len = len;
  r->packed = 1;
  r->klen = klen;
  r->vlen = vlen;
}

static void reader_close(reader *r) {
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

static int reader_next(reader *r) {
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

static int bound_runs(sl__part *p, sort_state *st);

static void account(sl__part *p, sort_state *st) {
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
static block *block_alloc(size_t cap) {
  size_t bytes = sizeof(block) + cap;
  if (bytes < BLOCK_MMAP_MIN)
    return malloc(bytes);
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static void block_free(block *b) {
  size_t bytes = sizeof(block) + b->cap;
  if (bytes < BLOCK_MMAP_MIN)
    free(b);
  else
    munmap(b, bytes);
}

static void free_blocks(sort_state *st) {
  for (block *b = st->head, *nx; b; b = nx) {
    nx = b->next;
    block_free(b);
  }
  st->head = st->tail = NULL;
  st->held = st->bcap = 0;
}

/* Gives back everything the step holds (the sample's offsets stay). */
/* The readers and the heap of a merge (the final one or a pass), given back. */
static void merge_free(sort_state *st) {
  for (int r = 0; r < st->nrds; r++)
    reader_close(&st->rds[r]);
  free(st->rds);
  st->rds = NULL;
  st->nrds = 0;
  free(st->heap);
  st->heap = NULL;
  st->nheap = 0;
}

static void release_all(sort_state *st) {
  for (int r = 0; r < st->nruns; r++)
    if (st->runs[r].f)
      fclose(st->runs[r].f);
  free(st->runs);
  st->runs = NULL;
  st->nruns = st->capruns = 0;
  reader_close(&st->rd);
  merge_free(st);
  free_blocks(st);
  free(st->mem.p);
  st->mem = (sl__bytes){0};
  st->n = 0;
  free(st->idx);
  st->idx = NULL;
  st->capidx = 0;
  free(st->scratch);
  st->scratch = NULL;
  st->capscratch = 0;
  free(st->samples.p);
  st->samples = (sl__bytes){0};
}

/* ---- step lifecycle ---- */
static int sort_create(sl__part *p, int i) {
  sl__run *run = p->run;
  sort_state *st = calloc(1, sizeof *st);
  SL__CHECK_ALLOC(st);
  st->step = p->steps[i].step;
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

static void sort_destroy(sl__part *p, int i) {
  sort_state *st = p->steps[i].state;
  if (!st)
    return;
  release_all(st);
  sl__state_add(p->run, -(int64_t)st->accounted);
  free(st->soff);
  free(st);
  p->steps[i].state = NULL;
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

static int emit_next(sl__part *p, int i, const sl_record *r) {
  sl_emitter em = {p, i + 1};
  return sl_emit(&em, r->key, r->key_len, r->value, r->value_len);
}

/* ================================================================ SORT_SPLIT: holding */

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
  block *nb = block_alloc(cap);
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
  SL__CHECK(run_new(p->run, st, packed, st->head->klen, st->head->vlen, &f));
  for (block *b = st->head; b; b = b->next) {
    if (packed || !b->packed) {
      SL__CHECK(write_bytes(f, b->data, b->len));
      continue;
    }
    size_t w = (size_t)b->klen + b->vlen;
    uint32_t hdr[2] = {b->klen, b->vlen};
    for (size_t o = 0; o < b->len; o += w) {
      SL__CHECK(write_bytes(f, hdr, sizeof hdr));
      SL__CHECK(write_bytes(f, b->data + o, w));
    }
  }
  SL__CHECK(run_done(f));
  free_blocks(st);
  return bound_runs(p, st);
}

/* ================================================================ SORT_LOCAL: collecting */

/* The packed records become general ones (a record of other lengths arrived). */
static int to_general(sort_state *st) {
  size_t w = (size_t)st->klen + st->vlen;
  sl__bytes nv = {0};
  size_t *idx = malloc((st->n ? st->n : 1) * sizeof *idx);
  SL__CHECK_ALLOC(idx);
  for (size_t i = 0; i < st->n; i++) {
    sl_record r = rec_packed(st->mem.p + i * w, st->klen, st->vlen);
    idx[i] = nv.len;
    int rc = sl__bytes_put_record(&nv, &r);
    if (rc) {
      free(nv.p);
      free(idx);
      return rc;
    }
  }
  free(st->mem.p);
  st->mem = nv;
  free(st->idx);
  st->idx = idx;
  st->capidx = st->n ? st->n : 1;
  st->packed = 0;
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

/* Sorts the records in mem (stable). */
static int sort_mem(sl__part *p, sort_state *st) {
  if (st->n < 2)
    return SL_OK;
  if (st->packed) {
    if (st->capscratch < st->mem.len) {
      free(st->scratch);
      st->capscratch = 0;
      st->scratch = malloc(st->mem.len);
      SL__CHECK_ALLOC_FOR(st->scratch, "the sort's scratch space", st->mem.len,
                          "--sl-sort-memory-bytes");
      st->capscratch = st->mem.len;
      account(p, st);
    }
    sl__fixsort fs = {(sl_cmp_fn)st->step->fn, st->step->sort_key, st->step->arg,
                      st->step->descending,    st->klen,           st->vlen};
    char *sorted;
    SL__CHECK(sl__sort_fixed(&fs, st->mem.p, st->n, st->scratch, &sorted));
    if (sorted == st->scratch) {
      /* the sorted records are in the scratch buffer: it becomes the records' buffer */
      char *t = st->mem.p;
      size_t tcap = st->mem.cap;
      st->mem.p = st->scratch;
      st->mem.cap = st->capscratch;
      st->scratch = t;
      st->capscratch = tcap;
    }
    return SL_OK;
  }
  qstep = st->step; /* single-threaded per rank */
  qbase = st->mem.p;
  qsort_r(st->idx, st->n, sizeof *st->idx, qcmp, NULL);
  return SL_OK;
}

/* Sorts the records held in memory into a new run and forgets them (keeping the buffers). */
static int spill_mem(sl__part *p, sort_state *st) {
  if (!st->n)
    return SL_OK;
  SL__CHECK(sort_mem(p, st));
  FILE *f;
  SL__CHECK(run_new(p->run, st, st->packed, st->klen, st->vlen, &f));
  if (st->packed) {
    SL__CHECK(write_bytes(f, st->mem.p, st->mem.len));
  } else {
    for (size_t i = 0; i < st->n; i++) {
      sl_record r = rec_at(st->mem.p, st->idx[i]);
      SL__CHECK(write_bytes(f, st->mem.p + st->idx[i], sl__rec_size(r.key_len, r.value_len)));
    }
  }
  SL__CHECK(run_done(f));
  st->mem.len = 0;
  st->n = 0;
  return bound_runs(p, st);
}

static int local_put(sl__part *p, sort_state *st, const sl_record *rec) {
  if (st->n == 0) {
    st->mem.len = 0;
    st->packed = packable(rec);
    st->klen = (uint32_t)rec->key_len;
    st->vlen = (uint32_t)rec->value_len;
  } else if (st->packed && (rec->key_len != st->klen || rec->value_len != st->vlen)) {
    SL__CHECK(to_general(st));
  }
  size_t used;
  if (st->packed) {
    /* the records and the sort's scratch: half of the budget each */
    SL__CHECK(sl__bytes_reserve(&st->mem, rec->key_len + rec->value_len, budget(p) / 2));
    put_kv(st->mem.p + st->mem.len, rec);
    st->mem.len += rec->key_len + rec->value_len;
    st->n++;
    used = 2 * st->mem.len;
  } else {
    if (st->n == st->capidx) {
      size_t cap = st->capidx ? 2 * st->capidx : 1024;
      size_t *n = realloc(st->idx, cap * sizeof *n);
      SL__CHECK_ALLOC(n);
      st->idx = n;
      st->capidx = cap;
    }
    st->idx[st->n++] = st->mem.len;
    SL__CHECK(sl__bytes_put_record(&st->mem, rec));
    used = st->mem.len + st->n * sizeof(size_t);
  }
  if (used >= budget(p))
    SL__CHECK(spill_mem(p, st));
  return SL_OK;
}

static int sort_push(sl__part *p, int i, const sl_record *rec) {
  sort_state *st = p->steps[i].state;
  if (st->step->kind == SL__STEP_SORT_SPLIT) {
    if (st->passthrough < 0) /* one partition after the boundary: nothing to split */
      st->passthrough = p->out && p->out->ndest == 1;
    if (st->passthrough)
      return emit_next(p, i, rec);
    SL__CHECK(hold_put(p, st, rec));
    SL__CHECK(sample(p, st, rec));
    if (st->bcap >= budget(p))
      SL__CHECK(spill_hold(p, st));
  } else {
    SL__CHECK(local_put(p, st, rec));
  }
  account(p, st);
  return SL_OK;
}

/* ---- merge heap (SORT_LOCAL) ---- */
/* Takes the next record of a run being merged (and its key, when the order is by key:
 * the heap then compares numbers instead of calling the key function twice per step). */
static int merge_next(sort_state *st, reader *rd) {
  SL__CHECK(reader_next(rd));
  const sl__step *s = st->step;
  if (rd->valid && s->sort_key) {
    uint64_t k = s->sort_key(&rd->cur, s->arg);
    rd->key = s->descending ? ~k : k;
  }
  return SL_OK;
}

static int heap_less(sort_state *st, int a, int b) {
  if (st->step->sort_key) {
    uint64_t x = st->rds[a].key, y = st->rds[b].key;
    return x < y || (x == y && a < b);
  }
  int c = cmpdir(st->step, &st->rds[a].cur, &st->rds[b].cur);
  return c < 0 || (c == 0 && a < b); /* ties: the earlier run (arrival order) */
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

/* ---- a bounded number of open runs: merge passes ---- */

/* The spill files one sort step keeps open at once: its runs, and during a merge pass the
 * run the pass writes. File descriptors are limited per process (RLIMIT_NOFILE, 'ulimit
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
    return write_bytes(out, r->key, kv);
  if (!rd->packed)
    return write_bytes(out, (const char *)r->key - SL__REC_HDR, SL__REC_HDR + kv);
  uint32_t hdr[2] = {(uint32_t)r->key_len, (uint32_t)r->value_len};
  SL__CHECK(write_bytes(out, hdr, sizeof hdr));
  return write_bytes(out, r->key, kv);
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
    SL__CHECK(reader_open_file(&st->rds[r], &st->runs[s + r], bufsz));
  account(p, st);
  for (int r = 0; r < k; r++) {
    SL__CHECK(merge_next(st, &st->rds[r]));
    if (st->rds[r].valid)
      st->heap[st->nheap++] = r;
  }
  for (int h = st->nheap / 2 - 1; h >= 0; h--)
    heap_down(st, h);
  while (st->nheap > 0) {
    int top = st->heap[0];
    SL__CHECK(put_rec(out, packed, &st->rds[top]));
    SL__CHECK(merge_next(st, &st->rds[top]));
    if (!st->rds[top].valid)
      st->heap[0] = st->heap[--st->nheap];
    heap_down(st, 0);
  }
  return SL_OK;
}

/* SORT_SPLIT: its runs are only replayed, oldest first, so runs [s, e) become one by
 * concatenation: the bytes as they are where the encodings agree, else record by record
 * (a packed run into a general one). */
static int concat_runs(sl__part *p, sort_state *st, int s, int e, FILE *out, int packed) {
  for (int r = s; r < e; r++) {
    SL__CHECK(reader_open_file(&st->rd, &st->runs[r], pass_buf_size(p, 1)));
    account(p, st);
    if (packed || !st->rd.packed) {
      size_t got;
      while ((got = fread(st->rd.buf, 1, st->rd.cap, st->rd.f)) > 0)
        SL__CHECK(write_bytes(out, st->rd.buf, got));
      if (ferror(st->rd.f)) {
        int e2 = errno;
        SL__FAIL(SL_ERR_IO, "sort: cannot read a spill file: %s (%s)", strerror(e2),
                 spill_hint(e2));
      }
    } else {
      for (;;) {
        SL__CHECK(reader_next(&st->rd));
        if (!st->rd.valid)
          break;
        SL__CHECK(put_rec(out, 0, &st->rd));
      }
    }
    reader_close(&st->rd);
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
static int bound_runs(sl__part *p, sort_state *st) {
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
  SL__CHECK(run_new(p->run, st, packed, st->runs[s].klen, st->runs[s].vlen, &out));
  int rc = st->step->kind == SL__STEP_SORT_SPLIT ? concat_runs(p, st, s, e, out, packed)
                                                 : merge_runs(p, st, s, e, out, packed);
  merge_free(st);
  reader_close(&st->rd);
  account(p, st);
  SL__CHECK(rc);
  SL__CHECK(run_done(out));
  for (int r = s; r < e; r++)
    fclose(st->runs[r].f);
  st->runs[s] = st->runs[e];
  st->runs[s].level = level;
  st->nruns = s + 1;
  return SL_OK;
}

static int drain_split(sl__part *p, int i, sort_state *st, int *finished) {
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
      SL__CHECK(reader_open_file(&st->rd, &st->runs[st->run_i], read_buf_size(p, 1)));
      SL__CHECK(reader_next(&st->rd));
      account(p, st);
    }
    if (!st->rd.valid) { /* this run is done */
      reader_close(&st->rd);
      fclose(st->runs[st->run_i].f);
      st->runs[st->run_i].f = NULL;
      st->run_i++;
      account(p, st);
      continue;
    }
    if (sl__part_drain_blocked(p, i))
      return SL_OK;
    SL__CHECK(emit_next(p, i, &st->rd.cur));
    SL__CHECK(reader_next(&st->rd));
  }
  while (st->head) {
    block *b = st->head;
    size_t w = (size_t)b->klen + b->vlen;
    while (st->cursor < b->len) {
      if (sl__part_drain_blocked(p, i))
        return SL_OK;
      sl_record r;
      if (b->packed) {
        r = rec_packed(b->data + st->cursor, b->klen, b->vlen);
        st->cursor += w;
      } else if (sl__batch_next(b->data, b->len, &st->cursor, &r) != 1) {
        SL__FAIL(SL_ERR_INTERNAL, "sort: bad record");
      }
      SL__CHECK(emit_next(p, i, &r));
    }
    st->head = b->next;
    if (!st->head)
      st->tail = NULL;
    st->bcap -= b->cap;
    st->held -= b->len;
    block_free(b);
    st->cursor = 0;
    account(p, st);
  }
  release_all(st);
  account(p, st);
  *finished = 1;
  return SL_OK;
}

static int drain_local(sl__part *p, int i, sort_state *st, int *finished) {
  if (st->phase == 0) {
    if (st->nruns == 0) {
      SL__CHECK(sort_mem(p, st));
      st->phase = 1;
      st->cursor = 0;
    } else {
      /* merge the runs; packed records still in memory are sorted there and merged as
       * the last (latest) run, general ones are spilled first */
      if (st->n && !st->packed)
        SL__CHECK(spill_mem(p, st));
      SL__CHECK(sort_mem(p, st));
      int in_mem = st->n > 0;
      st->nrds = st->nruns + in_mem;
      st->rds = calloc((size_t)st->nrds, sizeof *st->rds);
      st->heap = calloc((size_t)st->nrds, sizeof *st->heap);
      SL__CHECK_ALLOC(st->rds);
      SL__CHECK_ALLOC(st->heap);
      size_t bufsz = read_buf_size(p, st->nruns);
      for (int r = 0; r < st->nruns; r++)
        SL__CHECK(reader_open_file(&st->rds[r], &st->runs[r], bufsz));
      if (in_mem)
        reader_open_mem(&st->rds[st->nruns], st->mem.p, st->mem.len, st->klen, st->vlen);
      for (int r = 0; r < st->nrds; r++) {
        SL__CHECK(merge_next(st, &st->rds[r]));
        if (st->rds[r].valid)
          st->heap[st->nheap++] = r;
      }
      for (int h = st->nheap / 2 - 1; h >= 0; h--)
        heap_down(st, h);
      st->phase = 2;
    }
    free(st->scratch); /* sorted: the scratch is not needed any more */
    st->scratch = NULL;
    st->capscratch = 0;
    account(p, st);
  }
  if (st->phase == 1) {
    size_t w = (size_t)st->klen + st->vlen;
    for (; st->cursor < st->n; st->cursor++) {
      if (sl__part_drain_blocked(p, i))
        return SL_OK;
      sl_record r = st->packed ? rec_packed(st->mem.p + st->cursor * w, st->klen, st->vlen)
                               : rec_at(st->mem.p, st->idx[st->cursor]);
      SL__CHECK(emit_next(p, i, &r));
    }
  } else {
    while (st->nheap > 0) {
      if (sl__part_drain_blocked(p, i))
        return SL_OK;
      int top = st->heap[0];
      SL__CHECK(emit_next(p, i, &st->rds[top].cur));
      SL__CHECK(merge_next(st, &st->rds[top]));
      if (!st->rds[top].valid)
        st->heap[0] = st->heap[--st->nheap];
      heap_down(st, 0);
    }
  }
  /* Everything has been emitted: give the memory and the spill files back now, not when
   * the flow is destroyed (the next stage is holding the data by now). */
  release_all(st);
  account(p, st);
  *finished = 1;
  return SL_OK;
}

static int sort_drain(sl__part *p, int i, int *finished) {
  sort_state *st = p->steps[i].state;
  *finished = 0;
  if (st->step->kind == SL__STEP_SORT_SPLIT)
    return drain_split(p, i, st, finished);
  return drain_local(p, i, st, finished);
}

/* ---- splitters: SORT_SPLIT's run-wide hooks ---- */
static int sort_route(void *arg, const sl_record *rec, int ndest);

static int split_run_setup(sl__run *run, int stage, int step, void **rstate) {
  const sl__step *s = &run->flow->stages[stage].steps[step];
  sortsync *ss = calloc(1, sizeof *ss);
  SL__CHECK_ALLOC(ss);
  *rstate = ss;
  ss->cmp = (sl_cmp_fn)s->fn;
  ss->key = s->sort_key;
  ss->arg = s->arg;
  ss->descending = s->descending;
  ss->req = MPI_REQUEST_NULL;
  ss->counts = calloc((size_t)run->size, sizeof *ss->counts);
  ss->displs = calloc((size_t)run->size, sizeof *ss->displs);
  SL__CHECK_ALLOC(ss->counts);
  SL__CHECK_ALLOC(ss->displs);
  sl__out_set_router(run, stage, sort_route, ss);
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

static int sort_route(void *arg, const sl_record *rec, int ndest) {
  sortsync *ss = arg;
  if (ss->nsplit <= 0)
    return 0;
  /* a: first splitter >= rec; b: first splitter > rec. The search for a saw whether
   * splitter a equals rec: only then is b searched for (ties are rare). */
  int lo = 0, hi = ss->nsplit, eq = 0;
  while (lo < hi) {
    int m = (lo + hi) / 2;
    int c = sync_cmp(ss, &ss->split[m], rec);
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
      if (sync_cmp(ss, &ss->split[m], rec) <= 0)
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

const sl__op_vt sl__op_sort_sample = {.name = "sort_sample",
                                      .flags = SL__OPF_MEMORY,
                                      .create = sort_create,
                                      .destroy = sort_destroy,
                                      .push = sort_push,
                                      .drain = sort_drain,
                                      .run_setup = split_run_setup,
                                      .run_progress = split_run_progress,
                                      .run_quiescent = split_run_quiescent,
                                      .run_settle = split_run_settle,
                                      .run_free = split_run_free};

const sl__op_vt sl__op_sort = {.name = "sort",
                               .flags = SL__OPF_MEMORY | SL__OPF_ORDERED,
                               .create = sort_create,
                               .destroy = sort_destroy,
                               .push = sort_push,
                               .drain = sort_drain};

/* ---- building ---- */
/* The two steps and the routed boundary of a sort, ordered by cmp or by key. */
static int add_sort(sl_flow *flow, sl_cmp_fn cmp, sl_sort_key_fn key, void *arg, int descending) {
  sl__step *st = NULL;
  SL__CHECK(sl__ops_add_step(flow, SL__STEP_SORT_SPLIT, (void *)cmp, arg, &st));
  st->descending = descending;
  st->sort_key = key;
  sl__stage *s = NULL;
  SL__CHECK(sl__add_stage(flow, SL__BOUND_ROUTED, sl_size(flow->ctx), &s));
  SL__CHECK(sl__ops_add_step(flow, SL__STEP_SORT_LOCAL, (void *)cmp, arg, &st));
  st->descending = descending;
  st->sort_key = key;
  return SL_OK;
}

int sl_flow_sort(sl_flow *flow, sl_cmp_fn cmp, void *arg, int descending) {
  SL__CHECK(sl__check_open(flow, "sl_flow_sort"));
  if (!cmp)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_sort: NULL compare function"));
  return add_sort(flow, cmp, NULL, arg, descending);
}

int sl_flow_sort_by_key(sl_flow *flow, sl_sort_key_fn key, void *arg, int descending) {
  SL__CHECK(sl__check_open(flow, "sl_flow_sort_by_key"));
  if (!key)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_sort_by_key: NULL key function"));
  return add_sort(flow, NULL, key, arg, descending);
}
