/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice: blocks of fixed-size rows, and the statistics that consume them a column at a time
 * (see docs/api.md, "Blocks of rows", and docs/architecture.md, "Blocks and records").
 *
 * A source of fixed-size rows (sl_flow_from_h5) hands its rows out in blocks: a pointer to
 * nrows packed rows of row_size bytes each, their layout (field names, offsets, types, CF
 * decoding) and the global index of the first row. A block operator (sl_flow_each_block,
 * sl_flow_map_block) gets the whole block in one call, so user code can run a tight loop
 * over one field (sl_block_column, sl_block_column_f64) instead of one call per record.
 * Blocks and records mix freely in one flow: a block that reaches a per-record step is split
 * into the records the source would have emitted (same key, same value), and a record that
 * reaches a block operator is handed over as a block of one row. Backpressure and memory
 * bounds are those of records: a block is at most one read block of the source, and a
 * partition that is held back takes no block.
 *
 * The statistics (sl_moments_*, sl_hist_*) are plain local functions over arrays of doubles:
 * count, NaN and infinity counts, min, max, mean and variance (a two-pass mean and sum of
 * squared deviations per chunk, merged with Chan, Golub and LeVeque's formula: numerically
 * sound), and histograms, in loops the compiler unrolls or vectorizes. */
#ifndef SLUICE_SL_BLOCK_H
#define SLUICE_SL_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/sl_export.h"
#include "sluice/sl_flow.h"
#include "sluice/sl_h5.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A block of rows. Valid only during the call that receives it (do not keep the pointers). */
typedef struct sl_block {
  const void *rows;           /* row r at (const char *)rows + r * row_size */
  size_t nrows;               /* >= 1 */
  size_t row_size;            /* bytes per row */
  const sl_h5_layout *layout; /* the rows' fields; NULL when unknown (a record that did not
                                 come unchanged from a source of rows) */
  uint64_t first_row;         /* global index of row 0 (the source's row numbering; with a
                                 one-row block from a record: its 8-byte key, else 0) */
  int with_index;             /* the records of these rows carry the row index as key */
} sl_block;

/* One field of a block, as a strided column: value r at base + r * stride. */
typedef struct sl_block_col {
  const char *base;
  size_t stride;     /* the row size */
  size_t n;          /* rows */
  sl_h5_field field; /* class, size, offset, name, CF decoding */
} sl_block_col;

/* Field `field` (an index into the layout) of a block as a strided column. Local.
 * SL_ERR_INVAL: NULL argument, no layout, or field out of range. */
SL_EXPORT int sl_block_column(const sl_block *block, size_t field, sl_block_col *col);

/* Rows [start, start + n) of a numeric column converted to double into out[0..n): the
 * decoded values of sl_h5_get_f64 (CF: unpacked; NaN when missing). When missing is not
 * NULL, missing[i] is set to 1 where the stored value is missing under the field's CF
 * decoding (sl_h5_is_missing), else 0, and *nmissing (when not NULL) counts them. Local.
 * SL_ERR_INVAL: NULL column or out, a range past the column, or a string field. */
SL_EXPORT int sl_block_column_f64(const sl_block_col *col, size_t start, size_t n, double *out,
                                  unsigned char *missing, size_t *nmissing);

/* Called once per block; a nonzero return fails the run (SL_ERR_CALLBACK). */
typedef int (*sl_block_fn)(const sl_block *block, void *arg);
/* Called once per block; emits any number of records to out with sl_emit. */
typedef int (*sl_block_map_fn)(const sl_block *block, sl_emitter *out, void *arg);

/* Call fn on every block, then pass the block on unchanged (to a block operator as it is,
 * to a per-record step or the sink as its records). Local (builder). */
SL_EXPORT int sl_flow_each_block(sl_flow *flow, sl_block_fn fn, void *arg);
/* Replace every block with the records fn emits for it (like sl_flow_flat_map, a block at a
 * time). Local (builder). */
SL_EXPORT int sl_flow_map_block(sl_flow *flow, sl_block_map_fn fn, void *arg);

/* ---- sources of rows ----
 * Fills rows [first, first + n) of a generated table into rows (n * row_size bytes, row r
 * at (char *)rows + r * row_size). A nonzero return fails the run (SL_ERR_CALLBACK). */
typedef int (*sl_generate_rows_fn)(int64_t first, size_t n, void *rows, void *arg);

/* A source of nrows fixed-size rows made a block at a time: its records are those of
 * sl_flow_from_generator with a function that emits, for index i, an empty key and row i
 * (row_size bytes) as the value; fn fills the rows a block at a time (at most 256 KiB of
 * rows per call, one buffer per partition; every partition calls it for its own contiguous
 * share, in order). The rows go on as blocks (to block operators, to a sink that takes
 * rows in bulk such as sl_flow_to_h5) instead of one engine call per row. layout (may be
 * NULL) describes the rows' fields to block operators; it is copied and its row size must
 * be row_size. Local (builder). */
SL_EXPORT int sl_flow_from_rows_generator(sl_flow *flow, int64_t nrows, size_t row_size,
                                          const sl_h5_layout *layout, sl_generate_rows_fn fn,
                                          void *arg, int partitions);

/* A source of the nrows packed rows of row_size bytes at rows (an array of fixed-size
 * records; not copied: it must stay valid and unchanged until sl_run returns): the same
 * records and blocks as sl_flow_from_rows_generator, read in place. Local (builder). */
SL_EXPORT int sl_flow_from_rows(sl_flow *flow, const void *rows, size_t nrows, size_t row_size,
                                const sl_h5_layout *layout, int partitions);

/* ---- statistics over doubles ----
 * n, mean, m2 (sum of squared deviations from the mean), min and max cover the finite values
 * only; NaNs and infinities are counted apart. All fields are doubles (one MPI_DOUBLE array
 * moves them). A zeroed struct is an empty accumulator. */
typedef struct sl_moments {
  double n, mean, m2, min, max, nan, pinf, ninf, miss;
} sl_moments;
enum { SL_MOMENTS_DOUBLES = (int)(sizeof(sl_moments) / sizeof(double)) };

/* Fold x[0..n) into s. Local. */
SL_EXPORT void sl_moments_add(sl_moments *s, const double *x, size_t n);
/* Merge b into a (Chan et al.; counts added). Local. */
SL_EXPORT void sl_moments_merge(sl_moments *a, const sl_moments *b);
/* Population variance m2 / n of the finite values (NaN when there is none). Local. */
SL_EXPORT double sl_moments_var(const sl_moments *s);

/* A histogram of `bins` bins over the finite [lo, hi] (lo < hi, or lo == hi: every value
 * equal to lo in the last bin): bins are [lo + i*w, lo + (i+1)*w), the last one closed;
 * values outside [lo, hi], infinities and NaNs are not counted. */
typedef struct sl_hist {
  double lo, hi;
  long bins;
  uint64_t *count; /* bins counters (the caller's) */
} sl_hist;
/* Count x[0..n) into h. Local. */
SL_EXPORT void sl_hist_add(sl_hist *h, const double *x, size_t n);
/* Edge e (0..bins) of h: exact at both ends, finite when hi - lo overflows. Local. */
SL_EXPORT double sl_hist_edge(const sl_hist *h, long e);

#ifdef __cplusplus
}
#endif

#endif
