/* SPDX-License-Identifier: BSD-3-Clause */
/* The timeline (--sl-trace): spans of each rank's work in Chrome's trace-event JSON.
 *
 * Bounded: a span that starts within the merge gap of the previous one on its track is
 * folded into it (named after whichever of them took longer), and when a rank holds
 * --sl-trace-max-spans spans the gap doubles and the held spans are merged again. So a
 * rank's share of the file is at most a few MB whatever the run's length.
 *
 * Written without gathering: each rank formats its own spans, an exclusive scan gives its
 * offset, and every rank writes its part of one file with MPI-IO; rank 0 creates the
 * file under a temporary name and renames it once every rank's part is in. The spans of
 * every run of the context are kept, so the file of a program that runs twice (two
 * passes) holds both. Timestamps are microseconds since the first run began, rank 0's
 * wall clock at each run's start giving every rank the same origin. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"

enum { NTRACKS = 3, TRACK_RUNS = SL__TRACK_RUNS, TALLY = 4 };

typedef struct span {
  double a, b; /* seconds since the trace's origin */
  int name, tid;
  unsigned merged; /* spans folded into it */
} span;

typedef struct pending {
  span s;
  int open;
  int names[TALLY]; /* the names folded in and their time: the longest names the span */
  double secs[TALLY];
} pending;

typedef struct sl__trace {
  span *s;
  size_t n, cap, max;
  char **names;
  int nnames, capnames;
  double gap;   /* merge gap, seconds */
  double epoch; /* rank 0's wall clock when the first traced run began */
  double off;   /* this run: seconds since the origin at sl__now() == 0 */
  int started;  /* epoch is set */
  int runs;     /* runs traced */
  pending pend[NTRACKS - 1];
} sl__trace;

static void trace_free(void *p) {
  sl__trace *t = p;
  if (!t)
    return;
  for (int i = 0; i < t->nnames; i++)
    free(t->names[i]);
  free(t->names);
  free(t->s);
  free(t);
}

int sl__trace_begin(sl__run *run) {
  sl_ctx *ctx = run->ctx;
  if (!ctx->opt.trace_file[0])
    return SL_OK;
  if (!ctx->trace) {
    sl__trace *t = calloc(1, sizeof *t);
    SL__CHECK_ALLOC(t);
    t->max = (size_t)ctx->opt.trace_max_spans;
    t->gap = ctx->opt.trace_merge_us * 1e-6;
    ctx->trace = t;
    ctx->trace_free = trace_free;
  }
  sl__trace *t = ctx->trace;
  if (!t->started) {
    t->epoch = run->wall0;
    t->started = 1;
  }
  t->off = run->wall0 - t->epoch - run->t0;
  t->runs++;
  run->trace = t;
  return SL_OK;
}

/* The index of name in the table; -1 when out of memory (the span is dropped). */
static int intern(sl__trace *t, const char *name) {
  for (int i = t->nnames - 1; i >= 0; i--) /* recent names first: a run's own */
    if (!strcmp(t->names[i], name))
      return i;
  if (t->nnames == t->capnames) {
    int cap = t->capnames ? 2 * t->capnames : 32;
    char **nn = realloc(t->names, (size_t)cap * sizeof *nn);
    if (!nn)
      return -1;
    t->names = nn;
    t->capnames = cap;
  }
  char *c = strdup(name);
  if (!c)
    return -1;
  t->names[t->nnames] = c;
  return t->nnames++;
}

/* Merge the held spans again with the (doubled) gap: per track, a span close to the
 * previous kept one of its track joins it. Run spans are never merged. */
static void remerge(sl__trace *t) {
  size_t last[NTRACKS], k = 0;
  for (int i = 0; i < NTRACKS; i++)
    last[i] = (size_t)-1;
  for (size_t i = 0; i < t->n; i++) {
    span e = t->s[i];
    size_t l = last[e.tid];
    if (e.tid != TRACK_RUNS && l != (size_t)-1 && e.a - t->s[l].b < t->gap &&
        (e.name == t->s[l].name || t->s[l].b - t->s[l].a < t->gap)) {
      span *p = &t->s[l];
      if (e.b - e.a > p->b - p->a)
        p->name = e.name;
      if (e.b > p->b)
        p->b = e.b;
      p->merged += e.merged + 1;
      continue;
    }
    t->s[k] = e;
    last[e.tid] = k++;
  }
  t->n = k;
}

static void push(sl__trace *t, const span *e) {
  if (t->n == t->max) {
    do {
      t->gap = t->gap > 0 ? 2 * t->gap : 1e-6;
      remerge(t);
    } while (t->n > t->max / 2 && t->gap < 3600);
  }
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 256;
    if (cap > t->max)
      cap = t->max;
    span *ns = realloc(t->s, cap * sizeof *ns);
    if (!ns)
      return; /* the trace loses a span rather than failing the run */
    t->s = ns;
    t->cap = cap;
  }
  if (t->n < t->cap)
    t->s[t->n++] = *e;
}

static void flush(sl__trace *t, int tid) {
  pending *p = &t->pend[tid];
  if (p->open)
    push(t, &p->s);
  p->open = 0;
}

static void tally(pending *p, int name, double secs) {
  int best = 0;
  for (int i = 0; i < TALLY; i++) {
    if (p->names[i] == name || p->names[i] < 0) {
      p->names[i] = name;
      p->secs[i] += secs;
      break;
    }
  }
  for (int i = 1; i < TALLY; i++)
    if (p->names[i] >= 0 && p->secs[i] > p->secs[best])
      best = i;
  p->s.name = p->names[best];
}

void sl__trace_span(sl__run *run, int tid, const char *name, double a, double b) {
  sl__trace *t = run->trace;
  if (!t || b < a)
    return;
  int id = intern(t, name);
  if (id < 0)
    return;
  a += t->off;
  b += t->off;
  if (tid == TRACK_RUNS) {
    span e = {a, b, id, tid, 0};
    push(t, &e);
    return;
  }
  pending *p = &t->pend[tid];
  /* fold into the open span when it is close and either has this name or is still short */
  if (p->open && a - p->s.b < t->gap && (id == p->s.name || p->s.b - p->s.a < t->gap)) {
    if (b > p->s.b)
      p->s.b = b;
    p->s.merged++;
    tally(p, id, b - a);
    return;
  }
  flush(t, tid);
  p->open = 1;
  p->s = (span){a, b, id, tid, 0};
  for (int i = 0; i < TALLY; i++) {
    p->names[i] = -1;
    p->secs[i] = 0;
  }
  tally(p, id, b - a);
}

static const char *category(const sl__trace *t, const span *e) {
  const char *n = t->names[e->name];
  if (e->tid == SL__TRACK_WAIT)
    return "credit";
  if (e->tid == TRACK_RUNS)
    return "run";
  if (!strncmp(n, "io: ", 4))
    return "io";
  if (!strncmp(n, "collective: ", 12))
    return "collective";
  return "work";
}

/* A metadata event: the rank's track name and order, a thread's name. */
static int meta(sl__bytes *b, int pid, int tid, const char *what, const char *key, const char *sv,
                double nv) {
  SL__CHECK(sl__json_raw(b, ",\n{"));
  SL__CHECK(sl__json_kstr(b, 1, "name", what));
  SL__CHECK(sl__json_kstr(b, 0, "ph", "M"));
  SL__CHECK(sl__json_knum(b, 0, "pid", pid));
  SL__CHECK(sl__json_knum(b, 0, "tid", tid));
  SL__CHECK(sl__json_raw(b, ",\"args\":{"));
  if (sv)
    SL__CHECK(sl__json_kstr(b, 1, key, sv));
  else
    SL__CHECK(sl__json_knum(b, 1, key, nv));
  return sl__json_raw(b, "}}");
}

/* This rank's events, each after ",\n"; rank 0's part starts with the file's header, whose
 * first event is its own. */
static int format(sl__run *run, sl__trace *t, sl__bytes *b) {
  static const char *tracks[NTRACKS] = {"work", "waiting for credit", "runs"};
  char host[MPI_MAX_PROCESSOR_NAME] = "";
  int hl = 0;
  if (MPI_Get_processor_name(host, &hl) != MPI_SUCCESS)
    host[0] = '\0';
  char pname[MPI_MAX_PROCESSOR_NAME + 32];
  snprintf(pname, sizeof pname, "rank %d (%s)", run->rank, host);
  if (run->rank == 0) {
    SL__CHECK(sl__json_raw(b, "{\"displayTimeUnit\":\"ms\",\"otherData\":{"));
    SL__CHECK(sl__json_kstr(b, 1, "sluice_version", sl_version()));
    SL__CHECK(sl__json_knum(b, 0, "ranks", run->size));
    SL__CHECK(sl__json_knum(b, 0, "runs", t->runs));
    SL__CHECK(sl__json_kstr(b, 0, "command_line", run->ctx->command_line));
    char utc[40];
    sl__utc_string(t->epoch, utc, sizeof utc);
    SL__CHECK(sl__json_kstr(b, 0, "origin_utc", utc));
    /* a first event without a separator, so that every later one can start with one */
    SL__CHECK(sl__json_raw(b, "},\"traceEvents\":[\n{\"name\":\"trace\",\"ph\":\"i\",\"s\":\"g\","
                              "\"pid\":0,\"tid\":0,\"ts\":0}"));
  }
  SL__CHECK(meta(b, run->rank, 0, "process_name", "name", pname, 0));
  SL__CHECK(meta(b, run->rank, 0, "process_sort_index", "sort_index", NULL, run->rank));
  SL__CHECK(meta(b, run->rank, 0, "process_labels", "labels", host, 0));
  for (int k = 0; k < NTRACKS; k++) {
    SL__CHECK(meta(b, run->rank, k, "thread_name", "name", tracks[k], 0));
    SL__CHECK(meta(b, run->rank, k, "thread_sort_index", "sort_index", NULL, k));
  }
  for (size_t i = 0; i < t->n; i++) {
    const span *e = &t->s[i];
    SL__CHECK(sl__json_raw(b, ",\n{"));
    SL__CHECK(sl__json_kstr(b, 1, "name", t->names[e->name]));
    SL__CHECK(sl__json_kstr(b, 0, "cat", category(t, e)));
    SL__CHECK(sl__json_kstr(b, 0, "ph", "X"));
    SL__CHECK(sl__json_knum(b, 0, "pid", run->rank));
    SL__CHECK(sl__json_knum(b, 0, "tid", e->tid));
    /* whole microseconds keep the file small; a span shorter than that still shows */
    double ts = (double)(long long)(e->a * 1e6), end = (double)(long long)(e->b * 1e6);
    SL__CHECK(sl__json_knum(b, 0, "ts", ts));
    SL__CHECK(sl__json_knum(b, 0, "dur", end > ts ? end - ts : 1));
    if (e->merged) {
      SL__CHECK(sl__json_raw(b, ",\"args\":{"));
      SL__CHECK(sl__json_knum(b, 1, "merged", e->merged));
      SL__CHECK(sl__json_raw(b, "}"));
    }
    SL__CHECK(sl__json_raw(b, "}"));
  }
  if (run->rank == run->size - 1) {
    char gap[64];
    snprintf(gap, sizeof gap, "\n],\"mergeGapUs\":%.0f}\n", t->gap * 1e6);
    SL__CHECK(sl__json_raw(b, gap));
  }
  return SL_OK;
}

/* An MPI-IO failure as one line. */
static int io_fail(int mrc, const char *what, const char *path) {
  char msg[MPI_MAX_ERROR_STRING] = "";
  int n = 0;
  if (MPI_Error_string(mrc, msg, &n) != MPI_SUCCESS)
    snprintf(msg, sizeof msg, "MPI error %d", mrc);
  return sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot %s trace '%s': %s", what, path, msg);
}

/* Agree on a step: *rc becomes SL_ERR_REMOTE where only another rank failed. */
static int agreed(sl__run *run, int *rc) {
  int bad = *rc != SL_OK, any = 1;
  int mrc = MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, run->comm);
  if (mrc != MPI_SUCCESS && *rc == SL_OK)
    *rc = sl__error_mpi(mrc, __FILE__, __LINE__, "MPI_Allreduce(trace)");
  else if (any && *rc == SL_OK)
    *rc = SL_ERR_REMOTE;
  return *rc == SL_OK;
}

int sl__trace_write(sl__run *run) {
  sl__trace *t = run->trace;
  const sl_ctx *ctx = run->ctx;
  if (!ctx->opt.trace_file[0])
    return SL_OK;
  for (int k = 0; t && k < NTRACKS - 1; k++)
    flush(t, k);
  /* Local steps first, then one agreement: the name, this rank's part. */
  char path[4096], tmp[4200];
  sl__bytes b = {0};
  int rc = sl__expand_name(ctx, "--sl-trace", ctx->opt.trace_file, path, sizeof path);
  if (rc == SL_OK && !t)
    rc = sl__error_set(SL_ERR_NOMEM, __FILE__, __LINE__, "no memory for the trace");
  if (rc == SL_OK)
    rc = format(run, t, &b);
  if (!agreed(run, &rc)) {
    sl__bytes_free(&b);
    return rc;
  }
  uint64_t mine = b.len, off = 0;
  int mrc = MPI_Exscan(&mine, &off, 1, MPI_UINT64_T, MPI_SUM, run->comm);
  if (run->rank == 0)
    off = 0;
  /* rank 0 creates the temporary beside the file (its pid in the name), and says so */
  long who[2] = {mrc == MPI_SUCCESS, (long)getpid()};
  if (run->rank == 0 && who[0]) {
    snprintf(tmp, sizeof tmp, "%s.sluice-tmp-%ld", path, who[1]);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || close(fd) != 0) {
      rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot write trace '%s': %s", path,
                         strerror(errno));
      who[0] = 0;
    }
  }
  if (mrc == MPI_SUCCESS)
    mrc = MPI_Bcast(who, 2, MPI_LONG, 0, run->comm);
  if (mrc != MPI_SUCCESS) {
    sl__bytes_free(&b);
    return sl__error_mpi(mrc, __FILE__, __LINE__, "trace offsets");
  }
  if (!who[0]) {
    sl__bytes_free(&b);
    return rc != SL_OK ? rc : SL_ERR_REMOTE;
  }
  snprintf(tmp, sizeof tmp, "%s.sluice-tmp-%ld", path, who[1]);
  MPI_File fh;
  mrc = MPI_File_open(run->comm, tmp, MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
  if (mrc != MPI_SUCCESS) { /* a collective failure: every rank returns here */
    sl__bytes_free(&b);
    if (run->rank == 0)
      (void)unlink(tmp);
    return io_fail(mrc, "open", tmp);
  }
  /* in pieces below 1 GiB: MPI counts are ints */
  for (size_t done = 0; rc == SL_OK && done < b.len;) {
    size_t n = b.len - done > ((size_t)1 << 30) ? (size_t)1 << 30 : b.len - done;
    MPI_Status st;
    int got = 0;
    mrc = MPI_File_write_at(fh, (MPI_Offset)(off + done), b.p + done, (int)n, MPI_BYTE, &st);
    if (mrc != MPI_SUCCESS)
      rc = io_fail(mrc, "write", path);
    else if (MPI_Get_count(&st, MPI_BYTE, &got) != MPI_SUCCESS || got != (int)n)
      rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "short write to trace '%s'", path);
    done += n;
  }
  sl__bytes_free(&b);
  mrc = MPI_File_close(&fh);
  if (mrc != MPI_SUCCESS && rc == SL_OK)
    rc = io_fail(mrc, "close", path);
  /* every part is in (or not): rank 0 publishes or removes, and says how it went */
  agreed(run, &rc);
  int ok = rc == SL_OK;
  if (run->rank == 0) {
    if (ok && rename(tmp, path) != 0) {
      rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot rename the trace to '%s': %s", path,
                         strerror(errno));
      ok = 0;
    }
    if (!ok)
      (void)unlink(tmp);
  }
  mrc = MPI_Bcast(&ok, 1, MPI_INT, 0, run->comm);
  if (mrc != MPI_SUCCESS && rc == SL_OK)
    rc = sl__error_mpi(mrc, __FILE__, __LINE__, "MPI_Bcast(trace)");
  if (!ok && rc == SL_OK)
    rc = SL_ERR_REMOTE;
  return rc;
}
