/* For the serial HDF5 oracle programs of the tests (h5oracle.c, h5stats_edge.c): a
 * mismatch is printed with the program's name and counted in `fails`; a failing HDF5 call
 * prints HDF5's error stack and ends the program with status 3. Define ORACLE_NAME first. */
#ifndef SLUICE_ORACLE_H
#define SLUICE_ORACLE_H

#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef ORACLE_NAME
#error "define ORACLE_NAME (the program's name in messages) before including oracle.h"
/* A row of sluice-h5stats' /stats table (docs/hdf5.md). */
typedef struct srow {
  char field[256];
  uint64_t count, nan_count;
  double min, max, mean, std;
} srow;

/* Reads the /stats table of the open file of: *n rows, calloc'd (one more, zeroed). */
static srow *read_stats(hid_t of, hsize_t *n) {
  hid_t s256 = H5Tcopy(H5T_C_S1);
  OK(s256);
  OK(H5Tset_size(s256, 256));
  OK(H5Tset_strpad(s256, H5T_STR_NULLTERM));
  hid_t st = H5Tcreate(H5T_COMPOUND, sizeof(srow));
  OK(st);
  OK(H5Tinsert(st, "field", HOFFSET(srow, field), s256));
  OK(H5Tinsert(st, "count", HOFFSET(srow, count), H5T_NATIVE_UINT64));
  OK(H5Tinsert(st, "nan_count", HOFFSET(srow, nan_count), H5T_NATIVE_UINT64));
  OK(H5Tinsert(st, "min", HOFFSET(srow, min), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(st, "max", HOFFSET(srow, max), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(st, "mean", HOFFSET(srow, mean), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(st, "std", HOFFSET(srow, std), H5T_NATIVE_DOUBLE));
  hid_t sd = H5Dopen2(of, "/stats", H5P_DEFAULT);
  OK(sd);
  hid_t ssp = H5Dget_space(sd);
  OK(ssp);
  *n = 0;
  OK(H5Sget_simple_extent_dims(ssp, n, NULL));
  srow *rows = calloc(*n + 1, sizeof *rows);
  if (rows == NULL) {
    fprintf(stderr, ORACLE_NAME ": out of memory\n");
    exit(3);
  }
  if (*n)
    OK(H5Dread(sd, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows));
  H5Sclose(ssp);
  H5Dclose(sd);
  H5Tclose(st);
  H5Tclose(s256);
  return rows;
}

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

/* A row of sluice-h5stats' /stats table (docs/hdf5.md). */
typedef struct srow {
  char field[256];
  uint64_t count, nan_count;
  double min, max, mean, std;
} srow;

/* Reads the /stats table of the open file of: *n rows, calloc'd (one more, zeroed). */
static srow *read_stats(hid_t of, hsize_t *n) {
  hid_t s256 = H5Tcopy(H5T_C_S1);
  OK(s256);
  OK(H5Tset_size(s256, 256));
  OK(H5Tset_strpad(s256, H5T_STR_NULLTERM));
  hid_t st = H5Tcreate(H5T_COMPOUND, sizeof(srow));
  OK(st);
  OK(H5Tinsert(st, "field", HOFFSET(srow, field), s256));
  OK(H5Tinsert(st, "count", HOFFSET(srow, count), H5T_NATIVE_UINT64));
  OK(H5Tinsert(st, "nan_count", HOFFSET(srow, nan_count), H5T_NATIVE_UINT64));
  OK(H5Tinsert(st, "min", HOFFSET(srow, min), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(st, "max", HOFFSET(srow, max), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(st, "mean", HOFFSET(srow, mean), H5T_NATIVE_DOUBLE));
  OK(H5Tinsert(st, "std", HOFFSET(srow, std), H5T_NATIVE_DOUBLE));
  hid_t sd = H5Dopen2(of, "/stats", H5P_DEFAULT);
  OK(sd);
  hid_t ssp = H5Dget_space(sd);
  OK(ssp);
  *n = 0;
  OK(H5Sget_simple_extent_dims(ssp, n, NULL));
  srow *rows = calloc(*n + 1, sizeof *rows);
  if (rows == NULL) {
    fprintf(stderr, ORACLE_NAME ": out of memory\n");
    exit(3);
  }
  if (*n)
    OK(H5Dread(sd, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows));
  H5Sclose(ssp);
  H5Dclose(sd);
  H5Tclose(st);
  H5Tclose(s256);
  return rows;
}

#endif
