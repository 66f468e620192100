/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: a source's fast path for fixed-size rows (see rows.c). */
#ifndef SLUICE_ROWS_H
#define SLUICE_ROWS_H

#include "engine/engine.h"

/* Push up to n rows of row_size bytes, row i at rows + i * row_size, into partition p's
 * first step (what sl_emit(&p->em[0], ...) does for each), with the key empty or, when
 * with_index, the 8-byte native uint64 idx0 + i. Stops before a row when the partition
 * is blocked (sl__part_blocked), exactly as a source's own loop would. *pushed: the rows
 * taken (also on failure: the rows before the failing one). A source that emits rows
 * from a buffer calls this instead of sl_emit per row: no argument checks and no
 * per-row blocked test where nothing downstream can block (no steps, a sink without a
 * blocked hook). When step 0 has a block hook (engine/op.h) and the partition is not held
 * back, the n rows go to it as one block (p->row_layout their layout). */
int sl__push_rows(sl__part *p, const char *rows, size_t n, size_t row_size, int with_index,
                  uint64_t idx0, size_t *pushed);

/* Pass block b on to step i (i == p->nsteps: the stage's output): as a block to a step
 * with a block hook, else as its records (the same as sl__push_rows makes), one by one; a
 * count sink takes it at once. No blocked tests inside a block. */
int sl__push_block(sl__part *p, int i, const sl_block *b);

/* A record that reached block step i as a one-row block: the source's layout when every
 * step before i keeps rows (SL__OPF_KEEPS_ROWS) and the length fits, else none; the row
 * index from an 8-byte key. */
void sl__record_block(const sl__part *p, int i, const sl_record *rec, sl_block *b);

/* May sl__push_rows take a whole block in one call (nothing per-record can block or be
 * slow: no steps, no stage output, a sink that never blocks)? */
int sl__rows_unbounded(const sl__part *p);

/* Does sl__push_rows hand rows to the sink in one call (its push_rows hook: no steps, no
 * stage output, nothing held)? The sink takes what it has room for, so a source may offer
 * it a whole block. */
int sl__rows_to_sink(const sl__part *p);

#endif
