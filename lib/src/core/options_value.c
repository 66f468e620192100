/* SPDX-License-Identifier: BSD-3-Clause */
/* Option values: parsing user text into typed fields and formatting them back. */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "core/options_table.h"

/* ---- value parsers: return SL_OK, or SL_ERR_OPTION with *why saying what is wrong ---- */

int sl__opt_parse_size(const char *s, uint64_t *out, const char **why) {
  static const struct {
    const char *suffix;
    unsigned shift;
  } suffixes[] = {{"", 0},     {"b", 0},  {"k", 10},   {"kib", 10}, {"m", 20},
                  {"mib", 20}, {"g", 30}, {"gib", 30}, {"t", 40},   {"tib", 40}};
  if (s == NULL || *s == '\0') {
    *why = "is empty";
    return SL_ERR_OPTION;
  }
  /* strtoull would accept leading blanks, a sign (and wrap "-1" around) and hex. */
  if (!isdigit((unsigned char)s[0])) {
    *why = "is not a size";
    return SL_ERR_OPTION;
  }
  errno = 0;
  char *end = NULL;
  unsigned long long n = strtoull(s, &end, 10);
  if (errno == ERANGE) {
    *why = "does not fit in 64 bits";
    return SL_ERR_OPTION;
  }
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    if (strcasecmp(end, suffixes[i].suffix) == 0) {
      unsigned shift = suffixes[i].shift;
      if (shift > 0 && n > (UINT64_MAX >> shift)) {
        *why = "does not fit in 64 bits";
        return SL_ERR_OPTION;
      }
      *out = (uint64_t)n << shift;
      return SL_OK;
    }
  }
  *why = "has an unknown suffix";
  return SL_ERR_OPTION;
}

int sl__opt_parse_seconds(const char *s, double *out, const char **why) {
  static const struct {
    const char *suffix;
    double scale;
  } units[] = {{"", 1}, {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"m", 60}, {"min", 60}, {"h", 3600}};
  if (s == NULL || *s == '\0') {
    *why = "is empty";
    return SL_ERR_OPTION;
  }
  if (!isdigit((unsigned char)s[0]) && s[0] != '.') {
    *why = "is not a duration";
    return SL_ERR_OPTION;
  }
  errno = 0;
  char *end = NULL;
  double v = strtod(s, &end);
  if (errno == ERANGE || end == s || !(v >= 0) || v > 1e12) {
    *why = "is not a duration";
    return SL_ERR_OPTION;
  }
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].suffix) == 0) { /* case matters: "M" would be a size's mega */
      *out = v * units[i].scale;
      return SL_OK;
    }
  }
  *why = "has an unknown unit";
  return SL_ERR_OPTION;
}

/* The fewest digits that parse back to v (as for sizes: --sl-help shows what is used). */
void sl__opt_format_seconds(double v, char *buf, size_t cap) {
  int ms = v != 0 && v < 1;
  for (int prec = 6; prec <= 17; prec++) {
    const char *why = NULL;
    double back = -1;
    snprintf(buf, cap, "%.*g%s", prec, ms ? v * 1e3 : v, ms ? "ms" : "s");
    if (sl__opt_parse_seconds(buf, &back, &why) == SL_OK && back == v)
      return;
  }
}

int sl__parse_size(const char *s, uint64_t *out) {
  const char *why = NULL;
  uint64_t v = 0;
  if (out == NULL || sl__opt_parse_size(s, &v, &why) != SL_OK)
    return SL_ERR_OPTION;
  *out = v;
  return SL_OK;
}

int sl__opt_parse_bool(const char *s, int *out) {
  static const char *const yes[] = {"1", "on", "true", "yes"};
  static const char *const no[] = {"0", "off", "false", "no"};
  if (s == NULL)
    return SL_ERR_OPTION;
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(s, yes[i]) == 0) {
      *out = 1;
      return SL_OK;
    }
    if (strcasecmp(s, no[i]) == 0) {
      *out = 0;
      return SL_OK;
    }
  }
  return SL_ERR_OPTION;
}

static int parse_int_why(const char *s, const sl__opt_desc *d, int *out, const char **why) {
  if (s == NULL || !isdigit((unsigned char)s[0])) {
    *why = "is not a whole number";
    return SL_ERR_OPTION;
  }
  errno = 0;
  char *end = NULL;
  unsigned long long n = strtoull(s, &end, 10);
  if (*end != '\0') {
    *why = "is not a whole number";
    return SL_ERR_OPTION;
  }
  if (errno == ERANGE || n > d->max) {
    *why = "is too large";
    return SL_ERR_OPTION;
  }
  if (n < d->min) {
    *why = "is too small";
    return SL_ERR_OPTION;
  }
  *out = (int)n;
  return SL_OK;
}

/* Shortest text that parses back to v, e.g. 65536 -> "64K". */
void sl__opt_format_size(uint64_t v, char *buf, size_t cap) {
  static const char units[] = {'T', 'G', 'M', 'K'};
  for (int i = 0; i < 4; i++) {
    unsigned shift = 40u - 10u * (unsigned)i;
    if (v != 0 && v % ((uint64_t)1 << shift) == 0) {
      snprintf(buf, cap, "%" PRIu64 "%c", v >> shift, units[i]);
      return;
    }
  }
  snprintf(buf, cap, "%" PRIu64, v);
}

void sl__opt_choices_text(const sl__opt_choice *c, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (; c->name != NULL && used < cap; c++) {
    int n = snprintf(buf + used, cap - used, "%s%s", used > 0 ? "|" : "", c->name);
    if (n < 0)
      break;
    used += (size_t)n;
  }
}

int sl__opt_set_value(sl__options *opts, const sl__opt_desc *d, const char *value,
                      const char *who) {
  char *field = (char *)opts + d->offset;
  const char *why = NULL;
  switch (d->type) {
  case SL__OPT_SIZE: {
    uint64_t v = 0;
    if (value == NULL) {
      SL__FAIL(SL_ERR_OPTION, "%s needs a value (%s=%s)", who, who, d->metavar);
    }
    /* named sizes (e.g. "auto"), stored as their value */
    for (const sl__opt_choice *c = d->choices; c != NULL && c->name != NULL; c++) {
      if (!strcasecmp(value, c->name)) {
        v = (uint64_t)c->value;
        memcpy(field, &v, sizeof v);
        return SL_OK;
      }
    }
    if (sl__opt_parse_size(value, &v, &why) != SL_OK) {
      SL__FAIL(SL_ERR_OPTION,
               "bad value for %s: '%s' %s; expected bytes with an optional K, M, G or T "
               "suffix (powers of 1024), e.g. 65536, 64K, 4M, 1GiB%s",
               who, value, why, d->choices != NULL ? ", or auto" : "");
    }
    if (v < d->min) {
      SL__FAIL(SL_ERR_OPTION,
               "bad value for %s: '%s'; expected a size of at least %" PRIu64 " bytes", who, value,
               d->min);
    }
    if (v > d->max) {
      char max[32];
      sl__opt_format_size(d->max, max, sizeof max);
      SL__FAIL(SL_ERR_OPTION, "bad value for %s: '%s'; expected at most %s (%s)", who, value, max,
               d->max_why != NULL ? d->max_why : "limit");
    }
    memcpy(field, &v, sizeof v);
    return SL_OK;
  }
  case SL__OPT_INT: {
    int v = 0;
    if (value == NULL) {
      SL__FAIL(SL_ERR_OPTION, "%s needs a value (%s=%s)", who, who, d->metavar);
    }
    if (parse_int_why(value, d, &v, &why) != SL_OK) {
      SL__FAIL(SL_ERR_OPTION,
               "bad value for %s: '%s' %s; expected a whole number from %" PRIu64 " to %" PRIu64,
               who, value, why, d->min, d->max);
    }
    memcpy(field, &v, sizeof v);
    return SL_OK;
  }
  case SL__OPT_BOOL: {
    int v = 1;
    if (value != NULL && sl__opt_parse_bool(value, &v) != SL_OK) {
      SL__FAIL(SL_ERR_OPTION, "bad value for %s: '%s'; expected on/off, 1/0, true/false or yes/no",
               who, value);
    }
    memcpy(field, &v, sizeof v);
    return SL_OK;
  }
  case SL__OPT_ENUM: {
    char names[128];
    sl__opt_choices_text(d->choices, names, sizeof names);
    if (value == NULL)
      SL__FAIL(SL_ERR_OPTION, "%s needs a value (%s=%s)", who, who, names);
    for (const sl__opt_choice *c = d->choices; c->name != NULL; c++) {
      if (strcasecmp(c->name, value) == 0) {
        memcpy(field, &c->value, sizeof c->value);
        return SL_OK;
      }
    }
    SL__FAIL(SL_ERR_OPTION, "bad value for %s: '%s'; expected one of %s", who, value, names);
  }
  case SL__OPT_SECONDS: {
    double v = 0;
    if (value == NULL) {
      SL__FAIL(SL_ERR_OPTION, "%s needs a value (%s=%s)", who, who, d->metavar);
    }
    if (sl__opt_parse_seconds(value, &v, &why) != SL_OK) {
      SL__FAIL(SL_ERR_OPTION,
               "bad value for %s: '%s' %s; expected a duration: seconds with an optional unit "
               "us, ms, s, m (or min) or h, e.g. 0.5, 10ms, 30s, 5m",
               who, value, why);
    }
    if (v * 1e3 < (double)d->min || v * 1e3 > (double)d->max) {
      SL__FAIL(SL_ERR_OPTION, "bad value for %s: '%s'; expected from %gs to %gs", who, value,
               (double)d->min / 1e3, (double)d->max / 1e3);
    }
    memcpy(field, &v, sizeof v);
    return SL_OK;
  }
  case SL__OPT_STRING: {
    if (value == NULL) {
      SL__FAIL(SL_ERR_OPTION, "%s needs a value (%s=%s)", who, who, d->metavar);
    }
    size_t len = strlen(value);
    if (len >= d->size) {
      SL__FAIL(SL_ERR_OPTION, "bad value for %s: %zu bytes long; expected at most %zu", who, len,
               d->size - 1);
    }
    memcpy(field, value, len + 1);
    return SL_OK;
  }
  }
  SL__FAIL(SL_ERR_INTERNAL, "option --sl-%s has an unknown type %d", d->name, (int)d->type);
}

/* Returns 0, or -1 when buf is too small (the caller decides whether that is an error). */
int sl__opt_format_value(const sl__options *opts, const sl__opt_desc *d, char *buf, size_t cap) {
  const char *field = (const char *)opts + d->offset;
  int n = 0;
  switch (d->type) {
  case SL__OPT_SIZE: {
    uint64_t v;
    memcpy(&v, field, sizeof v);
    char tmp[32];
    sl__opt_format_size(v, tmp, sizeof tmp);
    for (const sl__opt_choice *c = d->choices; c != NULL && c->name != NULL; c++)
      if ((uint64_t)c->value == v)
        snprintf(tmp, sizeof tmp, "%s", c->name);
    n = snprintf(buf, cap, "%s", tmp);
    break;
  }
  case SL__OPT_INT: {
    int v;
    memcpy(&v, field, sizeof v);
    n = snprintf(buf, cap, "%d", v);
    break;
  }
  case SL__OPT_BOOL: {
    int v;
    memcpy(&v, field, sizeof v);
    n = snprintf(buf, cap, "%s", v ? "on" : "off");
    break;
  }
  case SL__OPT_ENUM: {
    int v;
    memcpy(&v, field, sizeof v);
    const char *name = "?";
    for (const sl__opt_choice *c = d->choices; c->name != NULL; c++) {
      if (c->value == v)
        name = c->name;
    }
    n = snprintf(buf, cap, "%s", name);
    break;
  }
  case SL__OPT_STRING:
    n = snprintf(buf, cap, "%s", field);
    break;
  case SL__OPT_SECONDS: {
    double v;
    memcpy(&v, field, sizeof v);
    char tmp[48];
    sl__opt_format_seconds(v, tmp, sizeof tmp);
    n = snprintf(buf, cap, "%s", tmp);
    break;
  }
  }
  return n < 0 || (size_t)n >= cap ? -1 : 0;
}
