/* The destination of a file sink, checked once on rank 0 before any work: the same rules
 * and messages for every sink, so that a user's mistake in an output path (a missing or
 * unwritable directory, a path that is a directory, a file that exists, a file the job
 * reads) is reported as bad usage up front rather than as an I/O failure at the final
 * rename, after the work, or as a lost input. */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"

int sl__output_check(const sl_flow *flow, const char *path, int overwrite, char *tmp, size_t cap) {
  struct stat sb;
  char d[4096], b[4096];
  if (snprintf(d, sizeof d, "%s", path) >= (int)sizeof d)
    SL__FAIL(SL_ERR_USAGE, "output path too long (%zu bytes)", strlen(path));
  snprintf(b, sizeof b, "%s", path);
  const char *dir = dirname(d);
  if (stat(path, &sb) == 0) {
    if (S_ISDIR(sb.st_mode))
      SL__FAIL(SL_ERR_USAGE, "output '%s' is a directory (expected a file name)", path);
    if (!overwrite)
      SL__FAIL(SL_ERR_EXISTS, "output '%s' already exists (refusing to overwrite it)", path);
    /* replacing a file the flow reads would lose the input (and, for HDF5, every other
     * dataset in it) once the output is renamed over it */
    for (int i = 0; flow != NULL && i < flow->nstages; i++) {
      const sl__source *src = &flow->stages[i].source;
      if (src->vt && src->vt->reads_file &&
          src->vt->reads_file(src, (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino))
        SL__FAIL(SL_ERR_USAGE,
                 "output '%s' is also an input of this job (refusing to replace it, even when "
                 "overwriting: write to another file)",
                 path);
    }
  }
  if (stat(dir, &sb) != 0)
    SL__FAIL(SL_ERR_USAGE, "output directory '%s' does not exist", dir);
  if (!S_ISDIR(sb.st_mode))
    SL__FAIL(SL_ERR_USAGE, "output directory '%s' is not a directory", dir);
  if (access(dir, W_OK) != 0)
    SL__FAIL(SL_ERR_USAGE, "output directory '%s' is not writable: %s", dir, strerror(errno));
  if (snprintf(tmp, cap, "%s/.%s.sluice-tmp-%ld", dir, basename(b), (long)getpid()) >= (int)cap)
    SL__FAIL(SL_ERR_USAGE, "output path too long: '%s'", path);
  return SL_OK;
}
