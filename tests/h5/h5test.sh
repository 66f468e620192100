# SPDX-License-Identifier: BSD-3-Clause
# Sourced by the HDF5 app test scripts: run(RANKS, CMD...) runs CMD on RANKS ranks under
# a timeout (CTest's launcher settings); check(WHAT, CMD...) prints ok/FAIL for CMD and
# shows its output on failure, setting fail=1. The script sets D (a scratch directory) and
# fail=0 first.
# shellcheck shell=bash
run() { # ranks, command...
  n=$1
  shift
  # shellcheck disable=SC2086
  timeout 120 "$SLUICE_MPIEXEC" $SLUICE_MPIEXEC_NP "$n" $SLUICE_MPIEXEC_FLAGS "$@"
}
check() { # what, command...
  what=$1
  shift
  if "$@" >"$D/log" 2>&1; then
    echo "ok: $what"
  else
    echo "FAIL: $what"
    cat "$D/log"
    fail=1
  fi
}
