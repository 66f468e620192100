/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-gen: synthetic inputs for sluice's tests and benchmarks.
 *
 *   sluice-gen text      Zipf-distributed words, an exact number of bytes
 *   sluice-gen particles an HDF5 table of particles, written collectively
 *
 * Both outputs are a function of the options and the seed only, never of the number of
 * ranks, so a result computed at any scale can be checked against one computed at 1 rank.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

static void usage(FILE *f) {
  fprintf(f, "usage: sluice-gen COMMAND [OPTIONS] -o OUTPUT\n"
             "       sluice-gen --help | --version\n"
             "\n"
             "Writes synthetic inputs for sluice. The output depends only on the options and the\n"
             "seed, never on the number of MPI ranks (run it under mpirun to write in parallel).\n"
             "The output is written under a temporary name and renamed when complete.\n"
             "\n"
             "Commands:\n"
             "  text        Zipf-distributed words, one line of 8-16 words at a time\n"
             "  particles   an HDF5 compound table (id, cell, x, y, z, mass)\n");
  const app_cli *cmds[] = {&gen_text_cli, &gen_particles_cli};
  for (size_t i = 0; i < 2; i++) {
    fputc('\n', f);
    app_print_usage(f, cmds[i], "");
    app_print_options(f, cmds[i]->opts, 0);
    if (cmds[i]->epilog)
      fputs(cmds[i]->epilog, f);
  }
  fprintf(f, "\n"
             "Numbers accept the binary suffixes K, M, G, T (1K = 1024). Options that take a\n"
             "value accept --opt VALUE and --opt=VALUE alike; 'sluice-gen COMMAND --help' shows\n"
             "one command. sluice options (--sl-NAME=VALUE, see --sl-help) are accepted too,\n"
             "e.g. --sl-progress=on prints progress to stderr even when it is not a terminal.\n"
             "Exit status: 0 success, 1 runtime failure, 2 bad usage.\n");
}

double gen_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The one output of this run (sluice-gen writes one file). */
static sl_output *gen_out = NULL;

int gen_output_begin(const gen_common *g, const char *path, int force, char *tmp, size_t cap) {
  /* the destination is checked on rank 0 before any work (a directory, a missing or
   * unwritable directory, an existing file without --force are bad usage, exit 2), one line
   * printed, and the temporary made beside it */
  int rc = app_output_create(g->app, path, force, NULL, 0, &gen_out);
  if (rc != SL_OK)
    return sl_exit_status(rc);
  const char *t = sl_output_tmp_path(gen_out);
  if (strlen(t) >= cap) {
    app_usage_error(g->app, "output path too long: '%s'", path);
    sl_output_destroy(&gen_out);
    return GEN_EXIT_USAGE;
  }
  memcpy(tmp, t, strlen(t) + 1);
  return GEN_EXIT_OK;
}

int gen_output_reserve(const gen_common *g, uint64_t bytes) {
  (void)g;
  /* collective; the one line is printed by sl_output_reserve */
  return sl_output_reserve(gen_out, bytes) == SL_OK;
}

int gen_output_end(const gen_common *g, const char *path, const char *tmp, int ok) {
  (void)g;
  (void)path;
  (void)tmp;
  /* Collective: synced and renamed only when every rank's part is complete; the other
   * ranks return only once the output is in place (or known failed), so a script that runs
   * the next step right after mpirun sees the final file. A rank that failed printed why. */
  int rc = sl_output_commit(gen_out, ok ? SL_OK : SL_ERR_IO);
  sl_output_destroy(&gen_out);
  return rc == SL_OK ? GEN_EXIT_OK : GEN_EXIT_FAIL;
}

void gen_progress_start(gen_progress *p, const gen_common *g, const char *what) {
  p->g = g;
  p->what = what;
  p->start = p->last = gen_now();
}

static void progress_print(gen_progress *p, uint64_t done, uint64_t total, const char *unit,
                           double now) {
  double secs = now - p->start;
  double pct = total ? 100.0 * (double)done / (double)total : 100.0;
  if (strcmp(unit, "B") == 0) {
    double mb = (double)done / 1e6;
    fprintf(stderr, "sluice-gen %s: %5.1f%% %.1f of %.1f MiB, %.1f s, %.0f MB/s\n", p->what, pct,
            (double)done / 1048576.0, (double)total / 1048576.0, secs, secs > 0 ? mb / secs : 0.0);
  } else {
    fprintf(stderr, "sluice-gen %s: %5.1f%% %llu of %llu %s, %.1f s\n", p->what, pct,
            (unsigned long long)done, (unsigned long long)total, unit, secs);
  }
}

void gen_progress_update(gen_progress *p, uint64_t done, uint64_t total, const char *unit) {
  if (!p->g->progress || p->g->rank != 0)
    return;
  double now = gen_now();
  if (now - p->last < 1.0)
    return;
  p->last = now;
  progress_print(p, done, total, unit, now);
}

void gen_progress_end(gen_progress *p, uint64_t total, const char *unit) {
  if (!p->g->progress || p->g->rank != 0)
    return;
  progress_print(p, total, total, unit, gen_now());
}

/* --sl-progress: on/off, or auto (the default): on when stderr is a terminal. */
static int progress_wanted(const sl_ctx *ctx) {
  const char *v = NULL;
  if (sl_option_get(ctx, "progress", &v) == SL_OK && v) {
    static const char *const on[] = {"1", "on", "true", "yes"};
    static const char *const off[] = {"0", "off", "false", "no"};
    for (size_t i = 0; i < 4; i++) {
      if (strcasecmp(v, on[i]) == 0)
        return 1;
      if (strcasecmp(v, off[i]) == 0)
        return 0;
    }
  }
  return isatty(STDERR_FILENO);
}

/* The command: text or particles, or --help / --version. */
static int gen_main(app *a, int argc, char **argv) {
  gen_common g = {.app = a, .ctx = a->ctx, .comm = a->comm, .rank = a->rank, .size = a->size};
  g.progress = g.rank == 0 && progress_wanted(a->ctx);
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (!cmd)
    return app_usage_error(a, "missing command (text or particles) (see sluice-gen --help)");
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    if (a->root)
      usage(stdout);
    return GEN_EXIT_OK;
  }
  if (!strcmp(cmd, "--version")) {
    if (a->root)
      printf("sluice-gen %s\n", sl_version());
    return GEN_EXIT_OK;
  }
  if (!strcmp(cmd, "text"))
    return gen_text_main(&g, argc - 1, argv + 1);
  if (!strcmp(cmd, "particles"))
    return gen_particles_main(&g, argc - 1, argv + 1);
  return app_usage_error(
      a, "unknown command '%s' (expected text or particles; see sluice-gen --help)", cmd);
}

int main(int argc, char **argv) {
  app a;
  int code = app_init(&a, "sluice-gen", &argc, &argv);
  if (code == APP_RUN)
    code = gen_main(&a, argc, argv);
  return app_finish(&a, code);
}
