/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice-gen particles: an HDF5 compound table written collectively.
 *
 * Row i's values come from a counter-based stream keyed by (seed, i), so a rank can make
 * any row without making the rows before it, and the table is the same whatever the
 * number of ranks. Each rank owns a contiguous, chunk-aligned range of rows (no chunk is
 * shared, which keeps filtered parallel writes cheap) and writes it in rounds of at most
 * GEN_P_BLOCK rows; every rank calls H5Dwrite in every round, with an empty selection
 * once its rows are done, because a collective write needs all of them.
 */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "rng.h"
#include "zipf.h"

/* Rows per write round: bounds memory to GEN_P_BLOCK * 40 bytes (10 MiB). */
#define GEN_P_BLOCK ((uint64_t)262144)
#define GEN_P_DEFAULT_CHUNK ((uint64_t)65536)
/* Rank ranges are aligned to this many rows when the layout is contiguous. */
#define GEN_P_CONTIG_UNIT ((uint64_t)65536)

/* The record as stored: packed, native byte order, so memory and file types are the same
 * and HDF5 does no conversion (which would also cost collective I/O on some versions). */
enum { OFF_ID = 0, OFF_CELL = 8, OFF_X = 12, OFF_Y = 20, OFF_Z = 28, OFF_MASS = 36, REC_SIZE = 40 };

typedef struct rowgen {
  uint64_t key;
  uint32_t cells;
  int skewed;
  gen_zipf zipf;
} rowgen;

typedef struct pconf {
  uint64_t rows, cells, seed, chunk;
  double skew;
  int contiguous, deflate, shuffle;
  const char *file, *dataset;
} pconf;

/* ---- the command line ---- */
static pconf conf = {
    .cells = 4096, .seed = 1, .chunk = GEN_P_DEFAULT_CHUNK, .deflate = -1, .dataset = "/particles"};
static int have_chunk, force;
static const char *out;

static const app_opt particles_opts[] = {
    {.name = "rows",
     .kind = APP_SIZE,
     .dest = &conf.rows,
     .arg = "N",
     .required = 1,
     .help = "number of rows (1 to 2^62)",
     APP_RANGE_U(1, UINT64_C(1) << 62)},
    {.name = "cells",
     .kind = APP_SIZE,
     .dest = &conf.cells,
     .arg = "C",
     .help = "cell ids are 0..C-1 (default 4096, at most 2^31-1)",
     APP_RANGE_U(1, INT32_MAX)},
    {.name = "skew",
     .kind = APP_DOUBLE,
     .dest = &conf.skew,
     .arg = "S",
     .help = "cell k has probability ~ (k+1)^-S; 0 is uniform (default 0)",
     APP_RANGE_D(0, 100)},
    {.name = "seed",
     .kind = APP_SIZE,
     .dest = &conf.seed,
     .arg = "N",
     .help = "random seed (default 1)"},
    {.name = "chunk",
     .kind = APP_SIZE,
     .dest = &conf.chunk,
     .seen = &have_chunk,
     .arg = "ROWS",
     .help = "chunked layout, ROWS rows per chunk (default 65536; clamped to N)",
     /* HDF5 limits a chunk to 4 GiB */
     APP_RANGE_U(1, (UINT64_C(1) << 32) / REC_SIZE)},
    {.name = "contiguous",
     .kind = APP_FLAG,
     .dest = &conf.contiguous,
     .help = "contiguous layout (no filters possible)"},
    {.name = "deflate",
     .kind = APP_INT,
     .dest = &conf.deflate,
     .arg = "LEVEL",
     .help = "gzip filter, level 0-9",
     APP_RANGE_I(0, 9)},
    {.name = "shuffle",
     .kind = APP_FLAG,
     .dest = &conf.shuffle,
     .help = "byte-shuffle filter (before deflate)"},
    APP_OPT_FORCE(&force, "replace FILE if it exists (the whole file, not just the dataset)"),
    APP_OPT_OUTPUT_REQUIRED(&out, "FILE.h5[:/DATASET]",
                            "output file and dataset path (default /particles; missing groups "
                            "are created)"),
    APP_OPT_END};

const app_cli gen_particles_cli = {
    .prog = "sluice-gen",
    .cmd = "particles",
    .opts = particles_opts,
    .about = "An HDF5 compound table of particles, written collectively. The output depends only\n"
             "on the options and the seed, never on the number of MPI ranks. Numbers accept the\n"
             "binary suffixes K, M, G, T (1K = 1024).\n",
    .epilog = "  Fields: id int64 (the row index), cell int32, x, y, z float64 uniform in [0,1),\n"
              "  mass float32 uniform in (0,10]. Attributes on the dataset: seed, cells, skew.\n"
              "  Under mpirun every rank writes its share collectively (MPI-IO).\n"};

static void fill_rows(const rowgen *rg, uint64_t first, size_t n, unsigned char *out) {
  for (size_t i = 0; i < n; i++, out += REC_SIZE) {
    int64_t id = (int64_t)(first + i);
    uint64_t st = gen_mix64(rg->key + (uint64_t)id * GEN_GOLDEN);
    double x = gen_unit(gen_splitmix64(&st));
    double y = gen_unit(gen_splitmix64(&st));
    double z = gen_unit(gen_splitmix64(&st));
    uint64_t rc1 = gen_splitmix64(&st), rc2 = gen_splitmix64(&st);
    int32_t cell =
        (int32_t)(rg->skewed ? gen_zipf_sample(&rg->zipf, rc1, rc2) : gen_below32(rc1, rg->cells));
    float mass = (float)(10.0 * (1.0 - gen_unit(gen_splitmix64(&st))));
    memcpy(out + OFF_ID, &id, 8);
    memcpy(out + OFF_CELL, &cell, 4);
    memcpy(out + OFF_X, &x, 8);
    memcpy(out + OFF_Y, &y, 8);
    memcpy(out + OFF_Z, &z, 8);
    memcpy(out + OFF_MASS, &mass, 4);
  }
}

/* The innermost message of HDF5's error stack (the most specific one, e.g. the MPI
 * error of a failed open), which is then cleared. */
static herr_t h5_innermost(unsigned n, const H5E_error2_t *e, void *data) {
  (void)n;
  snprintf(data, 512, "%s", e->desc ? e->desc : "");
  return 0;
}

static const char *h5_error_text(char buf[512]) {
  buf[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, h5_innermost, buf);
  H5Eclear2(H5E_DEFAULT);
  return buf;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* An HDF5 failure in one line: the call, where, and HDF5's most specific reason. */
#define GEN_H5(expr)                                                                               \
  do {                                                                                             \
    if ((expr) < 0) {                                                                              \
      char why_[512];                                                                              \
      app_error(g->app, "HDF5: %s failed (%s:%d): %s", #expr, base_name(__FILE__), __LINE__,       \
                h5_error_text(why_));                                                              \
      goto fail;                                                                                   \
    }                                                                                              \
  } while (0)

static int write_attr(const gen_common *g, hid_t obj, const char *name, hid_t type,
                      const void *value) {
  int ok = 0;
  hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
  GEN_H5(space = H5Screate(H5S_SCALAR));
  GEN_H5(attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
  GEN_H5(H5Awrite(attr, type, value));
  ok = 1;
fail:
  if (attr >= 0)
    H5Aclose(attr);
  if (space >= 0)
    H5Sclose(space);
  return ok;
}

/* Write the table into the (temporary) file `path`. Collective. Returns 1 if this rank
 * saw no failure; the caller agrees with the others. */
static int write_particles(const gen_common *g, const pconf *c, const char *path) {
  int ok = 0;
  hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID, type = H5I_INVALID_HID;
  hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
  hid_t lcpl = H5I_INVALID_HID, dset = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  unsigned char *buf = NULL;
  char why[512] = ""; /* HDF5's reason for a failure */
  rowgen rg = {.key = gen_mix64(c->seed ^ UINT64_C(0x7061727469636c65)), /* "particle" */
               .cells = (uint32_t)c->cells,
               .skewed = c->skew > 0};

  int ready = 1;
  if (rg.skewed && gen_zipf_init(&rg.zipf, (uint32_t)c->cells, c->skew) != 0) {
    app_error(g->app, "out of memory for a table of %llu cells", (unsigned long long)c->cells);
    ready = 0;
  }
  buf = malloc(GEN_P_BLOCK * REC_SIZE);
  if (!buf) {
    app_error(g->app, "out of memory for a block of %llu rows", (unsigned long long)GEN_P_BLOCK);
    ready = 0;
  }
  /* A local failure must stop every rank before the collective H5Fcreate. (The HDF5
   * calls below are collective and fail alike on every rank.) */
  if (!app_all_ok(g->app, ready))
    goto fail;

  GEN_H5(fapl = H5Pcreate(H5P_FILE_ACCESS));
  GEN_H5(H5Pset_fapl_mpio(fapl, g->comm, MPI_INFO_NULL));
  /* Metadata through one collective path instead of every rank reading it. */
  GEN_H5(H5Pset_all_coll_metadata_ops(fapl, 1));
  GEN_H5(H5Pset_coll_metadata_write(fapl, 1));
  /* the temporary exists (sl_output made it, and holds a lock on it; HDF5's own is not
   * needed beside that) */
  GEN_H5(H5Pset_file_locking(fapl, 0, 1));
  file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (!app_agree(g->app, file >= 0, "cannot create '%s': %s", path,
                 file >= 0 ? "" : h5_error_text(why)))
    goto fail;
  /* the space first: a full disk inside the collective H5Dwrite or H5Fclose fails on some
   * ranks only and leaves the others waiting. The rows, deflate's worst-case growth, and
   * room for the chunk index and the metadata. */
  uint64_t data = c->rows * REC_SIZE, nchunks = c->contiguous ? 1 : c->rows / c->chunk + 2;
  if (!gen_output_reserve(g, data + data / 500 + nchunks * 128 + (1u << 20)))
    goto fail;

  GEN_H5(type = H5Tcreate(H5T_COMPOUND, REC_SIZE));
  GEN_H5(H5Tinsert(type, "id", OFF_ID, H5T_NATIVE_INT64));
  GEN_H5(H5Tinsert(type, "cell", OFF_CELL, H5T_NATIVE_INT32));
  GEN_H5(H5Tinsert(type, "x", OFF_X, H5T_NATIVE_DOUBLE));
  GEN_H5(H5Tinsert(type, "y", OFF_Y, H5T_NATIVE_DOUBLE));
  GEN_H5(H5Tinsert(type, "z", OFF_Z, H5T_NATIVE_DOUBLE));
  GEN_H5(H5Tinsert(type, "mass", OFF_MASS, H5T_NATIVE_FLOAT));

  hsize_t dims[1] = {(hsize_t)c->rows};
  GEN_H5(fspace = H5Screate_simple(1, dims, NULL));
  GEN_H5(dcpl = H5Pcreate(H5P_DATASET_CREATE));
  uint64_t unit = GEN_P_CONTIG_UNIT; /* rank ranges are multiples of this */
  if (c->contiguous) {
    GEN_H5(H5Pset_layout(dcpl, H5D_CONTIGUOUS));
  } else {
    hsize_t chunk[1] = {(hsize_t)(c->chunk < c->rows ? c->chunk : c->rows)};
    unit = chunk[0];
    GEN_H5(H5Pset_chunk(dcpl, 1, chunk));
    if (c->shuffle)
      GEN_H5(H5Pset_shuffle(dcpl));
    if (c->deflate >= 0)
      GEN_H5(H5Pset_deflate(dcpl, (unsigned)c->deflate));
  }
  /* Every byte is written, so filling first would only write the file twice. */
  GEN_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
  GEN_H5(lcpl = H5Pcreate(H5P_LINK_CREATE));
  GEN_H5(H5Pset_create_intermediate_group(lcpl, 1));
  GEN_H5(dset = H5Dcreate2(file, c->dataset, type, fspace, lcpl, dcpl, H5P_DEFAULT));

  if (!write_attr(g, dset, "seed", H5T_NATIVE_UINT64, &c->seed))
    goto fail;
  if (!write_attr(g, dset, "cells", H5T_NATIVE_UINT64, &c->cells))
    goto fail;
  if (!write_attr(g, dset, "skew", H5T_NATIVE_DOUBLE, &c->skew))
    goto fail;

  GEN_H5(dxpl = H5Pcreate(H5P_DATASET_XFER));
  GEN_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));

  /* Rank ranges in whole units (chunks); the last rank's range ends at rows. */
  uint64_t units = (c->rows + unit - 1) / unit, P = (uint64_t)g->size;
  uint64_t u0 = units * (uint64_t)g->rank / P, u1 = units * ((uint64_t)g->rank + 1) / P;
  uint64_t lo = u0 * unit, hi = u1 * unit < c->rows ? u1 * unit : c->rows;
  if (lo > hi)
    lo = hi;
  /* Rounds: the most any rank needs (the largest range has ceil(units/P) units). */
  uint64_t max_rows = (units + P - 1) / P * unit;
  uint64_t rounds = (max_rows + GEN_P_BLOCK - 1) / GEN_P_BLOCK;
  hsize_t mdims[1] = {GEN_P_BLOCK};
  GEN_H5(mspace = H5Screate_simple(1, mdims, NULL));

  gen_progress pr;
  gen_progress_start(&pr, g, "particles");
  for (uint64_t r = 0; r < rounds; r++) {
    uint64_t first = lo + r * GEN_P_BLOCK;
    uint64_t n = first < hi ? (hi - first < GEN_P_BLOCK ? hi - first : GEN_P_BLOCK) : 0;
    int step_ok = 1;
    if (n > 0) {
      fill_rows(&rg, first, (size_t)n, buf);
      hsize_t start[1] = {first}, count[1] = {n}, zero[1] = {0};
      if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
          H5Sselect_hyperslab(mspace, H5S_SELECT_SET, zero, NULL, count, NULL) < 0)
        step_ok = 0;
    } else if (H5Sselect_none(fspace) < 0 || H5Sselect_none(mspace) < 0) {
      step_ok = 0;
    }
    if (!step_ok) {
      app_error(g->app, "HDF5: selection failed in round %llu: %s", (unsigned long long)r,
                h5_error_text(why));
    } else if (H5Dwrite(dset, type, mspace, fspace, dxpl, buf) < 0) {
      app_error(g->app, "HDF5: H5Dwrite of rows %llu..%llu failed: %s", (unsigned long long)first,
                (unsigned long long)(first + n), h5_error_text(why));
      step_ok = 0;
    }
    /* Stop together: a rank that left the loop would hang the others' next collective. */
    if (!app_all_ok(g->app, step_ok))
      goto fail;
    gen_progress_update(&pr,
                        (r + 1) * GEN_P_BLOCK * P < c->rows ? (r + 1) * GEN_P_BLOCK * P : c->rows,
                        c->rows, "rows");
  }
  gen_progress_end(&pr, c->rows, "rows");
  ok = 1;

fail:
  if (dxpl >= 0)
    H5Pclose(dxpl);
  if (mspace >= 0)
    H5Sclose(mspace);
  /* Closing flushes the last chunks, so it can fail like a write. */
  if (dset >= 0 && H5Dclose(dset) < 0) {
    app_error(g->app, "HDF5: H5Dclose failed: %s", h5_error_text(why));
    ok = 0;
  }
  if (lcpl >= 0)
    H5Pclose(lcpl);
  if (dcpl >= 0)
    H5Pclose(dcpl);
  if (fspace >= 0)
    H5Sclose(fspace);
  if (type >= 0)
    H5Tclose(type);
  if (file >= 0 && H5Fclose(file) < 0) {
    app_error(g->app, "HDF5: H5Fclose failed: %s", h5_error_text(why));
    ok = 0;
  }
  if (fapl >= 0)
    H5Pclose(fapl);
  free(buf);
  gen_zipf_free(&rg.zipf);
  return ok;
}

/* --describe: what would be written, and which rows each rank writes (rank 0 prints). */
static void describe(const gen_common *g, const pconf *c) {
  if (g->rank != 0)
    return;
  uint64_t unit = c->contiguous ? GEN_P_CONTIG_UNIT : c->chunk, P = (uint64_t)g->size;
  uint64_t units = (c->rows + unit - 1) / unit;
  printf("sluice-gen particles: plan (--describe: nothing is written)\n"
         "  output: %s:%s, %llu rows of %d bytes (id, cell, x, y, z, mass) = %llu bytes, seed "
         "%llu, %llu cells, skew %g\n"
         "  layout: %s",
         c->file, c->dataset, (unsigned long long)c->rows, REC_SIZE,
         (unsigned long long)(c->rows * REC_SIZE), (unsigned long long)c->seed,
         (unsigned long long)c->cells, c->skew, c->contiguous ? "contiguous" : "chunked, ");
  if (!c->contiguous)
    printf("%llu rows a chunk%s%s", (unsigned long long)c->chunk, c->shuffle ? ", shuffle" : "",
           c->deflate >= 0 ? ", deflate" : "");
  printf("\n  ranks: %d, each writing its range collectively in rounds of at most %llu rows "
         "(%llu bytes of memory):\n   ",
         g->size, (unsigned long long)GEN_P_BLOCK, (unsigned long long)(GEN_P_BLOCK * REC_SIZE));
  for (uint64_t r = 0; r < P && r < 16; r++) {
    uint64_t lo = units * r / P * unit, hi = units * (r + 1) / P * unit;
    hi = hi < c->rows ? hi : c->rows;
    printf(" r%llu:[%llu,%llu)", (unsigned long long)r, (unsigned long long)(lo < hi ? lo : hi),
           (unsigned long long)hi);
  }
  printf("%s\n", P > 16 ? " ..." : "");
}

/* -o FILE.h5[:/DATASET] into file and c->dataset. GEN_EXIT_OK or GEN_EXIT_USAGE (printed). */
static int split_output(const gen_common *g, pconf *c, char *file, size_t cap) {
  size_t flen;
  const char *path;
  if (!app_spec_split(out, &flen, &path))
    flen = strlen(out);
  else
    c->dataset = path;
  if (flen == 0 || flen >= cap)
    return app_usage_error(g->app, "particles: bad output '%s'", out);
  memcpy(file, out, flen);
  file[flen] = '\0';
  if (strlen(c->dataset) < 2 || c->dataset[strlen(c->dataset) - 1] == '/')
    return app_usage_error(g->app, "particles: bad dataset path '%s'", c->dataset);
  return GEN_EXIT_OK;
}

int gen_particles_main(const gen_common *g, int argc, char **argv) {
  int code = app_parse(g->app, &gen_particles_cli, argc, argv, 1);
  if (code != APP_RUN)
    return code;
  pconf c = conf;
  if (c.contiguous && have_chunk)
    return app_usage_error(g->app, "particles: --chunk and --contiguous exclude each other");
  if (c.contiguous && (c.shuffle || c.deflate >= 0))
    return app_usage_error(g->app,
                           "particles: filters (--deflate, --shuffle) need a chunked layout");
  char file[4096];
  code = split_output(g, &c, file, sizeof file);
  if (code != GEN_EXIT_OK)
    return code;
  if (c.deflate >= 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0)
    return app_usage_error(g->app, "particles: this HDF5 has no deflate filter");
  c.file = file;
  if (g->app->describe) {
    describe(g, &c);
    return GEN_EXIT_OK;
  }

  char tmp[4096];
  code = gen_output_begin(g, file, force, tmp, sizeof tmp);
  if (code != GEN_EXIT_OK)
    return code;
  /* The HDF5 error stack is printed by GEN_H5 only where a call fails. */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  int ok = write_particles(g, &c, tmp);
  return gen_output_end(g, file, tmp, ok);
}
