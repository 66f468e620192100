/* SPDX-License-Identifier: BSD-3-Clause */
/* wc_tricky DIR: writes the inputs on which the word-count baselines must agree with
 * each other and with a coreutils oracle (test_wc_baselines.sh). Deterministic, so a
 * failure reproduces. Each file aims at a way a fast scanner goes wrong:
 *   mixed.bin   ~3.5 MB: all six whitespace bytes, NUL, bytes >= 0x80, words of every
 *               length around the 8- and 16-byte edges and across the 1 MiB read
 *               blocks, a 3 MiB word spanning several blocks, no final newline
 *   empty.bin   no bytes
 *   spaces.bin  whitespace only
 *   one.bin     one word, no newline
 *   edge.bin    words ending exactly at 1 MiB and 64-byte boundaries
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 12345;
static uint64_t next(void) { /* splitmix64 */
  uint64_t z = (state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}
static unsigned below(unsigned n) {
  return (unsigned)(next() % n);
}

static const unsigned char spaces[] = {' ', '\t', '\n', '\v', '\f', '\r'};
/* A small alphabet, so words repeat. Besides letters: NUL, bytes >= 0x80 (0x85 and 0xA0
 * are whitespace in some locales, not here), and the bytes on either side of \t..\r. */
static const unsigned char letters[] = {'a',  'b',  'c',  0x00, 0x80, 0xFF, 0xC3,
                                        0xA9, 0x08, 0x0E, 0x1C, 0x85, 0xA0, '~'};

static FILE *open_out(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  return f;
}

static void put_word(FILE *f, unsigned len) {
  for (unsigned i = 0; i < len; i++)
    fputc(letters[below(sizeof letters)], f);
}

static void put_space(FILE *f) {
  unsigned n = 1 + (below(4) == 0 ? below(5) : 0);
  for (unsigned i = 0; i < n; i++)
    fputc(spaces[below(sizeof spaces)], f);
}

static void close_out(FILE *f) {
  if (ferror(f) || fclose(f) != 0) {
    perror("write");
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: wc_tricky DIR\n");
    return 2;
  }
  const char *dir = argv[1];

  FILE *f = open_out(dir, "mixed.bin");
  static const unsigned lens[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 64, 65, 200};
  for (int i = 0; i < 150000; i++) {
    /* Short words dominate (they repeat, exercising counts); some lengths straddle the
     * 8-byte inline-key limit and the 16-byte vector width. */
    unsigned len = below(8) ? 1 + below(4) : lens[below(sizeof lens / sizeof lens[0])];
    put_word(f, len);
    put_space(f);
    if (i == 70000) { /* a 3 MiB word: spans several 1 MiB read blocks */
      for (int k = 0; k < 3 * 1048576; k++)
        fputc('a' + (k % 3 == 2), f);
      put_space(f);
    }
  }
  put_word(f, 5); /* no final newline */
  close_out(f);

  close_out(open_out(dir, "empty.bin"));

  f = open_out(dir, "spaces.bin");
  for (int i = 0; i < 5000; i++)
    fputc(spaces[below(sizeof spaces)], f);
  close_out(f);

  f = open_out(dir, "one.bin");
  fputs("lonely", f);
  close_out(f);

  /* Words that end right at a 1 MiB block boundary, at 64-byte window edges, and one
   * that starts exactly at the boundary. */
  f = open_out(dir, "edge.bin");
  long pos = 0;
  while (pos < 1048576 - 70) {
    unsigned len = 63 + below(3);
    put_word(f, len);
    fputc(' ', f);
    pos += len + 1;
  }
  while (pos < 1048576 - 1) {
    fputc('x', f);
    pos++;
  }
  fputc('\n', f); /* byte 1048575: the block ends with whitespace */
  pos++;
  fputs("boundary word\n", f);
  close_out(f);
  return 0;
}
