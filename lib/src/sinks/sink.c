/* Sinks: count, collect to rank 0, user callback, and text output.
 *
 * Text output is ONE file written by all ranks: each rank formats its records into a
 * bounded buffer that spills to a local temporary file; when the flow has ended, an
 * exclusive scan of the byte counts gives each rank its offset and every rank writes its
 * part with MPI-IO. The file is written under a temporary name and renamed at the end,
 * so nothing appears under the final name unless every rank succeeded. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"

struct sl_text {
  char *p;
  size_t len, cap;
};

struct sl_collection {
  char *data;
  size_t len;
  size_t n;
  size_t *offs;
};

typedef struct sink_rt {
  const sl__sinkdef *def;
  uint64_t count;
  sl_text line;
  char *buf;
  size_t len, cap;
  int spill_fd;
  uint64_t spill_bytes;
  sl_output *out;
  size_t ncoll, capoffs;
  size_t *offs;
} sink_rt;

int sl_text_append(sl_text *line, const void *bytes, size_t len) {
  if (!line || (len && !bytes))
    return SL_ERR_INVAL;
  if (line->cap - line->len < len) {
    size_t cap = line->cap ? line->cap : 256;
    while (cap - line->len < len)
      cap *= 2;
    char *n = realloc(line->p, cap);
    SL__CHECK_ALLOC(n);
    line->p = n;
    line->cap = cap;
  }
  if (len) /* bytes may be NULL when len is 0 */
    memcpy(line->p + line->len, bytes, len);
  line->len += len;
  return SL_OK;
}

int sl_format_value(const sl_record *rec, sl_text *line, void *arg) {
  (void)arg;
  return sl_text_append(line, rec->value, rec->value_len);
}

int sl_format_tsv(const sl_record *rec, sl_text *line, void *arg) {
  (void)arg;
  SL__CHECK(sl_text_append(line, rec->key, rec->key_len));
  SL__CHECK(sl_text_append(line, "\t", 1));
  return sl_text_append(line, rec->value, rec->value_len);
}

static int tsv_number(const sl_record *rec, sl_text *line, char kind) {
  if (rec->value_len != 8)
    SL__FAIL(SL_ERR_TYPE, "text output: expected an 8-byte number as the value, found %zu bytes",
             rec->value_len);
  char num[64];
  int n;
  if (kind == 'u') {
    uint64_t v;
    memcpy(&v, rec->value, 8);
    n = snprintf(num, sizeof num, "%llu", (unsigned long long)v);
  } else if (kind == 'i') {
    int64_t v;
    memcpy(&v, rec->value, 8);
    n = snprintf(num, sizeof num, "%lld", (long long)v);
  } else {
    double v;
    memcpy(&v, rec->value, 8);
    n = snprintf(num, sizeof num, "%.17g", v);
  }
  SL__CHECK(sl_text_append(line, rec->key, rec->key_len));
  SL__CHECK(sl_text_append(line, "\t", 1));
  return sl_text_append(line, num, (size_t)n);
}

int sl_format_tsv_u64(const sl_record *rec, sl_text *line, void *arg) {
  (void)arg;
  return tsv_number(rec, line, 'u');
}
int sl_format_tsv_i64(const sl_record *rec, sl_text *line, void *arg) {
  (void)arg;
  return tsv_number(rec, line, 'i');
}
int sl_format_tsv_f64(const sl_record *rec, sl_text *line, void *arg) {
  (void)arg;
  return tsv_number(rec, line, 'f');
}

size_t sl_collection_count(const sl_collection *c) {
  return c ? c->n : 0;
}

int sl_collection_get(const sl_collection *c, size_t i, sl_record *rec) {
  if (!c || !rec || i >= c->n)
    return SL_ERR_INVAL;
  size_t pos = c->offs[i];
  return sl__batch_next(c->data, c->len, &pos, rec) == 1 ? SL_OK : SL_ERR_INTERNAL;
}

void sl_collection_destroy(sl_collection **c) {
  if (!c || !*c)
    return;
  free((*c)->data);
  free((*c)->offs);
  free(*c);
  *c = NULL;
}

/* ---- text output helpers ---- */
static int spill(sink_rt *s, sl__run *run) {
  if (!s->len)
    return SL_OK;
  if (s->spill_fd < 0)
    SL__CHECK(sl__spill_create(run->ctx, s->def->path, "the text output", &s->spill_fd));
  SL__CHECK(sl__write_all(s->spill_fd, s->buf, s->len, "the text output's spill file"));
  s->spill_bytes += s->len;
  s->len = 0;
  return SL_OK;
}

int sl__sink_prepare(sl__run *run) {
  const sl__sinkdef *def = &run->flow->sink;
  sink_rt *s = calloc(1, sizeof *s);
  /* No return between here and the sink's collectives below: a rank that left early would
   * leave the others inside them. Failures are carried to sl_run's agreement. */
  int rc = s ? SL_OK : sl__error_nomem(__FILE__, __LINE__, "internal state", 0, NULL);
  if (s) {
    s->def = def;
    s->spill_fd = -1;
  }
  run->sink = s;
  if (def->kind == SL__SINK_EXT) {
    run->sink_blocked = def->ext->blocked;
    run->sink_push = def->ext->push;
    run->sink_impl = def->ext_impl;
    int r = def->ext->prepare(def->ext_impl, run->ctx, run);
    return rc != SL_OK ? rc : r;
  }
  if (def->kind != SL__SINK_TEXT)
    return rc;
  if (def->path) {
    sl_output *out = NULL;
    int r = sl__output_open(run->ctx, run->flow, def->path, def->overwrite, NULL, 0, &out);
    if (s)
      s->out = out;
    else
      sl_output_destroy(&out);
    if (rc == SL_OK)
      rc = r;
  }
  if (rc != SL_OK)
    return rc;
  s->cap = (size_t)run->ctx->opt.output_buffer_bytes;
  s->buf = malloc(s->cap);
  SL__CHECK_ALLOC_FOR(s->buf, "the text output's buffer", s->cap, "--sl-output-buffer-bytes");
  return SL_OK;
}

int sl__sink_push(sl__part *p, const sl_record *rec) {
  sl__run *run = p->run;
  sink_rt *s = run->sink;
  int rc;
  switch (s->def->kind) {
  case SL__SINK_EXT:
    return s->def->ext->push(s->def->ext_impl, p, rec);
  case SL__SINK_COUNT:
    s->count++;
    return SL_OK;
  case SL__SINK_CALLBACK:
    rc = s->def->fn(rec, s->def->arg);
    if (rc)
      SL__FAIL(SL_ERR_CALLBACK,
               "stage %d '%s', partition %d, sink: user callback failed (returned %d)",
               p->stage->index, p->stage->name, p->index, rc);
    return SL_OK;
  case SL__SINK_COLLECT: {
    if (s->ncoll == s->capoffs) {
      size_t cap = s->capoffs ? 2 * s->capoffs : 256;
      size_t *n = realloc(s->offs, cap * sizeof *n);
      SL__CHECK_ALLOC(n);
      s->offs = n;
      s->capoffs = cap;
    }
    s->offs[s->ncoll++] = s->line.len;
    char hdr[SL__REC_HDR];
    uint32_t k = (uint32_t)rec->key_len, v = (uint32_t)rec->value_len;
    memcpy(hdr, &k, 4);
    memcpy(hdr + 4, &v, 4);
    SL__CHECK(sl_text_append(&s->line, hdr, SL__REC_HDR));
    SL__CHECK(sl_text_append(&s->line, rec->key, rec->key_len));
    return sl_text_append(&s->line, rec->value, rec->value_len);
  }
  case SL__SINK_TEXT: {
    s->line.len = 0;
    rc = s->def->fmt(rec, &s->line, s->def->fmt_arg);
    if (rc) {
      if (sl__error_code())
        return rc;
      SL__FAIL(SL_ERR_CALLBACK, "text output: format callback failed (returned %d)", rc);
    }
    SL__CHECK(sl_text_append(&s->line, "\n", 1));
    if (!s->def->path) { /* stdout: the single partition on rank 0 streams it */
      if (fwrite(s->line.p, 1, s->line.len, stdout) != s->line.len)
        SL__FAIL(SL_ERR_IO, "cannot write to standard output: %s", strerror(errno));
      return SL_OK;
    }
    if (s->cap - s->len < s->line.len)
      SL__CHECK(spill(s, run));
    if (s->line.len > s->cap) {
      SL__CHECK(spill(s, run));
      const char *sv = s->buf;
      s->buf = s->line.p; /* write a huge line straight through */
      s->len = s->line.len;
      int r2 = spill(s, run);
      s->buf = (char *)sv;
      s->len = 0;
      return r2;
    }
    memcpy(s->buf + s->len, s->line.p, s->line.len);
    s->len += s->line.len;
    return SL_OK;
  }
  default:
    SL__FAIL(SL_ERR_STATE, "the flow has no sink");
  }
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
static int write_part(sink_rt *s, MPI_File fh, uint64_t at, const char *p, size_t n, uint64_t done,
                      uint64_t part) {
  MPI_Status st;
  int mrc = MPI_File_write_at(fh, (MPI_Offset)at, p, (int)n, MPI_BYTE, &st), got = 0;
  char why[MPI_MAX_ERROR_STRING] = "";
  if (mrc != MPI_SUCCESS)
    mpi_io_reason(mrc, why, sizeof why);
  else if (MPI_Get_count(&st, MPI_BYTE, &got) != MPI_SUCCESS || got != (int)n)
    snprintf(why, sizeof why, "short write (%d of %zu bytes)", got, n);
  else
    return SL_OK;
  char a[32], b[32];
  sl__fmt_bytes(done + (uint64_t)(got > 0 ? got : 0), a, sizeof a);
  sl__fmt_bytes(part, b, sizeof b);
  SL__FAIL(SL_ERR_IO, "%s while writing '%s': %s of this rank's %s written", why, s->def->path, a,
           b);
}

/* Collective: every rank writes its part at its offset (independent writes), then closes.
 * The whole size is reserved first, so a full disk is found before any byte is written. */
static int text_write_file(sl__run *run, sink_rt *s) {
  uint64_t mine = s->spill_bytes + s->len, off = 0, total = 0;
  SL__CHECK_MPI(MPI_Exscan(&mine, &off, 1, MPI_UINT64_T, MPI_SUM, run->comm));
  if (run->rank == 0)
    off = 0;
  SL__CHECK_MPI(MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, run->comm));
  SL__CHECK(sl__output_reserve(s->out, total));
  const char *tmp = sl_output_tmp_path(s->out);
  MPI_File fh;
  int rc = MPI_File_open(run->comm, tmp, MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
  if (rc != MPI_SUCCESS) { /* a collective failure: every rank returns here */
    char msg[MPI_MAX_ERROR_STRING];
    mpi_io_reason(rc, msg, sizeof msg);
    SL__FAIL(SL_ERR_IO, "cannot open output '%s' (as '%s'): %s", s->def->path, tmp, msg);
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
    err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "%s while closing output '%s'", msg,
                        s->def->path);
  }
  return err;
}

int sl__sink_count_rows(sl__part *p, size_t n) {
  sink_rt *s = p->run->sink;
  if (s->def->kind != SL__SINK_COUNT)
    return 0;
  s->count += n;
  return 1;
}

int sl__sink_progress(sl__run *run, int *progress) {
  const sink_rt *s = run->sink;
  if (s && s->def->kind == SL__SINK_EXT && s->def->ext->progress)
    return s->def->ext->progress(s->def->ext_impl, run, progress);
  return SL_OK;
}

int sl__sink_quiescent(sl__run *run) {
  const sink_rt *s = run->sink;
  if (s && s->def->kind == SL__SINK_EXT && s->def->ext->quiescent)
    return s->def->ext->quiescent(s->def->ext_impl, run);
  return 1;
}

int sl__sink_settle(sl__run *run, int failed) {
  const sink_rt *s = run->sink;
  if (s && s->def->kind == SL__SINK_EXT && s->def->ext->settle)
    return s->def->ext->settle(s->def->ext_impl, run, failed);
  return SL_OK;
}

int sl__sink_finish(sl__run *run, int job_failed) {
  sink_rt *s = run->sink;
  const sl__sinkdef *def = &run->flow->sink;
  int err = SL_OK;
  if (def->kind == SL__SINK_EXT) {
    err = def->ext->finish(def->ext_impl, run->ctx, job_failed);
  } else if (def->kind == SL__SINK_COUNT) {
    uint64_t total = 0;
    SL__CHECK_MPI(MPI_Allreduce(&s->count, &total, 1, MPI_UINT64_T, MPI_SUM, run->comm));
    if (!job_failed)
      *def->count_out = total;
  } else if (def->kind == SL__SINK_COLLECT && !job_failed) {
    sl_collection *c = calloc(1, sizeof *c);
    SL__CHECK_ALLOC(c);
    c->data = s->line.p;
    c->len = s->line.len;
    c->n = s->ncoll;
    c->offs = s->offs;
    s->line.p = NULL;
    s->line.len = s->line.cap = 0;
    s->offs = NULL;
    *def->collect_out = c;
  } else if (def->kind == SL__SINK_TEXT && !def->path) {
    if (fflush(stdout) != 0 && !job_failed)
      err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot write to standard output");
  } else if (def->kind == SL__SINK_TEXT) {
    if (!job_failed)
      err = text_write_file(run, s);
    err = sl__output_commit(s->out, job_failed && err == SL_OK ? SL_ERR_REMOTE : err);
  }
  return err;
}

void sl__sink_destroy(sl__run *run) {
  sink_rt *s = run->sink;
  if (!s)
    return;
  if (s->spill_fd >= 0)
    close(s->spill_fd);
  sl_output_destroy(&s->out);
  free(s->line.p);
  free(s->buf);
  free(s->offs);
  free(s);
  run->sink = NULL;
}
