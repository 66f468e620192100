/* SPDX-License-Identifier: BSD-3-Clause */
/* take_sort: the k best records of the partition by the user's order, emitted sorted
 * (Flow.take_sort). A max-heap of the k kept: the worst kept record is on top. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

typedef struct topk {
  sl_record *heap;
  size_t n;
  size_t cursor;
  int sorted; /* draining: heap is sorted best first */
  uint64_t state_bytes;
} topk;

typedef struct cmpctx {
  sl_cmp_fn cmp;
  void *arg;
} cmpctx;

static int worse(const cmpctx *c, const sl_record *a, const sl_record *b) {
  return c->cmp(a, b, c->arg) > 0;
}

static void sift_down(sl_record *h, size_t n, size_t i, const cmpctx *c) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && worse(c, &h[l], &h[m]))
      m = l;
    if (r < n && worse(c, &h[r], &h[m]))
      m = r;
    if (m == i)
      return;
    sl_record t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

static void sift_up(sl_record *h, size_t i, const cmpctx *c) {
  while (i > 0) {
    size_t par = (i - 1) / 2;
    if (!worse(c, &h[i], &h[par]))
      return;
    sl_record t = h[i];
    h[i] = h[par];
    h[par] = t;
    i = par;
  }
}

static int qcmp(const void *a, const void *b, void *arg) {
  const cmpctx *c = arg;
  return c->cmp(a, b, c->arg);
}

static int dup_rec(const sl_record *in, sl_record *out) {
  char *m = malloc(in->key_len + in->value_len + 1);
  SL__CHECK_ALLOC(m);
  if (in->key_len)
    memcpy(m, in->key, in->key_len);
  if (in->value_len)
    memcpy(m + in->key_len, in->value, in->value_len);
  *out = (sl_record){m, in->key_len, m + in->key_len, in->value_len};
  return SL_OK;
}

static void free_rec(sl_record *r) {
  free((void *)r->key); /* key and value share one allocation */
  memset(r, 0, sizeof *r);
}

static int topk_create(sl__part *p, int i) {
  size_t k = p->steps[i].step->k;
  topk *t = calloc(1, sizeof *t);
  SL__CHECK_ALLOC(t);
  p->steps[i].state = t;
  t->heap = calloc(k ? k : 1, sizeof *t->heap);
  SL__CHECK_ALLOC(t->heap);
  return SL_OK;
}

static void topk_destroy(sl__part *p, int i) {
  topk *t = p->steps[i].state;
  if (!t)
    return;
  for (size_t k = 0; t->heap && k < t->n; k++)
    free_rec(&t->heap[k]);
  free(t->heap);
  sl__state_add(p->run, -(int64_t)t->state_bytes);
  free(t);
  p->steps[i].state = NULL;
}

static int topk_push(sl__part *p, int i, const sl_record *rec) {
  topk *t = p->steps[i].state;
  const sl__step *s = p->steps[i].step;
  if (s->k == 0)
    return SL_OK;
  cmpctx c = {(sl_cmp_fn)s->fn, s->arg};
  if (t->n < s->k) {
    SL__CHECK(dup_rec(rec, &t->heap[t->n]));
    sl__op_account(p, &t->state_bytes,
                   t->state_bytes + rec->key_len + rec->value_len + sizeof(sl_record));
    sift_up(t->heap, t->n++, &c);
  } else if (worse(&c, &t->heap[0], rec)) {
    sl__op_account(p, &t->state_bytes,
                   t->state_bytes - t->heap[0].key_len - t->heap[0].value_len + rec->key_len +
                       rec->value_len);
    free_rec(&t->heap[0]);
    SL__CHECK(dup_rec(rec, &t->heap[0]));
    sift_down(t->heap, t->n, 0, &c);
  }
  return SL_OK;
}

static int topk_drain(sl__part *p, int i, int *finished) {
  topk *t = p->steps[i].state;
  const sl__step *s = p->steps[i].step;
  int capture;
  if (sl__reducer_drain_begin(p, i, &capture, finished))
    return SL_OK;
  cmpctx c = {(sl_cmp_fn)s->fn, s->arg};
  if (!t->sorted) {
    qsort_r(t->heap, t->n, sizeof *t->heap, qcmp, &c);
    t->sorted = 1;
  }
  for (; t->cursor < t->n; t->cursor++) {
    if (!capture && sl__part_drain_blocked(p, i))
      return SL_OK;
    const sl_record *r = &t->heap[t->cursor];
    SL__CHECK(sl__drain_emit(p, i, capture, r->key, r->key_len, r->value, r->value_len));
  }
  /* A window's trigger may keep the accumulator: make it a heap again. */
  for (size_t k = t->n / 2; k-- > 0;)
    sift_down(t->heap, t->n, k, &c);
  t->sorted = 0;
  t->cursor = 0;
  return sl__reducer_drain_end(p, i, capture, finished);
}

/* Checkpoints: the kept records not emitted yet, in the batch encoding; restored by pushing
 * them again (the drain sorts them as before). */
static int topk_next(void *arg, sl_record *r) {
  topk *t = arg;
  if (t->cursor >= t->n)
    return 0;
  *r = t->heap[t->cursor++];
  return 1;
}

static int topk_snapshot(sl__part *p, int i, struct sl__ckpt_writer *w) {
  topk *t = p->steps[i].state;
  size_t keep = t->cursor;
  if (!t->sorted)
    t->cursor = 0; /* a heap: all of it; sorted (draining): from the drain's cursor */
  int rc = sl__ckpt_put_records(w, p, i, topk_next, t);
  t->cursor = keep;
  return rc;
}

static int topk_restore(sl__part *p, int i, const void *data, size_t len) {
  size_t pos = 0;
  sl_record r;
  int more;
  while ((more = sl__batch_next(data, len, &pos, &r)) > 0)
    SL__CHECK(topk_push(p, i, &r));
  if (more < 0 || pos != len)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: step '%s': a damaged record", p->steps[i].step->name);
  return SL_OK;
}

const sl__op_vt sl__op_take_sort = {.name = "take_sort",
                                    .snapshot = topk_snapshot,
                                    .restore = topk_restore,
                                    .phase = "sorting",
                                    .flags =
                                        SL__OPF_REDUCER | SL__OPF_WRAPPABLE | SL__OPF_CKPT_PORTABLE,
                                    .create = topk_create,
                                    .destroy = topk_destroy,
                                    .push = topk_push,
                                    .drain = topk_drain};

int sl_flow_take_sort(sl_flow *flow, size_t k, sl_cmp_fn cmp, void *arg) {
  /* As in Flow, take_sort usually follows a reducer in the same stage: it sorts that
   * stage's output, so it does not take the stage's one reducer slot. */
  SL__CHECK(sl__check_open(flow, "sl_flow_take_sort"));
  if (!cmp)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_take_sort: NULL compare function"));
  sl__step *st = NULL;
  SL__CHECK(sl__ops_add_step(flow, SL__STEP_TOPK, (void *)cmp, arg, &st));
  st->k = k;
  SL__CHECK(sl_flow_departition(flow));
  SL__CHECK(sl__ops_add_step(flow, SL__STEP_TOPK, (void *)cmp, arg, &st));
  st->k = k;
  return SL_OK;
}
