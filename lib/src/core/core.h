/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the context, options, errors and logging shared by every module. */
#ifndef SLUICE_CORE_H
#define SLUICE_CORE_H

#include <mpi.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice.h"

/* ---- errors ----
 * The first failure on a rank records one message line (what, where, expected vs found);
 * callers up the stack only add their file:line to the trace (printed at debug level).
 * Single-threaded per rank by design, so the record is a plain global. */
int sl__error_set(int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The recorded message ("" if none) and code (SL_OK if none). */
const char *sl__error_message(void);
int sl__error_code(void);
/* Forget the record. sl__report_error does this after printing; code that handles a
 * failure and carries on (a fallback) must call it so the next failure gets its own line. */
void sl__error_clear(void);
/* Adds file:line to the trace of the current error; returns code unchanged. */
int sl__error_trace(int code, const char *file, int line, const char *expr);
/* Records an MPI failure with MPI_Error_string's text. */
int sl__error_mpi(int mpi_code, const char *file, int line, const char *expr);

#define SL__FAIL(code, ...) return sl__error_set((code), __FILE__, __LINE__, __VA_ARGS__)
#define SL__CHECK(expr)                                                                            \
  do {                                                                                             \
    int sl__rc_ = (expr);                                                                          \
    if (sl__rc_ != SL_OK)                                                                          \
      return sl__error_trace(sl__rc_, __FILE__, __LINE__, #expr);                                  \
  } while (0)
#define SL__CHECK_MPI(expr)                                                                        \
  do {                                                                                             \
    int sl__mrc_ = (expr);                                                                         \
    if (sl__mrc_ != MPI_SUCCESS)                                                                   \
      return sl__error_mpi(sl__mrc_, __FILE__, __LINE__, #expr);                                   \
  } while (0)
/* Out of memory: what was being allocated, how large, and the option that bounds it
 * (NULL when none does). */
int sl__error_nomem(const char *file, int line, const char *what, uint64_t bytes,
                    const char *option);
/* A small allocation of internal state: no option bounds it. */
#define SL__CHECK_ALLOC(ptr)                                                                       \
  do {                                                                                             \
    if ((ptr) == NULL)                                                                             \
      return sl__error_nomem(__FILE__, __LINE__, "internal state", 0, NULL);                       \
  } while (0)
/* A buffer sized by the input or by an option: say which. */
#define SL__CHECK_ALLOC_FOR(ptr, what, bytes, option)                                              \
  do {                                                                                             \
    if ((ptr) == NULL)                                                                             \
      return sl__error_nomem(__FILE__, __LINE__, (what), (uint64_t)(bytes), (option));             \
  } while (0)

/* ---- a growable byte buffer (bytes.c): the one every module uses ---- */
typedef struct sl__bytes {
  char *p;
  size_t len, cap;
} sl__bytes;
/* Room for `more` bytes after len (doubling; never past soft_max when that is enough, 0:
 * no such cap). SL_ERR_NOMEM recorded. */
int sl__bytes_reserve(sl__bytes *b, size_t more, size_t soft_max);
/* Append n bytes (p may be NULL when n is 0). */
int sl__bytes_append(sl__bytes *b, const void *p, size_t n);
/* Append one record in the batch encoding (core/batch.h). */
int sl__bytes_put_record(sl__bytes *b, const sl_record *r);
void sl__bytes_free(sl__bytes *b);
/* The public sl_state_out (a user's save hook writes through sl_state_write): a buffer. */
struct sl_state_out {
  sl__bytes *b;
};

/* ---- JSON output (json.c): appended to a buffer, SL_ERR_NOMEM recorded ----
 * Strings are escaped (quote, backslash, control characters; invalid UTF-8 becomes
 * U+FFFD), so any name parses back; NaN and infinities are written as null. _key and the
 * k* forms write `,"key":` (no comma when first is nonzero). */
int sl__json_raw(sl__bytes *b, const char *s);
int sl__json_str(sl__bytes *b, const char *s);
int sl__json_num(sl__bytes *b, double v);
int sl__json_key(sl__bytes *b, int first, const char *key);
int sl__json_kstr(sl__bytes *b, int first, const char *key, const char *v);
int sl__json_knum(sl__bytes *b, int first, const char *key, double v);

/* ---- files (fileio.c) ---- */
/* "1.5 MiB" */
void sl__fmt_bytes(uint64_t n, char *buf, size_t cap);
/* Write all n bytes (short writes and EINTR retried). The error says how much got out:
 * "No space left on device while writing WHAT: 2.0 MiB of 4.1 MiB written". */
int sl__write_all(int fd, const void *p, size_t n, const char *what);
/* Read exactly n bytes at off; a short file is an error. */
int sl__pread_all(int fd, void *p, size_t n, uint64_t off, const char *what);
/* A spill file for `what` (named in messages): in --sl-tmpdir, else the directory of
 * `near` (an output path), else $TMPDIR or /tmp. It has no name once open (O_TMPFILE, or
 * unlinked at once), so nothing is left behind whatever ends the run. */
int sl__spill_create(const sl_ctx *ctx, const char *near, const char *what, int *fd);
/* fsync the directory that holds `path` (after a rename into it). */
int sl__fsync_dir(const char *path);

/* ---- options ----
 * One table (options.c) holds every runtime knob: name, type, default, help text. The
 * parsed values live in sl__options so hot paths read fields, not strings. */
typedef struct sl__options {
  uint64_t batch_bytes;         /* --sl-batch-bytes */
  int credits_per_edge;         /* --sl-credits-per-edge */
  uint64_t recv_budget_bytes;   /* --sl-recv-budget-bytes (per receiving partition) */
  uint64_t send_budget_bytes;   /* --sl-send-budget-bytes (per rank and stage) */
  uint64_t read_block_bytes;    /* --sl-read-block-bytes */
  uint64_t combiner_bytes;      /* --sl-combiner-bytes */
  uint64_t output_buffer_bytes; /* --sl-output-buffer-bytes */
  uint64_t held_memory_bytes;   /* --sl-sort-memory-bytes */
  int pin;                      /* --sl-pin */
  char stats_file[4096];        /* --sl-stats ("" = none; %j: the job id) */
  int log_view;                 /* --sl-log-view */
  int progress;                 /* --sl-progress: -1 auto, 0 off, 1 on */
  double progress_interval;     /* --sl-progress-interval: seconds between plain lines */
  char trace_file[4096];        /* --sl-trace ("" = none; %j: the job id) */
  int trace_merge_us;           /* --sl-trace-merge-us: spans closer than this are merged */
  int trace_max_spans;          /* --sl-trace-max-spans: per rank, the merge gap grows past it */
  int log_level;                /* --sl-log-level: sl_log_level */
  int stop_signals;             /* --sl-stop-signals */
  char tmpdir[4096];            /* --sl-tmpdir ("" = next to the output) */
  double flush_interval;        /* --sl-flush-interval, seconds */
  int window_empty_limit;       /* --sl-window-empty-limit */
  char checkpoint_dir[4096];    /* --sl-checkpoint-dir ("" = no checkpoints) */
  double checkpoint_interval;   /* --sl-checkpoint-interval, seconds (0: on signals only) */
  int help;                     /* --sl-help was given */
} sl__options;

/* Parse a value for option `name` into opts (used by env, argv and sl_option_set). */
int sl__options_defaults(sl__options *opts);
int sl__options_set(sl__options *opts, const char *name, const char *value);
int sl__options_get(const sl__options *opts, const char *name, char *buf, size_t cap);
/* Environment (SLUICE_NAME, '-' as '_', upper case) then argv (removes --sl-* args). */
int sl__options_from_env(sl__options *opts);
int sl__options_from_argv(sl__options *opts, int *argc, char ***argv);
void sl__options_help(const sl__options *opts, FILE *out);
/* Markdown reference of the table (docs/options.md is generated from it). */
void sl__options_markdown(FILE *out);
/* Relations between options (a budget must hold at least one batch). SL_ERR_OPTION. */
int sl__options_check(const sl__options *opts);
/* Parse sizes like 64K, 4M, 1G, 123. Returns SL_OK or SL_ERR_OPTION; records nothing, so
 * the caller writes the message (it knows which option or argument the text came from). */
int sl__parse_size(const char *s, uint64_t *out);

/* ---- the context ---- */
struct sl_ctx {
  MPI_Comm comm; /* duplicate of the communicator given to sl_init */
  int rank, size;
  int node_rank, node_size; /* rank within the node (shared-memory split) */
  int mpi_initialized_here;
  sl__options opt;
  int signals_installed; /* sl__signals_install replaced the handlers for this context */
  int bound_core;        /* OS index of the bound core, -1 if none */
  char binding_desc[128];
  char slurm_job_id[64];
  char command_line[4096];
  char program_args[4096];   /* argv after sl_init took its --sl-* options */
  uint64_t held_memory_auto; /* the rank's memory for operators that hold records (sorts), with
                                "auto", by sl__memory_resolve */
  uint64_t bytes_written;    /* output bytes this rank wrote (sinks count them; run records) */
  int runs;                  /* sl_run calls so far on this context */
  /* sl_checkpoint_keep's regions, saved with every checkpoint of this rank */
  struct sl__keep {
    void *p;
    size_t n;
  } * keep;
  int nkeep, capkeep;
  /* the trace of every run so far (--sl-trace): kept by the engine, freed at sl_finalize */
  void *trace;
  void (*trace_free)(void *trace);
};

/* A file name with %j replaced by the Slurm job id ("nojob" outside Slurm) and %% by %.
 * SL_ERR_OPTION (recorded, naming `option`) when the result does not fit in cap. */
int sl__expand_name(const sl_ctx *ctx, const char *option, const char *tmpl, char *out, size_t cap);

/* memory.c: the memory this process may use (physical, or a lower cgroup or Slurm
 * limit; UINT64_MAX if none is known) */
uint64_t sl__memory_limit_bytes(void);
/* Resolves the "auto" budgets from that and the ranks on the node (after node_size). */
void sl__memory_resolve(sl_ctx *ctx);
/* The budget of each of `shares` steps on this rank that hold records (the engine counts
 * the steps that ask for a share): the option, or with "auto" the rank's memory for held
 * records divided among them (at least 16M each). */
uint64_t sl__held_memory_bytes(const sl_ctx *ctx, int shares);

/* hwloc: bind the calling process to one core (see docs/architecture.md). */
int sl__pin(sl_ctx *ctx);

/* ---- logging ---- */
void sl__vlog(const sl_ctx *ctx, sl_log_level level, const char *fmt, va_list ap);
/* Print the recorded error as the one line the user sees: "sluice: error: rank R: ..."
 * (sl_strerror(code) when nothing is recorded), the trace after it at log level debug,
 * then clear the record. */
void sl__report_error(const sl_ctx *ctx, int code);

/* ---- time ---- */
double sl__now(void); /* monotonic seconds */
/* Wall-clock seconds since the epoch (UTC), and as ISO 8601 "2026-12-07T12:58:15.123Z". */
double sl__wall_now(void);
void sl__utc_string(double wall, char *buf, size_t cap);
/* A user's name (a stage, a label) for one line of a terminal or a log: control bytes
 * become C escapes (\n, \t, \x01), so a name cannot break the line. Truncated to fit. */
void sl__printable(const char *in, char *out, size_t cap);

/* ---- the CPU (cpu.c) ---- */
/* 1 when the CPU runs AVX2 (SSE4.2) and SLUICE_SIMD is not "sse2"; asked once. */
int sl__cpu_avx2(void);
int sl__cpu_sse42(void);

/* ---- stop signals (SIGTERM, SIGUSR1) ---- */
int sl__signals_install(sl_ctx *ctx);
/* The flag handlers from the start of sl_init, owned by no context until
 * sl__signals_install takes them; sl__signals_drop_early puts the old ones back (and
 * re-raises a signal that came meanwhile) where none is installed after all. */
void sl__signals_early(void);
void sl__signals_drop_early(void);
/* Put back the handlers sl__signals_install replaced (sl_finalize). */
void sl__signals_restore(sl_ctx *ctx);
extern volatile int sl__stop_flag;

#endif
