/* SPDX-License-Identifier: BSD-3-Clause */
/* mpi-hello: a tiny MPI program that proves the Slurm test harness and template.sbatch
 * without sluice.
 *
 *   mpi-hello [ARG...]   print "hello rank R of S cpus N" (N: this process's
 *                        Cpus_allowed_list), rank 0 also "args: ARG...", and exit 0.
 *   mpi-hello --wait     print the lines, then "waiting", and wait (up to 300 s) for SIGTERM
 *                        or SIGUSR1; on the signal every rank prints
 *                        "rank R: stopped by signal S" and the program exits 3, the code
 *                        sluice apps use for "stopped by a signal".
 *
 * It fails (exit 1) when SLURM_STEP_NUM_TASKS is set and differs from the MPI world size,
 * the check sluice makes against a launcher/PMI mismatch.
 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) {
  got_signal = sig;
}

static void cpus_allowed(char *buf, size_t len) {
  snprintf(buf, len, "?");
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return;
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "Cpus_allowed_list:", 18) == 0) {
      char *v = line + 18;
      v += strspn(v, " \t");
      v[strcspn(v, "\n")] = '\0';
      snprintf(buf, len, "%s", v);
      break;
    }
  }
  fclose(f);
}

int main(int argc, char **argv) {
  int wait_mode = argc > 1 && strcmp(argv[1], "--wait") == 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);

  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (wait_mode) {
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
  }

  const char *nt = getenv("SLURM_STEP_NUM_TASKS");
  if (nt && atoi(nt) != size) {
    fprintf(stderr, "mpi-hello: MPI world size %d but SLURM_STEP_NUM_TASKS=%s\n", size, nt);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }

  char cpus[256];
  cpus_allowed(cpus, sizeof cpus);
  printf("hello rank %d of %d cpus %s\n", rank, size, cpus);
  if (rank == 0) {
    printf("args:");
    for (int i = 1; i < argc; i++)
      printf(" %s", argv[i]);
    printf("\n");
  }
  fflush(stdout);
  if (!wait_mode) {
    MPI_Finalize();
    return 0;
  }

  if (rank == 0) {
    printf("waiting\n");
    fflush(stdout);
  }
  /* Every rank polls its own flag and agrees once a second whether anyone got a signal,
   * like a flow that checks for a stop request between batches. */
  int stop = 0;
  for (int i = 0; i < 3000 && !stop; i++) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (i % 10 == 9) {
      int mine = got_signal != 0;
      MPI_Allreduce(&mine, &stop, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    }
  }
  if (!stop) {
    printf("rank %d: no signal received\n", rank);
    MPI_Finalize();
    return 1;
  }
  printf("rank %d: stopped by signal %d\n", rank, (int)got_signal);
  fflush(stdout);
  MPI_Finalize();
  return 3;
}
