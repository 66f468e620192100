/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: a compact hash table from byte-string keys to fixed-size values, the
 * state of reduce_by_key and its combiner (a word count's 10 million words must fit).
 * Two parts:
 *   - the index: 8-byte slots, open addressing with linear probing (load <= 0.7), each a
 *     32-bit tag of the key's hash and the number of its entry; eight slots a cache line,
 *     so a probe rarely leaves the line it started in;
 *   - the entries, dense in insertion order, in chunks (no copy when they grow): 16 key
 *     bytes, then the value. A key of up to 15 bytes lives there (zero-padded, its length
 *     in byte 15); a longer one in an arena (byte 15 is 0xFF, bytes 0-7 its address,
 *     8-11 its length).
 * With 8-byte values an entry is 24 bytes, and a key costs 24 + 8 / load <= 47 bytes plus
 * the bytes of a key longer than 15 (sl__htab's one-slot layout costs 40 / load: 57..114).
 * Growing rebuilds only the index, from the tags (no key is hashed again). */
#ifndef SLUICE_CTAB_H
#define SLUICE_CTAB_H

#include <stddef.h>
#include <stdint.h>

#include "algo/htab.h"

#define SL__CTAB_INLINE 15
#define SL__CTAB_CHUNK_BITS 10 /* entries per chunk: 1024 */

typedef struct sl__ctab {
  uint64_t *idx;     /* cap slots: 0 empty, else tag << 32 | (entry + 1) */
  size_t cap, count; /* cap is a power of two, at most 2^32 */
  unsigned bits;     /* log2(cap) */
  uint64_t seed;     /* each table mixes the hash with its own seed (see sl__htab) */
  size_t vsize, stride;
  char **chunks;
  size_t nchunks, chunks_cap;
  sl__arena_chunk *arena;
  size_t arena_bytes;
  uint64_t probes; /* slots walked past the home slot by upserts */
} sl__ctab;

int sl__ctab_init(sl__ctab *t, size_t vsize);
void sl__ctab_free(sl__ctab *t);
/* Empty, and back to the initial size. */
void sl__ctab_clear(sl__ctab *t);
/* Find or insert key (hash: sl__hash_bytes of it); *created = 1 if inserted (value
 * zeroed). NULL: out of memory, or more than 2^32 - 1 keys. */
void *sl__ctab_upsert(sl__ctab *t, const void *key, size_t klen, uint64_t hash, int *created);
/* The value of key, or NULL. */
void *sl__ctab_find(const sl__ctab *t, const void *key, size_t klen, uint64_t hash);
/* Memory held: the index, the entries' chunks and the arena. */
size_t sl__ctab_bytes(const sl__ctab *t);

static inline uint64_t sl__ctab_mix(const sl__ctab *t, uint64_t hash) {
  return (hash ^ t->seed) * UINT64_C(0x9E3779B97F4A7C15);
}
static inline char *sl__ctab_entry(const sl__ctab *t, size_t e) {
  return t->chunks[e >> SL__CTAB_CHUNK_BITS] +
         (e & (((size_t)1 << SL__CTAB_CHUNK_BITS) - 1)) * t->stride;
}
/* Entry e (0 .. count - 1, insertion order): its key, length and value. */
static inline const char *sl__ctab_key(const sl__ctab *t, size_t e, size_t *klen) {
  const unsigned char *k = (const unsigned char *)sl__ctab_entry(t, e);
  if (k[15] != 0xFF) {
    *klen = k[15];
    return (const char *)k;
  }
  uint32_t n;
  const char *p;
  __builtin_memcpy(&p, k, sizeof p);
  __builtin_memcpy(&n, k + 8, 4);
  *klen = n;
  return p;
}
static inline void *sl__ctab_val(const sl__ctab *t, size_t e) {
  return sl__ctab_entry(t, e) + 16;
}
/* Prefetch the index slot where a key of this hash starts its probe. */
static inline void sl__ctab_prefetch(const sl__ctab *t, uint64_t hash) {
  __builtin_prefetch(&t->idx[sl__ctab_mix(t, hash) >> (64 - t->bits)]);
}
/* Later (the slot is in cache by then): prefetch the entry its probe will look at first. */
static inline void sl__ctab_prefetch_entry(const sl__ctab *t, uint64_t hash) {
  uint64_t m = sl__ctab_mix(t, hash);
  uint32_t tag = (uint32_t)(m >> 32);
  size_t mask = t->cap - 1, i = (size_t)(m >> (64 - t->bits));
  for (int n = 0; n < 4; n++, i = (i + 1) & mask) {
    uint64_t s = t->idx[i];
    if (!s)
      return;
    if ((uint32_t)(s >> 32) == tag) {
      __builtin_prefetch(sl__ctab_entry(t, (size_t)(uint32_t)s - 1));
      return;
    }
  }
}

#endif
