/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: an open-addressing hash table from byte-string keys to fixed-size
 * values, the state behind group_by_key, uniq and join (reduce_by_key and its combiner use
 * the compact algo/ctab.h). Keys live
 * in the slot when short, else in an arena; each slot holds the full hash and the value
 * inline, so a lookup of a short key touches one slot and nothing else. */
#ifndef SLUICE_HTAB_H
#define SLUICE_HTAB_H

#include <stddef.h>
#include <stdint.h>

#define SL__HTAB_INLINE 16

typedef struct sl__hslot {
  uint64_t hash; /* 0: empty (stored hashes have bit 0 set) */
  uint32_t klen;
  uint32_t pad;
  /* Keys of up to 16 bytes (most words and ids) live in the slot, so a lookup compares
   * them without touching another cache line; longer ones live in the arena. */
  union {
    char inl[SL__HTAB_INLINE];
    const char *ptr;
  } k;
  /* the value follows, vsize bytes rounded up to 8 */
} sl__hslot;

static inline const char *sl__hslot_key(const sl__hslot *s) {
  return s->klen <= SL__HTAB_INLINE ? s->k.inl : s->k.ptr;
}

typedef struct sl__arena_chunk {
  struct sl__arena_chunk *next;
  size_t used, cap;
  char data[];
} sl__arena_chunk;

/* Key bytes in chunks (*head, *bytes: their total), shared with algo/ctab.c: a copy of
 * key, or NULL when out of memory ("" for klen 0). */
const char *sl__arena_copy(sl__arena_chunk **head, size_t *bytes, const void *key, size_t klen);
void sl__arena_free(sl__arena_chunk **head, size_t *bytes);
/* n zeroed elements of `stride` bytes (free()), on huge pages when large. NULL: no memory. */
char *sl__table_alloc(size_t n, size_t stride);

typedef struct sl__htab {
  char *mem; /* cap slots of `stride` bytes */
  size_t vsize, stride;
  size_t cap, count; /* cap is a power of two */
  /* Each table places keys by its own mix of the hash (sl__htab_index): a table filled in
   * another table's slot order (a combiner's flush into a reducer, with the same hashes)
   * would otherwise pile keys into one run of slots and probe quadratically. */
  uint64_t seed;
  unsigned shift;  /* 64 - log2(cap) */
  uint64_t probes; /* slots walked past the home slot by upserts (tests watch it) */
  sl__arena_chunk *arena;
  size_t arena_bytes;
} sl__htab;

int sl__htab_init(sl__htab *t, size_t vsize);
void sl__htab_free(sl__htab *t);
void sl__htab_clear(sl__htab *t);
/* Find or insert key; *created = 1 if inserted (value zeroed). NULL: out of memory. */
void *sl__htab_upsert(sl__htab *t, const void *key, size_t klen, uint64_t hash, int *created);
/* The value of key, or NULL if absent. */
void *sl__htab_find(const sl__htab *t, const void *key, size_t klen, uint64_t hash);
/* Memory held by the table: slots, values and key bytes. */
size_t sl__htab_bytes(const sl__htab *t);
/* The home slot of a stored hash: the top bits of (hash ^ seed) times a 64-bit odd constant
 * (Fibonacci hashing), so every bit of the hash and the table's seed take part. */
static inline size_t sl__htab_index(const sl__htab *t, uint64_t hash) {
  return (size_t)(((hash ^ t->seed) * UINT64_C(0x9E3779B97F4A7C15)) >> t->shift);
}
static inline sl__hslot *sl__htab_slot(const sl__htab *t, size_t i) {
  return (sl__hslot *)(t->mem + i * t->stride);
}
static inline void *sl__htab_val(const sl__htab *t, size_t i) {
  return t->mem + i * t->stride + sizeof(sl__hslot);
}

#endif
