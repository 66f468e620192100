/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice: Flow-style batch processing of large datasets on MPI ranks.
 * Umbrella header: include this one. */
#ifndef SLUICE_H
#define SLUICE_H

#include "sluice/sl_export.h"
#include "sluice/sl_version.h"
#include "sluice/sl_error.h"
#include "sluice/sl_context.h"
#include "sluice/sl_flow.h"
#include "sluice/sl_h5.h"
#include "sluice/sl_block.h"
#include "sluice/sl_output.h"
#include "sluice/sl_text.h"

#endif
