/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-h5stats: count, NaN count, min, max, mean, standard deviation and a histogram
 * of every numeric field of an HDF5 dataset, on MPI ranks.
 *
 *   mpirun -n N sluice-h5stats FILE:/dataset [--fields a,b] [--bins N] [--range LO:HI]
 *                              [-o OUT.h5] [--force] [--transfer independent|collective]
 *
 * Pass 1 (one flow): every rank folds its rows, a block and a column at a time, into
 * per-field moments (sluice/sl_block.h: count, mean, M2, min, max of the finite values;
 * NaN, +inf and -inf counts; with --along, per index, a record at a time); the ranks'
 * accumulators are merged with Chan et al.'s pairwise formula, in rank order, identically
 * on every rank. Pass 2 (a second flow, skipped when --range is given, which fills the
 * histogram in pass 1): N-bin histograms over the finite [min, max], summed with
 * MPI_Allreduce. The fields come from sl_h5_describe_numeric and the output file is the
 * library's small result file (sl_h5_file_*): the app calls no HDF5 function. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "appcli.h"
#include "where.h"

/* ---- accumulators ---- */
/* The library's moments (sluice/sl_block.h): n, mean, m2, min and max cover the finite
 * values only; infinities and NaNs are counted apart (an infinity in the mean would turn it
 * into inf - inf = NaN); miss: missing values (CF decoding). All doubles: one MPI_Allgather
 * moves them. */
typedef sl_moments acc;
enum { ACC_DOUBLES = SL_MOMENTS_DOUBLES };

/* What is reported for a field (the merged accumulator). */
typedef struct result {
  double count, nan, miss, min, max, mean, std;
} result;

static result report(const acc *a) {
  result r;
  double ninf = a->ninf, pinf = a->pinf;
  r.count = a->n + pinf + ninf; /* every non-NaN value */
  r.nan = a->nan;
  r.miss = a->miss;
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
  int do_hist; /* fold_block bins (pass 2, or pass 1 with --range) */
  int moments; /* fold_block folds the moments (pass 1) */
  where w;     /* --where */
  /* --along: one accumulator per index of dimension `dim` (nf is 1: the flattened value);
   * a record's flat index idx is at index (idx / stride) % nidx of it (no modulo along
   * dimension 0, which several files extend) */
  int along, dim;
  uint64_t stride, nidx;
  double *coord; /* the coordinate values (nidx), or NULL */
  const char *dim_name;
} job;

/* Field k's histogram (the library's binning, sluice/sl_block.h). */
static sl_hist hist_of(const job *j, size_t k) {
  sl_hist h = {j->lo[k], j->hi[k], j->bins, j->hist + k * (size_t)j->bins};
  return h;
}

/* Edge e (0..bins) of field k's histogram. */
static double edge(const job *j, size_t k, long e) {
  sl_hist h = hist_of(j, k);
  return sl_hist_edge(&h, e);
}

/* Rows per chunk: 512 rows (20 KiB of a 40-byte table) stay in L1 while every field of
 * them is decoded, 4 KiB of doubles at a time. */
enum { CHUNK = 512 };

/* A block (or a one-row block: a record after --where's filter), a chunk of rows at a time:
 * per field, the chunk's column decoded to double (CF: missing values become NaN and are
 * counted apart), then the library's moments (pass 1) and, with do_hist (pass 2, or
 * --range), its histogram. */
static int fold_block(const sl_block *b, void *arg) {
  job *j = arg;
  double x[CHUNK];
  for (size_t at = 0; at < b->nrows; at += CHUNK) {
    size_t n = b->nrows - at < CHUNK ? b->nrows - at : CHUNK;
    /* no software prefetch of the next chunk: the rows are read in order, which the
     * hardware prefetchers follow (a burst of prefetches per chunk only stalled) */
    for (size_t k = 0; k < j->nf; k++) {
      sl_block_col c;
      size_t miss = 0;
      if (sl_block_column(b, k, &c) != SL_OK || sl_block_column_f64(&c, at, n, x, NULL, &miss))
        return -1;
      if (j->moments) {
        sl_moments_add(&j->a[k], x, n);
        j->a[k].nan -= (double)miss; /* missing values are NaN in x: counted apart */
        j->a[k].miss += (double)miss;
      }
      if (j->do_hist) {
        sl_hist h = hist_of(j, k);
        sl_hist_add(&h, x, n);
      }
    }
  }
  return 0;
}

/* --along: a record's value into the accumulator of its index (Welford's update). */
static int fold(const sl_record *rec, void *arg) {
  job *j = arg;
  for (size_t k = 0; k < j->nf; k++) {
    uint64_t idx;
    memcpy(&idx, rec->key, 8);
    idx /= j->stride;
    if (j->dim > 0)
      idx %= j->nidx;
    if (idx >= j->nidx)
      return -1;
    acc *a = &j->a[idx];
    if (sl_h5_is_missing(&j->f[k], rec->value)) { /* tested in the stored type */
      a->miss += 1;
      continue;
    }
    double x = sl_h5_get_f64(&j->f[k], rec->value);
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
  }
  return 0;
}

/* One pass: pass 1 (moments, and the histograms with --range) or pass 2 (histograms), by
 * blocks; --along's pass by records (fold). */
static int run_pass(app *a, const char *spec, const sl_h5_opts *o, int pass, job *j,
                    const char *label) {
  sl_flow *flow = NULL;
  uint64_t count = 0;
  const char *specs[1] = {spec};
  int rc = sl_flow_create(a->ctx, &flow);
  if (rc)
    return rc;
  /* builder errors are remembered by the flow: sl_run returns (and prints) them */
  j->moments = pass == 1;
  if (!sl_flow_from_h5(flow, specs, 1, o, 0) &&
      (!j->w.n || !sl_flow_filter(flow, where_test, &j->w)) &&
      !(j->along ? sl_flow_each(flow, fold, j) : sl_flow_each_block(flow, fold_block, j)))
    (void)sl_flow_name(flow, pass == 1 ? "welford" : "histogram");
  /* the stage's name and the pass: the log view, progress, the run record and the trace */
  (void)sl_flow_name_stage(flow, pass == 1 ? "read+welford" : "read+histogram");
  (void)sl_flow_set_label(flow, label);
  (void)sl_flow_to_count(flow, &count);
  rc = app_run(a, flow,
               pass == 1 ? "pass 1 (count, min, max, mean, std; per index with --along)"
                         : "pass 2 (histograms over pass 1's min..max; without --range only)");
  sl_flow_destroy(&flow);
  return rc;
}

/* ---- the command line ---- */
typedef struct stats_args {
  const char *in, *out, *fields, *range, *along, *where;
  int columns, raw, list;
  int bins, force, transfer; /* transfer: -1 (the library's default), 0 or 1 (choices) */
  int have_range;
  double lo, hi;
} stats_args;

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

static int parse_args(app *a, int *argc, char ***argv, stats_args *o) {
  static const char *const transfers[] = {"independent", "collective", NULL};
  const app_opt opts[] = {
      {.name = "fields",
       .kind = APP_STRING,
       .dest = &o->fields,
       .arg = "a,b",
       .help = "only these fields (each must be numeric); write '\\,' for a comma and '\\\\' "
               "for a backslash inside a name"},
      {.name = "bins",
       .kind = APP_INT,
       .dest = &o->bins,
       .arg = "N",
       .help = "histogram bins (default 10; up to 100000000, and fields x N x 8 bytes must fit "
               "in half of a rank's memory)",
       APP_RANGE_I(1, 100000000)},
      {.name = "range",
       .kind = APP_STRING,
       .dest = &o->range,
       .seen = &o->have_range,
       .arg = "LO:HI",
       .help = "histogram range for every field (default: each field's finite min..max, which "
               "costs a second pass over the data). Values outside [LO, HI] are not binned; the "
               "last bin is closed."},
      {.name = "columns",
       .kind = APP_FLAG,
       .dest = &o->columns,
       .help = "an N-D dataset: statistics per column c0, c1, ... of its dimension-0 rows (a "
               "2-D table stored as a matrix), instead of one field 'value' over all elements"},
      {.name = "along",
       .kind = APP_STRING,
       .dest = &o->along,
       .arg = "DIM",
       .help = "one row of statistics per index of dimension DIM (its name, e.g. time, or its "
               "number 0, 1, ...), with DIM's coordinate value when it has a coordinate "
               "variable; no histograms"},
      APP_OPT_WHERE(&o->where),
      {.name = "list",
       .kind = APP_FLAG,
       .dest = &o->list,
       .help = "list the datasets of FILE (FILE or FILE:/anything) instead: shape, type, "
               "dimensions, and which are coordinate variables or bare netCDF dimensions"},
      {.name = "raw",
       .kind = APP_FLAG,
       .dest = &o->raw,
       .help = "no CF decoding: _FillValue, missing_value, valid_* and scale_factor/add_offset "
               "are ignored, the stored values are used as they are"},
      APP_OPT_OUTPUT(&o->out, "OUT.h5",
                     "also write the results to the HDF5 file OUT.h5: a compound dataset /stats "
                     "(field, count, nan_count, missing_count, min, max, mean, std; with --along: "
                     "index, the coordinate DIM, then the same) and /histogram/FIELD (uint64 "
                     "counts) and /edges/FIELD (N+1 float64 bin edges), each with attribute "
                     "'field': the name; in FIELD, '%' is written %25, '/' %2F, and a name '.' as "
                     "%2E. Refused before any work when OUT.h5 is a directory, one of the inputs "
                     "(even with --force), or in a missing directory"),
      APP_OPT_FORCE(&o->force, "overwrite OUT.h5 if it exists"),
      {.name = "transfer",
       .kind = APP_CHOICE,
       .dest = &o->transfer,
       .choices = transfers,
       .arg = "independent|collective",
       .help = "how the ranks read the input: 'independent' (each rank on its own) or "
               "'collective' (MPI-IO collective reads in rounds all ranks agree on); default: "
               "the library's measured default (docs/hdf5.md). The results are the same either "
               "way."},
      APP_OPT_END};
  const app_cli cli = {
      .prog = "sluice-h5stats",
      .mpi = 1,
      .opts = opts,
      APP_ARGS_ONE_SPEC,
      .about =
          "Statistics of every numeric field of an HDF5 dataset (a compound table's fields,\n"
          "or 'value' for a 1-D or N-D dataset: all its elements; --columns gives the columns\n"
          "c0, c1, ... of an N-D dataset's rows instead): count, NaN count, missing count,\n"
          "min, max, mean, population standard deviation, and an N-bin histogram. Members of\n"
          "other types (strings, arrays, ...) are skipped. CF decoding is on (netCDF-4 files\n"
          "and CF attributes, docs/netcdf.md; --raw turns it off): missing values (fill,\n"
          "missing_value, outside valid_*) are counted apart, packed values are unpacked.\n"
          "NaN values are counted apart and excluded from everything else; count is the\n"
          "number of valid values. Infinities count, and give min\n"
          "and max, but stay out of the mean and std: mean is +inf or -inf when only one\n"
          "sign of infinity occurs, NaN when both do; std is NaN when any infinity occurs;\n"
          "they are never binned. FILE may be a glob (quote it); all matching files are read.\n",
      .epilog = "Runtime options of note: --sl-read-block-bytes, --sl-progress=on.\n"};
  int code = app_start(a, &cli, argc, argv);
  if (code != APP_RUN)
    return code;
  o->in = a->args[0];
  if (o->list)
    return APP_RUN; /* a file, or a spec whose file is listed */
  if (app_spec_check(a, "input", o->in, "FILE:/path/to/dataset"))
    return APP_EXIT_USAGE;
  if (o->have_range && parse_range(o->range, &o->lo, &o->hi))
    return app_usage_error(a, "--range expects LO:HI with finite LO < HI, found '%s'", o->range);
  if (o->along && (o->columns || o->fields || o->have_range))
    return app_usage_error(a, "--along gives statistics of the whole variable per index: it "
                              "takes no --columns, --fields or --range");
  return APP_RUN;
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

/* ---- memory ---- */
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
static int alloc_histograms(const app *a, job *j, int writer, double **edges) {
  const char *why = "";
  uint64_t lim = rank_memory(a->comm, &why);
  /* the writer also holds the edges and the file's image (counts and edges again) */
  double need = (double)j->nf * j->bins * sizeof *j->hist +
                (j->along ? (double)j->nidx * (sizeof(acc) * (1.0 + a->size) + 8) : 0) +
                (writer ? (j->bins + 1.0) * 8 + j->nf * (2.0 * j->bins + 1) * 8 : 0);
  char h1[32], h2[32];
  human(need, h1, sizeof h1);
  human((double)lim, h2, sizeof h2);
  if (!app_agree(a, need <= (double)lim / 2,
                 "--bins %d: the histograms need %zu fields x %d bins x 8 bytes%s = %s per rank, "
                 "more than half of the %s this rank may use (%s); give fewer --bins or --fields",
                 j->bins, j->nf, j->bins,
                 writer ? " (and the edges and the output's image on rank 0)" : "", h1, h2, why))
    return SL_ERR_USAGE;
  j->a = calloc(j->along ? j->nidx : j->nf, sizeof *j->a);
  j->hist = calloc(j->nf * (size_t)j->bins, sizeof *j->hist);
  j->lo = calloc(j->nf, sizeof *j->lo);
  j->hi = calloc(j->nf, sizeof *j->hi);
  if (writer)
    *edges = malloc(((size_t)j->bins + 1) * sizeof **edges);
  if (!app_agree(a, j->a && j->hist && j->lo && j->hi && (!writer || *edges),
                 "out of memory for the histograms: %zu fields x %d bins x 8 bytes = %s (--bins "
                 "and --fields bound it)",
                 j->nf, j->bins, h1))
    return SL_ERR_NOMEM;
  return SL_OK;
}

/* ---- the output file ---- */
typedef struct srow {
  uint64_t count, nan_count, missing_count;
  double min, max, mean, std;
} srow;

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

/* The output, checked before any work (on rank 0: its directory, not a directory itself,
 * not one of the input files even with --force), and *inputs, its provenance: the files of
 * FILE:/dataset (a glob expanded) as "FILE:/dataset" lines, like the HDF5 sink's.
 * Collective; the library prints the one error line. */
static int open_output(const app *a, const stats_args *o, sl_h5_file **file, char **inputs) {
  char **files = NULL;
  int n = app_spec_files(&o->in, 1, &files);
  if (!app_agree(a, n >= 0, "out of memory for the list of input files"))
    return SL_ERR_NOMEM;
  int rc = sl_h5_file_create(a->ctx, o->out, o->force, (const char *const *)files, n, file);
  size_t flen = 0;
  const char *dset = "";
  if (app_spec_split(o->in, &flen, &dset)) {
    size_t len = 1;
    for (int i = 0; i < n; i++)
      len += strlen(files[i]) + strlen(dset) + 2;
    *inputs = rc == SL_OK ? malloc(len) : NULL; /* NULL: the spec as given */
    for (int i = 0, pos = 0; *inputs && i < n; i++)
      pos += snprintf(*inputs + pos, len - (size_t)pos, "%s%s:%s", i ? "\n" : "", files[i], dset);
  }
  app_files_free(files, n);
  return rc;
}

/* The /stats row layout: field (a NUL-terminated string of namelen bytes), count,
 * nan_count, missing_count (uint64), min, max, mean, std (float64); packed, so srow
 * follows the name. With --along (j->along): index (uint64) and the coordinate (float64,
 * named after the dimension) instead of the field (when there is no coordinate: index). */
static int stats_layout(const job *j, size_t namelen, sl_h5_layout **l) {
  static const char *const num[] = {"min", "max", "mean", "std"};
  int rc = sl_h5_layout_create(l);
  if (rc == SL_OK && j->along) {
    rc = sl_h5_layout_add(*l, "index", SL_H5_UINT, 8);
    if (rc == SL_OK && j->coord)
      rc = sl_h5_layout_add(*l, j->dim_name, SL_H5_FLOAT, 8);
  } else {
    if (rc == SL_OK)
      rc = sl_h5_layout_add(*l, "field", SL_H5_STRING, namelen);
    if (rc == SL_OK)
      rc = sl_h5_layout_set_strpad(*l, 0, SL_H5_NULLTERM);
  }
  if (rc == SL_OK)
    rc = sl_h5_layout_add(*l, "count", SL_H5_UINT, 8);
  if (rc == SL_OK)
    rc = sl_h5_layout_add(*l, "nan_count", SL_H5_UINT, 8);
  if (rc == SL_OK)
    rc = sl_h5_layout_add(*l, "missing_count", SL_H5_UINT, 8);
  for (int i = 0; i < 4 && rc == SL_OK; i++)
    rc = sl_h5_layout_add(*l, num[i], SL_H5_FLOAT, 8);
  return rc;
}

/* The results into the output (collective: every rank calls; rank 0's data is written):
 * /stats with the provenance attributes and the input's attributes that hold for its
 * values' statistics (units, long_name, ...), then per field /histogram/NAME and
 * /edges/NAME with the attribute 'field' (none with --along). `edges` (bins + 1 doubles,
 * allocated before the work) is rank 0's. The library prints the one error line. */
static int write_output(const app *a, const stats_args *o, sl_h5_file *out, const char *inputs,
                        const job *j, const acc *g, double *edges) {
  size_t namelen = 1;
  for (size_t k = 0; k < j->nf; k++)
    if (strlen(j->f[k].name) + 1 > namelen)
      namelen = strlen(j->f[k].name) + 1;
  size_t head = j->along ? (j->coord ? 16 : 8) : namelen;
  size_t rs = head + sizeof(srow);
  size_t nrows = j->along ? (size_t)j->nidx : j->nf;
  char *rows = calloc(nrows ? nrows : 1, rs);
  sl_h5_layout *sl = NULL, *hl = NULL, *el = NULL;
  int lrc = stats_layout(j, namelen, &sl);
  if (lrc == SL_OK)
    lrc = sl_h5_layout_create_array(&hl, SL_H5_UINT, 8);
  if (lrc == SL_OK)
    lrc = sl_h5_layout_create_array(&el, SL_H5_FLOAT, 8);
  int rc = SL_OK;
  if (!app_agree(a, rows && lrc == SL_OK,
                 "cannot write %s: out of memory for the /stats table (%zu rows of %zu bytes)",
                 o->out, nrows, rs))
    rc = SL_ERR_NOMEM;
  for (size_t k = 0; rc == SL_OK && k < nrows; k++) {
    result v = report(&g[k]);
    srow r = {(uint64_t)v.count, (uint64_t)v.nan, (uint64_t)v.miss, v.min, v.max, v.mean, v.std};
    char *row = rows + k * rs;
    if (j->along) {
      uint64_t idx = k;
      memcpy(row, &idx, 8);
      if (j->coord)
        memcpy(row + 8, &j->coord[k], 8);
    } else {
      memcpy(row, j->f[k].name, strlen(j->f[k].name));
    }
    memcpy(row + head, &r, sizeof r);
  }
  /* the input's attributes that hold for the statistics of its values */
  const char *const *an = NULL, *const *av = NULL;
  size_t na = sl_h5_layout_attrs(j->layout, &an, &av);
  sl_h5_table_opts so = {1, inputs ? inputs : o->in, an, av, na};
  if (rc == SL_OK)
    rc = sl_h5_file_write_table(out, "/stats", sl, rows, nrows, &so);
  /* the edges are datasets, not attributes: an attribute holds at most 64 KiB (8190 edges) */
  for (size_t k = 0; rc == SL_OK && !j->along && k < j->nf; k++) {
    char hn[4 * 256 + 8], path[4 * 256 + 32];
    hist_name(j->f[k].name, hn, sizeof hn);
    for (long e = 0; edges && e <= j->bins; e++)
      edges[e] = edge(j, k, e);
    const char *f_name[] = {"field"}, *f_value[] = {j->f[k].name};
    sl_h5_table_opts fo = {0, NULL, f_name, f_value, 1};
    snprintf(path, sizeof path, "/histogram/%s", hn);
    rc = sl_h5_file_write_table(out, path, hl, j->hist + k * (size_t)j->bins, (uint64_t)j->bins,
                                &fo);
    snprintf(path, sizeof path, "/edges/%s", hn);
    if (rc == SL_OK)
      rc = sl_h5_file_write_table(out, path, el, edges, (uint64_t)j->bins + 1, &fo);
  }
  if (rc == SL_OK)
    rc = sl_h5_file_commit(out);
  free(rows);
  sl_h5_layout_destroy(&sl);
  sl_h5_layout_destroy(&hl);
  sl_h5_layout_destroy(&el);
  return rc;
}

/* ---- the job ---- */

/* The fields to read: --fields, or every numeric one (the library skips strings, enums,
 * arrays, ...); j->f and *names (the flows' selection) describe them. Collective. */
static int describe_fields(const app *a, const stats_args *o, sl_h5_opts *h, job *j,
                           const char ***names) {
  char *fcopy = o->fields ? strdup(o->fields) : NULL;
  char **sel = fcopy ? calloc(strlen(fcopy) + 1, sizeof *sel) : NULL;
  int rc = SL_OK;
  if (!app_agree(a, !o->fields || sel, "out of memory for the --fields list (%zu names)",
                 o->fields ? strlen(o->fields) + 1 : 0))
    rc = SL_ERR_NOMEM;
  h->fields = (const char *const *)sel;
  h->nfields = rc == SL_OK && sel ? split_fields(fcopy, sel) : 0;
  h->flatten = !o->columns;
  h->raw = o->raw;
  h->with_index = o->along != NULL;
  if (rc == SL_OK)
    rc = sl_h5_describe_numeric(a->ctx, o->in, h, &j->layout);
  free(sel);
  free(fcopy);
  h->fields = NULL;
  h->nfields = 0;
  if (rc != SL_OK)
    return rc;
  j->nf = sl_h5_layout_nfields(j->layout);
  j->f = calloc(j->nf, sizeof *j->f);
  *names = calloc(j->nf, sizeof **names);
  if (!app_agree(a, j->f && *names, "out of memory for the descriptions of %zu fields", j->nf))
    return SL_ERR_NOMEM;
  for (size_t k = 0; k < j->nf; k++) {
    sl_h5_layout_field(j->layout, k, &j->f[k]);
    (*names)[k] = j->f[k].name;
  }
  h->fields = *names; /* the flows read exactly these fields */
  h->nfields = j->nf;
  char err[600];
  if (where_bind(&j->w, j->layout, err, sizeof err)) {
    app_root_error(a, "%s: %s (the conditions take the fields read: --fields)", o->in, err);
    return SL_ERR_USAGE;
  }
  return SL_OK;
}

/* ---- --along ---- */
typedef struct coord_job {
  sl_h5_field f;
  double *v;
  uint64_t n;
} coord_job;

static int coord_value(const sl_record *rec, void *arg) {
  coord_job *c = arg;
  uint64_t idx;
  memcpy(&idx, rec->key, 8);
  if (idx < c->n) /* a coordinate of dimension > 0 repeats in every file of a glob */
    c->v[idx] = sl_h5_get_f64(&c->f, rec->value);
  return 0;
}

/* The values of the coordinate variable `path` (in the input's file) into j->coord, read
 * like the input (decoded, in parallel) and summed across ranks (each index is read by one
 * rank; the others hold 0). Collective. */
static int read_coord(app *a, const stats_args *o, job *j, const char *path) {
  size_t flen = 0;
  const char *dset = "";
  app_spec_split(o->in, &flen, &dset);
  size_t len = flen + strlen(path) + 2;
  char *spec = malloc(len);
  j->coord = calloc(j->nidx ? j->nidx : 1, sizeof *j->coord);
  if (!app_agree(a, spec && j->coord, "out of memory for the coordinate '%s' (%llu values)", path,
                 (unsigned long long)j->nidx)) {
    free(spec);
    return SL_ERR_NOMEM;
  }
  snprintf(spec, len, "%.*s:%s", (int)flen, o->in, path);
  /* checkpoints: the values read so far (or, after this run, summed) */
  (void)sl_checkpoint_keep(a->ctx, j->coord, (size_t)j->nidx * sizeof *j->coord);
  sl_h5_opts h = {0};
  h.with_index = 1;
  h.flatten = 1;
  h.raw = o->raw;
  sl_h5_layout *l = NULL;
  coord_job c = {.v = j->coord, .n = j->nidx};
  int rc = sl_h5_describe_numeric(a->ctx, spec, &h, &l);
  if (rc == SL_OK)
    rc = sl_h5_layout_field(l, 0, &c.f);
  sl_flow *flow = NULL;
  if (rc == SL_OK)
    rc = sl_flow_create(a->ctx, &flow);
  if (rc == SL_OK) {
    const char *specs[1] = {spec};
    uint64_t count = 0;
    if (!sl_flow_from_h5(flow, specs, 1, &h, 0) && !sl_flow_each(flow, coord_value, &c))
      (void)sl_flow_name(flow, "coordinate");
    (void)sl_flow_name_stage(flow, "read+coordinate");
    (void)sl_flow_set_label(flow, "the coordinate");
    (void)sl_flow_to_count(flow, &count);
    rc = app_run(a, flow, "the coordinate of --along DIM");
  }
  /* skipped (an earlier job read it and a later run's checkpoint holds the sums): no sum */
  int how = 0;
  if (flow)
    (void)sl_flow_checkpoint_outcome(flow, &how);
  sl_flow_destroy(&flow);
  if (rc == SL_OK && !a->describe && how != 2 &&
      MPI_Allreduce(MPI_IN_PLACE, j->coord, (int)j->nidx, MPI_DOUBLE, MPI_SUM, a->comm) !=
          MPI_SUCCESS)
    rc = SL_ERR_MPI;
  sl_h5_layout_destroy(&l);
  free(spec);
  return rc;
}

/* --along DIM: the dimension (by name or number), its length and stride, its coordinate.
 * Collective (every rank has the same layout, so the same decision). */
static int along_setup(const app *a, const stats_args *o, job *j) {
  int nd = 0;
  uint64_t dims[32];
  sl_h5_layout_dims(j->layout, &nd, dims);
  int d = -1;
  for (int i = 0; i < nd && d < 0; i++) {
    const char *name = "";
    sl_h5_layout_dim(j->layout, i, &name, NULL);
    if (name[0] && !strcmp(name, o->along))
      d = i;
  }
  int64_t num;
  if (d < 0 && !app_parse_int(o->along, &num) && num >= 0 && num < nd)
    d = (int)num;
  if (d < 0) {
    char names[1024] = "";
    size_t w = 0;
    for (int i = 0; i < nd; i++) {
      const char *name = "";
      sl_h5_layout_dim(j->layout, i, &name, NULL);
      w += (size_t)snprintf(names + w, w < sizeof names ? sizeof names - w : 0, "%s%d%s%s%s",
                            i ? ", " : "", i, name[0] ? " (" : "", name, name[0] ? ")" : "");
      if (w >= sizeof names)
        break;
    }
    app_root_error(a, "%s: --along '%s': no such dimension (dimensions: %s)", o->in, o->along,
                   nd ? names : "none");
    return SL_ERR_USAGE;
  }
  if (j->nf != 1) {
    app_root_error(a, "%s: --along needs an array dataset (one field 'value'), found %zu fields",
                   o->in, j->nf);
    return SL_ERR_USAGE;
  }
  j->along = 1;
  j->dim = d;
  j->stride = 1;
  for (int i = d + 1; i < nd; i++)
    j->stride *= dims[i];
  /* dimension 0 grows with every file of a glob: its length is the rows read */
  j->nidx = d == 0 ? (j->stride ? sl_h5_layout_rows(j->layout) / j->stride : 0) : dims[d];
  const char *name = "", *coord = "";
  sl_h5_layout_dim(j->layout, d, &name, &coord);
  j->dim_name = name[0] ? name : "coordinate";
  if (!strcmp(j->dim_name, "index") || !strcmp(j->dim_name, "count"))
    j->dim_name = "coordinate";
  return SL_OK;
}

/* The ranks' accumulators merged into g (the same order everywhere: identical results). */
static int merge_ranks(const app *a, const job *j, acc *g) {
  size_t nacc = j->along ? (size_t)j->nidx : j->nf;
  acc *all = malloc((size_t)a->size * nacc * sizeof *all + 1);
  if (!app_agree(a, all != NULL,
                 "out of memory for the accumulators of %zu fields from %d ranks (%zu bytes)", nacc,
                 a->size, (size_t)a->size * nacc * sizeof *all))
    return SL_ERR_NOMEM;
  int rc = MPI_Allgather(j->a, (int)(nacc * ACC_DOUBLES), MPI_DOUBLE, all,
                         (int)(nacc * ACC_DOUBLES), MPI_DOUBLE, a->comm) == MPI_SUCCESS
               ? SL_OK
               : SL_ERR_MPI;
  for (int r = 0; rc == SL_OK && r < a->size; r++)
    for (size_t k = 0; k < nacc; k++)
      sl_moments_merge(&g[k], &all[(size_t)r * nacc + k]);
  free(all);
  return rc;
}

/* The ranks' histograms summed in place (no second copy of what may be most of a rank's
 * memory), in pieces that an int count can hold. */
static int sum_histograms(const app *a, job *j) {
  for (size_t done = 0, total = j->nf * (size_t)j->bins; done < total;) {
    size_t n = total - done < ((size_t)1 << 30) ? total - done : (size_t)1 << 30;
    if (MPI_Allreduce(MPI_IN_PLACE, j->hist + done, (int)n, MPI_UINT64_T, MPI_SUM, a->comm) !=
        MPI_SUCCESS)
      return SL_ERR_MPI;
    done += n;
  }
  return SL_OK;
}

/* The two passes (one with --range): the merged accumulators in g, the histograms summed. */
static int compute(app *a, const stats_args *o, const sl_h5_opts *h, job *j, acc **g) {
  j->do_hist = o->have_range;
  for (size_t k = 0; k < j->nf; k++) {
    j->lo[k] = o->lo;
    j->hi[k] = o->hi;
  }
  int rc = run_pass(a, o->in, h, 1, j, o->have_range || j->along ? "pass 1 of 1" : "pass 1 of 2");
  if (rc == SL_OK && a->describe) /* the plans only: nothing ran, nothing to merge */
    return o->have_range || j->along ? SL_OK : run_pass(a, o->in, h, 2, j, "pass 2 of 2");
  size_t nacc = j->along ? (size_t)j->nidx : j->nf;
  if (rc == SL_OK) {
    *g = calloc(nacc ? nacc : 1, sizeof **g);
    if (!app_agree(a, *g != NULL, "out of memory for the results of %zu fields", nacc))
      rc = SL_ERR_NOMEM;
  }
  if (rc == SL_OK)
    rc = merge_ranks(a, j, *g);
  if (j->along)
    return rc;                         /* no histograms */
  if (rc == SL_OK && !o->have_range) { /* the finite min..max: infinities are not binned */
    j->do_hist = 1;
    for (size_t k = 0; k < j->nf; k++) {
      j->lo[k] = (*g)[k].n ? (*g)[k].min : 0;
      j->hi[k] = (*g)[k].n ? (*g)[k].max : 0;
    }
    rc = run_pass(a, o->in, h, 2, j, "pass 2 of 2");
  }
  if (rc == SL_OK)
    rc = sum_histograms(a, j);
  return rc;
}

/* What stdout shows at most, whatever the variable: the rest is in -o. */
enum { PRINT_ROWS = 24, PRINT_HISTS = 2, PRINT_BINS = 50 };

/* The table (at most PRINT_ROWS rows) and the first histograms on stdout. */
static void print_results(const job *j, const acc *g) {
  size_t nrows = j->along ? (size_t)j->nidx : j->nf;
  printf("%-16s %14s %10s %10s %16s %16s %16s %16s\n",
         j->along ? (j->coord ? j->dim_name : "index") : "field", "count", "nan", "missing", "min",
         "max", "mean", "std");
  for (size_t k = 0; k < nrows && k < PRINT_ROWS; k++) {
    result v = report(&g[k]);
    char label[64];
    if (j->along && j->coord)
      snprintf(label, sizeof label, "%.9g", j->coord[k]);
    else if (j->along)
      snprintf(label, sizeof label, "%zu", k);
    printf("%-16s %14.0f %10.0f %10.0f %16.9g %16.9g %16.9g %16.9g\n",
           j->along ? label : j->f[k].name, v.count, v.nan, v.miss, v.min, v.max, v.mean, v.std);
  }
  if (nrows > PRINT_ROWS)
    printf("... (%zu rows; see -o for all)\n", nrows);
  for (size_t k = 0; !j->along && k < j->nf && k < PRINT_HISTS; k++) {
    printf("\nhistogram %s: %d bins over [%.9g, %.9g]\n", j->f[k].name, j->bins, j->lo[k],
           j->hi[k]);
    for (int b = 0; b < j->bins && b < PRINT_BINS; b++)
      printf("  [%14.9g, %14.9g%s %llu\n", edge(j, k, b), edge(j, k, b + 1),
             b == j->bins - 1 ? "]" : ")",
             (unsigned long long)j->hist[k * (size_t)j->bins + (size_t)b]);
    if (j->bins > PRINT_BINS)
      printf("  ... (%d bins; see -o for all)\n", j->bins);
  }
  if (!j->along && j->nf > PRINT_HISTS)
    printf("\n... (%zu histograms; see -o for all)\n", j->nf);
  fflush(stdout);
}

/* --list: the file's datasets, one line each (rank 0). Collective. */
static int list_main(const app *a, const stats_args *o) {
  size_t flen = strlen(o->in);
  const char *path;
  if (!app_spec_split(o->in, &flen, &path))
    flen = strlen(o->in);
  char *file = strndup(o->in, flen);
  if (!app_agree(a, file != NULL, "out of memory"))
    return sl_exit_status(SL_ERR_NOMEM);
  sl_h5_var *v = NULL;
  size_t n = 0;
  int rc = sl_h5_list(a->ctx, file, &v, &n);
  static const char *const cls[] = {"int", "uint", "float", "string"};
  for (size_t i = 0; rc == SL_OK && a->root && i < n; i++) {
    char type[32], shape[1024];
    if (v[i].compound)
      snprintf(type, sizeof type, "compound");
    else if (v[i].cls < 0)
      snprintf(type, sizeof type, "other");
    else
      snprintf(type, sizeof type, "%s%zu", cls[v[i].cls],
               v[i].cls == SL_H5_STRING ? v[i].size : 8 * v[i].size);
    size_t w = 0;
    for (int d = 0; d < v[i].ndims && w < sizeof shape; d++)
      w += (size_t)snprintf(shape + w, sizeof shape - w, "%s%s%s%llu", d ? ", " : "", v[i].dim[d],
                            v[i].dim[d][0] ? "=" : "", (unsigned long long)v[i].dims[d]);
    printf("%-24s %-9s (%s)%s\n", v[i].path, type, shape,
           v[i].kind == SL_H5_VAR_COORD ? "  coordinate"
           : v[i].kind == SL_H5_VAR_DIM ? "  dimension (no variable)"
                                        : "");
  }
  fflush(stdout);
  free(v);
  free(file);
  return sl_exit_status(rc);
}

static int stats_main(app *a, const stats_args *o) {
  if (o->list)
    return list_main(a, o);
  sl_h5_file *out = NULL;
  char *inputs = NULL;
  int rc = o->out && !a->describe ? open_output(a, o, &out, &inputs) : SL_OK;
  sl_h5_opts h = {0};
  h.transfer = o->transfer == 1   ? SL_H5_XFER_COLLECTIVE
               : o->transfer == 0 ? SL_H5_XFER_INDEPENDENT
                                  : SL_H5_XFER_DEFAULT;
  job j = {0};
  j.bins = o->bins;
  const char **names = NULL;
  double *edges = NULL;
  acc *g = NULL;
  char err[600];
  if (rc == SL_OK && where_parse(o->where, &j.w, err, sizeof err))
    rc = app_usage_error(a, "%s", err) ? SL_ERR_USAGE : SL_ERR_USAGE;
  if (rc == SL_OK)
    rc = describe_fields(a, o, &h, &j, &names);
  if (rc == SL_OK && o->along)
    rc = along_setup(a, o, &j);
  if (rc == SL_OK)
    rc = alloc_histograms(a, &j, a->root && o->out, &edges);
  /* --sl-checkpoint-dir: a checkpoint keeps this rank's accumulators, histograms and ranges
   * (pass 2's checkpoint so carries pass 1's results: a resume skips pass 1, see
   * sl_flow_checkpoint_outcome, and merges them again) */
  if (rc == SL_OK) {
    size_t nacc = j.along ? (size_t)j.nidx : j.nf;
    rc = sl_checkpoint_keep(a->ctx, j.a, nacc * sizeof *j.a);
    if (rc == SL_OK)
      rc = sl_checkpoint_keep(a->ctx, j.hist, j.nf * (size_t)j.bins * sizeof *j.hist);
    if (rc == SL_OK)
      rc = sl_checkpoint_keep(a->ctx, j.lo, j.nf * sizeof *j.lo);
    if (rc == SL_OK)
      rc = sl_checkpoint_keep(a->ctx, j.hi, j.nf * sizeof *j.hi);
  }
  const char *coord = "";
  if (rc == SL_OK && j.along && sl_h5_layout_dim(j.layout, j.dim, NULL, &coord) == SL_OK &&
      coord[0])
    rc = read_coord(a, o, &j, coord);
  if (rc == SL_OK)
    rc = compute(a, o, &h, &j, &g);
  if (rc == SL_OK && a->root && !a->describe)
    print_results(&j, g);
  if (rc == SL_OK && out)
    rc = write_output(a, o, out, inputs, &j, g, edges);
  (void)sl_checkpoint_keep(a->ctx, NULL, 0); /* the regions are freed below */
  sl_h5_file_destroy(&out);
  sl_h5_layout_destroy(&j.layout);
  free(j.f);
  free(j.a);
  free(j.hist);
  free(j.lo);
  free(j.hi);
  free(names);
  free(edges);
  free(inputs);
  free(g);
  free(j.coord);
  return sl_exit_status(rc);
}

int main(int argc, char **argv) {
  app a;
  stats_args o = {.bins = 10, .transfer = -1};
  int code = parse_args(&a, &argc, &argv, &o);
  if (code == APP_RUN)
    code = stats_main(&a, &o);
  return app_finish(&a, code);
}
