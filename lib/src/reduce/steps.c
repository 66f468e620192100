/* Stateful steps: reducers (user reduce, reduce_by_key, group_by_key, take_sort), the
 * map-side combiner, uniq, and map_batch fed by a source. Each drains its state into the
 * next step with a cursor, so a drain pauses when the output is blocked and resumes. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "reduce/htab.h"

typedef struct vec {
  char *p;
  size_t len, cap;
} vec;

typedef struct step_state {
  sl__htab t;
  size_t cursor;
  void *acc; /* user reduce */
  char *tmp; /* finalize scratch (state_size) / uniq key scratch */
  size_t tmp_cap;
  sl_record *heap; /* take_sort */
  size_t heap_n;
  int sorted;
  vec batch; /* map_batch accumulation */
  uint64_t state_bytes;
} step_state;

int sl__step_has_state(const sl__step *s) {
  switch (s->kind) {
  case SL__STEP_REDUCE:
  case SL__STEP_REDUCE_BY_KEY:
  case SL__STEP_COMBINER:
  case SL__STEP_GROUP:
  case SL__STEP_TOPK:
  case SL__STEP_MAP_BATCH:
  case SL__STEP_UNIQ:
  case SL__STEP_SORT_SPLIT:
  case SL__STEP_SORT_LOCAL:
  case SL__STEP_JOIN:
    return 1;
  default:
    return 0;
  }
}

static int is_sort(const sl__step *s) {
  return s->kind == SL__STEP_SORT_SPLIT || s->kind == SL__STEP_SORT_LOCAL;
}

static int user_fail(sl__part *p, int i, int rc) {
  return p->steps[i].step->agg.kind == SL_AGG_USER || p->steps[i].step->kind == SL__STEP_REDUCE
             ? sl__callback_failed(p, i, rc)
             : rc;
}

/* Keep the run's state accounting in step with the table's size. */
static void account(sl__part *p, step_state *ss, uint64_t now) {
  sl__state_add(p->run, (int64_t)now - (int64_t)ss->state_bytes);
  ss->state_bytes = now;
}

int sl__step_create(sl__run *run, const sl__step *step, sl__stepinst *si) {
  (void)run;
  si->step = step;
  if (is_sort(step))
    return sl__sort_step_create(run, step, si);
  if (step->kind == SL__STEP_JOIN)
    return sl__join_create(run, step, si);
  if (!sl__step_has_state(step))
    return SL_OK;
  step_state *ss = calloc(1, sizeof *ss);
  SL__CHECK_ALLOC(ss);
  si->state = ss;
  switch (step->kind) {
  case SL__STEP_REDUCE_BY_KEY:
  case SL__STEP_COMBINER:
    if (sl__htab_init(&ss->t, step->agg.state_size))
      SL__FAIL(SL_ERR_NOMEM, "out of memory");
    ss->tmp = malloc(step->agg.state_size);
    SL__CHECK_ALLOC(ss->tmp);
    break;
  case SL__STEP_GROUP:
    if (sl__htab_init(&ss->t, sizeof(vec)))
      SL__FAIL(SL_ERR_NOMEM, "out of memory");
    break;
  case SL__STEP_UNIQ:
    if (sl__htab_init(&ss->t, 1))
      SL__FAIL(SL_ERR_NOMEM, "out of memory");
    break;
  case SL__STEP_REDUCE: {
    int rc = step->reducer.init(&ss->acc, step->reducer.arg);
    if (rc)
      SL__FAIL(SL_ERR_CALLBACK, "step '%s': reducer init failed (returned %d)", step->name, rc);
    break;
  }
  case SL__STEP_TOPK:
    ss->heap = calloc(step->k ? step->k : 1, sizeof *ss->heap);
    SL__CHECK_ALLOC(ss->heap);
    break;
  default:
    break;
  }
  return SL_OK;
}

static void free_rec(sl_record *r) {
  free((void *)r->key); /* key and value share one allocation */
  memset(r, 0, sizeof *r);
}

void sl__step_destroy(sl__run *run, sl__stepinst *si) {
  if (si->win) {
    sl__window_destroy(run, si); /* every window's state, and the current one */
    return;
  }
  if (is_sort(si->step)) {
    sl__sort_step_destroy(run, si);
    return;
  }
  if (si->step->kind == SL__STEP_JOIN) {
    sl__join_destroy(run, si);
    return;
  }
  step_state *ss = si->state;
  if (!ss)
    return;
  const sl__step *s = si->step;
  if (s->kind == SL__STEP_GROUP) {
    for (size_t i = 0; i < ss->t.cap; i++)
      if (sl__htab_slot(&ss->t, i)->hash)
        free(((vec *)sl__htab_val(&ss->t, i))->p);
  }
  if (s->kind == SL__STEP_REDUCE && ss->acc && s->reducer.destroy)
    s->reducer.destroy(ss->acc, s->reducer.arg);
  if (s->kind == SL__STEP_TOPK)
    for (size_t i = 0; i < ss->heap_n; i++)
      free_rec(&ss->heap[i]);
  sl__htab_free(&ss->t);
  sl__state_add(run, -(int64_t)ss->state_bytes);
  free(ss->tmp);
  free(ss->heap);
  free(ss->batch.p);
  free(ss);
  si->state = NULL;
}

static int vec_append(vec *v, const void *p, size_t n) {
  if (v->cap - v->len < n) {
    size_t cap = v->cap ? v->cap : 64;
    while (cap - v->len < n)
      cap *= 2;
    char *np = realloc(v->p, cap);
    SL__CHECK_ALLOC(np);
    v->p = np;
    v->cap = cap;
  }
  if (n) /* p may be NULL when n is 0 */
    memcpy(v->p + v->len, p, n);
  v->len += n;
  return SL_OK;
}

static int dup_rec(const sl_record *in, sl_record *out) {
  char *m = malloc(in->key_len + in->value_len + 1);
  SL__CHECK_ALLOC(m);
  if (in->key_len)
    memcpy(m, in->key, in->key_len);
  if (in->value_len)
    memcpy(m + in->key_len, in->value, in->value_len);
  out->key = m;
  out->key_len = in->key_len;
  out->value = m + in->key_len;
  out->value_len = in->value_len;
  return SL_OK;
}

/* take_sort keeps a max-heap of the k best: the worst kept record is on top. */
typedef struct cmpctx {
  sl_cmp_fn cmp;
  void *arg;
} cmpctx;
static int heap_worse(const cmpctx *c, const sl_record *a, const sl_record *b) {
  return c->cmp(a, b, c->arg) > 0;
}
static void sift_down(sl_record *h, size_t n, size_t i, const cmpctx *c) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && heap_worse(c, &h[l], &h[m]))
      m = l;
    if (r < n && heap_worse(c, &h[r], &h[m]))
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
    if (!heap_worse(c, &h[i], &h[par]))
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

static int call_batch_fn(sl__part *p, int i, vec *v) {
  if (!v->len)
    return SL_OK;
  const sl__step *s = p->steps[i].step;
  sl_batch b = {v->p, v->len, 0};
  int rc = ((sl_map_batch_fn)s->fn)(&b, &p->em[i + 1], s->arg);
  v->len = 0;
  if (rc)
    return sl__callback_result(p, i, rc);
  return SL_OK;
}

void **sl__step_reducer_acc(void *state) {
  return &((step_state *)state)->acc;
}

int sl__step_push(sl__part *p, int i, const sl_record *rec) {
  if (p->steps[i].win)
    return sl__window_push(p, i, rec);
  return sl__step_push_inner(p, i, rec);
}

int sl__step_push_inner(sl__part *p, int i, const sl_record *rec) {
  sl__stepinst *si = &p->steps[i];
  const sl__step *s = si->step;
  step_state *ss = si->state;
  int created, rc;
  if (is_sort(s))
    return sl__sort_step_push(p, i, rec);
  if (s->kind == SL__STEP_JOIN)
    return sl__join_push(p, i, rec);
  switch (s->kind) {
  case SL__STEP_REDUCE_BY_KEY:
  case SL__STEP_COMBINER: {
    uint64_t h = sl__hash_bytes(rec->key, rec->key_len);
    void *st = sl__htab_upsert(&ss->t, rec->key, rec->key_len, h, &created);
    if (!st)
      SL__FAIL(SL_ERR_NOMEM,
               "out of memory in step '%s': its state holds %zu keys on this partition (a "
               "reduce keeps one state per key: use more ranks or partitions)",
               s->name, ss->t.count);
    if (created && (rc = s->agg.init(st, s->agg.arg)))
      return user_fail(p, i, rc);
    if (s->agg.kind == SL_AGG_COUNT && !(s->kind == SL__STEP_REDUCE_BY_KEY && s->merge_input)) {
      ++*(uint64_t *)st; /* the hot path of every word count: no call (slot values are 8-aligned) */
      rc = SL_OK;
    } else if (s->kind == SL__STEP_REDUCE_BY_KEY && s->merge_input) {
      if (rec->value_len != s->agg.state_size)
        SL__FAIL(SL_ERR_INTERNAL, "combined state of %zu bytes, expected %zu", rec->value_len,
                 s->agg.state_size);
      rc = s->agg.merge(st, rec->value, s->agg.arg);
    } else {
      rc = s->agg.update(st, rec, s->agg.arg);
    }
    if (rc)
      return user_fail(p, i, rc);
    if (created) {
      account(p, ss, sl__htab_bytes(&ss->t));
      if (s->kind == SL__STEP_COMBINER && ss->state_bytes > p->run->ctx->opt.combiner_bytes)
        p->flush_step = i;
    }
    return SL_OK;
  }
  case SL__STEP_GROUP: {
    uint64_t h = sl__hash_bytes(rec->key, rec->key_len);
    vec *v = sl__htab_upsert(&ss->t, rec->key, rec->key_len, h, &created);
    if (!v)
      SL__FAIL(SL_ERR_NOMEM,
               "out of memory in step '%s': its groups hold %zu keys on this partition (a "
               "group keeps its values in memory: use more ranks or partitions)",
               s->name, ss->t.count);
    uint32_t n = (uint32_t)rec->value_len;
    size_t before = v->cap;
    SL__CHECK(vec_append(v, &n, 4));
    SL__CHECK(vec_append(v, rec->value, rec->value_len));
    if (created || v->cap != before)
      account(p, ss, ss->state_bytes + (v->cap - before) + (created ? 64 : 0));
    return SL_OK;
  }
  case SL__STEP_UNIQ: {
    sl_record k = *rec;
    const void *kp;
    size_t kl;
    if (s->fn) {
      sl_record out = {0};
      rc = ((sl_uniq_by_fn)s->fn)(rec, &out, s->arg);
      if (rc)
        return sl__callback_failed(p, i, rc);
      kp = out.key;
      kl = out.key_len;
    } else { /* whole record: key length, key, value */
      size_t need = 4 + rec->key_len + rec->value_len;
      if (ss->tmp_cap < need) {
        char *n = realloc(ss->tmp, need);
        SL__CHECK_ALLOC(n);
        ss->tmp = n;
        ss->tmp_cap = need;
      }
      uint32_t kl32 = (uint32_t)rec->key_len;
      memcpy(ss->tmp, &kl32, 4);
      if (rec->key_len)
        memcpy(ss->tmp + 4, rec->key, rec->key_len);
      if (rec->value_len)
        memcpy(ss->tmp + 4 + rec->key_len, rec->value, rec->value_len);
      kp = ss->tmp;
      kl = need;
    }
    if (!sl__htab_upsert(&ss->t, kp, kl, sl__hash_bytes(kp, kl), &created))
      SL__FAIL(SL_ERR_NOMEM, "out of memory in step '%s'", s->name);
    if (!created)
      return SL_OK;
    account(p, ss, sl__htab_bytes(&ss->t));
    return sl__push(p, i + 1, &k);
  }
  case SL__STEP_REDUCE:
    if (s->fold_emit) { /* emit_and_reduce */
      rc = s->fold_emit(ss->acc, rec, &p->em[i + 1], s->reducer.arg);
      if (rc)
        return sl__callback_result(p, i, rc);
      return SL_OK;
    }
    rc = s->reducer.fold(ss->acc, rec, s->reducer.arg);
    if (rc)
      return sl__callback_failed(p, i, rc);
    return SL_OK;
  case SL__STEP_TOPK: {
    if (s->k == 0)
      return SL_OK;
    cmpctx c = {(sl_cmp_fn)s->fn, s->arg};
    if (ss->heap_n < s->k) {
      SL__CHECK(dup_rec(rec, &ss->heap[ss->heap_n]));
      account(p, ss, ss->state_bytes + rec->key_len + rec->value_len + sizeof(sl_record));
      sift_up(ss->heap, ss->heap_n++, &c);
    } else if (heap_worse(&c, &ss->heap[0], rec)) {
      account(p, ss,
              ss->state_bytes - ss->heap[0].key_len - ss->heap[0].value_len + rec->key_len +
                  rec->value_len);
      free_rec(&ss->heap[0]);
      SL__CHECK(dup_rec(rec, &ss->heap[0]));
      sift_down(ss->heap, ss->heap_n, 0, &c);
    }
    return SL_OK;
  }
  case SL__STEP_MAP_BATCH: {
    /* Fed record by record (by a source): gather a batch first. */
    size_t cap = (size_t)p->run->ctx->opt.batch_bytes,
           need = sl__rec_size(rec->key_len, rec->value_len);
    if (ss->batch.len + need > cap)
      SL__CHECK(call_batch_fn(p, i, &ss->batch));
    char hdr[SL__REC_HDR];
    uint32_t k32 = (uint32_t)rec->key_len, v32 = (uint32_t)rec->value_len;
    memcpy(hdr, &k32, 4);
    memcpy(hdr + 4, &v32, 4);
    SL__CHECK(vec_append(&ss->batch, hdr, SL__REC_HDR));
    SL__CHECK(vec_append(&ss->batch, rec->key, rec->key_len));
    SL__CHECK(vec_append(&ss->batch, rec->value, rec->value_len));
    if (ss->batch.len >= cap)
      SL__CHECK(call_batch_fn(p, i, &ss->batch));
    return SL_OK;
  }
  default:
    SL__FAIL(SL_ERR_INTERNAL, "step kind %d has no push", s->kind);
  }
}

/* Emit one drained record to step i+1, or into the capture buffer (emit mode state). */
static int drain_emit(sl__part *p, int i, int capture, const void *k, size_t kl, const void *v,
                      size_t vl) {
  sl_emitter em = {p, capture ? SL__CAPTURE : i + 1};
  return sl_emit(&em, k, kl, v, vl);
}

int sl__step_drain(sl__part *p, int i, int *finished) {
  if (p->steps[i].win)
    return sl__window_drain(p, i, finished);
  return sl__step_drain_inner(p, i, finished);
}

int sl__step_drain_inner(sl__part *p, int i, int *finished) {
  sl__stepinst *si = &p->steps[i];
  const sl__step *s = si->step;
  step_state *ss = si->state;
  *finished = 0;
  if (is_sort(s))
    return sl__sort_step_drain(p, i, finished);
  if (s->kind == SL__STEP_JOIN)
    return sl__join_drain(p, i, finished);
  if (s->emit_mode == SL_EMIT_NOTHING && !si->force_capture && s->kind != SL__STEP_COMBINER &&
      s->kind != SL__STEP_MAP_BATCH && s->kind != SL__STEP_UNIQ) {
    *finished = 1;
    return SL_OK;
  }
  int capture =
      (s->emit_mode == SL_EMIT_STATE || si->force_capture) && s->kind != SL__STEP_COMBINER;
  if (capture && !si->draining)
    p->capture_len = 0;
  si->draining = 1;
  switch (s->kind) {
  case SL__STEP_UNIQ:
    break; /* emits as it goes */
  case SL__STEP_MAP_BATCH:
    SL__CHECK(call_batch_fn(p, i, &ss->batch));
    break;
  case SL__STEP_REDUCE_BY_KEY:
  case SL__STEP_COMBINER:
  case SL__STEP_GROUP:
    for (; ss->cursor < ss->t.cap; ss->cursor++) {
      const sl__hslot *sl = sl__htab_slot(&ss->t, ss->cursor);
      if (!sl->hash)
        continue;
      if (!capture && sl__part_drain_blocked(p, i))
        return SL_OK;
      void *val = sl__htab_val(&ss->t, ss->cursor);
      if (s->kind == SL__STEP_GROUP) {
        vec *v = val;
        SL__CHECK(drain_emit(p, i, capture, sl__hslot_key(sl), sl->klen, v->p, v->len));
      } else if (s->kind == SL__STEP_COMBINER) {
        SL__CHECK(drain_emit(p, i, 0, sl__hslot_key(sl), sl->klen, val, s->agg.state_size));
      } else {
        size_t len = s->agg.state_size;
        memcpy(ss->tmp, val, s->agg.state_size);
        int rc = s->agg.finalize(ss->tmp, &len, s->agg.arg);
        if (rc)
          return user_fail(p, i, rc);
        if (len > s->agg.state_size)
          SL__FAIL(SL_ERR_CALLBACK,
                   "step '%s': finalize returned %zu bytes, more than the state (%zu)", s->name,
                   len, s->agg.state_size);
        SL__CHECK(drain_emit(p, i, capture, sl__hslot_key(sl), sl->klen, ss->tmp, len));
      }
    }
    if (s->kind == SL__STEP_COMBINER) { /* flushed: start afresh */
      sl__htab_clear(&ss->t);
      account(p, ss, sl__htab_bytes(&ss->t));
    }
    break;
  case SL__STEP_REDUCE: {
    sl_emitter em = {p, capture ? SL__CAPTURE : i + 1};
    int rc = s->reducer.emit(ss->acc, &em, s->reducer.arg);
    if (rc)
      return sl__callback_result(p, i, rc);
    break;
  }
  case SL__STEP_TOPK: {
    cmpctx c = {(sl_cmp_fn)s->fn, s->arg};
    if (!ss->sorted) {
      qsort_r(ss->heap, ss->heap_n, sizeof *ss->heap, qcmp, &c);
      ss->sorted = 1;
    }
    for (; ss->cursor < ss->heap_n; ss->cursor++) {
      if (!capture && sl__part_drain_blocked(p, i))
        return SL_OK;
      const sl_record *r = &ss->heap[ss->cursor];
      SL__CHECK(drain_emit(p, i, capture, r->key, r->key_len, r->value, r->value_len));
    }
    /* A window's trigger may keep the accumulator: make it a heap again. */
    for (size_t k = ss->heap_n / 2; k-- > 0;)
      sift_down(ss->heap, ss->heap_n, k, &c);
    ss->sorted = 0;
    break;
  }
  default:
    break;
  }
  ss->cursor = 0;
  si->draining = 0;
  *finished = 1;
  if (capture && !si->force_capture) {
    sl_record one = {NULL, 0, p->capture, p->capture_len};
    SL__CHECK(sl__push(p, i + 1, &one));
  }
  return SL_OK;
}
