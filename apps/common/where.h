/* SPDX-License-Identifier: BSD-3-Clause */
/* where: the --where row filter the HDF5 apps share ("F OP VALUE", several ANDed).
 *
 *   --where 'x > 0, flag == 1, name != abc'
 *
 * Conditions are separated by commas and all must hold. OP is ==, !=, <, <=, > or >=.
 * A numeric field is compared by its decoded value (sl_h5_get_f64: CF unpacked) with VALUE
 * as a number; a missing value (sl_h5_is_missing) or NaN satisfies no condition but !=.
 * A fixed-length string field is compared bytewise with VALUE (its stored bytes up to the
 * first NUL or trailing space padding). Local. */
#ifndef SLUICE_APP_WHERE_H
#define SLUICE_APP_WHERE_H

#include <stddef.h>

#include <sluice.h>

enum { WHERE_MAX = 16 };

typedef struct where_cond {
  char field[256];
  int op; /* W_EQ ... */
  double num;
  char str[256];
  size_t strlen;
  sl_h5_field f; /* bound by where_bind */
} where_cond;

typedef struct where {
  where_cond c[WHERE_MAX];
  size_t n;
} where;

/* Parse s (NULL: no condition) into w. 0, or -1 with a message (one line) in err. */
int where_parse(const char *s, where *w, char *err, size_t cap);
/* The field names the conditions use that are not among names[0..n) are appended to
 * extra (up to cap; returns how many were appended). */
size_t where_missing_fields(const where *w, const char *const *names, size_t n, const char **extra,
                            size_t cap);
/* Bind the conditions to the fields of layout. 0, or -1 with a message in err (no such
 * field; a number compared with a string field or the reverse). */
int where_bind(where *w, const sl_h5_layout *layout, char *err, size_t cap);
/* 1 when row satisfies every condition (sl_flow_filter: arg is the where). */
int where_test(const sl_record *rec, void *arg);

#endif
