/* SPDX-License-Identifier: BSD-3-Clause */
/* obs_flow IN.txt OUT.tsv SLOW_RANK SLOW_US [ANY ARGS...]: two runs for the observability
 * tests (tests/obs/test_obs.sh). Run 1 ("pass 1 of 2"): the lines of IN.txt, keyed by
 * themselves, counted per distinct line into OUT.tsv, its two stages named with hostile
 * names (quote, backslash, newline, tab, a control byte, UTF-8, a byte that is not UTF-8);
 * the rank SLOW_RANK (-1: none) sleeps SLOW_US microseconds per line, so a run lasts long
 * enough for progress lines and one rank lags (a negative SLOW_US: it sleeps -SLOW_US and
 * fails at its 20000th line). Run 2 ("pass 2 of 2"): 0..999 counted.
 * Extra arguments only reach the command line of the run record. Prints, on rank 0, the
 * records each run counted: "run2 count=1000". */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sluice.h>

/* the stage names the checker expects back (with U+FFFD for the stray byte) */
static const char *const names[2] = {"read \"quoted\" \\ back\nslash\ttab\x01 \xc3\xa9t\xc3\xa9",
                                     "count </script> \xff end"};

typedef struct slow {
  int us; /* sleep per line; negative: sleep -us and fail at the 20000th line */
  long seen;
} slow;

static int key_by_line(const sl_record *in, sl_record *out, void *arg) {
  static const uint64_t one = 1;
  slow *s = arg;
  if (s->us != 0) {
    struct timespec ts = {0, (long)(s->us > 0 ? s->us : -s->us) * 1000L};
    nanosleep(&ts, NULL);
  }
  if (s->us < 0 && ++s->seen == 20000)
    return -1; /* a failure mid-run, with progress reductions posted */
  out->key = in->value;
  out->key_len = in->value_len;
  out->value = &one;
  out->value_len = sizeof one;
  return 0;
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  if (sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 1;
  if (argc < 5) {
    if (sl_rank(ctx) == 0)
      fprintf(stderr, "usage: obs_flow IN.txt OUT.tsv SLOW_RANK SLOW_US [ARGS...]\n");
    sl_finalize(&ctx);
    return 2;
  }
  const char *in = argv[1];
  int slow_rank = 0, us = 0;
  sscanf(argv[3], "%d", &slow_rank);
  sscanf(argv[4], "%d", &us);
  slow s = {sl_rank(ctx) == slow_rank ? us : 0, 0};
  sl_flow *f = NULL;
  sl_aggregator count = sl_aggregator_builtin(SL_AGG_COUNT);
  int rc = sl_flow_create(ctx, &f);
  if (!rc)
    rc = sl_flow_from_text_files(f, &in, 1, 0);
  if (!rc)
    rc = sl_flow_name_stage(f, names[0]);
  if (!rc)
    rc = sl_flow_map(f, key_by_line, &s);
  if (!rc)
    rc = sl_flow_partition(f, 0, NULL, NULL);
  if (!rc)
    rc = sl_flow_name_stage(f, names[1]);
  if (!rc)
    rc = sl_flow_reduce_by_key(f, &count);
  if (!rc)
    rc = sl_flow_to_text(f, argv[2], sl_format_tsv_u64, NULL, 1);
  if (!rc)
    rc = sl_flow_set_label(f, "pass 1 of 2");
  if (!rc)
    rc = sl_run(f);
  sl_flow_destroy(&f);
  uint64_t n = 0;
  if (!rc)
    rc = sl_flow_create(ctx, &f);
  if (!rc)
    rc = sl_flow_from_range(f, 0, 1000, 0);
  if (!rc)
    rc = sl_flow_to_count(f, &n);
  if (!rc)
    rc = sl_flow_set_label(f, "pass 2 of 2");
  if (!rc)
    rc = sl_run(f);
  sl_flow_destroy(&f);
  if (!rc && sl_rank(ctx) == 0)
    printf("run2 count=%llu\n", (unsigned long long)n);
  sl_finalize(&ctx);
  return rc ? 1 : 0;
}
