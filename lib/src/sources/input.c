/* SPDX-License-Identifier: BSD-3-Clause */
/* Input files as they were when the job started. A file changed while it is read would give
 * rows that never existed together (zeros where it was truncated, a mix of two versions),
 * so each source records what rank 0 saw at prepare and compares it whenever a partition
 * opens a file and after its last read of it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sources/sources.h"

const char *sl__input_kind(unsigned mode) {
  return S_ISDIR(mode)    ? "directory"
         : S_ISFIFO(mode) ? "FIFO"
         : S_ISCHR(mode)  ? "character device"
         : S_ISBLK(mode)  ? "block device"
         : S_ISSOCK(mode) ? "socket"
         : S_ISLNK(mode)  ? "symbolic link"
                          : "special file";
}

int sl__input_open_error(const char *path, const char *what, int e) {
  /* a missing or unreadable input is the user's to fix (exit 2), not a failure */
  return sl__error_set(e == ENOENT || e == ENOTDIR ? SL_ERR_NOTFOUND
                       : e == EACCES || e == EPERM ? SL_ERR_USAGE
                                                   : SL_ERR_IO,
                       __FILE__, __LINE__, "cannot open input '%s'%s: %s", path, what ? what : "",
                       strerror(e));
}

int sl__input_not_regular(const char *path, unsigned mode) {
  /* a directory was always a format error (test_errors relies on it); a FIFO, device or
   * socket cannot be split into byte ranges at all, so naming one is bad usage */
  if (S_ISDIR(mode))
    SL__FAIL(SL_ERR_FORMAT, "input '%s': expected a regular file, found a directory", path);
  SL__FAIL(SL_ERR_USAGE, "input '%s': expected a regular file, found a %s", path,
           sl__input_kind(mode));
}

void sl__input_id_set(sl__input_id *id, const struct stat *sb) {
  id->size = (uint64_t)sb->st_size;
  id->mtime_s = (uint64_t)sb->st_mtim.tv_sec;
  id->mtime_ns = (uint64_t)sb->st_mtim.tv_nsec;
  id->ino = (uint64_t)sb->st_ino;
  id->dev = (uint64_t)sb->st_dev;
  id->have_dev = 1;
}

int sl__input_id_bcast(sl__input_id *ids, size_t n, int rank, MPI_Comm comm) {
  if (!n)
    return SL_OK;
  uint64_t *w = malloc(n * 4 * sizeof *w);
  SL__CHECK_ALLOC(w);
  for (size_t i = 0; i < n && rank == 0; i++) {
    w[4 * i] = ids[i].size;
    w[4 * i + 1] = ids[i].mtime_s;
    w[4 * i + 2] = ids[i].mtime_ns;
    w[4 * i + 3] = ids[i].ino;
  }
  int mrc = MPI_Bcast(w, (int)(4 * n), MPI_UINT64_T, 0, comm);
  for (size_t i = 0; i < n && rank != 0 && mrc == MPI_SUCCESS; i++) {
    ids[i].size = w[4 * i];
    ids[i].mtime_s = w[4 * i + 1];
    ids[i].mtime_ns = w[4 * i + 2];
    ids[i].ino = w[4 * i + 3];
    ids[i].have_dev = 0; /* device numbers of one file can differ between nodes */
  }
  free(w);
  if (mrc != MPI_SUCCESS)
    return sl__error_mpi(mrc, __FILE__, __LINE__, "MPI_Bcast of the input file identities");
  return SL_OK;
}

static void fmt_time(uint64_t s, uint64_t ns, char *buf, size_t cap) {
  time_t t = (time_t)s;
  struct tm tm;
  if (gmtime_r(&t, &tm) && strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm) > 0) {
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, ".%09lluZ", (unsigned long long)ns);
  } else {
    snprintf(buf, cap, "%llu.%09llu", (unsigned long long)s, (unsigned long long)ns);
  }
}

int sl__input_id_check(const char *path, sl__input_id *id, const struct stat *sb) {
  if (!S_ISREG(sb->st_mode))
    SL__FAIL(SL_ERR_IO,
             "input '%s' changed while the job read it: expected a regular file, found a %s", path,
             sl__input_kind(sb->st_mode));
  /* the inode number is the same on every node (NFS, Lustre, GPFS report the server's);
   * the device number need not be, so it is compared with this rank's first look */
  if ((uint64_t)sb->st_ino != id->ino || (id->have_dev && (uint64_t)sb->st_dev != id->dev))
    SL__FAIL(SL_ERR_IO,
             "input '%s' was replaced while the job read it: expected inode %llu, found inode "
             "%llu (device %llu)",
             path, (unsigned long long)id->ino, (unsigned long long)sb->st_ino,
             (unsigned long long)sb->st_dev);
  if ((uint64_t)sb->st_size != id->size)
    SL__FAIL(SL_ERR_IO, "input '%s' changed while the job read it: expected %llu bytes, found %llu",
             path, (unsigned long long)id->size, (unsigned long long)sb->st_size);
  if ((uint64_t)sb->st_mtim.tv_sec != id->mtime_s ||
      (uint64_t)sb->st_mtim.tv_nsec != id->mtime_ns) {
    char a[64], b[64];
    fmt_time(id->mtime_s, id->mtime_ns, a, sizeof a);
    fmt_time((uint64_t)sb->st_mtim.tv_sec, (uint64_t)sb->st_mtim.tv_nsec, b, sizeof b);
    SL__FAIL(SL_ERR_IO,
             "input '%s' changed while the job read it: expected modification time %s, found %s",
             path, a, b);
  }
  if (!id->have_dev) {
    id->dev = (uint64_t)sb->st_dev;
    id->have_dev = 1;
  }
  return SL_OK;
}

int sl__input_id_check_path(const char *path, sl__input_id *id) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    SL__FAIL(SL_ERR_IO, "input '%s' %s while the job read it: %s", path,
             errno == ENOENT ? "was removed" : "cannot be checked", strerror(errno));
  return sl__input_id_check(path, id, &sb);
}
