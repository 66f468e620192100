/* sluice-h5groupby: group the rows of an HDF5 table by key fields and aggregate.
 *
 *   mpirun -n N sluice-h5groupby FILE:/dataset --key F[,F...] --agg count,sum:F,mean:F,min:F,max:F
 *                                -o OUT.h5:/dataset [--force] [--deflate L]
 *
 * The flow: HDF5 rows (key fields + aggregated fields only) -> map to (key bytes, one
 * 8-byte value per aggregated field) -> partition by key hash -> reduce_by_key with a user
 * aggregator that has merge, so a bounded map-side combiner folds skewed keys before the
 * shuffle -> map to output rows -> sl_flow_to_h5 (one dataset, written by all ranks). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

static const char *prog = "sluice-h5groupby";

static void usage(FILE *f) {
  fprintf(f, "usage: mpirun -n N sluice-h5groupby FILE:/dataset --key F[,F...]\n"
             "           --agg count,sum:F,mean:F,min:F,max:F -o OUT.h5:/dataset [--force]\n"
             "\n"
             "Group the rows of an HDF5 table (a compound dataset; FILE may be a quoted glob) by\n"
             "one or more key fields (integer or fixed-length string fields) and write one row\n"
             "per group to a compound dataset: the key fields (input names and types), then the\n"
             "aggregates in the order given:\n"
             "  count    uint64 number of rows           -> field 'count'\n"
             "  sum:F    sum of F (int64 for an integer F, else float64)   -> 'sum_F'\n"
             "  mean:F   float64 mean of F                                 -> 'mean_F'\n"
             "  min:F    minimum of F (int64 for an integer F, else float64) -> 'min_F'\n"
             "  max:F    maximum of F (same type as min)                   -> 'max_F'\n"
             "Integer fields are aggregated as int64: sum wraps around on overflow and a uint64\n"
             "above 2^63-1 wraps in sum, min and max; mean divides the exact sum, so it does\n"
             "not wrap. Float NaN values propagate into sum and mean and are ignored by min and\n"
             "max (NaN for a group whose values are all NaN).\n"
             "Groups are written in the order of their keys (integers by value, strings\n"
             "bytewise).\n"
             "\n"
             "options:\n"
             "  --key F,...      key fields\n"
             "  --agg LIST       aggregates (see above)\n"
             "  -o, --output S   output FILE.h5:/dataset (written under a temporary name and\n"
             "                   renamed when complete)\n"
             "  --force          overwrite the output file if it exists\n"
             "  --deflate L      compress the output (deflate level 1-9)\n"
             "  -h, --help       this help\n"
             "  --version        print the version\n"
             "  --sl-help        sluice's runtime options, e.g. --sl-progress=on\n"
             "\n"
             "exit status: 0 success, 1 runtime failure, 2 bad usage or bad input,\n"
             "             3 stopped by SIGTERM/SIGUSR1\n");
}

enum { A_COUNT, A_SUM, A_MEAN, A_MIN, A_MAX };

typedef struct aggdef {
  int op;
  int vf; /* index into the value fields (-1 for count) */
} aggdef;

typedef struct plan {
  size_t nkey, nval, nagg;
  sl_h5_field key[64];
  sl_h5_field val[64]; /* aggregated fields, as read */
  int val_int[64];     /* 1: aggregated as int64 */
  aggdef agg[256];
  size_t key_bytes;
  char *scratch; /* map output */
  size_t state_size;
} plan;

/* state: uint64 count, then per value field four 8-byte slots: sum, min, max (int64 or
 * double), and for an integer field the high 64 bits of its exact 128-bit sum (slot 0 holds
 * the low 64 bits, which are the int64 sum, wrapped, that sum:F reports; mean:F divides the
 * exact sum, so it does not depend on int64 wrap-around). For a float field min > max
 * means no non-NaN value was seen (min and max are then NaN).
 * states may sit at any alignment in the engine's tables: memcpy, never casts */
#define ST_SLOTS 4
__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;
static uint64_t st_count(const void *s) {
  uint64_t n;
  memcpy(&n, s, 8);
  return n;
}
static void st_set_count(void *s, uint64_t n) {
  memcpy(s, &n, 8);
}
#define ST_SLOT(s, v, k) ((char *)(s) + 8 + ((size_t)(v)*ST_SLOTS + (size_t)(k)) * 8)

/* the exact sum of an integer field: slot 0 (low 64 bits) and slot 3 (high 64 bits) */
static u128 st_isum(const void *s, size_t v) {
  uint64_t lo, hi;
  memcpy(&lo, ST_SLOT(s, v, 0), 8);
  memcpy(&hi, ST_SLOT(s, v, 3), 8);
  return (u128)hi << 64 | lo;
}
static void st_set_isum(void *s, size_t v, u128 x) {
  uint64_t lo = (uint64_t)x, hi = (uint64_t)(x >> 64);
  memcpy(ST_SLOT(s, v, 0), &lo, 8);
  memcpy(ST_SLOT(s, v, 3), &hi, 8);
}

static int to_kv(const sl_record *in, sl_record *out, void *arg) {
  plan *p = arg;
  const char *row = in->value;
  char *v = p->scratch;
  for (size_t i = 0; i < p->nval; i++) {
    const sl_h5_field *f = &p->val[i];
    if (p->val_int[i]) {
      int64_t x = sl_h5_get_i64(f, row);
      memcpy(v + 8 * i, &x, 8);
    } else {
      double x = sl_h5_get_f64(f, row);
      memcpy(v + 8 * i, &x, 8);
    }
  }
  out->key = row; /* the key fields come first in the row, packed */
  out->key_len = p->key_bytes;
  out->value = v;
  out->value_len = 8 * p->nval;
  return 0;
}

static int st_init(void *state, void *arg) {
  plan *p = arg;
  memset(state, 0, p->state_size);
  for (size_t i = 0; i < p->nval; i++) {
    if (p->val_int[i]) {
      int64_t lo = INT64_MAX, hi = INT64_MIN;
      memcpy(ST_SLOT(state, i, 1), &lo, 8);
      memcpy(ST_SLOT(state, i, 2), &hi, 8);
    } else {
      double lo = INFINITY, hi = -INFINITY;
      memcpy(ST_SLOT(state, i, 1), &lo, 8);
      memcpy(ST_SLOT(state, i, 2), &hi, 8);
    }
  }
  return 0;
}

static void fold_one(plan *p, void *state, size_t i, const char *x8) {
  if (p->val_int[i]) {
    int64_t x, lo, hi;
    memcpy(&x, x8, 8);
    memcpy(&lo, ST_SLOT(state, i, 1), 8);
    memcpy(&hi, ST_SLOT(state, i, 2), 8);
    /* a uint64 field's value came as its bit pattern: widen it unsigned for the exact sum */
    u128 wide = p->val[i].cls == SL_H5_UINT ? (u128)(uint64_t)x : (u128)(i128)x;
    st_set_isum(state, i, st_isum(state, i) + wide);
    if (x < lo)
      lo = x;
    if (x > hi)
      hi = x;
    memcpy(ST_SLOT(state, i, 1), &lo, 8);
    memcpy(ST_SLOT(state, i, 2), &hi, 8);
  } else {
    double x, s, lo, hi;
    memcpy(&x, x8, 8);
    memcpy(&s, ST_SLOT(state, i, 0), 8);
    memcpy(&lo, ST_SLOT(state, i, 1), 8);
    memcpy(&hi, ST_SLOT(state, i, 2), 8);
    s += x;
    lo = fmin(lo, x);
    hi = fmax(hi, x);
    memcpy(ST_SLOT(state, i, 0), &s, 8);
    memcpy(ST_SLOT(state, i, 1), &lo, 8);
    memcpy(ST_SLOT(state, i, 2), &hi, 8);
  }
}

static int st_update(void *state, const sl_record *in, void *arg) {
  plan *p = arg;
  if (in->value_len != 8 * p->nval)
    return -1;
  st_set_count(state, st_count(state) + 1);
  for (size_t i = 0; i < p->nval; i++)
    fold_one(p, state, i, (const char *)in->value + 8 * i);
  return 0;
}

static int st_merge(void *state, const void *other, void *arg) {
  plan *p = arg;
  st_set_count(state, st_count(state) + st_count(other));
  for (size_t i = 0; i < p->nval; i++) {
    if (p->val_int[i]) {
      int64_t a, b;
      st_set_isum(state, i, st_isum(state, i) + st_isum(other, i));
      memcpy(&a, ST_SLOT(state, i, 1), 8);
      memcpy(&b, ST_SLOT(other, i, 1), 8);
      if (b < a)
        memcpy(ST_SLOT(state, i, 1), &b, 8);
      memcpy(&a, ST_SLOT(state, i, 2), 8);
      memcpy(&b, ST_SLOT(other, i, 2), 8);
      if (b > a)
        memcpy(ST_SLOT(state, i, 2), &b, 8);
    } else {
      double a, b;
      memcpy(&a, ST_SLOT(state, i, 0), 8);
      memcpy(&b, ST_SLOT(other, i, 0), 8);
      a += b;
      memcpy(ST_SLOT(state, i, 0), &a, 8);
      memcpy(&a, ST_SLOT(state, i, 1), 8);
      memcpy(&b, ST_SLOT(other, i, 1), 8);
      a = fmin(a, b);
      memcpy(ST_SLOT(state, i, 1), &a, 8);
      memcpy(&a, ST_SLOT(state, i, 2), 8);
      memcpy(&b, ST_SLOT(other, i, 2), 8);
      a = fmax(a, b);
      memcpy(ST_SLOT(state, i, 2), &a, 8);
    }
  }
  return 0;
}

static int st_finalize(void *state, size_t *value_len, void *arg) {
  plan *p = arg;
  char out[256 * 8];
  uint64_t n = st_count(state);
  for (size_t a = 0; a < p->nagg; a++) {
    const aggdef *d = &p->agg[a];
    char *o = out + 8 * a;
    if (d->op == A_COUNT) {
      memcpy(o, &n, 8);
      continue;
    }
    int isint = p->val_int[d->vf];
    switch (d->op) {
    case A_SUM:
      memcpy(o, ST_SLOT(state, d->vf, 0), 8);
      break;
    case A_MIN:
    case A_MAX:
      if (!isint) {
        /* min > max: every value of the group was NaN (fmin/fmax skipped them all) */
        double lo, hi, nan = NAN;
        memcpy(&lo, ST_SLOT(state, d->vf, 1), 8);
        memcpy(&hi, ST_SLOT(state, d->vf, 2), 8);
        if (lo > hi) {
          memcpy(o, &nan, 8);
          break;
        }
      }
      memcpy(o, ST_SLOT(state, d->vf, d->op == A_MIN ? 1 : 2), 8);
      break;
    case A_MEAN: {
      double m;
      if (isint) {
        /* the exact sum divided exactly: quotient plus remainder / n */
        i128 s = (i128)st_isum(state, (size_t)d->vf);
        if (n) {
          i128 q = s / (i128)n, r = s % (i128)n;
          m = (double)q + (double)r / (double)n;
        } else {
          m = NAN;
        }
      } else {
        double s;
        memcpy(&s, ST_SLOT(state, d->vf, 0), 8);
        m = n ? s / (double)n : NAN;
      }
      memcpy(o, &m, 8);
      break;
    }
    }
  }
  memcpy(state, out, 8 * p->nagg);
  *value_len = 8 * p->nagg;
  return 0;
}

/* Order of the output rows: by the key fields, in --key order (integers by value,
 * strings bytewise), so the output does not depend on the number of ranks. */
static int by_key(const sl_record *a, const sl_record *b, void *arg) {
  const plan *p = arg;
  size_t off = 0;
  for (size_t i = 0; i < p->nkey; i++) {
    sl_h5_field f = p->key[i];
    f.offset = off; /* the record key holds the key fields packed */
    int c;
    if (f.cls == SL_H5_INT) {
      int64_t x = sl_h5_get_i64(&f, a->key), y = sl_h5_get_i64(&f, b->key);
      c = (x > y) - (x < y);
    } else if (f.cls == SL_H5_UINT) {
      uint64_t x = sl_h5_get_u64(&f, a->key), y = sl_h5_get_u64(&f, b->key);
      c = (x > y) - (x < y);
    } else {
      c = memcmp((const char *)a->key + off, (const char *)b->key + off, f.size);
    }
    if (c)
      return c;
    off += f.size;
  }
  return 0;
}

static int to_row(const sl_record *in, sl_record *out, void *arg) {
  plan *p = arg;
  if (in->key_len != p->key_bytes || in->value_len != 8 * p->nagg)
    return -1;
  memcpy(p->scratch, in->key, in->key_len);
  memcpy(p->scratch + in->key_len, in->value, in->value_len);
  out->key = NULL;
  out->key_len = 0;
  out->value = p->scratch;
  out->value_len = in->key_len + in->value_len;
  return 0;
}

/* FILE:/path with a non-empty FILE and path, split at the last ":/" (as sluice does) */
static int is_dataset_spec(const char *spec) {
  const char *sep = NULL;
  for (const char *q = spec; (q = strstr(q, ":/")) != NULL; q++)
    sep = q;
  return sep && sep != spec && sep[2];
}

/* 1 when ok on every rank. Collective. */
static int all_ok(MPI_Comm comm, int ok) {
  int mine = ok ? 1 : 0, all = 0;
  if (MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
    return 0;
  return all;
}

static const char *cls_desc(const sl_h5_field *f, char *buf, size_t cap) {
  static const char *n[] = {"integer", "unsigned integer", "float", "string"};
  snprintf(buf, cap, "a %zu-byte %s", f->size, n[f->cls]);
  return buf;
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
  int root = sl_rank(ctx) == 0, force = 0, bad = 0;
  long deflate = 0;
  const char *spec = NULL, *out = NULL, *keys_arg = NULL, *aggs_arg = NULL;
  for (int i = 1; i < argc && !bad; i++) {
    const char *a = argv[i], *inl = NULL;
    char opt[32];
    /* --opt=value is --opt value */
    const char *eq = strncmp(a, "--", 2) ? NULL : strchr(a, '=');
    if (eq && (size_t)(eq - a) < sizeof opt) {
      static const char *const valued[] = {"-o", "--output", "--key", "--agg", "--deflate", NULL};
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
        printf("%s %s\n", prog, sl_version());
      sl_finalize(&ctx);
      return 0;
    } else if (!strcmp(a, "--force")) {
      force = 1;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--key") ||
               !strcmp(a, "--agg") || !strcmp(a, "--deflate")) {
      if (!inl && i + 1 >= argc) {
        if (root)
          fprintf(stderr, "%s: error: %s needs a value (see --help)\n", prog, a);
        bad = 1;
        break;
      }
      const char *v = inl ? inl : argv[++i];
      if (!strcmp(a, "--key"))
        keys_arg = v;
      else if (!strcmp(a, "--agg"))
        aggs_arg = v;
      else if (!strcmp(a, "--deflate")) {
        char *end;
        errno = 0;
        deflate = strtol(v, &end, 10);
        if (errno || end == v || *end || deflate < 0 || deflate > 9) {
          if (root)
            fprintf(stderr, "%s: error: --deflate expects a level 0-9, found '%s'\n", prog, v);
          bad = 1;
        }
      } else
        out = v;
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
  if (!bad && (!spec || !keys_arg || !aggs_arg || !out)) {
    if (root)
      fprintf(
          stderr,
          "%s: error: missing %s (usage: %s FILE:/dataset --key F --agg LIST -o OUT.h5:/dataset)\n",
          prog,
          !spec       ? "the input"
          : !keys_arg ? "--key"
          : !aggs_arg ? "--agg"
                      : "-o",
          prog);
    bad = 1;
  }
  if (!bad && !is_dataset_spec(spec)) {
    if (root)
      fprintf(stderr, "%s: error: input '%s': expected FILE:/path/to/dataset\n", prog, spec);
    bad = 1;
  }
  if (!bad && !is_dataset_spec(out)) {
    if (root)
      fprintf(stderr, "%s: error: output '%s': expected FILE.h5:/path/to/dataset\n", prog, out);
    bad = 1;
  }
  if (bad) {
    sl_finalize(&ctx);
    return sl_exit_status(SL_ERR_USAGE);
  }

  plan *p = calloc(1, sizeof *p);
  char *kcopy = strdup(keys_arg), *acopy = strdup(aggs_arg);
  /* agreed: a rank that left here would strand the others in the collectives below */
  if (!all_ok(sl_comm(ctx), p && kcopy && acopy)) {
    if (!p || !kcopy || !acopy)
      fprintf(stderr,
              "%s: error: out of memory for the plan (%zu bytes) and the --key/--agg lists\n", prog,
              sizeof *p);
    free(p);
    free(kcopy);
    free(acopy);
    sl_finalize(&ctx);
    return sl_exit_status(SL_ERR_NOMEM);
  }
  const char *keys[64], *vals[64], *sel[128];
  char *agg_field[256];
  size_t nkeys = 0, nvals = 0;
  /* parse --key and --agg */
  for (char *s = NULL, *t = strtok_r(kcopy, ",", &s); t && !bad; t = strtok_r(NULL, ",", &s)) {
    for (size_t i = 0; i < nkeys; i++)
      if (!strcmp(keys[i], t)) {
        if (root)
          fprintf(stderr, "%s: error: --key: field '%s' given twice\n", prog, t);
        bad = 1;
      }
    if (nkeys == 64) {
      if (root)
        fprintf(stderr, "%s: error: --key: at most 64 key fields\n", prog);
      bad = 1;
    }
    if (!bad)
      keys[nkeys++] = t;
  }
  if (!bad && !nkeys) {
    if (root)
      fprintf(stderr, "%s: error: --key: no field given\n", prog);
    bad = 1;
  }
  for (char *s = NULL, *t = strtok_r(acopy, ",", &s); t && !bad; t = strtok_r(NULL, ",", &s)) {
    if (p->nagg == 256) {
      if (root)
        fprintf(stderr, "%s: error: --agg: at most 256 aggregates\n", prog);
      bad = 1;
      break;
    }
    aggdef *d = &p->agg[p->nagg];
    char *colon = strchr(t, ':');
    agg_field[p->nagg] = NULL;
    if (!strcmp(t, "count")) {
      d->op = A_COUNT;
      d->vf = -1;
    } else if (colon && colon[1]) {
      *colon = 0;
      if (!strcmp(t, "sum"))
        d->op = A_SUM;
      else if (!strcmp(t, "mean"))
        d->op = A_MEAN;
      else if (!strcmp(t, "min"))
        d->op = A_MIN;
      else if (!strcmp(t, "max"))
        d->op = A_MAX;
      else {
        if (root)
          fprintf(
              stderr,
              "%s: error: --agg: unknown aggregate '%s' (expected count, sum, mean, min, max)\n",
              prog, t);
        bad = 1;
        break;
      }
      agg_field[p->nagg] = colon + 1;
      size_t k = 0;
      while (k < nvals && strcmp(vals[k], colon + 1))
        k++;
      if (k == nvals) {
        if (nvals == 64) {
          if (root)
            fprintf(stderr, "%s: error: --agg: at most 64 aggregated fields\n", prog);
          bad = 1;
          break;
        }
        vals[nvals++] = colon + 1;
      }
      d->vf = (int)k;
      for (size_t q = 0; q < p->nagg; q++)
        if (p->agg[q].op == d->op && p->agg[q].vf == d->vf) {
          if (root)
            fprintf(stderr, "%s: error: --agg: '%s:%s' given twice\n", prog, t, colon + 1);
          bad = 1;
        }
    } else {
      if (root)
        fprintf(stderr, "%s: error: --agg: '%s' is not count or OP:FIELD\n", prog, t);
      bad = 1;
      break;
    }
    if (d->op == A_COUNT)
      for (size_t q = 0; q < p->nagg; q++)
        if (p->agg[q].op == A_COUNT) {
          if (root)
            fprintf(stderr, "%s: error: --agg: 'count' given twice\n", prog);
          bad = 1;
        }
    p->nagg++;
  }
  if (!bad && !p->nagg) {
    if (root)
      fprintf(stderr, "%s: error: --agg: no aggregate given\n", prog);
    bad = 1;
  }
  if (bad) {
    free(kcopy);
    free(acopy);
    free(p);
    sl_finalize(&ctx);
    return sl_exit_status(SL_ERR_USAGE);
  }
  /* the fields to read: keys, then aggregated fields that are not keys */
  size_t nsel = 0;
  for (size_t i = 0; i < nkeys; i++)
    sel[nsel++] = keys[i];
  for (size_t i = 0; i < nvals; i++) {
    int dup = 0;
    for (size_t k = 0; k < nkeys; k++)
      if (!strcmp(keys[k], vals[i]))
        dup = 1;
    if (!dup)
      sel[nsel++] = vals[i];
  }
  sl_h5_opts o = {0};
  o.fields = sel;
  o.nfields = nsel;
  sl_h5_layout *in = NULL, *outl = NULL;
  rc = sl_h5_describe(ctx, spec, &o, &in);
  char desc[64];
  if (rc == SL_OK) {
    p->nkey = nkeys;
    p->nval = nvals;
    for (size_t i = 0; i < nkeys && rc == SL_OK; i++) {
      sl_h5_layout_field(in, i, &p->key[i]);
      if (p->key[i].cls == SL_H5_FLOAT) {
        if (root)
          fprintf(stderr,
                  "%s: error: '%s': key field '%s' is %s (expected an integer or fixed-length "
                  "string field)\n",
                  prog, spec, keys[i], cls_desc(&p->key[i], desc, sizeof desc));
        rc = SL_ERR_TYPE;
      }
      p->key_bytes += p->key[i].size;
    }
    for (size_t i = 0; i < nvals && rc == SL_OK; i++) {
      size_t k;
      sl_h5_layout_find(in, vals[i], &k);
      sl_h5_layout_field(in, k, &p->val[i]);
      if (p->val[i].cls == SL_H5_STRING) {
        const char *op = "sum";
        for (size_t q = 0; q < p->nagg; q++)
          if (p->agg[q].vf == (int)i) {
            static const char *ops[] = {"count", "sum", "mean", "min", "max"};
            op = ops[p->agg[q].op];
            break;
          }
        if (root)
          fprintf(stderr, "%s: error: '%s': %s:%s: field '%s' is %s (expected a numeric field)\n",
                  prog, spec, op, vals[i], vals[i], cls_desc(&p->val[i], desc, sizeof desc));
        rc = SL_ERR_TYPE;
      }
      p->val_int[i] = p->val[i].cls == SL_H5_INT || p->val[i].cls == SL_H5_UINT;
    }
  }
  /* the output layout */
  if (rc == SL_OK)
    rc = sl_h5_layout_create(&outl);
  for (size_t i = 0; i < nkeys && rc == SL_OK; i++)
    rc = sl_h5_layout_add(outl, p->key[i].name, p->key[i].cls, p->key[i].size);
  for (size_t a = 0; a < p->nagg && rc == SL_OK; a++) {
    const aggdef *d = &p->agg[a];
    char name[600];
    static const char *pre[] = {"count", "sum_", "mean_", "min_", "max_"};
    if (d->op == A_COUNT) {
      snprintf(name, sizeof name, "count");
      rc = sl_h5_layout_add(outl, name, SL_H5_UINT, 8);
    } else {
      snprintf(name, sizeof name, "%s%s", pre[d->op], agg_field[a]);
      int isint = p->val_int[d->vf] && d->op != A_MEAN;
      rc = sl_h5_layout_add(outl, name, isint ? SL_H5_INT : SL_H5_FLOAT, 8);
    }
    /* sl_h5_layout_add does not print: every failure gets its one line here */
    if (rc != SL_OK && root) {
      int clash = 0;
      for (size_t k = 0; k < nkeys; k++)
        clash |= !strcmp(keys[k], name);
      if (clash)
        fprintf(stderr, "%s: error: output field '%s' clashes with a key field of the same name\n",
                prog, name);
      else
        fprintf(stderr, "%s: error: cannot add output field '%s' (%s)\n", prog, name,
                sl_strerror(rc));
    }
  }
  if (rc == SL_OK) {
    size_t st = 8 + 8 * ST_SLOTS * p->nval;
    p->state_size = st > 8 * p->nagg ? st : 8 * p->nagg;
    size_t sb = p->key_bytes + 8 * (p->nagg > p->nval ? p->nagg : p->nval) + 8;
    p->scratch = malloc(sb);
    if (!all_ok(sl_comm(ctx), p->scratch != NULL)) {
      if (!p->scratch)
        fprintf(stderr,
                "%s: error: out of memory for one output row (%zu bytes: the --key fields and "
                "--agg values)\n",
                prog, sb);
      rc = SL_ERR_NOMEM;
    }
  }
  if (rc == SL_OK) {
    sl_flow *flow = NULL;
    const char *specs[1] = {spec};
    sl_aggregator ag = {SL_AGG_USER, p->state_size, st_init, st_update, st_merge, st_finalize, p};
    sl_h5_sink_opts so = {0};
    so.overwrite = force;
    so.deflate = (int)deflate;
    double t0 = MPI_Wtime();
    rc = sl_flow_create(ctx, &flow);
    /* builder errors are remembered by the flow: sl_run returns (and prints) the first */
    int b = rc;
    if (!b)
      b = sl_flow_from_h5(flow, specs, 1, &o, 0);
    if (!b)
      b = sl_flow_map(flow, to_kv, p);
    if (!b)
      b = sl_flow_name(flow, "key");
    if (!b)
      b = sl_flow_partition(flow, 0, NULL, NULL);
    if (!b)
      b = sl_flow_reduce_by_key(flow, &ag);
    if (!b)
      b = sl_flow_name(flow, "aggregate");
    if (!b)
      b = sl_flow_sort(flow, by_key, p, 0);
    if (!b)
      b = sl_flow_map(flow, to_row, p);
    if (!b)
      b = sl_flow_name(flow, "row");
    if (!b)
      b = sl_flow_to_h5(flow, out, outl, &so);
    if (!rc)
      rc = sl_run(flow);
    if (rc == SL_OK) {
      sl_stats st;
      int ns = 0;
      sl_flow_stage_count(flow, &ns);
      sl_flow_get_stats(flow, ns - 1, &st);
      uint64_t groups = st.records_out, g = 0;
      MPI_Reduce(&groups, &g, 1, MPI_UINT64_T, MPI_SUM, 0, sl_comm(ctx));
      if (root)
        fprintf(stderr, "%s: %llu rows, %llu groups, %.3f s\n", prog,
                (unsigned long long)sl_h5_layout_rows(in), (unsigned long long)g, MPI_Wtime() - t0);
    }
    sl_flow_destroy(&flow);
  }
  sl_h5_layout_destroy(&in);
  sl_h5_layout_destroy(&outl);
  free(p->scratch);
  free(p);
  free(kcopy);
  free(acopy);
  sl_finalize(&ctx);
  return sl_exit_status(rc);
}
