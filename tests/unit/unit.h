/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared by the CUnit unit tests: assertions that print both sides on failure, and a main
 * that runs one suite and exits nonzero on any failure. */
#ifndef SLUICE_TESTS_UNIT_H
#define SLUICE_TESTS_UNIT_H

#include <CUnit/Basic.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define EXPECT_INT(actual, expected)                                                               \
  do {                                                                                             \
    long long a_ = (long long)(actual), e_ = (long long)(expected);                                \
    if (a_ != e_) {                                                                                \
      fprintf(stderr, "\n%s:%d: %s is %lld, expected %lld\n", __FILE__, __LINE__, #actual, a_,     \
              e_);                                                                                 \
    }                                                                                              \
    CU_ASSERT(a_ == e_);                                                                           \
  } while (0)

#define EXPECT_U64(actual, expected)                                                               \
  do {                                                                                             \
    uint64_t a_ = (uint64_t)(actual), e_ = (uint64_t)(expected);                                   \
    if (a_ != e_) {                                                                                \
      fprintf(stderr, "\n%s:%d: %s is %" PRIu64 ", expected %" PRIu64 "\n", __FILE__, __LINE__,    \
              #actual, a_, e_);                                                                    \
    }                                                                                              \
    CU_ASSERT(a_ == e_);                                                                           \
  } while (0)

#define EXPECT_STR(actual, expected)                                                               \
  do {                                                                                             \
    const char *a_ = (actual), *e_ = (expected);                                                   \
    int ok_ = a_ != NULL && strcmp(a_, e_) == 0;                                                   \
    if (!ok_) {                                                                                    \
      fprintf(stderr, "\n%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #actual,     \
              a_ != NULL ? a_ : "(null)", e_);                                                     \
    }                                                                                              \
    CU_ASSERT(ok_);                                                                                \
  } while (0)

#define EXPECT_CONTAINS(haystack, needle)                                                          \
  do {                                                                                             \
    const char *h_ = (haystack), *n_ = (needle);                                                   \
    int ok_ = h_ != NULL && strstr(h_, n_) != NULL;                                                \
    if (!ok_) {                                                                                    \
      fprintf(stderr, "\n%s:%d: %s is \"%s\", expected it to contain \"%s\"\n", __FILE__,          \
              __LINE__, #haystack, h_ != NULL ? h_ : "(null)", n_);                                \
    }                                                                                              \
    CU_ASSERT(ok_);                                                                                \
  } while (0)

typedef struct sl_test {
  const char *name;
  void (*fn)(void);
} sl_test;

/* Runs the tests as one suite; returns the process exit status. */
static inline int sl_test_main(const char *suite_name, const sl_test *tests) {
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 2;
  CU_pSuite suite = CU_add_suite(suite_name, NULL, NULL);
  if (suite == NULL)
    goto fail;
  for (const sl_test *t = tests; t->name != NULL; t++) {
    if (CU_add_test(suite, t->name, t->fn) == NULL)
      goto fail;
  }
  CU_basic_set_mode(CU_BRM_VERBOSE);
  if (CU_basic_run_tests() != CUE_SUCCESS)
    goto fail;
  unsigned failures = CU_get_number_of_failures();
  CU_cleanup_registry();
  return failures == 0 ? 0 : 1;
fail:
  fprintf(stderr, "CUnit error: %s\n", CU_get_error_msg());
  CU_cleanup_registry();
  return 2;
}

/* xorshift64*: reproducible test data; each test keeps its own state (seed) */
static inline uint64_t sl_test_xorshift(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

#endif
