/* SPDX-License-Identifier: BSD-3-Clause */
/* appcli: the command line every sluice app shares. See appcli.h. */
#define _POSIX_C_SOURCE 200809L
#include "appcli.h"

#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define APP_WIDTH 80    /* the help is wrapped at this many columns */
#define APP_OPT_COL 24  /* an option's name and value wider than this gets its help below */
#define APP_MAX_OPTS 64 /* options in one table */

/* ---- lifecycle ---- */

int app_init(app *a, const char *prog, int *argc, char ***argv) {
  memset(a, 0, sizeof *a);
  a->prog = prog;
  a->comm = MPI_COMM_NULL;
  int rc = sl_init(argc, argv, MPI_COMM_WORLD, &a->ctx);
  if (rc != SL_OK) {
    /* sl_init printed why and finalized what it started */
    a->ctx = NULL;
    return sl_exit_status(rc);
  }
  a->comm = sl_comm(a->ctx);
  a->rank = sl_rank(a->ctx);
  a->size = sl_size(a->ctx);
  a->root = a->rank == 0;
  if (sl_help_requested(a->ctx)) /* rank 0 has printed the options */
    return APP_EXIT_OK;
  return APP_RUN;
}

int app_start(app *a, const app_cli *cli, int *argc, char ***argv) {
  int code = app_init(a, cli->prog, argc, argv);
  if (code != APP_RUN)
    return code;
  return app_parse(a, cli, *argc, *argv, 1);
}

int app_finish(app *a, int code) {
  free(a->args);
  a->args = NULL;
  a->nargs = 0;
  fflush(stdout);
  sl_finalize(&a->ctx);
  return code;
}

int app_run(app *a, sl_flow *flow, const char *title) {
  if (!a->describe)
    return sl_run(flow);
  if (a->root) {
    printf("%s: plan of %s (--describe: nothing is run or written)\n", a->prog, title);
    fflush(stdout);
  }
  return sl_flow_describe_run(flow, a->root ? stdout : NULL);
}

/* ---- messages ---- */

static void vmessage(const app *a, int with_rank, const char *what, const char *fmt, va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (with_rank && a->size > 1)
    fprintf(stderr, "%s: %srank %d: %s\n", a->prog, what, a->rank, msg);
  else
    fprintf(stderr, "%s: %s%s\n", a->prog, what, msg);
}

int app_usage_error(const app *a, const char *fmt, ...) {
  if (a->root) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(a, 0, "error: ", fmt, ap);
    va_end(ap);
  }
  return APP_EXIT_USAGE;
}

void app_root_error(const app *a, const char *fmt, ...) {
  if (a->root) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(a, 0, "error: ", fmt, ap);
    va_end(ap);
  }
}

void app_error(const app *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage(a, 1, "error: ", fmt, ap);
  va_end(ap);
}

void app_note(const app *a, const char *fmt, ...) {
  if (!a->root)
    return;
  va_list ap;
  va_start(ap, fmt);
  vmessage(a, 0, "", fmt, ap);
  va_end(ap);
}

/* ---- values ---- */

int app_parse_int(const char *s, int64_t *out) {
  const char *d = s + (*s == '-' || *s == '+');
  if (*d < '0' || *d > '9') /* strtoll would take " 1" */
    return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end)
    return -1;
  *out = v;
  return 0;
}

int app_parse_uint(const char *s, uint64_t *out) {
  if (*s < '0' || *s > '9') /* strtoull would take "-1" and " 1" */
    return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end)
    return -1;
  *out = v;
  return 0;
}

int app_parse_size(const char *s, uint64_t *out) {
  if (*s < '0' || *s > '9')
    return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno)
    return -1;
  static const char suffix[] = "KMGT";
  const char *p = *end ? strchr(suffix, *end & ~0x20) : NULL; /* upper case */
  int shift = 0;
  if (p) {
    shift = 10 * (int)(p - suffix + 1);
    end++;
    if (*end == 'i' || *end == 'I')
      end++;
    if (*end == 'b' || *end == 'B')
      end++;
  }
  if (*end || (shift && v > (UINT64_MAX >> shift)))
    return -1;
  *out = (uint64_t)v << shift;
  return 0;
}

int app_parse_double(const char *s, double *out) {
  if (!*s || *s == ' ' || (*s >= '\t' && *s <= '\r')) /* strtod would skip spaces */
    return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno || !isfinite(v))
    return -1;
  *out = v;
  return 0;
}

/* ---- parsing ---- */

/* n as the user would write it: "1G" (a suffix, when exact and below 1024 of it), "2^62" (a
 * larger power of two), else the digits. */
static void format_size(uint64_t n, char *buf, size_t cap) {
  static const char suffix[] = "KMGT";
  for (int i = 3; i >= 0; i--) {
    uint64_t unit = (uint64_t)1 << (10 * (i + 1));
    if (n && n % unit == 0 && n / unit < 1024) {
      snprintf(buf, cap, "%" PRIu64 "%c", n / unit, suffix[i]);
      return;
    }
  }
  if (n >= ((uint64_t)1 << 20) && (n & (n - 1)) == 0) {
    int k = 0;
    while (((uint64_t)1 << k) != n)
      k++;
    snprintf(buf, cap, "2^%d", k);
    return;
  }
  snprintf(buf, cap, "%" PRIu64, n);
}

/* What a value of o must look like, for the error line. */
static void describe_value(const app_opt *o, char *buf, size_t cap) {
  char lo[32], hi[32];
  switch (o->kind) {
  case APP_INT:
    if (o->ranged)
      snprintf(buf, cap, "an integer from %" PRId64 " to %" PRId64, o->min.i, o->max.i);
    else
      snprintf(buf, cap, "an integer");
    break;
  case APP_UINT:
    if (o->ranged)
      snprintf(buf, cap, "an integer from %" PRIu64 " to %" PRIu64, o->min.u, o->max.u);
    else
      snprintf(buf, cap, "a non-negative integer");
    break;
  case APP_SIZE:
    if (o->ranged) {
      format_size(o->min.u, lo, sizeof lo);
      format_size(o->max.u, hi, sizeof hi);
      snprintf(buf, cap, "an integer from %s to %s (suffixes K, M, G, T)", lo, hi);
    } else {
      snprintf(buf, cap, "a non-negative integer (suffixes K, M, G, T)");
    }
    break;
  case APP_DOUBLE:
    if (o->ranged)
      snprintf(buf, cap, "a number from %g to %g", o->min.d, o->max.d);
    else
      snprintf(buf, cap, "a finite number");
    break;
  case APP_CHOICE: {
    size_t pos = 0, n = 0;
    while (o->choices[n])
      n++;
    buf[0] = '\0';
    for (size_t k = 0; k < n && pos < cap; k++)
      pos += (size_t)snprintf(buf + pos, cap - pos, "%s'%s'",
                              k == 0      ? ""
                              : k + 1 < n ? ", "
                                          : " or ",
                              o->choices[k]);
    break;
  }
  default:
    snprintf(buf, cap, "a non-empty value");
    break;
  }
}

/* Store value v of option o in its dest. 0, or -1 when v is not valid. */
static int store_value(const app_opt *o, const char *v) {
  switch (o->kind) {
  case APP_STRING:
    if (!*v && !o->allow_empty)
      return -1;
    *(const char **)o->dest = v;
    return 0;
  case APP_INT: {
    int64_t x;
    if (app_parse_int(v, &x) || x < INT_MIN || x > INT_MAX ||
        (o->ranged && (x < o->min.i || x > o->max.i)))
      return -1;
    *(int *)o->dest = (int)x;
    return 0;
  }
  case APP_UINT:
  case APP_SIZE: {
    uint64_t x;
    if ((o->kind == APP_UINT ? app_parse_uint(v, &x) : app_parse_size(v, &x)) ||
        (o->ranged && (x < o->min.u || x > o->max.u)))
      return -1;
    *(uint64_t *)o->dest = x;
    return 0;
  }
  case APP_DOUBLE: {
    double x;
    if (app_parse_double(v, &x) || (o->ranged && (x < o->min.d || x > o->max.d)))
      return -1;
    *(double *)o->dest = x;
    return 0;
  }
  case APP_CHOICE:
    for (int k = 0; o->choices[k]; k++)
      if (!strcmp(v, o->choices[k])) {
        *(int *)o->dest = k;
        return 0;
      }
    return -1;
  default:
    return -1;
  }
}

/* "see PROG [CMD] --help" */
static const char *help_hint(const app_cli *cli, char *buf, size_t cap) {
  snprintf(buf, cap, "see %s%s%s --help", cli->prog, cli->cmd ? " " : "", cli->cmd ? cli->cmd : "");
  return buf;
}

static const app_opt *find_long(const app_opt *opts, const char *name, size_t len) {
  for (const app_opt *o = opts; o->name; o++)
    if (strlen(o->name) == len && !strncmp(o->name, name, len))
      return o;
  return NULL;
}

static const app_opt *find_short(const app_opt *opts, char c) {
  for (const app_opt *o = opts; o->name; o++)
    if (o->short_name && o->short_name == c)
      return o;
  return NULL;
}

/* "-o FILE" or "--key FIELD": how the usage and the messages name an option. */
static void option_words(const app_opt *o, char *buf, size_t cap) {
  if (o->short_name)
    snprintf(buf, cap, "-%c%s%s", o->short_name, o->arg ? " " : "", o->arg ? o->arg : "");
  else
    snprintf(buf, cap, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

int app_parse(app *a, const app_cli *cli, int argc, char **argv, int first) {
  char hint[128], what[256];
  help_hint(cli, hint, sizeof hint);
  a->cli = cli;
  a->prog = cli->prog;
  free(a->args);
  a->nargs = 0;
  a->args = calloc((size_t)(argc > first ? argc - first : 1), sizeof *a->args);
  if (!a->args) { /* every rank parses the same command line: every rank fails here */
    app_error(a, "out of memory for the list of %d arguments", argc);
    return APP_EXIT_FAIL;
  }
  unsigned char given[APP_MAX_OPTS] = {0};
  size_t nopts = 0;
  while (cli->opts[nopts].name)
    nopts++;
  if (nopts > APP_MAX_OPTS) { /* a bug in the app's table */
    app_error(a, "internal error: %zu options, at most %d", nopts, APP_MAX_OPTS);
    return APP_EXIT_FAIL;
  }
  int only_args = 0;
  for (int i = first; i < argc; i++) {
    const char *arg = argv[i];
    if (only_args || arg[0] != '-' || arg[1] == '\0') { /* "-" is an argument (stdin) */
      if (cli->max_args >= 0 && a->nargs >= cli->max_args) {
        if (cli->max_args == 0)
          return app_usage_error(a, "unexpected argument '%s' (%s)", arg, hint);
        return app_usage_error(a, "more than one input given ('%s' and '%s'%s%s)", a->args[0], arg,
                               cli->args_note ? "; " : "", cli->args_note ? cli->args_note : "");
      }
      a->args[a->nargs++] = argv[i];
      continue;
    }
    if (!strcmp(arg, "--")) {
      only_args = 1;
      continue;
    }
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
      if (a->root)
        app_print_help(stdout, cli);
      return APP_EXIT_OK;
    }
    if (!strcmp(arg, "--version")) {
      if (a->root)
        printf("%s %s\n", cli->prog, sl_version());
      return APP_EXIT_OK;
    }
    if (!strcmp(arg, "--describe")) {
      a->describe = 1;
      continue;
    }
    /* --name, --name=value, -c */
    const app_opt *o = NULL;
    const char *inline_value = NULL;
    size_t name_len = strlen(arg);
    if (arg[1] == '-') {
      const char *eq = strchr(arg + 2, '=');
      if (eq) {
        inline_value = eq + 1;
        name_len = (size_t)(eq - arg);
      }
      o = find_long(cli->opts, arg + 2, name_len - 2);
    } else if (arg[2] == '\0') {
      o = find_short(cli->opts, arg[1]);
    }
    if (!o)
      return app_usage_error(a, "unknown option '%s' (%s)", arg, hint);
    snprintf(what, sizeof what, "%.*s", (int)name_len, arg); /* as typed, without the value */
    if (o->kind == APP_FLAG) {
      if (inline_value)
        return app_usage_error(a, "%s takes no value, found '%s'", what, arg);
      *(int *)o->dest = 1;
    } else {
      const char *v = inline_value;
      if (!v) {
        if (i + 1 >= argc)
          return app_usage_error(a, "%s needs a value (%s)", what, hint);
        v = argv[++i];
      }
      if (store_value(o, v)) {
        char expect[256];
        describe_value(o, expect, sizeof expect);
        return app_usage_error(a, "%s expects %s, found '%s'", what, expect, v);
      }
    }
    given[o - cli->opts] = 1;
    if (o->seen)
      *o->seen = 1;
  }
  if (a->nargs < cli->min_args)
    return app_usage_error(a, "no input given (expected %s; %s)",
                           cli->args ? cli->args : "an input", hint);
  for (const app_opt *o = cli->opts; o->name; o++)
    if (o->required && !given[o - cli->opts]) {
      option_words(o, what, sizeof what);
      return app_usage_error(a, "missing %s (%s)", what, hint);
    }
  return APP_RUN;
}

/* ---- help ---- */

/* Print text from column col (the cursor is there), wrapped at APP_WIDTH; every new line
 * starts at column indent. '\n' in text breaks the line. */
static void print_wrapped(FILE *f, const char *text, int col, int indent) {
  const char *p = text;
  while (*p) {
    if (*p == '\n') {
      fprintf(f, "\n%*s", indent, "");
      col = indent;
      p++;
      continue;
    }
    if (*p == ' ') {
      p++;
      continue;
    }
    size_t w = strcspn(p, " \n");
    if (col > indent && col + 1 + (int)w > APP_WIDTH) {
      fprintf(f, "\n%*s", indent, "");
      col = indent;
    } else if (col > indent) {
      fputc(' ', f);
      col++;
    }
    fprintf(f, "%.*s", (int)w, p);
    col += (int)w;
    p += w;
  }
  fputc('\n', f);
}

/* One word of the synopsis, on this line when it fits. */
static void put_word(FILE *f, int *col, int indent, const char *word) {
  int w = (int)strlen(word);
  if (*col > indent && *col + 1 + w > APP_WIDTH) {
    fprintf(f, "\n%*s%s", indent, "", word);
    *col = indent + w;
  } else {
    fprintf(f, " %s", word);
    *col += 1 + w;
  }
}

void app_print_usage(FILE *f, const app_cli *cli, const char *prefix) {
  int col = fprintf(f, "%s%s%s%s%s", prefix ? prefix : "usage: ", cli->mpi ? "mpirun -n N " : "",
                    cli->prog, cli->cmd ? " " : "", cli->cmd ? cli->cmd : "");
  int indent = col + 1 < APP_WIDTH / 2 ? col + 1 : 8;
  if (cli->args && cli->args_first)
    put_word(f, &col, indent, cli->args);
  for (const app_opt *o = cli->opts; o->name; o++) {
    char words[200], item[256];
    option_words(o, words, sizeof words);
    snprintf(item, sizeof item, o->required ? "%s" : "[%s]", words);
    put_word(f, &col, indent, item);
  }
  if (cli->args && !cli->args_first)
    put_word(f, &col, indent, cli->args);
  fputc('\n', f);
}

static void print_row(FILE *f, const char *left, const char *help, int col) {
  int w = fprintf(f, "  %s", left);
  if (w + 2 > col) {
    fprintf(f, "\n%*s", col, "");
    w = col;
  } else {
    fprintf(f, "%*s", col - w, "");
    w = col;
  }
  print_wrapped(f, help ? help : "", w, col);
}

/* "-o, --output FILE" */
static void row_left(const app_opt *o, char *buf, size_t cap) {
  char s[8] = "";
  if (o->short_name)
    snprintf(s, sizeof s, "-%c, ", o->short_name);
  snprintf(buf, cap, "%s--%s%s%s", s, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

void app_print_options(FILE *f, const app_opt *opts, int std) {
  static const app_opt std_rows[] = {
      {.name = "help", .short_name = 'h', .help = "this help"},
      {.name = "version", .help = "print the version"},
      {.name = "describe",
       .help = "print the plan (stages, partitions and their ranks, inputs and their sizes, "
               "memory budgets) and exit without running or writing anything"},
      {.name = "sl-help",
       .help = "sluice's runtime options (--sl-NAME=VALUE or --sl-NAME VALUE, or the environment "
               "variable SLUICE_NAME), e.g. --sl-progress=on, --sl-stats=stats.json, "
               "--sl-log-view"},
      APP_OPT_END};
  char left[256];
  int width = 0;
  for (int t = 0; t < 2; t++)
    for (const app_opt *o = t ? std_rows : opts; o->name && (t == 0 || std); o++) {
      row_left(o, left, sizeof left);
      int w = (int)strlen(left);
      if (w <= APP_OPT_COL && w > width)
        width = w;
    }
  int col = 2 + width + 2;
  for (int t = 0; t < 2; t++)
    for (const app_opt *o = t ? std_rows : opts; o->name && (t == 0 || std); o++) {
      row_left(o, left, sizeof left);
      print_row(f, left, o->help, col);
    }
}

void app_print_help(FILE *f, const app_cli *cli) {
  app_print_usage(f, cli, NULL);
  if (cli->about)
    fprintf(f, "\n%s%s", cli->about, cli->about[strlen(cli->about) - 1] == '\n' ? "" : "\n");
  fprintf(f, "\noptions:\n");
  app_print_options(f, cli->opts, 1);
  if (cli->epilog)
    fprintf(f, "\n%s%s", cli->epilog, cli->epilog[strlen(cli->epilog) - 1] == '\n' ? "" : "\n");
  fprintf(f, "\nOptions that take a value accept --opt VALUE and --opt=VALUE alike.\n"
             "exit status: 0 success, 1 runtime failure, 2 bad usage or bad input,\n"
             "             3 stopped by SIGTERM/SIGUSR1 (nothing written under the output name)\n");
}

/* ---- FILE:/dataset specs ---- */

int app_spec_split(const char *spec, size_t *file_len, const char **path) {
  const char *sep = NULL;
  for (const char *q = spec; (q = strstr(q, ":/")) != NULL; q++)
    sep = q;
  if (!sep)
    return 0;
  *file_len = (size_t)(sep - spec);
  *path = sep + 1;
  return 1;
}

int app_spec_valid(const char *spec) {
  size_t flen;
  const char *path;
  return app_spec_split(spec, &flen, &path) && flen > 0 && path[1] != '\0';
}

int app_spec_check(const app *a, const char *role, const char *spec, const char *expect) {
  if (app_spec_valid(spec))
    return APP_EXIT_OK;
  return app_usage_error(a, "%s '%s': expected %s", role, spec, expect);
}

void app_files_free(char **files, int n) {
  for (int i = 0; files && i < n; i++)
    free(files[i]);
  free(files);
}

int app_spec_files(const char *const *specs, int nspecs, char ***files) {
  char **v = NULL;
  int n = 0, cap = 0;
  for (int s = 0; s < nspecs; s++) {
    size_t flen;
    const char *path;
    if (!app_spec_split(specs[s], &flen, &path))
      flen = strlen(specs[s]);
    char *file = strndup(specs[s], flen);
    if (!file)
      goto oom;
    glob_t gl;
    int globbed = strpbrk(file, "*?[") && glob(file, 0, NULL, &gl) == 0;
    size_t add = globbed ? gl.gl_pathc : 1;
    if (n + (int)add > cap) {
      int ncap = (n + (int)add) * 2;
      char **nv = realloc(v, (size_t)ncap * sizeof *nv);
      if (!nv) {
        free(file);
        if (globbed)
          globfree(&gl);
        goto oom;
      }
      v = nv, cap = ncap;
    }
    if (!globbed) {
      v[n++] = file;
      continue;
    }
    free(file);
    for (size_t k = 0; k < gl.gl_pathc; k++) {
      char *name = strdup(gl.gl_pathv[k]);
      if (!name) {
        globfree(&gl);
        goto oom;
      }
      v[n++] = name;
    }
    globfree(&gl);
  }
  *files = v;
  return n;
oom:
  app_files_free(v, n);
  return -1;
}

/* ---- outputs and agreement ---- */

int app_all_ok(const app *a, int ok) {
  int mine = ok ? 1 : 0, all = 0;
  if (MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, a->comm) != MPI_SUCCESS)
    return 0;
  return all;
}

int app_agree(const app *a, int ok, const char *fmt, ...) {
  int mine = ok ? INT_MAX : a->rank, first = INT_MAX;
  if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, a->comm) != MPI_SUCCESS)
    return 0;
  if (first == INT_MAX)
    return 1;
  if (first == a->rank) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(a, 1, "error: ", fmt, ap);
    va_end(ap);
  }
  return 0;
}

int app_output_create(const app *a, const char *path, int force, const char *const *specs,
                      int nspecs, sl_output **out) {
  char **files = NULL;
  int n = nspecs > 0 ? app_spec_files(specs, nspecs, &files) : 0;
  if (!app_agree(a, n >= 0, "out of memory for the list of input files")) {
    app_files_free(files, n);
    return SL_ERR_NOMEM;
  }
  /* rank 0 checks the destination (a directory, a missing or unwritable directory, an
   * existing file without force, an input) and prints the one line */
  int rc = sl_output_create(a->ctx, path, force, (const char *const *)files, n, out);
  app_files_free(files, n);
  if (rc != SL_OK) {
    /* rank 0 has the cause, the others may have SL_ERR_REMOTE: every rank returns rank 0's
     * code, since mpirun reports the first rank to exit */
    int r0 = rc;
    MPI_Bcast(&r0, 1, MPI_INT, 0, a->comm);
    if (r0 != SL_ERR_REMOTE && r0 != SL_OK)
      rc = r0;
  }
  return rc;
}
