/* SPDX-License-Identifier: BSD-3-Clause */
/* The context: MPI setup, options, launcher checks, pinning and signals (sl_init), and
 * their teardown (sl_finalize). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/options_table.h"

/* Joins argv for logs and statistics; quoted so the line can be pasted back into a shell.
 * Truncated with "..." when it does not fit. */
static void format_command_line(int argc, char **argv, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < argc && argv[i] != NULL; i++) {
    const char *a = argv[i];
    int quote = a[0] == '\0' || strpbrk(a, " \t\n\"'\\$`*?") != NULL;
    size_t need = (used > 0) + strlen(a) + (quote ? 2 : 0);
    if (used + need + 4 > cap) { /* room for "..." and the terminator */
      if (used + 4 <= cap)
        memcpy(buf + used, "...", 4);
      return;
    }
    if (used > 0)
      buf[used++] = ' ';
    if (quote)
      buf[used++] = '\'';
    memcpy(buf + used, a, strlen(a));
    used += strlen(a);
    if (quote)
      buf[used++] = '\'';
    buf[used] = '\0';
  }
}

/* A common Slurm mistake is srun with an MPI plugin the MPI library does not speak: every
 * task then starts as a singleton, rank 0 of 1, and the job silently computes N times.
 * When srun started the ranks itself (a step with SLURM_STEP_NUM_TASKS, and no
 * OMPI_COMM_WORLD_SIZE, which Open MPI's mpirun sets), the step's task count must equal
 * the MPI world size. Under mpirun inside an allocation the check does not apply: mpirun
 * starts its daemons as a step of one task per node, and the ranks may inherit that count
 * (verified with Slurm 22.05 + Open MPI 4.1: direct srun shows SLURM_STEP_NUM_TASKS=N and
 * no OMPI_COMM_WORLD_SIZE; mpirun shows OMPI_COMM_WORLD_SIZE and no step). */
static int check_launcher(sl_ctx *ctx) {
  const char *job = getenv("SLURM_JOB_ID");
  if (job != NULL)
    snprintf(ctx->slurm_job_id, sizeof ctx->slurm_job_id, "%s", job);
  const char *step = getenv("SLURM_STEP_ID");
  const char *ntasks = getenv("SLURM_STEP_NUM_TASKS");
  if (step == NULL || ntasks == NULL)
    return SL_OK;
  char *end = NULL;
  errno = 0;
  long n = strtol(ntasks, &end, 10);
  if (errno != 0 || end == ntasks || *end != '\0')
    return SL_OK; /* not ours to judge */
  /* MPI_COMM_WORLD, not ctx->comm: the launcher's count describes the whole job, while
   * the caller's communicator may be a part of it. Only its size is read. */
  int world = 0;
  SL__CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &world));
  int under_mpirun = getenv("OMPI_COMM_WORLD_SIZE") != NULL;
  if (!under_mpirun && world != n) {
    SL__FAIL(SL_ERR_STATE,
             "launcher and MPI disagree: SLURM_STEP_NUM_TASKS=%ld but MPI world size is %d "
             "(use srun --mpi=pmix, or mpirun inside the allocation)",
             n, world);
  }
  return SL_OK;
}

static int start_mpi(sl_ctx *ctx, int *argc, char ***argv, MPI_Comm comm) {
  int initialized = 0, finalized = 0;
  SL__CHECK_MPI(MPI_Finalized(&finalized));
  if (finalized)
    SL__FAIL(SL_ERR_STATE, "sl_init called after MPI_Finalize");
  SL__CHECK_MPI(MPI_Initialized(&initialized));
  if (!initialized) {
    int provided = 0;
    /* Funneled: sluice calls MPI from the main thread only, and asking for more would
     * slow some MPI libraries down for nothing. */
    SL__CHECK_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    ctx->mpi_initialized_here = 1;
  }
  if (comm == MPI_COMM_NULL)
    SL__FAIL(SL_ERR_INVAL, "sl_init: comm is MPI_COMM_NULL");
  SL__CHECK_MPI(MPI_Comm_dup(comm, &ctx->comm));
  /* Errors on sluice's own communicator come back as codes, so the failing rank can say
   * what it was doing in sluice terms instead of MPI aborting with an MPI-level message. */
  SL__CHECK_MPI(MPI_Comm_set_errhandler(ctx->comm, MPI_ERRORS_RETURN));
  SL__CHECK_MPI(MPI_Comm_rank(ctx->comm, &ctx->rank));
  SL__CHECK_MPI(MPI_Comm_size(ctx->comm, &ctx->size));
  MPI_Comm node = MPI_COMM_NULL;
  SL__CHECK_MPI(MPI_Comm_split_type(ctx->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  int rc = MPI_Comm_rank(node, &ctx->node_rank);
  if (rc == MPI_SUCCESS)
    rc = MPI_Comm_size(node, &ctx->node_size);
  int frc = MPI_Comm_free(&node);
  if (rc == MPI_SUCCESS)
    rc = frc;
  if (rc != MPI_SUCCESS)
    return sl__error_mpi(rc, __FILE__, __LINE__, "node communicator");
  sl__memory_resolve(ctx);
  return SL_OK;
}

/* The steps of sl_init that can fail on some ranks only; the ranks agree afterwards. */
static int configure(sl_ctx *ctx, int *argc, char ***argv) {
  SL__CHECK(sl__options_from_env(&ctx->opt));
  SL__CHECK(sl__options_from_argv(&ctx->opt, argc, argv));
  SL__CHECK(sl__options_check(&ctx->opt));
  SL__CHECK(check_launcher(ctx));
  if (ctx->opt.help) { /* the program is about to exit: no binding, no handlers */
    sl__signals_drop_early();
    snprintf(ctx->binding_desc, sizeof ctx->binding_desc, "not bound (--sl-help)");
    return SL_OK;
  }
  SL__CHECK(sl__pin(ctx));
  SL__CHECK(sl__signals_install(ctx));
  return SL_OK;
}

/* Every rank returns an error if any rank failed, so no rank goes on to a collective the
 * others will never join. The lowest failing rank prints its message; other failing
 * ranks print theirs too unless it is an option error, which every rank shares (they see
 * the same command line and environment), so N copies would only bury it. */
static int agree(sl_ctx *ctx, int rc) {
  int mine = rc != SL_OK ? ctx->rank : ctx->size;
  int first = ctx->size;
  int mrc = MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, ctx->comm);
  if (mrc != MPI_SUCCESS) {
    if (rc == SL_OK)
      rc = sl__error_mpi(mrc, __FILE__, __LINE__, "MPI_Allreduce");
    sl__report_error(ctx, rc);
    return rc;
  }
  if (rc != SL_OK) {
    if (ctx->rank == first || rc != SL_ERR_OPTION)
      sl__report_error(ctx, rc);
    else
      sl__error_clear();
    return rc;
  }
  if (first < ctx->size)
    return SL_ERR_REMOTE;
  return SL_OK;
}

int sl__expand_name(const sl_ctx *ctx, const char *option, const char *tmpl, char *out,
                    size_t cap) {
  /* Outside Slurm there is no job id; "nojob" says so in the name (documented with the
   * options) rather than inventing a number that looks like one. */
  const char *job = ctx->slurm_job_id[0] ? ctx->slurm_job_id : "nojob";
  size_t n = 0;
  for (const char *p = tmpl; *p; p++) {
    const char *add = p;
    size_t len = 1;
    if (p[0] == '%' && p[1] == 'j') {
      add = job, len = strlen(job), p++;
    } else if (p[0] == '%' && p[1] == '%') {
      p++;
    }
    if (n + len >= cap)
      SL__FAIL(SL_ERR_OPTION, "%s='%s': the name with %%j expanded is longer than %zu bytes",
               option, tmpl, cap - 1);
    memcpy(out + n, add, len);
    n += len;
  }
  out[n] = '\0';
  return SL_OK;
}

static void free_trace(sl_ctx *ctx) {
  if (ctx->trace && ctx->trace_free)
    ctx->trace_free(ctx->trace);
  ctx->trace = NULL;
  free(ctx->keep); /* sl_checkpoint_keep's list goes with the trace: both live to the end */
  ctx->keep = NULL;
  ctx->nkeep = ctx->capkeep = 0;
}

static void destroy(sl_ctx *ctx) {
  free_trace(ctx);
  sl__signals_restore(ctx);
  sl__signals_drop_early(); /* sl_init failed before a context took them */
  int finalized = 0;
  if (MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) {
    if (ctx->comm != MPI_COMM_NULL)
      (void)MPI_Comm_free(&ctx->comm);
    if (ctx->mpi_initialized_here)
      (void)MPI_Finalize();
  }
  free(ctx);
}

int sl_init(int *argc, char ***argv, MPI_Comm comm, sl_ctx **out) {
  if (out == NULL) {
    int rc = sl__error_set(SL_ERR_INVAL, __FILE__, __LINE__, "sl_init: ctx is NULL");
    sl__report_error(NULL, rc);
    return rc;
  }
  sl__error_clear(); /* a fresh start: nothing recorded before belongs to this call */
  sl_ctx *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL) {
    int rc = sl__error_set(SL_ERR_NOMEM, __FILE__, __LINE__, "sl_init: out of memory");
    sl__report_error(NULL, rc);
    return rc;
  }
  ctx->comm = MPI_COMM_NULL;
  ctx->bound_core = -1;
  int rc = sl__options_defaults(&ctx->opt);
  /* Before MPI_Init and option removal, so the record shows what the user typed. */
  if (argc != NULL && argv != NULL && *argv != NULL) {
    format_command_line(*argc, *argv, ctx->command_line, sizeof ctx->command_line);
  }
  if (rc == SL_OK)
    sl__signals_early(); /* before MPI_Init and the binding: see signals.c */
  if (rc == SL_OK)
    rc = start_mpi(ctx, argc, argv, comm);
  if (rc != SL_OK) {
    /* No working communicator to agree on: report on the world rank and give up. */
    sl__report_error(NULL, rc);
    destroy(ctx);
    return rc;
  }
  rc = agree(ctx, configure(ctx, argc, argv));
  if (rc != SL_OK) {
    destroy(ctx); /* every rank gets here, so MPI_Finalize stays collective */
    return rc;
  }
  /* the program's own arguments (the --sl-* options are gone): what a checkpoint's resume
   * must match, whatever runtime options it is given */
  if (argc != NULL && argv != NULL && *argv != NULL)
    format_command_line(*argc, *argv, ctx->program_args, sizeof ctx->program_args);
  if (ctx->opt.help && ctx->rank == 0) {
    sl__options_help(&ctx->opt, stdout);
    fflush(stdout);
  }
  if (ctx->rank == 0) {
    sl_log(ctx, SL_LOG_INFO, "sluice %s on %d ranks: %s", sl_version(), ctx->size,
           ctx->command_line);
  }
  sl_log(ctx, SL_LOG_INFO, "binding: %s", ctx->binding_desc);
  if (ctx->rank == 0 && ctx->opt.held_memory_bytes == 0) {
    char b[32];
    sl__opt_format_size(ctx->held_memory_auto, b, sizeof b);
    sl_log(ctx, SL_LOG_INFO,
           "sort memory (auto): %s per rank, shared by its sort steps (%d ranks on rank 0's "
           "node)",
           b, ctx->node_size);
  }
  *out = ctx;
  return SL_OK;
}

int sl_finalize(sl_ctx **pctx) {
  if (pctx == NULL || *pctx == NULL)
    return SL_OK;
  sl_ctx *ctx = *pctx;
  int rc = SL_OK;
  free_trace(ctx);
  sl__signals_restore(ctx);
  sl__signals_drop_early(); /* sl_init failed before a context took them */
  int finalized = 0;
  int mrc = MPI_Finalized(&finalized);
  if (mrc != MPI_SUCCESS) {
    rc = sl__error_mpi(mrc, __FILE__, __LINE__, "MPI_Finalized");
  } else if (finalized) {
    /* The communicator cannot be freed any more; the memory still can. */
    rc = sl__error_set(SL_ERR_STATE, __FILE__, __LINE__,
                       "MPI was finalized before sl_finalize (call sl_finalize first)");
  } else {
    if (ctx->comm != MPI_COMM_NULL) {
      mrc = MPI_Comm_free(&ctx->comm);
      if (mrc != MPI_SUCCESS)
        rc = sl__error_mpi(mrc, __FILE__, __LINE__, "MPI_Comm_free");
    }
    if (ctx->mpi_initialized_here) {
      mrc = MPI_Finalize();
      if (mrc != MPI_SUCCESS && rc == SL_OK) {
        rc = sl__error_mpi(mrc, __FILE__, __LINE__, "MPI_Finalize");
      }
    }
  }
  /* Callers rarely check sl_finalize, so a failure says so itself. */
  if (rc != SL_OK)
    sl__report_error(ctx, rc);
  free(ctx);
  *pctx = NULL;
  return rc;
}

int sl_help_requested(const sl_ctx *ctx) {
  return ctx != NULL && ctx->opt.help;
}

int sl_rank(const sl_ctx *ctx) {
  return ctx != NULL ? ctx->rank : SL_ERR_INVAL;
}

int sl_size(const sl_ctx *ctx) {
  return ctx != NULL ? ctx->size : SL_ERR_INVAL;
}

MPI_Comm sl_comm(const sl_ctx *ctx) {
  return ctx != NULL ? ctx->comm : MPI_COMM_NULL;
}

const char *sl_version(void) {
  return SL_VERSION_STRING;
}
