/* SPDX-License-Identifier: BSD-3-Clause */
/* MPI tests of sl_flow_join (inner / left / right / full outer, duplicate keys on both
 * sides, keys on one side only, empty sides, the default encoding and a join function,
 * window_join with fixed windows) and of sl_flow_merge (several sources with different
 * data, partition counts and maps into one partitioned stage; a user hash), plus bad
 * usage. Run at 1, 2 and 4 ranks.
 *
 * Inputs are small arrays with explicit partition counts; every expected output is worked
 * out by hand in the comment above it and compared as a multiset on rank 0 (the joined
 * rows as (key, "left|right") texts, "-" for a missing side).
 *
 * Rules (a test that breaks them can hang): every rank makes the same collective calls in
 * the same order; no assertion returns early. */
#include "win_test.h"

/* ================================================================ joins */

/* The join input: left (key, value)            right (key, value)
 *   (a,L1) (a,L2) (b,L3) (c,L4) (e,L5) (e,L6)   (a,R1) (a,R2) (a,R3) (b,R4) (d,R5) (e,R6)
 * a: 2 left x 3 right = 6 matches; b: 1 x 1; c: left only; d: right only; e: 2 x 1.
 * Left in 2 source partitions, right in 3, the join stage in 3. */
static const char *const L_KEYS[] = {"a", "a", "b", "c", "e", "e"};
static const char *const L_VALS[] = {"L1", "L2", "L3", "L4", "L5", "L6"};
static const char *const R_KEYS[] = {"a", "a", "a", "b", "d", "e"};
static const char *const R_VALS[] = {"R1", "R2", "R3", "R4", "R5", "R6"};

/* matched rows, as (key, "left|right") */
static const char *const MATCHES[][2] = {
    {"a", "L1|R1"}, {"a", "L1|R2"}, {"a", "L1|R3"}, {"a", "L2|R1"}, {"a", "L2|R2"},
    {"a", "L2|R3"}, {"b", "L3|R4"}, {"e", "L5|R6"}, {"e", "L6|R6"}, {NULL, NULL}};
static const char *const LEFT_ONLY[][2] = {{"c", "L4|-"}, {NULL, NULL}};
static const char *const RIGHT_ONLY[][2] = {{"d", "-|R5"}, {NULL, NULL}};

static const char *mode_name(sl_join_mode m) {
  static const char *n[] = {"inner", "left", "right", "full"};
  return n[m];
}

static void add_rows(mt_recs *r, const char *const (*rows)[2]) {
  for (size_t i = 0; rows[i][0]; i++)
    mt_recs_add(r, rows[i][0], strlen(rows[i][0]), rows[i][1], strlen(rows[i][1]));
}

/* Decodes the default join value [u32 llen][l][u32 rlen][r] (UINT32_MAX: missing) into
 * "l|r" with "-" for a missing side; returns 0 if malformed. */
static int decode_join(const sl_record *r, char *text, size_t cap) {
  const char *p = r->value;
  size_t pos = 0;
  char side[2][64];
  for (int s = 0; s < 2; s++) {
    uint32_t l;
    if (r->value_len - pos < 4)
      return 0;
    memcpy(&l, p + pos, 4);
    pos += 4;
    if (l == UINT32_MAX) {
      snprintf(side[s], sizeof side[s], "-");
      continue;
    }
    if (r->value_len - pos < l || l >= sizeof side[s])
      return 0;
    memcpy(side[s], p + pos, l);
    side[s][l] = 0;
    pos += l;
  }
  if (pos != r->value_len)
    return 0;
  snprintf(text, cap, "%s|%s", side[0], side[1]);
  return 1;
}

static uint64_t g_join_both_null;
/* A join function: emits (key, "l|r") with "-" for a NULL side. */
static int join_text(const sl_record *left, const sl_record *right, sl_emitter *out, void *arg) {
  (void)arg;
  if (!left && !right) {
    g_join_both_null++;
    return 0;
  }
  const sl_record *k = left ? left : right;
  char t[160];
  snprintf(t, sizeof t, "%.*s|%.*s", left ? (int)left->value_len : 1,
           left ? (const char *)left->value : "-", right ? (int)right->value_len : 1,
           right ? (const char *)right->value : "-");
  return sl_emit(out, k->key, k->key_len, t, strlen(t));
}

/* Runs left JOIN right (mode, join fn or default encoding) and returns the rows (rank 0) as
 * (key, "l|r"). */
static void run_join(const wt_arr *l, int lparts, const wt_arr *r, int rparts, sl_join_mode mode,
                     int use_fn, mt_recs *rows, const char *what) {
  sl_flow *lf = NULL, *rf = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &lf), SL_OK);
  EXPECT_RC(sl_flow_create(g_ctx, &rf), SL_OK);
  EXPECT_RC(sl_flow_from_array(lf, l->r, l->n, lparts), SL_OK);
  EXPECT_RC(sl_flow_from_array(rf, r->r, r->n, rparts), SL_OK);
  EXPECT_RC(sl_flow_join(lf, rf, mode, 3, use_fn ? join_text : NULL, NULL), SL_OK);
  mt_recs got = {0};
  EXPECT_RC(wt_run_gather(lf, &got), SL_OK);
  int malformed = 0;
  for (size_t i = 0; i < got.n; i++) {
    sl_record x = mt_recs_get(&got, i);
    if (use_fn) {
      mt_recs_add_rec(rows, &x);
      continue;
    }
    char t[160];
    if (!decode_join(&x, t, sizeof t)) {
      if (malformed++ < 3) {
        MT_LOC();
        fprintf(stderr, "%s: malformed joined value ", what);
        mt_print_rec(stderr, &x);
        fprintf(stderr, "\n");
      }
      continue;
    }
    mt_recs_add(rows, x.key, x.key_len, t, strlen(t));
  }
  EXPECT_INT(malformed, 0);
  mt_recs_free(&got);
  sl_flow_destroy(&lf);
  sl_flow_destroy(&rf);
}

/* Each mode, default encoding and with a join function:
 *   inner: the 9 MATCHES;  left: + (c, "L4|-");  right: + (d, "-|R5");  full: + both. */
static void test_join_modes(void) {
  wt_arr l, r;
  wt_arr_str(&l, L_KEYS, L_VALS, 6);
  wt_arr_str(&r, R_KEYS, R_VALS, 6);
  g_join_both_null = 0;
  for (int use_fn = 0; use_fn < 2; use_fn++) {
    for (int m = SL_JOIN_INNER; m <= SL_JOIN_FULL; m++) {
      char what[96];
      snprintf(what, sizeof what, "join %s, %s", mode_name((sl_join_mode)m),
               use_fn ? "join function" : "default encoding");
      mt_recs rows = {0}, exp = {0};
      run_join(&l, 2, &r, 3, (sl_join_mode)m, use_fn, &rows, what);
      add_rows(&exp, MATCHES);
      if (m == SL_JOIN_LEFT || m == SL_JOIN_FULL)
        add_rows(&exp, LEFT_ONLY);
      if (m == SL_JOIN_RIGHT || m == SL_JOIN_FULL)
        add_rows(&exp, RIGHT_ONLY);
      WT_CHECK(&rows, &exp, what);
      mt_recs_free(&rows);
      mt_recs_free(&exp);
    }
  }
  EXPECT_U64(mt_sum_u64(g_join_both_null), 0);
}

/* The same join with other partition counts (left 1 partition, right 4; the join stage
 * always 3): the rows do not depend on them. Full outer: 9 matches + c + d. */
static void test_join_partitioning(void) {
  wt_arr l, r;
  wt_arr_str(&l, L_KEYS, L_VALS, 6);
  wt_arr_str(&r, R_KEYS, R_VALS, 6);
  mt_recs rows = {0}, exp = {0};
  run_join(&l, 1, &r, 4, SL_JOIN_FULL, 0, &rows, "join full, left 1 / right 4 partitions");
  add_rows(&exp, MATCHES);
  add_rows(&exp, LEFT_ONLY);
  add_rows(&exp, RIGHT_ONLY);
  WT_CHECK(&rows, &exp, "join full, left 1 / right 4 partitions");
  mt_recs_free(&rows);
  mt_recs_free(&exp);
}

/* Empty sides (count 0 arrays):
 *   left empty:  inner none; left none; right = every right row with "-": (a,-|R1) (a,-|R2)
 *                (a,-|R3) (b,-|R4) (d,-|R5) (e,-|R6); full = the same.
 *   right empty: inner none; left = every left row: (a,L1|-) (a,L2|-) (b,L3|-) (c,L4|-)
 *                (e,L5|-) (e,L6|-); right none; full = the same.
 *   both empty:  nothing in every mode. */
static void test_join_empty_sides(void) {
  wt_arr l, r, e;
  wt_arr_str(&l, L_KEYS, L_VALS, 6);
  wt_arr_str(&r, R_KEYS, R_VALS, 6);
  wt_arr_str(&e, L_KEYS, L_VALS, 0); /* n = 0, records pointer still valid */
  static const char *const all_right[][2] = {{"a", "-|R1"}, {"a", "-|R2"}, {"a", "-|R3"},
                                             {"b", "-|R4"}, {"d", "-|R5"}, {"e", "-|R6"},
                                             {NULL, NULL}};
  static const char *const all_left[][2] = {{"a", "L1|-"}, {"a", "L2|-"}, {"b", "L3|-"},
                                            {"c", "L4|-"}, {"e", "L5|-"}, {"e", "L6|-"},
                                            {NULL, NULL}};
  for (int m = SL_JOIN_INNER; m <= SL_JOIN_FULL; m++) {
    for (int which = 0; which < 3; which++) { /* 0 left empty, 1 right empty, 2 both */
      char what[96];
      static const char *wn[] = {"left empty", "right empty", "both empty"};
      snprintf(what, sizeof what, "join %s, %s", mode_name((sl_join_mode)m), wn[which]);
      mt_recs rows = {0}, exp = {0};
      run_join(which == 1 ? &l : &e, 2, which == 0 ? &r : &e, 3, (sl_join_mode)m, which == 2, &rows,
               what);
      if (which == 0 && (m == SL_JOIN_RIGHT || m == SL_JOIN_FULL))
        add_rows(&exp, all_right);
      if (which == 1 && (m == SL_JOIN_LEFT || m == SL_JOIN_FULL))
        add_rows(&exp, all_left);
      WT_CHECK(&rows, &exp, what);
      mt_recs_free(&rows);
      mt_recs_free(&exp);
    }
  }
}

/* Binary keys and values with NUL bytes and empty values join like any bytes:
 *   left ("\0k", "") ("\0k", "x\0y")   right ("\0k", "\0")  ("k", "z")
 * inner: key "\0k": 2 x 1 = 2 rows, values [0][][1]["\0"] and [3]["x\0y"][1]["\0"];
 * "k" matches nothing ("\0k" != "k"). */
static void test_join_binary(void) {
  static const char k0[] = {0, 'k'};
  static const char lv1[] = {'x', 0, 'y'};
  static const char rv0[] = {0};
  sl_record l[2] = {{k0, 2, "", 0}, {k0, 2, lv1, 3}};
  sl_record r[2] = {{k0, 2, rv0, 1}, {"k", 1, "z", 1}};
  sl_flow *lf = NULL, *rf = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &lf), SL_OK);
  EXPECT_RC(sl_flow_create(g_ctx, &rf), SL_OK);
  EXPECT_RC(sl_flow_from_array(lf, l, 2, 2), SL_OK);
  EXPECT_RC(sl_flow_from_array(rf, r, 2, 1), SL_OK);
  EXPECT_RC(sl_flow_join(lf, rf, SL_JOIN_INNER, 2, NULL, NULL), SL_OK);
  mt_recs got = {0}, exp = {0};
  EXPECT_RC(wt_run_gather(lf, &got), SL_OK);
  /* [u32 0][u32 1]"\0"  and  [u32 3]"x\0y"[u32 1]"\0" */
  unsigned char e1[9], e2[12];
  uint32_t z = 0, one = 1, three = 3;
  memcpy(e1, &z, 4);
  memcpy(e1 + 4, &one, 4);
  e1[8] = 0;
  memcpy(e2, &three, 4);
  memcpy(e2 + 4, lv1, 3);
  memcpy(e2 + 7, &one, 4);
  e2[11] = 0;
  mt_recs_add(&exp, k0, 2, e1, 9);
  mt_recs_add(&exp, k0, 2, e2, 12);
  WT_CHECK(&got, &exp, "join inner, binary keys and values");
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_flow_destroy(&lf);
  sl_flow_destroy(&rf);
}

/* window_join: left and right (key, event time as int64 value), one source partition each,
 * in time order:
 *   left  (a,1) (b,3) (a,12)        right (a,5) (b,14) (a,15)
 * with fixed windows of 10 on the join stage, rows of different windows do not match:
 *   window 0:  left a1 b3, right a5        -> a: 1|5;   b3 unmatched
 *   window 10: left a12, right b14 a15     -> a: 12|15; b14 unmatched
 *   inner: (a,1|5) (a,12|15); left: + (b,3|-); right: + (b,-|14); full: + both.
 * Without a window (one global window) everything with the same key matches:
 *   inner = full: (a,1|5) (a,1|15) (a,12|5) (a,12|15) (b,3|14).
 * No record can be late (each sender is in time order): late_dropped 0. */
static int join_times(const sl_record *left, const sl_record *right, sl_emitter *out, void *arg) {
  (void)arg;
  if (!left && !right) {
    g_join_both_null++;
    return 0;
  }
  const sl_record *k = left ? left : right;
  char t[96], ls[32] = "-", rs[32] = "-";
  if (left)
    snprintf(ls, sizeof ls, "%lld", (long long)wt_val(left));
  if (right)
    snprintf(rs, sizeof rs, "%lld", (long long)wt_val(right));
  snprintf(t, sizeof t, "%s|%s", ls, rs);
  return sl_emit(out, k->key, k->key_len, t, strlen(t));
}

static void test_window_join(void) {
  static const char *const lk[] = {"a", "b", "a"}, *const rk[] = {"a", "b", "a"};
  static const int64_t lt[] = {1, 3, 12}, rt[] = {5, 14, 15};
  wt_arr l, r;
  wt_arr_i64(&l, lk, lt, 3);
  wt_arr_i64(&r, rk, rt, 3);
  static const char *const win_match[][2] = {{"a", "1|5"}, {"a", "12|15"}, {NULL, NULL}};
  static const char *const win_left[][2] = {{"b", "3|-"}, {NULL, NULL}};
  static const char *const win_right[][2] = {{"b", "-|14"}, {NULL, NULL}};
  static const char *const global_rows[][2] = {{"a", "1|5"},   {"a", "1|15"}, {"a", "12|5"},
                                               {"a", "12|15"}, {"b", "3|14"}, {NULL, NULL}};
  g_join_both_null = 0;
  for (int windowed = 1; windowed >= 0; windowed--) {
    for (int m = SL_JOIN_INNER; m <= SL_JOIN_FULL; m++) {
      char what[96];
      snprintf(what, sizeof what, "%s join %s", windowed ? "window(fixed 10)" : "global",
               mode_name((sl_join_mode)m));
      sl_flow *lf = NULL, *rf = NULL;
      EXPECT_RC(sl_flow_create(g_ctx, &lf), SL_OK);
      EXPECT_RC(sl_flow_create(g_ctx, &rf), SL_OK);
      EXPECT_RC(sl_flow_from_array(lf, l.r, l.n, 1), SL_OK);
      EXPECT_RC(sl_flow_from_array(rf, r.r, r.n, 1), SL_OK);
      EXPECT_RC(sl_flow_join(lf, rf, (sl_join_mode)m, 2, join_times, NULL), SL_OK);
      if (windowed) {
        sl_window w = sl_window_fixed(10, wt_time_of_value, NULL);
        EXPECT_RC(sl_flow_window(lf, &w), SL_OK);
      }
      mt_recs got = {0}, exp = {0};
      EXPECT_RC(wt_run_gather(lf, &got), SL_OK);
      if (windowed) {
        add_rows(&exp, win_match);
        if (m == SL_JOIN_LEFT || m == SL_JOIN_FULL)
          add_rows(&exp, win_left);
        if (m == SL_JOIN_RIGHT || m == SL_JOIN_FULL)
          add_rows(&exp, win_right);
      } else {
        add_rows(&exp, global_rows);
      }
      WT_CHECK(&got, &exp, what);
      uint64_t late = 9, trig = 0;
      wt_stats_sum(lf, &late, &trig);
      EXPECT_U64(late, 0);
      mt_recs_free(&got);
      mt_recs_free(&exp);
      sl_flow_destroy(&lf);
      sl_flow_destroy(&rf);
    }
  }
  EXPECT_U64(mt_sum_u64(g_join_both_null), 0);
}

/* A left join whose window resets at every record (trigger every(1, RESET)): the state
 * never holds more than one record, so nothing can match, and each reset must emit the
 * unmatched left record before dropping it: exactly (a, "L1|-") and (c, "L2|-"); the right
 * records (b, d) are dropped unmatched (left mode). Whatever the arrival order. */
static void test_join_reset_emits_unmatched(void) {
  static const char *const lk[] = {"a", "c"}, *const lv[] = {"L1", "L2"};
  static const char *const rk[] = {"b", "d"}, *const rv[] = {"R1", "R2"};
  wt_arr l, r;
  wt_arr_str(&l, lk, lv, 2);
  wt_arr_str(&r, rk, rv, 2);
  sl_flow *lf = NULL, *rf = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &lf), SL_OK);
  EXPECT_RC(sl_flow_create(g_ctx, &rf), SL_OK);
  EXPECT_RC(sl_flow_from_array(lf, l.r, l.n, 1), SL_OK);
  EXPECT_RC(sl_flow_from_array(rf, r.r, r.n, 1), SL_OK);
  EXPECT_RC(sl_flow_join(lf, rf, SL_JOIN_LEFT, 1, join_text, NULL), SL_OK);
  sl_window w = sl_window_global();
  EXPECT_RC(sl_window_trigger_every(&w, 1, SL_TRIGGER_RESET), SL_OK);
  EXPECT_RC(sl_flow_window(lf, &w), SL_OK);
  mt_recs got = {0}, exp = {0};
  EXPECT_RC(wt_run_gather(lf, &got), SL_OK);
  mt_recs_add(&exp, "a", 1, "L1|-", 4);
  mt_recs_add(&exp, "c", 1, "L2|-", 4);
  WT_CHECK(&got, &exp, "left join, every(1, RESET)");
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_flow_destroy(&lf);
  sl_flow_destroy(&rf);
}

/* A join followed by more stages: the matched rows of the inner join of the main input,
 * counted per key by reduce_by_key after a departition: a=6, b=1, e=2. */
static void test_join_then_reduce(void) {
  wt_arr l, r;
  wt_arr_str(&l, L_KEYS, L_VALS, 6);
  wt_arr_str(&r, R_KEYS, R_VALS, 6);
  sl_flow *lf = NULL, *rf = NULL;
  sl_aggregator cnt = sl_aggregator_builtin(SL_AGG_COUNT);
  EXPECT_RC(sl_flow_create(g_ctx, &lf), SL_OK);
  EXPECT_RC(sl_flow_create(g_ctx, &rf), SL_OK);
  EXPECT_RC(sl_flow_from_array(lf, l.r, l.n, 2), SL_OK);
  EXPECT_RC(sl_flow_from_array(rf, r.r, r.n, 3), SL_OK);
  EXPECT_RC(sl_flow_join(lf, rf, SL_JOIN_INNER, 3, join_text, NULL), SL_OK);
  EXPECT_RC(sl_flow_departition(lf), SL_OK);
  EXPECT_RC(sl_flow_reduce_by_key(lf, &cnt), SL_OK);
  mt_recs got = {0}, exp = {0};
  EXPECT_RC(wt_run_gather(lf, &got), SL_OK);
  static const char *const k[] = {"a", "b", "e"};
  static const uint64_t c[] = {6, 1, 2};
  for (int i = 0; i < 3; i++)
    mt_recs_add(&exp, k[i], 1, &c[i], 8);
  WT_CHECK(&got, &exp, "join inner -> departition -> count per key");
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_flow_destroy(&lf);
  sl_flow_destroy(&rf);
}

/* on_trigger on a join stage (acc NULL, events = what the join would emit at the trigger):
 * a left join with the default encoding; the matches are emitted as they are found, and at
 * the global window's "done" the unmatched left row goes through on_trigger, which
 * re-emits each event as (key, "<trigger> l|r"). Rows: the 9 MATCHES as "l|r" and
 * (c, "done L4|-"). */
static uint64_t g_join_trig_misuse;
static int join_on_trigger(void **acc, sl_batch *events, const sl_trigger_info *info,
                           sl_emitter *out, void *arg) {
  (void)arg;
  if (acc != NULL || events == NULL) {
    g_join_trig_misuse++;
    return 0;
  }
  sl_record e;
  while (sl_batch_next(events, &e)) {
    char row[160], t[200];
    if (!decode_join(&e, row, sizeof row))
      snprintf(row, sizeof row, "(malformed)");
    snprintf(t, sizeof t, "%s %s", info->trigger ? info->trigger : "(null)", row);
    int rc = sl_emit(out, e.key, e.key_len, t, strlen(t));
    if (rc)
      return rc;
  }
  return 0;
}
static void test_join_on_trigger(void) {
  wt_arr l, r;
  wt_arr_str(&l, L_KEYS, L_VALS, 6);
  wt_arr_str(&r, R_KEYS, R_VALS, 6);
  sl_flow *lf = NULL, *rf = NULL;
  g_join_trig_misuse = 0;
  EXPECT_RC(sl_flow_create(g_ctx, &lf), SL_OK);
  EXPECT_RC(sl_flow_create(g_ctx, &rf), SL_OK);
  EXPECT_RC(sl_flow_from_array(lf, l.r, l.n, 2), SL_OK);
  EXPECT_RC(sl_flow_from_array(rf, r.r, r.n, 3), SL_OK);
  EXPECT_RC(sl_flow_join(lf, rf, SL_JOIN_LEFT, 3, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(lf, join_on_trigger, NULL), SL_OK);
  mt_recs got = {0}, rows = {0}, exp = {0};
  EXPECT_RC(wt_run_gather(lf, &got), SL_OK);
  for (size_t i = 0; i < got.n; i++) {
    sl_record x = mt_recs_get(&got, i);
    char t[160];
    if (decode_join(&x, t, sizeof t)) /* a match, default encoding */
      mt_recs_add(&rows, x.key, x.key_len, t, strlen(t));
    else /* a text from on_trigger */
      mt_recs_add_rec(&rows, &x);
  }
  add_rows(&exp, MATCHES);
  mt_recs_add(&exp, "c", 1, "done L4|-", 9);
  WT_CHECK(&rows, &exp, "join left with on_trigger");
  EXPECT_U64(mt_sum_u64(g_join_trig_misuse), 0);
  mt_recs_free(&got);
  mt_recs_free(&rows);
  mt_recs_free(&exp);
  sl_flow_destroy(&lf);
  sl_flow_destroy(&rf);
}

/* ================================================================ merge */

/* lowercases the key (one ASCII letter keys here) */
static int lower_key(const sl_record *in, sl_record *out, void *arg) {
  static char k[16];
  (void)arg;
  size_t n = in->key_len < sizeof k ? in->key_len : sizeof k;
  for (size_t i = 0; i < n; i++) {
    char ch = ((const char *)in->key)[i];
    k[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  }
  out->key = k;
  out->key_len = n;
  out->value = in->value;
  out->value_len = in->value_len;
  return 0;
}

/* Three flows merged into one stage of 4 partitions (key hash), counted per key:
 *   A: keys x y x z x y x in 3 source partitions        -> x 4, y 2, z 1
 *   B: keys Y Z Z W W in 2 partitions, mapped to lower case -> y 1, z 2, w 2
 *   C: keys x w v in 1 partition                        -> x 1, w 1, v 1
 * union: x 5, y 3, z 3, w 3, v 1. */
static void test_merge_count(void) {
  static const char *const ak[] = {"x", "y", "x", "z", "x", "y", "x"};
  static const char *const bk[] = {"Y", "Z", "Z", "W", "W"};
  static const char *const ck[] = {"x", "w", "v"};
  static const int64_t z[8] = {0};
  wt_arr a, b, c;
  wt_arr_i64(&a, ak, z, 7);
  wt_arr_i64(&b, bk, z, 5);
  wt_arr_i64(&c, ck, z, 3);
  sl_flow *fa = NULL, *fb = NULL, *fc = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &fa), SL_OK);
  EXPECT_RC(sl_flow_create(g_ctx, &fb), SL_OK);
  EXPECT_RC(sl_flow_create(g_ctx, &fc), SL_OK);
  EXPECT_RC(sl_flow_from_array(fa, a.r, a.n, 3), SL_OK);
  EXPECT_RC(sl_flow_from_array(fb, b.r, b.n, 2), SL_OK);
  EXPECT_RC(sl_flow_map(fb, lower_key, NULL), SL_OK);
  EXPECT_RC(sl_flow_from_array(fc, c.r, c.n, 1), SL_OK);
  sl_flow *const others[2] = {fb, fc};
  EXPECT_RC(sl_flow_merge(fa, others, 2, 4, NULL, NULL), SL_OK);
  sl_aggregator cnt = sl_aggregator_builtin(SL_AGG_COUNT);
  EXPECT_RC(sl_flow_reduce_by_key(fa, &cnt), SL_OK);
  mt_recs got = {0}, exp = {0};
  EXPECT_RC(wt_run_gather(fa, &got), SL_OK);
  static const char *const ek[] = {"x", "y", "z", "w", "v"};
  static const uint64_t ec[] = {5, 3, 3, 3, 1};
  for (int i = 0; i < 5; i++)
    mt_recs_add(&exp, ek[i], 1, &ec[i], 8);
  WT_CHECK(&got, &exp, "merge of 3 flows -> count per key");
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_flow_destroy(&fa);
  sl_flow_destroy(&fb); /* left empty by the merge: destroyed as usual */
  sl_flow_destroy(&fc);
}

/* Merge with a user hash (value mod 3 = the partition) into 3 partitions, summed per
 * partition by a user reduce with on_trigger tags:
 *   A: vals 1..6 in 2 partitions; B: vals 10..13 in 1 partition, mapped to 2v: 20 22 24 26
 *   partition 0 (v mod 3 = 0): 3 6 24      -> sum 33, n 3
 *   partition 1 (v mod 3 = 1): 1 4 22      -> sum 27, n 3
 *   partition 2 (v mod 3 = 2): 2 5 20 26   -> sum 53, n 4 */
static uint64_t hash_mod3(const sl_record *rec, void *arg) {
  (void)arg;
  int64_t v = wt_val(rec);
  return (uint64_t)(v % 3);
}
static int double_value(const sl_record *in, sl_record *out, void *arg) {
  static int64_t v;
  (void)arg;
  v = 2 * wt_val(in);
  out->key = in->key;
  out->key_len = in->key_len;
  out->value = &v;
  out->value_len = 8;
  return 0;
}
static void test_merge_user_hash(void) {
  static const int64_t av[] = {1, 2, 3, 4, 5, 6}, bv[] = {10, 11, 12, 13};
  wt_arr a, b;
  wt_arr_i64(&a, NULL, av, 6);
  wt_arr_i64(&b, NULL, bv, 4);
  sl_flow *fa = NULL, *fb = NULL;
  sl_reducer red = wt_sum_reducer();
  wt_calls_reset();
  EXPECT_RC(sl_flow_create(g_ctx, &fa), SL_OK);
  EXPECT_RC(sl_flow_create(g_ctx, &fb), SL_OK);
  EXPECT_RC(sl_flow_from_array(fa, a.r, a.n, 2), SL_OK);
  EXPECT_RC(sl_flow_from_array(fb, b.r, b.n, 1), SL_OK);
  EXPECT_RC(sl_flow_map(fb, double_value, NULL), SL_OK);
  sl_flow *const others[1] = {fb};
  EXPECT_RC(sl_flow_merge(fa, others, 1, 3, hash_mod3, NULL), SL_OK);
  EXPECT_RC(sl_flow_reduce(fa, &red), SL_OK);
  EXPECT_RC(sl_flow_on_trigger(fa, wt_tag_reduce, NULL), SL_OK);
  mt_recs got = {0}, exp = {0};
  EXPECT_RC(wt_run_gather(fa, &got), SL_OK);
  static const char *const e[] = {"p0/3 G w0 done sum=33 n=3", "p1/3 G w0 done sum=27 n=3",
                                  "p2/3 G w0 done sum=53 n=4", NULL};
  wt_expect(&exp, e);
  WT_CHECK(&got, &exp, "merge with a user hash -> sum per partition");
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_flow_destroy(&fa);
  sl_flow_destroy(&fb);
  EXPECT_U64(mt_sum_u64(g_calls.init), mt_sum_u64(g_calls.destroy));
  EXPECT_U64(mt_sum_u64(g_cb_misuse), 0);
  g_cb_misuse = 0;
}

/* ================================================================ bad usage */

static int is_inval_or_state(int rc) {
  return rc == SL_ERR_INVAL || rc == SL_ERR_STATE;
}

/* Two flows reading the same array (one partition each), for the bad-usage cases. */
static void two_sources(const wt_arr *a, sl_flow **f, sl_flow **g) {
  EXPECT_RC(sl_flow_create(g_ctx, f), SL_OK);
  EXPECT_RC(sl_flow_create(g_ctx, g), SL_OK);
  EXPECT_RC(sl_flow_from_array(*f, a->r, a->n, 1), SL_OK);
  EXPECT_RC(sl_flow_from_array(*g, a->r, a->n, 1), SL_OK);
}

/* Refused (SL_ERR_INVAL or SL_ERR_STATE):
 *   merging a flow that already has a sink (as the other or as the main flow); merging
 *   with a NULL other;
 *   joining with a right flow that has a sink, or with itself, or an unknown mode. */
static void test_bad_usage(void) {
  wt_arr a;
  static const int64_t v[] = {1, 2, 3};
  wt_arr_i64(&a, NULL, v, 3);
  uint64_t count = 0;
  sl_flow *f = NULL, *g = NULL;
  int rc;

  two_sources(&a, &f, &g);
  EXPECT_RC(sl_flow_to_count(g, &count), SL_OK);
  sl_flow *const with_sink[1] = {g};
  rc = sl_flow_merge(f, with_sink, 1, 2, NULL, NULL);
  EXPECT_TRUE(is_inval_or_state(rc), "merge of a flow with a sink returned %d (%s)", rc,
              sl_err_name(rc));
  sl_flow_destroy(&f);
  sl_flow_destroy(&g);

  two_sources(&a, &f, &g);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  sl_flow *const plain[1] = {g};
  rc = sl_flow_merge(f, plain, 1, 2, NULL, NULL);
  EXPECT_TRUE(is_inval_or_state(rc), "merge into a flow with a sink returned %d (%s)", rc,
              sl_err_name(rc));
  sl_flow_destroy(&f);
  sl_flow_destroy(&g);

  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
  sl_flow *const null_other[1] = {NULL};
  rc = sl_flow_merge(f, null_other, 1, 2, NULL, NULL);
  EXPECT_TRUE(is_inval_or_state(rc), "merge with a NULL other returned %d (%s)", rc,
              sl_err_name(rc));
  sl_flow_destroy(&f);

  two_sources(&a, &f, &g);
  EXPECT_RC(sl_flow_to_count(g, &count), SL_OK);
  rc = sl_flow_join(f, g, SL_JOIN_INNER, 2, NULL, NULL);
  EXPECT_TRUE(is_inval_or_state(rc), "join with a right flow that has a sink returned %d (%s)", rc,
              sl_err_name(rc));
  sl_flow_destroy(&f);
  sl_flow_destroy(&g);

  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a.r, a.n, 1), SL_OK);
  rc = sl_flow_join(f, f, SL_JOIN_INNER, 2, NULL, NULL);
  EXPECT_TRUE(is_inval_or_state(rc), "join of a flow with itself returned %d (%s)", rc,
              sl_err_name(rc));
  sl_flow_destroy(&f);

  two_sources(&a, &f, &g);
  rc = sl_flow_join(f, g, (sl_join_mode)17, 2, NULL, NULL);
  EXPECT_TRUE(is_inval_or_state(rc), "join mode 17 returned %d (%s)", rc, sl_err_name(rc));
  sl_flow_destroy(&f);
  sl_flow_destroy(&g);
}

/* ================================================================ main */

static const mt_test tests[] = {
    {"join_modes", test_join_modes},
    {"join_partitioning", test_join_partitioning},
    {"join_empty_sides", test_join_empty_sides},
    {"join_binary", test_join_binary},
    {"window_join", test_window_join},
    {"join_then_reduce", test_join_then_reduce},
    {"join_reset_emits_unmatched", test_join_reset_emits_unmatched},
    {"join_on_trigger", test_join_on_trigger},
    {"merge_count", test_merge_count},
    {"merge_user_hash", test_merge_user_hash},
    {"bad_usage", test_bad_usage},
    {NULL, NULL},
};

int main(int argc, char **argv) {
  return mt_main(argc, argv, "join", tests);
}
