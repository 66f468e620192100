/* SPDX-License-Identifier: BSD-3-Clause */
/* HDF5 row layouts: the packed native representation of a dataset's rows. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "h5/h5int.h"

void sl__h5_quiet(void) {
  (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

typedef struct errwalk {
  char inner[512];
  hid_t maj, min;
  int n;
} errwalk;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
  errwalk *w = data;
  if (n == 0 && e) {
    snprintf(w->inner, sizeof w->inner, "%s", e->desc ? e->desc : "");
    w->maj = e->maj_num;
    w->min = e->min_num;
  }
  w->n++;
  return 0;
}

/* One line, never HDF5's own stack dump: the innermost entry's description (it names the
 * object or the offsets) and its major and minor messages ("Dataset / Read failed"). */
void sl__h5_errstr(char *buf, size_t cap) {
  errwalk w = {{0}, -1, -1, 0};
  (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
  char maj[128] = "", min[128] = "";
  if (w.maj >= 0 && H5Eget_msg(w.maj, NULL, maj, sizeof maj) < 0)
    maj[0] = 0;
  if (w.min >= 0 && H5Eget_msg(w.min, NULL, min, sizeof min) < 0)
    min[0] = 0;
  (void)H5Eclear2(H5E_DEFAULT);
  if (!w.inner[0] && !maj[0])
    snprintf(buf, cap, "no HDF5 error detail");
  else if (!maj[0])
    snprintf(buf, cap, "%s", w.inner);
  else
    snprintf(buf, cap, "%s%s(HDF5: %s%s%s)", w.inner, w.inner[0] ? " " : "", maj,
             min[0] ? " / " : "", min);
  for (char *p = buf; *p; p++) /* one line */
    if (*p == '\n' || *p == '\r')
      *p = ' ';
}

hid_t sl__h5_open_local(const char *path, char *err, size_t cap) {
  if (err && cap)
    err[0] = 0;
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0 || H5Pset_fapl_sec2(fapl) < 0) {
    if (fapl >= 0)
      H5Pclose(fapl);
    if (err && cap)
      snprintf(err, cap, "cannot create a file access property list");
    return -1;
  }
  hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (fid < 0 && err && cap)
    sl__h5_errstr(err, cap); /* before any other call clears the stack */
  H5Pclose(fapl);
  return fid;
}

hid_t sl__h5_field_type(const sl__h5_fld *f) {
  switch (f->cls) {
  case SL_H5_INT:
    switch (f->size) {
    case 1:
      return H5Tcopy(H5T_NATIVE_INT8);
    case 2:
      return H5Tcopy(H5T_NATIVE_INT16);
    case 4:
      return H5Tcopy(H5T_NATIVE_INT32);
    case 8:
      return H5Tcopy(H5T_NATIVE_INT64);
    }
    break;
  case SL_H5_UINT:
    switch (f->size) {
    case 1:
      return H5Tcopy(H5T_NATIVE_UINT8);
    case 2:
      return H5Tcopy(H5T_NATIVE_UINT16);
    case 4:
      return H5Tcopy(H5T_NATIVE_UINT32);
    case 8:
      return H5Tcopy(H5T_NATIVE_UINT64);
    }
    break;
  case SL_H5_FLOAT:
    if (f->size == 4)
      return H5Tcopy(H5T_NATIVE_FLOAT);
    if (f->size == 8)
      return H5Tcopy(H5T_NATIVE_DOUBLE);
    break;
  case SL_H5_STRING: {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
      return t;
    if (H5Tset_size(t, (size_t)f->size) < 0 || H5Tset_strpad(t, (H5T_str_t)f->strpad) < 0 ||
        H5Tset_cset(t, (H5T_cset_t)f->cset) < 0) {
      H5Tclose(t);
      return -1;
    }
    return t;
  }
  }
  return -1;
}

hid_t sl__h5_mem_type(const sl_h5_layout *l) {
  if (l->array)
    return l->n ? sl__h5_field_type(&l->f[0]) : -1;
  hid_t t = H5Tcreate(H5T_COMPOUND, l->row_size ? l->row_size : 1);
  if (t < 0)
    return t;
  for (size_t i = 0; i < l->n; i++) {
    hid_t ft = sl__h5_field_type(&l->f[i]);
    if (ft < 0 || H5Tinsert(t, l->f[i].name, (size_t)l->f[i].offset, ft) < 0) {
      if (ft >= 0)
        H5Tclose(ft);
      H5Tclose(t);
      return -1;
    }
    H5Tclose(ft);
  }
  return t;
}

int sl__h5_layout_push(sl_h5_layout *l, const sl__h5_fld *f) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 8;
    sl__h5_fld *n = realloc(l->f, cap * sizeof *n);
    SL__CHECK_ALLOC(n);
    l->f = n;
    l->cap = cap;
  }
  l->f[l->n] = *f;
  l->f[l->n].offset = l->row_size;
  l->row_size += (size_t)f->size;
  l->n++;
  return SL_OK;
}

static const char *cls_name(int c) {
  switch (c) {
  case SL_H5_INT:
    return "int";
  case SL_H5_UINT:
    return "uint";
  case SL_H5_FLOAT:
    return "float";
  case SL_H5_STRING:
    return "string";
  }
  return "?";
}

void sl__h5_layout_desc(const sl_h5_layout *l, char *buf, size_t cap) {
  size_t pos = 0;
  buf[0] = 0;
  for (size_t i = 0; i < l->n && pos + 1 < cap; i++) {
    int w = snprintf(
        buf + pos, cap - pos, "%s%s:%s%llu", i ? ", " : "", l->f[i].name, cls_name(l->f[i].cls),
        (unsigned long long)(l->f[i].cls == SL_H5_STRING ? l->f[i].size : l->f[i].size * 8));
    if (w < 0)
      break;
    pos += (size_t)w;
  }
  if (pos >= cap && cap > 4)
    memcpy(buf + cap - 4, "...", 4);
}

int sl__h5_layout_cmp(const sl_h5_layout *a, const sl_h5_layout *b) {
  if (a->n != b->n || a->array != b->array || a->flat != b->flat)
    return 1;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->f[i].name, b->f[i].name) || a->f[i].cls != b->f[i].cls ||
        a->f[i].size != b->f[i].size)
      return 1;
  return 0;
}

int sl__h5_split_spec(const char *spec, char **file, char **dset) {
  if (!spec)
    SL__FAIL(SL_ERR_INVAL, "HDF5 dataset spec is NULL (expected FILE:/path/to/dataset)");
  const char *sep = NULL;
  for (const char *p = spec; (p = strstr(p, ":/")) != NULL; p++)
    sep = p;
  if (!sep || sep == spec || !sep[2])
    SL__FAIL(SL_ERR_INVAL, "bad HDF5 dataset spec '%s': expected FILE:/path/to/dataset", spec);
  *file = strndup(spec, (size_t)(sep - spec));
  *dset = strdup(sep + 1);
  if (!*file || !*dset) {
    free(*file);
    free(*dset);
    *file = *dset = NULL;
    SL__FAIL(SL_ERR_NOMEM, "out of memory");
  }
  return SL_OK;
}

int sl__h5_layout_bcast(sl_h5_layout *l, int root, MPI_Comm comm) {
  uint64_t hdr[6] = {l->n, l->row_size, l->rows, (uint64_t)l->array, l->ncols_src, l->flat};
  SL__CHECK_MPI(MPI_Bcast(hdr, 6, MPI_UINT64_T, root, comm));
  if (hdr[0] > l->cap) {
    sl__h5_fld *n = realloc(l->f, (size_t)hdr[0] * sizeof *n);
    SL__CHECK_ALLOC(n);
    l->f = n;
    l->cap = (size_t)hdr[0];
  }
  l->n = (size_t)hdr[0];
  l->row_size = (size_t)hdr[1];
  l->rows = hdr[2];
  l->array = (int)hdr[3];
  l->ncols_src = hdr[4];
  l->flat = hdr[5];
  if (l->n)
    SL__CHECK_MPI(MPI_Bcast(l->f, (int)(l->n * sizeof *l->f), MPI_BYTE, root, comm));
  return sl__h5_meta_bcast(l, root, comm);
}

/* ---- public layout API ---- */
int sl_h5_layout_create(sl_h5_layout **layout) {
  if (!layout)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_layout_create: NULL argument");
  sl_h5_layout *l = calloc(1, sizeof *l);
  SL__CHECK_ALLOC(l);
  *layout = l;
  return SL_OK;
}

int sl_h5_layout_add(sl_h5_layout *l, const char *name, sl_h5_class cls, size_t size) {
  if (!l || !name || !*name)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_layout_add: NULL layout or empty field name");
  if (strlen(name) >= SL__H5_NAME)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_layout_add: field name '%.40s...' longer than %d bytes", name,
             SL__H5_NAME - 1);
  int ok = 0;
  if (cls == SL_H5_INT || cls == SL_H5_UINT)
    ok = size == 1 || size == 2 || size == 4 || size == 8;
  else if (cls == SL_H5_FLOAT)
    ok = size == 4 || size == 8;
  else if (cls == SL_H5_STRING)
    ok = size > 0;
  if (!ok)
    SL__FAIL(SL_ERR_TYPE, "sl_h5_layout_add: field '%s': unsupported class %d with size %zu", name,
             (int)cls, size);
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->f[i].name, name))
      SL__FAIL(SL_ERR_INVAL, "sl_h5_layout_add: duplicate field name '%s'", name);
  sl__h5_fld f;
  memset(&f, 0, sizeof f);
  snprintf(f.name, sizeof f.name, "%s", name);
  f.cls = cls;
  f.size = size;
  f.strpad = H5T_STR_NULLPAD;
  f.cset = H5T_CSET_ASCII;
  f.col = (int64_t)l->n;
  l->array = 0;
  return sl__h5_layout_push(l, &f);
}

int sl_h5_layout_create_array(sl_h5_layout **layout, sl_h5_class cls, size_t size) {
  if (!layout)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_layout_create_array: NULL argument");
  sl_h5_layout *l = NULL;
  SL__CHECK(sl_h5_layout_create(&l));
  int rc = sl_h5_layout_add(l, "value", cls, size);
  if (rc != SL_OK) {
    sl_h5_layout_destroy(&l);
    return rc;
  }
  l->array = 1; /* a 1-D dataset of one element per row */
  l->ncols_src = 1;
  *layout = l;
  return SL_OK;
}

int sl_h5_layout_set_strpad(sl_h5_layout *l, size_t i, sl_h5_strpad pad) {
  if (!l || i >= l->n)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_layout_set_strpad: field index %zu out of range (%zu fields)", i,
             l ? l->n : 0);
  if (l->f[i].cls != SL_H5_STRING)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_layout_set_strpad: field '%s' is not a string", l->f[i].name);
  if (pad != SL_H5_NULLTERM && pad != SL_H5_NULLPAD && pad != SL_H5_SPACEPAD)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_layout_set_strpad: unknown pad %d", (int)pad);
  /* the same values as H5T_str_t */
  l->f[i].strpad = (int32_t)pad;
  return SL_OK;
}

int sl_h5_layout_copy(const sl_h5_layout *src, sl_h5_layout **out) {
  if (!src || !out)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_layout_copy: NULL argument");
  sl_h5_layout *l = calloc(1, sizeof *l);
  SL__CHECK_ALLOC(l);
  *l = *src;
  l->dims = NULL;
  l->attrs = NULL;
  l->f = malloc((src->n ? src->n : 1) * sizeof *l->f);
  if (!l->f || sl__h5_meta_copy(src, l) != SL_OK) {
    sl__h5_meta_free(l);
    free(l->f);
    free(l);
    SL__FAIL(SL_ERR_NOMEM, "out of memory");
  }
  if (src->n)
    memcpy(l->f, src->f, src->n * sizeof *l->f);
  l->cap = src->n ? src->n : 1;
  *out = l;
  return SL_OK;
}

void sl_h5_layout_destroy(sl_h5_layout **layout) {
  if (!layout || !*layout)
    return;
  free((*layout)->f);
  sl__h5_meta_free(*layout);
  free(*layout);
  *layout = NULL;
}

size_t sl_h5_layout_nfields(const sl_h5_layout *l) {
  return l ? l->n : 0;
}
size_t sl_h5_layout_row_size(const sl_h5_layout *l) {
  return l ? l->row_size : 0;
}
uint64_t sl_h5_layout_rows(const sl_h5_layout *l) {
  return l ? l->rows : 0;
}

int sl_h5_layout_field(const sl_h5_layout *l, size_t i, sl_h5_field *field) {
  if (!l || !field || i >= l->n)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_layout_field: index %zu out of range (%zu fields)", i,
             l ? l->n : 0);
  field->name = l->f[i].name;
  field->cls = (sl_h5_class)l->f[i].cls;
  field->size = (size_t)l->f[i].size;
  field->offset = (size_t)l->f[i].offset;
  field->cf = l->f[i].cf.flags ? &l->f[i].cf : NULL;
  return SL_OK;
}

int sl_h5_layout_find(const sl_h5_layout *l, const char *name, size_t *index) {
  if (!l || !name)
    return SL_ERR_INVAL;
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->f[i].name, name)) {
      if (index)
        *index = i;
      return SL_OK;
    }
  return SL_ERR_NOTFOUND;
}

int sl_h5_layout_names(const sl_h5_layout *l, char *buf, size_t cap) {
  if (!l || !buf || !cap)
    return SL_ERR_INVAL;
  size_t pos = 0;
  buf[0] = 0;
  for (size_t i = 0; i < l->n; i++) {
    int w = snprintf(buf + pos, cap - pos, "%s%s", i ? ", " : "", l->f[i].name);
    if (w < 0 || (size_t)w >= cap - pos) {
      if (cap > 4)
        memcpy(buf + cap - 4, "...", 4);
      break;
    }
    pos += (size_t)w;
  }
  return SL_OK;
}

int sl_h5_class_is_numeric(sl_h5_class cls) {
  return cls == SL_H5_INT || cls == SL_H5_UINT || cls == SL_H5_FLOAT;
}

int sl__h5_type_class(hid_t t) {
  size_t size = H5Tget_size(t);
  switch (H5Tget_class(t)) {
  case H5T_INTEGER: {
    if (size != 1 && size != 2 && size != 4 && size != 8)
      return -1;
    H5T_sign_t s = H5Tget_sign(t);
    return s < 0 ? -1 : s == H5T_SGN_NONE ? SL_H5_UINT : SL_H5_INT;
  }
  case H5T_FLOAT:
    return size == 4 || size == 8 ? SL_H5_FLOAT : -1;
  case H5T_STRING:
    return H5Tis_variable_str(t) == 0 ? SL_H5_STRING : -1;
  case H5T_ENUM: {
    /* an enum (h5py's booleans) is read as its integer base type: HDF5 converts it */
    hid_t base = H5Tget_super(t);
    int c = base >= 0 && H5Tget_class(base) == H5T_INTEGER ? sl__h5_type_class(base) : -1;
    if (base >= 0)
      H5Tclose(base);
    return c;
  }
  default:
    return -1;
  }
}

int sl__h5_layout_numeric(const sl_h5_layout *src, sl_h5_layout **out) {
  sl_h5_layout *l = calloc(1, sizeof *l);
  SL__CHECK_ALLOC(l);
  l->rows = src->rows;
  l->array = src->array;
  l->ncols_src = src->ncols_src;
  l->flat = src->flat;
  if (sl__h5_meta_copy(src, l) != SL_OK) {
    sl_h5_layout_destroy(&l);
    SL__FAIL(SL_ERR_NOMEM, "out of memory");
  }
  for (size_t i = 0; i < src->n; i++) {
    if (!sl_h5_class_is_numeric((sl_h5_class)src->f[i].cls))
      continue;
    int rc = sl__h5_layout_push(l, &src->f[i]);
    if (rc != SL_OK) {
      sl_h5_layout_destroy(&l);
      return rc;
    }
  }
  *out = l;
  return SL_OK;
}

int64_t sl_h5_get_i64(const sl_h5_field *f, const void *row) {
  const char *p = (const char *)row + f->offset;
  if (f->cls == SL_H5_UINT)
    return (int64_t)sl_h5_get_u64(f, row);
  if (f->cls != SL_H5_INT)
    return 0;
  switch (f->size) {
  case 1: {
    int8_t v;
    memcpy(&v, p, 1);
    return v;
  }
  case 2: {
    int16_t v;
    memcpy(&v, p, 2);
    return v;
  }
  case 4: {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
  }
  default: {
    int64_t v;
    memcpy(&v, p, 8);
    return v;
  }
  }
}

uint64_t sl_h5_get_u64(const sl_h5_field *f, const void *row) {
  const char *p = (const char *)row + f->offset;
  if (f->cls == SL_H5_INT)
    return (uint64_t)sl_h5_get_i64(f, row);
  if (f->cls != SL_H5_UINT)
    return 0;
  switch (f->size) {
  case 1: {
    uint8_t v;
    memcpy(&v, p, 1);
    return v;
  }
  case 2: {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
  }
  case 4: {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
  }
  default: {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
  }
  }
}

static double stored_f64(const sl_h5_field *f, const void *row);

double sl_h5_get_f64(const sl_h5_field *f, const void *row) {
  if (!f->cf)
    return stored_f64(f, row);
  if (sl_h5_is_missing(f, row))
    return NAN;
  double x = stored_f64(f, row);
  if (f->cf->flags & SL_H5_CF_PACKED)
    x = x * f->cf->scale_factor + f->cf->add_offset;
  return x;
}

/* v (the stored bytes of a value of f's class and size) compared with w: <0, 0, >0; NaNs
 * are equal to each other and unordered with the rest (2). */
static int cmp_stored(const sl_h5_field *f, const void *v, const void *w) {
  sl_h5_field z = *f;
  z.offset = 0;
  z.cf = NULL;
  if (f->cls == SL_H5_FLOAT) {
    double x = stored_f64(&z, v), y = stored_f64(&z, w);
    if (isnan(x) || isnan(y))
      return isnan(x) && isnan(y) ? 0 : 2;
    return (x > y) - (x < y);
  }
  if (f->cls == SL_H5_INT) {
    int64_t x = sl_h5_get_i64(&z, v), y = sl_h5_get_i64(&z, w);
    return (x > y) - (x < y);
  }
  uint64_t x = sl_h5_get_u64(&z, v), y = sl_h5_get_u64(&z, w);
  return (x > y) - (x < y);
}

int sl_h5_is_missing(const sl_h5_field *f, const void *row) {
  const sl_h5_cf *cf = f->cf;
  if (!cf || !sl_h5_class_is_numeric(f->cls))
    return 0;
  const char *v = (const char *)row + f->offset;
  if ((cf->flags & SL_H5_CF_FILL) && cmp_stored(f, v, cf->fill) == 0)
    return 1;
  for (unsigned i = 0; (cf->flags & SL_H5_CF_MISSING) && i < cf->nmissing; i++)
    if (cmp_stored(f, v, cf->missing[i]) == 0)
      return 1;
  if (cf->flags & SL_H5_CF_VMIN) {
    int c = cmp_stored(f, v, cf->valid_min);
    if (c < 0)
      return 1;
  }
  if (cf->flags & SL_H5_CF_VMAX) {
    int c = cmp_stored(f, v, cf->valid_max);
    if (c > 0 && c != 2)
      return 1;
  }
  return 0;
}

int sl_h5_is_packed(const sl_h5_field *f) {
  return f && f->cf && (f->cf->flags & SL_H5_CF_PACKED);
}

int sl_h5_layout_dims(const sl_h5_layout *l, int *ndims, uint64_t *dims) {
  if (!l || !ndims)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_layout_dims: NULL argument");
  *ndims = l->dims ? l->dims->n : 0;
  for (int d = 0; dims && d < *ndims; d++)
    dims[d] = l->dims->len[d];
  return SL_OK;
}

int sl_h5_layout_dim(const sl_h5_layout *l, int d, const char **name, const char **coord) {
  if (!l || !l->dims || d < 0 || d >= l->dims->n)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_layout_dim: dimension %d out of range (%d dimensions)", d,
             l && l->dims ? l->dims->n : 0);
  if (name)
    *name = l->dims->name[d];
  if (coord)
    *coord = l->dims->coord[d];
  return SL_OK;
}

size_t sl_h5_layout_attrs(const sl_h5_layout *cl, const char *const **names,
                          const char *const **values) {
  sl_h5_layout *l = (sl_h5_layout *)cl; /* the pointer table is a cache */
  if (!l)
    return 0;
  const char *p = l->attrs;
  for (size_t i = 0; i < l->nattrs; i++) {
    l->attr_ptr[i] = p;
    p += strlen(p) + 1;
    l->attr_ptr[SL__H5_MAXATTRS + i] = p;
    p += strlen(p) + 1;
  }
  if (names)
    *names = l->attr_ptr;
  if (values)
    *values = l->attr_ptr + SL__H5_MAXATTRS;
  return l->nattrs;
}

static double stored_f64(const sl_h5_field *f, const void *row) {
  const char *p = (const char *)row + f->offset;
  switch (f->cls) {
  case SL_H5_INT:
    return (double)sl_h5_get_i64(f, row);
  case SL_H5_UINT:
    return (double)sl_h5_get_u64(f, row);
  case SL_H5_FLOAT:
    if (f->size == 4) {
      float v;
      memcpy(&v, p, 4);
      return v;
    } else {
      double v;
      memcpy(&v, p, 8);
      return v;
    }
  default:
    return NAN;
  }
}
