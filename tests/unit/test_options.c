/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the options table: size parsing, typed values, env and argv sources. */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "unit.h"

static sl__options fresh(void) {
  sl__options o;
  memset(&o, 0x5a, sizeof o);
  EXPECT_INT(sl__options_defaults(&o), SL_OK);
  return o;
}

static void test_parse_size_valid(void) {
  static const struct {
    const char *text;
    uint64_t value;
  } cases[] = {
      {"0", 0},
      {"123", 123},
      {"123b", 123},
      {"64K", 65536},
      {"64k", 65536},
      {"64KiB", 65536},
      {"64kib", 65536},
      {"4M", 4u << 20},
      {"2MiB", 2u << 20},
      {"1G", 1u << 30},
      {"1GiB", 1u << 30},
      {"3T", (uint64_t)3 << 40},
      {"007", 7},
      {"18446744073709551615", UINT64_MAX},
      {"16777215T", (uint64_t)16777215 << 40},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t v = 0;
    EXPECT_INT(sl__parse_size(cases[i].text, &v), SL_OK);
    EXPECT_U64(v, cases[i].value);
  }
}

static void test_parse_size_rejects(void) {
  static const char *const bad[] = {
      "",
      "abc",
      "-1",
      " 1",
      "+1",
      "1.5G",
      "1KB",
      "0x10",
      "1 K",
      "K",
      "1Q",
      "1e3",
      "1GiBx",
      "1iB",
      "10MB",
      "18446744073709551616", /* 2^64 */
      "16777216T",            /* 2^64 through the suffix */
      "17179869184G",         /* 2^64 */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint64_t v = 42;
    int rc = sl__parse_size(bad[i], &v);
    if (rc != SL_ERR_OPTION)
      fprintf(stderr, "\n'%s' was accepted\n", bad[i]);
    EXPECT_INT(rc, SL_ERR_OPTION);
    EXPECT_U64(v, 42); /* untouched on failure */
  }
  uint64_t v = 42;
  EXPECT_INT(sl__parse_size(NULL, &v), SL_ERR_OPTION);
  EXPECT_INT(sl__parse_size("1", NULL), SL_ERR_OPTION);
  /* sl__parse_size leaves the message to its caller. */
  EXPECT_INT(sl__error_code(), SL_OK);
}

static void test_defaults(void) {
  sl__options o = fresh();
  EXPECT_U64(o.batch_bytes, 256 * 1024);
  EXPECT_INT(o.credits_per_edge, 4);
  EXPECT_U64(o.recv_budget_bytes, 4u << 20);
  EXPECT_U64(o.send_budget_bytes, 4u << 20);
  EXPECT_U64(o.read_block_bytes, 1u << 20);
  EXPECT_U64(o.combiner_bytes, 256u << 20);
  EXPECT_U64(o.output_buffer_bytes, 8u << 20);
  EXPECT_INT(o.pin, 1);
  EXPECT_STR(o.stats_file, "");
  EXPECT_INT(o.log_view, 0);
  EXPECT_INT(o.progress, -1);
  EXPECT_INT(o.log_level, SL_LOG_WARN);
  EXPECT_INT(o.stop_signals, 1);
  EXPECT_STR(o.tmpdir, "");
  EXPECT_INT(o.help, 0);
  EXPECT_INT(sl__options_check(&o), SL_OK);
}

static void test_set_sizes(void) {
  sl__options o = fresh();
  EXPECT_INT(sl__options_set(&o, "batch-bytes", "1M"), SL_OK);
  EXPECT_U64(o.batch_bytes, 1u << 20);
  EXPECT_INT(sl__options_set(&o, "--sl-combiner-bytes", "3G"), SL_OK);
  EXPECT_U64(o.combiner_bytes, (uint64_t)3 << 30);
  EXPECT_INT(sl__options_set(&o, "batch-bytes", "1G"), SL_OK);

  /* Garbage: the message names the option, the value and what was expected. */
  sl__options before = fresh();
  o = before;
  EXPECT_INT(sl__options_set(&o, "batch-bytes", "12Q"), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "--sl-batch-bytes");
  EXPECT_CONTAINS(sl__error_message(), "'12Q'");
  EXPECT_CONTAINS(sl__error_message(), "64K");
  CU_ASSERT(memcmp(&o, &before, sizeof o) == 0);
  sl__error_clear();

  /* Zero is meaningless for every size option. */
  EXPECT_INT(sl__options_set(&o, "recv-budget-bytes", "0"), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "--sl-recv-budget-bytes");
  EXPECT_CONTAINS(sl__error_message(), "at least 1");
  sl__error_clear();

  /* Above what one MPI message can carry. */
  EXPECT_INT(sl__options_set(&o, "batch-bytes", "2G"), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "at most 1G");
  sl__error_clear();

  EXPECT_INT(sl__options_set(&o, "send-budget-bytes", "99999999999999999999"), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "64 bits");
  sl__error_clear();
  EXPECT_INT(sl__options_set(&o, "send-budget-bytes", NULL), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "needs a value");
  sl__error_clear();

  /* The sort's budget is "auto" (stored as 0) unless set; "auto" is not a size elsewhere,
   * and a set size still has to reach the minimum. */
  o = fresh();
  char buf[64];
  EXPECT_U64(o.held_memory_bytes, 0);
  EXPECT_INT(sl__options_get(&o, "sort-memory-bytes", buf, sizeof buf), SL_OK);
  EXPECT_STR(buf, "auto");
  EXPECT_INT(sl__options_set(&o, "sort-memory-bytes", "64M"), SL_OK);
  EXPECT_U64(o.held_memory_bytes, 64u << 20);
  EXPECT_INT(sl__options_get(&o, "sort-memory-bytes", buf, sizeof buf), SL_OK);
  EXPECT_STR(buf, "64M");
  EXPECT_INT(sl__options_set(&o, "sort-memory-bytes", "auto"), SL_OK);
  EXPECT_U64(o.held_memory_bytes, 0);
  EXPECT_INT(sl__options_set(&o, "sort-memory-bytes", "0"), SL_ERR_OPTION);
  sl__error_clear();
  EXPECT_INT(sl__options_set(&o, "batch-bytes", "auto"), SL_ERR_OPTION);
  sl__error_clear();
}

/* The memory a rank may plan on: no more than the physical memory (read here from
 * /proc/meminfo, independently of sysconf), and not zero. */
static void test_memory_limit(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  uint64_t kib = 0;
  char line[256];
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "MemTotal: %" SCNu64 " kB", &kib) == 1)
      break;
  if (f != NULL)
    fclose(f);
  uint64_t lim = sl__memory_limit_bytes();
  CU_ASSERT(lim > 0);
  if (kib > 0) /* MemTotal leaves out the kernel's reserve: a little below the pages */
    CU_ASSERT(lim <= kib * 1024 + (kib * 1024) / 8);

  /* A Slurm job's memory on the node caps it (megabytes), per node or per CPU. */
  setenv("SLURM_MEM_PER_NODE", "100", 1);
  EXPECT_U64(sl__memory_limit_bytes(), lim < (100u << 20) ? lim : 100u << 20);
  unsetenv("SLURM_MEM_PER_NODE");
  setenv("SLURM_MEM_PER_CPU", "30", 1);
  setenv("SLURM_CPUS_ON_NODE", "3", 1);
  EXPECT_U64(sl__memory_limit_bytes(), lim < (90u << 20) ? lim : 90u << 20);
  unsetenv("SLURM_MEM_PER_CPU");
  unsetenv("SLURM_CPUS_ON_NODE");
  EXPECT_U64(sl__memory_limit_bytes(), lim);

  /* auto: the rank's sort memory (a quarter of its share, at least 128M) divided among
   * its sort steps, at least 16M each; a set size applies to every step as it is. */
  static sl_ctx ctx; /* large: not on the stack */
  memset(&ctx, 0, sizeof ctx);
  ctx.node_size = 4;
  sl__memory_resolve(&ctx);
  CU_ASSERT(ctx.held_memory_auto >= (128u << 20));
  CU_ASSERT(ctx.held_memory_auto % (1u << 20) == 0);
  CU_ASSERT(ctx.held_memory_auto <= lim / 4 / 4 || ctx.held_memory_auto == (128u << 20));
  ctx.held_memory_auto = (uint64_t)1 << 30;
  EXPECT_U64(sl__held_memory_bytes(&ctx, 2), 512u << 20);
  EXPECT_U64(sl__held_memory_bytes(&ctx, 3), 341u << 20); /* whole MiB */
  EXPECT_U64(sl__held_memory_bytes(&ctx, 1000), 16u << 20);
  EXPECT_U64(sl__held_memory_bytes(&ctx, 0), (uint64_t)1 << 30);
  ctx.opt.held_memory_bytes = 8192;
  EXPECT_U64(sl__held_memory_bytes(&ctx, 7), 8192);
}

static void test_set_int_bool_enum_string(void) {
  sl__options o = fresh();
  EXPECT_INT(sl__options_set(&o, "credits-per-edge", "16"), SL_OK);
  EXPECT_INT(o.credits_per_edge, 16);
  static const char *const bad_ints[] = {"0", "-3", "4x", "", "1K", "99999999999"};
  for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++) {
    EXPECT_INT(sl__options_set(&o, "credits-per-edge", bad_ints[i]), SL_ERR_OPTION);
    EXPECT_CONTAINS(sl__error_message(), "--sl-credits-per-edge");
    sl__error_clear();
  }
  EXPECT_INT(o.credits_per_edge, 16);

  /* durations: seconds, or with a unit; shown back in the shortest unit */
  static const struct {
    const char *text;
    double seconds;
    const char *shown;
  } durations[] = {{"10ms", 0.01, "10ms"}, {"0.5", 0.5, "500ms"}, {"2s", 2, "2s"},
                   {"1m", 60, "60s"},      {"0", 0, "0s"},        {"1h", 3600, "3600s"}};
  for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
    char shown[32];
    EXPECT_INT(sl__options_set(&o, "flush-interval", durations[i].text), SL_OK);
    CU_ASSERT(o.flush_interval > durations[i].seconds - 1e-9 &&
              o.flush_interval < durations[i].seconds + 1e-9);
    EXPECT_INT(sl__options_get(&o, "flush-interval", shown, sizeof shown), SL_OK);
    CU_ASSERT_STRING_EQUAL(shown, durations[i].shown);
  }
  static const char *const bad_durations[] = {"", "-1", "ten", "5 parsecs", "2h"};
  for (size_t i = 0; i < sizeof bad_durations / sizeof bad_durations[0]; i++) {
    EXPECT_INT(sl__options_set(&o, "flush-interval", bad_durations[i]), SL_ERR_OPTION);
    EXPECT_CONTAINS(sl__error_message(), "--sl-flush-interval");
    sl__error_clear();
  }

  static const struct {
    const char *text;
    int value;
  } bools[] = {{"on", 1},    {"off", 0}, {"1", 1},  {"0", 0},  {"true", 1},
               {"false", 0}, {"yes", 1}, {"no", 0}, {"ON", 1}, {"False", 0}};
  for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
    EXPECT_INT(sl__options_set(&o, "log-view", bools[i].text), SL_OK);
    EXPECT_INT(o.log_view, bools[i].value);
  }
  EXPECT_INT(sl__options_set(&o, "pin", NULL), SL_OK); /* bare flag */
  EXPECT_INT(o.pin, 1);
  EXPECT_INT(sl__options_set(&o, "pin", "maybe"), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "'maybe'");
  EXPECT_CONTAINS(sl__error_message(), "on/off");
  sl__error_clear();

  EXPECT_INT(sl__options_set(&o, "log-level", "debug"), SL_OK);
  EXPECT_INT(o.log_level, SL_LOG_DEBUG);
  EXPECT_INT(sl__options_set(&o, "progress", "off"), SL_OK);
  EXPECT_INT(o.progress, 0);
  EXPECT_INT(sl__options_set(&o, "progress", "sometimes"), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "auto|on|off");
  sl__error_clear();

  EXPECT_INT(sl__options_set(&o, "stats", "/tmp/stats.json"), SL_OK);
  EXPECT_STR(o.stats_file, "/tmp/stats.json");
  char *long_path = malloc(5000);
  CU_ASSERT_FATAL(long_path != NULL);
  memset(long_path, 'a', 4999);
  long_path[4999] = '\0';
  EXPECT_INT(sl__options_set(&o, "tmpdir", long_path), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "--sl-tmpdir");
  sl__error_clear();
  long_path[4095] = '\0'; /* exactly the capacity minus the terminator */
  EXPECT_INT(sl__options_set(&o, "tmpdir", long_path), SL_OK);
  free(long_path);
}

static void test_unknown_name(void) {
  sl__options o = fresh();
  EXPECT_INT(sl__options_set(&o, "batch-byte", "1"), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "did you mean --sl-batch-bytes?");
  sl__error_clear();
  EXPECT_INT(sl__options_set(&o, "frobnicate", "1"), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "unknown option 'frobnicate'");
  CU_ASSERT(strstr(sl__error_message(), "did you mean") == NULL);
  sl__error_clear();
  char buf[64];
  EXPECT_INT(sl__options_get(&o, "nope", buf, sizeof buf), SL_ERR_OPTION);
  sl__error_clear();
}

static void test_get_round_trip(void) {
  sl__options o = fresh();
  char buf[64];
  EXPECT_INT(sl__options_get(&o, "batch-bytes", buf, sizeof buf), SL_OK);
  EXPECT_STR(buf, "256K");
  EXPECT_INT(sl__options_set(&o, "batch-bytes", "1000"), SL_OK);
  EXPECT_INT(sl__options_get(&o, "batch-bytes", buf, sizeof buf), SL_OK);
  EXPECT_STR(buf, "1000");
  EXPECT_INT(sl__options_set(&o, "combiner-bytes", "2048M"), SL_OK);
  EXPECT_INT(sl__options_get(&o, "--sl-combiner-bytes", buf, sizeof buf), SL_OK);
  EXPECT_STR(buf, "2G");
  EXPECT_INT(sl__options_get(&o, "pin", buf, sizeof buf), SL_OK);
  EXPECT_STR(buf, "on");
  EXPECT_INT(sl__options_get(&o, "progress", buf, sizeof buf), SL_OK);
  EXPECT_STR(buf, "auto");
  EXPECT_INT(sl__options_get(&o, "log-level", buf, sizeof buf), SL_OK);
  EXPECT_STR(buf, "warn");
  EXPECT_INT(sl__options_get(&o, "credits-per-edge", buf, sizeof buf), SL_OK);
  EXPECT_STR(buf, "4");
  char tiny[3];
  EXPECT_INT(sl__options_get(&o, "progress", tiny, sizeof tiny), SL_ERR_INVAL);
  sl__error_clear();
}

static void test_argv(void) {
  sl__options o = fresh();
  char *args[] = {"prog",   "--sl-batch-bytes=1M",
                  "in.txt", "--sl-credits-per-edge",
                  "8",      "--sl-pin",
                  "off",    "--sl-log-view",
                  "out",    "--sl-stats",
                  "s.json", "--sl-help",
                  NULL};
  int argc = (int)(sizeof args / sizeof args[0]) - 1;
  char **argv = args;
  EXPECT_INT(sl__options_from_argv(&o, &argc, &argv), SL_OK);
  EXPECT_INT(argc, 3);
  EXPECT_STR(argv[0], "prog");
  EXPECT_STR(argv[1], "in.txt");
  EXPECT_STR(argv[2], "out"); /* not a boolean word: stays a program argument */
  CU_ASSERT(argv[3] == NULL);
  EXPECT_U64(o.batch_bytes, 1u << 20);
  EXPECT_INT(o.credits_per_edge, 8);
  EXPECT_INT(o.pin, 0);
  EXPECT_INT(o.log_view, 1);
  EXPECT_STR(o.stats_file, "s.json");
  EXPECT_INT(o.help, 1);
}

static void test_argv_double_dash(void) {
  sl__options o = fresh();
  char *args[] = {"prog", "--sl-log-level=info", "--", "--sl-batch-bytes=1", "x", NULL};
  int argc = 5;
  char **argv = args;
  EXPECT_INT(sl__options_from_argv(&o, &argc, &argv), SL_OK);
  EXPECT_INT(argc, 4);
  EXPECT_STR(argv[1], "--");
  EXPECT_STR(argv[2], "--sl-batch-bytes=1");
  EXPECT_STR(argv[3], "x");
  CU_ASSERT(argv[4] == NULL);
  EXPECT_INT(o.log_level, SL_LOG_INFO);
  EXPECT_U64(o.batch_bytes, 256 * 1024);
}

/* A rejected command line changes neither argv nor the options. */
static void expect_argv_error(char **args, int argc, const char *needle) {
  sl__options before = fresh(), o = before;
  char *copy[16];
  memcpy(copy, args, ((size_t)argc + 1) * sizeof *args);
  int n = argc;
  char **argv = args;
  EXPECT_INT(sl__options_from_argv(&o, &n, &argv), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), needle);
  EXPECT_INT(n, argc);
  CU_ASSERT(memcmp(copy, args, ((size_t)argc + 1) * sizeof *args) == 0);
  CU_ASSERT(memcmp(&o, &before, sizeof o) == 0);
  sl__error_clear();
}

static void test_argv_errors(void) {
  char *unknown[] = {"prog", "--sl-log-level=debug", "--sl-bach-bytes=1M", "a", NULL};
  expect_argv_error(unknown, 4, "unknown option --sl-bach-bytes");
  expect_argv_error(unknown, 4, "--sl-help");
  char *missing[] = {"prog", "a", "--sl-batch-bytes", NULL};
  expect_argv_error(missing, 3, "--sl-batch-bytes needs a value");
  char *swallowed[] = {"prog", "--sl-stats", "--sl-pin=off", NULL};
  expect_argv_error(swallowed, 3, "--sl-stats needs a value");
  char *bad[] = {"prog", "--sl-read-block-bytes", "lots", NULL};
  expect_argv_error(bad, 3, "'lots'");
  char *empty_name[] = {"prog", "--sl-", NULL};
  expect_argv_error(empty_name, 2, "unknown option --sl-");
  char *bad_bool[] = {"prog", "--sl-pin=sure", NULL};
  expect_argv_error(bad_bool, 2, "--sl-pin");
}

static void test_argv_null(void) {
  sl__options o = fresh();
  EXPECT_INT(sl__options_from_argv(&o, NULL, NULL), SL_OK);
  int argc = 0;
  char **argv = NULL;
  EXPECT_INT(sl__options_from_argv(&o, &argc, &argv), SL_OK);
  char *only[] = {"prog", NULL};
  argc = 1;
  argv = only;
  EXPECT_INT(sl__options_from_argv(&o, &argc, &argv), SL_OK);
  EXPECT_INT(argc, 1);
}

static void test_env_then_argv(void) {
  sl__options o = fresh();
  CU_ASSERT_FATAL(setenv("SLUICE_BATCH_BYTES", "2M", 1) == 0);
  CU_ASSERT_FATAL(setenv("SLUICE_LOG_LEVEL", "debug", 1) == 0);
  CU_ASSERT_FATAL(setenv("SLUICE_STOP_SIGNALS", "off", 1) == 0);
  CU_ASSERT_FATAL(setenv("SLUICE_TMPDIR", "", 1) == 0); /* empty: as if unset */
  EXPECT_INT(sl__options_from_env(&o), SL_OK);
  EXPECT_U64(o.batch_bytes, 2u << 20);
  EXPECT_INT(o.log_level, SL_LOG_DEBUG);
  EXPECT_INT(o.stop_signals, 0);
  EXPECT_STR(o.tmpdir, "");
  char *args[] = {"prog", "--sl-batch-bytes", "8K", NULL};
  int argc = 3;
  char **argv = args;
  EXPECT_INT(sl__options_from_argv(&o, &argc, &argv), SL_OK);
  EXPECT_U64(o.batch_bytes, 8u << 10); /* the command line wins */
  EXPECT_INT(o.log_level, SL_LOG_DEBUG);
  EXPECT_INT(argc, 1);

  CU_ASSERT_FATAL(setenv("SLUICE_COMBINER_BYTES", "lots", 1) == 0);
  sl__options before = o;
  EXPECT_INT(sl__options_from_env(&o), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "SLUICE_COMBINER_BYTES (environment)");
  EXPECT_CONTAINS(sl__error_message(), "'lots'");
  CU_ASSERT(memcmp(&o, &before, sizeof o) == 0);
  sl__error_clear();
  unsetenv("SLUICE_BATCH_BYTES");
  unsetenv("SLUICE_LOG_LEVEL");
  unsetenv("SLUICE_STOP_SIGNALS");
  unsetenv("SLUICE_TMPDIR");
  unsetenv("SLUICE_COMBINER_BYTES");
}

static void test_check(void) {
  sl__options o = fresh();
  EXPECT_INT(sl__options_set(&o, "batch-bytes", "8M"), SL_OK);
  EXPECT_INT(sl__options_check(&o), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "--sl-recv-budget-bytes=4M");
  EXPECT_CONTAINS(sl__error_message(), "--sl-batch-bytes=8M");
  sl__error_clear();
  EXPECT_INT(sl__options_set(&o, "recv-budget-bytes", "8M"), SL_OK);
  EXPECT_INT(sl__options_check(&o), SL_ERR_OPTION);
  EXPECT_CONTAINS(sl__error_message(), "--sl-send-budget-bytes");
  sl__error_clear();
  EXPECT_INT(sl__options_set(&o, "send-budget-bytes", "16M"), SL_OK);
  EXPECT_INT(sl__options_check(&o), SL_OK);
}

static char *capture(void (*print)(FILE *, const sl__options *), const sl__options *o) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  CU_ASSERT_FATAL(f != NULL);
  print(f, o);
  fclose(f);
  return text;
}

static void print_help(FILE *f, const sl__options *o) {
  sl__options_help(o, f);
}
static void print_markdown(FILE *f, const sl__options *o) {
  (void)o;
  sl__options_markdown(f);
}

static const char *const all_names[] = {"batch-bytes",
                                        "credits-per-edge",
                                        "recv-budget-bytes",
                                        "send-budget-bytes",
                                        "read-block-bytes",
                                        "combiner-bytes",
                                        "output-buffer-bytes",
                                        "pin",
                                        "stats",
                                        "log-view",
                                        "progress",
                                        "progress-interval",
                                        "trace",
                                        "trace-merge-us",
                                        "trace-max-spans",
                                        "log-level",
                                        "stop-signals",
                                        "tmpdir",
                                        "help"};

static void test_help_and_markdown(void) {
  sl__options o = fresh();
  EXPECT_INT(sl__options_set(&o, "batch-bytes", "1M"), SL_OK);
  char *help = capture(print_help, &o);
  char *md = capture(print_markdown, &o);
  for (size_t i = 0; i < sizeof all_names / sizeof all_names[0]; i++) {
    char opt[64], var[64];
    snprintf(opt, sizeof opt, "--sl-%s=", all_names[i]);
    EXPECT_CONTAINS(help, opt);
    snprintf(opt, sizeof opt, "`--sl-%s`", all_names[i]);
    EXPECT_CONTAINS(md, opt);
    snprintf(var, sizeof var, "SLUICE_%s", all_names[i]);
    for (char *p = var; *p; p++)
      *p = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    EXPECT_CONTAINS(md, var);
  }
  EXPECT_CONTAINS(help, "256K     1M");
  /* No line wider than 100 columns, and not many lines. */
  int lines = 0;
  for (const char *p = help; *p != '\0';) {
    const char *nl = strchr(p, '\n');
    size_t w = nl != NULL ? (size_t)(nl - p) : strlen(p);
    if (w > 100)
      fprintf(stderr, "\nhelp line too wide (%zu): %.*s\n", w, (int)w, p);
    CU_ASSERT(w <= 100);
    lines++;
    p += w + (nl != NULL);
  }
  CU_ASSERT(lines <= 60); /* one tall terminal */
  free(help);
  free(md);
  EXPECT_INT(sl__error_code(), SL_OK);
}

int main(void) {
  static const sl_test tests[] = {
      {"parse_size valid", test_parse_size_valid},
      {"parse_size rejects", test_parse_size_rejects},
      {"defaults", test_defaults},
      {"set sizes", test_set_sizes},
      {"set int bool enum string", test_set_int_bool_enum_string},
      {"unknown name", test_unknown_name},
      {"get round trip", test_get_round_trip},
      {"argv", test_argv},
      {"argv --", test_argv_double_dash},
      {"argv errors", test_argv_errors},
      {"argv NULL", test_argv_null},
      {"env then argv", test_env_then_argv},
      {"check", test_check},
      {"help and markdown", test_help_and_markdown},
      {"memory limit", test_memory_limit},
      {NULL, NULL},
  };
  return sl_test_main("options", tests);
}
