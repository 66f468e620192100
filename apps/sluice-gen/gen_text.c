/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-gen text: Zipf-distributed words.
 *
 * The file is cut into fixed segments of GEN_TEXT_SEGMENT bytes (the last one shorter;
 * a last segment of 1 byte joins the one before, which would otherwise end the file
 * with an empty line).
 * Each segment is generated from its own stream, keyed by (seed, segment index), and
 * ends with '\n'. So any rank can make any segment, rank r writes segments r, r+P, ...
 * with MPI-IO, and the bytes never depend on P. The segment size is part of the output
 * format: changing it changes every file.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "rng.h"
#include "zipf.h"

#define GEN_TEXT_SEGMENT ((uint64_t)4 << 20)
/* A line is at most 16 words; each word copy writes 16 bytes, so this much room past
 * the segment end keeps the unchecked copies in bounds. */
#define GEN_TEXT_SLACK 512
#define GEN_TEXT_MAX_VOCAB (UINT32_C(1) << 30)

/* One vocabulary word: up to 15 letters and its length, 16 bytes so a word is copied
 * with one unaligned 16-byte move whatever its length. */
typedef struct gen_word {
  char b[15];
  uint8_t len;
} gen_word;

typedef struct text_gen {
  uint64_t seed;
  gen_word *words;
  gen_zipf zipf;
} text_gen;

/* ---- the command line ---- */
static struct text_conf {
  uint64_t size, seed, vocab;
  double zipf;
  int force;
  const char *out;
} conf = {.seed = 1, .vocab = 1000000, .zipf = 1.1};

static const app_opt text_opts[] = {
    {.name = "size",
     .kind = APP_SIZE,
     .dest = &conf.size,
     .arg = "BYTES",
     .required = 1,
     .help = "exact size of FILE; it ends with '\\n' unless empty"},
    {.name = "seed",
     .kind = APP_SIZE,
     .dest = &conf.seed,
     .arg = "N",
     .help = "random seed (default 1)"},
    {.name = "vocab",
     .kind = APP_SIZE,
     .dest = &conf.vocab,
     .arg = "N",
     .help = "number of distinct words, 1 to 2^30 (default 1000000); word k is 1-15 letters a-z, "
             "fixed by the seed",
     APP_RANGE_U(1, GEN_TEXT_MAX_VOCAB)},
    {.name = "zipf",
     .kind = APP_DOUBLE,
     .dest = &conf.zipf,
     .arg = "S",
     .help = "word k has probability ~ (k+1)^-S; 0 is uniform (default 1.1)",
     APP_RANGE_D(0, 100)},
    APP_OPT_FORCE(&conf.force, "replace FILE if it exists"),
    APP_OPT_OUTPUT_REQUIRED(&conf.out, "FILE", "output file"),
    APP_OPT_END};

const app_cli gen_text_cli = {
    .prog = "sluice-gen",
    .cmd = "text",
    .opts = text_opts,
    .about = "Zipf-distributed words, an exact number of bytes. The output depends only on the\n"
             "options and the seed, never on the number of MPI ranks. Numbers accept the binary\n"
             "suffixes K, M, G, T (1K = 1024).\n",
    .epilog = "  Lines are 8-16 words separated by single spaces. The last line of every 4 MiB\n"
              "  segment is cut or lengthened by one letter to fill the segment exactly.\n"};

static uint64_t word_hash(const gen_word *w) {
  uint64_t a, b;
  memcpy(&a, w->b, 8);
  memcpy(&b, w->b + 8, 8); /* includes len */
  return gen_mix64(a ^ gen_mix64(b + GEN_GOLDEN));
}

/* Word k's letters come from a stream keyed by (seed, k, attempt); a word equal to an
 * earlier one is drawn again, so the n words are distinct and word k does not depend
 * on n. Short lengths run out (26 one-letter words), so their draws retry longer. */
static int vocab_build(text_gen *t, uint32_t n) {
  uint64_t cap = 1;
  while (cap < 2 * (uint64_t)n)
    cap <<= 1;
  gen_word *words = calloc(n, sizeof *words);
  uint32_t *set = calloc(cap, sizeof *set); /* word index + 1, 0 = empty */
  if (!words || !set) {
    free(words), free(set);
    return -1;
  }
  uint64_t base = gen_mix64(t->seed ^ UINT64_C(0x74657874776f7264)); /* "textword" */
  for (uint32_t k = 0; k < n; k++) {
    gen_word *w = &words[k];
    for (uint64_t attempt = 0;; attempt++) {
      uint64_t st = gen_mix64(base + (uint64_t)k * GEN_GOLDEN) ^ gen_mix64(attempt);
      uint64_t r = gen_splitmix64(&st);
      memset(w, 0, sizeof *w);
      w->len = (uint8_t)(1 + gen_below32(r, 15));
      for (int j = 0; j < w->len; j += 2) {
        r = gen_splitmix64(&st);
        w->b[j] = (char)('a' + gen_below32(r, 26));
        if (j + 1 < w->len)
          w->b[j + 1] = (char)('a' + gen_below32(r << 32, 26));
      }
      uint64_t h = word_hash(w) & (cap - 1);
      int dup = 0;
      while (set[h]) {
        if (memcmp(&words[set[h] - 1], w, sizeof *w) == 0) {
          dup = 1;
          break;
        }
        h = (h + 1) & (cap - 1);
      }
      if (!dup) {
        set[h] = k + 1;
        break;
      }
    }
  }
  free(set);
  t->words = words;
  return 0;
}

/* Fill buf[0, len) with segment seg; buf has GEN_TEXT_SLACK bytes of room past len. */
static void text_segment(const text_gen *t, uint64_t seg, char *buf, size_t len) {
  gen_xoshiro rng;
  gen_xoshiro_seed(&rng, gen_mix64(t->seed) ^ gen_mix64(seg + 1));
  const gen_word *words = t->words;
  size_t pos = 0;
  while (pos < len) {
    size_t rem = len - pos;
    uint64_t r = gen_xoshiro_next(&rng);
    unsigned nw = 8 + gen_below32(r, 9);
    char *p = buf + pos, *q = p;
    for (unsigned k = 0; k < nw; k++) {
      uint64_t r1 = gen_xoshiro_next(&rng), r2 = gen_xoshiro_next(&rng);
      const gen_word *w = &words[gen_zipf_sample(&t->zipf, r1, r2)];
      memcpy(q, w->b, 16);
      q += w->len;
      *q++ = ' ';
    }
    q[-1] = '\n';
    size_t n = (size_t)(q - p);
    /* Keep the line when it fits and leaves room (2 bytes) for at least "a\n". */
    if (n == rem || n + 2 <= rem) {
      pos += n;
      continue;
    }
    /* The segment's last line: make it exactly rem bytes. */
    char letter = (char)('a' + gen_below32(r << 32, 26));
    if (n + 1 == rem) {
      p[n - 1] = letter; /* lengthen the last word */
      p[n] = '\n';
    } else { /* n > rem: cut, never leaving a trailing space */
      p[rem - 1] = '\n';
      if (rem >= 2 && p[rem - 2] == ' ')
        p[rem - 2] = letter;
    }
    pos = len;
  }
}

/* Complete a pending write (if any) and check that all of it was written. */
static int write_wait(const gen_common *g, MPI_Request *req, size_t want) {
  if (*req == MPI_REQUEST_NULL)
    return 1;
  MPI_Status st;
  int written = 0;
  if (MPI_Wait(req, &st) != MPI_SUCCESS || MPI_Get_count(&st, MPI_BYTE, &written) != MPI_SUCCESS ||
      (size_t)written != want) {
    app_error(g->app, "a write of %zu bytes failed (%d written)", want, written);
    return 0;
  }
  return 1;
}

int gen_text_main(const gen_common *g, int argc, char **argv) {
  int code = app_parse(g->app, &gen_text_cli, argc, argv, 1);
  if (code != APP_RUN)
    return code;
  uint64_t size = conf.size, seed = conf.seed, vocab = conf.vocab;
  double zipf = conf.zipf;
  const char *out = conf.out;
  if (g->app->describe) { /* the plan: what would be written, by whom, with what memory */
    uint64_t nseg = (size + GEN_TEXT_SEGMENT - 1) / GEN_TEXT_SEGMENT;
    if (g->rank == 0)
      printf("sluice-gen text: plan (--describe: nothing is written)\n"
             "  output: %s, %llu bytes of Zipf(%g) words from a vocabulary of %llu, seed %llu\n"
             "  ranks: %d; %llu segment(s) of %llu bytes, segment k written by rank k mod %d "
             "(MPI-IO)\n"
             "  memory per rank: 2 segment buffers (%llu bytes) and the vocabulary tables\n",
             out, (unsigned long long)size, zipf, (unsigned long long)vocab,
             (unsigned long long)seed, g->size, (unsigned long long)nseg,
             (unsigned long long)GEN_TEXT_SEGMENT, g->size,
             (unsigned long long)(2 * (GEN_TEXT_SEGMENT + 1 + GEN_TEXT_SLACK)));
    return GEN_EXIT_OK;
  }

  char tmp[4096];
  code = gen_output_begin(g, out, conf.force, tmp, sizeof tmp);
  if (code != GEN_EXIT_OK)
    return code;

  /* Every rank builds the tables: it costs less than sending them (~0.3 s for 1M words). */
  text_gen t = {.seed = seed};
  char *buf[2] = {NULL, NULL};
  int ok =
      vocab_build(&t, (uint32_t)vocab) == 0 && gen_zipf_init(&t.zipf, (uint32_t)vocab, zipf) == 0;
  for (int b = 0; b < 2 && ok; b++)
    ok = (buf[b] = malloc(GEN_TEXT_SEGMENT + 1 + GEN_TEXT_SLACK)) != NULL;
  if (!ok)
    app_error(g->app, "out of memory for a vocabulary of %llu words", (unsigned long long)vocab);

  MPI_File fh = MPI_FILE_NULL;
  if (app_all_ok(g->app, ok) && gen_output_reserve(g, size)) {
    int mrc = MPI_File_open(g->comm, tmp, MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
    char es[MPI_MAX_ERROR_STRING] = "";
    int el = 0;
    if (mrc != MPI_SUCCESS)
      MPI_Error_string(mrc, es, &el);
    /* Open is collective but its failure need not be: agree before writing. */
    ok = app_agree(g->app, mrc == MPI_SUCCESS, "cannot create '%s': %s", tmp, es);
    if (!ok && mrc == MPI_SUCCESS)
      MPI_File_close(&fh);
  } else {
    ok = 0;
  }
  if (ok) {
    gen_progress pr;
    gen_progress_start(&pr, g, "text");
    uint64_t nseg = (size + GEN_TEXT_SEGMENT - 1) / GEN_TEXT_SEGMENT;
    if (nseg > 1 && size % GEN_TEXT_SEGMENT == 1)
      nseg--;
    /* Two buffers: the segment being generated and the one being written (non-blocking,
     * which Open MPI's POSIX backend runs on an AIO thread), because writing into the page
     * cache costs about as much CPU as generating. The writes are independent: MPI_File_open
     * was collective, and nothing else is until the close. */
    MPI_Request req[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    size_t want[2] = {0, 0};
    uint64_t nmine = 0;
    for (uint64_t s = (uint64_t)g->rank; s < nseg && ok; s += (uint64_t)g->size, nmine++) {
      int b = (int)(nmine & 1);
      if (!write_wait(g, &req[b], want[b]))
        ok = 0;
      uint64_t off = s * GEN_TEXT_SEGMENT;
      size_t len = (size_t)(s + 1 == nseg ? size - off : GEN_TEXT_SEGMENT);
      text_segment(&t, s, buf[b], len);
      want[b] = len;
      if (ok && MPI_File_iwrite_at(fh, (MPI_Offset)off, buf[b], (int)len, MPI_BYTE, &req[b]) !=
                    MPI_SUCCESS) {
        app_error(g->app, "write of %zu bytes at offset %llu failed", len, (unsigned long long)off);
        ok = 0;
      }
      /* Rank 0's share stands for everyone's: the ranks go at the same pace. */
      uint64_t done = (nmine + 1) * (uint64_t)g->size * GEN_TEXT_SEGMENT;
      gen_progress_update(&pr, done < size ? done : size, size, "B");
    }
    for (int b = 0; b < 2; b++)
      if (!write_wait(g, &req[b], want[b]))
        ok = 0;
    if (MPI_File_close(&fh) != MPI_SUCCESS) {
      app_error(g->app, "closing '%s' failed", tmp);
      ok = 0;
    }
    if (ok)
      gen_progress_end(&pr, size, "B");
  }
  free(buf[0]);
  free(buf[1]);
  free(t.words);
  gen_zipf_free(&t.zipf);
  return gen_output_end(g, out, tmp, ok);
}
