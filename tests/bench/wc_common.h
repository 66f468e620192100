/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared by the word-count baselines wc_plain.c and wc_tuned.c: the command line, input
 * files, and the output contract, so the two differ only in how they scan and count.
 *
 *   wc_plain|wc_tuned [--top K] [-o FILE] [FILE...]
 *
 * A word is a maximal run of bytes other than the six ASCII whitespace bytes (space \t
 * \n \v \f \r); any other byte, NUL and bytes >= 0x80 included, is part of a word. A
 * word never spans two input files. Output: one "word\tcount\n" line per distinct word,
 * in no particular order; with --top K, the K most frequent words, by count descending
 * then by word ascending (bytewise; a prefix sorts first). No files or "-": stdin.
 * Exit status: 0, 1 on an I/O or memory failure, 2 on bad usage.
 */
#ifndef WC_COMMON_H
#define WC_COMMON_H

#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WC_BLOCK ((size_t)1 << 20)

typedef struct wc_args {
  const char *prog;
  const char *out; /* NULL: stdout */
  int top;         /* 1 if --top was given */
  uint64_t top_k;
  int nfiles;
  char **files; /* nfiles == 0: stdin */
} wc_args;

/* One distinct word for output. */
typedef struct wc_entry {
  const unsigned char *word;
  size_t len;
  uint64_t count;
} wc_entry;

static void wc_die(const char *prog, const char *what, const char *detail) {
  fprintf(stderr, "%s: error: %s%s%s\n", prog, what, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

static void *wc_xrealloc(const char *prog, void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q)
    wc_die(prog, "out of memory", NULL);
  return q;
}

static void wc_usage(const char *prog) {
  printf("usage: %s [--top K] [-o FILE] [FILE...]\n"
         "Counts the words (maximal runs of bytes other than space \\t \\n \\v \\f \\r) of the\n"
         "files (or stdin) and writes \"word\\tcount\" lines in no particular order, or with\n"
         "--top K the K most frequent, by count descending then word ascending.\n",
         prog);
}

static void wc_parse_args(wc_args *a, int argc, char **argv) {
  const char *slash = strrchr(argv[0], '/');
  a->prog = slash ? slash + 1 : argv[0];
  a->out = NULL;
  a->top = 0;
  a->top_k = 0;
  a->files = argv + argc;
  a->nfiles = 0;
  int i = 1;
  for (; i < argc; i++) {
    const char *s = argv[i];
    if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
      wc_usage(a->prog);
      exit(0);
    } else if (strcmp(s, "--top") == 0 || strcmp(s, "-o") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "%s: error: %s needs a value\n", a->prog, s);
        exit(2);
      }
      const char *v = argv[++i];
      if (s[1] == 'o') {
        a->out = v;
      } else {
        char *end;
        errno = 0;
        unsigned long long k = strtoull(v, &end, 10);
        if (*v < '0' || *v > '9' || *end || errno) {
          fprintf(stderr, "%s: error: --top: '%s' is not a count\n", a->prog, v);
          exit(2);
        }
        a->top = 1;
        a->top_k = k;
      }
    } else if (strcmp(s, "--") == 0) {
      i++;
      break;
    } else if (s[0] == '-' && s[1] != '\0') {
      fprintf(stderr, "%s: error: unknown option '%s' (see --help)\n", a->prog, s);
      exit(2);
    } else {
      break;
    }
  }
  a->files = argv + i;
  a->nfiles = argc - i;
}

static int wc_open(const wc_args *a, const char *path) {
  if (strcmp(path, "-") == 0)
    return STDIN_FILENO;
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    wc_die(a->prog, path, strerror(errno));
  return fd;
}

/* read() until n bytes or end of file; returns the count (< n only at end of file). */
static size_t wc_read(const wc_args *a, const char *path, int fd, unsigned char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r == 0)
      break;
    if (r < 0) {
      if (errno == EINTR)
        continue;
      wc_die(a->prog, path, strerror(errno));
    }
    got += (size_t)r;
  }
  return got;
}

/* count desc, then word asc: memcmp on the common prefix, the shorter one first. */
static int wc_entry_cmp(const void *pa, const void *pb) {
  const wc_entry *x = pa, *y = pb;
  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = n ? memcmp(x->word, y->word, n) : 0;
  if (c)
    return c;
  return x->len < y->len ? -1 : (x->len > y->len);
}

typedef struct wc_out {
  const wc_args *a;
  FILE *f;
} wc_out;

static void wc_out_open(wc_out *o, const wc_args *a) {
  o->a = a;
  o->f = a->out ? fopen(a->out, "wb") : stdout;
  if (!o->f)
    wc_die(a->prog, a->out, strerror(errno));
  setvbuf(o->f, NULL, _IOFBF, (size_t)1 << 20);
}

static void wc_out_line(wc_out *o, const unsigned char *word, size_t len, uint64_t count) {
  char num[24];
  char *p = num + sizeof num;
  *--p = '\n';
  do {
    *--p = (char)('0' + count % 10);
    count /= 10;
  } while (count);
  *--p = '\t';
  if (len)
    fwrite(word, 1, len, o->f);
  fwrite(p, 1, (size_t)(num + sizeof num - p), o->f);
}

static void wc_out_close(wc_out *o) {
  int bad = ferror(o->f);
  if (o->f != stdout) {
    if (fclose(o->f) != 0)
      bad = 1;
  } else if (fflush(o->f) != 0) {
    bad = 1;
  }
  if (bad)
    wc_die(o->a->prog, o->a->out ? o->a->out : "stdout", "write failed");
}

/* Sorts the entries and writes the first K. */
static void wc_out_top(wc_out *o, wc_entry *e, size_t n, uint64_t k) {
  qsort(e, n, sizeof *e, wc_entry_cmp);
  for (size_t i = 0; i < n && i < k; i++)
    wc_out_line(o, e[i].word, e[i].len, e[i].count);
}

#endif
