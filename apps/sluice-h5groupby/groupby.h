/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-h5groupby: the aggregator (state, update, merge, finalize) and the flow's record
 * callbacks, shared by main.c and agg.c. */
#ifndef SLUICE_H5GROUPBY_H
#define SLUICE_H5GROUPBY_H

#include <stddef.h>

#include <sluice.h>

/* Bounds of one job: key fields, aggregated fields, aggregates. */
enum { GB_MAX_KEYS = 64, GB_MAX_VALS = 64, GB_MAX_AGGS = 256 };

enum { A_COUNT, A_SUM, A_MEAN, A_MIN, A_MAX, A_STD, A_VAR, A_FIRST, A_LAST };

typedef struct aggdef {
  int op;
  int vf; /* index into the value fields (-1 for count) */
} aggdef;

typedef struct plan {
  size_t nkey, nval, nagg;
  sl_h5_field key[GB_MAX_KEYS];
  sl_h5_field val[GB_MAX_VALS]; /* aggregated fields, as read */
  int val_int[GB_MAX_VALS];     /* 1: aggregated as int64 */
  aggdef agg[GB_MAX_AGGS];
  size_t key_bytes;
  int key_cf[GB_MAX_KEYS]; /* 1: the key field can be missing (CF decoding) */
  size_t nkey_cf;          /* how many can: an output field missing_KEY each */
  char *scratch;           /* map output: the value */
  char *kscratch;          /* map output: the key (key fields, then one flag per key) */
  size_t state_size;
  uint64_t missing_key_rows; /* rows of this rank with a missing key (reported) */
} plan;

/* The record key of a group: the key fields packed (a missing one zeroed), then one byte
 * per key field, 1 when missing (a missing key is a group of its own, sorted last). */
static inline size_t gb_key_len(const plan *p) {
  return p->key_bytes + p->nkey;
}

/* The bytes of one aggregation state for p's value fields. */
size_t gb_state_size(const plan *p);

/* The flow's callbacks; arg is the plan. */
/* row -> (packed key fields, one 8-byte value per value field) (sl_flow_map) */
int gb_to_kv(const sl_record *in, sl_record *out, void *arg);
/* the aggregator (sl_aggregator, SL_AGG_USER) */
int gb_init(void *state, void *arg);
int gb_update(void *state, const sl_record *in, void *arg);
int gb_merge(void *state, const void *other, void *arg);
int gb_finalize(void *state, size_t *value_len, void *arg);
/* output order: by the key fields, in --key order (sl_flow_sort) */
int gb_by_key(const sl_record *a, const sl_record *b, void *arg);
/* (key, aggregates) -> output row (sl_flow_map) */
int gb_to_row(const sl_record *in, sl_record *out, void *arg);

#endif
