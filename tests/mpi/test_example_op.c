/* SPDX-License-Identifier: BSD-3-Clause */
/* The example operator of docs/architecture.md ("Adding an operator", example_op.c) built
 * outside the registry and run at 1-4 ranks: per key, the largest value, checked against a
 * sequential oracle. Once with the default batches, once with batches and credits so small
 * that the operator's drain must pause and resume many times. */
#include "mpi_test.h" /* first: it sets _GNU_SOURCE */

#include "example_op.h"

#define N 200000
#define KEYS 997

static uint64_t value_of(int64_t i) {
  return mt_mix((uint64_t)i) >> 8;
}

static int key_of(int64_t i) {
  return (int)((uint64_t)(i * 7919) % KEYS);
}

static int gen(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  char key[16];
  int kl = snprintf(key, sizeof key, "k%d", key_of(i));
  uint64_t v = value_of(i);
  return sl_emit(out, key, (size_t)kl, &v, 8);
}

static void run_and_check(void) {
  uint64_t want[KEYS] = {0};
  unsigned char seen[KEYS] = {0};
  for (int64_t i = 0; i < N; i++) { /* the oracle */
    int k = key_of(i);
    if (!seen[k] || value_of(i) > want[k])
      want[k] = value_of(i);
    seen[k] = 1;
  }
  sl_flow *f = NULL;
  sl_collection *c = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_generator(f, N, gen, NULL, 0), SL_OK);
  EXPECT_RC(sl_flow_partition(f, 0, NULL, NULL), SL_OK);
  EXPECT_RC(example_flow_max_by_key(f), SL_OK);
  EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
  EXPECT_RC(sl_run(f), SL_OK);
  if (g_rank == 0 && c) {
    EXPECT_U64(sl_collection_count(c), KEYS);
    unsigned char got[KEYS] = {0};
    for (size_t j = 0; j < sl_collection_count(c); j++) {
      sl_record r;
      EXPECT_RC(sl_collection_get(c, j, &r), SL_OK);
      int k = -1;
      if (r.key_len > 1 && r.key_len < 8 && r.value_len == 8) {
        char buf[8] = {0};
        memcpy(buf, r.key, r.key_len);
        k = atoi(buf + 1);
      }
      EXPECT_TRUE(k >= 0 && k < KEYS && !got[k], "record %zu: bad or repeated key", j);
      if (k >= 0 && k < KEYS) {
        got[k] = 1;
        EXPECT_U64(mt_u64(r.value), want[k]);
      }
    }
  }
  sl_collection_destroy(&c);
  sl_flow_destroy(&f);
}

static void test_max_by_key(void) {
  run_and_check();
}

static void test_max_by_key_tiny_batches(void) {
  EXPECT_RC(sl_option_set(g_ctx, "batch-bytes", "64"), SL_OK);
  EXPECT_RC(sl_option_set(g_ctx, "credits-per-edge", "1"), SL_OK);
  run_and_check();
  EXPECT_RC(sl_option_set(g_ctx, "batch-bytes", "256K"), SL_OK);
  EXPECT_RC(sl_option_set(g_ctx, "credits-per-edge", "4"), SL_OK);
}

/* A reducer honours sl_flow_emit: SL_EMIT_NOTHING emits nothing, SL_EMIT_STATE one record
 * per partition that holds keys, whose records are every key once. */
static void test_max_by_key_emit_modes(void) {
  for (int mode = 0; mode < 2; mode++) {
    sl_flow *f = NULL;
    sl_collection *c = NULL;
    EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
    EXPECT_RC(sl_flow_from_generator(f, N, gen, NULL, 0), SL_OK);
    EXPECT_RC(sl_flow_partition(f, 3, NULL, NULL), SL_OK);
    EXPECT_RC(example_flow_max_by_key(f), SL_OK);
    EXPECT_RC(sl_flow_emit(f, mode == 0 ? SL_EMIT_NOTHING : SL_EMIT_STATE), SL_OK);
    EXPECT_RC(sl_flow_to_collect(f, &c), SL_OK);
    EXPECT_RC(sl_run(f), SL_OK);
    if (g_rank == 0 && c) {
      size_t n = sl_collection_count(c), keys = 0;
      EXPECT_U64(n, mode == 0 ? 0 : 3);
      for (size_t j = 0; j < n; j++) {
        sl_record r;
        EXPECT_RC(sl_collection_get(c, j, &r), SL_OK);
        /* the state record: the partition's records, batch-encoded [u32 kl][u32 vl][k][v] */
        for (size_t pos = 0; pos + 8 <= r.value_len; keys++) {
          uint32_t kl, vl;
          memcpy(&kl, (const char *)r.value + pos, 4);
          memcpy(&vl, (const char *)r.value + pos + 4, 4);
          EXPECT_U64(vl, 8);
          pos += 8 + (size_t)kl + vl;
        }
      }
      if (mode == 1)
        EXPECT_U64(keys, KEYS);
    }
    sl_collection_destroy(&c);
    sl_flow_destroy(&f);
  }
}

static void test_max_by_key_one_reducer(void) {
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_range(f, 0, 10, 0), SL_OK);
  EXPECT_RC(sl_flow_group_by_key(f), SL_OK);
  EXPECT_RC(example_flow_max_by_key(f), SL_ERR_STATE); /* the stage's one reducer slot */
  sl_flow_destroy(&f);
}

static const mt_test tests[] = {
    {"max_by_key", test_max_by_key},
    {"max_by_key_tiny_batches", test_max_by_key_tiny_batches},
    {"max_by_key_emit_modes", test_max_by_key_emit_modes},
    {"max_by_key_one_reducer", test_max_by_key_one_reducer},
    {NULL, NULL},
};

int main(int argc, char **argv) {
  return mt_main(argc, argv, "mpi_example_op", tests);
}
