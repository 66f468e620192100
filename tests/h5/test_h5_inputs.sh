#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Damaged and special HDF5 inputs through the apps, as a user sees them: a chunk address
# past the end of the file read with --transfer collective and independent at 1, 2 and 4
# ranks, the same with more chunks than the source's prepare scan checks, and a FIFO as
# input. Each must fail on EVERY rank with the expected exit status and ONE error line
# (the same line at every rank count where the check runs before any read), and never
# print HDF5's own error stack. Every run is under a timeout (a FIFO must not block).
#   test_h5_inputs.sh BUILD_DIR
set -u
B=${1:-$SLUICE_BINARY_DIR}
S=$B/apps/sluice-h5stats/sluice-h5stats
G=$B/apps/sluice-h5groupby/sluice-h5groupby
T=$B/tests/h5/test_h5_inputs
D=$(mktemp -d "${TMPDIR:-/tmp}/sluice-h5in.XXXXXX")
trap 'rm -rf "$D"' EXIT
fail=0
"$T" make "$D" || { echo "FAIL: cannot write the inputs"; exit 1; }
mkfifo "$D/fifo.h5" || { echo "FAIL: mkfifo"; exit 1; }

# expect NAME RANKS CODE PATTERN -- command...: every rank exits CODE, stderr holds one
# error line matching PATTERN and nothing of HDF5's stack dump; the line is left in $D/line
expect() {
  name=$1 np=$2 code=$3 pat=$4
  shift 5
  rm -f "$D"/rc.*
  # each rank records its own exit status, then exits 0 so mpiexec does not kill the others
  # shellcheck disable=SC2086
  timeout -k 5 120 "$SLUICE_MPIEXEC" $SLUICE_MPIEXEC_NP "$np" $SLUICE_MPIEXEC_FLAGS \
    sh -c '"$@"; echo $? > "'"$D"'/rc.${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}"' sh "$@" \
    >"$D/out" 2>"$D/err"
  t=$?
  ok=1
  [ $t -eq 124 ] || [ $t -eq 137 ] && { echo "  timed out"; ok=0; }
  for r in $(seq 0 $((np - 1))); do
    got=$(cat "$D/rc.$r" 2>/dev/null || echo none)
    [ "$got" = "$code" ] || { echo "  rank $r exited $got, expected $code"; ok=0; }
  done
  grep "error" "$D/err" >"$D/line"
  [ "$(wc -l <"$D/line")" -eq 1 ] || { echo "  expected ONE error line, found $(wc -l <"$D/line")"; ok=0; }
  grep -q -- "$pat" "$D/line" || { echo "  the error line lacks '$pat'"; ok=0; }
  if grep -q -e "HDF5-DIAG" -e "^ *#[0-9][0-9]*:" -e "major:" "$D/err"; then
    echo "  HDF5's error stack was printed"
    ok=0
  fi
  if [ $ok -eq 1 ]; then
    echo "ok: $name (np$np): $(cat "$D/line")"
  else
    echo "FAIL: $name (np$np)"
    sed 's/^/  | /' "$D/err"
    fail=1
  fi
}

# the same line at every rank count: the check runs on rank 0 before any read
first=""
for np in 1 2 4; do
  expect "chunk past the end, collective" $np 2 "badchunk.h5' dataset '/v': the chunk at row 25600 .* lies past the end of the file" \
    -- "$S" "$D/badchunk.h5:/v" --transfer collective
  if [ -z "$first" ]; then
    first=$(cat "$D/line")
  elif [ "$(cat "$D/line")" != "$first" ]; then
    echo "FAIL: np$np reports another line than np1: $(cat "$D/line")"
    fail=1
  fi
  expect "chunk past the end, independent" $np 1 "cannot read rows .*: addr overflow" \
    -- "$S" "$D/badchunk.h5:/v" --transfer independent
  # more chunks than the prepare scan checks: independent transfers under collective rounds
  expect "chunk past the end of 5000, collective" $np 1 "manybad.h5' dataset '/v': cannot read rows .*: addr overflow" \
    -- "$S" "$D/manybad.h5:/v" --transfer collective --sl-read-block-bytes=4K
  expect "a FIFO as input" $np 2 "fifo.h5': expected a regular file, found a FIFO" \
    -- "$S" "$D/fifo.h5:/v" --fields value --transfer collective
  expect "a FIFO as input (groupby)" $np 2 "fifo.h5': expected a regular file, found a FIFO" \
    -- "$G" "$D/fifo.h5:/v" --key value --agg count -o "$D/g.h5:/g"
done
# the good file still reads, collectively, at 2 ranks
# shellcheck disable=SC2086
if timeout -k 5 120 "$SLUICE_MPIEXEC" $SLUICE_MPIEXEC_NP 2 $SLUICE_MPIEXEC_FLAGS "$S" "$D/chunks.h5:/v" \
  --transfer collective >"$D/out" 2>"$D/err" && grep -q "^value  *60000  *0  *0  *1  *60000  *30000.5 " "$D/out"; then
  echo "ok: the undamaged file reads collectively"
else
  echo "FAIL: the undamaged file"
  cat "$D/out" "$D/err"
  fail=1
fi
exit $fail
