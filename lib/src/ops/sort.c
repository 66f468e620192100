/* SPDX-License-Identifier: BSD-3-Clause */
/* The second half of the sort, SORT_LOCAL, first in the sorted stage: collect the records
 * (sorting and spilling runs beyond the memory budget), then emit them in order, merging
 * the runs. Its partitions hold consecutive ranges (the splitters), so the sorted stage is
 * SL__OPF_ORDERED: sinks write its partitions in rank order. See sort_runs.h. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "algo/sort_fixed.h"
#include "ops/sort_runs.h"

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

static const sort_state *qstate;
static const char *qbase;
static int qcmp(const void *a, const void *b, void *arg) {
  (void)arg;
  size_t oa = *(const size_t *)a, ob = *(const size_t *)b;
  sl_record ra = rec_at(qbase, oa), rb = rec_at(qbase, ob);
  int c = sl__sort_order_cmp(&qstate->ord, &ra, &rb);
  if (c)
    return c;
  return (oa > ob) - (oa < ob); /* arrival order: a stable local sort */
}

/* The scratch buffer of a packed sort: as large as the records. */
static int packed_scratch(sl__part *p, sort_state *st) {
  if (st->capscratch >= st->mem.len)
    return SL_OK;
  free(st->scratch);
  st->capscratch = 0;
  st->scratch = malloc(st->mem.len);
  SL__CHECK_ALLOC_FOR(st->scratch, "the sort's scratch space", st->mem.len,
                      "--sl-sort-memory-bytes");
  st->capscratch = st->mem.len;
  sl__sort_account(p, st);
  return SL_OK;
}

/* The packed records were sorted into `sorted`: when that is the scratch buffer, it
 * becomes the records' buffer. */
static void packed_sorted(sort_state *st, char *sorted) {
  if (sorted != st->scratch)
    return;
  char *t = st->mem.p;
  size_t tcap = st->mem.cap;
  st->mem.p = st->scratch;
  st->mem.cap = st->capscratch;
  st->scratch = t;
  st->capscratch = tcap;
}

/* Sorts the records in mem (stable). */
static int sort_mem(sl__part *p, sort_state *st) {
  if (st->n < 2)
    return SL_OK;
  if (st->packed) {
    SL__CHECK(packed_scratch(p, st));
    sl__fixsort fs = {st->ord, st->klen, st->vlen};
    char *sorted;
    SL__CHECK(sl__sort_fixed(&fs, st->mem.p, st->n, st->scratch, &sorted));
    packed_sorted(st, sorted);
    return SL_OK;
  }
  qstate = st; /* single-threaded per rank */
  qbase = st->mem.p;
  qsort_r(st->idx, st->n, sizeof *st->idx, qcmp, NULL);
  return SL_OK;
}

/* The drain's sort of what it holds in memory: by key words, a radix sort in steps of
 * SORT_STEP records, the loop turning in between (*done 0); else all at once. */
#define SORT_STEP (1u << 19)

/* Records per step: SORT_STEP, or for tests SLUICE_TEST_SORT_STEP (a small table then
 * sorts in many steps, and a checkpoint can come between any two). */
static size_t sort_step(void) {
  static size_t step;
  if (!step) {
    const char *e = getenv("SLUICE_TEST_SORT_STEP");
    long long v = e ? atoll(e) : 0;
    step = v > 0 ? (size_t)v : SORT_STEP;
  }
  return step;
}

static int sort_mem_step(sl__part *p, sort_state *st, int *done) {
  *done = 1;
  if (!st->packed || !st->ord.words || st->n < 2)
    return sort_mem(p, st);
  if (!st->job) {
    SL__CHECK(packed_scratch(p, st));
    sl__fixsort fs = {st->ord, st->klen, st->vlen};
    /* restored from a checkpoint taken during this sort: on from where it was */
    if (st->nframes)
      sl_log(p->run->ctx, SL_LOG_INFO,
             "sort: step '%s' goes on with its radix sort of %zu records where the checkpoint "
             "left it (%u of 256 buckets sorted; %d level%s of buckets)",
             st->step->name, st->n, (unsigned)st->frames[0].next, st->nframes,
             st->nframes > 1 ? "s" : "");
    int rc = sl__sort_fixed_resume(&fs, st->mem.p, st->n, st->scratch, st->frames, st->nframes,
                                   &st->job);
    sl__sort_drop_frames(st);
    SL__CHECK(rc);
  }
  char *sorted;
  int rc = sl__sort_fixed_step(st->job, sort_step(), done, &sorted);
  if (rc != SL_OK)
    return rc;
  if (!*done) {
    sl__ckpt_test_rows(p->run, 1, 2); /* tests: a stop at a chosen step of the sort */
    return SL_OK;
  }
  sl__sort_fixed_job_free(st->job);
  st->job = NULL;
  packed_sorted(st, sorted);
  return SL_OK;
}

/* Sorts the records held in memory into a new run and forgets them (keeping the buffers). */
static int spill_mem(sl__part *p, sort_state *st) {
  if (!st->n)
    return SL_OK;
  SL__CHECK(sort_mem(p, st));
  FILE *f;
  SL__CHECK(sl__sort_run_new(p->run, st, st->packed, st->klen, st->vlen, &f));
  if (st->packed) {
    SL__CHECK(sl__sort_write(f, st->mem.p, st->mem.len));
  } else {
    for (size_t i = 0; i < st->n; i++) {
      sl_record r = rec_at(st->mem.p, st->idx[i]);
      SL__CHECK(sl__sort_write(f, st->mem.p + st->idx[i], sl__rec_size(r.key_len, r.value_len)));
    }
  }
  SL__CHECK(sl__sort_run_done(f));
  st->mem.len = 0;
  st->n = 0;
  return sl__sort_bound_runs(p, st);
}

static int local_put(sl__part *p, sort_state *st, const sl_record *rec) {
  /* (no record comes after a restore in phase 1 or during the sort: its input had ended) */
  st->presorted = 0;
  sl__sort_drop_frames(st);
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

static int local_push(sl__part *p, int i, const sl_record *rec) {
  sort_state *st = p->steps[i].state;
  SL__CHECK(local_put(p, st, rec));
  sl__sort_account(p, st);
  return SL_OK;
}

static int local_drain(sl__part *p, int i, int *finished) {
  sort_state *st = p->steps[i].state;
  *finished = 0;
  if (st->phase == 0) {
    if (st->nruns == 0) {
      int sorted = 1;
      if (!st->presorted)
        SL__CHECK(sort_mem_step(p, st, &sorted));
      if (!sorted)
        return SL_OK; /* more of the sort next turn */
      st->presorted = 0;
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
      size_t bufsz = sl__sort_read_buf_size(p, st->nruns);
      for (int r = 0; r < st->nruns; r++)
        SL__CHECK(sl__sort_reader_open_file(&st->rds[r], &st->runs[r], bufsz));
      if (in_mem)
        sl__sort_reader_open_mem(&st->rds[st->nruns], st->mem.p, st->mem.len, st->klen, st->vlen);
      for (int r = 0; r < st->nrds; r++) {
        SL__CHECK(sl__sort_merge_next(st, &st->rds[r]));
        if (st->rds[r].valid)
          st->heap[st->nheap++] = r;
      }
      for (int h = st->nheap / 2 - 1; h >= 0; h--)
        sl__sort_heap_down(st, h);
      st->phase = 2;
    }
    free(st->scratch); /* sorted: the scratch is not needed any more */
    st->scratch = NULL;
    st->capscratch = 0;
    sl__sort_account(p, st);
  }
  if (st->phase == 1) {
    size_t w = (size_t)st->klen + st->vlen;
    for (; st->cursor < st->n; st->cursor++) {
      if (sort_drain_pause(p, i, st))
        return SL_OK;
      sl_record r = st->packed ? rec_packed(st->mem.p + st->cursor * w, st->klen, st->vlen)
                               : rec_at(st->mem.p, st->idx[st->cursor]);
      SL__CHECK(sl__sort_emit_next(p, i, &r));
    }
  } else {
    while (st->nheap > 0) {
      if (sort_drain_pause(p, i, st))
        return SL_OK;
      int top = st->heap[0];
      SL__CHECK(sl__sort_emit_next(p, i, &st->rds[top].cur));
      SL__CHECK(sl__sort_merge_next(st, &st->rds[top]));
      if (!st->rds[top].valid)
        st->heap[0] = st->heap[--st->nheap];
      sl__sort_heap_down(st, 0);
    }
  }
  /* Everything has been emitted: give the memory and the spill files back now, not when
   * the flow is destroyed (the next stage is holding the data by now). */
  sl__sort_release_all(st);
  sl__sort_account(p, st);
  *finished = 1;
  return SL_OK;
}

const sl__op_vt sl__op_sort = {.name = "sort",
                               .phase = "sorting",
                               .flags = SL__OPF_MEMORY | SL__OPF_ORDERED,
                               .create = sl__sort_create,
                               .destroy = sl__sort_destroy,
                               .push = local_push,
                               .drain = local_drain,
                               .snapshot = sl__sort_snapshot,
                               .restore = sl__sort_restore};

/* ---- building ---- */
/* The two steps and the routed boundary of a sort, ordered by cmp, by key or by keys
 * (words of them). */
static int add_sort(sl_flow *flow, sl_cmp_fn cmp, sl_sort_key_fn key, sl_sort_keys_fn keys,
                    unsigned words, void *arg, int descending) {
  sl__step *st = NULL;
  for (int k = 0; k < 2; k++) {
    sl__stage *s = NULL;
    if (k == 1)
      SL__CHECK(sl__add_stage(flow, SL__BOUND_ROUTED, sl_size(flow->ctx), &s));
    SL__CHECK(sl__ops_add_step(flow, k ? SL__STEP_SORT_LOCAL : SL__STEP_SORT_SPLIT, (void *)cmp,
                               arg, &st));
    st->descending = descending;
    st->sort_key = key;
    st->sort_keys = keys;
    st->key_words = words;
  }
  return SL_OK;
}

int sl_flow_sort(sl_flow *flow, sl_cmp_fn cmp, void *arg, int descending) {
  SL__CHECK(sl__check_open(flow, "sl_flow_sort"));
  if (!cmp)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_sort: NULL compare function"));
  return add_sort(flow, cmp, NULL, NULL, 0, arg, descending);
}

int sl_flow_sort_by_key(sl_flow *flow, sl_sort_key_fn key, void *arg, int descending) {
  SL__CHECK(sl__check_open(flow, "sl_flow_sort_by_key"));
  if (!key)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_sort_by_key: NULL key function"));
  return add_sort(flow, NULL, key, NULL, 1, arg, descending);
}

int sl_flow_sort_by_keys(sl_flow *flow, sl_sort_keys_fn key, size_t nwords, void *arg,
                         int descending) {
  SL__CHECK(sl__check_open(flow, "sl_flow_sort_by_keys"));
  if (!key)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_sort_by_keys: NULL key function"));
  if (nwords < 1 || nwords > SL_SORT_KEY_WORDS_MAX)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_sort_by_keys: %zu key words (1 to %d)",
                                                nwords, SL_SORT_KEY_WORDS_MAX));
  return add_sort(flow, NULL, NULL, key, (unsigned)nwords, arg, descending);
}
