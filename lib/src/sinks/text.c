/* SPDX-License-Identifier: BSD-3-Clause */
/* The text sink: one line per record (the user's format, a newline added), into ONE file
 * written by all ranks, or to standard output from the flow's one last partition.
 *
 * Each rank formats its records into a bounded buffer that spills to a nameless temporary
 * file (sl__spill_create); when the flow has ended, an exclusive scan of the byte counts
 * gives each rank its offset and every rank writes its part with MPI-IO. The file is
 * written under a temporary name and renamed at the end (sl_output), so nothing appears
 * under the final name unless every rank succeeded. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan/builder.h"
#include "sinks/output.h"
#include "sinks/sinks.h"

typedef struct text_sink {
  sl_format_fn fmt;
  void *fmt_arg;
  char *path; /* NULL: stdout of rank 0 */
  int overwrite;
  /* the run */
  sl_text line;
  char *buf;
  size_t len, cap;
  int spill_fd;
  uint64_t spill_bytes;
  sl_output *out;
  uint64_t *written; /* the context's count of bytes written */
  MPI_Comm comm;
  int rank;
} text_sink;

static int spill_open(text_sink *s, sl__run *run) {
  if (s->spill_fd < 0)
    SL__CHECK(sl__spill_create(run->ctx, s->path, "the text output", &s->spill_fd));
  return SL_OK;
}

static int spill(text_sink *s, sl__run *run) {
  if (!s->len)
    return SL_OK;
  SL__CHECK(spill_open(s, run));
  SL__CHECK(sl__write_all(s->spill_fd, s->buf, s->len, "the text output's spill file"));
  s->spill_bytes += s->len;
  s->len = 0;
  return SL_OK;
}

static int text_prepare(void *impl, sl_ctx *ctx, sl__run *run) {
  text_sink *s = impl;
  s->comm = sl_comm(ctx);
  s->rank = sl_rank(ctx);
  s->written = &ctx->bytes_written;
  if (!s->path)
    return SL_OK;
  /* collective: every rank, whatever happened before (sl_run agreed first) */
  SL__CHECK(sl__output_open(ctx, run->flow, s->path, s->overwrite, NULL, 0, &s->out));
  s->cap = (size_t)ctx->opt.output_buffer_bytes;
  s->buf = malloc(s->cap);
  SL__CHECK_ALLOC_FOR(s->buf, "the text output's buffer", s->cap, "--sl-output-buffer-bytes");
  return SL_OK;
}

static int text_push(void *impl, sl__part *p, const sl_record *rec) {
  text_sink *s = impl;
  sl__bytes *line = &s->line.b;
  line->len = 0;
  int rc = s->fmt(rec, &s->line, s->fmt_arg);
  if (rc) {
    if (sl__error_code())
      return rc;
    SL__FAIL(SL_ERR_CALLBACK, "text output: format callback failed (returned %d)", rc);
  }
  SL__CHECK(sl__bytes_append(line, "\n", 1));
  if (!s->path) { /* stdout: the single partition on rank 0 streams it */
    if (fwrite(line->p, 1, line->len, stdout) != line->len)
      SL__FAIL(SL_ERR_IO, "cannot write to standard output: %s", strerror(errno));
    return SL_OK;
  }
  if (s->cap - s->len < line->len)
    SL__CHECK(spill(s, p->run));
  if (line->len > s->cap) {
    SL__CHECK(spill(s, p->run));
    char *sv = s->buf;
    s->buf = line->p; /* write a huge line straight through */
    s->len = line->len;
    int r2 = spill(s, p->run);
    s->buf = sv;
    s->len = 0;
    return r2;
  }
  memcpy(s->buf + s->len, line->p, line->len);
  s->len += line->len;
  if (p->run->ckpt) /* tests (SLUICE_TEST_CKPT_SIGNAL): a stop while the output is written */
    sl__ckpt_test_rows(p->run, 1, 1);
  return SL_OK;
}

/* An MPI-IO failure as the user needs it: a full disk or quota by name. */
static void mpi_io_reason(int mrc, char *buf, size_t cap) {
  int cls = 0, n = 0;
  MPI_Error_class(mrc, &cls);
  if (cls == MPI_ERR_NO_SPACE)
    snprintf(buf, cap, "%s", strerror(ENOSPC));
  else if (cls == MPI_ERR_QUOTA)
    snprintf(buf, cap, "%s", strerror(EDQUOT));
  else if (MPI_Error_string(mrc, buf, &n) != MPI_SUCCESS)
    snprintf(buf, cap, "MPI error %d", mrc);
}

/* One checked write of this rank's part: the count MPI reports must be what was asked. */
static int write_part(text_sink *s, MPI_File fh, uint64_t at, const char *p, size_t n,
                      uint64_t done, uint64_t part) {
  MPI_Status st;
  int mrc = MPI_File_write_at(fh, (MPI_Offset)at, p, (int)n, MPI_BYTE, &st), got = 0;
  char why[MPI_MAX_ERROR_STRING] = "";
  if (mrc != MPI_SUCCESS) {
    mpi_io_reason(mrc, why, sizeof why);
  } else if (MPI_Get_count(&st, MPI_BYTE, &got) != MPI_SUCCESS || got != (int)n) {
    snprintf(why, sizeof why, "short write (%d of %zu bytes)", got, n);
  } else {
    *s->written += n; /* the run record's bytes written */
    return SL_OK;
  }
  char a[32], b[32];
  sl__fmt_bytes(done + (uint64_t)(got > 0 ? got : 0), a, sizeof a);
  sl__fmt_bytes(part, b, sizeof b);
  SL__FAIL(SL_ERR_IO, "%s while writing '%s': %s of this rank's %s written", why, s->path, a, b);
}

/* Collective: every rank writes its part at its offset (independent writes), then closes.
 * The whole size is reserved first, so a full disk is found before any byte is written. */
static int write_file(text_sink *s) {
  uint64_t mine = s->spill_bytes + s->len, off = 0, total = 0;
  SL__CHECK_MPI(MPI_Exscan(&mine, &off, 1, MPI_UINT64_T, MPI_SUM, s->comm));
  if (s->rank == 0)
    off = 0;
  SL__CHECK_MPI(MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, s->comm));
  SL__CHECK(sl__output_reserve(s->out, total));
  const char *tmp = sl_output_tmp_path(s->out);
  MPI_File fh;
  int rc = MPI_File_open(s->comm, tmp, MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
  if (rc != MPI_SUCCESS) { /* a collective failure: every rank returns here */
    char msg[MPI_MAX_ERROR_STRING];
    mpi_io_reason(rc, msg, sizeof msg);
    SL__FAIL(SL_ERR_IO, "cannot open output '%s' (as '%s'): %s", s->path, tmp, msg);
  }
  int err = SL_OK;
  /* The buffered tail first (it sits after the spilled bytes), so the buffer is then free
   * to carry the spill file back, block by block: no extra memory. */
  if (s->len)
    err = write_part(s, fh, off + s->spill_bytes, s->buf, s->len, s->spill_bytes, mine);
  for (uint64_t done = 0; err == SL_OK && s->spill_fd >= 0 && done < s->spill_bytes;) {
    size_t want = s->cap;
    if (want > s->spill_bytes - done)
      want = (size_t)(s->spill_bytes - done);
    err = sl__pread_all(s->spill_fd, s->buf, want, done, "the text output's spill file");
    if (err == SL_OK)
      err = write_part(s, fh, off + done, s->buf, want, done, mine);
    done += want;
  }
  rc = MPI_File_close(&fh);
  if (rc != MPI_SUCCESS && err == SL_OK) {
    char msg[MPI_MAX_ERROR_STRING];
    mpi_io_reason(rc, msg, sizeof msg);
    err =
        sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "%s while closing output '%s'", msg, s->path);
  }
  return err;
}

static int text_finish(void *impl, sl_ctx *ctx, int job_failed) {
  text_sink *s = impl;
  (void)ctx;
  if (!s->path) {
    if (fflush(stdout) != 0 && !job_failed)
      return sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot write to standard output");
    return SL_OK;
  }
  int err = job_failed ? SL_OK : write_file(s);
  return sl__output_commit(s->out, job_failed && err == SL_OK ? SL_ERR_REMOTE : err);
}

static void text_destroy(void *impl) {
  text_sink *s = impl;
  if (!s)
    return;
  if (s->spill_fd >= 0)
    close(s->spill_fd);
  sl_output_destroy(&s->out);
  sl__bytes_free(&s->line.b);
  free(s->buf);
  free(s->path);
  free(s);
}

static void text_describe(const void *impl, FILE *out) {
  const text_sink *s = impl;
  fprintf(out, "text -> %s", s->path ? s->path : "stdout");
}

/* Checkpoints: this rank's lines so far (the spill file, then the buffer), in chunks of the
 * buffer's size; restored by appending them in order. Standard output cannot take back what
 * it printed: such a flow is refused before it runs (text_stdout_vt has no snapshot). */
static int text_snapshot(void *impl, sl__run *run, struct sl__ckpt_writer *w) {
  text_sink *s = impl;
  (void)run;
  if (!s->path)
    SL__FAIL(SL_ERR_UNSUPPORTED, "text output to standard output cannot be checkpointed");
  return sl__ckpt_put_sink_spilled(w, s->spill_fd, s->spill_bytes, s->buf, s->len, s->cap,
                                   "the text output's spill file");
}

static int text_restore(void *impl, sl__run *run, const void *data, size_t len) {
  text_sink *s = impl;
  if (!s->path)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: lines saved for standard output");
  if (s->cap - s->len < len)
    SL__CHECK(spill(s, run));
  if (len > s->cap) {
    SL__CHECK(spill_open(s, run));
    SL__CHECK(sl__write_all(s->spill_fd, data, len, "the text output's spill file"));
    s->spill_bytes += len;
    return SL_OK;
  }
  memcpy(s->buf + s->len, data, len);
  s->len += len;
  return SL_OK;
}

static const sl__sink_vt text_vt = {.name = "text",
                                    .snapshot = text_snapshot,
                                    .restore = text_restore,
                                    .ckpt_portable = 1,
                                    .prepare = text_prepare,
                                    .push = text_push,
                                    .finish = text_finish,
                                    .destroy = text_destroy,
                                    .describe = text_describe};

/* Standard output streams as the run goes: what it printed before a stop cannot be taken
 * back, and holding the whole output until the end would take memory without bound. */
static const sl__sink_vt text_stdout_vt = {
    .name = "text",
    .prepare = text_prepare,
    .push = text_push,
    .finish = text_finish,
    .destroy = text_destroy,
    .describe = text_describe,
    .ckpt_refusal = "writes to standard output, which cannot take back the lines it printed "
                    "before a stop: write to a file instead (a path, not \"-\")"};

int sl_flow_to_text(sl_flow *flow, const char *path, sl_format_fn fmt, void *arg, int overwrite) {
  if (!path)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_to_text: NULL path (use \"-\" for stdout)");
  SL__CHECK(sl__check_open(flow, "sl_flow_to_text"));
  int to_stdout = strcmp(path, "-") == 0;
  if (to_stdout) {
    const sl__stage *s = sl__flow_last_stage(flow);
    if (!(s->partitions == 1 && s->boundary == SL__BOUND_SINGLE))
      SL__CHECK(sl_flow_departition(flow));
  }
  text_sink *s = calloc(1, sizeof *s);
  SL__CHECK_ALLOC(s);
  s->spill_fd = -1;
  s->fmt = fmt ? fmt : sl_format_value;
  s->fmt_arg = arg;
  s->overwrite = overwrite;
  if (!to_stdout && !(s->path = strdup(path))) {
    free(s);
    SL__FAIL(SL_ERR_NOMEM, "out of memory");
  }
  return sl__flow_set_sink(flow, to_stdout ? &text_stdout_vt : &text_vt, s, "sl_flow_to_text");
}
