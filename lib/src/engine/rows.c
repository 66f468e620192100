/* SPDX-License-Identifier: BSD-3-Clause */
/* A source's fast path for fixed-size rows (HDF5 tables): one call per block instead of
 * one sl_emit per row. The records are the same as sl_emit would make; only the checks
 * that cannot fail (lengths, NULL data) and the blocked tests that cannot change are left
 * out. A first step with a block hook (engine/op.h, push_block) takes the rows as one block;
 * sl__push_block passes a block on, split into records where the next step has no hook. */
#include "engine/rows.h"

#include <string.h>

#include "engine/op.h"

int sl__rows_unbounded(const sl__part *p) {
  return p->nsteps == 0 && !p->out && p->flush_step < 0 && !p->run->sink_blocked;
}

int sl__rows_to_sink(const sl__part *p) {
  return p->nsteps == 0 && !p->out && p->flush_step < 0 && p->pending_step < 0 &&
         p->run->sink->push_rows;
}

/* The rows of b as records into step i (or the output), without blocked tests: the block
 * is bounded (one read block), like the records of one flat_map call. */
static int split(sl__part *p, int i, const sl_block *b) {
  uint64_t idx = b->first_row;
  sl_record r = {b->with_index ? &idx : NULL, b->with_index ? 8 : 0, b->rows, b->row_size};
  const char *rows = b->rows;
  for (size_t k = 0; k < b->nrows; k++, idx++) {
    r.value = rows + k * b->row_size;
    SL__CHECK(sl__push(p, i, &r));
  }
  return SL_OK;
}

int sl__push_block(sl__part *p, int i, const sl_block *b) {
  if (i < p->nsteps && p->steps[i].op->push_block)
    return p->steps[i].op->push_block(p, i, b);
  sl__run *run = p->run;
  if (i == p->nsteps && !p->out && p->flush_step < 0 && !run->sink_blocked &&
      run->sink->count_rows && run->sink->count_rows(run->sink_impl, p, b->nrows)) {
    p->st->records_out += b->nrows; /* a count sink takes the block at once */
    return SL_OK;
  }
  return split(p, i, b);
}

void sl__record_block(const sl__part *p, int i, const sl_record *rec, sl_block *b) {
  const sl_h5_layout *l = p->row_layout;
  for (int k = 0; l && k < i; k++)
    if (!(p->steps[k].step->flags & SL__OPF_KEEPS_ROWS))
      l = NULL; /* a step before may have changed the value */
  if (l && rec->value_len != sl_h5_layout_row_size(l))
    l = NULL;
  b->rows = rec->value;
  b->nrows = 1;
  b->row_size = rec->value_len;
  b->layout = l;
  b->with_index = rec->key_len == 8;
  b->first_row = 0;
  if (b->with_index)
    memcpy(&b->first_row, rec->key, 8);
}

int sl__push_rows(sl__part *p, const char *rows, size_t n, size_t row_size, int with_index,
                  uint64_t idx0, size_t *pushed) {
  uint64_t idx = idx0;
  sl_record r = {with_index ? &idx : NULL, with_index ? 8 : 0, rows, row_size};
  size_t i = 0;
  int rc = SL_OK;
  sl__run *run = p->run;
  if (sl__rows_unbounded(p) && run->sink->count_rows &&
      run->sink->count_rows(run->sink_impl, p, n)) {
    i = n; /* a count sink takes the block at once */
    p->st->records_out += n;
  } else if (sl__rows_to_sink(p)) {
    /* the sink copies the rows it has room for at once */
    rc = run->sink->push_rows(run->sink_impl, p, rows, n, row_size, &i);
    p->st->records_out += i;
  } else if (sl__rows_unbounded(p)) {
    /* straight into the sink: nothing can block or flush between two rows */
    for (; i < n; i++, idx++) {
      r.value = rows + i * row_size;
      rc = run->sink_push(run->sink_impl, p, &r);
      if (rc != SL_OK)
        break;
    }
    p->st->records_out += i;
  } else if (p->nsteps > 0 && p->steps[0].op->push_block) {
    /* the whole block to a block operator, unless the partition is held back */
    if (n > 0 && !sl__part_blocked(p)) {
      sl_block b = {rows, n, row_size, p->row_layout, idx0, with_index};
      rc = p->steps[0].op->push_block(p, 0, &b);
      i = n;
    }
  } else {
    for (; i < n; i++, idx++) {
      if (sl__part_blocked(p))
        break;
      r.value = rows + i * row_size;
      rc = sl__push(p, 0, &r);
      if (rc != SL_OK)
        break;
    }
  }
  *pushed = i;
  return rc;
}
