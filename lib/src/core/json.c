/* SPDX-License-Identifier: BSD-3-Clause */
/* A small JSON writer onto a growable buffer: the run record (--sl-stats) and the trace
 * (--sl-trace) are made with it. Strings are escaped per RFC 8259 (quote, backslash and
 * every control character), and bytes that are not valid UTF-8 become U+FFFD, so any name
 * a user gives (stages, files, a command line) comes out as a string any JSON parser
 * reads back. Numbers that JSON cannot hold (NaN, infinities) are written as null. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

int sl__json_raw(sl__bytes *b, const char *s) {
  return sl__bytes_append(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  size_t len;
  unsigned min;
  unsigned cp;
  if (s[0] < 0x80)
    return 1;
  if ((s[0] & 0xE0) == 0xC0) {
    len = 2, min = 0x80, cp = s[0] & 0x1Fu;
  } else if ((s[0] & 0xF0) == 0xE0) {
    len = 3, min = 0x800, cp = s[0] & 0x0Fu;
  } else if ((s[0] & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, cp = s[0] & 0x07u;
  } else {
    return 0;
  }
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3Fu);
  }
  /* overlong forms, surrogates and code points past U+10FFFF are not UTF-8 */
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

int sl__json_str(sl__bytes *b, const char *s) {
  SL__CHECK(sl__bytes_append(b, "\"", 1));
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  size_t n = strlen((const char *)p);
  while (n > 0) {
    char esc[8];
    const char *out = esc;
    size_t k = 1, m;
    switch (*p) {
    case '"':
      out = "\\\"", m = 2;
      break;
    case '\\':
      out = "\\\\", m = 2;
      break;
    case '\n':
      out = "\\n", m = 2;
      break;
    case '\r':
      out = "\\r", m = 2;
      break;
    case '\t':
      out = "\\t", m = 2;
      break;
    default:
      if (*p < 0x20 || *p == 0x7F) {
        m = (size_t)snprintf(esc, sizeof esc, "\\u%04x", *p);
      } else {
        k = utf8_len(p, n);
        if (k == 0) {
          out = "\xEF\xBF\xBD", m = 3, k = 1; /* U+FFFD for a stray byte */
        } else {
          out = (const char *)p, m = k;
        }
      }
    }
    SL__CHECK(sl__bytes_append(b, out, m));
    p += k;
    n -= k;
  }
  return sl__bytes_append(b, "\"", 1);
}

int sl__json_num(sl__bytes *b, double v) {
  char t[32];
  if (!isfinite(v))
    return sl__json_raw(b, "null");
  /* integers print as integers (counts, bytes), the rest with full precision */
  if (v == floor(v) && fabs(v) < 9e15)
    snprintf(t, sizeof t, "%.0f", v);
  else
    snprintf(t, sizeof t, "%.17g", v);
  return sl__json_raw(b, t);
}

int sl__json_key(sl__bytes *b, int first, const char *key) {
  if (!first)
    SL__CHECK(sl__bytes_append(b, ",", 1));
  SL__CHECK(sl__json_str(b, key));
  return sl__bytes_append(b, ":", 1);
}

int sl__json_kstr(sl__bytes *b, int first, const char *key, const char *v) {
  SL__CHECK(sl__json_key(b, first, key));
  return sl__json_str(b, v);
}

int sl__json_knum(sl__bytes *b, int first, const char *key, double v) {
  SL__CHECK(sl__json_key(b, first, key));
  return sl__json_num(b, v);
}
