/* SPDX-License-Identifier: BSD-3-Clause */
/* What the operators' checkpoint hooks share (engine/checkpoint.c, docs/checkpoint.md): a
 * hash table's entries as (key length, key, value) in chunks of about 1 MiB, and back. */
#include <string.h>

#include "algo/htab.h"
#include "ops/ops.h"

#define CHUNK (1u << 20)

int sl__ckpt_put_htab(struct sl__ckpt_writer *w, const sl__part *p, int i, const sl__htab *t,
                      size_t from, size_t vsize) {
  sl__bytes b = {0};
  int rc = SL_OK;
  for (size_t c = from; rc == SL_OK && c < t->cap; c++) {
    const sl__hslot *sl = sl__htab_slot(t, c);
    if (!sl->hash)
      continue;
    uint32_t kl = sl->klen;
    rc = sl__bytes_append(&b, &kl, sizeof kl);
    if (rc == SL_OK)
      rc = sl__bytes_append(&b, sl__hslot_key(sl), kl);
    if (rc == SL_OK && vsize)
      rc = sl__bytes_append(&b, sl__htab_val(t, c), vsize);
    if (rc == SL_OK && b.len >= CHUNK) {
      rc = sl__ckpt_put_step(w, p, i, b.p, b.len);
      b.len = 0;
    }
  }
  if (rc == SL_OK && b.len)
    rc = sl__ckpt_put_step(w, p, i, b.p, b.len);
  sl__bytes_free(&b);
  return rc;
}

int sl__ckpt_restore_htab(sl__part *p, int i, sl__htab *t, size_t vsize, const void *data,
                          size_t len) {
  const char *c = data, *end = c + len;
  while ((size_t)(end - c) >= sizeof(uint32_t)) {
    uint32_t kl;
    memcpy(&kl, c, sizeof kl);
    if ((size_t)(end - c) - sizeof kl < (size_t)kl + vsize)
      break;
    c += sizeof kl;
    int created;
    void *v = sl__htab_upsert(t, c, kl, sl__hash_bytes(c, kl), &created);
    if (!v)
      SL__FAIL(SL_ERR_NOMEM, "out of memory restoring step '%s' from a checkpoint (%zu keys)",
               p->steps[i].step->name, t->count);
    if (vsize)
      memcpy(v, c + kl, vsize);
    c += kl + vsize;
  }
  if (c != end)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: step '%s': a damaged entry", p->steps[i].step->name);
  return SL_OK;
}
