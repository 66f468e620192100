#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_outputs.sh BUILD_DIR: every app's output destination and what can be written, at 2
# and 4 ranks. A bad destination (the input itself, with and without --force; a directory,
# with and without --force; a missing directory) is refused before any work: exit 2, one
# error line, the input unchanged (checksums), nothing written. sluice-h5stats: a large
# --bins is written (edges as datasets) and checked by h5oracle (HDF5's API); --opt=value;
# histograms beyond a rank's memory refused up front; a full disk (a tiny tmpfs, when this
# runs as root) is one line, exit 1, no file and no temporary, no hang.
# shellcheck disable=SC2086
set -u
BUILD=$(cd "${1:?usage: test_outputs.sh BUILD_DIR}" && pwd) || exit 1
A=$BUILD/apps
STATS=$A/sluice-h5stats/sluice-h5stats
GROUPBY=$A/sluice-h5groupby/sluice-h5groupby
SORT=$A/sluice-h5sort/sluice-h5sort
WC=$A/sluice-wordcount/sluice-wordcount
GEN=$A/sluice-gen/sluice-gen
ORACLE=$BUILD/tests/h5/h5oracle
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
NP=${SLUICE_MPIEXEC_NP:--n}
MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}
for x in "$STATS" "$GROUPBY" "$SORT" "$WC" "$GEN" "$ORACLE"; do
  [ -x "$x" ] || { echo "FAIL: $x is missing"; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_outputs.XXXXXX") || exit 1
MNT=""
cleanup() {
  [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1
failures=0
fail() { printf "FAIL: %s\n" "$*"; failures=$((failures + 1)); }
ok() { printf "ok: %s\n" "$*"; }
run() { # run N CMD...
  n=$1; shift
  timeout -k 5 120 "$MPIEXEC" $NP "$n" $MPIFLAGS "$@"
}
# the app's own lines: mpirun adds its banner about the failed job to stderr
errlines() { grep -c "error:" err.txt; }

timeout -k 5 120 "$GEN" particles --rows 20000 --cells 40 --seed 3 -o in.h5 >/dev/null 2>&1 || fail "generate in.h5"
timeout -k 5 120 "$GEN" text --size 1M --seed 3 -o in.txt >/dev/null 2>&1 || fail "generate in.txt"
"$ORACLE" make "$WORK" >/dev/null 2>&1 || fail "h5oracle make"
mkdir outdir
sum_in=$(cat in.h5 in.txt | cksum)

# refused(WHAT, N, EXPECT, CMD...): exit 2, one error line matching EXPECT, inputs unchanged,
# outdir empty, no temporary anywhere here
refused() {
  what=$1 n=$2 expect=$3; shift 3
  run "$n" "$@" >out.txt 2>err.txt; rc=$?
  left=$(ls -A outdir; ls -A | grep -c "sluice-tmp")
  if [ $rc -ne 2 ]; then fail "np$n $what: exit $rc, expected 2: $(grep error: err.txt | head -2)"
  elif [ "$(errlines)" -ne 1 ]; then fail "np$n $what: $(errlines) error lines, expected 1: $(grep error: err.txt | head -3)"
  elif ! grep -q "$expect" err.txt; then fail "np$n $what: expected '$expect', found: $(grep error: err.txt)"
  elif [ "$(cat in.h5 in.txt | cksum)" != "$sum_in" ]; then fail "np$n $what: an input changed"
  elif [ "$left" != "0" ]; then fail "np$n $what: left behind: $left"
  else ok "np$n $what"; fi
}

refused_dest() { # N [--force]: a destination that is an input or a directory, at N ranks
  n=$1 force=${2:-}
  refused "h5stats -o INPUT $force" $n "also an input" "$STATS" in.h5:/particles -o in.h5 $force
  refused "h5groupby -o INPUT $force" $n "also an input" "$GROUPBY" in.h5:/particles --key cell --agg count -o in.h5:/g $force
  refused "h5sort -o INPUT $force" $n "also an input" "$SORT" in.h5:/particles --key mass -o in.h5:/s $force
  refused "wordcount -o INPUT $force" $n "also an input" "$WC" in.txt -o in.txt $force
  refused "h5stats -o DIR $force" $n "is a directory" "$STATS" in.h5:/particles -o outdir $force
  refused "h5groupby -o DIR $force" $n "is a directory" "$GROUPBY" in.h5:/particles --key cell --agg count -o outdir:/g $force
  refused "h5sort -o DIR $force" $n "is a directory" "$SORT" in.h5:/particles --key mass -o outdir:/s $force
  refused "wordcount -o DIR $force" $n "is a directory" "$WC" in.txt -o outdir $force
}
refused_other() { # N: a missing directory, a bad value, at N ranks
  n=$1
  refused "h5stats missing directory" $n "does not exist" "$STATS" in.h5:/particles -o nosuch/o.h5
  refused "h5groupby missing directory" $n "does not exist" "$GROUPBY" in.h5:/particles --key cell --agg count -o nosuch/o.h5:/g
  refused "h5sort missing directory" $n "does not exist" "$SORT" in.h5:/particles --key mass -o nosuch/o.h5:/s
  refused "wordcount missing directory" $n "does not exist" "$WC" in.txt -o nosuch/o.tsv
  refused "h5sort --deflate ''" $n "deflate" "$SORT" in.h5:/particles --key mass -o o.h5:/s --deflate ''
  refused "h5groupby --deflate ''" $n "deflate" "$GROUPBY" in.h5:/particles --key cell --agg count -o o.h5:/g --deflate ''
}

# --opt=value is --opt value in every app
opt_values() {
  for n in 2 4; do
    rm -f o*.h5 o.tsv
    run $n "$STATS" table.h5:/t --bins=7 --output=o1.h5 >/dev/null 2>err.txt &&
      "$ORACLE" stats table.h5:/t o1.h5 --bins 7 >chk.txt 2>&1 && ok "np$n h5stats --bins=7 --output=" ||
      fail "np$n h5stats --bins=7 --output=: $(grep error: err.txt | head -1) $(head -2 chk.txt)"
    run $n "$GROUPBY" table.h5:/t --key=grp --agg=count,sum:x --deflate=1 --output=o2.h5:/g 2>err.txt &&
      "$ORACLE" groupby table.h5:/t o2.h5:/g --key grp --agg count,sum:x >chk.txt 2>&1 && ok "np$n h5groupby --key= --agg= --deflate= --output=" ||
      fail "np$n h5groupby --key=...: $(grep error: err.txt | head -1) $(head -2 chk.txt)"
    run $n "$SORT" in.h5:/particles --key=mass --deflate=1 --output=o3.h5:/s 2>err.txt &&
      h5dump -H o3.h5 | grep -q "( 20000 )" && ok "np$n h5sort --key= --deflate= --output=" ||
      fail "np$n h5sort --key=...: $(grep error: err.txt | head -1)"
    run $n "$WC" --top=5 --output=o.tsv in.txt 2>err.txt && [ "$(wc -l <o.tsv)" -eq 5 ] &&
      ok "np$n wordcount --top= --output=" || fail "np$n wordcount --top=: $(grep error: err.txt | head -1)"
  done
}

# a large --bins (the edges used to be an attribute, limited to 64 KiB: 8190 edges)
big_bins() {
  for n in 2 4; do
    rm -f big.h5
    run $n "$STATS" table.h5:/t --bins 100000 -o big.h5 >/dev/null 2>err.txt; rc=$?
    if [ $rc -ne 0 ]; then fail "np$n h5stats --bins 100000 -o: exit $rc: $(grep error: err.txt | head -1)"
    elif "$ORACLE" stats table.h5:/t big.h5 --bins 100000 >chk.txt 2>&1; then ok "np$n h5stats --bins 100000 -o (oracle)"
    else fail "np$n h5stats --bins 100000 -o: oracle: $(head -3 chk.txt)"; fi
  done
}

# histograms that cannot fit are refused before any work, not found missing half-way
# (ulimit -v cannot apply under ASan, which reserves terabytes of address space)
beyond_memory() {
  asan=""
  ldd "$STATS" 2>/dev/null | grep -q libasan && asan=1
  for n in 2 4; do
    if [ -n "$asan" ]; then
      ok "np$n h5stats --bins beyond memory: skipped (built with ASan: ulimit -v cannot apply)"
      continue
    fi
    rm -f mem.h5
    run $n sh -c "ulimit -v 3000000 && exec '$STATS' in.h5:/particles --bins 100000000 -o mem.h5" >/dev/null 2>err.txt
    rc=$?
    if [ $rc -eq 2 ] && [ "$(errlines)" -eq 1 ] && grep -q -- "--bins 100000000" err.txt &&
      grep -q "per rank" err.txt && [ ! -e mem.h5 ] && [ "$(ls -A | grep -c sluice-tmp)" -eq 0 ]; then
      ok "np$n h5stats --bins beyond memory: exit 2, one line"
    else fail "np$n h5stats --bins beyond memory: expected exit 2 and one line naming --bins, found exit $rc: $(grep error: err.txt | head -2)"; fi
  done
}

# the sections above run at once, each in a folder of its own with copies of the inputs
# (the runs wait mostly on mpirun's start, not on the CPU); the full disk below runs
# meanwhile; every section's lines are printed at the end
for job in "refused_dest 2" "refused_dest 2 --force" "refused_other 2" "refused_dest 4" \
  "refused_dest 4 --force" "refused_other 4" opt_values big_bins beyond_memory; do
  d=s_$(echo "$job" | tr ' -' _)
  mkdir "$d" && cp in.h5 in.txt table.h5 "$d"/ && mkdir "$d/outdir" &&
    (cd "$d" && $job) >"$d.log" 2>&1 &
done

# a full disk while writing: one line naming the output and the cause, not HDF5's dump
mkdir full
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=8k tmpfs full 2>/dev/null; then
  MNT=$WORK/full
  for n in 2 4; do
    for bins in 10 100000; do
      run $n "$STATS" in.h5:/particles --bins $bins -o full/s.h5 >/dev/null 2>err.txt; rc=$?
      if [ $rc -eq 1 ] && [ "$(errlines)" -eq 1 ] && grep -q "cannot write full/s.h5: .*No space left on device" err.txt &&
        ! grep -q "buf = 0x\|HDF5-DIAG\|#00" err.txt && [ -z "$(ls -A full)" ]; then
        ok "np$n h5stats full disk (--bins $bins): exit 1, one line, nothing left"
      else fail "np$n h5stats full disk (--bins $bins): expected exit 1 and one 'No space left' line, nothing in full/, found exit $rc, $(ls -A full | tr '\n' ' '): $(grep -v '^---' err.txt | head -4)"; fi
    done
  done
else
  echo "skipped: full disk (needs root to mount a tmpfs)"
fi

wait
for f in s_*.log; do cat "$f"; done
failures=$((failures + $(cat s_*.log | grep -c '^FAIL')))
echo "test_outputs: $failures failure(s)"
[ $failures -eq 0 ]
