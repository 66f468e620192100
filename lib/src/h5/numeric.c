/* SPDX-License-Identifier: BSD-3-Clause */
/* sl_h5_describe_numeric: the numeric fields of a dataset, for statistics and aggregates.
 *
 * Without a field selection, rank 0 first looks at the compound type of the first matching
 * file: when some members are not numeric (strings, enums, or types the source cannot read at all,
 * which sl_h5_describe refuses unless a selection leaves them out), the numeric members
 * become the selection. Then sl_h5_describe does every check and gives the layout. */
#define _GNU_SOURCE
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5/h5int.h"

typedef struct names {
  char *buf; /* NUL-separated */
  size_t len, cap;
  uint64_t n;
} names;

static int names_add(names *v, const char *s) {
  size_t l = strlen(s) + 1;
  if (v->len + l > v->cap) {
    size_t cap = 2 * (v->len + l);
    char *b = realloc(v->buf, cap);
    SL__CHECK_ALLOC_FOR(b, "the names of the numeric fields", cap, NULL);
    v->buf = b;
    v->cap = cap;
  }
  memcpy(v->buf + v->len, s, l);
  v->len += l;
  v->n++;
  return SL_OK;
}

/* The members of compound type t: the numeric ones in v; *other = 1 when some are not. */
static int compound_members(hid_t t, names *v, int *other) {
  int nm = H5Tget_nmembers(t);
  if (nm < 0)
    return SL_ERR_HDF5;
  for (int i = 0; i < nm; i++) {
    char *mn = H5Tget_member_name(t, (unsigned)i);
    hid_t m = H5Tget_member_type(t, (unsigned)i);
    int rc = mn && m >= 0 ? SL_OK : SL_ERR_HDF5;
    /* enums (flags such as h5py's booleans) are read as integers when selected by name,
     * but are not measurements: left out of "every numeric field" */
    if (rc == SL_OK && H5Tget_class(m) != H5T_ENUM &&
        sl_h5_class_is_numeric((sl_h5_class)sl__h5_type_class(m)))
      rc = names_add(v, mn);
    else if (rc == SL_OK)
      *other = 1;
    if (m >= 0)
      H5Tclose(m);
    if (mn)
      H5free_memory(mn);
    if (rc != SL_OK)
      return rc;
  }
  return SL_OK;
}

/* Rank 0: the numeric members of the spec's compound dataset (its first file) into v when
 * some members are not numeric; *found = 1 then. *found = 0 when there is nothing to skip
 * or the dataset cannot be looked at here (not a compound, a file that is missing, not
 * regular, damaged ...): sl_h5_describe then reads every field and reports any error.
 * Returns SL_OK, or SL_ERR_NOMEM. */
static int root_members(const char *spec, names *v, int *found) {
  char *file = NULL, *dset = NULL;
  *found = 0;
  if (sl__h5_split_spec(spec, &file, &dset) != SL_OK) {
    sl__error_clear(); /* sl_h5_describe reports a bad spec */
    return SL_OK;
  }
  const char *path = file;
  glob_t gl;
  int globbed = 0;
  if (strpbrk(file, "*?[")) {
    globbed = glob(file, 0, NULL, &gl) == 0;
    path = globbed && gl.gl_pathc ? gl.gl_pathv[0] : NULL;
  }
  /* only a regular file is opened here: the open of a FIFO without a writer would block;
   * sl_h5_describe reports what the path is */
  struct stat sb;
  if (path && (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)))
    path = NULL;
  int rc = SL_OK, other = 0;
  hid_t f = -1, d = -1, t = -1;
  if (path && (f = sl__h5_open_local(path, NULL, 0)) >= 0 &&
      (d = H5Dopen2(f, dset, H5P_DEFAULT)) >= 0 && (t = H5Dget_type(d)) >= 0 &&
      H5Tget_class(t) == H5T_COMPOUND) {
    rc = compound_members(t, v, &other);
    if (rc == SL_OK && other)
      *found = 1;
    if (rc == SL_ERR_HDF5) /* sl_h5_describe looks again and says what is wrong */
      rc = SL_OK;
  }
  if (t >= 0)
    H5Tclose(t);
  if (d >= 0)
    H5Dclose(d);
  if (f >= 0)
    H5Fclose(f);
  (void)H5Eclear2(H5E_DEFAULT);
  if (globbed)
    globfree(&gl);
  free(file);
  free(dset);
  return rc;
}

/* Rank 0's look on every rank: *found and the selection *sel (pointers into v->buf, *nsel
 * names; none when the compound has no numeric member). Collective; every rank returns the
 * same code. */
static int bcast_selection(sl_ctx *ctx, const char *spec, names *v, int *found, const char ***sel,
                           size_t *nsel) {
  MPI_Comm comm = sl_comm(ctx);
  int root = sl_rank(ctx) == 0;
  *found = 0;
  int rc = root ? root_members(spec, v, found) : SL_OK;
  uint64_t hdr[4] = {(uint64_t)(rc != SL_OK), *found ? v->n : 0, *found ? v->len : 0,
                     (uint64_t)*found};
  SL__CHECK_MPI(MPI_Bcast(hdr, 4, MPI_UINT64_T, 0, comm));
  *found = (int)hdr[3];
  if (hdr[0])
    return sl__h5_agree(ctx, rc != SL_OK ? rc : SL_ERR_REMOTE);
  if (!root && hdr[2]) {
    v->buf = malloc((size_t)hdr[2]);
    v->len = v->cap = (size_t)hdr[2];
    v->n = hdr[1];
    if (!v->buf)
      rc = sl__error_nomem(__FILE__, __LINE__, "the names of the numeric fields", hdr[2], NULL);
  }
  if (hdr[1] && rc == SL_OK) {
    *sel = calloc((size_t)hdr[1], sizeof **sel);
    if (!*sel)
      rc = sl__error_nomem(__FILE__, __LINE__, "the numeric fields' selection",
                           hdr[1] * sizeof **sel, NULL);
  }
  /* agreed before the broadcast, which a rank that failed here would not join */
  SL__CHECK(sl__h5_agree(ctx, rc));
  if (hdr[2])
    SL__CHECK_MPI(MPI_Bcast(v->buf, (int)hdr[2], MPI_CHAR, 0, comm));
  for (size_t p = 0, i = 0; i < (size_t)hdr[1]; i++) {
    (*sel)[i] = v->buf + p;
    p += strlen(v->buf + p) + 1;
  }
  *nsel = (size_t)hdr[1];
  return SL_OK;
}

/* The file and dataset of spec, for messages ("'FILE' dataset '/d'"). */
static void where(const char *spec, char *buf, size_t cap) {
  char *file = NULL, *dset = NULL;
  if (sl__h5_split_spec(spec, &file, &dset) == SL_OK) {
    snprintf(buf, cap, "'%s' dataset '%s'", file, dset);
  } else {
    snprintf(buf, cap, "'%s'", spec);
    sl__error_clear(); /* only the spec's text was wanted */
  }
  free(file);
  free(dset);
}

/* The same decision on every rank (the same layout everywhere): rank 0 prints the line. */
static int check_numeric(sl_ctx *ctx, const char *spec, int selected, sl_h5_layout **layout) {
  sl_h5_layout *l = *layout;
  char at[1200];
  int rc = SL_OK;
  for (size_t i = 0; i < l->n && selected && rc == SL_OK; i++)
    if (!sl_h5_class_is_numeric((sl_h5_class)l->f[i].cls)) {
      where(spec, at, sizeof at);
      rc = sl__error_set(SL_ERR_TYPE, __FILE__, __LINE__,
                         "%s: field '%s' is a %llu-byte string (expected a numeric field)", at,
                         l->f[i].name, (unsigned long long)l->f[i].size);
    }
  if (rc == SL_OK && !selected) {
    sl_h5_layout *num = NULL;
    rc = sl__h5_layout_numeric(l, &num);
    if (rc == SL_OK && num->n == 0) {
      char fields[1024];
      where(spec, at, sizeof at);
      sl_h5_layout_names(l, fields, sizeof fields);
      rc = sl__error_set(SL_ERR_TYPE, __FILE__, __LINE__, "%s: no numeric field (fields: %s)", at,
                         fields);
    }
    if (rc == SL_OK && num->n != l->n) {
      sl_h5_layout_destroy(layout);
      *layout = num;
      num = NULL;
    }
    sl_h5_layout_destroy(&num);
  }
  return sl__h5_agree(ctx, rc);
}

int sl_h5_describe_numeric(sl_ctx *ctx, const char *spec, const sl_h5_opts *opts,
                           sl_h5_layout **layout) {
  if (!ctx || !spec || !layout)
    SL__FAIL(SL_ERR_INVAL, "sl_h5_describe_numeric: NULL argument");
  sl__h5_quiet();
  sl_h5_opts o;
  memset(&o, 0, sizeof o);
  if (opts)
    o = *opts;
  names v = {NULL, 0, 0, 0};
  const char **sel = NULL;
  size_t nsel = 0;
  int rc = SL_OK, found = 0;
  if (!o.nfields) {
    rc = bcast_selection(ctx, spec, &v, &found, &sel, &nsel);
    if (rc == SL_OK && found && !nsel) { /* a compound without a numeric member */
      char at[1200];
      where(spec, at, sizeof at);
      /* the same on every rank; rank 0 prints it */
      rc = sl__h5_agree(ctx,
                        sl__error_set(SL_ERR_TYPE, __FILE__, __LINE__, "%s: no numeric field", at));
    }
    o.fields = sel;
    o.nfields = nsel;
  }
  sl_h5_layout *l = NULL;
  if (rc == SL_OK)
    rc = sl_h5_describe(ctx, spec, &o, &l);
  if (rc == SL_OK)
    rc = check_numeric(ctx, spec, opts && opts->nfields, &l);
  if (rc == SL_OK)
    *layout = l;
  else
    sl_h5_layout_destroy(&l);
  free(sel);
  free(v.buf);
  return rc;
}
