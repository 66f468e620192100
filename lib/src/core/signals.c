/* SPDX-License-Identifier: BSD-3-Clause */
/* Stop signals: SIGTERM (scancel, mpirun forwarding) and SIGUSR1 (sbatch --signal=USR1@T,
 * sent before the time limit) ask running flows to stop cleanly. The handler only sets a
 * flag; the engine polls it and agrees on the stop with the other ranks. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "core/core.h"

volatile int sl__stop_flag = 0;

static const int stop_signals[] = {SIGTERM, SIGUSR1};
#define SL__NSIG (sizeof stop_signals / sizeof stop_signals[0])

/* Handlers that were in place before, restored when the last context goes away so that a
 * program using sluice for one phase gets its own signal behaviour back. */
static struct sigaction saved[SL__NSIG];
static int installs = 0;
/* The handlers went in at the start of sl_init (sl__signals_early), before MPI_Init and the
 * binding, which take a few tenths of a second: a stop signal then (Slurm's warning to a job
 * that just started, a scancel) must stop the job cleanly, not kill it by the signal's
 * default action. No context owns them yet. */
static int early = 0;
static volatile sig_atomic_t early_sig = 0;

static void on_stop_signal(int sig) {
  sl__stop_flag = 1;
  early_sig = sig;
}

static int put_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  /* Restart interrupted system calls: the flag is polled, nothing needs EINTR, and MPI or
   * HDF5 internals may not retry it. */
  sa.sa_flags = SA_RESTART;
  if (sigemptyset(&sa.sa_mask) != 0)
    SL__FAIL(SL_ERR_INTERNAL, "sigemptyset failed: %s", strerror(errno));
  for (size_t i = 0; i < SL__NSIG; i++) {
    if (sigaction(stop_signals[i], &sa, &saved[i]) != 0) {
      int e = errno;
      for (size_t j = 0; j < i; j++)
        (void)sigaction(stop_signals[j], &saved[j], NULL);
      SL__FAIL(SL_ERR_INTERNAL, "sigaction(%s) failed: %s",
               stop_signals[i] == SIGTERM ? "SIGTERM" : "SIGUSR1", strerror(e));
    }
  }
  return SL_OK;
}

void sl__signals_early(void) {
  if (installs > 0 || early)
    return;
  early_sig = 0; /* a signal of an earlier context's time is not this sl_init's */
  if (put_handlers() == SL_OK)
    early = 1;
  else
    sl__error_clear(); /* sl__signals_install tries again and reports */
}

void sl__signals_drop_early(void) {
  if (!early)
    return;
  early = 0;
  for (size_t i = 0; i < SL__NSIG; i++)
    (void)sigaction(stop_signals[i], &saved[i], NULL);
  /* a signal came while sl_init ran, and the program does not want them handled
   * (--sl-stop-signals=off) or sl_init failed: what the signal would have done then */
  if (early_sig) {
    sl__stop_flag = 0;
    raise(early_sig);
  }
}

int sl__signals_install(sl_ctx *ctx) {
  if (ctx == NULL)
    SL__FAIL(SL_ERR_INVAL, "sl__signals_install: ctx is NULL");
  if (ctx->signals_installed)
    return SL_OK;
  if (!ctx->opt.stop_signals) {
    sl__signals_drop_early();
    return SL_OK;
  }
  if (installs > 0) { /* another context already installed them */
    installs++;
    ctx->signals_installed = 1;
    return SL_OK;
  }
  if (early) /* in place since the start of sl_init: this context owns them now */
    early = 0;
  else
    SL__CHECK(put_handlers());
  installs = 1;
  ctx->signals_installed = 1;
  return SL_OK;
}

void sl__signals_restore(sl_ctx *ctx) {
  /* The flag, not opt.stop_signals, says what to undo: the option may have changed since. */
  if (ctx == NULL || !ctx->signals_installed)
    return;
  ctx->signals_installed = 0;
  if (--installs > 0)
    return;
  /* After a stop, the process is on its way out with status 3, and the launcher may signal
   * it again meanwhile: mpirun answers the first rank's nonzero exit by sending SIGTERM to
   * the others, which would turn their clean exit into death by signal (status 143). The
   * flag handler stays. */
  if (sl__stop_flag)
    return;
  /* Nothing useful to do if restoring fails: the process keeps a harmless flag handler. */
  for (size_t i = 0; i < SL__NSIG; i++)
    (void)sigaction(stop_signals[i], &saved[i], NULL);
}

int sl_stop_requested(const sl_ctx *ctx) {
  (void)ctx; /* signals are per process, not per context */
  return sl__stop_flag != 0;
}
