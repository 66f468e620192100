/* sluice internal: HDF5 source and sink shared pieces (layouts, specs, error text). */
#ifndef SLUICE_H5INT_H
#define SLUICE_H5INT_H

#include <hdf5.h>

#include "core/core.h"
#include "sluice/sl_h5.h"

#define SL__H5_NAME 256

typedef struct sl__h5_fld {
  char name[SL__H5_NAME];
  int cls; /* sl_h5_class */
  uint64_t size;
  uint64_t offset;
  int32_t strpad; /* H5T_str_t of a string field */
  int32_t cset;   /* H5T_cset_t of a string field */
  int64_t col;    /* array datasets: the column in the file row */
} sl__h5_fld;

struct sl_h5_layout {
  sl__h5_fld *f;
  size_t n, cap;
  size_t row_size;
  uint64_t rows;
  /* 0: table (compound or hand-built); 1: 1-D array; 2: N-D array read as columns */
  int array;
  uint64_t ncols_src; /* array: elements per file row */
};

/* Turn off HDF5's own error printing (sluice reports errors itself). */
void sl__h5_quiet(void);
/* HDF5's innermost error description of the current stack (then cleared). */
void sl__h5_errstr(char *buf, size_t cap);
/* Native memory type of a field (string: C_S1 of its size, pad and cset). Caller closes. */
hid_t sl__h5_field_type(const sl__h5_fld *f);
/* Packed compound memory type of a table layout, or the element type of an array. */
hid_t sl__h5_mem_type(const sl_h5_layout *l);
/* Layout comparison (names, classes, sizes): 0 when equal. */
int sl__h5_layout_cmp(const sl_h5_layout *a, const sl_h5_layout *b);
/* "name:class/size, ..." for messages. */
void sl__h5_layout_desc(const sl_h5_layout *l, char *buf, size_t cap);
int sl__h5_layout_push(sl_h5_layout *l, const sl__h5_fld *f);
/* Split "FILE:/dset" at the last ":/". Returns SL_OK or SL_ERR_INVAL (message recorded). */
int sl__h5_split_spec(const char *spec, char **file, char **dset);
/* Serialize (bcast) a layout from root. */
int sl__h5_layout_bcast(sl_h5_layout *l, int root, MPI_Comm comm);

#endif
