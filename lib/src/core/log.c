/* SPDX-License-Identifier: BSD-3-Clause */
/* Rank-prefixed log lines on stderr, and the clocks (monotonic, and UTC for records). */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

static const char *level_name(sl_log_level level) {
  switch (level) {
  case SL_LOG_ERROR:
    return "error";
  case SL_LOG_WARN:
    return "warn";
  case SL_LOG_INFO:
    return "info";
  case SL_LOG_DEBUG:
    return "debug";
  }
  return "log";
}

void sl__vlog(const sl_ctx *ctx, sl_log_level level, const char *fmt, va_list ap) {
  /* Before a context exists (or for a NULL one) the default level applies. */
  int threshold = ctx != NULL ? ctx->opt.log_level : SL_LOG_WARN;
  if ((int)level > threshold || fmt == NULL)
    return;
  /* The whole line is formatted first and written with one call, so that ranks sharing a
   * terminal or a Slurm output file do not interleave within a line. */
  char line[2048];
  int n;
  if (ctx == NULL) {
    n = snprintf(line, sizeof line, "sluice %s: ", level_name(level));
  } else if (ctx->slurm_job_id[0] != '\0') {
    n = snprintf(line, sizeof line, "sluice[job %s rank %d] %s: ", ctx->slurm_job_id, ctx->rank,
                 level_name(level));
  } else {
    n = snprintf(line, sizeof line, "sluice[rank %d] %s: ", ctx->rank, level_name(level));
  }
  if (n < 0)
    return;
  size_t used = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  int m = vsnprintf(line + used, sizeof line - used, fmt, ap);
  if (m < 0)
    return;
  used += (size_t)m < sizeof line - used ? (size_t)m : sizeof line - used - 1;
  /* Room for the newline: a truncated message loses its last byte instead. */
  if (used > 0 && line[used - 1] == '\n')
    used--;
  if (used > sizeof line - 2)
    used = sizeof line - 2;
  line[used++] = '\n';
  line[used] = '\0';
  fputs(line, stderr);
}

void sl_log(const sl_ctx *ctx, sl_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sl__vlog(ctx, level, fmt, ap);
  va_end(ap);
}

double sl__now(void) {
  struct timespec ts;
  /* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer; 0 keeps callers' sums sane
   * on a platform where it would. */
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    return 0.0;
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double sl__wall_now(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
    return 0.0;
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void sl__utc_string(double wall, char *buf, size_t cap) {
  time_t s = (time_t)wall;
  struct tm tm;
  int ms = (int)((wall - (double)s) * 1000.0);
  if (ms < 0 || ms > 999)
    ms = 0;
  if (cap == 0)
    return;
  if (gmtime_r(&s, &tm) == NULL) {
    buf[0] = '\0';
    return;
  }
  snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

void sl__printable(const char *in, char *out, size_t cap) {
  size_t n = 0;
  if (cap == 0)
    return;
  for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
    char e[8];
    size_t k;
    if (*p == '\n')
      k = (size_t)snprintf(e, sizeof e, "\\n");
    else if (*p == '\t')
      k = (size_t)snprintf(e, sizeof e, "\\t");
    else if (*p < 0x20 || *p == 0x7F)
      k = (size_t)snprintf(e, sizeof e, "\\x%02x", *p);
    else
      e[0] = (char)*p, k = 1;
    if (n + k >= cap)
      break;
    memcpy(out + n, e, k);
    n += k;
  }
  out[n] = '\0';
}
