/* SPDX-License-Identifier: BSD-3-Clause */
/* The run record (--sl-stats=FILE): one JSON object per sl_run, appended as one line
 * (JSON Lines), so a program that runs several flows (sluice-h5stats' two passes) keeps
 * them all and a job's file can collect many jobs. Made with the escaping writer of
 * core/json.c: a quote or a newline in a stage name or a command line stays a string.
 *
 * The line is written with one write() on a file opened with O_APPEND: lines of runs
 * appending to the same file at once do not interleave (on a local file system; on NFS,
 * O_APPEND is not atomic across clients, so give each job its own file with %j). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"

static int cmp_host(const void *a, const void *b) {
  return strncmp(a, b, SL__HOST_LEN);
}

/* "hosts": the distinct host names, sorted. */
static int hosts(sl__bytes *b, const sl__gathered *g) {
  char *h = malloc((size_t)g->size * SL__HOST_LEN);
  if (!h)
    return sl__error_nomem(__FILE__, __LINE__, "the run record's host list",
                           (uint64_t)g->size * SL__HOST_LEN, NULL);
  memcpy(h, g->hosts, (size_t)g->size * SL__HOST_LEN);
  qsort(h, (size_t)g->size, SL__HOST_LEN, cmp_host);
  int rc = sl__json_key(b, 0, "hosts");
  if (rc == SL_OK)
    rc = sl__json_raw(b, "[");
  for (int r = 0, n = 0; r < g->size && rc == SL_OK; r++) {
    const char *x = h + (size_t)r * SL__HOST_LEN;
    if (r > 0 && !cmp_host(x, x - SL__HOST_LEN))
      continue;
    if (n++)
      rc = sl__json_raw(b, ",");
    if (rc == SL_OK)
      rc = sl__json_str(b, x);
  }
  free(h);
  return rc == SL_OK ? sl__json_raw(b, "]") : rc;
}

/* {"min":..,"avg":..,"max":..} of value idx over the ranks */
static int spread(sl__bytes *b, int first, const char *key, const sl__gathered *g, int idx) {
  double mn, avg, mx;
  sl__st_over_ranks(g, idx, &mn, &avg, &mx);
  SL__CHECK(sl__json_key(b, first, key));
  SL__CHECK(sl__json_raw(b, "{"));
  SL__CHECK(sl__json_knum(b, 1, "min", mn));
  SL__CHECK(sl__json_knum(b, 0, "avg", avg));
  SL__CHECK(sl__json_knum(b, 0, "max", mx));
  SL__CHECK(sl__json_knum(b, 0, "total", avg * g->size));
  return sl__json_raw(b, "}");
}

static int record(sl__run *run, const sl__gathered *g, sl__bytes *b) {
  const sl_ctx *ctx = run->ctx;
  char start[40], end[40];
  sl__utc_string(run->wall0, start, sizeof start);
  sl__utc_string(run->wall0 + (run->t_end - run->t0), end, sizeof end);
  SL__CHECK(sl__json_raw(b, "{"));
  SL__CHECK(sl__json_kstr(b, 1, "sluice_version", sl_version()));
  SL__CHECK(sl__json_knum(b, 0, "run", ctx->runs));
  SL__CHECK(sl__json_kstr(b, 0, "label", run->flow->label));
  SL__CHECK(sl__json_key(b, 0, "job_id"));
  SL__CHECK(ctx->slurm_job_id[0] ? sl__json_str(b, ctx->slurm_job_id) : sl__json_raw(b, "null"));
  SL__CHECK(sl__json_kstr(b, 0, "command_line", ctx->command_line));
  SL__CHECK(sl__json_kstr(b, 0, "start_utc", start));
  SL__CHECK(sl__json_kstr(b, 0, "end_utc", end));
  SL__CHECK(sl__json_knum(b, 0, "wall_seconds", run->t_end - run->t0));
  SL__CHECK(sl__json_kstr(b, 0, "status", run->status == SL_OK ? "ok" : sl_strerror(run->status)));
  SL__CHECK(sl__json_knum(b, 0, "ranks", g->size));
  SL__CHECK(hosts(b, g));
  /* run-wide figures: memory high-water marks, bytes read and written, over the ranks */
  SL__CHECK(sl__json_key(b, 0, "over_ranks"));
  SL__CHECK(sl__json_raw(b, "{"));
  for (int k = 0; k < SL__ST_NRANK; k++)
    if (k != SL__ST_CORE)
      SL__CHECK(spread(b, k == 0, sl__st_rank_names[k], g, k));
  SL__CHECK(sl__json_raw(b, "}"));
  SL__CHECK(sl__json_key(b, 0, "stages"));
  SL__CHECK(sl__json_raw(b, "["));
  for (int s = 0; s < g->nstages; s++) {
    const sl__stage *st = &run->flow->stages[s];
    SL__CHECK(sl__json_raw(b, s ? ",{" : "{"));
    SL__CHECK(sl__json_knum(b, 1, "stage", s));
    SL__CHECK(sl__json_kstr(b, 0, "name", st->name));
    SL__CHECK(sl__json_knum(b, 0, "partitions", st->partitions));
    SL__CHECK(sl__json_key(b, 0, "over_ranks"));
    SL__CHECK(sl__json_raw(b, "{"));
    for (int k = 0; k < SL__ST_NSTAGE; k++)
      SL__CHECK(spread(b, k == 0, sl__st_stage_names[k], g, SL__ST_NRANK + s * SL__ST_NSTAGE + k));
    SL__CHECK(sl__json_raw(b, "}}"));
  }
  SL__CHECK(sl__json_raw(b, "]"));
  /* every rank's own figures */
  SL__CHECK(sl__json_key(b, 0, "per_rank"));
  SL__CHECK(sl__json_raw(b, "["));
  for (int r = 0; r < g->size; r++) {
    const double *v = g->all + (size_t)r * (size_t)g->per;
    SL__CHECK(sl__json_raw(b, r ? ",{" : "{"));
    SL__CHECK(sl__json_knum(b, 1, "rank", r));
    SL__CHECK(sl__json_kstr(b, 0, "host", g->hosts + (size_t)r * SL__HOST_LEN));
    for (int k = 0; k < SL__ST_NRANK; k++)
      SL__CHECK(sl__json_knum(b, 0, sl__st_rank_names[k], v[k]));
    SL__CHECK(sl__json_key(b, 0, "stages"));
    SL__CHECK(sl__json_raw(b, "["));
    for (int s = 0; s < g->nstages; s++) {
      const double *sv = v + SL__ST_NRANK + s * SL__ST_NSTAGE;
      SL__CHECK(sl__json_raw(b, s ? ",{" : "{"));
      SL__CHECK(sl__json_knum(b, 1, "stage", s));
      for (int k = 0; k < SL__ST_NSTAGE; k++)
        SL__CHECK(sl__json_knum(b, 0, sl__st_stage_names[k], sv[k]));
      SL__CHECK(sl__json_raw(b, "}"));
    }
    SL__CHECK(sl__json_raw(b, "]}"));
  }
  return sl__json_raw(b, "]}\n");
}

int sl__record_write(sl__run *run, const sl__gathered *g, const char *path) {
  sl__bytes b = {0};
  int rc = record(run, g, &b);
  if (rc != SL_OK) {
    sl__bytes_free(&b);
    return rc;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot open the run record '%s': %s", path,
                       strerror(errno));
  } else {
    rc = sl__write_all(fd, b.p, b.len, "the run record");
    if (close(fd) != 0 && rc == SL_OK)
      rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot write the run record '%s': %s",
                         path, strerror(errno));
  }
  sl__bytes_free(&b);
  return rc;
}
