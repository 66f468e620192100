#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_h5groupby.sh BUILD_DIR: sluice-h5groupby's edge cases at 1, 2 and 4 ranks, checked by
# h5groupby_check (HDF5's own API): int64 means whose int64 sums overflow, uint64 values
# above 2^63-1, all-NaN / partly NaN / all-inf float groups (min and max of an all-NaN
# group are NaN). Bad usage: an output field that clashes with a key field (also the
# 'count' aggregate against a key named 'count') and an -o without a dataset path, for
# sluice-h5groupby and sluice-h5sort: one error line, exit 2 on every rank, nothing written.
# shellcheck disable=SC2015
set -u
BUILD=$(cd "${1:?usage: test_h5groupby.sh BUILD_DIR}" && pwd) || exit 1
GROUPBY="$BUILD/apps/sluice-h5groupby/sluice-h5groupby"
SORT="$BUILD/apps/sluice-h5sort/sluice-h5sort"
CHECK="$BUILD/tests/apps/h5groupby_check"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
NP=${SLUICE_MPIEXEC_NP:--n}
MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}
for x in "$GROUPBY" "$SORT" "$CHECK"; do [ -x "$x" ] || { echo "FAIL: $x is missing"; exit 1; }; done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_h5groupby.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0
fail() { printf "FAIL: %s\n" "$*"; failures=$((failures + 1)); }
ok() { printf "ok: %s\n" "$*"; }
# run N APP ARGS...: every rank writes its exit status to rc.RANK and exits 0 (so that
# mpirun lets every rank finish); returns rank 0's status (99 if there is none)
run() {
  n=$1; shift
  rm -f rc.*
  # shellcheck disable=SC2086,SC2016
  timeout 120 "$MPIEXEC" $NP "$n" $MPIFLAGS sh -c \
    '"$@"; echo $? >"rc.${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${PMI_RANK:-x}}}"' sh "$@"
  [ -f rc.0 ] && return "$(cat rc.0)"
  return 99
}
# every_rank N RC: N files rc.* and all hold RC
every_rank() {
  set -- "$1" "$2" 0
  for f in rc.*; do
    [ -f "$f" ] && [ "$(cat "$f")" = "$2" ] || return 1
    set -- "$1" "$2" $(($3 + 1))
  done
  [ "$3" -eq "$1" ]
}
# leftovers NAME: the files here whose name starts with NAME
leftovers() {
  for f in "$1"* ."$1"*; do [ -e "$f" ] && printf "%s " "$f"; done
}
# refused WHAT N OUTFILE PATTERN: the last run exited 2 on every rank, printed exactly one
# error line (matching PATTERN) and left nothing under OUTFILE
refused() {
  what=$1 n=$2 outf=$3 pat=$4
  nerr=$(grep -c ": error: " err.txt)
  if [ "$rc" -eq 2 ] && every_rank "$n" 2 && [ "$nerr" -eq 1 ] && grep -q -- "$pat" err.txt &&
    [ -z "$(leftovers "$outf")" ]; then
    ok "np$n $what: one line, exit 2 on every rank, nothing written"
  else
    fail "np$n $what: exit $rc, ranks' status: $(cat rc.* 2>/dev/null | tr '\n' ' '), $nerr error line(s): $(head -3 err.txt); files: $(leftovers "$outf")"
  fi
}

"$CHECK" make in.h5 || { echo "FAIL: h5groupby_check make"; exit 1; }

AGG=count,sum:i,mean:i,min:i,max:i,sum:u,mean:u,min:f,max:f,mean:f
for n in 1 2 4; do
  # the values of every group are spread over all ranks: merges across ranks are exercised
  out="g$n.h5"
  run "$n" "$GROUPBY" in.h5:/t --key g --agg "$AGG" -o "$out:/g" 2>err.txt
  rc=$?
  if [ $rc -ne 0 ]; then
    fail "np$n groupby: exit $rc: $(head -2 err.txt)"
  elif "$CHECK" check in.h5 "$out" /g >check.txt; then
    ok "np$n groupby: overflowing int64 means, uint64 means, all-NaN min/max"
  else
    fail "np$n groupby: $(head -6 check.txt)"
  fi
  # a tiny combiner: partial states are merged more often
  out="s$n.h5"
  run "$n" "$GROUPBY" in.h5:/t --key g --agg "$AGG" -o "$out:/g" --sl-combiner-bytes=1K 2>err.txt
  rc=$?
  if [ $rc -ne 0 ]; then
    fail "np$n groupby small combiner: exit $rc: $(head -2 err.txt)"
  elif "$CHECK" check in.h5 "$out" /g >check.txt; then
    ok "np$n groupby small combiner"
  else
    fail "np$n groupby small combiner: $(head -6 check.txt)"
  fi

  run "$n" "$GROUPBY" in.h5:/c --key count --agg count,sum:v -o bad1.h5:/g 2>err.txt; rc=$?
  refused "groupby key 'count' with the count aggregate" "$n" bad1.h5 "output field 'count' clashes with a key field"
  run "$n" "$GROUPBY" in.h5:/c --key count --agg sum:v,count -o bad1.h5:/g 2>err.txt; rc=$?
  refused "groupby key 'count' with the count aggregate last" "$n" bad1.h5 "output field 'count' clashes with a key field"
  run "$n" "$GROUPBY" in.h5:/c --key sum_v --agg count,sum:v -o bad2.h5:/g 2>err.txt; rc=$?
  refused "groupby key 'sum_v' with sum:v" "$n" bad2.h5 "output field 'sum_v' clashes with a key field"
  for o in bad3.h5 bad3.h5:/; do
    run "$n" "$GROUPBY" in.h5:/t --key g --agg count -o "$o" 2>err.txt; rc=$?
    refused "groupby -o $o" "$n" bad3.h5 "output '$o': expected FILE.h5:/path/to/dataset"
    run "$n" "$SORT" in.h5:/t --key i -o "$o" 2>err.txt; rc=$?
    refused "h5sort -o $o" "$n" bad3.h5 "output '$o': expected FILE.h5:/path/to/dataset"
    run "$n" "$SORT" in.h5:/t --key i --output="$o" 2>err.txt; rc=$?
    refused "h5sort --output=$o" "$n" bad3.h5 "output '$o': expected FILE.h5:/path/to/dataset"
  done
done

echo "h5groupby tests: $failures failure(s)"
[ $failures -eq 0 ]
