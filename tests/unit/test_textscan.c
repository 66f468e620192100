/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the word scanner behind sl_text_words (algo/textscan.c): the portable,
 * SSE2 and AVX2 loops find the same words as a byte-at-a-time reference, on adversarial
 * input (NUL and bytes >= 0x80, every whitespace byte, words across the scanner's 64-byte
 * windows, a 3 MiB word, no final newline, empty input), whatever the output array's size
 * (a scan resumed many times). Inputs sit at the very end of an exact-size allocation, so
 * a read past them is caught by the sanitizer build. */
#include <stdio.h>
#include <stdlib.h>

#include "algo/textscan.h"
#include "sluice.h"
#include "unit.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
  return sl_test_xorshift(&rng_state);
}

/* The reference: one byte at a time, the definition spelled out. */
static int ref_ws(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static size_t ref_words(const unsigned char *t, size_t len, size_t *start, size_t *wlen) {
  size_t n = 0, i = 0;
  while (i < len) {
    while (i < len && ref_ws(t[i]))
      i++;
    size_t s = i;
    while (i < len && !ref_ws(t[i]))
      i++;
    if (i > s) {
      start[n] = s;
      wlen[n] = i - s;
      n++;
    }
  }
  return n;
}

static int isas_run; /* bit per instruction set actually exercised */

/* Scan t[0, len) with every instruction set and output sizes 1, 2, 3, 64 and all at once;
 * each must give exactly the reference's words. */
static void check_all(const unsigned char *t, size_t len) {
  size_t cap = len / 2 + 2;
  size_t *rs = malloc(cap * sizeof *rs), *rl = malloc(cap * sizeof *rl);
  sl_text_word *w = malloc(cap * sizeof *w);
  CU_ASSERT_FATAL(rs && rl && w);
  size_t nref = ref_words(t, len, rs, rl);
  const size_t maxes[] = {1, 2, 3, 64, cap};
  for (int isa = SL__SCAN_SCALAR; isa <= SL__SCAN_AVX2; isa++) {
    if (isa > sl__text_scan_isa())
      break;
    isas_run |= 1 << isa;
    for (size_t mi = 0; mi < sizeof maxes / sizeof *maxes; mi++) {
      size_t pos = 0, got = 0, calls = 0;
      int ok = 1;
      while (pos < len && ok) {
        size_t before = pos;
        size_t n = sl__text_scan(isa, t, len, &pos, w, maxes[mi]);
        ok = n <= maxes[mi] && pos > before && pos <= len && got + n <= nref;
        for (size_t j = 0; ok && j < n; j++, got++)
          ok = (const unsigned char *)w[j].ptr == t + rs[got] && w[j].len == rl[got];
        calls++;
      }
      if (!ok || got != nref)
        fprintf(stderr, "\nisa %d, max %zu, len %zu: %zu of %zu words right after %zu calls\n", isa,
                maxes[mi], len, got, nref, calls);
      CU_ASSERT(ok && got == nref);
    }
  }
  free(rs);
  free(rl);
  free(w);
}

/* A copy of s[0, len) at the end of its own allocation. */
static void check_bytes(const void *s, size_t len) {
  unsigned char *t = malloc(len ? len : 1);
  CU_ASSERT_FATAL(t != NULL);
  memcpy(t, s, len);
  check_all(t, len);
  free(t);
}

static void test_small_cases(void) {
  check_bytes("", 0);
  check_bytes("a", 1);
  check_bytes(" ", 1);
  check_bytes("word", 4);
  check_bytes("two words", 9);
  check_bytes("no final newline\nlast", 21);
  check_bytes(" \t\n\v\f\r", 6);
  check_bytes("a\0b \x80\xff\xa0 \x1f\x0e\x08 \x7f", 14); /* NUL, high, near-space bytes */
  static const char ws[] = " \t\n\v\f\r";
  unsigned char all[256 * 2];
  for (int c = 0; c < 256; c++) { /* every byte as a one-byte word or a separator */
    all[2 * c] = (unsigned char)c;
    all[2 * c + 1] = (unsigned char)ws[c % 6];
  }
  check_bytes(all, sizeof all);
}

/* Every length 0..300 at every alignment 0..63 (words across windows, the partial last
 * window), from an alphabet rich in whitespace, NUL and high bytes. */
static void test_random_lengths(void) {
  static const unsigned char alpha[] = {' ', '\t', '\n', '\v', '\f', '\r', 0,    0x80, 0xff,
                                        'a', 'b',  '9',  0x08, 0x0e, 0x1f, 0x21, 0xa0};
  unsigned char *buf = malloc(400);
  CU_ASSERT_FATAL(buf != NULL);
  for (size_t len = 0; len <= 300; len++)
    for (int round = 0; round < 8; round++) {
      int dense = round & 1; /* long words, or mostly whitespace */
      for (size_t i = 0; i < len; i++) {
        uint64_t r = rnd();
        buf[i] = dense ? ((r & 7) ? (unsigned char)('a' + (r >> 8) % 26) : alpha[(r >> 16) % 6])
                       : alpha[(r >> 8) % sizeof alpha];
      }
      check_bytes(buf, len);
    }
  free(buf);
}

/* Words of exactly 63, 64, 65 and 127..129 bytes at every offset in a window. */
static void test_window_edges(void) {
  const size_t lens[] = {63, 64, 65, 127, 128, 129};
  unsigned char buf[512];
  for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
    for (size_t off = 0; off < 70; off++) {
      memset(buf, ' ', sizeof buf);
      memset(buf + off, 'x', lens[li]);
      check_bytes(buf, off + lens[li]);     /* the word ends the input */
      check_bytes(buf, off + lens[li] + 1); /* one separator after it */
    }
}

/* A 3 MiB word: alone, between separators, and followed by short words. */
static void test_huge_word(void) {
  size_t n = (size_t)3 << 20;
  unsigned char *b = malloc(n + 16);
  CU_ASSERT_FATAL(b != NULL);
  memset(b, 0xC3, n + 16);
  check_bytes(b, n);
  b[0] = '\n';
  b[n + 1] = ' ';
  memcpy(b + n + 2, "x y\tz", 5);
  check_bytes(b, n + 7);
  free(b);
}

/* The public call: the same words, and its argument checks. */
static void test_public(void) {
  const char *s = "  alpha beta\n\ngamma";
  sl_text_word w[4];
  size_t pos = 0, n = 0;
  EXPECT_INT(sl_text_words(s, strlen(s), &pos, w, 4, &n), SL_OK);
  EXPECT_INT(n, 3);
  EXPECT_INT(pos, strlen(s));
  EXPECT_INT(w[2].ptr - s, 14);
  EXPECT_INT(w[2].len, 5);
  pos = 0;
  EXPECT_INT(sl_text_words(NULL, 0, &pos, w, 4, &n), SL_OK);
  EXPECT_INT(n, 0);
  EXPECT_INT(sl_text_words(NULL, 3, &pos, w, 4, &n), SL_ERR_INVAL);
  EXPECT_INT(sl_text_words(s, 3, NULL, w, 4, &n), SL_ERR_INVAL);
}

static void test_isas_covered(void) {
  /* the portable and SSE2 loops run everywhere on x86-64; AVX2 where the CPU has it */
#if defined(__x86_64__)
  CU_ASSERT((isas_run & 3) == 3);
#endif
  fprintf(stderr, "\ninstruction sets tested: scalar%s%s\n", isas_run & 2 ? " sse2" : "",
          isas_run & 4 ? " avx2" : " (no avx2 on this CPU)");
}

int main(void) {
  static const sl_test tests[] = {{"small cases, every byte value", test_small_cases},
                                  {"random inputs of every length 0..300", test_random_lengths},
                                  {"words across 64-byte windows", test_window_edges},
                                  {"a 3 MiB word", test_huge_word},
                                  {"sl_text_words", test_public},
                                  {"every instruction set ran", test_isas_covered},
                                  {NULL, NULL}};
  return sl_test_main("textscan", tests);
}
