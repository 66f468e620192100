/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-h5groupby: group the rows of an HDF5 table by key fields and aggregate.
 *
 *   mpirun -n N sluice-h5groupby FILE:/dataset --key F[,F...] --agg count,sum:F,mean:F,min:F,max:F
 *                                -o OUT.h5:/dataset [--force] [--deflate L]
 *
 * The flow: HDF5 rows (key fields + aggregated fields only) -> map to (key bytes, one
 * 8-byte value per aggregated field) -> partition by key hash -> reduce_by_key with a user
 * aggregator that has merge, so a bounded map-side combiner folds skewed keys before the
 * shuffle -> map to output rows -> sl_flow_to_h5 (one dataset, written by all ranks). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appcli.h"
#include "groupby.h"
#include "where.h"

/* ---- the command line ---- */
typedef struct gb_args {
  const char *in, *out, *keys, *aggs, *where;
  int force, deflate, raw;
} gb_args;

static int parse_args(app *a, int *argc, char ***argv, gb_args *o) {
  const app_opt opts[] = {
      {.name = "key",
       .kind = APP_STRING,
       .dest = &o->keys,
       .arg = "F[,F...]",
       .required = 1,
       .help = "key fields"},
      {.name = "agg",
       .kind = APP_STRING,
       .dest = &o->aggs,
       .arg = "LIST",
       .required = 1,
       .help = "aggregates (see above)"},
      APP_OPT_WHERE(&o->where),
      {.name = "raw",
       .kind = APP_FLAG,
       .dest = &o->raw,
       .help = "no CF decoding (fill values, missing_value, valid_*, scale_factor/add_offset "
               "ignored)"},
      APP_OPT_OUTPUT_REQUIRED(
          &o->out, "OUT.h5:/dataset",
          "the output (written under a temporary name and renamed when complete)"),
      APP_OPT_FORCE(&o->force, "overwrite the output file if it exists"),
      APP_OPT_DEFLATE(&o->deflate),
      APP_OPT_END};
  const app_cli cli = {
      .prog = "sluice-h5groupby",
      .mpi = 1,
      .opts = opts,
      APP_ARGS_ONE_SPEC,
      .about =
          "Group the rows of an HDF5 table (a compound dataset; FILE may be a quoted glob) by\n"
          "one or more key fields (integer, enum (boolean) or fixed-length string fields)\n"
          "and write one row per group to a compound dataset: the key fields (input names\n"
          "and types; an enum as its integer type), missing_KEY (uint8, 1 for the group of\n"
          "rows whose KEY is missing) for each key that CF decoding can find missing, then\n"
          "the aggregates in the order given:\n"
          "  count    uint64 number of rows           -> field 'count'\n"
          "  sum:F    sum of F (int64 for an integer F, else float64)   -> 'sum_F'\n"
          "  mean:F   float64 mean of F                                 -> 'mean_F'\n"
          "  min:F    minimum of F (int64 for an integer F, else float64) -> 'min_F'\n"
          "  max:F    maximum of F (same type as min)                   -> 'max_F'\n"
          "  std:F    float64 population standard deviation of F        -> 'std_F'\n"
          "  var:F    float64 population variance of F                  -> 'var_F'\n"
          "  first:F  F of the group's first row (row order; same type as min) -> 'first_F'\n"
          "  last:F   F of the group's last row                          -> 'last_F'\n"
          "CF decoding is on (--raw turns it off): a missing value of F is left out of every\n"
          "aggregate of F but count (first/last: the first/last row where F is not missing);\n"
          "a packed F (scale_factor/add_offset) or one that can be missing is aggregated\n"
          "unpacked, as float64.\n"
          "Integer fields are aggregated as int64: sum wraps around on overflow and a uint64\n"
          "above 2^63-1 wraps in sum, min and max; mean divides the exact sum, so it does\n"
          "not wrap. Float NaN values propagate into sum and mean and are ignored by min and\n"
          "max (NaN for a group whose values are all NaN).\n"
          "Groups are written in the order of their keys (integers by value, strings\n"
          "bytewise).\n"};
  int code = app_start(a, &cli, argc, argv);
  if (code != APP_RUN)
    return code;
  o->in = a->args[0];
  if (app_spec_check(a, "input", o->in, "FILE:/path/to/dataset") ||
      app_spec_check(a, "output", o->out, "FILE.h5:/path/to/dataset"))
    return APP_EXIT_USAGE;
  return APP_RUN;
}

/* ---- the job: what --key and --agg ask for, and the layouts ---- */
typedef struct job {
  plan *p;             /* the aggregator's plan (large: allocated) */
  char *kcopy, *acopy; /* --key and --agg, split in place */
  const char *keys[GB_MAX_KEYS], *vals[GB_MAX_VALS];
  const char *agg_field[GB_MAX_AGGS]; /* the field of each aggregate (NULL for count) */
  const char *sel[GB_MAX_KEYS + GB_MAX_VALS + WHERE_MAX];
  size_t nkeys, nvals;
  sl_h5_opts hopts; /* the fields to read */
  sl_h5_layout *in, *out;
  where w;                       /* --where */
  const char *wextra[WHERE_MAX]; /* its fields that nothing else reads */
} job;

static const char *const op_names[] = {"count", "sum", "mean",  "min", "max",
                                       "std",   "var", "first", "last"};

/* --key F[,F...]: into j->keys. SL_OK or SL_ERR_USAGE (printed). */
static int parse_keys(const app *a, job *j) {
  for (char *s = NULL, *t = strtok_r(j->kcopy, ",", &s); t; t = strtok_r(NULL, ",", &s)) {
    for (size_t i = 0; i < j->nkeys; i++)
      if (!strcmp(j->keys[i], t)) {
        app_usage_error(a, "--key: field '%s' given twice", t);
        return SL_ERR_USAGE;
      }
    if (j->nkeys == GB_MAX_KEYS) {
      app_usage_error(a, "--key: at most %d key fields", GB_MAX_KEYS);
      return SL_ERR_USAGE;
    }
    j->keys[j->nkeys++] = t;
  }
  if (!j->nkeys) {
    app_usage_error(a, "--key: no field given");
    return SL_ERR_USAGE;
  }
  return SL_OK;
}

/* One aggregate of --agg, "count" or "OP:FIELD", as p->agg[p->nagg]. SL_OK or SL_ERR_USAGE
 * (printed). */
static int parse_agg(const app *a, job *j, char *t) {
  plan *p = j->p;
  aggdef *d = &p->agg[p->nagg];
  char *colon = strchr(t, ':');
  j->agg_field[p->nagg] = NULL;
  if (!strcmp(t, "count")) {
    for (size_t q = 0; q < p->nagg; q++)
      if (p->agg[q].op == A_COUNT) {
        app_usage_error(a, "--agg: 'count' given twice");
        return SL_ERR_USAGE;
      }
    d->op = A_COUNT;
    d->vf = -1;
    p->nagg++;
    return SL_OK;
  }
  if (!colon || !colon[1]) {
    app_usage_error(a, "--agg: '%s' is not count or OP:FIELD", t);
    return SL_ERR_USAGE;
  }
  *colon = 0;
  const char *field = colon + 1;
  d->op = -1;
  for (int op = A_SUM; op <= A_LAST; op++)
    if (!strcmp(t, op_names[op]))
      d->op = op;
  if (d->op < 0) {
    app_usage_error(a,
                    "--agg: unknown aggregate '%s' (expected count, sum, mean, min, max, std, var, "
                    "first, last)",
                    t);
    return SL_ERR_USAGE;
  }
  size_t k = 0;
  while (k < j->nvals && strcmp(j->vals[k], field))
    k++;
  if (k == j->nvals) {
    if (j->nvals == GB_MAX_VALS) {
      app_usage_error(a, "--agg: at most %d aggregated fields", GB_MAX_VALS);
      return SL_ERR_USAGE;
    }
    j->vals[j->nvals++] = field;
  }
  d->vf = (int)k;
  for (size_t q = 0; q < p->nagg; q++)
    if (p->agg[q].op == d->op && p->agg[q].vf == d->vf) {
      app_usage_error(a, "--agg: '%s:%s' given twice", t, field);
      return SL_ERR_USAGE;
    }
  j->agg_field[p->nagg++] = field;
  return SL_OK;
}

/* --agg LIST: into j->p->agg and j->vals. SL_OK or SL_ERR_USAGE (printed). */
static int parse_aggs(const app *a, job *j) {
  for (char *s = NULL, *t = strtok_r(j->acopy, ",", &s); t; t = strtok_r(NULL, ",", &s)) {
    if (j->p->nagg == GB_MAX_AGGS) {
      app_usage_error(a, "--agg: at most %d aggregates", GB_MAX_AGGS);
      return SL_ERR_USAGE;
    }
    int rc = parse_agg(a, j, t);
    if (rc != SL_OK)
      return rc;
  }
  if (!j->p->nagg) {
    app_usage_error(a, "--agg: no aggregate given");
    return SL_ERR_USAGE;
  }
  return SL_OK;
}

/* The plan from --key and --agg, and the fields to read: the keys, then the aggregated
 * fields that are not keys. Collective (the allocations are agreed: a rank that left here
 * would strand the others in the collectives after it). */
static int job_plan(const app *a, const gb_args *o, job *j) {
  j->p = calloc(1, sizeof *j->p);
  j->kcopy = strdup(o->keys);
  j->acopy = strdup(o->aggs);
  int ok = j->p && j->kcopy && j->acopy;
  if (!app_agree(a, ok, "out of memory for the plan (%zu bytes) and the --key/--agg lists",
                 sizeof *j->p))
    return SL_ERR_NOMEM;
  int rc = parse_keys(a, j);
  if (rc == SL_OK)
    rc = parse_aggs(a, j);
  if (rc != SL_OK)
    return rc;
  size_t nsel = 0;
  for (size_t i = 0; i < j->nkeys; i++)
    j->sel[nsel++] = j->keys[i];
  for (size_t i = 0; i < j->nvals; i++) {
    int dup = 0;
    for (size_t k = 0; k < j->nkeys; k++)
      dup |= !strcmp(j->keys[k], j->vals[i]);
    if (!dup)
      j->sel[nsel++] = j->vals[i];
  }
  char err[600];
  if (where_parse(o->where, &j->w, err, sizeof err)) {
    app_usage_error(a, "%s", err);
    return SL_ERR_USAGE;
  }
  size_t nx = where_missing_fields(&j->w, j->sel, nsel, j->wextra, WHERE_MAX);
  for (size_t i = 0; i < nx; i++)
    j->sel[nsel++] = j->wextra[i];
  j->hopts.fields = j->sel;
  j->hopts.nfields = nsel;
  j->hopts.with_index = 1; /* first:F and last:F go by row order */
  j->hopts.raw = o->raw;
  return SL_OK;
}

static const char *cls_desc(const sl_h5_field *f, char *buf, size_t cap) {
  static const char *n[] = {"integer", "unsigned integer", "float", "string"};
  snprintf(buf, cap, "a %zu-byte %s", f->size, n[f->cls]);
  return buf;
}

/* The input's layout; the key fields must be integers or strings, the aggregated fields
 * numeric. SL_OK or an error (printed). Collective. */
static int job_fields(const app *a, const gb_args *o, job *j) {
  plan *p = j->p;
  char desc[64];
  int rc = sl_h5_describe(a->ctx, o->in, &j->hopts, &j->in);
  if (rc != SL_OK)
    return rc;
  p->nkey = j->nkeys;
  p->nval = j->nvals;
  for (size_t i = 0; i < j->nkeys; i++) {
    sl_h5_layout_field(j->in, i, &p->key[i]);
    p->key_cf[i] = p->key[i].cf != NULL;
    p->nkey_cf += (size_t)p->key_cf[i];
    if (sl_h5_is_packed(&p->key[i])) {
      app_root_error(a,
                     "'%s': key field '%s' is packed (scale_factor/add_offset): its values are "
                     "floats (expected an integer or fixed-length string field; --raw groups by "
                     "the stored values)",
                     o->in, j->keys[i]);
      return SL_ERR_TYPE;
    }
    if (p->key[i].cls == SL_H5_FLOAT) {
      app_root_error(a,
                     "'%s': key field '%s' is %s (expected an integer or fixed-length string "
                     "field)",
                     o->in, j->keys[i], cls_desc(&p->key[i], desc, sizeof desc));
      return SL_ERR_TYPE;
    }
    p->key_bytes += p->key[i].size;
  }
  for (size_t i = 0; i < j->nvals; i++) {
    size_t k;
    sl_h5_layout_find(j->in, j->vals[i], &k);
    sl_h5_layout_field(j->in, k, &p->val[i]);
    if (p->val[i].cls == SL_H5_STRING) {
      const char *op = "sum";
      for (size_t q = 0; q < p->nagg; q++)
        if (p->agg[q].vf == (int)i) {
          op = op_names[p->agg[q].op];
          break;
        }
      app_root_error(a, "'%s': %s:%s: field '%s' is %s (expected a numeric field)", o->in, op,
                     j->vals[i], j->vals[i], cls_desc(&p->val[i], desc, sizeof desc));
      return SL_ERR_TYPE;
    }
    /* an integer that CF decoding can unpack or find missing is aggregated decoded */
    p->val_int[i] = (p->val[i].cls == SL_H5_INT || p->val[i].cls == SL_H5_UINT) && !p->val[i].cf;
  }
  char err[600];
  if (where_bind(&j->w, j->in, err, sizeof err)) {
    app_root_error(a, "%s: %s", o->in, err);
    return SL_ERR_USAGE;
  }
  return SL_OK;
}

/* The output's layout: the key fields, then one field per aggregate. SL_OK or an error
 * (printed: sl_h5_layout_add does not print). */
static int job_out_layout(const app *a, job *j) {
  const plan *p = j->p;
  static const char *const prefix[] = {"count", "sum_", "mean_",  "min_", "max_",
                                       "std_",  "var_", "first_", "last_"};
  int rc = sl_h5_layout_create(&j->out);
  for (size_t i = 0; i < j->nkeys && rc == SL_OK; i++)
    rc = sl_h5_layout_add(j->out, p->key[i].name, p->key[i].cls, p->key[i].size);
  for (size_t i = 0; i < j->nkeys && rc == SL_OK; i++)
    if (p->key_cf[i]) {
      char name[600];
      snprintf(name, sizeof name, "missing_%s", p->key[i].name);
      rc = sl_h5_layout_add(j->out, name, SL_H5_UINT, 1);
      if (rc != SL_OK)
        app_root_error(a, "cannot add output field '%s' (%s)", name, sl_strerror(rc));
    }
  for (size_t g = 0; g < p->nagg && rc == SL_OK; g++) {
    const aggdef *d = &p->agg[g];
    char name[600];
    if (d->op == A_COUNT) {
      snprintf(name, sizeof name, "count");
      rc = sl_h5_layout_add(j->out, name, SL_H5_UINT, 8);
    } else {
      snprintf(name, sizeof name, "%s%s", prefix[d->op], j->agg_field[g]);
      int isint = p->val_int[d->vf] && d->op != A_MEAN && d->op != A_STD && d->op != A_VAR;
      rc = sl_h5_layout_add(j->out, name, isint ? SL_H5_INT : SL_H5_FLOAT, 8);
    }
    if (rc != SL_OK) {
      int clash = 0;
      for (size_t k = 0; k < j->nkeys; k++)
        clash |= !strcmp(j->keys[k], name);
      if (clash)
        app_root_error(a, "output field '%s' clashes with a key field of the same name", name);
      else
        app_root_error(a, "cannot add output field '%s' (%s)", name, sl_strerror(rc));
    }
  }
  return rc;
}

/* The states' size and the callbacks' scratch row. Collective (agreed). */
static int job_buffers(const app *a, job *j) {
  plan *p = j->p;
  p->state_size = gb_state_size(p);
  size_t kv = 8 + 9 * p->nval, row = p->key_bytes + p->nkey + 8 * p->nagg;
  size_t sb = (kv > row ? kv : row) + 8;
  p->scratch = malloc(sb);
  p->kscratch = malloc(p->key_bytes + p->nkey + 1);
  if (!app_agree(a, p->scratch && p->kscratch,
                 "out of memory for one output row (%zu bytes: the --key fields and --agg "
                 "values)",
                 sb))
    return SL_ERR_NOMEM;
  return SL_OK;
}

/* The flow: rows -> (key, values) -> partition by key -> reduce (combined map-side) ->
 * sort by key -> output rows -> one dataset. Prints the summary. Collective. */
static int job_run(app *a, const gb_args *o, job *j) {
  plan *p = j->p;
  sl_aggregator ag = {SL_AGG_USER, p->state_size, gb_init, gb_update, gb_merge, gb_finalize, p};
  sl_h5_sink_opts so = {0};
  so.overwrite = o->force;
  so.deflate = o->deflate;
  double t0 = MPI_Wtime();
  sl_flow *flow = NULL;
  int rc = sl_flow_create(a->ctx, &flow);
  /* builder errors are remembered by the flow: sl_run returns (and prints) the first */
  int b = rc;
  if (!b)
    b = sl_flow_from_h5(flow, &o->in, 1, &j->hopts, 0);
  if (!b) /* stage names: the log view, the run record and the trace show them */
    b = sl_flow_name_stage(flow, "read");
  if (!b && j->w.n)
    b = sl_flow_filter(flow, where_test, &j->w);
  if (!b)
    b = sl_flow_map(flow, gb_to_kv, p);
  if (!b)
    b = sl_flow_name(flow, "key");
  if (!b)
    b = sl_flow_partition(flow, 0, NULL, NULL);
  if (!b)
    b = sl_flow_name_stage(flow, "group");
  if (!b)
    b = sl_flow_reduce_by_key(flow, &ag);
  if (!b)
    b = sl_flow_name(flow, "aggregate");
  if (!b)
    b = sl_flow_sort(flow, gb_by_key, p, 0);
  if (!b)
    b = sl_flow_name_stage(flow, "sort+write");
  if (!b)
    b = sl_flow_map(flow, gb_to_row, p);
  if (!b)
    b = sl_flow_name(flow, "row");
  if (!b)
    b = sl_flow_to_h5(flow, o->out, j->out, &so);
  if (!rc)
    rc = app_run(a, flow, "the group by");
  if (rc == SL_OK && !a->describe) {
    sl_stats st;
    int ns = 0;
    sl_flow_stage_count(flow, &ns);
    sl_flow_get_stats(flow, ns - 1, &st);
    uint64_t groups = st.records_out, g = 0;
    MPI_Reduce(&groups, &g, 1, MPI_UINT64_T, MPI_SUM, 0, a->comm);
    uint64_t miss = 0;
    MPI_Reduce(&p->missing_key_rows, &miss, 1, MPI_UINT64_T, MPI_SUM, 0, a->comm);
    if (miss)
      app_note(a, "%llu rows have a missing key: they form the group with missing_KEY = 1",
               (unsigned long long)miss);
    app_note(a, "%llu rows, %llu groups, %.3f s", (unsigned long long)sl_h5_layout_rows(j->in),
             (unsigned long long)g, MPI_Wtime() - t0);
  }
  sl_flow_destroy(&flow);
  return rc;
}

static int groupby_main(app *a, const gb_args *o) {
  job j = {0};
  int rc = job_plan(a, o, &j);
  if (rc == SL_OK)
    rc = job_fields(a, o, &j);
  if (rc == SL_OK)
    rc = job_out_layout(a, &j);
  if (rc == SL_OK)
    rc = job_buffers(a, &j);
  if (rc == SL_OK)
    rc = job_run(a, o, &j);
  sl_h5_layout_destroy(&j.in);
  sl_h5_layout_destroy(&j.out);
  if (j.p) {
    free(j.p->scratch);
    free(j.p->kscratch);
  }
  free(j.p);
  free(j.kcopy);
  free(j.acopy);
  return sl_exit_status(rc);
}

int main(int argc, char **argv) {
  app a;
  gb_args o = {0};
  int code = parse_args(&a, &argc, &argv, &o);
  if (code == APP_RUN)
    code = groupby_main(&a, &o);
  return app_finish(&a, code);
}
