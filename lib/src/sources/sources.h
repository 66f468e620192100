/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: constructors of the built-in sources. */
#ifndef SLUICE_SOURCES_H
#define SLUICE_SOURCES_H

#include "plan/builder.h"

int sl__source_range(sl__source *src, int64_t first, int64_t last);
int sl__source_generator(sl__source *src, int64_t n, sl_generate_fn fn, void *arg);
int sl__source_array(sl__source *src, const sl_record *records, size_t count);
int sl__source_callback(sl__source *src, sl_source_fn fn, void *arg);
int sl__source_text(sl__source *src, const char *const *paths, size_t count);

/* ---- input files (input.c) ----
 * What an input file was when the job started: rank 0's view at prepare (size,
 * modification time, inode; broadcast), and the device number as this rank first saw it. */
struct stat;
typedef struct sl__input_id {
  uint64_t size, mtime_s, mtime_ns, ino;
  uint64_t dev;
  int have_dev;
} sl__input_id;
/* "directory", "FIFO", "character device", ... for st_mode. */
const char *sl__input_kind(unsigned mode);
/* The error for an input that cannot be stat'ed or opened (errno e): SL_ERR_NOTFOUND or
 * SL_ERR_USAGE (exit 2) for a missing or unreadable one, else SL_ERR_IO. what: text after
 * the path in the message ("" or e.g. " (dataset '/x')"). */
int sl__input_open_error(const char *path, const char *what, int e);
/* The error for an input that is not a regular file: SL_ERR_FORMAT for a directory,
 * SL_ERR_USAGE (exit 2) for a FIFO, device or socket. */
int sl__input_not_regular(const char *path, unsigned mode);
void sl__input_id_set(sl__input_id *id, const struct stat *sb);
/* Collective: rank 0's identities to every rank. */
int sl__input_id_bcast(sl__input_id *ids, size_t n, int rank, MPI_Comm comm);
/* SL_OK when sb (or stat(path)) shows the file as it was; else SL_ERR_IO naming the file
 * and what changed (expected vs found). */
int sl__input_id_check(const char *path, sl__input_id *id, const struct stat *sb);
int sl__input_id_check_path(const char *path, sl__input_id *id);

/* Records a source emits per pull call before it returns to the event loop. */
#define SL__PULL_RECORDS 4096

/* The i-th of n equal shares of [0, total): [*lo, *hi). */
static inline void sl__share(uint64_t total, int i, int n, uint64_t *lo, uint64_t *hi) {
  *lo = (uint64_t)((unsigned __int128)total * (unsigned)i / (unsigned)n);
  *hi = (uint64_t)((unsigned __int128)total * (unsigned)(i + 1) / (unsigned)n);
}

#endif
