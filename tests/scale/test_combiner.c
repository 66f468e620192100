/* SPDX-License-Identifier: BSD-3-Clause */
/* reduce_by_key with the map-side combiner, through the public API, against an oracle.
 *
 * A generator emits N records whose keys are drawn (skewed) from K keys of lengths 0..30
 * (key 0 is the empty key); the flows partition by key (or departition) and reduce with a
 * built-in or a user aggregator that can merge, so a combiner runs at the end of the
 * source stage. --sl-combiner-bytes is set small (64K) so that the combiner flushes over
 * and over; the result must be the same as with the default budget and as the oracle.
 * Rank 0 checks; any rank count. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

enum { K = 5000 };
static const int64_t N = 200000;

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 33;
  return x;
}

/* key id of record i: skewed (id = K * u^3), so some keys are hot and many are rare */
static int key_of(int64_t i) {
  double u = (double)(mix((uint64_t)i) >> 11) / 9007199254740992.0;
  int id = (int)(K * u * u * u);
  return id < K ? id : K - 1;
}
static int64_t value_of(int64_t i) {
  return (int64_t)(mix((uint64_t)i * 7 + 3) % 2001) - 1000;
}

/* key bytes: "" for id 0, else the decimal id padded with '.' to a length of 1..30 */
static size_t key_bytes(int id, char *k) {
  if (id == 0)
    return 0;
  int n = snprintf(k, 32, "%d", id);
  size_t len = (size_t)n + (size_t)(mix((uint64_t)id) % (uint64_t)(31 - n));
  for (size_t j = (size_t)n; j < len; j++)
    k[j] = '.';
  return len;
}
static int key_id(const void *k, size_t len) {
  if (len == 0)
    return 0;
  char tmp[32];
  memcpy(tmp, k, len < 31 ? len : 31);
  tmp[len < 31 ? len : 31] = 0;
  return atoi(tmp);
}

static int gen(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  char k[32];
  int64_t v = value_of(i);
  size_t kl = key_bytes(key_of(i), k);
  return sl_emit(out, k, kl, &v, sizeof v);
}

/* user aggregator: count, sum, min, max in one state */
typedef struct ustate {
  int64_t n, sum, min, max;
} ustate;
static int u_init(void *s, void *a) {
  (void)a;
  *(ustate *)s = (ustate){0, 0, INT64_MAX, INT64_MIN};
  return 0;
}
static int u_update(void *s, const sl_record *in, void *a) {
  (void)a;
  ustate *u = s;
  int64_t v;
  if (in->value_len != 8)
    return 1;
  memcpy(&v, in->value, 8);
  u->n++;
  u->sum += v;
  if (v < u->min)
    u->min = v;
  if (v > u->max)
    u->max = v;
  return 0;
}
static int u_merge(void *s, const void *o, void *a) {
  (void)a;
  ustate *u = s, w;
  memcpy(&w, o, sizeof w);
  u->n += w.n;
  u->sum += w.sum;
  if (w.min < u->min)
    u->min = w.min;
  if (w.max > u->max)
    u->max = w.max;
  return 0;
}
static int u_finalize(void *s, size_t *len, void *a) {
  (void)s;
  (void)a;
  *len = sizeof(ustate);
  return 0;
}

typedef struct oracle {
  int64_t n[K], sum[K], min[K], max[K];
  int distinct;
} oracle;
static oracle O;

static void oracle_build(void) {
  for (int k = 0; k < K; k++) {
    O.n[k] = O.sum[k] = 0;
    O.min[k] = INT64_MAX;
    O.max[k] = INT64_MIN;
  }
  for (int64_t i = 0; i < N; i++) {
    int k = key_of(i);
    int64_t v = value_of(i);
    O.n[k]++;
    O.sum[k] += v;
    if (v < O.min[k])
      O.min[k] = v;
    if (v > O.max[k])
      O.max[k] = v;
  }
  O.distinct = 0;
  for (int k = 0; k < K; k++)
    O.distinct += O.n[k] > 0;
}

enum { AGG_COUNT, AGG_SUM, AGG_MAX, AGG_USER };
static const char *agg_name[] = {"COUNT", "SUM_I64", "MAX_I64", "USER(n,sum,min,max)"};

/* Check a collection against the oracle; returns the number of problems (rank 0). */
static int check(const sl_collection *c, int agg, const char *what) {
  int bad = 0;
  static unsigned char seen[K];
  memset(seen, 0, sizeof seen);
  size_t n = sl_collection_count(c);
  if ((int)n != O.distinct) {
    fprintf(stderr, "%s: %zu result records, expected %d distinct keys\n", what, n, O.distinct);
    bad++;
  }
  for (size_t i = 0; i < n; i++) {
    sl_record r;
    sl_collection_get(c, i, &r);
    int k = key_id(r.key, r.key_len);
    char kb[32];
    if (k < 0 || k >= K || key_bytes(k, kb) != r.key_len ||
        (r.key_len && memcmp(kb, r.key, r.key_len))) {
      if (bad++ < 5)
        fprintf(stderr, "%s: unknown key of %zu bytes\n", what, r.key_len);
      continue;
    }
    if (seen[k]++) {
      if (bad++ < 5)
        fprintf(stderr, "%s: key %d appears twice\n", what, k);
      continue;
    }
    int ok;
    if (agg == AGG_USER) {
      ustate u;
      ok = r.value_len == sizeof u;
      if (ok) {
        memcpy(&u, r.value, sizeof u);
        ok = u.n == O.n[k] && u.sum == O.sum[k] && u.min == O.min[k] && u.max == O.max[k];
      }
    } else {
      int64_t v = 0, want = agg == AGG_COUNT ? O.n[k] : agg == AGG_SUM ? O.sum[k] : O.max[k];
      ok = r.value_len == 8;
      if (ok)
        memcpy(&v, r.value, 8);
      ok = ok && v == want;
      if (!ok && bad < 5)
        fprintf(stderr, "%s: key %d: %" PRId64 ", expected %" PRId64 "\n", what, k, v, want);
    }
    if (!ok)
      bad++;
  }
  return bad;
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  if (sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 2;
  int rank = sl_rank(ctx), size = sl_size(ctx);
  oracle_build();
  static const char *budgets[] = {"64K", "2M", NULL}; /* NULL: the default */
  int failures = 0;
  for (int b = 0; b < 3; b++) {
    sl_option_set(ctx, "combiner-bytes", budgets[b] ? budgets[b] : "256M");
    for (int agg = 0; agg < 4; agg++) {
      for (int route = 0; route < 3;
           route++) { /* 0: one partition per rank, 1: 3, 2: departition */
        sl_flow *flow = NULL;
        sl_collection *coll = NULL;
        sl_aggregator a;
        if (agg == AGG_USER) {
          a = (sl_aggregator){SL_AGG_USER, sizeof(ustate), u_init, u_update,
                              u_merge,     u_finalize,     NULL};
        } else {
          a = sl_aggregator_builtin(agg == AGG_COUNT ? SL_AGG_COUNT
                                    : agg == AGG_SUM ? SL_AGG_SUM_I64
                                                     : SL_AGG_MAX_I64);
        }
        double t0 = MPI_Wtime();
        int rc = sl_flow_create(ctx, &flow);
        if (rc == SL_OK)
          rc = sl_flow_from_generator(flow, N, gen, NULL, -1);
        if (rc == SL_OK)
          rc = route == 2 ? sl_flow_departition(flow)
                          : sl_flow_partition(flow, route ? 3 : -1, NULL, NULL);
        if (rc == SL_OK)
          rc = sl_flow_reduce_by_key(flow, &a);
        if (rc == SL_OK)
          rc = sl_flow_to_collect(flow, &coll);
        if (rc == SL_OK)
          rc = sl_run(flow);
        char what[160];
        snprintf(what, sizeof what, "ranks %d combiner-bytes %s %s route %s", size,
                 budgets[b] ? budgets[b] : "default", agg_name[agg],
                 route == 0   ? "partition(per rank)"
                 : route == 1 ? "partition(3)"
                              : "departition");
        if (rc != SL_OK) {
          if (rank == 0)
            fprintf(stderr, "%s: sl_run: %s\n", what, sl_strerror(rc));
          failures++;
        } else {
          /* records leaving the source stage: what the combiner let through */
          sl_stats s0;
          sl_flow_get_stats(flow, 0, &s0);
          uint64_t out = s0.records_out, tot = 0;
          MPI_Reduce(&out, &tot, 1, MPI_UINT64_T, MPI_SUM, 0, sl_comm(ctx));
          if (rank == 0) {
            int bad = check(coll, agg, what);
            printf("%-84s %s  combiner: %" PRId64 " records in, %" PRIu64 " out  %.2f s\n", what,
                   bad ? "FAIL" : "ok", N, tot, MPI_Wtime() - t0);
            fflush(stdout);
            failures += bad != 0;
          }
        }
        sl_collection_destroy(&coll);
        sl_flow_destroy(&flow);
      }
    }
  }
  MPI_Bcast(&failures, 1, MPI_INT, 0, sl_comm(ctx));
  if (rank == 0)
    printf("combiner: %d failure(s)\n", failures);
  sl_finalize(&ctx);
  return failures ? 1 : 0;
}
