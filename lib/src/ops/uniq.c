/* SPDX-License-Identifier: BSD-3-Clause */
/* uniq and uniq_by: pass on the first record of each key (or of each whole record), drop
 * the others (Flow.uniq, Flow.uniq_by). Emits as records come; holds the keys seen. */
#include <stdlib.h>
#include <string.h>

#include "algo/htab.h"
#include "ops/ops.h"

typedef struct seen {
  sl__htab t;
  sl__bytes key; /* a whole record's key: [u32 key length][key][value] */
  uint64_t state_bytes;
} seen;

static int uniq_create(sl__part *p, int i) {
  seen *u = calloc(1, sizeof *u);
  SL__CHECK_ALLOC(u);
  p->steps[i].state = u;
  if (sl__htab_init(&u->t, 1))
    SL__FAIL(SL_ERR_NOMEM, "out of memory");
  return SL_OK;
}

static void uniq_destroy(sl__part *p, int i) {
  seen *u = p->steps[i].state;
  if (!u)
    return;
  sl__htab_free(&u->t);
  sl__bytes_free(&u->key);
  sl__state_add(p->run, -(int64_t)u->state_bytes);
  free(u);
  p->steps[i].state = NULL;
}

static int uniq_push(sl__part *p, int i, const sl_record *rec) {
  seen *u = p->steps[i].state;
  const sl__step *s = p->steps[i].step;
  const void *kp;
  size_t kl;
  if (s->fn) {
    sl_record out = {0};
    int rc = ((sl_uniq_by_fn)s->fn)(rec, &out, s->arg);
    if (rc)
      return sl__callback_failed(p, i, rc);
    kp = out.key;
    kl = out.key_len;
  } else {
    uint32_t kl32 = (uint32_t)rec->key_len;
    u->key.len = 0;
    SL__CHECK(sl__bytes_append(&u->key, &kl32, 4));
    SL__CHECK(sl__bytes_append(&u->key, rec->key, rec->key_len));
    SL__CHECK(sl__bytes_append(&u->key, rec->value, rec->value_len));
    kp = u->key.p;
    kl = u->key.len;
  }
  int created;
  if (!sl__htab_upsert(&u->t, kp, kl, sl__hash_bytes(kp, kl), &created))
    SL__FAIL(SL_ERR_NOMEM, "out of memory in step '%s'", s->name);
  if (!created)
    return SL_OK;
  sl__op_account(p, &u->state_bytes, sl__htab_bytes(&u->t));
  return sl__push(p, i + 1, rec);
}

/* Checkpoints: the keys seen, as (length, key) entries in chunks of about 1 MiB. */
static int uniq_snapshot(sl__part *p, int i, struct sl__ckpt_writer *w) {
  seen *u = p->steps[i].state;
  return sl__ckpt_put_htab(w, p, i, &u->t, 0, 0);
}

static int uniq_restore(sl__part *p, int i, const void *data, size_t len) {
  seen *u = p->steps[i].state;
  SL__CHECK(sl__ckpt_restore_htab(p, i, &u->t, 0, data, len));
  sl__op_account(p, &u->state_bytes, sl__htab_bytes(&u->t));
  return SL_OK;
}

const sl__op_vt sl__op_uniq = {.name = "uniq",
                               .flags = SL__OPF_CKPT_PORTABLE,
                               .create = uniq_create,
                               .destroy = uniq_destroy,
                               .push = uniq_push,
                               .snapshot = uniq_snapshot,
                               .restore = uniq_restore};

int sl_flow_uniq(sl_flow *flow) {
  SL__CHECK(sl__check_open(flow, "sl_flow_uniq"));
  return sl__ops_add_step(flow, SL__STEP_UNIQ, NULL, NULL, NULL);
}

int sl_flow_uniq_by(sl_flow *flow, sl_uniq_by_fn fn, void *arg) {
  return sl__ops_add_fn(flow, SL__STEP_UNIQ, (void *)fn, arg, "sl_flow_uniq_by");
}
