/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-h5sort: sort the rows of an HDF5 dataset by one field, on MPI ranks.
 *
 *   mpirun -n N sluice-h5sort FILE:/dataset --key FIELD [--descending] -o OUT.h5:/dataset
 *                             [--force] [--deflate LEVEL]
 *
 * The flow: rows (with their global row index as key) -> sample sort by the field, ties
 * broken by the row index (a stable sort) -> one output dataset written by all ranks in
 * rank order. The sort is by key words (sl_flow_sort_by_keys: a radix sort): each row's
 * field becomes an order-preserving number (row_key), the row index its last word; only a
 * string key too long for the words is sorted with a compare function (by_key_then_row),
 * in the same order. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appcli.h"
#include "where.h"

/* How a row's key words are made (row_key). */
typedef enum key_kind {
  KEY_CMP = 0, /* none: a string too long for the words, sorted by by_key_then_row */
  KEY_F32,     /* float, no CF decoding */
  KEY_F64,     /* double, no CF decoding */
  KEY_DECODED, /* CF decoding of a float or packed value: missing, NaN, sl_h5_get_f64 */
  KEY_INT,     /* signed integer, no CF decoding */
  KEY_UINT,    /* unsigned integer (enums of one included), no CF decoding */
  KEY_INT_CF,  /* integer with CF missing values, not packed: a word for missing first */
  KEY_STRING   /* fixed-length string: its bytes, big-endian in words (memcmp's order) */
} key_kind;

typedef struct keydef {
  sl_h5_field f;
  int descending;
  key_kind kind;
  unsigned words; /* key words, the row index the last one (0 with KEY_CMP) */
} keydef;

/* Compare the key field of two rows. *nan is set when a NaN or a missing value (CF
 * decoding) decided the order (they sort last in both directions, so that order must not
 * be reversed; a missing value after NaN). */
static int cmp_field(const sl_h5_field *f, const void *a, const void *b, int *nan) {
  *nan = 0;
  if (f->cls == SL_H5_STRING)
    return memcmp((const char *)a + f->offset, (const char *)b + f->offset, f->size);
  if (f->cf) {
    int ma = sl_h5_is_missing(f, a), mb = sl_h5_is_missing(f, b);
    if (ma || mb) {
      *nan = 1;
      return ma - mb;
    }
  }
  if (f->cls == SL_H5_FLOAT || sl_h5_is_packed(f)) { /* decoded: a scale may be negative */
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

/* ---- the key words: the same order as by_key_then_row, as unsigned numbers ----
 * A number: sl_sort_key_f64 of the decoded double (-0.0 as 0.0: they are equal, so the row
 * decides) or the integer (signed ones biased), complemented for --descending; NaN and
 * missing after every number in both directions: floats leave the top of the 64 bits free
 * for them (KEY_NAN, then KEY_MISSING), integers with CF decoding have a word of their own
 * before the value (0, or 1 when missing). The row index, never complemented, is last. */
#define KEY_MISSING (~(uint64_t)0)
#define KEY_NAN (KEY_MISSING - 1)

static inline uint64_t float_key(double x, uint64_t flip) {
  if (isnan(x))
    return KEY_NAN;
  if (x == 0)
    x = 0;                          /* -0.0 */
  return sl_sort_key_f64(x) ^ flip; /* within [key(-inf), key(+inf)] either way */
}

static void key_words_for(const keydef *k, const char *row, uint64_t *w) {
  const sl_h5_field *f = &k->f;
  const char *p = row + f->offset;
  uint64_t flip = k->descending ? ~(uint64_t)0 : 0;
  switch (k->kind) {
  case KEY_F32: {
    float v;
    memcpy(&v, p, 4);
    w[0] = float_key(v, flip);
    return;
  }
  case KEY_F64: {
    double v;
    memcpy(&v, p, 8);
    w[0] = float_key(v, flip);
    return;
  }
  case KEY_DECODED:
    w[0] = sl_h5_is_missing(f, row) ? KEY_MISSING : float_key(sl_h5_get_f64(f, row), flip);
    return;
  case KEY_INT:
    w[0] = sl_sort_key_i64(sl_h5_get_i64(f, row)) ^ flip;
    return;
  case KEY_UINT:
    w[0] = sl_h5_get_u64(f, row) ^ flip;
    return;
  case KEY_INT_CF: /* missing values are all equal: the row decides */
    w[0] = (uint64_t)sl_h5_is_missing(f, row);
    w[1] = w[0]                  ? 0
           : f->cls == SL_H5_INT ? sl_sort_key_i64(sl_h5_get_i64(f, row)) ^ flip
                                 : sl_h5_get_u64(f, row) ^ flip;
    return;
  case KEY_STRING:
    for (unsigned i = 0; i + 1 < k->words; i++) {
      uint64_t x = 0;
      for (size_t b = 0; b < 8; b++)
        x = x << 8 | (8 * i + b < f->size ? (unsigned char)p[8 * i + b] : 0u);
      w[i] = x ^ flip;
    }
    return;
  case KEY_CMP:
    break;
  }
}

/* sl_sort_keys_fn: the field's words, then the row index. */
static void row_key(const sl_record *r, void *arg, uint64_t *w) {
  const keydef *k = arg;
  key_words_for(k, r->value, w);
  memcpy(&w[k->words - 1], r->key, 8);
}

/* The key kind of a field and its words (KEY_CMP, 0: too long a string). */
static void choose_key(keydef *k) {
  const sl_h5_field *f = &k->f;
  k->words = 2;
  if (f->cls == SL_H5_STRING) {
    size_t words = (f->size + 7) / 8 + 1;
    k->kind = words <= SL_SORT_KEY_WORDS_MAX ? KEY_STRING : KEY_CMP;
    k->words = k->kind == KEY_STRING ? (unsigned)words : 0;
  } else if (f->cls == SL_H5_FLOAT || sl_h5_is_packed(f)) {
    k->kind = f->cf ? KEY_DECODED : f->size == 4 ? KEY_F32 : KEY_F64;
  } else if (f->cf) {
    k->kind = KEY_INT_CF;
    k->words = 3;
  } else {
    k->kind = f->cls == SL_H5_INT ? KEY_INT : KEY_UINT;
  }
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

/* ---- the command line ---- */
typedef struct sort_args {
  const char *in, *out, *key, *where;
  int descending, force, deflate, raw;
} sort_args;

static int parse_args(app *a, int *argc, char ***argv, sort_args *o) {
  const app_opt opts[] = {
      {.name = "key",
       .kind = APP_STRING,
       .dest = &o->key,
       .arg = "FIELD",
       .required = 1,
       .help = "the field to sort by"},
      {.name = "descending", .kind = APP_FLAG, .dest = &o->descending, .help = "largest first"},
      APP_OPT_WHERE(&o->where),
      {.name = "raw",
       .kind = APP_FLAG,
       .dest = &o->raw,
       .help = "no CF decoding: sort by the stored values (fill values and missing_value "
               "ignored)"},
      APP_OPT_OUTPUT_REQUIRED(
          &o->out, "OUT.h5:/dataset",
          "the output; written under a temporary name and renamed when complete, with "
          "provenance attributes"),
      APP_OPT_FORCE(&o->force, "overwrite OUT.h5 if it exists"),
      APP_OPT_DEFLATE(&o->deflate),
      APP_OPT_END};
  const app_cli cli = {
      .prog = "sluice-h5sort",
      .mpi = 1,
      .opts = opts,
      APP_ARGS_ONE_SPEC,
      .about = "Sort the rows of an HDF5 dataset by one field and write them, in order, to one\n"
               "dataset. The sort is stable: rows with equal keys keep their input order (also\n"
               "with --descending). NaN keys go last, and missing keys (CF decoding: fill values,\n"
               "missing_value, outside valid_*; --raw turns it off) after them; packed keys\n"
               "sort by their unpacked values. Integer, enum (boolean), float and fixed-length\n"
               "string fields (compared bytewise) can be keys. A 1-D dataset has one field,\n"
               "'value'; the columns of a 2-D dataset are 'c0', 'c1', ... The rows are copied\n"
               "unchanged, with the input dataset's attributes (units, CF attributes, ...).\n"
               "FILE may be a glob (quote it).\n",
      .epilog =
          "Runtime options of note: --sl-sort-memory-bytes, --sl-tmpdir, --sl-progress=on.\n"};
  int code = app_start(a, &cli, argc, argv);
  if (code != APP_RUN)
    return code;
  o->in = a->args[0];
  if (app_spec_check(a, "input", o->in, "FILE:/path/to/dataset") ||
      app_spec_check(a, "output", o->out, "FILE.h5:/path/to/dataset"))
    return APP_EXIT_USAGE;
  return APP_RUN;
}

/* The key field of the input's layout, or SL_ERR_TYPE with the fields listed. */
static int find_key(const app *a, const sort_args *o, const sl_h5_layout *layout, keydef *kd) {
  size_t idx;
  if (sl_h5_layout_find(layout, o->key, &idx) != SL_OK) {
    char names[4096];
    sl_h5_layout_names(layout, names, sizeof names);
    app_root_error(a, "%s: no field '%s' to sort by; the fields are: %s", o->in, o->key, names);
    return SL_ERR_TYPE;
  }
  int rc = sl_h5_layout_field(layout, idx, &kd->f);
  if (rc == SL_OK)
    choose_key(kd);
  return rc;
}

/* The flow: rows (with their global row index as key) -> sort -> one dataset. */
static int run_sort(app *a, const sort_args *o, const sl_h5_opts *hopts, const sl_h5_layout *layout,
                    keydef *kd, where *w) {
  sl_h5_sink_opts so = {0};
  so.overwrite = o->force;
  so.deflate = o->deflate;
  sl_flow *flow = NULL;
  int rc = sl_flow_create(a->ctx, &flow);
  if (!rc)
    rc = sl_flow_from_h5(flow, &o->in, 1, hopts, 0);
  if (!rc) /* stage names: the log view, the run record and the trace show them */
    rc = sl_flow_name_stage(flow, "read+sample");
  if (!rc && w->n)
    rc = sl_flow_filter(flow, where_test, w);
  if (!rc && kd->kind != KEY_CMP)
    rc = sl_flow_sort_by_keys(flow, row_key, kd->words, kd, 0);
  else if (!rc)
    rc = sl_flow_sort(flow, by_key_then_row, kd, 0);
  if (!rc)
    rc = sl_flow_name_stage(flow, "sort+write");
  if (!rc)
    rc = sl_flow_to_h5(flow, o->out, layout, &so);
  if (!rc)
    rc = app_run(a, flow, "the sort");
  else
    app_root_error(a, "%s", sl_strerror(rc)); /* the same on every rank */
  sl_flow_destroy(&flow);
  return rc;
}

static int sort_main(app *a, const sort_args *o) {
  double t0 = MPI_Wtime();
  sl_h5_layout *layout = NULL;
  sl_h5_opts hopts = {0};
  hopts.with_index = 1;
  hopts.raw = o->raw;
  keydef kd = {0};
  kd.descending = o->descending;
  where w;
  char err[600];
  int rc = SL_OK;
  if (where_parse(o->where, &w, err, sizeof err))
    rc = app_usage_error(a, "%s", err) ? SL_ERR_USAGE : SL_ERR_USAGE;
  if (rc == SL_OK)
    rc = sl_h5_describe(a->ctx, o->in, &hopts, &layout);
  if (rc == SL_OK)
    rc = find_key(a, o, layout, &kd);
  if (rc == SL_OK && where_bind(&w, layout, err, sizeof err)) {
    app_root_error(a, "%s: %s", o->in, err);
    rc = SL_ERR_USAGE;
  }
  if (rc == SL_OK)
    rc = run_sort(a, o, &hopts, layout, &kd, &w);
  if (rc == SL_OK && !a->describe)
    app_note(a, "%llu rows sorted by '%s'%s, %.3f s", (unsigned long long)sl_h5_layout_rows(layout),
             o->key, o->descending ? " (descending)" : "", MPI_Wtime() - t0);
  sl_h5_layout_destroy(&layout);
  return sl_exit_status(rc);
}

int main(int argc, char **argv) {
  app a;
  sort_args o = {0};
  int code = parse_args(&a, &argc, &argv, &o);
  if (code == APP_RUN)
    code = sort_main(&a, &o);
  return app_finish(&a, code);
}
