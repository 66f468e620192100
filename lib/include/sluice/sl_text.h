/* SPDX-License-Identifier: BSD-3-Clause */
/* Text at block level: a source that hands out read blocks of whole lines, a vectorized
 * tokenizer over such a block, and an emit of many keyed records in one call. Together
 * they let a flow count or group words without one engine call per word (the way
 * sluice-wordcount does; docs/flow-text.md).
 *
 * A word is a maximal run of bytes other than the six ASCII whitespace bytes (space, \t,
 * \n, \v, \f, \r); every other byte, NUL and bytes >= 0x80 included, belongs to words. */
#ifndef SLUICE_SL_TEXT_H
#define SLUICE_SL_TEXT_H

#include <stddef.h>

#include "sluice/sl_export.h"
#include "sluice/sl_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Text files as blocks: each record (empty key) holds one or more whole lines, newlines
 * included, up to about --sl-read-block-bytes; a line longer than that is a record of its
 * own, without its '\n'. The last line of a file may lack a '\n'. Lines are split across
 * partitions as sl_flow_from_text_files splits them, so a word never spans two records.
 * Paths are copied. Not collective (the flow's run is). */
SL_EXPORT int sl_flow_from_text_blocks(sl_flow *flow, const char *const *paths, size_t count,
                                       int partitions);

/* A word found in a text block: its first byte and its length. */
typedef struct sl_text_word {
  const char *ptr;
  size_t len;
} sl_text_word;

/* Find the next words of text[0, len) from *pos: fills words[0, *count) with up to max of
 * them, in order, and moves *pos past the last one; *pos == len once the block is done.
 * Start with *pos = 0; the byte at *pos is taken to start the scan outside a word. Uses
 * AVX2 when the CPU has it, else SSE2 (x86-64), else a portable loop: all give the same
 * words. Never reads outside text[0, len). Local (no communication). Returns SL_OK, or
 * SL_ERR_INVAL for NULL pointers (text may be NULL when len is 0). */
SL_EXPORT int sl_text_words(const void *text, size_t len, size_t *pos, sl_text_word *words,
                            size_t max, size_t *count);

/* Emit n records whose keys are keys[0, n) and whose values are all (value, value_len):
 * the same as n calls of sl_emit, but a step that folds keys (the combiner of a
 * reduce_by_key) takes them as one batch, each key hashed once. Use it in a flat_map
 * callback, with what sl_text_words found. Local. Returns what sl_emit returns. */
SL_EXPORT int sl_emit_words(sl_emitter *out, const sl_text_word *keys, size_t n, const void *value,
                            size_t value_len);

#ifdef __cplusplus
}
#endif

#endif
