/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the local sort of records that all have the same key and value lengths
 * (rows, fixed structs: the common case of a sort), stored packed as key|value without the
 * record header. A stable merge sort that calls the user's comparator directly:
 * cache-sized blocks are sorted first, then merged across the whole array, each merge
 * choosing its next record without a branch on the comparison (random keys would
 * mispredict half of them). */
#ifndef SLUICE_SORT_FIXED_H
#define SLUICE_SORT_FIXED_H

#include <stddef.h>
#include <stdint.h>

#include "sluice.h"

typedef struct sl__fixsort {
  sl_cmp_fn cmp;
  sl_sort_key_fn key; /* when set, the order is by key (cmp unused): a radix sort */
  void *arg;
  int descending;
  uint32_t klen, vlen; /* every record: klen bytes of key, then vlen bytes of value */
} sl__fixsort;

/* Sorts the n records of (klen + vlen) bytes at a, stably (equal records keep their order),
 * by cmp or key (reversed if descending). scratch holds n * (klen + vlen) bytes. Sets
 * *sorted to where the sorted records are: a or scratch (the other buffer is left with
 * garbage). Fails (by key only) when out of memory for the key arrays and count tables
 * (about 2 MiB; the records are then unchanged), or when the key function is not
 * deterministic (SL_ERR_CALLBACK; the records are then lost). */
int sl__sort_fixed(const sl__fixsort *fs, char *a, size_t n, char *scratch, char **sorted);

#endif
