#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# test_describe.sh BUILD_DIR: every app's --describe (ctest app.describe, a few seconds).
# Each prints its plan and exits 0 without running or writing: the stages and steps, the
# placement of partitions on the ranks (partition p on rank p mod N), every input with its
# size against an independent oracle (stat for text files, h5ls for a dataset's rows), the
# memory budgets (the sort's held memory as set by --sl-sort-memory-bytes), and no output
# and no temporary left in the folder. A missing input still fails: exit 2, one line.
set -u
BUILD=$(cd "${1:?usage: test_describe.sh BUILD_DIR}" && pwd) || exit 1
A="$BUILD/apps"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
NP=${SLUICE_MPIEXEC_NP:--n}
MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_describe.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0
fail() { printf "FAIL: %s\n" "$*"; failures=$((failures + 1)); }
ok() { printf "ok: %s\n" "$*"; }
run() { # run N APP ARGS...: stdout to out.txt, stderr to err.txt; sets rc
  local n=$1 app=$2
  shift 2
  # shellcheck disable=SC2086
  timeout 60 "$MPIEXEC" $NP "$n" $MPIFLAGS "$A/$app/$app" "$@" >out.txt 2>err.txt
  rc=$?
}
# has NAME LINE...: every LINE (a fixed string) is a line of out.txt, else fail NAME
has() {
  local name=$1 l miss=0
  shift
  for l; do grep -qxF -- "$l" out.txt || { miss=1; fail "$name: no line '$l'"; }; done
  return $miss
}
nothing_written() { # nothing_written NAME: only the inputs are in the folder
  local left
  left=$(ls -A | grep -vxE 'in[12]\.txt|p\.h5|out\.txt|err\.txt')
  [ -z "$left" ] || { fail "$1: left behind: $left"; return 1; }
}

printf 'the cat\nsat on the mat\n' >in1.txt
printf 'a b c\n' >in2.txt
timeout 60 "$A/sluice-gen/sluice-gen" particles --rows 5000 --cells 7 --seed 3 -o p.h5 \
  >/dev/null 2>&1 || fail "sluice-gen particles"
rows=$(h5ls p.h5/particles | sed -n 's/.*Dataset {\([0-9]*\)\(\/[^}]*\)\?}.*/\1/p')
[ "$rows" = 5000 ] || fail "h5ls: expected 5000 rows, found '$rows'"
s1=$(stat -c %s in1.txt) s2=$(stat -c %s in2.txt)

run 2 sluice-wordcount --top 2 -o wc.tsv in1.txt in2.txt --describe
[ $rc -eq 0 ] || fail "wordcount: exit $rc: $(head -2 err.txt)"
has "wordcount" "sluice-wordcount: plan of the word count (--describe: nothing is run or written)" \
  "flow: 3 stage(s) on 2 rank(s)" "    step 0: tokenize (flat_map)" "    step 0: count (reduce_by_key)" \
  "    placement: p0@r0 p1@r1" "    placement: p0@r0" "  sink: text -> wc.tsv" \
  "      in1.txt: $s1 bytes" "      in2.txt: $s2 bytes" \
  "    batches: 256 KiB each; send budget 4 MiB per stage; receive budget 4 MiB per partition" &&
  nothing_written wordcount && ok "sluice-wordcount --describe"

run 3 sluice-h5sort p.h5:/particles --key mass -o sorted.h5:/s --describe --sl-sort-memory-bytes=32M
[ $rc -eq 0 ] || fail "h5sort: exit $rc: $(head -2 err.txt)"
has "h5sort" "flow: 2 stage(s) on 3 rank(s)" "    placement: p0@r0 p1@r1 p2@r2" \
  "  sink: HDF5 dataset -> sorted.h5:/s" "      p.h5:/particles: $rows rows, $((rows * 40)) bytes" "      $rows rows of 40 bytes, 6 field(s)" \
  "    held records (sorts, joins): 32 MiB for each of 2 step(s) on this rank (--sl-sort-memory-bytes)" &&
  nothing_written h5sort && ok "sluice-h5sort --describe"

run 2 sluice-h5groupby p.h5:/particles --key cell --agg count,sum:mass -o g.h5:/g --describe
[ $rc -eq 0 ] || fail "h5groupby: exit $rc: $(head -2 err.txt)"
has "h5groupby" "flow: 3 stage(s) on 2 rank(s)" "    step 0: key (map)" "  sink: HDF5 dataset -> g.h5:/g" \
  "      p.h5:/particles: $rows rows, $((rows * 8)) bytes" &&
  nothing_written h5groupby && ok "sluice-h5groupby --describe (cell and mass: 8 bytes a row)"

run 2 sluice-h5stats p.h5:/particles --fields x -o st.h5 --describe
[ $rc -eq 0 ] || fail "h5stats: exit $rc: $(head -2 err.txt)"
[ "$(grep -c '^flow: 1 stage(s) on 2 rank(s)$' out.txt)" = 2 ] || fail "h5stats: not two plans"
has "h5stats" "    step 0: welford (each_block)" "    step 0: histogram (each_block)" \
  "      p.h5:/particles: $rows rows, $((rows * 8)) bytes" &&
  nothing_written h5stats && ok "sluice-h5stats --describe: both passes"
run 2 sluice-h5stats p.h5:/particles --fields x --range 0:1 --describe
[ $rc -eq 0 ] && [ "$(grep -c '^flow: ' out.txt)" = 1 ] && ok "sluice-h5stats --range --describe: one pass" ||
  fail "h5stats --range: exit $rc, $(grep -c '^flow: ' out.txt) plans"

run 2 sluice-gen particles --rows 1000 --chunk 100 -o gen.h5 --describe
[ $rc -eq 0 ] || fail "gen: exit $rc: $(head -2 err.txt)"
has "gen particles" "    r0:[0,500) r1:[500,1000)" && nothing_written gen && ok "sluice-gen particles --describe"
run 2 sluice-gen text --size 9M -o gen.txt --describe
[ $rc -eq 0 ] && grep -q "3 segment(s) of 4194304 bytes" out.txt && nothing_written gen-text &&
  ok "sluice-gen text --describe" || fail "gen text: exit $rc: $(cat out.txt err.txt | head -3)"

run 2 sluice-wordcount -o wc.tsv in1.txt missing.txt --describe
# (mpirun adds its own lines after a failed rank: only sluice's are counted)
[ $rc -eq 2 ] && [ "$(grep -c '^sluice' err.txt)" -eq 1 ] && grep -q "missing.txt" err.txt &&
  nothing_written missing && ok "a missing input: exit 2, one line" ||
  fail "a missing input: exit $rc: $(cat err.txt)"

[ $failures -eq 0 ] && echo "PASS" || echo "$failures FAILED"
[ $failures -eq 0 ]
