/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the window/trigger tests (test_window.c) and the join/merge tests
 * (test_join.c): small input arrays, a summing user reducer, on_trigger callbacks that
 * tag every emission with its trigger identity as text, and collection of the results as
 * a multiset of text records on rank 0.
 *
 * Every expected output in these tests is written out by hand, as text, next to the input
 * it comes from: the tests never recompute the library's logic. */
#ifndef SLUICE_TESTS_WIN_TEST_H
#define SLUICE_TESTS_WIN_TEST_H

#include "../mpi/mpi_test.h" /* the MPI CUnit harness: assertions, mt_main */

/* ---- input arrays: records (key, value) with the value an 8-byte native int64 or a
 * string; every rank builds the same array (sl_flow_from_array). */
#define WT_MAX 64
typedef struct wt_arr {
  sl_record r[WT_MAX];
  int64_t v[WT_MAX];
  size_t n;
} wt_arr;

/* keys: strings (NULL: empty key); vals: int64 values. */
static inline void wt_arr_i64(wt_arr *a, const char *const *keys, const int64_t *vals, size_t n) {
  memset(a, 0, sizeof *a);
  if (n > WT_MAX)
    n = WT_MAX;
  a->n = n;
  for (size_t i = 0; i < n; i++) {
    a->v[i] = vals[i];
    a->r[i].key = keys && keys[i] ? keys[i] : NULL;
    a->r[i].key_len = keys && keys[i] ? strlen(keys[i]) : 0;
    a->r[i].value = &a->v[i];
    a->r[i].value_len = 8;
  }
}

/* keys and string values (both NUL-terminated, stored without the NUL). */
static inline void wt_arr_str(wt_arr *a, const char *const *keys, const char *const *vals,
                              size_t n) {
  memset(a, 0, sizeof *a);
  if (n > WT_MAX)
    n = WT_MAX;
  a->n = n;
  for (size_t i = 0; i < n; i++) {
    a->r[i].key = keys[i];
    a->r[i].key_len = strlen(keys[i]);
    a->r[i].value = vals[i];
    a->r[i].value_len = strlen(vals[i]);
  }
}

/* The value of a record as an int64 (0 if it is not 8 bytes). */
static inline int64_t wt_val(const sl_record *r) {
  return r->value_len == 8 ? mt_i64(r->value) : 0;
}

/* Event time = the int64 value. */
static inline int wt_time_of_value(const sl_record *rec, int64_t *t, void *arg) {
  (void)arg;
  if (rec->value_len != 8)
    return 1;
  *t = mt_i64(rec->value);
  return 0;
}

/* ---- expected multisets of text records (empty key, the text as value) ---- */
static inline void wt_add_str(mt_recs *r, const char *s) {
  mt_recs_add(r, NULL, 0, s, strlen(s));
}
/* A NULL-terminated list of texts. */
static inline void wt_expect(mt_recs *r, const char *const *list) {
  for (size_t i = 0; list[i]; i++)
    wt_add_str(r, list[i]);
}
static inline int wt_emit_text(sl_emitter *out, const char *fmt_text) {
  return sl_emit(out, NULL, 0, fmt_text, strlen(fmt_text));
}

/* ---- a summing user reducer: acc = (sum, n) of the int64 values ---- */
typedef struct wt_sacc {
  int64_t sum, n;
} wt_sacc;

/* counts of the reducer's calls on this rank (to check that every acc is destroyed) */
typedef struct wt_calls {
  uint64_t init, fold, emit, destroy, alien_fold;
} wt_calls;
static wt_calls g_calls;

static inline void wt_calls_reset(void) {
  memset(&g_calls, 0, sizeof g_calls);
}

static inline int wt_sum_init(void **acc, void *arg) {
  (void)arg;
  g_calls.init++;
  *acc = calloc(1, sizeof(wt_sacc));
  return *acc ? 0 : 1;
}
static inline int wt_sum_fold(void *acc, const sl_record *in, void *arg) {
  (void)arg;
  wt_sacc *a = acc;
  g_calls.fold++;
  if (in->value_len != 8)
    return 7;
  a->sum += mt_i64(in->value);
  a->n++;
  return 0;
}
/* Default emission: one text record "sum=S n=N". */
static inline int wt_sum_emit(void *acc, sl_emitter *out, void *arg) {
  (void)arg;
  const wt_sacc *a = acc;
  char t[96];
  g_calls.emit++;
  snprintf(t, sizeof t, "sum=%lld n=%lld", (long long)a->sum, (long long)a->n);
  return wt_emit_text(out, t);
}
static inline void wt_sum_destroy(void *acc, void *arg) {
  (void)arg;
  g_calls.destroy++;
  free(acc);
}
/* A fold that must never be called (emit_and_reduce ignores reducer->fold). */
static inline int wt_alien_fold(void *acc, const sl_record *in, void *arg) {
  (void)acc;
  (void)in;
  (void)arg;
  g_calls.alien_fold++;
  return 9;
}
static inline sl_reducer wt_sum_reducer(void) {
  sl_reducer r = {wt_sum_init, wt_sum_fold, wt_sum_emit, wt_sum_destroy, NULL};
  return r;
}

/* ---- on_trigger callbacks that tag their output with the trigger's identity ---- */
static inline char wt_kind_char(sl_window_kind k) {
  switch (k) {
  case SL_WINDOW_GLOBAL:
    return 'G';
  case SL_WINDOW_COUNT:
    return 'C';
  case SL_WINDOW_FIXED:
    return 'F';
  case SL_WINDOW_PERIODIC:
    return 'P';
  }
  return '?';
}

/* misuse seen inside callbacks (acc/events not as documented), per rank */
static uint64_t g_cb_misuse;

/* For sl_flow_reduce: emits "p<i>/<P> <K> w<id> <trigger> sum=S n=N" and keeps *acc.
 * (events must be NULL and *acc the accumulator.) */
static inline int wt_tag_reduce(void **acc, sl_batch *events, const sl_trigger_info *info,
                                sl_emitter *out, void *arg) {
  (void)arg;
  if (events != NULL || acc == NULL || *acc == NULL) {
    g_cb_misuse++;
    return 0;
  }
  const wt_sacc *a = *acc;
  char t[160];
  snprintf(t, sizeof t, "p%d/%d %c w%lld %s sum=%lld n=%lld", info->partition, info->partitions,
           wt_kind_char(info->window_kind), (long long)info->window,
           info->trigger ? info->trigger : "(null)", (long long)a->sum, (long long)a->n);
  return wt_emit_text(out, t);
}

/* For the built-in reducers: one text per event of the batch.
 *   WT_EV_COUNT: value = uint64 count  -> "<prefix> key=K count=C"
 *   WT_EV_SUM:   value = int64 sum     -> "<prefix> key=K sum=S"
 *   WT_EV_GROUP: value = [u32 len][int64]... (group_by_key) -> "<prefix> key=K n=N sum=S"
 * prefix: "p<i>/<P> <K> w<id> <trigger>", without "p<i>/<P> " when the partition of a key
 * is chosen by the key hash (not worked out by hand). */
enum { WT_EV_COUNT, WT_EV_SUM, WT_EV_GROUP };
typedef struct wt_tag_opts {
  int value_kind;
  int show_partition;
} wt_tag_opts;

static inline int wt_tag_events(void **acc, sl_batch *events, const sl_trigger_info *info,
                                sl_emitter *out, void *arg) {
  const wt_tag_opts *o = arg;
  if (acc != NULL || events == NULL) { /* documented: acc NULL, events set */
    g_cb_misuse++;
    return 0;
  }
  char pre[96], t[256];
  if (o->show_partition)
    snprintf(pre, sizeof pre, "p%d/%d %c w%lld %s", info->partition, info->partitions,
             wt_kind_char(info->window_kind), (long long)info->window,
             info->trigger ? info->trigger : "(null)");
  else
    snprintf(pre, sizeof pre, "%c w%lld %s", wt_kind_char(info->window_kind),
             (long long)info->window, info->trigger ? info->trigger : "(null)");
  sl_record e;
  while (sl_batch_next(events, &e)) {
    int kl = (int)(e.key_len < 32 ? e.key_len : 32);
    if (o->value_kind == WT_EV_COUNT) {
      snprintf(t, sizeof t, "%s key=%.*s count=%llu", pre, kl, (const char *)e.key,
               (unsigned long long)(e.value_len == 8 ? mt_u64(e.value) : 999999));
    } else if (o->value_kind == WT_EV_SUM) {
      snprintf(t, sizeof t, "%s key=%.*s sum=%lld", pre, kl, (const char *)e.key,
               (long long)(e.value_len == 8 ? mt_i64(e.value) : 999999));
    } else {
      int64_t sum = 0, n = 0;
      size_t pos = 0;
      const char *p = e.value;
      while (pos + 4 <= e.value_len) {
        uint32_t l;
        memcpy(&l, p + pos, 4);
        if (l != 8 || e.value_len - pos - 4 < 8) {
          n = -1000; /* malformed: shows in the text */
          break;
        }
        sum += mt_i64(p + pos + 4);
        n++;
        pos += 12;
      }
      snprintf(t, sizeof t, "%s key=%.*s n=%lld sum=%lld", pre, kl, (const char *)e.key,
               (long long)n, (long long)sum);
    }
    int rc = wt_emit_text(out, t);
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- running a flow and gathering its output (collective) ---- */
/* Adds a to_callback sink, runs, gathers every rank's records to rank 0 in *all. Returns
 * sl_run's code. */
static inline int wt_run_gather(sl_flow *f, mt_recs *all) {
  mt_recs mine = {0};
  EXPECT_RC(sl_flow_to_callback(f, mt_sink_recs, &mine), SL_OK);
  int rc = sl_run(f);
  mt_recs_gather0(&mine, all);
  mt_recs_free(&mine);
  return rc;
}

/* Totals of this run's stats over all ranks (collective). */
static inline void wt_stats_sum(const sl_flow *f, uint64_t *late, uint64_t *triggers) {
  sl_stats st;
  memset(&st, 0, sizeof st);
  int rc = sl_flow_get_stats(f, -1, &st);
  EXPECT_RC(rc, SL_OK);
  *late = mt_sum_u64(st.late_dropped);
  *triggers = mt_sum_u64(st.triggers);
}

/* The texts of a multiset, for messages. */
static inline void wt_print(const char *what, mt_recs *r) {
  mt_recs_sort(r);
  fprintf(stderr, "[rank %d] %s (%zu records):\n", g_rank, what, r->n);
  for (size_t i = 0; i < r->n; i++) {
    sl_record x = mt_recs_get(r, i);
    fprintf(stderr, "    ");
    mt_print_rec(stderr, &x);
    fprintf(stderr, "\n");
  }
}

/* Compare on rank 0; on a difference, print both sides in full (small). */
#define WT_CHECK(got, exp, what)                                                                   \
  do {                                                                                             \
    if (g_rank == 0) {                                                                             \
      int ok_ = mt_recs_equal_((got), (exp), (what), __FILE__, __LINE__);                          \
      if (!ok_) {                                                                                  \
        wt_print("got", (got));                                                                    \
        wt_print("expected", (exp));                                                               \
      }                                                                                            \
      CU_ASSERT(ok_);                                                                              \
    }                                                                                              \
  } while (0)

/* A flow: from_array(a, parts) -> [window] -> reduce(sum) -> [on_trigger tag]. */
static inline sl_flow *wt_sum_flow(const wt_arr *a, int parts, const sl_window *w, int tag) {
  sl_flow *f = NULL;
  sl_reducer red = wt_sum_reducer();
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, a->r, a->n, parts), SL_OK);
  if (w)
    EXPECT_RC(sl_flow_window(f, w), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  if (tag)
    EXPECT_RC(sl_flow_on_trigger(f, wt_tag_reduce, NULL), SL_OK);
  return f;
}

/* Runs a flow, compares its output (gathered on rank 0) with the expected texts. */
static inline void wt_run_expect(sl_flow *f, const char *const *expected, const char *what) {
  mt_recs got = {0}, exp = {0};
  EXPECT_RC(wt_run_gather(f, &got), SL_OK);
  wt_expect(&exp, expected);
  WT_CHECK(&got, &exp, what);
  mt_recs_free(&got);
  mt_recs_free(&exp);
}

/* Every accumulator made by init was destroyed, summed over ranks; no callback misuse. */
static inline void wt_check_calls_balanced(const char *what) {
  uint64_t init = mt_sum_u64(g_calls.init), destroy = mt_sum_u64(g_calls.destroy);
  uint64_t misuse = mt_sum_u64(g_cb_misuse);
  EXPECT_TRUE(init == destroy, "%s: %llu accumulators made, %llu destroyed", what,
              (unsigned long long)init, (unsigned long long)destroy);
  EXPECT_U64(misuse, 0);
  g_cb_misuse = 0;
}

#endif
