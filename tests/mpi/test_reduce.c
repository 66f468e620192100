/* SPDX-License-Identifier: BSD-3-Clause */
/* MPI tests of the reducers: user reduce, reduce_by_key with every built-in aggregator and
 * user aggregators (with and without merge, i.e. with and without the map-side combiner),
 * group_by_key, uniq, uniq_by, take_sort and the emit modes; each against an oracle. */
#include "mpi_test.h"

#define NKEYS 200

/* Input of the aggregation tests: key "k<j>" (j < NKEYS, skewed towards small j) and an
 * 8-byte value, int64 or double. */
typedef struct agg_in {
  int64_t n;
  int f64; /* value type */
} agg_in;

static int agg_key(int64_t i) {
  uint64_t h = mt_mix((uint64_t)i * 7 + 1);
  return (h & 3) == 0 ? (int)((h >> 8) % 5) : (int)((h >> 8) % NKEYS);
}
static int64_t agg_ival(int64_t i) {
  return (int64_t)(mt_mix((uint64_t)i * 13 + 5) % 2000001) - 1000000;
}
static double agg_fval(int64_t i) {
  return (double)agg_ival(i) / 7.0 + 0.001 * (double)(i % 11);
}

static int agg_gen(int64_t i, sl_emitter *out, void *arg) {
  const agg_in *a = arg;
  char key[16];
  int kl = snprintf(key, sizeof key, "k%d", agg_key(i));
  if (a->f64) {
    double v = agg_fval(i);
    return sl_emit(out, key, (size_t)kl, &v, 8);
  }
  int64_t v = agg_ival(i);
  return sl_emit(out, key, (size_t)kl, &v, 8);
}

static int parse_key(const sl_record *r) {
  char buf[16];
  if (r->key_len < 2 || r->key_len > 10 || ((const char *)r->key)[0] != 'k')
    return -1;
  memcpy(buf, (const char *)r->key + 1, r->key_len - 1);
  buf[r->key_len - 1] = 0;
  int k = atoi(buf);
  return k >= 0 && k < NKEYS ? k : -1;
}

static const char *kind_name(sl_agg_kind k) {
  static const char *n[] = {"COUNT",   "SUM_I64", "SUM_F64",  "MIN_I64", "MAX_I64",
                            "MIN_F64", "MAX_F64", "MEAN_F64", "USER"};
  return n[k];
}

/* The oracle of a built-in aggregator over the input: per key, the result as 8 bytes. */
static void agg_oracle(sl_agg_kind kind, int64_t n, int present[NKEYS],
                       unsigned char out[NKEYS][8]) {
  static int64_t si[NKEYS], mi[NKEYS];
  static double sf[NKEYS], mf[NKEYS];
  static uint64_t cnt[NKEYS];
  for (int k = 0; k < NKEYS; k++) {
    si[k] = 0;
    sf[k] = 0;
    cnt[k] = 0;
    present[k] = 0;
  }
  for (int64_t i = 0; i < n; i++) {
    int k = agg_key(i);
    int64_t iv = agg_ival(i);
    double fv = agg_fval(i);
    if (!present[k]) {
      mi[k] = iv;
      mf[k] = fv;
    }
    present[k] = 1;
    cnt[k]++;
    si[k] += iv;
    sf[k] += fv;
    switch (kind) {
    case SL_AGG_MIN_I64:
      if (iv < mi[k])
        mi[k] = iv;
      break;
    case SL_AGG_MAX_I64:
      if (iv > mi[k])
        mi[k] = iv;
      break;
    case SL_AGG_MIN_F64:
      if (fv < mf[k])
        mf[k] = fv;
      break;
    case SL_AGG_MAX_F64:
      if (fv > mf[k])
        mf[k] = fv;
      break;
    default:
      break;
    }
  }
  for (int k = 0; k < NKEYS; k++) {
    double d;
    switch (kind) {
    case SL_AGG_COUNT:
      memcpy(out[k], &cnt[k], 8);
      break;
    case SL_AGG_SUM_I64:
      memcpy(out[k], &si[k], 8);
      break;
    case SL_AGG_SUM_F64:
      memcpy(out[k], &sf[k], 8);
      break;
    case SL_AGG_MIN_I64:
    case SL_AGG_MAX_I64:
      memcpy(out[k], &mi[k], 8);
      break;
    case SL_AGG_MIN_F64:
    case SL_AGG_MAX_F64:
      memcpy(out[k], &mf[k], 8);
      break;
    case SL_AGG_MEAN_F64:
      d = cnt[k] ? sf[k] / (double)cnt[k] : 0;
      memcpy(out[k], &d, 8);
      break;
    default:
      break;
    }
  }
}

static int is_f64_kind(sl_agg_kind k) {
  return k == SL_AGG_SUM_F64 || k == SL_AGG_MIN_F64 || k == SL_AGG_MAX_F64 || k == SL_AGG_MEAN_F64;
}

/* FNV-1a of the key: a user hash that still routes by key alone. */
static uint64_t fnv_key(const sl_record *r, void *arg) {
  (void)arg;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < r->key_len; i++)
    h = (h ^ ((const unsigned char *)r->key)[i]) * 1099511628211ull;
  return mt_mix(h);
}

enum { V_STAGE0, V_PARTITION7, V_USERHASH, V_DEPARTITION, V_FLUSHING, V_NV };
static const char *vname[] = {"in stage 0 (one partition)", "after partition(7) (combiner)",
                              "after a user-hash partition (no combiner)",
                              "after departition (combiner)",
                              "after partition(0) with combiner-bytes=1 (flushing combiner)"};

/* Builds source -> [boundary] ; the caller adds the reducer. */
static void build_input(sl_flow *f, int variant, void *gen_arg, int64_t n, sl_generate_fn gen) {
  EXPECT_RC(sl_flow_from_generator(f, n, gen, gen_arg, variant == V_STAGE0 ? 1 : 0), SL_OK);
  switch (variant) {
  case V_PARTITION7:
    EXPECT_RC(sl_flow_partition(f, 7, NULL, NULL), SL_OK);
    break;
  case V_USERHASH:
    EXPECT_RC(sl_flow_partition(f, 3, fnv_key, NULL), SL_OK);
    break;
  case V_DEPARTITION:
    EXPECT_RC(sl_flow_departition(f), SL_OK);
    break;
  case V_FLUSHING:
    EXPECT_RC(sl_flow_partition(f, 0, NULL, NULL), SL_OK);
    break;
  default:
    break;
  }
}

/* Compare a collection of (key, 8-byte value) with the oracle, one record per key. */
static void check_keyed(mt_recs *got, const int present[NKEYS], unsigned char exp[NKEYS][8],
                        int f64, const char *what) {
  int seen[NKEYS] = {0};
  int bad = 0, npresent = 0;
  for (int k = 0; k < NKEYS; k++)
    npresent += present[k];
  for (size_t i = 0; i < got->n && bad < 5; i++) {
    sl_record r = mt_recs_get(got, i);
    int k = parse_key(&r);
    if (k < 0 || !present[k] || r.value_len != 8) {
      MT_LOC();
      fprintf(stderr, "%s: unexpected record ", what);
      mt_print_rec(stderr, &r);
      fprintf(stderr, "\n");
      bad++;
      continue;
    }
    if (seen[k]++) {
      MT_LOC();
      fprintf(stderr, "%s: key k%d output %d times\n", what, k, seen[k]);
      bad++;
    }
    int ok;
    if (f64)
      ok = mt_close(mt_f64(r.value), mt_f64(exp[k]), 1e-9);
    else
      ok = memcmp(r.value, exp[k], 8) == 0;
    if (!ok) {
      MT_LOC();
      if (f64)
        fprintf(stderr, "%s: key k%d: %.17g, expected %.17g\n", what, k, mt_f64(r.value),
                mt_f64(exp[k]));
      else
        fprintf(stderr, "%s: key k%d: %lld, expected %lld\n", what, k, (long long)mt_i64(r.value),
                (long long)mt_i64(exp[k]));
      bad++;
    }
  }
  CU_ASSERT(bad == 0);
  if (got->n != (size_t)npresent) {
    MT_LOC();
    fprintf(stderr, "%s: %zu records, expected %d (one per key)\n", what, got->n, npresent);
  }
  CU_ASSERT(got->n == (size_t)npresent);
}

static void check_builtin(sl_agg_kind kind, int variant) {
  const int64_t N = 20000;
  agg_in in = {N, is_f64_kind(kind)};
  mt_saved_opt sv;
  if (variant == V_FLUSHING)
    mt_opt_set(&sv, "combiner-bytes", "1");
  sl_flow *f = NULL;
  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  build_input(f, variant, &in, N, agg_gen);
  sl_aggregator agg = sl_aggregator_builtin(kind);
  EXPECT_RC(sl_flow_reduce_by_key(f, &agg), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0) {
    mt_recs got = {0};
    if (c)
      mt_recs_from_collection(&got, c);
    static int present[NKEYS];
    static unsigned char exp[NKEYS][8];
    agg_oracle(kind, N, present, exp);
    char what[160];
    snprintf(what, sizeof what, "reduce_by_key(%s) %s", kind_name(kind), vname[variant]);
    check_keyed(&got, present, exp, is_f64_kind(kind), what);
    mt_recs_free(&got);
  }
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
  if (variant == V_FLUSHING)
    mt_opt_restore(&sv);
}

static void test_rbk_builtins_partition(void) {
  for (int k = SL_AGG_COUNT; k <= SL_AGG_MEAN_F64; k++)
    check_builtin((sl_agg_kind)k, V_PARTITION7);
}
static void test_rbk_builtins_stage0(void) {
  for (int k = SL_AGG_COUNT; k <= SL_AGG_MEAN_F64; k++)
    check_builtin((sl_agg_kind)k, V_STAGE0);
}
static void test_rbk_builtins_user_hash(void) {
  for (int k = SL_AGG_COUNT; k <= SL_AGG_MEAN_F64; k++)
    check_builtin((sl_agg_kind)k, V_USERHASH);
}
static void test_rbk_builtins_departition(void) {
  for (int k = SL_AGG_COUNT; k <= SL_AGG_MEAN_F64; k++)
    check_builtin((sl_agg_kind)k, V_DEPARTITION);
}
static void test_rbk_builtins_flushing_combiner(void) {
  for (int k = SL_AGG_COUNT; k <= SL_AGG_MEAN_F64; k++)
    check_builtin((sl_agg_kind)k, V_FLUSHING);
}

/* ---------------------------------------------------------------- user aggregators */

typedef struct ua_state {
  int64_t sumsq; /* wraps */
  uint64_t n;
  int64_t min;
} ua_state;

typedef struct ua_calls {
  uint64_t init, update, merge, finalize;
} ua_calls;

static int ua_init(void *s, void *arg) {
  ua_calls *c = arg;
  c->init++;
  ua_state st = {0, 0, INT64_MAX};
  memcpy(s, &st, sizeof st);
  return 0;
}
static int ua_update(void *s, const sl_record *in, void *arg) {
  ua_calls *c = arg;
  c->update++;
  if (in->value_len != 8)
    return 1;
  ua_state st;
  memcpy(&st, s, sizeof st);
  int64_t v = mt_i64(in->value);
  st.sumsq = (int64_t)((uint64_t)st.sumsq + (uint64_t)v * (uint64_t)v);
  st.n++;
  if (v < st.min)
    st.min = v;
  memcpy(s, &st, sizeof st);
  return 0;
}
static int ua_merge(void *s, const void *o, void *arg) {
  ua_calls *c = arg;
  c->merge++;
  ua_state a, b;
  memcpy(&a, s, sizeof a);
  memcpy(&b, o, sizeof b);
  a.sumsq = (int64_t)((uint64_t)a.sumsq + (uint64_t)b.sumsq);
  a.n += b.n;
  if (b.min < a.min)
    a.min = b.min;
  memcpy(s, &a, sizeof a);
  return 0;
}
/* output: {sumsq + n, min} (16 of the 24 state bytes) */
static int ua_finalize(void *s, size_t *len, void *arg) {
  ua_calls *c = arg;
  c->finalize++;
  ua_state st;
  memcpy(&st, s, sizeof st);
  int64_t out[2] = {(int64_t)((uint64_t)st.sumsq + st.n), st.min};
  memcpy(s, out, 16);
  *len = 16;
  return 0;
}

static void check_user_agg(int with_merge, int variant) {
  const int64_t N = 20000;
  agg_in in = {N, 0};
  ua_calls calls = {0};
  sl_aggregator agg = {
      SL_AGG_USER, sizeof(ua_state), ua_init, ua_update, with_merge ? ua_merge : NULL, ua_finalize,
      &calls};
  mt_saved_opt sv;
  if (variant == V_FLUSHING)
    mt_opt_set(&sv, "combiner-bytes", "1");
  sl_flow *f = NULL;
  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  build_input(f, variant, &in, N, agg_gen);
  EXPECT_RC(sl_flow_reduce_by_key(f, &agg), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  /* oracle */
  ua_state st[NKEYS];
  int present[NKEYS] = {0}, npresent = 0;
  for (int k = 0; k < NKEYS; k++)
    st[k] = (ua_state){0, 0, INT64_MAX};
  for (int64_t i = 0; i < N; i++) {
    int k = agg_key(i);
    int64_t v = agg_ival(i);
    st[k].sumsq = (int64_t)((uint64_t)st[k].sumsq + (uint64_t)v * (uint64_t)v);
    st[k].n++;
    if (v < st[k].min)
      st[k].min = v;
    if (!present[k]++)
      npresent++;
  }
  char what[160];
  snprintf(what, sizeof what, "user aggregator %s merge, %s", with_merge ? "with" : "without",
           vname[variant]);
  uint64_t upd = mt_sum_u64(calls.update), mrg = mt_sum_u64(calls.merge),
           fin = mt_sum_u64(calls.finalize);
  EXPECT_TRUE(upd == (uint64_t)N, "%s: update called %llu times for %lld records", what,
              (unsigned long long)upd, (long long)N);
  EXPECT_TRUE(fin == (uint64_t)npresent, "%s: finalize called %llu times for %d keys", what,
              (unsigned long long)fin, npresent);
  if (!with_merge)
    EXPECT_U64(mrg, 0);
  /* the combiner runs exactly where the header says it does */
  if (with_merge && (variant == V_PARTITION7 || variant == V_DEPARTITION || variant == V_FLUSHING))
    EXPECT_TRUE(mrg > 0, "%s: merge never called (no map-side combining)", what);
  if (g_rank == 0) {
    mt_recs got = {0}, exp = {0};
    if (c)
      mt_recs_from_collection(&got, c);
    for (int k = 0; k < NKEYS; k++) {
      if (!present[k])
        continue;
      char key[16];
      int kl = snprintf(key, sizeof key, "k%d", k);
      int64_t out[2] = {(int64_t)((uint64_t)st[k].sumsq + st[k].n), st[k].min};
      mt_recs_add(&exp, key, (size_t)kl, out, 16);
    }
    EXPECT_RECS_EQUAL(&got, &exp, what);
    mt_recs_free(&got);
    mt_recs_free(&exp);
  }
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
  if (variant == V_FLUSHING)
    mt_opt_restore(&sv);
}

static void test_rbk_user_with_merge(void) {
  for (int v = 0; v < V_NV; v++)
    check_user_agg(1, v);
}
static void test_rbk_user_without_merge(void) {
  for (int v = 0; v < V_NV; v++)
    check_user_agg(0, v);
}

/* ---------------------------------------------------------------- skew */

/* 90% of the records share one key. */
static int skew_gen(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  char key[16];
  int kl = (mt_mix((uint64_t)i) % 10) != 0 ? snprintf(key, sizeof key, "hot")
                                           : snprintf(key, sizeof key, "c%d", (int)(i % 300));
  return sl_emit(out, key, (size_t)kl, &i, 8);
}

static void test_rbk_skew(void) {
  const int64_t N = 50000;
  const int parts_list[] = {0, 7};
  for (int pi = 0; pi < 2; pi++) {
    sl_flow *f = NULL;
    sl_collection *c = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_generator(f, N, skew_gen, NULL, 0), SL_OK);
    EXPECT_RC(sl_flow_partition(f, parts_list[pi], NULL, NULL), SL_OK);
    sl_aggregator agg = sl_aggregator_builtin(SL_AGG_COUNT);
    EXPECT_RC(sl_flow_reduce_by_key(f, &agg), SL_OK);
    EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    if (g_rank == 0) {
      uint64_t hot = 0, cold[300] = {0};
      for (int64_t i = 0; i < N; i++) {
        if (mt_mix((uint64_t)i) % 10 != 0)
          hot++;
        else
          cold[i % 300]++;
      }
      EXPECT_TRUE(hot * 10 >= (uint64_t)N * 8, "the input is not skewed (%llu hot)",
                  (unsigned long long)hot);
      mt_recs got = {0}, exp = {0};
      if (c)
        mt_recs_from_collection(&got, c);
      mt_recs_add(&exp, "hot", 3, &hot, 8);
      for (int j = 0; j < 300; j++) {
        if (!cold[j])
          continue;
        char key[16];
        int kl = snprintf(key, sizeof key, "c%d", j);
        mt_recs_add(&exp, key, (size_t)kl, &cold[j], 8);
      }
      EXPECT_RECS_EQUAL(&got, &exp, "skewed reduce_by_key(COUNT)");
      mt_recs_free(&got);
      mt_recs_free(&exp);
    }
    sl_collection_destroy(&c);
    sl_flow_destroy(&f);
  }
}

/* ---------------------------------------------------------------- user reduce */

typedef struct sum_acc {
  int64_t sum;
  uint64_t n;
} sum_acc;
typedef struct red_calls {
  uint64_t init, destroy, emit, fold;
} red_calls;

static int sum_init(void **acc, void *arg) {
  ((red_calls *)arg)->init++;
  *acc = calloc(1, sizeof(sum_acc));
  return *acc ? 0 : 1;
}
/* level 1: folds int64 values; level 2: folds {sum, n} records */
static int sum_fold1(void *acc, const sl_record *in, void *arg) {
  sum_acc *a = acc;
  ((red_calls *)arg)->fold++;
  a->sum += mt_i64(in->value);
  a->n++;
  return 0;
}
static int sum_fold2(void *acc, const sl_record *in, void *arg) {
  sum_acc *a = acc, b;
  ((red_calls *)arg)->fold++;
  if (in->value_len != sizeof b)
    return 1;
  memcpy(&b, in->value, sizeof b);
  a->sum += b.sum;
  a->n += b.n;
  return 0;
}
static int sum_emit(void *acc, sl_emitter *out, void *arg) {
  ((red_calls *)arg)->emit++;
  return sl_emit(out, "sum", 3, acc, sizeof(sum_acc));
}
static void sum_destroy(void *acc, void *arg) {
  ((red_calls *)arg)->destroy++;
  free(acc);
}

static void test_reduce_user(void) {
  const int64_t N = 30000;
  const int P = 5;
  red_calls c1 = {0}, c2 = {0};
  sl_reducer r1 = {sum_init, sum_fold1, sum_emit, sum_destroy, &c1};
  sl_reducer r2 = {sum_init, sum_fold2, sum_emit, sum_destroy, &c2};
  /* one level: one accumulator per partition */
  mt_recs mine = {0}, got = {0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 1, N + 1, P), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &r1), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, mt_sink_recs, &mine), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  sl_flow_destroy(&f);
  EXPECT_U64(mt_sum_u64(c1.init), (uint64_t)P);
  EXPECT_U64(mt_sum_u64(c1.destroy), (uint64_t)P);
  EXPECT_U64(mt_sum_u64(c1.emit), (uint64_t)P);
  EXPECT_U64(mt_sum_u64(c1.fold), (uint64_t)N);
  mt_recs_gather0(&mine, &got);
  if (g_rank == 0) {
    EXPECT_U64(got.n, (uint64_t)P);
    int64_t sum = 0;
    uint64_t n = 0;
    for (size_t i = 0; i < got.n; i++) {
      sl_record r = mt_recs_get(&got, i);
      sum_acc a = {0, 0};
      if (r.value_len == sizeof a)
        memcpy(&a, r.value, sizeof a);
      sum += a.sum;
      n += a.n;
    }
    EXPECT_INT(sum, N * (N + 1) / 2);
    EXPECT_U64(n, (uint64_t)N);
  }
  mt_recs_free(&mine);
  mt_recs_free(&got);

  /* two levels: per partition, then one total after departition */
  memset(&c1, 0, sizeof c1);
  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 1, N + 1, 7), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 3, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &r1), SL_OK);
  EXPECT_RC(sl_flow_departition(f), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &r2), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0) {
    EXPECT_U64(sl_collection_count(c), 1);
    sl_record r;
    if (sl_collection_count(c) == 1 && sl_collection_get(c, 0, &r) == SL_OK) {
      sum_acc a = {0, 0};
      EXPECT_U64(r.value_len, sizeof a);
      if (r.value_len == sizeof a)
        memcpy(&a, r.value, sizeof a);
      EXPECT_INT(a.sum, N * (N + 1) / 2);
      EXPECT_U64(a.n, (uint64_t)N);
    }
  }
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
  EXPECT_U64(mt_sum_u64(c1.init), 3);
  EXPECT_U64(mt_sum_u64(c2.init), 1);
  EXPECT_U64(mt_sum_u64(c2.destroy), 1);
  EXPECT_U64(mt_sum_u64(c2.fold), 3);
}

/* ---------------------------------------------------------------- group_by_key */

static int grp_gen(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  char key[16], val[64];
  int kl = snprintf(key, sizeof key, "g%d", (int)(mt_mix((uint64_t)i + 99) % 37));
  size_t vl = (size_t)(mt_mix((uint64_t)i + 7) % 40); /* 0..39 bytes, binary */
  for (size_t b = 0; b < vl; b++)
    val[b] = (char)(mt_mix((uint64_t)i * 64 + b) & 0xff);
  return sl_emit(out, key, (size_t)kl, val, vl);
}

static void check_group(int variant) {
  const int64_t N = 8000;
  sl_flow *f = NULL;
  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, N, grp_gen, NULL, variant == 0 ? 1 : 0), SL_OK);
  if (variant == 1)
    EXPECT_RC(sl_flow_partition(f, 5, NULL, NULL), SL_OK);
  if (variant == 2)
    EXPECT_RC(sl_flow_departition(f), SL_OK);
  EXPECT_RC(sl_flow_group_by_key(f), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0) {
    mt_recs got = {0}, pairs = {0}, exp = {0};
    if (c)
      mt_recs_from_collection(&got, c);
    /* each key once; decode [u32 len][bytes]... into (key, value) pairs */
    mt_recs keys = {0}, expkeys = {0};
    int malformed = 0;
    for (size_t i = 0; i < got.n; i++) {
      sl_record r = mt_recs_get(&got, i);
      mt_recs_add(&keys, r.key, r.key_len, NULL, 0);
      const char *p = r.value;
      size_t pos = 0;
      while (pos < r.value_len) {
        uint32_t l;
        if (r.value_len - pos < 4) {
          malformed++;
          break;
        }
        memcpy(&l, p + pos, 4);
        if (r.value_len - pos - 4 < l) {
          malformed++;
          break;
        }
        mt_recs_add(&pairs, r.key, r.key_len, p + pos + 4, l);
        pos += 4 + (size_t)l;
      }
    }
    EXPECT_INT(malformed, 0);
    int seen[37] = {0};
    for (int64_t i = 0; i < N; i++) {
      char key[16], val[64];
      int g = (int)(mt_mix((uint64_t)i + 99) % 37);
      int kl = snprintf(key, sizeof key, "g%d", g);
      size_t vl = (size_t)(mt_mix((uint64_t)i + 7) % 40);
      for (size_t b = 0; b < vl; b++)
        val[b] = (char)(mt_mix((uint64_t)i * 64 + b) & 0xff);
      mt_recs_add(&exp, key, (size_t)kl, val, vl);
      if (!seen[g]++)
        mt_recs_add(&expkeys, key, (size_t)kl, NULL, 0);
    }
    EXPECT_RECS_EQUAL(&keys, &expkeys, "group_by_key: one record per key");
    EXPECT_RECS_EQUAL(&pairs, &exp, "group_by_key: values per key");
    mt_recs_free(&got);
    mt_recs_free(&pairs);
    mt_recs_free(&exp);
    mt_recs_free(&keys);
    mt_recs_free(&expkeys);
  }
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
}

static void test_group_by_key(void) {
  check_group(0);
  check_group(1);
  check_group(2);
}

/* ---------------------------------------------------------------- uniq, uniq_by */

static int dup_gen(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  char key[16];
  int kl = snprintf(key, sizeof key, "u%d", (int)(mt_mix((uint64_t)i) % 40));
  int64_t v = (int64_t)(mt_mix((uint64_t)i + 1000) % 5);
  return sl_emit(out, key, (size_t)kl, &v, 8);
}
static void dup_rec(int64_t i, char *key, int *kl, int64_t *v) {
  *kl = snprintf(key, 16, "u%d", (int)(mt_mix((uint64_t)i) % 40));
  *v = (int64_t)(mt_mix((uint64_t)i + 1000) % 5);
}

static void test_uniq(void) {
  const int64_t N = 10000;
  for (int variant = 0; variant < 3; variant++) {
    sl_flow *f = NULL;
    sl_collection *c = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_generator(f, N, dup_gen, NULL, variant == 0 ? 1 : 0), SL_OK);
    if (variant == 1)
      EXPECT_RC(sl_flow_partition(f, 0, NULL, NULL), SL_OK);
    if (variant == 2)
      EXPECT_RC(sl_flow_partition(f, 7, NULL, NULL), SL_OK);
    EXPECT_RC(sl_flow_uniq(f), SL_OK);
    EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    if (g_rank == 0) {
      mt_recs got = {0}, exp = {0};
      if (c)
        mt_recs_from_collection(&got, c);
      static unsigned char seen[40][5];
      memset(seen, 0, sizeof seen);
      for (int64_t i = 0; i < N; i++) {
        char key[16];
        int kl;
        int64_t v;
        dup_rec(i, key, &kl, &v);
        if (!seen[atoi(key + 1)][v]++)
          mt_recs_add(&exp, key, (size_t)kl, &v, 8);
      }
      EXPECT_RECS_EQUAL(&got, &exp, "uniq");
      mt_recs_free(&got);
      mt_recs_free(&exp);
    }
    sl_collection_destroy(&c);
    sl_flow_destroy(&f);
  }
}

/* uniq, then a reduce in the same stage: distinct values per key */
static void test_uniq_then_reduce(void) {
  const int64_t N = 10000;
  sl_flow *f = NULL;
  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, N, dup_gen, NULL, 0), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 7, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_uniq(f), SL_OK);
  sl_aggregator agg = sl_aggregator_builtin(SL_AGG_COUNT);
  EXPECT_RC(sl_flow_reduce_by_key(f, &agg), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0) {
    mt_recs got = {0}, exp = {0};
    if (c)
      mt_recs_from_collection(&got, c);
    unsigned char seen[40][5];
    uint64_t distinct[40] = {0};
    memset(seen, 0, sizeof seen);
    for (int64_t i = 0; i < N; i++) {
      char key[16];
      int kl;
      int64_t v;
      dup_rec(i, key, &kl, &v);
      int k = atoi(key + 1);
      if (!seen[k][v]++)
        distinct[k]++;
    }
    for (int k = 0; k < 40; k++) {
      if (!distinct[k])
        continue;
      char key[16];
      int kl = snprintf(key, sizeof key, "u%d", k);
      mt_recs_add(&exp, key, (size_t)kl, &distinct[k], 8);
    }
    EXPECT_RECS_EQUAL(&got, &exp, "uniq then reduce_by_key(COUNT)");
    mt_recs_free(&got);
    mt_recs_free(&exp);
  }
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
}

/* uniq_by the key alone / by value mod 3 */
static int by_key(const sl_record *in, sl_record *key_out, void *arg) {
  (void)arg;
  key_out->key = in->key;
  key_out->key_len = in->key_len;
  return 0;
}
static int by_class(const sl_record *in, sl_record *key_out, void *arg) {
  static unsigned char cls;
  (void)arg;
  cls = (unsigned char)(mt_i64(in->value) % 3);
  key_out->key = &cls;
  key_out->key_len = 1;
  return 0;
}
static uint64_t hash_class(const sl_record *rec, void *arg) {
  (void)arg;
  return mt_mix((uint64_t)(mt_i64(rec->value) % 3));
}

static void test_uniq_by(void) {
  const int64_t N = 10000;
  for (int variant = 0; variant < 2; variant++) {
    sl_flow *f = NULL;
    sl_collection *c = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    /* one producer, so every partition sees its records in input order */
    EXPECT_RC(sl_flow_from_generator(f, N, dup_gen, NULL, 1), SL_OK);
    if (variant == 0) {
      EXPECT_RC(sl_flow_partition(f, 3, NULL, NULL), SL_OK);
      EXPECT_RC(sl_flow_uniq_by(f, by_key, NULL), SL_OK);
    } else {
      EXPECT_RC(sl_flow_partition(f, 0, hash_class, NULL), SL_OK);
      EXPECT_RC(sl_flow_uniq_by(f, by_class, NULL), SL_OK);
    }
    EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    if (g_rank == 0) {
      mt_recs got = {0}, exp = {0};
      if (c)
        mt_recs_from_collection(&got, c);
      int seen[40] = {0};
      for (int64_t i = 0; i < N; i++) {
        char key[16];
        int kl;
        int64_t v;
        dup_rec(i, key, &kl, &v);
        int cls = variant == 0 ? atoi(key + 1) : (int)(v % 3);
        if (!seen[cls]++)
          mt_recs_add(&exp, key, (size_t)kl, &v, 8); /* the first of its class */
      }
      EXPECT_RECS_EQUAL(&got, &exp,
                        variant == 0 ? "uniq_by(key): first per key" : "uniq_by(value mod 3)");
      mt_recs_free(&got);
      mt_recs_free(&exp);
    }
    sl_collection_destroy(&c);
    sl_flow_destroy(&f);
  }
}

/* ---------------------------------------------------------------- take_sort */

static int64_t ts_score(int64_t i) {
  return (int64_t)(mt_mix((uint64_t)i * 3 + 17) % 100);
}

static int ts_gen(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  char key[16];
  int kl = snprintf(key, sizeof key, "r%lld", (long long)i);
  int64_t s = ts_score(i);
  return sl_emit(out, key, (size_t)kl, &s, 8);
}

/* score descending (ties compare equal) */
static int cmp_score(const sl_record *a, const sl_record *b, void *arg) {
  (void)arg;
  int64_t x = mt_i64(a->value), y = mt_i64(b->value);
  return x > y ? -1 : x < y;
}
/* score descending, then key ascending: a total order */
static int cmp_total(const sl_record *a, const sl_record *b, void *arg) {
  int c = cmp_score(a, b, arg);
  return c ? c : mt_bytes_cmp(a->key, a->key_len, b->key, b->key_len);
}

static const mt_recs *ts_base;
static int ts_qcmp(const void *x, const void *y) {
  sl_record a = mt_recs_get(ts_base, *(const size_t *)x),
            b = mt_recs_get(ts_base, *(const size_t *)y);
  return cmp_total(&a, &b, NULL);
}

static void check_take_sort(size_t k, int variant, int ties) {
  const int64_t N = 5000;
  sl_flow *f = NULL;
  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, N, ts_gen, NULL, variant == 0 ? 7 : 0), SL_OK);
  if (variant == 1)
    EXPECT_RC(sl_flow_partition(f, 5, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_take_sort(f, k, ties ? cmp_score : cmp_total, NULL), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0) {
    mt_recs all = {0};
    for (int64_t i = 0; i < N; i++) {
      char key[16];
      int kl = snprintf(key, sizeof key, "r%lld", (long long)i);
      int64_t s = ts_score(i);
      mt_recs_add(&all, key, (size_t)kl, &s, 8);
    }
    size_t *order = malloc(all.n * sizeof *order);
    for (size_t i = 0; i < all.n; i++)
      order[i] = i;
    ts_base = &all;
    qsort(order, all.n, sizeof *order, ts_qcmp);
    size_t want = k < all.n ? k : all.n;
    size_t n = sl_collection_count(c);
    char what[96];
    snprintf(what, sizeof what, "take_sort(k=%zu, %s, variant %d)", k,
             ties ? "ties" : "total order", variant);
    EXPECT_TRUE(n == want, "%s: %zu records, expected %zu", what, n, want);
    int bad = 0;
    unsigned char *used = calloc(all.n, 1);
    for (size_t i = 0; i < n && i < want && bad < 3; i++) {
      sl_record r, e = mt_recs_get(&all, order[i]);
      if (sl_collection_get(c, i, &r) != SL_OK) {
        bad++;
        continue;
      }
      /* in order, with the oracle's score at every position */
      if (r.value_len != 8 || mt_i64(r.value) != mt_i64(e.value)) {
        MT_LOC();
        fprintf(stderr, "%s: position %zu has ", what, i);
        mt_print_rec(stderr, &r);
        fprintf(stderr, ", expected score %lld\n", (long long)mt_i64(e.value));
        bad++;
        continue;
      }
      if (!ties) {
        if (mt_rec_cmp(&r, &e) != 0) {
          MT_LOC();
          fprintf(stderr, "%s: position %zu differs\n", what, i);
          bad++;
        }
      } else {
        /* an input record, each used once */
        char kb[16];
        size_t kl = r.key_len < 15 ? r.key_len : 15;
        memcpy(kb, r.key, kl);
        kb[kl] = 0;
        long long idx = kb[0] == 'r' ? atoll(kb + 1) : -1;
        if (idx < 0 || idx >= N || ts_score(idx) != mt_i64(r.value) || used[idx]++) {
          MT_LOC();
          fprintf(stderr, "%s: position %zu is not a distinct input record\n", what, i);
          bad++;
        }
      }
    }
    CU_ASSERT(bad == 0);
    free(used);
    free(order);
    mt_recs_free(&all);
  } else if (c) {
    EXPECT_U64(sl_collection_count(c), 0);
  }
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
}

static void test_take_sort(void) {
  const size_t ks[] = {0, 1, 10, 25, 137, 6000};
  for (int t = 0; t < 2; t++)
    for (int v = 0; v < 2; v++)
      for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        check_take_sort(ks[i], v, t);
}

/* take_sort after a reducer in the same stage: the top keys by count. */
static int cmp_count_desc(const sl_record *a, const sl_record *b, void *arg) {
  (void)arg;
  uint64_t x = mt_u64(a->value), y = mt_u64(b->value);
  if (x != y)
    return x > y ? -1 : 1;
  return mt_bytes_cmp(a->key, a->key_len, b->key, b->key_len);
}

static void test_take_sort_after_reduce(void) {
  const int64_t N = 20000;
  agg_in in = {N, 0};
  for (int parts = 0; parts <= 7; parts += 7) {
    sl_flow *f = NULL;
    sl_collection *c = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_generator(f, N, agg_gen, &in, 0), SL_OK);
    EXPECT_RC(sl_flow_partition(f, parts, NULL, NULL), SL_OK);
    sl_aggregator agg = sl_aggregator_builtin(SL_AGG_COUNT);
    EXPECT_RC(sl_flow_reduce_by_key(f, &agg), SL_OK);
    EXPECT_RC(sl_flow_take_sort(f, 12, cmp_count_desc, NULL), SL_OK);
    EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    if (g_rank == 0) {
      static int present[NKEYS];
      static unsigned char cnt[NKEYS][8];
      agg_oracle(SL_AGG_COUNT, N, present, cnt);
      mt_recs all = {0};
      for (int k = 0; k < NKEYS; k++) {
        if (!present[k])
          continue;
        char key[16];
        int kl = snprintf(key, sizeof key, "k%d", k);
        mt_recs_add(&all, key, (size_t)kl, cnt[k], 8);
      }
      /* selection sort of the 12 best by the same order */
      size_t n = sl_collection_count(c);
      EXPECT_U64(n, 12);
      unsigned char *taken = calloc(all.n, 1);
      int ok = 1;
      for (size_t pos = 0; pos < 12 && pos < n; pos++) {
        size_t best = all.n;
        for (size_t i = 0; i < all.n; i++) {
          if (taken[i])
            continue;
          sl_record a = mt_recs_get(&all, i);
          if (best == all.n) {
            best = i;
            continue;
          }
          sl_record b = mt_recs_get(&all, best);
          if (cmp_count_desc(&a, &b, NULL) < 0)
            best = i;
        }
        taken[best] = 1;
        sl_record r, e = mt_recs_get(&all, best);
        if (sl_collection_get(c, pos, &r) != SL_OK || mt_rec_cmp(&r, &e) != 0) {
          MT_LOC();
          fprintf(stderr, "take_sort after reduce: position %zu is ", pos);
          if (sl_collection_get(c, pos, &r) == SL_OK)
            mt_print_rec(stderr, &r);
          fprintf(stderr, ", expected ");
          mt_print_rec(stderr, &e);
          fprintf(stderr, "\n");
          ok = 0;
          break;
        }
      }
      CU_ASSERT(ok);
      free(taken);
      mt_recs_free(&all);
    }
    sl_collection_destroy(&c);
    sl_flow_destroy(&f);
  }
}

/* ---------------------------------------------------------------- emit modes */

/* Decodes an EMIT_STATE value into records (returns 0 if malformed). */
static int decode_state(const sl_record *r, mt_recs *out) {
  const char *p = r->value;
  size_t pos = 0;
  while (pos < r->value_len) {
    uint32_t kl, vl;
    if (r->value_len - pos < 8)
      return 0;
    memcpy(&kl, p + pos, 4);
    memcpy(&vl, p + pos + 4, 4);
    if (r->value_len - pos - 8 < (uint64_t)kl + vl)
      return 0;
    mt_recs_add(out, p + pos + 8, kl, p + pos + 8 + kl, vl);
    pos += 8 + (size_t)kl + vl;
  }
  return 1;
}

static void test_emit_state(void) {
  const int64_t N = 20000;
  const int P = 5;
  agg_in in = {N, 0};
  /* reduce_by_key(COUNT): one record per partition holding that partition's counts */
  sl_flow *f = NULL;
  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, N, agg_gen, &in, 0), SL_OK);
  EXPECT_RC(sl_flow_partition(f, P, NULL, NULL), SL_OK);
  sl_aggregator agg = sl_aggregator_builtin(SL_AGG_COUNT);
  EXPECT_RC(sl_flow_reduce_by_key(f, &agg), SL_OK);
  EXPECT_RC(sl_flow_emit(f, SL_EMIT_STATE), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0) {
    size_t n = sl_collection_count(c);
    EXPECT_TRUE(n == (size_t)P, "emit(STATE): %zu records from %d partitions", n, P);
    mt_recs events = {0}, exp = {0}, keys = {0};
    for (size_t i = 0; i < n; i++) {
      sl_record r;
      if (sl_collection_get(c, i, &r) != SL_OK)
        continue;
      EXPECT_TRUE(decode_state(&r, &events), "malformed state record %zu", i);
    }
    static int present[NKEYS];
    static unsigned char cnt[NKEYS][8];
    agg_oracle(SL_AGG_COUNT, N, present, cnt);
    for (int k = 0; k < NKEYS; k++) {
      if (!present[k])
        continue;
      char key[16];
      int kl = snprintf(key, sizeof key, "k%d", k);
      mt_recs_add(&exp, key, (size_t)kl, cnt[k], 8);
    }
    EXPECT_RECS_EQUAL(&events, &exp, "emit(STATE) of reduce_by_key(COUNT), decoded");
    (void)keys;
    mt_recs_free(&events);
    mt_recs_free(&exp);
  }
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);

  /* a user reducer's events, captured as one record per partition */
  red_calls rc = {0};
  sl_reducer red = {sum_init, sum_fold1, sum_emit, sum_destroy, &rc};
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, N, 3), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  EXPECT_RC(sl_flow_emit(f, SL_EMIT_STATE), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0) {
    size_t n = sl_collection_count(c);
    EXPECT_U64(n, 3);
    int64_t sum = 0;
    uint64_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
      sl_record r;
      mt_recs ev = {0};
      if (sl_collection_get(c, i, &r) != SL_OK)
        continue;
      EXPECT_TRUE(decode_state(&r, &ev) && ev.n == 1, "state record %zu: not one event", i);
      if (ev.n == 1) {
        sl_record e = mt_recs_get(&ev, 0);
        sum_acc a = {0, 0};
        if (e.value_len == sizeof a)
          memcpy(&a, e.value, sizeof a);
        sum += a.sum;
        cnt += a.n;
        EXPECT_TRUE(e.key_len == 3 && !memcmp(e.key, "sum", 3), "event key");
      }
      mt_recs_free(&ev);
    }
    EXPECT_INT(sum, N * (N - 1) / 2);
    EXPECT_U64(cnt, (uint64_t)N);
  }
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);

  /* take_sort's final list as one record, in order */
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, 5000, ts_gen, NULL, 0), SL_OK);
  EXPECT_RC(sl_flow_take_sort(f, 20, cmp_total, NULL), SL_OK);
  EXPECT_RC(sl_flow_emit(f, SL_EMIT_STATE), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0) {
    EXPECT_U64(sl_collection_count(c), 1);
    sl_record r;
    mt_recs ev = {0}, all = {0};
    if (sl_collection_count(c) == 1 && sl_collection_get(c, 0, &r) == SL_OK)
      EXPECT_TRUE(decode_state(&r, &ev), "malformed take_sort state");
    for (int64_t i = 0; i < 5000; i++) {
      char key[16];
      int kl = snprintf(key, sizeof key, "r%lld", (long long)i);
      int64_t s = ts_score(i);
      mt_recs_add(&all, key, (size_t)kl, &s, 8);
    }
    size_t *order = malloc(all.n * sizeof *order);
    for (size_t i = 0; i < all.n; i++)
      order[i] = i;
    ts_base = &all;
    qsort(order, all.n, sizeof *order, ts_qcmp);
    EXPECT_U64(ev.n, 20);
    int same = ev.n == 20;
    for (size_t i = 0; same && i < 20; i++) {
      sl_record a = mt_recs_get(&ev, i), b = mt_recs_get(&all, order[i]);
      same = mt_rec_cmp(&a, &b) == 0;
    }
    EXPECT_TRUE(same, "take_sort emit(STATE): the events are not the top 20 in order");
    free(order);
    mt_recs_free(&ev);
    mt_recs_free(&all);
  }
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
}

static void test_emit_nothing(void) {
  const int64_t N = 20000;
  agg_in in = {N, 0};
  uint64_t count = 99;
  ua_calls calls = {0};
  sl_aggregator agg = {SL_AGG_USER, sizeof(ua_state), ua_init, ua_update,
                       ua_merge,    ua_finalize,      &calls};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, N, agg_gen, &in, 0), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 7, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_reduce_by_key(f, &agg), SL_OK);
  EXPECT_RC(sl_flow_emit(f, SL_EMIT_NOTHING), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_U64(count, 0);
  EXPECT_U64(mt_sum_u64(calls.update), (uint64_t)N); /* the reduction still ran */
  sl_flow_destroy(&f);

  /* a user reducer: folds everything, never emits; a later stage sees nothing */
  red_calls rc = {0};
  sl_reducer red = {sum_init, sum_fold1, sum_emit, sum_destroy, &rc};
  count = 99;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, N, 0), SL_OK);
  EXPECT_RC(sl_flow_shuffle(f, 7), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  EXPECT_RC(sl_flow_emit(f, SL_EMIT_NOTHING), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 3, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_U64(count, 0);
  EXPECT_U64(mt_sum_u64(rc.fold), (uint64_t)N);
  sl_flow_destroy(&f);
  EXPECT_U64(mt_sum_u64(rc.destroy), mt_sum_u64(rc.init));

  /* emit() without a reducer in the stage is refused */
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, N, 0), SL_OK);
  EXPECT_RC(sl_flow_emit(f, SL_EMIT_NOTHING), SL_ERR_STATE);
  sl_flow_destroy(&f);
}

/* A second reducer in one stage is refused (as in Flow). */
static void test_one_reducer_per_stage(void) {
  sl_flow *f = NULL;
  sl_aggregator agg = sl_aggregator_builtin(SL_AGG_COUNT);
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  EXPECT_RC(sl_flow_reduce_by_key(f, &agg), SL_OK);
  EXPECT_RC(sl_flow_group_by_key(f), SL_ERR_STATE);
  sl_flow_destroy(&f);
  /* and a user aggregator without finalize */
  sl_aggregator bad = {SL_AGG_USER, 8, ua_init, ua_update, NULL, NULL, NULL};
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  EXPECT_RC(sl_flow_reduce_by_key(f, &bad), SL_ERR_INVAL);
  sl_flow_destroy(&f);
}

static const mt_test tests[] = {
    {"rbk_builtins_partition", test_rbk_builtins_partition},
    {"rbk_builtins_stage0", test_rbk_builtins_stage0},
    {"rbk_builtins_user_hash", test_rbk_builtins_user_hash},
    {"rbk_builtins_departition", test_rbk_builtins_departition},
    {"rbk_builtins_flushing_combiner", test_rbk_builtins_flushing_combiner},
    {"rbk_user_with_merge", test_rbk_user_with_merge},
    {"rbk_user_without_merge", test_rbk_user_without_merge},
    {"rbk_skew", test_rbk_skew},
    {"reduce_user", test_reduce_user},
    {"group_by_key", test_group_by_key},
    {"uniq", test_uniq},
    {"uniq_then_reduce", test_uniq_then_reduce},
    {"uniq_by", test_uniq_by},
    {"take_sort", test_take_sort},
    {"take_sort_after_reduce", test_take_sort_after_reduce},
    {"emit_state", test_emit_state},
    {"emit_nothing", test_emit_nothing},
    {"one_reducer_per_stage", test_one_reducer_per_stage},
    {NULL, NULL},
};

int main(int argc, char **argv) {
  return mt_main(argc, argv, "mpi_reduce", tests);
}
