/* SPDX-License-Identifier: BSD-3-Clause */
/* HDF5 datasets as a source: rows along dimension 0, split across partitions in
 * contiguous ranges aligned to chunk boundaries, read in bounded blocks only while
 * downstream has room (see docs/hdf5.md).
 *
 * prepare (collective): rank 0 expands the globs, opens every file (sec2, read-only),
 * checks the dataset, its type, its filters and the selected fields, and broadcasts the
 * file list with row counts and the layout. open/pull run per partition (not
 * collectively): each partition opens its files itself, with the sec2 driver or the
 * MPI-IO driver on MPI_COMM_SELF (independent transfers). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <glob.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/rows.h"
#include "h5/h5int.h"
#include "h5/h5src.h"
#include "sources/sources.h"

typedef struct h5_file {
  char *path;
  char *dset;
  uint64_t rows, base;
  uint64_t chunk_rows;  /* 0: not chunked */
  uint64_t chunk_bytes; /* bytes of one chunk (for the chunk cache) */
  int filtered;         /* the chunks pass a filter (deflate, shuffle, ...) */
  /* every byte of the dataset lies in this file (no virtual layout, no external storage,
   * not reached through an external link): it may be opened by descriptor (open_verified) */
  int self_contained;
  /* collective transfers: 0 when the chunk addresses could not be checked cheaply at
   * prepare (see check_storage), so this file is read with independent transfers */
  int coll;
  sl__input_id id; /* the file at prepare: checked at every open and after the last read */
} h5_file;

typedef struct h5_handle h5_handle;
struct h5_handle {
  hid_t fid, did, fspace, mtype, xfer;
  size_t file; /* index of the open file */
  int is_open;
};

struct sl__h5src {
  char **specs;
  size_t nspecs;
  char **fields;
  size_t nfields;
  int with_index;
  int driver;
  int transfer; /* SL_H5_XFER_INDEPENDENT or SL_H5_XFER_COLLECTIVE */
  int raw;      /* no CF decoding */
  int flatten;  /* N-D: one record per element */
  /* after prepare */
  h5_file *files;
  size_t nfiles;
  sl_h5_layout layout;
  uint64_t total_rows;
  size_t block_bytes;
  /* collective transfers (per run): the rank's partitions, the open file, the agreement */
  struct h5_state **parts;
  size_t nparts, capparts, rr;
  h5_handle ch;
  size_t ch_last;
  MPI_Comm comm; /* a duplicate of the run's communicator: rounds never meet other collectives */
  MPI_Request req;
  int64_t agree_in[3], agree_out[3];
  int coll_done; /* the rounds are over on every rank (or were refused) */
  int stopped;   /* this rank reads nothing more: its loop ended (settle) */
  int checked;   /* coll_check ran for this run */
  uint64_t rounds;
};

typedef struct h5_state h5_state;
struct h5_state {
  const sl__h5src *src;
  uint64_t lo, hi, cur; /* global rows: this partition's range and the next row to read */
  h5_handle h;          /* independent transfers: this partition's open file */
  size_t read_row;      /* bytes of a row as read (array: all columns) */
  uint64_t block_rows;
  char *buf;
  uint64_t brow0; /* global index of buf's first row */
  uint64_t blen, bpos;
  uint64_t input_bytes; /* read, not yet added to the stage's statistics */
  uint64_t skip;        /* a restored position: records of the next block already emitted */
};

/* ---- inspection on rank 0 ---- */
/* The field's class by the library's one rule (sl__h5_type_class); where it has none, the
 * error says what was found and what is expected. */
static int classify(hid_t t, const char *what, const char *file, const char *dset, sl__h5_fld *f) {
  H5T_class_t c = H5Tget_class(t);
  size_t size = H5Tget_size(t);
  memset(f, 0, sizeof *f);
  f->size = size;
  int cls = sl__h5_type_class(t);
  if (cls >= 0) {
    f->cls = cls;
    if (cls == SL_H5_STRING) {
      f->strpad = (int32_t)H5Tget_strpad(t);
      f->cset = (int32_t)H5Tget_cset(t);
    }
    return SL_OK;
  }
  switch (c) {
  case H5T_INTEGER:
    if (H5Tget_sign(t) < 0)
      SL__FAIL(SL_ERR_HDF5, "'%s' dataset '%s': cannot read the sign of %s", file, dset, what);
    SL__FAIL(SL_ERR_TYPE,
             "'%s' dataset '%s': %s is a %zu-byte integer (expected 1, 2, 4 or 8 bytes)", file,
             dset, what, size);
  case H5T_FLOAT:
    SL__FAIL(SL_ERR_TYPE, "'%s' dataset '%s': %s is a %zu-byte float (expected 4 or 8 bytes)", file,
             dset, what, size);
  case H5T_STRING:
    if (H5Tis_variable_str(t) < 0)
      SL__FAIL(SL_ERR_HDF5, "'%s' dataset '%s': cannot inspect the string type of %s", file, dset,
               what);
    SL__FAIL(SL_ERR_TYPE,
             "'%s' dataset '%s': %s is a variable-length string (expected a fixed-length string)",
             file, dset, what);
  default: {
    static const char *names[] = {"integer",  "float",           "time",     "string",
                                  "bitfield", "opaque",          "compound", "reference",
                                  "enum",     "variable-length", "array"};
    const char *n = c >= 0 && c < 11 ? names[c] : "unknown";
    SL__FAIL(
        SL_ERR_TYPE,
        "'%s' dataset '%s': %s has type class %s (expected integer, float or fixed-length string)",
        file, dset, what, n);
  }
  }
}

typedef struct lister {
  char *buf;
  size_t cap, pos;
  int n;
} lister;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)g;
  (void)info;
  lister *l = data;
  if (l->n++ >= 20)
    return 1;
  int w = snprintf(l->buf + l->pos, l->cap - l->pos, "%s%s", l->pos ? ", " : "", name);
  if (w > 0 && (size_t)w < l->cap - l->pos)
    l->pos += (size_t)w;
  return 0;
}

/* Is dset a dataset in fid? Names what is missing (and what exists there) if not. */
static int check_path(hid_t fid, const char *file, const char *dset) {
  char *p = strdup(dset);
  SL__CHECK_ALLOC(p);
  char parent[4096] = "/";
  int rc = SL_OK;
  for (char *s = p + 1; rc == SL_OK;) {
    char *slash = strchr(s, '/');
    if (slash)
      *slash = 0;
    if (!*s) { /* "//" or a trailing '/' */
      if (!slash)
        break;
      s = slash + 1;
      continue;
    }
    htri_t e = H5Lexists(fid, p, H5P_DEFAULT);
    if (e <= 0) {
      char have[1024] = "";
      lister l = {have, sizeof have, 0, 0};
      hid_t g = H5Gopen2(fid, parent, H5P_DEFAULT);
      if (g >= 0) {
        (void)H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, list_cb, &l);
        H5Gclose(g);
      }
      H5Eclear2(H5E_DEFAULT);
      rc = sl__error_set(SL_ERR_NOTFOUND, __FILE__, __LINE__,
                         "'%s': dataset '%s' not found (no '%s'; '%s' has: %s%s)", file, dset, p,
                         parent, have[0] ? have : "nothing", l.n > 20 ? ", ..." : "");
      break;
    }
    snprintf(parent, sizeof parent, "%s", p);
    if (!slash)
      break;
    *slash = '/';
    s = slash + 1;
  }
  free(p);
  if (rc != SL_OK)
    return rc;
  H5O_info_t oi;
  if (H5Oget_info_by_name(fid, dset, &oi, H5P_DEFAULT) < 0) {
    char m[512];
    sl__h5_errstr(m, sizeof m);
    SL__FAIL(SL_ERR_HDF5, "'%s': cannot inspect '%s': %s", file, dset, m);
  }
  if (oi.type != H5O_TYPE_DATASET)
    SL__FAIL(SL_ERR_FORMAT, "'%s': '%s' is a %s, expected a dataset", file, dset,
             oi.type == H5O_TYPE_GROUP ? "group" : "named datatype");
  return SL_OK;
}

/* 1 when the dataset's bytes all lie in the file opened as fid. A virtual dataset, external
 * raw storage and a dataset reached through an external link name other files relative to
 * this file's path; HDF5 1.10 resolves /proc/self/fd/N to the real path before it looks
 * for them (test_h5_inputs reads both through it), but these are opened by path anyway,
 * not to depend on that. */
static int self_contained(hid_t fid, hid_t did, hid_t dcpl) {
  H5O_info_t root, ds;
  if (H5Pget_layout(dcpl) != H5D_CHUNKED && H5Pget_layout(dcpl) != H5D_CONTIGUOUS &&
      H5Pget_layout(dcpl) != H5D_COMPACT)
    return 0;
  if (H5Pget_external_count(dcpl) != 0)
    return 0;
  if (H5Oget_info_by_name(fid, "/", &root, H5P_DEFAULT) < 0 || H5Oget_info(did, &ds) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return 0;
  }
  return root.fileno == ds.fileno;
}

static int check_filters(hid_t dcpl, const char *file, const char *dset) {
  int nf = H5Pget_nfilters(dcpl);
  if (nf < 0)
    SL__FAIL(SL_ERR_HDF5, "'%s' dataset '%s': cannot read its filter pipeline", file, dset);
  for (int i = 0; i < nf; i++) {
    unsigned flags = 0, fcfg = 0;
    size_t nelem = 0;
    char name[256] = "";
    H5Z_filter_t id =
        H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelem, NULL, sizeof name, name, &fcfg);
    if (id < 0)
      SL__FAIL(SL_ERR_HDF5, "'%s' dataset '%s': cannot read filter %d", file, dset, i);
    htri_t av = H5Zfilter_avail(id);
    unsigned info = 0;
    if (av > 0 && H5Zget_filter_info(id, &info) < 0)
      av = 0;
    H5Eclear2(H5E_DEFAULT);
    if (av <= 0 || !(info & H5Z_FILTER_CONFIG_DECODE_ENABLED))
      SL__FAIL(SL_ERR_UNSUPPORTED,
               "'%s' dataset '%s': uses filter %d '%s', which this HDF5 cannot decode (available "
               "here: deflate, "
               "shuffle, fletcher32, nbit, scaleoffset%s)",
               file, dset, (int)id, name[0] ? name : "unnamed",
               H5Zfilter_avail(H5Z_FILTER_SZIP) > 0 ? ", szip" : "");
  }
  return SL_OK;
}

static int select_fields(const sl__h5src *s, sl_h5_layout *all, sl_h5_layout *out, const char *file,
                         const char *dset) {
  if (!s->nfields) {
    *out = *all;
    memset(all, 0, sizeof *all);
    return SL_OK;
  }
  out->array = all->array;
  out->ncols_src = all->ncols_src;
  out->flat = all->flat;
  out->rows = all->rows;
  for (size_t i = 0; i < s->nfields; i++) {
    size_t k;
    if (sl_h5_layout_find(all, s->fields[i], &k) != SL_OK) {
      char names[1024];
      sl_h5_layout_names(all, names, sizeof names);
      SL__FAIL(SL_ERR_TYPE, "'%s' dataset '%s': no field '%s' (fields: %s)", file, dset,
               s->fields[i], names);
    }
    for (size_t j = 0; j < i; j++)
      if (!strcmp(s->fields[j], s->fields[i]))
        SL__FAIL(SL_ERR_INVAL, "'%s' dataset '%s': field '%s' selected twice", file, dset,
                 s->fields[i]);
    SL__CHECK(sl__h5_layout_push(out, &all->f[k]));
  }
  return SL_OK;
}

/* Chunks whose address and size put them past the end of the file: a corrupt chunk index
 * (an address overwritten). Independent reads fail on them inside HDF5 (each chunk is
 * checked against the end of the file), but a collective read of 1.10 checks only the
 * lowest address of its whole selection, and the MPI-IO driver fills what lies past the
 * end with zeros: wrong rows, no error. So files read collectively have every chunk
 * checked once, here. HDF5 >= 1.10.10 / 1.12.3 / 1.14.1 walks the index once
 * (H5Dchunk_iter); older ones only look a chunk up by its index, walking the index
 * from the start each time, so the scan is quadratic: n chunks cost n^2/2 steps of the
 * walk (about 6 ns each, measured), and all the files of a job share a budget of
 * SL__H5_CHUNK_SCAN_BUDGET steps (4096 chunks in one file: 0.1 s). A file beyond the budget
 * is read with independent transfers, which check each chunk (docs/hdf5.md). */
#define SL__H5_CHUNK_SCAN_BUDGET ((uint64_t)4096 * 4097 / 2)
#if H5_VERSION_GE(1, 14, 1) || (H5_VERSION_GE(1, 12, 3) && !H5_VERSION_GE(1, 13, 0)) ||            \
    (H5_VERSION_GE(1, 10, 10) && !H5_VERSION_GE(1, 11, 0))
#define SL__H5_HAVE_CHUNK_ITER 1
#endif

typedef struct chunk_scan {
  haddr_t eoa;
  hsize_t row, addr, size; /* the first chunk found past the end */
  int bad;
} chunk_scan;

static int chunk_past_end(chunk_scan *c, const hsize_t *offset, haddr_t addr, hsize_t size) {
  if (addr == HADDR_UNDEF) /* not allocated: reads as the fill value */
    return 0;
  if (addr + size < addr || addr + size > c->eoa) {
    c->row = offset[0];
    c->addr = addr;
    c->size = size;
    c->bad = 1;
    return 1;
  }
  return 0;
}

#ifdef SL__H5_HAVE_CHUNK_ITER
static int chunk_iter_cb(const hsize_t *offset, unsigned filter_mask, haddr_t addr, hsize_t size,
                         void *data) {
  (void)filter_mask;
  return chunk_past_end(data, offset, addr, size);
}
#endif

/* Does the dataset's data lie inside the file (eoa: the end HDF5 allows reads up to)?
 * Sets hf->coll for collective transfers. */
static int check_storage(const sl__h5src *s, h5_file *hf, hid_t did, hid_t dcpl, hid_t space,
                         haddr_t eoa, uint64_t *budget) {
  const char *file = hf->path, *dset = hf->dset;
  hf->coll = 1;
  H5D_layout_t lay = H5Pget_layout(dcpl);
  if (lay == H5D_CONTIGUOUS) {
    /* cheap, so for every transfer mode: one address and one size */
    haddr_t off = H5Dget_offset(did);
    hsize_t n = H5Dget_storage_size(did);
    H5Eclear2(H5E_DEFAULT); /* no offset: not allocated yet, or external storage */
    if (off != HADDR_UNDEF && (off + n < off || off + n > eoa))
      SL__FAIL(SL_ERR_FORMAT,
               "'%s' dataset '%s': its data (%llu bytes at byte %llu) lies past the end of the "
               "file (%llu bytes): the file is damaged",
               file, dset, (unsigned long long)n, (unsigned long long)off, (unsigned long long)eoa);
    return SL_OK;
  }
  if (lay != H5D_CHUNKED || s->transfer != SL_H5_XFER_COLLECTIVE)
    return SL_OK;
  chunk_scan c = {eoa, 0, 0, 0, 0};
#ifdef SL__H5_HAVE_CHUNK_ITER
  (void)space;
  (void)budget;
  if (H5Dchunk_iter(did, H5P_DEFAULT, chunk_iter_cb, &c) < 0 && !c.bad) {
    char m[512];
    sl__h5_errstr(m, sizeof m);
    SL__FAIL(SL_ERR_FORMAT, "'%s' dataset '%s': cannot read its chunk index: %s", file, dset, m);
  }
#else
  hsize_t nchunks = 0;
  if (H5Dget_num_chunks(did, space, &nchunks) < 0) {
    char m[512];
    sl__h5_errstr(m, sizeof m);
    SL__FAIL(SL_ERR_FORMAT, "'%s' dataset '%s': cannot read its chunk index: %s", file, dset, m);
  }
  uint64_t cost = nchunks * (nchunks + 1) / 2;
  if (nchunks > SL__H5_CHUNK_SCAN_BUDGET || cost > *budget) {
    hf->coll = 0;
    return SL_OK;
  }
  *budget -= cost;
  for (hsize_t i = 0; i < nchunks && !c.bad; i++) {
    hsize_t offset[H5S_MAX_RANK] = {0}, size = 0;
    haddr_t addr = HADDR_UNDEF;
    unsigned mask = 0;
    if (H5Dget_chunk_info(did, space, i, offset, &mask, &addr, &size) < 0) {
      char m[512];
      sl__h5_errstr(m, sizeof m);
      SL__FAIL(SL_ERR_FORMAT, "'%s' dataset '%s': cannot read chunk %llu of its index: %s", file,
               dset, (unsigned long long)i, m);
    }
    chunk_past_end(&c, offset, addr, size);
  }
#endif
  if (c.bad)
    SL__FAIL(SL_ERR_FORMAT,
             "'%s' dataset '%s': the chunk at row %llu (%llu bytes at byte %llu) lies past the "
             "end of the file (%llu bytes): the file is damaged",
             file, dset, (unsigned long long)c.row, (unsigned long long)c.size,
             (unsigned long long)c.addr, (unsigned long long)eoa);
  return SL_OK;
}

/* Inspect one file's dataset: rows, chunking, layout (with the field selection). */
static int inspect(const sl__h5src *s, h5_file *hf, sl_h5_layout *layout, uint64_t *budget) {
  const char *file = hf->path, *dset = hf->dset;
  struct stat sb;
  /* stat before HDF5 opens anything: open() of a FIFO without a writer would block */
  if (stat(file, &sb) != 0) {
    char what[300];
    snprintf(what, sizeof what, " (dataset '%s')", dset);
    return sl__input_open_error(file, what, errno);
  }
  if (!S_ISREG(sb.st_mode))
    return sl__input_not_regular(file, sb.st_mode);
  sl__input_id_set(&hf->id, &sb);
#if H5_VERSION_GE(1, 12, 0)
  htri_t is = H5Fis_accessible(file, H5P_DEFAULT);
#else
  htri_t is = H5Fis_hdf5(file);
#endif
  if (is == 0)
    SL__FAIL(SL_ERR_FORMAT, "input '%s' is not an HDF5 file (no HDF5 signature found; %lld bytes)",
             file, (long long)sb.st_size);
  if (is < 0) {
    char m[512];
    sl__h5_errstr(m, sizeof m);
    SL__FAIL(SL_ERR_FORMAT, "input '%s': cannot read it as HDF5: %s", file, m);
  }
  char m[512];
  hid_t fid = sl__h5_open_local(file, m, sizeof m);
  if (fid < 0) {
    SL__FAIL(SL_ERR_FORMAT, "input '%s': cannot open the HDF5 file (truncated or damaged?): %s",
             file, m);
  }
  hid_t did = -1, type = -1, space = -1, dcpl = -1;
  sl_h5_layout all;
  memset(&all, 0, sizeof all);
  /* the end of the file as HDF5 allows reads: past it the MPI-IO driver reads zeros */
  haddr_t eoa = HADDR_UNDEF;
  int rc = SL_OK;
  if (H5Fget_eoa(fid, &eoa) < 0 || eoa == HADDR_UNDEF)
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "input '%s': cannot read its size", file);
  else if ((uint64_t)eoa > (uint64_t)sb.st_size)
    rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                       "input '%s' is truncated: HDF5 needs %llu bytes, the file has %llu", file,
                       (unsigned long long)eoa, (unsigned long long)sb.st_size);
  if (rc == SL_OK)
    rc = check_path(fid, file, dset);
  if (rc == SL_OK && (did = H5Dopen2(fid, dset, H5P_DEFAULT)) < 0) {
    char m[512];
    sl__h5_errstr(m, sizeof m);
    rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__, "'%s': cannot open dataset '%s': %s",
                       file, dset, m);
  }
  if (rc == SL_OK && ((type = H5Dget_type(did)) < 0 || (space = H5Dget_space(did)) < 0 ||
                      (dcpl = H5Dget_create_plist(did)) < 0))
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__,
                       "'%s' dataset '%s': cannot read its type, shape or properties", file, dset);
  if (rc == SL_OK)
    rc = check_filters(dcpl, file, dset);
  if (rc == SL_OK)
    hf->filtered = H5Pget_nfilters(dcpl) > 0;
  if (rc == SL_OK)
    hf->self_contained = self_contained(fid, did, dcpl);
  if (rc == SL_OK)
    rc = check_storage(s, hf, did, dcpl, space, eoa, budget);
  int nd = 0;
  hsize_t dims[H5S_MAX_RANK];
  if (rc == SL_OK) {
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    nd = H5Sget_simple_extent_ndims(space);
    if (sc == H5S_NULL) {
      nd = 1;
      dims[0] = 0;
    } else if (sc == H5S_SCALAR || nd < 1) {
      rc = sl__error_set(SL_ERR_TYPE, __FILE__, __LINE__,
                         "'%s' dataset '%s': expected at least 1 dimension, found a scalar", file,
                         dset);
    } else if (H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
      rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__,
                         "'%s' dataset '%s': cannot read its dimensions", file, dset);
    }
  }
  if (rc == SL_OK) {
    hf->rows = dims[0];
    hf->chunk_rows = hf->chunk_bytes = 0;
    if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
      hsize_t cd[H5S_MAX_RANK];
      int cn = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);
      if (cn < 1) {
        rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__,
                           "'%s' dataset '%s': cannot read its chunk shape", file, dset);
      } else {
        hf->chunk_rows = cd[0];
        hf->chunk_bytes = H5Tget_size(type);
        for (int i = 0; i < cn; i++)
          hf->chunk_bytes *= cd[i];
      }
    }
  }
  if (rc == SL_OK) {
    all.rows = hf->rows;
    if (H5Tget_class(type) == H5T_COMPOUND) {
      if (nd != 1)
        rc = sl__error_set(SL_ERR_TYPE, __FILE__, __LINE__,
                           "'%s' dataset '%s': a compound dataset must have 1 dimension, found %d",
                           file, dset, nd);
      int nm = rc == SL_OK ? H5Tget_nmembers(type) : 0;
      for (int i = 0; i < nm && rc == SL_OK; i++) {
        char *mname = H5Tget_member_name(type, (unsigned)i);
        hid_t mt = H5Tget_member_type(type, (unsigned)i);
        if (!mname || mt < 0) {
          rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__,
                             "'%s' dataset '%s': cannot read compound member %d", file, dset, i);
        } else {
          int wanted = !s->nfields;
          for (size_t k = 0; k < s->nfields; k++)
            if (!strcmp(s->fields[k], mname))
              wanted = 1;
          sl__h5_fld f;
          char what[300];
          snprintf(what, sizeof what, "field '%s'", mname);
          if (strlen(mname) >= SL__H5_NAME) {
            rc = sl__error_set(SL_ERR_TYPE, __FILE__, __LINE__,
                               "'%s' dataset '%s': field name '%.40s...' is too long", file, dset,
                               mname);
          } else {
            rc = classify(mt, what, file, dset, &f);
            if (rc != SL_OK && !wanted) { /* an unselected field of any type is fine */
              sl__error_clear();
              rc = SL_OK;
              snprintf(f.name, sizeof f.name, "%s", mname);
              f.cls = -1;
            }
            if (rc == SL_OK) {
              snprintf(f.name, sizeof f.name, "%s", mname);
              f.col = i;
              rc = sl__h5_layout_push(&all, &f);
            }
          }
        }
        if (mt >= 0)
          H5Tclose(mt);
        H5free_memory(mname);
      }
    } else {
      sl__h5_fld f;
      rc = classify(type, "the element type", file, dset, &f);
      /* CF decoding: read once here and checked; every column shares the dataset's */
      if (rc == SL_OK && !s->raw)
        rc = sl__h5_cf_read(did, sl__h5_is_netcdf4(fid), file, dset, &f);
      uint64_t ncols = 1;
      for (int i = 1; i < nd; i++)
        ncols *= dims[i];
      all.array = nd == 1 || s->flatten ? 1 : 2;
      all.ncols_src = ncols;
      if (nd > 1 && s->flatten) {
        all.flat = ncols;
        ncols = 1; /* one field "value" */
      }
      if (nd > 1 && ncols > 100000)
        rc = sl__error_set(SL_ERR_TYPE, __FILE__, __LINE__,
                           "'%s' dataset '%s': rows of %llu elements are too wide (at most 100000)",
                           file, dset, (unsigned long long)ncols);
      for (uint64_t c = 0; c < ncols && rc == SL_OK; c++) {
        if (nd == 1 || all.flat)
          snprintf(f.name, sizeof f.name, "value");
        else
          snprintf(f.name, sizeof f.name, "c%llu", (unsigned long long)c);
        f.col = (int64_t)c;
        rc = sl__h5_layout_push(&all, &f);
      }
    }
  }
  if (rc == SL_OK) {
    rc = select_fields(s, &all, layout, file, dset);
    /* unselected unsupported members were kept with cls -1 only to be skipped */
    if (rc == SL_OK && !s->nfields)
      for (size_t i = 0; i < layout->n; i++)
        if (layout->f[i].cls < 0)
          rc = sl__error_set(SL_ERR_INTERNAL, __FILE__, __LINE__, "unclassified field");
    if (rc == SL_OK && layout->n == 0)
      rc = sl__error_set(SL_ERR_TYPE, __FILE__, __LINE__, "'%s' dataset '%s': no fields to read",
                         file, dset);
    /* the shape, the dimensions' names and the attributes a copy of the values keeps */
    if (rc == SL_OK)
      rc = sl__h5_dims_read(did, nd, dims, &layout->dims);
    if (rc == SL_OK && !s->raw)
      rc = sl__h5_attrs_read(did, layout);
  }
  free(all.f);
  sl__h5_meta_free(&all);
  if (dcpl >= 0)
    H5Pclose(dcpl);
  if (space >= 0)
    H5Sclose(space);
  if (type >= 0)
    H5Tclose(type);
  if (did >= 0)
    H5Dclose(did);
  if (H5Fclose(fid) < 0 && rc == SL_OK)
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot close '%s'", file);
  return rc;
}

static int has_glob(const char *s) {
  return strpbrk(s, "*?[") != NULL;
}

static int add_file(sl__h5src *s, size_t *cap, const char *path, const char *dset) {
  if (s->nfiles == *cap) {
    size_t c = *cap ? 2 * *cap : 8;
    h5_file *n = realloc(s->files, c * sizeof *n);
    SL__CHECK_ALLOC(n);
    s->files = n;
    *cap = c;
  }
  h5_file *f = &s->files[s->nfiles];
  memset(f, 0, sizeof *f);
  f->path = strdup(path);
  f->dset = strdup(dset);
  s->nfiles++;
  if (!f->path || !f->dset)
    SL__FAIL(SL_ERR_NOMEM, "out of memory");
  return SL_OK;
}

static void free_files(sl__h5src *s) {
  for (size_t i = 0; i < s->nfiles; i++) {
    free(s->files[i].path);
    free(s->files[i].dset);
  }
  free(s->files);
  s->files = NULL;
  s->nfiles = 0;
  free(s->layout.f);
  sl__h5_meta_free(&s->layout);
  memset(&s->layout, 0, sizeof s->layout);
}

static int root_scan(sl__h5src *s) {
  size_t cap = 0;
  for (size_t i = 0; i < s->nspecs; i++) {
    char *file = NULL, *dset = NULL;
    SL__CHECK(sl__h5_split_spec(s->specs[i], &file, &dset));
    int rc = SL_OK;
    if (has_glob(file)) {
      glob_t g;
      int gr = glob(file, 0, NULL, &g);
      if (gr == GLOB_NOMATCH)
        rc = sl__error_set(SL_ERR_NOTFOUND, __FILE__, __LINE__,
                           "no input file matches '%s' (dataset '%s')", file, dset);
      else if (gr != 0)
        rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot expand '%s'", file);
      else
        for (size_t k = 0; k < g.gl_pathc && rc == SL_OK; k++)
          rc = add_file(s, &cap, g.gl_pathv[k], dset);
      if (gr == 0)
        globfree(&g);
    } else {
      rc = add_file(s, &cap, file, dset);
    }
    free(file);
    free(dset);
    SL__CHECK(rc);
  }
  uint64_t base = 0, budget = SL__H5_CHUNK_SCAN_BUDGET;
  for (size_t i = 0; i < s->nfiles; i++) {
    sl_h5_layout l;
    memset(&l, 0, sizeof l);
    int rc = inspect(s, &s->files[i], &l, &budget);
    if (rc == SL_OK && i > 0 && sl__h5_layout_cmp(&l, &s->layout)) {
      char a[1024], b[1024];
      sl__h5_layout_desc(&s->layout, a, sizeof a);
      sl__h5_layout_desc(&l, b, sizeof b);
      rc = sl__error_set(
          SL_ERR_FORMAT, __FILE__, __LINE__,
          "'%s' dataset '%s': rows differ from those of '%s' (expected fields %s; found %s)",
          s->files[i].path, s->files[i].dset, s->files[0].path, a, b);
    }
    /* one decoding for all the files: the first file's would silently apply to the others */
    for (size_t k = 0; rc == SL_OK && i > 0 && k < l.n; k++)
      if (memcmp(&l.f[k].cf, &s->layout.f[k].cf, sizeof l.f[k].cf))
        rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                           "'%s' dataset '%s': its CF decoding attributes (_FillValue, "
                           "missing_value, valid_*, scale_factor, add_offset) differ from those "
                           "of '%s' (expected the same in every file; --raw reads the stored "
                           "values)",
                           s->files[i].path, s->files[i].dset, s->files[0].path);
    if (rc != SL_OK) {
      free(l.f);
      sl__h5_meta_free(&l);
      return rc;
    }
    if (i == 0) {
      s->layout = l;
    } else {
      free(l.f);
      sl__h5_meta_free(&l);
    }
    s->files[i].base = base;
    base += s->files[i].rows;
  }
  s->total_rows = base;
  s->layout.rows = s->layout.flat ? base * s->layout.flat : base;
  return SL_OK;
}

static int bcast_str(char **p, MPI_Comm comm, int rank) {
  uint64_t n = rank == 0 ? strlen(*p) + 1 : 0;
  SL__CHECK_MPI(MPI_Bcast(&n, 1, MPI_UINT64_T, 0, comm));
  if (rank != 0) {
    *p = malloc((size_t)n);
    SL__CHECK_ALLOC(*p);
  }
  SL__CHECK_MPI(MPI_Bcast(*p, (int)n, MPI_CHAR, 0, comm));
  return SL_OK;
}

int sl__h5src_prepare_comm(sl__h5src *s, sl_ctx *ctx) {
  MPI_Comm comm = sl_comm(ctx);
  int rank = sl_rank(ctx);
  sl__h5_quiet();
  free_files(s);
  int rc = SL_OK;
  if (rank == 0)
    rc = root_scan(s);
  int agreed = rc;
  SL__CHECK_MPI(MPI_Bcast(&agreed, 1, MPI_INT, 0, comm));
  if (agreed != SL_OK) {
    if (rank == 0)
      free_files(s);
    return rc != SL_OK ? rc : SL_ERR_REMOTE;
  }
  uint64_t hdr[2] = {s->nfiles, s->total_rows};
  SL__CHECK_MPI(MPI_Bcast(hdr, 2, MPI_UINT64_T, 0, comm));
  if (rank != 0) {
    s->nfiles = (size_t)hdr[0];
    s->total_rows = hdr[1];
    s->files = calloc(s->nfiles ? s->nfiles : 1, sizeof *s->files);
    SL__CHECK_ALLOC(s->files);
  }
  for (size_t i = 0; i < s->nfiles; i++) {
    h5_file *f = &s->files[i];
    SL__CHECK(bcast_str(&f->path, comm, rank));
    SL__CHECK(bcast_str(&f->dset, comm, rank));
    uint64_t v[11] = {f->rows,
                      f->base,
                      f->chunk_rows,
                      f->chunk_bytes,
                      (uint64_t)f->coll,
                      f->id.size,
                      f->id.mtime_s,
                      f->id.mtime_ns,
                      f->id.ino,
                      (uint64_t)f->filtered,
                      (uint64_t)f->self_contained};
    SL__CHECK_MPI(MPI_Bcast(v, 11, MPI_UINT64_T, 0, comm));
    f->rows = v[0];
    f->base = v[1];
    f->chunk_rows = v[2];
    f->chunk_bytes = v[3];
    f->coll = (int)v[4];
    f->id.size = v[5];
    f->id.mtime_s = v[6];
    f->id.mtime_ns = v[7];
    f->id.ino = v[8];
    f->filtered = (int)v[9];
    f->self_contained = (int)v[10];
    if (rank != 0)
      f->id.have_dev = 0; /* a device number is this node's: set at this rank's first look */
  }
  SL__CHECK(sl__h5_layout_bcast(&s->layout, 0, comm));
  s->block_bytes = (size_t)ctx->opt.read_block_bytes;
  return SL_OK;
}

static void coll_free(sl__h5src *s);

static int h5_prepare(sl__source *src, sl_ctx *ctx) {
  sl__h5src *s = src->impl;
  coll_free(s);
  SL__CHECK(sl__h5src_prepare_comm(s, ctx));
  if (s->transfer == SL_H5_XFER_COLLECTIVE)
    SL__CHECK_MPI(MPI_Comm_dup(sl_comm(ctx), &s->comm));
  src->total_bytes = s->total_rows * (s->layout.flat ? s->layout.flat : 1) * s->layout.row_size;
  return SL_OK;
}

/* Global row where partition i starts: the equal share, rounded down to a chunk start
 * of the file it falls in (monotonic, so ranges stay ordered and disjoint). */
static uint64_t boundary(const sl__h5src *s, int i, int n) {
  uint64_t lo, hi;
  sl__share(s->total_rows, i, n, &lo, &hi);
  if (i == 0)
    return 0;
  if (lo >= s->total_rows)
    return s->total_rows;
  for (size_t k = 0; k < s->nfiles; k++) {
    const h5_file *f = &s->files[k];
    if (lo >= f->base && lo < f->base + f->rows) {
      uint64_t r = lo - f->base;
      if (f->chunk_rows)
        r -= r % f->chunk_rows;
      return f->base + r;
    }
  }
  return lo;
}

/* The file holding global row `row` (nfiles past the end). */
static size_t file_of(const sl__h5src *s, uint64_t row) {
  size_t k = 0;
  while (k < s->nfiles && row >= s->files[k].base + s->files[k].rows)
    k++;
  return k;
}

static size_t read_row_bytes(const sl__h5src *s) {
  const sl_h5_layout *l = &s->layout;
  return l->array ? (size_t)l->ncols_src * (size_t)l->f[0].size : l->row_size;
}

/* Rows per read block in file k: the read block size, in whole chunks when a chunk fits. */
static uint64_t block_rows_of(const sl__h5src *s, size_t k) {
  size_t rr = read_row_bytes(s);
  uint64_t br = s->block_bytes / (rr ? rr : 1);
  if (br < 1)
    br = 1;
  if (s->files[k].chunk_rows && s->files[k].chunk_rows <= br)
    br -= br % s->files[k].chunk_rows;
  return br;
}

static int h5_open(sl__source *src, int partition, int partitions, void **state) {
  sl__h5src *s = src->impl;
  h5_state *st = calloc(1, sizeof *st);
  SL__CHECK_ALLOC(st);
  st->src = s;
  st->h = (h5_handle){-1, -1, -1, -1, -1, 0, 0};
  st->lo = boundary(s, partition, partitions);
  st->hi = boundary(s, partition + 1, partitions);
  st->cur = st->lo;
  st->read_row = read_row_bytes(s);
  *state = st;
  if (s->transfer == SL_H5_XFER_COLLECTIVE) {
    if (s->nparts == s->capparts) {
      size_t c = s->capparts ? 2 * s->capparts : 4;
      h5_state **n = realloc(s->parts, c * sizeof *n);
      SL__CHECK_ALLOC(n);
      s->parts = n;
      s->capparts = c;
    }
    s->parts[s->nparts++] = st;
  }
  return SL_OK;
}

static int close_handle(h5_handle *h) {
  int bad = 0;
  if (h->xfer >= 0 && H5Pclose(h->xfer) < 0)
    bad = 1;
  if (h->mtype >= 0 && H5Tclose(h->mtype) < 0)
    bad = 1;
  if (h->fspace >= 0 && H5Sclose(h->fspace) < 0)
    bad = 1;
  if (h->did >= 0 && H5Dclose(h->did) < 0)
    bad = 1;
  if (h->fid >= 0 && H5Fclose(h->fid) < 0)
    bad = 1;
  *h = (h5_handle){-1, -1, -1, -1, -1, 0, 0};
  return bad;
}

/* Collective rounds: before each collective HDF5 call, every rank of comm agrees that its
 * local part worked, so that a rank failing there (no memory for a property list, a
 * selection, a file that one rank cannot open) does not leave the others inside the call.
 * Returns the local code, or SL_ERR_REMOTE when only another rank failed. With coll 0
 * (independent transfers) there is nothing to agree on. */
static int coll_agree(int coll, MPI_Comm comm, int rc) {
  if (!coll)
    return rc;
  int ok = rc == SL_OK, all = 0;
  int mrc = MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
  if (mrc != MPI_SUCCESS)
    return sl__error_mpi(mrc, __FILE__, __LINE__, "agreeing before a collective HDF5 read");
  return rc != SL_OK ? rc : all ? SL_OK : SL_ERR_REMOTE;
}

/* The local part of opening a dataset for reads: its space, the memory type, the transfer
 * property list (cx: collective), and the row count prepare saw. */
static int read_setup(const sl__h5src *s, const h5_file *f, h5_handle *h, int cx) {
  h->fspace = H5Dget_space(h->did);
  h->mtype = sl__h5_mem_type(&s->layout);
  h->xfer = H5Pcreate(H5P_DATASET_XFER);
  if (h->fspace < 0 || h->mtype < 0 || h->xfer < 0)
    SL__FAIL(SL_ERR_HDF5, "'%s' dataset '%s': cannot set up the read (space, memory type)", f->path,
             f->dset);
  hsize_t dims[H5S_MAX_RANK];
  if (H5Sget_simple_extent_ndims(h->fspace) >= 1 &&
      H5Sget_simple_extent_dims(h->fspace, dims, NULL) >= 0 && dims[0] != f->rows)
    SL__FAIL(SL_ERR_IO,
             "input '%s' changed while the job read it: dataset '%s' had %llu rows, found %llu",
             f->path, f->dset, (unsigned long long)f->rows, (unsigned long long)dims[0]);
  if ((s->transfer == SL_H5_XFER_COLLECTIVE || s->driver == SL_H5_READ_MPIO) &&
      H5Pset_dxpl_mpio(h->xfer, cx ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT) < 0)
    SL__FAIL(SL_ERR_HDF5, "cannot set %s transfers for '%s'", cx ? "collective" : "independent",
             f->path);
  return SL_OK;
}

/* Open f's path without blocking (O_NONBLOCK: a FIFO put in its place opens at once),
 * check that it is the file prepare inspected, and name that very file for HDF5 by its
 * descriptor: a file renamed over the path after the check is not the one read, and the
 * sec2 driver's open cannot block on a FIFO. Where /proc is missing, the path (a window
 * of a few system calls). */
static int open_verified(h5_file *f, int *fd, char *by_fd, size_t cap, const char **name) {
  *fd = open(f->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (*fd < 0)
    SL__FAIL(SL_ERR_IO, "input '%s' %s while the job read it: %s", f->path,
             errno == ENOENT ? "was removed" : "cannot be opened", strerror(errno));
  struct stat sb;
  int rc = fstat(*fd, &sb) != 0
               ? sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "input '%s' cannot be checked: %s",
                               f->path, strerror(errno))
               : sl__input_id_check(f->path, &f->id, &sb);
  if (rc != SL_OK) {
    close(*fd);
    *fd = -1;
    return rc;
  }
  snprintf(by_fd, cap, "/proc/self/fd/%d", *fd);
  if (access(by_fd, R_OK) == 0)
    *name = by_fd;
  return SL_OK;
}

/* Open file k for reading: sec2, MPI-IO on MPI_COMM_SELF (independent transfers), or
 * MPI-IO on comm with collective transfers (then collective: every rank of comm, agreeing
 * before the file and the dataset are opened; on failure h may hold the open file). */
static int open_handle(const sl__h5src *s, size_t k, MPI_Comm comm, h5_handle *h) {
  h5_file *f = &s->files[k];
  int coll = s->transfer == SL_H5_XFER_COLLECTIVE, rc = SL_OK;
  /* the file prepare inspected, still a regular file (checked before HDF5 opens it: a
   * FIFO in its place would block the open) */
  int fd = -1;
  char by_fd[64];
  const char *name = f->path;
  if (!coll && s->driver != SL_H5_READ_MPIO && f->self_contained)
    rc = open_verified(f, &fd, by_fd, sizeof by_fd, &name);
  else
    rc = sl__input_id_check_path(f->path, &f->id);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  herr_t e = fapl < 0                       ? -1
             : coll                         ? H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL)
             : s->driver == SL_H5_READ_MPIO ? H5Pset_fapl_mpio(fapl, MPI_COMM_SELF, MPI_INFO_NULL)
                                            : H5Pset_fapl_sec2(fapl);
  /* a file read with independent transfers (f->coll 0) must read its chunk index
   * independently too: each rank looks up different chunks */
  if (e >= 0 && coll && f->coll)
    e = H5Pset_all_coll_metadata_ops(fapl, 1);
  if (e < 0 && rc == SL_OK)
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot set the file driver for '%s'",
                       f->path);
  rc = coll_agree(coll, comm, rc);
  if (rc != SL_OK) {
    if (fapl >= 0)
      H5Pclose(fapl);
    return rc;
  }
  h->fid = H5Fopen(name, H5F_ACC_RDONLY, fapl);
  char m[512] = "";
  if (h->fid < 0)
    sl__h5_errstr(m, sizeof m);
  if (fd >= 0)
    close(fd); /* HDF5 holds its own descriptor of the same file */
  H5Pclose(fapl);
  if (h->fid < 0) {
    rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot open input '%s' (dataset '%s'): %s",
                       f->path, f->dset, m);
  } else {
    h->is_open = 1;
    h->file = k;
  }
  hid_t dapl = rc == SL_OK ? H5Pcreate(H5P_DATASET_ACCESS) : -1;
  if (rc == SL_OK && dapl < 0)
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__,
                       "cannot create a dataset access property list");
  if (rc == SL_OK && f->chunk_bytes) {
    /* filtered chunks: hold at least two, so a block that is not chunk-aligned decompresses
     * each once; unfiltered ones, when a read block holds at least a chunk or 256 KiB: no
     * cache, so HDF5 reads them from the file straight into the read buffer instead of
     * through the cache (one copy of every row less; a block of part of a chunk is one
     * read of that part). Small read blocks keep the cache: without it every small read
     * goes to the file (64-byte blocks: 9x slower) */
    uint64_t nb = 2 * f->chunk_bytes;
    if (nb < (1u << 20))
      nb = 1u << 20;
    if (nb > (256u << 20))
      nb = 256u << 20;
    if (!f->filtered && (s->block_bytes >= f->chunk_bytes || s->block_bytes >= (256u << 10)))
      nb = 0;
    if (H5Pset_chunk_cache(dapl, 12421, (size_t)nb, H5D_CHUNK_CACHE_W0_DEFAULT) < 0)
      rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot size the chunk cache for '%s'",
                         f->path);
  }
  rc = coll_agree(coll, comm, rc);
  if (rc != SL_OK) {
    if (dapl >= 0)
      H5Pclose(dapl);
    return rc;
  }
  h->did = H5Dopen2(h->fid, f->dset, dapl);
  if (h->did < 0)
    sl__h5_errstr(m, sizeof m);
  H5Pclose(dapl);
  /* from here on no early return in collective mode: every rank makes the same agreements
   * (one more below, one in coll_round after this) whatever failed where */
  if (h->did < 0)
    rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot open dataset '%s' in '%s': %s",
                       f->dset, f->path, m);
  if (rc == SL_OK)
    rc = read_setup(s, f, h, coll && f->coll);
  if (!coll)
    return rc;
  rc = coll_agree(1, comm, rc);
  if (rc == SL_OK && f->coll && f->chunk_rows) {
    /* Walk the chunk index now, while every rank is here: its nodes enter the metadata
     * cache, so a collective read looks no chunk up in the file. A lookup inside the read
     * fails on the rank that makes it (a file truncated meanwhile) while the others wait
     * in the read's MPI-IO collective: a hang. One pass over the index, once per open. */
    hsize_t n = 0;
    if (H5Dget_num_chunks(h->did, h->fspace, &n) < 0) {
      sl__h5_errstr(m, sizeof m);
      rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__,
                         "'%s' dataset '%s': cannot read its chunk index: %s", f->path, f->dset, m);
    }
  }
  return rc;
}

/* After a last read of file k through a handle: rows read from a file that changed since
 * prepare (truncated: the drivers read zeros past its end; rewritten; replaced) are not
 * the file's rows. */
static int read_done(const sl__h5src *s, size_t k) {
  return sl__input_id_check_path(s->files[k].path, &s->files[k].id);
}

/* A read block large enough for file k's blocks. */
static int ensure_buf(h5_state *st, size_t k) {
  uint64_t br = block_rows_of(st->src, k);
  if (br != st->block_rows || !st->buf) {
    free(st->buf);
    st->block_rows = br;
    st->buf = malloc((size_t)br * st->read_row);
    SL__CHECK_ALLOC_FOR(st->buf, "a read block of HDF5 rows", (uint64_t)br * st->read_row,
                        "--sl-read-block-bytes");
  }
  return SL_OK;
}

/* Read rows [st->cur, st->cur + k) of file h->file into st->buf through handle h; k == 0
 * (collective rounds only) joins the read with an empty selection. On success the block
 * is ready to emit. */
static int read_rows(h5_state *st, h5_handle *h, uint64_t k) {
  const sl__h5src *s = st->src;
  const h5_file *f = &s->files[h->file];
  const sl_h5_layout *l = &s->layout;
  hsize_t start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
  int rc = SL_OK, sel = 0;
  hid_t ms = -1;
  if (H5Sget_simple_extent_ndims(h->fspace) < 1 ||
      H5Sget_simple_extent_dims(h->fspace, count, NULL) < 0) {
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__,
                       "'%s' dataset '%s': cannot read its dimensions", f->path, f->dset);
  } else {
    start[0] = k ? st->cur - f->base : 0;
    count[0] = k;
    hsize_t melems = (hsize_t)(k ? k : 1) * (l->array ? l->ncols_src : 1);
    ms = H5Screate_simple(1, &melems, NULL);
    sel = ms >= 0;
    if (sel && k)
      sel = H5Sselect_hyperslab(h->fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0;
    else if (sel)
      sel = H5Sselect_none(h->fspace) >= 0 && H5Sselect_none(ms) >= 0;
    if (!sel)
      rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__,
                         "'%s' dataset '%s': cannot select rows %llu..%llu", f->path, f->dset,
                         (unsigned long long)start[0], (unsigned long long)(start[0] + k));
  }
  rc = coll_agree(s->transfer == SL_H5_XFER_COLLECTIVE, s->comm, rc);
  if (rc != SL_OK) {
    if (ms >= 0)
      H5Sclose(ms);
    return rc;
  }
  char dummy[16];
  herr_t e = H5Dread(h->did, h->mtype, ms, h->fspace, h->xfer, st && st->buf ? st->buf : dummy);
  char m[512] = "";
  if (e < 0)
    sl__h5_errstr(m, sizeof m);
  H5Sclose(ms);
  if (e < 0) {
    /* a file changed under the read (truncated: a chunk index node read as zeros) is the
     * cause to report, not HDF5's symptom */
    SL__CHECK(read_done(s, h->file));
    SL__FAIL(SL_ERR_IO, "'%s' dataset '%s': cannot read rows %llu..%llu: %s", f->path, f->dset,
             (unsigned long long)start[0], (unsigned long long)(start[0] + k), m);
  }
  if (!k)
    return SL_OK;
  int identity = l->n == l->ncols_src || l->flat;
  for (size_t c = 0; identity && c < l->n; c++)
    if ((uint64_t)l->f[c].col != c)
      identity = 0;
  if (l->array && !identity) {
    /* column selection: each row through a copy, compacted in place (output rows are
     * never longer than input rows, so row r's output never overtakes row r+1's input) */
    size_t es = (size_t)l->f[0].size;
    char *tmp = malloc(st->read_row);
    SL__CHECK_ALLOC(tmp);
    for (uint64_t r = 0; r < k; r++) {
      memcpy(tmp, st->buf + r * st->read_row, st->read_row);
      char *out = st->buf + r * l->row_size;
      for (size_t c = 0; c < l->n; c++)
        memcpy(out + c * es, tmp + (size_t)l->f[c].col * es, es);
    }
    free(tmp);
  }
  /* flattened: the block's records are its elements, indexed by their flat index */
  uint64_t per = l->flat ? l->flat : 1;
  st->brow0 = st->cur * per;
  st->blen = k * per;
  st->bpos = st->skip < st->blen ? st->skip : st->blen;
  st->skip = 0;
  st->cur += k;
  st->input_bytes += k * per * l->row_size;
  return SL_OK;
}

/* Rows of st's next block in file k (its range and the file's end bound it). */
static uint64_t next_block(const h5_state *st, size_t k) {
  const h5_file *f = &st->src->files[k];
  uint64_t n = st->block_rows, fend = f->base + f->rows;
  if (n > st->hi - st->cur)
    n = st->hi - st->cur;
  if (n > fend - st->cur)
    n = fend - st->cur;
  return n;
}

/* Independent transfers: the partition reads its next block itself. */
static int read_block(h5_state *st) {
  const sl__h5src *s = st->src;
  size_t k = file_of(s, st->cur);
  if (k >= s->nfiles)
    SL__FAIL(SL_ERR_INTERNAL, "HDF5 source: row %llu past the last file",
             (unsigned long long)st->cur);
  if (st->h.is_open && st->h.file != k) {
    size_t was = st->h.file;
    close_handle(&st->h);
    SL__CHECK(read_done(s, was));
  }
  if (!st->h.is_open)
    SL__CHECK(open_handle(s, k, MPI_COMM_SELF, &st->h));
  SL__CHECK(ensure_buf(st, k));
  return read_rows(st, &st->h, next_block(st, k));
}

static int h5_pull(void *state, sl__part *part, sl_emitter *out, int *done) {
  (void)out; /* rows go to part->em[0] through the engine's row path (engine/rows.h) */
  h5_state *st = state;
  const sl_h5_layout *l = &st->src->layout;
  int coll = st->src->transfer == SL_H5_XFER_COLLECTIVE;
  part->row_layout = l; /* the layout of the blocks it hands out */
  part->st->input_bytes += st->input_bytes;
  st->input_bytes = 0;
  /* bounded work per call: one block when nothing downstream can be slow, else
   * SL__PULL_RECORDS rows (user callbacks run per row) */
  uint64_t budget = sl__rows_unbounded(part) ? UINT64_MAX : SL__PULL_RECORDS;
  for (int reads = 0; budget > 0;) {
    if (st->bpos < st->blen) {
      uint64_t n = st->blen - st->bpos;
      if (n > budget)
        n = budget;
      size_t took = 0;
      int rc = sl__push_rows(part, st->buf + st->bpos * l->row_size, (size_t)n, l->row_size,
                             st->src->with_index, st->brow0 + st->bpos, &took);
      st->bpos += took;
      budget -= took;
      SL__CHECK(rc);
      sl__ckpt_test_rows(part->run, took, 0); /* tests: a stop at a chosen row */
      if (took < n)
        return SL_OK; /* blocked */
      continue;
    }
    if (st->cur >= st->hi) {
      if (st->h.is_open) {
        size_t was = st->h.file;
        close_handle(&st->h);
        SL__CHECK(read_done(st->src, was));
      }
      *done = 1;
      return SL_OK;
    }
    if (coll || reads++ > 0)
      return SL_OK; /* collective: the next block comes from a round (h5_progress) */
    SL__CHECK(read_block(st));
  }
  return SL_OK;
}

static void h5_close(void *state) {
  h5_state *st = state;
  if (!st)
    return;
  sl__h5src *s = (sl__h5src *)st->src;
  for (size_t i = 0; i < s->nparts; i++)
    if (s->parts[i] == st) {
      s->parts[i] = s->parts[--s->nparts];
      break;
    }
  close_handle(&st->h);
  free(st->buf);
  free(st);
}

/* ---- collective transfers: rounds agreed in the event loop ----
 *
 * Every rank calls H5Dread on the same dataset the same number of times. Before each
 * round the ranks agree, with a non-blocking MPI_Iallreduce (MIN) on a duplicate of the
 * run's communicator, on {the lowest file any rank needs a block from now, minus "rows
 * left to read anywhere", minus "some rank is still running"}. A partition needs a block
 * when it has emitted the previous one; a partition blocked by backpressure does not, and
 * its rank joins the round with an empty selection. When the agreement completes on a
 * rank, that rank runs the round in the same call: it opens the agreed file collectively
 * if another one is open, reads one block for one of its partitions that needs one from
 * that file (round robin), or nothing. No rank waits for another except inside a round
 * that all of them agreed on and that each runs at its next loop turn. The rounds end on
 * every rank at the same agreement: the first that says no rows are left anywhere (the
 * source is quiescent, the loops may end), or that every rank has stopped (settle). A
 * rank whose loop ended early (failure, stop, another rank's abort) keeps joining rounds
 * with empty selections from settle, contributing "stopped", until that agreement. */
static int coll_round(sl__h5src *s, int64_t file) {
  int rc = SL_OK;
  if (s->ch.is_open && s->ch.file != (size_t)file) {
    if (close_handle(&s->ch)) /* collective */
      rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot close input '%s'",
                         s->files[s->ch_last].path);
    /* agreed, so that a file changed under one rank ends the round on every rank */
    int vrc = coll_agree(1, s->comm, read_done(s, s->ch_last));
    if (vrc != SL_OK)
      return rc != SL_OK ? rc : vrc;
  }
  if (!s->ch.is_open) {
    int orc = open_handle(s, (size_t)file, s->comm, &s->ch); /* collective */
    /* the steps after its last agreement are local: agree once more before the read */
    orc = coll_agree(1, s->comm, orc);
    if (orc != SL_OK) {
      close_handle(&s->ch);
      return orc;
    }
    s->ch_last = (size_t)file;
  }
  h5_state *who = NULL;
  for (size_t j = 0; j < s->nparts && !who && !s->stopped; j++) {
    h5_state *st = s->parts[(s->rr + j) % s->nparts];
    if (st->bpos >= st->blen && st->cur < st->hi && file_of(s, st->cur) == (size_t)file) {
      who = st;
      s->rr = (s->rr + j + 1) % s->nparts;
    }
  }
  if (who && rc == SL_OK) {
    rc = ensure_buf(who, (size_t)file);
    if (rc == SL_OK)
      return read_rows(who, &s->ch, next_block(who, (size_t)file));
  }
  /* nothing to read here, or a local failure: join the round with an empty selection,
   * so that no other rank is left inside this collective read */
  h5_state none;
  memset(&none, 0, sizeof none);
  none.src = s;
  int erc = read_rows(&none, &s->ch, 0);
  return rc != SL_OK ? rc : erc;
}

/* Collective transfers of two HDF5 sources in one run would agree on separate
 * communicators and could enter their collective reads in different orders on two ranks.
 * Refused before any round: the plan is the same on every rank, so every rank refuses. */
static int coll_check(sl__h5src *s, sl__run *run) {
  if (s->checked)
    return SL_OK;
  s->checked = 1;
  if (!run || !run->flow)
    return SL_OK;
  int n = sl__plan_collective_sources(run->flow);
  if (n < 2 || s->transfer != SL_H5_XFER_COLLECTIVE)
    return SL_OK;
  s->coll_done = 1; /* no rounds, nothing to settle: every such source refuses alike */
  SL__FAIL(SL_ERR_UNSUPPORTED,
           "collective HDF5 transfer: only one HDF5 source per flow may read collectively "
           "(found %d); use independent transfer (sl_h5_opts.transfer = "
           "SL_H5_XFER_INDEPENDENT) for the others",
           n);
}

static int h5_progress(sl__source *src, sl__run *run, int *progress) {
  sl__h5src *s = src->impl;
  if (s->transfer != SL_H5_XFER_COLLECTIVE || s->coll_done)
    return SL_OK;
  SL__CHECK(coll_check(s, run));
  if (s->req == MPI_REQUEST_NULL) {
    int64_t need = (int64_t)s->nfiles, left = 0;
    for (size_t i = 0; i < s->nparts && !s->stopped; i++) {
      const h5_state *st = s->parts[i];
      if (st->cur < st->hi) {
        left = 1;
        if (st->bpos >= st->blen) {
          int64_t k = (int64_t)file_of(s, st->cur);
          if (k < need)
            need = k;
        }
      }
    }
    s->agree_in[0] = need;
    s->agree_in[1] = -left;
    s->agree_in[2] = s->stopped ? 0 : -1;
    SL__CHECK_MPI(
        MPI_Iallreduce(s->agree_in, s->agree_out, 3, MPI_INT64_T, MPI_MIN, s->comm, &s->req));
    (*progress)++;
  }
  int flag = 0;
  SL__CHECK_MPI(MPI_Test(&s->req, &flag, MPI_STATUS_IGNORE));
  if (!flag)
    return SL_OK;
  (*progress)++;
  if (s->agree_out[1] == 0 || s->agree_out[2] == 0) { /* no rows left, or every rank stopped */
    s->coll_done = 1;
    if (!s->ch.is_open)
      return SL_OK;
    int rc = SL_OK;
    if (close_handle(&s->ch)) /* collective */
      rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot close input '%s'",
                         s->files[s->ch_last].path);
    /* every rank is here (the same agreement), the file's last read done everywhere */
    int vrc = coll_agree(1, s->comm, read_done(s, s->ch_last));
    return rc != SL_OK ? rc : vrc;
  }
  if (s->agree_out[0] >= (int64_t)s->nfiles)
    return SL_OK; /* rows left, but every rank is held by backpressure: agree again */
  s->rounds++;
  return coll_round(s, s->agree_out[0]);
}

static int h5_quiescent(sl__source *src, sl__run *run) {
  (void)run;
  const sl__h5src *s = src->impl;
  return s->transfer != SL_H5_XFER_COLLECTIVE || s->coll_done;
}

/* The engine's settle hook (every rank, once its loop ended). After a normal end the
 * rounds are over on every rank (coll_done). Otherwise this rank reads nothing more: it
 * completes the agreement in flight and joins every further round with an empty
 * selection, contributing "stopped", until an agreement says that every rank has stopped
 * (or that no rows are left), so no rank stays inside a collective call. The other ranks
 * end their loops on this rank's abort message and settle in turn. */
int sl__h5src_settle(sl__source *src, sl__run *run, int failed) {
  (void)failed; /* !failed implies coll_done; otherwise settle as after a failure */
  sl__h5src *s = src->impl;
  if (!s || s->transfer != SL_H5_XFER_COLLECTIVE || s->coll_done || s->comm == MPI_COMM_NULL)
    return SL_OK;
  s->stopped = 1;
  int rc = SL_OK, spins = 0;
  while (!s->coll_done) {
    int p = 0;
    int r = h5_progress(src, run, &p);
    if (r != SL_OK && rc == SL_OK)
      rc = r;
    if (r == SL_ERR_MPI)
      break; /* the agreement itself cannot go on */
    /* a failed round (open, read) was still joined: go on to the next agreement */
    if (p) {
      spins = 0;
    } else if (++spins >= 4096) { /* the others are still in their loops */
      struct timespec ts = {0, 50000};
      nanosleep(&ts, NULL);
    } else if (spins >= 16) {
      sched_yield();
    }
  }
  return rc;
}

static void coll_free(sl__h5src *s) {
  close_handle(&s->ch);
  /* settle completes every agreement; one is left only after an MPI failure, and MPI
   * forbids MPI_Request_free on a non-blocking collective: it is dropped */
  if (s->comm != MPI_COMM_NULL)
    MPI_Comm_free(&s->comm);
  s->req = MPI_REQUEST_NULL;
  s->coll_done = 0;
  s->stopped = 0;
  s->checked = 0;
  s->rounds = 0;
  s->rr = 0;
}

void sl__h5src_free(sl__h5src *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nspecs; i++)
    free(s->specs[i]);
  free(s->specs);
  for (size_t i = 0; i < s->nfields; i++)
    free(s->fields[i]);
  free(s->fields);
  coll_free(s);
  free(s->parts);
  free_files(s);
  free(s);
}

static void h5_destroy(sl__source *src) {
  sl__h5src_free(src->impl);
  src->impl = NULL;
}

static int h5_reads_file(const sl__source *src, unsigned long long dev, unsigned long long ino) {
  const sl__h5src *s = src->impl;
  struct stat sb;
  for (size_t i = 0; i < s->nfiles; i++)
    if (stat(s->files[i].path, &sb) == 0 && (unsigned long long)sb.st_dev == dev &&
        (unsigned long long)sb.st_ino == ino)
      return 1;
  return 0;
}

static size_t h5_inputs(const sl__source *src, char *buf, size_t cap) {
  return sl__h5src_inputs(src->impl, buf, cap);
}

static int h5_collective(const sl__source *src) {
  const sl__h5src *s = src->impl;
  return s && s->transfer == SL_H5_XFER_COLLECTIVE;
}

/* sl_flow_describe_run: each dataset with its rows and bytes (first 16), the row layout. */
static void h5_describe(const sl__source *src, FILE *out) {
  const sl__h5src *s = src->impl;
  size_t shown = s->nfiles < 16 ? s->nfiles : 16;
  for (size_t i = 0; i < shown; i++)
    fprintf(out, "      %s:%s: %" PRIu64 " rows, %" PRIu64 " bytes\n", s->files[i].path,
            s->files[i].dset, s->files[i].rows, s->files[i].rows * s->layout.row_size);
  if (shown < s->nfiles)
    fprintf(out, "      ... %zu more\n", s->nfiles - shown);
  fprintf(out, "      %" PRIu64 " rows of %zu bytes, %zu field(s)\n", s->total_rows,
          (size_t)s->layout.row_size, s->layout.n);
}

/* Checkpoints: a partition's position between two pulls is the first row of the block it
 * is emitting (or of the next block) and how many of that block's records it emitted. A
 * resume reads that block again from the same row and emits the rest: the blocks that
 * follow start at the same rows as in an uninterrupted run (the same --sl-read-block-bytes
 * given), so block-wise folds see the same blocks. Collective transfers read it in a
 * round like any other block. */
typedef struct h5_pos {
  uint64_t row, skip, lo, hi;
} h5_pos;

static int h5_snapshot(void *state, sl__bytes *out) {
  const h5_state *st = state;
  const sl_h5_layout *l = &st->src->layout;
  uint64_t per = l->flat ? l->flat : 1;
  h5_pos pos = {st->cur, 0, st->lo, st->hi};
  if (st->bpos < st->blen) {
    pos.row = st->brow0 / per;
    pos.skip = st->bpos;
  }
  return sl__bytes_append(out, &pos, sizeof pos);
}

static int h5_restore(void *state, const void *data, size_t len) {
  h5_state *st = state;
  h5_pos pos;
  if (len != sizeof pos)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: an HDF5 source's position of %zu bytes", len);
  memcpy(&pos, data, sizeof pos);
  if (pos.lo != st->lo || pos.hi != st->hi || pos.row < st->lo || pos.row > st->hi)
    SL__FAIL(SL_ERR_FORMAT,
             "checkpoint: HDF5 rows %llu..%llu (at %llu) saved for a partition that now reads "
             "rows %llu..%llu",
             (unsigned long long)pos.lo, (unsigned long long)pos.hi, (unsigned long long)pos.row,
             (unsigned long long)st->lo, (unsigned long long)st->hi);
  st->cur = pos.row;
  st->skip = pos.skip;
  st->bpos = st->blen = 0;
  return SL_OK;
}

static const sl__source_vt sl__h5_source_vt = {.name = "HDF5 datasets",
                                               .prepare = h5_prepare,
                                               .reads_file = h5_reads_file,
                                               .open = h5_open,
                                               .pull = h5_pull,
                                               .close = h5_close,
                                               .destroy = h5_destroy,
                                               .progress = h5_progress,
                                               .quiescent = h5_quiescent,
                                               .settle = sl__h5src_settle,
                                               /* a copy keeps a table's row order */
                                               .caps = SL__SRC_ORDERED,
                                               .inputs = h5_inputs,
                                               .collective = h5_collective,
                                               .describe = h5_describe,
                                               .snapshot = h5_snapshot,
                                               .restore = h5_restore};

int sl__h5src_new(const char *const *specs, size_t nspecs, const sl_h5_opts *opts,
                  sl__h5src **out) {
  sl__h5src *s = calloc(1, sizeof *s);
  SL__CHECK_ALLOC(s);
  *out = s;
  s->comm = MPI_COMM_NULL;
  s->req = MPI_REQUEST_NULL;
  s->ch = (h5_handle){-1, -1, -1, -1, -1, 0, 0};
  if (!specs || !nspecs)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_h5: no dataset given (expected FILE:/path/to/dataset)");
  s->specs = calloc(nspecs, sizeof *s->specs);
  SL__CHECK_ALLOC(s->specs);
  for (size_t i = 0; i < nspecs; i++) {
    char *f = NULL, *d = NULL;
    SL__CHECK(sl__h5_split_spec(specs[i], &f, &d));
    free(f);
    free(d);
    s->specs[i] = strdup(specs[i]);
    SL__CHECK_ALLOC(s->specs[i]);
    s->nspecs++;
  }
  if (opts) {
    s->with_index = opts->with_index;
    s->raw = opts->raw;
    s->flatten = opts->flatten;
    s->driver = opts->read_driver;
    if (s->driver < 0 || s->driver > SL_H5_READ_MPIO)
      SL__FAIL(SL_ERR_INVAL, "sl_flow_from_h5: unknown read_driver %d (expected 0, 1 or 2)",
               s->driver);
    if (opts->nfields && !opts->fields)
      SL__FAIL(SL_ERR_INVAL, "sl_flow_from_h5: nfields %zu but fields is NULL", opts->nfields);
    if (opts->nfields) {
      s->fields = calloc(opts->nfields, sizeof *s->fields);
      SL__CHECK_ALLOC(s->fields);
      for (size_t i = 0; i < opts->nfields; i++) {
        if (!opts->fields[i] || !*opts->fields[i])
          SL__FAIL(SL_ERR_INVAL, "sl_flow_from_h5: field %zu is NULL or empty", i);
        s->fields[i] = strdup(opts->fields[i]);
        SL__CHECK_ALLOC(s->fields[i]);
        s->nfields++;
      }
    }
  }
  if (opts) {
    s->transfer = opts->transfer;
    if (s->transfer < 0 || s->transfer > SL_H5_XFER_COLLECTIVE)
      SL__FAIL(SL_ERR_INVAL, "sl_flow_from_h5: unknown transfer %d (expected 0, 1 or 2)",
               s->transfer);
    if (s->transfer == SL_H5_XFER_COLLECTIVE && s->driver == SL_H5_READ_POSIX)
      SL__FAIL(SL_ERR_INVAL, "sl_flow_from_h5: collective transfers need the MPI-IO driver "
                             "(read_driver SL_H5_READ_MPIO or SL_H5_READ_DEFAULT), not POSIX");
  }
  if (s->transfer == SL_H5_XFER_DEFAULT)
    s->transfer = SL__H5_XFER_DEFAULT_MODE;
  if (s->transfer == SL_H5_XFER_COLLECTIVE)
    s->driver = SL_H5_READ_MPIO;
  if (s->driver == SL_H5_READ_DEFAULT)
    s->driver = SL__H5_READ_DEFAULT_DRIVER;
  return SL_OK;
}

const sl_h5_layout *sl__h5src_layout(const sl__h5src *s) {
  return &s->layout;
}

size_t sl__h5src_inputs(const sl__h5src *s, char *buf, size_t cap) {
  size_t pos = 0;
  if (cap)
    buf[0] = 0;
  for (size_t i = 0; i < s->nfiles; i++) {
    int w = snprintf(cap > pos ? buf + pos : NULL, cap > pos ? cap - pos : 0, "%s%s:%s",
                     i ? "\n" : "", s->files[i].path, s->files[i].dset);
    if (w < 0)
      break;
    pos += (size_t)w;
  }
  return pos;
}

int sl_flow_from_h5(sl_flow *flow, const char *const *specs, size_t nspecs, const sl_h5_opts *opts,
                    int partitions) {
  if (!flow)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_from_h5: NULL flow");
  sl__h5src *s = NULL;
  int rc = sl__h5src_new(specs, nspecs, opts, &s);
  if (rc != SL_OK) {
    sl__h5src_free(s);
    if (!flow->build_error)
      flow->build_error = rc;
    return rc;
  }
  return sl__flow_set_source(flow, partitions, &sl__h5_source_vt, s, "sl_flow_from_h5");
}

int sl_h5_describe(sl_ctx *ctx, const char *spec, const sl_h5_opts *opts, sl_h5_layout **layout) {
  if (!ctx || !spec || !layout)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_describe: NULL argument");
  sl__h5src *s = NULL;
  const char *specs[1] = {spec};
  int rc = sl__h5src_new(specs, 1, opts, &s); /* same arguments on every rank (SPMD) */
  if (rc == SL_OK)
    rc = sl__h5src_prepare_comm(s, ctx);
  if (rc == SL_OK) {
    rc = sl_h5_layout_copy(&s->layout, layout);
    if (rc == SL_OK)
      (*layout)->rows = s->layout.flat ? s->total_rows * s->layout.flat : s->total_rows;
  }
  /* every rank returns rank 0's code (the checks ran there); one error line: rank 0's,
   * or a rank's own when rank 0 succeeded */
  int code = rc;
  if (MPI_Bcast(&code, 1, MPI_INT, 0, sl_comm(ctx)) != MPI_SUCCESS)
    code = SL_ERR_MPI;
  if (rc != SL_OK && rc != SL_ERR_REMOTE && (sl_rank(ctx) == 0 || code == SL_OK))
    sl__report_error(ctx, rc);
  else if (rc != SL_OK)
    sl__error_clear();
  if (rc != SL_OK && rc != SL_ERR_REMOTE)
    code = rc;
  if (code != SL_OK && rc == SL_OK)
    sl_h5_layout_destroy(layout);
  sl__h5src_free(s);
  return code;
}
