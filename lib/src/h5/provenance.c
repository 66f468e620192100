/* SPDX-License-Identifier: BSD-3-Clause */
/* The provenance attributes of the datasets sluice writes: the HDF5 sink (sink.c) and
 * sl_h5_file_write_table (table.c) both write them through this one writer. */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "h5/h5int.h"

void sl__h5_prov_init(sl__h5_prov *p, const sl_ctx *ctx, const char *inputs, uint64_t rows) {
  memset(p, 0, sizeof *p);
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm))
    strftime(p->when, sizeof p->when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  memcpy(p->cmd, ctx->command_line, sizeof p->cmd);
  p->cmd[sizeof p->cmd - 1] = 0;
  memcpy(p->job, ctx->slurm_job_id, sizeof p->job);
  p->job[sizeof p->job - 1] = 0;
  p->ranks = ctx->size;
  p->inputs = inputs ? inputs : "";
  p->rows = rows;
}

int sl__h5_prov_bcast(sl__h5_prov *p, MPI_Comm comm) {
  SL__CHECK_MPI(MPI_Bcast(p->when, (int)sizeof p->when, MPI_CHAR, 0, comm));
  SL__CHECK_MPI(MPI_Bcast(p->cmd, (int)sizeof p->cmd, MPI_CHAR, 0, comm));
  SL__CHECK_MPI(MPI_Bcast(p->job, (int)sizeof p->job, MPI_CHAR, 0, comm));
  return SL_OK;
}

/* HDF5's cause, taken before the cleanup calls (each clears HDF5's error stack). */
static int attr_failed(const char *name) {
  char m[512];
  sl__h5_errstr(m, sizeof m);
  SL__FAIL(SL_ERR_HDF5, "cannot write attribute '%s': %s", name, m);
}

int sl__h5_put_str_attr(hid_t obj, const char *name, const char *v) {
  hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
  int ok = t >= 0 && sp >= 0 && H5Tset_size(t, strlen(v) + 1) >= 0 &&
           H5Tset_strpad(t, H5T_STR_NULLTERM) >= 0;
  if (ok)
    a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  ok = ok && a >= 0 && H5Awrite(a, t, v) >= 0;
  /* an attribute reaches the file at its close */
  if (a >= 0 && H5Aclose(a) < 0)
    ok = 0;
  int rc = ok ? SL_OK : attr_failed(name);
  if (sp >= 0)
    H5Sclose(sp);
  if (t >= 0)
    H5Tclose(t);
  return rc;
}

static int put_num_attr(hid_t obj, const char *name, hid_t type, const void *v) {
  hid_t sp = H5Screate(H5S_SCALAR), a = -1;
  int ok = sp >= 0 && (a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
           H5Awrite(a, type, v) >= 0;
  if (a >= 0 && H5Aclose(a) < 0)
    ok = 0;
  int rc = ok ? SL_OK : attr_failed(name);
  if (sp >= 0)
    H5Sclose(sp);
  return rc;
}

int sl__h5_put_provenance(hid_t obj, const sl__h5_prov *p) {
  SL__CHECK(sl__h5_put_str_attr(obj, "sluice_version", sl_version()));
  SL__CHECK(sl__h5_put_str_attr(obj, "command_line", p->cmd));
  SL__CHECK(put_num_attr(obj, "ranks", H5T_NATIVE_INT64, &p->ranks));
  SL__CHECK(sl__h5_put_str_attr(obj, "inputs", p->inputs ? p->inputs : ""));
  SL__CHECK(put_num_attr(obj, "rows", H5T_NATIVE_UINT64, &p->rows));
  SL__CHECK(sl__h5_put_str_attr(obj, "created_utc", p->when));
  if (p->job[0])
    SL__CHECK(sl__h5_put_str_attr(obj, "slurm_job_id", p->job));
  return SL_OK;
}
