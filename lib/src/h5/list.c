/* SPDX-License-Identifier: BSD-3-Clause */
/* sl_h5_list: the datasets of a file, with shapes, types, dimension names, and which are
 * coordinates (rank 0 reads, every rank gets the list). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5/h5int.h"

#define SL__H5_LIST_MAX 100000

typedef struct lst {
  sl_h5_var *v;
  size_t n, cap;
  int rc;
} lst;

static void one(hid_t fid, const char *name, lst *l) {
  hid_t d = H5Dopen2(fid, name, H5P_DEFAULT);
  if (d < 0)
    return;
  sl_h5_var *v = &l->v[l->n];
  memset(v, 0, sizeof *v);
  snprintf(v->path, sizeof v->path, "%s%s", name[0] == '/' ? "" : "/", name);
  hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
  hsize_t len[H5S_MAX_RANK] = {0};
  int nd = sp >= 0 ? H5Sget_simple_extent_dims(sp, len, NULL) : -1;
  v->compound = t >= 0 && H5Tget_class(t) == H5T_COMPOUND;
  v->cls = t >= 0 && !v->compound ? sl__h5_type_class(t) : -1;
  v->size = t >= 0 ? H5Tget_size(t) : 0;
  v->ndims = nd < 0 ? 0 : nd > 8 ? 8 : nd;
  sl__h5_dims *dims = NULL;
  if (nd > 0 && sl__h5_dims_read(d, nd, len, &dims) == SL_OK) {
    for (int i = 0; i < v->ndims; i++) {
      v->dims[i] = len[i];
      snprintf(v->dim[i], sizeof v->dim[i], "%s", dims->name[i]);
    }
    /* a dimension scale itself: a coordinate, or a bare netCDF dimension */
    char cls[32] = "";
    hid_t a = H5Aexists(d, "CLASS") > 0 ? H5Aopen(d, "CLASS", H5P_DEFAULT) : -1;
    if (a >= 0) {
      hid_t at = H5Aget_type(a), mt = H5Tcopy(H5T_C_S1);
      if (at >= 0 && H5Tget_class(at) == H5T_STRING && !H5Tis_variable_str(at) && mt >= 0 &&
          H5Tget_size(at) < sizeof cls && H5Tset_size(mt, H5Tget_size(at)) >= 0)
        (void)H5Aread(a, mt, cls);
      if (mt >= 0)
        H5Tclose(mt);
      if (at >= 0)
        H5Tclose(at);
      H5Aclose(a);
    }
    if (!strncmp(cls, "DIMENSION_SCALE", 15))
      v->kind = nd == 1 && dims->coord[0][0] == 0 ? SL_H5_VAR_DIM : SL_H5_VAR_COORD;
  }
  free(dims);
  if (t >= 0)
    H5Tclose(t);
  if (sp >= 0)
    H5Sclose(sp);
  H5Dclose(d);
  H5Eclear2(H5E_DEFAULT);
  l->n++;
}

static herr_t visit_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  lst *l = data;
  if (info->type != H5L_TYPE_HARD)
    return 0;
  H5O_info_t oi;
  if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET) {
    H5Eclear2(H5E_DEFAULT);
    return 0;
  }
  if (l->n == SL__H5_LIST_MAX)
    return 1;
  if (l->n == l->cap) {
    size_t c = l->cap ? 2 * l->cap : 64;
    sl_h5_var *nv = realloc(l->v, c * sizeof *nv);
    if (!nv) {
      l->rc = SL_ERR_NOMEM;
      return -1;
    }
    l->v = nv;
    l->cap = c;
  }
  one(g, name, l);
  return 0;
}

static int root_list(const char *file, lst *l) {
  struct stat sb;
  if (stat(file, &sb) != 0)
    SL__FAIL(SL_ERR_NOTFOUND, "cannot list '%s': no such file", file);
  if (!S_ISREG(sb.st_mode))
    SL__FAIL(SL_ERR_FORMAT, "cannot list '%s': not a regular file", file);
  char m[512];
  hid_t fid = sl__h5_open_local(file, m, sizeof m);
  if (fid < 0) {
    SL__FAIL(SL_ERR_FORMAT, "cannot list '%s': not an HDF5 file, or damaged: %s", file, m);
  }
  herr_t e = H5Lvisit(fid, H5_INDEX_NAME, H5_ITER_INC, visit_cb, l);
  H5Eclear2(H5E_DEFAULT);
  H5Fclose(fid);
  if (l->rc != SL_OK)
    SL__FAIL(l->rc, "out of memory listing '%s' (%zu datasets)", file, l->n);
  if (e < 0)
    SL__FAIL(SL_ERR_FORMAT, "cannot list '%s': its groups cannot be read", file);
  return SL_OK;
}

int sl_h5_list(sl_ctx *ctx, const char *file, sl_h5_var **vars, size_t *n) {
  if (!ctx || !file || !vars || !n)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_list: NULL argument");
  sl__h5_quiet();
  *vars = NULL;
  *n = 0;
  lst l = {NULL, 0, 0, SL_OK};
  int root = sl_rank(ctx) == 0;
  int rc = sl__h5_agree(ctx, root ? root_list(file, &l) : SL_OK);
  uint64_t cnt = l.n;
  if (rc == SL_OK && MPI_Bcast(&cnt, 1, MPI_UINT64_T, 0, sl_comm(ctx)) != MPI_SUCCESS)
    rc = sl__error_set(SL_ERR_MPI, __FILE__, __LINE__, "cannot broadcast the list of '%s'", file);
  if (rc == SL_OK && !root && !(l.v = calloc(cnt ? (size_t)cnt : 1, sizeof *l.v)))
    rc = sl__error_nomem(__FILE__, __LINE__, "the list of datasets", cnt * sizeof *l.v, NULL);
  /* agreed before the broadcast, which a rank that failed here would not join */
  if (rc == SL_OK || rc == SL_ERR_NOMEM)
    rc = sl__h5_agree(ctx, rc);
  if (rc == SL_OK && cnt &&
      MPI_Bcast(l.v, (int)(cnt * sizeof *l.v), MPI_BYTE, 0, sl_comm(ctx)) != MPI_SUCCESS)
    rc = sl__error_set(SL_ERR_MPI, __FILE__, __LINE__, "cannot broadcast the list of '%s'", file);
  if (rc != SL_OK) {
    free(l.v);
    return rc;
  }
  *vars = l.v;
  *n = (size_t)cnt;
  return SL_OK;
}
