/* SPDX-License-Identifier: BSD-3-Clause */
/* HDF5 inputs are checked to be what they were (issue 10, point 3):
 *  - a file changed while it is read (truncated, grown, rewritten in place, replaced by a
 *    copy or by a FIFO) fails the run with SL_ERR_IO on every rank, with independent and
 *    with collective transfers, instead of giving zeros or a mix of two files;
 *  - a chunk address past the end of the file fails the run on every rank with collective
 *    transfers too (HDF5 1.10's collective read fills it with zeros): SL_ERR_FORMAT found
 *    at prepare, and with more chunks than the prepare scan checks, the independent reads
 *    the source falls back to;
 *  - a FIFO as input is refused (SL_ERR_USAGE) before anything opens it (no hang);
 *  - a dataset reached through an external link, and a virtual one, read every row (the
 *    files they name are found relative to the input's folder).
 * Good files read every row once (count and sum against the closed form). Small read blocks
 * give many reads per partition, so the changes land mid-read. Run under ctest's timeout.
 *   mpirun -n N test_h5_inputs DIR      the tests
 *   test_h5_inputs make DIR             inputs for test_h5_inputs.sh (no MPI) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice.h>

#include "h5test.h"

#define ROWS 60000
#define CHUNK 256
#define MANY_ROWS 20000 /* chunks of 4 rows: 5000 chunks, more than the prepare scan checks */

static sl_ctx *ctx;
static int rank, size;
static char dir[4096];

/* /v: doubles 1..rows, chunked (chunk 0: contiguous). */
static void write_file(const char *path, hsize_t rows, hsize_t chunk) {
  double *v = malloc(rows * sizeof *v);
  if (!v)
    abort();
  for (hsize_t i = 0; i < rows; i++)
    v[i] = (double)(i + 1);
  hid_t fapl = h5t_fapl();
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5_OK(f);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (chunk)
    H5_OK(H5Pset_chunk(dcpl, 1, &chunk));
  hid_t sp = H5Screate_simple(1, &rows, NULL);
  hid_t d = H5Dcreate2(f, "/v", H5T_IEEE_F64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5_OK(d);
  H5_OK(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
  H5Dclose(d);
  H5Sclose(sp);
  H5Pclose(dcpl);
  H5_OK(H5Fclose(f));
  H5Pclose(fapl);
  free(v);
}

/* Overwrite the index entry of the chunk at `row` with an address past the end of the
 * file (the 8-byte address occurs once in the file: in the chunk index). Returns 0 when
 * done. */
static int corrupt_chunk(const char *path, hsize_t row) {
  hid_t fapl = h5t_fapl();
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  hid_t d = H5Dopen2(f, "/v", H5P_DEFAULT);
  unsigned mask = 0;
  haddr_t addr = HADDR_UNDEF;
  hsize_t nbytes = 0;
  H5_OK(H5Dget_chunk_info_by_coord(d, &row, &mask, &addr, &nbytes));
  H5Dclose(d);
  H5Fclose(f);
  H5Pclose(fapl);
  FILE *fp = fopen(path, "r+b");
  if (!fp)
    return -1;
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  unsigned char *b = malloc((size_t)n);
  fseek(fp, 0, SEEK_SET);
  if (!b || fread(b, 1, (size_t)n, fp) != (size_t)n) {
    fclose(fp);
    free(b);
    return -1;
  }
  uint64_t was = addr, past = (uint64_t)n + 4096;
  long at = -1;
  int hits = 0;
  for (long i = 0; i + 8 <= n; i++)
    if (!memcmp(b + i, &was, 8)) {
      hits++;
      at = i;
    }
  free(b);
  if (hits != 1) {
    fprintf(stderr, "corrupt_chunk: address %llu found %d times in %s\n", (unsigned long long)was,
            hits, path);
    fclose(fp);
    return -1;
  }
  fseek(fp, at, SEEK_SET);
  int ok = fwrite(&past, 8, 1, fp) == 1;
  return fclose(fp) == 0 && ok ? 0 : -1;
}

/* Every rank: the same outcome, and it is `want`. */
static void expect_all(int rc, int want, const char *what) {
  int lo = 0, hi = 0;
  MPI_Allreduce(&rc, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&rc, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  T_CHECK(lo == want && hi == want, "%s: rank %d got %s (all ranks: %d..%d), expected %s", what,
          rank, sl_err_name(rc), lo, hi, sl_err_name(want));
  if (rank == 0)
    printf("%s %s: %s on every rank\n", lo == want && hi == want ? "ok" : "FAIL", what,
           sl_err_name(want));
}

enum { NONE, TRUNCATE, GROW, TOUCH, REPLACE, FIFO };
static const char *change_name[] = {"unchanged",
                                    "truncated",
                                    "grown",
                                    "rewritten (new mtime)",
                                    "replaced by an identical copy",
                                    "replaced by a FIFO"};

/* The change, made by rank 0 at its `after`-th row (its partition still has blocks to
 * read). */
static void change_file(int kind, const char *path) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    abort();
  if (kind == TRUNCATE && truncate(path, sb.st_size / 2) != 0)
    abort();
  if (kind == GROW) {
    int fd = open(path, O_WRONLY | O_APPEND);
    char z[4096] = {0};
    if (fd < 0 || write(fd, z, sizeof z) != (ssize_t)sizeof z)
      abort();
    close(fd);
  }
  if (kind == TOUCH) {
    struct timespec ts[2] = {sb.st_atim, sb.st_mtim};
    ts[1].tv_sec += 7;
    if (utimensat(AT_FDCWD, path, ts, 0) != 0)
      abort();
  }
  if (kind == REPLACE) { /* same bytes, same size and times: only the inode differs */
    char tmp[4300], cmd[9000];
    snprintf(tmp, sizeof tmp, "%s.copy", path);
    snprintf(cmd, sizeof cmd, "cp -p '%s' '%s'", path, tmp);
    if (system(cmd) != 0 || rename(tmp, path) != 0)
      abort();
  }
  if (kind == FIFO) {
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.fifo", path);
    if (mkfifo(tmp, 0600) != 0 || rename(tmp, path) != 0)
      abort();
  }
}

typedef struct watcher {
  int kind;
  uint64_t after, seen;
  const char *path;
  double sum;
} watcher;

static int map_watch(const sl_record *in, sl_record *out, void *arg) {
  watcher *w = arg;
  *out = *in;
  double v;
  memcpy(&v, in->value, sizeof v);
  w->sum += v;
  if (rank == 0 && w->kind != NONE && ++w->seen == w->after)
    change_file(w->kind, w->path);
  return 0;
}

/* source -> map (sums; changes the file on rank 0) -> count; every rank's code checked;
 * on success, every row once. */
static void run_spec(const char *files, int nfiles, const char *path, uint64_t rows, int transfer,
                     int kind, int want, const char *what) {
  char spec[4400], label[600];
  snprintf(spec, sizeof spec, "%s:/v", files);
  snprintf(label, sizeof label, "%s, %s, %s", what, change_name[kind],
           transfer == SL_H5_XFER_COLLECTIVE ? "collective" : "independent");
  const char *specs[1] = {spec};
  sl_h5_opts o = {0};
  o.transfer = transfer;
  sl_flow *flow = NULL;
  uint64_t count = 0;
  watcher w = {kind, 700, 0, path, 0};
  if (sl_flow_create(ctx, &flow) != SL_OK)
    MPI_Abort(MPI_COMM_WORLD, 1);
  sl_flow_from_h5(flow, specs, 1, &o, 0);
  sl_flow_map(flow, map_watch, &w);
  sl_flow_to_count(flow, &count);
  int rc = sl_run(flow);
  sl_flow_destroy(&flow);
  expect_all(rc, want, label);
  if (want == SL_OK) {
    double sum = 0;
    MPI_Allreduce(&w.sum, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    double exp = nfiles * ((double)rows * (double)(rows + 1) / 2);
    T_CHECK(count == nfiles * rows && sum == exp,
            "%s: %llu rows summing to %.17g, expected %llu and %.17g", label,
            (unsigned long long)count, sum, (unsigned long long)(nfiles * rows), exp);
  }
}

static void run_case(const char *path, uint64_t rows, int transfer, int kind, int want,
                     const char *what) {
  run_spec(path, 1, path, rows, transfer, kind, want, what);
}

/* link.h5: /v an external link to "target.h5" (a name relative to link.h5's folder);
 * vds.h5: /v a virtual dataset of the rows of "target.h5" /v. The source opens these by
 * path (other files are named relative to the file's own): read with independent
 * transfers and the default driver, every row once. */
static void write_linked(const char *d, hsize_t rows) {
  char target[4300], link[4300], vds[4300];
  snprintf(target, sizeof target, "%s/target.h5", d);
  snprintf(link, sizeof link, "%s/link.h5", d);
  snprintf(vds, sizeof vds, "%s/vds.h5", d);
  write_file(target, rows, CHUNK);
  hid_t fapl = h5t_fapl();
  hid_t f = H5Fcreate(link, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5_OK(f);
  H5_OK(H5Lcreate_external("target.h5", "/v", f, "/v", H5P_DEFAULT, H5P_DEFAULT));
  H5_OK(H5Fclose(f));
  f = H5Fcreate(vds, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5_OK(f);
  hid_t sp = H5Screate_simple(1, &rows, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5_OK(H5Pset_virtual(dcpl, sp, "target.h5", "/v", sp));
  hid_t ds = H5Dcreate2(f, "/v", H5T_IEEE_F64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5_OK(ds);
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(sp);
  H5_OK(H5Fclose(f));
  H5Pclose(fapl);
}

/* rank 0 writes (and maybe corrupts) path; every rank waits */
static void make_input(const char *path, hsize_t rows, hsize_t chunk, long corrupt_row) {
  int ok = 1;
  if (rank == 0) {
    unlink(path);
    write_file(path, rows, chunk);
    if (corrupt_row >= 0)
      ok = corrupt_chunk(path, (hsize_t)corrupt_row) == 0;
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok)
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static int make_only(const char *d) {
  char p[4300];
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  snprintf(p, sizeof p, "%s/chunks.h5", d);
  write_file(p, ROWS, CHUNK);
  snprintf(p, sizeof p, "%s/badchunk.h5", d);
  write_file(p, ROWS, CHUNK);
  if (corrupt_chunk(p, 100 * CHUNK) != 0)
    return 1;
  snprintf(p, sizeof p, "%s/manybad.h5", d);
  write_file(p, MANY_ROWS, 4);
  return corrupt_chunk(p, 3000 * 4) != 0;
}

int main(int argc, char **argv) {
  if (argc > 2 && !strcmp(argv[1], "make"))
    return make_only(argv[2]);
  /* small read blocks: 512 rows per read, many reads per partition */
  char *args[4];
  int n = 0;
  args[n++] = argv[0];
  args[n++] = "--sl-read-block-bytes=4K";
  args[n] = NULL;
  char **av = args;
  if (sl_init(&n, &av, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 1;
  rank = sl_rank(ctx);
  size = sl_size(ctx);
  h5t_workdir(argc, argv, "h5inputs", size, dir, sizeof dir);
  char path[4300], path2[4300], glob[4300];
  snprintf(path, sizeof path, "%s/in.h5", dir);
  snprintf(path2, sizeof path2, "%s/in2.h5", dir);
  snprintf(glob, sizeof glob, "%s/in*.h5", dir);

  const int xfers[2] = {SL_H5_XFER_INDEPENDENT, SL_H5_XFER_COLLECTIVE};
  for (int x = 0; x < 2; x++) {
    for (int kind = NONE; kind <= FIFO; kind++) {
      make_input(path, ROWS, CHUNK, -1);
      run_case(path, ROWS, xfers[x], kind, kind == NONE ? SL_OK : SL_ERR_IO, "chunked");
    }
    make_input(path, ROWS, 0, -1);
    run_case(path, ROWS, xfers[x], TRUNCATE, SL_ERR_IO, "contiguous");
    /* two files (a glob): the first changes while read, found when the reads move on to
     * the second (collective: an agreed check at the file switch) or at the end */
    make_input(path, ROWS, CHUNK, -1);
    make_input(path2, ROWS, CHUNK, -1);
    run_spec(glob, 2, path, ROWS, xfers[x], NONE, SL_OK, "two files");
    for (int kind = TRUNCATE; kind <= REPLACE; kind++) {
      make_input(path, ROWS, CHUNK, -1);
      run_spec(glob, 2, path, ROWS, xfers[x], kind, SL_ERR_IO, "two files, the first");
    }
  }

  /* a chunk address past the end of the file */
  make_input(path, ROWS, CHUNK, 100 * CHUNK);
  run_case(path, ROWS, SL_H5_XFER_COLLECTIVE, NONE, SL_ERR_FORMAT, "chunk past the end");
  run_case(path, ROWS, SL_H5_XFER_INDEPENDENT, NONE, SL_ERR_IO, "chunk past the end");
  /* beyond the prepare scan: read with independent transfers, which check each chunk */
  make_input(path, MANY_ROWS, 4, -1);
  run_case(path, MANY_ROWS, SL_H5_XFER_COLLECTIVE, NONE, SL_OK, "5000 chunks");
  make_input(path, MANY_ROWS, 4, 3000 * 4);
  run_case(path, MANY_ROWS, SL_H5_XFER_COLLECTIVE, NONE, SL_ERR_IO,
           "5000 chunks, one past the end");

  /* datasets whose rows lie in another file, named relative to the input's folder */
  if (rank == 0)
    write_linked(dir, ROWS);
  MPI_Barrier(MPI_COMM_WORLD);
  char other[4300];
  snprintf(other, sizeof other, "%s/link.h5", dir);
  run_case(other, ROWS, SL_H5_XFER_INDEPENDENT, NONE, SL_OK, "an external link");
  snprintf(other, sizeof other, "%s/vds.h5", dir);
  run_case(other, ROWS, SL_H5_XFER_INDEPENDENT, NONE, SL_OK, "a virtual dataset");

  /* a FIFO given as input: refused before any open (which would block without a writer) */
  if (rank == 0) {
    unlink(path);
    if (mkfifo(path, 0600) != 0)
      MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  for (int x = 0; x < 2; x++)
    run_case(path, ROWS, xfers[x], NONE, SL_ERR_USAGE, "a FIFO as input");

  int tot = 0;
  MPI_Allreduce(&h5t_failures, &tot, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) {
    unlink(path);
    unlink(path2);
    const char *more[] = {"target.h5", "link.h5", "vds.h5"};
    for (int i = 0; i < 3; i++) {
      snprintf(other, sizeof other, "%s/%s", dir, more[i]);
      unlink(other);
    }
    rmdir(dir);
    printf("test_h5_inputs: %d ranks, %d failure(s)\n", size, tot);
  }
  sl_finalize(&ctx);
  return tot ? 1 : 0;
}
