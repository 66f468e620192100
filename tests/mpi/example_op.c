/* SPDX-License-Identifier: BSD-3-Clause */
/* The example operator of docs/architecture.md, "Adding an operator": max_by_key keeps,
 * for each key, the largest value (an 8-byte unsigned integer) of its partition, and emits
 * one record per key once its input has ended. A reducer: put it after sl_flow_partition,
 * so that every record of a key reaches the same partition. */
#include <stdlib.h>
#include <string.h>

#include "algo/htab.h"
#include "example_op.h"
#include "ops/ops.h"

typedef struct maxes {
  sl__htab t;           /* key -> uint64_t */
  size_t cursor;        /* where the drain goes on */
  uint64_t state_bytes; /* accounted (reduce state) */
} maxes;

static int max_create(sl__part *p, int i) {
  maxes *m = calloc(1, sizeof *m);
  SL__CHECK_ALLOC(m);
  p->steps[i].state = m;
  if (sl__htab_init(&m->t, sizeof(uint64_t)))
    SL__FAIL(SL_ERR_NOMEM, "out of memory");
  return SL_OK;
}

static void max_destroy(sl__part *p, int i) {
  maxes *m = p->steps[i].state;
  if (m) {
    sl__htab_free(&m->t);
    sl__state_add(p->run, -(int64_t)m->state_bytes);
  }
  free(m);
  p->steps[i].state = NULL;
}

static int max_push(sl__part *p, int i, const sl_record *rec) {
  maxes *m = p->steps[i].state;
  uint64_t v, h = sl__hash_bytes(rec->key, rec->key_len);
  int created;
  if (rec->value_len != 8)
    SL__FAIL(SL_ERR_TYPE, "max_by_key: expected an 8-byte value, found %zu bytes", rec->value_len);
  memcpy(&v, rec->value, 8);
  uint64_t *cur = sl__htab_upsert(&m->t, rec->key, rec->key_len, h, &created);
  if (!cur)
    SL__FAIL(SL_ERR_NOMEM, "max_by_key: out of memory with %zu keys", m->t.count);
  if (created || v > *cur)
    *cur = v;
  if (created)
    sl__op_account(p, &m->state_bytes, sl__htab_bytes(&m->t));
  return SL_OK;
}

/* A reducer honours sl_flow_emit: nothing, each key (default), or the state as one record
 * (captured: sl__reducer_drain_begin/_end do the bookkeeping). */
static int max_drain(sl__part *p, int i, int *finished) {
  maxes *m = p->steps[i].state;
  int capture;
  if (sl__reducer_drain_begin(p, i, &capture, finished))
    return SL_OK; /* SL_EMIT_NOTHING */
  for (; m->cursor < m->t.cap; m->cursor++) {
    const sl__hslot *slot = sl__htab_slot(&m->t, m->cursor);
    if (!slot->hash)
      continue;
    if (!capture && sl__part_drain_blocked(p, i))
      return SL_OK; /* the output is full: the engine calls again, we go on from cursor */
    const void *v = sl__htab_val(&m->t, m->cursor);
    SL__CHECK(sl__drain_emit(p, i, capture, sl__hslot_key(slot), slot->klen, v, 8));
  }
  m->cursor = 0;
  return sl__reducer_drain_end(p, i, capture, finished);
}

static const sl__op_vt max_by_key = {.name = "max_by_key",
                                     .flags = SL__OPF_REDUCER,
                                     .create = max_create,
                                     .destroy = max_destroy,
                                     .push = max_push,
                                     .drain = max_drain};

int example_flow_max_by_key(sl_flow *flow) {
  SL__CHECK(sl__check_reducer_slot(flow, "example_flow_max_by_key"));
  return sl__ops_add_extern(flow, &max_by_key, NULL, NULL, NULL);
}
