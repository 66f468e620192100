/* sluice-gen: what main.c shares with the subcommands.
 *
 * Error rule: every rank parses the same command line, so a usage error is found on
 * every rank; only rank 0 prints it and all ranks exit GEN_EXIT_USAGE. A runtime failure
 * is printed by the rank that saw it; the ranks then agree (gen_all_ok) and all exit
 * GEN_EXIT_FAIL, so mpirun never waits on a rank that left early.
 */
#ifndef SLUICE_GEN_H
#define SLUICE_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "sluice.h"

enum { GEN_EXIT_OK = 0, GEN_EXIT_FAIL = 1, GEN_EXIT_USAGE = 2 };

typedef struct gen_common {
  sl_ctx *ctx;
  MPI_Comm comm; /* the context's duplicate */
  int rank, size;
  int progress; /* rank 0 prints progress lines */
} gen_common;

/* ---- command-line helpers (local) ---- */
/* If argv[*i] is option `name` ("--name VALUE" or "--name=VALUE"), set *value, advance *i
 * past it and return 1; return 0 if it is another option; return -1 after printing a
 * usage error if the value is missing. */
int gen_opt_value(const gen_common *g, int argc, char **argv, int *i, const char *name,
                  const char **value);
/* Parsers: return 0, or print a usage error naming `what` and return -1. Counts and sizes
 * take binary suffixes K, M, G, T (1K = 1024). */
int gen_parse_u64(const gen_common *g, const char *what, const char *s, uint64_t *out);
int gen_parse_double(const gen_common *g, const char *what, const char *s, double *out);
/* Print "sluice-gen: error: ..." (usage) on rank 0 only. Returns GEN_EXIT_USAGE. */
int gen_usage_error(const gen_common *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print "sluice-gen: error: [rank R: ]..." on the calling rank. */
void gen_error(const gen_common *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- collective helpers ---- */
/* 1 if ok is nonzero on every rank. Collective. */
int gen_all_ok(const gen_common *g, int ok);
/* Like gen_all_ok, and if some rank failed, the lowest failing rank prints the message:
 * a failure that every rank shares (a collective open) is reported once, not P times.
 * Collective. */
int gen_agree(const gen_common *g, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Check the output (sl_output_create: exit 2 for a directory, a missing or unwritable
 * directory, an existing file without force) and create its temporary, whose name goes to
 * tmp (the file exists: open it without an exclusive-create flag). Returns GEN_EXIT_OK or
 * the exit code. Collective. */
int gen_output_begin(const gen_common *g, const char *path, int force, char *tmp, size_t cap);
/* If ok on every rank, sync and rename tmp to path, else remove tmp. Returns the exit code.
 * Collective; call after every rank has closed the file. */
/* Collective: reserve `bytes` for the output before the collective writes, so that a
 * full disk is found here on every rank alike (1 when it fits or cannot be reserved). */
int gen_output_reserve(const gen_common *g, uint64_t bytes);
int gen_output_end(const gen_common *g, const char *path, const char *tmp, int ok);

/* ---- progress (rank 0, at most once per second) ---- */
typedef struct gen_progress {
  const gen_common *g;
  const char *what;
  double start, last;
} gen_progress;
void gen_progress_start(gen_progress *p, const gen_common *g, const char *what);
/* done/total in units of unit_name ("B" prints as MiB). */
void gen_progress_update(gen_progress *p, uint64_t done, uint64_t total, const char *unit);
void gen_progress_end(gen_progress *p, uint64_t total, const char *unit);
double gen_now(void);

/* ---- subcommands: argv[0] is the subcommand name; return the exit code ---- */
int gen_text_main(const gen_common *g, int argc, char **argv);
int gen_particles_main(const gen_common *g, int argc, char **argv);
void gen_text_usage(void);
void gen_particles_usage(void);

#endif
