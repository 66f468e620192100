/* SPDX-License-Identifier: BSD-3-Clause */
/* The join step (Flow's bounded_join / window_join): a symmetric hash join of the stage's
 * two inputs, slot 0 the left flow and slot 1 the right. Each side keeps its records by key;
 * a record that arrives is matched at once against the other side's records of the same
 * key, and every pair is emitted then. When the window ends ("done"), the outer modes emit
 * the records of their side(s) that never matched, with the other side missing. */
#include <stdlib.h>
#include <string.h>

#include "algo/htab.h"
#include "ops/ops.h"

/* A side's records of one key: entries [u32 len][u8 matched][bytes]. */
typedef sl__bytes jvec;

typedef struct jstate {
  sl__htab side[2];
  int phase; /* drain: 0 left, 1 right, 2 done */
  size_t slot, off;
  uint64_t state_bytes;
} jstate;

enum { ENTRY_HDR = 5 };

static int join_create(sl__part *p, int i) {
  jstate *js = calloc(1, sizeof *js);
  SL__CHECK_ALLOC(js);
  p->steps[i].state = js;
  if (sl__htab_init(&js->side[0], sizeof(jvec)) || sl__htab_init(&js->side[1], sizeof(jvec)))
    SL__FAIL(SL_ERR_NOMEM, "out of memory");
  return SL_OK;
}

static void join_destroy(sl__part *p, int i) {
  jstate *js = p->steps[i].state;
  if (!js)
    return;
  for (int s = 0; s < 2; s++) {
    for (size_t k = 0; k < js->side[s].cap; k++)
      if (sl__htab_slot(&js->side[s], k)->hash)
        sl__bytes_free(sl__htab_val(&js->side[s], k));
    sl__htab_free(&js->side[s]);
  }
  sl__state_add(p->run, -(int64_t)js->state_bytes);
  free(js);
  p->steps[i].state = NULL;
}

/* Emit one joined record: the user's function, or the default encoding. */
static int emit_pair(sl__part *p, int i, sl_emitter *em, const sl_record *l, const sl_record *r) {
  const sl__step *s = p->steps[i].step;
  if (s->fn) {
    int rc = ((sl_join_fn)s->fn)(l, r, em, s->arg);
    return rc ? sl__callback_result(p, i, rc) : SL_OK;
  }
  const sl_record *k = l ? l : r;
  size_t ll = l ? l->value_len : 0, rl = r ? r->value_len : 0;
  size_t n = 8 + ll + rl;
  char stack[512], *buf = n <= sizeof stack ? stack : malloc(n);
  SL__CHECK_ALLOC(buf);
  uint32_t l32 = l ? (uint32_t)ll : UINT32_MAX, r32 = r ? (uint32_t)rl : UINT32_MAX;
  memcpy(buf, &l32, 4);
  if (ll)
    memcpy(buf + 4, l->value, ll);
  memcpy(buf + 4 + ll, &r32, 4);
  if (rl)
    memcpy(buf + 8 + ll, r->value, rl);
  int rc = sl_emit(em, k->key, k->key_len, buf, n);
  if (buf != stack)
    free(buf);
  return rc;
}

static int jvec_add(jvec *v, const void *val, size_t len, size_t *at) {
  size_t need = ENTRY_HDR + len;
  SL__CHECK(sl__bytes_reserve(v, need, 0));
  uint32_t l32 = (uint32_t)len;
  *at = v->len;
  memcpy(v->p + v->len, &l32, 4);
  v->p[v->len + 4] = 0;
  if (len)
    memcpy(v->p + v->len + ENTRY_HDR, val, len);
  v->len += need;
  return SL_OK;
}

static size_t entry_len(const jvec *v, size_t off) {
  uint32_t l32;
  memcpy(&l32, v->p + off, 4);
  return l32;
}

static int join_push(sl__part *p, int i, const sl_record *rec) {
  jstate *js = p->steps[i].state;
  int side = p->cur_slot == 1 ? 1 : 0;
  uint64_t h = sl__hash_bytes(rec->key, rec->key_len);
  int created;
  jvec *mine = sl__htab_upsert(&js->side[side], rec->key, rec->key_len, h, &created);
  if (!mine)
    SL__FAIL(SL_ERR_NOMEM, "out of memory in step '%s'", p->steps[i].step->name);
  size_t before = mine->cap, at = 0;
  SL__CHECK(jvec_add(mine, rec->value, rec->value_len, &at));
  sl__op_account(p, &js->state_bytes, js->state_bytes + (mine->cap - before) + (created ? 64 : 0));
  jvec *other = sl__htab_find(&js->side[1 - side], rec->key, rec->key_len, h);
  if (!other || !other->len)
    return SL_OK;
  mine->p[at + 4] = 1;
  for (size_t off = 0; off < other->len;) {
    size_t len = entry_len(other, off);
    other->p[off + 4] = 1;
    sl_record o = {rec->key, rec->key_len, other->p + off + ENTRY_HDR, len};
    SL__CHECK(side == 0 ? emit_pair(p, i, &p->em[i + 1], rec, &o)
                        : emit_pair(p, i, &p->em[i + 1], &o, rec));
    off += ENTRY_HDR + len;
  }
  return SL_OK;
}

static int join_drain(sl__part *p, int i, int *finished) {
  sl__stepinst *si = &p->steps[i];
  jstate *js = si->state;
  sl_join_mode mode = si->step->join_mode;
  int capture = si->force_capture;
  sl_emitter em = {p, capture ? SL__CAPTURE : i + 1};
  *finished = 0;
  if (si->keep_open || mode == SL_JOIN_INNER)
    js->phase = 2; /* unmatched records may still match: nothing to emit */
  if (capture && !si->draining)
    p->capture.len = 0;
  si->draining = 1;
  for (; js->phase < 2; js->phase++, js->slot = 0, js->off = 0) {
    int side = js->phase;
    if ((side == 0 && mode == SL_JOIN_RIGHT) || (side == 1 && mode == SL_JOIN_LEFT))
      continue;
    sl__htab *t = &js->side[side];
    for (; js->slot < t->cap; js->slot++, js->off = 0) {
      const sl__hslot *sl = sl__htab_slot(t, js->slot);
      if (!sl->hash)
        continue;
      jvec *v = sl__htab_val(t, js->slot);
      while (js->off < v->len) {
        size_t len = entry_len(v, js->off);
        int matched = v->p[js->off + 4];
        if (!matched) {
          if (!capture && sl__part_drain_blocked(p, i))
            return SL_OK;
          sl_record r = {sl__hslot_key(sl), sl->klen, v->p + js->off + ENTRY_HDR, len};
          SL__CHECK(side == 0 ? emit_pair(p, i, &em, &r, NULL) : emit_pair(p, i, &em, NULL, &r));
        }
        js->off += ENTRY_HDR + len;
      }
    }
  }
  js->phase = 0;
  js->slot = js->off = 0;
  si->draining = 0;
  *finished = 1;
  return SL_OK;
}

/* ---- checkpoints: each side's records by key, as records (key, [u8 side][its entries]);
 * in the middle of the outer drain, the entries it emitted already are saved as matched,
 * so a resumed drain, starting afresh, emits only the rest. ---- */
typedef struct join_iter {
  const jstate *js;
  int draining;
  int side;
  size_t slot;
  sl__bytes val;
  int rc;
} join_iter;

static int join_next(void *arg, sl_record *r) {
  join_iter *it = arg;
  const jstate *js = it->js;
  for (; it->side < 2; it->side++, it->slot = 0) {
    const sl__htab *t = &js->side[it->side];
    for (; it->slot < t->cap; it->slot++) {
      const sl__hslot *sl = sl__htab_slot(t, it->slot);
      if (!sl->hash)
        continue;
      const jvec *v = sl__htab_val(t, it->slot);
      it->val.len = 0;
      unsigned char side = (unsigned char)it->side;
      if (sl__bytes_append(&it->val, &side, 1) != SL_OK ||
          sl__bytes_append(&it->val, v->p, v->len) != SL_OK) {
        it->rc = SL_ERR_NOMEM;
        return 0;
      }
      if (it->draining) { /* mark what the drain emitted already */
        int before_slot = it->side < js->phase || (it->side == js->phase && it->slot < js->slot);
        for (size_t off = 0; off < v->len; off += ENTRY_HDR + entry_len(v, off))
          if (before_slot || (it->side == js->phase && it->slot == js->slot && off < js->off))
            it->val.p[1 + off + 4] = 1;
      }
      *r = (sl_record){sl__hslot_key(sl), sl->klen, it->val.p, it->val.len};
      it->slot++;
      return 1;
    }
  }
  return 0;
}

static int join_snapshot(sl__part *p, int i, struct sl__ckpt_writer *w) {
  join_iter it = {.js = p->steps[i].state, .draining = p->steps[i].draining};
  int rc = sl__ckpt_put_records(w, p, i, join_next, &it);
  sl__bytes_free(&it.val);
  return rc != SL_OK ? rc : it.rc;
}

static int join_restore(sl__part *p, int i, const void *data, size_t len) {
  jstate *js = p->steps[i].state;
  size_t pos = 0;
  sl_record r;
  int more, created;
  while ((more = sl__batch_next(data, len, &pos, &r)) > 0) {
    const unsigned char *v = r.value;
    if (r.value_len < 1 || v[0] > 1)
      break;
    jvec *mine = sl__htab_upsert(&js->side[v[0]], r.key, r.key_len,
                                 sl__hash_bytes(r.key, r.key_len), &created);
    if (!mine)
      SL__FAIL(SL_ERR_NOMEM, "out of memory restoring step '%s' from a checkpoint",
               p->steps[i].step->name);
    size_t before = mine->cap;
    SL__CHECK(sl__bytes_append(mine, v + 1, r.value_len - 1));
    sl__op_account(p, &js->state_bytes,
                   js->state_bytes + (mine->cap - before) + (created ? 64 : 0));
  }
  if (more != 0 || pos != len)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: step '%s': a damaged join entry", p->steps[i].step->name);
  js->phase = 0;
  js->slot = js->off = 0;
  return SL_OK;
}

const sl__op_vt sl__op_join = {.name = "join",
                               .phase = "joining",
                               .snapshot = join_snapshot,
                               .restore = join_restore,
                               .flags = SL__OPF_WRAPPABLE,
                               .create = join_create,
                               .destroy = join_destroy,
                               .push = join_push,
                               .drain = join_drain};

int sl_flow_join(sl_flow *left, sl_flow *right, sl_join_mode mode, int partitions, sl_join_fn fn,
                 void *arg) {
  SL__CHECK(sl__check_open(left, "sl_flow_join"));
  if (mode < SL_JOIN_INNER || mode > SL_JOIN_FULL)
    return sl__builder_fail(left, sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                                                "sl_flow_join: unknown mode %d", (int)mode));
  sl_flow *r[1] = {right};
  SL__CHECK(sl_flow_merge(left, r, 1, partitions, NULL, NULL));
  sl__step *st = NULL;
  SL__CHECK(sl__ops_add_step(left, SL__STEP_JOIN, (void *)fn, arg, &st));
  st->join_mode = mode;
  return SL_OK;
}
