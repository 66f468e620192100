/* SPDX-License-Identifier: BSD-3-Clause */
/* HDF5 output: ONE dataset written by all ranks in parallel, chunked and extendible, in
 * collective rounds, so memory stays one buffer per rank whatever the output size.
 *
 * Two modes, chosen from the plan when the sink is installed (sl_flow_to_h5):
 *
 * rounds (order across ranks does not matter): push appends rows to a per-rank buffer of
 *   --sl-output-buffer-bytes; when it is full the sink's blocked() hook holds the rank's
 *   partitions (backpressure) and the rank asks for a round. Rounds are agreed with a
 *   non-blocking MPI_Iallreduce (MAX of {wants a round, has open partitions, failed}) on
 *   the sink's own duplicate of the run's communicator, driven from progress(). Each
 *   agreed round (every rank runs it at its next loop turn, so the blocking collectives
 *   inside only wait for ranks that are on their way): all-gather of the rows each rank
 *   holds and a local failure flag, the file created at the first round, the dataset
 *   extended by the round's total, every rank writing its rows as one hyperslab in a
 *   collective H5Dwrite (an empty selection when it holds none), buffers emptied. The
 *   round after which no rank has open partitions is the last: provenance attributes,
 *   and quiescent() lets the loops end. settle() joins a round in flight after a failure
 *   (with its failure flag set, so the round stops everywhere) and contributes "failed"
 *   to one more agreement, so no rank is left inside a collective call. Output order:
 *   round by round, in each round rank order; the rows of one partition keep their order.
 *
 * rank order (a sorted last stage, or an HDF5 source: see rank_ordered()): push never
 *   blocks; the buffer spills to a local temporary file. finish (collective): an exclusive
 *   scan gives every rank its first row; the dataset is created with its final extent and
 *   every rank writes its rows in rounds of at most one buffer.
 *
 * Both: the file is created with the MPI-IO driver under a temporary name; provenance
 * attributes; close; rank 0 renames the file when every rank succeeded. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "h5/h5int.h"
#include "sinks/output.h"
#include "h5/h5src.h"

typedef struct wctx {
  hid_t fid, did, ftype, mtype, fspace, xfer;
} wctx;

typedef struct h5_sink {
  char *path, *dset;
  sl_h5_layout *layout;
  sl_h5_sink_opts opts;
  char *inputs_opt;
  int rounds; /* write in collective rounds during the loop (else rank order: spill) */
  /* per run */
  sl_ctx *ctx;
  char *inputs;
  sl_output *out;
  const char *tmp_path; /* the output's temporary (owned by out) */
  uint64_t chunk_rows;  /* of the dataset, once created */
  char *buf;
  size_t len, cap; /* bytes; in rounds mode len may pass cap by one record's fan-out */
  size_t alloc;    /* bytes allocated for buf */
  int spill_fd;
  uint64_t spill_bytes;
  /* rounds mode */
  MPI_Comm comm; /* a duplicate of the run's: rounds never meet other collectives */
  MPI_Request req;
  int64_t agree_in[3], agree_out[3]; /* {wants a round, partitions open, failed}, MAX */
  double next_agree;                 /* no need of our own: join agreements from then on */
  int over;                          /* 1: the last round ran, or the rounds stopped */
  int file_open;
  uint64_t written; /* rows in the dataset */
  uint64_t nrounds;
  uint64_t *counts; /* per rank {rows, failed} of the round being run */
  wctx w;
} h5_sink;

static void drop_spill(h5_sink *s) {
  if (s->spill_fd >= 0)
    close(s->spill_fd);
  s->spill_fd = -1;
  s->spill_bytes = 0;
}

static int spill(h5_sink *s) {
  if (!s->len)
    return SL_OK;
  if (s->spill_fd < 0)
    SL__CHECK(sl__spill_create(s->ctx, s->path, "the HDF5 output", &s->spill_fd));
  SL__CHECK(sl__write_all(s->spill_fd, s->buf, s->len, "the HDF5 output's spill file"));
  s->spill_bytes += s->len;
  s->len = 0;
  return SL_OK;
}

static int h5sink_prepare(void *impl, sl_ctx *ctx, sl__run *run) {
  h5_sink *s = impl;
  sl__h5_quiet();
  s->ctx = ctx;
  drop_spill(s);
  s->len = 0;
  s->over = 0;
  s->file_open = 0;
  s->written = 0;
  s->nrounds = 0;
  /* The collective steps first (the destination, the rounds' communicator), then what can
   * fail on one rank alone: a rank must not leave the others inside a collective. */
  sl_output_destroy(&s->out);
  s->tmp_path = NULL;
  SL__CHECK(sl__output_open(ctx, run->flow, s->path, s->opts.overwrite, NULL, 0, &s->out));
  s->tmp_path = sl_output_tmp_path(s->out);
  if (s->rounds && s->comm == MPI_COMM_NULL)
    SL__CHECK_MPI(MPI_Comm_dup(sl_comm(ctx), &s->comm));
  size_t rs = s->layout->row_size;
  uint64_t cap = ctx->opt.output_buffer_bytes / rs;
  if (cap < 1)
    cap = 1;
  free(s->buf);
  s->cap = (size_t)cap * rs;
  s->alloc = s->cap;
  s->buf = malloc(s->cap);
  SL__CHECK_ALLOC_FOR(s->buf, "the HDF5 output's buffer", s->cap, "--sl-output-buffer-bytes");
  /* provenance: the inputs of an HDF5 source */
  free(s->inputs);
  s->inputs = NULL;
  if (s->inputs_opt) {
    s->inputs = strdup(s->inputs_opt);
  } else { /* what the flow's source reads, if it says */
    size_t n = sl__plan_inputs(run->flow, NULL, 0);
    s->inputs = malloc(n + 1);
    if (s->inputs)
      sl__plan_inputs(run->flow, s->inputs, n + 1);
  }
  SL__CHECK_ALLOC(s->inputs);
  if (s->rounds) {
    free(s->counts);
    s->counts = malloc(2 * sizeof *s->counts * (size_t)sl_size(ctx));
    SL__CHECK_ALLOC(s->counts);
  }
  return SL_OK;
}

/* Room for at least one more row in the buffer: spill it (rank order), drop it (the rounds
 * stopped), or grow it (a step emitted past the full buffer). */
static int make_room(h5_sink *s) {
  size_t rs = s->layout->row_size;
  if (s->alloc - s->len >= rs)
    return SL_OK;
  if (!s->rounds) {
    SL__CHECK(spill(s));
  } else if (s->over) {
    s->len = 0; /* the rounds stopped on a failure: nothing more is written */
  } else {
    /* a step emitted past the full buffer (one input record's fan-out): room for it,
     * written by the next round */
    size_t n = 2 * s->alloc;
    char *b = realloc(s->buf, n);
    SL__CHECK_ALLOC(b);
    s->buf = b;
    s->alloc = n;
  }
  return SL_OK;
}

static int h5sink_push(void *impl, sl__part *part, const sl_record *rec) {
  h5_sink *s = impl;
  size_t rs = s->layout->row_size;
  if (rec->value_len != rs) {
    char d[1024];
    sl__h5_layout_desc(s->layout, d, sizeof d);
    SL__FAIL(
        SL_ERR_TYPE,
        "HDF5 output '%s' dataset '%s': expected records of %zu bytes (fields %s), found %zu bytes",
        s->path, s->dset, rs, d, rec->value_len);
  }
  SL__CHECK(make_room(s));
  memcpy(s->buf + s->len, rec->value, rs);
  s->len += rs;
  if (part->run->ckpt) /* tests (SLUICE_TEST_CKPT_SIGNAL): a stop while the output is written */
    sl__ckpt_test_rows(part->run, 1, 1);
  return SL_OK;
}

/* A block of rows at once: what push takes row by row until blocked() says 1, copied in
 * as few pieces as the buffer allows. */
static int h5sink_push_rows(void *impl, sl__part *part, const char *rows, size_t n, size_t row_size,
                            size_t *taken) {
  h5_sink *s = impl;
  size_t rs = s->layout->row_size;
  *taken = 0;
  if (n == 0)
    return SL_OK;
  if (row_size != rs) { /* push's error, with its message */
    sl_record r = {NULL, 0, rows, row_size};
    return h5sink_push(impl, part, &r);
  }
  size_t want = n;
  if (s->rounds && !s->over) /* blocked once len reaches cap: rows while below it */
    want = s->len >= s->cap ? 0 : (s->cap - s->len + rs - 1) / rs;
  if (want > n)
    want = n;
  size_t done = 0;
  while (done < want) {
    SL__CHECK(make_room(s));
    size_t k = (s->alloc - s->len) / rs;
    if (k > want - done)
      k = want - done;
    memcpy(s->buf + s->len, rows + done * rs, k * rs);
    s->len += k * rs;
    done += k;
  }
  *taken = done;
  sl__ckpt_test_rows(part->run, done, 1);
  return SL_OK;
}

/* Create parent groups of the dataset path (collective). */
static int make_parents(hid_t fid, const char *dset) {
  char *p = strdup(dset);
  SL__CHECK_ALLOC(p);
  int rc = SL_OK;
  for (char *q = strchr(p + 1, '/'); q && rc == SL_OK; q = strchr(q + 1, '/')) {
    *q = 0;
    htri_t e = H5Lexists(fid, p, H5P_DEFAULT);
    if (e == 0) {
      hid_t g = H5Gcreate2(fid, p, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (g < 0)
        rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot create group '%s'", p);
      else
        H5Gclose(g);
    } else if (e < 0) {
      rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot check group '%s'", p);
    }
    *q = '/';
  }
  free(p);
  return rc;
}

static int all_ok(MPI_Comm comm, int rc, int *out) {
  int bad = rc != SL_OK, any = 0;
  SL__CHECK_MPI(MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm));
  *out = !any;
  return SL_OK;
}

/* After a step every rank took: the local code, SL_ERR_REMOTE when only another rank
 * failed, SL_OK when all succeeded. */
static int agree_step(MPI_Comm comm, int rc) {
  int ok = 1;
  SL__CHECK(all_ok(comm, rc, &ok));
  return ok ? SL_OK : rc != SL_OK ? rc : SL_ERR_REMOTE;
}

/* The most file space `rows` more rows can take: every chunk they touch written whole
 * (HDF5 allocates unfiltered chunks whole; a filtered chunk rewritten by a later round
 * moves), deflate's worst-case growth, and room for the metadata (chunk index, attributes,
 * superblock) that the close writes. Reserved before the collective writes, so that a full
 * disk is found by rank 0 alone and agreed, never inside HDF5's collective calls, where a
 * failure on one rank leaves the others waiting (H5Fclose's metadata flush). */
static uint64_t space_bound(const h5_sink *s, uint64_t rows) {
  uint64_t cr = s->chunk_rows ? s->chunk_rows : 1, chunk = cr * s->layout->row_size;
  if (s->layout->array == 2)
    chunk *= s->layout->n;
  uint64_t chunks = rows / cr + 2;
  uint64_t per = chunk + chunk / 500 + 128;
  return chunks * per + (1u << 20) + 2 * (s->inputs ? strlen(s->inputs) : 0) + 8192;
}

/* Collective: make sure `rows` more rows fit (see space_bound). */
static int reserve_rows(h5_sink *s, hid_t fid, uint64_t rows) {
  uint64_t now = 0;
  if (sl_rank(s->ctx) == 0 && fid >= 0) {
    hsize_t sz = 0;
    if (H5Fget_filesize(fid, &sz) >= 0)
      now = sz;
  }
  return sl__output_reserve(s->out, now + space_bound(s, rows));
}

/* Rank 0 creates the empty HDF5 file alone, with the serial driver, and every rank then
 * opens it through MPI-IO: created through MPI-IO, the file would be truncated, and the
 * space reserved for it given back. */
static int create_serial(const h5_sink *s) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fid = -1;
  /* HDF5's flock() would meet the output's lock where flock is emulated with fcntl (NFS) */
#if H5_VERSION_GE(1, 10, 7)
  if (fapl >= 0 && H5Pset_file_locking(fapl, 0, 1) >= 0)
#else
  if (fapl >= 0) /* older HDF5: HDF5_USE_FILE_LOCKING=FALSE in the environment does it */
#endif
    fid = H5Fcreate(s->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  char m[512] = "";
  if (fid < 0)
    sl__h5_errstr(m, sizeof m);
  if (fapl >= 0)
    H5Pclose(fapl);
  if (fid < 0)
    SL__FAIL(SL_ERR_IO, "cannot create HDF5 output '%s' (as '%s'): %s", s->path, s->tmp_path, m);
  if (H5Fclose(fid) < 0) {
    sl__h5_errstr(m, sizeof m);
    SL__FAIL(SL_ERR_IO, "cannot write HDF5 output '%s' (as '%s'): %s", s->path, s->tmp_path, m);
  }
  return SL_OK;
}

/* Create the file and the dataset with `extent` rows (collective). total: the rows it
 * will hold when known (caps the default chunk; its space is reserved), else 0. */
static int create_output(h5_sink *s, wctx *w, MPI_Comm comm, uint64_t extent, uint64_t total) {
  const sl_h5_layout *l = s->layout;
  size_t rs = l->row_size;
  int rc = SL_OK;
  uint64_t cr = s->opts.chunk_rows;
  if (!cr) {
    cr = (1u << 20) / rs;
    if (cr < 1)
      cr = 1;
    if (total && cr > total)
      cr = total;
  }
  s->chunk_rows = cr;
  rc = sl_rank(s->ctx) == 0 ? create_serial(s) : SL_OK;
  SL__CHECK(agree_step(comm, rc));
  SL__CHECK(reserve_rows(s, -1, total));
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0 || H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
      H5Pset_all_coll_metadata_ops(fapl, 1) < 0 || H5Pset_coll_metadata_write(fapl, 1) < 0) {
    if (fapl >= 0)
      H5Pclose(fapl);
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot set up parallel access for '%s'",
                       s->tmp_path);
    return agree_step(comm, rc);
  }
  /* Agree first: a rank that could not set up must not leave the others in H5Fcreate. */
  rc = agree_step(comm, SL_OK);
  if (rc != SL_OK) {
    H5Pclose(fapl);
    return rc;
  }
  w->fid = H5Fopen(s->tmp_path, H5F_ACC_RDWR, fapl);
  char m[512] = "";
  if (w->fid < 0)
    sl__h5_errstr(m, sizeof m);
  H5Pclose(fapl);
  if (w->fid < 0) {
    rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__,
                       "cannot create HDF5 output '%s' (as '%s'): %s", s->path, s->tmp_path, m);
  }
  SL__CHECK(agree_step(comm, rc));

  /* the dataset: 1-D rows (table or 1-D array) or 2-D rows x columns */
  int nd = l->array == 2 ? 2 : 1;
  hsize_t dims[2] = {extent, l->n}, maxd[2] = {H5S_UNLIMITED, l->n}, chunk[2];
  chunk[0] = cr;
  chunk[1] = l->n;
  w->mtype = sl__h5_mem_type(l);
  w->ftype = w->mtype >= 0 ? H5Tcopy(w->mtype) : -1;
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  w->fspace = H5Screate_simple(nd, dims, maxd);
  int setup = w->mtype >= 0 && w->ftype >= 0 && dcpl >= 0 && w->fspace >= 0 &&
              H5Pset_chunk(dcpl, nd, chunk) >= 0 &&
              H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0;
  if (setup && s->opts.shuffle)
    setup = H5Pset_shuffle(dcpl) >= 0;
  if (setup && s->opts.deflate > 0)
    setup = H5Pset_deflate(dcpl, (unsigned)s->opts.deflate) >= 0;
  if (!setup)
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__,
                       "cannot set up dataset '%s' of '%s' (type, chunks, filters)", s->dset,
                       s->path);
  rc = agree_step(comm, rc);
  if (rc != SL_OK) {
    if (dcpl >= 0)
      H5Pclose(dcpl);
    return rc;
  }
  rc = make_parents(w->fid, s->dset);
  if (rc == SL_OK) {
    w->did = H5Dcreate2(w->fid, s->dset, w->ftype, w->fspace, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (w->did < 0) {
      sl__h5_errstr(m, sizeof m);
      rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot create dataset '%s' in '%s': %s",
                         s->dset, s->path, m);
    }
  }
  H5Pclose(dcpl);
  SL__CHECK(agree_step(comm, rc));

  w->xfer = H5Pcreate(H5P_DATASET_XFER);
  if (w->xfer < 0 || H5Pset_dxpl_mpio(w->xfer, H5FD_MPIO_COLLECTIVE) < 0)
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot set up collective transfers");
  return agree_step(comm, rc);
}

/* Provenance (collective metadata writes: rank 0's values on every rank; provenance.c). */
static int put_provenance(h5_sink *s, wctx *w, MPI_Comm comm, uint64_t total) {
  sl__h5_prov p;
  sl__h5_prov_init(&p, s->ctx, s->inputs, total);
  SL__CHECK(sl__h5_prov_bcast(&p, comm));
  int rc = sl__h5_put_provenance(w->did, &p);
  /* the input's attributes that still hold (a described layout's: the same on every rank) */
  const sl_h5_layout *l = s->layout;
  if (rc == SL_OK)
    rc = sl__h5_put_carried(w->did, l, l->array && l->n ? &l->f[0] : NULL);
  return agree_step(comm, rc);
}

/* One collective H5Dwrite: k rows from `rows` at row `first`, or an empty selection when
 * k is 0 or rc (a local failure that still joins the call) is not SL_OK. Returns rc, or
 * the write's error. */
static int write_rows(h5_sink *s, wctx *w, uint64_t first, uint64_t k, const char *rows, int rc) {
  const sl_h5_layout *l = s->layout;
  hsize_t mdims = k ? k : 1, start[2] = {first, 0}, count[2] = {k, l->n};
  if (l->array == 2)
    mdims *= l->n;
  hid_t ms = H5Screate_simple(1, &mdims, NULL);
  int sel;
  if (k && rc == SL_OK) {
    sel = ms >= 0 && H5Sselect_hyperslab(w->fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0;
  } else {
    sel = ms >= 0 && H5Sselect_none(w->fspace) >= 0 && H5Sselect_none(ms) >= 0;
  }
  /* a local failure still joins the collective write, with nothing selected */
  if (!sel && rc == SL_OK)
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot select output rows");
  if (sel && rc != SL_OK)
    (void)(H5Sselect_none(w->fspace) >= 0 && H5Sselect_none(ms) >= 0);
  if (ms >= 0) {
    herr_t e = H5Dwrite(w->did, w->mtype, ms, w->fspace, w->xfer, rows);
    if (e >= 0 && rc == SL_OK) /* the run record's bytes written: rows in memory's layout */
      s->ctx->bytes_written += k * sl_h5_layout_row_size(l);
    if (e < 0 && rc == SL_OK) {
      char m[512];
      sl__h5_errstr(m, sizeof m);
      rc = sl__error_set(
          SL_ERR_IO, __FILE__, __LINE__, "cannot write rows %llu..%llu of '%s' dataset '%s': %s",
          (unsigned long long)start[0], (unsigned long long)(start[0] + k), s->path, s->dset, m);
    }
    H5Sclose(ms);
  }
  return rc;
}

/* The test hook of tests/h5/test_h5_abort.sh: rank SLUICE_TEST_ABORT_RANK aborts the job
 * after its first write round. */
static void test_abort_hook(const h5_sink *s) {
  const char *abort_rank = getenv("SLUICE_TEST_ABORT_RANK");
  if (abort_rank && atoi(abort_rank) == sl_rank(s->ctx)) {
    fprintf(stderr,
            "sluice: SLUICE_TEST_ABORT_RANK=%s: rank %d aborts the job mid-write (test hook)\n",
            abort_rank, sl_rank(s->ctx));
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 9);
  }
}

/* Rank-order mode: everything between create and close, in finish; collective. Returns
 * the local code (SL_ERR_REMOTE when another rank failed). Every collective call is
 * reached by every rank unless all agreed to stop. */
static int write_file(h5_sink *s, wctx *w) {
  sl_ctx *ctx = s->ctx;
  MPI_Comm comm = sl_comm(ctx);
  size_t rs = s->layout->row_size;
  /* the last partial buffer joins the spill file, so rows stream from one place */
  int rc = SL_OK;
  if (s->spill_fd >= 0)
    rc = spill(s);
  uint64_t mine = (s->spill_bytes + s->len) / rs, off = 0, total = 0;
  SL__CHECK(agree_step(comm, rc));
  SL__CHECK_MPI(MPI_Exscan(&mine, &off, 1, MPI_UINT64_T, MPI_SUM, comm));
  if (sl_rank(ctx) == 0)
    off = 0;
  SL__CHECK_MPI(MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, comm));
  uint64_t per_round = s->cap / rs, myrounds = (mine + per_round - 1) / per_round, rounds = 0;
  SL__CHECK_MPI(MPI_Allreduce(&myrounds, &rounds, 1, MPI_UINT64_T, MPI_MAX, comm));

  SL__CHECK(create_output(s, w, comm, total, total));
  SL__CHECK(put_provenance(s, w, comm, total));

  uint64_t done = 0;
  for (uint64_t r = 0; r < rounds; r++) {
    uint64_t k = mine - done < per_round ? mine - done : per_round;
    /* rows of this round: from the spill file, or the buffer when nothing spilled */
    if (k && s->spill_fd >= 0 && rc == SL_OK)
      rc = sl__pread_all(s->spill_fd, s->buf, (size_t)(k * rs), done * rs,
                         "the HDF5 output's spill file");
    rc = write_rows(s, w, off + done, k, s->buf, rc);
    done += k;
    test_abort_hook(s);
    SL__CHECK(agree_step(comm, rc));
  }
  if (rounds == 0)
    test_abort_hook(s);
  return SL_OK;
}

static int close_all(wctx *w) {
  int bad = 0;
  if (w->xfer >= 0 && H5Pclose(w->xfer) < 0)
    bad = 1;
  if (w->fspace >= 0 && H5Sclose(w->fspace) < 0)
    bad = 1;
  if (w->mtype >= 0 && H5Tclose(w->mtype) < 0)
    bad = 1;
  if (w->ftype >= 0 && H5Tclose(w->ftype) < 0)
    bad = 1;
  if (w->did >= 0 && H5Dclose(w->did) < 0)
    bad = 1;
  if (w->fid >= 0 && H5Fclose(w->fid) < 0)
    bad = 1;
  *w = (wctx){-1, -1, -1, -1, -1, -1};
  return bad;
}

/* ---- rounds mode: collective write rounds agreed in the event loop ---- */

/* One agreed round (collective on s->comm; every rank runs it). failed: this rank has
 * failed (settle): it writes nothing and the round stops the rounds everywhere. final:
 * the last round (no rank has open partitions): provenance after the rows. */
static int run_round(h5_sink *s, int final, int failed) {
  MPI_Comm comm = s->comm;
  size_t rs = s->layout->row_size;
  int n = sl_size(s->ctx), me = sl_rank(s->ctx);
  uint64_t mine[2] = {failed ? 0 : s->len / rs, (uint64_t)(failed != 0)};
  SL__CHECK_MPI(MPI_Allgather(mine, 2, MPI_UINT64_T, s->counts, 2, MPI_UINT64_T, comm));
  uint64_t off = 0, total = 0, anyfail = 0;
  for (int r = 0; r < n; r++) {
    if (r < me)
      off += s->counts[2 * r];
    total += s->counts[2 * r];
    anyfail |= s->counts[2 * r + 1];
  }
  s->nrounds++;
  s->over = 1; /* until this round succeeds everywhere */
  if (anyfail)
    return SL_ERR_REMOTE;
  if (!s->file_open) {
    s->file_open = 1;
    SL__CHECK(create_output(s, &s->w, comm, 0, final ? total : 0));
  }
  if (total) {
    wctx *w = &s->w;
    int nd = s->layout->array == 2 ? 2 : 1;
    hsize_t dims[2] = {s->written + total, s->layout->n};
    SL__CHECK(reserve_rows(s, w->fid, total));
    int rc = SL_OK;
    if (H5Dset_extent(w->did, dims) < 0) {
      rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__,
                         "cannot extend dataset '%s' of '%s' to %llu rows", s->dset, s->path,
                         (unsigned long long)dims[0]);
    } else {
      H5Sclose(w->fspace);
      w->fspace = H5Dget_space(w->did);
      if (w->fspace < 0 || H5Sget_simple_extent_ndims(w->fspace) != nd)
        rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot get the extended dataspace");
    }
    SL__CHECK(agree_step(comm, rc));
    rc = write_rows(s, w, s->written + off, mine[0], s->buf, SL_OK);
    s->len = 0;
    test_abort_hook(s);
    SL__CHECK(agree_step(comm, rc));
    s->written += total;
  } else if (final) {
    test_abort_hook(s);
  }
  if (s->alloc > s->cap) { /* back to one buffer after a fan-out past it */
    char *b = realloc(s->buf, s->cap);
    if (b) {
      s->buf = b;
      s->alloc = s->cap;
    }
  }
  if (final)
    SL__CHECK(put_provenance(s, &s->w, comm, s->written));
  else
    s->over = 0;
  return SL_OK;
}

static int h5sink_blocked(void *impl, const sl__part *part) {
  (void)part;
  const h5_sink *s = impl;
  return s->rounds && !s->over && s->len >= s->cap;
}

static int h5sink_progress(void *impl, sl__run *run, int *progress) {
  h5_sink *s = impl;
  if (!s->rounds || s->over)
    return SL_OK;
  if (s->req == MPI_REQUEST_NULL) {
    int want = s->len >= s->cap, open = run->nstages && run->stages[run->nstages - 1].nopen > 0;
    /* A rank that needs nothing joins agreements at most every 100 us: a full rank waits
     * that long at most, and the loop does not spend itself on back-to-back collectives. */
    double now = MPI_Wtime();
    if (!want && open && now < s->next_agree)
      return SL_OK;
    s->next_agree = now + 100e-6;
    s->agree_in[0] = want;
    s->agree_in[1] = open;
    s->agree_in[2] = 0;
    SL__CHECK_MPI(
        MPI_Iallreduce(s->agree_in, s->agree_out, 3, MPI_INT64_T, MPI_MAX, s->comm, &s->req));
  }
  int flag = 0;
  SL__CHECK_MPI(MPI_Test(&s->req, &flag, MPI_STATUS_IGNORE));
  if (!flag)
    return SL_OK;
  if (s->agree_out[2]) { /* a rank failed: its abort message ends this loop */
    s->over = 1;
    return SL_OK;
  }
  if (s->agree_out[1] && !s->agree_out[0])
    return SL_OK; /* nobody needs a round yet: agree again at the next turn */
  (*progress)++;
  return run_round(s, !s->agree_out[1], 0);
}

static int h5sink_quiescent(void *impl, sl__run *run) {
  (void)run;
  const h5_sink *s = impl;
  return !s->rounds || s->over;
}

/* After the loop: when the rounds are not over (this rank's loop or another's ended on a
 * failure), finish the agreement in flight, join its round as failed (the round stops
 * everywhere), then contribute "failed" to one more agreement unless the rounds are over.
 * Every rank completes the same agreements, so none is left inside a collective call. */
static int h5sink_settle(void *impl, sl__run *run, int failed) {
  (void)run;
  (void)failed;
  h5_sink *s = impl;
  if (!s->rounds || s->over || s->comm == MPI_COMM_NULL)
    return SL_OK;
  s->len = 0;
  if (s->req != MPI_REQUEST_NULL) {
    SL__CHECK_MPI(MPI_Wait(&s->req, MPI_STATUS_IGNORE));
    if (s->agree_out[2])
      s->over = 1;
    else if (!s->agree_out[1] || s->agree_out[0])
      (void)run_round(s, !s->agree_out[1], 1);
  }
  if (!s->over) {
    s->agree_in[0] = s->agree_in[1] = 0;
    s->agree_in[2] = 1;
    SL__CHECK_MPI(
        MPI_Iallreduce(s->agree_in, s->agree_out, 3, MPI_INT64_T, MPI_MAX, s->comm, &s->req));
    SL__CHECK_MPI(MPI_Wait(&s->req, MPI_STATUS_IGNORE));
    s->over = 1;
  }
  return SL_OK;
}

static void rounds_free(h5_sink *s) {
  if (s->req != MPI_REQUEST_NULL) /* a failed run: the agreement cannot be taken back */
    MPI_Request_free(&s->req);
  s->req = MPI_REQUEST_NULL;
  if (s->comm != MPI_COMM_NULL)
    MPI_Comm_free(&s->comm);
  free(s->counts);
  s->counts = NULL;
}

static int h5sink_finish(void *impl, sl_ctx *ctx, int job_failed) {
  (void)ctx;
  h5_sink *s = impl;
  int err = SL_OK;
  if (s->rounds) {
    /* the rows are written; every rank opened the file in the same round */
    if (!job_failed && !s->over)
      err = sl__error_set(SL_ERR_INTERNAL, __FILE__, __LINE__,
                          "HDF5 output '%s': the write rounds did not end", s->path);
    if (s->file_open && close_all(&s->w) && err == SL_OK && !job_failed) {
      char m[512];
      sl__h5_errstr(m, sizeof m);
      err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot close HDF5 output '%s': %s",
                          s->path, m);
    }
    s->file_open = 0;
    rounds_free(s);
  } else if (!job_failed) {
    wctx w = {-1, -1, -1, -1, -1, -1};
    err = write_file(s, &w);
    /* closing is collective too: everyone closes what they opened */
    if (close_all(&w) && err == SL_OK) {
      char m[512];
      sl__h5_errstr(m, sizeof m);
      err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot close HDF5 output '%s': %s",
                          s->path, m);
    }
  }
  drop_spill(s);
  err = sl__output_commit(s->out, job_failed && err == SL_OK ? SL_ERR_REMOTE : err);
  sl_output_destroy(&s->out);
  s->tmp_path = NULL;
  return err;
}

static void h5sink_destroy(void *impl) {
  h5_sink *s = impl;
  if (!s)
    return;
  drop_spill(s);
  rounds_free(s);
  sl_output_destroy(&s->out);
  free(s->path);
  free(s->dset);
  free(s->inputs);
  free(s->inputs_opt);
  free(s->buf);
  sl_h5_layout_destroy(&s->layout);
  free(s);
}

static void h5sink_describe(const void *impl, FILE *out) {
  const h5_sink *s = impl;
  fprintf(out, "HDF5 dataset -> %s:%s", s->path, s->dset);
}

/* Checkpoints, rank order: nothing is in the file before finish, so what this rank holds
 * is its rows so far (the spill file, then the buffer), saved in chunks of the buffer's
 * size and restored by appending them in order; the temporary file is made afresh by the
 * resumed run's finish, and only that run publishes the output. */
static int h5sink_snapshot(void *impl, sl__run *run, struct sl__ckpt_writer *w) {
  h5_sink *s = impl;
  (void)run;
  return sl__ckpt_put_sink_spilled(w, s->spill_fd, s->spill_bytes, s->buf, s->len, s->cap,
                                   "the HDF5 output's spill file");
}

static int h5sink_restore(void *impl, sl__run *run, const void *data, size_t len) {
  h5_sink *s = impl;
  (void)run;
  if (len % s->layout->row_size)
    SL__FAIL(SL_ERR_FORMAT, "checkpoint: %zu bytes saved for HDF5 rows of %zu bytes", len,
             (size_t)s->layout->row_size);
  if (s->cap - s->len < len)
    SL__CHECK(spill(s));
  if (len > s->cap) {
    if (s->spill_fd < 0)
      SL__CHECK(sl__spill_create(s->ctx, s->path, "the HDF5 output", &s->spill_fd));
    SL__CHECK(sl__write_all(s->spill_fd, data, len, "the HDF5 output's spill file"));
    s->spill_bytes += len;
    return SL_OK;
  }
  memcpy(s->buf + s->len, data, len);
  s->len += len;
  return SL_OK;
}

static const sl__sink_vt h5_sink_vt = {.name = "HDF5 dataset",
                                       .snapshot = h5sink_snapshot,
                                       .restore = h5sink_restore,
                                       .prepare = h5sink_prepare,
                                       .push = h5sink_push,
                                       .push_rows = h5sink_push_rows,
                                       .finish = h5sink_finish,
                                       .destroy = h5sink_destroy,
                                       .describe = h5sink_describe};

static const sl__sink_vt h5_sink_rounds_vt = {.name = "HDF5 dataset",
                                              .prepare = h5sink_prepare,
                                              .push = h5sink_push,
                                              .push_rows = h5sink_push_rows,
                                              .finish = h5sink_finish,
                                              .destroy = h5sink_destroy,
                                              .blocked = h5sink_blocked,
                                              .progress = h5sink_progress,
                                              .quiescent = h5sink_quiescent,
                                              .settle = h5sink_settle,
                                              .describe = h5sink_describe};

/* Must the output be in rank order (the spill mode)? When the last stage is sorted
 * (sl_flow_sort: its partitions hold consecutive key ranges, rank order is key order;
 * sluice-h5sort and sluice-h5groupby rely on it), and when a source with an order feeds
 * the flow (an HDF5 table): a copy keeps its input's order, and the source's collective
 * read rounds, agreed separately, could meet the sink's rounds in different orders on two
 * ranks. The plan answers (sl__plan_ordered_output). */
int sl_flow_to_h5(sl_flow *flow, const char *spec, const sl_h5_layout *layout,
                  const sl_h5_sink_opts *opts) {
  if (!flow)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_to_h5: NULL flow");
  h5_sink *s = calloc(1, sizeof *s);
  int rc = s ? SL_OK : sl__error_set(SL_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
  if (rc == SL_OK) {
    s->spill_fd = -1;
    s->comm = MPI_COMM_NULL;
    s->req = MPI_REQUEST_NULL;
    s->w = (wctx){-1, -1, -1, -1, -1, -1};
    /* with --sl-checkpoint-dir, rank order (rows spilled, written at the end) even where
     * rounds would do: a checkpoint then saves the rows so far, and nothing is in the
     * file before the end (docs/checkpoint.md); the order across ranks is not defined in
     * rounds anyway */
    s->rounds = !sl__plan_ordered_output(flow) && !(flow->ctx && flow->ctx->opt.checkpoint_dir[0]);
    if (opts)
      s->opts = *opts;
    s->opts.inputs = NULL;
    if (!layout || !layout->n)
      rc = sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__, "sl_flow_to_h5: %s layout",
                         layout ? "empty" : "NULL");
    else if (s->opts.deflate < 0 || s->opts.deflate > 9)
      rc = sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__,
                         "sl_flow_to_h5: deflate level %d (expected 0-9)", s->opts.deflate);
  }
  if (rc == SL_OK)
    rc = sl__h5_split_spec(spec, &s->path, &s->dset);
  if (rc == SL_OK)
    rc = sl_h5_layout_copy(layout, &s->layout);
  if (rc == SL_OK && opts && opts->inputs && !(s->inputs_opt = strdup(opts->inputs)))
    rc = sl__error_set(SL_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
  if (rc != SL_OK) {
    h5sink_destroy(s);
    if (!flow->build_error)
      flow->build_error = rc;
    return rc;
  }
  return sl__flow_set_sink(flow, s->rounds ? &h5_sink_rounds_vt : &h5_sink_vt, s, "sl_flow_to_h5");
}
