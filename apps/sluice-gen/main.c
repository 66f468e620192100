/* sluice-gen: synthetic inputs for sluice's tests and benchmarks.
 *
 *   sluice-gen text      Zipf-distributed words, an exact number of bytes
 *   sluice-gen particles an HDF5 table of particles, written collectively
 *
 * Both outputs are a function of the options and the seed only, never of the number of
 * ranks, so a result computed at any scale can be checked against one computed at 1 rank.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

static void usage(void) {
  printf("usage: sluice-gen COMMAND [OPTIONS] -o OUTPUT\n"
         "       sluice-gen --help | --version\n"
         "\n"
         "Writes synthetic inputs for sluice. The output depends only on the options and the\n"
         "seed, never on the number of MPI ranks (run it under mpirun to write in parallel).\n"
         "The output is written under a temporary name and renamed when complete.\n"
         "\n"
         "Commands:\n"
         "  text        Zipf-distributed words, one line of 8-16 words at a time\n"
         "  particles   an HDF5 compound table (id, cell, x, y, z, mass)\n"
         "\n");
  gen_text_usage();
  printf("\n");
  gen_particles_usage();
  printf("\n"
         "Numbers accept the binary suffixes K, M, G, T (1K = 1024).\n"
         "sluice options (--sl-NAME=VALUE, see --sl-help) are accepted too, e.g.\n"
         "--sl-progress=on prints progress to stderr even when it is not a terminal.\n"
         "Exit status: 0 success, 1 runtime failure, 2 bad usage.\n");
}

double gen_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int gen_usage_error(const gen_common *g, const char *fmt, ...) {
  if (g->rank == 0) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sluice-gen: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see sluice-gen --help)\n", stderr);
    va_end(ap);
  }
  return GEN_EXIT_USAGE;
}

void gen_error(const gen_common *g, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (g->size > 1)
    fprintf(stderr, "sluice-gen: error: rank %d: %s\n", g->rank, msg);
  else
    fprintf(stderr, "sluice-gen: error: %s\n", msg);
}

int gen_opt_value(const gen_common *g, int argc, char **argv, int *i, const char *name,
                  const char **value) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0)
    return 0;
  if (a[n] == '=') {
    *value = a + n + 1;
    *i += 1;
    return 1;
  }
  if (a[n] != '\0')
    return 0;
  if (*i + 1 >= argc) {
    gen_usage_error(g, "option %s needs a value", name);
    return -1;
  }
  *value = argv[*i + 1];
  *i += 2;
  return 1;
}

int gen_parse_u64(const gen_common *g, const char *what, const char *s, uint64_t *out) {
  const char *p = s;
  if (*p < '0' || *p > '9')
    goto bad; /* strtoull would accept "-1" and " 1" */
  errno = 0;
  char *end;
  unsigned long long v = strtoull(p, &end, 10);
  if (errno != 0)
    goto bad;
  int shift = 0;
  switch (*end) {
  case 'k':
  case 'K':
    shift = 10;
    end++;
    break;
  case 'm':
  case 'M':
    shift = 20;
    end++;
    break;
  case 'g':
  case 'G':
    shift = 30;
    end++;
    break;
  case 't':
  case 'T':
    shift = 40;
    end++;
    break;
  default:
    break;
  }
  if (shift && (*end == 'i' || *end == 'I'))
    end++;
  if (shift && (*end == 'b' || *end == 'B'))
    end++;
  if (*end != '\0')
    goto bad;
  if (shift && v > (UINT64_MAX >> shift))
    goto bad;
  *out = (uint64_t)v << shift;
  return 0;
bad:
  gen_usage_error(g, "%s: '%s' is not a non-negative integer (suffixes K, M, G, T)", what, s);
  return -1;
}

int gen_parse_double(const gen_common *g, const char *what, const char *s, double *out) {
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || errno != 0 || !isfinite(v)) {
    gen_usage_error(g, "%s: '%s' is not a number", what, s);
    return -1;
  }
  *out = v;
  return 0;
}

int gen_all_ok(const gen_common *g, int ok) {
  int mine = ok ? 1 : 0, all = 0;
  if (MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, g->comm) != MPI_SUCCESS)
    return 0;
  return all;
}

int gen_agree(const gen_common *g, int ok, const char *fmt, ...) {
  int mine = ok ? INT_MAX : g->rank, first = INT_MAX;
  if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, g->comm) != MPI_SUCCESS)
    return 0;
  if (first == INT_MAX)
    return 1;
  if (first == g->rank) {
    va_list ap;
    va_start(ap, fmt);
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gen_error(g, "%s", msg);
  }
  return 0;
}

/* The one output of this run (sluice-gen writes one file). */
static sl_output *gen_out = NULL;

int gen_output_begin(const gen_common *g, const char *path, int force, char *tmp, size_t cap) {
  /* sl_output checks the destination on rank 0 before any work (a directory, a missing or
   * unwritable directory, an existing file without --force are bad usage, exit 2) and makes
   * the temporary beside it; it prints the one line itself */
  int rc = sl_output_create(g->ctx, path, force, NULL, 0, &gen_out);
  if (rc != SL_OK) {
    /* rank 0 has the cause, the others SL_ERR_REMOTE: every rank exits with rank 0's status,
     * since mpirun reports the first rank to exit */
    int r0 = rc;
    MPI_Bcast(&r0, 1, MPI_INT, 0, g->comm);
    return sl_exit_status(r0 != SL_ERR_REMOTE && r0 != SL_OK ? r0 : rc);
  }
  const char *t = sl_output_tmp_path(gen_out);
  if (strlen(t) >= cap) {
    if (g->rank == 0)
      gen_error(g, "output path too long: '%s'", path);
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

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  int rc = sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx);
  if (rc != SL_OK) {
    /* sl_init has printed the message; MPI may be up without a context to close it. */
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down)
      MPI_Finalize();
    return rc == SL_ERR_OPTION ? GEN_EXIT_USAGE : GEN_EXIT_FAIL;
  }
  if (sl_help_requested(ctx)) {
    sl_finalize(&ctx);
    return GEN_EXIT_OK;
  }
  gen_common g = {.ctx = ctx, .comm = sl_comm(ctx), .rank = sl_rank(ctx), .size = sl_size(ctx)};
  g.progress = g.rank == 0 && progress_wanted(ctx);

  int code;
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (!cmd) {
    code = gen_usage_error(&g, "missing command (text or particles)");
  } else if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    if (g.rank == 0)
      usage();
    code = GEN_EXIT_OK;
  } else if (strcmp(cmd, "--version") == 0) {
    if (g.rank == 0)
      printf("sluice-gen %s\n", sl_version());
    code = GEN_EXIT_OK;
  } else if (strcmp(cmd, "text") == 0) {
    code = gen_text_main(&g, argc - 1, argv + 1);
  } else if (strcmp(cmd, "particles") == 0) {
    code = gen_particles_main(&g, argc - 1, argv + 1);
  } else {
    code = gen_usage_error(&g, "unknown command '%s' (expected text or particles)", cmd);
  }
  fflush(stdout);
  sl_finalize(&ctx);
  return code;
}
