/* SPDX-License-Identifier: BSD-3-Clause */
/* The local sorts of packed fixed-size records (see sort_fixed.h): by a compare function,
 * a stable merge sort; by a key of 64-bit words, a radix sort (further down).
 *
 * The merge sort:
 *   1. Runs of SORT_RUN records are insertion-sorted in place.
 *   2. Each block of about SORT_BLOCK_BYTES (in the L2 cache, with its share of the scratch)
 *      is merge-sorted bottom-up, ping-ponging between the array and the scratch.
 *   3. The blocks are merged bottom-up across the array.
 * Every merge takes the left record unless the right one is strictly before it, so equal
 * records keep their order; the choice is made with masks, not a branch, and each merge
 * runs from both ends at once (two independent chains of comparator calls). A
 * merge whose halves are already in order is one copy (sorted and nearly sorted input). The
 * body is instantiated for the common record widths so that a record copy is a few moves. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "algo/sort_fixed.h"

#define SORT_RUN 8
#define SORT_BLOCK_BYTES (256u << 10)
#define SL__INLINE static inline __attribute__((always_inline))

/* Is x strictly before y? */
SL__INLINE int before(const sl__fixsort *fs, const char *x, const char *y) {
  sl_record rx = {x, fs->klen, x + fs->klen, fs->vlen};
  sl_record ry = {y, fs->klen, y + fs->klen, fs->vlen};
  const sl__sort_order *o = &fs->ord;
  int c = o->descending ? o->cmp(&ry, &rx, o->arg) : o->cmp(&rx, &ry, o->arg);
  return c < 0;
}

SL__INLINE void copy_rec(char *d, const char *s, size_t w) {
  if (w % 8 == 0 && w <= 64) {
    for (size_t o = 0; o < w; o += 8) {
      uint64_t x;
      memcpy(&x, s + o, 8);
      memcpy(d + o, &x, 8);
    }
  } else {
    memcpy(d, s, w);
  }
}

/* Merges [l, le) and [r, re) into o. Two merges run at once, one from the front (taking the
 * smaller record, the left one on a tie) and one from the back (taking the larger, the right
 * one on a tie): two independent chains of comparisons keep the core busy while each waits
 * for its comparator. They meet in the middle when one side runs out. */
SL__INLINE void merge(const sl__fixsort *fs, const char *l, const char *le, const char *r,
                      const char *re, char *o, size_t w) {
  if (l < le && r < re && before(fs, r, le - w)) {
    /* the front takes from l and r, the back from below le and re (which move down) */
    char *ob = o + (le - l) + (re - r);
    for (;;) {
      /* all ones when the right record goes first; opaque to the optimizer, so that it
       * selects with masks instead of turning the choice back into a branch */
      uintptr_t m = (uintptr_t)0 - (uintptr_t)before(fs, r, l);
      __asm__("" : "+r"(m));
      copy_rec(o, (const char *)(((uintptr_t)r & m) | ((uintptr_t)l & ~m)), w);
      o += w;
      r += w & m;
      l += w & ~m;
      if (l == le || r == re)
        break;
      /* all ones when the left record goes last (the right one is strictly before it) */
      uintptr_t n = (uintptr_t)0 - (uintptr_t)before(fs, re - w, le - w);
      __asm__("" : "+r"(n));
      ob -= w;
      copy_rec(ob, (const char *)(((uintptr_t)(le - w) & n) | ((uintptr_t)(re - w) & ~n)), w);
      le -= w & n;
      re -= w & ~n;
      if (l == le || r == re)
        break;
    }
  }
  /* one side is empty, or they are in order: copies */
  memcpy(o, l, (size_t)(le - l));
  o += le - l;
  memcpy(o, r, (size_t)(re - r));
}

/* One bottom-up pass over records [lo, hi): runs of width records from src, merged in
 * pairs into dst. */
SL__INLINE void merge_pass(const sl__fixsort *fs, const char *src, char *dst, size_t lo, size_t hi,
                           size_t width, size_t w) {
  for (size_t s = lo; s < hi; s += 2 * width) {
    size_t m = s + width < hi ? s + width : hi, e = s + 2 * width < hi ? s + 2 * width : hi;
    merge(fs, src + s * w, src + m * w, src + m * w, src + e * w, dst + s * w, w);
  }
}

SL__INLINE void insertion_runs(const sl__fixsort *fs, char *a, size_t lo, size_t hi, char *hold,
                               size_t w) {
  for (size_t s = lo; s < hi; s += SORT_RUN) {
    size_t e = s + SORT_RUN < hi ? s + SORT_RUN : hi;
    for (size_t i = s + 1; i < e; i++) {
      if (!before(fs, a + i * w, a + (i - 1) * w))
        continue;
      copy_rec(hold, a + i * w, w);
      size_t j = i;
      do {
        copy_rec(a + j * w, a + (j - 1) * w, w);
        j--;
      } while (j > s && before(fs, hold, a + (j - 1) * w)); /* stable: stop at an equal one */
      copy_rec(a + j * w, hold, w);
    }
  }
}

SL__INLINE char *sort_width(const sl__fixsort *fs, char *a, size_t n, char *scratch, size_t w) {
  size_t blk = SORT_RUN;
  while (blk * 2 * w <= SORT_BLOCK_BYTES)
    blk *= 2;
  int odd = 0; /* the blocks end up in scratch */
  for (size_t lo = 0; lo < n; lo += blk) {
    size_t hi = lo + blk < n ? lo + blk : n;
    insertion_runs(fs, a, lo, hi, scratch + lo * w, w);
    const char *src = a;
    char *dst = scratch;
    odd = 0;
    /* every block makes the same number of passes (a short last block too), so that all
     * blocks end in the same buffer */
    for (size_t width = SORT_RUN; width < blk; width *= 2) {
      merge_pass(fs, src, dst, lo, hi, width, w);
      const char *t = src;
      src = dst;
      dst = (char *)t;
      odd = !odd;
    }
  }
  char *src = odd ? scratch : a, *dst = odd ? a : scratch;
  for (size_t width = blk; width < n; width *= 2) {
    merge_pass(fs, src, dst, 0, n, width, w);
    char *t = src;
    src = dst;
    dst = t;
  }
  return src;
}

/* ---- by a key of 64-bit words: radix sort ----
 * The key of a record is kw words (1 for sl_flow_sort_by_key), most significant first:
 * digit d (0 the least significant) is byte d % 8 of word kw - 1 - d / 8.
 * Above RADIX_CACHE_BYTES, a most significant digit pass scatters the records into 256
 * buckets by the highest digit that differs, and each bucket is sorted the same way on the
 * digits below, as deep as it takes for the buckets to fit the cache (a skewed key, such as
 * positive doubles spread over a few exponents, needs three or four levels). A bucket at
 * or below RADIX_CACHE_BYTES is sorted in the cache: its keys are taken once into an
 * array that travels with the records through least significant digit passes, one per
 * digit that differs (small key ranges skip most). Every pass is stable. Keys are taken
 * by calling the key function: twice per level and once in the cache per record, rather
 * than keeping a key per record (besides the scratch buffer, the sort uses only the
 * bucket's key arrays and a count table per level: about 1 MiB for one word, whatever n). */
#define RADIX_BITS 8
#define RADIX_BUCKETS (1u << RADIX_BITS)
#define RADIX_DIGITS (64 / RADIX_BITS * SL_SORT_KEY_WORDS_MAX)
#define RADIX_CACHE_BYTES (1u << 20)
#define RADIX_SMALL 32 /* fewer records: insertion sort */

/* The digit counts of one level of the sort (on the heap): level l counts digits below at
 * most 8 kw - l (each level takes at least one digit). */
typedef struct rtab {
  size_t off[RADIX_BUCKETS], end[RADIX_BUCKETS];
  size_t cnt[][RADIX_BUCKETS];
} rtab;

typedef struct radix {
  const sl__fixsort *fs;
  unsigned kw;             /* words per key */
  uint64_t *k0, *k1;       /* the keys (kw words each) of a bucket sorted in the cache, and their
                              scratch */
  size_t kcap;             /* records the key arrays hold */
  rtab *small;             /* radix_small's table (all digits) */
  rtab *tab[RADIX_DIGITS]; /* level l's table (digits below 8 kw - l), made when needed */
  uint32_t *i0, *i1;       /* radix_small: where each key's record is, and their scratch */
  int nlive;               /* the digits that differ between some records (level 0 counts them all,
                              the levels below and radix_small only these): live[0..nlive),
                              ascending; -1 until level 0 has counted */
  unsigned char live[RADIX_DIGITS];
  int bad;   /* the key function gave a record two different keys */
  int nomem; /* no memory for a level's table */
} radix;

static rtab *rtab_new(int digits) {
  return malloc(sizeof(rtab) + (size_t)digits * sizeof(size_t[RADIX_BUCKETS]));
}

/* The key of the record at x into k (kw words, ascending order). */
SL__INLINE void key_at(const radix *rx, const char *x, uint64_t *k) {
  sl_record r = {x, rx->fs->klen, x + rx->fs->klen, rx->fs->vlen};
  sl__sort_key_words(&rx->fs->ord, &r, k);
}

SL__INLINE unsigned digit(const uint64_t *k, unsigned kw, int d) {
  return (unsigned)(k[kw - 1 - (unsigned)d / 8] >> ((unsigned)d % 8 * RADIX_BITS)) &
         (RADIX_BUCKETS - 1);
}

SL__INLINE int key_less(const uint64_t *x, const uint64_t *y, unsigned kw) {
  for (unsigned i = 0; i < kw; i++)
    if (x[i] != y[i])
      return x[i] < y[i];
  return 0;
}

SL__INLINE void key_copy(uint64_t *d, const uint64_t *s, unsigned kw) {
  for (unsigned i = 0; i < kw; i++)
    d[i] = s[i];
}

/* Starts of the buckets from their counts; 0 when one bucket holds all n (nothing to do). */
SL__INLINE int prefix(const size_t *cnt, size_t n, size_t *off) {
  size_t sum = 0;
  int trivial = 0;
  for (unsigned b = 0; b < RADIX_BUCKETS; b++) {
    trivial |= cnt[b] == n;
    off[b] = sum;
    sum += cnt[b];
  }
  return !trivial;
}

/* The live digits below top: live[0..return). */
SL__INLINE int live_below(const radix *rx, int top) {
  int nl = 0;
  while (nl < rx->nlive && rx->live[nl] < top)
    nl++;
  return nl;
}

/* Adds every digit of the keys of records [from, to) at src to t's counts (level 0). */
SL__INLINE void count_all(radix *rx, rtab *t, const char *src, size_t from, size_t to, size_t w) {
  unsigned kw = rx->kw;
  uint64_t k[SL_SORT_KEY_WORDS_MAX];
  for (size_t i = from; i < to; i++) {
    key_at(rx, src + i * w, k);
    for (unsigned j = 0; j < kw; j++) {
      uint64_t x = k[kw - 1 - j];
      for (unsigned b = 0; b < 8; b++)
        t->cnt[8 * j + b][(x >> (8 * b)) & (RADIX_BUCKETS - 1)]++;
    }
  }
}

/* From level 0's counts of all n keys: the digits below top that differ between some. */
static void find_live(radix *rx, const rtab *t, size_t n, int top) {
  rx->nlive = 0;
  for (int d = 0; d < top; d++) {
    int constant = 0;
    for (unsigned b = 0; b < RADIX_BUCKETS; b++)
      constant |= t->cnt[d][b] == n;
    if (!constant)
      rx->live[rx->nlive++] = (unsigned char)d;
  }
}

/* Counts the digits below top of the keys of the n records at src (the key function
 * called): all of them at level 0 (where the live digits are found), else the live ones. */
SL__INLINE void count_keys(radix *rx, rtab *t, const char *src, size_t n, size_t w, int top) {
  unsigned kw = rx->kw;
  uint64_t k[SL_SORT_KEY_WORDS_MAX];
  if (rx->nlive < 0) { /* top is every digit */
    memset(t->cnt, 0, sizeof t->cnt[0] * (size_t)top);
    count_all(rx, t, src, 0, n, w);
    find_live(rx, t, n, top);
    return;
  }
  int nl = live_below(rx, top);
  for (int l = 0; l < nl; l++)
    memset(t->cnt[rx->live[l]], 0, sizeof t->cnt[0]);
  for (size_t i = 0; i < n; i++) {
    key_at(rx, src + i * w, k);
    for (int l = 0; l < nl; l++)
      t->cnt[rx->live[l]][digit(k, kw, rx->live[l])]++;
  }
}

/* Counts digit d of the keys of the n records at src (the key function called). */
SL__INLINE void count_digit(radix *rx, rtab *t, const char *src, size_t n, size_t w, int d) {
  uint64_t k[SL_SORT_KEY_WORDS_MAX];
  memset(t->cnt[d], 0, sizeof t->cnt[0]);
  for (size_t i = 0; i < n; i++) {
    key_at(rx, src + i * w, k);
    t->cnt[d][digit(k, rx->kw, d)]++;
  }
}

/* Stable scatter of records [from, to) at src into dst by digit d of keys taken again,
 * into the buckets at t->off (advanced), each ending at t->end. A key function that gives a
 * record another key than when it was counted would overrun a bucket: such records are left
 * out and the sort fails (rx->bad) instead of writing past the buffer. */
SL__INLINE void scatter_range(radix *rx, rtab *t, const char *src, char *dst, size_t from,
                              size_t to, size_t w, int d) {
  uint64_t k[SL_SORT_KEY_WORDS_MAX];
  for (size_t i = from; i < to; i++) {
    const char *x = src + i * w;
    key_at(rx, x, k);
    unsigned b = digit(k, rx->kw, d);
    if (t->off[b] == t->end[b]) {
      rx->bad = 1;
      continue;
    }
    copy_rec(dst + t->off[b]++ * w, x, w);
  }
}

/* The n records at src scattered into dst by digit d, into the buckets starting at t->off
 * (prefix). */
SL__INLINE void scatter(radix *rx, rtab *t, const char *src, char *dst, size_t n, size_t w, int d) {
  for (unsigned b = 0; b < RADIX_BUCKETS; b++)
    t->end[b] = t->off[b] + t->cnt[d][b];
  scatter_range(rx, t, src, dst, 0, n, w, d);
}

/* Sorts the n <= kcap records at src by the digits below top in the cache, with dst (as
 * large) as scratch; leaves them at dst if into_dst, else at src. The keys are taken once (they
 * cannot change) and sorted with the records' places by least significant digit passes over the
 * live digits; then the records are put in that order, once. */
SL__INLINE void radix_small(radix *rx, char *src, char *dst, size_t n, size_t w, int top,
                            int into_dst) {
  unsigned kw = rx->kw;
  uint64_t *ka = rx->k0, *kb = rx->k1;
  for (size_t i = 0; i < n; i++)
    key_at(rx, src + i * w, ka + i * kw);
  if (n < RADIX_SMALL && w <= 64) { /* insertion sort, stable: stops at an equal key */
    char hold[64];
    uint64_t k[SL_SORT_KEY_WORDS_MAX];
    for (size_t i = 1; i < n; i++) {
      if (!key_less(ka + i * kw, ka + (i - 1) * kw, kw))
        continue;
      key_copy(k, ka + i * kw, kw);
      copy_rec(hold, src + i * w, w);
      size_t j = i;
      do {
        copy_rec(src + j * w, src + (j - 1) * w, w);
        key_copy(ka + j * kw, ka + (j - 1) * kw, kw);
        j--;
      } while (j > 0 && key_less(k, ka + (j - 1) * kw, kw));
      copy_rec(src + j * w, hold, w);
      key_copy(ka + j * kw, k, kw);
    }
    if (into_dst)
      memcpy(dst, src, n * w);
    return;
  }
  static const unsigned char every[RADIX_DIGITS] = {
      0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
      22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
      44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63};
  /* all n records fit here: no level has counted, every digit may be live */
  const unsigned char *live = rx->nlive < 0 ? every : rx->live;
  int nl = rx->nlive < 0 ? top : live_below(rx, top);
  rtab *t = rx->small;
  for (int l = 0; l < nl; l++)
    memset(t->cnt[live[l]], 0, sizeof t->cnt[0]);
  for (size_t i = 0; i < n; i++)
    for (int l = 0; l < nl; l++)
      t->cnt[live[l]][digit(ka + i * kw, kw, live[l])]++;
  uint32_t *ia = rx->i0, *ib = rx->i1;
  int moved = 0;
  for (int l = 0; l < nl; l++) {
    int d = live[l];
    if (!prefix(t->cnt[d], n, t->off))
      continue;
    for (size_t i = 0; i < n; i++) {
      size_t o = t->off[digit(ka + i * kw, kw, d)]++;
      key_copy(kb + o * kw, ka + i * kw, kw);
      ib[o] = moved ? ia[i] : (uint32_t)i;
    }
    moved = 1;
    uint64_t *tk = ka;
    ka = kb;
    kb = tk;
    uint32_t *ti = ia;
    ia = ib;
    ib = ti;
  }
  if (!moved) {
    if (into_dst)
      memcpy(dst, src, n * w);
    return;
  }
  for (size_t i = 0; i < n; i++)
    copy_rec(dst + i * w, src + (size_t)ia[i] * w, w);
  if (!into_dst) /* in the cache: cheap */
    memcpy(src, dst, n * w);
}

/* Sorts the n records at src by the digits below top, with dst (as large) as scratch,
 * into dst if into_dst, else at src: sets that fit the key arrays by radix_small; larger
 * ones scattered into dst by their most significant differing digit, each bucket sorted
 * the same way one level down, into src or dst as asked (so a level copies no records
 * back; only buckets that need no more sorting are copied, when they must go to src).
 * Level 0 counts every digit (finding the live ones); the levels below count one live digit
 * at a time, from the most significant, until one differs (usually the first). Instantiated
 * per record width (wc; 0: any, wv). */
#define RADIX_MSD(wc)                                                                              \
  static void radix_msd_##wc(radix *rx, char *src, char *dst, size_t n, size_t wv, int top,        \
                             int level, int into_dst) {                                            \
    const size_t w = wc ? (size_t)wc : wv;                                                         \
    if (n <= rx->kcap) {                                                                           \
      radix_small(rx, src, dst, n, w, top, into_dst);                                              \
      return;                                                                                      \
    }                                                                                              \
    if (!rx->tab[level] && !(rx->tab[level] = rtab_new((int)(8 * rx->kw) - level))) {              \
      rx->nomem = 1;                                                                               \
      return;                                                                                      \
    }                                                                                              \
    rtab *t = rx->tab[level];                                                                      \
    int l;                                                                                         \
    if (level == 0) {                                                                              \
      count_keys(rx, t, src, n, w, top);                                                           \
      l = live_below(rx, top) - 1;                                                                 \
      while (l >= 0 && !prefix(t->cnt[rx->live[l]], n, t->off))                                    \
        l--;                                                                                       \
    } else {                                                                                       \
      l = live_below(rx, top) - 1;                                                                 \
      for (; l >= 0; l--) {                                                                        \
        count_digit(rx, t, src, n, w, rx->live[l]);                                                \
        if (prefix(t->cnt[rx->live[l]], n, t->off))                                                \
          break;                                                                                   \
      }                                                                                            \
    }                                                                                              \
    if (l < 0) { /* all keys equal */                                                              \
      if (into_dst)                                                                                \
        memcpy(dst, src, n *w);                                                                    \
      return;                                                                                      \
    }                                                                                              \
    int d = rx->live[l];                                                                           \
    scatter(rx, t, src, dst, n, w, d);                                                             \
    size_t start = 0;                                                                              \
    for (unsigned bk = 0; bk < RADIX_BUCKETS; bk++) {                                              \
      size_t m = t->cnt[d][bk];                                                                    \
      if (m > 1 && l > 0)                                                                          \
        radix_msd_##wc(rx, dst + start * w, src + start * w, m, w, d, level + 1, !into_dst);       \
      else if (m && !into_dst)                                                                     \
        memcpy(src + start * w, dst + start * w, m * w);                                           \
      start += m;                                                                                  \
    }                                                                                              \
  }
RADIX_MSD(0)
RADIX_MSD(8)
RADIX_MSD(16)
RADIX_MSD(24)
RADIX_MSD(32)
RADIX_MSD(40)
RADIX_MSD(48)

/* radix_msd for the record width w (a constant for the common widths). */
static void msd_width(radix *rx, char *src, char *dst, size_t n, size_t w, int top, int level,
                      int into_dst) {
  switch (w) {
  case 8:
    radix_msd_8(rx, src, dst, n, w, top, level, into_dst);
    break;
  case 16:
    radix_msd_16(rx, src, dst, n, w, top, level, into_dst);
    break;
  case 24:
    radix_msd_24(rx, src, dst, n, w, top, level, into_dst);
    break;
  case 32:
    radix_msd_32(rx, src, dst, n, w, top, level, into_dst);
    break;
  case 40:
    radix_msd_40(rx, src, dst, n, w, top, level, into_dst);
    break;
  case 48:
    radix_msd_48(rx, src, dst, n, w, top, level, into_dst);
    break;
  default:
    radix_msd_0(rx, src, dst, n, w, top, level, into_dst);
  }
}

/* The radix sort in steps (sl__sort_fixed_step): level 0 as radix_msd does it (its count
 * of every digit, then its scatter into the scratch by the most significant live one),
 * then its buckets, each sorted whole, or, when larger than a step's budget (a skewed top
 * digit: doubles of one exponent), by a job of its own over the bucket (its records share
 * every digit from d up, so sorting them by the whole key is sorting them below d); every
 * part a budget of records a step. The records stay whole in a until the scatter is over,
 * then in the scratch, but for a bucket whose own job runs: in that job's pieces. */
enum { JOB_COUNT, JOB_SCATTER, JOB_BUCKETS, JOB_DONE };
struct sl__fixsort_job {
  sl__fixsort fs;
  radix rx;
  char *a, *scratch;
  size_t n, w;
  int state;
  int d; /* the digit scattered on */
  size_t cnt[RADIX_BUCKETS];
  unsigned next; /* JOB_BUCKETS: the bucket to sort next */
  size_t at;     /* the next record to count, to scatter, or of bucket `next` */
  char *sorted;
  sl__fixsort_job *sub; /* bucket `next`'s own job, while it runs */
};

/* Level 0's count of records [at, at + budget); after the last, what comes next. */
static void job_count(sl__fixsort_job *j, size_t budget) {
  radix *rx = &j->rx;
  int top = (int)(rx->kw * 64 / RADIX_BITS);
  if (j->n <= rx->kcap) { /* in the cache at once */
    radix_small(rx, j->a, j->scratch, j->n, j->w, top, 1);
    j->sorted = j->scratch;
    j->state = JOB_DONE;
    return;
  }
  if (!rx->tab[0] && !(rx->tab[0] = rtab_new(8 * (int)rx->kw))) {
    rx->nomem = 1;
    j->state = JOB_DONE;
    return;
  }
  rtab *t = rx->tab[0];
  if (j->at == 0)
    memset(t->cnt, 0, sizeof t->cnt[0] * (size_t)top);
  size_t to = j->n - j->at < budget ? j->n : j->at + budget;
  count_all(rx, t, j->a, j->at, to, j->w);
  j->at = to;
  if (to < j->n)
    return;
  find_live(rx, t, j->n, top);
  int l = rx->nlive - 1;
  while (l >= 0 && !prefix(t->cnt[rx->live[l]], j->n, t->off))
    l--;
  j->sorted = j->scratch;
  if (l < 0) { /* all keys equal */
    memcpy(j->scratch, j->a, j->n * j->w);
    j->state = JOB_DONE;
    return;
  }
  j->d = rx->live[l];
  memcpy(j->cnt, t->cnt[j->d], sizeof j->cnt);
  for (unsigned b = 0; b < RADIX_BUCKETS; b++)
    t->end[b] = t->off[b] + j->cnt[b];
  j->state = JOB_SCATTER;
  j->at = 0;
}

static void job_scatter(sl__fixsort_job *j, size_t budget) {
  size_t to = j->n - j->at < budget ? j->n : j->at + budget;
  scatter_range(&j->rx, j->rx.tab[0], j->a, j->scratch, j->at, to, j->w, j->d);
  j->at = to;
  if (to < j->n)
    return;
  /* the buckets need sorting below d when a lower digit is live */
  j->state = j->rx.live[0] < j->d ? JOB_BUCKETS : JOB_DONE;
  j->next = 0;
  j->at = 0;
}

static int job_buckets(sl__fixsort_job *j, size_t budget) {
  for (size_t spent = 0; j->state == JOB_BUCKETS && spent < budget;) {
    size_t m = j->cnt[j->next], w = j->w;
    char *bs = j->scratch + j->at * w, *ba = j->a + j->at * w;
    if (!j->sub && m > budget) /* its own job: into the bucket of a, copied back */
      SL__CHECK(sl__sort_fixed_begin(&j->fs, bs, m, ba, &j->sub));
    if (j->sub) {
      int done = 0;
      char *sorted;
      SL__CHECK(sl__sort_fixed_step(j->sub, budget, &done, &sorted));
      if (!done)
        return SL_OK; /* a step of the bucket's job was this step */
      if (sorted != bs)
        memcpy(bs, sorted, m * w);
      sl__sort_fixed_job_free(j->sub);
      j->sub = NULL;
      spent = budget;
    } else if (m > 1) { /* sorted back into the scratch, with the same bucket of a as its scratch */
      msd_width(&j->rx, bs, ba, m, w, j->d, 1, 0);
    }
    spent += m + 1;
    j->at += m;
    if (++j->next == RADIX_BUCKETS)
      j->state = JOB_DONE;
  }
  return SL_OK;
}

int sl__sort_fixed_begin(const sl__fixsort *fs, char *a, size_t n, char *scratch,
                         sl__fixsort_job **out) {
  *out = NULL;
  unsigned kw = fs->ord.words;
  if (kw < 1 || kw > SL_SORT_KEY_WORDS_MAX)
    SL__FAIL(SL_ERR_INTERNAL, "sort: %u key words (1 to %d)", kw, SL_SORT_KEY_WORDS_MAX);
  sl__fixsort_job *j = calloc(1, sizeof *j);
  SL__CHECK_ALLOC(j);
  j->fs = *fs;
  j->a = a;
  j->scratch = scratch;
  j->n = n;
  j->w = (size_t)fs->klen + fs->vlen;
  j->sorted = a;
  size_t kcap = j->w ? RADIX_CACHE_BYTES / j->w : 0;
  kcap = kcap < RADIX_SMALL ? RADIX_SMALL : kcap > n ? n : kcap;
  radix *rx = &j->rx;
  *rx = (radix){.fs = &j->fs, .kw = kw, .kcap = kcap, .nlive = -1};
  if (n < 2 || j->w == 0) {
    j->state = JOB_DONE;
    *out = j;
    return SL_OK;
  }
  rx->small = rtab_new((int)(8 * kw));
  rx->k0 = malloc(2 * kcap * (kw * sizeof *rx->k0 + sizeof *rx->i0));
  if (!rx->small || !rx->k0) {
    sl__sort_fixed_job_free(j);
    SL__FAIL(SL_ERR_NOMEM, "sort: out of memory for the radix sort's key arrays");
  }
  rx->k1 = rx->k0 + kcap * kw;
  rx->i0 = (uint32_t *)(rx->k1 + kcap * kw);
  rx->i1 = rx->i0 + kcap;
  *out = j;
  return SL_OK;
}

int sl__sort_fixed_step(sl__fixsort_job *j, size_t budget, int *done, char **sorted) {
  radix *rx = &j->rx;
  if (budget == 0)
    budget = 1;
  if (j->state == JOB_COUNT)
    job_count(j, budget);
  else if (j->state == JOB_SCATTER)
    job_scatter(j, budget);
  else if (j->state == JOB_BUCKETS)
    SL__CHECK(job_buckets(j, budget));
  *done = j->state == JOB_DONE;
  *sorted = j->sorted;
  if (rx->nomem)
    SL__FAIL(SL_ERR_NOMEM, "sort: out of memory for the radix sort's count tables");
  if (rx->bad)
    SL__FAIL(SL_ERR_CALLBACK, "sort: the key function gave a record two different keys "
                              "(it must give the same key each time it is called)");
  return SL_OK;
}

int sl__sort_fixed_job_pieces(const sl__fixsort_job *j,
                              int (*fn)(void *arg, const char *p, size_t len), void *arg) {
  size_t w = j->w;
  if (j->state == JOB_COUNT || j->state == JOB_SCATTER)
    return fn(arg, j->a, j->n * w);
  if (!j->sub)
    return fn(arg, j->sorted, j->n * w);
  size_t m = j->cnt[j->next];
  SL__CHECK(fn(arg, j->scratch, j->at * w));
  SL__CHECK(sl__sort_fixed_job_pieces(j->sub, fn, arg));
  return fn(arg, j->scratch + (j->at + m) * w, (j->n - j->at - m) * w);
}

_Static_assert(SL__FIXSORT_DIGITS == RADIX_DIGITS && SL__FIXSORT_BUCKETS == RADIX_BUCKETS,
               "a frame holds a job's digits and buckets");

int sl__sort_fixed_job_frames(const sl__fixsort_job *j, sl__fixsort_frame *f, int max) {
  int nf = 0;
  for (; j && j->state == JOB_BUCKETS && nf < max; j = j->sub, nf++) {
    sl__fixsort_frame *x = &f[nf];
    memset(x, 0, sizeof *x);
    x->n = j->n;
    x->d = (uint32_t)j->d;
    x->next = j->next;
    x->nlive = j->rx.nlive;
    memcpy(x->live, j->rx.live, sizeof x->live);
    for (unsigned b = 0; b < RADIX_BUCKETS; b++)
      x->cnt[b] = j->cnt[b];
  }
  return nf;
}

/* Does frame f fit a job of n records of the key words kw? */
static int frame_fits(const sl__fixsort_frame *f, size_t n, unsigned kw) {
  int digits = (int)(8 * kw);
  if (f->n != n || n < 2 || f->d >= (uint32_t)digits || f->next >= RADIX_BUCKETS || f->nlive < 1 ||
      f->nlive > digits)
    return 0;
  uint64_t sum = 0;
  for (unsigned b = 0; b < RADIX_BUCKETS; b++) {
    if (f->cnt[b] > n - sum)
      return 0;
    sum += f->cnt[b];
  }
  int has_d = 0;
  for (int l = 0; l < f->nlive; l++) {
    if (f->live[l] >= digits || (l && f->live[l] <= f->live[l - 1]))
      return 0;
    has_d |= f->live[l] == f->d;
  }
  return sum == n && has_d;
}

/* The records, laid out as the pieces of a job with frames f[0..nf) (nf >= 1), are at a:
 * frame 0's job sorts its buckets in a (its scratch), with scratch as its other buffer; the
 * bucket it was sorting gets frame 1's job over the same places, and so on. */
static int resume_frames(const sl__fixsort *fs, char *a, size_t n, char *scratch,
                         const sl__fixsort_frame *f, int nf, sl__fixsort_job **out) {
  *out = NULL;
  if (!frame_fits(f, n, fs->ord.words))
    SL__FAIL(SL_ERR_FORMAT, "sort: a saved state of the radix sort does not fit its %zu records",
             n);
  sl__fixsort_job *j;
  SL__CHECK(sl__sort_fixed_begin(fs, scratch, n, a, &j));
  j->state = JOB_BUCKETS;
  j->d = (int)f->d;
  j->next = f->next;
  j->at = 0;
  for (unsigned b = 0; b < RADIX_BUCKETS; b++) {
    j->cnt[b] = (size_t)f->cnt[b];
    if (b < f->next)
      j->at += j->cnt[b];
  }
  j->rx.nlive = f->nlive;
  memcpy(j->rx.live, f->live, sizeof j->rx.live);
  j->sorted = j->scratch;
  int rc = SL_OK;
  if (nf > 1) {
    /* the bucket's job finishes with its records where its pieces were: in place */
    size_t m = j->cnt[j->next];
    rc = resume_frames(fs, j->scratch + j->at * j->w, m, j->a + j->at * j->w, f + 1, nf - 1,
                       &j->sub);
  }
  if (rc != SL_OK) {
    sl__sort_fixed_job_free(j);
    return rc;
  }
  *out = j;
  return SL_OK;
}

int sl__sort_fixed_resume(const sl__fixsort *fs, char *a, size_t n, char *scratch,
                          const sl__fixsort_frame *f, int nf, sl__fixsort_job **job) {
  if (nf <= 0)
    return sl__sort_fixed_begin(fs, a, n, scratch, job);
  return resume_frames(fs, a, n, scratch, f, nf, job);
}

void sl__sort_fixed_job_free(sl__fixsort_job *j) {
  if (!j)
    return;
  sl__sort_fixed_job_free(j->sub);
  free(j->rx.small);
  free(j->rx.k0);
  for (int l = 0; l < RADIX_DIGITS; l++)
    free(j->rx.tab[l]);
  free(j);
}

/* fn(..., w) with the record width a constant for the common widths, so that the body is
 * instantiated for each and a record copy is a few moves. */
#define BY_WIDTH(fn, w, ...)                                                                       \
  ((w) == 8    ? fn(__VA_ARGS__, 8)                                                                \
   : (w) == 16 ? fn(__VA_ARGS__, 16)                                                               \
   : (w) == 24 ? fn(__VA_ARGS__, 24)                                                               \
   : (w) == 32 ? fn(__VA_ARGS__, 32)                                                               \
               : fn(__VA_ARGS__, w))

int sl__sort_fixed(const sl__fixsort *fs, char *a, size_t n, char *scratch, char **sorted) {
  size_t w = (size_t)fs->klen + fs->vlen;
  *sorted = a;
  if (n < 2 || w == 0)
    return SL_OK;
  unsigned kw = fs->ord.words;
  if (!kw) {
    *sorted = BY_WIDTH(sort_width, w, fs, a, n, scratch);
    return SL_OK;
  }
  sl__fixsort_job *j;
  SL__CHECK(sl__sort_fixed_begin(fs, a, n, scratch, &j));
  int done = 0, rc = SL_OK;
  while (rc == SL_OK && !done)
    rc = sl__sort_fixed_step(j, SIZE_MAX, &done, sorted);
  sl__sort_fixed_job_free(j);
  return rc;
}
