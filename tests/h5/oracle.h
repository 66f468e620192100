/* For the serial HDF5 oracle programs of the tests (h5oracle.c, h5stats_edge.c): a
 * mismatch is printed with the program's name and counted in `fails`; a failing HDF5 call
 * prints HDF5's error stack and ends the program with status 3. Define ORACLE_NAME first. */
#ifndef SLUICE_ORACLE_H
#define SLUICE_ORACLE_H

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef ORACLE_NAME
#error "define ORACLE_NAME (the program's name in messages) before including oracle.h"
#endif

static int fails = 0;
#define FAILF(...)                                                                                 \
  do {                                                                                             \
    fprintf(stderr, ORACLE_NAME ": MISMATCH: " __VA_ARGS__);                                       \
    fprintf(stderr, "\n");                                                                         \
    fails++;                                                                                       \
  } while (0)
#define OK(expr)                                                                                   \
  do {                                                                                             \
    if ((expr) < 0) {                                                                              \
      fprintf(stderr, ORACLE_NAME ": HDF5 call failed at line %d: %s\n", __LINE__, #expr);         \
      H5Eprint2(H5E_DEFAULT, stderr);                                                              \
      exit(3);                                                                                     \
    }                                                                                              \
  } while (0)

#endif
