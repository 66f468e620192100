/* SPDX-License-Identifier: BSD-3-Clause */
/* wc_tuned: the word-count baseline tuned for one core, the per-core limit sluice's
 * per-rank throughput is measured against (docs/benchmarks.md). Same output contract as
 * wc_plain (wc_common.h). Where the time goes in wc_plain, and what replaces it:
 *   - a branch per byte: whitespace found 64 bytes at a time (SSE2 compares to a bit
 *     mask), word starts and ends taken from the mask with bit tricks;
 *   - FNV-1a's multiply per byte: a hash over 8-byte loads;
 *   - a key compare through the arena on every hit, a second cache miss: words of up to
 *     16 bytes (nearly all) are stored in the slot itself, so a hit costs one miss;
 *   - that miss, waited for word by word: the slots of a batch of words are prefetched
 *     before the batch is counted, so the misses overlap.
 * Slots are 32 bytes, two per cache line. (16-byte slots with 8-byte inline keys were
 * tried: on the Zipf corpus half the words are longer than 8 bytes, and their arena
 * lookups took more time than the smaller table saved.)
 */
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE */
#include "wc_common.h"

#include <sys/mman.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Room past the data so 8-byte key loads and 64-byte scans may run off its end. */
#define PAD 128
/* Words hashed and prefetched together: a batch is counted once it has BATCH words,
 * and one 64-byte window adds at most 32, so a batch holds fewer than MAXB. */
#define BATCH 32
#define MAXB (BATCH + 64)
#define INLINE_MAX 16

/* A slot. meta = (hash << 8) | lenf, where lenf is the length 1..16 of an inline word,
 * LONG for a longer one, 0 for an empty slot; comparing meta first rejects nearly every
 * other word without touching its bytes. An inline word is k[0..1], zero-padded; a long
 * word is k[0] = its offset in the arena, where [uint64 length][bytes] is stored. */
typedef struct slot {
  uint64_t k[2];
  uint64_t meta;
  uint64_t count;
} slot;

#define LONG 255u

typedef struct table {
  slot *slots;
  size_t mask, used;
  unsigned char *arena;
  size_t arena_len, arena_cap;
  const char *prog;
} table;

static inline uint64_t load8(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* The first n <= 8 bytes at p as a zero-padded integer (reads 8 bytes). */
static inline uint64_t load_upto8(const unsigned char *p, size_t n) {
  if (n == 0)
    return 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return load8(p) & (~UINT64_C(0) << (64 - 8 * n));
#else
  return load8(p) & (~UINT64_C(0) >> (64 - 8 * n));
#endif
}

static inline uint64_t mix(uint64_t h) {
  h ^= h >> 32;
  h *= UINT64_C(0xD6E8FEB86659FD93);
  h ^= h >> 32;
  return h;
}

static inline uint64_t hash_inline(uint64_t a, uint64_t b, size_t n) {
  return mix(a * UINT64_C(0x9E3779B97F4A7C15) ^ (b + n) * UINT64_C(0xBF58476D1CE4E5B9));
}

static uint64_t hash_long(const unsigned char *p, size_t n) {
  uint64_t h = n * UINT64_C(0x9E3779B97F4A7C15);
  for (; n > 8; p += 8, n -= 8)
    h = ((h ^ load8(p)) * UINT64_C(0xBF58476D1CE4E5B9)) ^ (h >> 29);
  /* The tail as the word's last 8 bytes: never past its end (the word has > 16). */
  return mix(h ^ load8(p + n - 8) * UINT64_C(0x94D049BB133111EB));
}

/* Zeroed slots. A large table is put on huge pages where the kernel allows it: with 4 KiB
 * pages nearly every prefetched slot also misses the TLB, and the page walk stalls the
 * prefetch itself (measured: half the time of the counting loop). */
static slot *slots_alloc(const char *prog, size_t n) {
  size_t bytes = n * sizeof(slot), huge = (size_t)2 << 20;
  void *p = NULL;
  if (bytes >= huge) {
    if (posix_memalign(&p, huge, bytes) != 0)
      p = NULL;
#ifdef MADV_HUGEPAGE
    if (p)
      madvise(p, bytes, MADV_HUGEPAGE);
#endif
    if (p)
      memset(p, 0, bytes);
  } else {
    p = calloc(n, sizeof(slot));
  }
  if (!p)
    wc_die(prog, "out of memory", NULL);
  return p;
}

static void table_init(table *t, const char *prog) {
  memset(t, 0, sizeof *t);
  t->prog = prog;
  t->mask = (1u << 15) - 1;
  t->slots = slots_alloc(prog, t->mask + 1);
}

/* meta keeps the hash, so growing needs no rehash of the words. */
static void table_grow(table *t) {
  size_t cap = (t->mask + 1) * 2;
  slot *s = slots_alloc(t->prog, cap);
  for (size_t i = 0; i <= t->mask; i++) {
    if (!t->slots[i].meta)
      continue;
    size_t j = (t->slots[i].meta >> 8) & (cap - 1);
    while (s[j].meta)
      j = (j + 1) & (cap - 1);
    s[j] = t->slots[i];
  }
  free(t->slots);
  t->slots = s;
  t->mask = cap - 1;
}

static void add_inline(table *t, uint64_t a, uint64_t b, size_t n, uint64_t h) {
  uint64_t meta = (h << 8) | n;
  size_t i = h & t->mask;
  for (; t->slots[i].meta; i = (i + 1) & t->mask) {
    slot *s = &t->slots[i];
    if (s->meta == meta && s->k[0] == a && s->k[1] == b) {
      s->count++;
      return;
    }
  }
  t->slots[i] = (slot){{a, b}, meta, 1};
  /* Linear probing degrades fast above half full. */
  if (++t->used * 2 > t->mask + 1)
    table_grow(t);
}

static void add_long(table *t, const unsigned char *w, size_t n, uint64_t h) {
  uint64_t meta = (h << 8) | LONG;
  size_t i = h & t->mask;
  for (; t->slots[i].meta; i = (i + 1) & t->mask) {
    slot *s = &t->slots[i];
    if (s->meta == meta && load8(t->arena + s->k[0]) == n &&
        memcmp(t->arena + s->k[0] + 8, w, n) == 0) {
      s->count++;
      return;
    }
  }
  if (t->arena_len + 8 + n > t->arena_cap) {
    size_t cap = t->arena_cap ? t->arena_cap : 1 << 16;
    while (cap < t->arena_len + 8 + n)
      cap *= 2;
    t->arena = wc_xrealloc(t->prog, t->arena, cap);
    t->arena_cap = cap;
  }
  uint64_t n64 = n;
  memcpy(t->arena + t->arena_len, &n64, 8);
  memcpy(t->arena + t->arena_len + 8, w, n);
  t->slots[i] = (slot){{t->arena_len, 0}, meta, 1};
  t->arena_len += 8 + n;
  if (++t->used * 2 > t->mask + 1)
    table_grow(t);
}

/* Count a batch: hash every word and prefetch its slot, then probe. */
static void add_batch(table *t, const unsigned char *base, const size_t *st, const size_t *en,
                      int n) {
  uint64_t h[MAXB], ka[MAXB], kb[MAXB];
  for (int i = 0; i < n; i++) {
    const unsigned char *w = base + st[i];
    size_t len = en[i] - st[i];
    if (len <= INLINE_MAX) {
      ka[i] = load_upto8(w, len < 8 ? len : 8);
      kb[i] = load_upto8(w + 8, len > 8 ? len - 8 : 0);
      h[i] = hash_inline(ka[i], kb[i], len);
    } else {
      h[i] = hash_long(w, len);
    }
    __builtin_prefetch(&t->slots[h[i] & t->mask]);
  }
  for (int i = 0; i < n; i++) {
    size_t len = en[i] - st[i];
    if (len <= INLINE_MAX)
      add_inline(t, ka[i], kb[i], len, h[i]);
    else
      add_long(t, base + st[i], len, h[i]);
  }
}

/* Bit i set where p[i] is one of the six whitespace bytes. */
static inline uint64_t space_mask64(const unsigned char *p) {
#ifdef __SSE2__
  const __m128i sp = _mm_set1_epi8(' '), nine = _mm_set1_epi8(9), four = _mm_set1_epi8(4);
  uint64_t m = 0;
  for (int k = 0; k < 4; k++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
    /* \t \n \v \f \r are 9..13: v - 9 <= 4 as unsigned bytes, i.e. min(v - 9, 4) == v - 9 */
    __m128i t = _mm_sub_epi8(v, nine);
    __m128i ws = _mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(_mm_min_epu8(t, four), t));
    m |= (uint64_t)(uint16_t)_mm_movemask_epi8(ws) << (16 * k);
  }
  return m;
#else
  uint64_t m = 0;
  for (int i = 0; i < 64; i++) {
    unsigned c = p[i];
    m |= (uint64_t)(c == ' ' || (c - 9u) <= 4u) << i;
  }
  return m;
#endif
}

/* Count the words of buf[0, end), where end == 0 or buf[end - 1] is whitespace, so no
 * word is cut; buf has PAD readable bytes past end. */
static void scan(table *t, const unsigned char *buf, size_t end) {
  size_t st[MAXB], en[MAXB];
  int ns = 0, ne = 0;
  uint64_t prev_in = 0; /* 1 if the byte before the window is in a word */
  for (size_t base = 0; base < end; base += 64) {
    uint64_t ws = space_mask64(buf + base);
    if (end - base < 64)
      ws |= ~UINT64_C(0) << (end - base); /* past the end */
    uint64_t in = ~ws, before = (in << 1) | prev_in;
    uint64_t starts = in & ~before, ends = ws & before;
    prev_in = in >> 63;
    for (; starts; starts &= starts - 1)
      st[ns++] = base + (size_t)__builtin_ctzll(starts);
    for (; ends; ends &= ends - 1)
      en[ne++] = base + (size_t)__builtin_ctzll(ends);
    /* ends never lead starts; at most one started word is still open. */
    if (ne >= BATCH) {
      add_batch(t, buf, st, en, ne);
      if (ns > ne)
        st[0] = st[ne];
      ns -= ne;
      ne = 0;
    }
  }
  add_batch(t, buf, st, en, ne);
}

static int is_space(unsigned char c) {
  return c == ' ' || (unsigned)(c - 9u) <= 4u;
}

/* Blocks are read after the unfinished word of the previous block, moved to the front,
 * so every word is scanned whole from one buffer; a very long word grows the buffer. */
typedef struct reader {
  unsigned char *buf;
  size_t cap; /* usable bytes; PAD more are allocated */
} reader;

static void count_file(table *t, const wc_args *a, const char *path, reader *r) {
  int fd = wc_open(a, path);
  size_t keep = 0; /* bytes of an unfinished word at buf[0, keep) */
  for (;;) {
    if (keep + WC_BLOCK > r->cap) {
      size_t old = r->cap;
      while (keep + WC_BLOCK > r->cap)
        r->cap *= 2;
      r->buf = wc_xrealloc(a->prog, r->buf, r->cap + PAD);
      memset(r->buf + old, ' ', r->cap + PAD - old);
    }
    size_t n = wc_read(a, path, fd, r->buf + keep, WC_BLOCK);
    size_t len = keep + n;
    if (n == 0)
      break;
    /* Only the new bytes can hold the last whitespace: the kept ones have none. */
    size_t cut = len;
    while (cut > keep && !is_space(r->buf[cut - 1]))
      cut--;
    if (cut == keep)
      cut = 0;
    scan(t, r->buf, cut);
    keep = len - cut;
    if (cut) /* a word longer than a block stays put while it grows */
      memmove(r->buf, r->buf + cut, keep);
    if (n < WC_BLOCK)
      break;
  }
  if (keep) {
    r->buf[keep] = ' '; /* the file's end ends the word */
    scan(t, r->buf, keep + 1);
  }
  if (fd != STDIN_FILENO)
    close(fd);
}

int main(int argc, char **argv) {
  wc_args a;
  wc_parse_args(&a, argc, argv);
  wc_out out;
  wc_out_open(&out, &a);
  table t;
  table_init(&t, a.prog);
  reader r = {.cap = 2 * WC_BLOCK};
  r.buf = malloc(r.cap + PAD);
  if (!r.buf)
    wc_die(a.prog, "out of memory", NULL);
  /* Defined bytes past the data: the scan may look at them (and masks them off). */
  memset(r.buf, ' ', r.cap + PAD);

  if (a.nfiles == 0)
    count_file(&t, &a, "-", &r);
  for (int i = 0; i < a.nfiles; i++)
    count_file(&t, &a, a.files[i], &r);

  /* Inline words point into their slots, which stay put from here on. */
  wc_entry *e = a.top ? malloc((t.used ? t.used : 1) * sizeof *e) : NULL;
  if (a.top && !e)
    wc_die(a.prog, "out of memory", NULL);
  size_t n = 0;
  for (size_t i = 0; i <= t.mask; i++) {
    const slot *s = &t.slots[i];
    unsigned lenf = s->meta & 255u;
    if (!lenf)
      continue;
    const unsigned char *w = (const unsigned char *)s->k;
    size_t len = lenf;
    if (lenf == LONG) {
      w = t.arena + s->k[0] + 8;
      len = load8(t.arena + s->k[0]);
    }
    if (a.top)
      e[n++] = (wc_entry){w, len, s->count};
    else
      wc_out_line(&out, w, len, s->count);
  }
  if (a.top)
    wc_out_top(&out, e, n, a.top_k);
  wc_out_close(&out);
  free(e);
  free(r.buf);
  free(t.slots);
  free(t.arena);
  return 0;
}
