/* SPDX-License-Identifier: BSD-3-Clause */
/* Error codes as text, and the per-rank record of the first failure.
 *
 * The record keeps the first message because the deepest failure is the one that explains
 * the problem; callers up the stack only add file:line trace entries, which the user sees
 * at --sl-log-level=debug. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

const char *sl_strerror(int err) {
  switch (err) {
#define SL__ERR_MSG(name, value, msg)                                                              \
  case value:                                                                                      \
    return msg;
    SL_ERRNO_MAP(SL__ERR_MSG)
#undef SL__ERR_MSG
  }
  return "unknown error";
}

const char *sl_err_name(int err) {
  switch (err) {
#define SL__ERR_NAME(name, value, msg)                                                             \
  case value:                                                                                      \
    return #name;
    SL_ERRNO_MAP(SL__ERR_NAME)
#undef SL__ERR_NAME
  }
  return "UNKNOWN";
}

/* Fixed sizes: recording an error must not allocate, since out of memory is one of the
 * errors recorded. A deeper trace than this is truncated (the origin is entry 0). */
#define SL__TRACE_MAX 16

typedef struct sl__trace_entry {
  const char *file; /* __FILE__ and #expr are string literals, so pointers suffice */
  int line;
  const char *expr;
} sl__trace_entry;

static struct {
  int code;
  char message[512];
  sl__trace_entry trace[SL__TRACE_MAX];
  int ntrace;
  int trace_dropped;
} sl__err;

static void trace_push(const char *file, int line, const char *expr) {
  if (sl__err.ntrace < SL__TRACE_MAX) {
    sl__trace_entry *e = &sl__err.trace[sl__err.ntrace++];
    e->file = file;
    e->line = line;
    e->expr = expr;
  } else {
    sl__err.trace_dropped++;
  }
}

int sl__error_set(int code, const char *file, int line, const char *fmt, ...) {
  if (sl__err.code != SL_OK) {
    /* A later failure caused by the first one: keep the first message, note where. */
    trace_push(file, line, NULL);
    return code;
  }
  sl__err.code = code;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(sl__err.message, sizeof sl__err.message, fmt, ap);
  va_end(ap);
  if (n < 0) {
    snprintf(sl__err.message, sizeof sl__err.message, "%s", sl_strerror(code));
  }
  /* The user sees exactly one line per failure; an embedded newline would break that. */
  for (char *p = sl__err.message; *p != '\0'; p++) {
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  }
  trace_push(file, line, NULL);
  return code;
}

const char *sl__error_message(void) {
  return sl__err.message;
}

int sl__error_code(void) {
  return sl__err.code;
}

void sl__error_clear(void) {
  memset(&sl__err, 0, sizeof sl__err);
}

int sl__error_trace(int code, const char *file, int line, const char *expr) {
  /* A code returned without SL__FAIL (e.g. passed through from a helper) still deserves a
   * record, so that the report and the trace start here. */
  if (sl__err.code == SL_OK)
    sl__err.code = code;
  trace_push(file, line, expr);
  return code;
}

int sl__error_mpi(int mpi_code, const char *file, int line, const char *expr) {
  char text[MPI_MAX_ERROR_STRING] = "";
  int len = 0, init = 0, fin = 0;
  /* MPI_Error_string aborts in Open MPI outside MPI_Init..MPI_Finalize (e.g. after a failed
   * MPI_Init_thread), and may fail for a code it does not know: then the number is all. */
  int usable =
      MPI_Initialized(&init) == MPI_SUCCESS && init && MPI_Finalized(&fin) == MPI_SUCCESS && !fin;
  if (!usable || MPI_Error_string(mpi_code, text, &len) != MPI_SUCCESS || len <= 0) {
    snprintf(text, sizeof text, "MPI error code %d", mpi_code);
  }
  return sl__error_set(SL_ERR_MPI, file, line, "%s failed: %s", expr, text);
}

/* Rank label for the report line. Without a context (sl_init failed early) the world rank
 * is the best name the user has for the process; it is only read, never talked on. */
static int report_rank(const sl_ctx *ctx) {
  if (ctx != NULL)
    return ctx->rank;
  int init = 0, fin = 0, rank = -1;
  if (MPI_Initialized(&init) != MPI_SUCCESS || !init)
    return -1;
  if (MPI_Finalized(&fin) != MPI_SUCCESS || fin)
    return -1;
  if (MPI_Comm_rank(MPI_COMM_WORLD, &rank) != MPI_SUCCESS)
    return -1;
  return rank;
}

void sl__report_error(const sl_ctx *ctx, int code) {
  if (code == SL_OK)
    return;
  const char *msg = sl__err.message[0] != '\0' ? sl__err.message : sl_strerror(code);
  int rank = report_rank(ctx);
  /* One fprintf per line: stderr is unbuffered, and a single call keeps ranks sharing a
   * terminal from interleaving within a line. */
  if (rank >= 0) {
    fprintf(stderr, "sluice: error: rank %d: %s\n", rank, msg);
  } else {
    fprintf(stderr, "sluice: error: %s\n", msg);
  }
  if (ctx != NULL && ctx->opt.log_level >= SL_LOG_DEBUG) {
    for (int i = 0; i < sl__err.ntrace; i++) {
      const sl__trace_entry *e = &sl__err.trace[i];
      if (e->expr != NULL) {
        fprintf(stderr, "sluice: trace: rank %d: %s:%d: %s\n", rank, e->file, e->line, e->expr);
      } else {
        fprintf(stderr, "sluice: trace: rank %d: %s:%d\n", rank, e->file, e->line);
      }
    }
    if (sl__err.trace_dropped > 0) {
      fprintf(stderr, "sluice: trace: rank %d: (%d more entries dropped)\n", rank,
              sl__err.trace_dropped);
    }
  }
  /* Reported means consumed: the next failure gets its own message. */
  sl__error_clear();
}

int sl_exit_status(int err) {
  switch (err) {
  case SL_OK:
    return 0;
  case SL_ERR_NOTFOUND:
  case SL_ERR_FORMAT:
  case SL_ERR_EXISTS:
  case SL_ERR_TYPE:
  case SL_ERR_UNSUPPORTED:
  case SL_ERR_USAGE:
  case SL_ERR_OPTION:
  case SL_ERR_INVAL:
    return 2;
  case SL_ERR_STOPPED:
    return 3;
  default:
    return 1;
  }
}
