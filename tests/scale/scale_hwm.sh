#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# scale_hwm.sh SCALE_HWM_BINARY [RECORDS_PER_RANK]
# Weak scaling of batch-buffer memory: runs scale_hwm at 4 and at 32 ranks with the same
# options and checks that the largest inflight_hwm of any rank does not grow with the
# number of ranks: hwm(32) <= hwm(4). Both runs must also give the right result, and
# every credit must be back in its pool at the end (scale_hwm exits 3 if not). 32 ranks
# are oversubscribed on a few cores (--oversubscribe, mpi_yield_when_idle). Uses
# SLUICE_MPIEXEC, SLUICE_MPIEXEC_NP and SLUICE_MPIEXEC_FLAGS from sl_add_app_test when
# set, else mpirun -n --oversubscribe.
set -u
BIN=${1:?usage: scale_hwm.sh SCALE_HWM_BINARY [RECORDS_PER_RANK]}
PER=${2:-200000}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
NP=${SLUICE_MPIEXEC_NP:--n}
MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}
YIELD=""
if "$MPIEXEC" --version 2>&1 | grep -q "Open MPI\|OpenRTE"; then
  case " $MPIFLAGS " in *" --oversubscribe "*) ;; *) MPIFLAGS="$MPIFLAGS --oversubscribe" ;; esac
  YIELD="--mca mpi_yield_when_idle 1"
fi
# The same options at every scale: small batches and budgets, and a combiner budget that
# flushes several times per rank, so the shuffle runs all along.
OPTS="--sl-batch-bytes=16K --sl-recv-budget-bytes=256K --sl-send-budget-bytes=256K \
--sl-credits-per-edge=4 --sl-combiner-bytes=2M --sl-progress=off"
[ -x "$BIN" ] || { echo "FAIL: $BIN is missing"; exit 1; }

failures=0
run() { # ranks -> sets hwm_<ranks>
  n=$1
  start=$(date +%s)
  # shellcheck disable=SC2086 # flag lists are space separated on purpose
  out=$(timeout 300 "$MPIEXEC" $NP "$n" $MPIFLAGS $YIELD "$BIN" "$PER" $OPTS 2>&1)
  rc=$?
  end=$(date +%s)
  echo "$out" | grep -v '^-*$' | sed "s/^/  [$n ranks] /"
  echo "  [$n ranks] exit $rc, $((end - start)) s wall"
  h=$(echo "$out" | sed -n 's/^scale_hwm: ranks [0-9]* .* hwm_max \([0-9]*\) .*/\1/p' | head -n 1)
  eval "hwm_$n=\$h"
  case $rc in
    0) ;;
    3) echo "FAIL: $n ranks: credits leaked (the result is right)"; failures=$((failures + 1)) ;;
    124|137) echo "FAIL: $n ranks: timed out (hang?)"; failures=$((failures + 1)) ;;
    *) echo "FAIL: $n ranks: exit $rc"; failures=$((failures + 1)) ;;
  esac
}

run 4
run 32
echo "inflight_hwm (max over ranks): 4 ranks ${hwm_4:-?} bytes, 32 ranks ${hwm_32:-?} bytes"
if [ -n "${hwm_4:-}" ] && [ -n "${hwm_32:-}" ]; then
  if [ "$hwm_32" -le "$hwm_4" ]; then
    echo "ok: hwm(32) <= hwm(4)"
  else
    echo "FAIL: hwm(32) = $hwm_32 > hwm(4) = $hwm_4: batch-buffer memory grows with the number of ranks"
    failures=$((failures + 1))
  fi
else
  echo "FAIL: no hwm to compare"
  failures=$((failures + 1))
fi
[ $failures -eq 0 ]
