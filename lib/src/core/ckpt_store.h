/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the checkpoint store (issue 12), the files of a checkpoint directory.
 *
 *   DIR/manifest            what the committed checkpoint is: a text file of "key value"
 *                           lines (the epoch, the plan's fingerprint, the command line, the
 *                           inputs, ranks, partitions), ended by a line with the CRC of the
 *                           lines above it
 *   DIR/epoch-N/rank-R.part one rank's snapshot for epoch N: sections of (tag, stage,
 *                           partition, step, bytes), each with its CRC, then a trailer with
 *                           the size and CRC of all before it (a part file checks itself)
 *
 * Commit protocol (what makes a kill at any moment harmless): every rank writes its part
 * file for the new epoch and fsyncs it and its directory; the ranks agree that all did
 * (the caller's collective); then rank 0 writes manifest.tmp, fsyncs it, renames it over
 * manifest and fsyncs DIR: that rename is the commit. Only then is the previous epoch's
 * folder removed. Before the rename the previous manifest names the previous epoch, whose
 * files are still there; after it the new one is whole. A torn or foreign manifest fails
 * its CRC and is refused, never half-read.
 *
 * Nothing here is collective: the engine calls these on the ranks the protocol says. */
#ifndef SLUICE_CKPT_STORE_H
#define SLUICE_CKPT_STORE_H

#include <stddef.h>
#include <stdint.h>

/* One "key value" line of a manifest (values have no newline; keys no space). */
typedef struct sl__ckpt_kv {
  char *key, *value;
} sl__ckpt_kv;

typedef struct sl__ckpt_manifest {
  uint64_t epoch;
  sl__ckpt_kv *kv;
  size_t n, cap;
} sl__ckpt_manifest;

/* Add a line (copied). A key given twice keeps both lines, in order. */
int sl__ckpt_manifest_add(sl__ckpt_manifest *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The value of key, or NULL. */
const char *sl__ckpt_manifest_get(const sl__ckpt_manifest *m, const char *key);
void sl__ckpt_manifest_free(sl__ckpt_manifest *m);

/* Rank 0's commit: write m (m->epoch is the epoch) as DIR/manifest through manifest.tmp,
 * fsync, rename, fsync DIR; then remove the folders of older epochs. */
int sl__ckpt_commit(const char *dir, const sl__ckpt_manifest *m);
/* Load DIR/manifest: *found 0 when DIR holds no manifest (m untouched); a manifest that
 * cannot be parsed or fails its CRC is an error naming the file. */
int sl__ckpt_load(const char *dir, sl__ckpt_manifest *m, int *found);
/* The first key of `want` whose value differs in `have` (or is missing there): 1 and a
 * line "KEY was 'A', now 'B'" in why; 0 when every key of want matches. */
int sl__ckpt_manifest_diff(const sl__ckpt_manifest *have, const sl__ckpt_manifest *want, char *why,
                           size_t cap);
/* Remove DIR's manifest, epoch folders and their files (after a successful run); DIR
 * itself is removed when empty. */
int sl__ckpt_remove(const char *dir);

/* ---- one rank's part file ---- */
typedef struct sl__ckpt_writer sl__ckpt_writer;
/* Create DIR/epoch-N/rank-R.part (the folder too), replacing a leftover of an earlier try. */
int sl__ckpt_part_create(const char *dir, uint64_t epoch, int rank, sl__ckpt_writer **w);
/* One section: tag (what it is), where (stage, partition, step; -1 where none), n bytes. */
int sl__ckpt_put(sl__ckpt_writer *w, uint32_t tag, int stage, int part, int step, const void *p,
                 size_t n);
/* Write the end and the trailer, fsync the file and its folder, close; the file's size in
 * *bytes. Frees w also on failure (the file is then removed). */
int sl__ckpt_part_finish(sl__ckpt_writer *w, uint64_t *bytes);
/* Drop an unfinished part (a failure elsewhere): the file is removed. NULL is fine. */
void sl__ckpt_part_abandon(sl__ckpt_writer *w);

typedef struct sl__ckpt_section {
  uint32_t tag;
  int stage, part, step;
  char *data; /* owned by the reader until the next call */
  size_t len;
} sl__ckpt_section;
typedef struct sl__ckpt_reader sl__ckpt_reader;
/* Open a part file and check it whole against its trailer (size and CRC). */
int sl__ckpt_part_open(const char *dir, uint64_t epoch, int rank, sl__ckpt_reader **r);
/* The next section: 1, or 0 at the end. */
int sl__ckpt_next(sl__ckpt_reader *r, sl__ckpt_section *s, int *more);
void sl__ckpt_part_close(sl__ckpt_reader *r);

/* CRC-32C (Castagnoli) of n bytes, continuing from crc (0 to start): with SSE4.2 where
 * the CPU has it (crc32c.c). sl__crc32c_sw: the portable loop, for tests. */
uint32_t sl__crc32c(uint32_t crc, const void *p, size_t n);
uint32_t sl__crc32c_sw(uint32_t crc, const void *p, size_t n);

#endif
