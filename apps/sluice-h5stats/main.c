/* sluice-h5stats: count, NaN count, min, max, mean, standard deviation and a histogram
 * of every numeric field of an HDF5 dataset, on MPI ranks.
 *
 *   mpirun -n N sluice-h5stats FILE:/dataset [--fields a,b] [--bins N] [--range LO:HI]
 *                              [-o OUT.h5] [--force] [--transfer independent|collective]
 *
 * Pass 1 (one flow): every rank folds its rows into per-field Welford accumulators
 * (count, mean, M2, min, max of the finite values; NaN, +inf and -inf counts); the ranks'
 * accumulators are merged with Chan et al.'s pairwise formula, in rank order, identically
 * on every rank. Pass 2 (a second flow, skipped when --range is given, which fills the
 * histogram in pass 1): N-bin histograms over the finite [min, max], summed with
 * MPI_Allreduce. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <sluice.h>

static const char *prog = "sluice-h5stats";

static void usage(FILE *f) {
  fprintf(f, "usage: mpirun -n N sluice-h5stats FILE:/dataset [--fields a,b] [--bins N]\n"
             "                                  [--range LO:HI] [-o OUT.h5] [--force]\n"
             "                                  [--transfer independent|collective]\n"
             "\n"
             "Statistics of every numeric field of an HDF5 dataset (a compound table's fields,\n"
             "the columns c0, c1, ... of a 2-D dataset, or 'value' for a 1-D dataset): count,\n"
             "NaN count, min, max, mean, population standard deviation, and an N-bin histogram.\n"
             "Members of other types (strings, enums, arrays, ...) are skipped. NaN values are\n"
             "counted apart and excluded from everything else. Infinities count, and give min\n"
             "and max, but stay out of the mean and std: mean is +inf or -inf when only one\n"
             "sign of infinity occurs, NaN when both do; std is NaN when any infinity occurs;\n"
             "they are never binned. FILE may be a glob (quote it); all matching files are read.\n"
             "\n"
             "options:\n"
             "  --fields a,b     only these fields (each must be numeric); write '\\,' for a\n"
             "                   comma and '\\\\' for a backslash inside a name\n"
             "  --bins N         histogram bins (default 10; up to 100000000, and fields x N x 8\n"
             "                   bytes must fit in half of a rank's memory)\n"
             "  --range LO:HI    histogram range for every field (default: each field's finite\n"
             "                   min..max, which costs a second pass over the data). Values\n"
             "                   outside [LO, HI] are not binned; the last bin is closed.\n"
             "  -o, --output F   also write the results to the HDF5 file F: a compound dataset\n"
             "                   /stats (field, count, nan_count, min, max, mean, std) and\n"
             "                   /histogram/FIELD (uint64 counts) and /edges/FIELD (N+1 float64\n"
             "                   bin edges), each with attribute 'field': the name; in FIELD,\n"
             "                   '%%' is written %%25, '/' %%2F, and a name '.' as %%2E. Refused\n"
             "                   before any work when F is a directory, one of the inputs\n"
             "                   (even with --force), or in a missing directory\n"
             "  --force          overwrite F if it exists\n"
             "  --transfer M     how the ranks read the input: 'independent' (each rank on\n"
             "                   its own) or 'collective' (MPI-IO collective reads in rounds\n"
             "                   all ranks agree on); default: the library's measured default\n"
             "                   (docs/hdf5.md). The results are the same either way.\n"
             "  -h, --help       this help\n"
             "  --version        print the version\n"
             "  --sl-help        sluice's runtime options, e.g. --sl-progress=on\n"
             "\n"
             "exit status: 0 success, 1 runtime failure, 2 bad usage or bad input,\n"
             "             3 stopped by SIGTERM/SIGUSR1\n");
}

/* ---- accumulators ---- */
/* n, mean, m2, min and max cover the finite values only; infinities and NaNs are counted
 * apart (an infinity in Welford's update would turn the mean into inf - inf = NaN). */
typedef struct acc {
  double n, mean, m2, min, max, nan, pinf, ninf; /* doubles: one MPI_Allgather moves them */
} acc;
enum { ACC_DOUBLES = (int)(sizeof(acc) / sizeof(double)) };

/* What is reported for a field (the merged accumulator). */
typedef struct result {
  double count, nan, min, max, mean, std;
} result;

static result report(const acc *a) {
  result r;
  double ninf = a->ninf, pinf = a->pinf;
  r.count = a->n + pinf + ninf; /* every non-NaN value */
  r.nan = a->nan;
  r.min = ninf ? -INFINITY : a->n ? a->min : pinf ? INFINITY : NAN;
  r.max = pinf ? INFINITY : a->n ? a->max : ninf ? -INFINITY : NAN;
  if (pinf && ninf)
    r.mean = NAN; /* inf - inf */
  else if (pinf || ninf)
    r.mean = pinf ? INFINITY : -INFINITY;
  else
    r.mean = a->n ? a->mean : NAN;
  /* the squared deviation of an infinity from an infinite (or NaN) mean is undefined */
  r.std = pinf || ninf || !a->n ? NAN : sqrt(a->m2 / a->n);
  return r;
}

typedef struct job {
  sl_h5_layout *layout;
  size_t nf;
  sl_h5_field *f;
  acc *a;          /* per field, this rank */
  uint64_t *hist;  /* nf x bins, this rank */
  double *lo, *hi; /* per field histogram range */
  int bins;
  int do_hist;
} job;

/* Edge e (0..bins) of field k's histogram; exact at both ends, and finite when hi - lo
 * overflows (a range near -DBL_MAX..DBL_MAX). */
static double edge(const job *j, size_t k, long e) {
  double lo = j->lo[k], hi = j->hi[k], t = (double)e / j->bins;
  if (e == j->bins)
    return hi;
  if (isfinite(hi - lo))
    return lo + (hi - lo) * t;
  return lo * (1 - t) + hi * t;
}

/* Bins are [lo + i*w, lo + (i+1)*w), the last one closed; values outside [lo, hi] (and so
 * infinities, the range being finite) are not binned. */
static void bin_value(job *j, size_t k, double x) {
  double lo = j->lo[k], hi = j->hi[k];
  if (!(x >= lo && x <= hi))
    return;
  long b;
  if (x == hi)
    b = j->bins - 1;
  else if (isfinite(hi - lo))
    b = (long)((x - lo) / (hi - lo) * j->bins);
  else
    b = (long)((x / 2 - lo / 2) / (hi / 2 - lo / 2) * j->bins);
  if (b >= j->bins)
    b = j->bins - 1;
  if (b < 0)
    b = 0;
  j->hist[k * (size_t)j->bins + (size_t)b]++;
}

static int fold(const sl_record *rec, void *arg) {
  job *j = arg;
  for (size_t k = 0; k < j->nf; k++) {
    double x = sl_h5_get_f64(&j->f[k], rec->value);
    acc *a = &j->a[k];
    if (isnan(x)) {
      a->nan += 1;
      continue;
    }
    if (isinf(x)) { /* counted apart; never binned (outside any finite range) */
      if (x > 0)
        a->pinf += 1;
      else
        a->ninf += 1;
      continue;
    }
    a->n += 1;
    double d = x - a->mean;
    a->mean += d / a->n;
    a->m2 += d * (x - a->mean);
    if (a->n == 1 || x < a->min)
      a->min = x;
    if (a->n == 1 || x > a->max)
      a->max = x;
    if (j->do_hist)
      bin_value(j, k, x);
  }
  return 0;
}

static int histogram(const sl_record *rec, void *arg) {
  job *j = arg;
  for (size_t k = 0; k < j->nf; k++) {
    double x = sl_h5_get_f64(&j->f[k], rec->value);
    if (isfinite(x))
      bin_value(j, k, x);
  }
  return 0;
}

/* Chan, Golub, LeVeque: merge b into a. */
static void merge(acc *a, const acc *b) {
  a->nan += b->nan;
  a->pinf += b->pinf;
  a->ninf += b->ninf;
  if (b->n == 0)
    return;
  if (a->n == 0) {
    double nan = a->nan, pinf = a->pinf, ninf = a->ninf;
    *a = *b;
    a->nan = nan;
    a->pinf = pinf;
    a->ninf = ninf;
    return;
  }
  double n = a->n + b->n, d = b->mean - a->mean;
  a->mean += d * (b->n / n);
  a->m2 += b->m2 + d * d * (a->n * b->n / n);
  if (b->min < a->min)
    a->min = b->min;
  if (b->max > a->max)
    a->max = b->max;
  a->n = n;
}

static int run_pass(sl_ctx *ctx, const char *spec, const sl_h5_opts *o, sl_each_fn fn, job *j) {
  sl_flow *flow = NULL;
  uint64_t count = 0;
  const char *specs[1] = {spec};
  int rc = sl_flow_create(ctx, &flow);
  if (rc)
    return rc;
  /* builder errors are remembered by the flow: sl_run returns (and prints) them */
  if (!sl_flow_from_h5(flow, specs, 1, o, 0) && !sl_flow_each(flow, fn, j))
    (void)sl_flow_name(flow, fn == fold ? "welford" : "histogram");
  (void)sl_flow_to_count(flow, &count);
  rc = sl_run(flow);
  sl_flow_destroy(&flow);
  return rc;
}

/* ---- output file (rank 0; small) ---- */
typedef struct srow {
  uint64_t count, nan_count;
  double min, max, mean, std;
} srow;

/* HDF5's error stack in one line: the system's message when a low-level call failed (the
 * sec2 driver's description also dumps buffer addresses and byte counts, which mean nothing
 * to a user), else the innermost description, then HDF5's major and minor messages. The
 * first failure's cause is kept in h5_saved, since the cleanup calls after it clear the
 * stack. */
typedef struct h5err {
  char desc[512], sys[256];
  hid_t maj, min;
} h5err;
static char h5_saved[768];
static herr_t h5_walk(unsigned n, const H5E_error2_t *e, void *data) {
  h5err *w = data;
  const char *m = e->desc ? strstr(e->desc, "error message = '") : NULL;
  if (n == 0) {
    snprintf(w->desc, sizeof w->desc, "%s", e->desc ? e->desc : "");
    w->maj = e->maj_num;
    w->min = e->min_num;
  }
  if (m && !w->sys[0]) {
    m += strlen("error message = '");
    snprintf(w->sys, sizeof w->sys, "%.*s", (int)strcspn(m, "'"), m);
  }
  return 0;
}
static void h5_errline(char *buf, size_t cap) {
  h5err w = {"", "", -1, -1};
  char maj[128] = "", min[128] = "";
  buf[0] = 0;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_walk, &w);
  if (w.maj >= 0 && H5Eget_msg(w.maj, NULL, maj, sizeof maj) < 0)
    maj[0] = 0;
  if (w.min >= 0 && H5Eget_msg(w.min, NULL, min, sizeof min) < 0)
    min[0] = 0;
  H5Eclear2(H5E_DEFAULT);
  const char *what = w.sys[0] ? w.sys : strstr(w.desc, "buf = ") ? "" : w.desc;
  if (!what[0] && !maj[0])
    return;
  snprintf(buf, cap, "%s%s%s%s%s%s", what,
           what[0] && maj[0] ? " (HDF5: "
           : maj[0]          ? "HDF5: "
                             : "",
           maj, min[0] ? " / " : "", min, what[0] && maj[0] ? ")" : "");
  for (char *p = buf; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
}
static const char *h5_cause(char *buf, size_t cap) {
  h5_errline(buf, cap);
  if (h5_saved[0])
    snprintf(buf, cap, "%s", h5_saved);
  h5_saved[0] = 0;
  return buf[0] ? buf : "no detail from HDF5";
}
static void h5_save(void) {
  char c[sizeof h5_saved];
  h5_errline(c, sizeof c);
  if (c[0] && !h5_saved[0])
    snprintf(h5_saved, sizeof h5_saved, "%s", c);
}

/* expr < 0: "cannot write OUT: <what>: <HDF5's cause>", then fail */
#define H5TRY(expr, ...)                                                                           \
  do {                                                                                             \
    if ((expr) < 0) {                                                                              \
      char cause_[sizeof h5_saved], what_[2600];                                                   \
      h5_save();                                                                                   \
      snprintf(what_, sizeof what_, __VA_ARGS__);                                                  \
      fprintf(stderr, "%s: error: cannot write %s: %s: %s\n", prog, out, what_,                    \
              h5_cause(cause_, sizeof cause_));                                                    \
      goto fail;                                                                                   \
    }                                                                                              \
  } while (0)
/* Close an HDF5 object once: a failed close is not retried (HDF5 released the identifier). */
#define H5CLOSE(fn, id, ...)                                                                       \
  do {                                                                                             \
    herr_t c_ = fn(id);                                                                            \
    id = -1;                                                                                       \
    H5TRY(c_, __VA_ARGS__);                                                                        \
  } while (0)

static int str_attr(hid_t obj, const char *name, const char *v) {
  hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
  int ok = t >= 0 && sp >= 0 && H5Tset_size(t, strlen(v) + 1) >= 0;
  if (ok)
    a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  ok = ok && a >= 0 && H5Awrite(a, t, v) >= 0;
  if (!ok)
    h5_save(); /* the closes below clear the error stack */
  /* an attribute is written to the file at its close */
  if (a >= 0 && H5Aclose(a) < 0 && ok) {
    h5_save();
    ok = 0;
  }
  if (sp >= 0)
    H5Sclose(sp);
  if (t >= 0)
    H5Tclose(t);
  return ok ? 0 : -1;
}

/* A 1-D float64 dataset `name` under grp with the attribute 'field' = field. */
static int f64_dataset(hid_t grp, const char *name, const double *v, hsize_t n, const char *field) {
  hid_t sp = H5Screate_simple(1, &n, NULL), d = -1;
  int ok = sp >= 0;
  if (ok)
    d = H5Dcreate2(grp, name, H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ok = ok && d >= 0 && H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
  if (!ok)
    h5_save();
  ok = ok && str_attr(d, "field", field) == 0;
  if (d >= 0 && H5Dclose(d) < 0 && ok) {
    h5_save();
    ok = 0;
  }
  if (sp >= 0)
    H5Sclose(sp);
  return ok ? 0 : -1;
}

/* The name of field `name`'s histogram dataset under /histogram: the field name with '%'
 * written as %25 and '/' (a path separator to HDF5) as %2F; "." (the group itself) as %2E.
 * Decoding %XX gives the field name back; the attribute 'field' holds it too. */
static void hist_name(const char *name, char *buf, size_t cap) {
  size_t w = 0;
  if (!strcmp(name, ".")) {
    snprintf(buf, cap, "%%2E");
    return;
  }
  for (const char *p = name; *p && w + 4 < cap; p++) {
    if (*p == '%' || *p == '/')
      w += (size_t)snprintf(buf + w, cap - w, "%%%02X", (unsigned char)*p);
    else
      buf[w++] = *p;
  }
  buf[w] = 0;
}

/* The file image to tmp (the temporary sl_output made); frees image. One line on failure. */
static int write_image(const char *tmp, const char *out, char *image, size_t n) {
  size_t done = 0;
  int fd = open(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC), e = 0;
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
  free(image);
  if (!e)
    return SL_OK;
  fprintf(stderr, "%s: error: cannot write %s: %s (%zu of %zu bytes written)\n", prog, out,
          strerror(e), done, n);
  return SL_ERR_IO;
}

/* Rank 0 writes the whole file to tmp (the output's temporary); `edges` holds bins + 1
 * doubles (allocated before the work). Returns SL_OK, or SL_ERR_HDF5 / SL_ERR_NOMEM after
 * printing one line. */
static int write_output(const char *tmp, const char *out, const job *j, const acc *g,
                        const char *spec, const char *cmdline, int nranks, double *edges) {
  hid_t fapl = -1, f = -1, mt = -1, sp = -1, d = -1, grp = -1, egrp = -1, fld = -1;
  hid_t hs = -1, hd = -1;
  char *image = NULL;
  size_t namelen = 1;
  for (size_t k = 0; k < j->nf; k++)
    if (strlen(j->f[k].name) + 1 > namelen)
      namelen = strlen(j->f[k].name) + 1;
  size_t rs = namelen + sizeof(srow);
  char *rows = calloc(j->nf ? j->nf : 1, rs);
  if (!rows) {
    fprintf(
        stderr,
        "%s: error: cannot write %s: out of memory for the /stats table (%zu rows of %zu bytes)\n",
        prog, out, j->nf, rs);
    return SL_ERR_NOMEM;
  }
  for (size_t k = 0; k < j->nf; k++) {
    result v = report(&g[k]);
    srow r = {(uint64_t)v.count, (uint64_t)v.nan, v.min, v.max, v.mean, v.std};
    memcpy(rows + k * rs, j->f[k].name, strlen(j->f[k].name));
    memcpy(rows + k * rs + namelen, &r, sizeof r);
  }
  H5TRY(fapl = H5Pcreate(H5P_FILE_ACCESS), "cannot create a file access property list");
  /* Built in memory and written out with checked write(2) calls: a full disk is then one
   * errno, never a failed H5Fclose (after which HDF5 1.10 crashes at exit, closing the
   * half-closed file again). The image's memory is in alloc_histograms' bound. */
  H5TRY(H5Pset_fapl_core(fapl, 1 << 20, 0), "cannot select the in-memory (core) driver");
  H5TRY(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl), "cannot create the file");
  H5TRY(fld = H5Tcopy(H5T_C_S1), "cannot create the /stats field type");
  H5TRY(H5Tset_size(fld, namelen), "cannot size the /stats field type (%zu bytes)", namelen);
  H5TRY(H5Tset_strpad(fld, H5T_STR_NULLTERM), "cannot set the /stats field type's padding");
  H5TRY(mt = H5Tcreate(H5T_COMPOUND, rs), "cannot create the /stats row type");
  H5TRY(H5Tinsert(mt, "field", 0, fld), "cannot build the /stats row type");
  H5TRY(H5Tinsert(mt, "count", namelen + offsetof(srow, count), H5T_NATIVE_UINT64),
        "cannot build the /stats row type");
  H5TRY(H5Tinsert(mt, "nan_count", namelen + offsetof(srow, nan_count), H5T_NATIVE_UINT64),
        "cannot build the /stats row type");
  H5TRY(H5Tinsert(mt, "min", namelen + offsetof(srow, min), H5T_NATIVE_DOUBLE),
        "cannot build the /stats row type");
  H5TRY(H5Tinsert(mt, "max", namelen + offsetof(srow, max), H5T_NATIVE_DOUBLE),
        "cannot build the /stats row type");
  H5TRY(H5Tinsert(mt, "mean", namelen + offsetof(srow, mean), H5T_NATIVE_DOUBLE),
        "cannot build the /stats row type");
  H5TRY(H5Tinsert(mt, "std", namelen + offsetof(srow, std), H5T_NATIVE_DOUBLE),
        "cannot build the /stats row type");
  hsize_t n = j->nf;
  H5TRY(sp = H5Screate_simple(1, &n, NULL), "cannot create the /stats dataspace");
  H5TRY(d = H5Dcreate2(f, "/stats", mt, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
        "cannot create dataset /stats");
  H5TRY(H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows), "cannot write dataset /stats");
  H5TRY(str_attr(d, "input", spec), "cannot write attribute 'input' of /stats");
  H5TRY(str_attr(d, "command_line", cmdline), "cannot write attribute 'command_line' of /stats");
  H5TRY(str_attr(d, "sluice_version", sl_version()),
        "cannot write attribute 'sluice_version' of /stats");
  {
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    H5TRY(str_attr(d, "created_utc", when), "cannot write attribute 'created_utc' of /stats");
    int64_t nr = nranks;
    hid_t asp = H5Screate(H5S_SCALAR);
    hid_t a =
        asp >= 0 ? H5Acreate2(d, "ranks", H5T_NATIVE_INT64, asp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &nr) >= 0;
    if (!ok)
      h5_save();
    if (a >= 0 && H5Aclose(a) < 0 && ok) {
      h5_save();
      ok = 0;
    }
    if (asp >= 0)
      H5Sclose(asp);
    H5TRY(ok ? 0 : -1, "cannot write attribute 'ranks' of /stats");
  }
  H5CLOSE(H5Dclose, d, "cannot close dataset /stats");
  H5CLOSE(H5Sclose, sp, "cannot close the /stats dataspace");
  H5TRY(grp = H5Gcreate2(f, "/histogram", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
        "cannot create group /histogram");
  /* the edges are datasets, not attributes: an attribute holds at most 64 KiB (8190 edges) */
  H5TRY(egrp = H5Gcreate2(f, "/edges", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
        "cannot create group /edges");
  hsize_t nb = (hsize_t)j->bins, ne = nb + 1;
  H5TRY(hs = H5Screate_simple(1, &nb, NULL), "cannot create the histogram dataspace");
  for (size_t k = 0; k < j->nf; k++) {
    char hn[4 * 256 + 8];
    hist_name(j->f[k].name, hn, sizeof hn);
    for (hsize_t e = 0; e < ne; e++)
      edges[e] = edge(j, k, (long)e);
    H5TRY(hd = H5Dcreate2(grp, hn, H5T_NATIVE_UINT64, hs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
          "cannot create dataset '/histogram/%s' (field '%s')", hn, j->f[k].name);
    H5TRY(H5Dwrite(hd, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                   j->hist + k * (size_t)j->bins),
          "cannot write dataset '/histogram/%s'", hn);
    H5TRY(str_attr(hd, "field", j->f[k].name), "cannot write attribute 'field' of '/histogram/%s'",
          hn);
    H5CLOSE(H5Dclose, hd, "cannot close dataset '/histogram/%s'", hn);
    H5TRY(f64_dataset(egrp, hn, edges, ne, j->f[k].name),
          "cannot write dataset '/edges/%s' (%llu edges of field '%s')", hn, (unsigned long long)ne,
          j->f[k].name);
  }
  H5CLOSE(H5Sclose, hs, "cannot close the histogram dataspace");
  H5CLOSE(H5Gclose, egrp, "cannot close group /edges");
  H5CLOSE(H5Gclose, grp, "cannot close group /histogram");
  H5CLOSE(H5Tclose, mt, "cannot close the /stats row type");
  H5CLOSE(H5Tclose, fld, "cannot close the /stats field type");
  ssize_t isz;
  H5TRY(H5Fflush(f, H5F_SCOPE_GLOBAL), "cannot flush the file");
  H5TRY(isz = H5Fget_file_image(f, NULL, 0), "cannot size the file image");
  image = malloc((size_t)isz ? (size_t)isz : 1);
  if (!image) {
    fprintf(stderr, "%s: error: cannot write %s: out of memory for its image (%zd bytes)\n", prog,
            out, isz);
    goto fail;
  }
  H5TRY(H5Fget_file_image(f, image, (size_t)isz), "cannot copy the file image");
  H5CLOSE(H5Fclose, f, "cannot close the file");
  H5Pclose(fapl);
  fapl = -1;
  free(rows);
  rows = NULL;
  return write_image(tmp, out, image, (size_t)isz);
fail:
  if (hd >= 0)
    H5Dclose(hd);
  if (hs >= 0)
    H5Sclose(hs);
  if (egrp >= 0)
    H5Gclose(egrp);
  if (grp >= 0)
    H5Gclose(grp);
  if (d >= 0)
    H5Dclose(d);
  if (sp >= 0)
    H5Sclose(sp);
  if (mt >= 0)
    H5Tclose(mt);
  if (fld >= 0)
    H5Tclose(fld);
  if (f >= 0)
    H5Fclose(f);
  if (fapl >= 0)
    H5Pclose(fapl);
  free(rows);
  free(image);
  H5Eclear2(H5E_DEFAULT);
  return SL_ERR_HDF5;
}

/* --fields: split s in place at commas; "\," is a comma and "\\" a backslash inside a
 * name. Empty names are dropped. Returns the number of names put in out. */
static size_t split_fields(char *s, char **out) {
  size_t n = 0;
  char *w = s, *start = s;
  for (char *r = s;; r++) {
    if (*r == '\\' && (r[1] == ',' || r[1] == '\\')) {
      *w++ = *++r;
    } else if (*r == ',' || !*r) {
      int last = !*r;
      *w++ = 0;
      if (*start)
        out[n++] = start;
      start = w;
      if (last)
        break;
    } else {
      *w++ = *r;
    }
  }
  return n;
}

/* Without --fields, on rank 0: the numeric members of a compound dataset (in the first
 * file of a glob) when it also has members sluice cannot read (enums, arrays, nested
 * compounds, variable-length strings, ...), which are then skipped like string members
 * (sl_h5_describe refuses them unless a selection leaves them out). Returns the number of
 * numeric members, their names NUL-separated in *names (*len bytes); or -1 when there is
 * nothing to skip or the dataset cannot be inspected here (sl_h5_describe then reads
 * every member and reports any error). */
static long numeric_members(const char *spec, char **names, size_t *len) {
  const char *sep = NULL;
  for (const char *p = spec; (p = strstr(p, ":/")) != NULL; p++)
    sep = p;
  *names = NULL;
  *len = 0;
  if (!sep || sep == spec || !sep[2])
    return -1;
  char *file = strndup(spec, (size_t)(sep - spec));
  if (!file)
    return -1;
  const char *dset = sep + 1, *path = file;
  glob_t gl;
  int globbed = 0;
  if (strpbrk(file, "*?[")) {
    if (glob(file, 0, NULL, &gl) != 0) {
      free(file);
      return -1;
    }
    globbed = 1;
    path = gl.gl_pathc ? gl.gl_pathv[0] : NULL;
  }
  /* only a regular file is opened here: a FIFO without a writer would block the open;
   * sl_h5_describe reports what the path is */
  struct stat sb;
  if (path && (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)))
    path = NULL;
  H5E_auto2_t efunc = NULL;
  void *edata = NULL;
  H5Eget_auto2(H5E_DEFAULT, &efunc, &edata);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  long count = -1;
  int unsupported = 0;
  size_t cap = 0;
  hid_t fapl = -1, f = -1, d = -1, t = -1;
  if (path && (fapl = H5Pcreate(H5P_FILE_ACCESS)) >= 0 && H5Pset_fapl_sec2(fapl) >= 0 &&
      (f = H5Fopen(path, H5F_ACC_RDONLY, fapl)) >= 0 && (d = H5Dopen2(f, dset, H5P_DEFAULT)) >= 0 &&
      (t = H5Dget_type(d)) >= 0 && H5Tget_class(t) == H5T_COMPOUND) {
    int nm = H5Tget_nmembers(t);
    count = 0;
    for (int i = 0; i < nm && count >= 0; i++) {
      char *mn = H5Tget_member_name(t, (unsigned)i);
      hid_t m = H5Tget_member_type(t, (unsigned)i);
      H5T_class_t c = m >= 0 ? H5Tget_class(m) : H5T_NO_CLASS;
      size_t sz = m >= 0 ? H5Tget_size(m) : 0;
      int numeric = (c == H5T_INTEGER && (sz == 1 || sz == 2 || sz == 4 || sz == 8)) ||
                    (c == H5T_FLOAT && (sz == 4 || sz == 8));
      if (!mn || m < 0) {
        count = -1;
      } else if (numeric) {
        size_t l = strlen(mn) + 1;
        if (*len + l > cap) {
          size_t nc = (*len + l) * 2;
          char *nb = realloc(*names, nc);
          if (!nb) {
            count = -1;
          } else {
            *names = nb;
            cap = nc;
          }
        }
        if (count >= 0) {
          memcpy(*names + *len, mn, l);
          *len += l;
          count++;
        }
      } else if (!(c == H5T_STRING && H5Tis_variable_str(m) == 0)) {
        unsupported = 1;
      }
      if (m >= 0)
        H5Tclose(m);
      if (mn)
        H5free_memory(mn);
    }
  }
  if (t >= 0)
    H5Tclose(t);
  if (d >= 0)
    H5Dclose(d);
  if (f >= 0)
    H5Fclose(f);
  if (fapl >= 0)
    H5Pclose(fapl);
  H5Eclear2(H5E_DEFAULT);
  H5Eset_auto2(H5E_DEFAULT, efunc, edata);
  if (globbed)
    globfree(&gl);
  free(file);
  if (count < 0 || !unsupported) {
    free(*names);
    *names = NULL;
    *len = 0;
    return -1;
  }
  return count;
}

/* Option argv[*i] when it is one of `names` (NULL-terminated), as "--opt VALUE" or
 * "--opt=VALUE": *name becomes the option's name (static), *value its value, and *i moves
 * past it; returns 1, 0 when argv[*i] is none of them, -1 when the value is missing. */
static int opt_value(int argc, char **argv, int *i, const char **name, const char **value,
                     const char *const *names) {
  const char *a = argv[*i];
  for (const char *const *n = names; *n; n++) {
    size_t l = strlen(*n);
    if (strncmp(a, *n, l))
      continue;
    if (a[l] == '=' && a[1] == '-') {
      *name = *n;
      *value = a + l + 1;
      return 1;
    }
    if (a[l])
      continue;
    *name = *n;
    if (*i + 1 >= argc)
      return -1;
    *value = argv[++*i];
    return 1;
  }
  return 0;
}

/* 1 when ok on every rank. Collective. */
static int all_ok(MPI_Comm comm, int ok) {
  int mine = ok ? 1 : 0, all = 0;
  if (MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
    return 0;
  return all;
}

/* 1 when this rank is the lowest one where ok is false: it alone prints the line, so that
 * a failure all ranks share is reported once. Collective. */
static int first_failed(MPI_Comm comm, int ok) {
  int me = 0, mine, first = -1;
  MPI_Comm_rank(comm, &me);
  mine = ok ? INT_MAX : me;
  if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
    return !ok;
  return first == me;
}

static uint64_t read_u64(const char *path) {
  FILE *f = fopen(path, "r");
  unsigned long long v = 0;
  int ok = f && fscanf(f, "%llu", &v) == 1; /* "max" (no limit) does not parse */
  if (f)
    fclose(f);
  return ok ? (uint64_t)v : UINT64_MAX;
}

/* The memory this rank may count on: the lowest of its address-space and data limits and
 * its share of the node's memory or memory cgroup limit (split among the ranks on the
 * node). *why names the bound. Collective (finds the ranks on the node). */
static uint64_t rank_memory(MPI_Comm comm, const char **why) {
  MPI_Comm node;
  int per_node = 1;
  if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
    MPI_Comm_size(node, &per_node);
    MPI_Comm_free(&node);
  }
  long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  uint64_t lim =
      pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz / (uint64_t)per_node : UINT64_MAX;
  *why = "the node's memory shared by its ranks";
  uint64_t cg = read_u64("/sys/fs/cgroup/memory.max");
  if (cg == UINT64_MAX)
    cg = read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  if (cg != UINT64_MAX && cg / (uint64_t)per_node < lim) {
    lim = cg / (uint64_t)per_node;
    *why = "the memory cgroup's limit shared by the node's ranks";
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < lim) {
    lim = rl.rlim_cur;
    *why = "the address-space limit (ulimit -v)";
  }
  if (getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < lim) {
    lim = rl.rlim_cur;
    *why = "the data-size limit (ulimit -d)";
  }
  return lim;
}

static void human(double b, char *buf, size_t cap) {
  const char *u[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (b >= 1024 && i < 4) {
    b /= 1024;
    i++;
  }
  snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

/* The per-field accumulators and ranges, the histograms (nf x bins counters, most of the
 * memory) and, on the rank that writes the output, the edges: refused up front, on every
 * rank, when more than half of what a rank may use (the rest is for the flow's batches and
 * MPI), so that a large --bins fails here with a clear message rather than in the middle. */
static int alloc_histograms(MPI_Comm comm, job *j, int writer, double **edges) {
  const char *why = "";
  uint64_t lim = rank_memory(comm, &why);
  /* the writer also holds the edges and the file's image (counts and edges again) */
  double need = (double)j->nf * j->bins * sizeof *j->hist +
                (writer ? (j->bins + 1.0) * 8 + j->nf * (2.0 * j->bins + 1) * 8 : 0);
  char h1[32], h2[32];
  human(need, h1, sizeof h1);
  human((double)lim, h2, sizeof h2);
  int fits = need <= (double)lim / 2;
  if (!all_ok(comm, fits)) {
    if (first_failed(comm, fits))
      fprintf(stderr,
              "%s: error: --bins %d: the histograms need %zu fields x %d bins x 8 bytes%s = %s per "
              "rank, more than half of the %s this rank may use (%s); give fewer --bins or "
              "--fields\n",
              prog, j->bins, j->nf, j->bins,
              writer ? " (and the edges and the output's image on rank 0)" : "", h1, h2, why);
    return SL_ERR_USAGE;
  }
  j->a = calloc(j->nf, sizeof *j->a);
  j->hist = calloc(j->nf * (size_t)j->bins, sizeof *j->hist);
  j->lo = calloc(j->nf, sizeof *j->lo);
  j->hi = calloc(j->nf, sizeof *j->hi);
  if (writer)
    *edges = malloc(((size_t)j->bins + 1) * sizeof **edges);
  int ok = j->a && j->hist && j->lo && j->hi && (!writer || *edges);
  if (!all_ok(comm, ok)) {
    if (first_failed(comm, ok))
      fprintf(stderr,
              "%s: error: out of memory for the histograms: %zu fields x %d bins x 8 bytes = %s "
              "(--bins and --fields bound it)\n",
              prog, j->nf, j->bins, h1);
    return SL_ERR_NOMEM;
  }
  return SL_OK;
}

/* The files of FILE:/dataset (FILE may be a glob), for the output's input-is-output check.
 * Returns how many; a glob's names are in gl (*globbed = 1), else the one name is in
 * one[0] (malloc'd, or NULL). */
static int input_files(const char *spec, glob_t *gl, int *globbed, const char **one) {
  const char *sep = NULL;
  for (const char *p = spec; (p = strstr(p, ":/")) != NULL; p++)
    sep = p;
  *globbed = 0;
  one[0] = NULL;
  char *file = sep ? strndup(spec, (size_t)(sep - spec)) : NULL;
  if (!file)
    return 0;
  if (strpbrk(file, "*?[") && glob(file, 0, NULL, gl) == 0) {
    *globbed = 1;
    free(file);
    return (int)gl->gl_pathc;
  }
  one[0] = file;
  return 1;
}

static int parse_range(const char *s, double *lo, double *hi) {
  char *end;
  errno = 0;
  *lo = strtod(s, &end);
  if (errno || end == s || *end != ':')
    return -1;
  const char *t = end + 1;
  *hi = strtod(t, &end);
  if (errno || end == t || *end || !(*hi > *lo) || !isfinite(*lo) || !isfinite(*hi))
    return -1;
  return 0;
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  int rc = sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx);
  if (rc != SL_OK) {
    sl_finalize(&ctx);
    return sl_exit_status(rc);
  }
  if (sl_help_requested(ctx)) {
    sl_finalize(&ctx);
    return 0;
  }
  int root = sl_rank(ctx) == 0, force = 0, have_range = 0, bad = 0;
  int transfer = SL_H5_XFER_DEFAULT;
  long bins = 10;
  double rlo = 0, rhi = 0;
  const char *spec = NULL, *out = NULL, *fields_arg = NULL;
  static const char *const valued[] = {"-o",      "--output",   "--fields", "--bins",
                                       "--range", "--transfer", NULL};
  for (int i = 1; i < argc && !bad; i++) {
    const char *a = argv[i], *v = NULL;
    int nv;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      if (root)
        usage(stdout);
      sl_finalize(&ctx);
      return 0;
    } else if (!strcmp(a, "--version")) {
      if (root)
        printf("%s %s\n", prog, sl_version());
      sl_finalize(&ctx);
      return 0;
    } else if (!strcmp(a, "--force")) {
      force = 1;
    } else if ((nv = opt_value(argc, argv, &i, &a, &v, valued)) != 0) {
      if (nv < 0) {
        if (root)
          fprintf(stderr, "%s: error: %s needs a value (see --help)\n", prog, a);
        bad = 1;
        break;
      }
      if (!strcmp(a, "--fields")) {
        fields_arg = v;
      } else if (!strcmp(a, "--bins")) {
        char *end;
        errno = 0;
        bins = strtol(v, &end, 10);
        if (errno || end == v || *end || bins < 1 || bins > 100000000) {
          if (root)
            fprintf(stderr,
                    "%s: error: --bins expects an integer from 1 to 100000000, found '%s'\n", prog,
                    v);
          bad = 1;
        }
      } else if (!strcmp(a, "--transfer")) {
        if (!strcmp(v, "independent")) {
          transfer = SL_H5_XFER_INDEPENDENT;
        } else if (!strcmp(v, "collective")) {
          transfer = SL_H5_XFER_COLLECTIVE;
        } else {
          if (root)
            fprintf(stderr,
                    "%s: error: --transfer expects 'independent' or 'collective', found '%s'\n",
                    prog, v);
          bad = 1;
        }
      } else if (!strcmp(a, "--range")) {
        if (parse_range(v, &rlo, &rhi)) {
          if (root)
            fprintf(stderr, "%s: error: --range expects LO:HI with finite LO < HI, found '%s'\n",
                    prog, v);
          bad = 1;
        }
        have_range = 1;
      } else {
        out = v;
      }
    } else if (a[0] == '-' && a[1]) {
      if (root)
        fprintf(stderr, "%s: error: unknown option '%s' (see --help)\n", prog, a);
      bad = 1;
    } else if (spec) {
      if (root)
        fprintf(stderr, "%s: error: more than one input given ('%s' and '%s'; quote a glob)\n",
                prog, spec, a);
      bad = 1;
    } else {
      spec = a;
    }
  }
  if (!bad && !spec) {
    if (root)
      fprintf(stderr, "%s: error: no input given (usage: %s FILE:/dataset [options]; see --help)\n",
              prog, prog);
    bad = 1;
  }
  if (!bad && !strstr(spec, ":/")) {
    if (root)
      fprintf(stderr, "%s: error: input '%s': expected FILE:/path/to/dataset\n", prog, spec);
    bad = 1;
  }
  if (bad) {
    sl_finalize(&ctx);
    return sl_exit_status(SL_ERR_USAGE);
  }
  MPI_Comm comm = sl_comm(ctx);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* failures are reported in one line each */

  /* the output is checked before any work (on rank 0: its directory, not a directory
   * itself, not one of the input files even with --force), and its temporary made */
  sl_output *outp = NULL;
  if (out) {
    glob_t gl;
    int globbed = 0;
    const char *one[1];
    const char *const *inputs = one;
    int ninputs = input_files(spec, &gl, &globbed, one);
    if (globbed)
      inputs = (const char *const *)gl.gl_pathv;
    rc = sl_output_create(ctx, out, force, inputs, ninputs, &outp);
    if (globbed)
      globfree(&gl);
    free((char *)one[0]);
    if (rc != SL_OK) {
      /* rank 0 has the cause, the others SL_ERR_REMOTE: every rank exits with rank 0's
       * status, since mpirun reports the first rank to exit */
      int r0 = rc;
      MPI_Bcast(&r0, 1, MPI_INT, 0, comm);
      if (r0 != SL_ERR_REMOTE && r0 != SL_OK)
        rc = r0;
      sl_finalize(&ctx);
      return sl_exit_status(rc);
    }
  }

  /* the fields */
  char **sel = NULL;
  size_t nsel = 0;
  char *fcopy = fields_arg ? strdup(fields_arg) : NULL;
  if (fcopy) {
    sel = calloc(strlen(fcopy) + 1, sizeof *sel);
    if (sel)
      nsel = split_fields(fcopy, sel);
  }
  int fok = !fields_arg || (fcopy && sel);
  if (!all_ok(comm, fok)) { /* agreed: the others would go on into sl_h5_describe */
    if (!fok)
      fprintf(stderr, "%s: error: out of memory for the --fields list (%zu names)\n", prog,
              strlen(fields_arg) + 1);
    free(sel);
    free(fcopy);
    sl_output_destroy(&outp);
    sl_finalize(&ctx);
    return sl_exit_status(SL_ERR_NOMEM);
  }
  /* without --fields: skip members of types sluice cannot read (rank 0 looks, all agree) */
  char *auto_names = NULL, **auto_sel = NULL;
  long nauto = -1;
  if (!fields_arg) {
    size_t alen = 0;
    if (root)
      nauto = numeric_members(spec, &auto_names, &alen);
    uint64_t hdr[2] = {(uint64_t)(nauto + 1), alen};
    MPI_Bcast(hdr, 2, MPI_UINT64_T, 0, comm);
    nauto = (long)hdr[0] - 1;
    alen = (size_t)hdr[1];
    if (alen && !root)
      auto_names = malloc(alen);
    if (nauto > 0)
      auto_sel = calloc((size_t)nauto, sizeof *auto_sel);
    /* agreed before the broadcast, which a rank that failed here would not join */
    if (!all_ok(comm, !((alen && !auto_names) || (nauto > 0 && !auto_sel)))) {
      if ((alen && !auto_names) || (nauto > 0 && !auto_sel))
        fprintf(stderr, "%s: error: out of memory for the names of %ld fields (%zu bytes)\n", prog,
                nauto, alen + (size_t)(nauto > 0 ? nauto : 0) * sizeof *auto_sel);
      free(auto_names);
      free(auto_sel);
      free(sel);
      free(fcopy);
      sl_output_destroy(&outp);
      sl_finalize(&ctx);
      return sl_exit_status(SL_ERR_NOMEM);
    }
    if (alen)
      MPI_Bcast(auto_names, (int)alen, MPI_CHAR, 0, comm);
    if (nauto > 0) {
      for (size_t p = 0, i = 0; i < (size_t)nauto; i++) {
        auto_sel[i] = auto_names + p;
        p += strlen(auto_names + p) + 1;
      }
    }
  }
  sl_h5_opts o = {0};
  o.fields = (const char *const *)sel;
  o.nfields = nsel;
  o.transfer = transfer;
  if (nauto == 0) {
    if (root)
      fprintf(stderr, "%s: error: '%s' has no numeric field\n", prog, spec);
    free(auto_names);
    free(sel);
    free(fcopy);
    sl_output_destroy(&outp);
    sl_finalize(&ctx);
    return sl_exit_status(SL_ERR_TYPE);
  }
  if (nauto > 0) {
    o.fields = (const char *const *)auto_sel;
    o.nfields = (size_t)nauto;
  }
  job j;
  memset(&j, 0, sizeof j);
  double *edges = NULL;
  sl_h5_layout *full = NULL;
  rc = sl_h5_describe(ctx, spec, &o, &j.layout);
  if (rc == SL_OK) {
    size_t n = sl_h5_layout_nfields(j.layout);
    j.f = calloc(n ? n : 1, sizeof *j.f);
    const char **numeric = calloc(n ? n : 1, sizeof *numeric);
    if (!all_ok(comm, j.f && numeric)) { /* agreed: the others would go on into the flow */
      if (!j.f || !numeric)
        fprintf(stderr, "%s: error: out of memory for the descriptions of %zu fields\n", prog, n);
      rc = SL_ERR_NOMEM;
      n = 0;
    }
    for (size_t k = 0; k < n; k++) {
      sl_h5_field f;
      sl_h5_layout_field(j.layout, k, &f);
      if (f.cls == SL_H5_STRING && nsel) {
        if (root)
          fprintf(stderr,
                  "%s: error: '%s': field '%s' is a %zu-byte string (expected a numeric field for "
                  "statistics)\n",
                  prog, spec, f.name, f.size);
        rc = SL_ERR_TYPE;
        break;
      }
      if (f.cls != SL_H5_STRING)
        numeric[j.nf++] = f.name;
    }
    if (rc == SL_OK && j.nf == 0) {
      if (root)
        fprintf(stderr, "%s: error: '%s' has no numeric field\n", prog, spec);
      rc = SL_ERR_TYPE;
    }
    /* read only the numeric fields */
    if (rc == SL_OK && j.nf != n) {
      sl_h5_layout *l2 = NULL;
      sl_h5_opts o2 = {0};
      o2.fields = numeric;
      o2.nfields = j.nf;
      o2.transfer = transfer;
      rc = sl_h5_describe(ctx, spec, &o2, &l2);
      if (rc == SL_OK) { /* the names in `numeric` belong to the first layout: keep it */
        full = j.layout;
        j.layout = l2;
        o = o2;
      }
    }
    if (rc == SL_OK) {
      for (size_t k = 0; k < j.nf; k++)
        sl_h5_layout_field(j.layout, k, &j.f[k]);
      j.bins = (int)bins;
      rc = alloc_histograms(comm, &j, root && out, &edges);
    }
    if (rc == SL_OK) {
      j.do_hist = have_range;
      for (size_t k = 0; k < j.nf; k++) {
        j.lo[k] = rlo;
        j.hi[k] = rhi;
      }
      rc = run_pass(ctx, spec, &o, fold, &j);
    }
    /* merge the ranks' accumulators (same order everywhere: identical results) */
    acc *g = NULL;
    if (rc == SL_OK) {
      int size = sl_size(ctx);
      acc *all = malloc((size_t)size * j.nf * sizeof *all);
      g = calloc(j.nf, sizeof *g);
      if (!all_ok(comm, all && g)) {
        if (!all || !g)
          fprintf(stderr,
                  "%s: error: out of memory for the accumulators of %zu fields from %d ranks "
                  "(%zu bytes)\n",
                  prog, j.nf, size, ((size_t)size + 1) * j.nf * sizeof *all);
        rc = SL_ERR_NOMEM;
      }
      if (rc == SL_OK && MPI_Allgather(j.a, (int)(j.nf * ACC_DOUBLES), MPI_DOUBLE, all,
                                       (int)(j.nf * ACC_DOUBLES), MPI_DOUBLE, comm) != MPI_SUCCESS)
        rc = SL_ERR_MPI;
      for (int r = 0; rc == SL_OK && r < size; r++)
        for (size_t k = 0; k < j.nf; k++)
          merge(&g[k], &all[(size_t)r * j.nf + k]);
      free(all);
    }
    if (rc == SL_OK && !have_range) { /* the finite min..max: infinities are not binned */
      j.do_hist = 1;
      for (size_t k = 0; k < j.nf; k++) {
        j.lo[k] = g[k].n ? g[k].min : 0;
        j.hi[k] = g[k].n ? g[k].max : 0;
      }
      rc = run_pass(ctx, spec, &o, histogram, &j);
    }
    /* in place (no second copy of what may be most of a rank's memory), in pieces that an
     * int count can hold */
    for (size_t done = 0, total = j.nf * (size_t)bins; rc == SL_OK && done < total;) {
      size_t n = total - done < ((size_t)1 << 30) ? total - done : (size_t)1 << 30;
      if (MPI_Allreduce(MPI_IN_PLACE, j.hist + done, (int)n, MPI_UINT64_T, MPI_SUM, comm) !=
          MPI_SUCCESS)
        rc = SL_ERR_MPI;
      done += n;
    }
    if (rc == SL_OK && root) {
      printf("%-16s %14s %10s %16s %16s %16s %16s\n", "field", "count", "nan", "min", "max", "mean",
             "std");
      for (size_t k = 0; k < j.nf; k++) {
        result v = report(&g[k]);
        printf("%-16s %14.0f %10.0f %16.9g %16.9g %16.9g %16.9g\n", j.f[k].name, v.count, v.nan,
               v.min, v.max, v.mean, v.std);
      }
      for (size_t k = 0; k < j.nf; k++) {
        printf("\nhistogram %s: %d bins over [%.9g, %.9g]\n", j.f[k].name, j.bins, j.lo[k],
               j.hi[k]);
        for (int b = 0; b < j.bins && b < 1000; b++)
          printf("  [%14.9g, %14.9g%s %llu\n", edge(&j, k, b), edge(&j, k, b + 1),
                 b == j.bins - 1 ? "]" : ")",
                 (unsigned long long)j.hist[k * (size_t)j.bins + (size_t)b]);
        if (j.bins > 1000)
          printf("  ... (%d bins; see -o for all)\n", j.bins);
      }
      fflush(stdout);
    }
    if (rc == SL_OK && out) {
      int wrc = SL_OK;
      if (root) {
        char cmd[8192] = "";
        size_t pos = 0;
        for (int i = 0; i < argc && pos < sizeof cmd - 1; i++)
          pos += (size_t)snprintf(cmd + pos, sizeof cmd - pos, "%s%s", i ? " " : "", argv[i]);
        wrc = write_output(sl_output_tmp_path(outp), out, &j, g, spec, cmd, sl_size(ctx), edges);
      }
      /* collective: the others wait here for rank 0's outcome; published only on success */
      rc = sl_output_commit(outp, wrc);
    }
    free(g);
    free(numeric);
  }
  sl_h5_layout_destroy(&j.layout);
  sl_h5_layout_destroy(&full);
  free(j.f);
  free(j.a);
  free(j.hist);
  free(j.lo);
  free(j.hi);
  free(sel);
  free(fcopy);
  free(auto_sel);
  free(auto_names);
  free(edges);
  sl_output_destroy(&outp);
  sl_finalize(&ctx);
  return sl_exit_status(rc);
}
