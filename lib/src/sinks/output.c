/* SPDX-License-Identifier: BSD-3-Clause */
/* Publishing an output file (sl_output.h): the destination checked before any work, a
 * temporary beside it that a later run can tell from a live one, space reserved before
 * collective writes, and a rename only after every rank agreed that its part is complete
 * and the data is on disk.
 *
 * The temporary is ".NAME.sluice-tmp-HOST-PID". Rank 0 holds an open-file-description lock
 * on one byte far past any data (offset 2^62) for as long as the run lives: the kernel
 * drops it when the process dies, however it dies, so a later run to the same output that
 * can take the lock knows the temporary is a dead run's and removes it. The byte is far
 * from the data because MPI-IO libraries lock the ranges they write on some file systems.
 * Where the file system has no locks, the name is the fallback: same host, PID gone. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "engine/engine.h"
#include "sluice/sl_output.h"

#define LOCK_OFFSET (1LL << 62)

struct sl_output {
  sl_ctx *ctx;
  MPI_Comm comm;
  int rank;
  char path[4096];
  char tmp[4200];
  int fd;            /* rank 0: the temporary, open for the lock and the final sync */
  uint64_t reserved; /* rank 0: bytes reserved with fallocate */
  int no_reserve;    /* the file system cannot reserve: write and check instead */
  int done;          /* committed or removed */
};

static int take_lock(int fd, short type) {
  struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = LOCK_OFFSET, .l_len = 1};
  return fcntl(fd, F_OFD_SETLK, &fl);
}

/* Is the temporary `name` (in dir) left by a run that has ended? 1 yes, 0 no (alive),
 * -1 cannot tell. */
static int is_dead_run(const char *full, const char *name) {
  int fd = open(full, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -1;
  int r = take_lock(fd, F_WRLCK);
  int e = errno;
  close(fd);
  if (r == 0)
    return 1;
  if (e == EAGAIN || e == EACCES)
    return 0;
  /* no locks here: the name says where the run lived */
  const char *tag = strstr(name, ".sluice-tmp-");
  const char *dash = tag ? strrchr(tag, '-') : NULL;
  if (!tag || !dash || dash == tag + 11)
    return -1;
  char host[256] = "", mine[256] = "";
  size_t hl = (size_t)(dash - (tag + 12));
  if (hl >= sizeof host)
    return -1;
  memcpy(host, tag + 12, hl);
  gethostname(mine, sizeof mine - 1);
  long pid = strtol(dash + 1, NULL, 10);
  if (strcmp(host, mine) != 0 || pid <= 0)
    return -1;
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH ? 1 : 0;
}

/* Remove the temporaries of `path` that dead runs left (rank 0). A live one means another
 * run is writing the same output now: two runs would race for the final name. */
static int clean_dead_runs(const char *dir, const char *base) {
  DIR *d = opendir(dir);
  if (!d)
    return SL_OK; /* the checks before this one found the directory; nothing to clean */
  char prefix[4200];
  snprintf(prefix, sizeof prefix, ".%s.sluice-tmp-", base);
  size_t pl = strlen(prefix);
  int rc = SL_OK;
  struct dirent *e;
  while (rc == SL_OK && (e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, pl) != 0 || strchr(e->d_name + pl, '.'))
      continue;
    char full[8400];
    snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
    int dead = is_dead_run(full, e->d_name);
    if (dead == 1) {
      if (unlink(full) == 0)
        fprintf(stderr,
                "sluice: removed '%s', left by an earlier run of this output that was "
                "killed\n",
                full);
    } else if (dead == 0) {
      rc = sl__error_set(SL_ERR_USAGE, __FILE__, __LINE__,
                         "output '%s/%s' is being written by another run now (its temporary "
                         "'%s' is held by a live process): wait for it or write elsewhere",
                         dir, base, full);
    }
  }
  closedir(d);
  return rc;
}

static int is_input(const sl_flow *flow, const char *const *inputs, int ninputs,
                    const struct stat *sb) {
  for (int i = 0; flow != NULL && i < flow->nstages; i++) {
    const sl__source *src = &flow->stages[i].source;
    if (src->vt && src->vt->reads_file &&
        src->vt->reads_file(src, (unsigned long long)sb->st_dev, (unsigned long long)sb->st_ino))
      return 1;
  }
  for (int i = 0; i < ninputs; i++) {
    struct stat ib;
    if (inputs[i] && stat(inputs[i], &ib) == 0 && ib.st_dev == sb->st_dev &&
        ib.st_ino == sb->st_ino)
      return 1;
  }
  return 0;
}

/* Rank 0: the destination's rules, the dead runs' temporaries, our temporary. */
static int check_and_create(sl_output *o, const sl_flow *flow, int overwrite,
                            const char *const *inputs, int ninputs) {
  const char *path = o->path;
  struct stat sb;
  char d[4096], b[4096];
  snprintf(d, sizeof d, "%s", path);
  snprintf(b, sizeof b, "%s", path);
  const char *dir = dirname(d), *base = basename(b);
  if (!base[0] || !strcmp(base, ".") || !strcmp(base, "..") || path[strlen(path) - 1] == '/')
    SL__FAIL(SL_ERR_USAGE, "output '%s' is a directory (expected a file name)", path);
  if (stat(path, &sb) == 0) {
    if (S_ISDIR(sb.st_mode))
      SL__FAIL(SL_ERR_USAGE, "output '%s' is a directory (expected a file name)", path);
    /* replacing a file the job reads would lose the input (and, for HDF5, every other
     * dataset in it) once the output is renamed over it */
    if (is_input(flow, inputs, ninputs, &sb))
      SL__FAIL(SL_ERR_USAGE,
               "output '%s' is also an input of this job (refusing to replace it, even when "
               "overwriting: write to another file)",
               path);
    if (!overwrite)
      SL__FAIL(SL_ERR_EXISTS, "output '%s' already exists (refusing to overwrite it)", path);
    if (!S_ISREG(sb.st_mode))
      SL__FAIL(SL_ERR_USAGE,
               "output '%s' exists and is not a regular file (refusing to replace it)", path);
  }
  if (stat(dir, &sb) != 0)
    SL__FAIL(SL_ERR_USAGE, "output directory '%s' does not exist", dir);
  if (!S_ISDIR(sb.st_mode))
    SL__FAIL(SL_ERR_USAGE, "output directory '%s' is not a directory", dir);
  if (access(dir, W_OK) != 0)
    SL__FAIL(SL_ERR_USAGE, "output directory '%s' is not writable: %s", dir, strerror(errno));
  SL__CHECK(clean_dead_runs(dir, base));
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  for (char *h = host; *h; h++) /* the name is parsed back at the last '-' and '.' */
    if (*h == '.' || *h == '/')
      *h = '_';
  if (snprintf(o->tmp, sizeof o->tmp, "%s/.%s.sluice-tmp-%s-%ld", dir, base, host,
               (long)getpid()) >= (int)sizeof o->tmp)
    SL__FAIL(SL_ERR_USAGE, "output path too long: '%s'", path);
  o->fd = open(o->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (o->fd < 0)
    SL__FAIL(SL_ERR_IO, "cannot create output '%s' (as '%s'): %s", path, o->tmp, strerror(errno));
  if (take_lock(o->fd, F_RDLCK) != 0 && errno != ENOLCK && errno != EINVAL && errno != ENOSYS &&
      errno != EOPNOTSUPP) {
    int e = errno;
    close(o->fd);
    o->fd = -1;
    unlink(o->tmp);
    SL__FAIL(SL_ERR_IO, "cannot lock the temporary file '%s': %s", o->tmp, strerror(e));
  }
  return SL_OK;
}

int sl__output_open(sl_ctx *ctx, const sl_flow *flow, const char *path, int overwrite,
                    const char *const *inputs, int ninputs, sl_output **out) {
  MPI_Comm comm = sl_comm(ctx);
  int rank = sl_rank(ctx);
  /* allocate first, then join the collectives whatever happened: a rank that returned
   * here would leave the others in the broadcast */
  sl_output *o = calloc(1, sizeof *o);
  int rc = o ? SL_OK : sl__error_nomem(__FILE__, __LINE__, "internal state", 0, NULL);
  sl_output tmp_o = {.fd = -1};
  sl_output *w = o ? o : &tmp_o;
  w->ctx = ctx;
  w->comm = comm;
  w->rank = rank;
  w->fd = -1;
  if (rc == SL_OK &&
      (!path || snprintf(w->path, sizeof w->path, "%s", path) >= (int)sizeof w->path))
    rc = sl__error_set(SL_ERR_USAGE, __FILE__, __LINE__, "output path %s",
                       path ? "too long" : "missing");
  int r0 = SL_OK;
  if (rank == 0)
    r0 = rc == SL_OK ? check_and_create(w, flow, overwrite, inputs, ninputs) : rc;
  SL__CHECK_MPI(MPI_Bcast(&r0, 1, MPI_INT, 0, comm));
  if (r0 == SL_OK)
    SL__CHECK_MPI(MPI_Bcast(w->tmp, (int)sizeof w->tmp, MPI_CHAR, 0, comm));
  /* a rank that failed alone (its allocation): every rank learns it, so that none goes on
   * into the caller's next collective while another has returned */
  int bad = rc != SL_OK, any = 0;
  SL__CHECK_MPI(MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm));
  if (r0 != SL_OK || any) {
    if (o)
      sl_output_destroy(&o);
    /* rank 0's code everywhere: every rank exits with the status of a bad destination */
    return r0 != SL_OK ? r0 : rc != SL_OK ? rc : SL_ERR_REMOTE;
  }
  *out = o;
  return SL_OK;
}

const char *sl__output_path(const sl_output *o) {
  return o->path;
}

int sl__output_reserve(sl_output *o, uint64_t bytes) {
  int rc = SL_OK;
  if (o->rank == 0 && !o->no_reserve && bytes > o->reserved && o->fd >= 0) {
    int r;
    do
      r = fallocate(o->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)bytes);
    while (r != 0 && errno == EINTR);
    if (r == 0) {
      o->reserved = bytes;
    } else if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL) {
      o->no_reserve = 1; /* every write is still checked */
      sl_log(o->ctx, SL_LOG_DEBUG, "the file system of '%s' cannot reserve space: %s", o->tmp,
             strerror(errno));
    } else {
      int e = errno;
      char need[32], avail[32] = "?";
      struct statvfs vs;
      sl__fmt_bytes(bytes, need, sizeof need);
      if (fstatvfs(o->fd, &vs) == 0)
        sl__fmt_bytes((uint64_t)vs.f_bavail * vs.f_frsize, avail, sizeof avail);
      rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__,
                         "%s while writing '%s': it needs %s, the file system has %s free",
                         strerror(e), o->path, need, avail);
    }
  }
  int agreed = rc;
  SL__CHECK_MPI(MPI_Bcast(&agreed, 1, MPI_INT, 0, o->comm));
  return rc != SL_OK ? rc : agreed != SL_OK ? SL_ERR_REMOTE : SL_OK;
}

/* This rank's writes on its node reach the disk: fsync works on any descriptor of the file
 * and syncs what this node's page cache holds of it (on a parallel file system, each node
 * holds its own ranks' writes). */
static int sync_part(const sl_output *o) {
  int fd = open(o->tmp, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    SL__FAIL(SL_ERR_IO, "cannot open '%s' to sync output '%s': %s", o->tmp, o->path,
             strerror(errno));
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    SL__FAIL(SL_ERR_IO, "%s while syncing output '%s' to disk", strerror(e), o->path);
  }
  if (close(fd) != 0)
    SL__FAIL(SL_ERR_IO, "%s while closing output '%s'", strerror(errno), o->path);
  return SL_OK;
}

static int publish(sl_output *o) {
  if (o->reserved) { /* give back what was reserved past the end */
    struct stat sb;
    if (fstat(o->fd, &sb) == 0)
      (void)!ftruncate(o->fd, sb.st_size);
  }
  if (fsync(o->fd) != 0)
    SL__FAIL(SL_ERR_IO, "%s while syncing output '%s' to disk", strerror(errno), o->path);
  if (rename(o->tmp, o->path) != 0)
    SL__FAIL(SL_ERR_IO, "cannot rename '%s' to '%s': %s", o->tmp, o->path, strerror(errno));
  o->done = 1;
  return sl__fsync_dir(o->path);
}

int sl__output_commit(sl_output *o, int local_rc) {
  int rc = local_rc;
  if (rc == SL_OK)
    rc = sync_part(o);
  int failed = rc != SL_OK, any = 0;
  SL__CHECK_MPI(MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, o->comm));
  int r0 = SL_OK;
  if (o->rank == 0) {
    if (!any)
      r0 = publish(o);
    if (!o->done) {
      unlink(o->tmp);
      o->done = 1;
    }
    if (o->fd >= 0)
      close(o->fd);
    o->fd = -1;
  }
  o->done = 1;
  SL__CHECK_MPI(MPI_Bcast(&r0, 1, MPI_INT, 0, o->comm));
  if (rc != SL_OK)
    return rc;
  if (any)
    return SL_ERR_REMOTE;
  return o->rank == 0 ? r0 : r0 != SL_OK ? SL_ERR_REMOTE : SL_OK;
}

void sl_output_destroy(sl_output **out) {
  if (!out || !*out)
    return;
  sl_output *o = *out;
  if (o->rank == 0 && !o->done && o->tmp[0])
    unlink(o->tmp);
  if (o->fd >= 0)
    close(o->fd);
  free(o);
  *out = NULL;
}

/* ---- the public face, for programs that write their own file ---- */

/* The lowest failing rank prints the one line, as sl_run does. */
static void report_first(sl_ctx *ctx, int rc) {
  int mine = rc != SL_OK && rc != SL_ERR_REMOTE ? sl_rank(ctx) : INT_MAX, first = INT_MAX;
  if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, sl_comm(ctx)) != MPI_SUCCESS)
    return;
  if (first == sl_rank(ctx))
    sl__report_error(ctx, rc);
}

int sl_output_create(sl_ctx *ctx, const char *path, int overwrite, const char *const *inputs,
                     int ninputs, sl_output **out) {
  if (!ctx || !out)
    SL__FAIL(SL_ERR_INVAL, "sl_output_create: NULL %s", ctx ? "out" : "ctx");
  sl__error_clear();
  sl_output *o = NULL;
  int rc = sl__output_open(ctx, NULL, path, overwrite, inputs, ninputs, &o);
  /* a rank that failed alone (its allocation) must not leave the others writing */
  int bad = rc != SL_OK, any = 0;
  SL__CHECK_MPI(MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, sl_comm(ctx)));
  if (any) {
    sl_output_destroy(&o);
    rc = rc != SL_OK ? rc : SL_ERR_REMOTE;
    report_first(ctx, rc);
    return rc;
  }
  *out = o;
  return SL_OK;
}

const char *sl_output_tmp_path(const sl_output *out) {
  return out ? out->tmp : NULL;
}

int sl_output_reserve(sl_output *out, uint64_t bytes) {
  if (!out)
    SL__FAIL(SL_ERR_INVAL, "sl_output_reserve: NULL output");
  int rc = sl__output_reserve(out, bytes);
  if (rc != SL_OK)
    report_first(out->ctx, rc);
  return rc;
}

int sl_output_commit(sl_output *out, int local_rc) {
  if (!out)
    SL__FAIL(SL_ERR_INVAL, "sl_output_commit: NULL output");
  int rc = sl__output_commit(out, local_rc);
  /* every rank learns of a failure in sl__output_commit's agreement, so all join here; the
   * caller reported its own failure (local_rc) already */
  if (rc != SL_OK)
    report_first(out->ctx, local_rc == SL_OK ? rc : SL_ERR_REMOTE);
  return rc;
}
