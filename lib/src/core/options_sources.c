/* SPDX-License-Identifier: BSD-3-Clause */
/* Options from the environment (SLUICE_NAME) and the command line (--sl-NAME). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/options_table.h"

int sl__options_from_env(sl__options *opts) {
  if (opts == NULL)
    SL__FAIL(SL_ERR_INVAL, "sl__options_from_env: opts is NULL");
  sl__options tmp = *opts;
  for (size_t i = 0; i < sl__option_count; i++) {
    const sl__opt_desc *d = &sl__option_table[i];
    char var[64];
    sl__opt_env_name(d->name, var, sizeof var);
    const char *value = getenv(var);
    /* "export SLUICE_X=" is how shells unset-by-accident; treat it as not set. */
    if (value == NULL || value[0] == '\0')
      continue;
    char who[96];
    snprintf(who, sizeof who, "%s (environment)", var);
    SL__CHECK(sl__opt_set_value(&tmp, d, value, who));
  }
  *opts = tmp;
  return SL_OK;
}

int sl__options_from_argv(sl__options *opts, int *argc, char ***argv) {
  if (opts == NULL)
    SL__FAIL(SL_ERR_INVAL, "sl__options_from_argv: opts is NULL");
  if (argc == NULL || argv == NULL || *argv == NULL || *argc <= 0)
    return SL_OK;
  int n = *argc;
  char **in = *argv;
  /* The new argv is built aside and copied back only on success, so that a rejected
   * command line leaves both argv and the options as they were. */
  char **kept = malloc(((size_t)n + 1) * sizeof *kept);
  SL__CHECK_ALLOC(kept);
  sl__options tmp = *opts;
  int nkept = 0;
  int rc = SL_OK;
  kept[nkept++] = in[0];
  int i = 1;
  for (; i < n; i++) {
    const char *a = in[i];
    if (a == NULL)
      break;
    if (strcmp(a, "--") == 0)
      break; /* the rest belongs to the program, as given */
    if (strncmp(a, "--sl-", 5) != 0) {
      kept[nkept++] = in[i];
      continue;
    }
    const char *name = a + 5;
    const char *eq = strchr(name, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    char name_buf[64];
    if (name_len >= sizeof name_buf)
      name_len = sizeof name_buf - 1;
    memcpy(name_buf, name, name_len);
    name_buf[name_len] = '\0';
    const sl__opt_desc *d = sl__opt_find(name_buf);
    if (d == NULL) {
      char shown[80];
      snprintf(shown, sizeof shown, "--sl-%s", name_buf);
      rc = sl__opt_fail_unknown(shown, name_buf, __FILE__, __LINE__);
      break;
    }
    const char *value = NULL;
    if (eq != NULL) {
      value = eq + 1;
    } else if (d->type == SL__OPT_BOOL) {
      /* "--sl-pin off": take the next word only when it is a boolean, so a bare flag
       * before a program argument does not swallow it. */
      int ignored;
      if (i + 1 < n && in[i + 1] != NULL && sl__opt_parse_bool(in[i + 1], &ignored) == SL_OK) {
        value = in[++i];
      }
    } else if (i + 1 < n && in[i + 1] != NULL && strncmp(in[i + 1], "--", 2) != 0) {
      value = in[++i];
    }
    char who[80];
    snprintf(who, sizeof who, "--sl-%s", d->name);
    rc = sl__opt_set_value(&tmp, d, value, who);
    if (rc != SL_OK) {
      rc = sl__error_trace(rc, __FILE__, __LINE__, a);
      break;
    }
  }
  if (rc == SL_OK) {
    for (; i < n; i++)
      kept[nkept++] = in[i];
    for (int k = 0; k < nkept; k++)
      in[k] = kept[k];
    in[nkept] = NULL;
    *argc = nkept;
    *opts = tmp;
  }
  free(kept);
  return rc;
}
