/* SPDX-License-Identifier: BSD-3-Clause */
/* Built-in aggregators for reduce_by_key. Values are 8-byte native numbers; states are
 * fixed-size so the hash table can hold them inline. */
#include <math.h>
#include <string.h>

#include "core/core.h"

static int want8(const sl_record *in, const char *agg) {
  if (in->value_len != 8)
    SL__FAIL(SL_ERR_TYPE, "reduce_by_key %s: expected an 8-byte value, found %zu bytes", agg,
             in->value_len);
  return SL_OK;
}

static int count_init(void *s, void *a) {
  (void)a;
  memset(s, 0, 8);
  return SL_OK;
}
static int count_update(void *s, const sl_record *in, void *a) {
  (void)in;
  (void)a;
  uint64_t v;
  memcpy(&v, s, 8);
  v++;
  memcpy(s, &v, 8);
  return SL_OK;
}
static int u64_merge(void *s, const void *o, void *a) {
  (void)a;
  uint64_t x, y;
  memcpy(&x, s, 8);
  memcpy(&y, o, 8);
  x += y;
  memcpy(s, &x, 8);
  return SL_OK;
}
static int fin8(void *s, size_t *len, void *a) {
  (void)s;
  (void)a;
  *len = 8;
  return SL_OK;
}

static int sumi_update(void *s, const sl_record *in, void *a) {
  (void)a;
  SL__CHECK(want8(in, "sum_i64"));
  int64_t x, y;
  memcpy(&x, s, 8);
  memcpy(&y, in->value, 8);
  x = (int64_t)((uint64_t)x + (uint64_t)y); /* wraps like the hardware, never UB */
  memcpy(s, &x, 8);
  return SL_OK;
}
static int sumf_update(void *s, const sl_record *in, void *a) {
  (void)a;
  SL__CHECK(want8(in, "sum_f64"));
  double x, y;
  memcpy(&x, s, 8);
  memcpy(&y, in->value, 8);
  x += y;
  memcpy(s, &x, 8);
  return SL_OK;
}
static int sumf_merge(void *s, const void *o, void *a) {
  (void)a;
  double x, y;
  memcpy(&x, s, 8);
  memcpy(&y, o, 8);
  x += y;
  memcpy(s, &x, 8);
  return SL_OK;
}
static int mini_init(void *s, void *a) {
  (void)a;
  int64_t v = INT64_MAX;
  memcpy(s, &v, 8);
  return SL_OK;
}
static int maxi_init(void *s, void *a) {
  (void)a;
  int64_t v = INT64_MIN;
  memcpy(s, &v, 8);
  return SL_OK;
}
static int minf_init(void *s, void *a) {
  (void)a;
  double v = INFINITY;
  memcpy(s, &v, 8);
  return SL_OK;
}
static int maxf_init(void *s, void *a) {
  (void)a;
  double v = -INFINITY;
  memcpy(s, &v, 8);
  return SL_OK;
}
#define MINMAX(name, T, OP)                                                                        \
  static int name##_merge(void *s, const void *o, void *a) {                                       \
    (void)a;                                                                                       \
    T x, y;                                                                                        \
    memcpy(&x, s, 8);                                                                              \
    memcpy(&y, o, 8);                                                                              \
    if (y OP x)                                                                                    \
      memcpy(s, &y, 8);                                                                            \
    return SL_OK;                                                                                  \
  }                                                                                                \
  static int name##_update(void *s, const sl_record *in, void *a) {                                \
    SL__CHECK(want8(in, #name));                                                                   \
    return name##_merge(s, in->value, a);                                                          \
  }
MINMAX(min_i64, int64_t, <)
MINMAX(max_i64, int64_t, >)
MINMAX(min_f64, double, <)
MINMAX(max_f64, double, >)

typedef struct mean_state {
  double sum;
  uint64_t n;
} mean_state;
static int mean_init(void *s, void *a) {
  (void)a;
  memset(s, 0, sizeof(mean_state));
  return SL_OK;
}
static int mean_update(void *s, const sl_record *in, void *a) {
  (void)a;
  SL__CHECK(want8(in, "mean_f64"));
  mean_state m;
  memcpy(&m, s, sizeof m);
  double v;
  memcpy(&v, in->value, 8);
  m.sum += v;
  m.n++;
  memcpy(s, &m, sizeof m);
  return SL_OK;
}
static int mean_merge(void *s, const void *o, void *a) {
  (void)a;
  mean_state m, k;
  memcpy(&m, s, sizeof m);
  memcpy(&k, o, sizeof k);
  m.sum += k.sum;
  m.n += k.n;
  memcpy(s, &m, sizeof m);
  return SL_OK;
}
static int mean_fin(void *s, size_t *len, void *a) {
  (void)a;
  mean_state m;
  memcpy(&m, s, sizeof m);
  double v = m.n ? m.sum / (double)m.n : NAN;
  memcpy(s, &v, 8);
  *len = 8;
  return SL_OK;
}

sl_aggregator sl_aggregator_builtin(sl_agg_kind kind) {
  sl_aggregator a = {0};
  a.kind = kind;
  a.state_size = 8;
  a.finalize = fin8;
  switch (kind) {
  case SL_AGG_COUNT:
    a.init = count_init;
    a.update = count_update;
    a.merge = u64_merge;
    break;
  case SL_AGG_SUM_I64:
    a.init = count_init;
    a.update = sumi_update;
    a.merge = u64_merge;
    break;
  case SL_AGG_SUM_F64:
    a.init = count_init;
    a.update = sumf_update;
    a.merge = sumf_merge;
    break;
  case SL_AGG_MIN_I64:
    a.init = mini_init;
    a.update = min_i64_update;
    a.merge = min_i64_merge;
    break;
  case SL_AGG_MAX_I64:
    a.init = maxi_init;
    a.update = max_i64_update;
    a.merge = max_i64_merge;
    break;
  case SL_AGG_MIN_F64:
    a.init = minf_init;
    a.update = min_f64_update;
    a.merge = min_f64_merge;
    break;
  case SL_AGG_MAX_F64:
    a.init = maxf_init;
    a.update = max_f64_update;
    a.merge = max_f64_merge;
    break;
  case SL_AGG_MEAN_F64:
    a.state_size = sizeof(mean_state);
    a.init = mean_init;
    a.update = mean_update;
    a.merge = mean_merge;
    a.finalize = mean_fin;
    break;
  case SL_AGG_USER:
    a.state_size = 0;
    a.finalize = NULL;
    break;
  }
  return a;
}
