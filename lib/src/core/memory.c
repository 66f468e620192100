/* SPDX-License-Identifier: BSD-3-Clause */
/* How much memory a rank may plan on, for budgets set to "auto". A batch job rarely owns
 * the whole node: Slurm (and containers) confine it to a control group whose limit is
 * below the physical memory, and exceeding it gets the job killed rather than swapped.
 * So the limit is the lowest of the physical memory, every memory limit on the path of
 * this process's cgroup (v2 memory.max, v1 memory.limit_in_bytes), and the job's memory
 * on this node as Slurm states it (SLURM_MEM_PER_NODE, or SLURM_MEM_PER_CPU times
 * SLURM_CPUS_ON_NODE: the limit Slurm enforces by polling where it uses no cgroup), then
 * shared among the ranks on the node. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

#define SL__MIB ((uint64_t)1 << 20)
#define SL__AUTO_SHARE 4                 /* held records: a quarter of the memory */
#define SL__AUTO_UNKNOWN (512 * SL__MIB) /* ... when no limit is known */
#define SL__AUTO_MIN (128 * SL__MIB)     /* ... at least */
#define SL__AUTO_STEP_MIN (16 * SL__MIB) /* per step that holds records, at least */

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

/* An environment variable holding a positive number, or 0. */
static uint64_t env_u64(const char *name) {
  const char *v = getenv(name);
  char *end = NULL;
  uint64_t x = v != NULL ? strtoull(v, &end, 10) : 0;
  return v != NULL && end != v ? x : 0;
}

/* The job's memory on this node according to Slurm, in bytes, or UINT64_MAX. */
static uint64_t slurm_limit(void) {
  uint64_t node = env_u64("SLURM_MEM_PER_NODE"), cpu = env_u64("SLURM_MEM_PER_CPU");
  uint64_t cpus = env_u64("SLURM_CPUS_ON_NODE");
  if (node > 0 && node < UINT64_MAX / SL__MIB)
    return node * SL__MIB; /* megabytes */
  if (cpu > 0 && cpus > 0 && cpu < UINT64_MAX / SL__MIB / cpus)
    return cpu * cpus * SL__MIB;
  return UINT64_MAX;
}

uint64_t sl__memory_limit_bytes(void) {
  long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  uint64_t lim = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : UINT64_MAX;
  uint64_t sl = slurm_limit();
  lim = sl < lim ? sl : lim;
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

uint64_t sl__held_memory_bytes(const sl_ctx *ctx, int shares) {
  if (ctx->opt.held_memory_bytes != 0)
    return ctx->opt.held_memory_bytes;
  uint64_t each = ctx->held_memory_auto / (uint64_t)(shares > 1 ? shares : 1);
  each &= ~(SL__MIB - 1);
  return each > SL__AUTO_STEP_MIN ? each : SL__AUTO_STEP_MIN;
}

void sl__memory_resolve(sl_ctx *ctx) {
  uint64_t lim = sl__memory_limit_bytes();
  uint64_t pool = SL__AUTO_UNKNOWN;
  if (lim != UINT64_MAX)
    pool = lim / (uint64_t)(ctx->node_size > 0 ? ctx->node_size : 1) / SL__AUTO_SHARE;
  pool &= ~(SL__MIB - 1); /* whole MiB: printed as such */
  ctx->held_memory_auto = pool > SL__AUTO_MIN ? pool : SL__AUTO_MIN;
}
