/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-h5groupby: the aggregator and the flow's record callbacks (see groupby.h). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "groupby.h"

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

int gb_to_kv(const sl_record *in, sl_record *out, void *arg) {
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

int gb_init(void *state, void *arg) {
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

int gb_update(void *state, const sl_record *in, void *arg) {
  plan *p = arg;
  if (in->value_len != 8 * p->nval)
    return -1;
  st_set_count(state, st_count(state) + 1);
  for (size_t i = 0; i < p->nval; i++)
    fold_one(p, state, i, (const char *)in->value + 8 * i);
  return 0;
}

int gb_merge(void *state, const void *other, void *arg) {
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

int gb_finalize(void *state, size_t *value_len, void *arg) {
  plan *p = arg;
  char out[GB_MAX_AGGS * 8];
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
int gb_by_key(const sl_record *a, const sl_record *b, void *arg) {
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

int gb_to_row(const sl_record *in, sl_record *out, void *arg) {
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

size_t gb_state_size(const plan *p) {
  size_t st = 8 + 8 * ST_SLOTS * p->nval;
  return st > 8 * p->nagg ? st : 8 * p->nagg; /* finalize writes the aggregates in place */
}
