/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the global sort (sample sort), what its two operators share. The sort is
 * two steps around a routed boundary:
 *
 *   stage s:   ... -> SORT_SPLIT: hold the records (memory blocks, then spill files), keep
 *              a reservoir sample; when every local partition has sampled, the ranks
 *              exchange samples (non-blocking collectives) and pick splitters; then the
 *              held records are replayed into the routed boundary, each block and file
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
 * Open files: a step keeps at most max_open_runs() (sort_runs.c) spill files open (64, fewer under
 * a low 'ulimit -n'); when its runs reach that, a pass combines the newest ones into one run
 * (sl__sort_bound_runs: SORT_LOCAL merges them, stably; SORT_SPLIT, which only replays its runs,
 * concatenates them), so a big input on a small budget does not run out of descriptors.
 *
 * Partition p of the sorted stage is on rank p, and sinks write partitions in rank order,
 * so the output is globally sorted (the sorted stage's operator is SL__OPF_ORDERED). Spill
 * files are unlinked as soon as they are created: nothing is left behind, even after a crash.
 *
 * Files: sort_sample.c (SORT_SPLIT: holding, sampling, the splitters), sort.c (SORT_LOCAL:
 * collecting, sorting, the final merge; the builders), sort_runs.c (what both do with
 * their records: spill runs, readers, merge passes, the step's state), sort_ckpt.c
 * (checkpoints of both steps; the splitters' run-wide part is in sort_sample.c). */
#ifndef SLUICE_SORT_RUNS_H
#define SLUICE_SORT_RUNS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#define DRAIN_BURST                                                                                \
  16384 /* records a drain call emits at most: the loop then turns (credits,                       \
           checkpoints) even when nothing blocks the output */

/* A spilled run: packed records (klen + vlen bytes each) or general ones. level: how many
 * merge passes its records went through (0: written from memory); see sl__sort_bound_runs. */
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
  uint64_t key[SL_SORT_KEY_WORDS_MAX]; /* the merge by key: cur's key words (in ascending
                                         order: sl__sort_key_words) */
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
  sl__sort_order ord; /* the step's order */
  int phase;
  /* SORT_LOCAL: the records in memory are in order already (restored from a checkpoint
   * taken after the sort): the drain emits them without sorting them again */
  int presorted;
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
  /* SORT_LOCAL: the drain's in-memory radix sort, done in steps (a stop signal or a
   * checkpoint is taken between two: a GB takes seconds); NULL when none runs */
  sl__fixsort_job *job;
  /* SORT_LOCAL, restored from a checkpoint taken during that sort: how far it had come
   * (sl__sort_fixed_frames), so that the drain goes on from there; nframes 0: none */
  sl__fixsort_frame *frames;
  int nframes;
  reader *rds; /* the merge: one reader per run, the last maybe over mem */
  int nrds;
  int *heap;
  int nheap;
  uint64_t accounted;
  unsigned burst; /* records emitted in this drain call */
} sort_state;

/* Must a drain call stop before emitting another record: its output blocks, or it has
 * emitted DRAIN_BURST records (the loop turns: a checkpoint may come between two). */
static inline int sort_drain_pause(const sl__part *p, int i, sort_state *st) {
  if (sl__part_drain_blocked(p, i))
    return 1;
  if (++st->burst < DRAIN_BURST)
    return 0;
  st->burst = 0;
  return 1;
}

/* The record encoded at base+off (written by sl__bytes_put_record, so well-formed). */
static inline sl_record rec_at(const char *base, size_t off) {
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
static inline int packable(const sl_record *r) {
  return r->key_len + r->value_len > 0 && r->key_len <= UINT32_MAX && r->value_len <= UINT32_MAX;
}

/* The order of a sort step: by its compare function, or by its key (words). */
static inline sl__sort_order step_order(const sl__step *s) {
  sl__sort_order o = {(sl_cmp_fn)s->fn, s->sort_key,
                      s->sort_keys,     s->sort_key ? 1u : s->sort_keys ? s->key_words : 0u,
                      s->arg,           s->descending};
  return o;
}

static inline size_t budget(const sl__part *p) {
  return (size_t)p->run->held_budget;
}

/* ---- sort_runs.c ---- */
int sl__sort_create(sl__part *p, int i);
void sl__sort_destroy(sl__part *p, int i);
/* Keep the run's state accounting in step with what the step holds. */
void sl__sort_account(sl__part *p, sort_state *st);
/* A new spill file, registered as run number nruns (closed with the state on failure). */
int sl__sort_run_new(sl__run *r, sort_state *st, int packed, uint32_t klen, uint32_t vlen,
                     FILE **out);
int sl__sort_write(FILE *f, const void *p, size_t n);
int sl__sort_run_done(FILE *f);
/* Keeps the step's spill files under its cap of open files (merge or concatenation passes). */
int sl__sort_bound_runs(sl__part *p, sort_state *st);
size_t sl__sort_read_buf_size(const sl__part *p, int nruns);
int sl__sort_reader_open_file(reader *r, const run *rn, size_t bufsz);
void sl__sort_reader_open_mem(reader *r, char *p, size_t len, uint32_t klen, uint32_t vlen);
void sl__sort_reader_close(reader *r);
int sl__sort_reader_next(reader *r);
/* The merge's next record of a run (and its 64-bit key), and the merge heap. */
int sl__sort_merge_next(sort_state *st, reader *rd);
void sl__sort_heap_down(sort_state *st, int i);
block *sl__sort_block_alloc(size_t cap);
void sl__sort_block_free(block *b);
/* Forgets the restored progress of the drain's sort (st->frames). */
static inline void sl__sort_drop_frames(sort_state *st) {
  free(st->frames);
  st->frames = NULL;
  st->nframes = 0;
}
void sl__sort_free_blocks(sort_state *st);
void sl__sort_merge_free(sort_state *st);
/* Gives back everything the step holds (the sample's offsets stay). */
void sl__sort_release_all(sort_state *st);
int sl__sort_emit_next(sl__part *p, int i, const sl_record *r);

/* ---- sort_ckpt.c: checkpoints of both steps (op.h's snapshot and restore) ---- */
int sl__sort_snapshot(sl__part *p, int i, struct sl__ckpt_writer *w);
int sl__sort_restore(sl__part *p, int i, const void *data, size_t len);

#endif
