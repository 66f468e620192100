#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# A job killed mid-write leaves nothing under the final output name: rank 1 aborts the
# whole job (MPI_Abort) after the first collective write round of the HDF5 sink
# (SLUICE_TEST_ABORT_RANK, a test hook of the sink), in rank-order mode (sluice-h5groupby,
# a sorted flow) and in the sink's write rounds (test_h5_rounds abort).
#   test_h5_abort.sh BUILD_DIR
set -u
B=${1:-$SLUICE_BINARY_DIR}
G=$B/apps/sluice-h5groupby/sluice-h5groupby
O=$B/tests/h5/h5oracle
D=$(mktemp -d "${TMPDIR:-/tmp}/sluice-h5abort.XXXXXX")
trap 'rm -rf "$D"' EXIT
"$O" make "$D" >/dev/null || { echo "FAIL: cannot write the inputs"; exit 1; }
fail=0
for n in 2 3; do
  out=$D/killed.np$n.h5
  # small buffers: several write rounds, the abort comes after the first one
  # shellcheck disable=SC2086
  SLUICE_TEST_ABORT_RANK=1 timeout 60 "$SLUICE_MPIEXEC" $SLUICE_MPIEXEC_NP $n $SLUICE_MPIEXEC_FLAGS \
    "$G" "$D/table.h5:/t" --key id --agg count,sum:x \
    -o "$out:/g" --sl-output-buffer-bytes=1K >"$D/log" 2>&1
  rc=$?
  if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then
    echo "FAIL: np$n: the job was not killed (exit $rc)"
    fail=1
  elif ! grep -q "SLUICE_TEST_ABORT_RANK" "$D/log"; then
    echo "FAIL: np$n: the abort hook did not run"
    cat "$D/log"
    fail=1
  elif [ -e "$out" ]; then
    echo "FAIL: np$n: '$out' exists after the job was killed"
    fail=1
  else
    echo "ok: np$n: killed mid-write (exit $rc), nothing under $(basename "$out")"
  fi
  # the same job without the hook succeeds
  # shellcheck disable=SC2086
  if timeout 60 "$SLUICE_MPIEXEC" $SLUICE_MPIEXEC_NP $n $SLUICE_MPIEXEC_FLAGS "$G" "$D/table.h5:/t" --key id \
    --agg count,sum:x -o "$out:/g" --sl-output-buffer-bytes=1K >"$D/log" 2>&1 && [ -f "$out" ]; then
    echo "ok: np$n: the same job without the hook writes $(basename "$out")"
  else
    echo "FAIL: np$n: the same job without the hook"
    cat "$D/log"
    fail=1
  fi
done
# the same in the sink's write rounds (a flow without order across ranks: rank 1 aborts
# after the first round agreed in the event loop)
R=$B/tests/h5/test_h5_rounds
for n in 2 3; do
  out=$D/h5rounds.np$n/killed.h5
  # shellcheck disable=SC2086
  SLUICE_TEST_ABORT_RANK=1 SLUICE_OUTPUT_BUFFER_BYTES=1K timeout 60 "$SLUICE_MPIEXEC" \
    $SLUICE_MPIEXEC_NP $n $SLUICE_MPIEXEC_FLAGS "$R" "$D" abort >"$D/log" 2>&1
  rc=$?
  if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then
    echo "FAIL: rounds np$n: the job was not killed (exit $rc)"
    fail=1
  elif ! grep -q "SLUICE_TEST_ABORT_RANK" "$D/log"; then
    echo "FAIL: rounds np$n: the abort hook did not run"
    cat "$D/log"
    fail=1
  elif [ -e "$out" ]; then
    echo "FAIL: rounds np$n: '$out' exists after the job was killed"
    fail=1
  else
    echo "ok: rounds np$n: killed mid-write (exit $rc), nothing under $(basename "$out")"
  fi
done
exit $fail
