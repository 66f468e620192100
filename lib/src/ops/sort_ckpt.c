/* SPDX-License-Identifier: BSD-3-Clause */
/* Checkpoints of the sort's steps (docs/checkpoint.md): what a SORT_SPLIT or SORT_LOCAL
 * partition holds and has not emitted yet, saved as chunks of the step's section, and
 * restored into a fresh state.
 *
 * Spill files are nameless (unlinked at creation) and die with the stopping run, so their
 * bytes go into the checkpoint's part file (read with pread: the running drain's readers
 * and file positions are left as they are, and a periodic checkpoint's run goes on), and a
 * resumed run writes them to new spill files. A run read part-way (the replay of
 * SORT_SPLIT, the final merge of SORT_LOCAL) is saved from its next record on.
 *
 * What a restored state is:
 *   SORT_SPLIT: the records not replayed yet, as runs (oldest first) and memory blocks, in
 *     arrival order; before its sample went out (phase 0), the sample too; after (phase 1:
 *     the sample is in the run-wide state, saved by sort_sample.c), it waits for the
 *     splitters and replays from the start of what was restored.
 *   SORT_LOCAL: collecting (phase 0) with the records not emitted yet: runs whole while it
 *     collected; the rest of each run after a part of the final merge (the in-memory run
 *     last, as in the merge, so ties keep their order); the rest of its sorted records
 *     after a part of an in-memory emit (sorted again at the drain: the sort is stable, so
 *     the order is the same); during the drain's radix sort, the records where they are
 *     with the sort's frames (CK_FRAMES: the buckets scattered and sorted so far), from
 *     which the resumed drain goes on instead of sorting again.
 *
 * Chunks: a u32 tag, then the tag's header and bytes. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops/sort_runs.h"

#define CHUNK (1u << 20)

enum { CK_HEAD = 1, CK_RUN, CK_RUN_DATA, CK_BLOCK, CK_SAMPLES, CK_MEM, CK_FRAMES };

typedef struct ck_head {
  uint32_t tag;
  int32_t phase, passthrough, packed;
  uint32_t klen, vlen;
  uint32_t sorted, pad; /* SORT_LOCAL: the records saved are in order (CK_MEM only) */
  uint64_t seen, rng, maxsample;
} ck_head;

typedef struct ck_run {
  uint32_t tag;
  int32_t packed, level;
  uint32_t klen, vlen;
} ck_run;

/* One chunk: the tag's header (hdr, hlen bytes: the tag first) and n bytes after it. */
static int put(struct sl__ckpt_writer *w, const sl__part *p, int i, sl__bytes *b, const void *hdr,
               size_t hlen, const void *data, size_t n) {
  b->len = 0;
  SL__CHECK(sl__bytes_append(b, hdr, hlen));
  if (n)
    SL__CHECK(sl__bytes_append(b, data, n));
  return sl__ckpt_put_step(w, p, i, b->p, b->len);
}

/* Bytes [from, end of file) of a run: a CK_RUN, then CK_RUN_DATA chunks. */
static int put_run(struct sl__ckpt_writer *w, const sl__part *p, int i, sl__bytes *b, const run *rn,
                   uint64_t from) {
  struct stat sb;
  int fd = fileno(rn->f); /* written and flushed (sl__sort_run_done) */
  if (fstat(fd, &sb) != 0)
    SL__FAIL(SL_ERR_IO, "checkpoint: cannot read a spill file of the sort");
  ck_run h = {CK_RUN, rn->packed, rn->level, rn->klen, rn->vlen};
  SL__CHECK(put(w, p, i, b, &h, sizeof h, NULL, 0));
  uint64_t size = (uint64_t)sb.st_size;
  uint32_t tag = CK_RUN_DATA;
  for (uint64_t off = from; off < size;) {
    size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
    b->len = 0;
    SL__CHECK(sl__bytes_reserve(b, sizeof tag + n, 0));
    memcpy(b->p, &tag, sizeof tag);
    SL__CHECK(sl__pread_all(fd, b->p + sizeof tag, n, off, "a spill file of the sort"));
    SL__CHECK(sl__ckpt_put_step(w, p, i, b->p, sizeof tag + n));
    off += n;
  }
  return SL_OK;
}

/* The size of the reader's current record in its run. */
static size_t cur_size(const reader *r) {
  size_t kv = r->cur.key_len + r->cur.value_len;
  return r->packed ? kv : kv + SL__REC_HDR;
}

/* A file reader's run from its current record on (nothing when it has none left). */
static int put_reader(struct sl__ckpt_writer *w, const sl__part *p, int i, sl__bytes *b,
                      const reader *rd, const run *rn) {
  if (!rd->valid)
    return SL_OK;
  long at = ftell(rd->f);
  if (at < 0)
    SL__FAIL(SL_ERR_IO, "checkpoint: cannot tell where a spill file of the sort is read");
  uint64_t next = (uint64_t)at - (rd->len - rd->pos);
  return put_run(w, p, i, b, rn, next - cur_size(rd));
}

/* Whole records of the general encoding (or packed ones of w bytes) from buf, in chunks. */
static int put_mem(struct sl__ckpt_writer *w, const sl__part *p, int i, sl__bytes *b,
                   const char *buf, size_t len, size_t width) {
  uint32_t tag = CK_MEM;
  size_t at = 0;
  while (at < len) {
    size_t end = at;
    if (width) {
      size_t per = CHUNK / width ? CHUNK / width : 1;
      end = len - at < per * width ? len : at + per * width;
    } else {
      do {
        sl_record r = rec_at(buf, end);
        end += sl__rec_size(r.key_len, r.value_len);
      } while (end < len && end - at < CHUNK);
    }
    SL__CHECK(put(w, p, i, b, &tag, sizeof tag, buf + at, end - at));
    at = end;
  }
  return SL_OK;
}

typedef struct put_piece_arg {
  struct sl__ckpt_writer *w;
  const sl__part *p;
  int i;
  sl__bytes *b;
  size_t width;
} put_piece_arg;

static int put_piece(void *arg, const char *piece, size_t len) {
  put_piece_arg *a = arg;
  return len ? put_mem(a->w, a->p, a->i, a->b, piece, len, a->width) : SL_OK;
}

/* SORT_LOCAL in phase 1: its sorted records from the cursor on, re-encoded in order. */
static int put_sorted_general(struct sl__ckpt_writer *w, const sl__part *p, int i,
                              const sort_state *st) {
  sl__bytes m = {0};
  uint32_t tag = CK_MEM;
  int rc = sl__bytes_append(&m, &tag, sizeof tag);
  for (size_t k = st->cursor; rc == SL_OK && k < st->n; k++) {
    sl_record r = rec_at(st->mem.p, st->idx[k]);
    rc = sl__bytes_put_record(&m, &r);
    if (rc == SL_OK && (m.len >= CHUNK || k + 1 == st->n)) {
      rc = sl__ckpt_put_step(w, p, i, m.p, m.len);
      m.len = sizeof tag;
    }
  }
  sl__bytes_free(&m);
  return rc;
}

static int snap_split(struct sl__ckpt_writer *w, const sl__part *p, int i, sl__bytes *b,
                      const sort_state *st) {
  /* the runs not replayed yet (the one being read from its next record), then the blocks
   * (the first from the cursor) */
  for (int r = st->run_i; r < st->nruns; r++) {
    if (r == st->run_i && st->rd.f)
      SL__CHECK(put_reader(w, p, i, b, &st->rd, &st->runs[r]));
    else
      SL__CHECK(put_run(w, p, i, b, &st->runs[r], 0));
  }
  size_t from = st->cursor;
  for (const block *k = st->head; k; k = k->next, from = 0) {
    if (from >= k->len)
      continue;
    ck_run h = {CK_BLOCK, k->packed, 0, k->klen, k->vlen};
    SL__CHECK(put(w, p, i, b, &h, sizeof h, k->data + from, k->len - from));
  }
  if (st->phase == 0 && st->nsample) {
    sl__bytes s = {0};
    uint32_t tag = CK_SAMPLES;
    int rc = sl__bytes_append(&s, &tag, sizeof tag);
    for (size_t k = 0; rc == SL_OK && k < st->nsample; k++) {
      sl_record x = rec_at(st->samples.p, st->soff[k]);
      rc = sl__bytes_put_record(&s, &x);
    }
    if (rc == SL_OK)
      rc = sl__ckpt_put_step(w, p, i, s.p, s.len);
    sl__bytes_free(&s);
    SL__CHECK(rc);
  }
  return SL_OK;
}

static int snap_local(struct sl__ckpt_writer *w, const sl__part *p, int i, sl__bytes *b,
                      const sort_state *st) {
  size_t width = st->packed ? (size_t)st->klen + st->vlen : 0;
  if (st->phase == 0) {
    for (int r = 0; r < st->nruns; r++)
      SL__CHECK(put_run(w, p, i, b, &st->runs[r], 0));
    if (!st->job)
      return put_mem(w, p, i, b, st->mem.p, st->mem.len, width);
    /* in the middle of the drain's sort: how far it came (its frames: the resumed run
     * goes on from there), then where the records are now, in an order that a sort again
     * from the start also makes the same */
    sl__fixsort_frame *f = malloc(SL__FIXSORT_DIGITS * sizeof *f);
    SL__CHECK_ALLOC(f);
    int nf = sl__sort_fixed_job_frames(st->job, f, SL__FIXSORT_DIGITS);
    uint32_t tag = CK_FRAMES;
    int rc = nf ? put(w, p, i, b, &tag, sizeof tag, f, (size_t)nf * sizeof *f) : SL_OK;
    free(f);
    SL__CHECK(rc);
    put_piece_arg a = {w, p, i, b, width};
    return sl__sort_fixed_job_pieces(st->job, put_piece, &a);
  }
  if (st->phase == 1) {
    if (st->cursor >= st->n) /* all emitted (and the memory given back) */
      return SL_OK;
    if (st->packed)
      return put_mem(w, p, i, b, st->mem.p + st->cursor * width, (st->n - st->cursor) * width,
                     width);
    return st->cursor < st->n ? put_sorted_general(w, p, i, st) : SL_OK;
  }
  /* the final merge: each reader's rest, in reader order; the in-memory one (packed, last)
   * back into memory */
  for (int r = 0; r < st->nrds; r++) {
    const reader *rd = &st->rds[r];
    if (rd->f) {
      SL__CHECK(put_reader(w, p, i, b, rd, &st->runs[r]));
    } else if (rd->valid) {
      size_t from = rd->pos - cur_size(rd);
      SL__CHECK(put_mem(w, p, i, b, rd->buf + from, rd->len - from, width));
    }
  }
  return SL_OK;
}

int sl__sort_snapshot(sl__part *p, int i, struct sl__ckpt_writer *w) {
  const sort_state *st = p->steps[i].state;
  int split = st->step->kind == SL__STEP_SORT_SPLIT;
  /* SORT_SPLIT: whether its sample went out; SORT_LOCAL: always collecting, but after its
   * sort (phase 1) what it saves is in order, and the resumed run need not sort it again
   * (a radix sort of a GB takes seconds) */
  ck_head h = {CK_HEAD,
               split && st->phase > 0 ? 1 : 0,
               st->passthrough,
               st->packed,
               st->klen,
               st->vlen,
               !split && (st->phase == 1 || st->presorted),
               0,
               st->seen,
               st->rng,
               st->maxsample};
  sl__bytes b = {0};
  int rc = put(w, p, i, &b, &h, sizeof h, NULL, 0);
  if (rc == SL_OK)
    rc = split ? snap_split(w, p, i, &b, st) : snap_local(w, p, i, &b, st);
  sl__bytes_free(&b);
  return rc;
}

/* ---- restoring ---- */

static int restore_samples(sl__part *p, int i, sort_state *st, const char *d, size_t len) {
  size_t pos = 0;
  sl_record r;
  while (pos < len) {
    if (sl__batch_next(d, len, &pos, &r) != 1 || st->nsample >= st->maxsample)
      SL__FAIL(SL_ERR_FORMAT, "checkpoint: step '%s': a damaged sample", p->steps[i].step->name);
    st->soff[st->nsample++] = st->samples.len;
    st->live += sl__rec_size(r.key_len, r.value_len);
    SL__CHECK(sl__bytes_put_record(&st->samples, &r));
  }
  return SL_OK;
}

/* Records appended to SORT_LOCAL's memory (general: their offsets indexed). */
static int restore_mem(sl__part *p, int i, sort_state *st, const char *d, size_t len) {
  size_t base = st->mem.len;
  SL__CHECK(sl__bytes_append(&st->mem, d, len));
  if (st->packed) {
    size_t w = (size_t)st->klen + st->vlen;
    if (!w || len % w)
      SL__FAIL(SL_ERR_FORMAT, "checkpoint: step '%s': damaged records", p->steps[i].step->name);
    st->n += len / w;
    return SL_OK;
  }
  size_t pos = base;
  sl_record r;
  while (pos < st->mem.len) {
    size_t at = pos;
    if (sl__batch_next(st->mem.p, st->mem.len, &pos, &r) != 1)
      SL__FAIL(SL_ERR_FORMAT, "checkpoint: step '%s': damaged records", p->steps[i].step->name);
    if (st->n == st->capidx) {
      size_t cap = st->capidx ? 2 * st->capidx : 1024;
      size_t *n = realloc(st->idx, cap * sizeof *n);
      SL__CHECK_ALLOC(n);
      st->idx = n;
      st->capidx = cap;
    }
    st->idx[st->n++] = at;
  }
  return SL_OK;
}

static int restore_block(sort_state *st, const ck_run *h, const char *d, size_t len) {
  block *nb = sl__sort_block_alloc(len);
  SL__CHECK_ALLOC_FOR(nb, "a block of the sort's held records", len, "--sl-sort-memory-bytes");
  nb->next = NULL;
  nb->len = nb->cap = len;
  nb->packed = h->packed;
  nb->klen = h->klen;
  nb->vlen = h->vlen;
  memcpy(nb->data, d, len);
  if (st->tail)
    st->tail->next = nb;
  else
    st->head = nb;
  st->tail = nb;
  st->bcap += len;
  st->held += len;
  return SL_OK;
}

int sl__sort_restore(sl__part *p, int i, const void *data, size_t len) {
  sort_state *st = p->steps[i].state;
  const char *d = data;
  uint32_t tag = 0;
  if (len >= sizeof tag)
    memcpy(&tag, d, sizeof tag);
  int rc = SL_OK;
  if (tag == CK_HEAD && len == sizeof(ck_head)) {
    ck_head h;
    memcpy(&h, d, sizeof h);
    st->phase = h.phase;
    st->presorted = (int)h.sorted;
    st->passthrough = h.passthrough;
    st->packed = h.packed;
    st->klen = h.klen;
    st->vlen = h.vlen;
    st->seen = h.seen;
    st->rng = h.rng;
    if (h.maxsample < st->maxsample)
      st->maxsample = (size_t)h.maxsample;
  } else if ((tag == CK_RUN || tag == CK_BLOCK) && len >= sizeof(ck_run)) {
    ck_run h;
    memcpy(&h, d, sizeof h);
    if (tag == CK_BLOCK) {
      rc = restore_block(st, &h, d + sizeof h, len - sizeof h);
    } else {
      FILE *f;
      rc = sl__sort_run_new(p->run, st, h.packed, h.klen, h.vlen, &f);
      if (rc == SL_OK)
        st->runs[st->nruns - 1].level = h.level;
    }
  } else if (tag == CK_RUN_DATA && st->nruns > 0) {
    FILE *f = st->runs[st->nruns - 1].f;
    rc = sl__sort_write(f, d + sizeof tag, len - sizeof tag);
    if (rc == SL_OK)
      rc = sl__sort_run_done(f);
  } else if (tag == CK_SAMPLES) {
    rc = restore_samples(p, i, st, d + sizeof tag, len - sizeof tag);
  } else if (tag == CK_FRAMES && !st->nframes && len > sizeof tag &&
             (len - sizeof tag) % sizeof(sl__fixsort_frame) == 0 &&
             (len - sizeof tag) / sizeof(sl__fixsort_frame) <= SL__FIXSORT_DIGITS) {
    /* checked against the records when the drain resumes the sort (sl__sort_fixed_resume) */
    size_t nf = (len - sizeof tag) / sizeof(sl__fixsort_frame);
    st->frames = malloc(nf * sizeof *st->frames);
    if (!st->frames)
      rc = sl__error_set(SL_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
    else {
      memcpy(st->frames, d + sizeof tag, nf * sizeof *st->frames);
      st->nframes = (int)nf;
    }
  } else if (tag == CK_MEM) {
    rc = restore_mem(p, i, st, d + sizeof tag, len - sizeof tag);
  } else {
    rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                       "checkpoint: step '%s': an unknown chunk of the sort (%u, %zu bytes)",
                       p->steps[i].step->name, (unsigned)tag, len);
  }
  sl__sort_account(p, st);
  return rc;
}
