/* SPDX-License-Identifier: BSD-3-Clause */
/* where: the --where row filter of the HDF5 apps (see where.h). */
#define _POSIX_C_SOURCE 200809L
#include "where.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { W_EQ, W_NE, W_LT, W_LE, W_GT, W_GE };
static const char *const op_text[] = {"==", "!=", "<", "<=", ">", ">="};

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    s[--n] = 0;
  return s;
}

/* One condition "F OP VALUE" (t is trimmed, writable). */
static int parse_one(char *t, where_cond *c, char *err, size_t cap) {
  char *op = NULL;
  int k = -1;
  /* the first operator character starts the operator: field names hold none of <>=! */
  op = strpbrk(t, "<>=!");
  if (op) {
    for (int i = 0; i < 6; i++) {
      size_t l = strlen(op_text[i]);
      if (!strncmp(op, op_text[i], l) && (k < 0 || l > strlen(op_text[k])))
        k = i;
    }
  }
  if (!op || k < 0) {
    snprintf(err, cap, "--where: '%s' is not 'FIELD OP VALUE' (OP: ==, !=, <, <=, >, >=)", t);
    return -1;
  }
  char *val = op + strlen(op_text[k]);
  *op = 0;
  char *name = trim(t);
  val = trim(val);
  if (!*name || !*val) {
    snprintf(err, cap, "--where: '%s%s%s' needs a field and a value", name, op_text[k], val);
    return -1;
  }
  if (strlen(name) >= sizeof c->field || strlen(val) >= sizeof c->str) {
    snprintf(err, cap, "--where: field or value longer than 255 bytes");
    return -1;
  }
  snprintf(c->field, sizeof c->field, "%s", name);
  snprintf(c->str, sizeof c->str, "%s", val);
  c->strlen = strlen(val);
  c->op = k;
  char *end;
  errno = 0;
  c->num = strtod(val, &end);
  if (errno || *end)
    c->num = NAN; /* not a number: only a string field can take it (checked at bind) */
  return 0;
}

int where_parse(const char *s, where *w, char *err, size_t cap) {
  memset(w, 0, sizeof *w);
  if (!s)
    return 0;
  char *copy = strdup(s);
  if (!copy) {
    snprintf(err, cap, "out of memory for --where");
    return -1;
  }
  int rc = 0;
  char *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
    t = trim(t);
    if (!*t)
      continue;
    if (w->n == WHERE_MAX) {
      snprintf(err, cap, "--where: at most %d conditions", WHERE_MAX);
      rc = -1;
      break;
    }
    rc = parse_one(t, &w->c[w->n], err, cap);
    if (!rc)
      w->n++;
  }
  if (!rc && !w->n) {
    snprintf(err, cap, "--where: no condition given (expected 'FIELD OP VALUE')");
    rc = -1;
  }
  free(copy);
  return rc;
}

size_t where_missing_fields(const where *w, const char *const *names, size_t n, const char **extra,
                            size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < w->n; i++) {
    int have = 0;
    for (size_t j = 0; j < n && !have; j++)
      have = !strcmp(names[j], w->c[i].field);
    for (size_t j = 0; j < k && !have; j++)
      have = !strcmp(extra[j], w->c[i].field);
    if (!have && k < cap)
      extra[k++] = w->c[i].field;
  }
  return k;
}

int where_bind(where *w, const sl_h5_layout *layout, char *err, size_t cap) {
  for (size_t i = 0; i < w->n; i++) {
    where_cond *c = &w->c[i];
    size_t k;
    if (sl_h5_layout_find(layout, c->field, &k) != SL_OK) {
      char names[1024];
      sl_h5_layout_names(layout, names, sizeof names);
      snprintf(err, cap, "--where: no field '%s' (fields: %s)", c->field, names);
      return -1;
    }
    sl_h5_layout_field(layout, k, &c->f);
    if (c->f.cls != SL_H5_STRING && isnan(c->num) && strcmp(c->str, "nan") &&
        strcmp(c->str, "NaN")) {
      snprintf(err, cap, "--where: field '%s' is numeric, but '%s' is not a number", c->field,
               c->str);
      return -1;
    }
  }
  return 0;
}

static int holds(int op, int cmp) {
  switch (op) {
  case W_EQ:
    return cmp == 0;
  case W_NE:
    return cmp != 0;
  case W_LT:
    return cmp < 0;
  case W_LE:
    return cmp <= 0;
  case W_GT:
    return cmp > 0;
  default:
    return cmp >= 0;
  }
}

int where_test(const sl_record *rec, void *arg) {
  const where *w = arg;
  for (size_t i = 0; i < w->n; i++) {
    const where_cond *c = &w->c[i];
    if (c->f.cls == SL_H5_STRING) {
      const char *p = (const char *)rec->value + c->f.offset;
      size_t n = 0;
      while (n < c->f.size && p[n])
        n++;
      while (n && p[n - 1] == ' ')
        n--;
      size_t m = n < c->strlen ? n : c->strlen;
      int cmp = memcmp(p, c->str, m);
      if (!cmp)
        cmp = (n > c->strlen) - (n < c->strlen);
      if (!holds(c->op, cmp))
        return 0;
      continue;
    }
    double x = sl_h5_get_f64(&c->f, rec->value); /* NaN when missing */
    if (isnan(x) || isnan(c->num)) {
      if (c->op != W_NE)
        return 0;
      continue;
    }
    if (!holds(c->op, (x > c->num) - (x < c->num)))
      return 0;
  }
  return 1;
}
