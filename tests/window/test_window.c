/* SPDX-License-Identifier: BSD-3-Clause */
/* MPI tests of windows and triggers (Flow.Window): count, fixed (event time, watermark,
 * late records, allowed lateness) and periodic windows; trigger_every (keep / reset),
 * custom triggers (fire after / before, reset flag, per-window state), periodic triggers;
 * sl_flow_on_trigger for the user reducer and the built-in ones; the emit modes applied per
 * trigger; sl_flow_emit_and_reduce; the late_dropped / triggers statistics; bad usage.
 * Run at 1, 2 and 4 ranks.
 *
 * Inputs are small arrays (sl_flow_from_array: partition p of P takes records
 * [n*p/P, n*(p+1)/P)) with an explicit partition count, so that what each partition's
 * reducer sees is known and independent of the number of ranks. Every expected output is
 * worked out by hand in the comment above it; outputs are compared as multisets of text
 * records ("p<i>/<P> <window kind> w<id> <trigger> ...", see win_test.h), gathered on rank 0.
 * Processing-time windows and triggers (periodic) only have their invariants checked.
 *
 * Rules (a test that breaks them can hang): every rank makes the same collective calls in
 * the same order; no assertion returns early. */
#include "win_test.h"

#include <time.h>

/* vals 1..n as int64, empty keys */
static void arr_1_to_n(wt_arr *a, int64_t n) {
  int64_t v[WT_MAX];
  for (int64_t i = 0; i < n && i < WT_MAX; i++)
    v[i] = i + 1;
  wt_arr_i64(a, NULL, v, (size_t)n);
}

/* ================================================================ count windows */

/* Count window of 2 on a user reduce, in the source stage.
 * (a) vals 1..10, 2 partitions: p0 sees 1,2,3,4,5 and p1 sees 6,7,8,9,10.
 *     p0: window 0 = {1,2} (sum 3), window 1 = {3,4} (7), window 2 = {5} (5, closed by
 *     the end of input); p1: {6,7} = 13, {8,9} = 17, {10} = 10. 6 triggers, all "done".
 * (b) vals 1..12, 3 partitions of 4: each partition fills windows 0 and 1 and the end of
 *     input closes an EMPTY window 2 (sum 0, n 0): p0 {1,2}=3 {3,4}=7 {}; p1 {5,6}=11
 *     {7,8}=15 {}; p2 {9,10}=19 {11,12}=23 {}. 9 triggers. */
static void test_count_window_reduce(void) {
  wt_arr a;
  sl_window w = sl_window_count(2);
  EXPECT_INT(w.kind, SL_WINDOW_COUNT);
  EXPECT_INT(w.count, 2);
  uint64_t late = 99, trig = 0;

  wt_calls_reset();
  arr_1_to_n(&a, 10);
  sl_flow *f = wt_sum_flow(&a, 2, &w, 1);
  static const char *const exp_a[] = {"p0/2 C w0 done sum=3 n=2",
                                      "p0/2 C w1 done sum=7 n=2",
                                      "p0/2 C w2 done sum=5 n=1",
                                      "p1/2 C w0 done sum=13 n=2",
                                      "p1/2 C w1 done sum=17 n=2",
                                      "p1/2 C w2 done sum=10 n=1",
                                      NULL};
  wt_run_expect(f, exp_a, "count(2), 10 records, 2 partitions");
  wt_stats_sum(f, &late, &trig);
  EXPECT_U64(trig, 6);
  EXPECT_U64(late, 0);
  EXPECT_U64(mt_sum_u64(g_calls.fold), 10);
  sl_flow_destroy(&f);
  wt_check_calls_balanced("count(2) a");

  wt_calls_reset();
  arr_1_to_n(&a, 12);
  f = wt_sum_flow(&a, 3, &w, 1);
  static const char *const exp_b[] = {"p0/3 C w0 done sum=3 n=2",  "p0/3 C w1 done sum=7 n=2",
                                      "p0/3 C w2 done sum=0 n=0",  "p1/3 C w0 done sum=11 n=2",
                                      "p1/3 C w1 done sum=15 n=2", "p1/3 C w2 done sum=0 n=0",
                                      "p2/3 C w0 done sum=19 n=2", "p2/3 C w1 done sum=23 n=2",
                                      "p2/3 C w2 done sum=0 n=0",  NULL};
  wt_run_expect(f, exp_b, "count(2), 12 records, 3 partitions (empty last windows)");
  wt_stats_sum(f, &late, &trig);
  EXPECT_U64(trig, 9);
  sl_flow_destroy(&f);
  wt_check_calls_balanced("count(2) b");
}

/* The emit mode applies at every trigger when there is no on_trigger. vals 1..5, one
 * partition, count(2): windows {1,2}, {3,4}, {5}.
 *   EVENTS (default): the reducer's emit at each trigger: "sum=3 n=2", "sum=7 n=2",
 *                     "sum=5 n=1".
 *   STATE: one record per trigger, its events encoded [u32 klen][u32 vlen][key][value]:
 *          3 records, each holding exactly one of the three texts above.
 *   NOTHING: no record at all, though all 5 records were folded. */
static void test_count_window_emit_modes(void) {
  wt_arr a;
  arr_1_to_n(&a, 5);
  sl_window w = sl_window_count(2);
  static const char *const texts[] = {"sum=3 n=2", "sum=7 n=2", "sum=5 n=1", NULL};

  wt_calls_reset();
  sl_flow *f = wt_sum_flow(&a, 1, &w, 0);
  wt_run_expect(f, texts, "count(2) emit EVENTS");
  EXPECT_U64(mt_sum_u64(g_calls.emit), 3);
  sl_flow_destroy(&f);
  wt_check_calls_balanced("emit EVENTS");

  wt_calls_reset();
  f = wt_sum_flow(&a, 1, &w, 0);
  EXPECT_RC(sl_flow_emit(f, SL_EMIT_STATE), SL_OK);
  mt_recs got = {0}, events = {0}, exp = {0};
  EXPECT_RC(wt_run_gather(f, &got), SL_OK);
  if (g_rank == 0) {
    EXPECT_U64(got.n, 3);
    for (size_t i = 0; i < got.n; i++) {
      sl_record r = mt_recs_get(&got, i);
      const char *p = r.value;
      size_t pos = 0, nev = 0;
      while (pos + 8 <= r.value_len) {
        uint32_t kl, vl;
        memcpy(&kl, p + pos, 4);
        memcpy(&vl, p + pos + 4, 4);
        if (r.value_len - pos - 8 < (size_t)kl + vl)
          break;
        mt_recs_add(&events, p + pos + 8, kl, p + pos + 8 + kl, vl);
        pos += 8 + (size_t)kl + vl;
        nev++;
      }
      EXPECT_TRUE(pos == r.value_len && nev == 1, "STATE record %zu: %zu events, %zu of %zu bytes",
                  i, nev, pos, r.value_len);
    }
  }
  wt_expect(&exp, texts);
  WT_CHECK(&events, &exp, "count(2) emit STATE, decoded");
  mt_recs_free(&got);
  mt_recs_free(&events);
  mt_recs_free(&exp);
  sl_flow_destroy(&f);
  wt_check_calls_balanced("emit STATE");

  wt_calls_reset();
  f = wt_sum_flow(&a, 1, &w, 0);
  EXPECT_RC(sl_flow_emit(f, SL_EMIT_NOTHING), SL_OK);
  static const char *const none[] = {NULL};
  wt_run_expect(f, none, "count(2) emit NOTHING");
  EXPECT_U64(mt_sum_u64(g_calls.fold), 5);
  sl_flow_destroy(&f);
  wt_check_calls_balanced("emit NOTHING");
}

/* Count windows on the built-in reducers (source stage, no partition boundary).
 * (a) reduce_by_key COUNT, count(3), one partition, keys a b a | c a b | b a:
 *     window 0 {a,b,a}: a=2 b=1; window 1 {c,a,b}: a=1 b=1 c=1; window 2 {b,a} (closed by
 *     the end of input): a=1 b=1.
 *     With on_trigger: one tagged text per event, all "done".
 *     Without: the raw (key, uint64 count) events of all windows: (a,2) (b,1) (a,1) (b,1)
 *     (c,1) (a,1) (b,1).
 * (b) group_by_key, count(2), 2 partitions of 4 records (key, int64 value):
 *     p0: (x,1) (y,2) | (x,3) (x,4)   p1: (y,5) (y,6) | (x,7) (z,8)
 *     p0: w0 x=[1] y=[2]; w1 x=[3,4] (n 2, sum 7); w2 empty (no events).
 *     p1: w0 y=[5,6] (n 2, sum 11); w1 x=[7] z=[8]; w2 empty. */
static void test_count_window_builtin(void) {
  static const char *const keys[] = {"a", "b", "a", "c", "a", "b", "b", "a"};
  static const int64_t ones[] = {1, 1, 1, 1, 1, 1, 1, 1};
  wt_arr a;
  wt_arr_i64(&a, keys, ones, 8);
  sl_window w = sl_window_count(3);
  sl_aggregator cnt = sl_aggregator_builtin(SL_AGG_COUNT);
  wt_tag_opts tc = {WT_EV_COUNT, 1};

  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
  EXPECT_RC(sl_flow_reduce_by_key(f, &cnt), SL_OK);
  EXPECT_RC(sl_flow_window(f, &w), SL_OK); /* after the reducer: still applies to it */
  EXPECT_RC(sl_flow_on_trigger(f, wt_tag_events, &tc), SL_OK);
  static const char *const exp_a[] = {
      "p0/1 C w0 done key=a count=2", "p0/1 C w0 done key=b count=1",
      "p0/1 C w1 done key=a count=1", "p0/1 C w1 done key=b count=1",
      "p0/1 C w1 done key=c count=1", "p0/1 C w2 done key=a count=1",
      "p0/1 C w2 done key=b count=1", NULL};
  wt_run_expect(f, exp_a, "reduce_by_key(COUNT) count(3) on_trigger");
  sl_flow_destroy(&f);

  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
  EXPECT_RC(sl_flow_window(f, &w), SL_OK);
  EXPECT_RC(sl_flow_reduce_by_key(f, &cnt), SL_OK);
  mt_recs got = {0}, exp = {0};
  EXPECT_RC(wt_run_gather(f, &got), SL_OK);
  {
    static const char *const ek[] = {"a", "b", "a", "b", "c", "a", "b"};
    static const uint64_t ec[] = {2, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < 7; i++)
      mt_recs_add(&exp, ek[i], 1, &ec[i], 8);
  }
  WT_CHECK(&got, &exp, "reduce_by_key(COUNT) count(3), default emission");
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_flow_destroy(&f);

  static const char *const gk[] = {"x", "y", "x", "x", "y", "y", "x", "z"};
  static const int64_t gv[] = {1, 2, 3, 4, 5, 6, 7, 8};
  wt_arr g;
  wt_arr_i64(&g, gk, gv, 8);
  sl_window w2 = sl_window_count(2);
  wt_tag_opts tg = {WT_EV_GROUP, 1};
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, g.r, g.n, 2), SL_OK);
  EXPECT_RC(sl_flow_window(f, &w2), SL_OK);
  EXPECT_RC(sl_flow_group_by_key(f), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(f, wt_tag_events, &tg), SL_OK);
  static const char *const exp_g[] = {"p0/2 C w0 done key=x n=1 sum=1",
                                      "p0/2 C w0 done key=y n=1 sum=2",
                                      "p0/2 C w1 done key=x n=2 sum=7",
                                      "p1/2 C w0 done key=y n=2 sum=11",
                                      "p1/2 C w1 done key=x n=1 sum=7",
                                      "p1/2 C w1 done key=z n=1 sum=8",
                                      NULL};
  wt_run_expect(f, exp_g, "group_by_key count(2) on_trigger");
  sl_flow_destroy(&f);
  EXPECT_U64(mt_sum_u64(g_cb_misuse), 0);
  g_cb_misuse = 0;
}

/* A count window counts the records that reach the reducer, also after a key-hash
 * partition (where reduce_by_key with an aggregator that has merge may otherwise combine
 * map-side): one source partition sends 8 records of key "a" to partition(2); the
 * partition owning "a" sees 8 records: count(3) windows {3} {3} {2}: "C w0 done key=a
 * count=3", "C w1 ... count=3", "C w2 ... count=2" (the other partition sees nothing and
 * its empty window has no events). A map-side combiner that ignored the window would send
 * one (a, 8) instead. */
static void test_count_window_after_partition(void) {
  static const char *const keys[] = {"a", "a", "a", "a", "a", "a", "a", "a"};
  static const int64_t ones[] = {1, 1, 1, 1, 1, 1, 1, 1};
  wt_arr a;
  wt_arr_i64(&a, keys, ones, 8);
  sl_window w = sl_window_count(3);
  sl_aggregator cnt = sl_aggregator_builtin(SL_AGG_COUNT);
  wt_tag_opts tc = {WT_EV_COUNT, 0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 2, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_reduce_by_key(f, &cnt), SL_OK);
  EXPECT_RC(sl_flow_window(f, &w), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(f, wt_tag_events, &tc), SL_OK);
  static const char *const exp[] = {"C w0 done key=a count=3", "C w1 done key=a count=3",
                                    "C w2 done key=a count=2", NULL};
  wt_run_expect(f, exp, "reduce_by_key(COUNT) count(3) after partition(2)");
  sl_flow_destroy(&f);
  EXPECT_U64(mt_sum_u64(g_cb_misuse), 0);
  g_cb_misuse = 0;
}

/* ================================================================ fixed windows */

/* Fixed windows of 10 in the source stage: the watermark is the partition's own latest
 * event time (= the value), so the output follows from each partition's record order.
 * 16 records, 2 partitions of 8.
 * p0: 1 3 5 10 7 14 25 11
 *   1,3,5 -> window 0; 10 -> watermark 10 >= 0+10: window 0 done {1,3,5} (sum 9 n 3),
 *   10 opens window 10; 7 belongs to the closed window 0: LATE; 14 -> window 10;
 *   25 -> watermark 25 >= 20: window 10 done {10,14} (24, 2), 25 opens window 20;
 *   11: window 10 closed: LATE; end of input: window 20 done {25} (25, 1).
 * p1: -3 2 9 19 4 21 29 30
 *   -3 -> window floor(-3/10)*10 = -10; 2 -> watermark 2 >= 0: window -10 done {-3};
 *   9 -> window 0 {2,9}; 19 -> watermark 19 >= 10: window 0 done {2,9} (11, 2);
 *   4: LATE; 21 -> watermark 21 >= 20: window 10 done {19}; 29 -> window 20 {21,29};
 *   30 -> watermark 30: window 20 done {21,29} (50, 2); end: window 30 done {30}.
 * late_dropped: 3 (7, 11, 4); triggers: 3 + 5 = 8. */
static void test_fixed_window_source(void) {
  static const int64_t t[] = {1, 3, 5, 10, 7, 14, 25, 11, -3, 2, 9, 19, 4, 21, 29, 30};
  wt_arr a;
  wt_arr_i64(&a, NULL, t, 16);
  sl_window w = sl_window_fixed(10, wt_time_of_value, NULL);
  EXPECT_INT(w.kind, SL_WINDOW_FIXED);
  EXPECT_INT(w.duration, 10);
  wt_calls_reset();
  sl_flow *f = wt_sum_flow(&a, 2, &w, 1);
  static const char *const exp[] = {
      "p0/2 F w0 done sum=9 n=3",    "p0/2 F w10 done sum=24 n=2", "p0/2 F w20 done sum=25 n=1",
      "p1/2 F w-10 done sum=-3 n=1", "p1/2 F w0 done sum=11 n=2",  "p1/2 F w10 done sum=19 n=1",
      "p1/2 F w20 done sum=50 n=2",  "p1/2 F w30 done sum=30 n=1", NULL};
  wt_run_expect(f, exp, "fixed(10) in the source stage, with late records");
  uint64_t late = 0, trig = 0;
  wt_stats_sum(f, &late, &trig);
  EXPECT_U64(late, 3);
  EXPECT_U64(trig, 8);
  EXPECT_U64(mt_sum_u64(g_calls.fold), 13); /* 16 records, 3 dropped before the fold */
  sl_flow_destroy(&f);
  wt_check_calls_balanced("fixed source");
}

/* Allowed lateness 5 on fixed windows of 10, one partition (source stage), times:
 *   2 4 11 7 13 16 8 21 17 26 3
 *   2, 4 -> window 0 {2,4}
 *   11 -> watermark 11 >= 10: window 0 fires "watermark" (sum 6 n 2) and is kept;
 *         11 -> window 10
 *   7  -> window 0, watermark 11 < 10+5: still accepted: window 0 {2,4,7}
 *   13 -> window 10 {11,13}
 *   16 -> watermark 16 >= 15: window 0 "done" {2,4,7} (13, 3); window 10 {11,13,16}
 *   8  -> window 0 is done: LATE
 *   21 -> watermark 21 >= 20: window 10 "watermark" {11,13,16} (40, 3); window 20 {21}
 *   17 -> window 10 still open (21 < 25): {11,13,16,17}
 *   26 -> watermark 26 >= 25: window 10 "done" (57, 4); window 20 {21,26}
 *   3  -> LATE
 *   end of input: window 20 "done" {21,26} (47, 2), without a "watermark" first (Flow fires
 *   "done" only for the windows still open at the end).
 * late_dropped 2. */
static void test_fixed_allowed_lateness(void) {
  static const int64_t t[] = {2, 4, 11, 7, 13, 16, 8, 21, 17, 26, 3};
  wt_arr a;
  wt_arr_i64(&a, NULL, t, 11);
  sl_window w = sl_window_fixed(10, wt_time_of_value, NULL);
  EXPECT_RC(sl_window_allowed_lateness(&w, 5), SL_OK);
  EXPECT_INT(w.lateness, 5);
  wt_calls_reset();
  sl_flow *f = wt_sum_flow(&a, 1, &w, 1);
  mt_recs got = {0}, exp = {0};
  EXPECT_RC(wt_run_gather(f, &got), SL_OK);
  static const char *const e[] = {"p0/1 F w0 watermark sum=6 n=2",   "p0/1 F w0 done sum=13 n=3",
                                  "p0/1 F w10 watermark sum=40 n=3", "p0/1 F w10 done sum=57 n=4",
                                  "p0/1 F w20 done sum=47 n=2",      NULL};
  wt_expect(&exp, e);
  WT_CHECK(&got, &exp, "fixed(10) allowed_lateness(5)");
  uint64_t late = 0, trig = 0;
  wt_stats_sum(f, &late, &trig);
  EXPECT_U64(late, 2);
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_flow_destroy(&f);
  wt_check_calls_balanced("allowed lateness");
}

/* Fixed windows of 10 after a partition boundary fed by ONE upstream partition whose
 * records are in time order, so no record can be late and every window's content is known
 * whatever the batching: (key, time = value)
 *   (a,1) (b,2) (a,5) (c,9) | (b,10) (a,12) (a,19) | (c,20) (b,21) | (c,35) (a,36)
 * reduce_by_key SUM_I64 of the times (an aggregator with merge: if a map-side combiner
 * runs it must keep windows apart), on_trigger tags without the partition (chosen by the
 * key hash):
 *   window 0: a=1+5=6, b=2, c=9;  window 10: b=10, a=12+19=31;  window 20: c=20, b=21;
 *   window 30: c=35, a=36.  All "done"; late_dropped 0.
 * Same through a departition (one partition on rank 0) instead of partition(3). */
static void test_fixed_window_after_boundary(void) {
  static const char *const k[] = {"a", "b", "a", "c", "b", "a", "a", "c", "b", "c", "a"};
  static const int64_t t[] = {1, 2, 5, 9, 10, 12, 19, 20, 21, 35, 36};
  wt_arr a;
  wt_arr_i64(&a, k, t, 11);
  sl_window w = sl_window_fixed(10, wt_time_of_value, NULL);
  sl_aggregator sum = sl_aggregator_builtin(SL_AGG_SUM_I64);
  wt_tag_opts ts = {WT_EV_SUM, 0};
  static const char *const exp[] = {"F w0 done key=a sum=6",   "F w0 done key=b sum=2",
                                    "F w0 done key=c sum=9",   "F w10 done key=b sum=10",
                                    "F w10 done key=a sum=31", "F w20 done key=c sum=20",
                                    "F w20 done key=b sum=21", "F w30 done key=c sum=35",
                                    "F w30 done key=a sum=36", NULL};
  for (int v = 0; v < 2; v++) {
    sl_flow *f = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
    if (v == 0)
      EXPECT_RC(sl_flow_partition(f, 3, NULL, NULL), SL_OK);
    else
      EXPECT_RC(sl_flow_departition(f), SL_OK);
    EXPECT_RC(sl_flow_reduce_by_key(f, &sum), SL_OK);
    EXPECT_RC(sl_flow_window(f, &w), SL_OK);
    EXPECT_RC(sl_flow_on_trigger(f, wt_tag_events, &ts), SL_OK);
    wt_run_expect(f, exp, v == 0 ? "fixed(10) after partition(3)" : "fixed(10) after departition");
    uint64_t late = 9, trig = 0;
    wt_stats_sum(f, &late, &trig);
    EXPECT_U64(late, 0);
    sl_flow_destroy(&f);
  }
  EXPECT_U64(mt_sum_u64(g_cb_misuse), 0);
  g_cb_misuse = 0;
}

/* Fixed windows of 10 after a partition boundary fed by 4 source partitions, each in time
 * order, sharing ranks when there are fewer than 4: a window closes only when every
 * upstream partition has passed it, so the result is exact at any rank count. 40 records of key
 * "k"; record i is row j = i%10 of partition p = i/10 (10 each) and has time 3*j + p, so partition
 * p sends the times p, 3+p, ..., 27+p in order. Oracle counts per window: window 0  (< 10): p0
 * 0,3,6,9 (4); p1 1,4,7 (3); p2 2,5,8 (3); p3 3,6,9 (3)     = 13 window 10:        p0 12,15,18 (3);
 * p1 10,13,16,19 (4); p2 11,14,17 (3); p3 12,15,18 (3) = 13 window 20:        p0 21,24,27 (3); p1
 * 22,25,28 (3); p2 20,23,26,29 (4); p3 21,24,27 (3) = 13 window 30:        p3 30 (1) Expected:
 * exactly these counts, no record late, every text a "done" of these windows. */
static int64_t g_bd_times[40];
static int bd_time(const sl_record *rec, int64_t *t, void *arg) {
  (void)arg;
  int64_t i = rec->value_len == 8 ? mt_i64(rec->value) : -1;
  if (i < 0 || i >= 40)
    return 1;
  *t = g_bd_times[i];
  return 0;
}
static void test_fixed_window_many_senders(void) {
  static const char *const keys[40] = {"k", "k", "k", "k", "k", "k", "k", "k", "k", "k",
                                       "k", "k", "k", "k", "k", "k", "k", "k", "k", "k",
                                       "k", "k", "k", "k", "k", "k", "k", "k", "k", "k",
                                       "k", "k", "k", "k", "k", "k", "k", "k", "k", "k"};
  int64_t idx[40];
  for (int i = 0; i < 40; i++) {
    idx[i] = i; /* the value is the row; its time is g_bd_times[row] */
    g_bd_times[i] = 3 * (i % 10) + i / 10;
  }
  wt_arr a;
  wt_arr_i64(&a, keys, idx, 40);
  sl_window w = sl_window_fixed(10, bd_time, NULL);
  sl_aggregator cnt = sl_aggregator_builtin(SL_AGG_COUNT);
  wt_tag_opts tc = {WT_EV_COUNT, 0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 4), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 2, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_window(f, &w), SL_OK);
  EXPECT_RC(sl_flow_reduce_by_key(f, &cnt), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(f, wt_tag_events, &tc), SL_OK);
  mt_recs got = {0};
  EXPECT_RC(wt_run_gather(f, &got), SL_OK);
  uint64_t late = 0, trig = 0;
  wt_stats_sum(f, &late, &trig);
  if (g_rank == 0) {
    uint64_t per[4] = {0, 0, 0, 0}, total = 0;
    const uint64_t oracle[4] = {13, 13, 13, 1};
    int bad = 0;
    for (size_t i = 0; i < got.n; i++) {
      sl_record r = mt_recs_get(&got, i);
      char s[160];
      long long wid = -1;
      unsigned long long c = 0;
      snprintf(s, sizeof s, "%.*s", (int)r.value_len, (const char *)r.value);
      if (sscanf(s, "F w%lld done key=k count=%llu", &wid, &c) != 2 ||
          (wid != 0 && wid != 10 && wid != 20 && wid != 30)) {
        bad++;
        MT_LOC();
        fprintf(stderr, "unexpected text '%s'\n", s);
        continue;
      }
      per[wid / 10] += c;
      total += c;
    }
    EXPECT_INT(bad, 0);
    /* Every source partition is in time order and the watermark is the minimum over the
     * upstream partitions (a rank's header carries the oldest of its partitions' latest
     * times, lowered to the oldest record it still buffers), so no record is late and
     * every window is complete, whatever the number of ranks. */
    for (int k = 0; k < 4; k++)
      EXPECT_U64(per[k], oracle[k]);
    EXPECT_U64(late, 0);
    EXPECT_U64(total, 40);
    if (getenv("WT_VERBOSE"))
      fprintf(stderr, "many senders: %llu late\n", (unsigned long long)late);
  }
  mt_recs_free(&got);
  sl_flow_destroy(&f);
}

/* ================================================================ triggers */

/* trigger_every(3) on the global window, vals 1..7, one partition, user reduce, default
 * emission (the reducer's emit at each trigger):
 *   KEEP:  after 3: {1,2,3} "sum=6 n=3"; after 6: {1..6} "sum=21 n=6"; done: {1..7}
 *          "sum=28 n=7".
 *   RESET: after 3: "sum=6 n=3"; after 6: {4,5,6} "sum=15 n=3"; done: {7} "sum=7 n=1".
 * 3 triggers each. */
static void test_trigger_every_reduce(void) {
  wt_arr a;
  arr_1_to_n(&a, 7);
  for (int reset = 0; reset < 2; reset++) {
    sl_window w = sl_window_global();
    EXPECT_RC(sl_window_trigger_every(&w, 3, reset ? SL_TRIGGER_RESET : SL_TRIGGER_KEEP), SL_OK);
    wt_calls_reset();
    sl_flow *f = wt_sum_flow(&a, 1, &w, 0);
    static const char *const keep[] = {"sum=6 n=3", "sum=21 n=6", "sum=28 n=7", NULL};
    static const char *const rst[] = {"sum=6 n=3", "sum=15 n=3", "sum=7 n=1", NULL};
    wt_run_expect(f, reset ? rst : keep, reset ? "every(3, RESET)" : "every(3, KEEP)");
    uint64_t late, trig = 0;
    wt_stats_sum(f, &late, &trig);
    EXPECT_U64(trig, 3);
    sl_flow_destroy(&f);
    wt_check_calls_balanced("every reduce");
  }
}

/* trigger_every(2) on reduce_by_key COUNT with on_trigger (names checked), keys
 * a a b a b, one partition, global window:
 *   RESET: after {a,a}: "every" a=2; after {b,a}: "every" a=1 b=1; done: {b}: b=1.
 *   KEEP:  "every" a=2; "every" a=3 b=1; "done" a=3 b=2. */
static void test_trigger_every_builtin(void) {
  static const char *const keys[] = {"a", "a", "b", "a", "b"};
  static const int64_t ones[] = {1, 1, 1, 1, 1};
  wt_arr a;
  wt_arr_i64(&a, keys, ones, 5);
  sl_aggregator cnt = sl_aggregator_builtin(SL_AGG_COUNT);
  wt_tag_opts tc = {WT_EV_COUNT, 1};
  static const char *const rst[] = {
      "p0/1 G w0 every key=a count=2", "p0/1 G w0 every key=a count=1",
      "p0/1 G w0 every key=b count=1", "p0/1 G w0 done key=b count=1", NULL};
  static const char *const keep[] = {
      "p0/1 G w0 every key=a count=2", "p0/1 G w0 every key=a count=3",
      "p0/1 G w0 every key=b count=1", "p0/1 G w0 done key=a count=3",
      "p0/1 G w0 done key=b count=2",  NULL};
  for (int reset = 0; reset < 2; reset++) {
    sl_window w = sl_window_global();
    EXPECT_RC(sl_window_trigger_every(&w, 2, reset ? SL_TRIGGER_RESET : SL_TRIGGER_KEEP), SL_OK);
    sl_flow *f = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
    EXPECT_RC(sl_flow_window(f, &w), SL_OK);
    EXPECT_RC(sl_flow_reduce_by_key(f, &cnt), SL_OK);
    EXPECT_RC(sl_flow_on_trigger(f, wt_tag_events, &tc), SL_OK);
    wt_run_expect(f, reset ? rst : keep,
                  reset ? "reduce_by_key every(2, RESET)" : "reduce_by_key every(2, KEEP)");
    sl_flow_destroy(&f);
  }
  EXPECT_U64(mt_sum_u64(g_cb_misuse), 0);
  g_cb_misuse = 0;
}

/* count(5) + trigger_every(2, RESET), vals 1..7, one partition, default emission:
 *   window 0 (1..5): every {1,2} "sum=3 n=2", every {3,4} "sum=7 n=2", then the 5th record
 *   closes the window: done {5} "sum=5 n=1";
 *   window 1 (6,7): every {6,7} "sum=13 n=2", end of input: done {} "sum=0 n=0".
 * 5 triggers. */
static void test_count_window_with_every(void) {
  wt_arr a;
  arr_1_to_n(&a, 7);
  sl_window w = sl_window_count(5);
  EXPECT_RC(sl_window_trigger_every(&w, 2, SL_TRIGGER_RESET), SL_OK);
  wt_calls_reset();
  sl_flow *f = wt_sum_flow(&a, 1, &w, 0);
  static const char *const exp[] = {"sum=3 n=2",  "sum=7 n=2", "sum=5 n=1",
                                    "sum=13 n=2", "sum=0 n=0", NULL};
  wt_run_expect(f, exp, "count(5) + every(2, RESET)");
  uint64_t late, trig = 0;
  wt_stats_sum(f, &late, &trig);
  EXPECT_U64(trig, 5);
  sl_flow_destroy(&f);
  wt_check_calls_balanced("count + every");
}

/* Custom triggers. */
static int trig_tens(const sl_record *rec, void *state, void *arg) {
  (void)state;
  int flags = *(const int *)arg;
  int64_t v = wt_val(rec);
  return v % 10 == 0 ? flags : 0;
}
/* fires after the 3rd record of each window, counting in its zeroed per-window state */
static int trig_third(const sl_record *rec, void *state, void *arg) {
  (void)rec;
  (void)arg;
  int64_t c;
  memcpy(&c, state, 8);
  c++;
  memcpy(state, &c, 8);
  return c == 3 ? SL_TRIGGER_FIRE : 0;
}

/* (a) global window, trigger "tens" firing on values that are multiples of 10, vals
 *     3 10 4 20 5, one partition, default emission:
 *     FIRE (after folding, keep): at 10 {3,10} "sum=13 n=2"; at 20 {3,10,4,20} "sum=37 n=4";
 *     done {all} "sum=42 n=5".
 *     FIRE_BEFORE | RESET_FLAG: at 10, before folding it: {3} "sum=3 n=1", reset; at 20:
 *     {10,4} "sum=14 n=2", reset; done: {20,5} "sum=25 n=2".
 *     FIRE | RESET_FLAG: at 10 {3,10} "sum=13 n=2"; at 20 {4,20} "sum=24 n=2"; done {5}.
 * (b) count(4) + trigger "third" with 8 bytes of state, vals 1..8, on_trigger tags (the
 *     name is the custom one): window 0: after 1,2,3 "third" (6, 3), then 4 closes it:
 *     "done" (10, 4); window 1 (state zeroed again): "third" {5,6,7} (18, 3), "done"
 *     (26, 4); window 2: empty, "done" (0, 0) at the end. If the state were not zeroed per
 *     window, window 1 would not fire "third". */
static void test_custom_trigger(void) {
  static const int64_t v[] = {3, 10, 4, 20, 5};
  wt_arr a;
  wt_arr_i64(&a, NULL, v, 5);
  static const int flags[3] = {SL_TRIGGER_FIRE, SL_TRIGGER_FIRE_BEFORE | SL_TRIGGER_RESET_FLAG,
                               SL_TRIGGER_FIRE | SL_TRIGGER_RESET_FLAG};
  static const char *const e0[] = {"sum=13 n=2", "sum=37 n=4", "sum=42 n=5", NULL};
  static const char *const e1[] = {"sum=3 n=1", "sum=14 n=2", "sum=25 n=2", NULL};
  static const char *const e2[] = {"sum=13 n=2", "sum=24 n=2", "sum=5 n=1", NULL};
  const char *const *exps[3] = {e0, e1, e2};
  static const char *names[3] = {"custom FIRE", "custom FIRE_BEFORE|RESET", "custom FIRE|RESET"};
  for (int i = 0; i < 3; i++) {
    sl_window w = sl_window_global();
    EXPECT_RC(sl_window_trigger(&w, trig_tens, 0, "tens", (void *)&flags[i]), SL_OK);
    EXPECT_TRUE(!strcmp(w.trigger_name, "tens"), "trigger_name '%s'", w.trigger_name);
    wt_calls_reset();
    sl_flow *f = wt_sum_flow(&a, 1, &w, 0);
    wt_run_expect(f, exps[i], names[i]);
    sl_flow_destroy(&f);
    wt_check_calls_balanced(names[i]);
  }

  wt_arr b;
  arr_1_to_n(&b, 8);
  sl_window w = sl_window_count(4);
  EXPECT_RC(sl_window_trigger(&w, trig_third, 8, "third", NULL), SL_OK);
  wt_calls_reset();
  sl_flow *f = wt_sum_flow(&b, 1, &w, 1);
  static const char *const eb[] = {"p0/1 C w0 third sum=6 n=3",  "p0/1 C w0 done sum=10 n=4",
                                   "p0/1 C w1 third sum=18 n=3", "p0/1 C w1 done sum=26 n=4",
                                   "p0/1 C w2 done sum=0 n=0",   NULL};
  wt_run_expect(f, eb, "count(4) + custom 'third' with state");
  sl_flow_destroy(&f);
  wt_check_calls_balanced("custom third");
}

/* A trigger firing BEFORE a record that waited behind an earlier trigger (the rest of one
 * input record's fan-out): one input record 1, a flat_map emits 1, 2, 3, 4 into a global
 * window with the custom trigger "fan": FIRE after 1 and after 3, FIRE_BEFORE 2.
 *   fold 1 -> fire "fan" {1}: sum=1 n=1 (keep); 2, 3, 4 wait;
 *   replay 2 -> fires before it: {1} again: sum=1 n=1; then 2 is folded (not re-asked);
 *   fold 3 -> fire {1,2,3}: sum=6 n=3; fold 4; done {1,2,3,4}: sum=10 n=4.
 * Records keep their order: if 2 went behind 3 and 4, the third firing would show
 * sum=4 n=2. */
static int fan_out4(const sl_record *in, sl_emitter *out, void *arg) {
  (void)arg;
  int64_t v = wt_val(in);
  for (int64_t k = 0; k < 4; k++) {
    int64_t x = v + k;
    int rc = sl_emit(out, NULL, 0, &x, 8);
    if (rc)
      return rc;
  }
  return 0;
}
static int trig_fan(const sl_record *rec, void *state, void *arg) {
  (void)state;
  (void)arg;
  int64_t v = wt_val(rec);
  return v == 1 || v == 3 ? SL_TRIGGER_FIRE : v == 2 ? SL_TRIGGER_FIRE_BEFORE : 0;
}
static void test_trigger_before_replayed(void) {
  static const int64_t one[] = {1};
  wt_arr a;
  wt_arr_i64(&a, NULL, one, 1);
  sl_window w = sl_window_global();
  EXPECT_RC(sl_window_trigger(&w, trig_fan, 0, "fan", NULL), SL_OK);
  sl_reducer red = wt_sum_reducer();
  wt_calls_reset();
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
  EXPECT_RC(sl_flow_flat_map(f, fan_out4, NULL), SL_OK);
  EXPECT_RC(sl_flow_window(f, &w), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(f, wt_tag_reduce, NULL), SL_OK);
  static const char *const exp[] = {"p0/1 G w0 fan sum=1 n=1", "p0/1 G w0 fan sum=1 n=1",
                                    "p0/1 G w0 fan sum=6 n=3", "p0/1 G w0 done sum=10 n=4", NULL};
  wt_run_expect(f, exp, "FIRE_BEFORE on a held record");
  sl_flow_destroy(&f);
  wt_check_calls_balanced("fan");
}

/* on_trigger on a user reduce may replace *acc (and then owns the old one). every(2, KEEP),
 * vals 1..5, one partition: at each "every" the callback emits the acc, frees it and
 * installs a fresh zero one; "done" just emits. So: every {1,2} (3, 2); every {3,4} (7, 2);
 * done {5} (5, 1). Every acc is freed once: made by init or by the callback, freed by
 * destroy or by the callback. */
static uint64_t g_own_alloc, g_own_free;
static int replace_on_every(void **acc, sl_batch *events, const sl_trigger_info *info,
                            sl_emitter *out, void *arg) {
  int rc = wt_tag_reduce(acc, events, info, out, arg);
  if (rc || events || !acc || !*acc)
    return rc;
  if (info->trigger && !strcmp(info->trigger, "every")) {
    wt_sacc *fresh = calloc(1, sizeof *fresh);
    if (!fresh)
      return 1;
    g_own_alloc++;
    free(*acc);
    g_own_free++;
    *acc = fresh;
  }
  return 0;
}
static void test_on_trigger_replaces_acc(void) {
  wt_arr a;
  arr_1_to_n(&a, 5);
  sl_window w = sl_window_global();
  EXPECT_RC(sl_window_trigger_every(&w, 2, SL_TRIGGER_KEEP), SL_OK);
  wt_calls_reset();
  g_own_alloc = g_own_free = 0;
  sl_flow *f = wt_sum_flow(&a, 1, &w, 0);
  EXPECT_RC(sl_flow_on_trigger(f, replace_on_every, NULL), SL_OK);
  static const char *const exp[] = {"p0/1 G w0 every sum=3 n=2", "p0/1 G w0 every sum=7 n=2",
                                    "p0/1 G w0 done sum=5 n=1", NULL};
  wt_run_expect(f, exp, "on_trigger replacing the accumulator");
  sl_flow_destroy(&f);
  uint64_t made = mt_sum_u64(g_calls.init + g_own_alloc);
  uint64_t freed = mt_sum_u64(g_calls.destroy + g_own_free);
  EXPECT_TRUE(made == freed, "%llu accumulators made, %llu freed", (unsigned long long)made,
              (unsigned long long)freed);
  EXPECT_U64(mt_sum_u64(g_own_alloc), 2);
  EXPECT_U64(mt_sum_u64(g_cb_misuse), 0);
  g_cb_misuse = 0;
}

/* ================================================================ emit_and_reduce */

/* fold: adds the value; emits "now v=<v>" at once for even values. */
static int fold_emit_even(void *acc, const sl_record *in, sl_emitter *out, void *arg) {
  (void)arg;
  int rc = wt_sum_fold(acc, in, NULL);
  if (rc)
    return rc;
  int64_t v = wt_val(in);
  if (v % 2 == 0) {
    char t[48];
    snprintf(t, sizeof t, "now v=%lld", (long long)v);
    return wt_emit_text(out, t);
  }
  return 0;
}

/* vals 1..6, 2 partitions (p0: 1 2 3, p1: 4 5 6). reducer->fold is a function that fails
 * (it must be ignored).
 * (a) global window, default emission: at once "now v=2", "now v=4", "now v=6"; at the
 *     end the accs: p0 "sum=6 n=3", p1 "sum=15 n=3".
 * (b) count(2) with on_trigger tags: the same three "now" texts; p0 w0 {1,2} (3, 2),
 *     w1 {3} (3, 1); p1 w0 {4,5} (9, 2), w1 {6} (6, 1). */
static void test_emit_and_reduce(void) {
  wt_arr a;
  arr_1_to_n(&a, 6);
  sl_reducer red = {wt_sum_init, wt_alien_fold, wt_sum_emit, wt_sum_destroy, NULL};
  for (int v = 0; v < 2; v++) {
    wt_calls_reset();
    sl_flow *f = NULL;
    sl_window w = sl_window_count(2);
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 2), SL_OK);
    EXPECT_RC(sl_flow_emit_and_reduce(f, &red, fold_emit_even), SL_OK);
    if (v == 1) {
      EXPECT_RC(sl_flow_window(f, &w), SL_OK);
      EXPECT_RC(sl_flow_on_trigger(f, wt_tag_reduce, NULL), SL_OK);
    }
    static const char *const ea[] = {"now v=2",   "now v=4",    "now v=6",
                                     "sum=6 n=3", "sum=15 n=3", NULL};
    static const char *const eb[] = {"now v=2",
                                     "now v=4",
                                     "now v=6",
                                     "p0/2 C w0 done sum=3 n=2",
                                     "p0/2 C w1 done sum=3 n=1",
                                     "p1/2 C w0 done sum=9 n=2",
                                     "p1/2 C w1 done sum=6 n=1",
                                     NULL};
    wt_run_expect(f, v ? eb : ea, v ? "emit_and_reduce count(2)" : "emit_and_reduce");
    EXPECT_U64(mt_sum_u64(g_calls.alien_fold), 0);
    EXPECT_U64(mt_sum_u64(g_calls.fold), 6);
    sl_flow_destroy(&f);
    wt_check_calls_balanced("emit_and_reduce");
  }
}

/* ================================================================ periodic (invariants) */

/* A slow source: partition p emits one record per call (value 1, key "k<p>"), sleeping 1 ms
 * per call, SLOW_N records per partition (the engine ticks processing-time windows between
 * rounds of up to 64 source calls, so this spans a few rounds). */
#define SLOW_N 200
typedef struct slow_src {
  int64_t next[8];
} slow_src;
static int slow_source(int partition, int partitions, sl_emitter *out, int *done, void *arg) {
  (void)partitions;
  slow_src *s = arg;
  if (partition < 0 || partition >= 8)
    return 1;
  if (s->next[partition] >= SLOW_N) {
    *done = 1;
    return 0;
  }
  struct timespec ts = {0, 1000000};
  nanosleep(&ts, NULL);
  char key[8];
  snprintf(key, sizeof key, "k%d", partition);
  int64_t one = 1;
  s->next[partition]++;
  *done = s->next[partition] >= SLOW_N;
  return sl_emit(out, key, strlen(key), &one, 8);
}

/* Parses "p<i>/<P> <K> w<id> <trigger> sum=S n=N". */
static int parse_tag(const sl_record *r, int *p, int *np, char *kind, long long *wid, char trig[32],
                     long long *sum, long long *n) {
  char s[200];
  snprintf(s, sizeof s, "%.*s", (int)r->value_len, (const char *)r->value);
  return sscanf(s, "p%d/%d %c w%lld %31s sum=%lld n=%lld", p, np, kind, wid, trig, sum, n) == 7;
}

/* periodic(0.02 s) windows, 2 partitions of SLOW_N slow records (~200 ms each): the number
 * of windows depends on timing, so only invariants: every text is a "done" of a 'P' window
 * of partition 0 or 1 of 2; per partition the window ids are distinct; the counts sum to
 * SLOW_N per partition; at least one window per partition. */
static void test_periodic_window(void) {
  slow_src src;
  memset(&src, 0, sizeof src);
  sl_window w = sl_window_periodic(0.02);
  EXPECT_INT(w.kind, SL_WINDOW_PERIODIC);
  sl_reducer red = wt_sum_reducer();
  wt_calls_reset();
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_callback(f, slow_source, &src, 2), SL_OK);
  EXPECT_RC(sl_flow_window(f, &w), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(f, wt_tag_reduce, NULL), SL_OK);
  mt_recs got = {0};
  EXPECT_RC(wt_run_gather(f, &got), SL_OK);
  if (g_rank == 0) {
    long long total[2] = {0, 0};
    int windows[2] = {0, 0}, bad = 0;
    long long ids[2][256];
    for (size_t i = 0; i < got.n; i++) {
      sl_record r = mt_recs_get(&got, i);
      int p = -1, np = 0;
      char kind = 0, trig[32] = "";
      long long wid = 0, sum = 0, n = 0;
      if (!parse_tag(&r, &p, &np, &kind, &wid, trig, &sum, &n) || p < 0 || p > 1 || np != 2 ||
          kind != 'P' || strcmp(trig, "done") || sum != n) {
        if (bad++ < 5) {
          MT_LOC();
          fprintf(stderr, "periodic: unexpected ");
          mt_print_rec(stderr, &r);
          fprintf(stderr, "\n");
        }
        continue;
      }
      for (int j = 0; j < windows[p] && j < 256; j++)
        if (ids[p][j] == wid) {
          bad++;
          MT_LOC();
          fprintf(stderr, "periodic: partition %d fired window %lld twice\n", p, wid);
        }
      if (windows[p] < 256)
        ids[p][windows[p]] = wid;
      windows[p]++;
      total[p] += n;
    }
    EXPECT_INT(bad, 0);
    EXPECT_INT(total[0], SLOW_N);
    EXPECT_INT(total[1], SLOW_N);
    if (getenv("WT_VERBOSE"))
      fprintf(stderr, "periodic: %d and %d windows\n", windows[0], windows[1]);
    EXPECT_TRUE(windows[0] >= 1 && windows[1] >= 1, "windows per partition: %d, %d", windows[0],
                windows[1]);
  }
  uint64_t late, trig = 0;
  wt_stats_sum(f, &late, &trig);
  if (g_rank == 0) /* one text per trigger; got.n counts them all on rank 0 */
    EXPECT_U64(trig, got.n);
  mt_recs_free(&got);
  sl_flow_destroy(&f);
  wt_check_calls_balanced("periodic");
}

/* trigger_periodically(0.01 s, RESET) on the global window, reduce_by_key COUNT with
 * on_trigger, the slow source (keys k0 / k1, SLOW_N records each): the firings depend on
 * timing; invariants: names are "periodically" or "done", at most one "done" text per key
 * (none if nothing came after the last periodic firing), and with RESET the counts of each
 * key over all firings add up to SLOW_N. */
static void test_trigger_periodically(void) {
  slow_src src;
  memset(&src, 0, sizeof src);
  sl_window w = sl_window_global();
  EXPECT_RC(sl_window_trigger_periodically(&w, 0.01, SL_TRIGGER_RESET), SL_OK);
  sl_aggregator cnt = sl_aggregator_builtin(SL_AGG_COUNT);
  wt_tag_opts tc = {WT_EV_COUNT, 0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_callback(f, slow_source, &src, 2), SL_OK);
  EXPECT_RC(sl_flow_window(f, &w), SL_OK);
  EXPECT_RC(sl_flow_reduce_by_key(f, &cnt), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(f, wt_tag_events, &tc), SL_OK);
  mt_recs got = {0};
  EXPECT_RC(wt_run_gather(f, &got), SL_OK);
  if (g_rank == 0) {
    unsigned long long total[2] = {0, 0};
    int done[2] = {0, 0}, bad = 0;
    for (size_t i = 0; i < got.n; i++) {
      sl_record r = mt_recs_get(&got, i);
      char s[200], trig[32] = "";
      int k = -1;
      long long wid = -1;
      unsigned long long c = 0;
      snprintf(s, sizeof s, "%.*s", (int)r.value_len, (const char *)r.value);
      if (sscanf(s, "G w%lld %31s key=k%d count=%llu", &wid, trig, &k, &c) != 4 || wid != 0 ||
          k < 0 || k > 1 || (strcmp(trig, "periodically") && strcmp(trig, "done"))) {
        if (bad++ < 5) {
          MT_LOC();
          fprintf(stderr, "trigger_periodically: unexpected '%s'\n", s);
        }
        continue;
      }
      total[k] += c;
      if (!strcmp(trig, "done"))
        done[k]++;
    }
    EXPECT_INT(bad, 0);
    EXPECT_U64(total[0], SLOW_N);
    EXPECT_U64(total[1], SLOW_N);
    if (getenv("WT_VERBOSE"))
      fprintf(stderr, "trigger_periodically: %zu texts\n", got.n);
    EXPECT_TRUE(done[0] <= 1 && done[1] <= 1, "'done' texts per key: %d, %d", done[0], done[1]);
  }
  mt_recs_free(&got);
  sl_flow_destroy(&f);
  EXPECT_U64(mt_sum_u64(g_cb_misuse), 0);
  g_cb_misuse = 0;
}

/* ================================================================ bad usage */

static int is_inval_or_state(int rc) {
  return rc == SL_ERR_INVAL || rc == SL_ERR_STATE;
}

/* Refused: allowed lateness on a count or global window, negative lateness; trigger_every
 * with n <= 0; a count window of 0 records or a fixed window of duration 0 / without a
 * time function set on a stage; emit_and_reduce without a fold; a second trigger on one
 * window is not tested (its semantics are "at most one"). The constructors themselves are
 * local and return a struct. */
static void test_bad_usage(void) {
  sl_window w = sl_window_count(3);
  int rc = sl_window_allowed_lateness(&w, 5);
  EXPECT_TRUE(is_inval_or_state(rc), "allowed_lateness on a count window returned %d (%s)", rc,
              sl_err_name(rc));
  w = sl_window_global();
  rc = sl_window_allowed_lateness(&w, 5);
  EXPECT_TRUE(is_inval_or_state(rc), "allowed_lateness on the global window returned %d (%s)", rc,
              sl_err_name(rc));
  w = sl_window_fixed(10, wt_time_of_value, NULL);
  rc = sl_window_allowed_lateness(&w, -1);
  EXPECT_TRUE(is_inval_or_state(rc), "allowed_lateness(-1) returned %d (%s)", rc, sl_err_name(rc));
  rc = sl_window_trigger_every(&w, 0, SL_TRIGGER_KEEP);
  EXPECT_TRUE(is_inval_or_state(rc), "trigger_every(0) returned %d (%s)", rc, sl_err_name(rc));

  wt_arr a;
  arr_1_to_n(&a, 4);
  sl_window bad[3] = {sl_window_count(0), sl_window_fixed(0, wt_time_of_value, NULL),
                      sl_window_fixed(10, NULL, NULL)};
  static const char *what[3] = {"count(0)", "fixed(0)", "fixed without a time function"};
  for (int i = 0; i < 3; i++) {
    sl_flow *f = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
    rc = sl_flow_window(f, &bad[i]);
    EXPECT_TRUE(is_inval_or_state(rc), "sl_flow_window(%s) returned %d (%s)", what[i], rc,
                sl_err_name(rc));
    sl_flow_destroy(&f);
  }

  sl_flow *f = NULL;
  sl_reducer red = wt_sum_reducer();
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
  rc = sl_flow_emit_and_reduce(f, &red, NULL);
  EXPECT_TRUE(is_inval_or_state(rc), "emit_and_reduce with a NULL fold returned %d (%s)", rc,
              sl_err_name(rc));
  sl_flow_destroy(&f);

  /* on_trigger with a NULL function */
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  rc = sl_flow_on_trigger(f, NULL, NULL);
  EXPECT_TRUE(is_inval_or_state(rc), "on_trigger(NULL) returned %d (%s)", rc, sl_err_name(rc));
  sl_flow_destroy(&f);
}

/* A failing on_trigger stops the job on every rank with SL_ERR_CALLBACK (the callback
 * contract of sl_flow.h), here from partition 1 of 2 only. */
static int fail_on_p1(void **acc, sl_batch *events, const sl_trigger_info *info, sl_emitter *out,
                      void *arg) {
  (void)acc;
  (void)events;
  (void)out;
  (void)arg;
  return info->partition == 1 ? 5 : 0;
}
static void test_on_trigger_failure(void) {
  wt_arr a;
  arr_1_to_n(&a, 6);
  sl_window w = sl_window_count(2);
  sl_reducer red = wt_sum_reducer();
  sl_flow *f = NULL;
  mt_recs got = {0};
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 2), SL_OK);
  EXPECT_RC(sl_flow_window(f, &w), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(f, fail_on_p1, NULL), SL_OK);
  int rc = wt_run_gather(f, &got);
  EXPECT_RC(rc, SL_ERR_CALLBACK);
  EXPECT_TRUE(mt_same_everywhere(rc), "sl_run returned different codes on the ranks");
  mt_recs_free(&got);
  sl_flow_destroy(&f);
}

/* ================================================================ main */

static const mt_test tests[] = {
    {"count_window_reduce", test_count_window_reduce},
    {"count_window_emit_modes", test_count_window_emit_modes},
    {"count_window_builtin", test_count_window_builtin},
    {"count_window_after_partition", test_count_window_after_partition},
    {"fixed_window_source", test_fixed_window_source},
    {"fixed_allowed_lateness", test_fixed_allowed_lateness},
    {"fixed_window_after_boundary", test_fixed_window_after_boundary},
    {"fixed_window_many_senders", test_fixed_window_many_senders},
    {"trigger_every_reduce", test_trigger_every_reduce},
    {"trigger_every_builtin", test_trigger_every_builtin},
    {"count_window_with_every", test_count_window_with_every},
    {"custom_trigger", test_custom_trigger},
    {"trigger_before_replayed", test_trigger_before_replayed},
    {"on_trigger_replaces_acc", test_on_trigger_replaces_acc},
    {"emit_and_reduce", test_emit_and_reduce},
    {"periodic_window", test_periodic_window},
    {"trigger_periodically", test_trigger_periodically},
    {"bad_usage", test_bad_usage},
    {"on_trigger_failure", test_on_trigger_failure},
    {NULL, NULL},
};

int main(int argc, char **argv) {
  return mt_main(argc, argv, "window", tests);
}
