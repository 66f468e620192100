/* SPDX-License-Identifier: BSD-3-Clause */
/* MPI tests of the places where sluice follows Elixir Flow's semantics to the letter
 * (docs/flow-mapping.md): empty fixed and periodic windows, the empty-window limit, "done"
 * only at the end of the input with allowed lateness, the idle flush of a source's partial
 * batch (--sl-flush-interval) seen by a periodic trigger, and sl_flow_departition_window
 * (Flow.departition/4 per window). Run at 1, 2 and 4 ranks.
 *
 * Every expected output is worked out by hand from Flow's rules in the comment above the
 * test (the window code of Flow 1.2: Flow.Window.Fixed catches its windows up one at a time
 * to the minimum over the producers, emitting each with the initial accumulator when it is
 * empty; Flow.Window.Periodic closes a window every period; at the end of the input every
 * window still open gets :done only). Processing-time tests check invariants that hold
 * whatever the timing, and each has a control run that must come out differently.
 *
 * Rules (a test that breaks them can hang): every rank makes the same collective calls in
 * the same order; no assertion returns early. */
#include "win_test.h"

#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ================================================================ empty fixed windows */

/* fixed(10) in the source stage, 2 partitions of the times 1 25 61 | 5 6 33 (each partition
 * is its own producer, its watermark its latest time). Flow emits every window from the
 * partition's first one to the watermark, empty ones with the initial accumulator:
 *   p0: 1 -> w0; 25 passes w0 and w10 (empty); 61 passes w20 {25}, w30, w40, w50 (empty);
 *       end: w60 {61}.
 *   p1: 5, 6 -> w0; 33 passes w0 {5,6}, w10 and w20 (empty); end: w30 {33}. */
static void test_fixed_empty_windows(void) {
  static const int64_t t[] = {1, 25, 61, 5, 6, 33};
  wt_arr a;
  wt_arr_i64(&a, NULL, t, 6);
  sl_window w = sl_window_fixed(10, wt_time_of_value, NULL);
  wt_calls_reset();
  sl_flow *f = wt_sum_flow(&a, 2, &w, 1);
  static const char *const exp[] = {
      "p0/2 F w0 done sum=1 n=1",   "p0/2 F w10 done sum=0 n=0",  "p0/2 F w20 done sum=25 n=1",
      "p0/2 F w30 done sum=0 n=0",  "p0/2 F w40 done sum=0 n=0",  "p0/2 F w50 done sum=0 n=0",
      "p0/2 F w60 done sum=61 n=1", "p1/2 F w0 done sum=11 n=2",  "p1/2 F w10 done sum=0 n=0",
      "p1/2 F w20 done sum=0 n=0",  "p1/2 F w30 done sum=33 n=1", NULL};
  wt_run_expect(f, exp, "fixed(10) with empty windows, source stage");
  uint64_t late = 0, trig = 0;
  wt_stats_sum(f, &late, &trig);
  EXPECT_U64(late, 0);
  EXPECT_U64(trig, 11);
  sl_flow_destroy(&f);
  wt_check_calls_balanced("fixed empty windows");
}

/* The same after a boundary (departition: one partition on rank 0, fed by one source
 * partition in time order; the watermark comes from that sender): times 2 and 45, fixed(10):
 * w0 {2}; 45 passes w0 and the empty w10, w20, w30; the end closes w40 {45}. */
static void test_fixed_empty_after_boundary(void) {
  static const int64_t t[] = {2, 45};
  wt_arr a;
  wt_arr_i64(&a, NULL, t, 2);
  sl_window w = sl_window_fixed(10, wt_time_of_value, NULL);
  sl_reducer red = wt_sum_reducer();
  wt_calls_reset();
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
  EXPECT_RC(sl_flow_departition(f), SL_OK);
  EXPECT_RC(sl_flow_window(f, &w), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(f, wt_tag_reduce, NULL), SL_OK);
  static const char *const exp[] = {"p0/1 F w0 done sum=2 n=1",   "p0/1 F w10 done sum=0 n=0",
                                    "p0/1 F w20 done sum=0 n=0",  "p0/1 F w30 done sum=0 n=0",
                                    "p0/1 F w40 done sum=45 n=1", NULL};
  wt_run_expect(f, exp, "fixed(10) with empty windows after a boundary");
  sl_flow_destroy(&f);
  wt_check_calls_balanced("fixed empty windows after a boundary");
}

/* Two senders whose windows arrive in either order: source partition 0 has times 52 55,
 * partition 1 has 13 31; one partition after a departition, fixed(10). Flow catches up from
 * the smallest window it holds, so whichever sender comes first: w10 {13}, w20 (empty),
 * w30 {31}, w40 (empty), w50 {52,55}. */
static void test_fixed_empty_senders_out_of_order(void) {
  static const int64_t t[] = {52, 55, 13, 31};
  wt_arr a;
  wt_arr_i64(&a, NULL, t, 4);
  sl_window w = sl_window_fixed(10, wt_time_of_value, NULL);
  sl_reducer red = wt_sum_reducer();
  wt_calls_reset();
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 2), SL_OK);
  EXPECT_RC(sl_flow_departition(f), SL_OK);
  EXPECT_RC(sl_flow_window(f, &w), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(f, wt_tag_reduce, NULL), SL_OK);
  static const char *const exp[] = {"p0/1 F w10 done sum=13 n=1",  "p0/1 F w20 done sum=0 n=0",
                                    "p0/1 F w30 done sum=31 n=1",  "p0/1 F w40 done sum=0 n=0",
                                    "p0/1 F w50 done sum=107 n=2", NULL};
  wt_run_expect(f, exp, "fixed(10), two senders in any order");
  sl_flow_destroy(&f);
  wt_check_calls_balanced("two senders in any order");
}

/* fixed(10) with allowed lateness 5, one partition, times 2 31 33:
 *   2 -> w0 {2}.
 *   31: watermark 31 passes the ends of w0 (10), w10 (20), w20 (30): each fires "watermark";
 *       w0 (15) and w10 (25) also pass their lateness: "done"; w20 (35) stays open (empty).
 *       31 -> w30.
 *   33 -> w30 {31,33}; watermark 33 < 35.
 *   end of input: every open window fires "done" only (Flow: no "watermark" at the end):
 *       w20 "done" (empty), w30 "done" {31,33} without a "watermark" first. */
static void test_lateness_end_done_only(void) {
  static const int64_t t[] = {2, 31, 33};
  wt_arr a;
  wt_arr_i64(&a, NULL, t, 3);
  sl_window w = sl_window_fixed(10, wt_time_of_value, NULL);
  EXPECT_RC(sl_window_allowed_lateness(&w, 5), SL_OK);
  wt_calls_reset();
  sl_flow *f = wt_sum_flow(&a, 1, &w, 1);
  static const char *const exp[] = {"p0/1 F w0 watermark sum=2 n=1",  "p0/1 F w0 done sum=2 n=1",
                                    "p0/1 F w10 watermark sum=0 n=0", "p0/1 F w10 done sum=0 n=0",
                                    "p0/1 F w20 watermark sum=0 n=0", "p0/1 F w20 done sum=0 n=0",
                                    "p0/1 F w30 done sum=64 n=2",     NULL};
  wt_run_expect(f, exp, "allowed lateness: empty windows, done only at the end");
  sl_flow_destroy(&f);
  wt_check_calls_balanced("lateness at the end");
}

/* --sl-window-empty-limit=2, fixed(10), times 1 and 75: the jump from w0 to w70 passes six
 * empty windows; the first two (w10, w20) are emitted, w30..w60 skipped (with a warning):
 * w0 {1}, w10, w20, end: w70 {75}. */
static void test_empty_window_limit(void) {
  static const int64_t t[] = {1, 75};
  wt_arr a;
  wt_arr_i64(&a, NULL, t, 2);
  sl_window w = sl_window_fixed(10, wt_time_of_value, NULL);
  EXPECT_RC(sl_option_set(g_ctx, "window-empty-limit", "2"), SL_OK);
  wt_calls_reset();
  sl_flow *f = wt_sum_flow(&a, 1, &w, 1);
  static const char *const exp[] = {"p0/1 F w0 done sum=1 n=1", "p0/1 F w10 done sum=0 n=0",
                                    "p0/1 F w20 done sum=0 n=0", "p0/1 F w70 done sum=75 n=1",
                                    NULL};
  wt_run_expect(f, exp, "empty-window limit 2");
  sl_flow_destroy(&f);
  EXPECT_RC(sl_option_set(g_ctx, "window-empty-limit", "10000"), SL_OK);
  wt_check_calls_balanced("empty-window limit");
}

/* ================================================================ processing time */

/* A source that emits `first` records (values 1..first), then sleeps 20 ms per call and
 * returns nothing until `pause` seconds after its first call (an instrument polled by a
 * callback), then emits `second` more (values first+1..) and ends. One partition. */
typedef struct pause_src {
  double t0, pause;
  int first, second, stage;
} pause_src;

static int pause_source(int partition, int partitions, sl_emitter *out, int *done, void *arg) {
  (void)partition;
  (void)partitions;
  pause_src *s = arg;
  double t = now_s();
  if (s->stage == 0) {
    s->t0 = t;
    s->stage = 1;
    for (int64_t v = 1; v <= s->first; v++)
      if (sl_emit(out, NULL, 0, &v, 8))
        return 1;
    return 0;
  }
  if (t - s->t0 < s->pause) {
    struct timespec ts = {0, 20000000}; /* sleeps 20 ms, emits nothing: the rank goes on */
    nanosleep(&ts, NULL);
    return 0;
  }
  for (int64_t v = s->first + 1; v <= s->first + s->second; v++)
    if (sl_emit(out, NULL, 0, &v, 8))
      return 1;
  *done = 1;
  return 0;
}

static int parse_tag(const sl_record *r, char *kind, long long *wid, char trig[32], long long *sum,
                     long long *n) {
  char s[200];
  int p, np;
  snprintf(s, sizeof s, "%.*s", (int)r->value_len, (const char *)r->value);
  return sscanf(s, "p%d/%d %c w%lld %31s sum=%lld n=%lld", &p, &np, kind, wid, trig, sum, n) == 7;
}

/* periodic(0.1 s) windows over the pausing source (one record, a pause of 0.55 s, one more):
 * a window for every period that ended, empty or not, so the ids run 0, 1, ..., K without a
 * gap (each once, all "done"), exactly two windows hold a record (one each), the others are
 * empty (sum 0), and at least three empty windows lie between the two. */
static void test_periodic_empty_windows(void) {
  pause_src src = {0, 0.55, 1, 1, 0};
  sl_window w = sl_window_periodic(0.1);
  sl_reducer red = wt_sum_reducer();
  wt_calls_reset();
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_callback(f, pause_source, &src, 1), SL_OK);
  EXPECT_RC(sl_flow_window(f, &w), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(f, wt_tag_reduce, NULL), SL_OK);
  mt_recs got = {0};
  EXPECT_RC(wt_run_gather(f, &got), SL_OK);
  if (g_rank == 0) {
    int seen[256] = {0}, bad = 0, nonempty = 0;
    long long maxid = -1, first_full = -1, last_full = -1;
    for (size_t i = 0; i < got.n; i++) {
      sl_record r = mt_recs_get(&got, i);
      char kind = 0, trig[32] = "";
      long long wid = -1, sum = -1, n = -1;
      if (!parse_tag(&r, &kind, &wid, trig, &sum, &n) || kind != 'P' || strcmp(trig, "done") ||
          wid < 0 || wid >= 256 || n < 0 || n > 1 || (n == 1 && sum != 1 && sum != 2)) {
        bad++;
        continue;
      }
      seen[wid]++;
      if (wid > maxid)
        maxid = wid;
      if (n == 1) {
        nonempty++;
        if (first_full < 0 || wid < first_full)
          first_full = wid;
        if (wid > last_full)
          last_full = wid;
      }
    }
    EXPECT_INT(bad, 0);
    int gaps = 0;
    for (long long id = 0; id <= maxid; id++)
      gaps += seen[id] != 1;
    EXPECT_TRUE(gaps == 0, "periodic: window ids 0..%lld not each emitted once", maxid);
    EXPECT_INT(nonempty, 2);
    EXPECT_TRUE(last_full - first_full >= 4, "periodic: records in windows %lld and %lld",
                first_full, last_full);
  }
  mt_recs_free(&got);
  sl_flow_destroy(&f);
  wt_check_calls_balanced("periodic empty windows");
}

/* The idle flush, Flow's timing: the pausing source emits 1..10, pauses 0.6 s, emits
 * 11..20; after a boundary, the global window with trigger_periodically(0.05 s, keep) sums
 * them. Flow's stages hand over what they have when asked, so the reducer holds 1..10 during
 * the pause and a periodic trigger shows "sum=55 n=10"; the end shows "done sum=210 n=20".
 * Every text is one of those two states (or "periodically sum=210 n=20"). The reducer is
 * partition 1 of 2 (on rank 1 from 2 ranks on: the batches cross MPI); partition 0 gets
 * nothing and closes its global window empty.
 * Control: with --sl-flush-interval=1h the source's partial batch waits for the end, and no
 * trigger can see the state 55/10. */
static uint64_t to_partition_1(const sl_record *rec, void *arg) {
  (void)rec;
  (void)arg;
  return 1;
}

static void run_idle_flush(const char *interval, int expect_partial) {
  pause_src src = {0, 0.6, 10, 10, 0};
  sl_window w = sl_window_global();
  EXPECT_RC(sl_window_trigger_periodically(&w, 0.05, SL_TRIGGER_KEEP), SL_OK);
  sl_reducer red = wt_sum_reducer();
  EXPECT_RC(sl_option_set(g_ctx, "flush-interval", interval), SL_OK);
  wt_calls_reset();
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_callback(f, pause_source, &src, 1), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 2, to_partition_1, NULL), SL_OK); /* rank 1 from 2 ranks */
  EXPECT_RC(sl_flow_window(f, &w), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(f, wt_tag_reduce, NULL), SL_OK);
  mt_recs got = {0};
  EXPECT_RC(wt_run_gather(f, &got), SL_OK);
  if (g_rank == 0) {
    int bad = 0, partial = 0, done = 0, idle_done = 0;
    for (size_t i = 0; i < got.n; i++) {
      sl_record r = mt_recs_get(&got, i);
      char kind = 0, trig[32] = "";
      long long wid = -1, sum = -1, n = -1;
      int ok = parse_tag(&r, &kind, &wid, trig, &sum, &n) && kind == 'G' && wid == 0;
      int p1 = ok && r.value_len > 5 && !memcmp(r.value, "p1/2 ", 5);
      if (p1 && !strcmp(trig, "periodically") && sum == 55 && n == 10)
        partial++;
      else if (p1 && !strcmp(trig, "done") && sum == 210 && n == 20)
        done++;
      else if (ok && !p1 && !strcmp(trig, "done") && sum == 0 && n == 0)
        idle_done++; /* partition 0 gets nothing: its global window closes empty */
      else if (!(p1 && !strcmp(trig, "periodically") && sum == 210 && n == 20))
        bad++;
    }
    EXPECT_INT(bad, 0);
    EXPECT_INT(done, 1);
    EXPECT_INT(idle_done, 1);
    if (expect_partial)
      EXPECT_TRUE(partial >= 1, "flush-interval %s: no trigger saw the first 10 records alone",
                  interval);
    else
      EXPECT_TRUE(partial == 0, "flush-interval %s: a trigger saw a partial batch", interval);
  }
  mt_recs_free(&got);
  sl_flow_destroy(&f);
  EXPECT_RC(sl_option_set(g_ctx, "flush-interval", "10ms"), SL_OK);
  wt_check_calls_balanced("idle flush");
}

static void test_idle_flush(void) {
  run_idle_flush("10ms", 1); /* the default */
  run_idle_flush("1h", 0);   /* the control */
}

/* ================================================================ departition per window */

/* A reducer whose state is the int64 sum of the values, emitted as one 8-byte record. */
static int i64_init(void **acc, void *arg) {
  (void)arg;
  g_calls.init++;
  *acc = calloc(1, sizeof(int64_t));
  return *acc ? 0 : 1;
}
static int i64_fold(void *acc, const sl_record *in, void *arg) {
  (void)arg;
  if (in->value_len != 8)
    return 7;
  *(int64_t *)acc += mt_i64(in->value);
  return 0;
}
static int i64_emit(void *acc, sl_emitter *out, void *arg) {
  (void)arg;
  return sl_emit(out, NULL, 0, acc, 8);
}
static void i64_destroy(void *acc, void *arg) {
  (void)arg;
  g_calls.destroy++;
  free(acc);
}

/* The departition's accumulator: the total and how many triggers were merged. */
typedef struct dacc {
  int64_t total;
  int merged, done_from;
} dacc;
static int d_init(void **acc, void *arg) {
  (void)arg;
  g_calls.init++;
  *acc = calloc(1, sizeof(dacc));
  return *acc ? 0 : 1;
}
static int d_merge(void *acc, sl_batch *events, const sl_trigger_info *from, void *arg) {
  (void)arg;
  dacc *a = acc;
  sl_record r;
  while (sl_batch_next(events, &r)) {
    if (r.value_len != 8)
      return 5;
    a->total += mt_i64(r.value);
  }
  a->merged++;
  a->done_from += !strcmp(from->trigger, "done");
  return 0;
}
static int d_done(void *acc, const sl_trigger_info *info, sl_emitter *out, void *arg) {
  (void)arg;
  const dacc *a = acc;
  char t[160];
  snprintf(t, sizeof t, "%c w%lld %s total=%lld dones=%d", wt_kind_char(info->window_kind),
           (long long)info->window, info->trigger, (long long)a->total, a->done_from);
  if (info->partition != 0 || info->partitions != 1)
    g_cb_misuse++;
  return wt_emit_text(out, t);
}
static void d_destroy(void *acc, void *arg) {
  (void)arg;
  g_calls.destroy++;
  free(acc);
}

/* Flow's documented example of departition:
 *   Flow.from_enumerable(1..100) |> Flow.partition(stages: 4)
 *   |> Flow.reduce(fn -> 0 end, &(&1 + &2)) |> Flow.departition(fn -> 0 end, &(&1 + &2), & &1)
 * gives [5050]: the four partitions' sums merged once the global window is done in all four
 * (each sends "done", empty or not: dones=4).
 * Per window: the times 0..99 in fixed(25) windows summed over 3 partitions, merged per
 * window: w0 = 0+..+24 = 300, w25 = 925, w50 = 1550, w75 = 2175, each emitted once.
 *   (a) routed by value mod 3: every partition has records in every window and closes it:
 *       each window is emitted when its third "done" arrives (dones=3);
 *   (b) routed by the (empty) key: one partition gets everything, the two others never hear
 *       of a window: each window is emitted at the end of the input (Flow flushes such
 *       leftovers at its own "done"), with the one partition's "done" (dones=1). */
static int time_of_value(const sl_record *rec, int64_t *t, void *arg) {
  (void)arg;
  if (rec->value_len != 8)
    return 1;
  *t = mt_i64(rec->value);
  return 0;
}
static uint64_t by_value_mod(const sl_record *rec, void *arg) {
  (void)arg;
  return rec->value_len == 8 ? (uint64_t)mt_i64(rec->value) : 0;
}

static void test_departition_window(void) {
  sl_reducer red = {i64_init, i64_fold, i64_emit, i64_destroy, NULL};
  sl_departition dep = {d_init, d_merge, d_done, d_destroy, NULL};
  wt_calls_reset();
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 1, 101, 0), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 4, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  EXPECT_RC(sl_flow_departition_window(f, &dep), SL_OK);
  static const char *const exp1[] = {"G w0 done total=5050 dones=4", NULL};
  wt_run_expect(f, exp1, "departition_window, global window (Flow's example)");
  sl_flow_destroy(&f);

  sl_window w = sl_window_fixed(25, time_of_value, NULL);
  for (int v = 0; v < 2; v++) {
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_range(f, 0, 100, 2), SL_OK);
    EXPECT_RC(sl_flow_partition(f, 3, v == 0 ? by_value_mod : NULL, NULL), SL_OK);
    EXPECT_RC(sl_flow_window(f, &w), SL_OK);
    EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
    EXPECT_RC(sl_flow_departition_window(f, &dep), SL_OK);
    static const char *const exp_a[] = {
        "F w0 done total=300 dones=3", "F w25 done total=925 dones=3",
        "F w50 done total=1550 dones=3", "F w75 done total=2175 dones=3", NULL};
    static const char *const exp_b[] = {
        "F w0 done total=300 dones=1", "F w25 done total=925 dones=1",
        "F w50 done total=1550 dones=1", "F w75 done total=2175 dones=1", NULL};
    wt_run_expect(f, v == 0 ? exp_a : exp_b,
                  v == 0 ? "departition_window, fixed(25), 3 partitions by value"
                         : "departition_window, fixed(25), all in one partition");
    sl_flow_destroy(&f);
  }
  wt_check_calls_balanced("departition_window");
}

/* Refused, each with SL_ERR_STATE or SL_ERR_INVAL at build time: departition_window on a
 * stage without a reducer at its end, with a NULL merge, after an on_trigger (whose output
 * would bypass the merge), and after emit_and_reduce (it emits outside its triggers). */
static int emit_each(void *acc, const sl_record *in, sl_emitter *out, void *arg) {
  (void)acc;
  (void)arg;
  return sl_emit(out, NULL, 0, in->value, in->value_len);
}

static void test_departition_window_bad_usage(void) {
  sl_reducer red = {i64_init, i64_fold, i64_emit, i64_destroy, NULL};
  sl_departition dep = {d_init, d_merge, d_done, d_destroy, NULL};
  sl_departition nomerge = {d_init, NULL, d_done, d_destroy, NULL};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  int rc = sl_flow_departition_window(f, &dep);
  EXPECT_TRUE(rc == SL_ERR_STATE, "without a reducer: %d", rc);
  sl_flow_destroy(&f);

  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  rc = sl_flow_departition_window(f, &nomerge);
  EXPECT_TRUE(rc == SL_ERR_INVAL, "NULL merge: %d", rc);
  sl_flow_destroy(&f);

  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(f, wt_tag_reduce, NULL), SL_OK);
  rc = sl_flow_departition_window(f, &dep);
  EXPECT_TRUE(rc == SL_ERR_STATE, "after on_trigger: %d", rc);
  sl_flow_destroy(&f);

  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  EXPECT_RC(sl_flow_emit_and_reduce(f, &red, emit_each), SL_OK);
  rc = sl_flow_departition_window(f, &dep);
  EXPECT_TRUE(rc == SL_ERR_STATE, "after emit_and_reduce: %d", rc);
  sl_flow_destroy(&f);
}

/* ================================================================ documented orders */

/* Flow's example of group_by_key: [foo: 1, foo: 2, bar: 3, foo: 4, bar: 5] in one stage gives
 * %{foo: [4, 2, 1], bar: [5, 3]} (newest first). sluice keeps arrival order (documented in
 * docs/flow-mapping.md): foo 1 2 4, bar 3 5. Values are [u32 len][int64] repeated. */
static void test_group_by_key_order(void) {
  static const char *const k[] = {"foo", "foo", "bar", "foo", "bar"};
  static const int64_t v[] = {1, 2, 3, 4, 5};
  wt_arr a;
  wt_arr_i64(&a, k, v, 5);
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
  EXPECT_RC(sl_flow_group_by_key(f), SL_OK);
  mt_recs got = {0};
  EXPECT_RC(wt_run_gather(f, &got), SL_OK);
  if (g_rank == 0) {
    int ok_foo = 0, ok_bar = 0;
    EXPECT_INT(got.n, 2);
    for (size_t i = 0; i < got.n; i++) {
      sl_record r = mt_recs_get(&got, i);
      char list[64] = "";
      size_t used = 0;
      for (size_t pos = 0; pos + 12 <= r.value_len; pos += 12) {
        uint32_t len;
        memcpy(&len, (const char *)r.value + pos, 4);
        int n = snprintf(list + used, sizeof list - used, "%s%lld", used ? " " : "",
                         (long long)mt_i64((const char *)r.value + pos + 4));
        used += n > 0 ? (size_t)n : 0;
        if (len != 8)
          used = 0;
      }
      if (r.key_len == 3 && !memcmp(r.key, "foo", 3))
        ok_foo = !strcmp(list, "1 2 4");
      if (r.key_len == 3 && !memcmp(r.key, "bar", 3))
        ok_bar = !strcmp(list, "3 5");
    }
    EXPECT_TRUE(ok_foo && ok_bar, "group_by_key: values not in arrival order (foo %d, bar %d)",
                ok_foo, ok_bar);
  }
  mt_recs_free(&got);
  sl_flow_destroy(&f);
}

/* Flow's example of uniq_by: 1..100 in one partition, uniq_by(&rem(&1, 2)) gives [1, 2] (the
 * first odd and the first even number); sluice passes the same survivors on at once. */
static int by_parity(const sl_record *in, sl_record *key_out, void *arg) {
  static _Thread_local int64_t parity;
  (void)arg;
  if (in->value_len != 8)
    return 1;
  parity = mt_i64(in->value) % 2;
  key_out->key = &parity;
  key_out->key_len = sizeof parity;
  key_out->value = NULL;
  key_out->value_len = 0;
  return 0;
}

static void test_uniq_by_order(void) {
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 1, 101, 1), SL_OK); /* one producer, as from_enumerable */
  EXPECT_RC(sl_flow_departition(f), SL_OK);
  EXPECT_RC(sl_flow_uniq_by(f, by_parity, NULL), SL_OK);
  mt_recs got = {0};
  EXPECT_RC(wt_run_gather(f, &got), SL_OK);
  if (g_rank == 0) {
    EXPECT_INT(got.n, 2);
    if (got.n == 2) {
      sl_record r0 = mt_recs_get(&got, 0), r1 = mt_recs_get(&got, 1);
      int64_t a0 = wt_val(&r0), a1 = wt_val(&r1);
      EXPECT_TRUE((a0 == 1 && a1 == 2) || (a0 == 2 && a1 == 1), "uniq_by parity: %lld and %lld",
                  (long long)a0, (long long)a1);
    }
  }
  mt_recs_free(&got);
  sl_flow_destroy(&f);
}

static const mt_test tests[] = {
    {"fixed_empty_windows", test_fixed_empty_windows},
    {"fixed_empty_after_boundary", test_fixed_empty_after_boundary},
    {"fixed_empty_senders_out_of_order", test_fixed_empty_senders_out_of_order},
    {"lateness_end_done_only", test_lateness_end_done_only},
    {"empty_window_limit", test_empty_window_limit},
    {"periodic_empty_windows", test_periodic_empty_windows},
    {"idle_flush", test_idle_flush},
    {"departition_window", test_departition_window},
    {"departition_window_bad_usage", test_departition_window_bad_usage},
    {"group_by_key_order", test_group_by_key_order},
    {"uniq_by_order", test_uniq_by_order},
    {NULL, NULL},
};

int main(int argc, char **argv) {
  return mt_main(argc, argv, "flow_semantics", tests);
}
