/* SPDX-License-Identifier: BSD-3-Clause */
/* What the operators' checkpoint hooks share (engine/checkpoint.c, docs/checkpoint.md): a
 * table's entries as (key length, key, value) in chunks of about 1 MiB, and back. Both
 * tables: htab (uniq) and the compact ctab (reduce_by_key and its combiner). */
#include <string.h>

#include "algo/ctab.h"
#include "algo/htab.h"
#include "ops/ops.h"

#define CHUNK (1u << 20)

/* Append one entry to b; a full chunk goes out. */
static int put_entry(struct sl__ckpt_writer *w, const sl__part *p, int i, sl__bytes *b,
                     const char *key, size_t klen, const void *val, size_t vsize) {
  uint32_t kl = (uint32_t)klen;
  SL__CHECK(sl__bytes_append(b, &kl, sizeof kl));
  SL__CHECK(sl__bytes_append(b, key, klen));
  if (vsize)
    SL__CHECK(sl__bytes_append(b, val, vsize));
  if (b->len < CHUNK)
    return SL_OK;
  int rc = sl__ckpt_put_step(w, p, i, b->p, b->len);
  b->len = 0;
  return rc;
}

static int put_rest(struct sl__ckpt_writer *w, const sl__part *p, int i, sl__bytes *b, int rc) {
  if (rc == SL_OK && b->len)
    rc = sl__ckpt_put_step(w, p, i, b->p, b->len);
  sl__bytes_free(b);
  return rc;
}

int sl__ckpt_put_records(struct sl__ckpt_writer *w, const sl__part *p, int i,
                         int (*next)(void *arg, sl_record *r), void *arg) {
  sl__bytes b = {0};
  sl_record r;
  int rc = SL_OK;
  while (rc == SL_OK && next(arg, &r)) {
    rc = sl__bytes_put_record(&b, &r);
    if (rc == SL_OK && b.len >= CHUNK) {
      rc = sl__ckpt_put_step(w, p, i, b.p, b.len);
      b.len = 0;
    }
  }
  return put_rest(w, p, i, &b, rc);
}

int sl__ckpt_put_htab(struct sl__ckpt_writer *w, const sl__part *p, int i, const sl__htab *t,
                      size_t from, size_t vsize) {
  sl__bytes b = {0};
  int rc = SL_OK;
  for (size_t c = from; rc == SL_OK && c < t->cap; c++) {
    const sl__hslot *sl = sl__htab_slot(t, c);
    if (sl->hash)
      rc = put_entry(w, p, i, &b, sl__hslot_key(sl), sl->klen, sl__htab_val(t, c), vsize);
  }
  return put_rest(w, p, i, &b, rc);
}

int sl__ckpt_put_ctab(struct sl__ckpt_writer *w, const sl__part *p, int i, const sl__ctab *t,
                      size_t from, size_t vsize) {
  sl__bytes b = {0};
  int rc = SL_OK;
  for (size_t e = from; rc == SL_OK && e < t->count; e++) {
    size_t klen;
    const char *key = sl__ctab_key(t, e, &klen);
    rc = put_entry(w, p, i, &b, key, klen, sl__ctab_val(t, e), vsize);
  }
  return put_rest(w, p, i, &b, rc);
}

/* A table as restore sees it: htab (uniq) or the compact ctab (reduce_by_key and its
 * combiner). */
typedef struct table_ops {
  void *(*upsert)(void *t, const void *k, size_t kl, uint64_t h, int *created);
  size_t (*count)(const void *t);
  void (*prefetch)(const void *t, uint64_t h); /* NULL: none */
} table_ops;

/* A chunk's entries into the table, in groups: each group's keys parsed and hashed, their
 * index slots prefetched, then inserted in order (the table keeps the saved insertion
 * order); the misses of a group overlap instead of being waited for one key at a time (a
 * word count's resume restores millions). */
enum { GROUP = 16 };
static int restore(sl__part *p, int i, void *t, size_t vsize, const void *data, size_t len,
                   const table_ops *ops) {
  const char *c = data, *end = c + len;
  struct {
    const char *key;
    uint32_t kl;
    uint64_t hash;
  } g[GROUP];
  for (;;) {
    size_t m = 0;
    while (m < GROUP && (size_t)(end - c) >= sizeof(uint32_t)) {
      uint32_t kl;
      memcpy(&kl, c, sizeof kl);
      if ((size_t)(end - c) - sizeof kl < (size_t)kl + vsize)
        break;
      c += sizeof kl;
      g[m].key = c;
      g[m].kl = kl;
      g[m].hash = sl__hash_bytes(c, kl);
      if (ops->prefetch)
        ops->prefetch(t, g[m].hash);
      m++;
      c += kl + vsize;
    }
    if (!m)
      break;
    for (size_t x = 0; x < m; x++) {
      int created;
      void *v = ops->upsert(t, g[x].key, g[x].kl, g[x].hash, &created);
      if (!v)
        SL__FAIL(SL_ERR_NOMEM, "out of memory restoring step '%s' from a checkpoint (%zu keys)",
                 p->steps[i].step->name, ops->count(t));
      if (vsize)
        memcpy(v, g[x].key + g[x].kl, vsize);
    }
  }
  if (c != end)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: step '%s': a damaged entry", p->steps[i].step->name);
  return SL_OK;
}

static void *h_upsert(void *t, const void *k, size_t kl, uint64_t h, int *created) {
  return sl__htab_upsert(t, k, kl, h, created);
}
static size_t h_count(const void *t) {
  return ((const sl__htab *)t)->count;
}
static void *c_upsert(void *t, const void *k, size_t kl, uint64_t h, int *created) {
  return sl__ctab_upsert(t, k, kl, h, created);
}
static size_t c_count(const void *t) {
  return ((const sl__ctab *)t)->count;
}
static void c_prefetch(const void *t, uint64_t h) {
  sl__ctab_prefetch(t, h);
}

int sl__ckpt_restore_htab(sl__part *p, int i, sl__htab *t, size_t vsize, const void *data,
                          size_t len) {
  static const table_ops ops = {h_upsert, h_count, NULL};
  return restore(p, i, t, vsize, data, len, &ops);
}

int sl__ckpt_restore_ctab(sl__part *p, int i, sl__ctab *t, size_t vsize, const void *data,
                          size_t len) {
  static const table_ops ops = {c_upsert, c_count, c_prefetch};
  return restore(p, i, t, vsize, data, len, &ops);
}
