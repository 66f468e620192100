/* SPDX-License-Identifier: BSD-3-Clause */
/* sl_emit_words: many keyed records in one call. Keys are hashed here, once, and handed in
 * groups to the receiving step's push_keys hook (engine/op.h) when it has one; otherwise
 * each record is pushed as sl_emit would push it. */
#include "engine/op.h"

#define GROUP 256

int sl_emit_words(sl_emitter *out, const sl_text_word *keys, size_t n, const void *value,
                  size_t value_len) {
  if (!out || (n && !keys))
    return SL_ERR_INVAL;
  if (value_len && !value)
    SL__FAIL(SL_ERR_INVAL, "sl_emit_words: NULL value with a nonzero length");
  sl__part *p = out->part;
  int i = out->step;
  const sl__op_vt *op = i >= 0 && i < p->nsteps ? p->steps[i].op : NULL;
  if (!op || !op->push_keys) {
    for (size_t j = 0; j < n; j++) {
      int rc = sl_emit(out, keys[j].ptr, keys[j].len, value, value_len);
      if (rc)
        return rc;
    }
    return SL_OK;
  }
  sl__keyref g[GROUP];
  for (size_t j = 0; j < n;) {
    size_t m = n - j < GROUP ? n - j : GROUP;
    for (size_t k = 0; k < m; k++) {
      const sl_text_word *w = &keys[j + k];
      if (__builtin_expect((w->len && !w->ptr) || w->len > UINT32_MAX, 0))
        SL__FAIL(SL_ERR_INVAL,
                 "sl_emit_words: key %zu is NULL with a nonzero length, or over "
                 "4 GiB",
                 j + k);
      g[k].key = w->ptr;
      g[k].len = w->len;
      g[k].hash = sl__hash_bytes(w->ptr, w->len);
    }
    p->emitted += m;
    int rc = op->push_keys(p, i, g, m, value, value_len);
    if (rc != SL_OK) {
      if (!p->emit_err)
        p->emit_err = rc;
      return rc;
    }
    j += m;
  }
  return SL_OK;
}
