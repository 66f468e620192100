/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the word scanner behind sl_text_words (algo/textscan.c), one loop in
 * three instruction sets. The scan takes 64 bytes at a time: a mask of their whitespace
 * bytes, then word starts and ends from the mask with bit tricks. */
#ifndef SLUICE_TEXTSCAN_H
#define SLUICE_TEXTSCAN_H

#include <stddef.h>

#include "sluice/sl_text.h"

enum { SL__SCAN_SCALAR = 0, SL__SCAN_SSE2 = 1, SL__SCAN_AVX2 = 2 };

/* One scan with a given instruction set (the contract of sl_text_words, returning the
 * number of words). An isa this build or CPU lacks falls back to the next lower one. */
size_t sl__text_scan(int isa, const unsigned char *text, size_t len, size_t *pos,
                     sl_text_word *words, size_t max);
/* The best instruction set this CPU runs (asked once). */
int sl__text_scan_isa(void);

#endif
