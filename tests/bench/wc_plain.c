/* SPDX-License-Identifier: BSD-3-Clause */
/* wc_plain: the sequential word-count baseline, written the way one would without
 * tuning: a byte loop, FNV-1a, and a linear-probing table of keys kept in an arena.
 * It is the reference the benchmark compares sluice-wordcount against (see
 * docs/benchmarks.md); the output contract is in wc_common.h.
 */
#include "wc_common.h"

typedef struct slot {
  uint64_t hash;
  uint64_t off; /* of the key in the arena */
  uint64_t len;
  uint64_t count; /* 0: empty */
} slot;

typedef struct table {
  slot *slots;
  size_t cap, used; /* cap is a power of two */
  unsigned char *arena;
  size_t arena_len, arena_cap;
  const char *prog;
} table;

static uint64_t fnv1a(const unsigned char *p, size_t n) {
  uint64_t h = UINT64_C(14695981039346656037);
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= UINT64_C(1099511628211);
  }
  return h;
}

static void table_grow(table *t) {
  size_t cap = t->cap * 2;
  slot *s = calloc(cap, sizeof *s);
  if (!s)
    wc_die(t->prog, "out of memory", NULL);
  for (size_t i = 0; i < t->cap; i++) {
    if (!t->slots[i].count)
      continue;
    size_t j = t->slots[i].hash & (cap - 1);
    while (s[j].count)
      j = (j + 1) & (cap - 1);
    s[j] = t->slots[i];
  }
  free(t->slots);
  t->slots = s;
  t->cap = cap;
}

static void table_add(table *t, const unsigned char *w, size_t n) {
  uint64_t h = fnv1a(w, n);
  size_t mask = t->cap - 1, i = h & mask;
  for (; t->slots[i].count; i = (i + 1) & mask) {
    slot *s = &t->slots[i];
    if (s->hash == h && s->len == n && memcmp(t->arena + s->off, w, n) == 0) {
      s->count++;
      return;
    }
  }
  if (t->arena_len + n > t->arena_cap) {
    size_t cap = t->arena_cap ? t->arena_cap : 1 << 16;
    while (cap < t->arena_len + n)
      cap *= 2;
    t->arena = wc_xrealloc(t->prog, t->arena, cap);
    t->arena_cap = cap;
  }
  memcpy(t->arena + t->arena_len, w, n);
  t->slots[i] = (slot){.hash = h, .off = t->arena_len, .len = n, .count = 1};
  t->arena_len += n;
  /* Linear probing degrades fast above half full. */
  if (++t->used * 2 > t->cap)
    table_grow(t);
}

static const unsigned char is_space[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1};

/* A word that runs past the end of a block is gathered here until it ends. */
typedef struct pending {
  unsigned char *b;
  size_t len, cap;
} pending;

static void pending_add(const char *prog, pending *p, const unsigned char *w, size_t n) {
  if (p->len + n > p->cap) {
    size_t cap = p->cap ? p->cap : 256;
    while (cap < p->len + n)
      cap *= 2;
    p->b = wc_xrealloc(prog, p->b, cap);
    p->cap = cap;
  }
  memcpy(p->b + p->len, w, n);
  p->len += n;
}

static void count_file(table *t, const wc_args *a, const char *path, unsigned char *buf,
                       pending *pw) {
  int fd = wc_open(a, path);
  int in_word = 0;
  size_t n;
  pw->len = 0;
  while ((n = wc_read(a, path, fd, buf, WC_BLOCK)) > 0) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
      if (is_space[buf[i]]) {
        if (in_word) {
          if (pw->len) { /* the word began in an earlier block */
            pending_add(a->prog, pw, buf + start, i - start);
            table_add(t, pw->b, pw->len);
            pw->len = 0;
          } else {
            table_add(t, buf + start, i - start);
          }
          in_word = 0;
        }
      } else if (!in_word) {
        in_word = 1;
        start = i;
      }
    }
    if (in_word)
      pending_add(a->prog, pw, buf + start, n - start);
    if (n < WC_BLOCK)
      break;
  }
  if (in_word)
    table_add(t, pw->b, pw->len);
  if (fd != STDIN_FILENO)
    close(fd);
}

int main(int argc, char **argv) {
  wc_args a;
  wc_parse_args(&a, argc, argv);
  wc_out out;
  wc_out_open(&out, &a);
  table t = {.cap = 1 << 16, .prog = a.prog};
  t.slots = calloc(t.cap, sizeof *t.slots);
  unsigned char *buf = malloc(WC_BLOCK);
  pending pw = {0};
  if (!t.slots || !buf)
    wc_die(a.prog, "out of memory", NULL);

  if (a.nfiles == 0)
    count_file(&t, &a, "-", buf, &pw);
  for (int i = 0; i < a.nfiles; i++)
    count_file(&t, &a, a.files[i], buf, &pw);

  if (a.top) {
    wc_entry *e = malloc((t.used ? t.used : 1) * sizeof *e);
    if (!e)
      wc_die(a.prog, "out of memory", NULL);
    size_t n = 0;
    for (size_t i = 0; i < t.cap; i++)
      if (t.slots[i].count)
        e[n++] = (wc_entry){t.arena + t.slots[i].off, t.slots[i].len, t.slots[i].count};
    wc_out_top(&out, e, n, a.top_k);
    free(e);
  } else {
    for (size_t i = 0; i < t.cap; i++)
      if (t.slots[i].count)
        wc_out_line(&out, t.arena + t.slots[i].off, t.slots[i].len, t.slots[i].count);
  }
  wc_out_close(&out);
  free(pw.b);
  free(buf);
  free(t.slots);
  free(t.arena);
  return 0;
}
