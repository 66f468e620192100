/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice: the context (MPI, options, pinning, logging).
 *
 * Lifecycle: sl_init -> (build and run flows) -> sl_finalize.
 * The context never talks on the caller's communicator: it duplicates it.
 */
#ifndef SLUICE_SL_CONTEXT_H
#define SLUICE_SL_CONTEXT_H

#include <mpi.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/sl_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_ctx sl_ctx;

typedef enum sl_log_level {
  SL_LOG_ERROR = 0,
  SL_LOG_WARN = 1,
  SL_LOG_INFO = 2,
  SL_LOG_DEBUG = 3
} sl_log_level;

/* Create a context. Collective over comm.
 * Initializes MPI (MPI_Init_thread, funneled) if the caller has not, duplicates comm
 * (pass MPI_COMM_WORLD for the usual case), reads options from the environment
 * (SLUICE_NAME=VALUE) and from argv (--sl-NAME=VALUE or --sl-NAME VALUE, the command line
 * wins) and removes the --sl-* arguments from argv, then pins the rank to a core.
 * argc/argv may be NULL. With --sl-help, rank 0 prints every option and
 * sl_help_requested() is true: the caller should then finalize and exit 0.
 * Returns SL_ERR_OPTION for an unknown or malformed --sl-* option (message printed). */
SL_EXPORT int sl_init(int *argc, char ***argv, MPI_Comm comm, sl_ctx **ctx);

/* Destroy the context (accepts NULL and *ctx == NULL; sets *ctx to NULL) and finalize
 * MPI if sl_init initialized it. Collective. */
SL_EXPORT int sl_finalize(sl_ctx **ctx);

/* Local queries. */
SL_EXPORT int sl_help_requested(const sl_ctx *ctx);
SL_EXPORT int sl_rank(const sl_ctx *ctx);
SL_EXPORT int sl_size(const sl_ctx *ctx);
/* The context's private communicator (a duplicate); for user collectives, not data. */
SL_EXPORT MPI_Comm sl_comm(const sl_ctx *ctx);

/* Options database. Local. Values are strings as given; the typed getters parse them
 * (sizes accept K/M/G suffixes, booleans 1/0/on/off/true/false/yes/no). */
SL_EXPORT int sl_option_set(sl_ctx *ctx, const char *name, const char *value);
SL_EXPORT int sl_option_get(const sl_ctx *ctx, const char *name, const char **value);
/* Print every option with its help text and current value. Local. */
SL_EXPORT int sl_options_print_help(const sl_ctx *ctx, void *file /* FILE * */);

/* Log a message with the "sluice[rank N]" prefix when level <= --sl-log-level. Local. */
SL_EXPORT void sl_log(const sl_ctx *ctx, sl_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Stop handling: after a SIGTERM or SIGUSR1 (installed by sl_init unless
 * --sl-stop-signals=off), running flows stop cleanly on every rank with SL_ERR_STOPPED.
 * Once a run has stopped, this is true on every rank, and sl_finalize leaves the handlers
 * in place (the process is on its way out; a launcher's second SIGTERM must not kill it
 * before it exits with its status). Local. */
SL_EXPORT int sl_stop_requested(const sl_ctx *ctx);

/* The library version string, e.g. "0.1.0". Local. */
SL_EXPORT const char *sl_version(void);

#ifdef __cplusplus
}
#endif
#endif
