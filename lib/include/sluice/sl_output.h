/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice: publishing an output file, the contract behind "exit 0 is a promise".
 *
 * Every file sluice writes goes through this. Rank 0 checks the destination before any
 * work; the file is written under a temporary name beside it (".NAME.sluice-tmp-HOST-PID"),
 * made durable (fsync) and renamed into place only when every rank agreed that its part is
 * complete, then the directory is synced. A failure anywhere leaves nothing under the final
 * name and removes the temporary. A run killed on the way leaves at most its temporary; the
 * next run to the same output removes it (rank 0 holds a lock on it while the run lives).
 * The library's text and HDF5 sinks use it; so can a program that writes its own file.
 *
 * Lifecycle: sl_output_create -> [sl_output_reserve] -> write to sl_output_tmp_path ->
 * sl_output_commit -> sl_output_destroy.
 */
#ifndef SLUICE_SL_OUTPUT_H
#define SLUICE_SL_OUTPUT_H

#include <stdint.h>

#include "sluice/sl_context.h"
#include "sluice/sl_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_output sl_output;

/* Collective over ctx. Rank 0 checks `path`: its directory exists, is a directory and is
 * writable; `path` is not a directory; it does not exist unless `overwrite`; it is none of
 * the `ninputs` files in `inputs` (compared by device and inode, refused even with
 * overwrite: replacing an input would lose it). A bad destination is SL_ERR_USAGE (or
 * SL_ERR_EXISTS) on every rank, and rank 0 prints the one error line. Rank 0 then removes
 * the temporaries of this output that dead runs left, and creates the temporary file. */
SL_EXPORT int sl_output_create(sl_ctx *ctx, const char *path, int overwrite,
                               const char *const *inputs, int ninputs, sl_output **out);

/* The temporary file every rank writes to. Local. */
SL_EXPORT const char *sl_output_tmp_path(const sl_output *out);

/* Collective. Makes sure `bytes` fit in the file before the ranks write it: rank 0
 * reserves them (fallocate, the file's size unchanged) and every rank gets the outcome. A
 * full disk or quota is found here, on every rank alike, with one line printed, rather
 * than inside a collective write or close, where it can fail on some ranks only and leave
 * the others waiting. Space reserved past the file's end is given back at commit. Where
 * the file system cannot reserve, SL_OK (the writes are still to be checked). */
SL_EXPORT int sl_output_reserve(sl_output *out, uint64_t bytes);

/* Collective. local_rc is this rank's outcome of writing its part (SL_OK when its part is
 * complete and every write and close was checked). When every rank succeeded, rank 0
 * fsyncs the temporary, renames it to the final name and fsyncs the directory. Returns
 * SL_OK on every rank, or a failure on every rank (the local code; SL_ERR_REMOTE where
 * only another rank failed) with the temporary removed and nothing under the final name.
 * A failure of the commit itself (sync, rename) is printed as one line by the lowest rank
 * that met it; a failure passed in as local_rc is the caller's to report. */
SL_EXPORT int sl_output_commit(sl_output *out, int local_rc);

/* Local. Removes the temporary unless it was committed. Accepts NULL and *out == NULL. */
SL_EXPORT void sl_output_destroy(sl_output **out);

#ifdef __cplusplus
}
#endif
#endif
