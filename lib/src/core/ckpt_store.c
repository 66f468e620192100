/* SPDX-License-Identifier: BSD-3-Clause */
/* The checkpoint store: a checkpoint directory's manifest and part files, committed by one
 * rename (see ckpt_store.h for the protocol and why a kill at any moment is harmless). */
#define _GNU_SOURCE
#include "core/ckpt_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

#define MANIFEST_HEAD "sluice-checkpoint 1"
#define PART_MAGIC "SLCKPT2\n" /* 2: CRC-32C */
#define TAG_END 0xFFFFFFFFu
#define TRAILER_MAGIC "SLCKEND\n"

/* The last bytes of a part file: what a reader checks before it parses anything. */
typedef struct trailer {
  char magic[8];
  uint64_t bytes; /* everything before the trailer */
  uint32_t crc;   /* of those bytes */
  uint32_t pad;
} trailer;
#define WBUF (1u << 20)

/* ---- the manifest ---- */

int sl__ckpt_manifest_add(sl__ckpt_manifest *m, const char *key, const char *fmt, ...) {
  if (m->n == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 32;
    sl__ckpt_kv *kv = realloc(m->kv, cap * sizeof *kv);
    SL__CHECK_ALLOC(kv);
    m->kv = kv;
    m->cap = cap;
  }
  va_list ap;
  va_start(ap, fmt);
  char *v = NULL;
  int len = vasprintf(&v, fmt, ap);
  va_end(ap);
  char *k = strdup(key);
  if (len < 0 || !k) {
    free(k);
    if (len >= 0)
      free(v);
    SL__CHECK_ALLOC(NULL);
  }
  for (char *c = v; *c; c++) /* one line a key: a newline in a value (a command line) */
    if (*c == '\n' || *c == '\r')
      *c = ' ';
  m->kv[m->n++] = (sl__ckpt_kv){k, v};
  return SL_OK;
}

const char *sl__ckpt_manifest_get(const sl__ckpt_manifest *m, const char *key) {
  for (size_t i = 0; i < m->n; i++)
    if (!strcmp(m->kv[i].key, key))
      return m->kv[i].value;
  return NULL;
}

void sl__ckpt_manifest_free(sl__ckpt_manifest *m) {
  for (size_t i = 0; m && i < m->n; i++) {
    free(m->kv[i].key);
    free(m->kv[i].value);
  }
  if (m) {
    free(m->kv);
    *m = (sl__ckpt_manifest){0};
  }
}

int sl__ckpt_manifest_diff(const sl__ckpt_manifest *have, const sl__ckpt_manifest *want, char *why,
                           size_t cap) {
  for (size_t i = 0; i < want->n; i++) {
    const char *h = sl__ckpt_manifest_get(have, want->kv[i].key);
    if (!h || strcmp(h, want->kv[i].value)) {
      snprintf(why, cap, "%s was '%s', now '%s'", want->kv[i].key, h ? h : "(none)",
               want->kv[i].value);
      return 1;
    }
  }
  return 0;
}

static int path_of(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int path_of(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= cap)
    SL__FAIL(SL_ERR_INVAL, "checkpoint path too long: '%s...'", buf);
  return SL_OK;
}

/* Remove DIR/epoch-N/ (its files, then itself); a folder already gone is fine. */
static int remove_epoch_dir(const char *dir, const char *name) {
  char d[4096], f[4400];
  SL__CHECK(path_of(d, sizeof d, "%s/%s", dir, name));
  DIR *h = opendir(d);
  if (!h)
    return errno == ENOENT ? SL_OK : SL_ERR_IO;
  struct dirent *e;
  int rc = SL_OK;
  while ((e = readdir(h)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    if (path_of(f, sizeof f, "%s/%s", d, e->d_name) != SL_OK || unlink(f) != 0)
      rc = SL_ERR_IO;
  }
  closedir(h);
  if (rmdir(d) != 0 && errno != ENOENT)
    rc = SL_ERR_IO;
  return rc;
}

/* Remove every epoch folder of DIR but `keep` (UINT64_MAX: all). */
static int remove_epochs(const char *dir, uint64_t keep) {
  DIR *h = opendir(dir);
  if (!h)
    return errno == ENOENT ? SL_OK : SL_ERR_IO;
  struct dirent *e;
  int rc = SL_OK;
  while ((e = readdir(h)) != NULL) {
    unsigned long long n;
    char tail;
    if (sscanf(e->d_name, "epoch-%llu%c", &n, &tail) != 1 || (uint64_t)n == keep)
      continue;
    if (remove_epoch_dir(dir, e->d_name) != SL_OK)
      rc = SL_ERR_IO;
  }
  closedir(h);
  return rc;
}

int sl__ckpt_commit(const char *dir, const sl__ckpt_manifest *m) {
  sl__bytes b = {0};
  char line[256], tmp[4096], fin[4096];
  snprintf(line, sizeof line, "%s\nepoch %llu\n", MANIFEST_HEAD, (unsigned long long)m->epoch);
  int rc = sl__bytes_append(&b, line, strlen(line));
  for (size_t i = 0; rc == SL_OK && i < m->n; i++) {
    rc = sl__bytes_append(&b, m->kv[i].key, strlen(m->kv[i].key));
    if (rc == SL_OK)
      rc = sl__bytes_append(&b, " ", 1);
    if (rc == SL_OK)
      rc = sl__bytes_append(&b, m->kv[i].value, strlen(m->kv[i].value));
    if (rc == SL_OK)
      rc = sl__bytes_append(&b, "\n", 1);
  }
  if (rc == SL_OK) {
    snprintf(line, sizeof line, "crc %08x\n", (unsigned)sl__crc32c(0, b.p, b.len));
    rc = sl__bytes_append(&b, line, strlen(line));
  }
  if (rc == SL_OK)
    rc = path_of(tmp, sizeof tmp, "%s/manifest.tmp", dir);
  if (rc == SL_OK)
    rc = path_of(fin, sizeof fin, "%s/manifest", dir);
  if (rc != SL_OK) {
    sl__bytes_free(&b);
    return rc;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    sl__bytes_free(&b);
    SL__FAIL(SL_ERR_IO, "cannot create the checkpoint manifest '%s': %s", tmp, strerror(e));
  }
  rc = sl__write_all(fd, b.p, b.len, "the checkpoint manifest");
  sl__bytes_free(&b);
  if (rc == SL_OK && fsync(fd) != 0)
    rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__,
                       "cannot sync the checkpoint manifest '%s': %s", tmp, strerror(errno));
  if (close(fd) != 0 && rc == SL_OK)
    rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__,
                       "cannot close the checkpoint manifest '%s': %s", tmp, strerror(errno));
  if (rc == SL_OK && rename(tmp, fin) != 0)
    rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot rename '%s' to '%s': %s", tmp, fin,
                       strerror(errno));
  if (rc != SL_OK) {
    unlink(tmp);
    return rc;
  }
  SL__CHECK(sl__fsync_dir(fin));
  /* committed: the older epochs are garbage now (a failure to remove them is harmless) */
  (void)remove_epochs(dir, m->epoch);
  return SL_OK;
}

int sl__ckpt_load(const char *dir, sl__ckpt_manifest *m, int *found) {
  char path[4096];
  *found = 0;
  SL__CHECK(path_of(path, sizeof path, "%s/manifest", dir));
  FILE *f = fopen(path, "re");
  if (!f) {
    if (errno == ENOENT || errno == ENOTDIR)
      return SL_OK;
    SL__FAIL(SL_ERR_IO, "cannot open the checkpoint manifest '%s': %s", path, strerror(errno));
  }
  sl__ckpt_manifest got = {0};
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  uint32_t crc = 0;
  int rc = SL_OK, ended = 0, have_epoch = 0;
  ssize_t n;
  while (rc == SL_OK && (n = getline(&line, &cap, f)) > 0) {
    lineno++;
    if (ended) {
      rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                         "checkpoint manifest '%s' line %zu: expected the end after the crc line",
                         path, lineno);
      break;
    }
    if (!strncmp(line, "crc ", 4)) {
      unsigned want;
      if (sscanf(line + 4, "%8x", &want) != 1 || want != crc)
        rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                           "checkpoint manifest '%s' is damaged: its CRC does not match its lines "
                           "(expected %08x, found %.8s)",
                           path, (unsigned)crc, line + 4);
      ended = 1;
      continue;
    }
    if (line[n - 1] != '\n') { /* cut in the middle of a line */
      rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                         "checkpoint manifest '%s' is incomplete: line %zu has no end", path,
                         lineno);
      break;
    }
    crc = sl__crc32c(crc, line, (size_t)n);
    line[n - 1] = '\0';
    if (lineno == 1) {
      if (strcmp(line, MANIFEST_HEAD))
        rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                           "'%s' is not a sluice checkpoint manifest: expected '%s' on line 1, "
                           "found '%.60s'",
                           path, MANIFEST_HEAD, line);
      continue;
    }
    char *sp = strchr(line, ' ');
    if (!sp) {
      rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                         "checkpoint manifest '%s' line %zu: expected 'key value', found '%.60s'",
                         path, lineno, line);
      break;
    }
    *sp = '\0';
    if (!strcmp(line, "epoch")) {
      char *end;
      got.epoch = strtoull(sp + 1, &end, 10);
      have_epoch = *end == '\0';
      continue;
    }
    rc = sl__ckpt_manifest_add(&got, line, "%s", sp + 1);
  }
  free(line);
  fclose(f);
  if (rc == SL_OK && (!ended || !have_epoch))
    rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                       "checkpoint manifest '%s' is incomplete: expected %s, found the end of "
                       "the file",
                       path, have_epoch ? "its crc line" : "an epoch line");
  if (rc != SL_OK) {
    sl__ckpt_manifest_free(&got);
    return rc;
  }
  *m = got;
  *found = 1;
  return SL_OK;
}

int sl__ckpt_remove(const char *dir) {
  char path[4096];
  int rc = remove_epochs(dir, UINT64_MAX);
  SL__CHECK(path_of(path, sizeof path, "%s/manifest", dir));
  if (unlink(path) != 0 && errno != ENOENT)
    rc = SL_ERR_IO;
  SL__CHECK(path_of(path, sizeof path, "%s/manifest.tmp", dir));
  (void)unlink(path);
  if (rmdir(dir) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
    rc = SL_ERR_IO;
  if (rc != SL_OK)
    SL__FAIL(SL_ERR_IO, "cannot remove the checkpoint in '%s'", dir);
  return SL_OK;
}

/* ---- part files ---- */

struct sl__ckpt_writer {
  int fd;
  char path[4096];
  sl__bytes buf;
  uint64_t bytes;
  uint32_t crc;
};

struct sl__ckpt_reader {
  int fd;
  char path[4096];
  uint64_t off, size;
  char *data;
};

/* A section's header: tag, stage, partition, step, length (the CRC follows the data). */
typedef struct sec_head {
  uint32_t tag;
  int32_t stage, part, step;
  uint64_t len;
} sec_head;

static int wflush(sl__ckpt_writer *w) {
  if (!w->buf.len)
    return SL_OK;
  SL__CHECK(sl__write_all(w->fd, w->buf.p, w->buf.len, w->path));
  w->buf.len = 0;
  return SL_OK;
}

static int wput(sl__ckpt_writer *w, const void *p, size_t n) {
  w->crc = sl__crc32c(w->crc, p, n);
  w->bytes += n;
  if (n >= WBUF) { /* a large section goes straight out */
    SL__CHECK(wflush(w));
    return sl__write_all(w->fd, p, n, w->path);
  }
  if (w->buf.len + n > WBUF)
    SL__CHECK(wflush(w));
  return sl__bytes_append(&w->buf, p, n);
}

int sl__ckpt_part_create(const char *dir, uint64_t epoch, int rank, sl__ckpt_writer **wp) {
  char d[4096];
  *wp = NULL;
  SL__CHECK(path_of(d, sizeof d, "%s/epoch-%llu", dir, (unsigned long long)epoch));
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    SL__FAIL(SL_ERR_IO, "cannot create the checkpoint directory '%s': %s", dir, strerror(errno));
  if (mkdir(d, 0755) != 0 && errno != EEXIST)
    SL__FAIL(SL_ERR_IO, "cannot create '%s': %s", d, strerror(errno));
  sl__ckpt_writer *w = calloc(1, sizeof *w);
  SL__CHECK_ALLOC(w);
  w->fd = -1;
  int rc = path_of(w->path, sizeof w->path, "%s/rank-%d.part", d, rank);
  if (rc == SL_OK) {
    w->fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0)
      rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__,
                         "cannot create the checkpoint file '%s': %s", w->path, strerror(errno));
  }
  if (rc == SL_OK)
    rc = wput(w, PART_MAGIC, 8);
  if (rc != SL_OK) {
    if (w->fd >= 0)
      sl__ckpt_part_abandon(w);
    else
      free(w);
    return rc;
  }
  *wp = w;
  return SL_OK;
}

int sl__ckpt_put(sl__ckpt_writer *w, uint32_t tag, int stage, int part, int step, const void *p,
                 size_t n) {
  sec_head h = {tag, stage, part, step, n};
  uint32_t c = sl__crc32c(sl__crc32c(0, &h, sizeof h), p, n);
  SL__CHECK(wput(w, &h, sizeof h));
  if (n)
    SL__CHECK(wput(w, p, n));
  return wput(w, &c, sizeof c);
}

int sl__ckpt_part_finish(sl__ckpt_writer *w, uint64_t *bytes) {
  int rc = sl__ckpt_put(w, TAG_END, -1, -1, -1, NULL, 0);
  trailer t = {{0}, w->bytes, w->crc, 0};
  memcpy(t.magic, TRAILER_MAGIC, sizeof t.magic);
  if (rc == SL_OK)
    rc = wflush(w);
  if (rc == SL_OK)
    rc = sl__write_all(w->fd, &t, sizeof t, w->path);
  if (rc == SL_OK && fsync(w->fd) != 0)
    rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot sync the checkpoint file '%s': %s",
                       w->path, strerror(errno));
  if (close(w->fd) != 0 && rc == SL_OK)
    rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot close the checkpoint file '%s': %s",
                       w->path, strerror(errno));
  w->fd = -1;
  if (rc == SL_OK)
    rc = sl__fsync_dir(w->path);
  if (rc != SL_OK) {
    sl__ckpt_part_abandon(w);
    return rc;
  }
  *bytes = w->bytes + sizeof t;
  sl__bytes_free(&w->buf);
  free(w);
  return SL_OK;
}

void sl__ckpt_part_abandon(sl__ckpt_writer *w) {
  if (!w)
    return;
  if (w->fd >= 0)
    close(w->fd);
  unlink(w->path);
  sl__bytes_free(&w->buf);
  free(w);
}

int sl__ckpt_part_open(const char *dir, uint64_t epoch, int rank, sl__ckpt_reader **rp) {
  *rp = NULL;
  sl__ckpt_reader *r = calloc(1, sizeof *r);
  SL__CHECK_ALLOC(r);
  r->fd = -1;
  int rc = path_of(r->path, sizeof r->path, "%s/epoch-%llu/rank-%d.part", dir,
                   (unsigned long long)epoch, rank);
  struct stat st;
  if (rc == SL_OK && ((r->fd = open(r->path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(r->fd, &st) != 0))
    rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot open the checkpoint file '%s': %s",
                       r->path, strerror(errno));
  trailer t = {{0}, 0, 0, 0};
  uint64_t bytes = 0;
  uint32_t crc = 0;
  if (rc == SL_OK && (uint64_t)st.st_size < 8 + sizeof t)
    rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                       "checkpoint file '%s' is damaged: %llu bytes, too short for one", r->path,
                       (unsigned long long)st.st_size);
  if (rc == SL_OK)
    rc = sl__pread_all(r->fd, &t, sizeof t, (uint64_t)st.st_size - sizeof t, r->path);
  if (rc == SL_OK) {
    bytes = (uint64_t)st.st_size - sizeof t;
    crc = t.crc;
    if (memcmp(t.magic, TRAILER_MAGIC, 8) || t.bytes != bytes)
      rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                         "checkpoint file '%s' is damaged: its trailer says %llu bytes, found "
                         "%llu",
                         r->path, (unsigned long long)t.bytes, (unsigned long long)bytes);
  }
  /* the whole file's CRC first, in pieces: a section is parsed only from a file known whole */
  uint32_t c = 0;
  char *chunk = rc == SL_OK ? malloc(WBUF) : NULL;
  if (rc == SL_OK && !chunk)
    rc = sl__error_nomem(__FILE__, __LINE__, "a checkpoint read buffer", WBUF, NULL);
  for (uint64_t off = 0; rc == SL_OK && off < bytes;) {
    size_t n = bytes - off < WBUF ? (size_t)(bytes - off) : WBUF;
    rc = sl__pread_all(r->fd, chunk, n, off, r->path);
    c = sl__crc32c(c, chunk, n);
    off += n;
  }
  if (rc == SL_OK && c != crc)
    rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                       "checkpoint file '%s' is damaged: its CRC is %08x, its trailer says %08x",
                       r->path, (unsigned)c, (unsigned)crc);
  if (rc == SL_OK) {
    char magic[8];
    rc = sl__pread_all(r->fd, magic, 8, 0, r->path);
    if (rc == SL_OK && memcmp(magic, PART_MAGIC, 8))
      rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__, "'%s' is not a sluice checkpoint file",
                         r->path);
  }
  free(chunk);
  if (rc != SL_OK) {
    sl__ckpt_part_close(r);
    return rc;
  }
  r->off = 8;
  r->size = bytes;
  *rp = r;
  return SL_OK;
}

int sl__ckpt_next(sl__ckpt_reader *r, sl__ckpt_section *s, int *more) {
  sec_head h;
  uint32_t c;
  *more = 0;
  free(r->data);
  r->data = NULL;
  if (r->off + sizeof h > r->size)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint file '%s' ends without its end mark (at byte %llu)",
             r->path, (unsigned long long)r->off);
  SL__CHECK(sl__pread_all(r->fd, &h, sizeof h, r->off, r->path));
  if (h.len > r->size - r->off - sizeof h || r->size - r->off - sizeof h - h.len < sizeof c)
    SL__FAIL(SL_ERR_FORMAT,
             "checkpoint file '%s': a section at byte %llu claims %llu bytes, more "
             "than the file holds",
             r->path, (unsigned long long)r->off, (unsigned long long)h.len);
  r->data = malloc(h.len ? h.len : 1);
  SL__CHECK_ALLOC_FOR(r->data, "a checkpoint section", h.len, NULL);
  SL__CHECK(sl__pread_all(r->fd, r->data, h.len, r->off + sizeof h, r->path));
  SL__CHECK(sl__pread_all(r->fd, &c, sizeof c, r->off + sizeof h + h.len, r->path));
  if (c != sl__crc32c(sl__crc32c(0, &h, sizeof h), r->data, h.len))
    SL__FAIL(SL_ERR_FORMAT, "checkpoint file '%s': the section at byte %llu fails its CRC", r->path,
             (unsigned long long)r->off);
  r->off += sizeof h + h.len + sizeof c;
  if (h.tag == TAG_END)
    return SL_OK;
  *s = (sl__ckpt_section){h.tag, h.stage, h.part, h.step, r->data, h.len};
  *more = 1;
  return SL_OK;
}

void sl__ckpt_part_close(sl__ckpt_reader *r) {
  if (!r)
    return;
  if (r->fd >= 0)
    close(r->fd);
  free(r->data);
  free(r);
}
