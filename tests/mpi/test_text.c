/* SPDX-License-Identifier: BSD-3-Clause */
/* MPI tests of text input and output: from_text_files on the awkward cases (empty files,
 * fewer bytes than ranks, no final newline, lines longer than a batch and than a read
 * block, NUL and high bytes, CRLF, many small files), to_text (read back, overwrite rules,
 * spills), a word count over all of it against an oracle tokenizer, and input statistics. */
#include "mpi_test.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- the corpus */

typedef struct corpus {
  int n;
  char names[80][32];
  mt_buf data[80];
} corpus;

static const char *vocab(int i) {
  static const char *w[] = {
      "the",    "a",  "flow",    "stage", "batch", "rank", "sluice", "gen",
      "stage2", "x",  "données", "naïve", "ß",     "日本", "zeta",   "longerwordthanusual",
      "q",      "ok", "k0",      "k1"};
  return w[i % 20];
}

static void add_words(mt_buf *b, uint64_t seed, int nwords) {
  static const char *seps[] = {" ", " ", " ", "\t", "  ", " \v", "\f"};
  for (int j = 0; j < nwords; j++) {
    uint64_t h = mt_mix(seed * 1000003 + (uint64_t)j);
    if (j)
      mt_buf_str(b, seps[h % 7]);
    if ((h >> 20) % 9 == 0) {
      char w[16];
      snprintf(w, sizeof w, "w%u", (unsigned)((h >> 32) % 3000));
      mt_buf_str(b, w);
    } else {
      mt_buf_str(b, vocab((int)((h >> 8) % 20)));
    }
  }
}

static mt_buf *corpus_add(corpus *c, const char *name) {
  snprintf(c->names[c->n], sizeof c->names[0], "%s", name);
  return &c->data[c->n++];
}

/* Every rank builds the same corpus in memory; rank 0 writes it into dir. */
static void corpus_build(corpus *c, const char *dir) {
  memset(c, 0, sizeof *c);
  mt_buf *b;
  corpus_add(c, "empty.txt"); /* empty */
  b = corpus_add(c, "tiny.txt");
  mt_buf_str(b, "x\n");
  b = corpus_add(c, "nonl.txt");
  mt_buf_str(b, "alpha beta\ngamma");
  b = corpus_add(c, "crlf.txt");
  mt_buf_str(b, "one two\r\nthree\r\n\r\nfour five six\r\n");
  b = corpus_add(c, "binary.txt");
  for (int l = 0; l < 200; l++) {
    int len = (int)(mt_mix((uint64_t)l + 77) % 90);
    for (int j = 0; j < len; j++) {
      unsigned char ch = (unsigned char)(mt_mix((uint64_t)l * 131 + (uint64_t)j) & 0xff);
      if (ch == '\n')
        ch = 0;
      mt_buf_add(b, &ch, 1);
    }
    mt_buf_add(b, "\0\x80 \xff\xfe word\x01\n", 12);
  }
  b = corpus_add(c, "long.txt"); /* 100 KB lines and lines around 4 KiB */
  mt_buf_str(b, "short first line\n");
  add_words(b, 1, 17000); /* ~100 KB of words on one line */
  mt_buf_str(b, "\n");
  for (int j = 0; j < 100 * 1024; j++)
    mt_buf_add(b, &"abcdefghijklmnopqrstuvwxyz"[j % 26], 1); /* one token */
  mt_buf_str(b, "\n");
  const int around[] = {4095, 4096, 4097, 8191, 8192, 8193, 12000, 0, 1, 20000};
  for (int k = 0; k < 10; k++) {
    for (int j = 0; j < around[k]; j++)
      mt_buf_add(b, (j % 7 == 6) ? " " : &"mnopqrs"[j % 7], 1);
    mt_buf_str(b, "\n");
  }
  add_words(b, 2, 20000);        /* the last line, ~120 KB, no final newline */
  b = corpus_add(c, "skew.txt"); /* one word holds ~90% of this file's words */
  for (int l = 0; l < 1500; l++) {
    if (mt_mix((uint64_t)l + 5) % 10 == 0)
      add_words(b, (uint64_t)l + 100, 3);
    else
      mt_buf_str(b, "hot hot hot hot hot hot hot hot hot");
    mt_buf_str(b, "\n");
  }
  b = corpus_add(c, "newlines.txt");
  mt_buf_str(b, "\n\n\n");
  b = corpus_add(c, "blanks.txt");
  mt_buf_str(b, "   \t  \n \n\t\n");
  for (int f = 0; f < 50; f++) { /* many small files, some empty, some without a final newline */
    char name[32];
    snprintf(name, sizeof name, "small%02d.txt", f);
    b = corpus_add(c, name);
    if (f % 7 == 3)
      continue;
    int lines = (int)(mt_mix((uint64_t)f + 900) % 40) + 1;
    for (int l = 0; l < lines; l++) {
      add_words(b, (uint64_t)f * 1000 + (uint64_t)l,
                (int)(mt_mix((uint64_t)f * 77 + (uint64_t)l) % 12));
      if (l + 1 < lines || f % 5 != 0)
        mt_buf_str(b, "\n");
    }
  }
  if (g_rank == 0) {
    for (int i = 0; i < c->n; i++) {
      char path[512];
      snprintf(path, sizeof path, "%s/%s", dir, c->names[i]);
      mt_write_file(path, c->data[i].p, c->data[i].len);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

static void corpus_free(corpus *c) {
  for (int i = 0; i < c->n; i++)
    mt_buf_free(&c->data[i]);
}

/* Paths of corpus files [from, to) (heap strings; free with free_paths). */
static char **corpus_paths(const corpus *c, const char *dir, int from, int to) {
  char **p = calloc((size_t)(to - from) + 1, sizeof *p);
  for (int i = from; i < to; i++) {
    p[i - from] = malloc(512);
    snprintf(p[i - from], 512, "%s/%s", dir, c->names[i]);
  }
  return p;
}
static void free_paths(char **p, int n) {
  for (int i = 0; i < n; i++)
    free(p[i]);
  free(p);
}

static int corpus_find(const corpus *c, const char *name) {
  for (int i = 0; i < c->n; i++)
    if (!strcmp(c->names[i], name))
      return i;
  return -1;
}

/* ---------------------------------------------------------------- lines */

static uint64_t hash_value(const sl_record *r, void *arg) {
  (void)arg;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < r->value_len; i++)
    h = (h ^ ((const unsigned char *)r->value)[i]) * 1099511628211ull;
  return mt_mix(h);
}

/* Reads files [from, to) as lines (shape: 0 collect, 1 shuffle first, 2 partition by a
 * hash of the line) and compares with the oracle's lines. */
static void check_lines(const corpus *c, const char *dir, int from, int to, int parts, int shape,
                        const char *what) {
  char **paths = corpus_paths(c, dir, from, to);
  sl_flow *f = NULL;
  sl_collection *col = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_text_files(f, (const char *const *)paths, (size_t)(to - from), parts),
            SL_OK);
  if (shape == 1)
    EXPECT_RC(sl_flow_shuffle(f, 0), SL_OK);
  if (shape == 2)
    EXPECT_RC(sl_flow_partition(f, 7, hash_value, NULL), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &col), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0) {
    mt_recs got = {0}, exp = {0};
    if (col)
      mt_recs_from_collection(&got, col);
    for (int i = from; i < to; i++)
      mt_oracle_lines(&exp, c->data[i].p, c->data[i].len);
    char w[160];
    snprintf(w, sizeof w, "%s (files %d..%d, %d partitions, shape %d)", what, from, to - 1, parts,
             shape);
    EXPECT_RECS_EQUAL(&got, &exp, w);
    mt_recs_free(&got);
    mt_recs_free(&exp);
  }
  sl_collection_destroy(&col);
  sl_flow_destroy(&f);
  free_paths(paths, to - from);
}

static void check_one_file(const corpus *c, const char *dir, const char *name, int parts,
                           int shape) {
  int i = corpus_find(c, name);
  CU_ASSERT(i >= 0);
  if (i >= 0)
    check_lines(c, dir, i, i + 1, parts, shape, name);
}

static void test_lines_edge_files(void) {
  char dir[256];
  mt_tmpdir(dir);
  corpus c;
  corpus_build(&c, dir);
  const char *names[] = {"empty.txt",  "tiny.txt",     "nonl.txt",  "crlf.txt",
                         "binary.txt", "newlines.txt", "blanks.txt"};
  const int parts[] = {0, 1, 4, 9};
  for (int n = 0; n < 7; n++)
    for (int p = 0; p < 4; p++)
      check_one_file(&c, dir, names[n], parts[p], 0);
  /* CR stays in the value */
  int i = corpus_find(&c, "crlf.txt");
  char **paths = corpus_paths(&c, dir, i, i + 1);
  sl_flow *f = NULL;
  sl_collection *col = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_text_files(f, (const char *const *)paths, 1, 0), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &col), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0) {
    mt_recs got = {0}, exp = {0};
    if (col)
      mt_recs_from_collection(&got, col);
    const char *lines[] = {"one two\r", "three\r", "\r", "four five six\r"};
    for (int l = 0; l < 4; l++)
      mt_recs_add(&exp, NULL, 0, lines[l], strlen(lines[l]));
    EXPECT_RECS_EQUAL(&got, &exp, "CRLF lines keep their CR");
    mt_recs_free(&got);
    mt_recs_free(&exp);
  }
  sl_collection_destroy(&col);
  sl_flow_destroy(&f);
  free_paths(paths, 1);
  /* no paths at all */
  uint64_t count = 5;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_text_files(f, NULL, 0, 0), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_U64(count, 0);
  sl_flow_destroy(&f);
  corpus_free(&c);
  mt_rmtree(dir);
}

/* One short line and more ranks/partitions than bytes. */
static void test_lines_tiny_input(void) {
  char dir[256];
  mt_tmpdir(dir);
  corpus c;
  memset(&c, 0, sizeof c);
  mt_buf_str(corpus_add(&c, "a.txt"), "x\n");
  mt_buf_str(corpus_add(&c, "b.txt"), "y");
  mt_buf_str(corpus_add(&c, "c.txt"), "\n");
  mt_buf_str(corpus_add(&c, "d.txt"), "ab\ncd");
  if (g_rank == 0)
    for (int i = 0; i < c.n; i++) {
      char path[512];
      snprintf(path, sizeof path, "%s/%s", dir, c.names[i]);
      mt_write_file(path, c.data[i].p, c.data[i].len);
    }
  MPI_Barrier(MPI_COMM_WORLD);
  const int parts[] = {0, 2, 3, 4, 8, 16};
  for (int p = 0; p < 6; p++) {
    for (int i = 0; i < c.n; i++)
      check_lines(&c, dir, i, i + 1, parts[p], 0, "tiny input");
    check_lines(&c, dir, 0, c.n, parts[p], 0, "tiny inputs together");
  }
  corpus_free(&c);
  mt_rmtree(dir);
}

/* Lines longer than a batch (batch-bytes 256) and than a read block (4096). */
static void test_lines_long(void) {
  char dir[256];
  mt_tmpdir(dir);
  corpus c;
  corpus_build(&c, dir);
  int i = corpus_find(&c, "long.txt");
  mt_saved_opt sb, sr;
  mt_opt_set(&sb, "batch-bytes", "256");
  for (int shape = 0; shape < 3; shape++)
    check_lines(&c, dir, i, i + 1, 0, shape, "long lines, batch-bytes 256");
  check_lines(&c, dir, i, i + 1, 7, 2, "long lines, batch-bytes 256");
  mt_opt_set(&sr, "read-block-bytes", "4096");
  const int parts[] = {0, 1, 5, 16, 40};
  for (int p = 0; p < 5; p++)
    check_lines(&c, dir, i, i + 1, parts[p], 1, "long lines, read-block 4096");
  mt_opt_restore(&sb);
  for (int p = 0; p < 5; p++)
    check_lines(&c, dir, i, i + 1, parts[p], 0, "long lines, read-block 4096 only");
  /* every file, small read blocks */
  check_lines(&c, dir, 0, c.n, 0, 0, "whole corpus, read-block 4096");
  check_lines(&c, dir, 0, c.n, 13, 2, "whole corpus, read-block 4096");
  mt_opt_restore(&sr);
  corpus_free(&c);
  mt_rmtree(dir);
}

/* Tiny read blocks: every line is longer than a block. */
static void test_lines_tiny_blocks(void) {
  char dir[256];
  mt_tmpdir(dir);
  corpus c;
  corpus_build(&c, dir);
  mt_saved_opt sr;
  mt_opt_set(&sr, "read-block-bytes", "7");
  int a = corpus_find(&c, "binary.txt");
  check_lines(&c, dir, a, a + 1, 0, 0, "binary, read-block 7");
  check_lines(&c, dir, 0, 5, 6, 1, "first files, read-block 7");
  int s = corpus_find(&c, "small00.txt");
  check_lines(&c, dir, s, s + 20, 0, 0, "small files, read-block 7");
  mt_opt_restore(&sr);
  corpus_free(&c);
  mt_rmtree(dir);
}

static void test_lines_many_files(void) {
  char dir[256];
  mt_tmpdir(dir);
  corpus c;
  corpus_build(&c, dir);
  int s = corpus_find(&c, "small00.txt");
  check_lines(&c, dir, s, s + 50, 0, 0, "50 small files");
  check_lines(&c, dir, s, s + 50, 7, 1, "50 small files");
  check_lines(&c, dir, s, s + 50, 64, 0, "50 small files");
  check_lines(&c, dir, 0, c.n, 0, 2, "whole corpus");
  check_lines(&c, dir, 0, c.n, 3, 0, "whole corpus");
  corpus_free(&c);
  mt_rmtree(dir);
}

/* The same file listed twice is read twice. */
static void test_lines_repeated_path(void) {
  char dir[256];
  mt_tmpdir(dir);
  corpus c;
  corpus_build(&c, dir);
  int i = corpus_find(&c, "nonl.txt");
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, c.names[i]);
  const char *paths[3] = {path, path, path};
  uint64_t count = 0;
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_text_files(f, paths, 3, 0), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_U64(count, 6);
  sl_flow_destroy(&f);
  corpus_free(&c);
  mt_rmtree(dir);
}

/* ---------------------------------------------------------------- input statistics */

static void test_text_stats(void) {
  char dir[256];
  mt_tmpdir(dir);
  corpus c;
  corpus_build(&c, dir);
  char **paths = corpus_paths(&c, dir, 0, c.n);
  uint64_t total = 0, lines = 0;
  for (int i = 0; i < c.n; i++) {
    mt_recs l = {0};
    mt_oracle_lines(&l, c.data[i].p, c.data[i].len);
    lines += l.n;
    mt_recs_free(&l);
    total += c.data[i].len;
  }
  mt_saved_opt sr;
  mt_opt_set(&sr, "read-block-bytes", "4096");
  for (int parts = 0; parts <= 7; parts += 7) {
    uint64_t count = 0;
    sl_flow *f = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_text_files(f, (const char *const *)paths, (size_t)c.n, parts), SL_OK);
    EXPECT_RC(sl_flow_shuffle(f, 0), SL_OK);
    EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    EXPECT_U64(count, lines);
    sl_stats s0, s1, tot;
    EXPECT_RC(sl_flow_get_stats(f, 0, &s0), SL_OK);
    EXPECT_RC(sl_flow_get_stats(f, 1, &s1), SL_OK);
    EXPECT_RC(sl_flow_get_stats(f, -1, &tot), SL_OK);
    EXPECT_U64(mt_sum_u64(s0.input_bytes), total); /* every byte read once */
    EXPECT_U64(mt_sum_u64(tot.input_bytes), total);
    EXPECT_U64(mt_sum_u64(s0.records_out), lines);
    EXPECT_U64(mt_sum_u64(s1.records_in), lines);
    EXPECT_U64(mt_sum_u64(s0.bytes_sent), mt_sum_u64(s1.bytes_received));
    /* the wire carries at least every line's bytes: total - newlines */
    uint64_t newlines = 0;
    for (int i = 0; i < c.n; i++)
      for (size_t j = 0; j < c.data[i].len; j++)
        newlines += c.data[i].p[j] == '\n';
    uint64_t sent = mt_sum_u64(s0.bytes_sent);
    EXPECT_TRUE(sent >= total - newlines, "stage 0 sent %llu bytes for %llu bytes of lines",
                (unsigned long long)sent, (unsigned long long)(total - newlines));
    sl_flow_destroy(&f);
  }
  mt_opt_restore(&sr);
  free_paths(paths, c.n);
  corpus_free(&c);
  mt_rmtree(dir);
}

/* ---------------------------------------------------------------- word count */

static int is_sep(unsigned char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int wc_split(const sl_record *in, sl_emitter *out, void *arg) {
  (void)arg;
  const unsigned char *p = in->value;
  size_t n = in->value_len, i = 0;
  while (i < n) {
    while (i < n && is_sep(p[i]))
      i++;
    size_t s = i;
    while (i < n && !is_sep(p[i]))
      i++;
    if (i > s) {
      int rc = sl_emit(out, p + s, i - s, NULL, 0);
      if (rc)
        return rc;
    }
  }
  return 0;
}

/* Oracle: (word, uint64 count) over the raw bytes of the files. */
static void wc_oracle(const corpus *c, int from, int to, mt_recs *exp) {
  mt_recs words = {0};
  for (int f = from; f < to; f++) {
    const unsigned char *p = (const unsigned char *)c->data[f].p;
    size_t n = c->data[f].len, i = 0;
    while (i < n) {
      while (i < n && is_sep(p[i]))
        i++;
      size_t s = i;
      while (i < n && !is_sep(p[i]))
        i++;
      if (i > s)
        mt_recs_add(&words, p + s, i - s, NULL, 0);
    }
  }
  mt_recs_sort(&words);
  for (size_t i = 0; i < words.n;) {
    sl_record w = mt_recs_get(&words, i);
    uint64_t k = 1;
    while (i + k < words.n) {
      sl_record x = mt_recs_get(&words, i + k);
      if (mt_rec_cmp(&w, &x) != 0)
        break;
      k++;
    }
    mt_recs_add(exp, w.key, w.key_len, &k, 8);
    i += k;
  }
  mt_recs_free(&words);
}

static void check_wordcount(const corpus *c, const char *dir, int parts_src, int parts_red,
                            const char *what) {
  char **paths = corpus_paths(c, dir, 0, c->n);
  sl_flow *f = NULL;
  sl_collection *col = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_text_files(f, (const char *const *)paths, (size_t)c->n, parts_src), SL_OK);
  EXPECT_RC(sl_flow_flat_map(f, wc_split, NULL), SL_OK);
  EXPECT_RC(sl_flow_partition(f, parts_red, NULL, NULL), SL_OK);
  sl_aggregator agg = sl_aggregator_builtin(SL_AGG_COUNT);
  EXPECT_RC(sl_flow_reduce_by_key(f, &agg), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &col), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0) {
    mt_recs got = {0}, exp = {0};
    if (col)
      mt_recs_from_collection(&got, col);
    wc_oracle(c, 0, c->n, &exp);
    EXPECT_RECS_EQUAL(&got, &exp, what);
    mt_recs_free(&got);
    mt_recs_free(&exp);
  }
  sl_collection_destroy(&col);
  sl_flow_destroy(&f);
  free_paths(paths, c->n);
}

static void test_wordcount(void) {
  char dir[256];
  mt_tmpdir(dir);
  corpus c;
  corpus_build(&c, dir);
  check_wordcount(&c, dir, 0, 0, "word count");
  check_wordcount(&c, dir, 5, 7, "word count, 7 reduce partitions");
  mt_saved_opt sb, sr, sc;
  mt_opt_set(&sb, "batch-bytes", "256");
  mt_opt_set(&sr, "read-block-bytes", "4096");
  check_wordcount(&c, dir, 0, 7, "word count, batch 256, read block 4096");
  mt_opt_set(&sc, "combiner-bytes", "1");
  check_wordcount(&c, dir, 3, 0, "word count, batch 256, read block 4096, combiner 1");
  mt_opt_restore(&sc);
  mt_opt_restore(&sr);
  mt_opt_restore(&sb);
  corpus_free(&c);
  mt_rmtree(dir);
}

/* Word count to a TSV file, read back and parsed. */
static void test_wordcount_to_text(void) {
  char dir[256], out[512];
  mt_tmpdir(dir);
  corpus c;
  corpus_build(&c, dir);
  snprintf(out, sizeof out, "%s/counts.tsv", dir);
  char **paths = corpus_paths(&c, dir, 0, c.n);
  mt_saved_opt so;
  mt_opt_set(&so, "output-buffer-bytes", "1K"); /* spill files, and a 100 KB word written through */
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_text_files(f, (const char *const *)paths, (size_t)c.n, 0), SL_OK);
  EXPECT_RC(sl_flow_flat_map(f, wc_split, NULL), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 7, NULL, NULL), SL_OK);
  sl_aggregator agg = sl_aggregator_builtin(SL_AGG_COUNT);
  EXPECT_RC(sl_flow_reduce_by_key(f, &agg), SL_OK);
  EXPECT_RC(sl_flow_to_text(f, out, sl_format_tsv_u64, NULL, 0), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  sl_flow_destroy(&f);
  mt_opt_restore(&so);
  if (g_rank == 0) {
    size_t len = 0;
    char *data = mt_read_file(out, &len);
    EXPECT_TRUE(data != NULL, "cannot read %s", out);
    mt_recs got = {0}, exp = {0};
    int bad = 0;
    size_t s = 0;
    for (size_t i = 0; data && i < len; i++) {
      if (data[i] != '\n')
        continue;
      size_t tab = i;
      while (tab > s && data[tab - 1] != '\t')
        tab--;
      if (tab == s) {
        bad++;
      } else {
        char num[32] = {0};
        size_t nl = i - tab < 31 ? i - tab : 31;
        memcpy(num, data + tab, nl);
        uint64_t v = strtoull(num, NULL, 10);
        mt_recs_add(&got, data + s, tab - 1 - s, &v, 8);
      }
      s = i + 1;
    }
    EXPECT_TRUE(!data || (len > 0 && data[len - 1] == '\n'),
                "the output does not end in a newline");
    EXPECT_INT(bad, 0);
    wc_oracle(&c, 0, c.n, &exp);
    EXPECT_RECS_EQUAL(&got, &exp, "word count -> to_text(tsv_u64)");
    /* nothing else left next to it: inputs + the output */
    EXPECT_INT(mt_dir_entries(dir), c.n + 1);
    mt_recs_free(&got);
    mt_recs_free(&exp);
    free(data);
  }
  free_paths(paths, c.n);
  corpus_free(&c);
  mt_rmtree(dir);
}

/* ---------------------------------------------------------------- to_text */

/* Lines of files [from, to) -> to_text(out): returns sl_run's code. */
static int lines_to_text(const corpus *c, const char *dir, int from, int to, const char *out,
                         int overwrite, int shape) {
  char **paths = corpus_paths(c, dir, from, to);
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_text_files(f, (const char *const *)paths, (size_t)(to - from), 0), SL_OK);
  if (shape == 1)
    EXPECT_RC(sl_flow_partition(f, 7, hash_value, NULL), SL_OK);
  EXPECT_RC(sl_flow_to_text(f, out, NULL, NULL, overwrite), SL_OK);
  int rc = sl_run(f);
  sl_flow_destroy(&f);
  free_paths(paths, to - from);
  return rc;
}

/* Compare a file's lines (sorted) with the lines of corpus files [from, to). */
static void check_text_file(const corpus *c, int from, int to, const char *out, const char *what) {
  if (g_rank != 0)
    return;
  size_t len = 0;
  char *data = mt_read_file(out, &len);
  EXPECT_TRUE(data != NULL, "%s: cannot read %s", what, out);
  mt_recs got = {0}, exp = {0};
  if (data) {
    EXPECT_TRUE(len == 0 || data[len - 1] == '\n', "%s: no final newline", what);
    mt_oracle_lines(&got, data, len);
  }
  for (int i = from; i < to; i++)
    mt_oracle_lines(&exp, c->data[i].p, c->data[i].len);
  EXPECT_RECS_EQUAL(&got, &exp, what);
  mt_recs_free(&got);
  mt_recs_free(&exp);
  free(data);
}

static void test_to_text_roundtrip(void) {
  char dir[256], out[512];
  mt_tmpdir(dir);
  corpus c;
  corpus_build(&c, dir);
  /* binary.txt has no '\n' inside lines, so its lines survive a text round trip */
  int b = corpus_find(&c, "binary.txt");
  snprintf(out, sizeof out, "%s/out1.txt", dir);
  EXPECT_RC(lines_to_text(&c, dir, b, b + 1, out, 0, 0), SL_OK);
  check_text_file(&c, b, b + 1, out, "to_text of binary lines");
  snprintf(out, sizeof out, "%s/out2.txt", dir);
  EXPECT_RC(lines_to_text(&c, dir, 0, c.n, out, 0, 1), SL_OK);
  check_text_file(&c, 0, c.n, out, "to_text of the whole corpus, 7 partitions");
  /* small output buffers: spill files and lines longer than the buffer */
  mt_saved_opt so, sb;
  mt_opt_set(&so, "output-buffer-bytes", "1K");
  mt_opt_set(&sb, "batch-bytes", "256");
  snprintf(out, sizeof out, "%s/out3.txt", dir);
  EXPECT_RC(lines_to_text(&c, dir, 0, c.n, out, 0, 1), SL_OK);
  check_text_file(&c, 0, c.n, out, "to_text with output-buffer-bytes 1K");
  mt_opt_restore(&sb);
  mt_opt_restore(&so);
  /* empty output: an empty file */
  int e = corpus_find(&c, "empty.txt");
  snprintf(out, sizeof out, "%s/out4.txt", dir);
  EXPECT_RC(lines_to_text(&c, dir, e, e + 1, out, 0, 0), SL_OK);
  if (g_rank == 0) {
    struct stat sb2;
    EXPECT_TRUE(stat(out, &sb2) == 0 && sb2.st_size == 0, "empty output: missing or not empty");
    /* no temporary or spill file left behind */
    EXPECT_INT(mt_dir_entries(dir), c.n + 4);
  }
  corpus_free(&c);
  mt_rmtree(dir);
}

static void test_to_text_overwrite(void) {
  char dir[256], out[512];
  mt_tmpdir(dir);
  corpus c;
  corpus_build(&c, dir);
  snprintf(out, sizeof out, "%s/existing.txt", dir);
  const char *old = "OLD CONTENT\nsecond line\n";
  if (g_rank == 0)
    mt_write_file(out, old, strlen(old));
  MPI_Barrier(MPI_COMM_WORLD);
  int s = corpus_find(&c, "small00.txt");
  int rc = lines_to_text(&c, dir, s, s + 10, out, 0, 0);
  EXPECT_RC(rc, SL_ERR_EXISTS);
  EXPECT_TRUE(mt_same_everywhere(rc), "ranks returned different codes");
  if (g_rank == 0) {
    size_t len = 0;
    char *data = mt_read_file(out, &len);
    EXPECT_TRUE(data && len == strlen(old) && !memcmp(data, old, len),
                "the existing file was changed");
    free(data);
    EXPECT_INT(mt_dir_entries(dir), c.n + 1);
  }
  rc = lines_to_text(&c, dir, s, s + 10, out, 1, 1);
  EXPECT_RC(rc, SL_OK);
  check_text_file(&c, s, s + 10, out, "to_text with overwrite=1");
  if (g_rank == 0)
    EXPECT_INT(mt_dir_entries(dir), c.n + 1);
  corpus_free(&c);
  mt_rmtree(dir);
}

/* Set or clear the immutable flag of a directory (Linux; needs CAP_LINUX_IMMUTABLE). */
static int set_immutable(const char *path, int on) {
  int fd = open(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return -1;
  int flags = 0, rc = ioctl(fd, FS_IOC_GETFLAGS, &flags);
  if (rc == 0) {
    flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    rc = ioctl(fd, FS_IOC_SETFLAGS, &flags);
  }
  close(fd);
  return rc;
}

static void test_to_text_bad_directory(void) {
  char dir[256], out[512];
  mt_tmpdir(dir);
  corpus c;
  corpus_build(&c, dir);
  int s = corpus_find(&c, "small00.txt");
  /* a directory that does not exist */
  snprintf(out, sizeof out, "%s/no/such/dir/out.txt", dir);
  int rc = lines_to_text(&c, dir, s, s + 3, out, 0, 0);
  EXPECT_TRUE(rc != SL_OK, "to_text into a missing directory succeeded");
  EXPECT_TRUE(mt_same_everywhere(rc), "ranks returned different codes (%d here)", rc);
  if (g_rank == 0)
    EXPECT_INT(mt_dir_entries(dir), c.n);
  /* a "directory" that is a file */
  snprintf(out, sizeof out, "%s/%s/out.txt", dir, c.names[s]);
  rc = lines_to_text(&c, dir, s, s + 3, out, 1, 0);
  EXPECT_TRUE(rc != SL_OK, "to_text under a regular file succeeded");
  EXPECT_TRUE(mt_same_everywhere(rc), "ranks returned different codes (%d here)", rc);
  if (g_rank == 0)
    EXPECT_INT(mt_dir_entries(dir), c.n);
  /* bad usage (exit 2 in the apps), found before any work, the same code on every rank:
   * a missing directory, one that is a file, and an output that is a directory (even
   * with overwrite); the messages say which */
  snprintf(out, sizeof out, "%s/no/such/dir/out.txt", dir);
  EXPECT_INT(lines_to_text(&c, dir, s, s + 3, out, 0, 0), SL_ERR_USAGE);
  snprintf(out, sizeof out, "%s/%s/out.txt", dir, c.names[s]);
  EXPECT_INT(lines_to_text(&c, dir, s, s + 3, out, 1, 0), SL_ERR_USAGE);
  EXPECT_INT(lines_to_text(&c, dir, s, s + 3, dir, 1, 0), SL_ERR_USAGE);
  /* an input of the flow, even with overwrite: refused, the input left as it was */
  char in[512];
  snprintf(in, sizeof in, "%s/%s", dir, c.names[s + 1]);
  size_t before = 0, after = 0;
  char *was = g_rank == 0 ? mt_read_file(in, &before) : NULL;
  EXPECT_INT(lines_to_text(&c, dir, s, s + 3, in, 1, 0), SL_ERR_USAGE);
  if (g_rank == 0) {
    char *now = mt_read_file(in, &after);
    EXPECT_TRUE(was && now && before == after && memcmp(was, now, before) == 0,
                "the input %s changed", in);
    free(was);
    free(now);
  }
  if (g_rank == 0)
    EXPECT_INT(mt_dir_entries(dir), c.n);
  /* a directory nobody may write into: mode 0555, or (root ignores modes) immutable */
  char ro[512];
  snprintf(ro, sizeof ro, "%s/readonly", dir);
  int have_ro = 0;
  if (g_rank == 0) {
    mkdir(ro, 0555);
    have_ro = geteuid() != 0 || set_immutable(ro, 1) == 0;
    if (!have_ro)
      printf("(read-only directory case skipped: root and no immutable flag here) ");
  }
  MPI_Bcast(&have_ro, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (have_ro) {
    if (snprintf(out, sizeof out, "%s/out.txt", ro) >= (int)sizeof out)
      out[0] = 0;
    rc = lines_to_text(&c, dir, s, s + 3, out, 0, 0);
    EXPECT_TRUE(rc != SL_OK, "to_text into a read-only directory succeeded");
    EXPECT_TRUE(mt_same_everywhere(rc), "ranks returned different codes (%d here)", rc);
    if (g_rank == 0) {
      EXPECT_INT(mt_dir_entries(ro), 0);
      if (geteuid() == 0)
        set_immutable(ro, 0);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  /* the context still works */
  snprintf(out, sizeof out, "%s/good.txt", dir);
  EXPECT_RC(lines_to_text(&c, dir, s, s + 3, out, 0, 0), SL_OK);
  check_text_file(&c, s, s + 3, out, "to_text after failures");
  corpus_free(&c);
  mt_rmtree(dir);
}

/* ---------------------------------------------------------------- inputs not as they were */

/* Inputs that are not regular files are refused before anything opens them (an open() of
 * a FIFO without a writer blocks; ctest's timeout fails a hang): bad usage, the same code
 * on every rank. */
static void test_input_not_regular(void) {
  char dir[256], fifo[512], good[512];
  mt_tmpdir(dir);
  snprintf(fifo, sizeof fifo, "%s/fifo", dir);
  snprintf(good, sizeof good, "%s/good.txt", dir);
  if (g_rank == 0) {
    mt_write_file(good, "one\ntwo\n", 8);
    if (mkfifo(fifo, 0600) != 0)
      MPI_Abort(MPI_COMM_WORLD, 3);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const char *only_fifo[] = {fifo};
  const char *second_fifo[] = {good, fifo};
  const char *device[] = {"/dev/zero"};
  struct stat dsb;
  int have_dev = stat(device[0], &dsb) == 0 && S_ISCHR(dsb.st_mode); /* not in every sandbox */
  struct {
    const char *const *paths;
    size_t n;
    const char *what;
  } cases[] = {{only_fifo, 1, "a FIFO without a writer"},
               {second_fifo, 2, "a FIFO after a regular file"},
               {device, 1, "a character device (/dev/zero)"}};
  for (int k = 0; k < 3 - !mt_all_true(have_dev); k++) {
    uint64_t count = 0;
    sl_flow *f = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_text_files(f, cases[k].paths, cases[k].n, 0), SL_OK);
    EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
    int rc = sl_run(f);
    sl_flow_destroy(&f);
    EXPECT_RC(rc, SL_ERR_USAGE);
    EXPECT_TRUE(mt_same_everywhere(rc), "%s: ranks returned different codes", cases[k].what);
  }
  mt_rmtree(dir);
}

enum { CH_NONE, CH_TRUNCATE, CH_GROW, CH_TOUCH, CH_REPLACE };

typedef struct changer {
  int kind;
  const char *path;
  uint64_t seen;
} changer;

/* Rank 0 changes the input at its 50th line, while its partition still has blocks to read. */
static int map_change(const sl_record *in, sl_record *out, void *arg) {
  changer *c = arg;
  *out = *in;
  if (g_rank != 0 || c->kind == CH_NONE || ++c->seen != 50)
    return 0;
  struct stat sb;
  if (stat(c->path, &sb) != 0)
    return -1;
  if (c->kind == CH_TRUNCATE && truncate(c->path, sb.st_size - 100) != 0)
    return -1;
  if (c->kind == CH_GROW) {
    FILE *fp = fopen(c->path, "ab");
    if (!fp || fputs("appended line\n", fp) < 0 || fclose(fp) != 0)
      return -1;
  }
  if (c->kind == CH_TOUCH) { /* rewritten in place: same size, a new modification time */
    struct timespec ts[2] = {sb.st_atim, sb.st_mtim};
    ts[1].tv_sec += 7;
    if (utimensat(AT_FDCWD, c->path, ts, 0) != 0)
      return -1;
  }
  if (c->kind == CH_REPLACE) { /* an identical copy (size, times) renamed over it */
    char tmp[600], cmd[1300];
    snprintf(tmp, sizeof tmp, "%s.copy", c->path);
    snprintf(cmd, sizeof cmd, "cp -p '%s' '%s'", c->path, tmp);
    if (system(cmd) != 0 || rename(tmp, c->path) != 0)
      return -1;
  }
  return 0;
}

/* A text input changed while it is read fails the run with SL_ERR_IO on every rank: its
 * lines would mix two versions of the file. Unchanged, every line is counted once. */
static void test_input_changed_while_read(void) {
  char dir[256], path[512];
  mt_tmpdir(dir);
  snprintf(path, sizeof path, "%s/in.txt", dir);
  mt_saved_opt sr;
  mt_opt_set(&sr, "read-block-bytes", "256");
  const char *kinds[] = {"unchanged", "truncated", "grown", "rewritten (new mtime)",
                         "replaced by a copy"};
  for (int kind = CH_NONE; kind <= CH_REPLACE; kind++) {
    if (g_rank == 0) {
      mt_buf b = {0};
      for (int i = 0; i < 4000; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "line %d of the input\n", i);
        mt_buf_add(&b, line, (size_t)n);
      }
      unlink(path);
      mt_write_file(path, b.p, b.len);
      free(b.p);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    const char *paths[] = {path};
    changer c = {kind, path, 0};
    uint64_t count = 0;
    sl_flow *f = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_text_files(f, paths, 1, 0), SL_OK);
    EXPECT_RC(sl_flow_map(f, map_change, &c), SL_OK);
    EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
    int rc = sl_run(f);
    sl_flow_destroy(&f);
    EXPECT_TRUE(rc == (kind == CH_NONE ? SL_OK : SL_ERR_IO), "%s: got %s", kinds[kind],
                sl_err_name(rc));
    EXPECT_TRUE(mt_same_everywhere(rc), "%s: ranks returned different codes", kinds[kind]);
    if (kind == CH_NONE)
      EXPECT_U64(count, 4000);
  }
  mt_opt_restore(&sr);
  mt_rmtree(dir);
}

static const mt_test tests[] = {
    {"lines_edge_files", test_lines_edge_files},
    {"lines_tiny_input", test_lines_tiny_input},
    {"lines_long", test_lines_long},
    {"lines_tiny_blocks", test_lines_tiny_blocks},
    {"lines_many_files", test_lines_many_files},
    {"lines_repeated_path", test_lines_repeated_path},
    {"text_stats", test_text_stats},
    {"wordcount", test_wordcount},
    {"wordcount_to_text", test_wordcount_to_text},
    {"to_text_roundtrip", test_to_text_roundtrip},
    {"to_text_overwrite", test_to_text_overwrite},
    {"to_text_bad_directory", test_to_text_bad_directory},
    {"input_not_regular", test_input_not_regular},
    {"input_changed_while_read", test_input_changed_while_read},
    {NULL, NULL},
};

int main(int argc, char **argv) {
  return mt_main(argc, argv, "mpi_text", tests);
}
