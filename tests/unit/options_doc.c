/* SPDX-License-Identifier: BSD-3-Clause */
/* Writes docs/options.md from the options table, or with --check FILE fails when FILE
 * differs from what it would write (registered as the unit test unit_options_doc, so the
 * reference cannot drift from the code). */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static void write_doc(FILE *out) {
  fputs("# sluice runtime options\n"
        "\n"
        "This file is generated from the option table in `lib/src/core/options.c` by\n"
        "`tests/unit/options_doc.c`; do not edit it by hand. After changing the table, run\n"
        "`build/tests/unit/unit_options_doc > docs/options.md` (the unit test\n"
        "`unit_options_doc` fails while this file is out of date).\n"
        "\n"
        "Every option can be given on the command line as `--sl-NAME=VALUE` or\n"
        "`--sl-NAME VALUE` (booleans also bare, `--sl-NAME`, meaning on), or in the\n"
        "environment as `SLUICE_NAME=VALUE` (upper case, `-` as `_`; an empty value counts\n"
        "as unset). The command line wins over the environment, and `sl_init` removes the\n"
        "`--sl-*` arguments from `argv`; arguments after `--` are left alone. A program can\n"
        "also call `sl_option_set` and `sl_option_get`. `--sl-help` prints this table with\n"
        "the current values on rank 0.\n"
        "\n"
        "Sizes are bytes, with an optional suffix `K`, `M`, `G` or `T` (also `KiB`, `MiB`,\n"
        "`GiB`, `TiB`; powers of 1024, any case). Booleans accept `on`/`off`, `1`/`0`,\n"
        "`true`/`false` and `yes`/`no`. An unknown `--sl-*` option or a malformed value\n"
        "makes `sl_init` fail with `SL_ERR_OPTION` and one line naming the option, the value\n"
        "and what was expected. `--sl-recv-budget-bytes` and `--sl-send-budget-bytes` must\n"
        "each hold at least one batch (`--sl-batch-bytes`).\n"
        "\n"
        "`--sl-stats`, `--sl-log-view`, `--sl-progress`, `--sl-progress-interval` and\n"
        "`--sl-trace*` are described in [observability.md](observability.md): the run\n"
        "record's fields, the log view's columns, the progress line, the trace's tracks and\n"
        "`sluice-report`. In the `--sl-stats` and `--sl-trace` file names, `%j` becomes\n"
        "the Slurm job id (`SLURM_JOB_ID`; `nojob` outside Slurm) and `%%` a `%`.\n"
        "\n",
        out);
  sl__options_markdown(out);
}

int main(int argc, char **argv) {
  if (argc == 1) {
    write_doc(stdout);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  if (argc != 3 || strcmp(argv[1], "--check") != 0) {
    fprintf(stderr, "usage: %s [--check FILE]\n", argv[0]);
    return 2;
  }
  char *want = NULL, *have = NULL;
  size_t want_len = 0;
  FILE *mem = open_memstream(&want, &want_len);
  if (mem == NULL)
    return 2;
  write_doc(mem);
  fclose(mem);
  FILE *f = fopen(argv[2], "rb");
  size_t have_len = 0;
  if (f != NULL) {
    have = malloc(want_len + 2);
    if (have != NULL)
      have_len = fread(have, 1, want_len + 1, f);
    fclose(f);
  }
  int same = have != NULL && have_len == want_len && memcmp(have, want, want_len) == 0;
  if (!same) {
    fprintf(stderr,
            "%s is not what lib/src/core/options.c generates; regenerate it with\n"
            "  %s > %s\n",
            argv[2], argv[0], argv[2]);
  }
  free(want);
  free(have);
  return same ? 0 : 1;
}
