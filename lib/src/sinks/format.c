/* SPDX-License-Identifier: BSD-3-Clause */
/* Formatting records as text lines: sl_text and the built-in formats of sl_flow_to_text. */
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "sinks/sinks.h"

int sl_text_append(sl_text *line, const void *bytes, size_t len) {
  if (!line || (len && !bytes))
    return SL_ERR_INVAL;
  return sl__bytes_append(&line->b, bytes, len);
}

int sl_format_value(const sl_record *rec, sl_text *line, void *arg) {
  (void)arg;
  return sl_text_append(line, rec->value, rec->value_len);
}

int sl_format_tsv(const sl_record *rec, sl_text *line, void *arg) {
  (void)arg;
  SL__CHECK(sl_text_append(line, rec->key, rec->key_len));
  SL__CHECK(sl_text_append(line, "\t", 1));
  return sl_text_append(line, rec->value, rec->value_len);
}

static int tsv_number(const sl_record *rec, sl_text *line, char kind) {
  if (rec->value_len != 8)
    SL__FAIL(SL_ERR_TYPE, "text output: expected an 8-byte number as the value, found %zu bytes",
             rec->value_len);
  char num[64];
  int n;
  if (kind == 'u') { /* the digits by hand: a word count writes millions of these */
    uint64_t v;
    memcpy(&v, rec->value, 8);
    char *e = num + sizeof num, *d = e;
    do {
      *--d = (char)('0' + v % 10);
      v /= 10;
    } while (v);
    n = (int)(e - d);
    memmove(num, d, (size_t)n);
  } else if (kind == 'i') {
    int64_t v;
    memcpy(&v, rec->value, 8);
    n = snprintf(num, sizeof num, "%lld", (long long)v);
  } else {
    double v;
    memcpy(&v, rec->value, 8);
    n = snprintf(num, sizeof num, "%.17g", v);
  }
  SL__CHECK(sl_text_append(line, rec->key, rec->key_len));
  SL__CHECK(sl_text_append(line, "\t", 1));
  return sl_text_append(line, num, (size_t)n);
}

int sl_format_tsv_u64(const sl_record *rec, sl_text *line, void *arg) {
  (void)arg;
  return tsv_number(rec, line, 'u');
}
int sl_format_tsv_i64(const sl_record *rec, sl_text *line, void *arg) {
  (void)arg;
  return tsv_number(rec, line, 'i');
}
int sl_format_tsv_f64(const sl_record *rec, sl_text *line, void *arg) {
  (void)arg;
  return tsv_number(rec, line, 'f');
}
