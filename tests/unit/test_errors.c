/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of error codes, the first-error record and the one-line report. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "unit.h"

static void test_strerror_table(void) {
#define CHECK_ENTRY(name, value, msg)                                                              \
  EXPECT_STR(sl_strerror(value), msg);                                                             \
  EXPECT_STR(sl_err_name(value), #name);                                                           \
  EXPECT_INT(SL_ERR_##name, value);
  SL_ERRNO_MAP(CHECK_ENTRY)
#undef CHECK_ENTRY
  EXPECT_INT(SL_OK, 0);
  EXPECT_STR(sl_strerror(12345), "unknown error");
  EXPECT_STR(sl_err_name(12345), "UNKNOWN");
  EXPECT_STR(sl_err_name(-1000), "UNKNOWN");
  EXPECT_STR(sl_err_name(SL_ERR_NOMEM), "NOMEM");
  EXPECT_STR(sl_strerror(SL_ERR_REMOTE), "stopped because another rank failed");
}

static void test_codes_distinct(void) {
  static const int codes[] = {
#define CODE(name, value, msg) value,
      SL_ERRNO_MAP(CODE)
#undef CODE
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    CU_ASSERT(codes[i] <= 0);
    for (size_t j = i + 1; j < n; j++)
      CU_ASSERT(codes[i] != codes[j]);
  }
}

static void test_first_error_wins(void) {
  sl__error_clear();
  EXPECT_INT(sl__error_code(), SL_OK);
  EXPECT_STR(sl__error_message(), "");
  EXPECT_INT(sl__error_set(SL_ERR_IO, "a.c", 1, "reading %s: %s", "in.txt", "gone"), SL_ERR_IO);
  EXPECT_INT(sl__error_set(SL_ERR_REMOTE, "b.c", 2, "later"), SL_ERR_REMOTE);
  EXPECT_INT(sl__error_code(), SL_ERR_IO);
  EXPECT_STR(sl__error_message(), "reading in.txt: gone");
  sl__error_clear();
  EXPECT_INT(sl__error_code(), SL_OK);
  EXPECT_STR(sl__error_message(), "");
  EXPECT_INT(sl__error_set(SL_ERR_FORMAT, "c.c", 3, "second"), SL_ERR_FORMAT);
  EXPECT_STR(sl__error_message(), "second");
  sl__error_clear();
}

static void test_one_line(void) {
  sl__error_set(SL_ERR_FORMAT, "a.c", 1, "line one\nline two\r");
  EXPECT_STR(sl__error_message(), "line one line two ");
  sl__error_clear();
  char big[2000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  sl__error_set(SL_ERR_FORMAT, "a.c", 1, "%s", big);
  CU_ASSERT(strlen(sl__error_message()) > 100);
  CU_ASSERT(strlen(sl__error_message()) < sizeof big);
  sl__error_clear();
}

static void test_trace_without_record(void) {
  sl__error_clear();
  EXPECT_INT(sl__error_trace(SL_ERR_NOMEM, "x.c", 7, "f()"), SL_ERR_NOMEM);
  EXPECT_INT(sl__error_code(), SL_ERR_NOMEM);
  EXPECT_STR(sl__error_message(), "");
  sl__error_clear();
}

static void test_mpi_error(void) {
  sl__error_clear();
  /* Without MPI_Init, MPI_Error_string would abort in Open MPI: the number must do. The
   * text from MPI_Error_string is checked by the MPI tests. */
  EXPECT_INT(sl__error_mpi(MPI_ERR_COMM, "m.c", 9, "MPI_Barrier(comm)"), SL_ERR_MPI);
  EXPECT_INT(sl__error_code(), SL_ERR_MPI);
  char expected[96];
  snprintf(expected, sizeof expected, "MPI_Barrier(comm) failed: MPI error code %d", MPI_ERR_COMM);
  EXPECT_STR(sl__error_message(), expected);
  sl__error_clear();
}

/* The macros as the library uses them: the origin sets the message, callers add trace. */
static int leaf(void) {
  SL__FAIL(SL_ERR_NOTFOUND, "no such file: %s", "data.h5");
}
static int middle(void) {
  SL__CHECK(leaf());
  return SL_OK;
}
static int top(void) {
  SL__CHECK(middle());
  return SL_OK;
}
static int alloc_fail(void) {
  void *p = NULL;
  SL__CHECK_ALLOC(p);
  return SL_OK;
}
static int alloc_fail_for(void) {
  void *p = NULL;
  SL__CHECK_ALLOC_FOR(p, "the output buffer", 3u << 20, "--sl-output-buffer-bytes");
  return SL_OK;
}
static int mpi_fail(void) {
  SL__CHECK_MPI(MPI_ERR_ARG);
  return SL_OK;
}

/* Runs fn with stderr redirected to a file and returns what it wrote (caller frees). */
static char *capture_stderr(void (*fn)(void *), void *arg) {
  char path[] = "/tmp/sluice-test-XXXXXX";
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  CU_ASSERT_FATAL(saved >= 0);
  CU_ASSERT_FATAL(dup2(fd, STDERR_FILENO) >= 0);
  fn(arg);
  fflush(stderr);
  CU_ASSERT_FATAL(dup2(saved, STDERR_FILENO) >= 0);
  close(saved);
  off_t len = lseek(fd, 0, SEEK_END);
  CU_ASSERT_FATAL(len >= 0);
  char *text = calloc(1, (size_t)len + 1);
  CU_ASSERT_FATAL(text != NULL);
  CU_ASSERT_FATAL(pread(fd, text, (size_t)len, 0) == len);
  close(fd);
  unlink(path);
  return text;
}

typedef struct report_case {
  sl_ctx *ctx;
  int code;
} report_case;

static void do_report(void *arg) {
  report_case *c = arg;
  sl__report_error(c->ctx, c->code);
}

static void test_report_line(void) {
  sl_ctx *ctx = calloc(1, sizeof *ctx);
  CU_ASSERT_FATAL(ctx != NULL);
  CU_ASSERT_FATAL(sl__options_defaults(&ctx->opt) == SL_OK);
  ctx->rank = 3;
  sl__error_clear();
  EXPECT_INT(top(), SL_ERR_NOTFOUND);
  report_case c = {ctx, SL_ERR_NOTFOUND};
  char *out = capture_stderr(do_report, &c);
  EXPECT_STR(out, "sluice: error: rank 3: no such file: data.h5\n");
  free(out);
  EXPECT_INT(sl__error_code(), SL_OK); /* reported means consumed */

  /* Nothing recorded: the code's own message. */
  c.code = SL_ERR_REMOTE;
  out = capture_stderr(do_report, &c);
  EXPECT_STR(out, "sluice: error: rank 3: stopped because another rank failed\n");
  free(out);

  /* SL_OK reports nothing. */
  c.code = SL_OK;
  out = capture_stderr(do_report, &c);
  EXPECT_STR(out, "");
  free(out);

  /* At debug level the trace follows: origin first, then each caller. */
  ctx->opt.log_level = SL_LOG_DEBUG;
  EXPECT_INT(top(), SL_ERR_NOTFOUND);
  c.code = SL_ERR_NOTFOUND;
  out = capture_stderr(do_report, &c);
  EXPECT_CONTAINS(out, "sluice: error: rank 3: no such file: data.h5\n"
                       "sluice: trace: rank 3: ");
  EXPECT_CONTAINS(out, "test_errors.c");
  EXPECT_CONTAINS(out, ": leaf()\n");
  EXPECT_CONTAINS(out, ": middle()\n");
  CU_ASSERT(strstr(out, ": leaf()") < strstr(out, ": middle()"));
  free(out);

  EXPECT_INT(alloc_fail(), SL_ERR_NOMEM);
  /* never the name of a variable: what was allocated, and the option that bounds it */
  EXPECT_CONTAINS(sl__error_message(), "out of memory allocating internal state");
  CU_ASSERT(strstr(sl__error_message(), "(p)") == NULL);
  sl__error_clear();
  EXPECT_INT(alloc_fail_for(), SL_ERR_NOMEM);
  EXPECT_CONTAINS(sl__error_message(),
                  "out of memory allocating the output buffer (3.0 MiB, set by "
                  "--sl-output-buffer-bytes)");
  sl__error_clear();
  EXPECT_INT(mpi_fail(), SL_ERR_MPI);
  EXPECT_CONTAINS(sl__error_message(), "MPI_ERR_ARG failed");
  sl__error_clear();
  free(ctx);
}

static void test_deep_trace(void) {
  sl_ctx *ctx = calloc(1, sizeof *ctx);
  CU_ASSERT_FATAL(ctx != NULL);
  CU_ASSERT_FATAL(sl__options_defaults(&ctx->opt) == SL_OK);
  ctx->opt.log_level = SL_LOG_DEBUG;
  sl__error_set(SL_ERR_IO, "deep.c", 1, "deep");
  for (int i = 0; i < 40; i++)
    sl__error_trace(SL_ERR_IO, "deep.c", i + 2, "up");
  report_case c = {ctx, SL_ERR_IO};
  char *out = capture_stderr(do_report, &c);
  EXPECT_CONTAINS(out, "more entries dropped");
  free(out);
  free(ctx);
}

int main(void) {
  static const sl_test tests[] = {
      {"strerror table", test_strerror_table},
      {"codes distinct", test_codes_distinct},
      {"first error wins", test_first_error_wins},
      {"one line", test_one_line},
      {"trace without record", test_trace_without_record},
      {"mpi error", test_mpi_error},
      {"report line", test_report_line},
      {"deep trace", test_deep_trace},
      {NULL, NULL},
  };
  return sl_test_main("errors", tests);
}
