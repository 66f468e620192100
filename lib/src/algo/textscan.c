/* SPDX-License-Identifier: BSD-3-Clause */
/* The word scanner: whitespace masks of 64 bytes (portable, SSE2, AVX2), words from the
 * masks. The AVX2 loop is compiled with a target attribute and chosen at run time, so one
 * binary runs on nodes with and without AVX2. */
#include "algo/textscan.h"

#include <string.h>

#include "core/core.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SL__HAVE_X86 1
#endif

/* The whitespace bytes: space and \t \n \v \f \r (9..13). */
static inline int is_ws(unsigned c) {
  return c == ' ' || c - 9u <= 4u;
}

static inline uint64_t mask_scalar(const unsigned char *p) {
  uint64_t m = 0;
  for (int i = 0; i < 64; i++)
    m |= (uint64_t)is_ws(p[i]) << i;
  return m;
}

#ifdef SL__HAVE_X86
static inline uint64_t mask_sse2(const unsigned char *p) {
  const __m128i sp = _mm_set1_epi8(' '), nine = _mm_set1_epi8(9), four = _mm_set1_epi8(4);
  uint64_t m = 0;
  for (int k = 0; k < 4; k++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
    /* 9..13: v - 9 <= 4 as unsigned bytes, i.e. min(v - 9, 4) == v - 9 */
    __m128i t = _mm_sub_epi8(v, nine);
    __m128i ws = _mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(_mm_min_epu8(t, four), t));
    m |= (uint64_t)(uint16_t)_mm_movemask_epi8(ws) << (16 * k);
  }
  return m;
}

__attribute__((target("avx2"))) static inline uint64_t mask_avx2(const unsigned char *p) {
  const __m256i sp = _mm256_set1_epi8(' '), nine = _mm256_set1_epi8(9), four = _mm256_set1_epi8(4);
  uint64_t m = 0;
  for (int k = 0; k < 2; k++) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32 * k));
    __m256i t = _mm256_sub_epi8(v, nine);
    __m256i ws =
        _mm256_or_si256(_mm256_cmpeq_epi8(v, sp), _mm256_cmpeq_epi8(_mm256_min_epu8(t, four), t));
    m |= (uint64_t)(uint32_t)_mm256_movemask_epi8(ws) << (32 * k);
  }
  return m;
}
#endif

/* The scan loop, one copy per mask function (a macro: an AVX2 mask inlines only into an
 * AVX2 function). Windows start at *pos; the last, partial one is copied into a local
 * buffer so nothing past len is read, and its bytes past len count as whitespace. A word
 * still open when words[] is full makes the call stop before it: *pos is then the end of
 * the last word returned (a whitespace byte), where the next call starts outside a word. */
#define SL__SCAN_BODY(MASK)                                                                        \
  size_t n = 0, base = *pos, open = 0;                                                             \
  int inword = 0;                                                                                  \
  uint64_t prev_in = 0;                                                                            \
  unsigned char tail[64];                                                                          \
  while (base < len) {                                                                             \
    uint64_t ws;                                                                                   \
    size_t avail = len - base;                                                                     \
    if (avail >= 64) {                                                                             \
      ws = MASK(text + base);                                                                      \
    } else {                                                                                       \
      memcpy(tail, text + base, avail);                                                            \
      memset(tail + avail, ' ', 64 - avail);                                                       \
      ws = MASK(tail);                                                                             \
    }                                                                                              \
    uint64_t in = ~ws, before = (in << 1) | prev_in;                                               \
    uint64_t starts = in & ~before, ends = ws & before;                                            \
    prev_in = in >> 63;                                                                            \
    for (;;) {                                                                                     \
      if (!inword) {                                                                               \
        if (!starts)                                                                               \
          break;                                                                                   \
        open = base + (size_t)__builtin_ctzll(starts);                                             \
        starts &= starts - 1;                                                                      \
        inword = 1;                                                                                \
      }                                                                                            \
      if (!ends)                                                                                   \
        break;                                                                                     \
      size_t e = base + (size_t)__builtin_ctzll(ends);                                             \
      ends &= ends - 1;                                                                            \
      words[n].ptr = (const char *)text + open;                                                    \
      words[n].len = e - open;                                                                     \
      inword = 0;                                                                                  \
      if (++n == max) {                                                                            \
        *pos = e;                                                                                  \
        return n;                                                                                  \
      }                                                                                            \
    }                                                                                              \
    base += 64;                                                                                    \
  }                                                                                                \
  if (inword) { /* len is a multiple of 64 past *pos: the word ends at len */                      \
    words[n].ptr = (const char *)text + open;                                                      \
    words[n].len = len - open;                                                                     \
    n++;                                                                                           \
  }                                                                                                \
  *pos = len;                                                                                      \
  return n;

static size_t scan_scalar(const unsigned char *text, size_t len, size_t *pos, sl_text_word *words,
                          size_t max) {
  SL__SCAN_BODY(mask_scalar)
}

#ifdef SL__HAVE_X86
static size_t scan_sse2(const unsigned char *text, size_t len, size_t *pos, sl_text_word *words,
                        size_t max) {
  SL__SCAN_BODY(mask_sse2)
}

__attribute__((target("avx2"))) static size_t
scan_avx2(const unsigned char *text, size_t len, size_t *pos, sl_text_word *words, size_t max) {
  SL__SCAN_BODY(mask_avx2)
}
#endif

int sl__text_scan_isa(void) {
#ifdef SL__HAVE_X86
  static int isa = -1;
  if (isa < 0) {
    __builtin_cpu_init();
    isa = __builtin_cpu_supports("avx2") ? SL__SCAN_AVX2 : SL__SCAN_SSE2;
  }
  return isa;
#else
  return SL__SCAN_SCALAR;
#endif
}

size_t sl__text_scan(int isa, const unsigned char *text, size_t len, size_t *pos,
                     sl_text_word *words, size_t max) {
  if (*pos >= len || max == 0) {
    if (max)
      *pos = len;
    return 0;
  }
  if (isa > sl__text_scan_isa())
    isa = sl__text_scan_isa();
#ifdef SL__HAVE_X86
  if (isa == SL__SCAN_AVX2)
    return scan_avx2(text, len, pos, words, max);
  if (isa == SL__SCAN_SSE2)
    return scan_sse2(text, len, pos, words, max);
#endif
  return scan_scalar(text, len, pos, words, max);
}

int sl_text_words(const void *text, size_t len, size_t *pos, sl_text_word *words, size_t max,
                  size_t *count) {
  if (!pos || !count || (!text && len) || (!words && max))
    return SL_ERR_INVAL;
  *count = sl__text_scan(sl__text_scan_isa(), text, len, pos, words, max);
  return SL_OK;
}
