/* SPDX-License-Identifier: BSD-3-Clause */
/* Text files as line records. The files are one virtual byte space split into equal
 * ranges; a line belongs to the partition where it starts, so a partition skips the
 * partial line at the start of its range and reads past its end to finish its last line.
 * Reads are bounded blocks (pread); only a line longer than a block is copied whole. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "sources/sources.h"

typedef struct text_src {
  char **paths;
  size_t count;
  uint64_t *sizes;
  sl__input_id *ids; /* what each file was at prepare (checked at open and after reading) */
  uint64_t total;
  size_t block;
  int blocks; /* records are blocks of whole lines (sl_flow_from_text_blocks) */
} text_src;

typedef struct text_state {
  const text_src *src;
  uint64_t lo, hi; /* this partition's range in the virtual byte space */
  size_t file;     /* current file index */
  uint64_t fbase;  /* virtual offset of the current file */
  int fd;
  uint64_t cur, end, fsize; /* in file coordinates: next line start, range end */
  int seg_open;
  char *buf;
  uint64_t boff;
  size_t blen;
  sl__bytes line; /* a line longer than a block, assembled */
} text_state;

static int text_prepare(sl__source *src, sl_ctx *ctx) {
  text_src *t = src->impl;
  /* Rank 0 checks the files and broadcasts their sizes: one metadata pass, not one per
   * rank, and the same answer everywhere. */
  int rc = SL_OK;
  if (sl_rank(ctx) == 0) {
    for (size_t i = 0; i < t->count && rc == SL_OK; i++) {
      /* stat first: open() of a FIFO without a writer would block before any check */
      struct stat sb, fsb;
      if (stat(t->paths[i], &sb) != 0) {
        rc = sl__input_open_error(t->paths[i], "", errno);
        break;
      }
      if (!S_ISREG(sb.st_mode)) {
        rc = sl__input_not_regular(t->paths[i], sb.st_mode);
        break;
      }
      /* O_NONBLOCK: a FIFO put in its place since the stat must not block here either */
      int fd = open(t->paths[i], O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
      if (fd < 0) {
        rc = sl__input_open_error(t->paths[i], "", errno);
        break;
      }
      if (fstat(fd, &fsb) != 0) {
        rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot stat input '%s': %s", t->paths[i],
                           strerror(errno));
      } else if (!S_ISREG(fsb.st_mode)) {
        rc = sl__input_not_regular(t->paths[i], fsb.st_mode);
      } else {
        t->sizes[i] = (uint64_t)fsb.st_size;
        sl__input_id_set(&t->ids[i], &fsb);
      }
      close(fd);
    }
  }
  int agreed = rc;
  SL__CHECK_MPI(MPI_Bcast(&agreed, 1, MPI_INT, 0, sl_comm(ctx)));
  if (agreed != SL_OK)
    return rc != SL_OK ? rc : SL_ERR_REMOTE;
  if (t->count)
    SL__CHECK_MPI(MPI_Bcast(t->sizes, (int)t->count, MPI_UINT64_T, 0, sl_comm(ctx)));
  SL__CHECK(sl__input_id_bcast(t->ids, t->count, sl_rank(ctx), sl_comm(ctx)));
  t->total = 0;
  for (size_t i = 0; i < t->count; i++)
    t->total += t->sizes[i];
  src->total_bytes = t->total;
  t->block = (size_t)ctx->opt.read_block_bytes;
  return SL_OK;
}

static int text_open(sl__source *src, int partition, int partitions, void **state) {
  const text_src *t = src->impl;
  text_state *st = calloc(1, sizeof *st);
  SL__CHECK_ALLOC(st);
  st->src = t;
  st->fd = -1;
  sl__share(t->total, partition, partitions, &st->lo, &st->hi);
  /* the read block is allocated at the first read (fill): a failure there ends the run
   * through the event loop like a read error, on one rank as on all */
  *state = st;
  return SL_OK;
}

static int fill(text_state *st, uint64_t off) {
  if (!st->buf) {
    st->buf = malloc(st->src->block);
    SL__CHECK_ALLOC_FOR(st->buf, "a read block of the text input", st->src->block,
                        "--sl-read-block-bytes");
  }
  size_t want = st->src->block;
  if (off + want > st->fsize)
    want = (size_t)(st->fsize - off);
  size_t got = 0;
  while (got < want) {
    ssize_t n = pread(st->fd, st->buf + got, want - got, (off_t)(off + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      SL__FAIL(SL_ERR_IO, "read error in '%s' at byte %llu: %s", st->src->paths[st->file],
               (unsigned long long)(off + got), strerror(errno));
    if (n == 0)
      SL__FAIL(SL_ERR_IO, "input '%s' shrank while being read: expected %llu bytes, found %llu",
               st->src->paths[st->file], (unsigned long long)st->fsize,
               (unsigned long long)(off + got));
    got += (size_t)n;
  }
  st->boff = off;
  st->blen = got;
  return SL_OK;
}

/* Find the first '\n' at or after file offset `from`; *nl = fsize if none. */
static int find_newline(text_state *st, uint64_t from, uint64_t *nl) {
  for (;;) {
    if (from >= st->fsize) {
      *nl = st->fsize;
      return SL_OK;
    }
    if (from < st->boff || from >= st->boff + st->blen)
      SL__CHECK(fill(st, from));
    const char *p = memchr(st->buf + (from - st->boff), '\n', st->blen - (size_t)(from - st->boff));
    if (p) {
      *nl = st->boff + (uint64_t)(p - st->buf);
      return SL_OK;
    }
    from = st->boff + st->blen;
  }
}

/* Open the next file that overlaps this partition's range; *any = 0 when none is left. */
static int next_segment(text_state *st, int *any) {
  const text_src *t = st->src;
  *any = 0;
  while (st->file < t->count) {
    uint64_t fb = st->fbase, fe = st->fbase + t->sizes[st->file];
    if (!st->seg_open && fe > st->lo && fb < st->hi && fe > fb) {
      uint64_t a = (st->lo > fb ? st->lo : fb) - fb;
      uint64_t b = (st->hi < fe ? st->hi : fe) - fb;
      /* non-blocking, then checked: the file may have been replaced (by a FIFO even)
       * since prepare, and this partition must read the file every other one reads */
      st->fd = open(t->paths[st->file], O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
      if (st->fd < 0)
        SL__FAIL(SL_ERR_IO, "cannot open input '%s': %s", t->paths[st->file], strerror(errno));
      struct stat sb;
      if (fstat(st->fd, &sb) != 0)
        SL__FAIL(SL_ERR_IO, "cannot stat input '%s': %s", t->paths[st->file], strerror(errno));
      SL__CHECK(sl__input_id_check(t->paths[st->file], &t->ids[st->file], &sb));
      int fl = fcntl(st->fd, F_GETFL);
      if (fl >= 0)
        (void)fcntl(st->fd, F_SETFL, fl & ~O_NONBLOCK);
      (void)posix_fadvise(st->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
      st->fsize = t->sizes[st->file];
      st->blen = 0;
      st->boff = 0;
      st->seg_open = 1;
      st->end = b;
      st->cur = a;
      if (a > 0) {
        /* Does a line start exactly at a? Only if the byte before it ends a line. */
        uint64_t nl = 0;
        SL__CHECK(find_newline(st, a - 1, &nl));
        st->cur = nl + 1;
      }
      *any = 1;
      return SL_OK;
    }
    if (st->seg_open) {
      close(st->fd);
      st->fd = -1;
      st->seg_open = 0;
    }
    st->fbase = fe;
    st->file++;
  }
  return SL_OK;
}

static int append_line(text_state *st, const char *p, size_t n) {
  return sl__bytes_append(&st->line, p, n);
}

static int text_pull(void *state, sl__part *part, sl_emitter *out, int *done) {
  text_state *st = state;
  /* bounded work per call in lines and in bytes: a record may be a whole read block (or a
   * long line), and 4096 of them would be the whole share with no turn of the event loop
   * (credits, progress lines, a checkpoint's start) in between */
  uint64_t bytes = 0;
  int emitted = 0;
  while (emitted < SL__PULL_RECORDS && bytes < st->src->block) {
    if (!st->seg_open || st->cur >= st->end || st->cur >= st->fsize) {
      if (st->seg_open) {
        close(st->fd);
        st->fd = -1;
        st->seg_open = 0;
        /* after this partition's last read of the file: a change since prepare (data
         * appended or rewritten in place, the file replaced) makes its lines suspect */
        SL__CHECK(sl__input_id_check_path(st->src->paths[st->file], &st->src->ids[st->file]));
        st->fbase += st->src->sizes[st->file];
        st->file++;
      }
      int any;
      SL__CHECK(next_segment(st, &any));
      if (!any) {
        *done = 1;
        break;
      }
      continue;
    }
    if (sl__part_blocked(part))
      break;
    uint64_t start = st->cur;
    if (start < st->boff || start >= st->boff + st->blen)
      SL__CHECK(fill(st, start));
    size_t off = (size_t)(start - st->boff);
    const char *line;
    size_t len;
    uint64_t next;
    if (st->src->blocks) {
      /* the lines of the block that start before the range's end, through the last '\n' */
      size_t lim = st->blen;
      if (st->end < st->boff + lim)
        lim = (size_t)(st->end - st->boff);
      const char *q = lim > off ? memrchr(st->buf + off, '\n', lim - off) : NULL;
      if (q) {
        line = st->buf + off;
        len = (size_t)(q - line) + 1;
        next = start + len;
        part->st->input_bytes += len;
        st->cur = next;
        emitted++;
        bytes += len;
        SL__CHECK(sl_emit(out, NULL, 0, line, len));
        continue;
      }
      if (off > 0 && st->boff + st->blen < st->fsize) {
        SL__CHECK(fill(st, start)); /* re-read so the partial line starts the block */
        continue;
      }
      /* else one line, as in line mode (the file's last, or longer than a block) */
    }
    const char *p = memchr(st->buf + off, '\n', st->blen - off);
    if (p) {
      line = st->buf + off;
      len = (size_t)(p - line);
      next = start + len + 1;
    } else if (st->boff + st->blen >= st->fsize) {
      line = st->buf + off; /* last line of the file, no '\n' */
      len = st->blen - off;
      next = st->fsize;
    } else if (off > 0) {
      SL__CHECK(fill(st, start)); /* re-read so the line starts the block */
      continue;
    } else {
      /* A line longer than a block: assemble it. */
      uint64_t nl = st->fsize;
      st->line.len = 0;
      SL__CHECK(append_line(st, st->buf, st->blen));
      uint64_t from = st->boff + st->blen;
      for (;;) {
        SL__CHECK(fill(st, from));
        const char *q = memchr(st->buf, '\n', st->blen);
        size_t take = q ? (size_t)(q - st->buf) : st->blen;
        SL__CHECK(append_line(st, st->buf, take));
        if (q) {
          nl = st->boff + take;
          break;
        }
        from = st->boff + st->blen;
        if (from >= st->fsize) {
          nl = st->fsize;
          break;
        }
      }
      line = st->line.p;
      len = st->line.len;
      next = nl + 1 > st->fsize ? st->fsize : nl + 1;
    }
    part->st->input_bytes += next - start;
    st->cur = next;
    emitted++;
    bytes += next - start;
    SL__CHECK(sl_emit(out, NULL, 0, line, len));
  }
  if (part->run->ckpt) /* tests (SLUICE_TEST_CKPT_SIGNAL): a stop at a chosen line or block */
    sl__ckpt_test_rows(part->run, (uint64_t)emitted, 0);
  return SL_OK;
}

static void text_close(void *state) {
  text_state *st = state;
  if (!st)
    return;
  if (st->fd >= 0)
    close(st->fd);
  free(st->buf);
  sl__bytes_free(&st->line);
  free(st);
}

static void text_destroy(sl__source *src) {
  text_src *t = src->impl;
  if (!t)
    return;
  for (size_t i = 0; i < t->count; i++)
    free(t->paths[i]);
  free(t->paths);
  free(t->sizes);
  free(t->ids);
  free(t);
  src->impl = NULL;
}

static int text_reads_file(const sl__source *src, unsigned long long dev, unsigned long long ino) {
  const text_src *t = src->impl;
  struct stat sb;
  for (size_t i = 0; i < t->count; i++)
    if (stat(t->paths[i], &sb) == 0 && (unsigned long long)sb.st_dev == dev &&
        (unsigned long long)sb.st_ino == ino)
      return 1;
  return 0;
}

/* sl_flow_describe_run: each file with its size (first 16). */
static void text_describe(const sl__source *src, FILE *out) {
  const text_src *t = src->impl;
  size_t shown = t->count < 16 ? t->count : 16;
  for (size_t i = 0; i < shown; i++)
    fprintf(out, "      %s: %" PRIu64 " bytes\n", t->paths[i], t->sizes ? t->sizes[i] : 0);
  if (shown < t->count)
    fprintf(out, "      ... %zu more\n", t->count - shown);
}

/* The files, one a line (the provenance of outputs; a checkpoint's identity). */
static size_t text_inputs(const sl__source *src, char *buf, size_t cap) {
  const text_src *t = src->impl;
  size_t pos = 0;
  if (cap)
    buf[0] = 0;
  for (size_t i = 0; i < t->count; i++) {
    int w = snprintf(cap > pos ? buf + pos : NULL, cap > pos ? cap - pos : 0, "%s%s", i ? "\n" : "",
                     t->paths[i]);
    if (w < 0)
      break;
    pos += (size_t)w;
  }
  return pos;
}

/* Checkpoints: between two pulls a partition is at a line start: the file and the offset
 * of its next line (or between files). */
typedef struct text_pos {
  uint64_t file, cur;
  int32_t seg_open, pad;
} text_pos;

static int text_snapshot(void *state, sl__bytes *out) {
  const text_state *st = state;
  text_pos pos = {st->file, st->cur, st->seg_open, 0};
  return sl__bytes_append(out, &pos, sizeof pos);
}

static int text_restore(void *state, const void *data, size_t len) {
  text_state *st = state;
  const text_src *t = st->src;
  text_pos pos;
  if (len != sizeof pos)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: a text source's position of %zu bytes", len);
  memcpy(&pos, data, sizeof pos);
  if (pos.file > t->count ||
      (pos.seg_open && (pos.file == t->count || pos.cur > t->sizes[pos.file])))
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: text position (file %llu, byte %llu) outside the inputs",
             (unsigned long long)pos.file, (unsigned long long)pos.cur);
  st->file = 0;
  st->fbase = 0;
  while (st->file < pos.file)
    st->fbase += t->sizes[st->file++];
  if (!pos.seg_open)
    return SL_OK;
  int any = 0;
  SL__CHECK(next_segment(st, &any)); /* opens the file, checks it is the one of prepare */
  if (!any || st->file != pos.file)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: file %llu is outside this partition's range",
             (unsigned long long)pos.file);
  st->cur = pos.cur;
  st->blen = 0; /* read from the saved line on */
  return SL_OK;
}

static const sl__source_vt text_vt = {.name = "text files",
                                      .inputs = text_inputs,
                                      .snapshot = text_snapshot,
                                      .restore = text_restore,
                                      .prepare = text_prepare,
                                      .reads_file = text_reads_file,
                                      .open = text_open,
                                      .pull = text_pull,
                                      .close = text_close,
                                      .destroy = text_destroy,
                                      .describe = text_describe};

int sl__source_text(sl__source *src, const char *const *paths, size_t count) {
  text_src *t = calloc(1, sizeof *t);
  SL__CHECK_ALLOC(t);
  t->count = count;
  t->paths = calloc(count ? count : 1, sizeof *t->paths);
  t->sizes = calloc(count ? count : 1, sizeof *t->sizes);
  t->ids = calloc(count ? count : 1, sizeof *t->ids);
  src->vt = &text_vt;
  src->impl = t;
  if (!t->paths || !t->sizes || !t->ids)
    SL__FAIL(SL_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < count; i++) {
    if (!paths[i])
      SL__FAIL(SL_ERR_INVAL, "sl_flow_from_text_files: path %zu is NULL", i);
    t->paths[i] = strdup(paths[i]);
    SL__CHECK_ALLOC(t->paths[i]);
  }
  return SL_OK;
}

int sl_flow_from_text_blocks(sl_flow *flow, const char *const *paths, size_t count,
                             int partitions) {
  SL__CHECK(sl_flow_from_text_files(flow, paths, count, partitions));
  ((text_src *)flow->stages[0].source.impl)->blocks = 1;
  return SL_OK;
}

int sl_flow_from_text_files(sl_flow *flow, const char *const *paths, size_t count, int partitions) {
  if (!paths && count)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_text_files: NULL paths");
  SL__CHECK(sl__flow_begin_source(flow, partitions, "sl_flow_from_text_files"));
  return sl__builder_fail(flow, sl__source_text(&flow->stages[0].source, paths, count));
}
