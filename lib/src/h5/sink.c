/* HDF5 output: ONE dataset written by all ranks in parallel.
 *
 * push (per partition, never blocks): rows are appended to a bounded per-rank buffer
 * that spills to a local temporary file. finish (collective): an exclusive scan gives
 * every rank its first row; rank order is the output order. The file is created with the
 * MPI-IO driver under a temporary name, the chunked, extendible dataset is created with
 * its final extent and every rank writes its rows in rounds of at most one buffer
 * (collective H5Dwrite; a rank with nothing left writes an empty selection). Then
 * provenance attributes, close, and rank 0 renames the file when every rank succeeded. */
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
#include "h5/h5src.h"

typedef struct h5_sink {
  char *path, *dset;
  sl_h5_layout *layout;
  sl_h5_sink_opts opts;
  char *inputs_opt;
  /* per run */
  sl_ctx *ctx;
  char *inputs;
  char tmp_path[4200];
  char *buf;
  size_t len, cap; /* bytes */
  int spill_fd;
  char spill_path[4300];
  uint64_t spill_bytes;
} h5_sink;

static void drop_spill(h5_sink *s) {
  if (s->spill_fd >= 0) {
    close(s->spill_fd);
    unlink(s->spill_path);
  }
  s->spill_fd = -1;
  s->spill_bytes = 0;
}

static int write_all(int fd, const char *p, size_t n, const char *path) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      SL__FAIL(SL_ERR_IO, "cannot write the HDF5 output's spill file '%s': %s", path,
               strerror(errno));
    p += w;
    n -= (size_t)w;
  }
  return SL_OK;
}

static int spill(h5_sink *s) {
  if (!s->len)
    return SL_OK;
  if (s->spill_fd < 0) {
    char base[4096];
    snprintf(base, sizeof base, "%s", s->path);
    const char *dir = s->ctx->opt.tmpdir[0] ? s->ctx->opt.tmpdir : dirname(base);
    snprintf(s->spill_path, sizeof s->spill_path, "%s/.sluice-h5spill-XXXXXX", dir);
    s->spill_fd = mkstemp(s->spill_path);
    if (s->spill_fd < 0)
      SL__FAIL(SL_ERR_IO, "cannot create spill file '%s': %s", s->spill_path, strerror(errno));
  }
  SL__CHECK(write_all(s->spill_fd, s->buf, s->len, s->spill_path));
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
  size_t rs = s->layout->row_size;
  uint64_t cap = ctx->opt.output_buffer_bytes / rs;
  if (cap < 1)
    cap = 1;
  free(s->buf);
  s->cap = (size_t)cap * rs;
  s->buf = malloc(s->cap);
  SL__CHECK_ALLOC(s->buf);
  /* provenance: the inputs of an HDF5 source */
  free(s->inputs);
  s->inputs = NULL;
  if (s->inputs_opt) {
    s->inputs = strdup(s->inputs_opt);
  } else if (run->flow->stages[0].source.vt == &sl__h5_source_vt) {
    size_t n = sl__h5src_inputs(run->flow->stages[0].source.impl, NULL, 0);
    s->inputs = malloc(n + 1);
    if (s->inputs)
      sl__h5src_inputs(run->flow->stages[0].source.impl, s->inputs, n + 1);
  } else {
    s->inputs = strdup("");
  }
  SL__CHECK_ALLOC(s->inputs);
  /* rank 0 checks the destination and names the temporary file */
  int rc = SL_OK;
  char tmp[4200] = {0};
  if (sl_rank(ctx) == 0) {
    struct stat sb;
    char d[4096], b[4096];
    snprintf(d, sizeof d, "%s", s->path);
    snprintf(b, sizeof b, "%s", s->path);
    const char *dir = dirname(d);
    if (stat(s->path, &sb) == 0 && !s->opts.overwrite) {
      rc = sl__error_set(SL_ERR_EXISTS, __FILE__, __LINE__,
                         "output '%s' already exists (refusing to overwrite it)", s->path);
    } else if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
      rc =
          sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "output directory '%s' does not exist", dir);
    } else if (access(dir, W_OK) != 0) {
      rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "output directory '%s' is not writable: %s",
                         dir, strerror(errno));
    } else {
      snprintf(tmp, sizeof tmp, "%s/.%s.sluice-tmp-%ld", dir, basename(b), (long)getpid());
    }
  }
  int agreed = rc;
  SL__CHECK_MPI(MPI_Bcast(&agreed, 1, MPI_INT, 0, sl_comm(ctx)));
  if (agreed)
    return rc ? rc : SL_ERR_REMOTE;
  SL__CHECK_MPI(MPI_Bcast(tmp, (int)sizeof tmp, MPI_CHAR, 0, sl_comm(ctx)));
  memcpy(s->tmp_path, tmp, sizeof tmp);
  return SL_OK;
}

static int h5sink_push(void *impl, sl__part *part, const sl_record *rec) {
  (void)part;
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
  if (s->cap - s->len < rs)
    SL__CHECK(spill(s));
  memcpy(s->buf + s->len, rec->value, rs);
  s->len += rs;
  return SL_OK;
}

/* A scalar fixed-length string attribute. */
static int put_str_attr(hid_t obj, const char *name, const char *v) {
  hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
  int ok = t >= 0 && sp >= 0 && H5Tset_size(t, strlen(v) + 1) >= 0 &&
           H5Tset_strpad(t, H5T_STR_NULLTERM) >= 0;
  if (ok)
    a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  ok = ok && a >= 0 && H5Awrite(a, t, v) >= 0;
  if (a >= 0 && H5Aclose(a) < 0)
    ok = 0;
  if (sp >= 0)
    H5Sclose(sp);
  if (t >= 0)
    H5Tclose(t);
  if (!ok)
    SL__FAIL(SL_ERR_HDF5, "cannot write attribute '%s'", name);
  return SL_OK;
}

static int put_num_attr(hid_t obj, const char *name, hid_t type, const void *v) {
  hid_t sp = H5Screate(H5S_SCALAR), a = -1;
  int ok = sp >= 0 && (a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
           H5Awrite(a, type, v) >= 0;
  if (a >= 0 && H5Aclose(a) < 0)
    ok = 0;
  if (sp >= 0)
    H5Sclose(sp);
  if (!ok)
    SL__FAIL(SL_ERR_HDF5, "cannot write attribute '%s'", name);
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

typedef struct wctx {
  hid_t fid, did, ftype, mtype, fspace, xfer;
} wctx;

static int all_ok(MPI_Comm comm, int rc, int *out) {
  int bad = rc != SL_OK, any = 0;
  SL__CHECK_MPI(MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm));
  *out = !any;
  return SL_OK;
}

/* Everything between create and close; collective. Returns the local code; the caller
 * agrees. Every collective call is reached by every rank unless all agreed to stop. */
static int write_file(h5_sink *s, wctx *w) {
  sl_ctx *ctx = s->ctx;
  MPI_Comm comm = sl_comm(ctx);
  const sl_h5_layout *l = s->layout;
  size_t rs = l->row_size;
  /* the last partial buffer joins the spill file, so rows stream from one place */
  int rc = SL_OK, ok = 1;
  if (s->spill_fd >= 0)
    rc = spill(s);
  uint64_t mine = (s->spill_bytes + s->len) / rs, off = 0, total = 0;
  SL__CHECK(all_ok(comm, rc, &ok));
  if (!ok)
    return rc != SL_OK ? rc : SL_ERR_REMOTE;
  SL__CHECK_MPI(MPI_Exscan(&mine, &off, 1, MPI_UINT64_T, MPI_SUM, comm));
  if (sl_rank(ctx) == 0)
    off = 0;
  SL__CHECK_MPI(MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, comm));
  uint64_t per_round = s->cap / rs, myrounds = (mine + per_round - 1) / per_round, rounds = 0;
  SL__CHECK_MPI(MPI_Allreduce(&myrounds, &rounds, 1, MPI_UINT64_T, MPI_MAX, comm));

  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0 || H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
      H5Pset_all_coll_metadata_ops(fapl, 1) < 0 || H5Pset_coll_metadata_write(fapl, 1) < 0) {
    if (fapl >= 0)
      H5Pclose(fapl);
    SL__FAIL(SL_ERR_HDF5, "cannot set up parallel access for '%s'", s->tmp_path);
  }
  w->fid = H5Fcreate(s->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  char m[512] = "";
  if (w->fid < 0)
    sl__h5_errstr(m, sizeof m);
  H5Pclose(fapl);
  if (w->fid < 0) {
    rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__,
                       "cannot create HDF5 output '%s' (as '%s'): %s", s->path, s->tmp_path, m);
  }
  SL__CHECK(all_ok(comm, rc, &ok));
  if (!ok)
    return rc != SL_OK ? rc : SL_ERR_REMOTE;

  /* the dataset: 1-D rows (table or 1-D array) or 2-D rows x columns */
  int nd = l->array == 2 ? 2 : 1;
  hsize_t dims[2] = {total, l->n}, maxd[2] = {H5S_UNLIMITED, l->n}, chunk[2];
  uint64_t cr = s->opts.chunk_rows;
  if (!cr) {
    cr = (1u << 20) / rs;
    if (cr < 1)
      cr = 1;
    if (total && cr > total)
      cr = total;
  }
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
  SL__CHECK(all_ok(comm, rc, &ok));
  if (!ok) {
    if (dcpl >= 0)
      H5Pclose(dcpl);
    return rc != SL_OK ? rc : SL_ERR_REMOTE;
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
  SL__CHECK(all_ok(comm, rc, &ok));
  if (!ok)
    return rc != SL_OK ? rc : SL_ERR_REMOTE;

  /* provenance (collective metadata writes: the same values on every rank) */
  char when[64] = "";
  if (sl_rank(ctx) == 0) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  }
  SL__CHECK_MPI(MPI_Bcast(when, (int)sizeof when, MPI_CHAR, 0, comm));
  char cmd[4096];
  memcpy(cmd, ctx->command_line, sizeof cmd);
  cmd[sizeof cmd - 1] = 0;
  SL__CHECK_MPI(MPI_Bcast(cmd, (int)sizeof cmd, MPI_CHAR, 0, comm));
  char job[64];
  memcpy(job, ctx->slurm_job_id, sizeof job);
  job[sizeof job - 1] = 0;
  SL__CHECK_MPI(MPI_Bcast(job, (int)sizeof job, MPI_CHAR, 0, comm));
  int64_t nranks = sl_size(ctx);
  rc = put_str_attr(w->did, "sluice_version", sl_version());
  if (rc == SL_OK)
    rc = put_str_attr(w->did, "command_line", cmd);
  if (rc == SL_OK)
    rc = put_num_attr(w->did, "ranks", H5T_NATIVE_INT64, &nranks);
  if (rc == SL_OK)
    rc = put_str_attr(w->did, "inputs", s->inputs);
  if (rc == SL_OK)
    rc = put_num_attr(w->did, "rows", H5T_NATIVE_UINT64, &total);
  if (rc == SL_OK)
    rc = put_str_attr(w->did, "created_utc", when);
  if (rc == SL_OK && job[0])
    rc = put_str_attr(w->did, "slurm_job_id", job);
  SL__CHECK(all_ok(comm, rc, &ok));
  if (!ok)
    return rc != SL_OK ? rc : SL_ERR_REMOTE;

  w->xfer = H5Pcreate(H5P_DATASET_XFER);
  if (w->xfer < 0 || H5Pset_dxpl_mpio(w->xfer, H5FD_MPIO_COLLECTIVE) < 0)
    rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot set up collective transfers");
  SL__CHECK(all_ok(comm, rc, &ok));
  if (!ok)
    return rc != SL_OK ? rc : SL_ERR_REMOTE;

  const char *abort_rank = getenv("SLUICE_TEST_ABORT_RANK");
  uint64_t done = 0;
  for (uint64_t r = 0; r < rounds; r++) {
    uint64_t k = mine - done < per_round ? mine - done : per_round;
    /* rows of this round: from the spill file, or the buffer when nothing spilled */
    if (k && s->spill_fd >= 0) {
      size_t want = (size_t)(k * rs), got = 0;
      while (got < want && rc == SL_OK) {
        ssize_t n = pread(s->spill_fd, s->buf + got, want - got, (off_t)(done * rs + got));
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          rc = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot read back spill file '%s': %s",
                             s->spill_path, n < 0 ? strerror(errno) : "short file");
        else
          got += (size_t)n;
      }
    }
    hsize_t mdims = k ? k : 1, start[2] = {off + done, 0}, count[2] = {k, l->n};
    if (l->array == 2)
      mdims *= l->n;
    hid_t ms = H5Screate_simple(1, &mdims, NULL);
    int sel;
    if (k && rc == SL_OK) {
      sel =
          ms >= 0 && H5Sselect_hyperslab(w->fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0;
    } else {
      sel = ms >= 0 && H5Sselect_none(w->fspace) >= 0 && H5Sselect_none(ms) >= 0;
    }
    /* a local failure still joins the collective write, with nothing selected */
    if (!sel && rc == SL_OK)
      rc = sl__error_set(SL_ERR_HDF5, __FILE__, __LINE__, "cannot select output rows");
    if (sel && rc != SL_OK)
      (void)(H5Sselect_none(w->fspace) >= 0 && H5Sselect_none(ms) >= 0);
    if (ms >= 0) {
      herr_t e = H5Dwrite(w->did, w->mtype, ms, w->fspace, w->xfer, s->buf);
      if (e < 0 && rc == SL_OK) {
        sl__h5_errstr(m, sizeof m);
        rc = sl__error_set(
            SL_ERR_IO, __FILE__, __LINE__, "cannot write rows %llu..%llu of '%s' dataset '%s': %s",
            (unsigned long long)start[0], (unsigned long long)(start[0] + k), s->path, s->dset, m);
      }
      H5Sclose(ms);
    }
    done += k;
    if (abort_rank && atoi(abort_rank) == sl_rank(ctx)) {
      fprintf(stderr,
              "sluice: SLUICE_TEST_ABORT_RANK=%s: rank %d aborts the job mid-write (test hook)\n",
              abort_rank, sl_rank(ctx));
      fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 9);
    }
    SL__CHECK(all_ok(comm, rc, &ok));
    if (!ok)
      return rc != SL_OK ? rc : SL_ERR_REMOTE;
  }
  if (rounds == 0 && abort_rank && atoi(abort_rank) == sl_rank(ctx))
    MPI_Abort(MPI_COMM_WORLD, 9);
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
  return bad;
}

static int h5sink_finish(void *impl, sl_ctx *ctx, int job_failed) {
  h5_sink *s = impl;
  MPI_Comm comm = sl_comm(ctx);
  int err = SL_OK;
  if (!job_failed) {
    wctx w = {-1, -1, -1, -1, -1, -1};
    err = write_file(s, &w);
    /* closing is collective too: everyone closes what they opened */
    if (close_all(&w) && err == SL_OK) {
      char m[512];
      sl__h5_errstr(m, sizeof m);
      err = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot close HDF5 output '%s': %s",
                          s->tmp_path, m);
    }
  }
  drop_spill(s);
  int failed = err != SL_OK || job_failed, any = 0;
  SL__CHECK_MPI(MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, comm));
  int renamed = SL_OK;
  if (sl_rank(ctx) == 0) {
    if (any) {
      unlink(s->tmp_path);
    } else if (rename(s->tmp_path, s->path) != 0) {
      renamed = sl__error_set(SL_ERR_IO, __FILE__, __LINE__, "cannot rename '%s' to '%s': %s",
                              s->tmp_path, s->path, strerror(errno));
      unlink(s->tmp_path);
    }
  }
  SL__CHECK_MPI(MPI_Bcast(&renamed, 1, MPI_INT, 0, comm));
  if (err == SL_OK && renamed != SL_OK)
    err = sl_rank(ctx) == 0 ? renamed : SL_ERR_REMOTE;
  if (err == SL_OK && any && !job_failed)
    err = SL_ERR_REMOTE;
  return err;
}

static void h5sink_destroy(void *impl) {
  h5_sink *s = impl;
  if (!s)
    return;
  drop_spill(s);
  free(s->path);
  free(s->dset);
  free(s->inputs);
  free(s->inputs_opt);
  free(s->buf);
  sl_h5_layout_destroy(&s->layout);
  free(s);
}

static const sl__sink_vt h5_sink_vt = {.name = "HDF5 dataset",
                                       .prepare = h5sink_prepare,
                                       .push = h5sink_push,
                                       .finish = h5sink_finish,
                                       .destroy = h5sink_destroy};

int sl_flow_to_h5(sl_flow *flow, const char *spec, const sl_h5_layout *layout,
                  const sl_h5_sink_opts *opts) {
  if (!flow)
    SL__FAIL(SL_ERR_INVAL, "sl_flow_to_h5: NULL flow");
  h5_sink *s = calloc(1, sizeof *s);
  int rc = s ? SL_OK : sl__error_set(SL_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
  if (rc == SL_OK) {
    s->spill_fd = -1;
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
  return sl__flow_set_ext_sink(flow, &h5_sink_vt, s, "sl_flow_to_h5");
}
