/* SPDX-License-Identifier: BSD-3-Clause */
/* group_by_key: every value of a key, in arrival order, emitted as one record per key whose
 * value is the values as [u32 length][bytes] (Flow.group_by_key). */
#include <stdlib.h>
#include <string.h>

#include "algo/htab.h"
#include "ops/ops.h"

typedef struct groups {
  sl__htab t; /* key -> sl__bytes of its values */
  size_t cursor;
  uint64_t state_bytes;
} groups;

static int group_create(sl__part *p, int i) {
  groups *g = calloc(1, sizeof *g);
  SL__CHECK_ALLOC(g);
  p->steps[i].state = g;
  if (sl__htab_init(&g->t, sizeof(sl__bytes)))
    SL__FAIL(SL_ERR_NOMEM, "out of memory");
  return SL_OK;
}

static void group_destroy(sl__part *p, int i) {
  groups *g = p->steps[i].state;
  if (!g)
    return;
  for (size_t k = 0; k < g->t.cap; k++)
    if (sl__htab_slot(&g->t, k)->hash)
      sl__bytes_free(sl__htab_val(&g->t, k));
  sl__htab_free(&g->t);
  sl__state_add(p->run, -(int64_t)g->state_bytes);
  free(g);
  p->steps[i].state = NULL;
}

static int group_push(sl__part *p, int i, const sl_record *rec) {
  groups *g = p->steps[i].state;
  int created;
  uint64_t h = sl__hash_bytes(rec->key, rec->key_len);
  sl__bytes *v = sl__htab_upsert(&g->t, rec->key, rec->key_len, h, &created);
  if (!v)
    SL__FAIL(SL_ERR_NOMEM,
             "out of memory in step '%s': its groups hold %zu keys on this partition (a "
             "group keeps its values in memory: use more ranks or partitions)",
             p->steps[i].step->name, g->t.count);
  uint32_t n = (uint32_t)rec->value_len;
  size_t before = v->cap;
  SL__CHECK(sl__bytes_append(v, &n, 4));
  SL__CHECK(sl__bytes_append(v, rec->value, rec->value_len));
  if (created || v->cap != before)
    sl__op_account(p, &g->state_bytes, g->state_bytes + (v->cap - before) + (created ? 64 : 0));
  return SL_OK;
}

static int group_drain(sl__part *p, int i, int *finished) {
  groups *g = p->steps[i].state;
  int capture;
  if (sl__reducer_drain_begin(p, i, &capture, finished))
    return SL_OK;
  for (; g->cursor < g->t.cap; g->cursor++) {
    const sl__hslot *sl = sl__htab_slot(&g->t, g->cursor);
    if (!sl->hash)
      continue;
    if (!capture && sl__part_drain_blocked(p, i))
      return SL_OK;
    const sl__bytes *v = sl__htab_val(&g->t, g->cursor);
    SL__CHECK(sl__drain_emit(p, i, capture, sl__hslot_key(sl), sl->klen, v->p, v->len));
  }
  g->cursor = 0;
  return sl__reducer_drain_end(p, i, capture, finished);
}

/* Checkpoints: every group not emitted yet as one record (key, its values as collected). */
typedef struct group_iter {
  const groups *g;
  size_t k;
} group_iter;

static int group_next(void *arg, sl_record *r) {
  group_iter *it = arg;
  for (; it->k < it->g->t.cap; it->k++) {
    const sl__hslot *sl = sl__htab_slot(&it->g->t, it->k);
    if (!sl->hash)
      continue;
    const sl__bytes *v = sl__htab_val(&it->g->t, it->k++);
    *r = (sl_record){sl__hslot_key(sl), sl->klen, v->p, v->len};
    return 1;
  }
  return 0;
}

static int group_snapshot(sl__part *p, int i, struct sl__ckpt_writer *w) {
  groups *g = p->steps[i].state;
  group_iter it = {g, g->cursor};
  return sl__ckpt_put_records(w, p, i, group_next, &it);
}

static int group_restore(sl__part *p, int i, const void *data, size_t len) {
  groups *g = p->steps[i].state;
  size_t pos = 0;
  sl_record r;
  int more, created;
  while ((more = sl__batch_next(data, len, &pos, &r)) > 0) {
    sl__bytes *v =
        sl__htab_upsert(&g->t, r.key, r.key_len, sl__hash_bytes(r.key, r.key_len), &created);
    if (!v)
      SL__FAIL(SL_ERR_NOMEM, "out of memory restoring step '%s' from a checkpoint",
               p->steps[i].step->name);
    SL__CHECK(sl__bytes_append(v, r.value, r.value_len));
    sl__op_account(p, &g->state_bytes, g->state_bytes + r.value_len + 64);
  }
  if (more < 0 || pos != len)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: step '%s': a damaged group", p->steps[i].step->name);
  g->cursor = 0;
  return SL_OK;
}

const sl__op_vt sl__op_group_by_key = {.name = "group_by_key",
                                       .snapshot = group_snapshot,
                                       .restore = group_restore,
                                       .phase = "grouping",
                                       .flags = SL__OPF_REDUCER | SL__OPF_WRAPPABLE |
                                                SL__OPF_CKPT_PORTABLE,
                                       .create = group_create,
                                       .destroy = group_destroy,
                                       .push = group_push,
                                       .drain = group_drain};

int sl_flow_group_by_key(sl_flow *flow) {
  SL__CHECK(sl__check_reducer_slot(flow, "sl_flow_group_by_key"));
  return sl__ops_add_step(flow, SL__STEP_GROUP, NULL, NULL, NULL);
}
