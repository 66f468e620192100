/* SPDX-License-Identifier: BSD-3-Clause */
/* ckpt_flow MODE N MOD OUT: flows for the checkpoint tests (test_ckpt.sh), over the integers
 * 0..N-1 keyed "kNNN" by v % MOD, written as "key<TAB>integer" lines to OUT:
 *   sum    the sum per key (reduce_by_key with its combiner)
 *   top    the 10 largest sums, largest first (then take_sort)
 *   group  the sum per key, from group_by_key's lists of values
 *   uniq   each key once with value v % MOD (uniq after a partition by key)
 * and, for the sort (sort_flow below), over the same integers made x = (v * 7919) % MOD
 * (each x about N / MOD times, as equal records):
 *   sort     "k%010d<TAB>x" by x ascending (sl_flow_sort_by_key; packed records)
 *   sortcmp  "k%d<TAB>x" by x descending (sl_flow_sort by a compare function; records of
 *            several lengths)
 * Its exit status is sl_exit_status of the run.
 *
 * Faults, from the environment (not the command line, so a rerun is "the same command"):
 *   CKPT_SIGNAL_AT=K    raise SIGUSR1 on rank CKPT_SIGNAL_RANK (0) at its K-th record
 *   CKPT_SLOW_US=U      sleep U microseconds every 1000 records (a run that lasts)
 *   CKPT_SIGNAL_OUT=K   sort modes: raise SIGUSR1 on rank CKPT_SIGNAL_RANK at the K-th
 *                       record out of the sort (during its final merge or emit)
 *   CKPT_SIGNAL_KEY=K   sort modes: at the K-th call of the key (compare) function there
 *                       (its first calls pick the splitters, the next ones route the held
 *                       records as they are replayed, and sort them)
 * CKPT_SLOW_US also slows the sort's output (every 1000 records) and its key (compare)
 * function (every 5000 calls).
 * CKPT_PARTS=P: P partitions in the source and the partition step (default: one per
 * rank), so that a checkpoint may resume on another number of ranks. */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

typedef struct job {
  int64_t mod, seen, signal_at;
  int signal_rank, rank;
  long slow_us;
  char key[32];
} job;

/* The environment's faults, at each record. */
static void faults(job *j) {
  j->seen++;
  if (j->signal_at && j->rank == j->signal_rank && j->seen == j->signal_at)
    raise(SIGUSR1);
  if (j->slow_us && j->seen % 1000 == 0)
    usleep((useconds_t)j->slow_us);
}

static int keyed(const sl_record *in, sl_emitter *out, void *arg) {
  job *j = arg;
  int64_t v;
  memcpy(&v, in->value, sizeof v);
  faults(j);
  int n = snprintf(j->key, sizeof j->key, "k%03lld", (long long)(v % j->mod));
  return sl_emit(out, j->key, (size_t)n, &v, sizeof v);
}

/* top: larger sums first, then keys */
static int by_sum(const sl_record *a, const sl_record *b, void *arg) {
  (void)arg;
  int64_t x, y;
  memcpy(&x, a->value, sizeof x);
  memcpy(&y, b->value, sizeof y);
  if (x != y)
    return x > y ? -1 : 1;
  size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  int c = memcmp(a->key, b->key, n);
  return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* group: a key's values ([u32 length][int64] each) summed */
static int sum_group(const sl_record *in, sl_record *out, void *arg) {
  int64_t *sum = arg, v;
  *sum = 0;
  for (size_t at = 0; at + 4 + sizeof v <= in->value_len; at += 4 + sizeof v) {
    memcpy(&v, (const char *)in->value + at + 4, sizeof v);
    *sum += v;
  }
  *out = (sl_record){in->key, in->key_len, sum, sizeof *sum};
  return 0;
}

/* uniq: the key and v % MOD, so duplicates are whole records */
static int modded(const sl_record *in, sl_emitter *out, void *arg) {
  job *j = arg;
  int64_t v;
  memcpy(&v, in->value, sizeof v);
  faults(j);
  v %= j->mod;
  int n = snprintf(j->key, sizeof j->key, "k%03lld", (long long)v);
  return sl_emit(out, j->key, (size_t)n, &v, sizeof v);
}

/* ---- the sort modes ---- */
typedef struct sort_job {
  job *j;
  int64_t out_seen, signal_out, key_seen, signal_key;
  char key[32];
} sort_job;

static int is_sort_mode(const char *mode) {
  return !strcmp(mode, "sort") || !strcmp(mode, "sortcmp");
}

/* x = (v * 7919) % MOD, keyed "k%010d" (sort) or "k%d" (sortcmp), value x */
static int sort_keyed(const sl_record *in, sl_emitter *out, void *arg, const char *fmt) {
  sort_job *sj = arg;
  int64_t v;
  memcpy(&v, in->value, sizeof v);
  faults(sj->j);
  v = (v * 7919) % sj->j->mod;
  int n = snprintf(sj->key, sizeof sj->key, fmt, (long long)v);
  return sl_emit(out, sj->key, (size_t)n, &v, sizeof v);
}
static int sort_keyed_fixed(const sl_record *in, sl_emitter *out, void *arg) {
  return sort_keyed(in, out, arg, "k%010lld");
}
static int sort_keyed_var(const sl_record *in, sl_emitter *out, void *arg) {
  return sort_keyed(in, out, arg, "k%lld");
}

/* the faults of a call of the key function or a record out of the sort (slowed like the
 * input, every `every` calls: the drain lasts) */
static void sort_faults(sort_job *sj, int64_t *seen, int64_t at, int64_t every) {
  ++*seen;
  if (at && sj->j->rank == sj->j->signal_rank && *seen == at)
    raise(SIGUSR1);
  if (sj->j->slow_us && *seen % every == 0)
    usleep((useconds_t)sj->j->slow_us);
}

static uint64_t sort_key_x(const sl_record *r, void *arg) {
  sort_faults(arg, &((sort_job *)arg)->key_seen, ((sort_job *)arg)->signal_key, 5000);
  int64_t x;
  memcpy(&x, r->value, sizeof x);
  return (uint64_t)x;
}

static int sort_cmp_x(const sl_record *a, const sl_record *b, void *arg) {
  sort_faults(arg, &((sort_job *)arg)->key_seen, ((sort_job *)arg)->signal_key, 5000);
  int64_t x, y;
  memcpy(&x, a->value, sizeof x);
  memcpy(&y, b->value, sizeof y);
  return (x > y) - (x < y);
}

/* after the sort: CKPT_SIGNAL_OUT */
static int sort_out(const sl_record *in, sl_record *out, void *arg) {
  sort_job *sj = arg;
  sort_faults(sj, &sj->out_seen, sj->signal_out, 1000);
  *out = *in;
  return 0;
}

/* range -> flat_map -> sort -> map, for the sort modes */
static int sort_flow(sl_flow *flow, const char *mode, sort_job *sj) {
  const char *e = getenv("CKPT_SIGNAL_OUT");
  sj->signal_out = e ? atoll(e) : 0;
  e = getenv("CKPT_SIGNAL_KEY");
  sj->signal_key = e ? atoll(e) : 0;
  int fixed = !strcmp(mode, "sort");
  int rc = sl_flow_flat_map(flow, fixed ? sort_keyed_fixed : sort_keyed_var, sj);
  if (rc == SL_OK)
    rc = fixed ? sl_flow_sort_by_key(flow, sort_key_x, sj, 0)
               : sl_flow_sort(flow, sort_cmp_x, sj, 1);
  if (rc == SL_OK)
    rc = sl_flow_map(flow, sort_out, sj);
  return rc;
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  int rc = sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx);
  if (rc != SL_OK)
    return sl_exit_status(rc);
  const char *mode = argc == 5 ? argv[1] : "";
  if (strcmp(mode, "sum") && strcmp(mode, "top") && strcmp(mode, "group") && strcmp(mode, "uniq") &&
      !is_sort_mode(mode)) {
    fprintf(stderr, "usage: ckpt_flow sum|top|group|uniq|sort|sortcmp N MOD OUT "
                    "[--sl-checkpoint-dir=DIR ...]\n");
    sl_finalize(&ctx);
    return 2;
  }
  argv++; /* N MOD OUT in argv[1..3] */
  job j = {.mod = atoll(argv[2]), .rank = sl_rank(ctx)};
  int64_t group_sum = 0;
  const char *e = getenv("CKPT_SIGNAL_AT");
  j.signal_at = e ? atoll(e) : 0;
  e = getenv("CKPT_SIGNAL_RANK");
  j.signal_rank = e ? atoi(e) : 0;
  e = getenv("CKPT_SLOW_US");
  j.slow_us = e ? atol(e) : 0;
  e = getenv("CKPT_PARTS");
  int parts = e ? atoi(e) : 0;
  sl_flow *flow = NULL;
  rc = sl_flow_create(ctx, &flow);
  if (rc == SL_OK)
    rc = sl_flow_from_range(flow, 0, atoll(argv[1]), parts);
  sort_job sj = {.j = &j};
  if (rc == SL_OK && is_sort_mode(mode))
    rc = sort_flow(flow, mode, &sj);
  else if (rc == SL_OK)
    rc = sl_flow_flat_map(flow, strcmp(mode, "uniq") ? keyed : modded, &j);
  if (rc == SL_OK && !is_sort_mode(mode))
    rc = sl_flow_partition(flow, parts, NULL, NULL);
  sl_aggregator sum = sl_aggregator_builtin(SL_AGG_SUM_I64);
  if (rc == SL_OK && (!strcmp(mode, "sum") || !strcmp(mode, "top")))
    rc = sl_flow_reduce_by_key(flow, &sum);
  if (rc == SL_OK && !strcmp(mode, "top"))
    rc = sl_flow_take_sort(flow, 10, by_sum, NULL);
  if (rc == SL_OK && !strcmp(mode, "group"))
    rc = sl_flow_group_by_key(flow);
  if (rc == SL_OK && !strcmp(mode, "group"))
    rc = sl_flow_map(flow, sum_group, &group_sum);
  if (rc == SL_OK && !strcmp(mode, "uniq"))
    rc = sl_flow_uniq(flow);
  if (rc == SL_OK)
    rc = sl_flow_to_text(flow, argv[3], sl_format_tsv_i64, NULL, 0);
  if (rc == SL_OK)
    rc = sl_run(flow);
  sl_flow_destroy(&flow);
  int status = sl_exit_status(rc);
  sl_finalize(&ctx);
  return status;
}
