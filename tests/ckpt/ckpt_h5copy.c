/* SPDX-License-Identifier: BSD-3-Clause */
/* ckpt_h5copy IN.h5:/dset OUT.h5:/dset [independent|collective]: the checkpoint tests'
 * HDF5 flow (test_ckpt_h5.sh): the rows of a table whose first field (an integer) is not a
 * multiple of 3, copied in order (the HDF5 source, a filter, the HDF5 sink in rank order).
 * Its exit status is sl_exit_status of the run. Stops come from the library's test knob
 * SLUICE_TEST_CKPT_SIGNAL (engine/checkpoint.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

static int keep(const sl_record *rec, void *arg) {
  (void)arg;
  int64_t id;
  memcpy(&id, rec->value, sizeof id);
  return id % 3 != 0;
}

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  int rc = sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx);
  if (rc != SL_OK)
    return sl_exit_status(rc);
  if (argc < 3) {
    fprintf(stderr, "usage: ckpt_h5copy IN.h5:/dset OUT.h5:/dset [independent|collective]\n");
    sl_finalize(&ctx);
    return 2;
  }
  sl_h5_opts o = {0};
  o.transfer =
      argc > 3 && !strcmp(argv[3], "collective") ? SL_H5_XFER_COLLECTIVE : SL_H5_XFER_INDEPENDENT;
  sl_h5_layout *l = NULL;
  rc = sl_h5_describe(ctx, argv[1], &o, &l);
  sl_flow *flow = NULL;
  if (rc == SL_OK)
    rc = sl_flow_create(ctx, &flow);
  const char *specs[1] = {argv[1]};
  if (rc == SL_OK)
    rc = sl_flow_from_h5(flow, specs, 1, &o, 0);
  if (rc == SL_OK)
    rc = sl_flow_filter(flow, keep, NULL);
  if (rc == SL_OK)
    rc = sl_flow_to_h5(flow, argv[2], l, NULL);
  if (rc == SL_OK)
    rc = sl_run(flow);
  sl_flow_destroy(&flow);
  sl_h5_layout_destroy(&l);
  int status = sl_exit_status(rc);
  sl_finalize(&ctx);
  return status;
}
