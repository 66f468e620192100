/* SPDX-License-Identifier: BSD-3-Clause */
/* Small result files (sl_h5_file): a few small datasets built by rank 0 in memory with the
 * serial HDF5 library (the core driver, no backing store) and published through sl_output.
 *
 * Why in memory: the image is written to the output's temporary with checked write(2)
 * calls after its space was reserved, so a full disk is one errno found by rank 0 and
 * agreed, never a failed H5Fclose (after which HDF5 1.10 crashes at exit, closing the
 * half-closed file again). Every call that talks ends in one agreement (sl__h5_agree), so
 * every rank returns the same code and none enters a collective that another skips. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "sinks/output.h"
#include "h5/h5int.h"

struct sl_h5_file {
  sl_ctx *ctx;
  sl_output *out;
  hid_t fid;     /* rank 0: the file in memory */
  int failed;    /* the agreed code of a failed call: later calls return it */
  int committed; /* sl_h5_file_commit ran */
};

int sl__h5_agree(sl_ctx *ctx, int rc) {
  /* MINLOC over {rank where this rank's own failure is, its code}: the lowest such rank */
  struct {
    int who, code;
  } mine, first;
  mine.who = rc == SL_OK ? INT_MAX : rc == SL_ERR_REMOTE ? INT_MAX - 1 : sl_rank(ctx);
  mine.code = rc;
  SL__CHECK_MPI(MPI_Allreduce(&mine, &first, 1, MPI_2INT, MPI_MINLOC, sl_comm(ctx)));
  if (first.who == INT_MAX)
    return SL_OK;
  if (first.who == sl_rank(ctx))
    sl__report_error(ctx, rc);
  else
    sl__error_clear();
  return first.code;
}

/* "cannot write OUT: <what>: <HDF5's cause>" (call it before anything clears the stack). */
static int h5_fail(const sl_h5_file *f, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int h5_fail(const sl_h5_file *f, int line, const char *fmt, ...) {
  char what[1024], cause[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  sl__h5_errstr(cause, sizeof cause);
  return sl__error_set(SL_ERR_HDF5, __FILE__, line, "cannot write %s: %s: %s",
                       sl__output_path(f->out), what, cause);
}

/* The recorded message of a helper's failure, prefixed "cannot write OUT: <what>: ". */
static int rewrap(const sl_h5_file *f, int rc, const char *what) {
  char inner[512];
  snprintf(inner, sizeof inner, "%s", sl__error_message());
  sl__error_clear();
  return sl__error_set(rc, __FILE__, __LINE__, "cannot write %s: %s%s%s", sl__output_path(f->out),
                       what, what[0] ? ": " : "", inner);
}

/* Rank 0: the file in memory. */
static int core_create(sl_h5_file *f) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0 || H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0) {
    int rc = h5_fail(f, __LINE__, "cannot select the in-memory (core) driver");
    if (fapl >= 0)
      H5Pclose(fapl);
    return rc;
  }
  /* no backing store: the name is only HDF5's label for the file */
  f->fid = H5Fcreate(sl_output_tmp_path(f->out), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  int rc = f->fid < 0 ? h5_fail(f, __LINE__, "cannot create the file in memory") : SL_OK;
  H5Pclose(fapl);
  return rc;
}

int sl_h5_file_create(sl_ctx *ctx, const char *path, int overwrite, const char *const *inputs,
                      int ninputs, sl_h5_file **file) {
  if (!ctx || !file)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_file_create: NULL %s", ctx ? "file" : "ctx");
  sl__error_clear();
  sl__h5_quiet();
  /* every rank joins sl__output_open and the agreement, whatever failed before */
  sl_h5_file *f = calloc(1, sizeof *f);
  int rc = f ? SL_OK : sl__error_nomem(__FILE__, __LINE__, "internal state", 0, NULL);
  sl_output *out = NULL;
  int orc = sl__output_open(ctx, NULL, path, overwrite, inputs, ninputs, &out);
  if (rc == SL_OK)
    rc = orc;
  if (f) {
    f->ctx = ctx;
    f->out = out;
    f->fid = -1;
  }
  if (rc == SL_OK && sl_rank(ctx) == 0)
    rc = core_create(f);
  rc = sl__h5_agree(ctx, rc);
  if (rc != SL_OK) {
    if (f && f->fid >= 0)
      H5Fclose(f->fid);
    sl_output_destroy(&out);
    free(f);
    return rc;
  }
  *file = f;
  return SL_OK;
}

/* Rank 0: one dataset into the file in memory. */
static int put_table(sl_h5_file *f, const char *dset, const sl_h5_layout *l, const void *rows,
                     uint64_t nrows, const sl_h5_table_opts *o) {
  int nd = l->array == 2 ? 2 : 1;
  hsize_t dims[2] = {nrows, l->n};
  hid_t mt = sl__h5_mem_type(l), sp = -1, lcpl = -1, d = -1;
  int rc = SL_OK;
  if (mt < 0)
    rc = h5_fail(f, __LINE__, "cannot make the row type of '%s'", dset);
  if (rc == SL_OK && (sp = H5Screate_simple(nd, dims, NULL)) < 0)
    rc = h5_fail(f, __LINE__, "cannot make the dataspace of '%s' (%llu rows)", dset,
                 (unsigned long long)nrows);
  if (rc == SL_OK &&
      ((lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0))
    rc = h5_fail(f, __LINE__, "cannot set up the groups of '%s'", dset);
  if (rc == SL_OK && (d = H5Dcreate2(f->fid, dset, mt, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT)) < 0)
    rc = h5_fail(f, __LINE__, "cannot create dataset '%s'", dset);
  if (rc == SL_OK && nrows && H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)
    rc = h5_fail(f, __LINE__, "cannot write dataset '%s' (%llu rows)", dset,
                 (unsigned long long)nrows);
  char what[600];
  snprintf(what, sizeof what, "dataset '%s'", dset);
  for (size_t i = 0; o && i < o->nattrs && rc == SL_OK; i++)
    if (sl__h5_put_str_attr(d, o->attr_names[i], o->attr_values[i]) != SL_OK)
      rc = rewrap(f, SL_ERR_HDF5, what);
  if (rc == SL_OK && o && o->provenance) {
    sl__h5_prov p;
    sl__h5_prov_init(&p, f->ctx, o->inputs, nrows);
    if (sl__h5_put_provenance(d, &p) != SL_OK)
      rc = rewrap(f, SL_ERR_HDF5, what);
  }
  if (d >= 0 && H5Dclose(d) < 0 && rc == SL_OK)
    rc = h5_fail(f, __LINE__, "cannot close dataset '%s'", dset);
  if (lcpl >= 0)
    H5Pclose(lcpl);
  if (sp >= 0)
    H5Sclose(sp);
  if (mt >= 0)
    H5Tclose(mt);
  return rc;
}

/* The same checks on every rank (SPMD), except rows: only rank 0 reads them. */
static int check_table(const sl_h5_file *f, const char *dset, const sl_h5_layout *l,
                       const void *rows, uint64_t nrows, const sl_h5_table_opts *o) {
  if (!dset || dset[0] != '/' || !dset[1])
    SL__FAIL(SL_ERR_INVAL,
             "sl_h5_file_write_table: dataset '%s' (expected an absolute path "
             "such as /stats)",
             dset ? dset : "(null)");
  if (!l || !l->n)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_file_write_table: %s layout for '%s'", l ? "empty" : "NULL",
             dset);
  if (nrows > (uint64_t)SIZE_MAX / (l->row_size ? l->row_size : 1))
    SL__FAIL(SL_ERR_INVAL, "sl_h5_file_write_table: %llu rows of '%s' cannot be addressed",
             (unsigned long long)nrows, dset);
  if (sl_rank(f->ctx) == 0 && nrows && !rows)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_file_write_table: NULL rows for '%s' on rank 0", dset);
  if (o && o->nattrs && (!o->attr_names || !o->attr_values))
    SL__FAIL(SL_ERR_INVAL,
             "sl_h5_file_write_table: %zu attributes of '%s' without names or "
             "values",
             o->nattrs, dset);
  for (size_t i = 0; o && i < o->nattrs; i++)
    if (!o->attr_names[i] || !o->attr_names[i][0] || !o->attr_values[i])
      SL__FAIL(SL_ERR_INVAL, "sl_h5_file_write_table: attribute %zu of '%s' has no name or value",
               i, dset);
  return SL_OK;
}

int sl_h5_file_write_table(sl_h5_file *f, const char *dset, const sl_h5_layout *layout,
                           const void *rows, uint64_t nrows, const sl_h5_table_opts *opts) {
  if (!f)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_file_write_table: NULL file");
  if (f->failed)
    return f->failed;
  if (f->committed)
    SL__FAIL(SL_ERR_STATE, "sl_h5_file_write_table: '%s' is committed already",
             sl__output_path(f->out));
  int rc = check_table(f, dset, layout, rows, nrows, opts);
  if (rc == SL_OK && sl_rank(f->ctx) == 0)
    rc = put_table(f, dset, layout, rows, nrows, opts);
  rc = sl__h5_agree(f->ctx, rc);
  f->failed = rc;
  return rc;
}

/* Rank 0: the file's image (flushed, then the file closed). */
static int take_image(sl_h5_file *f, char **image, size_t *n) {
  ssize_t sz = -1;
  int rc = SL_OK;
  if (H5Fflush(f->fid, H5F_SCOPE_GLOBAL) < 0)
    rc = h5_fail(f, __LINE__, "cannot flush the file");
  if (rc == SL_OK && (sz = H5Fget_file_image(f->fid, NULL, 0)) < 0)
    rc = h5_fail(f, __LINE__, "cannot size the file's image");
  if (rc == SL_OK) {
    *image = malloc(sz ? (size_t)sz : 1);
    if (!*image)
      rc = sl__error_set(SL_ERR_NOMEM, __FILE__, __LINE__,
                         "cannot write %s: out of memory for its image (%zd bytes)",
                         sl__output_path(f->out), sz);
  }
  if (rc == SL_OK && H5Fget_file_image(f->fid, *image, (size_t)sz) < 0)
    rc = h5_fail(f, __LINE__, "cannot copy the file's image");
  herr_t c = H5Fclose(f->fid);
  f->fid = -1; /* a failed close is not retried: HDF5 released the identifier */
  if (c < 0 && rc == SL_OK)
    rc = h5_fail(f, __LINE__, "cannot close the file in memory");
  if (rc != SL_OK) {
    free(*image);
    *image = NULL;
    return rc;
  }
  *n = (size_t)sz;
  return SL_OK;
}

/* Rank 0: the image to the output's temporary, every write checked. */
static int write_image(const sl_h5_file *f, const char *image, size_t n) {
  size_t done = 0;
  int fd = open(sl_output_tmp_path(f->out), O_WRONLY | O_CLOEXEC), e = 0;
  if (fd < 0)
    e = errno;
  while (!e && done < n) {
    ssize_t w = write(fd, image + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      e = w < 0 ? errno : ENOSPC; /* no progress: a full device */
    else
      done += (size_t)w;
  }
  if (fd >= 0 && close(fd) != 0 && !e)
    e = errno;
  if (!e)
    return SL_OK;
  SL__FAIL(SL_ERR_IO, "cannot write %s: %s (%zu of %zu bytes written)", sl__output_path(f->out),
           strerror(e), done, n);
}

int sl_h5_file_commit(sl_h5_file *f) {
  if (!f)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_file_commit: NULL file");
  if (f->committed)
    SL__FAIL(SL_ERR_STATE, "sl_h5_file_commit: '%s' is committed already", sl__output_path(f->out));
  f->committed = 1;
  sl_ctx *ctx = f->ctx;
  int root = sl_rank(ctx) == 0;
  if (f->failed) { /* reported: remove the temporary, on every rank alike */
    (void)sl__output_commit(f->out, f->failed);
    sl__error_clear();
    return f->failed;
  }
  char *image = NULL;
  size_t n = 0;
  int rc = root ? take_image(f, &image, &n) : SL_OK;
  /* rank 0's outcome and size everywhere: the reservation is collective */
  uint64_t hdr[2] = {(uint64_t)(rc != SL_OK), n};
  int mrc = MPI_Bcast(hdr, 2, MPI_UINT64_T, 0, sl_comm(ctx));
  if (mrc != MPI_SUCCESS && rc == SL_OK)
    rc = sl__error_mpi(mrc, __FILE__, __LINE__, "MPI_Bcast");
  if (mrc == MPI_SUCCESS && !hdr[0]) {
    int r = sl__output_reserve(f->out, hdr[1]);
    if (r != SL_OK && r != SL_ERR_REMOTE)
      r = rewrap(f, r, "");
    if (rc == SL_OK)
      rc = r;
  }
  if (rc == SL_OK && root)
    rc = write_image(f, image, n);
  free(image);
  rc = sl__output_commit(f->out, rc);
  rc = sl__h5_agree(ctx, rc);
  f->failed = rc;
  return rc;
}

void sl_h5_file_destroy(sl_h5_file **file) {
  if (!file || !*file)
    return;
  sl_h5_file *f = *file;
  if (f->fid >= 0)
    H5Fclose(f->fid);
  sl_output_destroy(&f->out);
  free(f);
  *file = NULL;
}
