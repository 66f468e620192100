/* SPDX-License-Identifier: BSD-3-Clause */
/* The example operator of docs/architecture.md (example_op.c). */
#ifndef SLUICE_TESTS_EXAMPLE_OP_H
#define SLUICE_TESTS_EXAMPLE_OP_H

#include "sluice.h"

/* Per key, the largest 8-byte unsigned value (one record per key). Local (SPMD). */
int example_flow_max_by_key(sl_flow *flow);

#endif
