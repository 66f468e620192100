/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the open-addressing hash table behind reduce_by_key, the combiner,
 * group_by_key and uniq (algo/htab.c), against a naive oracle. */
#include <stdio.h>
#include <stdlib.h>

#include "core/batch.h"
#include "algo/htab.h"
#include "unit.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  return sl_test_xorshift(&rng_state);
}

/* ---- the oracle: separate chaining with its own hash (FNV-1a), no cleverness ---- */
typedef struct okey {
  char *key;
  size_t klen;
  uint64_t count; /* how many upserts */
  uint64_t sum;   /* sum of the values added */
  int seen;       /* visited by the table iteration */
  struct okey *next;
} okey;

typedef struct oracle {
  okey **b;
  size_t nb, n;
} oracle;

static uint64_t fnv(const void *p, size_t n) {
  const unsigned char *c = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ c[i]) * 1099511628211ull;
  return h;
}

static void oracle_init(oracle *o) {
  o->nb = 1 << 17;
  o->n = 0;
  o->b = calloc(o->nb, sizeof *o->b);
  CU_ASSERT_FATAL(o->b != NULL);
}

static okey *oracle_find(oracle *o, const void *k, size_t kl, int insert, int *created) {
  okey **head = &o->b[fnv(k, kl) & (o->nb - 1)];
  for (okey *e = *head; e; e = e->next)
    if (e->klen == kl && (kl == 0 || memcmp(e->key, k, kl) == 0)) {
      if (created)
        *created = 0;
      return e;
    }
  if (!insert)
    return NULL;
  okey *e = calloc(1, sizeof *e);
  CU_ASSERT_FATAL(e != NULL);
  e->key = malloc(kl ? kl : 1);
  CU_ASSERT_FATAL(e->key != NULL);
  if (kl)
    memcpy(e->key, k, kl);
  e->klen = kl;
  e->next = *head;
  *head = e;
  o->n++;
  if (created)
    *created = 1;
  return e;
}

static void oracle_free(oracle *o) {
  for (size_t i = 0; i < o->nb; i++)
    for (okey *e = o->b[i], *n; e; e = n) {
      n = e->next;
      free(e->key);
      free(e);
    }
  free(o->b);
}

/* ---- key generator: a mix of the shapes that break tables ---- */
typedef struct keygen {
  char **keys;
  size_t *lens;
  size_t n;
} keygen;

/* n distinct-ish keys: empty, 1..7 bytes, 8..16 (the overlapping-load compare), long
 * (17..5000 bytes), and families that differ only in their last byte. */
static void keys_make(keygen *g, size_t n) {
  g->n = n;
  g->keys = calloc(n, sizeof *g->keys);
  g->lens = calloc(n, sizeof *g->lens);
  CU_ASSERT_FATAL(g->keys && g->lens);
  char prefix[5000];
  for (size_t i = 0; i < sizeof prefix; i++)
    prefix[i] = (char)('a' + rnd() % 26);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    int kind = (int)(rnd() % 10);
    if (i == 0)
      len = 0;
    else if (kind < 3)
      len = 1 + rnd() % 7;
    else if (kind < 6)
      len = 8 + rnd() % 9;
    else if (kind < 7)
      len = 17 + rnd() % 4984;
    else
      len = 1 + rnd() % 40; /* last-byte family: shared prefix, last byte varies */
    char *k = malloc(len ? len : 1);
    CU_ASSERT_FATAL(k != NULL);
    if (kind >= 7) {
      memcpy(k, prefix, len);
      if (len)
        k[len - 1] = (char)(rnd() & 0xFF);
    } else {
      for (size_t j = 0; j < len; j++)
        k[j] = (char)(rnd() & 0xFF);
    }
    g->keys[i] = k;
    g->lens[i] = len;
  }
}

static void keys_free(keygen *g) {
  for (size_t i = 0; i < g->n; i++)
    free(g->keys[i]);
  free(g->keys);
  free(g->lens);
}

typedef struct val {
  uint64_t count, sum;
  uint32_t tag; /* 20 bytes: not a multiple of 8 */
} val;

/* Compare the table with the oracle: every slot visited once, each key known and with the
 * right value, each oracle key visited exactly once, counts agree. */
static void check_against(const sl__htab *t, oracle *o, size_t vsize) {
  for (size_t i = 0; i < o->nb; i++)
    for (okey *e = o->b[i]; e; e = e->next)
      e->seen = 0;
  size_t visited = 0, bad = 0;
  for (size_t i = 0; i < t->cap; i++) {
    const sl__hslot *s = sl__htab_slot(t, i);
    if (!s->hash)
      continue;
    visited++;
    CU_ASSERT(s->hash & 1);
    okey *e = oracle_find(o, sl__hslot_key(s), s->klen, 0, NULL);
    if (!e) {
      if (bad++ < 5)
        fprintf(stderr, "\nslot %zu holds a key (%u bytes) the oracle never saw\n", i, s->klen);
      continue;
    }
    if (e->seen++ && bad++ < 5)
      fprintf(stderr, "\nkey of %zu bytes is in the table twice\n", e->klen);
    if (s->hash != (sl__hash_bytes(e->key, e->klen) | 1) && bad++ < 5)
      fprintf(stderr, "\nslot %zu: stored hash differs from the key's\n", i);
    const val *v = sl__htab_val(t, i);
    if (vsize >= sizeof(val) &&
        (v->count != e->count || v->sum != e->sum || v->tag != (uint32_t)e->klen) && bad++ < 5)
      fprintf(stderr, "\nslot %zu: value %llu/%llu, oracle %llu/%llu\n", i,
              (unsigned long long)v->count, (unsigned long long)v->sum,
              (unsigned long long)e->count, (unsigned long long)e->sum);
  }
  for (size_t i = 0; i < o->nb; i++)
    for (okey *e = o->b[i]; e; e = e->next)
      if (e->seen != 1 && bad++ < 5)
        fprintf(stderr, "\noracle key of %zu bytes visited %d times\n", e->klen, e->seen);
  EXPECT_U64(bad, 0);
  EXPECT_U64(visited, o->n);
  EXPECT_U64(t->count, o->n);
}

/* 100k upserts of keys drawn from a 40k-key pool: created flags, values and iteration
 * against the oracle; the table grows (power of two, load <= 0.7) and keeps everything. */
static void test_against_oracle(void) {
  keygen g;
  keys_make(&g, 40000);
  oracle o;
  oracle_init(&o);
  sl__htab t;
  EXPECT_INT(sl__htab_init(&t, sizeof(val)), 0);
  size_t cap0 = t.cap, grew = 0, last_cap = t.cap;
  size_t bad = 0;
  for (int op = 0; op < 100000; op++) {
    size_t i = op < 40000 && op % 2 == 0 ? (size_t)op : (size_t)(rnd() % g.n); /* half new early */
    uint64_t add = rnd() % 1000;
    int created = -1, ocreated = -1;
    val *v =
        sl__htab_upsert(&t, g.keys[i], g.lens[i], sl__hash_bytes(g.keys[i], g.lens[i]), &created);
    CU_ASSERT_FATAL(v != NULL);
    okey *e = oracle_find(&o, g.keys[i], g.lens[i], 1, &ocreated);
    if (created != ocreated && bad++ < 5)
      fprintf(stderr, "\nop %d: key %zu (%zu bytes): created=%d, oracle says %d\n", op, i,
              g.lens[i], created, ocreated);
    if (created) {
      /* a new value is zeroed */
      static const char zero[sizeof(val)];
      if (memcmp(v, zero, sizeof(val)) != 0 && bad++ < 5)
        fprintf(stderr, "\nop %d: new value not zeroed\n", op);
      v->tag = (uint32_t)g.lens[i];
    }
    CU_ASSERT(((uintptr_t)v & 7) == 0);
    v->count++;
    v->sum += add;
    e->count++;
    e->sum += add;
    if (t.cap != last_cap) {
      grew++;
      last_cap = t.cap;
    }
    if (t.count * 10 > t.cap * 7 && bad++ < 5)
      fprintf(stderr, "\nload factor over 0.7: %zu / %zu\n", t.count, t.cap);
  }
  EXPECT_U64(bad, 0);
  CU_ASSERT(grew >= 5);
  CU_ASSERT((t.cap & (t.cap - 1)) == 0);
  CU_ASSERT(t.cap > cap0);
  check_against(&t, &o, sizeof(val));
  /* a second lookup of every key finds it (created = 0) and the same value */
  bad = 0;
  for (size_t i = 0; i < g.n; i++) {
    okey *e = oracle_find(&o, g.keys[i], g.lens[i], 0, NULL);
    int created = -1;
    size_t cap = t.cap;
    val *v =
        sl__htab_upsert(&t, g.keys[i], g.lens[i], sl__hash_bytes(g.keys[i], g.lens[i]), &created);
    if (!e) { /* never upserted: now it is */
      if (created != 1 && bad++ < 5)
        fprintf(stderr, "\nunseen key %zu found\n", i);
      oracle_find(&o, g.keys[i], g.lens[i], 1, NULL)->count = 0;
      v->tag = (uint32_t)g.lens[i];
      continue;
    }
    (void)cap;
    if ((created != 0 || v->count != e->count || v->sum != e->sum) && bad++ < 5)
      fprintf(stderr, "\nkey %zu: created=%d count %llu (oracle %llu)\n", i, created,
              (unsigned long long)v->count, (unsigned long long)e->count);
  }
  EXPECT_U64(bad, 0);
  check_against(&t, &o, sizeof(val));
  /* the memory count covers the slots and the key bytes */
  size_t key_bytes = 0;
  for (size_t i = 0; i < o.nb; i++)
    for (okey *e = o.b[i]; e; e = e->next)
      key_bytes += e->klen;
  CU_ASSERT(sl__htab_bytes(&t) >= t.cap * (sizeof(sl__hslot) + sizeof(val)) + key_bytes);
  sl__htab_free(&t);
  oracle_free(&o);
  keys_free(&g);
}

/* Keys that all share one hash: every lookup walks the probe chain and compares bytes.
 * Lengths 0..40 and keys that differ only in their last byte, or only in a middle byte
 * (the overlapping 4- and 8-byte loads of the inline compare must see every byte). */
static void test_colliding_hashes(void) {
  sl__htab t;
  EXPECT_INT(sl__htab_init(&t, 8), 0);
  oracle o;
  oracle_init(&o);
  char k[48];
  size_t bad = 0;
  for (int round = 0; round < 2; round++) {
    for (size_t len = 0; len <= 40; len++) {
      size_t positions = len ? len : 1;
      for (size_t pos = 0; pos < positions; pos++) {
        for (int variant = 0; variant < 3; variant++) {
          memset(k, 'q', sizeof k);
          if (len)
            k[pos] = (char)('A' + variant);
          int created = -1, ocreated = -1;
          uint64_t *v = sl__htab_upsert(&t, k, len, 0x5555000000000000ull, &created);
          CU_ASSERT_FATAL(v != NULL);
          okey *e = oracle_find(&o, k, len, 1, &ocreated);
          if (created != ocreated && bad++ < 5)
            fprintf(stderr, "\nround %d len %zu pos %zu variant %d: created=%d, expected %d\n",
                    round, len, pos, variant, created, ocreated);
          (*v)++;
          e->count++;
        }
      }
    }
  }
  EXPECT_U64(bad, 0);
  EXPECT_U64(t.count, o.n);
  for (size_t i = 0; i < t.cap; i++) {
    const sl__hslot *s = sl__htab_slot(&t, i);
    if (!s->hash)
      continue;
    okey *e = oracle_find(&o, sl__hslot_key(s), s->klen, 0, NULL);
    CU_ASSERT_FATAL(e != NULL);
    EXPECT_U64(*(uint64_t *)sl__htab_val(&t, i), e->count);
  }
  sl__htab_free(&t);
  oracle_free(&o);
}

/* Value sizes: 0 (treated as 1), 1, 12 (padded), 24; values do not overlap each other or
 * the slot header. */
static void test_value_sizes(void) {
  const size_t sizes[] = {0, 1, 12, 24, 100};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    sl__htab t;
    EXPECT_INT(sl__htab_init(&t, sizes[s]), 0);
    size_t vs = sizes[s] ? sizes[s] : 1;
    char k[16];
    for (int i = 0; i < 5000; i++) {
      int len = snprintf(k, sizeof k, "k%d", i), created;
      unsigned char *v =
          sl__htab_upsert(&t, k, (size_t)len, sl__hash_bytes(k, (size_t)len), &created);
      CU_ASSERT_FATAL(v != NULL);
      EXPECT_INT(created, 1);
      memset(v, (unsigned char)i, vs);
    }
    EXPECT_U64(t.count, 5000);
    size_t bad = 0;
    for (int i = 0; i < 5000; i++) {
      int len = snprintf(k, sizeof k, "k%d", i), created;
      unsigned char *v =
          sl__htab_upsert(&t, k, (size_t)len, sl__hash_bytes(k, (size_t)len), &created);
      EXPECT_INT(created, 0);
      for (size_t j = 0; j < vs; j++)
        if (v[j] != (unsigned char)i)
          bad++;
    }
    EXPECT_U64(bad, 0);
    sl__htab_free(&t);
  }
}

/* clear: back to the size of a new table (sl__htab_bytes included), empty, and usable. */
static void test_clear_shrinks(void) {
  sl__htab t;
  EXPECT_INT(sl__htab_init(&t, 8), 0);
  size_t fresh = sl__htab_bytes(&t), cap0 = t.cap;
  char k[32];
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 50000; i++) {
      int len = snprintf(k, sizeof k, "key-%d-%d", round, i), created;
      uint64_t *v = sl__htab_upsert(&t, k, (size_t)len, sl__hash_bytes(k, (size_t)len), &created);
      CU_ASSERT_FATAL(v != NULL);
      EXPECT_INT(created, 1);
      *v = (uint64_t)i + 1;
    }
    CU_ASSERT(sl__htab_bytes(&t) > 8 * fresh);
    sl__htab_clear(&t);
    EXPECT_U64(t.count, 0);
    EXPECT_U64(t.cap, cap0);
    EXPECT_U64(sl__htab_bytes(&t), fresh);
    size_t occupied = 0;
    for (size_t i = 0; i < t.cap; i++)
      occupied += sl__htab_slot(&t, i)->hash != 0;
    EXPECT_U64(occupied, 0);
    /* the old keys are gone: upserting one creates it, zeroed */
    int len = snprintf(k, sizeof k, "key-%d-%d", round, 7), created = -1;
    uint64_t *v = sl__htab_upsert(&t, k, (size_t)len, sl__hash_bytes(k, (size_t)len), &created);
    EXPECT_INT(created, 1);
    EXPECT_U64(*v, 0);
    sl__htab_clear(&t);
  }
  /* a clear of a small table keeps it small and empty */
  sl__htab_clear(&t);
  EXPECT_U64(sl__htab_bytes(&t), fresh);
  sl__htab_free(&t);
  EXPECT_U64(t.cap, 0);
  EXPECT_U64(t.count, 0);
}

/* The empty key is a key like any other (one entry, found again), distinct from "\0". */
static void test_empty_key(void) {
  sl__htab t;
  EXPECT_INT(sl__htab_init(&t, 8), 0);
  int c = -1;
  uint64_t *a = sl__htab_upsert(&t, "", 0, sl__hash_bytes("", 0), &c);
  EXPECT_INT(c, 1);
  *a = 11;
  uint64_t *b = sl__htab_upsert(&t, NULL, 0, sl__hash_bytes(NULL, 0), &c);
  EXPECT_INT(c, 0);
  EXPECT_U64(*b, 11);
  uint64_t *z = sl__htab_upsert(&t, "\0", 1, sl__hash_bytes("\0", 1), &c);
  EXPECT_INT(c, 1);
  EXPECT_U64(*z, 0);
  EXPECT_U64(t.count, 2);
  sl__htab_free(&t);
}

/* A combiner's flush: one table copied into another in slot order, with the same hashes
 * (reduce_by_key at one rank). When both place keys by the same bits of the hash, the copy
 * fills the new table one run of slots at a time and every insert walks that run (quadratic:
 * word count at 1 rank spent 66% of its time there). Each table mixes the hash with its own
 * seed, so the copy costs about the probes of inserting the keys in random order. */
static void test_copy_in_slot_order(void) {
  enum { N = 178000 }; /* a load of 0.68 in 2^18 slots: dense, as a full combiner */
  sl__htab a, b;
  CU_ASSERT_FATAL(sl__htab_init(&a, 8) == 0);
  CU_ASSERT_FATAL(sl__htab_init(&b, 8) == 0);
  char k[32];
  for (int i = 0; i < N; i++) {
    int len = snprintf(k, sizeof k, "word%d", i), created = 0;
    CU_ASSERT_FATAL(sl__htab_upsert(&a, k, (size_t)len, sl__hash_bytes(k, (size_t)len), &created) !=
                    NULL);
  }
  uint64_t random_probes = a.probes; /* inserts in random order, for comparison */
  for (size_t i = 0; i < a.cap; i++) {
    const sl__hslot *s = sl__htab_slot(&a, i);
    if (!s->hash)
      continue;
    int created = 0;
    CU_ASSERT_FATAL(sl__htab_upsert(&b, sl__hslot_key(s), s->klen, s->hash, &created) != NULL);
    CU_ASSERT(created);
  }
  EXPECT_INT(b.count, N);
  /* the same keys cost about as many probes in slot order as in random order (seen: about
   * 1x; placing by the same bits: hundreds of times more) */
  if (b.probes > 4 * random_probes + N)
    fprintf(stderr, "\ncopy in slot order: %llu probes, random order: %llu\n",
            (unsigned long long)b.probes, (unsigned long long)random_probes);
  CU_ASSERT(b.probes <= 4 * random_probes + N);
  sl__htab_free(&a);
  sl__htab_free(&b);
}

int main(void) {
  static const sl_test tests[] = {
      {"100k upserts against an oracle, growth, iteration", test_against_oracle},
      {"keys with one shared hash (lengths 0..40, one byte differs)", test_colliding_hashes},
      {"value sizes", test_value_sizes},
      {"clear shrinks back to a new table", test_clear_shrinks},
      {"the empty key", test_empty_key},
      {"a table copied in another's slot order", test_copy_in_slot_order},
      {NULL, NULL}};
  return sl_test_main("htab", tests);
}
