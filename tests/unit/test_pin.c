/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the core-binding plan on synthetic topologies (no real binding). */
#include <stdlib.h>

#include "core/core.h"
#include "core/pin.h"
#include "unit.h"

static hwloc_topology_t topo;

/* 2 packages x 4 cores x 2 hardware threads: PUs 2c and 2c+1 belong to core c. */
static void load(const char *desc) {
  CU_ASSERT_FATAL(hwloc_topology_init(&topo) == 0);
  CU_ASSERT_FATAL(hwloc_topology_set_synthetic(topo, desc) == 0);
  CU_ASSERT_FATAL(hwloc_topology_load(topo) == 0);
}

static hwloc_bitmap_t pus(const char *list) {
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  CU_ASSERT_FATAL(set != NULL);
  CU_ASSERT_FATAL(hwloc_bitmap_list_sscanf(set, list) == 0);
  return set;
}

static void expect_plan(const char *current, int node_rank, int keep, int core, int ncores,
                        const char *set) {
  hwloc_bitmap_t cur = current != NULL ? pus(current) : NULL;
  sl__pin_plan plan;
  EXPECT_INT(sl__pin_plan_make(topo, cur, node_rank, &plan), SL_OK);
  EXPECT_INT(plan.keep, keep);
  EXPECT_INT(plan.ncores, ncores);
  CU_ASSERT_FATAL(plan.core != NULL);
  EXPECT_INT((int)plan.core->logical_index, core);
  char *text = NULL;
  CU_ASSERT_FATAL(hwloc_bitmap_list_asprintf(&text, plan.set) >= 0);
  EXPECT_STR(text, set);
  free(text);
  sl__pin_plan_free(&plan);
  CU_ASSERT(plan.set == NULL);
  hwloc_bitmap_free(cur);
}

static void test_unbound_spreads(void) {
  load("pack:2 core:4 pu:2");
  expect_plan("0-15", 0, 0, 0, 8, "0-1");
  expect_plan("0-15", 5, 0, 5, 8, "10-11");
  expect_plan("0-15", 9, 0, 1, 8, "2-3"); /* more ranks than cores: wrap around */
  expect_plan(NULL, 3, 0, 3, 8, "6-7");   /* binding unknown: the allowed set */
  expect_plan("", 2, 0, 2, 8, "4-5");     /* empty binding: the allowed set */
  hwloc_topology_destroy(topo);
}

static void test_launcher_binding_kept(void) {
  load("pack:2 core:4 pu:2");
  expect_plan("6-7", 0, 1, 3, 1, "6-7"); /* one whole core */
  expect_plan("6", 4, 1, 3, 1, "6");     /* one hardware thread: narrower, still kept */
  hwloc_topology_destroy(topo);
}

static void test_within_a_package(void) {
  load("pack:2 core:4 pu:2");
  /* Bound to package 1 (cores 4-7): node-local rank 1 takes its second core. */
  expect_plan("8-15", 1, 0, 5, 4, "10-11");
  expect_plan("8-15", 6, 0, 6, 4, "12-13");
  /* Given half of each of two cores: bind within what was given. */
  expect_plan("0,2", 1, 0, 1, 2, "2");
  hwloc_topology_destroy(topo);
}

static void test_core_number(void) {
  load("pack:1 core:2 pu:1");
  hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, 1);
  CU_ASSERT_FATAL(core != NULL);
  EXPECT_INT(sl__pin_core_number(core), (int)core->os_index);
  EXPECT_INT(sl__pin_core_number(NULL), -1);
  hwloc_topology_destroy(topo);
}

static void test_pin_off(void) {
  sl_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  CU_ASSERT_FATAL(sl__options_defaults(&ctx.opt) == SL_OK);
  ctx.opt.pin = 0;
  ctx.bound_core = 7;
  EXPECT_INT(sl__pin(&ctx), SL_OK);
  EXPECT_INT(ctx.bound_core, -1);
  EXPECT_STR(ctx.binding_desc, "off");
}

int main(void) {
  static const sl_test tests[] = {
      {"unbound ranks spread over cores", test_unbound_spreads},
      {"launcher binding kept", test_launcher_binding_kept},
      {"within a package", test_within_a_package},
      {"core number", test_core_number},
      {"pin off", test_pin_off},
      {NULL, NULL},
  };
  return sl_test_main("pin", tests);
}
