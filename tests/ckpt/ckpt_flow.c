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
 * Modes of the operators with windows, joins and user state (ops_flow below):
 *   window      the sum per key per fixed window of event time v (N/10 wide): a line per
 *               (window, key), in fixed windows closed by the watermark
 *   join        a full outer join of the records with a right side 0..MOD+2 keyed alike:
 *               "key<TAB>v*1000+r+1" per match, "key<TAB>-1000+r+1" per unmatched right
 *   joinleft    a left outer join with a right side 0..MOD/2-1 (half the keys): the joined
 *               records are counted as records too (CKPT_SIGNAL_AT past the rank's share of
 *               the input stops it while the join emits the unmatched records at the end),
 *               then partitioned: "key<TAB>v*1000+r+1", or v*1000 unmatched
 *   reduce      the sum per key from sl_flow_reduce (after a partition by key), whose
 *               accumulator (an array of MOD sums) is saved by sl_flow_checkpoint_acc
 *   emitreduce  the same with sl_flow_emit_and_reduce, which also emits "eKKK<TAB>v" at once
 *               for every v % 1000 == 7
 *   callback    the sum per key, read from a callback source (its position saved by
 *               sl_flow_checkpoint_source)
 *   wintrig     the sum per key in count windows of 5000 records of the source's partition
 *               (no partition step), with a custom trigger that fires and resets every 777
 *               records of a window (its count in the trigger's state), then partitioned by
 *               key: partial sums whose total per key is the sum per key; the lines
 *               depend on the rank count
 *   depart      the sum of each fixed window (N/10 wide) over all keys, merged from every
 *               partition's sums per key by departition_window ("wNN<TAB>sum"), whose
 *               accumulator is saved by sl_flow_checkpoint_acc
 *   collect     the sum per key, collected (sl_flow_to_collect), then written by rank 0
 *   reduce-nohook, callback-nohook: the same without the hooks (refused with a checkpoint
 *               directory)
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

/* ---- windows, joins, user state (ops_flow) ---- */
static int v_time(const sl_record *r, int64_t *t, void *arg) {
  (void)arg;
  memcpy(t, r->value, sizeof *t);
  return 0;
}

/* the right side of the join: no faults (they count the left side's records) */
static int keyed_right(const sl_record *in, sl_emitter *out, void *arg) {
  (void)arg;
  int64_t v;
  char key[32];
  memcpy(&v, in->value, sizeof v);
  int n = snprintf(key, sizeof key, "k%03lld", (long long)v);
  return sl_emit(out, key, (size_t)n, &v, sizeof v);
}

/* joinleft: the joined records, counted as records of the rank */
static int counted(const sl_record *in, sl_emitter *out, void *arg) {
  faults(arg);
  return sl_emit(out, in->key, in->key_len, in->value, in->value_len);
}

static int join_pair(const sl_record *l, const sl_record *r, sl_emitter *out, void *arg) {
  (void)arg;
  int64_t lv = -1, rv = -1;
  if (l)
    memcpy(&lv, l->value, sizeof lv);
  if (r)
    memcpy(&rv, r->value, sizeof rv);
  int64_t v = lv * 1000 + rv + 1;
  const sl_record *k = l ? l : r;
  return sl_emit(out, k->key, k->key_len, &v, sizeof v);
}

/* reduce: MOD sums, and which keys were seen */
typedef struct sums {
  int64_t mod;
  int64_t v[];
} sums;

static int sums_init(void **acc, void *arg) {
  const job *j = arg;
  sums *s = calloc(1, sizeof *s + 2 * (size_t)j->mod * sizeof(int64_t));
  if (!s)
    return 1;
  s->mod = j->mod;
  *acc = s;
  return 0;
}

static int sums_fold(void *acc, const sl_record *in, void *arg) {
  (void)arg;
  sums *s = acc;
  int64_t v;
  memcpy(&v, in->value, sizeof v);
  s->v[v % s->mod] += v;
  s->v[s->mod + v % s->mod] = 1;
  return 0;
}

static int sums_fold_emit(void *acc, const sl_record *in, sl_emitter *out, void *arg) {
  sums *s = acc;
  int64_t v;
  memcpy(&v, in->value, sizeof v);
  if (v % 1000 == 7) {
    char key[32];
    int n = snprintf(key, sizeof key, "e%03lld", (long long)(v % s->mod));
    int rc = sl_emit(out, key, (size_t)n, &v, sizeof v);
    if (rc)
      return rc;
  }
  return sums_fold(acc, in, arg);
}

static int sums_emit(void *acc, sl_emitter *out, void *arg) {
  (void)arg;
  const sums *s = acc;
  for (int64_t k = 0; k < s->mod; k++) {
    if (!s->v[s->mod + k])
      continue;
    char key[32];
    int n = snprintf(key, sizeof key, "k%03lld", (long long)k);
    int rc = sl_emit(out, key, (size_t)n, &s->v[k], sizeof s->v[k]);
    if (rc)
      return rc;
  }
  return 0;
}

static void sums_destroy(void *acc, void *arg) {
  (void)arg;
  free(acc);
}

static int sums_save(const void *acc, sl_state_out *out, void *arg) {
  (void)arg;
  const sums *s = acc;
  return sl_state_write(out, s->v, 2 * (size_t)s->mod * sizeof(int64_t));
}

static int sums_restore(void **acc, const void *data, size_t len, void *arg) {
  (void)arg;
  sums *s = *acc;
  if (len != 2 * (size_t)s->mod * sizeof(int64_t))
    return 1;
  memcpy(s->v, data, len);
  return 0;
}

/* callback: partition p emits its share of 0..N-1 in steps of 100 records */
#define CB_MAX_PARTS 64
typedef struct cbsrc {
  int64_t n, next[CB_MAX_PARTS];
  int started[CB_MAX_PARTS];
} cbsrc;

static int cb_pull(int partition, int partitions, sl_emitter *out, int *done, void *arg) {
  cbsrc *c = arg;
  int64_t lo = c->n * partition / partitions, hi = c->n * (partition + 1) / partitions;
  if (partition >= CB_MAX_PARTS)
    return 1;
  if (!c->started[partition]) {
    c->started[partition] = 1;
    c->next[partition] = lo;
  }
  for (int k = 0; k < 100 && c->next[partition] < hi; k++) {
    int64_t v = c->next[partition]++;
    int rc = sl_emit(out, NULL, 0, &v, sizeof v);
    if (rc)
      return rc;
  }
  *done = c->next[partition] >= hi;
  return 0;
}

static int cb_save(int partition, int partitions, sl_state_out *out, void *arg) {
  (void)partitions;
  cbsrc *c = arg;
  return sl_state_write(out, &c->next[partition], sizeof c->next[partition]);
}

static int cb_restore(int partition, int partitions, const void *data, size_t len, void *arg) {
  (void)partitions;
  cbsrc *c = arg;
  if (len != sizeof c->next[partition] || partition >= CB_MAX_PARTS)
    return 1;
  memcpy(&c->next[partition], data, len);
  c->started[partition] = 1;
  return 0;
}

/* wintrig: fire and reset every 777 records of a window */
static int every777(const sl_record *rec, void *state, void *arg) {
  (void)rec;
  (void)arg;
  int64_t *n = state;
  if (++*n < 777)
    return 0;
  *n = 0;
  return SL_TRIGGER_FIRE | SL_TRIGGER_RESET_FLAG;
}

/* depart: a window's sum over every partition's sums per key */
static int dsum_init(void **acc, void *arg) {
  (void)arg;
  *acc = calloc(1, sizeof(int64_t));
  return *acc ? 0 : 1;
}

static int dsum_merge(void *acc, sl_batch *events, const sl_trigger_info *from, void *arg) {
  (void)from;
  (void)arg;
  sl_record r;
  int64_t v;
  while (sl_batch_next(events, &r) == 1) {
    memcpy(&v, r.value, sizeof v);
    *(int64_t *)acc += v;
  }
  return 0;
}

static int dsum_done(void *acc, const sl_trigger_info *info, sl_emitter *out, void *arg) {
  const int64_t *width = arg;
  char key[32];
  int n = snprintf(key, sizeof key, "w%02lld", (long long)(info->window / *width));
  return sl_emit(out, key, (size_t)n, acc, sizeof(int64_t));
}

static void dsum_destroy(void *acc, void *arg) {
  (void)arg;
  free(acc);
}

static int dsum_save(const void *acc, sl_state_out *out, void *arg) {
  (void)arg;
  return sl_state_write(out, acc, sizeof(int64_t));
}

static int dsum_restore(void **acc, const void *data, size_t len, void *arg) {
  (void)arg;
  if (len != sizeof(int64_t))
    return 1;
  memcpy(*acc, data, len);
  return 0;
}

static int is_ops_mode(const char *mode) {
  static const char *const modes[] = {"collect",  "wintrig",       "depart",         "window",
                                      "join",     "joinleft",      "reduce",         "emitreduce",
                                      "callback", "reduce-nohook", "callback-nohook"};
  for (size_t k = 0; k < sizeof modes / sizeof *modes; k++)
    if (!strcmp(mode, modes[k]))
      return 1;
  return 0;
}

/* The flow of an ops mode, from its source to its last step (the sink is main's). */
static int ops_flow(sl_ctx *ctx, sl_flow *flow, const char *mode, int64_t n, job *j, cbsrc *cb,
                    sl_reducer *red) {
  int rc;
  int hooks = !strstr(mode, "nohook");
  if (!strncmp(mode, "callback", 8)) {
    cb->n = n;
    rc = sl_flow_from_callback(flow, cb_pull, cb, 0);
    if (rc == SL_OK && hooks)
      rc = sl_flow_checkpoint_source(flow, cb_save, cb_restore, cb);
  } else {
    rc = sl_flow_from_range(flow, 0, n, 0);
  }
  if (rc == SL_OK)
    rc = sl_flow_flat_map(flow, keyed, j);
  if (rc == SL_OK && !strcmp(mode, "wintrig")) {
    sl_window w = sl_window_count(5000);
    sl_aggregator sum = sl_aggregator_builtin(SL_AGG_SUM_I64);
    rc = sl_window_trigger(&w, every777, sizeof(int64_t), "c777", NULL);
    if (rc == SL_OK)
      rc = sl_flow_window(flow, &w);
    if (rc == SL_OK)
      rc = sl_flow_reduce_by_key(flow, &sum);
    /* a stage after it: no rank is done before the others (a stop on any rank is taken) */
    if (rc == SL_OK)
      rc = sl_flow_partition(flow, 0, NULL, NULL);
    return rc;
  }
  if (rc == SL_OK && !strncmp(mode, "join", 4)) {
    int left = !strcmp(mode, "joinleft");
    sl_flow *right = NULL;
    rc = sl_flow_create(ctx, &right);
    if (rc == SL_OK)
      rc = sl_flow_from_range(right, 0, left ? j->mod / 2 : j->mod + 3, 0);
    if (rc == SL_OK)
      rc = sl_flow_flat_map(right, keyed_right, NULL);
    if (rc == SL_OK)
      rc = sl_flow_join(flow, right, left ? SL_JOIN_LEFT : SL_JOIN_FULL, 0, join_pair, NULL);
    sl_flow_destroy(&right);
    if (rc == SL_OK && left) /* counts the joined records too: a stop during the drain */
      rc = sl_flow_flat_map(flow, counted, j);
    if (rc == SL_OK && left)
      rc = sl_flow_partition(flow, 0, NULL, NULL);
    return rc;
  }

  if (rc == SL_OK)
    rc = sl_flow_partition(flow, 0, NULL, NULL);
  if (rc == SL_OK && (!strcmp(mode, "window") || !strcmp(mode, "depart"))) {
    static int64_t width;
    width = n / 10 > 0 ? n / 10 : 1;
    sl_window w = sl_window_fixed(width, v_time, NULL);
    sl_aggregator sum = sl_aggregator_builtin(SL_AGG_SUM_I64);
    sl_departition d = {dsum_init, dsum_merge, dsum_done, dsum_destroy, &width};
    rc = sl_flow_window(flow, &w);
    if (rc == SL_OK)
      rc = sl_flow_reduce_by_key(flow, &sum);
    if (rc == SL_OK && !strcmp(mode, "depart"))
      rc = sl_flow_departition_window(flow, &d);
    if (rc == SL_OK && !strcmp(mode, "depart"))
      rc = sl_flow_checkpoint_acc(flow, dsum_save, dsum_restore, NULL);
    return rc;
  }
  if (rc == SL_OK && (!strncmp(mode, "callback", 8) || !strcmp(mode, "collect"))) {
    sl_aggregator sum = sl_aggregator_builtin(SL_AGG_SUM_I64);
    return sl_flow_reduce_by_key(flow, &sum);
  }
  *red = (sl_reducer){sums_init, sums_fold, sums_emit, sums_destroy, j};
  if (rc == SL_OK && !strcmp(mode, "emitreduce"))
    rc = sl_flow_emit_and_reduce(flow, red, sums_fold_emit);
  else if (rc == SL_OK)
    rc = sl_flow_reduce(flow, red);
  if (rc == SL_OK && hooks)
    rc = sl_flow_checkpoint_acc(flow, sums_save, sums_restore, NULL);
  return rc;
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  int rc = sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx);
  if (rc != SL_OK)
    return sl_exit_status(rc);
  const char *mode = argc == 5 ? argv[1] : "";
  if (strcmp(mode, "sum") && strcmp(mode, "top") && strcmp(mode, "group") && strcmp(mode, "uniq") &&
      !is_sort_mode(mode) && !is_ops_mode(mode)) {
    fprintf(stderr, "usage: ckpt_flow "
                    "sum|top|group|uniq|sort|sortcmp|window|wintrig|depart|join|joinleft|reduce|"
                    "emitreduce|callback|collect|reduce-nohook|callback-nohook N MOD OUT "
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
  static cbsrc cb;
  sl_reducer red;
  sl_collection *coll = NULL;
  int collect = !strcmp(mode, "collect");
  rc = sl_flow_create(ctx, &flow);
  if (rc == SL_OK && is_ops_mode(mode)) {
    rc = ops_flow(ctx, flow, mode, atoll(argv[1]), &j, &cb, &red);
    mode = "ops"; /* none of the steps below */
  } else if (rc == SL_OK) {
    rc = sl_flow_from_range(flow, 0, atoll(argv[1]), parts);
  }
  sort_job sj = {.j = &j};
  if (rc == SL_OK && is_sort_mode(mode))
    rc = sort_flow(flow, mode, &sj);
  else if (rc == SL_OK && strcmp(mode, "ops"))
    rc = sl_flow_flat_map(flow, strcmp(mode, "uniq") ? keyed : modded, &j);
  if (rc == SL_OK && strcmp(mode, "ops") && !is_sort_mode(mode))
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
  if (rc == SL_OK && collect)
    rc = sl_flow_to_collect(flow, &coll);
  else if (rc == SL_OK)
    rc = sl_flow_to_text(flow, argv[3], sl_format_tsv_i64, NULL, 0);
  if (rc == SL_OK)
    rc = sl_run(flow);
  sl_flow_destroy(&flow);
  if (rc == SL_OK && coll && sl_collection_count(coll)) { /* rank 0 holds the records */
    FILE *f = fopen(argv[3], "w");
    sl_record r;
    for (size_t k = 0; f && k < sl_collection_count(coll); k++) {
      int64_t v;
      if (sl_collection_get(coll, k, &r) != SL_OK || r.value_len != sizeof v)
        break;
      memcpy(&v, r.value, sizeof v);
      fprintf(f, "%.*s\t%lld\n", (int)r.key_len, (const char *)r.key, (long long)v);
    }
    if (!f || fclose(f) != 0)
      rc = SL_ERR_IO;
  }
  sl_collection_destroy(&coll);
  int status = sl_exit_status(rc);
  sl_finalize(&ctx);
  return status;
}
