/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-wordcount: count the words of text files on MPI ranks.
 *
 *   mpirun -n N sluice-wordcount [--top K] [-o OUT.tsv] [--force] FILE...
 *
 * A word is a maximal run of bytes other than space, \t, \n, \v, \f and \r (byte-exact,
 * no locale). The flow: text blocks -> tokenize (flat_map) -> partition by word ->
 * count (combined map-side) [-> top K] -> TSV "word<TAB>count". */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appcli.h"

/* ---- the flow's callbacks ---- */
typedef struct counters {
  uint64_t words;
  uint64_t distinct;
} counters;

/* Each read block of whole lines: its words, found by the vectorized scanner, go to the
 * count in groups (one call per group, not per word). */
static int tokenize(const sl_record *block, sl_emitter *out, void *arg) {
  counters *c = arg;
  sl_text_word w[1024];
  size_t pos = 0, n = 0;
  while (pos < block->value_len) {
    int rc = sl_text_words(block->value, block->value_len, &pos, w, 1024, &n);
    if (!rc)
      rc = sl_emit_words(out, w, n, NULL, 0);
    if (rc)
      return rc;
    c->words += n;
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

/* ---- the command line ---- */
typedef struct wc_args {
  const char *out; /* NULL: stdout */
  uint64_t top;
  int have_top, force;
} wc_args;

static int parse_args(app *a, int *argc, char ***argv, wc_args *o) {
  const app_opt opts[] = {
      APP_OPT_OUTPUT(&o->out, "FILE",
                     "write the TSV to FILE (one file, written by all ranks in parallel; it "
                     "appears only when complete). Default: stdout."),
      {.name = "top",
       .kind = APP_UINT,
       .dest = &o->top,
       .seen = &o->have_top,
       .arg = "K",
       .help = "keep the K most frequent words, sorted"},
      APP_OPT_FORCE(&o->force, "overwrite FILE if it exists"),
      APP_OPT_END};
  const app_cli cli = {
      .prog = "sluice-wordcount",
      .mpi = 1,
      .opts = opts,
      .args = "FILE...",
      .min_args = 1,
      .max_args = -1,
      .about =
          "Count the words of one or more text files in parallel. A word is a maximal run of\n"
          "bytes other than space, \\t, \\n, \\v, \\f and \\r (bytes, not characters: no "
          "locale).\n"
          "\n"
          "Output: TSV, one line \"word<TAB>count\" per distinct word, in no particular order;\n"
          "with --top K only the K most frequent, by count descending then word ascending\n"
          "(bytewise). A summary line (bytes, words, distinct words, seconds, MB/s) goes to\n"
          "stderr at the end.\n"};
  return app_start(a, &cli, argc, argv);
}

/* The flow: text blocks -> tokenize -> partition by word -> count [-> top K] -> TSV. */
static int build_flow(sl_flow *flow, const app *a, const wc_args *o, counters *cnt) {
  int rc = sl_flow_from_text_blocks(flow, (const char *const *)a->args, (size_t)a->nargs, 0);
  if (!rc) /* stage names: the log view, the run record and the trace show them */
    rc = sl_flow_name_stage(flow, "read+tokenize");
  if (!rc)
    rc = sl_flow_flat_map(flow, tokenize, cnt);
  if (!rc)
    rc = sl_flow_name(flow, "tokenize");
  if (!rc)
    rc = sl_flow_partition(flow, 0, NULL, NULL);
  if (!rc)
    rc = sl_flow_name_stage(flow, "count");
  if (!rc) {
    sl_aggregator count = sl_aggregator_builtin(SL_AGG_COUNT);
    rc = sl_flow_reduce_by_key(flow, &count);
  }
  if (!rc)
    rc = sl_flow_name(flow, "count");
  if (!rc)
    rc = sl_flow_each(flow, count_distinct, cnt);
  if (!rc && o->have_top)
    rc = sl_flow_take_sort(flow, (size_t)o->top, by_count_then_word, NULL);
  if (!rc && o->have_top)
    rc = sl_flow_name_stage(flow, "top");
  if (!rc)
    rc = sl_flow_to_text(flow, o->out ? o->out : "-", sl_format_tsv_u64, NULL, o->force);
  return rc;
}

/* Rank 0: bytes, words, distinct words, seconds, MB/s. Collective. */
static void summary(const app *a, sl_flow *flow, const counters *cnt, double secs) {
  sl_stats st;
  sl_flow_get_stats(flow, 0, &st);
  uint64_t mine[3] = {st.input_bytes, cnt->words, cnt->distinct}, tot[3];
  MPI_Reduce(mine, tot, 3, MPI_UINT64_T, MPI_SUM, 0, a->comm);
  app_note(a, "%llu bytes, %llu words, %llu distinct, %.3f s, %.1f MB/s",
           (unsigned long long)tot[0], (unsigned long long)tot[1], (unsigned long long)tot[2], secs,
           secs > 0 ? tot[0] / secs / 1e6 : 0.0);
}

int main(int argc, char **argv) {
  app a;
  wc_args o = {0};
  int code = parse_args(&a, &argc, &argv, &o);
  if (code != APP_RUN)
    return app_finish(&a, code);
  counters cnt = {0, 0};
  sl_flow *flow = NULL;
  double t0 = MPI_Wtime();
  int rc = sl_flow_create(a.ctx, &flow);
  if (!rc)
    rc = build_flow(flow, &a, &o, &cnt);
  if (!rc)
    rc = app_run(&a, flow, "the word count");
  else
    app_root_error(&a, "%s", sl_strerror(rc)); /* the same on every rank */
  if (rc == SL_OK && !a.describe)
    summary(&a, flow, &cnt, MPI_Wtime() - t0);
  sl_flow_destroy(&flow);
  return app_finish(&a, sl_exit_status(rc));
}
