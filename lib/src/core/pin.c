/* SPDX-License-Identifier: BSD-3-Clause */
/* Pinning each rank to one core.
 *
 * Why: a rank that migrates between cores loses its caches and, on multi-socket nodes,
 * its memory locality; the engine's busy progress loop makes this worse. A launcher that
 * already bound the rank to one core (srun --cpu-bind=cores, mpirun --bind-to core) knows
 * the node best, so that binding is kept. Otherwise ranks on a node spread over the cores
 * of the set they were given. A failed bind is only a warning: the job still runs. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/pin.h"

int sl__pin_core_number(hwloc_obj_t core) {
  if (core == NULL)
    return -1;
  if (core->os_index != HWLOC_UNKNOWN_INDEX)
    return (int)core->os_index;
  return (int)core->logical_index;
}

void sl__pin_plan_free(sl__pin_plan *plan) {
  if (plan == NULL)
    return;
  hwloc_bitmap_free(plan->set);
  plan->set = NULL;
}

static int count_candidates(hwloc_topology_t topo, hwloc_obj_type_t type,
                            hwloc_const_cpuset_t within) {
  int n = 0;
  for (hwloc_obj_t o = hwloc_get_next_obj_by_type(topo, type, NULL); o != NULL;
       o = hwloc_get_next_obj_by_type(topo, type, o)) {
    if (o->cpuset != NULL && hwloc_bitmap_intersects(o->cpuset, within))
      n++;
  }
  return n;
}

static hwloc_obj_t nth_candidate(hwloc_topology_t topo, hwloc_obj_type_t type,
                                 hwloc_const_cpuset_t within, int k) {
  for (hwloc_obj_t o = hwloc_get_next_obj_by_type(topo, type, NULL); o != NULL;
       o = hwloc_get_next_obj_by_type(topo, type, o)) {
    if (o->cpuset != NULL && hwloc_bitmap_intersects(o->cpuset, within) && k-- == 0)
      return o;
  }
  return NULL;
}

int sl__pin_plan_make(hwloc_topology_t topo, hwloc_const_cpuset_t current, int node_rank,
                      sl__pin_plan *plan) {
  if (topo == NULL || plan == NULL)
    SL__FAIL(SL_ERR_INVAL, "sl__pin_plan_make: NULL argument");
  memset(plan, 0, sizeof *plan);
  hwloc_obj_type_t type =
      hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
  /* An empty or foreign binding (e.g. from before a cgroup change) says nothing useful;
   * plan within the PUs this process may use instead. */
  hwloc_const_cpuset_t within = current;
  int ncores = within != NULL ? count_candidates(topo, type, within) : 0;
  if (ncores == 0) {
    within = hwloc_topology_get_allowed_cpuset(topo);
    ncores = within != NULL ? count_candidates(topo, type, within) : 0;
  }
  if (ncores == 0)
    SL__FAIL(SL_ERR_HWLOC, "hwloc found no core this process may run on");
  plan->ncores = ncores;
  /* One candidate: the binding is within one core (a whole core, or one of its hardware
   * threads, which is narrower still); rebinding could only widen it. */
  plan->keep = ncores == 1 && within == current;
  plan->index = plan->keep ? 0 : (node_rank < 0 ? 0 : node_rank) % ncores;
  plan->core = nth_candidate(topo, type, within, plan->index);
  if (plan->core == NULL)
    SL__FAIL(SL_ERR_INTERNAL, "core %d of %d vanished", plan->index, ncores);
  plan->set = hwloc_bitmap_alloc();
  SL__CHECK_ALLOC(plan->set);
  /* Only the part of the core inside the given set: a launcher that handed us some
   * hardware threads of a core did not hand us the others. */
  if (hwloc_bitmap_and(plan->set, plan->core->cpuset, within) != 0) {
    sl__pin_plan_free(plan);
    SL__FAIL(SL_ERR_NOMEM, "hwloc_bitmap_and failed");
  }
  return SL_OK;
}

static void not_bound(sl_ctx *ctx, const char *what, int err) {
  ctx->bound_core = -1;
  snprintf(ctx->binding_desc, sizeof ctx->binding_desc, "not bound (%s failed: %s)", what,
           strerror(err));
  sl_log(ctx, SL_LOG_WARN, "could not pin this rank to a core: %s failed: %s", what, strerror(err));
}

int sl__pin(sl_ctx *ctx) {
  if (ctx == NULL)
    SL__FAIL(SL_ERR_INVAL, "sl__pin: ctx is NULL");
  ctx->bound_core = -1;
  if (!ctx->opt.pin) {
    snprintf(ctx->binding_desc, sizeof ctx->binding_desc, "off");
    return SL_OK;
  }
  hwloc_topology_t topo = NULL;
  if (hwloc_topology_init(&topo) != 0) {
    SL__FAIL(SL_ERR_HWLOC, "hwloc_topology_init failed: %s", strerror(errno));
  }
  if (hwloc_topology_load(topo) != 0) {
    int e = errno;
    hwloc_topology_destroy(topo);
    SL__FAIL(SL_ERR_HWLOC, "hwloc_topology_load failed: %s (use --sl-pin=off to skip pinning)",
             strerror(e));
  }
  int rc = SL_OK;
  sl__pin_plan plan = {0};
  hwloc_bitmap_t current = hwloc_bitmap_alloc();
  if (current == NULL) {
    rc = sl__error_set(SL_ERR_NOMEM, __FILE__, __LINE__, "out of memory (hwloc bitmap)");
    goto out;
  }
  int have_current = hwloc_get_cpubind(topo, current, HWLOC_CPUBIND_PROCESS) == 0;
  if (!have_current) {
    /* Some systems cannot report a binding; plan within the allowed set instead. */
    sl_log(ctx, SL_LOG_INFO, "hwloc_get_cpubind failed (%s); assuming no binding", strerror(errno));
  }
  rc = sl__pin_plan_make(topo, have_current ? current : NULL, ctx->node_rank, &plan);
  if (rc != SL_OK) {
    rc = sl__error_trace(rc, __FILE__, __LINE__, "sl__pin_plan_make");
    goto out;
  }
  int number = sl__pin_core_number(plan.core);
  int is_core = plan.core->type == HWLOC_OBJ_CORE;
  const char *what = is_core ? "core" : "hardware thread";
  const char *whats = is_core ? "cores" : "hardware threads";
  if (plan.keep) {
    ctx->bound_core = number;
    snprintf(ctx->binding_desc, sizeof ctx->binding_desc, "kept existing binding to %s %d", what,
             number);
    goto out;
  }
  if (hwloc_set_cpubind(topo, plan.set, HWLOC_CPUBIND_PROCESS) != 0) {
    not_bound(ctx, "hwloc_set_cpubind", errno);
    goto out;
  }
  ctx->bound_core = number;
  snprintf(ctx->binding_desc, sizeof ctx->binding_desc,
           "bound to %s %d (node-local rank %d of %d in a set of %d %s)", what, number,
           ctx->node_rank, ctx->node_size, plan.ncores, whats);
  if (ctx->node_size > plan.ncores) {
    /* Not an error (tests oversubscribe on purpose), but it costs throughput. */
    sl_log(ctx, SL_LOG_INFO, "%d ranks on this node share %d %s", ctx->node_size, plan.ncores,
           whats);
  }
out:
  sl__pin_plan_free(&plan);
  hwloc_bitmap_free(current);
  hwloc_topology_destroy(topo);
  return rc;
}
