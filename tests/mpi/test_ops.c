/* SPDX-License-Identifier: BSD-3-Clause */
/* MPI tests of the sources, the per-record operators, repartitioning and the sinks, each
 * compared with a sequential oracle computed here; and the statistics' bookkeeping. */
#include "mpi_test.h"

/* ---------------------------------------------------------------- helpers */

static void int64_rec(mt_recs *r, int64_t v) {
  mt_recs_add(r, NULL, 0, &v, 8);
}

/* Records of a collection on rank 0; on other ranks the collection must be empty. */
static void collected(sl_collection *c, mt_recs *got) {
  if (g_rank == 0) {
    EXPECT_TRUE(c != NULL, "rank 0 got no collection");
    if (c)
      mt_recs_from_collection(got, c);
  } else if (c) {
    EXPECT_U64(sl_collection_count(c), 0);
  }
}

/* ---------------------------------------------------------------- from_range */

static void check_range(int64_t first, int64_t last, int parts) {
  sl_flow *f = NULL;
  uint64_t count = 12345;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, first, last, parts), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_U64(count, (uint64_t)(last - first));
  sl_flow_destroy(&f);

  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, first, last, parts), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  mt_recs got = {0}, exp = {0};
  collected(c, &got);
  if (g_rank == 0) {
    for (int64_t v = first; v < last; v++)
      int64_rec(&exp, v);
    char what[96];
    snprintf(what, sizeof what, "from_range(%lld, %lld, %d)", (long long)first, (long long)last,
             parts);
    EXPECT_RECS_EQUAL(&got, &exp, what);
  }
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
}

static void test_from_range(void) {
  check_range(0, 0, 0);
  check_range(-5, 1000, 0);
  check_range(10, 11, 4);  /* fewer records than partitions */
  check_range(0, 5000, 7); /* more partitions than ranks */
  check_range(1000, 1003, 7);
  check_range(-20000, 20000, 1);
}

/* ---------------------------------------------------------------- from_generator */

typedef void (*put_fn)(void *ctx, const void *k, size_t kl, const void *v, size_t vl);

/* The input: item i becomes 0, 1 or 2 records of various shapes. */
static void gen_rule(int64_t i, put_fn put, void *ctx) {
  char key[256];
  switch (i % 5) {
  case 0:
    break;
  case 1:
    snprintf(key, sizeof key, "g%03d", (int)(i % 17));
    put(ctx, key, strlen(key), &i, 8);
    break;
  case 2: {
    int64_t j = -i;
    put(ctx, "two", 3, &i, 8);
    put(ctx, "two", 3, &j, 8);
    break;
  }
  case 3:
    put(ctx, NULL, 0, NULL, 0); /* an empty record */
    break;
  default:
    for (int b = 0; b < 200; b++)
      key[b] = (char)(mt_mix((uint64_t)i * 256 + (uint64_t)b) & 0xff);
    put(ctx, key, 200, &i, 8);
  }
}

static void put_recs(void *ctx, const void *k, size_t kl, const void *v, size_t vl) {
  mt_recs_add(ctx, k, kl, v, vl);
}

typedef struct gen_arg {
  uint64_t calls;
  int rc;
} gen_arg;

static void put_emit(void *ctx, const void *k, size_t kl, const void *v, size_t vl) {
  void **c = ctx;
  gen_arg *a = c[1];
  int rc = sl_emit(c[0], k, kl, v, vl);
  if (rc && !a->rc)
    a->rc = rc;
}

static int gen_fn(int64_t i, sl_emitter *out, void *arg) {
  gen_arg *a = arg;
  a->calls++;
  void *ctx[2] = {out, a};
  gen_rule(i, put_emit, ctx);
  return a->rc;
}

static void check_generator(int64_t n, int parts) {
  gen_arg a = {0};
  mt_recs mine = {0}, got = {0}, exp = {0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, n, gen_fn, &a, parts), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, mt_sink_recs, &mine), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_U64(mt_sum_u64(a.calls), (uint64_t)n);
  mt_recs_gather0(&mine, &got);
  if (g_rank == 0) {
    for (int64_t i = 0; i < n; i++)
      gen_rule(i, put_recs, &exp);
    EXPECT_RECS_EQUAL(&got, &exp, "from_generator");
  }
  mt_recs_free(&mine);
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_flow_destroy(&f);
}

static void test_from_generator(void) {
  check_generator(0, 0);
  check_generator(3000, 0);
  check_generator(3000, 1);
  check_generator(3001, 7);
  check_generator(3, 7);
}

/* ---------------------------------------------------------------- from_array + map */

/* map: swap key and value, and the pointers point into the input (valid during the call) */
static int swap_map(const sl_record *in, sl_record *out, void *arg) {
  (void)arg;
  out->key = in->value;
  out->key_len = in->value_len;
  out->value = in->key;
  out->value_len = in->key_len;
  return 0;
}

static void test_from_array_map(void) {
  enum { N = 777 };
  static char bytes[N][2][40];
  static sl_record recs[N];
  for (int i = 0; i < N; i++) {
    uint64_t h = mt_mix((uint64_t)i);
    size_t kl = (size_t)(h % 40), vl = (size_t)((h >> 8) % 40);
    if (i % 11 == 0)
      kl = 0;
    if (i % 13 == 0)
      vl = 0;
    for (size_t b = 0; b < 40; b++) {
      bytes[i][0][b] = (char)(mt_mix(h + b) & 0xff); /* NUL and high bytes included */
      bytes[i][1][b] = (char)(mt_mix(h + 100 + b) & 0xff);
    }
    recs[i] = (sl_record){bytes[i][0], kl, bytes[i][1], vl};
  }
  const int parts_list[] = {0, 1, 3, 7};
  for (int pi = 0; pi < 4; pi++) {
    sl_flow *f = NULL;
    sl_collection *c = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_array(f, recs, N, parts_list[pi]), SL_OK);
    EXPECT_RC(sl_flow_map(f, swap_map, NULL), SL_OK);
    EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    mt_recs got = {0}, exp = {0};
    collected(c, &got);
    if (g_rank == 0) {
      for (int i = 0; i < N; i++)
        mt_recs_add(&exp, recs[i].value, recs[i].value_len, recs[i].key, recs[i].key_len);
      EXPECT_RECS_EQUAL(&got, &exp, "from_array + map(swap)");
    }
    mt_recs_free(&got);
    mt_recs_free(&exp);
    sl_collection_destroy(&c);
    sl_flow_destroy(&f);
  }
  /* an empty array */
  sl_flow *f = NULL;
  uint64_t count = 99;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, NULL, 0, 0), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_U64(count, 0);
  sl_flow_destroy(&f);
}

/* ---------------------------------------------------------------- from_callback */

#define CB_MAXP 64
typedef struct cb_arg {
  int64_t next[CB_MAXP];
  int done[CB_MAXP];
  int bad_partitions; /* calls with an unexpected `partitions` */
  int calls_after_done;
  int expect_parts;
} cb_arg;

static int64_t cb_total(int p) {
  return 50 * (int64_t)p + 3;
}

static int cb_source(int partition, int partitions, sl_emitter *out, int *done, void *arg) {
  cb_arg *a = arg;
  if (partitions != a->expect_parts || partition < 0 || partition >= partitions ||
      partition >= CB_MAXP) {
    a->bad_partitions++;
    *done = 1;
    return 0;
  }
  if (a->done[partition])
    a->calls_after_done++;
  for (int n = 0; n < 17 && a->next[partition] < cb_total(partition); n++) {
    int64_t j = a->next[partition]++;
    char key[16];
    snprintf(key, sizeof key, "p%d", partition);
    int rc = sl_emit(out, key, strlen(key), &j, 8);
    if (rc)
      return rc;
  }
  if (a->next[partition] >= cb_total(partition)) {
    *done = 1;
    a->done[partition] = 1;
  }
  return 0;
}

static void check_callback_source(int parts) {
  int P = parts > 0 ? parts : g_size;
  cb_arg a;
  memset(&a, 0, sizeof a);
  a.expect_parts = P;
  sl_flow *f = NULL;
  mt_recs mine = {0}, got = {0}, exp = {0};
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_callback(f, cb_source, &a, parts), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, mt_sink_recs, &mine), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_INT(a.bad_partitions, 0);
  EXPECT_INT(a.calls_after_done, 0);
  uint64_t ndone = 0;
  for (int p = 0; p < CB_MAXP; p++)
    ndone += (uint64_t)a.done[p];
  EXPECT_U64(mt_sum_u64(ndone), (uint64_t)P); /* each partition ran once, somewhere */
  mt_recs_gather0(&mine, &got);
  if (g_rank == 0) {
    for (int p = 0; p < P; p++)
      for (int64_t j = 0; j < cb_total(p); j++) {
        char key[16];
        snprintf(key, sizeof key, "p%d", p);
        mt_recs_add(&exp, key, strlen(key), &j, 8);
      }
    EXPECT_RECS_EQUAL(&got, &exp, "from_callback");
  }
  mt_recs_free(&mine);
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_flow_destroy(&f);
}

static void test_from_callback(void) {
  check_callback_source(0);
  check_callback_source(1);
  check_callback_source(5);
  check_callback_source(9);
}

/* ---------------------------------------------------------------- per-record operators */

/* map: value v -> key = decimal(3v+1), value = 3v+1 */
static int op_map(const sl_record *in, sl_record *out, void *arg) {
  static char key[32]; /* valid during the call, which is all the contract asks */
  static int64_t val;
  (void)arg;
  val = 3 * mt_i64(in->value) + 1;
  int n = snprintf(key, sizeof key, "%lld", (long long)val);
  out->key = key;
  out->key_len = (size_t)n;
  out->value = &val;
  out->value_len = 8;
  return 0;
}
static int op_filter_even(const sl_record *in, void *arg) {
  (void)arg;
  return mt_i64(in->value) % 2 == 0;
}
static int op_reject_7(const sl_record *in, void *arg) {
  (void)arg;
  return mt_i64(in->value) % 7 == 0;
}
/* flat_map: v -> (v mod 4) copies, copy c has value v*10+c and the same key */
static int op_flat(const sl_record *in, sl_emitter *out, void *arg) {
  (void)arg;
  int64_t v = mt_i64(in->value);
  for (int64_t c = 0; c < ((v % 4) + 4) % 4; c++) {
    int64_t w = v * 10 + c;
    int rc = sl_emit(out, in->key, in->key_len, &w, 8);
    if (rc)
      return rc;
  }
  return 0;
}
static int op_each(const sl_record *in, void *arg) {
  uint64_t *n = arg;
  (void)in;
  ++*n;
  return 0;
}

static void test_record_ops(void) {
  const int64_t N = 20000;
  const int parts_list[] = {0, 7};
  for (int pi = 0; pi < 2; pi++) {
    uint64_t each_calls = 0;
    mt_recs mine = {0}, got = {0}, exp = {0};
    sl_flow *f = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_range(f, -N / 2, N / 2, parts_list[pi]), SL_OK);
    EXPECT_RC(sl_flow_map(f, op_map, NULL), SL_OK);
    EXPECT_RC(sl_flow_filter(f, op_filter_even, NULL), SL_OK);
    EXPECT_RC(sl_flow_reject(f, op_reject_7, NULL), SL_OK);
    EXPECT_RC(sl_flow_flat_map(f, op_flat, NULL), SL_OK);
    EXPECT_RC(sl_flow_each(f, op_each, &each_calls), SL_OK);
    EXPECT_RC(sl_flow_to_callback(f, mt_sink_recs, &mine), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    mt_recs_gather0(&mine, &got);
    /* oracle */
    uint64_t nexp = 0;
    for (int64_t v = -N / 2; v < N / 2; v++) {
      int64_t m = 3 * v + 1;
      if (m % 2 != 0 || m % 7 == 0)
        continue;
      char key[32];
      int kl = snprintf(key, sizeof key, "%lld", (long long)m);
      for (int64_t c = 0; c < ((m % 4) + 4) % 4; c++) {
        int64_t w = m * 10 + c;
        if (g_rank == 0)
          mt_recs_add(&exp, key, (size_t)kl, &w, 8);
        nexp++;
      }
    }
    EXPECT_U64(mt_sum_u64(each_calls), nexp);
    if (g_rank == 0)
      EXPECT_RECS_EQUAL(&got, &exp, "map|filter|reject|flat_map|each");
    mt_recs_free(&mine);
    mt_recs_free(&got);
    mt_recs_free(&exp);
    sl_flow_destroy(&f);
  }
}

/* Operators in a later stage too (after a key partition and a shuffle). */
static void test_record_ops_later_stages(void) {
  const int64_t N = 6000;
  uint64_t each_calls = 0, count = 0;
  sl_flow *f = NULL;
  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, N, 3), SL_OK);
  EXPECT_RC(sl_flow_shuffle(f, 5), SL_OK);
  EXPECT_RC(sl_flow_map(f, op_map, NULL), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 7, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_filter(f, op_filter_even, NULL), SL_OK);
  EXPECT_RC(sl_flow_reject(f, op_reject_7, NULL), SL_OK);
  EXPECT_RC(sl_flow_shuffle(f, 0), SL_OK);
  EXPECT_RC(sl_flow_flat_map(f, op_flat, NULL), SL_OK);
  EXPECT_RC(sl_flow_each(f, op_each, &each_calls), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  mt_recs got = {0}, exp = {0};
  collected(c, &got);
  for (int64_t v = 0; v < N; v++) {
    int64_t m = 3 * v + 1;
    if (m % 2 != 0 || m % 7 == 0)
      continue;
    char key[32];
    int kl = snprintf(key, sizeof key, "%lld", (long long)m);
    for (int64_t k = 0; k < m % 4; k++) {
      int64_t w = m * 10 + k;
      mt_recs_add(&exp, key, (size_t)kl, &w, 8);
      count++;
    }
  }
  EXPECT_U64(mt_sum_u64(each_calls), count);
  if (g_rank == 0)
    EXPECT_RECS_EQUAL(&got, &exp, "operators after partition/shuffle");
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
}

/* ---------------------------------------------------------------- map_batch */

typedef struct mb_arg {
  uint64_t calls, records, empty_calls;
} mb_arg;

/* Emits 2v for every record, and notes the batch sizes. */
static int mb_double(sl_batch *in, sl_emitter *out, void *arg) {
  mb_arg *a = arg;
  sl_record r;
  uint64_t n = 0;
  a->calls++;
  while (sl_batch_next(in, &r)) {
    int64_t w = 2 * mt_i64(r.value);
    int rc = sl_emit(out, r.key, r.key_len, &w, 8);
    if (rc)
      return rc;
    n++;
  }
  if (!n)
    a->empty_calls++;
  a->records += n;
  return 0;
}

static void check_map_batch(int where, int parts) {
  /* where 0: first in stage 0; 1: first after a shuffle; 2: after a key partition */
  const int64_t N = 30000;
  mb_arg a = {0};
  sl_flow *f = NULL;
  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, N, where == 0 ? parts : 3), SL_OK);
  if (where == 1)
    EXPECT_RC(sl_flow_shuffle(f, parts), SL_OK);
  if (where == 2)
    EXPECT_RC(sl_flow_partition(f, parts, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_map_batch(f, mb_double, &a), SL_OK);
  EXPECT_RC(sl_flow_filter(f, op_filter_even, NULL), SL_OK); /* a step after it, fused */
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  uint64_t calls = mt_sum_u64(a.calls), recs = mt_sum_u64(a.records);
  EXPECT_U64(recs, (uint64_t)N);
  /* 30000 records of 16 bytes do not fit one 64 KiB batch: batches, not records */
  EXPECT_TRUE(calls >= 2 && calls < (uint64_t)N / 10,
              "map_batch called %llu times for %lld records", (unsigned long long)calls,
              (long long)N);
  mt_recs got = {0}, exp = {0};
  collected(c, &got);
  if (g_rank == 0) {
    for (int64_t v = 0; v < N; v++)
      int64_rec(&exp, 2 * v);
    EXPECT_RECS_EQUAL(&got, &exp,
                      where == 0 ? "map_batch in stage 0" : "map_batch after a boundary");
  }
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
}

static void test_map_batch(void) {
  check_map_batch(0, 0);
  check_map_batch(0, 7);
  check_map_batch(1, 0);
  check_map_batch(1, 5);
  check_map_batch(2, 7);
}

static void test_map_batch_not_first(void) {
  sl_flow *f = NULL;
  uint64_t count;
  mb_arg a = {0};
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  EXPECT_RC(sl_flow_filter(f, op_filter_even, NULL), SL_OK);
  EXPECT_RC(sl_flow_map_batch(f, mb_double, &a), SL_ERR_STATE);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_ERR_STATE); /* the builder's error is remembered */
  sl_flow_destroy(&f);
}

/* ---------------------------------------------------------------- partition */

/* A user reducer that counts records per group, where the group is the key or (mode 1)
 * the value mod 10; emits (group, uint64 count). If a partition does not hold all records
 * of a group, the group shows up twice in the output. */
typedef struct grp_acc {
  int n;
  char keys[128][48];
  size_t klen[128];
  uint64_t cnt[128];
  int overflow;
} grp_acc;

static int grp_init(void **acc, void *arg) {
  (void)arg;
  *acc = calloc(1, sizeof(grp_acc));
  return *acc ? 0 : 1;
}
static void grp_key(const sl_record *in, int mode, char *k, size_t *kl) {
  if (mode == 0) {
    *kl = in->key_len < 48 ? in->key_len : 48;
    memcpy(k, in->key, *kl);
  } else {
    *kl = (size_t)snprintf(k, 48, "g%lld", (long long)(mt_i64(in->value) % 10));
  }
}
static int grp_fold(void *accp, const sl_record *in, void *arg) {
  grp_acc *a = accp;
  int mode = (int)(intptr_t)arg;
  char k[48];
  size_t kl;
  grp_key(in, mode, k, &kl);
  for (int i = 0; i < a->n; i++)
    if (a->klen[i] == kl && !memcmp(a->keys[i], k, kl)) {
      a->cnt[i]++;
      return 0;
    }
  if (a->n == 128) {
    a->overflow++;
    return 0;
  }
  memcpy(a->keys[a->n], k, kl);
  a->klen[a->n] = kl;
  a->cnt[a->n++] = 1;
  return 0;
}
static int grp_emit(void *accp, sl_emitter *out, void *arg) {
  grp_acc *a = accp;
  (void)arg;
  for (int i = 0; i < a->n; i++) {
    int rc = sl_emit(out, a->keys[i], a->klen[i], &a->cnt[i], 8);
    if (rc)
      return rc;
  }
  return 0;
}
static void grp_destroy(void *acc, void *arg) {
  (void)arg;
  free(acc);
}

/* Input: key "k<h mod 50>", value i. */
static int part_gen(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  char key[16];
  int n = snprintf(key, sizeof key, "k%d", (int)(mt_mix((uint64_t)i) % 50));
  return sl_emit(out, key, (size_t)n, &i, 8);
}

static uint64_t hash_mixed(const sl_record *rec, void *arg) {
  (void)arg;
  return mt_mix((uint64_t)(mt_i64(rec->value) % 10));
}
static uint64_t hash_small(const sl_record *rec, void *arg) {
  (void)arg;
  return (uint64_t)(mt_i64(rec->value) % 10);
}

static void check_partition(int parts, sl_hash_fn hash, int mode) {
  const int64_t N = 12000;
  sl_reducer red = {grp_init, grp_fold, grp_emit, grp_destroy, (void *)(intptr_t)mode};
  sl_flow *f = NULL;
  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, N, part_gen, NULL, 0), SL_OK);
  EXPECT_RC(sl_flow_partition(f, parts, hash, NULL), SL_OK);
  EXPECT_RC(sl_flow_reduce(f, &red), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  mt_recs got = {0}, exp = {0};
  collected(c, &got);
  if (g_rank == 0) {
    /* oracle: count per group over the whole input */
    grp_acc *o = calloc(1, sizeof *o);
    for (int64_t i = 0; i < N; i++) {
      char key[16];
      int n = snprintf(key, sizeof key, "k%d", (int)(mt_mix((uint64_t)i) % 50));
      sl_record r = {key, (size_t)n, &i, 8};
      grp_fold(o, &r, (void *)(intptr_t)mode);
    }
    for (int g = 0; g < o->n; g++)
      mt_recs_add(&exp, o->keys[g], o->klen[g], &o->cnt[g], 8);
    free(o);
    char what[96];
    snprintf(what, sizeof what, "partition(%d, %s hash): groups per partition", parts,
             hash == NULL         ? "key"
             : hash == hash_mixed ? "user"
                                  : "small user");
    EXPECT_RECS_EQUAL(&got, &exp, what);
  }
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
}

static void test_partition_key_hash(void) {
  check_partition(0, NULL, 0);
  check_partition(1, NULL, 0);
  check_partition(7, NULL, 0); /* more partitions than ranks */
  check_partition(13, NULL, 0);
}

static void test_partition_user_hash(void) {
  check_partition(0, hash_mixed, 1);
  check_partition(7, hash_mixed, 1);
  check_partition(7, hash_small, 1);
}

/* The key hash must spread keys over the partitions (not all in one). */
static int count_rank_sink(const sl_record *rec, void *arg) {
  (void)rec;
  ++*(uint64_t *)arg;
  return 0;
}

static void test_partition_spreads(void) {
  const int64_t N = 12000;
  uint64_t mine = 0;
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, N, part_gen, NULL, 1), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 0, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, count_rank_sink, &mine), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_U64(mt_sum_u64(mine), (uint64_t)N);
  /* 50 keys over <= 4 partitions: every partition (one per rank) gets some */
  EXPECT_TRUE(mt_all_true(mine > 0), "some rank received no record of a 50-key partition");
  sl_flow_destroy(&f);
}

/* ---------------------------------------------------------------- shuffle */

static void test_shuffle(void) {
  const int64_t N = 10001;
  const int P = 4;
  uint64_t mine_n = 0;
  mt_recs mine = {0}, got = {0}, exp = {0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, N, 1), SL_OK); /* one producer */
  EXPECT_RC(sl_flow_shuffle(f, P), SL_OK);
  EXPECT_RC(sl_flow_each(f, op_each, &mine_n), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, mt_sink_recs, &mine), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  /* round robin from one producer: every partition gets N/P or N/P+1 records, and this
   * rank holds the partitions q with q mod size == rank */
  uint64_t lo = 0, hi = 0;
  for (int q = g_rank; q < P; q += g_size) {
    lo += (uint64_t)(N / P);
    hi += (uint64_t)((N + P - 1) / P);
  }
  EXPECT_TRUE(mine_n >= lo && mine_n <= hi, "rank %d received %llu records, expected %llu..%llu",
              g_rank, (unsigned long long)mine_n, (unsigned long long)lo, (unsigned long long)hi);
  mt_recs_gather0(&mine, &got);
  if (g_rank == 0) {
    for (int64_t v = 0; v < N; v++)
      int64_rec(&exp, v);
    EXPECT_RECS_EQUAL(&got, &exp, "shuffle");
  }
  mt_recs_free(&mine);
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_flow_destroy(&f);
}

/* ---------------------------------------------------------------- departition */

static void test_departition(void) {
  const int64_t N = 7000;
  mt_recs mine = {0}, got = {0}, exp = {0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, N, 7), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 5, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_map(f, op_map, NULL), SL_OK);
  EXPECT_RC(sl_flow_departition(f), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, mt_sink_recs, &mine), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank != 0)
    EXPECT_U64(mine.n, 0); /* the one partition is on rank 0 */
  mt_recs_gather0(&mine, &got);
  if (g_rank == 0) {
    for (int64_t v = 0; v < N; v++) {
      int64_t m = 3 * v + 1;
      char key[32];
      int kl = snprintf(key, sizeof key, "%lld", (long long)m);
      mt_recs_add(&exp, key, (size_t)kl, &m, 8);
    }
    EXPECT_RECS_EQUAL(&got, &exp, "departition");
  }
  mt_recs_free(&mine);
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_flow_destroy(&f);
}

/* A chain of boundaries; the count and the records are unchanged. */
static void test_boundary_chain(void) {
  const int64_t N = 9000;
  uint64_t count = 0;
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, N, 2), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 3, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 7, hash_mixed, NULL), SL_OK);
  EXPECT_RC(sl_flow_shuffle(f, 2), SL_OK);
  EXPECT_RC(sl_flow_departition(f), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 0, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_shuffle(f, 9), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_U64(count, (uint64_t)N);
  sl_flow_destroy(&f);

  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, N, 5), SL_OK);
  EXPECT_RC(sl_flow_shuffle(f, 7), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 3, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  mt_recs got = {0}, exp = {0};
  collected(c, &got);
  if (g_rank == 0) {
    for (int64_t v = 0; v < N; v++)
      int64_rec(&exp, v);
    EXPECT_RECS_EQUAL(&got, &exp, "shuffle|partition|collect");
  }
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
}

/* ---------------------------------------------------------------- sinks */

static int drop_all(const sl_record *in, void *arg) {
  (void)in;
  (void)arg;
  return 0;
}

static void test_sinks_empty(void) {
  /* every record filtered out: count 0, empty collection, no callback */
  uint64_t count = 77, calls = 0;
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 1000, 0), SL_OK);
  EXPECT_RC(sl_flow_filter(f, drop_all, NULL), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 7, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_U64(count, 0);
  sl_flow_destroy(&f);

  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 1000, 0), SL_OK);
  EXPECT_RC(sl_flow_filter(f, drop_all, NULL), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0) {
    EXPECT_TRUE(c != NULL, "no collection on rank 0");
    EXPECT_U64(sl_collection_count(c), 0);
  }
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);

  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 1000, 0), SL_OK);
  EXPECT_RC(sl_flow_filter(f, drop_all, NULL), SL_OK);
  EXPECT_RC(sl_flow_shuffle(f, 0), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, count_rank_sink, &calls), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_U64(calls, 0);
  sl_flow_destroy(&f);
}

/* to_count is the same on every rank and equals the callback total. */
static void test_count_everywhere(void) {
  const int64_t N = 12345;
  uint64_t count = 0;
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, N, part_gen, NULL, 7), SL_OK);
  EXPECT_RC(sl_flow_flat_map(f, op_flat, NULL), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 3, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  uint64_t exp = 0;
  for (int64_t i = 0; i < N; i++)
    exp += (uint64_t)(i % 4);
  EXPECT_U64(count, exp);
  uint64_t mn = 0, mx = 0;
  MPI_Allreduce(&count, &mn, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&count, &mx, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  EXPECT_U64(mn, mx);
  sl_flow_destroy(&f);
}

/* ---------------------------------------------------------------- statistics */

static void check_stats_chain(sl_flow *f, uint64_t sink_records) {
  int S = 0;
  EXPECT_RC(sl_flow_stage_count(f, &S), SL_OK);
  EXPECT_TRUE(S >= 2, "%d stages", S);
  sl_stats tot, st;
  EXPECT_RC(sl_flow_get_stats(f, -1, &tot), SL_OK);
  uint64_t rin = 0, rout = 0, bs = 0, br = 0, nbs = 0, nbr = 0;
  uint64_t prev_out = 0, prev_bytes = 0, prev_batches = 0;
  for (int s = 0; s < S; s++) {
    memset(&st, 0, sizeof st);
    EXPECT_RC(sl_flow_get_stats(f, s, &st), SL_OK);
    rin += st.records_in;
    rout += st.records_out;
    bs += st.bytes_sent;
    br += st.bytes_received;
    nbs += st.batches_sent;
    nbr += st.batches_received;
    uint64_t in = mt_sum_u64(st.records_in), out = mt_sum_u64(st.records_out);
    uint64_t bsent = mt_sum_u64(st.bytes_sent), brecv = mt_sum_u64(st.bytes_received);
    uint64_t nsent = mt_sum_u64(st.batches_sent), nrecv = mt_sum_u64(st.batches_received);
    if (s > 0) {
      EXPECT_TRUE(in == prev_out, "stage %d records_in %llu != stage %d records_out %llu", s,
                  (unsigned long long)in, s - 1, (unsigned long long)prev_out);
      EXPECT_TRUE(brecv == prev_bytes, "stage %d bytes_received %llu != stage %d bytes_sent %llu",
                  s, (unsigned long long)brecv, s - 1, (unsigned long long)prev_bytes);
      EXPECT_TRUE(nrecv == prev_batches,
                  "stage %d batches_received %llu != stage %d batches_sent %llu", s,
                  (unsigned long long)nrecv, s - 1, (unsigned long long)prev_batches);
      EXPECT_TRUE(in == 0 || brecv > 0, "stage %d: %llu records in 0 bytes", s,
                  (unsigned long long)in);
    } else {
      EXPECT_U64(brecv, 0);
    }
    if (s == S - 1) {
      EXPECT_U64(out, sink_records);
      EXPECT_U64(bsent, 0);
    }
    prev_out = out;
    prev_bytes = bsent;
    prev_batches = nsent;
  }
  /* the rank's totals are the sums of its stages */
  EXPECT_U64(tot.records_in, rin);
  EXPECT_U64(tot.records_out, rout);
  EXPECT_U64(tot.bytes_sent, bs);
  EXPECT_U64(tot.bytes_received, br);
  EXPECT_U64(tot.batches_sent, nbs);
  EXPECT_U64(tot.batches_received, nbr);
  EXPECT_TRUE(tot.wall_seconds >= 0, "wall %g", tot.wall_seconds);
  sl_stats bad;
  EXPECT_RC(sl_flow_get_stats(f, S, &bad), SL_ERR_INVAL);
}

static void test_stats(void) {
  const int64_t N = 40000;
  uint64_t count = 0;
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  sl_stats st;
  EXPECT_RC(sl_flow_get_stats(f, -1, &st), SL_ERR_STATE); /* not run yet */
  EXPECT_RC(sl_flow_from_range(f, 0, N, 5), SL_OK);
  EXPECT_RC(sl_flow_map(f, op_map, NULL), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 7, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_filter(f, op_filter_even, NULL), SL_OK);
  EXPECT_RC(sl_flow_shuffle(f, 3), SL_OK);
  EXPECT_RC(sl_flow_flat_map(f, op_flat, NULL), SL_OK);
  EXPECT_RC(sl_flow_departition(f), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  uint64_t after_filter = 0, after_flat = 0;
  for (int64_t v = 0; v < N; v++) {
    int64_t m = 3 * v + 1;
    if (m % 2)
      continue;
    after_filter++;
    after_flat += (uint64_t)(m % 4);
  }
  EXPECT_U64(count, after_flat);
  check_stats_chain(f, count);
  /* per stage, against the oracle */
  sl_stats s0, s1, s2;
  EXPECT_RC(sl_flow_get_stats(f, 0, &s0), SL_OK);
  EXPECT_RC(sl_flow_get_stats(f, 1, &s1), SL_OK);
  EXPECT_RC(sl_flow_get_stats(f, 2, &s2), SL_OK);
  EXPECT_U64(mt_sum_u64(s0.records_out), (uint64_t)N);
  EXPECT_U64(mt_sum_u64(s1.records_in), (uint64_t)N);
  EXPECT_U64(mt_sum_u64(s1.records_out), after_filter);
  EXPECT_U64(mt_sum_u64(s2.records_out), after_flat);
  sl_flow_destroy(&f);

  /* with a big record (bigger than a batch) on the wire */
  mt_saved_opt sv;
  mt_opt_set(&sv, "batch-bytes", "256");
  gen_arg big_arg = {0}; /* not a compound literal: it must outlive the macro's block */
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, 500, gen_fn, &big_arg, 0), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 7, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_shuffle(f, 2), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  mt_recs exp = {0};
  for (int64_t i = 0; i < 500; i++)
    gen_rule(i, put_recs, &exp);
  EXPECT_U64(count, exp.n);
  mt_recs_free(&exp);
  check_stats_chain(f, count);
  sl_flow_destroy(&f);
  mt_opt_restore(&sv);
}

/* ---------------------------------------------------------------- backpressure */

/* Tiny batches, buffers and credits: every edge is throttled, records larger than a batch
 * travel alone, and many partitions share few ranks. The results must not change (and the
 * run must not hang). */
static void test_tight_budgets(void) {
  mt_saved_opt s1, s2, s3, s4;
  mt_opt_set(&s1, "batch-bytes", "256");
  mt_opt_set(&s2, "send-budget-bytes", "512");
  mt_opt_set(&s3, "recv-budget-bytes", "512");
  mt_opt_set(&s4, "credits-per-edge", "1");
  /* records of every shape, expanded, through 4 boundaries */
  const int64_t N = 3000;
  gen_arg a = {0};
  mt_recs mine = {0}, got = {0}, exp = {0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, N, gen_fn, &a, 7), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 13, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_shuffle(f, 5), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 0, hash_mixed, NULL), SL_OK);
  EXPECT_RC(sl_flow_shuffle(f, 11), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, mt_sink_recs, &mine), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  mt_recs_gather0(&mine, &got);
  if (g_rank == 0) {
    for (int64_t i = 0; i < N; i++)
      gen_rule(i, put_recs, &exp);
    EXPECT_RECS_EQUAL(&got, &exp, "tight budgets: records through 4 boundaries");
  }
  mt_recs_free(&mine);
  mt_recs_free(&got);
  mt_recs_free(&exp);
  sl_flow_destroy(&f);
  /* a flat_map that multiplies the records, into a departition */
  uint64_t count = 0;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 20000, 0), SL_OK);
  EXPECT_RC(sl_flow_flat_map(f, op_flat, NULL), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 9, NULL, NULL), SL_OK);
  EXPECT_RC(sl_flow_flat_map(f, op_flat, NULL), SL_OK);
  EXPECT_RC(sl_flow_departition(f), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  uint64_t expc = 0;
  for (int64_t v = 0; v < 20000; v++)
    for (int64_t c = 0; c < v % 4; c++)
      expc += (uint64_t)(((v * 10 + c) % 4 + 4) % 4);
  EXPECT_U64(count, expc);
  sl_flow_destroy(&f);
  mt_opt_restore(&s4);
  mt_opt_restore(&s3);
  mt_opt_restore(&s2);
  mt_opt_restore(&s1);
}

/* The flow builder rejects misuse (a second source, operators after the sink). */
static void test_builder_misuse(void) {
  sl_flow *f = NULL;
  uint64_t count = 0;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_map(f, op_map, NULL), SL_ERR_STATE); /* no source yet */
  sl_flow_destroy(&f);
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_ERR_STATE);
  sl_flow_destroy(&f);
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_flow_map(f, op_map, NULL), SL_ERR_STATE);
  sl_flow_destroy(&f);
  /* a flow runs once */
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  EXPECT_RC(sl_flow_to_count(f, &count), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  EXPECT_U64(count, 10);
  EXPECT_RC(sl_run(f), SL_ERR_STATE);
  sl_flow_destroy(&f);
  EXPECT_RC(sl_flow_destroy(&f), SL_OK); /* NULL is fine */
}

static const mt_test tests[] = {
    {"from_range", test_from_range},
    {"from_generator", test_from_generator},
    {"from_array_map", test_from_array_map},
    {"from_callback", test_from_callback},
    {"record_ops", test_record_ops},
    {"record_ops_later_stages", test_record_ops_later_stages},
    {"map_batch", test_map_batch},
    {"map_batch_not_first", test_map_batch_not_first},
    {"partition_key_hash", test_partition_key_hash},
    {"partition_user_hash", test_partition_user_hash},
    {"partition_spreads", test_partition_spreads},
    {"shuffle", test_shuffle},
    {"departition", test_departition},
    {"boundary_chain", test_boundary_chain},
    {"sinks_empty", test_sinks_empty},
    {"count_everywhere", test_count_everywhere},
    {"stats", test_stats},
    {"tight_budgets", test_tight_budgets},
    {"builder_misuse", test_builder_misuse},
    {NULL, NULL},
};

int main(int argc, char **argv) {
  return mt_main(argc, argv, "mpi_ops", tests);
}
