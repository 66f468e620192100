/* SPDX-License-Identifier: BSD-3-Clause */
#include "algo/ctab.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_BITS 10u
#define CHUNK ((size_t)1 << SL__CTAB_CHUNK_BITS)

/* A different seed for every table of the process, the same sequence in every run. */
static uint64_t next_seed(void) {
  static uint64_t counter = UINT64_C(0x5851F42D4C957F2D);
  uint64_t z = (counter += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

int sl__ctab_init(sl__ctab *t, size_t vsize) {
  memset(t, 0, sizeof *t);
  t->vsize = vsize ? vsize : 1;
  t->stride = 16 + ((t->vsize + 7) & ~(size_t)7);
  t->bits = INITIAL_BITS;
  t->cap = (size_t)1 << t->bits;
  t->seed = next_seed();
  t->idx = (uint64_t *)sl__table_alloc(t->cap, sizeof *t->idx);
  return t->idx ? 0 : -1;
}

static void entries_free(sl__ctab *t) {
  for (size_t c = 0; c < t->nchunks; c++)
    free(t->chunks[c]);
  free(t->chunks);
  t->chunks = NULL;
  t->nchunks = t->chunks_cap = 0;
  sl__arena_free(&t->arena, &t->arena_bytes);
}

void sl__ctab_free(sl__ctab *t) {
  free(t->idx);
  entries_free(t);
  memset(t, 0, sizeof *t);
}

void sl__ctab_clear(sl__ctab *t) {
  entries_free(t);
  if (t->bits > INITIAL_BITS) {
    uint64_t *m = (uint64_t *)sl__table_alloc((size_t)1 << INITIAL_BITS, sizeof *m);
    if (m) {
      free(t->idx);
      t->idx = m;
      t->bits = INITIAL_BITS;
      t->cap = (size_t)1 << t->bits;
    }
  }
  memset(t->idx, 0, t->cap * sizeof *t->idx);
  t->count = 0;
}

size_t sl__ctab_bytes(const sl__ctab *t) {
  return t->cap * sizeof *t->idx + t->nchunks * CHUNK * t->stride + t->arena_bytes;
}

/* The index twice as large, rebuilt from the tags: a slot's home is the top bits of its
 * tag (the top 32 bits of the mixed hash). */
static int grow(sl__ctab *t) {
  if (t->bits >= 32)
    return -1;
  unsigned nbits = t->bits + 1;
  size_t ncap = (size_t)1 << nbits, mask = ncap - 1;
  uint64_t *n = (uint64_t *)sl__table_alloc(ncap, sizeof *n);
  if (!n)
    return -1;
  for (size_t i = 0; i < t->cap; i++) {
    uint64_t s = t->idx[i];
    if (!s)
      continue;
    size_t j = (size_t)((s >> 32) >> (32 - nbits));
    while (n[j])
      j = (j + 1) & mask;
    n[j] = s;
  }
  free(t->idx);
  t->idx = n;
  t->cap = ncap;
  t->bits = nbits;
  return 0;
}

/* The 16 key bytes of an entry for a key of up to 15 bytes: zero-padded, length in byte
 * 15. Fixed-size, overlapping loads (never past the key): no call, no loop. */
static inline void inline_key(const unsigned char *p, size_t n, uint64_t *k0, uint64_t *k1) {
  uint64_t a = 0, b = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (n >= 8) {
    memcpy(&a, p, 8);
    if (n > 8) {
      memcpy(&b, p + n - 8, 8);
      b >>= 8 * (16 - n);
    }
  } else if (n >= 4) {
    uint32_t x, y;
    memcpy(&x, p, 4);
    memcpy(&y, p + n - 4, 4);
    a = x | ((uint64_t)y << (8 * (n - 4)));
  } else if (n) {
    a = (uint64_t)p[0] | ((uint64_t)p[n >> 1] << (8 * (n >> 1))) |
        ((uint64_t)p[n - 1] << (8 * (n - 1)));
  }
  b |= (uint64_t)n << 56;
#else
  unsigned char buf[16] = {0};
  memcpy(buf, p, n);
  buf[15] = (unsigned char)n;
  memcpy(&a, buf, 8);
  memcpy(&b, buf + 8, 8);
#endif
  *k0 = a;
  *k1 = b;
}

static inline int entry_eq(const char *e, const void *key, size_t klen, uint64_t k0, uint64_t k1) {
  uint64_t e0, e1;
  memcpy(&e0, e, 8);
  memcpy(&e1, e + 8, 8);
  if (klen <= SL__CTAB_INLINE)
    return e0 == k0 && e1 == k1;
  uint32_t n;
  memcpy(&n, e + 8, 4);
  if ((unsigned char)e[15] != 0xFF || n != klen)
    return 0;
  const char *p;
  memcpy(&p, e, sizeof p);
  return memcmp(p, key, klen) == 0;
}

/* The slot of key, or of the empty slot where it would go (*found: which). */
static inline size_t probe(sl__ctab *t, const void *key, size_t klen, uint64_t hash, uint64_t k0,
                           uint64_t k1, int *found) {
  uint64_t m = sl__ctab_mix(t, hash);
  uint32_t tag = (uint32_t)(m >> 32);
  size_t mask = t->cap - 1, i = (size_t)(m >> (64 - t->bits));
  for (;;) {
    uint64_t s = t->idx[i];
    if (!s) {
      *found = 0;
      return i;
    }
    if ((uint32_t)(s >> 32) == tag &&
        entry_eq(sl__ctab_entry(t, (size_t)(uint32_t)s - 1), key, klen, k0, k1)) {
      *found = 1;
      return i;
    }
    i = (i + 1) & mask;
    t->probes++;
  }
}

void *sl__ctab_find(const sl__ctab *t, const void *key, size_t klen, uint64_t hash) {
  uint64_t k0 = 0, k1 = 0;
  if (klen <= SL__CTAB_INLINE)
    inline_key(key, klen, &k0, &k1);
  int found;
  size_t i = probe((sl__ctab *)t, key, klen, hash, k0, k1, &found);
  return found ? sl__ctab_val(t, (size_t)(uint32_t)t->idx[i] - 1) : NULL;
}

void *sl__ctab_upsert(sl__ctab *t, const void *key, size_t klen, uint64_t hash, int *created) {
  uint64_t k0 = 0, k1 = 0;
  if (klen <= SL__CTAB_INLINE)
    inline_key(key, klen, &k0, &k1);
  else if (klen > UINT32_MAX)
    return NULL;
  int found;
  size_t i = probe(t, key, klen, hash, k0, k1, &found);
  if (found) {
    *created = 0;
    return sl__ctab_val(t, (size_t)(uint32_t)t->idx[i] - 1);
  }
  if ((t->count + 1) * 10 > t->cap * 7) {
    if (t->count >= UINT32_MAX - 1 || grow(t) != 0)
      return NULL;
    i = probe(t, key, klen, hash, k0, k1, &found);
  }
  size_t e = t->count;
  if ((e >> SL__CTAB_CHUNK_BITS) >= t->nchunks) { /* a new chunk */
    if (t->nchunks == t->chunks_cap) {
      size_t nc = t->chunks_cap ? 2 * t->chunks_cap : 16;
      char **c = realloc(t->chunks, nc * sizeof *c);
      if (!c)
        return NULL;
      t->chunks = c;
      t->chunks_cap = nc;
    }
    char *chunk = malloc(CHUNK * t->stride);
    if (!chunk)
      return NULL;
    t->chunks[t->nchunks++] = chunk;
  }
  char *ent = sl__ctab_entry(t, e);
  if (klen <= SL__CTAB_INLINE) {
    memcpy(ent, &k0, 8);
    memcpy(ent + 8, &k1, 8);
  } else {
    const char *p = sl__arena_copy(&t->arena, &t->arena_bytes, key, klen);
    if (!p)
      return NULL;
    uint32_t n = (uint32_t)klen;
    memset(ent, 0, 16);
    memcpy(ent, &p, sizeof p);
    memcpy(ent + 8, &n, 4);
    ent[15] = (char)0xFF;
  }
  memset(ent + 16, 0, t->stride - 16);
  uint64_t m = sl__ctab_mix(t, hash);
  t->idx[i] = (m >> 32 << 32) | (uint64_t)(e + 1);
  t->count++;
  *created = 1;
  return ent + 16;
}
