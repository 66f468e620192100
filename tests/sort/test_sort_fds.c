/* SPDX-License-Identifier: BSD-3-Clause */
/* MPI tests of the global sort's bound on open spill files (merge passes), at 1, 2 and 4
 * ranks: sl_flow_sort and sl_flow_sort_by_key with --sl-sort-memory-bytes=8K and enough
 * records for well over 3 times the cap of runs on every rank (a sorted run at 8K is 4K of
 * records: 256 records of 16 bytes).
 *
 * The cap (lib/src/ops/sort_runs.c, max_open_runs): a sort step keeps at most
 *   cap = (soft RLIMIT_NOFILE / 2) / (sort steps of the rank), within [4, 64]
 * spill files open; the sort steps of a rank are its local source partitions (SORT_SPLIT)
 * and its partition of the sorted stage (SORT_LOCAL). The test counts this process's open
 * spill files in its --sl-tmpdir (unlinked files, "(deleted)" in /proc/self/fd) from the
 * compare and key functions (every 512th call: they run during the merge passes, with the
 * most files open) and the sink (the final merge), and checks that the highest count is
 * at most cap times the rank's sort steps (1 rank: the records pass through SORT_SPLIT,
 * so at most cap).
 *
 * With SORT_FDS_NOFILE=N in the environment, main lowers the soft RLIMIT_NOFILE to N
 * before sl_init: the cap is then 16 (N = 64, two sort steps), and the sort must still
 * succeed, where keeping every run open fails with EMFILE ("Too many open files").
 *
 * Every rank generates the same input; rank 0 computes the oracle (a stable qsort: by the
 * key's number, descending if the sort is, then by row), gathers the output (partition p
 * on rank p) and checks: the count; every input row exactly once with its own key; the
 * oracle's key at every position; with one source partition, equal keys in arrival order:
 * exactly the oracle's rows at one rank, within each rank at more (records equal to a
 * splitter may be spread over the ranks between splitters); with a comparator that breaks
 * ties by row, the oracle's rows everywhere. (With a source partition per rank, records
 * of equal keys from different sources interleave: only the keys are checked.)
 * Records are packed (one size) or, from row n / 3 on, mixed with 3-byte keys (general
 * runs, and packed runs turned general by the passes).
 *
 * Rules (a test that breaks them can hang): every rank makes the same collective calls in
 * the same order; no assertion returns early. */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <sys/resource.h>

#include "sluice.h"
#include "../mpi/mpi_test.h" /* the harness (and CUnit, MPI, the C headers): mt_main_with */
#include "sort_test.h"

#define RECS_PER_RANK 64000 /* 1 MB of 16-byte records: ~250 runs of 4K at 8K */
#define DISTINCT 1000       /* keys: many ties, so the order among equal keys is seen */
#define SAMPLE_EVERY 512

static uint64_t rd_be(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t j = 0; j < n; j++)
    v = (v << 8) | p[j];
  return v;
}

/* ------------------------------------------------------------------ open spill files */

/* All of this process's open files (for the message about the low limit). */
static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    n += e->d_name[0] != '.';
  closedir(d);
  return n - 1; /* the directory's own */
}

static uint64_t g_calls;
static int g_max_open; /* the most spill files seen open during the current sort */
static void probe(void) {
  if (g_calls++ % SAMPLE_EVERY)
    return;
  int n = count_spill_files();
  if (n > g_max_open)
    g_max_open = n;
}

/* ------------------------------------------------------------------ input */
/* Row i: the key, mix(i) % DISTINCT, big-endian in 8 bytes (from row n / 3 on with mixed,
 * every 5th in 3 bytes: the same number, other lengths); the value, the row (8 bytes
 * big-endian). */
typedef struct input {
  int64_t n;
  unsigned char *keys, *vals;
  sl_record *recs;
} input;

static void input_make(input *in, int64_t n, int mixed) {
  in->n = n;
  in->keys = xcalloc((size_t)n, 8);
  in->vals = xcalloc((size_t)n, 8);
  in->recs = xcalloc((size_t)n, sizeof *in->recs);
  for (int64_t i = 0; i < n; i++) {
    unsigned char *k = in->keys + i * 8, *v = in->vals + i * 8;
    be64(k, mt_mix((uint64_t)i) % DISTINCT);
    be64(v, (uint64_t)i);
    size_t kl = mixed && i >= n / 3 && i % 5 == 0 ? 3 : 8;
    in->recs[i] = (sl_record){k + 8 - kl, kl, v, 8};
  }
}
static void input_free(input *in) {
  free(in->keys);
  free(in->vals);
  free(in->recs);
  memset(in, 0, sizeof *in);
}

static uint64_t key_num(const sl_record *r) {
  return rd_be(r->key, r->key_len);
}
static int64_t row_of(const sl_record *r) {
  return r->value_len == 8 ? (int64_t)rd_be(r->value, 8) : -1;
}
static uint64_t key_fn(const sl_record *r, void *arg) {
  (void)arg;
  probe();
  return key_num(r);
}
static int cmp_key(const sl_record *a, const sl_record *b, void *arg) {
  (void)arg;
  probe();
  uint64_t x = key_num(a), y = key_num(b);
  return (x > y) - (x < y);
}
static int cmp_key_row(const sl_record *a, const sl_record *b, void *arg) {
  int c = cmp_key(a, b, arg);
  if (c)
    return c;
  int64_t x = row_of(a), y = row_of(b);
  return (x > y) - (x < y);
}

/* Oracle: rows by key (descending if g_desc), then by row. */
static const input *q_in;
static int q_desc;
static int q_order(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  uint64_t ka = key_num(&q_in->recs[a]), kb = key_num(&q_in->recs[b]);
  int c = (ka > kb) - (ka < kb);
  if (c)
    return q_desc ? -c : c;
  return (a > b) - (a < b);
}

/* ------------------------------------------------------------------ output */
typedef struct entry {
  uint64_t key;
  int64_t row;
  uint64_t klen;
} entry;
typedef struct sink {
  entry *e;
  size_t n, cap;
} sink;
static int sink_fn(const sl_record *r, void *arg) {
  sink *s = arg;
  if (s->n == 0)
    probe();
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 4096;
    s->e = realloc(s->e, s->cap * sizeof *s->e);
    if (!s->e)
      mt_oom();
  }
  s->e[s->n++] = (entry){key_num(r), row_of(r), r->key_len};
  return 0;
}

/* ------------------------------------------------------------------ the cap */
static int g_nofile_low; /* SORT_FDS_NOFILE was set */
static int expected_cap(int steps) {
  struct rlimit rl;
  uint64_t lim = 1024;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    lim = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
  uint64_t cap = lim / 2 / (uint64_t)steps;
  return cap < 4 ? 4 : cap > 64 ? 64 : (int)cap;
}

/* ------------------------------------------------------------------ one case */
typedef struct fcase {
  int by_key;    /* sl_flow_sort_by_key, else sl_flow_sort */
  int desc;      /* descending */
  int mixed;     /* 3-byte keys mixed in: general runs */
  int src_parts; /* source partitions: 1 (all on rank 0), or 0 (one per rank) */
  int tie_row;   /* sl_flow_sort's comparator breaks ties by row */
} fcase;

static void run_case(const fcase *c) {
  char what[200];
  snprintf(what, sizeof what, "%s(%s%s, %s source partition%s%s, 8K memory)",
           c->by_key ? "sort_by_key" : "sort", c->desc ? "descending" : "ascending",
           c->mixed ? ", 8- and 3-byte keys" : ", 16-byte records", c->src_parts ? "one" : "a",
           c->src_parts ? "" : " per rank", c->tie_row ? ", ties by row" : "");
  int64_t n = (int64_t)RECS_PER_RANK * g_size;
  input in;
  input_make(&in, n, c->mixed);
  EXPECT_RC(sl_option_set(g_ctx, "sort-memory-bytes", "8K"), SL_OK);

  sink s = {0};
  sl_flow *f = NULL;
  EXPECT_RC(sl_flow_create(g_ctx, &f), SL_OK);
  EXPECT_RC(sl_flow_from_array(f, in.recs, (size_t)n, c->src_parts), SL_OK);
  if (c->by_key)
    EXPECT_RC(sl_flow_sort_by_key(f, key_fn, NULL, c->desc), SL_OK);
  else
    EXPECT_RC(sl_flow_sort(f, c->tie_row ? cmp_key_row : cmp_key, NULL, c->desc), SL_OK);
  EXPECT_RC(sl_flow_to_callback(f, sink_fn, &s), SL_OK);
  g_calls = 0;
  g_max_open = 0;
  int rc = sl_run(f);
  EXPECT_RC(rc, SL_OK);
  EXPECT_RC(sl_option_set(g_ctx, "sort-memory-bytes", "256M"), SL_OK);
  EXPECT_TRUE(mt_dir_entries(g_tmpdir) == 0, "%s: %d files left in %s", what,
              mt_dir_entries(g_tmpdir), g_tmpdir);

  /* the bound: cap per sort step; the steps here are the local source partitions and the
   * sorted stage's partition (at one rank the records pass through SORT_SPLIT) */
  int src_here = c->src_parts == 1 ? g_rank == 0 : 1;
  int steps = src_here + 1, cap = expected_cap(steps);
  int bound = g_size == 1 ? cap : cap * steps;
  EXPECT_TRUE(g_max_open <= bound,
              "%s: %d spill files open at once on this rank, expected at most %d (%d per sort "
              "step)",
              what, g_max_open, bound, cap);
  /* enough records here for well over 3 times the cap of runs (4K of records each) */
  size_t bytes = s.n * 16;
  if (g_size == 1)
    EXPECT_TRUE(bytes / 4096 > (size_t)3 * (size_t)cap,
                "%s: %zu bytes of records: %zu runs, expected more than 3 x %d", what, bytes,
                bytes / 4096, cap);
  if (getenv("SORT_TEST_VERBOSE"))
    fprintf(stderr, "[rank %d] %s: %zu records, ~%zu runs, at most %d spill files open (cap %d)\n",
            g_rank, what, s.n, bytes / 4096, g_max_open, cap);

  /* gather (key, row, klen) triples to rank 0, with each rank's count */
  int cnt = (int)s.n;
  int *cnts = xcalloc((size_t)g_size, sizeof *cnts),
      *displs = xcalloc((size_t)g_size, sizeof *displs);
  MPI_Gather(&cnt, 1, MPI_INT, cnts, 1, MPI_INT, 0, MPI_COMM_WORLD);
  size_t total = 0;
  if (g_rank == 0)
    for (int r = 0; r < g_size; r++) {
      displs[r] = (int)(total * sizeof(entry));
      total += (size_t)cnts[r];
      cnts[r] *= (int)sizeof(entry);
    }
  entry *all = xcalloc(total, sizeof *all);
  MPI_Gatherv(s.e ? (void *)s.e : (void *)&total, cnt * (int)sizeof(entry), MPI_BYTE, all, cnts,
              displs, MPI_BYTE, 0, MPI_COMM_WORLD);

  if (g_rank == 0) {
    int64_t *order = xcalloc((size_t)n, sizeof *order);
    for (int64_t i = 0; i < n; i++)
      order[i] = i;
    q_in = &in;
    q_desc = c->desc;
    qsort(order, (size_t)n, sizeof *order, q_order);
    EXPECT_TRUE(total == (size_t)n, "%s: %zu records, expected %lld", what, total, (long long)n);
    unsigned char *seen = xcalloc((size_t)n, 1);
    int wrong = 0, badkey = 0, unstable = 0;
    /* the oracle's rows: everywhere with tie_row (a total order), and at one rank from one
     * source partition; at more ranks from one source partition, equal keys in increasing
     * rows within each rank; from several, the sources interleave (only the keys count) */
    int exact = c->tie_row || (g_size == 1 && c->src_parts == 1), arrival = c->src_parts == 1;
    size_t pos = 0;
    for (int r = 0; r < g_size; r++) {
      size_t end = pos + (size_t)cnts[r] / sizeof(entry);
      for (size_t i = pos; i < end && i < total; i++) {
        const entry *e = &all[i];
        const sl_record *ir = e->row >= 0 && e->row < n ? &in.recs[e->row] : NULL;
        if (!ir || seen[e->row] || key_num(ir) != e->key || ir->key_len != e->klen) {
          if (wrong++ < 3) {
            MT_LOC();
            fprintf(stderr, "%s: output %zu (row %lld, key %llu) is not an input row, or again\n",
                    what, i, (long long)e->row, (unsigned long long)e->key);
          }
          continue;
        }
        seen[e->row] = 1;
        if (i < (size_t)n && key_num(&in.recs[order[i]]) != e->key && badkey++ < 3) {
          MT_LOC();
          fprintf(stderr, "%s: position %zu has key %llu, the stable sort key %llu\n", what, i,
                  (unsigned long long)e->key, (unsigned long long)key_num(&in.recs[order[i]]));
        }
        int ok;
        if (exact) { /* (the cases with tie_row are ascending: the oracle's order) */
          ok = i < (size_t)n && e->row == order[i];
        } else if (arrival) {
          ok = i == pos || all[i - 1].key != e->key || all[i - 1].row < e->row;
        } else { /* several sources: their records interleave, arrival is not row order */
          ok = 1;
        }
        if (!ok && unstable++ < 3) {
          MT_LOC();
          fprintf(stderr,
                  "%s: position %zu (rank %d) has row %lld: equal keys out of arrival "
                  "order\n",
                  what, i, r, (long long)e->row);
        }
      }
      pos = end;
    }
    EXPECT_TRUE(wrong == 0, "%s: %d records not from the input, or repeated", what, wrong);
    EXPECT_TRUE(badkey == 0, "%s: %d positions with another key than the stable sort's", what,
                badkey);
    EXPECT_TRUE(unstable == 0, "%s: %d records out of arrival order among equal keys", what,
                unstable);
    free(seen);
    free(order);
  }
  free(all);
  free(cnts);
  free(displs);
  free(s.e);
  sl_flow_destroy(&f);
  input_free(&in);
}

/* ------------------------------------------------------------------ tests */
/* sl_flow_sort, one source partition (all records arrive in one order), key-only
 * comparator: equal keys must stay in arrival order through the merge passes. */
static void test_sort_stable(void) {
  fcase c = {0, 0, 0, 1, 0};
  run_case(&c);
}
/* the same, descending, with general runs (3-byte keys from row n / 3 on) */
static void test_sort_stable_mixed_desc(void) {
  fcase c = {0, 1, 1, 1, 0};
  run_case(&c);
}
/* a source partition per rank (every rank's SORT_SPLIT spills), ties broken by row: the
 * whole output is the oracle's, row by row */
static void test_sort_total_order(void) {
  fcase c = {0, 0, 1, 0, 1};
  run_case(&c);
}
/* sl_flow_sort_by_key (radix-sorted runs, the merge by cached keys) */
static void test_sort_by_key_stable(void) {
  fcase c = {1, 0, 0, 1, 0};
  run_case(&c);
}
static void test_sort_by_key_mixed_desc(void) {
  fcase c = {1, 1, 1, 0, 0};
  run_case(&c);
}

static const mt_test tests[] = {
    {"sort_stable", test_sort_stable},
    {"sort_stable_mixed_desc", test_sort_stable_mixed_desc},
    {"sort_total_order", test_sort_total_order},
    {"sort_by_key_stable", test_sort_by_key_stable},
    {"sort_by_key_mixed_desc", test_sort_by_key_mixed_desc},
    {NULL, NULL},
};

static void setup(void) {
  snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/sluice-sortfds-XXXXXX");
  if (!mkdtemp(g_tmpdir)) {
    perror("mkdtemp");
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  if (sl_option_set(g_ctx, "tmpdir", g_tmpdir) != SL_OK)
    MPI_Abort(MPI_COMM_WORLD, 3);
  if (g_nofile_low && g_rank == 0) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    fprintf(stderr, "open file limit %llu, %d files open after sl_init\n",
            (unsigned long long)rl.rlim_cur, count_fds());
  }
}
static void teardown(void) {
  rmdir(g_tmpdir);
}

int main(int argc, char **argv) {
  /* the low limit before sl_init, so that MPI lives under it too, as under 'ulimit -n' */
  const char *lim = getenv("SORT_FDS_NOFILE");
  if (lim && *lim) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
      return 2;
    rl.rlim_cur = (rlim_t)strtoull(lim, NULL, 10);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      perror("setrlimit(RLIMIT_NOFILE)");
      return 2;
    }
    g_nofile_low = 1;
  }
  return mt_main_with(argc, argv, "sort_fds", tests, setup, teardown);
}
