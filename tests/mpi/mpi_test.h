/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared by the MPI test programs in tests/mpi: a CUnit main that runs one suite on every
 * rank and sums the failures over the ranks, assertions that print the rank and both
 * sides, record multisets (build, sort, gather to rank 0, compare), temporary folders and
 * small file helpers.
 *
 * Rules every test follows (a test that breaks them can hang the job):
 *   - every rank runs the same collective calls (sl_run, MPI_*) in the same order, so no
 *     assertion is fatal and no test returns early on one rank only;
 *   - expected results come from a sequential oracle computed in the test itself;
 *   - data are small (KBs to a few MB). */
#ifndef SLUICE_TESTS_MPI_TEST_H
#define SLUICE_TESTS_MPI_TEST_H

#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <CUnit/TestRun.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice.h"

static sl_ctx *g_ctx;
static int g_rank, g_size;

/* ---- assertions (non-fatal, print the rank) ---- */
#define MT_LOC() fprintf(stderr, "\n[rank %d of %d] %s:%d: ", g_rank, g_size, __FILE__, __LINE__)

#define EXPECT_INT(actual, expected)                                                               \
  do {                                                                                             \
    long long a_ = (long long)(actual), e_ = (long long)(expected);                                \
    if (a_ != e_) {                                                                                \
      MT_LOC();                                                                                    \
      fprintf(stderr, "%s is %lld, expected %lld\n", #actual, a_, e_);                             \
    }                                                                                              \
    CU_ASSERT(a_ == e_);                                                                           \
  } while (0)

#define EXPECT_U64(actual, expected)                                                               \
  do {                                                                                             \
    uint64_t a_ = (uint64_t)(actual), e_ = (uint64_t)(expected);                                   \
    if (a_ != e_) {                                                                                \
      MT_LOC();                                                                                    \
      fprintf(stderr, "%s is %" PRIu64 ", expected %" PRIu64 "\n", #actual, a_, e_);               \
    }                                                                                              \
    CU_ASSERT(a_ == e_);                                                                           \
  } while (0)

/* An sl_* return code, printed by name. */
#define EXPECT_RC(actual, expected)                                                                \
  do {                                                                                             \
    int a_ = (actual), e_ = (expected);                                                            \
    if (a_ != e_) {                                                                                \
      MT_LOC();                                                                                    \
      fprintf(stderr, "%s returned %d (%s), expected %d (%s)\n", #actual, a_, sl_err_name(a_), e_, \
              sl_err_name(e_));                                                                    \
    }                                                                                              \
    CU_ASSERT(a_ == e_);                                                                           \
  } while (0)

#define EXPECT_TRUE(cond, ...)                                                                     \
  do {                                                                                             \
    int ok_ = (cond) ? 1 : 0;                                                                      \
    if (!ok_) {                                                                                    \
      MT_LOC();                                                                                    \
      fprintf(stderr, "expected %s: ", #cond);                                                     \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, "\n");                                                                       \
    }                                                                                              \
    CU_ASSERT(ok_);                                                                                \
  } while (0)

/* |a - b| <= tol * max(1, |a|, |b|) */
static inline int mt_close(double a, double b, double tol) {
  if (a == b)
    return 1;
  double m = 1.0, fa = a < 0 ? -a : a, fb = b < 0 ? -b : b;
  if (fa > m)
    m = fa;
  if (fb > m)
    m = fb;
  double d = a - b;
  if (d < 0)
    d = -d;
  return d <= tol * m;
}

/* A code returned on every rank must be the same everywhere: returns 1 if so. */
static inline int mt_same_everywhere(int rc) {
  int mn, mx;
  MPI_Allreduce(&rc, &mn, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&rc, &mx, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return mn == mx;
}

static inline uint64_t mt_sum_u64(uint64_t v) {
  uint64_t s = 0;
  MPI_Allreduce(&v, &s, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  return s;
}

static inline int mt_all_true(int v) {
  int all = 0;
  v = v ? 1 : 0;
  MPI_Allreduce(&v, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all;
}

/* ---- deterministic input ---- */
static inline uint64_t mt_mix(uint64_t x) { /* splitmix64 */
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

static inline int64_t mt_i64(const void *p) {
  int64_t v;
  memcpy(&v, p, 8);
  return v;
}
static inline uint64_t mt_u64(const void *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
static inline double mt_f64(const void *p) {
  double v;
  memcpy(&v, p, 8);
  return v;
}

/* ---- record multisets ---- */
typedef struct mt_recs {
  char *buf; /* [u32 klen][u32 vlen][key][value] ... */
  size_t len, cap;
  size_t *off;
  size_t n, ncap;
} mt_recs;

static inline void mt_oom(void) {
  fprintf(stderr, "[rank %d] test: out of memory\n", g_rank);
  MPI_Abort(MPI_COMM_WORLD, 3);
}

static inline void mt_recs_add(mt_recs *r, const void *k, size_t kl, const void *v, size_t vl) {
  size_t need = 8 + kl + vl;
  if (r->cap - r->len < need) {
    size_t cap = r->cap ? r->cap : 4096;
    while (cap - r->len < need)
      cap *= 2;
    char *nb = realloc(r->buf, cap);
    if (!nb)
      mt_oom();
    r->buf = nb;
    r->cap = cap;
  }
  if (r->n == r->ncap) {
    size_t nc = r->ncap ? 2 * r->ncap : 256;
    size_t *no = realloc(r->off, nc * sizeof *no);
    if (!no)
      mt_oom();
    r->off = no;
    r->ncap = nc;
  }
  uint32_t k32 = (uint32_t)kl, v32 = (uint32_t)vl;
  char *p = r->buf + r->len;
  memcpy(p, &k32, 4);
  memcpy(p + 4, &v32, 4);
  if (kl)
    memcpy(p + 8, k, kl);
  if (vl)
    memcpy(p + 8 + kl, v, vl);
  r->off[r->n++] = r->len;
  r->len += need;
}

static inline void mt_recs_add_rec(mt_recs *r, const sl_record *rec) {
  mt_recs_add(r, rec->key, rec->key_len, rec->value, rec->value_len);
}

static inline sl_record mt_recs_get(const mt_recs *r, size_t i) {
  const char *p = r->buf + r->off[i];
  uint32_t k32, v32;
  memcpy(&k32, p, 4);
  memcpy(&v32, p + 4, 4);
  sl_record rec = {p + 8, k32, p + 8 + k32, v32};
  return rec;
}

static inline void mt_recs_free(mt_recs *r) {
  free(r->buf);
  free(r->off);
  memset(r, 0, sizeof *r);
}

static inline int mt_bytes_cmp(const void *a, size_t al, const void *b, size_t bl) {
  size_t m = al < bl ? al : bl;
  int c = m ? memcmp(a, b, m) : 0;
  if (c)
    return c;
  return al < bl ? -1 : al > bl;
}

static inline int mt_rec_cmp(const sl_record *a, const sl_record *b) {
  int c = mt_bytes_cmp(a->key, a->key_len, b->key, b->key_len);
  return c ? c : mt_bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}

static const mt_recs *mt_sort_base;
static inline int mt_off_cmp(const void *x, const void *y) {
  const char *b = mt_sort_base->buf;
  size_t ox = *(const size_t *)x, oy = *(const size_t *)y;
  uint32_t kx, vx, ky, vy;
  memcpy(&kx, b + ox, 4);
  memcpy(&vx, b + ox + 4, 4);
  memcpy(&ky, b + oy, 4);
  memcpy(&vy, b + oy + 4, 4);
  sl_record rx = {b + ox + 8, kx, b + ox + 8 + kx, vx}, ry = {b + oy + 8, ky, b + oy + 8 + ky, vy};
  return mt_rec_cmp(&rx, &ry);
}

static inline void mt_recs_sort(mt_recs *r) {
  mt_sort_base = r;
  if (r->n > 1)
    qsort(r->off, r->n, sizeof *r->off, mt_off_cmp);
  mt_sort_base = NULL;
}

static inline void mt_print_bytes(FILE *f, const void *p, size_t n) {
  const unsigned char *s = p;
  size_t show = n < 48 ? n : 48;
  fputc('"', f);
  for (size_t i = 0; i < show; i++) {
    if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
      fputc(s[i], f);
    else
      fprintf(f, "\\x%02x", s[i]);
  }
  fputc('"', f);
  if (show < n)
    fprintf(f, "...(%zu bytes)", n);
}

static inline void mt_print_rec(FILE *f, const sl_record *r) {
  fputc('(', f);
  mt_print_bytes(f, r->key, r->key_len);
  fputs(", ", f);
  mt_print_bytes(f, r->value, r->value_len);
  fputc(')', f);
}

/* Sorts both and compares them as multisets; prints the first difference. */
static inline int mt_recs_equal_(mt_recs *got, mt_recs *exp, const char *what, const char *file,
                                 int line) {
  mt_recs_sort(got);
  mt_recs_sort(exp);
  size_t n = got->n < exp->n ? got->n : exp->n;
  for (size_t i = 0; i < n; i++) {
    sl_record a = mt_recs_get(got, i), b = mt_recs_get(exp, i);
    if (mt_rec_cmp(&a, &b) != 0) {
      fprintf(stderr,
              "\n[rank %d of %d] %s:%d: %s: %zu records, expected %zu; sorted, record %zu is ",
              g_rank, g_size, file, line, what, got->n, exp->n, i);
      mt_print_rec(stderr, &a);
      fprintf(stderr, ", expected ");
      mt_print_rec(stderr, &b);
      fprintf(stderr, "\n");
      return 0;
    }
  }
  if (got->n != exp->n) {
    fprintf(stderr,
            "\n[rank %d of %d] %s:%d: %s: %zu records, expected %zu (the first %zu agree); next: ",
            g_rank, g_size, file, line, what, got->n, exp->n, n);
    sl_record x = n < got->n ? mt_recs_get(got, n) : mt_recs_get(exp, n);
    fprintf(stderr, "%s ", n < got->n ? "extra" : "missing");
    mt_print_rec(stderr, &x);
    fprintf(stderr, "\n");
    return 0;
  }
  return 1;
}
#define EXPECT_RECS_EQUAL(got, exp, what)                                                          \
  CU_ASSERT(mt_recs_equal_((got), (exp), (what), __FILE__, __LINE__))

static inline void mt_recs_from_collection(mt_recs *r, const sl_collection *c) {
  size_t n = sl_collection_count(c);
  for (size_t i = 0; i < n; i++) {
    sl_record rec;
    if (sl_collection_get(c, i, &rec) != SL_OK) {
      MT_LOC();
      fprintf(stderr, "sl_collection_get(%zu) failed\n", i);
      CU_FAIL("sl_collection_get failed");
      return;
    }
    mt_recs_add_rec(r, &rec);
  }
}

/* Collective: every rank's records end up in *all on rank 0 (other ranks: left empty). */
static inline void mt_recs_gather0(const mt_recs *mine, mt_recs *all) {
  int len = (int)mine->len;
  int *lens = g_rank == 0 ? calloc((size_t)g_size, sizeof *lens) : NULL;
  int *displs = g_rank == 0 ? calloc((size_t)g_size, sizeof *displs) : NULL;
  MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
  char *buf = NULL;
  size_t total = 0;
  if (g_rank == 0) {
    for (int r = 0; r < g_size; r++) {
      displs[r] = (int)total;
      total += (size_t)lens[r];
    }
    buf = malloc(total ? total : 1);
    if (!buf)
      mt_oom();
  }
  MPI_Gatherv(mine->buf ? mine->buf : "", len, MPI_BYTE, buf, lens, displs, MPI_BYTE, 0,
              MPI_COMM_WORLD);
  if (g_rank == 0) {
    size_t pos = 0;
    while (pos + 8 <= total) {
      uint32_t k32, v32;
      memcpy(&k32, buf + pos, 4);
      memcpy(&v32, buf + pos + 4, 4);
      mt_recs_add(all, buf + pos + 8, k32, buf + pos + 8 + k32, v32);
      pos += 8 + (size_t)k32 + v32;
    }
  }
  free(buf);
  free(lens);
  free(displs);
}

/* A to_callback sink that appends to an mt_recs. */
static inline int mt_sink_recs(const sl_record *rec, void *arg) {
  mt_recs_add_rec((mt_recs *)arg, rec);
  return 0;
}

/* ---- options ---- */
typedef struct mt_saved_opt {
  char name[64];
  char value[256];
} mt_saved_opt;

/* Set an option, remembering its old value in *saved (restore with mt_opt_restore). */
static inline void mt_opt_set(mt_saved_opt *saved, const char *name, const char *value) {
  const char *old = NULL;
  snprintf(saved->name, sizeof saved->name, "%s", name);
  saved->value[0] = 0;
  if (sl_option_get(g_ctx, name, &old) == SL_OK && old)
    snprintf(saved->value, sizeof saved->value, "%s", old);
  EXPECT_RC(sl_option_set(g_ctx, name, value), SL_OK);
}
static inline void mt_opt_restore(const mt_saved_opt *saved) {
  EXPECT_RC(sl_option_set(g_ctx, saved->name, saved->value), SL_OK);
}

/* ---- temporary folders and files ---- */
/* Collective: rank 0 creates a fresh folder under /tmp and every rank gets its path. */
static inline void mt_tmpdir(char path[256]) {
  memset(path, 0, 256);
  if (g_rank == 0) {
    snprintf(path, 256, "/tmp/sluice-mpitest-XXXXXX");
    if (!mkdtemp(path)) {
      perror("mkdtemp");
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
  }
  MPI_Bcast(path, 256, MPI_CHAR, 0, MPI_COMM_WORLD);
}

static inline void mt_rmtree_local(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0)
    return;
  if (S_ISDIR(sb.st_mode)) {
    chmod(path, 0700);
    DIR *d = opendir(path);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
          continue;
        char sub[4096];
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) < (int)sizeof sub)
          mt_rmtree_local(sub);
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

/* Collective: removes the folder (rank 0, after every rank is done with it). */
static inline void mt_rmtree(const char *path) {
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0)
    mt_rmtree_local(path);
  MPI_Barrier(MPI_COMM_WORLD);
}

/* Local: write a file (rank 0 calls it; follow with a barrier before the flow runs). */
static inline void mt_write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
    fprintf(stderr, "[rank %d] cannot write '%s': %s\n", g_rank, path, strerror(errno));
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
}

/* Local: read a whole file; returns NULL (and *len 0) if it cannot be read. */
static inline char *mt_read_file(const char *path, size_t *len) {
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  if (!buf)
    mt_oom();
  for (;;) {
    if (cap - n < 4096) {
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb)
        mt_oom();
      buf = nb;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
  }
  fclose(f);
  *len = n;
  return buf;
}

static inline int mt_file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

/* Local: number of entries in a folder (not counting . and ..), -1 if unreadable. */
static inline int mt_dir_entries(const char *path) {
  DIR *d = opendir(path);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

/* Oracle: the lines of a text file's bytes, as records with an empty key (a file that
 * does not end in '\n' still ends its last line; an empty file has none). */
static inline void mt_oracle_lines(mt_recs *r, const char *data, size_t len) {
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (data[i] == '\n') {
      mt_recs_add(r, NULL, 0, data + start, i - start);
      start = i + 1;
    }
  }
  if (start < len)
    mt_recs_add(r, NULL, 0, data + start, len - start);
}

/* ---- a growable byte buffer for building inputs ---- */
typedef struct mt_buf {
  char *p;
  size_t len, cap;
} mt_buf;

static inline void mt_buf_add(mt_buf *b, const void *data, size_t n) {
  if (b->cap - b->len < n + 1) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len < n + 1)
      cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np)
      mt_oom();
    b->p = np;
    b->cap = cap;
  }
  if (n)
    memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0;
}
static inline void mt_buf_str(mt_buf *b, const char *s) {
  mt_buf_add(b, s, strlen(s));
}
static inline void mt_buf_free(mt_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* ---- main ---- */
typedef struct mt_test {
  const char *name;
  void (*fn)(void);
} mt_test;

/* Runs the tests (those whose name contains argv[1], if given) as one suite on every
 * rank; returns nonzero if any rank had a failure. Rank 0 prints the CUnit report. */
/* setup runs after sl_init (e.g. to set options), teardown before sl_finalize; either may
 * be NULL. */
static inline int mt_main_with(int argc, char **argv, const char *suite_name, const mt_test *tests,
                               void (*setup)(void), void (*teardown)(void)) {
  int rc = sl_init(&argc, &argv, MPI_COMM_WORLD, &g_ctx);
  if (rc != SL_OK) {
    fprintf(stderr, "sl_init failed: %s\n", sl_strerror(rc));
    return 2;
  }
  /* one write per line, so that the ranks' messages do not interleave mid-line */
  setvbuf(stderr, NULL, _IOLBF, 1 << 14);
  g_rank = sl_rank(g_ctx);
  g_size = sl_size(g_ctx);
  if (setup)
    setup();
  const char *filter = argc > 1 ? argv[1] : NULL;
  if (CU_initialize_registry() != CUE_SUCCESS)
    MPI_Abort(MPI_COMM_WORLD, 2);
  char sname[128];
  snprintf(sname, sizeof sname, "%s (%d ranks)", suite_name, g_size);
  CU_pSuite suite = CU_add_suite(sname, NULL, NULL);
  if (!suite)
    MPI_Abort(MPI_COMM_WORLD, 2);
  for (const mt_test *t = tests; t->name; t++)
    if (!filter || strstr(t->name, filter))
      if (!CU_add_test(suite, t->name, t->fn))
        MPI_Abort(MPI_COMM_WORLD, 2);
  /* rank 0 reports; the others run quietly (their failures print with their rank) */
  CU_ErrorCode cue;
  if (g_rank == 0) {
    CU_basic_set_mode(CU_BRM_VERBOSE);
    cue = CU_basic_run_tests();
  } else {
    cue = CU_run_all_tests();
  }
  if (cue != CUE_SUCCESS)
    MPI_Abort(MPI_COMM_WORLD, 2);
  unsigned long mine = CU_get_number_of_failures(), total = 0;
  unsigned long tests_run = CU_get_number_of_tests_run();
  MPI_Allreduce(&mine, &total, 1, MPI_UNSIGNED_LONG, MPI_SUM, MPI_COMM_WORLD);
  if (mine)
    fprintf(stderr, "[rank %d of %d] %lu failed assertion(s)\n", g_rank, g_size, mine);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0)
    printf("\n%s on %d rank(s): %lu test(s), %lu failed assertion(s) over all ranks\n", suite_name,
           g_size, tests_run, total);
  CU_cleanup_registry();
  if (teardown)
    teardown();
  sl_finalize(&g_ctx);
  return total ? 1 : 0;
}

static inline int mt_main(int argc, char **argv, const char *suite_name, const mt_test *tests) {
  return mt_main_with(argc, argv, suite_name, tests, NULL, NULL);
}

#endif
