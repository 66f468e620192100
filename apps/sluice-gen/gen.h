/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-gen: what main.c shares with the subcommands.
 *
 * Error rule (apps/common/appcli.h): every rank parses the same command line, so a usage
 * error is found on every rank; only rank 0 prints it (app_usage_error) and all ranks exit
 * GEN_EXIT_USAGE. A runtime failure is printed by the rank that saw it (app_error); the
 * ranks then agree (app_all_ok, app_agree) and all exit GEN_EXIT_FAIL, so mpirun never
 * waits on a rank that left early.
 */
#ifndef SLUICE_GEN_H
#define SLUICE_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "appcli.h"

enum { GEN_EXIT_OK = APP_EXIT_OK, GEN_EXIT_FAIL = APP_EXIT_FAIL, GEN_EXIT_USAGE = APP_EXIT_USAGE };

typedef struct gen_common {
  app *app; /* the run: messages, agreement, the parsed command line */
  sl_ctx *ctx;
  MPI_Comm comm; /* the context's duplicate */
  int rank, size;
  int progress; /* rank 0 prints progress lines */
} gen_common;

/* ---- output ---- */
/* Check the output (sl_output_create: exit 2 for a directory, a missing or unwritable
 * directory, an existing file without force) and create its temporary, whose name goes to
 * tmp (the file exists: open it without an exclusive-create flag). Returns GEN_EXIT_OK or
 * the exit code. Collective. */
int gen_output_begin(const gen_common *g, const char *path, int force, char *tmp, size_t cap);
/* Collective: reserve `bytes` for the output before the collective writes, so that a
 * full disk is found here on every rank alike (1 when it fits or cannot be reserved). */
int gen_output_reserve(const gen_common *g, uint64_t bytes);
/* If ok on every rank, sync and rename tmp to path, else remove tmp. Returns the exit code.
 * Collective; call after every rank has closed the file. */
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
/* Their command lines (the options' values go to each file's static configuration). */
extern const app_cli gen_text_cli;
extern const app_cli gen_particles_cli;

#endif
