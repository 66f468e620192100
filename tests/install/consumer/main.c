/* SPDX-License-Identifier: BSD-3-Clause */
/* An outside program built against an installed sluice (see tests/install/run.sh). */
#include <stdio.h>
#include <string.h>

#include <sluice.h>

int main(int argc, char **argv) {
  sl_ctx *ctx = NULL;
  int rc = sl_init(&argc, &argv, MPI_COMM_WORLD, &ctx);
  if (rc != SL_OK) {
    fprintf(stderr, "consumer: sl_init failed: %s\n", sl_strerror(rc));
    return 1;
  }
  const char *version = sl_version();
  int status = 0;
  if (version == NULL || strcmp(version, SL_VERSION_STRING) != 0) {
    fprintf(stderr, "consumer: sl_version() is \"%s\" but sl_version.h says \"%s\"\n",
            version ? version : "(null)", SL_VERSION_STRING);
    status = 1;
  }
  if (sl_rank(ctx) == 0)
    printf("consumer: sluice %s\n", version ? version : "(null)");
  rc = sl_finalize(&ctx);
  if (rc != SL_OK) {
    fprintf(stderr, "consumer: sl_finalize failed: %s\n", sl_strerror(rc));
    status = 1;
  }
  return status;
}
