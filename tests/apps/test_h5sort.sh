#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_h5sort.sh BUILD_DIR: sluice-h5sort at 1, 2 and 4 ranks on generated particle tables
# (contiguous, chunked + deflate), several key types, descending, with spilling; results
# checked by h5sort_check (HDF5's own API). Bad input: one error line, exit 2, no output.
# shellcheck disable=SC2015
set -u
BUILD=$(cd "${1:?usage: test_h5sort.sh BUILD_DIR}" && pwd) || exit 1
SORT="$BUILD/apps/sluice-h5sort/sluice-h5sort"
GEN="$BUILD/apps/sluice-gen/sluice-gen"
CHECK="$BUILD/tests/apps/h5sort_check"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
NP=${SLUICE_MPIEXEC_NP:--n}
MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}
for x in "$SORT" "$GEN" "$CHECK"; do [ -x "$x" ] || { echo "FAIL: $x is missing"; exit 1; }; done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_h5sort.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0
fail() { printf "FAIL: %s\n" "$*"; failures=$((failures + 1)); }
ok() { printf "ok: %s\n" "$*"; }
run() { # run N ARGS...
  n=$1; shift
  # shellcheck disable=SC2086
  timeout 120 "$MPIEXEC" $NP "$n" $MPIFLAGS "$SORT" "$@"
}

timeout 120 "$GEN" particles --rows 30000 --cells 50 --skew 1.5 --seed 7 --contiguous -o plain.h5 >/dev/null 2>&1 || fail "generate plain.h5"
timeout 120 "$GEN" particles --rows 30000 --cells 50 --skew 0 --seed 8 --chunk 4096 --deflate 4 --shuffle -o packed.h5 >/dev/null 2>&1 || fail "generate packed.h5"

for n in 1 2 4; do
  for spec in "plain.h5 cell" "plain.h5 mass desc" "packed.h5 x" "packed.h5 cell desc" "packed.h5 id"; do
    set -- $spec
    f=$1 key=$2 desc=${3:-}
    out="out-$n-$key-${desc:-asc}-$f"
    rm -f "$out"
    run "$n" "$f:/particles" --key "$key" ${desc:+--descending} -o "$out:/sorted" 2>err.txt
    rc=$?
    if [ $rc -ne 0 ]; then fail "np$n $f --key $key $desc: exit $rc: $(head -1 err.txt)"; continue; fi
    if "$CHECK" "$f" /particles "$out" /sorted "$key" $desc >check.txt; then ok "np$n $f --key $key $desc"; else fail "np$n $f --key $key $desc: $(head -3 check.txt)"; fi
  done
done

# more data than the sort's memory budget: sorted runs spill and merge
rm -f spill.h5
run 2 plain.h5:/particles --key cell -o spill.h5:/sorted --sl-sort-memory-bytes=16K 2>err.txt &&
  "$CHECK" plain.h5 /particles spill.h5 /sorted cell >check.txt && ok "spilling sort" || fail "spilling sort: $(head -2 err.txt check.txt)"

# bad input
run 2 plain.h5:/particles --key nosuch -o bad.h5:/sorted 2>err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "nosuch" err.txt && grep -q "cell" err.txt && [ ! -e bad.h5 ] && ok "unknown field: exit 2, fields listed" || fail "unknown field: exit $rc: $(cat err.txt | head -2)"
run 2 missing.h5:/particles --key cell -o bad.h5:/sorted 2>err.txt; rc=$?
[ $rc -eq 2 ] && [ ! -e bad.h5 ] && ok "missing input: exit 2" || fail "missing input: exit $rc"
cp spill.h5 exists.h5 2>/dev/null
run 2 plain.h5:/particles --key cell -o exists.h5:/sorted 2>err.txt; rc=$?
[ $rc -eq 2 ] && ok "existing output refused" || fail "existing output: exit $rc"
run 2 plain.h5:/particles --key cell -o exists.h5:/sorted --force 2>err.txt && "$CHECK" plain.h5 /particles exists.h5 /sorted cell >/dev/null && ok "--force overwrites" || fail "--force"
"$SORT" --help | grep -q "usage: " && ok "--help" || fail "--help"
"$SORT" --version | grep -q "^sluice-h5sort " && ok "--version" || fail "--version"
"$SORT" plain.h5:/particles 2>/dev/null; rc=$?
[ $rc -eq 2 ] && ok "missing --key: exit 2" || fail "missing --key: exit $rc"

echo "h5sort tests: $failures failure(s)"
[ $failures -eq 0 ]
