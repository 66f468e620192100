/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: the options table, shared by the files that parse, set, read and print
 * options (options*.c). Nothing outside lib/src/core/options*.c should need this. */
#ifndef SLUICE_CORE_OPTIONS_TABLE_H
#define SLUICE_CORE_OPTIONS_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

typedef enum sl__opt_type {
  SL__OPT_SIZE,
  SL__OPT_INT,
  SL__OPT_BOOL,
  SL__OPT_STRING,
  SL__OPT_ENUM,
  SL__OPT_SECONDS /* a double, in seconds; typed as 0.5, 500ms, 2s, 5m or 1h; min/max in ms */
} sl__opt_type;

typedef struct sl__opt_choice {
  const char *name;
  int value;
} sl__opt_choice;

typedef struct sl__opt_desc {
  const char *name; /* without the --sl- prefix */
  sl__opt_type type;
  const char *def;     /* default, in the syntax a user would type */
  const char *metavar; /* value placeholder in --sl-help; NULL for booleans and enums */
  const char *help;
  size_t offset; /* of the field in sl__options */
  size_t size;   /* of that field: checked against the type, and the string capacity */
  uint64_t min, max;
  const char *max_why; /* shown when a value exceeds max */
  const sl__opt_choice
      *choices; /* SL__OPT_ENUM; or a SIZE's named values ("auto"); ended by {NULL, 0} */
} sl__opt_desc;

extern const sl__opt_desc sl__option_table[];
extern const size_t sl__option_count;

/* Lookup by name, with or without the "--sl-" prefix; NULL if unknown. */
const sl__opt_desc *sl__opt_find(const char *name);
/* Records "unknown option <shown>" with a did-you-mean for name; returns SL_ERR_OPTION. */
int sl__opt_fail_unknown(const char *shown, const char *name, const char *file, int line);
/* "SLUICE_BATCH_BYTES" for "batch-bytes". */
void sl__opt_env_name(const char *name, char *buf, size_t cap);

/* Parse value into the option's field of opts. who names the source in the message, e.g.
 * "--sl-batch-bytes" or "SLUICE_BATCH_BYTES (environment)". value NULL means the option
 * was given bare, which only booleans allow. SL_OK or SL_ERR_OPTION (recorded). */
int sl__opt_set_value(sl__options *opts, const sl__opt_desc *d, const char *value, const char *who);
/* The current value as text that parses back; 0, or -1 if buf is too small (not recorded). */
int sl__opt_format_value(const sl__options *opts, const sl__opt_desc *d, char *buf, size_t cap);

/* Value parsers: SL_OK, or SL_ERR_OPTION with *why saying what is wrong. Record nothing. */
int sl__opt_parse_size(const char *s, uint64_t *out, const char **why);
int sl__opt_parse_bool(const char *s, int *out);
int sl__opt_parse_seconds(const char *s, double *out, const char **why);
/* Shortest text that parses back to a duration, e.g. 0.01 -> "10ms". */
void sl__opt_format_seconds(double v, char *buf, size_t cap);
/* Shortest text that parses back to v, e.g. 65536 -> "64K". */
void sl__opt_format_size(uint64_t v, char *buf, size_t cap);
/* "a|b|c" from an enum's choices. */
void sl__opt_choices_text(const sl__opt_choice *c, char *buf, size_t cap);

#endif
