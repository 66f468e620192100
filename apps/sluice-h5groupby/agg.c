/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-h5groupby: the aggregator and the flow's record callbacks (see groupby.h). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "groupby.h"

/* state: uint64 count (rows), then per value field ST_SLOTS 8-byte slots:
 *   0 sum (int64, wrapped, for an integer field: the low 64 bits of its exact 128-bit sum;
 *     double otherwise), 1 min, 2 max (int64 or double), 3 the high 64 bits of the exact
 *     sum (integer field), 4 the number of valid (not missing) values, 5 and 6 Welford's
 *     mean and M2 of them (double: std and var), 7 and 8 the row index and value of the
 *     first valid value, 9 and 10 those of the last (row index UINT64_MAX: none yet).
 * mean:F divides the exact sum by the valid count, so it does not depend on int64
 * wrap-around. For a float field min > max means no non-NaN value was seen (min and max
 * are then NaN). Missing values (CF decoding) are skipped by every aggregate but count.
 * states may sit at any alignment in the engine's tables: memcpy, never casts */
#define ST_SLOTS 11
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
static uint64_t get_u(const void *s, size_t v, int k) {
  uint64_t x;
  memcpy(&x, ST_SLOT(s, v, k), 8);
  return x;
}
static void set_u(void *s, size_t v, int k, uint64_t x) {
  memcpy(ST_SLOT(s, v, k), &x, 8);
}
static double get_d(const void *s, size_t v, int k) {
  double x;
  memcpy(&x, ST_SLOT(s, v, k), 8);
  return x;
}
static void set_d(void *s, size_t v, int k, double x) {
  memcpy(ST_SLOT(s, v, k), &x, 8);
}

/* the exact sum of an integer field: slot 0 (low 64 bits) and slot 3 (high 64 bits) */
static u128 st_isum(const void *s, size_t v) {
  return (u128)get_u(s, v, 3) << 64 | get_u(s, v, 0);
}
static void st_set_isum(void *s, size_t v, u128 x) {
  set_u(s, v, 0, (uint64_t)x);
  set_u(s, v, 3, (uint64_t)(x >> 64));
}

/* the map's value: the row index, one 8-byte value per value field, one missing flag byte
 * per value field */
static size_t kv_len(const plan *p) {
  return 8 + 9 * p->nval;
}

int gb_to_kv(const sl_record *in, sl_record *out, void *arg) {
  plan *p = arg;
  const char *row = in->value;
  char *v = p->scratch;
  if (in->key_len != 8)
    return -1; /* the source gives the row index as key */
  memcpy(v, in->key, 8);
  for (size_t i = 0; i < p->nval; i++) {
    const sl_h5_field *f = &p->val[i];
    v[8 + 8 * p->nval + i] = (char)sl_h5_is_missing(f, row);
    if (p->val_int[i]) {
      int64_t x = sl_h5_get_i64(f, row);
      memcpy(v + 8 + 8 * i, &x, 8);
    } else {
      double x = sl_h5_get_f64(f, row); /* decoded: unpacked */
      memcpy(v + 8 + 8 * i, &x, 8);
    }
  }
  /* the key: the key fields come first in the row, packed; a missing one is zeroed and
   * flagged, so that every missing value of a key field falls in one group */
  char *k = p->kscratch;
  memcpy(k, row, p->key_bytes);
  int miss = 0;
  for (size_t i = 0; i < p->nkey; i++) {
    int m = p->key_cf[i] && sl_h5_is_missing(&p->key[i], row);
    k[p->key_bytes + i] = (char)m;
    if (m)
      memset(k + p->key[i].offset, 0, p->key[i].size);
    miss |= m;
  }
  p->missing_key_rows += (uint64_t)miss;
  out->key = k;
  out->key_len = gb_key_len(p);
  out->value = v;
  out->value_len = kv_len(p);
  return 0;
}

int gb_init(void *state, void *arg) {
  plan *p = arg;
  memset(state, 0, p->state_size);
  for (size_t i = 0; i < p->nval; i++) {
    if (p->val_int[i]) {
      set_u(state, i, 1, (uint64_t)INT64_MAX);
      set_u(state, i, 2, (uint64_t)INT64_MIN);
    } else {
      set_d(state, i, 1, INFINITY);
      set_d(state, i, 2, -INFINITY);
    }
    set_u(state, i, 7, UINT64_MAX);
    set_u(state, i, 9, UINT64_MAX);
  }
  return 0;
}

/* Welford's update and Chan's merge of (n, mean, m2) in slots 4, 5, 6 */
static void welford_add(void *state, size_t i, double x) {
  double n = (double)get_u(state, i, 4) + 1, mean = get_d(state, i, 5), m2 = get_d(state, i, 6);
  double d = x - mean;
  mean += d / n;
  m2 += d * (x - mean);
  set_d(state, i, 5, mean);
  set_d(state, i, 6, m2);
}
static void welford_merge(void *a, const void *b, size_t i) {
  /* the library's merge of moments (sluice/sl_block.h), on this state's slots */
  sl_moments x = {0}, y = {0};
  x.n = (double)get_u(a, i, 4);
  x.mean = get_d(a, i, 5);
  x.m2 = get_d(a, i, 6);
  y.n = (double)get_u(b, i, 4);
  y.mean = get_d(b, i, 5);
  y.m2 = get_d(b, i, 6);
  sl_moments_merge(&x, &y);
  set_d(a, i, 5, x.mean);
  set_d(a, i, 6, x.m2);
}

/* the first and last valid values by row index (slots 7..10) */
static void first_last(void *state, size_t i, uint64_t idx, const char *x8) {
  uint64_t fi = get_u(state, i, 7), li = get_u(state, i, 9);
  if (fi == UINT64_MAX || idx < fi) {
    set_u(state, i, 7, idx);
    memcpy(ST_SLOT(state, i, 8), x8, 8);
  }
  if (li == UINT64_MAX || idx > li) {
    set_u(state, i, 9, idx);
    memcpy(ST_SLOT(state, i, 10), x8, 8);
  }
}

static void fold_one(plan *p, void *state, size_t i, const char *x8, uint64_t idx) {
  if (p->val_int[i]) {
    int64_t x, lo, hi;
    memcpy(&x, x8, 8);
    lo = (int64_t)get_u(state, i, 1);
    hi = (int64_t)get_u(state, i, 2);
    /* a uint64 field's value came as its bit pattern: widen it unsigned for the exact sum */
    u128 wide = p->val[i].cls == SL_H5_UINT ? (u128)(uint64_t)x : (u128)(i128)x;
    st_set_isum(state, i, st_isum(state, i) + wide);
    if (x < lo)
      lo = x;
    if (x > hi)
      hi = x;
    set_u(state, i, 1, (uint64_t)lo);
    set_u(state, i, 2, (uint64_t)hi);
    welford_add(state, i, p->val[i].cls == SL_H5_UINT ? (double)(uint64_t)x : (double)x);
  } else {
    double x;
    memcpy(&x, x8, 8);
    set_d(state, i, 0, get_d(state, i, 0) + x);
    set_d(state, i, 1, fmin(get_d(state, i, 1), x));
    set_d(state, i, 2, fmax(get_d(state, i, 2), x));
    welford_add(state, i, x);
  }
  set_u(state, i, 4, get_u(state, i, 4) + 1);
  first_last(state, i, idx, x8);
}

int gb_update(void *state, const sl_record *in, void *arg) {
  plan *p = arg;
  if (in->value_len != kv_len(p))
    return -1;
  const char *v = in->value;
  uint64_t idx;
  memcpy(&idx, v, 8);
  st_set_count(state, st_count(state) + 1);
  for (size_t i = 0; i < p->nval; i++)
    if (!v[8 + 8 * p->nval + i])
      fold_one(p, state, i, v + 8 + 8 * i, idx);
  return 0;
}

int gb_merge(void *state, const void *other, void *arg) {
  plan *p = arg;
  st_set_count(state, st_count(state) + st_count(other));
  for (size_t i = 0; i < p->nval; i++) {
    if (p->val_int[i]) {
      st_set_isum(state, i, st_isum(state, i) + st_isum(other, i));
      if ((int64_t)get_u(other, i, 1) < (int64_t)get_u(state, i, 1))
        set_u(state, i, 1, get_u(other, i, 1));
      if ((int64_t)get_u(other, i, 2) > (int64_t)get_u(state, i, 2))
        set_u(state, i, 2, get_u(other, i, 2));
    } else {
      set_d(state, i, 0, get_d(state, i, 0) + get_d(other, i, 0));
      set_d(state, i, 1, fmin(get_d(state, i, 1), get_d(other, i, 1)));
      set_d(state, i, 2, fmax(get_d(state, i, 2), get_d(other, i, 2)));
    }
    welford_merge(state, other, i);
    set_u(state, i, 4, get_u(state, i, 4) + get_u(other, i, 4));
    if (get_u(other, i, 7) != UINT64_MAX) {
      first_last(state, i, get_u(other, i, 7), ST_SLOT(other, i, 8));
      first_last(state, i, get_u(other, i, 9), ST_SLOT(other, i, 10));
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
    size_t v = (size_t)d->vf;
    int isint = p->val_int[v];
    uint64_t nv = get_u(state, v, 4);
    double nan = NAN;
    switch (d->op) {
    case A_SUM:
      memcpy(o, ST_SLOT(state, v, 0), 8);
      break;
    case A_MIN:
    case A_MAX:
      if (!isint && get_d(state, v, 1) > get_d(state, v, 2)) {
        /* min > max: every valid value of the group was NaN (fmin/fmax skipped them all) */
        memcpy(o, &nan, 8);
        break;
      }
      if (isint && !nv) { /* no valid value: the int64 sentinel of no value */
        int64_t none = 0;
        memcpy(o, &none, 8);
        break;
      }
      memcpy(o, ST_SLOT(state, v, d->op == A_MIN ? 1 : 2), 8);
      break;
    case A_MEAN: {
      double m;
      if (isint) {
        /* the exact sum divided exactly: quotient plus remainder / n */
        i128 s = (i128)st_isum(state, v);
        if (nv) {
          i128 q = s / (i128)nv, r = s % (i128)nv;
          m = (double)q + (double)r / (double)nv;
        } else {
          m = NAN;
        }
      } else {
        m = nv ? get_d(state, v, 0) / (double)nv : NAN;
      }
      memcpy(o, &m, 8);
      break;
    }
    case A_STD:
    case A_VAR: {
      double var = nv ? get_d(state, v, 6) / (double)nv : NAN;
      double r = d->op == A_VAR ? var : sqrt(var);
      memcpy(o, &r, 8);
      break;
    }
    case A_FIRST:
    case A_LAST: {
      int k = d->op == A_FIRST ? 8 : 10;
      if (get_u(state, v, 7) == UINT64_MAX) { /* no valid value */
        if (isint)
          memset(o, 0, 8);
        else
          memcpy(o, &nan, 8);
      } else {
        memcpy(o, ST_SLOT(state, v, k), 8);
      }
      break;
    }
    }
  }
  memcpy(state, out, 8 * p->nagg);
  *value_len = 8 * p->nagg;
  return 0;
}

/* Order of the output rows: by the key fields, in --key order (integers by value,
 * strings bytewise, a missing key last), so the output does not depend on the ranks. */
int gb_by_key(const sl_record *a, const sl_record *b, void *arg) {
  const plan *p = arg;
  const char *ka = a->key, *kb = b->key;
  size_t off = 0;
  for (size_t i = 0; i < p->nkey; i++) {
    sl_h5_field f = p->key[i];
    f.offset = off; /* the record key holds the key fields packed */
    f.cf = NULL;
    int ma = ka[p->key_bytes + i], mb = kb[p->key_bytes + i];
    int c;
    if (ma || mb) {
      c = ma - mb;
    } else if (f.cls == SL_H5_INT) {
      int64_t x = sl_h5_get_i64(&f, ka), y = sl_h5_get_i64(&f, kb);
      c = (x > y) - (x < y);
    } else if (f.cls == SL_H5_UINT) {
      uint64_t x = sl_h5_get_u64(&f, ka), y = sl_h5_get_u64(&f, kb);
      c = (x > y) - (x < y);
    } else {
      c = memcmp(ka + off, kb + off, f.size);
    }
    if (c)
      return c;
    off += f.size;
  }
  return 0;
}

int gb_to_row(const sl_record *in, sl_record *out, void *arg) {
  plan *p = arg;
  if (in->key_len != gb_key_len(p) || in->value_len != 8 * p->nagg)
    return -1;
  const char *k = in->key;
  char *o = p->scratch;
  memcpy(o, k, p->key_bytes);
  o += p->key_bytes;
  for (size_t i = 0; i < p->nkey; i++) /* missing_KEY (uint8) for the keys that can miss */
    if (p->key_cf[i])
      *o++ = k[p->key_bytes + i];
  memcpy(o, in->value, in->value_len);
  out->key = NULL;
  out->key_len = 0;
  out->value = p->scratch;
  out->value_len = (size_t)(o - p->scratch) + in->value_len;
  return 0;
}

size_t gb_state_size(const plan *p) {
  size_t st = 8 + 8 * ST_SLOTS * p->nval;
  return st > 8 * p->nagg ? st : 8 * p->nagg; /* finalize writes the aggregates in place */
}
