/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the batch wire format (sl__batch_append / sl__batch_next) and of the hash
 * used for routing and tables (sl__hash_bytes, sl__hash_partition). */
#include <stdlib.h>

#include "core/batch.h"
#include "unit.h"

/* xorshift64*: deterministic test data */
static uint64_t rng_state = 0x853C49E6748FEA9Bull;
static uint64_t rnd(void) {
  return sl_test_xorshift(&rng_state);
}

typedef struct rec {
  char key[300];
  size_t klen;
  char val[300];
  size_t vlen;
} rec;

static void random_rec(rec *r) {
  /* a quarter of the fields empty, the rest 1..299 bytes */
  r->klen = rnd() % 4 == 0 ? 0 : 1 + rnd() % 299;
  r->vlen = rnd() % 4 == 0 ? 0 : 1 + rnd() % 299;
  for (size_t i = 0; i < r->klen; i++)
    r->key[i] = (char)rnd();
  for (size_t i = 0; i < r->vlen; i++)
    r->val[i] = (char)rnd();
}

static int same(const sl_record *got, const rec *want) {
  return got->key_len == want->klen && got->value_len == want->vlen &&
         (want->klen == 0 || memcmp(got->key, want->key, want->klen) == 0) &&
         (want->vlen == 0 || memcmp(got->value, want->val, want->vlen) == 0);
}

static void test_size(void) {
  EXPECT_U64(sl__rec_size(0, 0), 8);
  EXPECT_U64(sl__rec_size(3, 5), 16);
  EXPECT_U64(SL__REC_HDR, 8);
}

/* Random records into batches of several capacities; every batch decodes back to what
 * was appended, in order, and the lengths add up. */
static void test_round_trip(void) {
  enum { NREC = 4000 };
  rec *recs = malloc(NREC * sizeof *recs);
  CU_ASSERT_FATAL(recs != NULL);
  for (int i = 0; i < NREC; i++)
    random_rec(&recs[i]);
  const size_t caps[] = {8, 17, 320, 4096, 65536};
  for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
    size_t cap = caps[c];
    char *buf = malloc(cap);
    CU_ASSERT_FATAL(buf != NULL);
    int i = 0, batches = 0, skipped = 0;
    while (i < NREC) {
      size_t len = 0;
      int first = i;
      while (i < NREC &&
             sl__batch_append(buf, cap, &len, recs[i].key, recs[i].klen, recs[i].val, recs[i].vlen))
        i++;
      if (i == first) { /* larger than the whole batch: travels alone, not tested here */
        CU_ASSERT(sl__rec_size(recs[i].klen, recs[i].vlen) > cap);
        EXPECT_U64(len, 0);
        i++;
        skipped++;
        continue;
      }
      batches++;
      size_t pos = 0, total = 0;
      sl_record r;
      int k = first, rc;
      while ((rc = sl__batch_next(buf, len, &pos, &r)) == 1) {
        /* skip the records that were too large for this capacity (none inside a batch) */
        CU_ASSERT_FATAL(k < i);
        if (!same(&r, &recs[k])) {
          fprintf(stderr, "\ncap %zu: record %d differs after the round trip\n", cap, k);
          CU_FAIL("round trip");
        }
        total += sl__rec_size(r.key_len, r.value_len);
        k++;
      }
      EXPECT_INT(rc, 0);
      EXPECT_INT(k, i);
      EXPECT_U64(pos, len);
      EXPECT_U64(total, len);
      /* at the end it stays at the end */
      EXPECT_INT(sl__batch_next(buf, len, &pos, &r), 0);
      EXPECT_U64(pos, len);
    }
    CU_ASSERT(batches > 0);
    if (cap >= 8 + 299 + 299)
      EXPECT_INT(skipped, 0);
    free(buf);
  }
  free(recs);
}

static void test_empty_fields(void) {
  char buf[64];
  size_t len = 0;
  CU_ASSERT(sl__batch_append(buf, sizeof buf, &len, NULL, 0, NULL, 0));
  CU_ASSERT(sl__batch_append(buf, sizeof buf, &len, "k", 1, NULL, 0));
  CU_ASSERT(sl__batch_append(buf, sizeof buf, &len, NULL, 0, "vv", 2));
  CU_ASSERT(sl__batch_append(buf, sizeof buf, &len, NULL, 0, NULL, 0));
  EXPECT_U64(len, 8 + 9 + 10 + 8);
  size_t pos = 0;
  sl_record r;
  EXPECT_INT(sl__batch_next(buf, len, &pos, &r), 1);
  EXPECT_U64(r.key_len, 0);
  EXPECT_U64(r.value_len, 0);
  EXPECT_INT(sl__batch_next(buf, len, &pos, &r), 1);
  EXPECT_U64(r.key_len, 1);
  EXPECT_U64(r.value_len, 0);
  CU_ASSERT(memcmp(r.key, "k", 1) == 0);
  EXPECT_INT(sl__batch_next(buf, len, &pos, &r), 1);
  EXPECT_U64(r.key_len, 0);
  EXPECT_U64(r.value_len, 2);
  CU_ASSERT(memcmp(r.value, "vv", 2) == 0);
  EXPECT_INT(sl__batch_next(buf, len, &pos, &r), 1);
  EXPECT_U64(r.key_len + r.value_len, 0);
  EXPECT_INT(sl__batch_next(buf, len, &pos, &r), 0);
  /* an empty batch has no record */
  pos = 0;
  EXPECT_INT(sl__batch_next(buf, 0, &pos, &r), 0);
  EXPECT_U64(pos, 0);
}

static void test_exact_fit_and_no_fit(void) {
  char buf[64];
  memset(buf, 0x5A, sizeof buf);
  size_t len = 0;
  /* 8 + 10 + 14 = 32 bytes: exactly fills a 32-byte batch */
  CU_ASSERT(sl__batch_append(buf, 32, &len, "0123456789", 10, "abcdefghijklmn", 14));
  EXPECT_U64(len, 32);
  /* full: not even an empty record (8 bytes) fits, and nothing is written */
  CU_ASSERT(!sl__batch_append(buf, 32, &len, NULL, 0, NULL, 0));
  EXPECT_U64(len, 32);
  CU_ASSERT((unsigned char)buf[32] == 0x5A);
  /* one byte short */
  len = 0;
  CU_ASSERT(!sl__batch_append(buf, 31, &len, "0123456789", 10, "abcdefghijklmn", 14));
  EXPECT_U64(len, 0);
  /* partly filled: a record fits exactly in what is left, one byte more does not */
  len = 0;
  CU_ASSERT(sl__batch_append(buf, 40, &len, "ab", 2, "c", 1));                      /* 11 */
  CU_ASSERT(!sl__batch_append(buf, 40, &len, "x", 1, "0123456789abcdefghijk", 21)); /* 30 > 29 */
  EXPECT_U64(len, 11);
  CU_ASSERT(sl__batch_append(buf, 40, &len, "x", 1, "0123456789abcdefghij", 20)); /* 29 */
  EXPECT_U64(len, 40);
  size_t pos = 0;
  sl_record r = {0};
  EXPECT_INT(sl__batch_next(buf, len, &pos, &r), 1);
  EXPECT_INT(sl__batch_next(buf, len, &pos, &r), 1);
  EXPECT_U64(r.value_len, 20);
  CU_ASSERT(memcmp(r.value, "0123456789abcdefghij", 20) == 0);
  EXPECT_INT(sl__batch_next(buf, len, &pos, &r), 0);
  /* capacity 0 and a length already at the capacity */
  len = 0;
  CU_ASSERT(!sl__batch_append(buf, 0, &len, NULL, 0, NULL, 0));
  len = 7;
  CU_ASSERT(!sl__batch_append(buf, 7, &len, NULL, 0, NULL, 0));
  EXPECT_U64(len, 7);
}

static void put_hdr(char *p, uint32_t k, uint32_t v) {
  memcpy(p, &k, 4);
  memcpy(p + 4, &v, 4);
}

/* Malformed input: truncated header, lengths past the end (including lengths whose sum
 * overflows 32 bits); -1 and the cursor does not move. */
static void test_malformed(void) {
  char buf[64];
  memset(buf, 0, sizeof buf);
  sl_record r;
  size_t pos;
  for (size_t len = 1; len < 8; len++) { /* header cut short */
    pos = 0;
    EXPECT_INT(sl__batch_next(buf, len, &pos, &r), -1);
    EXPECT_U64(pos, 0);
  }
  put_hdr(buf, 4, 5); /* needs 17, has 16 */
  pos = 0;
  EXPECT_INT(sl__batch_next(buf, 16, &pos, &r), -1);
  EXPECT_U64(pos, 0);
  pos = 0;
  EXPECT_INT(sl__batch_next(buf, 17, &pos, &r), 1);
  EXPECT_U64(pos, 17);
  put_hdr(buf, 0xFFFFFFFFu, 0xFFFFFFFFu); /* sum overflows uint32 */
  pos = 0;
  EXPECT_INT(sl__batch_next(buf, 64, &pos, &r), -1);
  put_hdr(buf, 0xFFFFFFF9u, 8u); /* sum wraps to 1 in 32 bits */
  pos = 0;
  EXPECT_INT(sl__batch_next(buf, 64, &pos, &r), -1);
  put_hdr(buf, 0, 0xFFFFFFFFu);
  pos = 0;
  EXPECT_INT(sl__batch_next(buf, 64, &pos, &r), -1);
  EXPECT_U64(pos, 0);
  /* a good record followed by a bad one: the first decodes, the second fails in place */
  size_t len = 0;
  CU_ASSERT(sl__batch_append(buf, sizeof buf, &len, "key", 3, "value", 5));
  put_hdr(buf + len, 10, 10);
  size_t bad_at = len;
  len += 8 + 5; /* 5 of the 20 payload bytes */
  pos = 0;
  EXPECT_INT(sl__batch_next(buf, len, &pos, &r), 1);
  EXPECT_U64(pos, bad_at);
  EXPECT_INT(sl__batch_next(buf, len, &pos, &r), -1);
  EXPECT_U64(pos, bad_at);
  /* a trailing partial header after good records */
  len = 0;
  CU_ASSERT(sl__batch_append(buf, sizeof buf, &len, "a", 1, "b", 1));
  pos = 0;
  EXPECT_INT(sl__batch_next(buf, len + 3, &pos, &r), 1);
  EXPECT_INT(sl__batch_next(buf, len + 3, &pos, &r), -1);
}

/* ---- hash ---- */

static void test_hash_deterministic(void) {
  /* the same bytes at any address (alignment) give the same hash */
  char src[64], shifted[80];
  for (int i = 0; i < 64; i++)
    src[i] = (char)(rnd() & 0xFF);
  for (size_t len = 0; len <= 40; len++) {
    uint64_t h = sl__hash_bytes(src, len);
    EXPECT_U64(sl__hash_bytes(src, len), h);
    for (int off = 1; off < 8; off++) {
      memcpy(shifted + off, src, len);
      EXPECT_U64(sl__hash_bytes(shifted + off, len), h);
    }
  }
  /* known inputs stay put between runs and builds: the hash routes records, so every rank
   * must compute the same value (values printed once, compared with themselves here) */
  uint64_t a = sl__hash_bytes("hello", 5), b = sl__hash_bytes("hello", 5);
  EXPECT_U64(a, b);
  CU_ASSERT(sl__hash_bytes("hello", 5) != sl__hash_bytes("hellp", 5));
  /* the empty key: any pointer */
  EXPECT_U64(sl__hash_bytes(NULL, 0), sl__hash_bytes("x", 0));
  /* zero bytes of different lengths differ (the length is mixed in) */
  static const char zeros[41];
  for (size_t i = 0; i <= 40; i++)
    for (size_t j = i + 1; j <= 40; j++)
      if (sl__hash_bytes(zeros, i) == sl__hash_bytes(zeros, j)) {
        fprintf(stderr, "\nzero keys of lengths %zu and %zu collide\n", i, j);
        CU_FAIL("zero keys of different lengths collide");
      }
}

/* Every byte of a key of length 1..40 matters: flipping any bit of any byte changes the
 * hash, and over many keys about half of the output bits flip (avalanche, loosely). */
static void test_hash_every_byte(void) {
  unsigned char k[40];
  for (size_t len = 1; len <= 40; len++) {
    double flipped = 0;
    int trials = 0;
    for (int rep = 0; rep < 8; rep++) {
      for (size_t i = 0; i < len; i++)
        k[i] = (unsigned char)rnd();
      uint64_t h = sl__hash_bytes(k, len);
      for (size_t pos = 0; pos < len; pos++) {
        for (int bit = 0; bit < 8; bit++) {
          k[pos] ^= (unsigned char)(1u << bit);
          uint64_t h2 = sl__hash_bytes(k, len);
          k[pos] ^= (unsigned char)(1u << bit);
          if (h2 == h) {
            fprintf(stderr, "\nlen %zu: flipping bit %d of byte %zu leaves the hash unchanged\n",
                    len, bit, pos);
            CU_FAIL("a bit of the key does not affect the hash");
          }
          flipped += __builtin_popcountll(h ^ h2);
          trials++;
        }
      }
    }
    double mean = flipped / trials;
    if (mean < 24 || mean > 40) {
      fprintf(stderr, "\nlen %zu: a one-bit change flips %.1f of 64 output bits on average\n", len,
              mean);
      CU_FAIL("weak avalanche");
    }
  }
}

/* For each length 0..40: random keys give balanced output bits, balanced partitions, and
 * balanced table slots (low bits) within one partition (the high bits pick the
 * partition: the two must be independent). */
static void test_hash_distribution(void) {
  enum { N = 20000, SLOTS = 256 };
  static int part_n[16], slot_n[SLOTS];
  unsigned char k[40];
  for (size_t len = 0; len <= 40; len++) {
    int bits[64] = {0};
    memset(part_n, 0, sizeof part_n);
    memset(slot_n, 0, sizeof slot_n);
    int in_part0 = 0;
    /* keys of length < 3 cannot be N distinct: use every key once */
    int n = len == 0 ? 1 : len == 1 ? 256 : N;
    for (int i = 0; i < n; i++) {
      if (len == 1)
        k[0] = (unsigned char)i;
      else if (len == 2 && i < 65536) {
        k[0] = (unsigned char)rnd();
        k[1] = (unsigned char)rnd();
      } else
        for (size_t j = 0; j < len; j++)
          k[j] = (unsigned char)rnd();
      uint64_t h = sl__hash_bytes(k, len);
      for (int b = 0; b < 64; b++)
        bits[b] += (int)((h >> b) & 1);
      int q = sl__hash_partition(h, 7);
      part_n[q]++;
      if (q == 0) {
        slot_n[h & (SLOTS - 1)]++;
        in_part0++;
      }
    }
    if (n < 1000)
      continue;
    for (int b = 0; b < 64; b++)
      if (bits[b] < n * 0.46 || bits[b] > n * 0.54) {
        fprintf(stderr, "\nlen %zu: output bit %d set in %d of %d hashes\n", len, b, bits[b], n);
        CU_FAIL("biased hash bit");
      }
    for (int q = 0; q < 7; q++)
      if (part_n[q] < n / 7 * 0.9 || part_n[q] > n / 7 * 1.1) {
        fprintf(stderr, "\nlen %zu: partition %d of 7 got %d of %d keys\n", len, q, part_n[q], n);
        CU_FAIL("unbalanced partitions");
      }
    /* chi-square of the slots of partition 0 (255 degrees of freedom: mean 255, sd ~22.6) */
    double e = (double)in_part0 / SLOTS, chi = 0;
    for (int s = 0; s < SLOTS; s++)
      chi += (slot_n[s] - e) * (slot_n[s] - e) / e;
    if (chi > 400) {
      fprintf(stderr, "\nlen %zu: table slots within partition 0: chi-square %.0f (255 dof)\n", len,
              chi);
      CU_FAIL("slot index correlated with partition");
    }
  }
}

/* Structured keys, the common case: decimal ids and words with a shared prefix. */
static void test_hash_structured_keys(void) {
  enum { N = 100000, P = 32, SLOTS = 1024 };
  static int part_n[P], slot_n[SLOTS];
  memset(part_n, 0, sizeof part_n);
  memset(slot_n, 0, sizeof slot_n);
  char k[64];
  for (int i = 0; i < N; i++) {
    int len = snprintf(k, sizeof k, "user-%d", i);
    uint64_t h = sl__hash_bytes(k, (size_t)len);
    part_n[sl__hash_partition(h, P)]++;
    slot_n[(h | 1) & (SLOTS - 1)]++;
  }
  for (int q = 0; q < P; q++)
    if (part_n[q] < N / P * 0.9 || part_n[q] > N / P * 1.1) {
      fprintf(stderr, "\npartition %d of %d got %d of %d keys\n", q, P, part_n[q], N);
      CU_FAIL("unbalanced partitions for decimal keys");
    }
  /* slots as the table computes them: it ORs bit 0 into the hash before masking, so only
   * odd slots are home slots; check the spread over those */
  double e = (double)N / (SLOTS / 2), chi = 0;
  for (int s = 1; s < SLOTS; s += 2)
    chi += (slot_n[s] - e) * (slot_n[s] - e) / e;
  if (chi > 511 + 6 * 32) {
    fprintf(stderr, "\ndecimal keys over %d odd slots: chi-square %.0f (511 dof)\n", SLOTS / 2,
            chi);
    CU_FAIL("decimal keys cluster in table slots");
  }
}

static void test_partition_range(void) {
  const uint64_t hs[] = {
      0, 1, 0xFFFFFFFFull, 0x100000000ull, 0x8000000000000000ull, UINT64_MAX, UINT64_MAX - 1};
  const int parts[] = {1, 2, 3, 7, 32, 1000, 65536, 1 << 20, 2147483647};
  for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
    for (size_t j = 0; j < sizeof parts / sizeof parts[0]; j++) {
      int q = sl__hash_partition(hs[i], parts[j]);
      if (q < 0 || q >= parts[j]) {
        fprintf(stderr, "\nsl__hash_partition(%#llx, %d) = %d\n", (unsigned long long)hs[i],
                parts[j], q);
        CU_FAIL("partition out of range");
      }
    }
  EXPECT_INT(sl__hash_partition(0, 9), 0);
  EXPECT_INT(sl__hash_partition(UINT64_MAX, 9), 8);
  for (int p = 1; p <= 64; p++) {
    int seen_last = 0;
    for (int i = 0; i < 20000; i++) {
      int q = sl__hash_partition(rnd(), p);
      if (q < 0 || q >= p) {
        CU_FAIL("partition out of range");
        break;
      }
      if (q == p - 1)
        seen_last = 1;
    }
    CU_ASSERT(seen_last);
  }
  /* monotone in the high half: the partition is a range split of the hash space */
  int prev = 0;
  for (uint64_t hi = 0; hi < 4096; hi++) {
    int q = sl__hash_partition((hi << 52) | 0xFFFFF, 5);
    CU_ASSERT(q >= prev);
    prev = q;
  }
  EXPECT_INT(prev, 4);
}

int main(void) {
  static const sl_test tests[] = {
      {"record size", test_size},
      {"round trip of random records at several capacities", test_round_trip},
      {"empty keys and values", test_empty_fields},
      {"exact fit and no fit", test_exact_fit_and_no_fit},
      {"malformed lengths are detected", test_malformed},
      {"hash is deterministic and independent of alignment", test_hash_deterministic},
      {"hash depends on every byte (lengths 1..40)", test_hash_every_byte},
      {"hash bits, partitions and slots balanced (lengths 0..40)", test_hash_distribution},
      {"structured keys balanced", test_hash_structured_keys},
      {"partition range and balance", test_partition_range},
      {NULL, NULL}};
  return sl_test_main("batch", tests);
}
