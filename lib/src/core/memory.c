/* How much memory a rank may plan on, for budgets set to "auto". A batch job rarely owns
 * the whole node: Slurm (and containers) confine it to a control group whose limit is
 * below the physical memory, and exceeding it gets the job killed rather than swapped.
 * So the limit is the lowest of the physical memory and every memory limit on the path
 * of this process's cgroup (v2 memory.max, v1 memory.limit_in_bytes), then shared among
 * the ranks on the node. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

#define SL__AUTO_MIN ((uint64_t)64 << 20)
#define SL__AUTO_SHARE 8 /* a sort budget: an eighth of the rank's memory */

/* The number in file (a limit), or UINT64_MAX if absent, "max" or unreadable. */
static uint64_t read_limit(const char *file) {
  FILE *f = fopen(file, "r");
  if (f == NULL)
    return UINT64_MAX;
  char buf[64] = "";
  char *ok = fgets(buf, sizeof buf, f);
  fclose(f);
  char *end = NULL;
  uint64_t v = ok != NULL ? strtoull(buf, &end, 10) : 0;
  return ok != NULL && end != buf && v > 0 ? v : UINT64_MAX;
}

/* The lowest limit named leaf in dir/path and each of its parents up to dir. */
static uint64_t path_limit(const char *dir, const char *path, const char *leaf) {
  char p[4096];
  uint64_t lim = UINT64_MAX;
  int n = snprintf(p, sizeof p, "%s%s", dir, path);
  if (n < 0 || (size_t)n >= sizeof p)
    return lim;
  size_t root = strlen(dir);
  for (;;) {
    size_t len = strlen(p);
    while (len > root && p[len - 1] == '/')
      p[--len] = '\0';
    char f[4200];
    snprintf(f, sizeof f, "%s/%s", p, leaf);
    uint64_t v = read_limit(f);
    lim = v < lim ? v : lim;
    char *slash = strrchr(p, '/');
    if (len <= root || slash == NULL || (size_t)(slash - p) < root)
      return lim;
    *slash = '\0';
  }
}

uint64_t sl__memory_limit_bytes(void) {
  long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  uint64_t lim = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : UINT64_MAX;
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (f == NULL)
    return lim;
  char line[4096];
  while (fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    /* "ID:CONTROLLERS:PATH": v2 is "0::PATH", v1 names "memory" among its controllers */
    char *c1 = strchr(line, ':'), *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
    if (c2 == NULL)
      continue;
    *c2 = '\0';
    const char *ctrl = c1 + 1, *path = c2 + 1;
    uint64_t v = UINT64_MAX;
    if (*ctrl == '\0') {
      v = path_limit("/sys/fs/cgroup", path, "memory.max");
    } else {
      char list[256];
      snprintf(list, sizeof list, ",%s,", ctrl);
      if (strstr(list, ",memory,") != NULL)
        v = path_limit("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes");
    }
    lim = v < lim ? v : lim;
  }
  fclose(f);
  return lim;
}

uint64_t sl__sort_memory_bytes(const sl_ctx *ctx) {
  if (ctx->opt.sort_memory_bytes != 0)
    return ctx->opt.sort_memory_bytes;
  return ctx->sort_memory_auto;
}

void sl__memory_resolve(sl_ctx *ctx) {
  uint64_t lim = sl__memory_limit_bytes();
  uint64_t share = lim / (uint64_t)(ctx->node_size > 0 ? ctx->node_size : 1) / SL__AUTO_SHARE;
  share &= ~(((uint64_t)1 << 20) - 1); /* whole MiB: printed as such */
  ctx->sort_memory_auto = share > SL__AUTO_MIN ? share : SL__AUTO_MIN;
}
