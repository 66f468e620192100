/* SPDX-License-Identifier: BSD-3-Clause */
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE */
#include "algo/htab.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA_CHUNK (1u << 20)
#define INITIAL_CAP 1024u

static unsigned shift_for(size_t cap) {
  unsigned bits = 0;
  while (((size_t)1 << bits) < cap)
    bits++;
  return 64u - bits;
}

/* A different seed for every table of the process, the same sequence in every run (outputs
 * in table order stay reproducible): splitmix64 of a counter. */
static uint64_t next_seed(void) {
  static uint64_t counter;
  uint64_t z = (counter += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* n zeroed slots. A large table goes on huge pages where the kernel allows it: with 4 KiB
 * pages nearly every lookup of a big table (a word count's reducer) also misses the TLB,
 * and the page walk stalls even the prefetch of the slot (measured: most of the time of a
 * word count at 1 rank, as in tests/bench/wc_tuned.c). */
char *sl__table_alloc(size_t n, size_t stride) {
  const size_t huge = (size_t)2 << 20;
  if (n > SIZE_MAX / stride)
    return NULL;
  size_t bytes = n * stride;
  if (bytes < huge)
    return calloc(n, stride);
  void *p = NULL;
  if (posix_memalign(&p, huge, bytes) != 0)
    return NULL;
#ifdef MADV_HUGEPAGE
  (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
  memset(p, 0, bytes);
  return p;
}

int sl__htab_init(sl__htab *t, size_t vsize) {
  memset(t, 0, sizeof *t);
  t->vsize = vsize ? vsize : 1;
  t->stride = sizeof(sl__hslot) + ((t->vsize + 7) & ~(size_t)7);
  t->cap = INITIAL_CAP;
  t->shift = shift_for(t->cap);
  t->seed = next_seed();
  t->mem = sl__table_alloc(t->cap, t->stride);
  return t->mem ? 0 : -1;
}

void sl__arena_free(sl__arena_chunk **head, size_t *bytes) {
  sl__arena_chunk *c = *head;
  while (c) {
    sl__arena_chunk *n = c->next;
    free(c);
    c = n;
  }
  *head = NULL;
  *bytes = 0;
}

static void arena_free(sl__htab *t) {
  sl__arena_free(&t->arena, &t->arena_bytes);
}

void sl__htab_free(sl__htab *t) {
  free(t->mem);
  arena_free(t);
  memset(t, 0, sizeof *t);
}

void sl__htab_clear(sl__htab *t) {
  /* Back to the initial size: a cleared table must also be a small one, or a combiner
   * flushed for being over budget would stay over budget. */
  arena_free(t);
  if (t->cap > INITIAL_CAP) {
    char *m = calloc(INITIAL_CAP, t->stride);
    if (m) {
      free(t->mem);
      t->mem = m;
      t->cap = INITIAL_CAP;
      t->shift = shift_for(t->cap);
    }
  }
  memset(t->mem, 0, t->cap * t->stride);
  t->count = 0;
}

size_t sl__htab_bytes(const sl__htab *t) {
  return t->cap * t->stride + t->arena_bytes;
}

const char *sl__arena_copy(sl__arena_chunk **head, size_t *bytes, const void *key, size_t klen) {
  if (klen == 0)
    return "";
  sl__arena_chunk *c = *head;
  if (!c || c->cap - c->used < klen) {
    /* chunks grow with the table (4 KiB .. 1 MiB) so a small table stays small */
    size_t cap = *bytes < 4096 ? 4096 : (*bytes < ARENA_CHUNK ? *bytes : ARENA_CHUNK);
    if (cap < klen)
      cap = klen;
    c = malloc(sizeof *c + cap);
    if (!c)
      return NULL;
    c->cap = cap;
    c->used = 0;
    c->next = *head;
    *head = c;
    *bytes += sizeof *c + cap;
  }
  char *p = c->data + c->used;
  memcpy(p, key, klen);
  c->used += klen;
  return p;
}

static const char *arena_copy(sl__htab *t, const void *key, size_t klen) {
  return sl__arena_copy(&t->arena, &t->arena_bytes, key, klen);
}

static int grow(sl__htab *t) {
  size_t ncap = t->cap * 2, mask = ncap - 1;
  char *nm = sl__table_alloc(ncap, t->stride);
  if (!nm)
    return -1;
  sl__htab n = *t; /* the same seed, the new size */
  n.cap = ncap;
  n.shift = shift_for(ncap);
  for (size_t i = 0; i < t->cap; i++) {
    const sl__hslot *s = sl__htab_slot(t, i);
    if (!s->hash)
      continue;
    size_t j = sl__htab_index(&n, s->hash);
    while (((sl__hslot *)(nm + j * t->stride))->hash)
      j = (j + 1) & mask;
    memcpy(nm + j * t->stride, s, t->stride);
  }
  free(t->mem);
  t->mem = nm;
  t->cap = ncap;
  t->shift = n.shift;
  return 0;
}

/* Short keys (the common case: words, ids) compare inline instead of calling memcmp. */
static inline int key_eq(const char *a, const char *b, size_t n) {
  /* overlapping fixed-size loads: no call, no read past either key */
  if (n >= 8) {
    if (n > 16)
      return memcmp(a, b, n) == 0;
    uint64_t x1, y1, x2, y2;
    memcpy(&x1, a, 8);
    memcpy(&y1, b, 8);
    memcpy(&x2, a + n - 8, 8);
    memcpy(&y2, b + n - 8, 8);
    return x1 == y1 && x2 == y2;
  }
  if (n >= 4) {
    uint32_t x1, y1, x2, y2;
    memcpy(&x1, a, 4);
    memcpy(&y1, b, 4);
    memcpy(&x2, a + n - 4, 4);
    memcpy(&y2, b + n - 4, 4);
    return x1 == y1 && x2 == y2;
  }
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i])
      return 0;
  return 1;
}

void *sl__htab_find(const sl__htab *t, const void *key, size_t klen, uint64_t hash) {
  hash |= 1;
  size_t mask = t->cap - 1, i = sl__htab_index(t, hash);
  for (;;) {
    sl__hslot *s = sl__htab_slot(t, i);
    if (!s->hash)
      return NULL;
    if (s->hash == hash && s->klen == klen && key_eq(sl__hslot_key(s), key, klen))
      return (char *)s + sizeof *s;
    i = (i + 1) & mask;
  }
}

void *sl__htab_upsert(sl__htab *t, const void *key, size_t klen, uint64_t hash, int *created) {
  hash |= 1; /* 0 marks an empty slot */
  size_t mask = t->cap - 1, i = sl__htab_index(t, hash);
  for (;;) {
    sl__hslot *s = sl__htab_slot(t, i);
    if (!s->hash)
      break;
    if (s->hash == hash && s->klen == klen && key_eq(sl__hslot_key(s), key, klen)) {
      *created = 0;
      return (char *)s + sizeof *s;
    }
    i = (i + 1) & mask;
    t->probes++;
  }
  if ((t->count + 1) * 10 > t->cap * 7) {
    if (grow(t) != 0)
      return NULL;
    return sl__htab_upsert(t, key, klen, hash, created);
  }
  sl__hslot *s = sl__htab_slot(t, i);
  if (klen <= SL__HTAB_INLINE) {
    if (klen)
      memcpy(s->k.inl, key, klen);
  } else {
    const char *k = arena_copy(t, key, klen);
    if (!k)
      return NULL;
    s->k.ptr = k;
  }
  s->hash = hash;
  s->klen = (uint32_t)klen;
  t->count++;
  *created = 1;
  void *v = (char *)s + sizeof *s;
  memset(v, 0, t->vsize);
  return v;
}
