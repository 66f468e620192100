/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the radix sort in steps (algo/sort_fixed.c, sl__sort_fixed_step): against
 * an oracle (qsort by key, then by arrival: a stable order), with budgets from one record
 * to all of them, record widths 8 to 56 bytes, one and two key words, keys with many
 * duplicates and keys all equal; and between any two steps, the records where
 * sl__sort_fixed_job_at says they are sort again (sl__sort_fixed) to the same result: what
 * a checkpoint taken mid-sort saves and a resumed run sorts again. */
#include <stdlib.h>
#include <string.h>

#include "algo/sort_fixed.h"
#include "unit.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rnd(void) {
  return sl_test_xorshift(&rng_state);
}

/* records: an 8-byte key (or two), then the arrival index (8 bytes), then filler */
static uint64_t key1(const sl_record *r, void *arg) {
  (void)arg;
  uint64_t k;
  memcpy(&k, r->key, 8);
  return k;
}
static void key2(const sl_record *r, void *arg, uint64_t *k) {
  (void)arg;
  memcpy(&k[0], r->key, 8);
  memcpy(&k[1], (const char *)r->key + 8, 8);
}

static size_t g_klen;
static int oracle_cmp(const void *a, const void *b) {
  int c = 0; /* keys compared as numbers, most significant word first */
  for (size_t o = 0; o < g_klen && !c; o += 8) {
    uint64_t x, y;
    memcpy(&x, (const char *)a + o, 8);
    memcpy(&y, (const char *)b + o, 8);
    c = (x > y) - (x < y);
  }
  if (c)
    return c;
  uint64_t i, j; /* arrival: the stable order */
  memcpy(&i, (const char *)a + g_klen, 8);
  memcpy(&j, (const char *)b + g_klen, 8);
  return (i > j) - (i < j);
}

static int g_skew;
static size_t piece_at;
static int gather(void *arg, const char *p, size_t len) {
  memcpy((char *)arg + piece_at, p, len);
  piece_at += len;
  return 0;
}

static void one(size_t n, size_t w, unsigned words, uint64_t keymask, size_t budget) {
  size_t klen = 8 * words;
  char *a = malloc(n * w), *scratch = malloc(n * w), *want = malloc(n * w);
  char *again = malloc(n * w), *again_scratch = malloc(n * w);
  CU_ASSERT_FATAL(a && scratch && want && again && again_scratch);
  for (size_t i = 0; i < n; i++) {
    char *r = a + i * w;
    memset(r, (int)(i & 0xFF), w);
    for (unsigned k = 0; k < words; k++) {
      uint64_t x = rnd() & keymask;
      if (g_skew && k == 0 && rnd() % 10) /* nine in ten share the top byte */
        x = (x & 0x00FFFFFFFFFFFFFFull) | 0x3F00000000000000ull;
      memcpy(r + 8 * k, &x, 8);
    }
    uint64_t idx = i;
    memcpy(r + klen, &idx, 8);
  }
  memcpy(want, a, n * w);
  g_klen = klen;
  qsort(want, n, w, oracle_cmp);
  sl__fixsort fs = {{0}, (uint32_t)klen, (uint32_t)(w - klen)};
  fs.ord.words = words;
  if (words == 1)
    fs.ord.key = key1;
  else
    fs.ord.keys = key2;
  sl__fixsort_job *job = NULL;
  CU_ASSERT_FATAL(sl__sort_fixed_begin(&fs, a, n, scratch, &job) == SL_OK);
  int done = 0, steps = 0, again_ok = 1;
  char *sorted = NULL;
  while (!done) {
    CU_ASSERT_FATAL(sl__sort_fixed_step(job, budget, &done, &sorted) == SL_OK);
    steps++;
    if (!done && (steps & (steps - 1)) == 0) { /* a checkpoint (steps 1, 2, 4, 8...) */
      piece_at = 0;
      CU_ASSERT_FATAL(sl__sort_fixed_job_pieces(job, gather, again) == SL_OK);
      CU_ASSERT_FATAL(piece_at == n * w);
      char *s2;
      CU_ASSERT_FATAL(sl__sort_fixed(&fs, again, n, again_scratch, &s2) == SL_OK);
      again_ok &= memcmp(s2, want, n * w) == 0;
    }
  }
  sl__sort_fixed_job_free(job);
  CU_ASSERT(memcmp(sorted, want, n * w) == 0);
  CU_ASSERT(again_ok);
  if (budget < n && n * w > (1u << 20))
    CU_ASSERT(steps > 2); /* past the in-cache size it does go in steps */
  free(a);
  free(scratch);
  free(want);
  free(again);
  free(again_scratch);
}

static void test_widths_budgets(void) {
  static const size_t widths[] = {16, 24, 48, 56};
  static const size_t budgets[] = {1, 1000, 1u << 16, (size_t)-1};
  for (size_t wi = 0; wi < 4; wi++)
    for (size_t bi = 0; bi < 4; bi++) {
      size_t n = budgets[bi] == 1 ? 70000 : 200000; /* past the in-cache size (1 MiB) */
      one(n, widths[wi], 1, ~(uint64_t)0, budgets[bi]);
    }
}

static void test_duplicates(void) {
  one(200000, 16, 1, 0xFF, 5000);        /* 256 distinct keys: long runs of equal ones */
  one(200000, 16, 1, 0xFF00FF0000, 777); /* differing digits in the middle only */
  one(150000, 24, 1, 0, 3000);           /* all equal: the arrival order */
}

static void test_skewed(void) {
  /* doubles in [0, 1) as their bits: one exponent byte holds most of them, so one bucket
   * of the first scatter holds most records and gets a job of its own */
  g_skew = 1;
  one(300000, 16, 1, ~(uint64_t)0, 4096);
  one(300000, 48, 2, ~(uint64_t)0, 20000);
  one(300000, 24, 1, 0xFFFF0000000000FFull, 1000); /* and few digits live below */
  g_skew = 0;
}

static void test_two_words(void) {
  one(150000, 24, 2, 0x3, 4096); /* the first word decides little: the second sorts */
  one(150000, 32, 2, ~(uint64_t)0, 100000);
}

static void test_small(void) {
  one(0, 16, 1, ~(uint64_t)0, 10);
  one(1, 16, 1, ~(uint64_t)0, 10);
  one(5000, 16, 1, ~(uint64_t)0, 10); /* in the cache: one step */
}

int main(void) {
  static const sl_test tests[] = {{"widths and budgets against qsort", test_widths_budgets},
                                  {"duplicate and equal keys", test_duplicates},
                                  {"two key words", test_two_words},
                                  {"a skewed top digit", test_skewed},
                                  {"small inputs", test_small},
                                  {NULL, NULL}};
  return sl_test_main("sort_steps", tests);
}
