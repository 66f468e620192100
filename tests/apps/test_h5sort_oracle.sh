#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_h5sort_oracle.sh BUILD_DIR: sluice-h5sort's order against numpy's stable sorts
# (h5sort_oracle.py, h5py + numpy via /usr/bin/python3) on keys with ties, NaN, -0.0 and
# 0.0, infinities, integer extremes of every width and sign, big-endian stored types, an
# h5py boolean (enum), fixed-length strings (a short one sorted by key words, a 60-byte one
# by the compare function) and CF missing values (fill, missing_value, valid_*; packed with
# a negative scale; int64 with a word for missing), ascending and descending, at 1-4 ranks
# and with spilling (--sl-sort-memory-bytes=8K).
set -u
BUILD=$(cd "${1:?usage: test_h5sort_oracle.sh BUILD_DIR}" && pwd) || exit 1
SORT="$BUILD/apps/sluice-h5sort/sluice-h5sort"
PY=/usr/bin/python3
ORACLE="$(cd "$(dirname "$0")" && pwd)/h5sort_oracle.py"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
NP=${SLUICE_MPIEXEC_NP:--n}
MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}
[ -x "$SORT" ] || { echo "FAIL: $SORT is missing"; exit 1; }
"$PY" -c 'import numpy, h5py' 2>/dev/null || { echo "SKIP: $PY lacks numpy/h5py"; exit 77; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_h5sort_oracle.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0
"$PY" "$ORACLE" make in.h5 || { echo "FAIL: cannot write the inputs"; exit 1; }

# sort N DSET FIELD [desc] [OPTIONS...]: one run, its output checked by the oracle
sort() {
  n=$1 d=$2 k=$3
  shift 3
  desc=
  if [ "${1:-}" = desc ]; then desc=desc; shift; fi
  rm -f out.h5
  # shellcheck disable=SC2086
  if ! timeout 120 "$MPIEXEC" $NP "$n" $MPIFLAGS "$SORT" "in.h5:/$d" --key "$k" \
    ${desc:+--descending} -o out.h5:/s "$@" 2>err.txt; then
    echo "FAIL: np$n $d $k $desc $*: $(head -2 err.txt)"
    failures=$((failures + 1))
  elif "$PY" "$ORACLE" check in.h5 "/$d" out.h5 /s "$k" $desc >check.txt; then
    echo "ok: np$n $d $k $desc $*"
  else
    echo "FAIL: np$n $d $k $desc $*: $(head -2 check.txt)"
    failures=$((failures + 1))
  fi
}

for k in f64 f32 i8 i16 i32 i64 u8 u64 f64be i32be u16be flag s5 s60; do
  sort 2 t $k
  sort 2 t $k desc
done
for d in cfpacked cfint64 cfu8 cff32 cff64; do
  sort 2 $d value
  sort 2 $d value desc
done
for n in 1 4; do
  sort $n t f64 desc
  sort $n t i64
  sort $n t s5 desc
  sort $n cfpacked value
  sort $n cfint64 value desc
  sort $n cff32 value
done
# spilled runs merged (by key words in the merge heap)
for n in 2 3; do
  sort $n t f64 --sl-sort-memory-bytes=8K
  sort $n cfint64 value desc --sl-sort-memory-bytes=8K
done

echo "h5sort oracle tests: $failures failure(s)"
[ $failures -eq 0 ]
