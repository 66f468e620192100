/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the HDF5 source, as seen by the sink (provenance) and describe. */
#ifndef SLUICE_H5SRC_H
#define SLUICE_H5SRC_H

#include "plan/plan.h"
#include "h5/h5int.h"

/* The file access the source uses when opts ask for the default (docs/hdf5.md has the
 * measurement behind the choice). */
#define SL__H5_READ_DEFAULT_DRIVER SL_H5_READ_POSIX
/* The transfer mode the source uses when opts ask for the default (measured: docs/hdf5.md). */
#define SL__H5_XFER_DEFAULT_MODE SL_H5_XFER_INDEPENDENT

typedef struct sl__h5src sl__h5src;

int sl__h5src_new(const char *const *specs, size_t nspecs, const sl_h5_opts *opts, sl__h5src **out);
void sl__h5src_free(sl__h5src *s);
/* Collective: expand, inspect on rank 0, broadcast. */
int sl__h5src_prepare_comm(sl__h5src *s, sl_ctx *ctx);
const sl_h5_layout *sl__h5src_layout(const sl__h5src *s);
/* The expanded inputs "FILE:/dset" joined by '\n' (after prepare); returns the length
 * it needs (snprintf-like). */
size_t sl__h5src_inputs(const sl__h5src *s, char *buf, size_t cap);
/* The source's settle hook (sl__source_vt.settle; collective, every rank once its event
 * loop ended). Collective transfers: after a normal end, nothing (the rounds are over on
 * every rank); otherwise finish the agreement in flight and join rounds with empty
 * selections, contributing "stopped", until an agreement says every rank has stopped, so
 * no rank is left inside a collective read. Independent transfers: nothing. */
int sl__h5src_settle(sl__source *src, sl__run *run, int failed);

#endif
