/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the HDF5 tests: checks that count failures and agree across ranks. */
#ifndef SLUICE_H5TEST_H
#define SLUICE_H5TEST_H

#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int h5t_failures = 0;

#define T_CHECK(cond, ...)                                                                         \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      int r_;                                                                                      \
      MPI_Comm_rank(MPI_COMM_WORLD, &r_);                                                          \
      fprintf(stderr, "FAIL rank %d %s:%d: %s: ", r_, __FILE__, __LINE__, #cond);                  \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, "\n");                                                                       \
      h5t_failures++;                                                                              \
    }                                                                                              \
  } while (0)

#define H5_OK(expr)                                                                                \
  do {                                                                                             \
    if ((expr) < 0) {                                                                              \
      fprintf(stderr, "FAIL %s:%d: HDF5 call failed: %s\n", __FILE__, __LINE__, #expr);            \
      H5Eprint2(H5E_DEFAULT, stderr);                                                              \
      MPI_Abort(MPI_COMM_WORLD, 1);                                                                \
    }                                                                                              \
  } while (0)

/* Serial file access (sec2) for writing inputs and reading outputs in the tests. */
static inline hid_t h5t_fapl(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5_OK(fapl);
  H5_OK(H5Pset_fapl_sec2(fapl));
  return fapl;
}

/* Every rank: the per-run folder dir = BASE/NAME.npSIZE (BASE: argv[1] or "."), made by
 * rank 0 before any rank goes on; HDF5's own error stack printing off (tests check codes). */
static inline void h5t_workdir(int argc, char **argv, const char *name, int size, char *dir,
                               size_t cap) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  snprintf(dir, cap, "%s/%s.np%d", argc > 1 ? argv[1] : ".", name, size);
  if (rank == 0) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0)
      MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

#endif
