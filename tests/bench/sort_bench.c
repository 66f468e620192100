/* SPDX-License-Identifier: BSD-3-Clause */
/* sort_bench: the global-sort benchmark of docs/benchmarks.md (run by sort_bench.sh).
 *
 *   sort_bench qsort N [SEED]
 *     One process: generates N records {uint64 key, uint64 payload} (16 bytes each) in
 *     memory, sorts them by key with the C library's qsort, checks the result. Prints
 *     "qsort n=N gen_seconds=G seconds=S ok": S times qsort alone.
 *   mpirun -n P sort_bench sluice N [SEED] [--sl-OPTION=VALUE ...]
 *     The same N records from a generator source (key: the 8-byte native uint64, value:
 *     the 8-byte payload), sl_flow_sort by the key as uint64, and a to_callback sink that
 *     checks the order of each rank's records as they arrive. Rank 0 prints
 *     "sluice ranks=P n=N seconds=S imbalance=X ok": S is the wall time of sl_run
 *     (generating the records included), X the largest rank's record count over the mean.
 *     Afterwards every rank checks the count, the key sum and the payload sum against the
 *     input, and the boundaries between ranks.
 *   mpirun -n P sort_bench sluice-key N [SEED] [--sl-OPTION=VALUE ...]
 *     The same with sl_flow_sort_by_key (the key as sl_sort_key_u64: a radix sort in
 *     each partition); prints "sluice-key ranks=P ...".
 * Record i has key mix(SEED * 2^32 + i) (splitmix64) and payload i, whatever the mode
 * and the number of ranks. Exit status 0 only if the output is sorted and complete. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "sluice.h"

typedef struct rec {
  uint64_t key, payload;
} rec;

static uint64_t g_seed = 1;

static inline uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
static inline uint64_t key_of(uint64_t i) {
  return mix((g_seed << 32) + i);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int usage(void) {
  fprintf(stderr,
          "usage: sort_bench qsort N [SEED]\n"
          "       mpirun -n P sort_bench sluice|sluice-key N [SEED] [--sl-OPTION=VALUE ...]\n");
  return 2;
}

/* ------------------------------------------------------------------ qsort */
static int cmp_rec(const void *a, const void *b) {
  uint64_t x = ((const rec *)a)->key, y = ((const rec *)b)->key;
  return (x > y) - (x < y);
}

static int run_qsort(uint64_t n) {
  rec *r = malloc((size_t)n * sizeof *r + 1);
  if (!r) {
    fprintf(stderr, "sort_bench: cannot allocate %" PRIu64 " records\n", n);
    return 1;
  }
  double t0 = now();
  uint64_t ksum = 0;
  for (uint64_t i = 0; i < n; i++) {
    r[i].key = key_of(i);
    r[i].payload = i;
    ksum += r[i].key;
  }
  double t1 = now();
  qsort(r, (size_t)n, sizeof *r, cmp_rec);
  double t2 = now();
  /* sorted, and the same records: key sum, payload sum, every key belongs to its payload */
  uint64_t ks = 0, ps = 0, bad = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (i && r[i - 1].key > r[i].key)
      bad++;
    if (r[i].payload >= n || key_of(r[i].payload) != r[i].key)
      bad++;
    ks += r[i].key;
    ps += r[i].payload;
  }
  uint64_t pexp = n % 2 ? n * ((n - 1) / 2) : (n / 2) * (n - 1);
  free(r);
  if (bad || ks != ksum || ps != pexp) {
    fprintf(stderr, "sort_bench qsort: WRONG: %" PRIu64 " bad records, sums %s\n", bad,
            ks == ksum && ps == pexp ? "agree" : "differ");
    return 1;
  }
  printf("qsort n=%" PRIu64 " gen_seconds=%.3f seconds=%.3f ok\n", n, t1 - t0, t2 - t1);
  return 0;
}

/* ------------------------------------------------------------------ sluice */
static int gen(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  uint64_t k = key_of((uint64_t)i), p = (uint64_t)i;
  return sl_emit(out, &k, 8, &p, 8);
}

static int cmp_key(const sl_record *a, const sl_record *b, void *arg) {
  (void)arg;
  uint64_t x, y;
  memcpy(&x, a->key, 8);
  memcpy(&y, b->key, 8);
  return (x > y) - (x < y);
}

typedef struct check {
  uint64_t n, bad, ksum, psum;
  uint64_t first, last;
} check;

static int sink(const sl_record *r, void *arg) {
  check *c = arg;
  uint64_t k, p;
  if (r->key_len != 8 || r->value_len != 8) {
    c->bad++;
    return 0;
  }
  memcpy(&k, r->key, 8);
  memcpy(&p, r->value, 8);
  if (c->n == 0)
    c->first = k;
  else if (k < c->last)
    c->bad++;
  c->last = k;
  c->n++;
  c->ksum += k;
  c->psum += p;
  return 0;
}

static uint64_t key_u64(const sl_record *r, void *arg) {
  (void)arg;
  uint64_t k;
  memcpy(&k, r->key, 8);
  return sl_sort_key_u64(k);
}

/* by_key: sl_flow_sort_by_key (radix) instead of sl_flow_sort (compare function) */
static int run_sluice(int argc, char **argv, int by_key) {
  sl_ctx *ctx = NULL;
  int rc = sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx);
  if (rc != SL_OK) {
    fprintf(stderr, "sort_bench: sl_init: %s\n", sl_strerror(rc));
    return 1;
  }
  if (sl_help_requested(ctx)) {
    sl_finalize(&ctx);
    return 0;
  }
  int rank = sl_rank(ctx), size = sl_size(ctx);
  if (argc < 3) {
    if (rank == 0)
      usage();
    sl_finalize(&ctx);
    return 2;
  }
  uint64_t n = strtoull(argv[2], NULL, 10);
  if (argc > 3)
    g_seed = strtoull(argv[3], NULL, 10);
  MPI_Comm comm = sl_comm(ctx);

  check c = {0};
  sl_flow *f = NULL;
  rc = sl_flow_create(ctx, &f);
  if (rc == SL_OK)
    rc = sl_flow_from_generator(f, (int64_t)n, gen, NULL, 0);
  if (rc == SL_OK)
    rc = by_key ? sl_flow_sort_by_key(f, key_u64, NULL, 0) : sl_flow_sort(f, cmp_key, NULL, 0);
  if (rc == SL_OK)
    rc = sl_flow_to_callback(f, sink, &c);
  MPI_Barrier(comm);
  double t0 = MPI_Wtime();
  if (rc == SL_OK)
    rc = sl_run(f);
  double t1 = MPI_Wtime();
  sl_flow_destroy(&f);
  int status = 0;
  if (rc != SL_OK) {
    if (rank == 0)
      fprintf(stderr, "sort_bench: sl_run: %s\n", sl_strerror(rc));
    status = 1;
  } else {
    /* expected sums: each rank adds the keys of a share of the rows */
    uint64_t lo = n * (uint64_t)rank / (uint64_t)size,
             hi = n * (uint64_t)(rank + 1) / (uint64_t)size, kexp = 0;
    for (uint64_t i = lo; i < hi; i++)
      kexp += key_of(i);
    uint64_t mine[5] = {c.n, c.bad, c.ksum, c.psum, kexp}, tot[5];
    MPI_Allreduce(mine, tot, 5, MPI_UINT64_T, MPI_SUM, comm);
    uint64_t edge[3] = {c.n, c.first, c.last}, *all = malloc(3 * sizeof *all * (size_t)size);
    MPI_Gather(edge, 3, MPI_UINT64_T, all, 3, MPI_UINT64_T, 0, comm);
    uint64_t cmax = 0;
    MPI_Reduce(&c.n, &cmax, 1, MPI_UINT64_T, MPI_MAX, 0, comm);
    if (rank == 0) {
      uint64_t pexp = n % 2 ? n * ((n - 1) / 2) : (n / 2) * (n - 1), boundary = 0;
      int prev = -1;
      for (int r = 0; r < size; r++) {
        if (!all[3 * r])
          continue;
        if (prev >= 0 && all[3 * prev + 2] > all[3 * r + 1])
          boundary++;
        prev = r;
      }
      int ok = tot[0] == n && tot[1] == 0 && tot[2] == tot[4] && tot[3] == pexp && boundary == 0;
      if (!ok) {
        fprintf(stderr,
                "sort_bench sluice: WRONG: %" PRIu64 " records of %" PRIu64 ", %" PRIu64
                " out of order, %" PRIu64 " bad boundaries, key sum %s, payload sum %s\n",
                tot[0], n, tot[1], boundary, tot[2] == tot[4] ? "ok" : "differs",
                tot[3] == pexp ? "ok" : "differs");
        status = 1;
      } else {
        printf("%s ranks=%d n=%" PRIu64 " seconds=%.3f imbalance=%.3f ok\n",
               by_key ? "sluice-key" : "sluice", size, n, t1 - t0,
               n ? (double)cmax * size / (double)n : 0.0);
      }
    }
    free(all);
    MPI_Bcast(&status, 1, MPI_INT, 0, comm);
  }
  sl_finalize(&ctx);
  return status;
}

int main(int argc, char **argv) {
  if (argc < 3)
    return usage();
  if (!strcmp(argv[1], "qsort")) {
    uint64_t n = strtoull(argv[2], NULL, 10);
    if (argc > 3)
      g_seed = strtoull(argv[3], NULL, 10);
    return run_qsort(n);
  }
  if (!strcmp(argv[1], "sluice") || !strcmp(argv[1], "sluice-key"))
    return run_sluice(argc, argv, !strcmp(argv[1], "sluice-key"));
  return usage();
}
