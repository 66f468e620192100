/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice: HDF5 datasets as a source and as a sink (see docs/hdf5.md).
 *
 * Dataset specs are strings "FILE:/path/to/dataset" (split at the last ":/"). FILE may be
 * a glob pattern (glob(3), expanded on rank 0, sorted); every matching file contributes
 * the same dataset path, in order.
 *
 * Rows and layouts. A dataset is read as rows along its dimension 0:
 *   - a 1-D dataset of a numeric or fixed-length string type: one field named "value";
 *   - an N-D dataset (N >= 2) of such a type: one row holds the product of dimensions
 *     1..N-1 elements, as fields "c0", "c1", ... (row-major order);
 *   - a 1-D compound (table) dataset: its members, or the selection given in
 *     sl_h5_opts.fields, in that order.
 * A record's value is the row in the native memory representation, packed (no padding):
 * field i at offset(i), size(i) bytes. Integers keep their size and signedness (1, 2, 4 or
 * 8 bytes), floats become native float (4) or double (8), fixed-length strings keep their
 * size and bytes. Big-endian and other non-native file types are converted on read.
 * Enums of an integer base type (h5py's booleans) are read as that integer type.
 * Unsupported (SL_ERR_TYPE): variable-length strings, arrays, nested compounds,
 * references, opaque, bitfield, long double, N-D compounds.
 * A record's key is empty, or with sl_h5_opts.with_index the 8-byte native uint64 global
 * row index (rows of the files in order: file 0's rows first).
 *
 * Error codes of the functions below: SL_ERR_INVAL (NULL or malformed argument),
 * SL_ERR_NOTFOUND (file or dataset missing), SL_ERR_FORMAT (not an HDF5 file, truncated or
 * damaged, files with different layouts), SL_ERR_TYPE (unsupported type, unknown field),
 * SL_ERR_UNSUPPORTED (a filter this HDF5 cannot decode), SL_ERR_HDF5 (other HDF5 failure),
 * SL_ERR_IO, SL_ERR_EXISTS, SL_ERR_NOMEM, SL_ERR_MPI, SL_ERR_REMOTE (another rank failed).
 * Every failure records one message (file, dataset, expected vs found).
 */
#ifndef SLUICE_SL_H5_H
#define SLUICE_SL_H5_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/sl_context.h"
#include "sluice/sl_export.h"
#include "sluice/sl_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Source options. A zeroed struct (or NULL) means the defaults. */
typedef struct sl_h5_opts {
  /* Compound datasets: the fields to read, in this order (NULL/0: all members).
   * Array datasets: names "value" or "c0", "c1", ... select columns. */
  const char *const *fields;
  size_t nfields;
  /* Nonzero: key = 8-byte native uint64 global row index. */
  int with_index;
  /* File access of the source's partitions: SL_H5_READ_DEFAULT (measured faster here,
   * see docs/hdf5.md), SL_H5_READ_POSIX (sec2 driver, one open per partition) or
   * SL_H5_READ_MPIO (MPI-IO driver on MPI_COMM_SELF, independent transfers). */
  int read_driver;
  /* Transfer mode: SL_H5_XFER_DEFAULT (measured faster here, see docs/hdf5.md),
   * SL_H5_XFER_INDEPENDENT (each partition reads its blocks on its own, as its downstream
   * has room) or SL_H5_XFER_COLLECTIVE (the MPI-IO driver on the run's communicator; all
   * ranks read in rounds of collective H5Dread agreed inside the event loop, a rank whose
   * partitions are held by backpressure joining with an empty selection). Collective
   * needs read_driver SL_H5_READ_DEFAULT or SL_H5_READ_MPIO (SL_ERR_INVAL otherwise). */
  int transfer;
  /* Nonzero: no CF decoding (fields carry no sl_h5_cf; values are the stored ones, see
   * "CF decoding" below). Zero (the default): CF decoding. */
  int raw;
  /* Nonzero: an N-D dataset (N >= 2) of a numeric or string type is read as one field
   * "value", one record per element in row-major order (its index, with with_index, is the
   * element's flat index), instead of one record per dimension-0 row with fields c0, c1...
   * A read block holds at least one dimension-0 slice. No effect on 1-D and compound
   * datasets. */
  int flatten;
} sl_h5_opts;

/* ---- CF decoding (CF conventions 1.x, sections 2.5.1 and 8.1; docs/netcdf.md) ----
 * Unless sl_h5_opts.raw, the numeric fields of an array dataset (1-D, N-D) that has any of
 * the attributes _FillValue, missing_value, valid_min, valid_max, valid_range,
 * scale_factor, add_offset, or that lies in a netCDF-4 file (a root attribute
 * _NCProperties: then netCDF's default fill value of the type applies when there is no
 * _FillValue), carry a description of their decoding (sl_h5_field.cf). Records keep the
 * stored values, unchanged (so a copy of them stays valid under the same attributes);
 * sl_h5_is_missing tests a value in its stored type, before any unpacking: equal to
 * _FillValue (or the default fill), to one of missing_value, or outside valid_min /
 * valid_max / valid_range is missing; sl_h5_get_f64 gives value * scale_factor +
 * add_offset in double, or NaN when missing. The attributes are read once, by rank 0, when
 * the dataset is described, and checked: a _FillValue of another type than the variable, a
 * non-numeric scale_factor, add_offset, missing_value or valid_*, a value the variable's
 * type cannot hold, or a conflicting valid range are SL_ERR_FORMAT with one line naming the
 * attribute. Compound datasets and string fields are not decoded. */
enum {
  SL_H5_CF_FILL = 1u << 0,    /* _FillValue (or the netCDF default, SL_H5_CF_DEFAULT) */
  SL_H5_CF_DEFAULT = 1u << 1, /* the fill value is netCDF's default for the type */
  SL_H5_CF_MISSING = 1u << 2, /* missing_value (nmissing values) */
  SL_H5_CF_VMIN = 1u << 3,    /* valid_min, or valid_range[0] */
  SL_H5_CF_VMAX = 1u << 4,    /* valid_max, or valid_range[1] */
  SL_H5_CF_PACKED = 1u << 5   /* scale_factor and/or add_offset */
};
enum { SL_H5_CF_MAX_MISSING = 8 };
typedef struct sl_h5_cf {
  unsigned flags;      /* SL_H5_CF_* */
  unsigned nmissing;   /* values of missing_value */
  double scale_factor; /* 1 when absent */
  double add_offset;   /* 0 when absent */
  /* in the field's stored native type (its first size bytes) */
  unsigned char fill[8], missing[SL_H5_CF_MAX_MISSING][8], valid_min[8], valid_max[8];
} sl_h5_cf;

enum { SL_H5_READ_DEFAULT = 0, SL_H5_READ_POSIX = 1, SL_H5_READ_MPIO = 2 };
enum { SL_H5_XFER_DEFAULT = 0, SL_H5_XFER_INDEPENDENT = 1, SL_H5_XFER_COLLECTIVE = 2 };

typedef enum sl_h5_class {
  SL_H5_INT = 0,   /* signed integer, 1/2/4/8 bytes */
  SL_H5_UINT = 1,  /* unsigned integer, 1/2/4/8 bytes */
  SL_H5_FLOAT = 2, /* native float (4) or double (8) */
  SL_H5_STRING = 3 /* fixed-length string, size bytes (no terminator required) */
} sl_h5_class;

typedef struct sl_h5_field {
  const char *name; /* valid while the layout lives */
  sl_h5_class cls;
  size_t size;
  size_t offset; /* in the packed row */
  /* CF decoding of the field (valid while the layout lives); NULL: none (raw, not a
   * numeric array field, nothing to decode, or a hand-built layout) */
  const sl_h5_cf *cf;
} sl_h5_field;

typedef struct sl_h5_layout sl_h5_layout;

/* Describe the rows a spec (or the first file of a glob) yields under opts, and count
 * the rows of all matching files. Collective over sl_comm(ctx): rank 0 reads the
 * metadata and broadcasts it, so every rank gets the same layout or the same error. */
/* Like sl_run, the failing rank prints the one error line; every rank returns the code. */
SL_EXPORT int sl_h5_describe(sl_ctx *ctx, const char *spec, const sl_h5_opts *opts,
                             sl_h5_layout **layout);

/* Building a layout by hand (for sl_flow_to_h5). Local. Fields are appended packed. */
SL_EXPORT int sl_h5_layout_create(sl_h5_layout **layout);
SL_EXPORT int sl_h5_layout_add(sl_h5_layout *layout, const char *name, sl_h5_class cls,
                               size_t size);
/* A layout of one field "value" of class cls and `size` bytes, written as a plain 1-D
 * dataset (not a compound) by sl_flow_to_h5 and sl_h5_file_write_table: the layout
 * sl_h5_describe gives a 1-D numeric or string dataset. Local. SL_ERR_INVAL for a NULL
 * argument, SL_ERR_TYPE for a class and size sl_h5_layout_add refuses, SL_ERR_NOMEM. */
SL_EXPORT int sl_h5_layout_create_array(sl_h5_layout **layout, sl_h5_class cls, size_t size);

/* How a fixed-length string field is padded in the file: the values of HDF5's H5T_str_t. */
typedef enum sl_h5_strpad {
  SL_H5_NULLTERM = 0, /* NUL-terminated, like C strings (room for the NUL included) */
  SL_H5_NULLPAD = 1,  /* NUL-padded, no terminator when the string fills the field */
  SL_H5_SPACEPAD = 2  /* space-padded, like Fortran strings */
} sl_h5_strpad;
/* The padding of string field i of a layout (sl_h5_layout_add gives SL_H5_NULLPAD; a
 * described layout has the file's). Used when the layout is written; the bytes of a row are
 * unchanged. Local. SL_ERR_INVAL: NULL layout, i out of range, not a string field, or an
 * unknown pad. */
SL_EXPORT int sl_h5_layout_set_strpad(sl_h5_layout *layout, size_t i, sl_h5_strpad pad);
/* Copy (local). */
SL_EXPORT int sl_h5_layout_copy(const sl_h5_layout *src, sl_h5_layout **out);
/* Accepts NULL and *layout == NULL; sets *layout to NULL. Local. */
SL_EXPORT void sl_h5_layout_destroy(sl_h5_layout **layout);

/* Accessors. Local. */
SL_EXPORT size_t sl_h5_layout_nfields(const sl_h5_layout *layout);
SL_EXPORT size_t sl_h5_layout_row_size(const sl_h5_layout *layout);
/* Rows of the described dataset(s) (0 for a hand-built layout). */
SL_EXPORT uint64_t sl_h5_layout_rows(const sl_h5_layout *layout);
/* SL_ERR_INVAL when i is out of range. */
SL_EXPORT int sl_h5_layout_field(const sl_h5_layout *layout, size_t i, sl_h5_field *field);
/* Index of a field by name; SL_ERR_NOTFOUND (nothing recorded) when absent. */
SL_EXPORT int sl_h5_layout_find(const sl_h5_layout *layout, const char *name, size_t *index);
/* Comma-separated field names, for messages. Local. */
SL_EXPORT int sl_h5_layout_names(const sl_h5_layout *layout, char *buf, size_t cap);
/* 1 when cls is numeric (SL_H5_INT, SL_H5_UINT or SL_H5_FLOAT), else 0. Local. */
SL_EXPORT int sl_h5_class_is_numeric(sl_h5_class cls);
/* Value of a numeric field of a packed row as a double (NaN for a string field). With
 * field->cf: the decoded value (unpacked; NaN when missing). Local. */
SL_EXPORT double sl_h5_get_f64(const sl_h5_field *field, const void *row);
/* 1 when the field's stored value in row is missing under field->cf (see "CF decoding"),
 * else 0 (always 0 without cf). Local. */
SL_EXPORT int sl_h5_is_missing(const sl_h5_field *field, const void *row);
/* 1 when field values are unpacked (scale_factor/add_offset): they are then floats, whatever
 * the stored class. Local. */
SL_EXPORT int sl_h5_is_packed(const sl_h5_field *field);
/* The shape of the described dataset: *ndims dimensions (0 for a hand-built layout) and
 * their lengths in dims (up to 32). Local. */
SL_EXPORT int sl_h5_layout_dims(const sl_h5_layout *layout, int *ndims, uint64_t *dims);
/* Dimension d of the described dataset: its name (netCDF dimension / HDF5 dimension scale
 * attached to it, or "" when none) and, when that scale is a coordinate variable (a netCDF
 * variable, not a bare dimension), its dataset path in *coord (else ""). Pointers valid
 * while the layout lives. Local. SL_ERR_INVAL when d is out of range. */
SL_EXPORT int sl_h5_layout_dim(const sl_h5_layout *layout, int d, const char **name,
                               const char **coord);
/* The string attributes of the described dataset that a copy of its values keeps (units,
 * long_name, standard_name, ...; see docs/netcdf.md), as names[i] = values[i], n of them
 * (at most 32). Pointers valid while the layout lives. Local. */
SL_EXPORT size_t sl_h5_layout_attrs(const sl_h5_layout *layout, const char *const **names,
                                    const char *const **values);
/* Value of an integer field (SL_H5_INT or SL_H5_UINT, any size) of a packed row, widened
 * to int64 / uint64 (0 for other classes). Local. */
SL_EXPORT int64_t sl_h5_get_i64(const sl_h5_field *field, const void *row);
SL_EXPORT uint64_t sl_h5_get_u64(const sl_h5_field *field, const void *row);

/* The numeric fields (SL_H5_INT, SL_H5_UINT, SL_H5_FLOAT) of the rows a spec yields, for
 * statistics and aggregates: with opts->fields, those fields in that order, each of which
 * must be numeric (SL_ERR_TYPE naming the first that is a string; one of a type the source
 * cannot read is SL_ERR_TYPE from sl_h5_describe); without, every numeric field in order,
 * fields of other types skipped: fixed-length strings, enums (flags such as h5py's
 * booleans; read as integers when selected by name), and the compound members the source
 * cannot read (arrays, nested compounds, variable-length strings, ...), which a plain
 * sl_h5_describe refuses. A dataset without a numeric field is
 * SL_ERR_TYPE. The layout is what sl_h5_describe gives for opts with exactly these fields
 * selected: pass its names as sl_h5_opts.fields to sl_flow_from_h5 to read them. Rank 0
 * looks at the first matching file's members, then describes. Collective over
 * sl_comm(ctx), like sl_h5_describe: every rank gets the same layout or the same code, and
 * the failing rank prints the one error line. Codes: those of sl_h5_describe. */
SL_EXPORT int sl_h5_describe_numeric(sl_ctx *ctx, const char *spec, const sl_h5_opts *opts,
                                     sl_h5_layout **layout);

/* ---- Listing a file's variables ----
 * One entry per dataset of a file (in name order), with its shape, element type and
 * dimensions, telling coordinate variables (netCDF coordinates, HDF5 dimension scales)
 * and bare netCDF dimensions from data. */
enum {
  SL_H5_VAR_DATA = 0,  /* a variable (dataset) */
  SL_H5_VAR_COORD = 1, /* a coordinate variable: a dimension scale that is also data */
  SL_H5_VAR_DIM = 2    /* a netCDF dimension without a variable (its values mean nothing) */
};
typedef struct sl_h5_var {
  char path[256];
  int kind;     /* SL_H5_VAR_* */
  int cls;      /* sl_h5_class of the elements, -1: compound or a type not read */
  size_t size;  /* element bytes */
  int compound; /* 1: a compound (table) dataset */
  int ndims;    /* up to 8 listed */
  uint64_t dims[8];
  char dim[8][64]; /* the dimensions' names ("" where none is attached) */
} sl_h5_var;
/* The datasets of `file` (at most 100000) into *vars (malloc'd, *n of them; free() it).
 * Collective over sl_comm(ctx): rank 0 reads, every rank gets the same list or the same
 * code (SL_ERR_NOTFOUND, SL_ERR_FORMAT, SL_ERR_NOMEM, SL_ERR_MPI); the failing rank prints
 * the one error line. */
SL_EXPORT int sl_h5_list(sl_ctx *ctx, const char *file, sl_h5_var **vars, size_t *n);

/* Source: rows of one or more datasets (specs, each possibly a glob). All files must
 * yield the same layout. Rows are split across partitions (partitions <= 0: one per
 * rank) in contiguous ranges aligned to chunk boundaries, and read in bounded blocks
 * (--sl-read-block-bytes) only while downstream has room. Specs and opts are copied.
 * Building is local; the files are checked collectively by sl_run. */
SL_EXPORT int sl_flow_from_h5(sl_flow *flow, const char *const *specs, size_t nspecs,
                              const sl_h5_opts *opts, int partitions);

/* Sink options. A zeroed struct (or NULL) means the defaults. */
typedef struct sl_h5_sink_opts {
  int overwrite;       /* replace an existing file */
  int deflate;         /* 0: none, 1-9: deflate level (collective writes with filters) */
  int shuffle;         /* byte shuffle filter before deflate */
  uint64_t chunk_rows; /* 0: about 1 MiB per chunk */
  const char *inputs;  /* provenance "inputs" attribute; NULL: the flow's HDF5 source
                          specs (if the source is sl_flow_from_h5), else "" */
} sl_h5_sink_opts;

/* Sink: every record's value (record key ignored) is one row of `layout` (value_len must
 * equal sl_h5_layout_row_size) written to ONE dataset "OUT.h5:/path" from all ranks in
 * parallel, nothing gathered, in one of two modes chosen from the plan (docs/hdf5.md,
 * "The sink"): write rounds, where each rank buffers --sl-output-buffer-bytes of rows and
 * the ranks write them in place during the run in agreed collective rounds (a full buffer
 * holds its partitions back: backpressure), the order across ranks unspecified; or rank
 * order, for a flow whose last stage is sorted or whose source has an order (an HDF5
 * source), where rows are buffered and spilled to a nameless local file and written
 * collectively in rounds of bounded size at the end, rank 0's rows first. The dataset is chunked
 * and extendible (unlimited dimension 0); layouts from array datasets are written back as 1-D or
 * 2-D arrays, others as compound. Provenance attributes on the dataset: sluice_version,
 * command_line, ranks, inputs, rows, created_utc, slurm_job_id (when set); and the attributes a
 * described layout carries (sl_h5_layout_attrs; for an array dataset its CF decoding attributes
 * too): the rows are taken to be copies of the input's values (docs/netcdf.md). A hand-built layout
 * carries none. The file is written under a temporary name in the same directory and renamed when
 * every rank succeeded; an existing file is refused (SL_ERR_EXISTS) unless overwrite. The layout is
 * copied. Local. */
SL_EXPORT int sl_flow_to_h5(sl_flow *flow, const char *spec, const sl_h5_layout *layout,
                            const sl_h5_sink_opts *opts);

/* ---- Small result files ----
 * A file of a few small datasets (a summary table, histograms) that a program writes at the
 * end of a job: rank 0 builds it in memory with the serial HDF5 library, and it is published
 * through sl_output (sluice/sl_output.h): the destination is checked before any work, the
 * file is written under a temporary name, its space reserved, and it appears under its final
 * name only when complete and on disk; a failure anywhere leaves nothing under that name.
 * The datasets are contiguous and fixed in size, so they are bounded by rank 0's memory
 * (twice their size at the commit, when the image is copied out); sl_flow_to_h5 is for
 * output of any size.
 *
 * Lifecycle: sl_h5_file_create -> sl_h5_file_write_table (any number) -> sl_h5_file_commit
 * -> sl_h5_file_destroy. The collective calls are made by every rank with the same
 * arguments (only rank 0's rows are read), and every rank returns the same code: the lowest
 * failing rank prints the one error line ("cannot write OUT: ..."). After a failure the
 * file is failed: later calls return the same code at once and the commit publishes
 * nothing. */
typedef struct sl_h5_file sl_h5_file;

/* Options of one dataset. A zeroed struct (or NULL) means none. */
typedef struct sl_h5_table_opts {
  /* Nonzero: the provenance attributes sl_flow_to_h5 writes (sluice_version, command_line,
   * ranks, inputs, rows, created_utc, slurm_job_id when set). */
  int provenance;
  const char *inputs; /* the provenance attribute "inputs" (NULL: "") */
  /* Scalar string attributes, names[i] = values[i]. */
  const char *const *attr_names;
  const char *const *attr_values;
  size_t nattrs;
} sl_h5_table_opts;

/* Collective over sl_comm(ctx). Checks the destination `path` as sl_output_create does
 * (its directory exists and is writable; not a directory; not existing unless overwrite;
 * none of the ninputs files in `inputs`, even with overwrite), creates its temporary, and
 * starts the file in rank 0's memory. Codes: SL_ERR_INVAL (NULL ctx or file: returned at
 * once, nothing printed), SL_ERR_USAGE or SL_ERR_EXISTS (a bad destination), SL_ERR_IO,
 * SL_ERR_HDF5, SL_ERR_NOMEM, SL_ERR_MPI. */
SL_EXPORT int sl_h5_file_create(sl_ctx *ctx, const char *path, int overwrite,
                                const char *const *inputs, int ninputs, sl_h5_file **file);

/* Collective over the file's context. Rank 0 writes nrows rows of `layout` from `rows`
 * (packed as the layout says: sl_h5_layout_row_size bytes each; other ranks' rows are not
 * read and may be NULL) as dataset `dset` (an absolute path such as "/stats" or
 * "/histogram/x"; missing groups are created): a compound dataset of nrows rows for a
 * table layout, a 1-D dataset for a layout of sl_h5_layout_create_array (or of a 1-D
 * dataset), nrows x columns for the columns of an N-D dataset; integers and floats in native
 * byte order, strings with their size and padding (sl_h5_layout_set_strpad). opts adds the
 * provenance and string attributes. Codes: SL_ERR_INVAL (NULL file, layout or rows, empty
 * layout, a dset not starting with '/', attributes without names or values), SL_ERR_HDF5
 * (the dataset exists already, a bad name, another HDF5 failure), SL_ERR_NOMEM, SL_ERR_MPI,
 * or the code of an earlier failure. */
SL_EXPORT int sl_h5_file_write_table(sl_h5_file *file, const char *dset, const sl_h5_layout *layout,
                                     const void *rows, uint64_t nrows,
                                     const sl_h5_table_opts *opts);

/* Collective. Rank 0 reserves the file's space (a full disk is found here, before any
 * write), writes it to the temporary with checked writes, and the ranks publish it
 * (sl_output_commit: sync, rename, sync the directory). Returns SL_OK on every rank, or
 * the same failure on every rank with nothing under the final name: SL_ERR_IO (a full disk,
 * a failed write, sync or rename), SL_ERR_HDF5, SL_ERR_NOMEM (the image), SL_ERR_MPI,
 * SL_ERR_STATE (committed already), or the code of an earlier failure. */
SL_EXPORT int sl_h5_file_commit(sl_h5_file *file);

/* Local. Removes the temporary unless committed. Accepts NULL and *file == NULL; sets
 * *file to NULL. */
SL_EXPORT void sl_h5_file_destroy(sl_h5_file **file);

#ifdef __cplusplus
}
#endif
#endif
