/* The stable merge sort of packed fixed-size records (see sort_fixed.h).
 *
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
#include <string.h>

#include "reduce/sort_fixed.h"

#define SORT_RUN 8
#define SORT_BLOCK_BYTES (256u << 10)
#define SL__INLINE static inline __attribute__((always_inline))

/* Is x strictly before y? */
SL__INLINE int before(const sl__fixsort *fs, const char *x, const char *y) {
  sl_record rx = {x, fs->klen, x + fs->klen, fs->vlen};
  sl_record ry = {y, fs->klen, y + fs->klen, fs->vlen};
  int c = fs->descending ? fs->cmp(&ry, &rx, fs->arg) : fs->cmp(&rx, &ry, fs->arg);
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

char *sl__sort_fixed(const sl__fixsort *fs, char *a, size_t n, char *scratch) {
  size_t w = (size_t)fs->klen + fs->vlen;
  if (n < 2 || w == 0)
    return a;
  switch (w) {
  case 8:
    return sort_width(fs, a, n, scratch, 8);
  case 16:
    return sort_width(fs, a, n, scratch, 16);
  case 24:
    return sort_width(fs, a, n, scratch, 24);
  case 32:
    return sort_width(fs, a, n, scratch, 32);
  default:
    return sort_width(fs, a, n, scratch, w);
  }
}
