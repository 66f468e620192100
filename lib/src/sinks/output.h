/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the output file's life (sinks/output.c; the public face is sl_output.h).
 * Collective over the context's communicator: open (rank 0 checks the destination, removes
 * dead runs' temporaries, creates ours; inputs: the flow's sources and/or a list of paths),
 * reserve (rank 0 makes sure `bytes` fit before collective writes: a full disk is found
 * there, outside any collective, and agreed), commit (agree, sync, rename). Rank 0 refuses a
 * destination that is one of the flow's inputs, a directory, or exists without overwrite:
 * SL_ERR_USAGE / SL_ERR_EXISTS with the reason. */
#ifndef SLUICE_OUTPUT_H
#define SLUICE_OUTPUT_H

#include "engine/engine.h"
#include "sluice/sl_output.h"

int sl__output_open(sl_ctx *ctx, const sl_flow *flow, const char *path, int overwrite,
                    const char *const *inputs, int ninputs, sl_output **out);
int sl__output_reserve(sl_output *o, uint64_t bytes);
int sl__output_commit(sl_output *o, int local_rc);
const char *sl__output_path(const sl_output *o);

#endif
