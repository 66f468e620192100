/* SPDX-License-Identifier: BSD-3-Clause */
/* A source's fast path for fixed-size rows (HDF5 tables): one call per block instead of
 * one sl_emit per row. The records are the same as sl_emit would make; only the checks
 * that cannot fail (lengths, NULL data) and the blocked tests that cannot change are left
 * out. */
#include "engine/rows.h"

int sl__rows_unbounded(const sl__part *p) {
  return p->nsteps == 0 && !p->out && p->flush_step < 0 && !p->run->sink_blocked;
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
  } else if (sl__rows_unbounded(p)) {
    /* straight into the sink: nothing can block or flush between two rows */
    for (; i < n; i++, idx++) {
      r.value = rows + i * row_size;
      rc = run->sink_push(run->sink_impl, p, &r);
      if (rc != SL_OK)
        break;
    }
    p->st->records_out += i;
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
