/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the radix sort in steps (algo/sort_fixed.c, sl__sort_fixed_step): against
 * an oracle (qsort by key, then by arrival: a stable order), with budgets from one record
 * to all of them, record widths 8 to 56 bytes, one and two key words, keys with many
 * duplicates and keys all equal; and between any two steps, the records where
 * sl__sort_fixed_job_pieces says they are sort again (sl__sort_fixed) to the same result,
 * and a job resumed from there with the frames of sl__sort_fixed_job_frames finishes the
 * sort, to the same result, in fewer steps than a whole sort: what a checkpoint taken
 * mid-sort saves and a resumed run does. */
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
static int g_framed; /* checkpoints taken with frames (resumed from them) */
static int g_nested; /* ... with a bucket's own job's frame too */
static size_t piece_at;
static int gather(void *arg, const char *p, size_t len) {
  memcpy((char *)arg + piece_at, p, len);
  piece_at += len;
  return 0;
}

static void one(size_t n, size_t w, unsigned words, uint64_t keymask, size_t budget) {
  size_t klen = 8 * words;
  char *a = malloc(n * w), *scratch = malloc(n * w), *want = malloc(n * w);
  char *again = malloc(n * w), *again_scratch = malloc(n * w), *resumed = malloc(n * w);
  sl__fixsort_frame *frames = malloc(SL__FIXSORT_DIGITS * sizeof *frames);
  CU_ASSERT_FATAL(a && scratch && want && again && again_scratch && resumed && frames);
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
  /* the steps of a whole sort, for comparison with a resumed one */
  int steps_all = 0;
  {
    memcpy(again, a, n * w);
    sl__fixsort_job *j0 = NULL;
    CU_ASSERT_FATAL(sl__sort_fixed_begin(&fs, again, n, again_scratch, &j0) == SL_OK);
    for (int d0 = 0; !d0; steps_all++) {
      char *s0;
      CU_ASSERT_FATAL(sl__sort_fixed_step(j0, budget, &d0, &s0) == SL_OK);
    }
    sl__sort_fixed_job_free(j0);
  }
  sl__fixsort_job *job = NULL;
  CU_ASSERT_FATAL(sl__sort_fixed_begin(&fs, a, n, scratch, &job) == SL_OK);
  int done = 0, steps = 0, again_ok = 1, resumed_ok = 1, framed = 0, fewer = 0, nf_was = 0;
  char *sorted = NULL;
  while (!done) {
    CU_ASSERT_FATAL(sl__sort_fixed_step(job, budget, &done, &sorted) == SL_OK);
    steps++;
    /* a checkpoint at steps 1, 2, 4, 8..., and whenever the chain of frames changes (a
     * bucket's own job starts or ends its scatter) */
    int nf_now = done ? 0 : sl__sort_fixed_job_frames(job, frames, SL__FIXSORT_DIGITS);
    if (!done && ((steps & (steps - 1)) == 0 || nf_now != nf_was)) {
      nf_was = nf_now;
      piece_at = 0;
      CU_ASSERT_FATAL(sl__sort_fixed_job_pieces(job, gather, again) == SL_OK);
      CU_ASSERT_FATAL(piece_at == n * w);
      /* what a resumed run does with a saved state: goes on from the frames (it must
       * sort the same, in fewer steps than from the start when there are frames) */
      int nf = sl__sort_fixed_job_frames(job, frames, SL__FIXSORT_DIGITS);
      memcpy(resumed, again, n * w);
      memset(again_scratch, 0xA5, n * w); /* a new run's scratch holds nothing of use */
      sl__fixsort_job *j2 = NULL;
      CU_ASSERT_FATAL(sl__sort_fixed_resume(&fs, resumed, n, again_scratch, frames, nf, &j2) ==
                      SL_OK);
      int done2 = 0, steps2 = 0;
      char *s3 = NULL;
      while (!done2) {
        CU_ASSERT_FATAL(sl__sort_fixed_step(j2, budget, &done2, &s3) == SL_OK);
        steps2++;
      }
      resumed_ok &= memcmp(s3, want, n * w) == 0;
      sl__sort_fixed_job_free(j2);
      if (nf > 1)
        g_nested++;
      if (nf) {
        framed++;
        fewer += steps2 < steps_all;
      }
      char *s2;
      CU_ASSERT_FATAL(sl__sort_fixed(&fs, again, n, again_scratch, &s2) == SL_OK);
      again_ok &= memcmp(s2, want, n * w) == 0;
    }
  }
  sl__sort_fixed_job_free(job);
  CU_ASSERT(memcmp(sorted, want, n * w) == 0);
  CU_ASSERT(again_ok);
  CU_ASSERT(resumed_ok);
  CU_ASSERT(fewer == framed);
  g_framed += framed;
  if (budget < n && n * w > (1u << 20))
    CU_ASSERT(steps > 2); /* past the in-cache size it does go in steps */
  free(a);
  free(scratch);
  free(want);
  free(again);
  free(again_scratch);
  free(resumed);
  free(frames);
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

/* Frames did come (the skewed inputs take checkpoints inside a bucket's own job), and
 * frames that do not fit the records are refused. */
static void test_frames(void) {
  CU_ASSERT(g_framed > 0);
  CU_ASSERT(g_nested > 0);
  size_t n = 100000, w = 16;
  char *a = malloc(n * w), *scratch = malloc(n * w);
  sl__fixsort_frame *f = malloc(2 * sizeof *f);
  CU_ASSERT_FATAL(a && scratch && f);
  for (size_t i = 0; i < n; i++) {
    uint64_t k = rnd(), idx = i;
    memcpy(a + i * w, &k, 8);
    memcpy(a + i * w + 8, &idx, 8);
  }
  sl__fixsort fs = {{0}, 8, 8};
  fs.ord.words = 1;
  fs.ord.key = key1;
  sl__fixsort_job *job = NULL;
  CU_ASSERT_FATAL(sl__sort_fixed_begin(&fs, a, n, scratch, &job) == SL_OK);
  int done = 0;
  char *sorted;
  while (!done && sl__sort_fixed_job_frames(job, f, 2) == 0)
    CU_ASSERT_FATAL(sl__sort_fixed_step(job, 1000, &done, &sorted) == SL_OK);
  CU_ASSERT_FATAL(!done);
  sl__fixsort_frame good = f[0];
  sl__fixsort_job *j2 = NULL;
  f[0].n = n + 1; /* another record count */
  CU_ASSERT(sl__sort_fixed_resume(&fs, scratch, n, a, f, 1, &j2) == SL_ERR_FORMAT && !j2);
  f[0] = good;
  f[0].cnt[0]++; /* counts that do not add up */
  CU_ASSERT(sl__sort_fixed_resume(&fs, scratch, n, a, f, 1, &j2) == SL_ERR_FORMAT && !j2);
  f[0] = good;
  f[0].d = 8; /* a digit past a one-word key */
  CU_ASSERT(sl__sort_fixed_resume(&fs, scratch, n, a, f, 1, &j2) == SL_ERR_FORMAT && !j2);
  f[0] = good;
  CU_ASSERT(sl__sort_fixed_resume(&fs, scratch, n, a, f, 1, &j2) == SL_OK && j2);
  sl__sort_fixed_job_free(j2);
  sl__sort_fixed_job_free(job);
  free(a);
  free(scratch);
  free(f);
}

int main(void) {
  static const sl_test tests[] = {{"widths and budgets against qsort", test_widths_budgets},
                                  {"duplicate and equal keys", test_duplicates},
                                  {"two key words", test_two_words},
                                  {"a skewed top digit", test_skewed},
                                  {"small inputs", test_small},
                                  {"saved frames: taken, checked", test_frames},
                                  {NULL, NULL}};
  return sl_test_main("sort_steps", tests);
}
