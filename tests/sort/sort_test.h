/* SPDX-License-Identifier: BSD-3-Clause */
/* What the sort tests share beside the MPI harness: allocation that fails the test, the
 * big-endian bytes the tests' keys are made of, and the count of open spill files.
 * Include after ../mpi/mpi_test.h. */
#ifndef SLUICE_TESTS_SORT_TEST_H
#define SLUICE_TESTS_SORT_TEST_H

#include <dirent.h>
#include <limits.h>

static char g_tmpdir[256]; /* this rank's --sl-tmpdir (spill files) */

static inline void *xcalloc(size_t n, size_t s) {
  void *p = calloc(n ? n : 1, s ? s : 1);
  if (!p)
    mt_oom();
  return p;
}

static inline void be64(unsigned char *p, uint64_t v) {
  for (int j = 7; j >= 0; j--, v >>= 8)
    p[j] = (unsigned char)(v & 0xff);
}

/* Spill files have no name (O_TMPFILE, or unlinked at once) but stay open while they are
 * merged: this process's open files in g_tmpdir that are "(deleted)". -1 where /proc is
 * missing. */
static inline int count_spill_files(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  char prefix[300];
  snprintf(prefix, sizeof prefix, "%s/", g_tmpdir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char path[300], target[PATH_MAX];
    snprintf(path, sizeof path, "/proc/self/fd/%.255s", e->d_name);
    ssize_t l = readlink(path, target, sizeof target - 1);
    if (l <= 0)
      continue;
    target[l] = 0;
    size_t tl = (size_t)l, dl = strlen(" (deleted)");
    if (!strncmp(target, prefix, strlen(prefix)) && tl > dl &&
        !strcmp(target + tl - dl, " (deleted)"))
      n++;
  }
  closedir(d);
  return n;
}

#endif
