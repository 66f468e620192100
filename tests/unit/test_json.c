/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the JSON writer (core/json.c) and of names made printable (core/log.c):
 * the exact bytes for each class of input, including the UTF-8 a parser must reject
 * (overlong forms, surrogates, past U+10FFFF, truncated sequences). tests/obs parses
 * whole records back with Python's json. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "unit.h"

/* The JSON text of s, NUL-terminated (the buffer stays owned by the caller). */
static const char *str(sl__bytes *b, const char *s) {
  b->len = 0;
  EXPECT_INT(sl__json_str(b, s), SL_OK);
  EXPECT_INT(sl__bytes_append(b, "", 1), SL_OK);
  return b->p;
}

static void test_strings(void) {
  sl__bytes b = {0};
  EXPECT_STR(str(&b, ""), "\"\"");
  EXPECT_STR(str(&b, "plain"), "\"plain\"");
  EXPECT_STR(str(&b, "a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
  EXPECT_STR(str(&b, "\n\r\t\x01\x1f\x7f"), "\"\\n\\r\\t\\u0001\\u001f\\u007f\"");
  /* valid UTF-8 passes through: 2, 3 and 4 bytes */
  EXPECT_STR(str(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
             "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
  /* not UTF-8: each bad byte becomes U+FFFD, the rest stays */
  EXPECT_STR(str(&b, "a\xff"
                     "b"),
             "\"a\xef\xbf\xbd"
             "b\"");
  EXPECT_STR(str(&b, "\xc0\xaf"), "\"\xef\xbf\xbd\xef\xbf\xbd\""); /* overlong '/' */
  EXPECT_STR(str(&b, "\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* surrogate */
  EXPECT_STR(str(&b, "\xf4\x90\x80\x80"),
             "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* past U+10FFFF */
  EXPECT_STR(str(&b, "x\xe2\x82"), "\"x\xef\xbf\xbd\xef\xbf\xbd\"");  /* cut short */
  EXPECT_STR(str(&b, NULL), "\"\"");
  sl__bytes_free(&b);
}

static void test_numbers_and_keys(void) {
  sl__bytes b = {0};
  EXPECT_INT(sl__json_raw(&b, "{"), SL_OK);
  EXPECT_INT(sl__json_knum(&b, 1, "n", 42), SL_OK);
  EXPECT_INT(sl__json_knum(&b, 0, "big", 9007199254740991.0), SL_OK);
  EXPECT_INT(sl__json_knum(&b, 0, "f", 0.1), SL_OK);
  EXPECT_INT(sl__json_knum(&b, 0, "nan", NAN), SL_OK);
  EXPECT_INT(sl__json_knum(&b, 0, "inf", -INFINITY), SL_OK);
  EXPECT_INT(sl__json_kstr(&b, 0, "k\"", "v"), SL_OK);
  EXPECT_INT(sl__json_raw(&b, "}"), SL_OK);
  EXPECT_INT(sl__bytes_append(&b, "", 1), SL_OK);
  EXPECT_STR(b.p, "{\"n\":42,\"big\":9007199254740991,\"f\":0.10000000000000001,\"nan\":null,"
                  "\"inf\":null,\"k\\\"\":\"v\"}");
  sl__bytes_free(&b);
}

static void test_printable(void) {
  char out[64];
  sl__printable("a\nb\tc\x01 \xc3\xa9", out, sizeof out);
  EXPECT_STR(out, "a\\nb\\tc\\x01 \xc3\xa9");
  sl__printable("abcdef", out, 4); /* cut to fit, terminated */
  EXPECT_STR(out, "abc");
  sl__printable("\n\n", out, 4); /* an escape is never cut in half */
  EXPECT_STR(out, "\\n");
}

int main(void) {
  static const sl_test tests[] = {
      {"strings", test_strings},
      {"numbers and keys", test_numbers_and_keys},
      {"printable", test_printable},
      {NULL, NULL},
  };
  return sl_test_main("json", tests);
}
