/* SPDX-License-Identifier: BSD-3-Clause */
/* File utilities every module shares: complete writes and reads, spill files that cannot
 * be left behind, directory sync, byte counts for messages, and the out-of-memory line.
 *
 * One copy of each, so that every file sluice writes follows one policy: a short write is
 * an error that says how much got out, a spill file has no name once it is open. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

void sl__fmt_bytes(uint64_t n, char *buf, size_t cap) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = (double)n;
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    u++;
  }
  if (u == 0)
    snprintf(buf, cap, "%llu B", (unsigned long long)n);
  else
    snprintf(buf, cap, "%.1f %s", v, unit[u]);
}

int sl__write_all(int fd, const void *p, size_t n, const char *what) {
  const char *c = p;
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, c + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      char a[32], b[32];
      sl__fmt_bytes(done, a, sizeof a);
      sl__fmt_bytes(n, b, sizeof b);
      SL__FAIL(SL_ERR_IO, "%s while writing %s: %s of %s written",
               w < 0 ? strerror(errno) : "write made no progress", what, a, b);
    }
    done += (size_t)w;
  }
  return SL_OK;
}

int sl__pread_all(int fd, void *p, size_t n, uint64_t off, const char *what) {
  char *c = p;
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, c + done, n - done, (off_t)(off + done));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      SL__FAIL(SL_ERR_IO, "cannot read back %s at byte %llu: %s", what,
               (unsigned long long)(off + done),
               r < 0 ? strerror(errno) : "the file is shorter than what was written to it");
    done += (size_t)r;
  }
  return SL_OK;
}

int sl__spill_create(const sl_ctx *ctx, const char *near, const char *what, int *fd) {
  char dir[4096];
  if (ctx && ctx->opt.tmpdir[0]) {
    snprintf(dir, sizeof dir, "%s", ctx->opt.tmpdir);
  } else if (near) {
    char b[4096];
    snprintf(b, sizeof b, "%s", near);
    snprintf(dir, sizeof dir, "%s", dirname(b));
  } else {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s", t && t[0] ? t : "/tmp");
  }
  /* O_TMPFILE: the file never has a name, so no crash can leave it behind. Where the file
   * system lacks it, a named file is unlinked at once: only a kill between the two calls
   * could leave it, and its name says what it is. */
  int f = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (f < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    char path[4200];
    snprintf(path, sizeof path, "%s/.sluice-spill-XXXXXX", dir);
    f = mkostemp(path, O_CLOEXEC);
    if (f >= 0)
      unlink(path);
  }
  if (f < 0) {
    int e = errno;
    if (e == EMFILE || e == ENFILE)
      SL__FAIL(SL_ERR_IO,
               "cannot create a spill file for %s in '%s': %s (the per-process open file limit: "
               "raise it with 'ulimit -n')",
               what, dir, strerror(e));
    SL__FAIL(SL_ERR_IO, "cannot create a spill file for %s in '%s': %s (set --sl-tmpdir)", what,
             dir, strerror(e));
  }
  *fd = f;
  return SL_OK;
}

int sl__fsync_dir(const char *path) {
  char b[4096];
  snprintf(b, sizeof b, "%s", path);
  int fd = open(dirname(b), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    SL__FAIL(SL_ERR_IO, "cannot open the directory of '%s' to sync it: %s", path, strerror(errno));
  /* Some file systems cannot sync a directory (EINVAL): the rename is as durable as it gets. */
  if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
    int e = errno;
    close(fd);
    SL__FAIL(SL_ERR_IO, "cannot sync the directory of '%s': %s", path, strerror(e));
  }
  close(fd);
  return SL_OK;
}

int sl__error_nomem(const char *file, int line, const char *what, uint64_t bytes,
                    const char *option) {
  char b[32];
  sl__fmt_bytes(bytes, b, sizeof b);
  if (option)
    return sl__error_set(SL_ERR_NOMEM, file, line,
                         "out of memory allocating %s (%s, set by %s): lower %s or give each "
                         "rank more memory",
                         what, b, option, option);
  if (bytes == 0)
    return sl__error_set(SL_ERR_NOMEM, file, line,
                         "out of memory allocating %s: the rank's memory limit is reached", what);
  return sl__error_set(SL_ERR_NOMEM, file, line,
                       "out of memory allocating %s (%s): the rank's memory limit is reached", what,
                       b);
}
