/* SPDX-License-Identifier: BSD-3-Clause */
/* Options printed for people: the --sl-help table and the markdown reference. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/options_table.h"

static void value_text(const sl__opt_desc *d, char *buf, size_t cap) {
  if (d->type == SL__OPT_ENUM) {
    sl__opt_choices_text(d->choices, buf, cap);
  } else if (d->type == SL__OPT_BOOL) {
    snprintf(buf, cap, "on|off");
  } else if (d->choices != NULL) { /* a size with named values: SIZE|auto */
    int n = snprintf(buf, cap, "%s|", d->metavar);
    if (n > 0 && (size_t)n < cap)
      sl__opt_choices_text(d->choices, buf + n, cap - (size_t)n);
  } else {
    snprintf(buf, cap, "%s", d->metavar);
  }
}

/* Writes text wrapped to width, continuation lines indented by indent columns. */
static void put_wrapped(FILE *out, const char *text, int indent, int width) {
  int col = 0;
  const char *p = text;
  while (*p != '\0') {
    const char *sp = strchr(p, ' ');
    int wlen = sp != NULL ? (int)(sp - p) : (int)strlen(p);
    if (col > 0 && col + 1 + wlen > width) {
      fprintf(out, "\n%*s", indent, "");
      col = 0;
    }
    fprintf(out, "%s%.*s", col > 0 ? " " : "", wlen, p);
    col += (col > 0 ? 1 : 0) + wlen;
    p += wlen;
    while (*p == ' ')
      p++;
  }
  fputc('\n', out);
}

void sl__options_help(const sl__options *opts, FILE *out) {
  enum { W_OPT = 34, W_DEF = 8, W_CUR = 8 };
  sl__options defaults;
  if (out == NULL)
    return;
  /* Fails only for a broken table, which the unit tests catch; help must still print. */
  if (sl__options_defaults(&defaults) != SL_OK)
    memset(&defaults, 0, sizeof defaults);
  if (opts == NULL)
    opts = &defaults;
  fprintf(out, "sluice options: --sl-NAME=VALUE or --sl-NAME VALUE on the command line, or\n"
               "SLUICE_NAME=VALUE in the environment (the command line wins). Sizes take K, M, G\n"
               "or T suffixes (powers of 1024).\n\n");
  fprintf(out, "  %-*s %-*s %-*s %s\n", W_OPT, "option", W_DEF, "default", W_CUR, "current",
          "description");
  for (size_t i = 0; i < sl__option_count; i++) {
    const sl__opt_desc *d = &sl__option_table[i];
    char opt[80], val[64], def[64], cur[4200];
    value_text(d, val, sizeof val);
    snprintf(opt, sizeof opt, "--sl-%s=%s", d->name, val);
    if (sl__opt_format_value(&defaults, d, def, sizeof def) != 0)
      snprintf(def, sizeof def, "?");
    if (sl__opt_format_value(opts, d, cur, sizeof cur) != 0)
      snprintf(cur, sizeof cur, "?");
    if (def[0] == '\0')
      snprintf(def, sizeof def, "\"\"");
    if (cur[0] == '\0')
      snprintf(cur, sizeof cur, "\"\"");
    /* A long option name gets a line of its own so the columns stay aligned. */
    if ((int)strlen(opt) > W_OPT)
      fprintf(out, "  %s\n  %-*s", opt, W_OPT, "");
    else
      fprintf(out, "  %-*s", W_OPT, opt);
    fprintf(out, " %-*s %-*s ", W_DEF, def, W_CUR, cur);
    int indent = 2 + W_OPT + 1 + W_DEF + 1 + W_CUR + 1;
    int used = indent + ((int)strlen(cur) > W_CUR ? (int)strlen(cur) - W_CUR : 0);
    put_wrapped(out, d->help, indent, 100 - used > 30 ? 100 - used : 30);
  }
}

void sl__options_markdown(FILE *out) {
  sl__options defaults;
  if (out == NULL)
    return;
  if (sl__options_defaults(&defaults) != SL_OK)
    memset(&defaults, 0, sizeof defaults);
  fprintf(out, "| Option | Environment | Value | Default | Description |\n");
  fprintf(out, "|---|---|---|---|---|\n");
  for (size_t i = 0; i < sl__option_count; i++) {
    const sl__opt_desc *d = &sl__option_table[i];
    char var[64], val[128], def[64];
    sl__opt_env_name(d->name, var, sizeof var);
    value_text(d, val, sizeof val);
    if (sl__opt_format_value(&defaults, d, def, sizeof def) != 0)
      snprintf(def, sizeof def, "?");
    if (d->type == SL__OPT_SECONDS) {
      size_t used = strlen(val);
      snprintf(val + used, sizeof val - used, ", %gs to %gs", (double)d->min / 1e3,
               (double)d->max / 1e3);
    } else if ((d->type == SL__OPT_SIZE || d->type == SL__OPT_INT) && d->max != UINT64_MAX) {
      char lo[32], hi[32];
      sl__opt_format_size(d->min, lo, sizeof lo);
      sl__opt_format_size(d->max, hi, sizeof hi);
      if (d->type == SL__OPT_INT) {
        snprintf(lo, sizeof lo, "%" PRIu64, d->min);
        snprintf(hi, sizeof hi, "%" PRIu64, d->max);
      }
      size_t used = strlen(val);
      snprintf(val + used, sizeof val - used, ", %s to %s", lo, hi);
    }
    /* '|' separates cells in a markdown table, so enum lists use '/' there. */
    for (char *p = val; *p != '\0'; p++) {
      if (*p == '|')
        *p = '/';
    }
    fprintf(out, "| `--sl-%s` | `%s` | %s | %s%s%s | %s |\n", d->name, var, val,
            def[0] != '\0' ? "`" : "", def[0] != '\0' ? def : "(empty)", def[0] != '\0' ? "`" : "",
            d->help);
  }
}
