/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice: error codes.
 *
 * The error rule, stated once: every public sluice function returns an int that is
 * SL_OK (0) on success or one of the negative codes below. A function that fails leaves
 * its output arguments untouched and never calls a user callback afterwards.
 * sl_strerror() and sl_err_name() turn a code into text; both are local (not collective).
 */
#ifndef SLUICE_SL_ERROR_H
#define SLUICE_SL_ERROR_H

#include "sluice/sl_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message): the one table every error code comes from. */
#define SL_ERRNO_MAP(X)                                                                            \
  X(OK, 0, "success")                                                                              \
  X(NOMEM, -1, "out of memory")                                                                    \
  X(INVAL, -2, "invalid argument")                                                                 \
  X(STATE, -3, "call not allowed in the object's current state")                                   \
  X(MPI, -4, "MPI call failed")                                                                    \
  X(IO, -5, "I/O error")                                                                           \
  X(NOTFOUND, -6, "file or object not found")                                                      \
  X(EXISTS, -7, "output already exists")                                                           \
  X(OPTION, -8, "bad option")                                                                      \
  X(CALLBACK, -9, "user callback failed")                                                          \
  X(REMOTE, -10, "stopped because another rank failed")                                            \
  X(HDF5, -11, "HDF5 call failed")                                                                 \
  X(FORMAT, -12, "input is not in the expected format")                                            \
  X(TYPE, -13, "unsupported type for this operation")                                              \
  X(UNSUPPORTED, -14, "operation not supported")                                                   \
  X(HWLOC, -15, "hwloc call failed")                                                               \
  X(STOPPED, -16, "job stopped by a signal")                                                       \
  X(USAGE, -17, "bad usage")                                                                       \
  X(INTERNAL, -18, "internal error (a bug in sluice)")

typedef enum sl_err {
#define SL__ERR_ENUM(name, value, msg) SL_ERR_##name = value,
  SL_ERRNO_MAP(SL__ERR_ENUM)
#undef SL__ERR_ENUM
} sl_err;

#define SL_OK SL_ERR_OK

/* Message for an error code ("unknown error" for a code not in the table). Local. */
SL_EXPORT const char *sl_strerror(int err);
/* Symbolic name without prefix, e.g. "NOMEM". Local. */
SL_EXPORT const char *sl_err_name(int err);
/* The process exit status sluice's apps give an error code: 0 success; 2 bad usage or bad
 * input (the user can fix the command line or the file: missing or malformed input,
 * unsupported type, existing output, bad option); 3 stopped by SIGTERM/SIGUSR1; 1 any
 * other failure. Local. */
SL_EXPORT int sl_exit_status(int err);

#ifdef __cplusplus
}
#endif
#endif
