/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the compact hash table behind reduce_by_key and its combiner
 * (algo/ctab.c), against a naive oracle: keys of every length around the 15-byte inline
 * limit (NUL and high bytes included), growth, insertion-order iteration, clear, and the
 * memory bound a word count relies on: at most 48 bytes a key besides the bytes of keys
 * longer than 15 (docs/benchmarks.md, "Word count"). */
#include <stdio.h>
#include <stdlib.h>

#include "algo/ctab.h"
#include "core/batch.h"
#include "unit.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  return sl_test_xorshift(&rng_state);
}

/* The oracle: the distinct keys in an array, found by linear search over a small universe
 * (keys drawn from NKEYS fixed ones, so repeats are common). */
#define NKEYS 5000
typedef struct okey {
  unsigned char key[40];
  size_t klen;
  uint64_t count;
  int seen;
} okey;
static okey keys[NKEYS];

static void make_keys(void) {
  for (size_t i = 0; i < NKEYS; i++) {
    okey *k = &keys[i];
    k->klen = i < 41 ? i % 41 : rnd() % 41; /* every length 0..40, then random */
    for (size_t j = 0; j < k->klen; j++) {
      uint64_t r = rnd();
      k->key[j] = (r & 3) == 0   ? 0
                  : (r & 3) == 1 ? (unsigned char)(0x80 + (r >> 8) % 128)
                                 : (unsigned char)('a' + (r >> 8) % 4);
    }
    k->count = 0;
    /* distinct: a duplicate key gets a distinguishing last byte, or is dropped to length
     * 0 only once (index 0) */
    for (size_t p = 0; p < i; p++)
      if (keys[p].klen == k->klen && memcmp(keys[p].key, k->key, k->klen) == 0) {
        k->klen = 41 - 1;
        memset(k->key, 'z', k->klen);
        memcpy(k->key, &i, sizeof i);
        break;
      }
  }
}

static okey *oracle_lookup(const char *key, size_t klen) {
  for (size_t i = 0; i < NKEYS; i++)
    if (keys[i].klen == klen && memcmp(keys[i].key, key, klen) == 0)
      return &keys[i];
  return NULL;
}

static void test_against_oracle(void) {
  make_keys();
  sl__ctab t;
  CU_ASSERT_FATAL(sl__ctab_init(&t, 8) == 0);
  size_t distinct = 0;
  for (int n = 0; n < 300000; n++) {
    okey *k = &keys[rnd() % (n < 100000 ? NKEYS : 500)]; /* later: hot keys */
    int created = -1;
    uint64_t h = sl__hash_bytes(k->key, k->klen);
    uint64_t *v = sl__ctab_upsert(&t, k->key, k->klen, h, &created);
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT(created == (k->count == 0));
    distinct += created == 1;
    ++*v;
    k->count++;
  }
  EXPECT_U64(t.count, distinct);
  CU_ASSERT(t.count * 10 <= t.cap * 7);
  int bad = 0;
  for (size_t e = 0; e < t.count; e++) { /* every entry is one oracle key, once */
    size_t kl;
    const char *kp = sl__ctab_key(&t, e, &kl);
    okey *o = oracle_lookup(kp, kl);
    if (!o || o->seen || *(uint64_t *)sl__ctab_val(&t, e) != o->count) {
      if (bad++ < 5)
        fprintf(stderr, "\nentry %zu (%zu bytes): %s\n", e, kl,
                !o        ? "not an oracle key"
                : o->seen ? "twice"
                          : "wrong count");
    } else {
      o->seen = 1;
    }
  }
  CU_ASSERT(bad == 0);
  for (size_t i = 0; i < NKEYS; i++) { /* and find agrees */
    okey *k = &keys[i];
    uint64_t *v = sl__ctab_find(&t, k->key, k->klen, sl__hash_bytes(k->key, k->klen));
    CU_ASSERT(k->count == 0 ? v == NULL : v != NULL && *v == k->count);
  }
  sl__ctab_clear(&t);
  EXPECT_U64(t.count, 0);
  int created;
  CU_ASSERT(sl__ctab_upsert(&t, "x", 1, sl__hash_bytes("x", 1), &created) != NULL && created);
  sl__ctab_free(&t);
}

/* Keys that share one hash: only the bytes tell them apart (the tag matches). */
static void test_colliding_hashes(void) {
  sl__ctab t;
  CU_ASSERT_FATAL(sl__ctab_init(&t, 16) == 0);
  char k[40];
  memset(k, 'q', sizeof k);
  int created;
  for (int pass = 0; pass < 2; pass++)
    for (size_t len = 0; len <= 40; len++) {
      void *v = sl__ctab_upsert(&t, k, len, 42, &created);
      CU_ASSERT_FATAL(v != NULL);
      CU_ASSERT(created == (pass == 0));
    }
  EXPECT_U64(t.count, 41);
  sl__ctab_free(&t);
}

/* The memory bound: after n distinct 8-byte keys (inline) with 8-byte values, the table
 * holds at most 48 bytes a key, at every n from 20000 to 3 million; and a key longer
 * than 15 adds its own bytes (and little more). */
static void test_bytes_per_key(void) {
  sl__ctab t;
  CU_ASSERT_FATAL(sl__ctab_init(&t, 8) == 0);
  int created, bad = 0;
  for (uint64_t i = 0; i < 3000000; i++) {
    CU_ASSERT_FATAL(sl__ctab_upsert(&t, &i, 8, sl__hash_bytes(&i, 8), &created) != NULL);
    if (i >= 20000 && i % 10007 == 0 && sl__ctab_bytes(&t) > 48 * (i + 1) && bad++ < 5)
      fprintf(stderr, "\n%llu keys: %zu bytes\n", (unsigned long long)(i + 1), sl__ctab_bytes(&t));
  }
  CU_ASSERT(bad == 0);
  sl__ctab_free(&t);
  CU_ASSERT_FATAL(sl__ctab_init(&t, 8) == 0);
  char k[32];
  memset(k, 'L', sizeof k);
  for (uint64_t i = 0; i < 500000; i++) {
    memcpy(k, &i, 8);
    CU_ASSERT_FATAL(sl__ctab_upsert(&t, k, 32, sl__hash_bytes(k, 32), &created) != NULL);
  }
  CU_ASSERT(sl__ctab_bytes(&t) <= (48 + 32 + 1) * 500000);
  sl__ctab_free(&t);
}

int main(void) {
  static const sl_test tests[] = {
      {"300k upserts against an oracle, growth, iteration, find, clear", test_against_oracle},
      {"keys with one shared hash (lengths 0..40)", test_colliding_hashes},
      {"at most 48 bytes a key besides long keys' bytes", test_bytes_per_key},
      {NULL, NULL}};
  return sl_test_main("ctab", tests);
}
