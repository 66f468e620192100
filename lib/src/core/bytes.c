/* SPDX-License-Identifier: BSD-3-Clause */
/* The growable byte buffer: reduce states, the sort's held records, line buffers, capture
 * buffers and collections all grow through it. */
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "core/core.h"

int sl__bytes_reserve(sl__bytes *b, size_t more, size_t soft_max) {
  if (b->cap - b->len >= more)
    return SL_OK;
  if (more > SIZE_MAX / 2 - b->len)
    return sl__error_nomem(__FILE__, __LINE__, "a buffer", UINT64_MAX, NULL);
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->len < more)
    cap *= 2;
  /* do not double past a budget's share when less is enough */
  if (soft_max && cap > soft_max && b->len + more <= soft_max)
    cap = soft_max;
  char *n = realloc(b->p, cap);
  SL__CHECK_ALLOC_FOR(n, "a buffer", cap, NULL);
  b->p = n;
  b->cap = cap;
  return SL_OK;
}

int sl__bytes_append(sl__bytes *b, const void *p, size_t n) {
  SL__CHECK(sl__bytes_reserve(b, n, 0));
  if (n)
    memcpy(b->p + b->len, p, n);
  b->len += n;
  return SL_OK;
}

int sl_state_write(sl_state_out *out, const void *data, size_t len) {
  if (!out || (!data && len))
    SL__FAIL(SL_ERR_INVAL, "sl_state_write: NULL output or data");
  return sl__bytes_append(out->b, data, len);
}

int sl__bytes_put_record(sl__bytes *b, const sl_record *r) {
  SL__CHECK(sl__bytes_reserve(b, sl__rec_size(r->key_len, r->value_len), 0));
  sl__batch_append(b->p, b->cap, &b->len, r->key, r->key_len, r->value, r->value_len);
  return SL_OK;
}

void sl__bytes_free(sl__bytes *b) {
  free(b->p);
  *b = (sl__bytes){0};
}
