/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the core-binding decision, apart from the system calls so that tests
 * can run it on synthetic topologies (hwloc_topology_set_synthetic). */
#ifndef SLUICE_CORE_PIN_H
#define SLUICE_CORE_PIN_H

#include <hwloc.h>

typedef struct sl__pin_plan {
  int keep;           /* 1: the current binding lies within one core; leave it */
  hwloc_obj_t core;   /* the core kept or chosen */
  int index, ncores;  /* its position among the candidate cores, and their number */
  hwloc_bitmap_t set; /* where to bind (the chosen core within the current binding) */
} sl__pin_plan;

/* Plans the binding of a rank with node-local rank node_rank whose current binding is
 * current (the launcher's, or all allowed PUs if it did not bind). Candidate cores are
 * those that share a PU with current, in logical order; the rank takes candidate
 * node_rank mod ncores. On machines where hwloc reports no cores, PUs stand in for them.
 * Returns SL_OK and fills plan (free it with sl__pin_plan_free), SL_ERR_NOMEM, or
 * SL_ERR_HWLOC when the topology has no usable core. */
int sl__pin_plan_make(hwloc_topology_t topo, hwloc_const_cpuset_t current, int node_rank,
                      sl__pin_plan *plan);
void sl__pin_plan_free(sl__pin_plan *plan);
/* The index the user knows the core by: its OS index, or the logical one if unknown. */
int sl__pin_core_number(hwloc_obj_t core);

#endif
