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
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

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

/* ---- output file ---- */
typedef struct srow {
  uint64_t count, nan_count;
  double min, max, mean, std;
} srow;

static int all_ok(MPI_Comm comm, int ok);

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

/* The /stats row layout: field (a NUL-terminated string of namelen bytes), count,
 * nan_count (uint64), min, max, mean, std (float64); packed, so srow follows the name. */
static int stats_layout(size_t namelen, sl_h5_layout **l) {
  static const char *const num[] = {"min", "max", "mean", "std"};
  int rc = sl_h5_layout_create(l);
  if (rc == SL_OK)
    rc = sl_h5_layout_add(*l, "field", SL_H5_STRING, namelen);
  if (rc == SL_OK)
    rc = sl_h5_layout_set_strpad(*l, 0, SL_H5_NULLTERM);
  if (rc == SL_OK)
    rc = sl_h5_layout_add(*l, "count", SL_H5_UINT, 8);
  if (rc == SL_OK)
    rc = sl_h5_layout_add(*l, "nan_count", SL_H5_UINT, 8);
  for (int i = 0; i < 4 && rc == SL_OK; i++)
    rc = sl_h5_layout_add(*l, num[i], SL_H5_FLOAT, 8);
  return rc;
}

/* The results into the output (collective: every rank calls; rank 0's data is written):
 * /stats with the provenance attributes (and 'input': the spec as given), then per field
 * /histogram/NAME and /edges/NAME with the attribute 'field'. `edges` (bins + 1 doubles,
 * allocated before the work) is rank 0's. The library prints the one error line. */
static int write_output(sl_ctx *ctx, sl_h5_file *out, const char *path, const job *j, const acc *g,
                        const char *spec, const char *inputs, double *edges) {
  size_t namelen = 1;
  for (size_t k = 0; k < j->nf; k++)
    if (strlen(j->f[k].name) + 1 > namelen)
      namelen = strlen(j->f[k].name) + 1;
  size_t rs = namelen + sizeof(srow);
  char *rows = calloc(j->nf ? j->nf : 1, rs);
  sl_h5_layout *sl = NULL, *hl = NULL, *el = NULL;
  int lrc = stats_layout(namelen, &sl);
  if (lrc == SL_OK)
    lrc = sl_h5_layout_create_array(&hl, SL_H5_UINT, 8);
  if (lrc == SL_OK)
    lrc = sl_h5_layout_create_array(&el, SL_H5_FLOAT, 8);
  int rc = SL_OK;
  if (!all_ok(sl_comm(ctx), rows && lrc == SL_OK)) { /* agreed: the others would write */
    if (!rows || lrc != SL_OK)
      fprintf(stderr,
              "%s: error: cannot write %s: out of memory for the /stats table (%zu rows "
              "of %zu bytes)\n",
              prog, path, j->nf, rs);
    rc = SL_ERR_NOMEM;
  }
  for (size_t k = 0; rc == SL_OK && k < j->nf; k++) {
    result v = report(&g[k]);
    srow r = {(uint64_t)v.count, (uint64_t)v.nan, v.min, v.max, v.mean, v.std};
    memcpy(rows + k * rs, j->f[k].name, strlen(j->f[k].name));
    memcpy(rows + k * rs + namelen, &r, sizeof r);
  }
  const char *in_name[] = {"input"}, *in_value[] = {spec};
  sl_h5_table_opts so = {1, inputs, in_name, in_value, 1};
  if (rc == SL_OK)
    rc = sl_h5_file_write_table(out, "/stats", sl, rows, j->nf, &so);
  /* the edges are datasets, not attributes: an attribute holds at most 64 KiB (8190 edges) */
  for (size_t k = 0; rc == SL_OK && k < j->nf; k++) {
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

/* The output, checked before any work (on rank 0: its directory, not a directory itself,
 * not one of the input files even with --force), and *inputs, its provenance: the files of
 * FILE:/dataset (FILE may be a glob) as "FILE:/dataset" lines, like the HDF5 sink's.
 * Collective; the library prints the one error line. */
static int open_output(sl_ctx *ctx, const char *spec, const char *out, int force, sl_h5_file **file,
                       char **inputs) {
  const char *sep = NULL;
  for (const char *p = spec; (p = strstr(p, ":/")) != NULL; p++)
    sep = p;
  char *name = strndup(spec, (size_t)(sep - spec)); /* main checked that spec has ":/" */
  glob_t gl;
  int globbed = name && strpbrk(name, "*?[") && glob(name, 0, NULL, &gl) == 0;
  const char *one[1] = {name};
  const char *const *files = globbed ? (const char *const *)gl.gl_pathv : one;
  int n = globbed ? (int)gl.gl_pathc : name ? 1 : 0;
  int rc = sl_h5_file_create(ctx, out, force, files, n, file);
  size_t len = 1;
  for (int i = 0; i < n; i++)
    len += strlen(files[i]) + strlen(sep + 1) + 2;
  *inputs = rc == SL_OK ? malloc(len) : NULL;
  if (*inputs) {
    size_t pos = 0;
    (*inputs)[0] = 0;
    for (int i = 0; i < n; i++)
      pos +=
          (size_t)snprintf(*inputs + pos, len - pos, "%s%s:%s", i ? "\n" : "", files[i], sep + 1);
  }
  if (globbed)
    globfree(&gl);
  free(name);
  return rc;
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

/* The table and the histograms (at most 1000 bins each) on stdout. */
static void print_results(const job *j, const acc *g) {
  printf("%-16s %14s %10s %16s %16s %16s %16s\n", "field", "count", "nan", "min", "max", "mean",
         "std");
  for (size_t k = 0; k < j->nf; k++) {
    result v = report(&g[k]);
    printf("%-16s %14.0f %10.0f %16.9g %16.9g %16.9g %16.9g\n", j->f[k].name, v.count, v.nan, v.min,
           v.max, v.mean, v.std);
  }
  for (size_t k = 0; k < j->nf; k++) {
    printf("\nhistogram %s: %d bins over [%.9g, %.9g]\n", j->f[k].name, j->bins, j->lo[k],
           j->hi[k]);
    for (int b = 0; b < j->bins && b < 1000; b++)
      printf("  [%14.9g, %14.9g%s %llu\n", edge(j, k, b), edge(j, k, b + 1),
             b == j->bins - 1 ? "]" : ")",
             (unsigned long long)j->hist[k * (size_t)j->bins + (size_t)b]);
    if (j->bins > 1000)
      printf("  ... (%d bins; see -o for all)\n", j->bins);
  }
  fflush(stdout);
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
  sl_h5_file *outf = NULL;
  char *inputs = NULL;
  if (out && (rc = open_output(ctx, spec, out, force, &outf, &inputs)) != SL_OK) {
    sl_finalize(&ctx);
    return sl_exit_status(rc);
  }

  /* the fields: --fields, or every numeric one (the library skips strings, enums, ...) */
  char **sel = NULL;
  size_t nsel = 0;
  char *fcopy = fields_arg ? strdup(fields_arg) : NULL;
  if (fcopy) {
    sel = calloc(strlen(fcopy) + 1, sizeof *sel);
    if (sel)
      nsel = split_fields(fcopy, sel);
  }
  int fok = !fields_arg || (fcopy && sel);
  if (!all_ok(comm, fok)) { /* agreed: the others would go on into sl_h5_describe_numeric */
    if (!fok)
      fprintf(stderr, "%s: error: out of memory for the --fields list (%zu names)\n", prog,
              strlen(fields_arg) + 1);
    rc = SL_ERR_NOMEM;
  }
  sl_h5_opts o = {0};
  o.fields = (const char *const *)sel;
  o.nfields = nsel;
  o.transfer = transfer;
  job j;
  memset(&j, 0, sizeof j);
  double *edges = NULL;
  const char **names = NULL;
  acc *g = NULL;
  if (rc == SL_OK)
    rc = sl_h5_describe_numeric(ctx, spec, &o, &j.layout);
  if (rc == SL_OK) { /* the flows read exactly these fields */
    j.nf = sl_h5_layout_nfields(j.layout);
    j.f = calloc(j.nf, sizeof *j.f);
    names = calloc(j.nf, sizeof *names);
    if (!all_ok(comm, j.f && names)) { /* agreed: the others would go on into the flow */
      if (!j.f || !names)
        fprintf(stderr, "%s: error: out of memory for the descriptions of %zu fields\n", prog,
                j.nf);
      rc = SL_ERR_NOMEM;
    }
    for (size_t k = 0; rc == SL_OK && k < j.nf; k++) {
      sl_h5_layout_field(j.layout, k, &j.f[k]);
      names[k] = j.f[k].name;
    }
    o.fields = names;
    o.nfields = j.nf;
  }
  if (rc == SL_OK) {
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
  if (rc == SL_OK && root)
    print_results(&j, g);
  if (rc == SL_OK && out)
    rc = write_output(ctx, outf, out, &j, g, spec, inputs ? inputs : spec, edges);
  free(g);
  free(names);
  sl_h5_layout_destroy(&j.layout);
  free(j.f);
  free(j.a);
  free(j.hist);
  free(j.lo);
  free(j.hi);
  free(sel);
  free(fcopy);
  free(edges);
  free(inputs);
  sl_h5_file_destroy(&outf);
  sl_finalize(&ctx);
  return sl_exit_status(rc);
}
