/* SPDX-License-Identifier: BSD-3-Clause */
/* appcli: the command line every sluice app shares (static library sluice_appcli, not
 * installed; apps/common).
 *
 * Lifecycle: app_start (sl_init, --sl-help, parse the options) -> the app's work ->
 * app_finish (sl_finalize). A program with subcommands (sluice-gen) calls app_init, picks
 * the subcommand, then app_parse.
 *
 * An app declares its options in a table of app_opt, ended by APP_OPT_END:
 *
 *   const app_opt opts[] = {
 *       APP_OPT_OUTPUT(&out, "FILE", "write the TSV to FILE"),
 *       {.name = "top", .kind = APP_UINT, .dest = &top, .seen = &have_top, .arg = "K",
 *        .help = "keep the K most frequent words"},
 *       APP_OPT_FORCE(&force, "overwrite FILE if it exists"),
 *       APP_OPT_END};
 *
 * and the parser gives every app the same command line: --opt VALUE and --opt=VALUE alike
 * (a short option: -o VALUE), "--" ends the options, -h/--help, --version, --describe
 * (the app runs its flows through app_run, which then prints each plan instead of running
 * it, and writes nothing) and --sl-help
 * (sluice's runtime options; sl_init has taken every --sl-* argument out of argv before the
 * app sees it), strict values (an empty string, trailing junk or a value out of range is
 * an error), and one message form on stderr: "<prog>: error: ...", printed by rank 0 once
 * (every rank parses the same command line, so every rank finds the same error), with exit
 * status 2 on every rank. --help prints the usage, generated from the table, on stdout.
 *
 * Exit statuses, for every app: 0 success, 1 runtime failure, 2 bad usage or bad input,
 * 3 stopped by SIGTERM/SIGUSR1 (sl_exit_status maps a sluice error code to them).
 *
 * Collective: app_start, app_init, app_finish, app_all_ok, app_agree, app_output_create,
 * app_run. The rest is local.
 */
#ifndef SLUICE_APPCLI_H
#define SLUICE_APPCLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sluice.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { APP_EXIT_OK = 0, APP_EXIT_FAIL = 1, APP_EXIT_USAGE = 2, APP_EXIT_STOPPED = 3 };

/* What app_start, app_init and app_parse return when the app is to go on; any other value
 * is the exit status (0 after --help, --version or --sl-help). */
#define APP_RUN (-1)

/* The kind of an option's value, and the type of its dest. */
typedef enum app_kind {
  APP_FLAG,   /* no value; int *dest set to 1 */
  APP_STRING, /* const char **dest, pointing into argv; non-empty unless .allow_empty */
  APP_INT,    /* int *dest; decimal, optional sign */
  APP_UINT,   /* uint64_t *dest; decimal digits only */
  APP_SIZE,   /* uint64_t *dest; digits with an optional binary suffix K, M, G, T (1K = 1024;
                 "Ki", "KB", "KiB" too) */
  APP_DOUBLE, /* double *dest; a finite number */
  APP_CHOICE  /* int *dest: the index of the value in .choices */
} app_kind;

typedef union app_num {
  int64_t i;  /* APP_INT */
  uint64_t u; /* APP_UINT, APP_SIZE */
  double d;   /* APP_DOUBLE */
} app_num;

typedef struct app_opt {
  const char *name; /* long name without the dashes: "output" is --output */
  char short_name;  /* 'o' is -o; 0: none */
  app_kind kind;    /* the value's kind */
  void *dest;       /* where the value goes (type: see app_kind); left as is when the option
                       is not given, so it holds the default */
  const char *arg;  /* the value's name in the usage ("FILE"); NULL for a flag */
  const char *help; /* one line of help, wrapped when printed; '\n' breaks the line */
  int required;     /* 1: missing is a usage error */
  int *seen;        /* optional: set to 1 when the option is given */
  int allow_empty;  /* APP_STRING: an empty value is valid */
  int ranged;       /* 1: the value must lie in [min, max] (set by APP_RANGE_*) */
  app_num min, max; /* the range, in the member of the kind */
  const char *const *choices; /* APP_CHOICE: the values, NULL-terminated */
} app_opt;

/* Ranges for a table row: {..., APP_RANGE_I(0, 9)} */
#define APP_RANGE_I(lo, hi) .ranged = 1, .min = {.i = (lo)}, .max = {.i = (hi)}
#define APP_RANGE_U(lo, hi) .ranged = 1, .min = {.u = (lo)}, .max = {.u = (hi)}
#define APP_RANGE_D(lo, hi) .ranged = 1, .min = {.d = (lo)}, .max = {.d = (hi)}

/* The rows every app writes the same way. */
#define APP_OPT_OUTPUT(dest_, arg_, help_)                                                         \
  {                                                                                                \
    .name = "output", .short_name = 'o', .kind = APP_STRING, .dest = (dest_), .arg = (arg_),       \
    .help = (help_)                                                                                \
  }
/* --where 'F OP V[, ...]': a row filter of the HDF5 apps (apps/common/where.h parses it). */
#define APP_OPT_WHERE(dest_)                                                                       \
  {                                                                                                \
    .name = "where", .kind = APP_STRING, .dest = (dest_), .arg = "'F OP V[, ...]'",                \
    .help = "only the rows where every condition holds (OP: ==, !=, <, <=, >, >=; numbers "        \
            "compare decoded values, a missing value or NaN meets only !=)"                        \
  }
#define APP_OPT_OUTPUT_REQUIRED(dest_, arg_, help_)                                                \
  {                                                                                                \
    .name = "output", .short_name = 'o', .kind = APP_STRING, .dest = (dest_), .arg = (arg_),       \
    .required = 1, .help = (help_)                                                                 \
  }
#define APP_OPT_FORCE(dest_, help_)                                                                \
  { .name = "force", .kind = APP_FLAG, .dest = (dest_), .help = (help_) }
#define APP_OPT_DEFLATE(dest_)                                                                     \
  {                                                                                                \
    .name = "deflate", .kind = APP_INT, .dest = (dest_), .arg = "LEVEL",                           \
    .help = "compress the output with deflate at LEVEL (0-9)", APP_RANGE_I(0, 9)                   \
  }
#define APP_OPT_END                                                                                \
  { .name = NULL }

/* An app's command line. */
typedef struct app_cli {
  const char *prog;      /* "sluice-h5sort": in the usage, --version and every message */
  const char *cmd;       /* a subcommand ("text" for "sluice-gen text"), or NULL */
  int mpi;               /* 1: the usage line reads "usage: mpirun -n N PROG ..." */
  const app_opt *opts;   /* the table, ended by APP_OPT_END (at most 64 rows) */
  const char *args;      /* the positional arguments in the usage: "FILE:/dataset", "FILE..."
                            (NULL: none) */
  int args_first;        /* 1: they come first in the usage line, else last */
  int min_args;          /* fewer is a usage error ("no input given") */
  int max_args;          /* more is a usage error; < 0: no limit */
  const char *args_note; /* a hint after "more than one input given (...)", e.g. "quote a glob" */
  const char *about;     /* what the app does: paragraphs between the usage line and the options */
  const char *epilog;    /* printed after the options (NULL: nothing) */
} app_cli;

/* The positional arguments of the HDF5 apps, in an app_cli initializer: one FILE:/dataset
 * spec, first (FILE may be a quoted glob). */
#define APP_ARGS_ONE_SPEC                                                                          \
  .args = "FILE:/dataset", .args_first = 1, .min_args = 1, .max_args = 1,                          \
  .args_note = "quote a glob"

/* One run of an app. */
typedef struct app {
  const char *prog;
  const app_cli *cli; /* set by app_parse; valid while that cli lives */
  sl_ctx *ctx;
  MPI_Comm comm; /* the context's communicator */
  int rank, size;
  int root;    /* rank 0 */
  char **args; /* the positional arguments, in order (set by app_parse) */
  int nargs;
  int describe; /* --describe: app_run prints the plans, nothing is run or written */
} app;

/* ---- lifecycle ---- */

/* sl_init (which parses and removes the --sl-* arguments), then app_parse(a, cli, *argc,
 * *argv, 1). Returns APP_RUN, or the exit status (after --help, --version, --sl-help, a
 * usage error or a failed sl_init). Either way main ends with app_finish:
 *
 *   int code = app_start(&a, &cli, &argc, &argv);
 *   if (code == APP_RUN)
 *     code = run(&a, ...);
 *   return app_finish(&a, code);
 *
 * Collective. */
int app_start(app *a, const app_cli *cli, int *argc, char ***argv);

/* sl_init and --sl-help only: returns APP_RUN or the exit status. Collective. */
int app_init(app *a, const char *prog, int *argc, char ***argv);

/* Parse argv[first..argc) against cli (argv[first - 1] is the program or the subcommand).
 * The options' values go to their dest; the positional arguments to a->args. Returns
 * APP_RUN, or the exit status: 0 after --help or --version (printed by rank 0), 2 after a
 * usage error (printed by rank 0), 1 when out of memory. Local. */
int app_parse(app *a, const app_cli *cli, int argc, char **argv, int first);

/* Free what app_parse allocated, sl_finalize (nothing when sl_init failed), flush stdout,
 * and return code, for main to return. Collective. */
int app_finish(app *a, int code);

/* sl_run(flow); with --describe, rank 0 prints "PROG: plan of TITLE" and the plan as
 * sl_flow_describe_run gives it (stages, partitions, placement, inputs and their sizes,
 * memory budgets) on stdout, and nothing runs. An app with --describe must also skip what
 * it would do after the run (write its own outputs, print a summary): a->describe says so.
 * Returns a sluice code. Collective. */
int app_run(app *a, sl_flow *flow, const char *title);

/* ---- messages (one line each, to stderr) ---- */

/* Rank 0 prints "<prog>: error: MSG". Returns APP_EXIT_USAGE. Call it on every rank. */
int app_usage_error(const app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Rank 0 prints "<prog>: error: MSG": a failure every rank meets alike. Call it on every
 * rank. */
void app_root_error(const app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The calling rank prints "<prog>: error: [rank R: ]MSG" (the rank when there are
 * several). For a failure that only some ranks may meet. */
void app_error(const app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Rank 0 prints "<prog>: MSG" (a summary line). */
void app_note(const app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- help ---- */

/* The whole --help text: usage line, about, options (the table's, then -h, --version,
 * --sl-help), epilog, exit statuses. */
void app_print_help(FILE *f, const app_cli *cli);
/* "usage: [mpirun -n N ]PROG [CMD] SYNOPSIS", the synopsis made from the table and wrapped
 * at 80 columns. With prefix NULL, "usage: "; else prefix replaces it (e.g. "  "). */
void app_print_usage(FILE *f, const app_cli *cli, const char *prefix);
/* The table's options, one per row, the help wrapped beside them; with std, also -h,
 * --version and --sl-help. */
void app_print_options(FILE *f, const app_opt *opts, int std);

/* ---- values (strict: no leading space, no trailing junk, no empty string) ---- */

/* Each returns 0, or -1 when s is not such a value or out of the type's range. */
int app_parse_int(const char *s, int64_t *out);
int app_parse_uint(const char *s, uint64_t *out);
int app_parse_size(const char *s, uint64_t *out);
int app_parse_double(const char *s, double *out);

/* ---- FILE:/dataset specs ---- */

/* Split spec at its last ":/" (where the library splits it): *file_len is the length of
 * FILE, *path points at the dataset path (the '/'). Returns 1, or 0 when spec has no ":/"
 * (nothing set). */
int app_spec_split(const char *spec, size_t *file_len, const char **path);
/* 1 when spec is FILE:/path with a non-empty FILE and a path other than "/". */
int app_spec_valid(const char *spec);
/* APP_EXIT_OK when spec is valid, else rank 0 prints "<prog>: error: ROLE 'SPEC': expected
 * EXPECT" (e.g. role "input", expect "FILE:/path/to/dataset") and APP_EXIT_USAGE. */
int app_spec_check(const app *a, const char *role, const char *spec, const char *expect);
/* The files of the specs (FILE of each, a glob expanded as the library does: sorted, no
 * match kept as given), for an output's is-it-an-input check. Returns how many, with
 * *files a malloc'd array of malloc'd names (free with app_files_free), or -1 when out of
 * memory. */
int app_spec_files(const char *const *specs, int nspecs, char ***files);
void app_files_free(char **files, int n);

/* ---- outputs and agreement ---- */

/* sl_output_create for a file the app writes itself (-o path, --force), refused when it is
 * one of the files of the input specs (even with force): a bad destination is one line
 * from rank 0, and every rank returns rank 0's code (the others would see SL_ERR_REMOTE,
 * and mpirun reports the first rank to exit). Returns a sluice code. Collective. */
int app_output_create(const app *a, const char *path, int force, const char *const *specs,
                      int nspecs, sl_output **out);
/* 1 when ok is nonzero on every rank. Collective. */
int app_all_ok(const app *a, int ok);
/* app_all_ok, and when some rank failed, the lowest failing rank prints "<prog>: error:
 * MSG" (app_error's form): a failure that every rank shares is reported once. Collective. */
int app_agree(const app *a, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
