/* SPDX-License-Identifier: BSD-3-Clause */
/* faults_h5tool: HDF5 helpers of the fault-injection suite (serial HDF5 only).
 *
 *   faults_h5tool chunk FILE DSET IDX        print "OFFSET SIZE" of chunk IDX of DSET
 *   faults_h5tool corrupt-chunk FILE DSET IDX
 *                                            point chunk IDX's address in the chunk index
 *                                            past the end of the file (the 8-byte address
 *                                            must occur exactly once outside the chunk
 *                                            data); prints the old and new addresses
 *   faults_h5tool rows FILE DSET             print the number of rows of DSET
 * Exit 0 on success, 1 with a message otherwise. */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int chunk_info(const char *file, const char *dset, hsize_t idx, haddr_t *addr,
                      hsize_t *size) {
  hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0)
    return -1;
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  if (d < 0) {
    H5Fclose(f);
    return -1;
  }
  hid_t sp = H5Dget_space(d);
  hsize_t off[H5S_MAX_RANK];
  unsigned mask = 0;
  herr_t e = H5Dget_chunk_info(d, sp, idx, off, &mask, addr, size);
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);
  return e < 0 ? -1 : 0;
}

static int corrupt(const char *file, const char *dset, hsize_t idx) {
  haddr_t addr;
  hsize_t size;
  if (chunk_info(file, dset, idx, &addr, &size) != 0) {
    fprintf(stderr, "faults_h5tool: no chunk %llu in %s:%s\n", (unsigned long long)idx, file, dset);
    return 1;
  }
  FILE *fp = fopen(file, "r+b");
  if (!fp) {
    perror(file);
    return 1;
  }
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)n);
  if (!buf || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
    fprintf(stderr, "faults_h5tool: cannot read %s\n", file);
    return 1;
  }
  unsigned char pat[8];
  uint64_t a = (uint64_t)addr;
  for (int i = 0; i < 8; i++)
    pat[i] = (unsigned char)(a >> (8 * i)); /* HDF5 addresses are little-endian */
  long hit = -1;
  int hits = 0;
  for (long i = 0; i + 8 <= n; i++) {
    if (i >= (long)addr && i < (long)(addr + size))
      continue; /* inside the chunk's own data */
    if (memcmp(buf + i, pat, 8) == 0) {
      hit = i;
      hits++;
    }
  }
  if (hits != 1) {
    fprintf(stderr, "faults_h5tool: chunk address %" PRIu64 " found %d times\n", a, hits);
    return 1;
  }
  uint64_t bogus = (uint64_t)n + (1u << 20);
  for (int i = 0; i < 8; i++)
    buf[hit + i] = (unsigned char)(bogus >> (8 * i));
  fseek(fp, hit, SEEK_SET);
  if (fwrite(buf + hit, 1, 8, fp) != 8 || fclose(fp) != 0) {
    fprintf(stderr, "faults_h5tool: cannot write %s\n", file);
    return 1;
  }
  printf("%" PRIu64 " %" PRIu64 " at %ld\n", a, bogus, hit);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  if (argc == 5 && !strcmp(argv[1], "chunk")) {
    haddr_t addr;
    hsize_t size;
    if (chunk_info(argv[2], argv[3], strtoull(argv[4], NULL, 10), &addr, &size) != 0) {
      fprintf(stderr, "faults_h5tool: no chunk %s in %s:%s\n", argv[4], argv[2], argv[3]);
      return 1;
    }
    printf("%llu %llu\n", (unsigned long long)addr, (unsigned long long)size);
    return 0;
  }
  if (argc == 5 && !strcmp(argv[1], "corrupt-chunk"))
    return corrupt(argv[2], argv[3], strtoull(argv[4], NULL, 10));
  if (argc == 4 && !strcmp(argv[1], "rows")) {
    hid_t f = H5Fopen(argv[2], H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f < 0 ? -1 : H5Dopen2(f, argv[3], H5P_DEFAULT);
    if (d < 0) {
      fprintf(stderr, "faults_h5tool: cannot open %s:%s\n", argv[2], argv[3]);
      return 1;
    }
    hid_t sp = H5Dget_space(d);
    hsize_t dims[H5S_MAX_RANK];
    H5Sget_simple_extent_dims(sp, dims, NULL);
    printf("%llu\n", (unsigned long long)dims[0]);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return 0;
  }
  fprintf(stderr, "usage: faults_h5tool chunk|corrupt-chunk FILE DSET IDX | rows FILE DSET\n");
  return 1;
}
