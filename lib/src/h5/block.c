/* SPDX-License-Identifier: BSD-3-Clause */
/* A block's fields as strided columns, and a column chunk decoded to double
 * (sluice/sl_block.h): typed loops per stored class and size, CF decoding only for the
 * fields that have it. */
#include <math.h>
#include <string.h>

#include "core/core.h"

int sl_block_column(const sl_block *b, size_t field, sl_block_col *col) {
  if (!b || !col)
    SL__FAIL(SL_ERR_INVAL, "sl_block_column: NULL argument");
  if (!b->layout)
    SL__FAIL(SL_ERR_INVAL, "sl_block_column: the block has no layout (its rows did not come "
                           "unchanged from a source of rows)");
  SL__CHECK(sl_h5_layout_field(b->layout, field, &col->field));
  col->base = (const char *)b->rows + col->field.offset;
  col->stride = b->row_size;
  col->n = b->nrows;
  return SL_OK;
}

/* out[i] = (double)(T)value i, for a stored type T (memcpy: rows are packed, unaligned);
 * unrolled 4 times: the rolled loop ran at about half the speed (loop overhead, one load
 * in flight at a time). */
#define SL__CONVERT(T)                                                                             \
  _Pragma("GCC unroll 4") for (size_t i = 0; i < n; i++) {                                         \
    T v;                                                                                           \
    memcpy(&v, p + i * stride, sizeof v);                                                          \
    out[i] = (double)v;                                                                            \
  }

static void convert(const sl_h5_field *f, const char *p, size_t stride, size_t n, double *out) {
  switch (f->cls * 16 + (int)f->size) {
  case SL_H5_INT * 16 + 1:
    SL__CONVERT(int8_t);
    break;
  case SL_H5_INT * 16 + 2:
    SL__CONVERT(int16_t);
    break;
  case SL_H5_INT * 16 + 4:
    SL__CONVERT(int32_t);
    break;
  case SL_H5_INT * 16 + 8:
    SL__CONVERT(int64_t);
    break;
  case SL_H5_UINT * 16 + 1:
    SL__CONVERT(uint8_t);
    break;
  case SL_H5_UINT * 16 + 2:
    SL__CONVERT(uint16_t);
    break;
  case SL_H5_UINT * 16 + 4:
    SL__CONVERT(uint32_t);
    break;
  case SL_H5_UINT * 16 + 8:
    SL__CONVERT(uint64_t);
    break;
  case SL_H5_FLOAT * 16 + 4:
    SL__CONVERT(float);
    break;
  default: /* SL_H5_FLOAT, 8 bytes */
    SL__CONVERT(double);
    break;
  }
}
#undef SL__CONVERT

int sl_block_column_f64(const sl_block_col *col, size_t start, size_t n, double *out,
                        unsigned char *missing, size_t *nmissing) {
  if (!col || (!out && n))
    SL__FAIL(SL_ERR_INVAL, "sl_block_column_f64: NULL argument");
  if (start > col->n || n > col->n - start)
    SL__FAIL(SL_ERR_INVAL, "sl_block_column_f64: rows %zu..%zu past the column's %zu", start,
             start + n, col->n);
  const sl_h5_field *f = &col->field;
  if (!sl_h5_class_is_numeric(f->cls))
    SL__FAIL(SL_ERR_INVAL, "sl_block_column_f64: field '%s' is not numeric", f->name);
  const char *p = col->base + start * col->stride;
  size_t miss = 0;
  if (!f->cf) {
    convert(f, p, col->stride, n, out);
    if (missing)
      memset(missing, 0, n);
  } else {
    /* the row pointer that puts the field at p: sl_h5_get_f64 and sl_h5_is_missing add
     * the offset back */
    const char *row = p - f->offset;
    for (size_t i = 0; i < n; i++, row += col->stride) {
      int m = sl_h5_is_missing(f, row);
      out[i] = m ? NAN : sl_h5_get_f64(f, row);
      miss += (size_t)m;
      if (missing)
        missing[i] = (unsigned char)m;
    }
  }
  if (nmissing)
    *nmissing = miss;
  return SL_OK;
}
