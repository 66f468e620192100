/* SPDX-License-Identifier: BSD-3-Clause */
/* The text source's newline-aligned split (sources/text.c), through the public API.
 *
 * For random sets of files (random line lengths, empty lines, lines longer than the read
 * block, files without a trailing newline, empty files, files of only newlines), every
 * partition count 1..9 and several read-block sizes, sl_flow_from_text_files -> to_collect
 * must yield exactly the lines of the files: the same multiset, nothing lost, nothing
 * duplicated. Runs at any number of ranks; rank 0 writes the files and checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice.h"

static uint64_t rng = 0xDEADBEEFCAFEF00Dull;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1Dull;
}

typedef struct line {
  const char *p;
  size_t n;
} line;

static int line_cmp(const void *a, const void *b) {
  const line *x = a, *y = b;
  size_t n = x->n < y->n ? x->n : y->n;
  int c = n ? memcmp(x->p, y->p, n) : 0;
  if (c)
    return c;
  return x->n < y->n ? -1 : x->n > y->n;
}

typedef struct buf {
  char *p;
  size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n)
      cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p)
      abort();
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

/* One file's content, by style. */
static void make_file(buf *b, int style) {
  b->n = 0;
  switch (style) {
  case 0: /* empty */
    return;
  case 1: /* only newlines */
    for (int i = 0, n = 1 + (int)(rnd() % 20); i < n; i++)
      put(b, "\n", 1);
    return;
  case 2: /* one line, no newline */
    put(b, "x", 1);
    for (int i = 0, n = (int)(rnd() % 100); i < n; i++)
      put(b, "y", 1);
    return;
  case 3: /* one very long line (longer than the largest read block used), maybe newline */
  {
    size_t n = 70000 + rnd() % 20000;
    for (size_t i = 0; i < n; i++) {
      char c = (char)('a' + i % 26);
      put(b, &c, 1);
    }
    if (rnd() % 2)
      put(b, "\n", 1);
    return;
  }
  default: { /* random lines; any byte but '\n' */
    int nlines = (int)(rnd() % 400);
    for (int i = 0; i < nlines; i++) {
      uint64_t r = rnd() % 100;
      size_t len = r < 20 ? 0 : r < 70 ? rnd() % 12 : r < 95 ? rnd() % 200 : 200 + rnd() % 3000;
      for (size_t j = 0; j < len; j++) {
        char c = (char)(rnd() & 0xFF);
        if (c == '\n')
          c = 'n';
        put(b, &c, 1);
      }
      if (i + 1 < nlines || rnd() % 2)
        put(b, "\n", 1);
    }
    return;
  }
  }
}

/* Lines of a file as the source defines them: split on '\n'; a last line without '\n'
 * counts; a final '\n' does not start another line. */
static size_t split_lines(const buf *b, line *out) {
  size_t n = 0, start = 0;
  for (size_t i = 0; i < b->n; i++)
    if (b->p[i] == '\n') {
      out[n++] = (line){b->p + start, i - start};
      start = i + 1;
    }
  if (start < b->n)
    out[n++] = (line){b->p + start, b->n - start};
  return n;
}

static int write_file(const char *path, const buf *b) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  if (b->n && fwrite(b->p, 1, b->n, f) != b->n) {
    fclose(f);
    return -1;
  }
  return fclose(f);
}

enum { MAXF = 5 };

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  if (sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 2;
  int rank = sl_rank(ctx), size = sl_size(ctx);
  MPI_Comm comm = sl_comm(ctx);
  char dir[256] = "";
  if (rank == 0) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/sl_textsplit.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
      fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
      dir[0] = 0;
    }
  }
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, comm);
  if (!dir[0]) {
    sl_finalize(&ctx);
    return 2;
  }
  static const char *blocks[] = {"1", "7", "64", "64K"};
  const int ncases = 10;
  int failures = 0, runs = 0;
  buf files[MAXF] = {{0}};
  char paths[MAXF][320];
  const char *pathv[MAXF];
  for (int c = 0; c < ncases; c++) {
    /* the same random choices on every rank; only rank 0 writes and checks */
    int nf = c == 0 ? 1 : 1 + (int)(rnd() % MAXF);
    size_t total = 0;
    for (int f = 0; f < nf; f++) {
      int style;
      if (c == 0)
        style = 0; /* a single empty file */
      else if (c == 1)
        style = f % 2 ? 1 : 2; /* newline-only and unterminated files */
      else if (c == 2)
        style = f == 0 ? 3 : 4; /* a 70K+ line first */
      else
        style = rnd() % 6 == 0 ? (int)(rnd() % 4) : 4;
      make_file(&files[f], style);
      total += files[f].n;
      snprintf(paths[f], sizeof paths[f], "%s/case%d_file%d.txt", dir, c, f);
      pathv[f] = paths[f];
    }
    int ok = 1;
    if (rank == 0)
      for (int f = 0; f < nf; f++)
        if (write_file(paths[f], &files[f]) != 0)
          ok = 0;
    MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
    if (!ok) {
      if (rank == 0)
        fprintf(stderr, "cannot write the test files in %s\n", dir);
      failures++;
      break;
    }
    /* the oracle: all lines of all files, sorted */
    line *want = malloc((total + nf + 1) * sizeof *want);
    size_t nwant = 0;
    for (int f = 0; f < nf; f++)
      nwant += split_lines(&files[f], want + nwant);
    qsort(want, nwant, sizeof *want, line_cmp);
    for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
      /* block 1 reads one byte per call: keep it to the small cases */
      if (bi == 0 && total > 20000)
        continue;
      sl_option_set(ctx, "read-block-bytes", blocks[bi]);
      for (int parts = 1; parts <= 9; parts++) {
        sl_flow *flow = NULL;
        sl_collection *coll = NULL;
        int rc = sl_flow_create(ctx, &flow);
        if (rc == SL_OK)
          rc = sl_flow_from_text_files(flow, pathv, (size_t)nf, parts);
        if (rc == SL_OK)
          rc = sl_flow_to_collect(flow, &coll);
        if (rc == SL_OK)
          rc = sl_run(flow);
        runs++;
        if (rc != SL_OK) {
          if (rank == 0)
            fprintf(stderr, "case %d block %s partitions %d: sl_run failed: %s\n", c, blocks[bi],
                    parts, sl_strerror(rc));
          failures++;
        } else if (rank == 0) {
          size_t n = sl_collection_count(coll);
          line *got = malloc((n + 1) * sizeof *got);
          for (size_t i = 0; i < n; i++) {
            sl_record r;
            sl_collection_get(coll, i, &r);
            got[i] = (line){r.value, r.value_len};
            if (r.key_len != 0) {
              fprintf(stderr, "case %d: a line record has a %zu-byte key\n", c, r.key_len);
              failures++;
            }
          }
          qsort(got, n, sizeof *got, line_cmp);
          size_t i = 0, j = 0, lost = 0, extra = 0;
          while (i < nwant || j < n) {
            int cmp = i == nwant ? 1 : j == n ? -1 : line_cmp(&want[i], &got[j]);
            if (cmp == 0) {
              i++;
              j++;
            } else if (cmp < 0) {
              if (lost++ < 3)
                fprintf(
                    stderr,
                    "case %d block %s partitions %d ranks %d: line of %zu bytes lost: \"%.40s\"\n",
                    c, blocks[bi], parts, size, want[i].n, want[i].n ? want[i].p : "");
              i++;
            } else {
              if (extra++ < 3)
                fprintf(
                    stderr,
                    "case %d block %s partitions %d ranks %d: extra line of %zu bytes: \"%.40s\"\n",
                    c, blocks[bi], parts, size, got[j].n, got[j].n ? got[j].p : "");
              j++;
            }
          }
          if (lost || extra || n != nwant) {
            fprintf(stderr,
                    "case %d (%d files, %zu bytes) block %s partitions %d ranks %d: %zu lines, "
                    "expected %zu "
                    "(%zu lost, %zu extra)\n",
                    c, nf, total, blocks[bi], parts, size, n, nwant, lost, extra);
            failures++;
          }
          free(got);
        }
        sl_collection_destroy(&coll);
        sl_flow_destroy(&flow);
      }
    }
    free(want);
    if (rank == 0)
      for (int f = 0; f < nf; f++)
        unlink(paths[f]);
  }
  for (int f = 0; f < MAXF; f++)
    free(files[f].p);
  MPI_Bcast(&failures, 1, MPI_INT, 0, comm);
  if (rank == 0) {
    rmdir(dir);
    printf("textsplit: %d runs at %d rank(s), %d failure(s)\n", runs, size, failures);
  }
  sl_finalize(&ctx);
  return failures ? 1 : 0;
}
