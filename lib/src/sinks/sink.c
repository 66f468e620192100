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
  char spill_path[4200];
  uint64_t spill_bytes;
  char tmp_path[4200];
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
static int write_all(int fd, const char *p, size_t n, const char *what) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      SL__FAIL(SL_ERR_IO, "cannot write %s: %s", what, strerror(errno));
    p += w;
    n -= (size_t)w;
  }
  return SL_OK;
}

static int spill(sink_rt *s, sl__run *run) {
  if (!s->len)
    return SL_OK;
  if (s->spill_fd < 0) {
    const char *dir = run->ctx->opt.tmpdir[0] ? run->ctx->opt.tmpdir : NULL;
    char base[4096];
    if (dir) {
      snprintf(s->spill_path, sizeof s->spill_path, "%s/.sluice-spill-XXXXXX", dir);
    } else {
      snprintf(base, sizeof base, "%s", s->def->path);
      snprintf(s->spill_path, sizeof s->spill_path, "%s/.sluice-spill-XXXXXX", dirname(base));
    }
    s->spill_fd = mkstemp(s->spill_path);
    if (s->spill_fd < 0)
      SL__FAIL(SL_ERR_IO, "cannot create spill file '%s': %s", s->spill_path, strerror(errno));
  }
  SL__CHECK(write_all(s->spill_fd, s->buf, s->len, "the output spill file"));
  s->spill_bytes += s->len;
  s->len = 0;
  return SL_OK;
}

int sl__sink_prepare(sl__run *run) {
  const sl__sinkdef *def = &run->flow->sink;
  sink_rt *s = calloc(1, sizeof *s);
  SL__CHECK_ALLOC(s);
  s->def = def;
  s->spill_fd = -1;
  run->sink = s;
  if (def->kind == SL__SINK_EXT) {
    run->sink_blocked = def->ext->blocked;
    run->sink_push = def->ext->push;
    run->sink_impl = def->ext_impl;
    return def->ext->prepare(def->ext_impl, run->ctx, run);
  }
  if (def->kind != SL__SINK_TEXT)
    return SL_OK;
  s->cap = (size_t)run->ctx->opt.output_buffer_bytes;
  s->buf = malloc(s->cap);
  SL__CHECK_ALLOC(s->buf);
  if (!def->path)
    return SL_OK;
  /* Rank 0 checks the destination once and names the temporary file for everyone. */
  int rc = SL_OK;
  char tmp[4200] = {0};
  if (run->rank == 0)
    rc = sl__output_check(run->flow, def->path, def->overwrite, tmp, sizeof tmp);
  int agreed = rc;
  SL__CHECK_MPI(MPI_Bcast(&agreed, 1, MPI_INT, 0, run->comm));
  if (agreed)
    return rc ? rc : SL_ERR_REMOTE;
  SL__CHECK_MPI(MPI_Bcast(tmp, (int)sizeof tmp, MPI_CHAR, 0, run->comm));
  memcpy(s->tmp_path, tmp, sizeof tmp);
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

static int text_write_file(sl__run *run, sink_rt *s) {
  uint64_t mine = s->spill_bytes + s->len, off = 0;
  SL__CHECK_MPI(MPI_Exscan(&mine, &off, 1, MPI_UINT64_T, MPI_SUM, run->comm));
  if (run->rank == 0)
    off = 0;
  MPI_File fh;
  int rc =
      MPI_File_open(run->comm, s->tmp_path, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int n;
    MPI_Error_string(rc, msg, &n);
    SL__FAIL(SL_ERR_IO, "cannot create output '%s': %s", s->tmp_path, msg);
  }
  int err = SL_OK;
  if (MPI_File_set_size(fh, 0) != MPI_SUCCESS)
    err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot truncate output");
  /* independent writes: each rank streams its spill file, then its buffer */
  /* The buffered tail first (it sits after the spilled bytes), so the buffer is then free
   * to carry the spill file back, block by block: no extra memory. */
  if (err == SL_OK && s->len &&
      MPI_File_write_at(fh, (MPI_Offset)(off + s->spill_bytes), s->buf, (int)s->len, MPI_BYTE,
                        MPI_STATUS_IGNORE) != MPI_SUCCESS)
    err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot write output '%s'", s->def->path);
  for (uint64_t done = 0; err == SL_OK && s->spill_fd >= 0 && done < s->spill_bytes;) {
    size_t want = s->cap;
    if (want > s->spill_bytes - done)
      want = (size_t)(s->spill_bytes - done);
    ssize_t r = pread(s->spill_fd, s->buf, want, (off_t)done);
    if (r != (ssize_t)want)
      err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot read back spill file '%s'",
                          s->spill_path);
    else if (MPI_File_write_at(fh, (MPI_Offset)(off + done), s->buf, (int)want, MPI_BYTE,
                               MPI_STATUS_IGNORE) != MPI_SUCCESS)
      err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot write output '%s'", s->def->path);
    done += want;
  }
  rc = MPI_File_close(&fh);
  if (rc != MPI_SUCCESS && err == SL_OK)
    err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot close output '%s'", s->def->path);
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
    int failed = err != SL_OK || job_failed, any = 0;
    SL__CHECK_MPI(MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, run->comm));
    if (run->rank == 0) {
      if (any) {
        unlink(s->tmp_path);
      } else if (rename(s->tmp_path, def->path) != 0) {
        err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot rename '%s' to '%s': %s",
                            s->tmp_path, def->path, strerror(errno));
        unlink(s->tmp_path);
      }
    }
    if (!any) {
      int e = err, agreed;
      SL__CHECK_MPI(MPI_Allreduce(&e, &agreed, 1, MPI_INT, MPI_MIN, run->comm));
      if (agreed && !err)
        err = SL_ERR_REMOTE;
    } else if (!err && !job_failed) {
      err = SL_ERR_REMOTE;
    }
  }
  return err;
}

void sl__sink_destroy(sl__run *run) {
  sink_rt *s = run->sink;
  if (!s)
    return;
  if (s->spill_fd >= 0) {
    close(s->spill_fd);
    unlink(s->spill_path);
  }
  free(s->line.p);
  free(s->buf);
  free(s->offs);
  free(s);
  run->sink = NULL;
}
