/* SPDX-License-Identifier: BSD-3-Clause */
/* CF decoding attributes, dimension scales and carried attributes of a dataset (read by
 * rank 0 when a dataset is described; see docs/netcdf.md).
 *
 * The decoding follows CF 1.x sections 2.5.1 and 8.1 as netCDF4-python applies them:
 * _FillValue (netCDF's default fill value of the type in a netCDF-4 file when absent),
 * missing_value (one value or several), valid_min / valid_max / valid_range compared with
 * the stored values, then scale_factor and add_offset. Every attribute is checked here,
 * once, so that a bad one is one error line before any work. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "h5/h5int.h"

/* The low `size` bytes of u, in the native order of a `size`-byte integer (two's
 * complement: a signed value's bits narrowed alike). */
static void store_bits(uint64_t u, size_t size, unsigned char *out) {
  uint8_t a = (uint8_t)u;
  uint16_t b = (uint16_t)u;
  uint32_t c = (uint32_t)u;
  if (size == 1)
    memcpy(out, &a, 1);
  else if (size == 2)
    memcpy(out, &b, 2);
  else if (size == 4)
    memcpy(out, &c, 4);
  else
    memcpy(out, &u, 8);
}

/* netCDF's default fill values (netcdf.h NC_FILL_*), by class and size. */
static void default_fill(const sl__h5_fld *f, unsigned char *out) {
  memset(out, 0, 8);
  if (f->cls == SL_H5_FLOAT) {
    if (f->size == 4) {
      float v = 9.9692099683868690e+36f;
      memcpy(out, &v, 4);
    } else {
      double v = 9.9692099683868690e+36;
      memcpy(out, &v, 8);
    }
    return;
  }
  if (f->cls == SL_H5_INT) { /* NC_FILL_BYTE/SHORT/INT/INT64: the type's minimum + 1 */
    int64_t d = f->size == 1   ? -127
                : f->size == 2 ? -32767
                : f->size == 4 ? -2147483647
                               : -9223372036854775806LL;
    store_bits((uint64_t)d, f->size, out);
    return;
  }
  store_bits(f->size == 1   ? 255u
             : f->size == 2 ? 65535u
             : f->size == 4 ? 4294967295u
                            : 18446744073709551614ull,
             f->size, out);
}

static const char *type_desc(hid_t t, char *buf, size_t cap) {
  size_t size = H5Tget_size(t);
  switch (H5Tget_class(t)) {
  case H5T_INTEGER:
    snprintf(buf, cap, "a %zu-byte %sinteger", size,
             H5Tget_sign(t) == H5T_SGN_NONE ? "unsigned " : "");
    break;
  case H5T_FLOAT:
    snprintf(buf, cap, "a %zu-byte float", size);
    break;
  case H5T_STRING:
    snprintf(buf, cap, "a string");
    break;
  default:
    snprintf(buf, cap, "of a non-numeric type");
  }
  return buf;
}

static const char *fld_desc(const sl__h5_fld *f, char *buf, size_t cap) {
  static const char *n[] = {"integer", "unsigned integer", "float", "string"};
  snprintf(buf, cap, "a %llu-byte %s", (unsigned long long)f->size, n[f->cls]);
  return buf;
}

/* A value v (double) into the field's stored type (out, 8 bytes); 0 when it holds it
 * exactly (floats: any finite or non-finite value; a float32 rounds), -1 when not. */
static int to_stored(const sl__h5_fld *f, double v, unsigned char *out) {
  memset(out, 0, 8);
  if (f->cls == SL_H5_FLOAT) {
    if (f->size == 4) {
      float x = (float)v;
      memcpy(out, &x, 4);
    } else {
      memcpy(out, &v, 8);
    }
    return 0;
  }
  if (!isfinite(v) || v != floor(v))
    return -1;
  uint64_t u; /* the value's bits in two's complement: narrowed below to the stored size */
  if (f->cls == SL_H5_INT) {
    double lo = -ldexp(1, (int)f->size * 8 - 1), hi = ldexp(1, (int)f->size * 8 - 1);
    if (v < lo || v >= hi)
      return -1;
    u = (uint64_t)(int64_t)v;
  } else {
    if (v < 0 || v >= ldexp(1, (int)f->size * 8))
      return -1;
    u = (uint64_t)v;
  }
  store_bits(u, f->size, out);
  return 0;
}

/* Attribute `name` of did as up to max doubles (*n of them; 0 when absent). A non-numeric
 * attribute is SL_ERR_FORMAT. With same_type, its type must be the field's (class, size,
 * sign), and it is read in that type into raw. */
static int num_attr(hid_t did, const char *name, const char *file, const char *dset,
                    const sl__h5_fld *f, int same_type, double *v, size_t max, size_t *n,
                    unsigned char *raw) {
  *n = 0;
  htri_t e = H5Aexists(did, name);
  if (e < 0)
    SL__FAIL(SL_ERR_HDF5, "'%s' dataset '%s': cannot look for attribute %s", file, dset, name);
  if (!e)
    return SL_OK;
  hid_t a = H5Aopen(did, name, H5P_DEFAULT);
  hid_t t = a >= 0 ? H5Aget_type(a) : -1;
  hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
  int rc = SL_OK;
  char td[64], fd[64];
  hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  if (a < 0 || t < 0 || np < 0) {
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__,
                       "'%s' dataset '%s': cannot read attribute %s", file, dset, name);
  } else if (H5Tget_class(t) != H5T_INTEGER && H5Tget_class(t) != H5T_FLOAT) {
    rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                       "'%s' dataset '%s': attribute %s is %s (expected a number)", file, dset,
                       name, type_desc(t, td, sizeof td));
  } else if (np < 1 || (size_t)np > max) {
    rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                       "'%s' dataset '%s': attribute %s has %lld values (expected %s%zu)", file,
                       dset, name, (long long)np, max > 1 ? "1 to " : "", max);
  } else if (same_type && (sl__h5_type_class(t) != f->cls || H5Tget_size(t) != f->size)) {
    rc = sl__error_set(SL_ERR_FORMAT, __FILE__, __LINE__,
                       "'%s' dataset '%s': attribute %s is %s, expected the variable's type (%s)",
                       file, dset, name, type_desc(t, td, sizeof td), fld_desc(f, fd, sizeof fd));
  } else if (H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0) {
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__,
                       "'%s' dataset '%s': cannot read attribute %s", file, dset, name);
  } else {
    *n = (size_t)np;
    if (same_type && raw) {
      hid_t mt = sl__h5_field_type(f);
      memset(raw, 0, 8);
      if (mt < 0 || H5Aread(a, mt, raw) < 0)
        rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__,
                           "'%s' dataset '%s': cannot read attribute %s", file, dset, name);
      if (mt >= 0)
        H5Tclose(mt);
    }
  }
  if (sp >= 0)
    H5Sclose(sp);
  if (t >= 0)
    H5Tclose(t);
  if (a >= 0)
    H5Aclose(a);
  return rc;
}

/* v into the stored type, or an error naming the attribute. */
static int stored_or_fail(const sl__h5_fld *f, double v, unsigned char *out, const char *name,
                          const char *file, const char *dset) {
  char fd[64];
  if (to_stored(f, v, out) != 0)
    SL__FAIL(SL_ERR_FORMAT,
             "'%s' dataset '%s': attribute %s = %.17g does not fit the variable's type (%s)", file,
             dset, name, v, fld_desc(f, fd, sizeof fd));
  return SL_OK;
}

int sl__h5_is_netcdf4(hid_t fid) {
  htri_t e = H5Aexists_by_name(fid, "/", "_NCProperties", H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return e > 0;
}

int sl__h5_cf_read(hid_t did, int nc4, const char *file, const char *dset, sl__h5_fld *f) {
  sl_h5_cf *cf = &f->cf;
  memset(cf, 0, sizeof *cf);
  cf->scale_factor = 1;
  if (!sl_h5_class_is_numeric((sl_h5_class)f->cls))
    return SL_OK;
  double v[SL_H5_CF_MAX_MISSING];
  size_t n = 0;
  SL__CHECK(num_attr(did, "_FillValue", file, dset, f, 1, v, 1, &n, cf->fill));
  if (n)
    cf->flags |= SL_H5_CF_FILL;
  else if (nc4) {
    default_fill(f, cf->fill);
    cf->flags |= SL_H5_CF_FILL | SL_H5_CF_DEFAULT;
  }
  SL__CHECK(num_attr(did, "missing_value", file, dset, f, 0, v, SL_H5_CF_MAX_MISSING, &n, NULL));
  for (size_t i = 0; i < n; i++)
    SL__CHECK(stored_or_fail(f, v[i], cf->missing[i], "missing_value", file, dset));
  if (n) {
    cf->flags |= SL_H5_CF_MISSING;
    cf->nmissing = (unsigned)n;
  }
  double r[2], lo = 0, hi = 0;
  size_t nr = 0, nlo = 0, nhi = 0;
  SL__CHECK(num_attr(did, "valid_range", file, dset, f, 0, r, 2, &nr, NULL));
  SL__CHECK(num_attr(did, "valid_min", file, dset, f, 0, &lo, 1, &nlo, NULL));
  SL__CHECK(num_attr(did, "valid_max", file, dset, f, 0, &hi, 1, &nhi, NULL));
  if (nr == 1)
    SL__FAIL(SL_ERR_FORMAT, "'%s' dataset '%s': attribute valid_range has 1 value (expected 2)",
             file, dset);
  if (nr == 2) {
    if (!(r[0] <= r[1]))
      SL__FAIL(SL_ERR_FORMAT,
               "'%s' dataset '%s': attribute valid_range is [%.17g, %.17g] (expected min <= max)",
               file, dset, r[0], r[1]);
    if ((nlo && lo != r[0]) || (nhi && hi != r[1]))
      SL__FAIL(SL_ERR_FORMAT,
               "'%s' dataset '%s': attribute valid_range [%.17g, %.17g] conflicts with valid_min "
               "/ valid_max (%s%.17g, %s%.17g); CF allows one or the other",
               file, dset, r[0], r[1], nlo ? "" : "none ", nlo ? lo : NAN, nhi ? "" : "none ",
               nhi ? hi : NAN);
    lo = r[0];
    hi = r[1];
    nlo = nhi = 1;
  } else if (nlo && nhi && !(lo <= hi)) {
    SL__FAIL(SL_ERR_FORMAT,
             "'%s' dataset '%s': attributes valid_min %.17g and valid_max %.17g conflict "
             "(expected valid_min <= valid_max)",
             file, dset, lo, hi);
  }
  if (nlo) {
    SL__CHECK(stored_or_fail(f, lo, cf->valid_min, nr ? "valid_range" : "valid_min", file, dset));
    cf->flags |= SL_H5_CF_VMIN;
  }
  if (nhi) {
    SL__CHECK(stored_or_fail(f, hi, cf->valid_max, nr ? "valid_range" : "valid_max", file, dset));
    cf->flags |= SL_H5_CF_VMAX;
  }
  SL__CHECK(num_attr(did, "scale_factor", file, dset, f, 0, v, 1, &n, NULL));
  if (n) {
    cf->scale_factor = v[0];
    cf->flags |= SL_H5_CF_PACKED;
  }
  SL__CHECK(num_attr(did, "add_offset", file, dset, f, 0, v, 1, &n, NULL));
  if (n) {
    cf->add_offset = v[0];
    cf->flags |= SL_H5_CF_PACKED;
  }
  if ((cf->flags & SL_H5_CF_PACKED) && (!isfinite(cf->scale_factor) || !isfinite(cf->add_offset)))
    SL__FAIL(SL_ERR_FORMAT,
             "'%s' dataset '%s': scale_factor %.17g / add_offset %.17g (expected finite numbers)",
             file, dset, cf->scale_factor, cf->add_offset);
  return SL_OK;
}

/* ---- dimension scales ---- */

/* A scalar or 1-element string attribute of obj into buf ("" when absent or not a string). */
static void str_attr(hid_t obj, const char *name, char *buf, size_t cap) {
  buf[0] = 0;
  if (H5Aexists(obj, name) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return;
  }
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t t = a >= 0 ? H5Aget_type(a) : -1;
  if (t >= 0 && H5Tget_class(t) == H5T_STRING) {
    htri_t vl = H5Tis_variable_str(t);
    hid_t mt = H5Tcopy(H5T_C_S1);
    /* the attribute's character set: HDF5 converts none between ASCII and UTF-8 */
    if (mt >= 0 && H5Tset_cset(mt, H5Tget_cset(t)) < 0)
      vl = -1;
    if (vl > 0) {
      char *s = NULL;
      if (mt >= 0 && H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Aread(a, mt, &s) >= 0 && s) {
        snprintf(buf, cap, "%s", s);
        H5free_memory(s);
      }
    } else if (vl == 0) {
      size_t sz = H5Tget_size(t);
      char *s = calloc(1, sz + 1);
      if (s && mt >= 0 && H5Tset_size(mt, sz + 1) >= 0 &&
          H5Tset_strpad(mt, H5T_STR_NULLTERM) >= 0 && H5Aread(a, mt, s) >= 0)
        snprintf(buf, cap, "%s", s);
      free(s);
    }
    if (mt >= 0)
      H5Tclose(mt);
  }
  if (t >= 0)
    H5Tclose(t);
  if (a >= 0)
    H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
}

/* Name and coordinate path of the scale `sc` (an open dataset). A netCDF dimension without
 * a variable says so in its NAME attribute: a name, no coordinate. */
static void scale_names(hid_t sc, char *name, char *coord) {
  char path[1024] = "", nm[256];
  if (H5Iget_name(sc, path, sizeof path) <= 0)
    path[0] = 0;
  const char *base = strrchr(path, '/');
  /* Longer names are cut (they are only shown and matched by --along): the lengths are
   * checked so that the compiler knows it. */
  if (snprintf(name, SL__H5_DIMNAME, "%s", base ? base + 1 : path) >= SL__H5_DIMNAME)
    name[SL__H5_DIMNAME - 1] = 0;
  str_attr(sc, "NAME", nm, sizeof nm);
  if (!strncmp(nm, "This is a netCDF dimension but not a netCDF variable", 52))
    coord[0] = 0;
  else if (snprintf(coord, SL__H5_DIMNAME, "%s", path) >= SL__H5_DIMNAME)
    coord[SL__H5_DIMNAME - 1] = 0;
}

int sl__h5_dims_read(hid_t did, int nd, const hsize_t *len, sl__h5_dims **out) {
  sl__h5_dims *d = calloc(1, sizeof *d);
  SL__CHECK_ALLOC(d);
  *out = d;
  d->n = nd > SL__H5_MAXDIMS ? SL__H5_MAXDIMS : nd;
  for (int i = 0; i < d->n; i++)
    d->len[i] = len[i];
  char cls[64];
  str_attr(did, "CLASS", cls, sizeof cls);
  if (!strcmp(cls, "DIMENSION_SCALE") && nd == 1) { /* a coordinate variable itself */
    scale_names(did, d->name[0], d->coord[0]);
    return SL_OK;
  }
  if (H5Aexists(did, "DIMENSION_LIST") <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return SL_OK;
  }
  /* vlen of object references, one entry per dimension (HDF5 dimension scales) */
  hid_t a = H5Aopen(did, "DIMENSION_LIST", H5P_DEFAULT);
  hid_t mt = H5Tvlen_create(H5T_STD_REF_OBJ);
  hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
  hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  hvl_t *vl = np > 0 ? calloc((size_t)np, sizeof *vl) : NULL;
  if (vl && mt >= 0 && H5Aread(a, mt, vl) >= 0) {
    for (hssize_t i = 0; i < np && i < d->n; i++) {
      if (vl[i].len < 1)
        continue;
      hid_t sc = H5Rdereference2(did, H5P_DEFAULT, H5R_OBJECT, vl[i].p);
      if (sc >= 0) {
        scale_names(sc, d->name[i], d->coord[i]);
        H5Oclose(sc);
      }
    }
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(mt, sp, H5P_DEFAULT, vl);
#else
    H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, vl);
#endif
  }
  free(vl);
  if (sp >= 0)
    H5Sclose(sp);
  if (mt >= 0)
    H5Tclose(mt);
  if (a >= 0)
    H5Aclose(a);
  H5Eclear2(H5E_DEFAULT); /* names are a help: a scale that cannot be read has none */
  return SL_OK;
}

/* ---- carried attributes ---- */

/* Attributes that describe the file's structure or a run, not the values. */
static int reserved(const char *n) {
  static const char *const r[] = {"DIMENSION_LIST",
                                  "REFERENCE_LIST",
                                  "CLASS",
                                  "NAME",
                                  "_Netcdf4Dimid",
                                  "_Netcdf4Coordinates",
                                  "_NCProperties",
                                  "sluice_version",
                                  "command_line",
                                  "ranks",
                                  "inputs",
                                  "input",
                                  "rows",
                                  "created_utc",
                                  "slurm_job_id",
                                  "field",
                                  NULL};
  for (int i = 0; r[i]; i++)
    if (!strcmp(n, r[i]))
      return 1;
  return 0;
}

static herr_t attr_cb(hid_t obj, const char *name, const H5A_info_t *info, void *data) {
  (void)info;
  sl_h5_layout *l = data;
  if (l->nattrs >= SL__H5_MAXATTRS || reserved(name) || strlen(name) >= 256)
    return 0;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t t = a >= 0 ? H5Aget_type(a) : -1;
  int is_str = t >= 0 && H5Tget_class(t) == H5T_STRING;
  if (t >= 0)
    H5Tclose(t);
  if (a >= 0)
    H5Aclose(a);
  if (!is_str)
    return 0;
  char v[4096];
  str_attr(obj, name, v, sizeof v);
  size_t need = strlen(name) + strlen(v) + 2;
  char *n = realloc(l->attrs, l->attrs_len + need);
  if (!n)
    return -1;
  l->attrs = n;
  memcpy(n + l->attrs_len, name, strlen(name) + 1);
  memcpy(n + l->attrs_len + strlen(name) + 1, v, strlen(v) + 1);
  l->attrs_len += need;
  l->nattrs++;
  return 0;
}

int sl__h5_attrs_read(hid_t did, sl_h5_layout *l) {
  hsize_t idx = 0;
  herr_t e = H5Aiterate2(did, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, l);
  H5Eclear2(H5E_DEFAULT);
  if (e < 0)
    SL__FAIL(SL_ERR_NOMEM, "out of memory for the attributes of a dataset");
  return SL_OK;
}

void sl__h5_meta_free(sl_h5_layout *l) {
  free(l->dims);
  free(l->attrs);
  l->dims = NULL;
  l->attrs = NULL;
  l->attrs_len = l->nattrs = 0;
}

int sl__h5_meta_copy(const sl_h5_layout *src, sl_h5_layout *dst) {
  dst->dims = NULL;
  dst->attrs = NULL;
  dst->attrs_len = dst->nattrs = 0;
  if (src->dims) {
    dst->dims = malloc(sizeof *dst->dims);
    SL__CHECK_ALLOC(dst->dims);
    *dst->dims = *src->dims;
  }
  if (src->attrs_len) {
    dst->attrs = malloc(src->attrs_len);
    SL__CHECK_ALLOC(dst->attrs);
    memcpy(dst->attrs, src->attrs, src->attrs_len);
    dst->attrs_len = src->attrs_len;
    dst->nattrs = src->nattrs;
  }
  return SL_OK;
}

int sl__h5_meta_bcast(sl_h5_layout *l, int root, MPI_Comm comm) {
  int rank;
  SL__CHECK_MPI(MPI_Comm_rank(comm, &rank));
  uint64_t hdr[3] = {l->dims != NULL, l->attrs_len, l->nattrs};
  SL__CHECK_MPI(MPI_Bcast(hdr, 3, MPI_UINT64_T, root, comm));
  int ok = 1;
  if (rank != root) {
    sl__h5_meta_free(l);
    if (hdr[0] && !(l->dims = calloc(1, sizeof *l->dims)))
      ok = 0;
    if (hdr[1] && !(l->attrs = malloc((size_t)hdr[1])))
      ok = 0;
    l->attrs_len = (size_t)hdr[1];
    l->nattrs = (size_t)hdr[2];
  }
  int all = 0;
  SL__CHECK_MPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm));
  if (!all)
    SL__FAIL(ok ? SL_ERR_REMOTE : SL_ERR_NOMEM, "out of memory for a dataset's description");
  if (hdr[0])
    SL__CHECK_MPI(MPI_Bcast(l->dims, (int)sizeof *l->dims, MPI_BYTE, root, comm));
  if (hdr[1])
    SL__CHECK_MPI(MPI_Bcast(l->attrs, (int)hdr[1], MPI_CHAR, root, comm));
  return SL_OK;
}

static int put_num(hid_t obj, const char *name, hid_t t, const void *v, hsize_t n) {
  hid_t sp = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
  hid_t a = sp >= 0 ? H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
  herr_t e = a >= 0 ? H5Awrite(a, t, v) : -1;
  if (a >= 0 && H5Aclose(a) < 0)
    e = -1;
  if (sp >= 0)
    H5Sclose(sp);
  if (e < 0) {
    char m[512];
    sl__h5_errstr(m, sizeof m);
    SL__FAIL(SL_ERR_HDF5, "cannot write attribute '%s': %s", name, m);
  }
  return SL_OK;
}

int sl__h5_put_carried(hid_t obj, const sl_h5_layout *l, const sl__h5_fld *f) {
  const char *p = l->attrs;
  for (size_t i = 0; i < l->nattrs; i++) {
    const char *v = p + strlen(p) + 1;
    SL__CHECK(sl__h5_put_str_attr(obj, p, v));
    p = v + strlen(v) + 1;
  }
  if (!f || !f->cf.flags)
    return SL_OK;
  const sl_h5_cf *cf = &f->cf;
  hid_t t = sl__h5_field_type(f);
  if (t < 0)
    SL__FAIL(SL_ERR_HDF5, "cannot make the type of field '%s'", f->name);
  int rc = SL_OK;
  /* the default fill is explicit here: the output is not a netCDF-4 file */
  if (cf->flags & SL_H5_CF_FILL)
    rc = put_num(obj, "_FillValue", t, cf->fill, 1);
  if (rc == SL_OK && (cf->flags & SL_H5_CF_MISSING)) {
    unsigned char buf[SL_H5_CF_MAX_MISSING * 8];
    for (unsigned i = 0; i < cf->nmissing; i++)
      memcpy(buf + i * f->size, cf->missing[i], (size_t)f->size);
    rc = put_num(obj, "missing_value", t, buf, cf->nmissing);
  }
  if (rc == SL_OK && (cf->flags & SL_H5_CF_VMIN))
    rc = put_num(obj, "valid_min", t, cf->valid_min, 1);
  if (rc == SL_OK && (cf->flags & SL_H5_CF_VMAX))
    rc = put_num(obj, "valid_max", t, cf->valid_max, 1);
  if (rc == SL_OK && (cf->flags & SL_H5_CF_PACKED)) {
    rc = put_num(obj, "scale_factor", H5T_NATIVE_DOUBLE, &cf->scale_factor, 1);
    if (rc == SL_OK)
      rc = put_num(obj, "add_offset", H5T_NATIVE_DOUBLE, &cf->add_offset, 1);
  }
  H5Tclose(t);
  return rc;
}
