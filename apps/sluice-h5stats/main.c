/* sluice-h5stats: count, NaN count, min, max, mean, standard deviation and a histogram
 * of every numeric field of an HDF5 dataset, on MPI ranks.
 *
 *   mpirun -n N sluice-h5stats FILE:/dataset [--fields a,b] [--bins N] [--range LO:HI]
 *                              [-o OUT.h5] [--force] [--transfer independent|collective]
 *
 * Pass 1 (one flow): every rank folds its rows into per-field Welford accumulators
 * (count, mean, M2, min, max, NaN count); the ranks' accumulators are merged with Chan et
 * al.'s pairwise formula, in rank order, identically on every rank. Pass 2 (a second
 * flow, skipped when --range is given, which fills the histogram in pass 1): N-bin
 * histograms over [min, max], summed with MPI_Allreduce. */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
             "NaN values are counted apart and excluded from everything else. FILE may be a\n"
             "glob (quote it); all matching files are read.\n"
             "\n"
             "options:\n"
             "  --fields a,b     only these fields (each must be numeric)\n"
             "  --bins N         histogram bins (default 10)\n"
             "  --range LO:HI    histogram range for every field (default: each field's\n"
             "                   min..max, which costs a second pass over the data). Values\n"
             "                   outside [LO, HI] are not binned; the last bin is closed.\n"
             "  -o, --output F   also write the results to the HDF5 file F: a compound dataset\n"
             "                   /stats (field, count, nan_count, min, max, mean, std) and\n"
             "                   /histogram/FIELD (uint64 counts, attribute 'edges': N+1 float64)\n"
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
typedef struct acc {
  double n, mean, m2, min, max, nan; /* doubles, so one MPI_Allgather moves them */
} acc;

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

static void bin_value(job *j, size_t k, double x) {
  double lo = j->lo[k], hi = j->hi[k];
  if (!(x >= lo && x <= hi))
    return;
  long b;
  if (x == hi)
    b = j->bins - 1;
  else
    b = (long)((x - lo) / (hi - lo) * j->bins);
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
    if (!isnan(x))
      bin_value(j, k, x);
  }
  return 0;
}

/* Chan, Golub, LeVeque: merge b into a. */
static void merge(acc *a, const acc *b) {
  a->nan += b->nan;
  if (b->n == 0)
    return;
  if (a->n == 0) {
    double nan = a->nan;
    *a = *b;
    a->nan = nan;
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
static int check_output(const char *out, int force, char *tmp, size_t cap) {
  struct stat sb;
  char d[4096], b[4096];
  snprintf(d, sizeof d, "%s", out);
  snprintf(b, sizeof b, "%s", out);
  const char *dir = dirname(d);
  if (stat(out, &sb) == 0 && !force) {
    fprintf(stderr, "%s: error: output '%s' already exists (use --force to overwrite it)\n", prog,
            out);
    return SL_ERR_EXISTS;
  }
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "%s: error: output directory '%s' does not exist\n", prog, dir);
    return SL_ERR_USAGE;
  }
  if (access(dir, W_OK) != 0) {
    fprintf(stderr, "%s: error: output directory '%s' is not writable: %s\n", prog, dir,
            strerror(errno));
    return SL_ERR_USAGE;
  }
  snprintf(tmp, cap, "%s/.%s.sluice-tmp-%ld", dir, basename(b), (long)getpid());
  return SL_OK;
}

typedef struct srow {
  uint64_t count, nan_count;
  double min, max, mean, std;
} srow;

/* HDF5's innermost error description (the cause), then the stack is cleared. */
static herr_t h5_inner(unsigned n, const H5E_error2_t *e, void *data) {
  if (n == 0 && e->desc)
    snprintf(data, 512, "%s", e->desc);
  return 0;
}
static const char *h5_cause(char *buf) {
  buf[0] = 0;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_inner, buf);
  H5Eclear2(H5E_DEFAULT);
  return buf[0] ? buf : "no detail";
}

#define H5TRY(expr)                                                                                \
  do {                                                                                             \
    if ((expr) < 0) {                                                                              \
      char cause_[512];                                                                            \
      fprintf(stderr, "%s: error: cannot write output '%s' (as '%s'): %s failed: %s\n", prog, out, \
              tmp, #expr, h5_cause(cause_));                                                       \
      goto fail;                                                                                   \
    }                                                                                              \
  } while (0)

static int str_attr(hid_t obj, const char *name, const char *v) {
  hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
  int ok = t >= 0 && sp >= 0 && H5Tset_size(t, strlen(v) + 1) >= 0;
  if (ok)
    a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  ok = ok && a >= 0 && H5Awrite(a, t, v) >= 0;
  if (a >= 0)
    H5Aclose(a);
  if (sp >= 0)
    H5Sclose(sp);
  if (t >= 0)
    H5Tclose(t);
  return ok ? 0 : -1;
}

static int write_output(const char *tmp, const char *out, const job *j, const acc *g,
                        const char *spec, const char *cmdline, int nranks) {
  hid_t fapl = -1, f = -1, mt = -1, sp = -1, d = -1, grp = -1, fld = -1;
  size_t namelen = 1;
  for (size_t k = 0; k < j->nf; k++)
    if (strlen(j->f[k].name) + 1 > namelen)
      namelen = strlen(j->f[k].name) + 1;
  size_t rs = namelen + sizeof(srow);
  char *rows = calloc(j->nf ? j->nf : 1, rs);
  if (!rows)
    return SL_ERR_NOMEM;
  for (size_t k = 0; k < j->nf; k++) {
    srow r = {(uint64_t)g[k].n,         (uint64_t)g[k].nan,
              g[k].n ? g[k].min : NAN,  g[k].n ? g[k].max : NAN,
              g[k].n ? g[k].mean : NAN, g[k].n ? sqrt(g[k].m2 / g[k].n) : NAN};
    memcpy(rows + k * rs, j->f[k].name, strlen(j->f[k].name));
    memcpy(rows + k * rs + namelen, &r, sizeof r);
  }
  H5TRY(fapl = H5Pcreate(H5P_FILE_ACCESS));
  H5TRY(H5Pset_fapl_sec2(fapl));
  H5TRY(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
  H5TRY(fld = H5Tcopy(H5T_C_S1));
  H5TRY(H5Tset_size(fld, namelen));
  H5TRY(H5Tset_strpad(fld, H5T_STR_NULLTERM));
  H5TRY(mt = H5Tcreate(H5T_COMPOUND, rs));
  H5TRY(H5Tinsert(mt, "field", 0, fld));
  H5TRY(H5Tinsert(mt, "count", namelen + offsetof(srow, count), H5T_NATIVE_UINT64));
  H5TRY(H5Tinsert(mt, "nan_count", namelen + offsetof(srow, nan_count), H5T_NATIVE_UINT64));
  H5TRY(H5Tinsert(mt, "min", namelen + offsetof(srow, min), H5T_NATIVE_DOUBLE));
  H5TRY(H5Tinsert(mt, "max", namelen + offsetof(srow, max), H5T_NATIVE_DOUBLE));
  H5TRY(H5Tinsert(mt, "mean", namelen + offsetof(srow, mean), H5T_NATIVE_DOUBLE));
  H5TRY(H5Tinsert(mt, "std", namelen + offsetof(srow, std), H5T_NATIVE_DOUBLE));
  hsize_t n = j->nf;
  H5TRY(sp = H5Screate_simple(1, &n, NULL));
  H5TRY(d = H5Dcreate2(f, "/stats", mt, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5TRY(H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows));
  H5TRY(str_attr(d, "input", spec));
  H5TRY(str_attr(d, "command_line", cmdline));
  H5TRY(str_attr(d, "sluice_version", sl_version()));
  {
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    H5TRY(str_attr(d, "created_utc", when));
    int64_t nr = nranks;
    hid_t asp = H5Screate(H5S_SCALAR);
    hid_t a =
        asp >= 0 ? H5Acreate2(d, "ranks", H5T_NATIVE_INT64, asp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &nr) >= 0;
    if (a >= 0)
      H5Aclose(a);
    if (asp >= 0)
      H5Sclose(asp);
    H5TRY(ok ? 0 : -1);
  }
  H5TRY(H5Dclose(d));
  d = -1;
  H5TRY(H5Sclose(sp));
  sp = -1;
  H5TRY(grp = H5Gcreate2(f, "/histogram", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  for (size_t k = 0; k < j->nf; k++) {
    hsize_t nb = (hsize_t)j->bins, ne = nb + 1;
    double *edges = malloc((size_t)ne * sizeof *edges);
    if (!edges)
      goto fail;
    for (hsize_t e = 0; e < ne; e++)
      edges[e] = j->lo[k] + (j->hi[k] - j->lo[k]) * (double)e / (double)nb;
    edges[nb] = j->hi[k];
    hid_t hs = H5Screate_simple(1, &nb, NULL), es = H5Screate_simple(1, &ne, NULL);
    hid_t hd = hs >= 0 ? H5Dcreate2(grp, j->f[k].name, H5T_NATIVE_UINT64, hs, H5P_DEFAULT,
                                    H5P_DEFAULT, H5P_DEFAULT)
                       : -1;
    int ok = hd >= 0 && H5Dwrite(hd, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                 j->hist + k * (size_t)j->bins) >= 0;
    hid_t a = ok && es >= 0
                  ? H5Acreate2(hd, "edges", H5T_NATIVE_DOUBLE, es, H5P_DEFAULT, H5P_DEFAULT)
                  : -1;
    ok = ok && a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, edges) >= 0;
    if (a >= 0)
      H5Aclose(a);
    if (hd >= 0 && H5Dclose(hd) < 0)
      ok = 0;
    if (hs >= 0)
      H5Sclose(hs);
    if (es >= 0)
      H5Sclose(es);
    free(edges);
    H5TRY(ok ? 0 : -1);
  }
  H5TRY(H5Gclose(grp));
  grp = -1;
  H5TRY(H5Tclose(mt));
  mt = -1;
  H5TRY(H5Fclose(f));
  f = -1;
  H5Tclose(fld);
  H5Pclose(fapl);
  free(rows);
  if (rename(tmp, out) != 0) {
    fprintf(stderr, "%s: error: cannot rename '%s' to '%s': %s\n", prog, tmp, out, strerror(errno));
    unlink(tmp);
    return SL_ERR_IO;
  }
  return SL_OK;
fail:
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
  unlink(tmp);
  return SL_ERR_HDF5;
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
  for (int i = 1; i < argc && !bad; i++) {
    const char *a = argv[i];
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
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--fields") ||
               !strcmp(a, "--bins") || !strcmp(a, "--range") || !strcmp(a, "--transfer")) {
      if (i + 1 >= argc) {
        if (root)
          fprintf(stderr, "%s: error: %s needs a value (see --help)\n", prog, a);
        bad = 1;
        break;
      }
      const char *v = argv[++i];
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

  /* the output is checked before any work, on rank 0, and the verdict shared */
  char tmp[4200] = "";
  if (out) {
    int orc = root ? check_output(out, force, tmp, sizeof tmp) : SL_OK;
    MPI_Bcast(&orc, 1, MPI_INT, 0, comm);
    if (orc != SL_OK) {
      sl_finalize(&ctx);
      return sl_exit_status(orc);
    }
  }

  /* the fields */
  char **sel = NULL;
  size_t nsel = 0;
  char *fcopy = fields_arg ? strdup(fields_arg) : NULL;
  if (fcopy) {
    sel = calloc(strlen(fcopy) + 1, sizeof *sel);
    for (char *save = NULL, *t = strtok_r(fcopy, ",", &save); t; t = strtok_r(NULL, ",", &save))
      sel[nsel++] = t;
  }
  sl_h5_opts o = {0};
  o.fields = (const char *const *)sel;
  o.nfields = nsel;
  o.transfer = transfer;
  job j;
  memset(&j, 0, sizeof j);
  sl_h5_layout *full = NULL;
  rc = sl_h5_describe(ctx, spec, &o, &j.layout);
  if (rc == SL_OK) {
    size_t n = sl_h5_layout_nfields(j.layout);
    j.f = calloc(n, sizeof *j.f);
    const char **numeric = calloc(n, sizeof *numeric);
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
      j.a = calloc(j.nf, sizeof *j.a);
      j.hist = calloc(j.nf * (size_t)bins, sizeof *j.hist);
      j.lo = calloc(j.nf, sizeof *j.lo);
      j.hi = calloc(j.nf, sizeof *j.hi);
      if (!j.a || !j.hist || !j.lo || !j.hi)
        rc = SL_ERR_NOMEM;
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
      if (!all || !g)
        rc = SL_ERR_NOMEM;
      if (rc == SL_OK && MPI_Allgather(j.a, (int)(j.nf * 6), MPI_DOUBLE, all, (int)(j.nf * 6),
                                       MPI_DOUBLE, comm) != MPI_SUCCESS)
        rc = SL_ERR_MPI;
      for (int r = 0; rc == SL_OK && r < size; r++)
        for (size_t k = 0; k < j.nf; k++)
          merge(&g[k], &all[(size_t)r * j.nf + k]);
      free(all);
    }
    if (rc == SL_OK && !have_range) {
      j.do_hist = 1;
      for (size_t k = 0; k < j.nf; k++) {
        j.lo[k] = g[k].n ? g[k].min : 0;
        j.hi[k] = g[k].n ? g[k].max : 0;
      }
      rc = run_pass(ctx, spec, &o, histogram, &j);
    }
    if (rc == SL_OK) {
      uint64_t *h = malloc(j.nf * (size_t)bins * sizeof *h);
      if (!h)
        rc = SL_ERR_NOMEM;
      else if (MPI_Allreduce(j.hist, h, (int)(j.nf * (size_t)bins), MPI_UINT64_T, MPI_SUM, comm) !=
               MPI_SUCCESS)
        rc = SL_ERR_MPI;
      if (h) {
        free(j.hist);
        j.hist = h;
      }
    }
    if (rc == SL_OK && root) {
      printf("%-16s %14s %10s %16s %16s %16s %16s\n", "field", "count", "nan", "min", "max", "mean",
             "std");
      for (size_t k = 0; k < j.nf; k++) {
        const acc *a = &g[k];
        printf("%-16s %14.0f %10.0f %16.9g %16.9g %16.9g %16.9g\n", j.f[k].name, a->n, a->nan,
               a->n ? a->min : NAN, a->n ? a->max : NAN, a->n ? a->mean : NAN,
               a->n ? sqrt(a->m2 / a->n) : NAN);
      }
      for (size_t k = 0; k < j.nf; k++) {
        printf("\nhistogram %s: %d bins over [%.9g, %.9g]\n", j.f[k].name, j.bins, j.lo[k],
               j.hi[k]);
        for (int b = 0; b < j.bins && b < 1000; b++) {
          double w = (j.hi[k] - j.lo[k]) / j.bins;
          printf("  [%14.9g, %14.9g%s %llu\n", j.lo[k] + w * b,
                 b == j.bins - 1 ? j.hi[k] : j.lo[k] + w * (b + 1), b == j.bins - 1 ? "]" : ")",
                 (unsigned long long)j.hist[k * (size_t)j.bins + (size_t)b]);
        }
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
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        wrc = write_output(tmp, out, &j, g, spec, cmd, sl_size(ctx));
      }
      MPI_Bcast(&wrc, 1, MPI_INT, 0, comm);
      rc = wrc;
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
  sl_finalize(&ctx);
  return sl_exit_status(rc);
}
