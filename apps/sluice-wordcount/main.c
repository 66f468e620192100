/* sluice-wordcount: count the words of text files on MPI ranks.
 *
 *   mpirun -n N sluice-wordcount [--top K] [-o OUT.tsv] [--force] FILE...
 *
 * A word is a maximal run of bytes other than space, \t, \n, \v, \f and \r (byte-exact,
 * no locale). The flow: text lines -> tokenize (flat_map) -> partition by word ->
 * count (combined map-side) [-> top K] -> TSV "word<TAB>count". */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

static void usage(FILE *f) {
  fprintf(f,
          "usage: mpirun -n N sluice-wordcount [--top K] [-o OUT.tsv] [--force] FILE...\n"
          "\n"
          "Count the words of one or more text files in parallel. A word is a maximal run of\n"
          "bytes other than space, \\t, \\n, \\v, \\f and \\r (bytes, not characters: no locale).\n"
          "\n"
          "Output: TSV, one line \"word<TAB>count\" per distinct word, in no particular order;\n"
          "with --top K only the K most frequent, by count descending then word ascending\n"
          "(bytewise). A summary line (bytes, words, distinct words, seconds, MB/s) goes to\n"
          "stderr at the end.\n"
          "\n"
          "options:\n"
          "  -o, --output FILE  write the TSV to FILE (one file, written by all ranks in\n"
          "                     parallel; it appears only when complete). Default: stdout.\n"
          "  --top K            keep the K most frequent words, sorted\n"
          "  --force            overwrite FILE if it exists\n"
          "  -h, --help         this help\n"
          "  --version          print the version\n"
          "  --sl-help          list sluice's runtime options (--sl-NAME=VALUE, or the\n"
          "                     environment variable SLUICE_NAME), e.g. --sl-progress=on,\n"
          "                     --sl-stats=stats.json, --sl-log-view\n"
          "\n"
          "exit status: 0 success, 1 runtime failure, 2 bad usage or bad input,\n"
          "             3 stopped by SIGTERM/SIGUSR1 (nothing written under the output name)\n");
}

/* ---- the flow's callbacks ---- */
typedef struct counters {
  uint64_t words;
  uint64_t distinct;
} counters;

static const unsigned char is_space[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1};

static int tokenize(const sl_record *line, sl_emitter *out, void *arg) {
  counters *c = arg;
  const unsigned char *p = line->value, *end = p + line->value_len;
  while (p < end) {
    while (p < end && is_space[*p])
      p++;
    const unsigned char *w = p;
    while (p < end && !is_space[*p])
      p++;
    if (p > w) {
      c->words++;
      int rc = sl_emit(out, w, (size_t)(p - w), NULL, 0);
      if (rc)
        return rc;
    }
  }
  return 0;
}

static int count_distinct(const sl_record *rec, void *arg) {
  (void)rec;
  ((counters *)arg)->distinct++;
  return 0;
}

/* By count descending, then word ascending (bytewise, a prefix first). */
static int by_count_then_word(const sl_record *a, const sl_record *b, void *arg) {
  (void)arg;
  uint64_t ca, cb;
  memcpy(&ca, a->value, 8);
  memcpy(&cb, b->value, 8);
  if (ca != cb)
    return ca > cb ? -1 : 1;
  size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  int c = n ? memcmp(a->key, b->key, n) : 0;
  if (c)
    return c;
  return (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static int parse_count(const char *s, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < 0)
    return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  int rc = sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx);
  if (rc != SL_OK) {
    sl_finalize(&ctx);
    return sl_exit_status(rc);
  }
  int root = sl_rank(ctx) == 0;
  if (sl_help_requested(ctx)) {
    sl_finalize(&ctx);
    return 0;
  }
  const char *out_path = NULL;
  long long top = -1;
  int force = 0, nfiles = 0;
  const char **files = calloc((size_t)argc, sizeof *files);
  if (!files) { /* every rank parses the same command line: every rank fails here */
    fprintf(stderr, "sluice-wordcount: error: out of memory for the list of %d arguments\n", argc);
    sl_finalize(&ctx);
    return sl_exit_status(SL_ERR_NOMEM);
  }
  int bad = 0;
  for (int i = 1; i < argc && !bad; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      if (root)
        usage(stdout);
      free(files);
      sl_finalize(&ctx);
      return 0;
    } else if (!strcmp(a, "--version")) {
      if (root)
        printf("sluice-wordcount %s\n", sl_version());
      free(files);
      sl_finalize(&ctx);
      return 0;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--top")) {
      if (i + 1 >= argc) {
        if (root)
          fprintf(stderr, "sluice-wordcount: error: %s needs a value (see --help)\n", a);
        bad = 1;
      } else if (!strcmp(a, "--top")) {
        if (parse_count(argv[++i], &top)) {
          if (root)
            fprintf(stderr,
                    "sluice-wordcount: error: --top expects a non-negative integer, found '%s'\n",
                    argv[i]);
          bad = 1;
        }
      } else {
        out_path = argv[++i];
      }
    } else if (!strncmp(a, "--output=", 9)) {
      out_path = a + 9;
    } else if (!strncmp(a, "--top=", 6)) {
      if (parse_count(a + 6, &top)) {
        if (root)
          fprintf(stderr,
                  "sluice-wordcount: error: --top expects a non-negative integer, found '%s'\n",
                  a + 6);
        bad = 1;
      }
    } else if (!strcmp(a, "--force")) {
      force = 1;
    } else if (!strcmp(a, "--")) {
      for (i++; i < argc; i++)
        files[nfiles++] = argv[i];
    } else if (a[0] == '-' && a[1]) {
      if (root)
        fprintf(stderr, "sluice-wordcount: error: unknown option '%s' (see --help)\n", a);
      bad = 1;
    } else {
      files[nfiles++] = a;
    }
  }
  if (!bad && nfiles == 0) {
    if (root)
      fprintf(stderr, "sluice-wordcount: error: no input file given (usage: sluice-wordcount "
                      "[--top K] [-o OUT.tsv] FILE...)\n");
    bad = 1;
  }
  if (bad) {
    free(files);
    sl_finalize(&ctx);
    return sl_exit_status(SL_ERR_USAGE);
  }

  counters cnt = {0, 0};
  sl_flow *flow = NULL;
  double t0 = MPI_Wtime();
  rc = sl_flow_create(ctx, &flow);
  if (!rc)
    rc = sl_flow_from_text_files(flow, files, (size_t)nfiles, 0);
  if (!rc)
    rc = sl_flow_flat_map(flow, tokenize, &cnt);
  if (!rc)
    rc = sl_flow_name(flow, "tokenize");
  if (!rc)
    rc = sl_flow_partition(flow, 0, NULL, NULL);
  if (!rc) {
    sl_aggregator count = sl_aggregator_builtin(SL_AGG_COUNT);
    rc = sl_flow_reduce_by_key(flow, &count);
  }
  if (!rc)
    rc = sl_flow_name(flow, "count");
  if (!rc)
    rc = sl_flow_each(flow, count_distinct, &cnt);
  if (!rc && top >= 0)
    rc = sl_flow_take_sort(flow, (size_t)top, by_count_then_word, NULL);
  if (!rc)
    rc = sl_flow_to_text(flow, out_path ? out_path : "-", sl_format_tsv_u64, NULL, force);
  if (!rc)
    rc = sl_run(flow);
  else if (root)
    fprintf(stderr, "sluice-wordcount: error: %s\n", sl_strerror(rc));
  double secs = MPI_Wtime() - t0;

  if (rc == SL_OK) {
    sl_stats st;
    sl_flow_get_stats(flow, 0, &st);
    uint64_t mine[3] = {st.input_bytes, cnt.words, cnt.distinct}, tot[3];
    MPI_Reduce(mine, tot, 3, MPI_UINT64_T, MPI_SUM, 0, sl_comm(ctx));
    if (root)
      fprintf(stderr,
              "sluice-wordcount: %llu bytes, %llu words, %llu distinct, %.3f s, %.1f MB/s\n",
              (unsigned long long)tot[0], (unsigned long long)tot[1], (unsigned long long)tot[2],
              secs, secs > 0 ? tot[0] / secs / 1e6 : 0.0);
  }
  sl_flow_destroy(&flow);
  free(files);
  sl_finalize(&ctx);
  return sl_exit_status(rc);
}
