/* SPDX-License-Identifier: BSD-3-Clause */
/* reduce_by_key: one aggregator state per key (Flow.reduce by key, as in a word count),
 * in two halves when partial states can be merged: the combiner at the end of the stage
 * before (map side: it folds records into states, flushes them downstream when it holds
 * more than --sl-combiner-bytes, and starts afresh) and the reducer, which then merges
 * states instead of folding records. */
#include <stdlib.h>
#include <string.h>

#include "algo/ctab.h"
#include "ops/ops.h"

typedef struct keyed {
  sl__ctab t;
  size_t cursor; /* drain position in the table */
  char *tmp;     /* finalize scratch (state_size) */
  uint64_t state_bytes;
  /* A combiner's destinations on this rank: their reducer's partition, whose table takes
   * the keys routed there directly (instead of this table, a flush and a second hashing).
   * Looked up at the first push (the receiving stage's partitions exist by then). */
  int linked;       /* looked up */
  int single;       /* one destination (SL__BOUND_SINGLE), else by key hash */
  int ndest;        /* receiving partitions */
  sl__part **local; /* per destination partition: its partition here, or NULL; NULL: none */
  /* per destination partition, for keys in groups (count_keys): the partition whose table
   * takes its keys (its reducer here, else this combiner) and that table's step state; an
   * indexed load for each key, not a branch on where it goes */
  sl__part **owner;
  struct keyed **table;
} keyed;

static int keyed_create(sl__part *p, int i) {
  const sl__step *s = p->steps[i].step;
  keyed *k = calloc(1, sizeof *k);
  SL__CHECK_ALLOC(k);
  p->steps[i].state = k;
  if (sl__ctab_init(&k->t, s->agg.state_size))
    SL__FAIL(SL_ERR_NOMEM, "out of memory");
  k->tmp = malloc(s->agg.state_size);
  SL__CHECK_ALLOC(k->tmp);
  return SL_OK;
}

static void keyed_destroy(sl__part *p, int i) {
  keyed *k = p->steps[i].state;
  if (!k)
    return;
  sl__ctab_free(&k->t);
  sl__state_add(p->run, -(int64_t)k->state_bytes);
  free(k->tmp);
  free(k->local);
  free(k->owner);
  free(k->table);
  free(k);
  p->steps[i].state = NULL;
}

/* The combiner of step i finds the reducers on this rank that its records go to: the
 * first step of the receiving stage, a reduce_by_key merging combined states, not wrapped,
 * with records routed by key hash alone (or to its one partition), of a built-in
 * aggregator. */
static void combiner_link(sl__part *p, int i, keyed *k) {
  k->linked = 1;
  const sl__out *o = p->out;
  if (!o || !((o->boundary == SL__BOUND_HASH && !o->hash) || o->boundary == SL__BOUND_SINGLE))
    return;
  const sl__stage *ts = &p->run->flow->stages[o->target];
  /* built-in aggregators only: a user's update and merge are called as they always were
   * (partial states merged by the reducer), whatever the placement */
  if (p->steps[i].step->agg.kind == SL_AGG_USER || ts->wrap || ts->nsteps < 1 ||
      ts->steps[0].kind != SL__STEP_REDUCE_BY_KEY || !ts->steps[0].merge_input)
    return;
  const sl__srun *sr = &p->run->stages[o->target];
  k->local = calloc((size_t)o->ndest, sizeof *k->local);
  if (!k->local)
    return; /* no sharing: every key goes through this table */
  k->ndest = o->ndest;
  k->single = o->boundary == SL__BOUND_SINGLE;
  for (int j = 0; j < sr->nlocal; j++) {
    sl__part *q = sr->parts[j];
    if (q && q->index < o->ndest && q->nsteps > 0 && q->steps[0].op == &sl__op_reduce_by_key &&
        q->steps[0].state)
      k->local[q->index] = q;
  }
  k->owner = calloc((size_t)o->ndest, sizeof *k->owner);
  k->table = calloc((size_t)o->ndest, sizeof *k->table);
  for (int d = 0; k->owner && k->table && d < o->ndest; d++) {
    k->owner[d] = k->local[d] ? k->local[d] : p;
    k->table[d] = k->local[d] ? k->local[d]->steps[0].state : k;
  }
}

/* The partition whose step-0 table takes a key of hash h from combiner k, or NULL. */
static inline sl__part *combiner_target(const keyed *k, uint64_t h) {
  if (!k->local)
    return NULL;
  return k->local[k->single ? 0 : sl__hash_partition(h, k->ndest)];
}

/* The state of a key (hash h) in table k of step j of partition q, made and initialized with
 * step s's aggregator when new (*created). */
static inline int state_of(sl__part *q, int j, keyed *k, const sl__step *s, const char *key,
                           size_t len, uint64_t h, void **st, int *created) {
  *st = sl__ctab_upsert(&k->t, key, len, h, created);
  if (!*st)
    SL__FAIL(SL_ERR_NOMEM,
             "out of memory in step '%s': its state holds %zu keys on this partition (a "
             "reduce keeps one state per key: use more ranks or partitions)",
             s->name, k->t.count);
  int rc;
  if (*created && (rc = s->agg.init(*st, s->agg.arg)))
    return sl__reducer_failed(q, j, rc);
  return SL_OK;
}

/* Fold rec (key hash h) into table k of step j of partition q, with step s's aggregator;
 * merge: rec's value is a partial state. */
static int fold(sl__part *q, int j, keyed *k, const sl__step *s, const sl_record *rec, uint64_t h,
                int merge) {
  int created, rc;
  void *st;
  SL__CHECK(state_of(q, j, k, s, rec->key, rec->key_len, h, &st, &created));
  if (s->agg.kind == SL_AGG_COUNT && !merge) {
    ++*(uint64_t *)st; /* the hot path of every word count: no call (slot values are 8-aligned) */
    rc = SL_OK;
  } else if (merge) {
    if (rec->value_len != s->agg.state_size)
      SL__FAIL(SL_ERR_INTERNAL, "combined state of %zu bytes, expected %zu", rec->value_len,
               s->agg.state_size);
    rc = s->agg.merge(st, rec->value, s->agg.arg);
  } else {
    rc = s->agg.update(st, rec, s->agg.arg);
  }
  if (rc)
    return sl__reducer_failed(q, j, rc);
  if (created) {
    sl__op_account(q, &k->state_bytes, sl__ctab_bytes(&k->t));
    const sl__step *qs = q->steps[j].step;
    if (qs->kind == SL__STEP_COMBINER && k->state_bytes > q->run->ctx->opt.combiner_bytes)
      q->flush_step = j; /* full: drain it downstream before more input */
  }
  return SL_OK;
}

/* A record pushed alone: into this step's table. */
static int keyed_push(sl__part *p, int i, const sl_record *rec) {
  const sl__step *s = p->steps[i].step;
  return fold(p, i, p->steps[i].state, s, rec, sl__hash_bytes(rec->key, rec->key_len),
              s->kind == SL__STEP_REDUCE_BY_KEY && s->merge_input);
}

/* One of a group of keys (sl_emit_words), of hash h, into step i: a combiner's key for a
 * reducer on this rank goes straight into that reducer's table. (Records pushed alone
 * keep the combine-then-send path, and the statistics and merge calls it always had.) */
static inline int push_hashed(sl__part *p, int i, const sl_record *rec, uint64_t h) {
  keyed *k = p->steps[i].state;
  const sl__step *s = p->steps[i].step;
  sl__part *q = s->kind == SL__STEP_COMBINER ? combiner_target(k, h) : NULL;
  if (q)
    return fold(q, 0, q->steps[0].state, s, rec, h, 0);
  return fold(p, i, k, s, rec, h, s->kind == SL__STEP_REDUCE_BY_KEY && s->merge_input);
}

/* Keys in bulk (sl_emit_words), counted (SL_AGG_COUNT, records not states): each key's
 * index slot is prefetched AHEAD keys before it is counted and its entry AHEAD / 2 keys
 * before, so the cache misses of a block's words overlap instead of being waited for one
 * by one. */
#define CHUNK 256
#define AHEAD 16
static int count_keys(sl__part *p, int i, keyed *k, const sl__keyref *keys, size_t n) {
  const sl__step *s = p->steps[i].step;
  /* where each destination's keys go: the linked tables, else all into this one */
  sl__part *self_owner[1] = {p};
  keyed *self_table[1] = {k};
  int shared = k->local && k->owner && k->table;
  sl__part *const *owner = shared ? k->owner : self_owner;
  keyed *const *table = shared ? k->table : self_table;
  int single = !shared || k->single, ndest = k->ndest;
  for (size_t j0 = 0; j0 < n; j0 += CHUNK) {
    size_t m = n - j0 < CHUNK ? n - j0 : CHUNK;
    const sl__keyref *g = keys + j0;
    int dd[CHUNK]; /* each key's destination: an index into owner and table */
    for (size_t x = 0; x < m; x++)
      dd[x] = single ? 0 : sl__hash_partition(g[x].hash, ndest);
    /* two stages: the index slot AHEAD keys ahead, its entry AHEAD / 2 keys ahead */
    for (size_t x = 0; x < m && x < AHEAD; x++)
      sl__ctab_prefetch(&table[dd[x]]->t, g[x].hash);
    for (size_t x = 0; x < m && x < AHEAD / 2; x++)
      sl__ctab_prefetch_entry(&table[dd[x]]->t, g[x].hash);
    for (size_t x = 0; x < m; x++) {
      if (x + AHEAD < m)
        sl__ctab_prefetch(&table[dd[x + AHEAD]]->t, g[x + AHEAD].hash);
      if (x + AHEAD / 2 < m)
        sl__ctab_prefetch_entry(&table[dd[x + AHEAD / 2]]->t, g[x + AHEAD / 2].hash);
      keyed *kk = table[dd[x]];
      int created;
      uint64_t *st = sl__ctab_upsert(&kk->t, g[x].key, g[x].len, g[x].hash, &created);
      if (!st)
        SL__FAIL(SL_ERR_NOMEM,
                 "out of memory in step '%s': its state holds %zu keys on this partition (a "
                 "reduce keeps one state per key: use more ranks or partitions)",
                 s->name, kk->t.count);
      ++*st; /* a new state is zeroed: the count's initial value */
      if (created) {
        sl__op_account(owner[dd[x]], &kk->state_bytes, sl__ctab_bytes(&kk->t));
        if (kk == k && s->kind == SL__STEP_COMBINER &&
            k->state_bytes > p->run->ctx->opt.combiner_bytes)
          p->flush_step = i; /* full: drain it downstream before more input */
      }
    }
  }
  return SL_OK;
}

static int keyed_push_keys(sl__part *p, int i, const sl__keyref *keys, size_t n, const void *value,
                           size_t value_len) {
  keyed *k = p->steps[i].state;
  const sl__step *s = p->steps[i].step;
  if (s->kind == SL__STEP_COMBINER && !k->linked)
    combiner_link(p, i, k);
  if (s->agg.kind == SL_AGG_COUNT && !(s->kind == SL__STEP_REDUCE_BY_KEY && s->merge_input))
    return count_keys(p, i, k, keys, n);
  for (size_t j = 0; j < n; j++) {
    sl_record rec = {keys[j].key, keys[j].len, value, value_len};
    SL__CHECK(push_hashed(p, i, &rec, keys[j].hash));
  }
  return SL_OK;
}

/* One group of a batch's combined states (the reducer merging them): decoded keys with
 * their hashes, their index slots then entries prefetched, then each merged; the misses of
 * a group overlap instead of being waited for one record at a time. */
static int merge_group(sl__part *p, int i, keyed *k, const sl__keyref *g, const char *const *vals,
                       size_t m) {
  const sl__step *s = p->steps[i].step;
  for (size_t x = 0; x < m && x < AHEAD; x++)
    sl__ctab_prefetch(&k->t, g[x].hash);
  for (size_t x = 0; x < m && x < AHEAD / 2; x++)
    sl__ctab_prefetch_entry(&k->t, g[x].hash);
  for (size_t x = 0; x < m; x++) {
    if (x + AHEAD < m)
      sl__ctab_prefetch(&k->t, g[x + AHEAD].hash);
    if (x + AHEAD / 2 < m)
      sl__ctab_prefetch_entry(&k->t, g[x + AHEAD / 2].hash);
    int created, rc;
    void *st;
    SL__CHECK(state_of(p, i, k, s, g[x].key, g[x].len, g[x].hash, &st, &created));
    if (s->agg.kind == SL_AGG_COUNT) { /* a count's merge, without the call */
      uint64_t v;
      memcpy(&v, vals[x], 8);
      *(uint64_t *)st += v; /* slot values are 8-aligned */
    } else if ((rc = s->agg.merge(st, vals[x], s->agg.arg))) {
      return sl__reducer_failed(p, i, rc);
    }
    if (created)
      sl__op_account(p, &k->state_bytes, sl__ctab_bytes(&k->t));
  }
  return SL_OK;
}

/* A whole arriving batch: a reducer merging combined states takes it in groups
 * (merge_group); any other reduce_by_key folds its records one by one, as pushed. (Its
 * records never leave the step while input lasts, so nothing can block in between.) */
static int keyed_push_batch(sl__part *p, int i, const char *data, size_t len, uint32_t nrec) {
  (void)nrec;
  keyed *k = p->steps[i].state;
  const sl__step *s = p->steps[i].step;
  int merge = s->kind == SL__STEP_REDUCE_BY_KEY && s->merge_input;
  sl__keyref g[CHUNK];
  const char *vals[CHUNK];
  size_t pos = 0, m = 0;
  sl_record rec;
  int r;
  while ((r = sl__batch_next(data, len, &pos, &rec)) == 1) {
    if (!merge) {
      SL__CHECK(keyed_push(p, i, &rec));
      continue;
    }
    if (rec.value_len != s->agg.state_size)
      SL__FAIL(SL_ERR_INTERNAL, "combined state of %zu bytes, expected %zu", rec.value_len,
               s->agg.state_size);
    g[m].key = rec.key;
    g[m].len = rec.key_len;
    g[m].hash = sl__hash_bytes(rec.key, rec.key_len);
    vals[m] = rec.value;
    if (++m == CHUNK) {
      SL__CHECK(merge_group(p, i, k, g, vals, m));
      m = 0;
    }
  }
  if (r < 0)
    SL__FAIL(SL_ERR_INTERNAL, "malformed batch (sender %d)", p->cur_sender);
  return m ? merge_group(p, i, k, g, vals, m) : SL_OK;
}

static int reduce_by_key_drain(sl__part *p, int i, int *finished) {
  keyed *k = p->steps[i].state;
  const sl__step *s = p->steps[i].step;
  int capture;
  if (sl__reducer_drain_begin(p, i, &capture, finished))
    return SL_OK;
  for (; k->cursor < k->t.count; k->cursor++) {
    if (!capture && sl__part_drain_blocked(p, i))
      return SL_OK;
    size_t len = s->agg.state_size, klen;
    const char *key = sl__ctab_key(&k->t, k->cursor, &klen);
    memcpy(k->tmp, sl__ctab_val(&k->t, k->cursor), len);
    int rc = s->agg.finalize(k->tmp, &len, s->agg.arg);
    if (rc)
      return sl__reducer_failed(p, i, rc);
    if (len > s->agg.state_size)
      SL__FAIL(SL_ERR_CALLBACK, "step '%s': finalize returned %zu bytes, more than the state (%zu)",
               s->name, len, s->agg.state_size);
    SL__CHECK(sl__drain_emit(p, i, capture, key, klen, k->tmp, len));
  }
  k->cursor = 0;
  return sl__reducer_drain_end(p, i, capture, finished);
}

/* The combiner sends its partial states on (never captured: they are not results). */
static int combiner_drain(sl__part *p, int i, int *finished) {
  keyed *k = p->steps[i].state;
  const sl__step *s = p->steps[i].step;
  *finished = 0;
  for (; k->cursor < k->t.count; k->cursor++) {
    if (sl__part_drain_blocked(p, i))
      return SL_OK;
    size_t klen;
    const char *key = sl__ctab_key(&k->t, k->cursor, &klen);
    SL__CHECK(
        sl__drain_emit(p, i, 0, key, klen, sl__ctab_val(&k->t, k->cursor), s->agg.state_size));
  }
  sl__ctab_clear(&k->t); /* flushed: start afresh */
  sl__op_account(p, &k->state_bytes, sl__ctab_bytes(&k->t));
  k->cursor = 0;
  *finished = 1;
  return SL_OK;
}

/* Checkpoints: every (key, state) not emitted yet (from the drain's cursor on). */
static int keyed_snapshot(sl__part *p, int i, struct sl__ckpt_writer *w) {
  keyed *k = p->steps[i].state;
  return sl__ckpt_put_ctab(w, p, i, &k->t, k->cursor, p->steps[i].step->agg.state_size);
}

static int keyed_restore(sl__part *p, int i, const void *data, size_t len) {
  keyed *k = p->steps[i].state;
  SL__CHECK(sl__ckpt_restore_ctab(p, i, &k->t, p->steps[i].step->agg.state_size, data, len));
  k->cursor = 0;
  sl__op_account(p, &k->state_bytes, sl__ctab_bytes(&k->t));
  return SL_OK;
}

const sl__op_vt sl__op_reduce_by_key = {.name = "reduce_by_key",
                                        .snapshot = keyed_snapshot,
                                        .restore = keyed_restore,
                                        .phase = "reducing",
                                        .flags = SL__OPF_REDUCER | SL__OPF_WRAPPABLE |
                                                 SL__OPF_CKPT_PORTABLE,
                                        .create = keyed_create,
                                        .destroy = keyed_destroy,
                                        .push = keyed_push,
                                        .push_keys = keyed_push_keys,
                                        .push_batch = keyed_push_batch,
                                        .drain = reduce_by_key_drain};

const sl__op_vt sl__op_combiner = {.name = "combiner",
                                   .snapshot = keyed_snapshot,
                                   .restore = keyed_restore,
                                   .phase = "reducing",
                                   .flags = SL__OPF_CKPT_PORTABLE,
                                   .create = keyed_create,
                                   .destroy = keyed_destroy,
                                   .push = keyed_push,
                                   .push_keys = keyed_push_keys,
                                   .drain = combiner_drain};

int sl_flow_reduce_by_key(sl_flow *flow, const sl_aggregator *agg) {
  SL__CHECK(sl__check_reducer_slot(flow, "sl_flow_reduce_by_key"));
  if (!agg)
    return sl__builder_fail(flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_reduce_by_key: NULL aggregator"));
  sl_aggregator a = *agg;
  if (a.kind != SL_AGG_USER) {
    a = sl_aggregator_builtin(agg->kind);
  } else if (!a.init || !a.update || !a.finalize || a.state_size == 0) {
    return sl__builder_fail(
        flow, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                            "sl_flow_reduce_by_key: a user aggregator needs state_size, "
                            "init, update and finalize"));
  }
  sl__stage *s = sl__flow_last_stage(flow);
  /* Combine map-side when it cannot change the result: the reducer is the first step of a
   * stage whose records are routed by key alone, and partial states can be merged. */
  int combine = a.merge && s->nsteps == 0 && s->index > 0 &&
                ((s->boundary == SL__BOUND_HASH && !s->hash) || s->boundary == SL__BOUND_SINGLE);
  /* The combiner goes at the end of every stage feeding this one (several after a merge);
   * if such a stage has a reducer after which steps follow, combining is still right (it
   * sees its output). A wrapped reducer (windows) must see records one by one: no
   * combiner. */
  if (s->wrap)
    combine = 0;
  for (int j = 0; combine && j < s->ninputs; j++) {
    sl__step *cst = NULL;
    SL__CHECK(sl__ops_add_step_to(flow, &flow->stages[s->inputs[j]], SL__STEP_COMBINER, NULL, a.arg,
                                  &cst));
    cst->agg = a;
  }
  sl__step *st = NULL;
  SL__CHECK(sl__ops_add_step(flow, SL__STEP_REDUCE_BY_KEY, NULL, a.arg, &st));
  st->agg = a;
  st->merge_input = combine;
  return SL_OK;
}
