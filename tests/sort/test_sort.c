/* SPDX-License-Identifier: BSD-3-Clause */
/* MPI tests of the global sort (sl_flow_sort) and of take_sort, run at 1, 2 and 4 ranks.
 *
 * Every rank generates the same input and computes the sequential oracle itself (qsort of
 * the same records, ties broken by the row index, i.e. a stable sort). The flow's output is
 * taken with sl_flow_to_callback: partition p of the sorted stage is on rank p and its
 * records arrive there in order. Each rank's sequence is gathered to rank 0, which checks
 *   (a) every rank's sequence is sorted,
 *   (b) the boundaries: the last record of a rank <= the first of the next non-empty rank,
 *   (c) the multiset: every input row exactly once, with its key,
 *   (d) the order: the key at every position is the oracle's key there; with a comparator
 *       that breaks ties by the row index, the output is exactly the stable sort.
 * Inputs: random, sorted, reverse sorted, all keys equal, 3 distinct keys, empty, fewer
 * records than ranks, descending, variable-length byte-string keys, more data than
 * --sl-sort-memory-bytes (spilled runs, seen as open files in --sl-tmpdir during the
 * merge; a missing --sl-tmpdir then fails with SL_ERR_IO), records with empty values and
 * records larger than the budget, a sort after reduce_by_key, an operator after the sort,
 * two sorts in one flow, sort -> to_text (the file read back), sorting a text file's
 * lines, stability of a one-partition sort at one rank, take_sort, and the packed layout of
 * records of one size: several record widths, ties kept in arrival order (all keys equal,
 * three keys, descending too) and records of other lengths arriving after packed ones.
 *
 * Rules (a test that breaks them can hang): every rank makes the same collective calls in
 * the same order; no assertion returns early; data are small. Failures are counted on
 * every rank and summed over the ranks by main. */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <CUnit/TestRun.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice.h"
#include "../mpi/mpi_test.h" /* the MPI CUnit harness: assertions, mt_main */
#include "sort_test.h"

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p)
    mt_oom();
  return p;
}

/* ------------------------------------------------------------------ input */

enum { K_RANDOM, K_SORTED, K_REVERSE, K_EQUAL, K_DUP3, K_STRING, K_TEXT };
static const char *kind_name[] = {"random",     "sorted",  "reverse", "all-equal",
                                  "3-distinct", "strings", "text"};

#define MAXKEY 16

/* The key of row i of n. K_RANDOM..K_DUP3: an 8-byte native uint64. K_STRING: 0..12 bytes
 * over {00, 'a', 'b', 'c', 7f, 80, ff}, short ones frequent (duplicates and prefixes).
 * K_TEXT: 0..8 letters a..e (printable, for to_text). */
static size_t make_key(int kind, int64_t i, int64_t n, unsigned char *k) {
  uint64_t v = 0, h = mt_mix((uint64_t)i * 7 + 1);
  switch (kind) {
  case K_RANDOM:
    v = mt_mix((uint64_t)i);
    break;
  case K_SORTED:
    v = (uint64_t)i;
    break;
  case K_REVERSE:
    v = (uint64_t)(n - 1 - i);
    break;
  case K_EQUAL:
    v = 42;
    break;
  case K_DUP3:
    v = mt_mix((uint64_t)i) % 3 * 1000003u;
    break;
  case K_STRING: {
    static const unsigned char alpha[] = {0x00, 'a', 'b', 'c', 0x7f, 0x80, 0xff};
    size_t len = (h & 3) == 0 ? (size_t)((h >> 2) % 3) : (size_t)((h >> 2) % 13);
    for (size_t j = 0; j < len; j++)
      k[j] = alpha[mt_mix(h + j) % 7];
    return len;
  }
  case K_TEXT: {
    size_t len = (size_t)((h >> 3) % 9);
    for (size_t j = 0; j < len; j++)
      k[j] = (unsigned char)('a' + mt_mix(h ^ (j * 0x1234567ull)) % 5);
    return len;
  }
  }
  memcpy(k, &v, 8);
  return 8;
}

static uint64_t rd_be64(const void *q) {
  const unsigned char *p = q;
  uint64_t v = 0;
  for (int j = 0; j < 8; j++)
    v = (v << 8) | p[j];
  return v;
}

/* ------------------------------------------------------------------ comparators */
static uint64_t key_u64(const sl_record *r) {
  uint64_t v = 0;
  if (r->key_len == 8)
    memcpy(&v, r->key, 8);
  return v;
}
/* key as a native uint64 */
static int cmp_u64(const sl_record *a, const sl_record *b, void *arg) {
  (void)arg;
  uint64_t x = key_u64(a), y = key_u64(b);
  return (x > y) - (x < y);
}
/* key as bytes (memcmp, then length) */
static int cmp_bytes(const sl_record *a, const sl_record *b, void *arg) {
  (void)arg;
  return mt_bytes_cmp(a->key, a->key_len, b->key, b->key_len);
}
/* ... then the value as bytes: the row index (big-endian, or fixed-width decimal) */
static int cmp_u64_row(const sl_record *a, const sl_record *b, void *arg) {
  int c = cmp_u64(a, b, arg);
  return c ? c : mt_bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}
static int cmp_bytes_row(const sl_record *a, const sl_record *b, void *arg) {
  int c = cmp_bytes(a, b, arg);
  return c ? c : mt_bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}
/* the value only (the row index), for a second sort */
static int cmp_row(const sl_record *a, const sl_record *b, void *arg) {
  (void)arg;
  return mt_bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}

static sl_cmp_fn pick_cmp(int kind, int stable) {
  int bytes = kind == K_STRING || kind == K_TEXT;
  if (bytes)
    return stable ? cmp_bytes_row : cmp_bytes;
  return stable ? cmp_u64_row : cmp_u64;
}

/* ------------------------------------------------------------------ a case and its oracle */
typedef struct scase {
  int kind;
  int64_t n;
  int array;     /* source: 0 from_generator, 1 from_array */
  int src_parts; /* source partitions (0: one per rank) */
  int stable;    /* the comparator breaks ties by the row index */
  int desc;
  int spill; /* run with --sl-sort-memory-bytes=8K and expect spilled runs */
} scase;

static void case_name(const scase *c, char *buf, size_t len) {
  snprintf(buf, len, "sort(%s, n=%lld, %s parts=%d, %s, %s%s)", kind_name[c->kind], (long long)c->n,
           c->array ? "array" : "generator", c->src_parts, c->stable ? "ties by row" : "key only",
           c->desc ? "descending" : "ascending", c->spill ? ", 8K memory" : "");
}

/* The records of a case, identical on every rank: key i and an 8-byte big-endian row index
 * (K_TEXT: the row index as 8 decimal digits). */
typedef struct input {
  int64_t n;
  unsigned char *keys; /* n * MAXKEY */
  size_t *klen;
  unsigned char *vals; /* n * 8 */
  sl_record *recs;
} input;

static void input_make(input *in, int kind, int64_t n) {
  in->n = n;
  in->keys = xmalloc((size_t)n * MAXKEY);
  in->klen = xmalloc((size_t)n * sizeof *in->klen);
  in->vals = xmalloc((size_t)n * 8);
  in->recs = xmalloc((size_t)n * sizeof *in->recs);
  for (int64_t i = 0; i < n; i++) {
    unsigned char *k = in->keys + i * MAXKEY, *v = in->vals + i * 8;
    in->klen[i] = make_key(kind, i, n, k);
    if (kind == K_TEXT) {
      char d[24]; /* n < 10^8 here */
      snprintf(d, sizeof d, "%08lld", (long long)(i % 100000000));
      memcpy(v, d, 8);
    } else {
      be64(v, (uint64_t)i);
    }
    sl_record r = {k, in->klen[i], v, 8};
    in->recs[i] = r;
  }
}
static void input_free(input *in) {
  free(in->keys);
  free(in->klen);
  free(in->vals);
  free(in->recs);
  memset(in, 0, sizeof *in);
}
static int64_t row_of(int kind, const sl_record *r) {
  if (r->value_len != 8)
    return -1;
  if (kind != K_TEXT)
    return (int64_t)rd_be64(r->value);
  char d[9];
  memcpy(d, r->value, 8);
  d[8] = 0;
  return atoll(d);
}

static int gen_fn(int64_t i, sl_emitter *out, void *arg) {
  const input *in = arg;
  const sl_record *r = &in->recs[i];
  return sl_emit(out, r->key, r->key_len, r->value, r->value_len);
}

/* Oracle: the row indexes in stable sorted order (ascending by cmp, ties by row). */
static const input *q_in;
static sl_cmp_fn q_cmp;
static int q_order(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  int c = q_cmp(&q_in->recs[a], &q_in->recs[b], NULL);
  if (c)
    return c;
  return (a > b) - (a < b);
}
static int64_t *oracle(const input *in, sl_cmp_fn cmp, int desc) {
  int64_t *o = xmalloc((size_t)in->n * sizeof *o);
  for (int64_t i = 0; i < in->n; i++)
    o[i] = i;
  q_in = in;
  q_cmp = cmp;
  if (in->n > 1)
    qsort(o, (size_t)in->n, sizeof *o, q_order);
  if (desc) /* the stable sort by the reversed order: the reverse of the ascending one */
    for (int64_t i = 0, j = in->n - 1; i < j; i++, j--) {
      int64_t t = o[i];
      o[i] = o[j];
      o[j] = t;
    }
  return o;
}

/* ------------------------------------------------------------------ collecting the output */
typedef struct sink {
  char *buf; /* [u32 klen][u32 vlen][key][value] ... */
  size_t len, cap;
  uint64_t n;
  int probed;
  int spill_files; /* spill files open in g_tmpdir at the first record */
} sink;

static void sink_add(sink *s, const sl_record *r) {
  size_t need = 8 + r->key_len + r->value_len;
  if (s->cap - s->len < need) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap - s->len < need)
      cap *= 2;
    char *nb = realloc(s->buf, cap);
    if (!nb)
      mt_oom();
    s->buf = nb;
    s->cap = cap;
  }
  uint32_t k = (uint32_t)r->key_len, v = (uint32_t)r->value_len;
  memcpy(s->buf + s->len, &k, 4);
  memcpy(s->buf + s->len + 4, &v, 4);
  if (k)
    memcpy(s->buf + s->len + 8, r->key, k);
  if (v)
    memcpy(s->buf + s->len + 8 + k, r->value, v);
  s->len += need;
  s->n++;
}

static int sink_fn(const sl_record *r, void *arg) {
  sink *s = arg;
  if (!s->probed) {
    s->probed = 1;
    s->spill_files = count_spill_files();
  }
  sink_add(s, r);
  return 0;
}

static void sink_free(sink *s) {
  free(s->buf);
  memset(s, 0, sizeof *s);
}

/* Collective: every rank's sequence to rank 0, as records (pointing into *all) with the
 * index of the first record of each rank in first[0..size] (first[size] = total). */
typedef struct gathered {
  char *all;
  sl_record *recs;
  uint64_t n;
  uint64_t *first;
} gathered;

static void gather0(const sink *s, gathered *g) {
  memset(g, 0, sizeof *g);
  int len = (int)s->len;
  uint64_t cnt = s->n;
  int *lens = xcalloc((size_t)g_size, sizeof *lens),
      *displs = xcalloc((size_t)g_size, sizeof *displs);
  uint64_t *cnts = xcalloc((size_t)g_size, sizeof *cnts);
  MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Gather(&cnt, 1, MPI_UINT64_T, cnts, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  size_t total = 0;
  if (g_rank == 0)
    for (int r = 0; r < g_size; r++) {
      displs[r] = (int)total;
      total += (size_t)lens[r];
    }
  g->all = xmalloc(total);
  MPI_Gatherv(s->buf ? s->buf : "", len, MPI_BYTE, g->all, lens, displs, MPI_BYTE, 0,
              MPI_COMM_WORLD);
  if (g_rank == 0) {
    g->first = xcalloc((size_t)g_size + 1, sizeof *g->first);
    for (int r = 0; r < g_size; r++)
      g->first[r + 1] = g->first[r] + cnts[r];
    g->n = g->first[g_size];
    g->recs = xcalloc((size_t)g->n, sizeof *g->recs);
    size_t pos = 0;
    for (uint64_t i = 0; i < g->n && pos + 8 <= total; i++) {
      uint32_t k, v;
      memcpy(&k, g->all + pos, 4);
      memcpy(&v, g->all + pos + 4, 4);
      sl_record r = {g->all + pos + 8, k, g->all + pos + 8 + k, v};
      g->recs[i] = r;
      pos += 8 + (size_t)k + v;
    }
  }
  free(lens);
  free(displs);
  free(cnts);
}

static void gathered_free(gathered *g) {
  free(g->all);
  free(g->recs);
  free(g->first);
  memset(g, 0, sizeof *g);
}

static void print_rec(const sl_record *r) {
  const unsigned char *k = r->key;
  fputc('[', stderr);
  for (size_t i = 0; i < r->key_len && i < 16; i++)
    fprintf(stderr, "%02x", k[i]);
  fprintf(stderr, "/row ");
  if (r->value_len == 8) {
    const unsigned char *v = r->value;
    int dec = 1;
    for (int i = 0; i < 8; i++)
      dec &= v[i] >= '0' && v[i] <= '9';
    if (dec)
      fprintf(stderr, "%.8s", (const char *)v);
    else
      fprintf(stderr, "%" PRIu64, rd_be64(v));
  } else {
    fprintf(stderr, "?(%zu bytes)", r->value_len);
  }
  fputc(']', stderr);
}

/* Rank 0: checks (a)-(d) of the gathered output against the input and the oracle. */
static void check_output(const char *what, const gathered *g, const input *in, int kind,
                         sl_cmp_fn cmp, int stable, int desc, const int64_t *order) {
  if (g_rank != 0)
    return;
#define CMPDIR(a, b) (desc ? cmp((b), (a), NULL) : cmp((a), (b), NULL))
  EXPECT_TRUE(g->n == (uint64_t)in->n, "%s: %" PRIu64 " records, expected %lld", what, g->n,
              (long long)in->n);
  /* (a) each rank's sequence is sorted */
  int bad = 0;
  for (int r = 0; r < g_size; r++)
    for (uint64_t i = g->first[r] + 1; i < g->first[r + 1]; i++)
      if (CMPDIR(&g->recs[i - 1], &g->recs[i]) > 0) {
        if (bad++ < 3) {
          MT_LOC();
          fprintf(stderr, "%s: rank %d is out of order at its record %" PRIu64 ": ", what, r,
                  i - g->first[r]);
          print_rec(&g->recs[i - 1]);
          fprintf(stderr, " before ");
          print_rec(&g->recs[i]);
          fprintf(stderr, "\n");
        }
      }
  CU_ASSERT(bad == 0);
  /* (b) boundaries between consecutive non-empty ranks */
  int prev = -1;
  bad = 0;
  for (int r = 0; r < g_size; r++) {
    if (g->first[r] == g->first[r + 1])
      continue;
    if (prev >= 0) {
      const sl_record *last = &g->recs[g->first[prev + 1] - 1], *head = &g->recs[g->first[r]];
      if (CMPDIR(last, head) > 0) {
        bad++;
        MT_LOC();
        fprintf(stderr, "%s: the last record of rank %d ", what, prev);
        print_rec(last);
        fprintf(stderr, " sorts after the first of rank %d ", r);
        print_rec(head);
        fprintf(stderr, "\n");
      }
    }
    prev = r;
  }
  CU_ASSERT(bad == 0);
  /* (c) every input row exactly once, with its own key and value */
  unsigned char *seen = xcalloc((size_t)in->n, 1);
  bad = 0;
  for (uint64_t i = 0; i < g->n; i++) {
    int64_t row = row_of(kind, &g->recs[i]);
    int ok = row >= 0 && row < in->n && !seen[row] &&
             mt_bytes_cmp(g->recs[i].key, g->recs[i].key_len, in->recs[row].key,
                          in->recs[row].key_len) == 0 &&
             mt_bytes_cmp(g->recs[i].value, g->recs[i].value_len, in->recs[row].value, 8) == 0;
    if (ok)
      seen[row] = 1;
    else if (bad++ < 3) {
      MT_LOC();
      fprintf(stderr, "%s: output record %" PRIu64 " ", what, i);
      print_rec(&g->recs[i]);
      fprintf(stderr, " is not an input row, or a repeated one\n");
    }
  }
  CU_ASSERT(bad == 0);
  free(seen);
  /* (d) position by position: the oracle's key; with ties broken by row, the oracle's row */
  bad = 0;
  for (uint64_t i = 0; i < g->n && i < (uint64_t)in->n; i++) {
    const sl_record *e = &in->recs[order[i]];
    int ok = stable ? row_of(kind, &g->recs[i]) == order[i]
                    : mt_bytes_cmp(g->recs[i].key, g->recs[i].key_len, e->key, e->key_len) == 0;
    if (!ok && bad++ < 3) {
      MT_LOC();
      fprintf(stderr, "%s: position %" PRIu64 " is ", what, i);
      print_rec(&g->recs[i]);
      fprintf(stderr, ", the sequential %s sort has ", stable ? "stable" : "");
      print_rec(e);
      fprintf(stderr, "\n");
    }
  }
  CU_ASSERT(bad == 0);
#undef CMPDIR
}

/* ------------------------------------------------------------------ options */
static void set_opt(const char *name, const char *value) {
  EXPECT_RC(sl_option_set(g_ctx, name, value), SL_OK);
}

/* ------------------------------------------------------------------ one sort case */
static void run_case(const scase *c) {
  char what[200];
  case_name(c, what, sizeof what);
  input in;
  input_make(&in, c->kind, c->n);
  sl_cmp_fn cmp = pick_cmp(c->kind, c->stable);
  int64_t *order = oracle(&in, cmp, c->desc);
  if (c->spill)
    set_opt("sort-memory-bytes", "8K");

  sink s = {0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  if (c->array)
    EXPECT_RC(sl_flow_from_array(f, in.recs, (size_t)in.n, c->src_parts), SL_OK);
  else
    EXPECT_RC(sl_flow_from_generator(f, in.n, gen_fn, &in, c->src_parts), SL_OK);
  EXPECT_RC(sl_flow_sort(f, cmp, NULL, c->desc), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, sink_fn, &s), SL_OK);
  int rc = sl_run(f);
  EXPECT_RC(rc, SL_OK);

  if (c->spill) {
    set_opt("sort-memory-bytes", "256M");
    /* Records well over the budget reached this rank: the merge read spilled runs (one
     * at least: a merge pass, which bounds the open runs, may have just combined them all
     * into one). */
    if (s.len > 4 * 8192 && s.spill_files >= 0)
      EXPECT_TRUE(s.spill_files >= 1,
                  "%s: %zu bytes of records on this rank but %d spill runs open at the merge", what,
                  s.len, s.spill_files);
    sl_stats st;
    memset(&st, 0, sizeof st);
    EXPECT_RC(sl_flow_get_stats(f, -1, &st), SL_OK);
    if (getenv("SORT_TEST_VERBOSE"))
      fprintf(stderr,
              "[rank %d] %s: %" PRIu64
              " records (%zu bytes) here, %d spill runs open at the merge, state hwm %" PRIu64 "\n",
              g_rank, what, s.n, s.len, s.spill_files, st.reduce_state_hwm);
    /* the sort's memory stays near the budget: per partition (the local source partitions
     * and the sorting one) vectors that double up to a few times 8K, not the data */
    int local_parts = c->src_parts > 0 ? (c->src_parts + g_size - 1) / g_size : 1;
    uint64_t bound = (uint64_t)(local_parts + 1) * 40 * 1024;
    EXPECT_TRUE(st.reduce_state_hwm <= bound,
                "%s: sort state high-water mark %" PRIu64 " bytes, more than %" PRIu64, what,
                st.reduce_state_hwm, bound);
  }
  /* nothing left behind in the spill folder */
  EXPECT_TRUE(mt_dir_entries(g_tmpdir) == 0, "%s: %d files left in %s", what,
              mt_dir_entries(g_tmpdir), g_tmpdir);

  gathered g;
  gather0(&s, &g);
  check_output(what, &g, &in, c->kind, cmp, c->stable, c->desc, order);
  gathered_free(&g);
  sink_free(&s);
  sl_flow_destroy(&f);
  free(order);
  input_free(&in);
}

/* The four variants (ties by row or not, ascending or descending) of one input, from a
 * generator (one partition per rank) and from an array (3 partitions). */
static void run_variants(int kind, int64_t n) {
  for (int v = 0; v < 4; v++) {
    scase c = {kind, n, v & 1, (v & 1) ? 3 : 0, (v >> 1) & 1, 0, 0};
    run_case(&c);
    c.desc = 1;
    c.array = !c.array;
    c.src_parts = c.array ? 3 : 0;
    run_case(&c);
  }
}

static void test_random(void) {
  run_variants(K_RANDOM, 1000);
}
static void test_sorted(void) {
  run_variants(K_SORTED, 1000);
}
static void test_reverse(void) {
  run_variants(K_REVERSE, 1000);
}
static void test_all_equal(void) {
  run_variants(K_EQUAL, 1000);
}
static void test_three_keys(void) {
  run_variants(K_DUP3, 1000);
}
static void test_empty(void) {
  run_variants(K_RANDOM, 0);
  scase c = {K_STRING, 0, 0, 7, 1, 1, 0};
  run_case(&c);
}
/* Fewer records than ranks (and than partitions of the source). */
static void test_tiny(void) {
  for (int64_t n = 1; n <= 3; n++) {
    run_variants(K_RANDOM, n);
    scase c = {K_EQUAL, n, 1, 5, 0, 0, 0};
    run_case(&c);
  }
}
static void test_strings(void) {
  run_variants(K_STRING, 3000);
}
/* More source partitions than ranks, and an uneven number. */
static void test_many_source_partitions(void) {
  scase a = {K_RANDOM, 2500, 0, 7, 1, 0, 0};
  run_case(&a);
  scase b = {K_DUP3, 2500, 1, 13, 0, 1, 0};
  run_case(&b);
  scase c = {K_STRING, 2500, 0, 1, 1, 1, 0};
  run_case(&c);
}

/* ~20000 records of 24..36 bytes (~0.6 MB) against an 8K budget: both the sampling stage
 * and the sorting stage spill, and every rank merges many runs. */
static void test_spill(void) {
  const scase cases[] = {
      {K_RANDOM, 20000, 0, 0, 1, 0, 1}, {K_RANDOM, 20000, 1, 5, 0, 1, 1},
      {K_DUP3, 20000, 0, 0, 0, 0, 1},   {K_DUP3, 20000, 0, 0, 1, 1, 1},
      {K_STRING, 20000, 0, 0, 1, 0, 1}, {K_SORTED, 20000, 1, 0, 0, 1, 1},
      {K_EQUAL, 20000, 0, 3, 1, 0, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_case(&cases[i]);
}

/* A spill that cannot create its file fails the run with SL_ERR_IO on every rank: this
 * proves that the 8K cases above did write runs (a small input, under the budget
 * everywhere, still sorts with the same bad --sl-tmpdir). source 0: from_array; 1: from a
 * generator, whose sl_emit fails inside the user's generate callback. */
static void check_spill_error(int generator) {
  input in;
  input_make(&in, K_RANDOM, 20000);
  set_opt("sort-memory-bytes", "8K");
  set_opt("tmpdir", "/nonexistent-sluice-sort-test/dir");
  for (int big = 0; big < 2; big++) {
    int64_t n = big ? in.n : 40; /* 40 records: ~1.3K, under the budget everywhere */
    uint64_t count = 0;
    sl_flow *f = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    if (generator)
      EXPECT_RC(sl_flow_from_generator(f, n, gen_fn, &in, 0), SL_OK);
    else
      EXPECT_RC(sl_flow_from_array(f, in.recs, (size_t)n, 0), SL_OK);
    EXPECT_RC(sl_flow_sort(f, cmp_u64, NULL, 0), SL_OK);
    EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
    if (g_rank == 0 && big)
      fprintf(stderr, "\n(an error about the spill folder is expected next)\n");
    int rc = sl_run(f);
    if (big) {
      EXPECT_RC(rc, SL_ERR_IO);
    } else {
      EXPECT_RC(rc, SL_OK);
      EXPECT_TRUE(count == (uint64_t)n, "count %" PRIu64 ", expected %lld", count, (long long)n);
    }
    sl_flow_destroy(&f);
  }
  set_opt("tmpdir", g_tmpdir);
  set_opt("sort-memory-bytes", "256M");
  input_free(&in);
}
static void test_spill_needs_tmpdir(void) {
  check_spill_error(0);
}
/* The same through a generator. The user's callback returns what sl_emit returned (the
 * documented pattern, as in flat_map); the run should fail with that code, SL_ERR_IO, as
 * it does from flat_map and map_batch. */
static void test_spill_error_code_from_generator(void) {
  check_spill_error(1);
}

/* Two sorts in one flow: by key, then by row descending. */
static void test_two_sorts(void) {
  input in;
  input_make(&in, K_DUP3, 3000);
  for (int spill = 0; spill < 2; spill++) {
    if (spill)
      set_opt("sort-memory-bytes", "8K");
    sink s = {0};
    sl_flow *f = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_generator(f, in.n, gen_fn, &in, 0), SL_OK);
    EXPECT_RC(sl_flow_sort(f, cmp_u64, NULL, 0), SL_OK);
    EXPECT_RC(sl_flow_sort(f, cmp_row, NULL, 1), SL_OK);
    EXPECT_RC(sl_flow_to_callback(f, sink_fn, &s), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    if (spill)
      set_opt("sort-memory-bytes", "256M");
    int64_t *order = xmalloc((size_t)in.n * sizeof *order);
    for (int64_t i = 0; i < in.n; i++)
      order[i] = in.n - 1 - i;
    gathered g;
    gather0(&s, &g);
    check_output(spill ? "sort(key) then sort(row, descending), 8K memory"
                       : "sort(key) then sort(row, descending)",
                 &g, &in, K_DUP3, cmp_row, 1, 1, order);
    gathered_free(&g);
    free(order);
    sink_free(&s);
    sl_flow_destroy(&f);
  }
  input_free(&in);
}

/* sort after a reducer in the same stage (the usual "count, then order by count"): words of
 * 40 kinds counted with reduce_by_key(COUNT), then sorted by count descending, then word. */
static int wc_gen(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  char w[16];
  uint64_t h = mt_mix((uint64_t)i + 5);
  int kl = snprintf(w, sizeof w, "w%02u", (unsigned)(h % 40 < 20 ? h % 40 : h % 7)); /* skewed */
  return sl_emit(out, w, (size_t)kl, NULL, 0);
}
static int cmp_count_then_word(const sl_record *a, const sl_record *b, void *arg) {
  (void)arg;
  uint64_t x, y;
  memcpy(&x, a->value, 8);
  memcpy(&y, b->value, 8);
  if (x != y)
    return x > y ? -1 : 1;
  return mt_bytes_cmp(a->key, a->key_len, b->key, b->key_len);
}
static void test_after_reduce(void) {
  const int64_t n = 20000;
  uint64_t counts[40] = {0};
  for (int64_t i = 0; i < n; i++) {
    uint64_t h = mt_mix((uint64_t)i + 5);
    counts[h % 40 < 20 ? h % 40 : h % 7]++;
  }
  /* shape 0: partition -> count -> sort; shape 1: count per source partition -> partition
   * into 3 -> sum the partial counts -> sort */
  for (int shape = 0; shape < 2; shape++) {
    sink s = {0};
    sl_flow *f = NULL;
    sl_aggregator count = sl_aggregator_builtin(SL_AGG_COUNT),
                  sum = sl_aggregator_builtin(SL_AGG_SUM_I64);
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_generator(f, n, wc_gen, NULL, 0), SL_OK);
    if (shape == 0) {
      EXPECT_RC(sl_flow_partition(f, 0, NULL, NULL), SL_OK);
      EXPECT_RC(sl_flow_reduce_by_key(f, &count), SL_OK);
    } else {
      EXPECT_RC(sl_flow_reduce_by_key(f, &count), SL_OK);
      EXPECT_RC(sl_flow_partition(f, 3, NULL, NULL), SL_OK);
      EXPECT_RC(sl_flow_reduce_by_key(f, &sum), SL_OK);
    }
    EXPECT_RC(sl_flow_sort(f, cmp_count_then_word, NULL, 0), SL_OK);
    EXPECT_RC(sl_flow_to_callback(f, sink_fn, &s), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    gathered g;
    gather0(&s, &g);
    if (g_rank == 0) {
      /* oracle: (word, count) for the words that occur, by count descending then word */
      struct wc {
        char w[8];
        uint64_t c;
      } exp[40];
      int m = 0;
      for (int k = 0; k < 40; k++)
        if (counts[k]) {
          snprintf(exp[m].w, sizeof exp[m].w, "w%02u", (unsigned)k % 100u);
          exp[m++].c = counts[k];
        }
      for (int a = 1; a < m; a++) /* insertion sort */
        for (int b = a; b > 0; b--) {
          int sw = exp[b].c > exp[b - 1].c ||
                   (exp[b].c == exp[b - 1].c && strcmp(exp[b].w, exp[b - 1].w) < 0);
          if (!sw)
            break;
          struct wc t = exp[b];
          exp[b] = exp[b - 1];
          exp[b - 1] = t;
        }
      EXPECT_TRUE(g.n == (uint64_t)m,
                  "reduce_by_key -> sort (shape %d): %" PRIu64 " records, expected %d", shape, g.n,
                  m);
      int bad = 0;
      for (int k = 0; k < m && (uint64_t)k < g.n; k++) {
        const sl_record *r = &g.recs[k];
        uint64_t c = 0;
        if (r->value_len == 8)
          memcpy(&c, r->value, 8);
        if (mt_bytes_cmp(r->key, r->key_len, exp[k].w, strlen(exp[k].w)) || c != exp[k].c) {
          if (bad++ < 3) {
            MT_LOC();
            fprintf(stderr,
                    "reduce_by_key -> sort (shape %d): position %d is (%.*s, %" PRIu64
                    "), expected (%s, %" PRIu64 ")\n",
                    shape, k, (int)r->key_len, (const char *)r->key, c, exp[k].w, exp[k].c);
          }
        }
      }
      CU_ASSERT(bad == 0);
    }
    gathered_free(&g);
    sink_free(&s);
    sl_flow_destroy(&f);
  }
}

/* Operators after the sort run in its stage and keep the order: keep even rows only. */
static int keep_even(const sl_record *r, void *arg) {
  (void)arg;
  return (rd_be64(r->value) & 1) == 0;
}
static void test_filter_after_sort(void) {
  input in;
  input_make(&in, K_DUP3, 6000);
  int64_t *order = oracle(&in, cmp_u64_row, 1);
  set_opt("sort-memory-bytes", "8K");
  sink s = {0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, in.recs, (size_t)in.n, 0), SL_OK);
  EXPECT_RC(sl_flow_sort(f, cmp_u64_row, NULL, 1), SL_OK);
  EXPECT_RC(sl_flow_filter(f, keep_even, NULL), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, sink_fn, &s), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  set_opt("sort-memory-bytes", "256M");
  gathered g;
  gather0(&s, &g);
  if (g_rank == 0) {
    int64_t m = 0, bad = 0;
    for (int64_t i = 0; i < in.n; i++) {
      if (order[i] & 1)
        continue;
      if ((uint64_t)m >= g.n || row_of(K_DUP3, &g.recs[m]) != order[i])
        bad++;
      m++;
    }
    EXPECT_TRUE(bad == 0 && g.n == (uint64_t)m,
                "sort -> filter: %lld of %lld positions differ (%" PRIu64 " records)",
                (long long)bad, (long long)m, g.n);
  }
  gathered_free(&g);
  sink_free(&s);
  sl_flow_destroy(&f);
  free(order);
  input_free(&in);
}

/* Records with an empty value (key only), and records larger than the whole budget. */
static void test_odd_records(void) {
  set_opt("sort-memory-bytes", "8K");
  for (int big = 0; big < 2; big++) {
    const int64_t n = big ? 120 : 5000;
    const size_t vlen = big ? 12000 : 0; /* 12 KB records against an 8K budget: a run each */
    sink s = {0};
    sl_flow *f = NULL;
    size_t nrec = (size_t)n;
    sl_record *recs = xcalloc(nrec, sizeof *recs);
    unsigned char *keys = xmalloc(nrec * 8), *vals = xmalloc(vlen ? nrec * vlen : 1);
    for (size_t i = 0; i < nrec; i++) {
      be64(keys + i * 8, mt_mix(i) % 977);
      if (vlen)
        memset(vals + i * vlen, (int)(i % 251), vlen);
      sl_record r = {keys + i * 8, 8, vlen ? vals + i * vlen : NULL, vlen};
      recs[i] = r;
    }
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_array(f, recs, nrec, 0), SL_OK);
    EXPECT_RC(sl_flow_sort(f, cmp_bytes, NULL, 0), SL_OK);
    EXPECT_RC(sl_flow_to_callback(f, sink_fn, &s), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    gathered g;
    gather0(&s, &g);
    if (g_rank == 0) {
      /* sorted, and the same multiset of (key, value) as the input */
      uint64_t *want = xcalloc(977, sizeof *want), *got = xcalloc(977, sizeof *got);
      for (size_t i = 0; i < nrec; i++)
        want[mt_mix(i) % 977]++;
      int bad = 0;
      for (uint64_t i = 0; i < g.n; i++) {
        const sl_record *r = &g.recs[i];
        if (i && cmp_bytes(&g.recs[i - 1], r, NULL) > 0)
          bad++;
        if (r->key_len != 8 || r->value_len != vlen) {
          bad++;
          continue;
        }
        uint64_t k = rd_be64(r->key);
        if (k < 977)
          got[k]++;
        else
          bad++;
        /* a big value is filled with its row's byte, and that row has this key */
        if (vlen) {
          const unsigned char *v = r->value;
          int okv = 1;
          for (size_t j = 1; j < vlen; j++)
            okv &= v[j] == v[0];
          if (!okv)
            bad++;
        }
      }
      EXPECT_TRUE(g.n == nrec, "%s: %" PRIu64 " records, expected %zu",
                  big ? "12 KB records" : "empty values", g.n, nrec);
      EXPECT_TRUE(bad == 0, "%s: %d records out of order or malformed",
                  big ? "12 KB records" : "empty values", bad);
      EXPECT_TRUE(memcmp(want, got, 977 * sizeof *want) == 0,
                  "%s: the keys differ from the input's", big ? "12 KB records" : "empty values");
      free(want);
      free(got);
    }
    gathered_free(&g);
    sink_free(&s);
    sl_flow_destroy(&f);
    free(recs);
    free(keys);
    free(vals);
  }
  set_opt("sort-memory-bytes", "256M");
}

/* With one source partition and a key-only comparator, records reach each sorting
 * partition in source order; at one rank the sort is then stable, spilled or not. */
static void test_one_partition_stable(void) {
  for (int spill = 0; spill < 2; spill++) {
    scase c = {K_DUP3, 20000, 0, 1, 0, 0, spill};
    if (g_size == 1) {
      /* key-only comparator, checked against the stable oracle */
      char what[200];
      case_name(&c, what, sizeof what);
      input in;
      input_make(&in, c.kind, c.n);
      int64_t *order = oracle(&in, cmp_u64, 0);
      if (spill)
        set_opt("sort-memory-bytes", "8K");
      sink s = {0};
      sl_flow *f = NULL;
      EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
      EXPECT_RC(sl_flow_from_generator(f, in.n, gen_fn, &in, 1), SL_OK);
      EXPECT_RC(sl_flow_sort(f, cmp_u64, NULL, 0), SL_OK);
      EXPECT_RC(sl_flow_to_callback(f, sink_fn, &s), SL_OK);
      EXPECT_RC(sl_run(f), SL_OK);
      if (spill)
        set_opt("sort-memory-bytes", "256M");
      gathered g;
      gather0(&s, &g);
      strncat(what, " at 1 rank: stable", sizeof what - strlen(what) - 1);
      check_output(what, &g, &in, c.kind, cmp_u64, 1, 0, order);
      gathered_free(&g);
      sink_free(&s);
      sl_flow_destroy(&f);
      free(order);
      input_free(&in);
    } else {
      run_case(&c);
    }
  }
}

/* sort(1): lines of a text file sorted bytewise, written back with to_text. */
static int cmp_line(const sl_record *a, const sl_record *b, void *arg) {
  (void)arg;
  return mt_bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}
static char **qs_lines;
static size_t *qs_lens;
static int qs_line_cmp(const void *x, const void *y) {
  size_t a = *(const size_t *)x, b = *(const size_t *)y;
  return mt_bytes_cmp(qs_lines[a], qs_lens[a], qs_lines[b], qs_lens[b]);
}
static void test_sort_lines(void) {
  char dir[256] = {0};
  if (g_rank == 0) {
    snprintf(dir, sizeof dir, "/tmp/sluice-sortlines-XXXXXX");
    if (!mkdtemp(dir))
      MPI_Abort(MPI_COMM_WORLD, 3);
  }
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
  /* 6000 lines of 0..40 bytes (a..z, space, some empty and repeated lines) */
  const size_t n = 6000;
  char **lines = xcalloc(n, sizeof *lines);
  size_t *lens = xcalloc(n, sizeof *lens), total = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t h = mt_mix(i + 31);
    lens[i] = (h & 7) == 0 ? (h >> 3) % 2 : (h >> 3) % 41;
    lines[i] = xmalloc(lens[i] + 1);
    for (size_t j = 0; j < lens[i]; j++)
      lines[i][j] = (char)(j % 9 == 8 ? ' ' : 'a' + mt_mix(h + j) % ((h >> 40) % 2 ? 3 : 26));
    total += lens[i] + 1;
  }
  char in_path[320], out_path[320];
  snprintf(in_path, sizeof in_path, "%s/in.txt", dir);
  if (g_rank == 0) {
    FILE *fp = fopen(in_path, "wb");
    for (size_t i = 0; fp && i < n; i++) {
      fwrite(lines[i], 1, lens[i], fp);
      fputc('\n', fp);
    }
    if (!fp || fclose(fp) != 0)
      MPI_Abort(MPI_COMM_WORLD, 3);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  size_t *ord = xmalloc(n * sizeof *ord);
  for (size_t i = 0; i < n; i++)
    ord[i] = i;
  qs_lines = lines;
  qs_lens = lens;
  qsort(ord, n, sizeof *ord, qs_line_cmp);
  for (int spill = 0; spill < 2; spill++) {
    snprintf(out_path, sizeof out_path, "%s/out%d.txt", dir, spill);
    if (spill)
      set_opt("sort-memory-bytes", "8K");
    const char *paths[] = {in_path};
    sl_flow *f = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_text_files(f, paths, 1, spill ? 5 : 0), SL_OK);
    EXPECT_RC(sl_flow_sort(f, cmp_line, NULL, 0), SL_OK);
    EXPECT_RC(sl_flow_to_text(f, out_path, NULL, NULL, 1), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    sl_flow_destroy(&f);
    if (spill)
      set_opt("sort-memory-bytes", "256M");
    if (g_rank == 0) {
      char *exp = xmalloc(total + 1);
      size_t elen = 0;
      for (size_t i = 0; i < n; i++) {
        memcpy(exp + elen, lines[ord[i]], lens[ord[i]]);
        elen += lens[ord[i]];
        exp[elen++] = '\n';
      }
      char *got = xmalloc(total + 2);
      FILE *fp = fopen(out_path, "rb");
      size_t glen = fp ? fread(got, 1, total + 1, fp) : 0;
      if (fp)
        fclose(fp);
      EXPECT_TRUE(glen == elen && memcmp(got, exp, elen) == 0,
                  "sort of a text file's lines%s: the output (%zu bytes) is not the sorted input "
                  "(%zu bytes)",
                  spill ? " (8K memory, 5 source partitions)" : "", glen, elen);
      free(exp);
      free(got);
      unlink(out_path);
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
  if (g_rank == 0) {
    unlink(in_path);
    rmdir(dir);
  }
  for (size_t i = 0; i < n; i++)
    free(lines[i]);
  free(lines);
  free(lens);
  free(ord);
}

/* ------------------------------------------------------------------ sort -> to_text */
static void test_to_text(void) {
  char dir[256] = {0};
  if (g_rank == 0) {
    snprintf(dir, sizeof dir, "/tmp/sluice-sorttext-XXXXXX");
    if (!mkdtemp(dir)) {
      perror("mkdtemp");
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
  }
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
  const struct {
    int64_t n;
    int desc, spill, parts;
  } cases[] = {{2000, 0, 0, 0},  {2000, 1, 0, 3}, {20000, 0, 1, 0},
               {20000, 1, 1, 5}, {0, 0, 0, 0},    {2, 0, 0, 0}};
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    input in;
    input_make(&in, K_TEXT, cases[ci].n);
    int64_t *order = oracle(&in, cmp_bytes_row, cases[ci].desc);
    char path[320], what[160];
    snprintf(path, sizeof path, "%s/sorted-%zu.tsv", dir, ci);
    snprintf(what, sizeof what, "sort(text keys, n=%lld, %s%s) -> to_text", (long long)cases[ci].n,
             cases[ci].desc ? "descending" : "ascending", cases[ci].spill ? ", 8K memory" : "");
    if (cases[ci].spill)
      set_opt("sort-memory-bytes", "8K");
    sl_flow *f = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_generator(f, in.n, gen_fn, &in, cases[ci].parts), SL_OK);
    EXPECT_RC(sl_flow_sort(f, cmp_bytes_row, NULL, cases[ci].desc), SL_OK);
    EXPECT_RC(sl_flow_to_text(f, path, sl_format_tsv, NULL, 0), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    sl_flow_destroy(&f);
    if (cases[ci].spill)
      set_opt("sort-memory-bytes", "256M");
    if (g_rank == 0) {
      /* expected: key \t value per line, in the oracle's order */
      size_t cap = (size_t)in.n * (MAXKEY + 10) + 1, elen = 0;
      char *exp = xmalloc(cap);
      for (int64_t i = 0; i < in.n; i++) {
        const sl_record *r = &in.recs[order[i]];
        memcpy(exp + elen, r->key, r->key_len);
        elen += r->key_len;
        exp[elen++] = '\t';
        memcpy(exp + elen, r->value, 8);
        elen += 8;
        exp[elen++] = '\n';
      }
      FILE *fp = fopen(path, "rb");
      EXPECT_TRUE(fp != NULL, "%s: cannot open %s: %s", what, path, strerror(errno));
      char *got = xmalloc(elen + 2);
      size_t glen = fp ? fread(got, 1, elen + 1, fp) : 0;
      if (fp)
        fclose(fp);
      EXPECT_TRUE(glen == elen, "%s: the file has %zu%s bytes, expected %zu", what, glen,
                  glen > elen ? "+" : "", elen);
      size_t m = glen < elen ? glen : elen, at = 0, line = 1;
      while (at < m && got[at] == exp[at]) {
        if (got[at] == '\n')
          line++;
        at++;
      }
      EXPECT_TRUE(at == m, "%s: line %zu differs from the sorted oracle", what, line);
      free(got);
      free(exp);
      unlink(path);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    free(order);
    input_free(&in);
  }
  if (g_rank == 0)
    rmdir(dir);
}

/* ------------------------------------------------------------------ take_sort */
/* Rows with a key of 30 distinct values (many ties): take_sort's top k by the key alone
 * (ties: any of the tied rows) or by key then row (one answer), vs the oracle. */
static void check_take_sort(int64_t n, size_t k, int stable, int src_parts) {
  input in;
  input_make(&in, K_DUP3, n);
  for (int64_t i = 0; i < n; i++) { /* 30 distinct keys */
    uint64_t v = mt_mix((uint64_t)i + 99) % 30;
    memcpy(in.keys + i * MAXKEY, &v, 8);
  }
  sl_cmp_fn cmp = stable ? cmp_u64_row : cmp_u64;
  int64_t *order = oracle(&in, cmp, 0);
  char what[160];
  snprintf(what, sizeof what, "take_sort(n=%lld, k=%zu, %s, source parts %d)", (long long)n, k,
           stable ? "ties by row" : "ties", src_parts);
  sink s = {0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, n, gen_fn, &in, src_parts), SL_OK);
  EXPECT_RC(sl_flow_take_sort(f, k, cmp, NULL), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, sink_fn, &s), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank != 0)
    EXPECT_TRUE(s.n == 0, "%s: %" PRIu64 " records on rank %d (the result is on rank 0)", what, s.n,
                g_rank);
  gathered g;
  gather0(&s, &g);
  if (g_rank == 0) {
    uint64_t want = (uint64_t)n < k ? (uint64_t)n : k;
    EXPECT_TRUE(g.n == want, "%s: %" PRIu64 " records, expected %" PRIu64, what, g.n, want);
    unsigned char *seen = xcalloc((size_t)n, 1);
    int bad = 0;
    for (uint64_t i = 0; i < g.n && i < want; i++) {
      const sl_record *r = &g.recs[i];
      int64_t row = row_of(K_DUP3, r);
      int ok = row >= 0 && row < n && !seen[row] && cmp_u64_row(r, &in.recs[row], NULL) == 0;
      if (ok)
        seen[row] = 1;
      /* in order, with the oracle's key at every position (and its row without ties) */
      ok = ok && (stable ? row == order[i] : cmp_u64(r, &in.recs[order[i]], NULL) == 0);
      if (!ok && bad++ < 3) {
        MT_LOC();
        fprintf(stderr, "%s: position %" PRIu64 " is ", what, i);
        print_rec(r);
        fprintf(stderr, ", the oracle has ");
        print_rec(&in.recs[order[i]]);
        fprintf(stderr, "\n");
      }
    }
    CU_ASSERT(bad == 0);
    free(seen);
  }
  gathered_free(&g);
  sink_free(&s);
  sl_flow_destroy(&f);
  free(order);
  input_free(&in);
}

static void test_take_sort(void) {
  const size_t ks[] = {0, 1, 7, 100, 499, 500, 501, 5000};
  for (int stable = 0; stable < 2; stable++)
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
      check_take_sort(500, ks[i], stable, i % 2 ? 5 : 0);
  check_take_sort(0, 5, 1, 0);
  check_take_sort(2, 5, 0, 0); /* fewer records than ranks */
  check_take_sort(3, 2, 1, 7);
}

/* ------------------------------------------------------------------ record layouts */

/* A flow over n records whose value starts with the 8-byte big-endian row index: sorted by
 * the key bytes only (ties are frequent), from one source partition. Checked: the count,
 * each rank sorted, the boundaries, every row once with its own key and value, and at one
 * rank the exact stable order (ties in arrival order, also when descending). */
typedef struct layout {
  int64_t n;
  unsigned char *keys, *vals;
  sl_record *recs;
} layout;
static layout g_recs;
static int gen_recs(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  const sl_record *r = &g_recs.recs[i];
  return sl_emit(out, r->key, r->key_len, r->value, r->value_len);
}
static int g_desc_ord;
static int q_stable(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  int c = cmp_bytes(&g_recs.recs[a], &g_recs.recs[b], NULL);
  if (g_desc_ord)
    c = -c;
  return c ? c : (a > b) - (a < b);
}
static void check_layout(const char *what, int desc, int spill) {
  int64_t n = g_recs.n;
  if (spill)
    set_opt("sort-memory-bytes", "8K");
  sink s = {0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, n, gen_recs, NULL, 1), SL_OK);
  EXPECT_RC(sl_flow_sort(f, cmp_bytes, NULL, desc), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, sink_fn, &s), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (spill) {
    set_opt("sort-memory-bytes", "256M");
    if (s.len > 4 * 8192 && s.spill_files >= 0) /* one at least: see run_case */
      EXPECT_TRUE(s.spill_files >= 1, "%s: %zu bytes here but %d spill runs at the merge", what,
                  s.len, s.spill_files);
  }
  EXPECT_TRUE(mt_dir_entries(g_tmpdir) == 0, "%s: files left in %s", what, g_tmpdir);
  gathered g;
  gather0(&s, &g);
  if (g_rank == 0) {
    int64_t *order = xmalloc((size_t)n * sizeof *order);
    for (int64_t i = 0; i < n; i++)
      order[i] = i;
    g_desc_ord = desc;
    qsort(order, (size_t)n, sizeof *order, q_stable);
    EXPECT_TRUE(g.n == (uint64_t)n, "%s: %" PRIu64 " records, expected %lld", what, g.n,
                (long long)n);
    unsigned char *seen = xcalloc((size_t)n, 1);
    int unsorted = 0, wrong = 0, unstable = 0;
    for (uint64_t i = 0; i < g.n; i++) {
      const sl_record *r = &g.recs[i];
      int c = i ? cmp_bytes(&g.recs[i - 1], r, NULL) : 0;
      /* ranks in order: the whole sequence is sorted, boundaries included */
      if (desc ? c < 0 : c > 0)
        unsorted++;
      int64_t row = r->value_len >= 8 ? (int64_t)rd_be64(r->value) : -1;
      const sl_record *e = row >= 0 && row < n ? &g_recs.recs[row] : NULL;
      if (!e || seen[row] || mt_bytes_cmp(r->key, r->key_len, e->key, e->key_len) != 0 ||
          mt_bytes_cmp(r->value, r->value_len, e->value, e->value_len) != 0) {
        wrong++;
        continue;
      }
      seen[row] = 1;
      if (g_size == 1 && row != order[i] && unstable++ < 3) {
        MT_LOC();
        fprintf(stderr, "%s: position %" PRIu64 " has row %lld, the stable sort row %lld\n", what,
                i, (long long)row, (long long)order[i]);
      }
    }
    EXPECT_TRUE(unsorted == 0, "%s: %d records out of order", what, unsorted);
    EXPECT_TRUE(wrong == 0, "%s: %d records not from the input, or repeated", what, wrong);
    EXPECT_TRUE(unstable == 0, "%s: %d records out of arrival order among equal keys", what,
                unstable);
    free(seen);
    free(order);
  }
  gathered_free(&g);
  sink_free(&s);
  sl_flow_destroy(&f);
}

/* Records of n rows: key of klen_of(i) bytes (big-endian mix(i) % distinct, so byte order is
 * numeric order), value: the row (8 bytes big-endian) then vpad bytes. */
static void layout_make(int64_t n, uint64_t distinct, size_t vpad, size_t (*klen_of)(int64_t)) {
  g_recs.n = n;
  g_recs.keys = xmalloc((size_t)n * 8);
  g_recs.vals = xmalloc((size_t)n * (8 + vpad));
  g_recs.recs = xmalloc((size_t)n * sizeof *g_recs.recs);
  for (int64_t i = 0; i < n; i++) {
    unsigned char *k = g_recs.keys + i * 8, *v = g_recs.vals + (size_t)i * (8 + vpad);
    be64(k, distinct ? mt_mix((uint64_t)i) % distinct : 7);
    be64(v, (uint64_t)i);
    memset(v + 8, (int)(i & 0xff), vpad);
    size_t kl = klen_of(i);
    sl_record r = {k + 8 - kl, kl, v, 8 + vpad};
    g_recs.recs[i] = r;
  }
}
static void layout_free(void) {
  free(g_recs.keys);
  free(g_recs.vals);
  free(g_recs.recs);
  memset(&g_recs, 0, sizeof g_recs);
}
static size_t klen8(int64_t i) {
  (void)i;
  return 8;
}
/* 8-byte keys, then from row 5000 on every 7th key 3 bytes long (other record lengths
 * after a run of equal ones) */
static size_t klen_mixed(int64_t i) {
  return i >= 5000 && i % 7 == 3 ? 3 : 8;
}

/* Records of one size are held packed and merge-sorted in cache-sized blocks: several
 * record widths (16, 24, 32, 41 and 72 bytes: the specialised copies, an odd width and a
 * wide one), ties everywhere, ascending and descending, in memory and spilled. */
static void test_fixed_widths(void) {
  const size_t pads[] = {0, 8, 16, 25, 56};
  for (size_t i = 0; i < sizeof pads / sizeof pads[0]; i++) {
    layout_make(30000, 50, pads[i], klen8);
    for (int v = 0; v < (i == 0 ? 4 : 2); v++) {
      int desc = v & 1, spill = i == 0 ? v >> 1 : (int)(i & 1);
      char what[160];
      snprintf(what, sizeof what, "sort(%zu-byte records, 50 keys, %s%s)", 16 + pads[i],
               desc ? "descending" : "ascending", spill ? ", 8K memory" : "");
      check_layout(what, desc, spill);
    }
    layout_free();
  }
}

/* All keys equal and three distinct keys, with a key-only comparator: equal records stay
 * in arrival order (checked exactly at one rank), ascending and descending, in memory and
 * spilled. */
static void test_stable_ties(void) {
  const uint64_t distinct[] = {0, 3};
  for (size_t i = 0; i < 2; i++) {
    layout_make(20000, distinct[i], 8, klen8);
    for (int v = 0; v < 4; v++) {
      char what[160];
      snprintf(what, sizeof what, "sort(%s, key only, %s%s)", i ? "3 keys" : "all keys equal",
               v & 1 ? "descending" : "ascending", v & 2 ? ", 8K memory" : "");
      check_layout(what, v & 1, v >> 1);
    }
    layout_free();
  }
}

/* Records of one length, then others mixed in: the held records change from the packed
 * to the general layout mid-stream, and spilled runs of both layouts are merged. */
static void test_mixed_lengths(void) {
  layout_make(20000, 1000, 4, klen_mixed);
  for (int v = 0; v < 4; v++) {
    char what[160];
    snprintf(what, sizeof what, "sort(8- and 3-byte keys, %s%s)",
             v & 1 ? "descending" : "ascending", v & 2 ? ", 8K memory" : "");
    check_layout(what, v & 1, v >> 1);
  }
  layout_free();
}

/* ------------------------------------------------------------------ main */

static const mt_test tests[] = {
    {"random", test_random},
    {"sorted", test_sorted},
    {"reverse", test_reverse},
    {"all_equal", test_all_equal},
    {"three_keys", test_three_keys},
    {"empty", test_empty},
    {"fewer_than_ranks", test_tiny},
    {"strings", test_strings},
    {"many_source_partitions", test_many_source_partitions},
    {"spill", test_spill},
    {"spill_needs_tmpdir", test_spill_needs_tmpdir},
    {"spill_error_code_from_generator", test_spill_error_code_from_generator},
    {"two_sorts", test_two_sorts},
    {"after_reduce", test_after_reduce},
    {"filter_after_sort", test_filter_after_sort},
    {"odd_records", test_odd_records},
    {"one_partition_stable", test_one_partition_stable},
    {"to_text", test_to_text},
    {"sort_lines", test_sort_lines},
    {"take_sort", test_take_sort},
    {"fixed_widths", test_fixed_widths},
    {"stable_ties", test_stable_ties},
    {"mixed_lengths", test_mixed_lengths},
    {NULL, NULL},
};

/* Runs the tests (those whose name contains argv[1], if given) on every rank; rank 0
 * prints the CUnit report; the exit status is nonzero if any rank had a failure. */
static void use_private_tmpdir(void) {
  snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/sluice-sorttest-XXXXXX");
  if (!mkdtemp(g_tmpdir)) {
    perror("mkdtemp");
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  if (sl_option_set(g_ctx, "tmpdir", g_tmpdir) != SL_OK)
    MPI_Abort(MPI_COMM_WORLD, 3);
}

static void remove_tmpdir(void) {
  rmdir(g_tmpdir);
}

int main(int argc, char **argv) {
  return mt_main_with(argc, argv, "sort", tests, use_private_tmpdir, remove_tmpdir);
}
