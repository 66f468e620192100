/* SPDX-License-Identifier: BSD-3-Clause */
/* The options table: every runtime knob, its default and help text, in one place, and
 * the typed access to it (defaults, set, get, cross-option checks).
 *
 * Defaults are strings parsed by the same code as user input, so the table cannot hold a
 * default the parser would reject, and --sl-help, sl_option_get and docs/options.md print
 * what the code actually uses. */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/options_table.h"

#define SL__FIELD(f) offsetof(sl__options, f), sizeof(((sl__options *)0)->f)

/* Message sizes travel as MPI int counts; 1 GiB leaves room for headers below INT_MAX. */
#define SL__MPI_COUNT_MAX ((uint64_t)1 << 30)
#define SL__MPI_COUNT_WHY "it travels as an MPI int count"

static const sl__opt_choice progress_choices[] = {{"auto", -1}, {"on", 1}, {"off", 0}, {NULL, 0}};
/* SIZE options that may be "auto" store 0 (resolved where they are used) */
static const sl__opt_choice size_auto[] = {{"auto", 0}, {NULL, 0}};
static const sl__opt_choice log_level_choices[] = {{"error", SL_LOG_ERROR},
                                                   {"warn", SL_LOG_WARN},
                                                   {"info", SL_LOG_INFO},
                                                   {"debug", SL_LOG_DEBUG},
                                                   {NULL, 0}};

const sl__opt_desc sl__option_table[] = {
    {"batch-bytes", SL__OPT_SIZE, "256K", "SIZE", "bytes per batch on an edge",
     SL__FIELD(batch_bytes), 1, SL__MPI_COUNT_MAX, SL__MPI_COUNT_WHY, NULL},
    {"credits-per-edge", SL__OPT_INT, "4", "N",
     "max credits granted to one sender edge up front; more are granted on demand from the "
     "receiver's budget",
     SL__FIELD(credits_per_edge), 1, 1u << 20, NULL, NULL},
    {"recv-budget-bytes", SL__OPT_SIZE, "4M", "SIZE",
     "receive buffer budget of each receiving partition, handed out as credits",
     SL__FIELD(recv_budget_bytes), 1, UINT64_MAX, NULL, NULL},
    {"send-budget-bytes", SL__OPT_SIZE, "4M", "SIZE", "send buffer budget per rank and stage",
     SL__FIELD(send_budget_bytes), 1, UINT64_MAX, NULL, NULL},
    {"read-block-bytes", SL__OPT_SIZE, "1M", "SIZE",
     "bytes read per I/O call by file sources (longer lines are assembled across blocks)",
     SL__FIELD(read_block_bytes), 1, SL__MPI_COUNT_MAX, SL__MPI_COUNT_WHY, NULL},
    {"combiner-bytes", SL__OPT_SIZE, "256M", "SIZE",
     "memory budget of a map-side combiner table; full -> flushed downstream",
     SL__FIELD(combiner_bytes), 1, UINT64_MAX, NULL, NULL},
    {"sort-memory-bytes", SL__OPT_SIZE, "auto", "SIZE",
     "records a sort holds in memory per partition, more spill to --sl-tmpdir; auto: 1/4 of a "
     "rank's share of node memory (or cgroup/Slurm limit), split among its sort steps",
     SL__FIELD(held_memory_bytes), 4096, UINT64_MAX, NULL, size_auto},
    {"output-buffer-bytes", SL__OPT_SIZE, "8M", "SIZE",
     "bytes a file sink buffers per partition before each write", SL__FIELD(output_buffer_bytes), 1,
     SL__MPI_COUNT_MAX, SL__MPI_COUNT_WHY, NULL},
    {"pin", SL__OPT_BOOL, "on", NULL,
     "bind each rank to one core with hwloc (a launcher's binding to one core is kept)",
     SL__FIELD(pin), 0, 1, NULL, NULL},
    {"stats", SL__OPT_STRING, "", "FILE", "append each run's record (a JSON line) to FILE",
     SL__FIELD(stats_file), 0, 0, NULL, NULL},
    {"log-view", SL__OPT_BOOL, "off", NULL, "after each run, print a per-stage summary",
     SL__FIELD(log_view), 0, 1, NULL, NULL},
    {"progress", SL__OPT_ENUM, "auto", NULL,
     "progress of all ranks on rank 0's stderr; auto: redrawn on a terminal, else a line per "
     "interval",
     SL__FIELD(progress), 0, 0, NULL, progress_choices},
    {"progress-interval", SL__OPT_SECONDS, "30s", "TIME", "time between plain progress lines",
     SL__FIELD(progress_interval), 1000, 86400000, NULL, NULL},
    {"trace", SL__OPT_STRING, "", "FILE", "write a timeline of the runs (Chrome trace JSON)",
     SL__FIELD(trace_file), 0, 0, NULL, NULL},
    {"trace-merge-us", SL__OPT_INT, "1000", "US", "merge trace spans closer than this",
     SL__FIELD(trace_merge_us), 0, 60000000, NULL, NULL},
    {"trace-max-spans", SL__OPT_INT, "20000", "N", "trace spans kept per rank (then merged)",
     SL__FIELD(trace_max_spans), 64, 10000000, NULL, NULL},
    {"log-level", SL__OPT_ENUM, "warn", NULL,
     "messages shown on stderr; debug also prints error traces", SL__FIELD(log_level), 0, 0, NULL,
     log_level_choices},
    {"stop-signals", SL__OPT_BOOL, "on", NULL,
     "SIGTERM or SIGUSR1 stops running flows cleanly on every rank (SL_ERR_STOPPED)",
     SL__FIELD(stop_signals), 0, 1, NULL, NULL},
    {"tmpdir", SL__OPT_STRING, "", "DIR",
     "directory for temporary files (output spill, sort runs); empty: next to the output, or "
     "$TMPDIR, or /tmp for sorts",
     SL__FIELD(tmpdir), 0, 0, NULL, NULL},
    {"flush-interval", SL__OPT_SECONDS, "10ms", "TIME",
     "a partial batch this old is sent (idle sources feed windows and triggers); 0: at once",
     SL__FIELD(flush_interval), 0, 3600000, NULL, NULL},
    {"checkpoint-dir", SL__OPT_STRING, "", "DIR",
     "save checkpoints here (SIGTERM/SIGUSR1: save, then stop with exit 3); a rerun of the "
     "same command resumes from the last one",
     SL__FIELD(checkpoint_dir), 0, 0, NULL, NULL},
    {"checkpoint-interval", SL__OPT_SECONDS, "0", "TIME",
     "also save a checkpoint this long after the previous one ended (with "
     "--sl-checkpoint-dir); 0: on signals only",
     SL__FIELD(checkpoint_interval), 0, 86400000, NULL, NULL},
    {"window-empty-limit", SL__OPT_INT, "10000", "N",
     "most empty windows emitted per jump of event time; more are skipped, with a warning",
     SL__FIELD(window_empty_limit), 0, 1u << 30, NULL, NULL},
    {"help", SL__OPT_BOOL, "off", NULL, "print this table on rank 0; sl_help_requested() is true",
     SL__FIELD(help), 0, 1, NULL, NULL},
};

const size_t sl__option_count = sizeof sl__option_table / sizeof sl__option_table[0];

const sl__opt_desc *sl__opt_find(const char *name) {
  if (name == NULL)
    return NULL;
  /* sl_option_set users may copy the command-line spelling. */
  if (strncmp(name, "--sl-", 5) == 0)
    name += 5;
  for (size_t i = 0; i < sl__option_count; i++) {
    if (strcmp(sl__option_table[i].name, name) == 0)
      return &sl__option_table[i];
  }
  return NULL;
}

/* Edit distance for "did you mean"; option names are short, so O(n*m) is nothing. */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63)
    return (size_t)-1;
  size_t row[64];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static const char *suggest(const char *name) {
  const char *best = NULL;
  /* A typo is a few edits, fewer for short names: "" is not a misspelt "pin". */
  size_t len = strlen(name);
  size_t best_d = (len / 3 + 1 < 3 ? len / 3 + 1 : 3) + 1;
  for (size_t i = 0; i < sl__option_count; i++) {
    size_t d = edit_distance(name, sl__option_table[i].name);
    if (d < best_d) {
      best_d = d;
      best = sl__option_table[i].name;
    }
  }
  return best;
}

int sl__opt_fail_unknown(const char *shown, const char *name, const char *file, int line) {
  const char *guess = suggest(name);
  if (guess != NULL) {
    return sl__error_set(SL_ERR_OPTION, file, line,
                         "unknown option %s (did you mean --sl-%s? --sl-help lists all options)",
                         shown, guess);
  }
  return sl__error_set(SL_ERR_OPTION, file, line, "unknown option %s (--sl-help lists all options)",
                       shown);
}

void sl__opt_env_name(const char *name, char *buf, size_t cap) {
  int n = snprintf(buf, cap, "SLUICE_%s", name);
  if (n < 0) {
    buf[0] = '\0';
    return;
  }
  for (char *p = buf; *p != '\0'; p++) {
    *p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
  }
}

static size_t type_size(sl__opt_type t) {
  return t == SL__OPT_SIZE      ? sizeof(uint64_t)
         : t == SL__OPT_SECONDS ? sizeof(double)
         : t == SL__OPT_STRING  ? 0
                                : sizeof(int);
}

int sl__options_defaults(sl__options *opts) {
  if (opts == NULL)
    SL__FAIL(SL_ERR_INVAL, "sl__options_defaults: opts is NULL");
  sl__options tmp;
  memset(&tmp, 0, sizeof tmp);
  for (size_t i = 0; i < sl__option_count; i++) {
    const sl__opt_desc *d = &sl__option_table[i];
    /* Catches a table row whose type does not match its field. */
    if (type_size(d->type) != 0 && type_size(d->type) != d->size) {
      SL__FAIL(SL_ERR_INTERNAL, "option --sl-%s: field size %zu does not match its type", d->name,
               d->size);
    }
    char who[64];
    snprintf(who, sizeof who, "default of --sl-%s", d->name);
    SL__CHECK(sl__opt_set_value(&tmp, d, d->def, who));
  }
  *opts = tmp;
  return SL_OK;
}

int sl__options_set(sl__options *opts, const char *name, const char *value) {
  if (opts == NULL || name == NULL)
    SL__FAIL(SL_ERR_INVAL, "sl__options_set: NULL argument");
  const sl__opt_desc *d = sl__opt_find(name);
  if (d == NULL) {
    char shown[80];
    snprintf(shown, sizeof shown, "'%s'", name);
    return sl__opt_fail_unknown(shown, strncmp(name, "--sl-", 5) == 0 ? name + 5 : name, __FILE__,
                                __LINE__);
  }
  char who[64];
  snprintf(who, sizeof who, "--sl-%s", d->name);
  /* Parse into a copy: a rejected value leaves every option as it was. */
  sl__options tmp = *opts;
  SL__CHECK(sl__opt_set_value(&tmp, d, value, who));
  *opts = tmp;
  return SL_OK;
}

int sl__options_get(const sl__options *opts, const char *name, char *buf, size_t cap) {
  if (opts == NULL || name == NULL || buf == NULL || cap == 0) {
    SL__FAIL(SL_ERR_INVAL, "sl__options_get: NULL argument or empty buffer");
  }
  const sl__opt_desc *d = sl__opt_find(name);
  if (d == NULL) {
    char shown[80];
    snprintf(shown, sizeof shown, "'%s'", name);
    return sl__opt_fail_unknown(shown, strncmp(name, "--sl-", 5) == 0 ? name + 5 : name, __FILE__,
                                __LINE__);
  }
  if (sl__opt_format_value(opts, d, buf, cap) != 0) {
    SL__FAIL(SL_ERR_INVAL, "value of --sl-%s does not fit in %zu bytes", d->name, cap);
  }
  return SL_OK;
}

int sl__options_check(const sl__options *opts) {
  if (opts == NULL)
    SL__FAIL(SL_ERR_INVAL, "sl__options_check: opts is NULL");
  char batch[32], budget[32];
  sl__opt_format_size(opts->batch_bytes, batch, sizeof batch);
  /* Credits are whole batches: a budget below one batch could never grant any. */
  if (opts->recv_budget_bytes < opts->batch_bytes) {
    sl__opt_format_size(opts->recv_budget_bytes, budget, sizeof budget);
    SL__FAIL(SL_ERR_OPTION,
             "--sl-recv-budget-bytes=%s is smaller than --sl-batch-bytes=%s; expected room "
             "for at least one batch",
             budget, batch);
  }
  if (opts->send_budget_bytes < opts->batch_bytes) {
    sl__opt_format_size(opts->send_budget_bytes, budget, sizeof budget);
    SL__FAIL(SL_ERR_OPTION,
             "--sl-send-budget-bytes=%s is smaller than --sl-batch-bytes=%s; expected room "
             "for at least one batch",
             budget, batch);
  }
  return SL_OK;
}
