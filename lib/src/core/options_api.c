/* SPDX-License-Identifier: BSD-3-Clause */
/* Public access to a context's options (sl_option_set, sl_option_get, help). */
#include <stdio.h>

#include "core/core.h"

int sl_option_set(sl_ctx *ctx, const char *name, const char *value) {
  if (ctx == NULL || name == NULL)
    return SL_ERR_INVAL;
  int rc = sl__options_set(&ctx->opt, name, value);
  /* The caller only sees a code; the line says which option and what was expected. */
  if (rc != SL_OK)
    sl__report_error(ctx, rc);
  return rc;
}

int sl_option_get(const sl_ctx *ctx, const char *name, const char **value) {
  /* One buffer for the process: the string stays valid until the next sl_option_get
   * (sluice is single-threaded per rank). Large enough for the longest value, a path. */
  static char buf[sizeof(((sl__options *)0)->tmpdir) + 32];
  if (ctx == NULL || name == NULL || value == NULL)
    return SL_ERR_INVAL;
  int rc = sl__options_get(&ctx->opt, name, buf, sizeof buf);
  if (rc != SL_OK) {
    sl__report_error(ctx, rc);
    return rc;
  }
  *value = buf;
  return SL_OK;
}

int sl_options_print_help(const sl_ctx *ctx, void *file) {
  FILE *out = file != NULL ? (FILE *)file : stdout;
  /* Without a context the current values are the defaults, which is still useful. */
  sl__options_help(ctx != NULL ? &ctx->opt : NULL, out);
  return ferror(out) ? SL_ERR_IO : SL_OK;
}
