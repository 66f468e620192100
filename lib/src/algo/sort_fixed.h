/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the order of a sort, and the local sort of records that all have the
 * same key and value lengths (rows, fixed structs: the common case of a sort), stored
 * packed as key|value without the record header. By a compare function: a stable merge
 * sort that calls the user's comparator directly: cache-sized blocks are sorted first,
 * then merged across the whole array, each merge choosing its next record without a
 * branch on the comparison (random keys would mispredict half of them). By a key of 64-bit
 * words: a radix sort. */
#ifndef SLUICE_SORT_FIXED_H
#define SLUICE_SORT_FIXED_H

#include <stddef.h>
#include <stdint.h>

#include "sluice.h"

/* The order of a sort: by cmp, or by a key of `words` 64-bit words, most significant first
 * (key: one word, sl_flow_sort_by_key; keys: sl_flow_sort_by_keys), compared as unsigned
 * numbers; reversed if descending. */
typedef struct sl__sort_order {
  sl_cmp_fn cmp;
  sl_sort_key_fn key;
  sl_sort_keys_fn keys;
  unsigned words; /* 0: by cmp; else 1 (key) or 1..SL_SORT_KEY_WORDS_MAX (keys) */
  void *arg;
  int descending;
} sl__sort_order;

/* The key words of r, each complemented if descending (ascending order on them is the
 * sort's order); o->words of them. */
static inline void sl__sort_key_words(const sl__sort_order *o, const sl_record *r, uint64_t *k) {
  uint64_t flip = o->descending ? ~(uint64_t)0 : 0;
  if (o->key) {
    k[0] = o->key(r, o->arg) ^ flip;
    return;
  }
  o->keys(r, o->arg, k);
  for (unsigned i = 0; i < o->words; i++)
    k[i] ^= flip;
}

/* Compares key words: <0, 0, >0. */
static inline int sl__sort_words_cmp(const uint64_t *x, const uint64_t *y, unsigned words) {
  for (unsigned i = 0; i < words; i++)
    if (x[i] != y[i])
      return x[i] < y[i] ? -1 : 1;
  return 0;
}

/* a against b in the order o: <0 (a first), 0, >0. */
static inline int sl__sort_order_cmp(const sl__sort_order *o, const sl_record *a,
                                     const sl_record *b) {
  if (o->words) {
    uint64_t x[SL_SORT_KEY_WORDS_MAX], y[SL_SORT_KEY_WORDS_MAX];
    sl__sort_key_words(o, a, x);
    sl__sort_key_words(o, b, y);
    return sl__sort_words_cmp(x, y, o->words);
  }
  return o->descending ? o->cmp(b, a, o->arg) : o->cmp(a, b, o->arg);
}

typedef struct sl__fixsort {
  sl__sort_order ord;  /* by key words: a radix sort; by cmp: a merge sort */
  uint32_t klen, vlen; /* every record: klen bytes of key, then vlen bytes of value */
} sl__fixsort;

/* Sorts the n records of (klen + vlen) bytes at a, stably (equal records keep their order),
 * in the order fs->ord. scratch holds n * (klen + vlen) bytes. Sets *sorted to where the
 * sorted records are: a or scratch (the other buffer is left with garbage). Fails (by key
 * only) when out of memory for the key arrays and the count tables (SL_ERR_NOMEM: about
 * 1 MiB for one word, more for keys of several words; the records are then lost, as when
 * the key function is not deterministic: SL_ERR_CALLBACK). */
int sl__sort_fixed(const sl__fixsort *fs, char *a, size_t n, char *scratch, char **sorted);

/* The same radix sort (by key words only) in steps, so that a long sort lets its caller
 * turn in between (a stop signal, a checkpoint): begin, then step until *done, each step
 * doing about `budget` records' worth of work. Between steps, sl__sort_fixed_job_pieces
 * calls fn with the pieces of a and scratch that hold every record, in an order that
 * keeps equal records in their arrival order: sorting them again from there gives the
 * same result (fn's nonzero return stops it and is returned). The job holds the key
 * arrays and count tables; free it with sl__sort_fixed_job_free (NULL is fine). */
typedef struct sl__fixsort_job sl__fixsort_job;
int sl__sort_fixed_begin(const sl__fixsort *fs, char *a, size_t n, char *scratch,
                         sl__fixsort_job **job);
int sl__sort_fixed_step(sl__fixsort_job *job, size_t budget, int *done, char **sorted);
int sl__sort_fixed_job_pieces(const sl__fixsort_job *job,
                              int (*fn)(void *arg, const char *p, size_t len), void *arg);
void sl__sort_fixed_job_free(sl__fixsort_job *job);

/* How far a job has come, for a checkpoint taken between steps: the chain of jobs (the
 * job, then the job of the bucket it is sorting, ...) that have scattered their records
 * into buckets, one frame each, outermost first. With the records in the order
 * sl__sort_fixed_job_pieces gives them, frame i's job holds n records: buckets [0, next)
 * sorted, bucket `next` (frame i + 1's records when there is one), then the rest, each
 * bucket's records in arrival order. A job still counting or scattering has no frame: its
 * records are in arrival order (sorting them from the start is all there is to do). */
enum { SL__FIXSORT_DIGITS = 8 * SL_SORT_KEY_WORDS_MAX, SL__FIXSORT_BUCKETS = 256 };
typedef struct sl__fixsort_frame {
  uint64_t n;
  uint32_t d;    /* the digit its records were scattered on */
  uint32_t next; /* buckets below it are sorted */
  int32_t nlive; /* the digits that differ between some of its records: live[0..nlive) */
  uint32_t pad;
  unsigned char live[SL__FIXSORT_DIGITS];
  uint64_t cnt[SL__FIXSORT_BUCKETS]; /* records per bucket */
} sl__fixsort_frame;

/* The frames of job (at most max; SL__FIXSORT_DIGITS always suffice) into f; returns how
 * many. */
int sl__sort_fixed_job_frames(const sl__fixsort_job *job, sl__fixsort_frame *f, int max);

/* A job that goes on from frames f[0..nf) (sl__sort_fixed_job_frames of a job of the same
 * order and record size) over the n records at a, laid out as that job's pieces were;
 * scratch as in sl__sort_fixed_begin. nf 0 is sl__sort_fixed_begin. Frames that do not fit
 * n and the key (counts that do not add up, a digit past the key) fail with SL_ERR_FORMAT. */
int sl__sort_fixed_resume(const sl__fixsort *fs, char *a, size_t n, char *scratch,
                          const sl__fixsort_frame *f, int nf, sl__fixsort_job **job);

#endif
