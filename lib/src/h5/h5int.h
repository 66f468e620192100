/* SPDX-License-Identifier: BSD-3-Clause */
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
  sl_h5_cf cf;    /* CF decoding (cf.flags 0: none); plain bytes, broadcast with the rest */
} sl__h5_fld;

/* The shape of a described dataset and its dimensions' names (cf.c). */
#define SL__H5_MAXDIMS 32
#define SL__H5_DIMNAME 128
typedef struct sl__h5_dims {
  int32_t n; /* 0: unknown (a hand-built layout) */
  uint64_t len[SL__H5_MAXDIMS];
  char name[SL__H5_MAXDIMS][SL__H5_DIMNAME];  /* "" when no dimension scale is attached */
  char coord[SL__H5_MAXDIMS][SL__H5_DIMNAME]; /* the coordinate variable's path, or "" */
} sl__h5_dims;

/* The string attributes carried with a dataset's values: at most SL__H5_MAXATTRS pairs. */
#define SL__H5_MAXATTRS 32

struct sl_h5_layout {
  sl__h5_fld *f;
  size_t n, cap;
  size_t row_size;
  uint64_t rows;
  /* 0: table (compound or hand-built); 1: 1-D array; 2: N-D array read as columns */
  int array;
  uint64_t ncols_src; /* array: elements per file row */
  uint64_t flat;      /* sl_h5_opts.flatten: elements per dimension-0 row (0: not flat) */
  sl__h5_dims *dims;  /* NULL for a hand-built layout */
  /* carried string attributes: "name\0value\0" pairs, nattrs of them, attrs_len bytes */
  char *attrs;
  size_t attrs_len, nattrs;
  const char *attr_ptr[2 * SL__H5_MAXATTRS]; /* names then values, made by sl_h5_layout_attrs */
};

/* ---- CF decoding and metadata (cf.c), on rank 0 at inspection ---- */
/* The CF decoding of the numeric field f of dataset did (a netCDF-4 file when nc4),
 * checked; f->cf is set (flags 0 when nothing applies). SL_OK or SL_ERR_FORMAT / SL_ERR_HDF5
 * naming the attribute. */
int sl__h5_cf_read(hid_t did, int nc4, const char *file, const char *dset, sl__h5_fld *f);
/* 1 when fid is a netCDF-4 file (root attribute _NCProperties). */
int sl__h5_is_netcdf4(hid_t fid);
/* The dataset's shape and its dimension scales' names into *dims (allocated). */
int sl__h5_dims_read(hid_t did, int nd, const hsize_t *len, sl__h5_dims **dims);
/* The scalar string attributes of did worth carrying into l->attrs. */
int sl__h5_attrs_read(hid_t did, sl_h5_layout *l);
/* Free / copy / broadcast the metadata of a layout (dims, attrs). */
void sl__h5_meta_free(sl_h5_layout *l);
int sl__h5_meta_copy(const sl_h5_layout *src, sl_h5_layout *dst);
int sl__h5_meta_bcast(sl_h5_layout *l, int root, MPI_Comm comm);
/* Write the CF attributes of field f (stored type) and the carried string attributes of l on
 * obj. Local (collective where obj's file is open with MPI-IO). */
int sl__h5_put_carried(hid_t obj, const sl_h5_layout *l, const sl__h5_fld *f);

/* Turn off HDF5's own error printing (sluice reports errors itself). */
void sl__h5_quiet(void);
/* HDF5's innermost error description of the current stack (then cleared). */
void sl__h5_errstr(char *buf, size_t cap);
/* Open path read-only on this rank alone (sec2 driver, not MPI-IO): the file id, or a
 * negative value with HDF5's reason in err (cap bytes; may be NULL). Not collective. */
hid_t sl__h5_open_local(const char *path, char *err, size_t cap);
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
/* The sl_h5_class an HDF5 datatype is read as (an integer of 1, 2, 4 or 8 bytes, a float
 * of 4 or 8 bytes, a fixed-length string), or -1 for a type the source cannot read (other
 * sizes; enums, arrays, compounds, variable-length strings, ...). Local. */
int sl__h5_type_class(hid_t t);
/* The numeric fields of src (SL_H5_INT, SL_H5_UINT, SL_H5_FLOAT) in their order, packed
 * anew, as a selection of them would read (rows and array kind kept). Local. */
int sl__h5_layout_numeric(const sl_h5_layout *src, sl_h5_layout **out);

/* The code of the lowest rank of sl_comm(ctx) that failed (a rank's own failure before
 * SL_ERR_REMOTE), returned on every rank; that rank prints its one error line, the other
 * ranks forget theirs. SL_OK when every rank passed SL_OK. Collective. */
int sl__h5_agree(sl_ctx *ctx, int rc);

/* ---- provenance (provenance.c): the attributes every dataset sluice writes carries ---- */
typedef struct sl__h5_prov {
  char when[64];      /* created_utc: ISO 8601, UTC, to the second */
  char cmd[4096];     /* command_line */
  char job[64];       /* slurm_job_id; "" outside Slurm (then not written) */
  int64_t ranks;      /* ranks */
  const char *inputs; /* inputs ("" when none) */
  uint64_t rows;      /* rows */
} sl__h5_prov;
/* This rank's values (now, ctx's command line and Slurm job, its size). Local. */
void sl__h5_prov_init(sl__h5_prov *p, const sl_ctx *ctx, const char *inputs, uint64_t rows);
/* Rank 0's time, command line and job on every rank (collective metadata writes need the
 * same values everywhere). Collective over comm. */
int sl__h5_prov_bcast(sl__h5_prov *p, MPI_Comm comm);
/* Writes sluice_version, command_line, ranks, inputs, rows, created_utc and slurm_job_id
 * (when set) on obj. Local (collective where obj's file is open with MPI-IO: the same
 * values on every rank). SL_OK or SL_ERR_HDF5 naming the attribute and HDF5's cause. */
int sl__h5_put_provenance(hid_t obj, const sl__h5_prov *p);
/* A scalar fixed-length (NUL-terminated) string attribute. SL_OK or SL_ERR_HDF5. */
int sl__h5_put_str_attr(hid_t obj, const char *name, const char *v);

#endif
