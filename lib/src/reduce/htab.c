#include "reduce/htab.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK (1u << 20)

int sl__htab_init(sl__htab *t, size_t vsize) {
  memset(t, 0, sizeof *t);
  t->vsize = vsize ? vsize : 1;
  t->cap = 1024;
  t->slots = calloc(t->cap, sizeof *t->slots);
  t->vals = calloc(t->cap, t->vsize);
  return t->slots && t->vals ? 0 : -1;
}

static void arena_free(sl__htab *t) {
  sl__arena_chunk *c = t->arena;
  while (c) {
    sl__arena_chunk *n = c->next;
    free(c);
    c = n;
  }
  t->arena = NULL;
  t->arena_bytes = 0;
}

void sl__htab_free(sl__htab *t) {
  free(t->slots);
  free(t->vals);
  arena_free(t);
  memset(t, 0, sizeof *t);
}

void sl__htab_clear(sl__htab *t) {
  memset(t->slots, 0, t->cap * sizeof *t->slots);
  t->count = 0;
  arena_free(t);
}

size_t sl__htab_bytes(const sl__htab *t) {
  return t->cap * (sizeof(sl__hslot) + t->vsize) + t->arena_bytes;
}

static const char *arena_copy(sl__htab *t, const void *key, size_t klen) {
  if (klen == 0) return "";
  sl__arena_chunk *c = t->arena;
  if (!c || c->cap - c->used < klen) {
    size_t cap = klen > ARENA_CHUNK ? klen : ARENA_CHUNK;
    c = malloc(sizeof *c + cap);
    if (!c) return NULL;
    c->cap = cap;
    c->used = 0;
    c->next = t->arena;
    t->arena = c;
    t->arena_bytes += sizeof *c + cap;
  }
  char *p = c->data + c->used;
  memcpy(p, key, klen);
  c->used += klen;
  return p;
}

static int grow(sl__htab *t) {
  size_t ncap = t->cap * 2;
  sl__hslot *ns = calloc(ncap, sizeof *ns);
  char *nv = malloc(ncap * t->vsize);
  if (!ns || !nv) {
    free(ns);
    free(nv);
    return -1;
  }
  size_t mask = ncap - 1;
  for (size_t i = 0; i < t->cap; i++) {
    if (!t->slots[i].hash) continue;
    size_t j = t->slots[i].hash & mask;
    while (ns[j].hash) j = (j + 1) & mask;
    ns[j] = t->slots[i];
    memcpy(nv + j * t->vsize, t->vals + i * t->vsize, t->vsize);
  }
  free(t->slots);
  free(t->vals);
  t->slots = ns;
  t->vals = nv;
  t->cap = ncap;
  return 0;
}

void *sl__htab_upsert(sl__htab *t, const void *key, size_t klen, uint64_t hash, int *created) {
  hash |= 1;
  size_t mask = t->cap - 1, i = hash & mask;
  for (;;) {
    sl__hslot *s = &t->slots[i];
    if (!s->hash) break;
    if (s->hash == hash && s->klen == klen && memcmp(s->key, key, klen) == 0) {
      *created = 0;
      return t->vals + i * t->vsize;
    }
    i = (i + 1) & mask;
  }
  if ((t->count + 1) * 10 > t->cap * 7) {
    if (grow(t) != 0) return NULL;
    return sl__htab_upsert(t, key, klen, hash, created);
  }
  const char *k = arena_copy(t, key, klen);
  if (!k) return NULL;
  sl__hslot *s = &t->slots[i];
  s->hash = hash;
  s->key = k;
  s->klen = (uint32_t)klen;
  t->count++;
  *created = 1;
  void *v = t->vals + i * t->vsize;
  memset(v, 0, t->vsize);
  return v;
}
