/* sluice-h5sort: sort the rows of an HDF5 dataset by one field, on MPI ranks.
 *
 *   mpirun -n N sluice-h5sort FILE:/dataset --key FIELD [--descending] -o OUT.h5:/dataset
 *
 * The flow: rows (with their global row index as key) -> sample sort by the field, ties
 * broken by the row index (a stable sort) -> one output dataset written by all ranks in
 * rank order. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

static void usage(FILE *f) {
  fprintf(f, "usage: mpirun -n N sluice-h5sort FILE:/dataset --key FIELD [--descending] -o "
             "OUT.h5:/dataset\n"
             "                    [--force] [--deflate LEVEL]\n"
             "\n"
             "Sort the rows of an HDF5 dataset by one field and write them, in order, to one\n"
             "dataset. The sort is stable: rows with equal keys keep their input order (also\n"
             "with --descending). NaN keys go last. Integer, float and fixed-length string\n"
             "fields (compared bytewise) can be keys. A 1-D dataset has one field, 'value';\n"
             "the columns of a 2-D dataset are 'c0', 'c1', ...\n"
             "\n"
             "options:\n"
             "  --key FIELD        the field to sort by (required)\n"
             "  --descending       largest first\n"
             "  -o, --output OUT.h5:/dataset\n"
             "                     the output (required); written under a temporary name and\n"
             "                     renamed when complete, with provenance attributes\n"
             "  --force            overwrite OUT.h5 if it exists\n"
             "  --deflate LEVEL    compress the output (1-9)\n"
             "  -h, --help, --version, --sl-help (sluice's runtime options, e.g.\n"
             "                     --sl-sort-memory-bytes, --sl-tmpdir, --sl-progress=on)\n"
             "\n"
             "exit status: 0 success, 1 runtime failure, 2 bad usage or bad input,\n"
             "             3 stopped by SIGTERM/SIGUSR1 (nothing written under the output name)\n");
}

typedef struct keydef {
  sl_h5_field f;
  int descending;
} keydef;

/* Compare the key field of two rows. *nan is set when a NaN decided the order (NaN
 * sorts last in both directions, so that order must not be reversed). */
static int cmp_field(const sl_h5_field *f, const void *a, const void *b, int *nan) {
  *nan = 0;
  if (f->cls == SL_H5_STRING)
    return memcmp((const char *)a + f->offset, (const char *)b + f->offset, f->size);
  if (f->cls == SL_H5_FLOAT) {
    double x = sl_h5_get_f64(f, a), y = sl_h5_get_f64(f, b);
    int nx = isnan(x), ny = isnan(y);
    if (nx || ny) {
      *nan = 1;
      return nx - ny;
    }
    return (x > y) - (x < y);
  }
  if (f->cls == SL_H5_INT) {
    int64_t x = sl_h5_get_i64(f, a), y = sl_h5_get_i64(f, b);
    return (x > y) - (x < y);
  }
  uint64_t x = sl_h5_get_u64(f, a), y = sl_h5_get_u64(f, b);
  return (x > y) - (x < y);
}

/* By the field (reversed for --descending, NaN always last), then by row index: the
 * row index makes every key distinct, which is what makes the sort stable. */
static int by_key_then_row(const sl_record *a, const sl_record *b, void *arg) {
  const keydef *k = arg;
  int nan;
  int c = cmp_field(&k->f, a->value, b->value, &nan);
  if (c)
    return k->descending && !nan ? -c : c;
  uint64_t ia, ib;
  memcpy(&ia, a->key, 8);
  memcpy(&ib, b->key, 8);
  return (ia > ib) - (ia < ib);
}

/* FILE:/path with a non-empty FILE and path, split at the last ":/" (as sluice does) */
static int is_dataset_spec(const char *spec) {
  const char *sep = NULL;
  for (const char *q = spec; (q = strstr(q, ":/")) != NULL; q++)
    sep = q;
  return sep && sep != spec && sep[2];
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  int rc = sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx);
  if (rc != SL_OK) {
    sl_finalize(&ctx);
    return sl_exit_status(rc);
  }
  int root = sl_rank(ctx) == 0;
  if (sl_help_requested(ctx)) {
    sl_finalize(&ctx);
    return 0;
  }
  const char *in = NULL, *out = NULL, *key = NULL;
  int descending = 0, force = 0, deflate = 0, bad = 0;
  for (int i = 1; i < argc && !bad; i++) {
    const char *a = argv[i], *inl = NULL;
    char opt[32];
    /* --opt=value is --opt value */
    const char *eq = strncmp(a, "--", 2) ? NULL : strchr(a, '=');
    if (eq && (size_t)(eq - a) < sizeof opt) {
      static const char *const valued[] = {"--key", "-o", "--output", "--deflate", NULL};
      snprintf(opt, sizeof opt, "%.*s", (int)(eq - a), a);
      for (const char *const *n = valued; *n; n++)
        if (!strcmp(opt, *n)) {
          a = opt;
          inl = eq + 1;
        }
    }
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      if (root)
        usage(stdout);
      sl_finalize(&ctx);
      return 0;
    } else if (!strcmp(a, "--version")) {
      if (root)
        printf("sluice-h5sort %s\n", sl_version());
      sl_finalize(&ctx);
      return 0;
    } else if (!strcmp(a, "--key") || !strcmp(a, "-o") || !strcmp(a, "--output") ||
               !strcmp(a, "--deflate")) {
      if (!inl && i + 1 >= argc) {
        if (root)
          fprintf(stderr, "sluice-h5sort: error: %s needs a value (see --help)\n", a);
        bad = 1;
        break;
      }
      const char *v = inl ? inl : argv[++i];
      if (!strcmp(a, "--key"))
        key = v;
      else if (!strcmp(a, "--deflate")) {
        char *end;
        errno = 0;
        long l = strtol(v, &end, 10);
        if (errno || end == v || *end || l < 0 || l > 9) { /* '' is not 0 */
          if (root)
            fprintf(stderr, "sluice-h5sort: error: --deflate expects a level 0-9, found '%s'\n", v);
          bad = 1;
        }
        deflate = (int)l;
      } else
        out = v;
    } else if (!strcmp(a, "--descending")) {
      descending = 1;
    } else if (!strcmp(a, "--force")) {
      force = 1;
    } else if (a[0] == '-' && a[1]) {
      if (root)
        fprintf(stderr, "sluice-h5sort: error: unknown option '%s' (see --help)\n", a);
      bad = 1;
    } else if (!in) {
      in = a;
    } else {
      if (root)
        fprintf(stderr, "sluice-h5sort: error: one input expected, found a second one: '%s'\n", a);
      bad = 1;
    }
  }
  if (!bad && (!in || !key || !out)) {
    if (root)
      fprintf(stderr,
              "sluice-h5sort: error: missing %s (usage: sluice-h5sort FILE:/dataset --key FIELD -o "
              "OUT.h5:/dataset)\n",
              !in    ? "the input FILE:/dataset"
              : !key ? "--key FIELD"
                     : "-o OUT.h5:/dataset");
    bad = 1;
  }
  if (!bad && !is_dataset_spec(in)) {
    if (root)
      fprintf(stderr, "sluice-h5sort: error: input '%s': expected FILE:/path/to/dataset\n", in);
    bad = 1;
  }
  if (!bad && !is_dataset_spec(out)) {
    if (root)
      fprintf(stderr, "sluice-h5sort: error: output '%s': expected FILE.h5:/path/to/dataset\n",
              out);
    bad = 1;
  }
  if (bad) {
    sl_finalize(&ctx);
    return sl_exit_status(SL_ERR_USAGE);
  }

  double t0 = MPI_Wtime();
  sl_h5_layout *layout = NULL;
  sl_h5_opts hopts = {0};
  hopts.with_index = 1;
  rc = sl_h5_describe(ctx, in, &hopts, &layout);
  keydef kd = {0};
  kd.descending = descending;
  if (rc == SL_OK) {
    size_t idx;
    if (sl_h5_layout_find(layout, key, &idx) != SL_OK) {
      if (root) {
        char names[4096];
        sl_h5_layout_names(layout, names, sizeof names);
        fprintf(stderr, "sluice-h5sort: error: %s: no field '%s' to sort by; the fields are: %s\n",
                in, key, names);
      }
      rc = SL_ERR_TYPE;
    } else {
      sl_h5_layout_field(layout, idx, &kd.f);
    }
  }
  sl_flow *flow = NULL;
  uint64_t rows = layout ? sl_h5_layout_rows(layout) : 0;
  if (rc == SL_OK) {
    sl_h5_sink_opts so = {0};
    so.overwrite = force;
    so.deflate = deflate;
    rc = sl_flow_create(ctx, &flow);
    if (!rc)
      rc = sl_flow_from_h5(flow, &in, 1, &hopts, 0);
    if (!rc)
      rc = sl_flow_sort(flow, by_key_then_row, &kd, 0);
    if (!rc)
      rc = sl_flow_to_h5(flow, out, layout, &so);
    if (!rc)
      rc = sl_run(flow);
    else if (root)
      fprintf(stderr, "sluice-h5sort: error: %s\n", sl_strerror(rc));
  }
  double secs = MPI_Wtime() - t0;
  if (rc == SL_OK && root)
    fprintf(stderr, "sluice-h5sort: %llu rows sorted by '%s'%s, %.3f s\n", (unsigned long long)rows,
            key, descending ? " (descending)" : "", secs);
  sl_flow_destroy(&flow);
  sl_h5_layout_destroy(&layout);
  sl_finalize(&ctx);
  return sl_exit_status(rc);
}
