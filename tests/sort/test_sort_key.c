/* SPDX-License-Identifier: BSD-3-Clause */
/* MPI tests of sl_flow_sort_by_key (radix sort of records of one size, comparison sort of
 * mixed sizes, spilled runs merged by a heap) at 1, 2 and 4 ranks.
 *
 * Every rank generates the same input; rank 0 computes the oracle (qsort of the rows by
 * key, descending if the sort is, then by row: the stable sort of one source partition),
 * gathers the output (partition p on rank p) and checks: the count; each rank sorted; the
 * rank boundaries; every input row exactly once, byte for byte; the oracle's key at every
 * position; with one source partition, the oracle's exact rows at one rank and, at more,
 * equal keys in arrival order within each rank. The oracle orders by the key function's
 * number, or independently of it (signed integers; the documented order of doubles).
 * Inputs: random keys (in memory, past the 1 MiB most significant digit threshold, and
 * spilled at --sl-sort-memory-bytes=8K), 10 distinct and all-equal keys, int64 and double
 * keys with their extremes, widths 8/16/24/32/40/100 (the key in the key or in the value),
 * skewed keys, tiny inputs, mixed record lengths, and a NULL key function. The same cases
 * again through sl_flow_sort_by_keys, the 64-bit key split into 2 words (high and low
 * halves) or 3 (a constant word, then the key's high 56 bits and its low byte): the order
 * is the same, so the oracle is too. */
#define _GNU_SOURCE
#include <float.h>
#include <limits.h>
#include <math.h>

#include "sluice.h"
#include "../mpi/mpi_test.h" /* the harness (and CUnit, MPI, the C headers): mt_main_with */
#include "sort_test.h"

static uint64_t rd_be64(const unsigned char *p) {
  uint64_t v = 0;
  for (int j = 0; j < 8; j++)
    v = (v << 8) | p[j];
  return v;
}
static void set_opt(const char *name, const char *value) {
  EXPECT_RC(sl_option_set(g_ctx, name, value), SL_OK);
}

/* ------------------------------------------------------------------ a case */
/* n records at buf + i * maxw (key bytes, then value bytes). The 8-byte native field at
 * key_off (counted over key || value) holds the key; the row index is 8 bytes big-endian
 * at row_off in the value, or (shift > 0) the low shift bits of the field, whose key is
 * then the bits above. rcmp, when set, is the oracle's own order (else: by key). */
typedef struct tcase {
  int64_t n;
  size_t maxw, key_off, row_off;
  int shift;
  unsigned char *buf;
  sl_record *recs;
  sl_sort_key_fn key;
  int (*rcmp)(const sl_record *a, const sl_record *b);
} tcase;

static const unsigned char *field(const sl_record *r, size_t off) {
  return off < r->key_len ? (const unsigned char *)r->key + off
                          : (const unsigned char *)r->value + (off - r->key_len);
}
static uint64_t key_field(const sl_record *r, void *arg) {
  const tcase *tc = arg;
  uint64_t v = mt_u64(field(r, tc->key_off));
  return sl_sort_key_u64(tc->shift ? v >> tc->shift : v);
}
static uint64_t key_i64(const sl_record *r, void *arg) {
  (void)arg;
  return sl_sort_key_i64(mt_i64(r->key));
}
static uint64_t key_f64(const sl_record *r, void *arg) {
  (void)arg;
  return sl_sort_key_f64(mt_f64(r->key));
}
static int64_t row_of(const tcase *tc, const sl_record *r) {
  if (tc->shift)
    return (int64_t)(mt_u64(field(r, tc->key_off)) & ((UINT64_C(1) << tc->shift) - 1));
  if (r->value_len < tc->row_off + 8)
    return -1;
  return (int64_t)rd_be64((const unsigned char *)r->value + tc->row_off);
}
static int ocmp(const tcase *tc, const sl_record *a, const sl_record *b) {
  if (tc->rcmp)
    return tc->rcmp(a, b);
  uint64_t x = tc->key(a, (void *)tc), y = tc->key(b, (void *)tc);
  return (x > y) - (x < y);
}

/* 0: sort by the key (sl_flow_sort_by_key); 2 or 3: by keys_split's words. */
static int g_words;
static void keys_split(const sl_record *r, void *arg, uint64_t *w) {
  const tcase *tc = arg;
  uint64_t k = tc->key(r, arg);
  if (g_words == 2) {
    w[0] = k >> 32;
    w[1] = k & 0xffffffffu;
  } else {
    w[0] = 0x5a5a5a5a5a5a5a5aull;
    w[1] = k >> 8;
    w[2] = k & 0xffu;
  }
}

/* Records of klen + vlen + vpad(i) bytes (junk bytes, the row, the key field from kg(i)). */
static void tc_make(tcase *tc, int64_t n, size_t klen, size_t vlen, size_t key_off, size_t row_off,
                    int shift, uint64_t (*kg)(int64_t), size_t (*vpad)(int64_t), size_t maxpad) {
  *tc = (tcase){n, klen + vlen + maxpad, key_off, row_off, shift, NULL, NULL, key_field, NULL};
  tc->buf = xcalloc((size_t)n, tc->maxw);
  tc->recs = xcalloc((size_t)n, sizeof *tc->recs);
  for (int64_t i = 0; i < n; i++) {
    unsigned char *p = tc->buf + (size_t)i * tc->maxw;
    size_t vl = vlen + (vpad ? vpad(i) : 0);
    for (size_t j = 0; j < klen + vl; j++)
      p[j] = (unsigned char)(mt_mix((uint64_t)i * 131 + j) & 0xff);
    if (!shift)
      be64(p + klen + row_off, (uint64_t)i);
    uint64_t k = shift ? kg(i) << shift | (uint64_t)i : kg(i);
    memcpy(p + key_off, &k, 8);
    tc->recs[i] = (sl_record){p, klen, p + klen, vl};
  }
}
static void tc_free(tcase *tc) {
  free(tc->buf);
  free(tc->recs);
  memset(tc, 0, sizeof *tc);
}

static uint64_t kg_random(int64_t i) {
  return mt_mix((uint64_t)i);
}
static uint64_t kg_range10(int64_t i) {
  return mt_mix((uint64_t)i + 5) % 10;
}
static uint64_t kg_range1000(int64_t i) {
  return mt_mix((uint64_t)i + 9) % 1000;
}
static uint64_t kg_equal(int64_t i) {
  (void)i;
  return 0x0123456789abcdefull;
}
/* Skewed: 20% of the keys below 256, 5% spread over every scale below 2^56, the rest
 * random. Most records share the two highest digits that differ, at every rank count:
 * buckets too big for the cache two digits down. */
static uint64_t kg_skewed(int64_t i) {
  uint64_t h = mt_mix((uint64_t)i * 3 + 1), c = h % 20;
  return c < 4    ? h >> 56
         : c == 4 ? mt_mix((uint64_t)i) >> (8 + (h >> 8) % 56)
                  : mt_mix((uint64_t)i);
}

/* ------------------------------------------------------------------ running and checking */
static int gen_fn(int64_t i, sl_emitter *out, void *arg) {
  const sl_record *r = &((const tcase *)arg)->recs[i];
  return sl_emit(out, r->key, r->key_len, r->value, r->value_len);
}

typedef struct sink {
  mt_recs recs;
  int probed, spill_files;
} sink;
static int sink_fn(const sl_record *r, void *arg) {
  sink *s = arg;
  if (!s->probed) {
    s->probed = 1;
    s->spill_files = count_spill_files();
  }
  mt_recs_add_rec(&s->recs, r);
  return 0;
}

static const tcase *q_tc;
static int q_desc;
static int q_order(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  int c = ocmp(q_tc, &q_tc->recs[a], &q_tc->recs[b]);
  c = q_desc ? -c : c;
  return c ? c : (a > b) - (a < b);
}

static void print_at(const char *what, const char *msg, uint64_t i, const tcase *tc,
                     const sl_record *r, int64_t want_row) {
  MT_LOC();
  fprintf(stderr, "%s: position %" PRIu64 " %s: row %lld, key %016" PRIx64 "; ", what, i, msg,
          (long long)row_of(tc, r), tc->key(r, (void *)tc));
  if (want_row >= 0)
    fprintf(stderr, "vs row %lld, key %016" PRIx64, (long long)want_row,
            tc->key(&tc->recs[want_row], (void *)tc));
  fprintf(stderr, "\n");
}

/* Sorts the case's records by key (descending if desc) from parts source partitions (0:
 * one per rank), with 8K of sort memory if spill, and checks the output. Collective. */
static void run_check(const tcase *tc, const char *name, int desc, int spill, int parts) {
  char what[256];
  snprintf(what, sizeof what, "sort_by_key%s(%s, n=%lld, %s%s, %d source parts)",
           g_words == 2 ? "s, 2 words"
           : g_words    ? "s, 3 words"
                        : "",
           name, (long long)tc->n, desc ? "descending" : "ascending", spill ? ", 8K memory" : "",
           parts);
  set_opt("sort-memory-bytes", spill ? "8K" : "256M");
  sink s = {0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, tc->n, gen_fn, (void *)tc, parts), SL_OK);
  if (g_words)
    EXPECT_RC(sl_flow_sort_by_keys(f, keys_split, (size_t)g_words, (void *)tc, desc), SL_OK);
  else
    EXPECT_RC(sl_flow_sort_by_key(f, tc->key, (void *)tc, desc), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, sink_fn, &s), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  sl_flow_destroy(&f);
  set_opt("sort-memory-bytes", "256M");
  /* the merge read spilled runs: one at least (a merge pass, which bounds the open runs,
   * may have just combined them all into one) */
  if (spill && s.recs.len > 4 * 8192 && s.spill_files >= 0)
    EXPECT_TRUE(s.spill_files >= 1, "%s: %zu bytes here but %d spill runs at the merge", what,
                s.recs.len, s.spill_files);
  EXPECT_TRUE(mt_dir_entries(g_tmpdir) == 0, "%s: files left in %s", what, g_tmpdir);
  uint64_t mine = s.recs.n, *cnt = xcalloc((size_t)g_size, sizeof *cnt);
  MPI_Gather(&mine, 1, MPI_UINT64_T, cnt, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  mt_recs all = {0};
  mt_recs_gather0(&s.recs, &all);
  if (g_rank == 0) {
    int64_t n = tc->n, *order = xcalloc((size_t)n, sizeof *order);
    for (int64_t i = 0; i < n; i++)
      order[i] = i;
    q_tc = tc;
    q_desc = desc;
    qsort(order, (size_t)n, sizeof *order, q_order);
    EXPECT_TRUE(all.n == (size_t)n, "%s: %zu records, expected %lld", what, all.n, (long long)n);
    unsigned char *seen = xcalloc((size_t)n, 1);
    /* one rank, one source partition: the stable order; more ranks, one source partition:
     * equal keys in arrival order within each rank */
    int stable = g_size == 1 && parts <= 1, rank_stable = g_size > 1 && parts == 1, rank = 0;
    int unsorted = 0, bounds = 0, wrong = 0, keys = 0, unstable = 0;
    uint64_t next_first = cnt[0];
    sl_record prev = {0};
    int64_t prev_row = -1;
    for (uint64_t i = 0; i < all.n; i++) {
      sl_record r = mt_recs_get(&all, i);
      int first = i == 0;
      while (i == next_first && rank < g_size - 1) { /* i is the first record of a later rank */
        first = 1;
        next_first += cnt[++rank];
      }
      int c = i ? ocmp(tc, &prev, &r) : 0;
      if (desc ? c < 0 : c > 0) {
        if (first ? bounds++ < 3 : unsorted++ < 3)
          print_at(what,
                   first ? "(a rank's first) is before the previous rank's last"
                         : "is out of order",
                   i, tc, &r, -1);
      }
      prev = r;
      int64_t row = row_of(tc, &r), prow = prev_row;
      prev_row = -1;
      if (row < 0 || row >= n || seen[row] || mt_rec_cmp(&r, &tc->recs[row]) != 0) {
        if (wrong++ < 3)
          print_at(what, "is not an input record, or a repeated one", i, tc, &r, -1);
        continue;
      }
      seen[row] = 1;
      prev_row = row;
      if (rank_stable && !first && c == 0 && prow >= row && unstable++ < 3)
        print_at(what, "has an equal key and an earlier row than the one before (vs)", i, tc, &r,
                 prow);
      if (i < (uint64_t)n && ocmp(tc, &r, &tc->recs[order[i]]) != 0 && keys++ < 3)
        print_at(what, "has another key than the oracle (vs)", i, tc, &r, order[i]);
      if (stable && i < (uint64_t)n && row != order[i] && unstable++ < 3)
        print_at(what, "is not the stable order's row (vs)", i, tc, &r, order[i]);
    }
    EXPECT_TRUE(unsorted == 0, "%s: %d records out of order within a rank", what, unsorted);
    EXPECT_TRUE(bounds == 0, "%s: %d rank boundaries out of order", what, bounds);
    EXPECT_TRUE(wrong == 0, "%s: %d records not from the input, or repeated", what, wrong);
    EXPECT_TRUE(keys == 0, "%s: %d positions with another key than the oracle's", what, keys);
    EXPECT_TRUE(unstable == 0, "%s: %d equal keys out of arrival order", what, unstable);
    free(seen);
    free(order);
  }
  mt_recs_free(&all);
  mt_recs_free(&s.recs);
  free(cnt);
}

/* Each of ascending/descending, with the given memory modes. */
static void run_all(const tcase *tc, const char *name, int mem, int spill, int parts) {
  for (int desc = 0; desc < 2; desc++) {
    if (mem)
      run_check(tc, name, desc, 0, parts);
    if (spill)
      run_check(tc, name, desc, 1, parts);
  }
}

/* ------------------------------------------------------------------ the tests */
/* 16-byte records, random keys: in memory, spilled, and enough records on every rank
 * (> 1 MiB, 65536 records) for the most significant digit pass. */
static void test_random_u64(void) {
  tcase tc;
  tc_make(&tc, 20000, 8, 8, 0, 0, 0, kg_random, NULL, 0);
  run_all(&tc, "random u64, 16-byte records", 1, 1, 0);
  run_check(&tc, "random u64, 16-byte records", 0, 1, 3);
  tc_free(&tc);
  int64_t big = 80000 * (int64_t)g_size < 150000 ? 150000 : 80000 * (int64_t)g_size;
  tc_make(&tc, big, 8, 8, 0, 0, 0, kg_random, NULL, 0);
  run_all(&tc, "random u64, 16-byte records, > 1 MiB per rank", 1, 0, 0);
  tc_free(&tc);
}

/* Stability: 10 distinct keys and all keys equal, from one source partition. */
static void test_stable(void) {
  tcase tc;
  tc_make(&tc, 20000, 8, 8, 0, 0, 0, kg_range10, NULL, 0);
  run_all(&tc, "10 distinct keys", 1, 1, 1);
  tc_free(&tc);
  tc_make(&tc, 20000, 8, 8, 0, 0, 0, kg_equal, NULL, 0);
  run_all(&tc, "all keys equal", 1, 1, 1);
  tc_free(&tc);
  tc_make(&tc, 150000, 8, 8, 0, 0, 0, kg_range10, NULL, 0);
  run_check(&tc, "10 distinct keys, > 1 MiB", 1, 0, 1);
  tc_free(&tc);
}

/* int64 keys by sl_sort_key_i64: random (oracle: signed comparison) and extremes. */
static int cmp_signed(const sl_record *a, const sl_record *b) {
  int64_t x = mt_i64(a->key), y = mt_i64(b->key);
  return (x > y) - (x < y);
}
/* The documented orders, ascending, as exact bit patterns; a record's key is one of them
 * and the oracle orders by the index in the table. */
static const uint64_t *g_table;
static size_t g_ntable;
static int table_index(const sl_record *r) {
  for (size_t i = 0; i < g_ntable; i++)
    if (mt_u64(r->key) == g_table[i])
      return (int)i;
  return -1;
}
static int cmp_table(const sl_record *a, const sl_record *b) {
  int x = table_index(a), y = table_index(b);
  return (x > y) - (x < y);
}
static uint64_t kg_table(int64_t i) {
  return g_table[mt_mix((uint64_t)i + 77) % g_ntable];
}
static uint64_t f64_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}
static void run_table(const uint64_t *table, size_t ntable, sl_sort_key_fn key, const char *name) {
  g_table = table;
  g_ntable = ntable;
  tcase tc;
  tc_make(&tc, 3000, 8, 8, 0, 0, 0, kg_table, NULL, 0);
  tc.key = key;
  tc.rcmp = cmp_table;
  run_all(&tc, name, 1, 1, 0);
  run_check(&tc, name, 0, 0, 1);
  run_check(&tc, name, 1, 0, 1);
  tc_free(&tc);
}
static void test_signed(void) {
  tcase tc;
  tc_make(&tc, 20000, 8, 8, 0, 0, 0, kg_random, NULL, 0);
  tc.key = key_i64;
  tc.rcmp = cmp_signed;
  run_all(&tc, "random i64", 1, 1, 0);
  tc_free(&tc);
  const int64_t v[] = {INT64_MIN, INT64_MIN + 1, -(INT64_C(1) << 32), -256,          -1,       0, 1,
                       255,       256,           INT64_C(1) << 32,    INT64_MAX - 1, INT64_MAX};
  uint64_t t[sizeof v / sizeof v[0]];
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    t[i] = (uint64_t)v[i];
  run_table(t, sizeof t / sizeof t[0], key_i64, "i64 extremes");
}
static void test_double(void) {
  /* a NaN with the sign bit set first, then the order of numbers, a NaN without it last */
  const double v[] = {-INFINITY, -DBL_MAX, -2.5,
                      -1.0,      -DBL_MIN, -4.9406564584124654e-324,
                      -0.0,      0.0,      4.9406564584124654e-324,
                      DBL_MIN,   1.0,      2.5,
                      DBL_MAX,   INFINITY};
  uint64_t t[sizeof v / sizeof v[0] + 2];
  t[0] = UINT64_C(0xfff8000000000000);
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    t[i + 1] = f64_bits(v[i]);
  t[sizeof t / sizeof t[0] - 1] = UINT64_C(0x7ff8000000000000);
  run_table(t, sizeof t / sizeof t[0], key_f64, "f64 order");
}

/* Record widths: 8 (key only; its top 44 bits the sort key, the row below), 24, 32, 40
 * (the key in the value), 100 (empty key, the key in the value) and, past the 1 MiB
 * threshold at every rank count, 100 bytes with keys leaving big buckets two digits down. */
static void test_widths(void) {
  tcase tc;
  tc_make(&tc, 20000, 8, 0, 0, 0, 20, kg_range1000, NULL, 0);
  run_all(&tc, "8-byte records, key only", 1, 1, 0);
  tc_free(&tc);
  tc_make(&tc, 20000, 8, 0, 0, 0, 20, kg_random, NULL, 0);
  run_check(&tc, "8-byte records, random", 0, 0, 1);
  tc_free(&tc);
  tc_make(&tc, 20000, 8, 16, 0, 0, 0, kg_range1000, NULL, 0);
  run_all(&tc, "24-byte records", 1, 1, 0);
  tc_free(&tc);
  tc_make(&tc, 40000, 8, 24, 0, 0, 0, kg_random, NULL, 0);
  run_all(&tc, "32-byte records", 1, 0, 0);
  tc_free(&tc);
  tc_make(&tc, 20000, 4, 36, 4 + 12, 0, 0, kg_random, NULL, 0);
  run_all(&tc, "40-byte records, key in the value", 1, 1, 0);
  tc_free(&tc);
  tc_make(&tc, 20000, 0, 100, 50, 0, 0, kg_range1000, NULL, 0);
  run_all(&tc, "100-byte records, empty key", 1, 1, 1);
  tc_free(&tc);
  tc_make(&tc, 70000, 0, 100, 50, 8, 0, kg_skewed, NULL, 0);
  run_all(&tc, "100-byte records, skewed keys, > 1 MiB", 1, 0, 0);
  tc_free(&tc);
}

/* Fewer records than the insertion sort's threshold (32), around it, and a few. */
static uint64_t kg_range5(int64_t i) {
  return mt_mix((uint64_t)i) % 5;
}
static void test_tiny(void) {
  const int64_t ns[] = {0, 1, 2, 5, 31, 32, 33, 100};
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
    tcase tc;
    tc_make(&tc, ns[i], 8, 8, 0, 0, 0, kg_range5, NULL, 0);
    run_all(&tc, "16-byte records, 5 keys", 1, 0, 1);
    tc_free(&tc);
    tc_make(&tc, ns[i], 8, 92, 0, 0, 0, kg_range5, NULL, 0);
    run_all(&tc, "100-byte records, 5 keys", 1, 0, 1);
    tc_free(&tc);
  }
}

/* Mixed lengths: from row 5000 every 7th value longer (packed, then general), and every
 * 3rd from the start. */
static size_t pad_late(int64_t i) {
  return i >= 5000 && i % 7 == 3 ? (size_t)(1 + i % 20) : 0;
}
static size_t pad_every3(int64_t i) {
  return i % 3 == 0 ? 5 : 0;
}
static void test_mixed_lengths(void) {
  tcase tc;
  tc_make(&tc, 20000, 8, 8, 0, 0, 0, kg_range1000, pad_late, 20);
  run_all(&tc, "mixed lengths from row 5000", 1, 1, 1);
  tc_free(&tc);
  tc_make(&tc, 20000, 8, 8, 0, 0, 0, kg_random, pad_every3, 5);
  run_all(&tc, "mixed lengths, every 3rd", 1, 1, 0);
  tc_free(&tc);
}

static void test_null_key(void) {
  sink s = {0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  EXPECT_RC(sl_flow_sort_by_key(f, NULL, NULL, 0), SL_ERR_INVAL);
  EXPECT_RC(sl_flow_sort_by_key(NULL, key_i64, NULL, 0), SL_ERR_INVAL);
  EXPECT_RC(sl_flow_to_callback(f, sink_fn, &s), SL_OK);
  EXPECT_RC(sl_run(f), SL_ERR_INVAL); /* the builder's error, remembered */
  sl_flow_destroy(&f);
  EXPECT_INT(s.recs.n, 0);
  mt_recs_free(&s.recs);
}

/* sl_flow_sort_by_keys: the cases above with the key in 2 and in 3 words, shared between
 * the two (random keys with both, the rest once: the suite runs at 1, 2 and 4 ranks, also
 * under the sanitizers). */
static void test_words(void) {
  g_words = 2;
  test_random_u64();
  test_stable();
  test_double();
  g_words = 3;
  test_random_u64();
  test_signed();
  test_tiny();
  g_words = 0;
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  EXPECT_RC(sl_flow_sort_by_keys(f, keys_split, 0, NULL, 0), SL_ERR_INVAL);
  EXPECT_RC(sl_flow_sort_by_keys(f, keys_split, SL_SORT_KEY_WORDS_MAX + 1, NULL, 0), SL_ERR_INVAL);
  EXPECT_RC(sl_flow_sort_by_keys(f, NULL, 2, NULL, 0), SL_ERR_INVAL);
  sl_flow_destroy(&f);
}

/* A key function that is not deterministic (a new random key at every call) breaks its
 * contract. Once a partition holds more than 1 MiB of records (beyond that, passes take the
 * keys again rather than from an array) the sort must fail with SL_ERR_CALLBACK on every
 * rank instead of writing past its buffers. Range records are 8 bytes (an int64 value):
 * 300,000 per rank are 2.3 MiB, even when the random splitters route unevenly. */
static uint64_t key_fickle(const sl_record *r, void *arg) {
  (void)r;
  uint64_t *state = arg;
  *state = *state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
  return *state >> 11;
}
static void test_fickle_key(void) {
  sink s = {0};
  uint64_t state = 1 + (uint64_t)g_rank;
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 300000 * (int64_t)g_size, 0), SL_OK);
  EXPECT_RC(sl_flow_sort_by_key(f, key_fickle, &state, 0), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, sink_fn, &s), SL_OK);
  EXPECT_RC(sl_run(f), SL_ERR_CALLBACK);
  sl_flow_destroy(&f);
  mt_recs_free(&s.recs);
}

/* ------------------------------------------------------------------ main */
static const mt_test tests[] = {
    {"random_u64", test_random_u64},
    {"stable", test_stable},
    {"signed", test_signed},
    {"double", test_double},
    {"widths", test_widths},
    {"tiny", test_tiny},
    {"mixed_lengths", test_mixed_lengths},
    {"null_key", test_null_key},
    {"fickle_key", test_fickle_key},
    {"words", test_words},
    {NULL, NULL},
};

static void setup(void) {
  snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/sluice-sortkey-XXXXXX");
  if (!mkdtemp(g_tmpdir)) {
    perror("mkdtemp");
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  if (sl_option_set(g_ctx, "tmpdir", g_tmpdir) != SL_OK ||
      sl_option_set(g_ctx, "sort-memory-bytes", "256M") != SL_OK)
    MPI_Abort(MPI_COMM_WORLD, 3);
}
static void teardown(void) {
  rmdir(g_tmpdir);
}

int main(int argc, char **argv) {
  return mt_main_with(argc, argv, "sort_by_key", tests, setup, teardown);
}
