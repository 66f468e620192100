/* SPDX-License-Identifier: BSD-3-Clause */
/* HDF5 read and write paths against raw parallel HDF5 (docs/benchmarks.md, "HDF5").
 * Driven by tests/h5/bench_h5.sh; every mode prints one line
 *   "bench_h5 MODE ranks=N rows=R bytes=B seconds=S [...] ok"
 * where S is the slowest rank's time between two barriers (file open to close included).
 *
 *   mpirun -n N bench_h5 rawread  FILE:/dataset BLOCK_BYTES
 *       the limit: each rank opens the file with the sec2 driver (sluice's default read
 *       driver) and H5Dreads its contiguous share (the source's split: equal shares, ends
 *       rounded down to a chunk start) block by block into one buffer of BLOCK_BYTES
 *       (rounded to whole chunks when a chunk fits, as the source does), with the same
 *       chunk cache as the source (two chunks, 1 MiB .. 256 MiB; none for chunks without
 *       filters, which HDF5 then reads straight into the buffer)
 *   mpirun -n N bench_h5 slread   FILE:/dataset [collective] [--sl-read-block-bytes=...]
 *       sl_flow_from_h5 -> sl_flow_to_count (a no-op flow); "collective": the source's
 *       collective transfers (sl_h5_opts.transfer), else its default
 *   mpirun -n N bench_h5 rawwrite OUT.h5 ROWS ROUND_BYTES
 *       a raw collective write of ROWS particle rows (40 bytes) into a new chunked,
 *       extendible dataset (chunks of about 1 MiB, like the sink's default), by all ranks:
 *       each rank its contiguous share, in rounds of at most ROUND_BYTES per rank, each
 *       round's rows filled by the same row function as the generator below (included in
 *       the time, and also reported apart as fill=)
 *   mpirun -n N bench_h5 slwrite  OUT.h5 ROWS [records] [--sl-output-buffer-bytes=...]
 *       sl_flow_from_rows_generator (the same rows, filled a block at a time by the same
 *       row function) -> sl_flow_to_h5 (overwrite); "records": sl_flow_from_generator
 *       instead (one callback and one sl_emit per row)
 *   mpirun -n N bench_h5 slgen    ROWS [records]
 *       the same generator -> sl_flow_to_count: the generation cost alone
 * The rows written: id int64 = i, cell int32 = i mod 4096, x, y, z float64 and mass
 * float32 derived from i (cheap, deterministic; the same bytes from both writers). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <sluice.h>

enum { ROW = 40, CELLS = 4096 };

static void fill_row(uint64_t i, unsigned char *out) {
  int64_t id = (int64_t)i;
  int32_t cell = (int32_t)(i % CELLS);
  double x = (double)(i & 0xffff) / 65536.0, y = (double)((i >> 8) & 0xffff) / 65536.0,
         z = (double)((i * 2654435761u) & 0xffff) / 65536.0;
  float mass = (float)(i % 1000) / 100.0f + 0.01f;
  memcpy(out + 0, &id, 8);
  memcpy(out + 8, &cell, 4);
  memcpy(out + 12, &x, 8);
  memcpy(out + 20, &y, 8);
  memcpy(out + 28, &z, 8);
  memcpy(out + 36, &mass, 4);
}

static int gen_fn(int64_t i, sl_emitter *out, void *arg) {
  (void)arg;
  unsigned char row[ROW];
  fill_row((uint64_t)i, row);
  return sl_emit(out, NULL, 0, row, ROW);
}

static int gen_rows_fn(int64_t first, size_t n, void *rows, void *arg) {
  (void)arg;
  for (size_t j = 0; j < n; j++)
    fill_row((uint64_t)first + j, (unsigned char *)rows + j * ROW);
  return 0;
}

static hid_t row_type(void) {
  hid_t t = H5Tcreate(H5T_COMPOUND, ROW);
  H5Tinsert(t, "id", 0, H5T_NATIVE_INT64);
  H5Tinsert(t, "cell", 8, H5T_NATIVE_INT32);
  H5Tinsert(t, "x", 12, H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "y", 20, H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "z", 28, H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "mass", 36, H5T_NATIVE_FLOAT);
  return t;
}

static int layout_for_write(sl_h5_layout **lay) {
  int rc = sl_h5_layout_create(lay);
  if (!rc)
    rc = sl_h5_layout_add(*lay, "id", SL_H5_INT, 8);
  if (!rc)
    rc = sl_h5_layout_add(*lay, "cell", SL_H5_INT, 4);
  if (!rc)
    rc = sl_h5_layout_add(*lay, "x", SL_H5_FLOAT, 8);
  if (!rc)
    rc = sl_h5_layout_add(*lay, "y", SL_H5_FLOAT, 8);
  if (!rc)
    rc = sl_h5_layout_add(*lay, "z", SL_H5_FLOAT, 8);
  if (!rc)
    rc = sl_h5_layout_add(*lay, "mass", SL_H5_FLOAT, 4);
  return rc;
}

/* The packed native memory type of a compound file type (members in file order). */
static hid_t packed_native(hid_t ftype, size_t *row_size) {
  int n = H5Tget_nmembers(ftype);
  size_t off = 0;
  hid_t *mt = calloc((size_t)(n > 0 ? n : 1), sizeof *mt);
  for (int i = 0; i < n; i++) {
    hid_t m = H5Tget_member_type(ftype, (unsigned)i);
    mt[i] = H5Tget_native_type(m, H5T_DIR_ASCEND);
    H5Tclose(m);
    off += H5Tget_size(mt[i]);
  }
  hid_t t = H5Tcreate(H5T_COMPOUND, off);
  off = 0;
  for (int i = 0; i < n; i++) {
    char *name = H5Tget_member_name(ftype, (unsigned)i);
    H5Tinsert(t, name, off, mt[i]);
    off += H5Tget_size(mt[i]);
    H5free_memory(name);
    H5Tclose(mt[i]);
  }
  free(mt);
  *row_size = off;
  return t;
}

static uint64_t share_start(uint64_t total, uint64_t chunk, int i, int n) {
  if (i == 0)
    return 0;
  if (i >= n)
    return total;
  uint64_t lo = (uint64_t)((unsigned __int128)total * (unsigned)i / (unsigned)n);
  if (chunk)
    lo -= lo % chunk;
  return lo;
}

static uint64_t g_check; /* BENCH_H5_CHECK: sum of ids read by this rank */

#define H5OK(x)                                                                                    \
  do {                                                                                             \
    if ((x) < 0) {                                                                                 \
      fprintf(stderr, "bench_h5: %s failed (line %d)\n", #x, __LINE__);                            \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

static int raw_read(const char *spec, size_t block_bytes, int rank, int size, uint64_t *rows_out,
                    uint64_t *bytes_out) {
  const char *sep = strstr(spec, ":/");
  if (!sep) {
    fprintf(stderr, "bench_h5: spec must be FILE:/dataset\n");
    return 1;
  }
  char file[4096];
  snprintf(file, sizeof file, "%.*s", (int)(sep - spec), spec);
  const char *dset = sep + 1;
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5OK(H5Pset_fapl_sec2(fapl));
  hid_t fid = H5Fopen(file, H5F_ACC_RDONLY, fapl);
  H5OK(fid);
  H5Pclose(fapl);
  hid_t did = H5Dopen2(fid, dset, H5P_DEFAULT);
  H5OK(did);
  hid_t fspace = H5Dget_space(did), ftype = H5Dget_type(did), dcpl = H5Dget_create_plist(did);
  hsize_t dims[1], cd[1] = {0};
  H5OK(H5Sget_simple_extent_dims(fspace, dims, NULL));
  if (H5Pget_layout(dcpl) == H5D_CHUNKED)
    H5OK(H5Pget_chunk(dcpl, 1, cd));
  int filtered = H5Pget_nfilters(dcpl) > 0;
  H5Pclose(dcpl);
  size_t rs = 0;
  hid_t mtype = packed_native(ftype, &rs);
  H5Tclose(ftype);
  uint64_t total = dims[0], chunk = cd[0];
  if (chunk) { /* the source's chunk cache: two chunks, 1 MiB .. 256 MiB; none when the
                * chunks are not filtered (read straight into the buffer) */
    H5Dclose(did);
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    uint64_t nb = 2 * chunk * rs;
    if (nb < (1u << 20))
      nb = 1u << 20;
    if (nb > (256u << 20))
      nb = 256u << 20;
    if (!filtered)
      nb = 0;
    H5OK(H5Pset_chunk_cache(dapl, 12421, (size_t)nb, H5D_CHUNK_CACHE_W0_DEFAULT));
    did = H5Dopen2(fid, dset, dapl);
    H5OK(did);
    H5Pclose(dapl);
  }
  uint64_t br = block_bytes / rs;
  if (br < 1)
    br = 1;
  if (chunk && chunk <= br)
    br -= br % chunk;
  unsigned char *buf = malloc((size_t)(br * rs));
  if (!buf)
    return 1;
  uint64_t lo = share_start(total, chunk, rank, size),
           hi = share_start(total, chunk, rank + 1, size);
  volatile unsigned char sink = 0;
  const char *ce = getenv("BENCH_H5_CHECK");
  int check = ce && *ce == '1';
  uint64_t dummy = 0, *check_sum = &dummy;
  *check_sum = 0;
  if (check)
    check_sum = &g_check;
  for (uint64_t cur = lo; cur < hi;) {
    hsize_t k = hi - cur < br ? hi - cur : br, start = cur;
    hid_t ms = H5Screate_simple(1, &k, NULL);
    H5OK(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &k, NULL));
    H5OK(H5Dread(did, mtype, ms, fspace, H5P_DEFAULT, buf));
    H5Sclose(ms);
    sink ^= buf[0];
    if (check) /* BENCH_H5_CHECK=1: sum the first field (the particle id) */
      for (hsize_t j = 0; j < k; j++) {
        int64_t id;
        memcpy(&id, buf + j * rs, 8);
        *check_sum += (uint64_t)id;
      }
    cur += k;
  }
  (void)sink;
  free(buf);
  H5Tclose(mtype);
  H5Sclose(fspace);
  H5Dclose(did);
  H5Fclose(fid);
  *rows_out = hi - lo;
  *bytes_out = (hi - lo) * rs;
  return 0;
}

static int raw_write(const char *file, uint64_t rows, size_t round_bytes, MPI_Comm comm, int rank,
                     int size, double *fill_s) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5OK(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
  H5OK(H5Pset_all_coll_metadata_ops(fapl, 1));
  H5OK(H5Pset_coll_metadata_write(fapl, 1));
  hid_t fid = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5OK(fid);
  H5Pclose(fapl);
  hsize_t dims[1] = {rows}, maxd[1] = {H5S_UNLIMITED}, chunk[1] = {(1u << 20) / ROW};
  if (chunk[0] > rows)
    chunk[0] = rows;
  hid_t fspace = H5Screate_simple(1, dims, maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5OK(H5Pset_chunk(dcpl, 1, chunk));
  H5OK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
  hid_t t = row_type();
  hid_t did = H5Dcreate2(fid, "/particles", t, fspace, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5OK(did);
  H5Pclose(dcpl);
  hid_t xfer = H5Pcreate(H5P_DATASET_XFER);
  H5OK(H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE));
  uint64_t lo = share_start(rows, 0, rank, size), hi = share_start(rows, 0, rank + 1, size);
  uint64_t per = round_bytes / ROW, mine = hi - lo;
  if (per < 1)
    per = 1;
  uint64_t my_rounds = (mine + per - 1) / per, rounds = 0;
  MPI_Allreduce(&my_rounds, &rounds, 1, MPI_UINT64_T, MPI_MAX, comm);
  unsigned char *buf = malloc((size_t)(per * ROW));
  if (!buf)
    return 1;
  double fill = 0;
  uint64_t done = 0;
  for (uint64_t r = 0; r < rounds; r++) {
    hsize_t k = mine - done < per ? mine - done : per, start = lo + done, one = 1;
    double t0 = MPI_Wtime();
    for (hsize_t j = 0; j < k; j++)
      fill_row(lo + done + j, buf + j * ROW);
    fill += MPI_Wtime() - t0;
    hid_t ms = H5Screate_simple(1, k ? &k : &one, NULL);
    if (k) {
      H5OK(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &k, NULL));
    } else {
      H5OK(H5Sselect_none(fspace));
      H5OK(H5Sselect_none(ms));
    }
    H5OK(H5Dwrite(did, t, ms, fspace, xfer, buf));
    H5Sclose(ms);
    done += k;
  }
  free(buf);
  H5Pclose(xfer);
  H5Tclose(t);
  H5Sclose(fspace);
  H5OK(H5Dclose(did));
  H5OK(H5Fclose(fid));
  *fill_s = fill;
  return 0;
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  if (sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx) != SL_OK)
    return 1;
  MPI_Comm comm = sl_comm(ctx);
  int rank = sl_rank(ctx), size = sl_size(ctx);
  const char *mode = argc > 1 ? argv[1] : "";
  int need = !strcmp(mode, "rawwrite")                              ? 5
             : !strcmp(mode, "rawread") || !strcmp(mode, "slwrite") ? 4
             : !strcmp(mode, "slread") || !strcmp(mode, "slgen")    ? 3
                                                                    : 0;
  if (!need || argc < need) {
    if (rank == 0)
      fprintf(stderr,
              "usage: bench_h5 rawread FILE:/dset BLOCK_BYTES | slread FILE:/dset |\n"
              "       rawwrite OUT.h5 ROWS ROUND_BYTES | slwrite OUT.h5 ROWS | slgen ROWS\n");
    sl_finalize(&ctx);
    return 2;
  }
  int rc = 0;
  uint64_t rows = 0, bytes = 0, lrows = 0, lbytes = 0;
  double fill = 0, t = 0;
  sl_flow *flow = NULL;
  sl_h5_layout *lay = NULL;
  if (!strcmp(mode, "slwrite"))
    rc = layout_for_write(&lay);
  MPI_Barrier(comm);
  double t0 = MPI_Wtime();
  if (!strcmp(mode, "rawread")) {
    rc = raw_read(argv[2], (size_t)strtoull(argv[3], NULL, 10), rank, size, &lrows, &lbytes);
  } else if (!strcmp(mode, "rawwrite")) {
    lrows = strtoull(argv[3], NULL, 10);
    rc = raw_write(argv[2], lrows, (size_t)strtoull(argv[4], NULL, 10), comm, rank, size, &fill);
    lbytes = (share_start(lrows, 0, rank + 1, size) - share_start(lrows, 0, rank, size)) * ROW;
    lrows = lbytes / ROW;
  } else {
    rc = sl_flow_create(ctx, &flow);
    if (!strcmp(mode, "slread")) {
      const char *specs[1] = {argv[2]};
      sl_h5_opts o = {0};
      if (argc > 3 && !strcmp(argv[3], "collective"))
        o.transfer = SL_H5_XFER_COLLECTIVE;
      if (!rc)
        rc = sl_flow_from_h5(flow, specs, 1, &o, 0);
    } else {
      int64_t n = (int64_t)strtoull(argv[!strcmp(mode, "slgen") ? 2 : 3], NULL, 10);
      int records = 0;
      for (int a = 2; a < argc; a++)
        records |= !strcmp(argv[a], "records");
      if (!rc && records)
        rc = sl_flow_from_generator(flow, n, gen_fn, NULL, 0);
      else if (!rc)
        rc = sl_flow_from_rows_generator(flow, n, ROW, lay, gen_rows_fn, NULL, 0);
    }
    if (!rc && !strcmp(mode, "slwrite")) {
      char spec[4200];
      snprintf(spec, sizeof spec, "%s:/particles", argv[2]);
      sl_h5_sink_opts so = {0};
      so.overwrite = 1;
      rc = sl_flow_to_h5(flow, spec, lay, &so);
    } else if (!rc) {
      rc = sl_flow_to_count(flow, &rows);
    }
    if (!rc)
      rc = sl_run(flow);
  }
  MPI_Barrier(comm);
  t = MPI_Wtime() - t0;
  if (flow && !strcmp(mode, "slread")) {
    sl_stats st;
    if (sl_flow_get_stats(flow, 0, &st) == SL_OK) {
      lbytes = st.input_bytes;
      lrows = 0; /* rows: the count sink's total, on every rank */
    }
  } else if (flow) { /* generator: rows 0..n-1, split over the ranks */
    uint64_t n = strtoull(argv[!strcmp(mode, "slgen") ? 2 : 3], NULL, 10);
    lrows = share_start(n, 0, rank + 1, size) - share_start(n, 0, rank, size);
    lbytes = lrows * ROW;
  }
  uint64_t counted = rows;
  sl_flow_destroy(&flow);
  sl_h5_layout_destroy(&lay);
  int bad = rc != 0, anybad = 0;
  MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, comm);
  MPI_Allreduce(&lrows, &rows, 1, MPI_UINT64_T, MPI_SUM, comm);
  if (!strcmp(mode, "slread"))
    rows = counted;
  MPI_Allreduce(&lbytes, &bytes, 1, MPI_UINT64_T, MPI_SUM, comm);
  double fillmax = 0;
  MPI_Allreduce(&fill, &fillmax, 1, MPI_DOUBLE, MPI_MAX, comm);
  if (rank == 0 && !anybad)
    printf("bench_h5 %s ranks=%d rows=%llu bytes=%llu seconds=%.4f fill=%.4f ok\n", mode, size,
           (unsigned long long)rows, (unsigned long long)bytes, t, fillmax);
  if (getenv("BENCH_H5_CHECK")) {
    uint64_t all = 0;
    MPI_Allreduce(&g_check, &all, 1, MPI_UINT64_T, MPI_SUM, comm);
    if (rank == 0)
      printf("bench_h5 check: sum of ids %llu\n", (unsigned long long)all);
  }
  sl_finalize(&ctx);
  return anybad ? 1 : 0;
}
