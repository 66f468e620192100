#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# faults.signals: SIGTERM to every rank, to one rank, and to mpirun; SIGUSR1 to mpirun
# (which forwards it). Expected: exit 3 (stopped), at most one error line, nothing under
# the final name, nothing left behind (a stop is clean), no process left, no hang; the
# rerun succeeds with a correct output.
#   signals.sh BUILD_DIR
# shellcheck source=tests/faults/faults.sh
source "$(dirname "$0")/faults.sh"
fx_setup signals "${1:-${SLUICE_BINARY_DIR:?usage: signals.sh BUILD_DIR}}"
IN=$W/in
fx_gen_text u.txt 12M --vocab 400000 --zipf 0 --seed 3
# large enough that the slowed runs last well over a second (the phase is polled)
fx_gen_particles p.h5 600000 --cells 1000 --chunk 8192 --seed 5

# sig_case NAME SIGNAL TARGET OPEN FINAL CHECK -- CMD...: once every rank has a path
# containing OPEN open, SIGNAL goes to TARGET: "ranks" (each rank), "rank1", "mpirun"
sig_case() {
  local name=$1 sig=$2 target=$3 open=$4 final=$5 check=$6 np=${1##*.np} r pid
  shift 7
  fx_case "$name" || return 0
  mkdir -p "$CD/out" "$CD/tmp"
  fx_mpi_bg "$np" -- "$@"
  if ! fx_wait_for 10 fx_all_open "$np" "$open"; then
    fx_fail "phase not reached: not every rank had /$open/ open"
  else
    case $target in
      ranks) for ((r = 0; r < np; r++)); do kill -"$sig" "$(fx_rank_pid $r)"; done ;;
      rank1) kill -"$sig" "$(fx_rank_pid 1)" ;;
      mpirun) kill -"$sig" "$(fx_launcher)" ;;
    esac
  fi
  fx_wait
  if [ "$target" = mpirun ] && [ "$sig" = TERM ]; then
    # Open MPI 4.1's mpirun sets its own status to 1 when SIGTERM aborts the job, whatever
    # the ranks exit with (docs/cluster.md); the ranks still stop cleanly
    fx_expect_rc 1
  else
    fx_expect_rc 3
  fi
  local n
  n=$(fx_error_lines | grep -c 'error:')
  [ "$n" -le 1 ] || fx_fail "$n 'error:' lines on stderr, expected at most 1"
  if [ "$target" = mpirun ] && [ "$sig" = TERM ] && [ -e "$final" ]; then
    # mpirun may not relay SIGTERM before the ranks finish (it aborts on its own, status 1):
    # then what was published must be the whole, correct output
    eval "$check" || fx_fail "the output published despite SIGTERM to mpirun is wrong"
    rm -f "$final"
  else
    # shellcheck disable=SC2086
    fx_expect_absent $final
  fi
  local abort=""
  [ "$target" = mpirun ] && [ "$sig" = TERM ] && abort=1
  # SIGTERM to mpirun is an abort (SIGKILL follows after odls_base_sigkill_timeout): like
  # any kill it may leave the output's temporary, which the rerun must remove
  [ -n "$abort" ] || fx_expect_clean "$CD/out" "$CD/tmp" "$IN" "$W/tmp"
  fx_expect_no_procs
  fx_rerun "$np" -- "$@" && eval "$check"
  [ -z "$abort" ] || fx_expect_clean "$CD/out" "$CD/tmp" "$IN" "$W/tmp"
  fx_end
}
C=$W/cases
SLOW=--sl-read-block-bytes=1

for np in 2 4; do
  sig_case sig.term.ranks.wordcount.np$np TERM ranks "$IN/u.txt" "$C/sig.term.ranks.wordcount.np$np/out/wc.tsv" \
    'fx_check_wc "$CD/out/wc.tsv" "$IN/u.txt"' \
    -- "$WC" "$IN/u.txt" -o "$C/sig.term.ranks.wordcount.np$np/out/wc.tsv" $SLOW \
    --sl-tmpdir="$C/sig.term.ranks.wordcount.np$np/tmp"
  sig_case sig.usr1.mpirun.wordcount.np$np USR1 mpirun "$IN/u.txt" "$C/sig.usr1.mpirun.wordcount.np$np/out/wc.tsv" \
    'fx_check_wc "$CD/out/wc.tsv" "$IN/u.txt"' \
    -- "$WC" "$IN/u.txt" -o "$C/sig.usr1.mpirun.wordcount.np$np/out/wc.tsv" $SLOW \
    --sl-tmpdir="$C/sig.usr1.mpirun.wordcount.np$np/tmp"
done

sig_case sig.term.rank1.wordcount.np2 TERM rank1 "$IN/u.txt" "$C/sig.term.rank1.wordcount.np2/out/wc.tsv" \
  'fx_check_wc "$CD/out/wc.tsv" "$IN/u.txt"' \
  -- "$WC" "$IN/u.txt" -o "$C/sig.term.rank1.wordcount.np2/out/wc.tsv" $SLOW \
  --sl-tmpdir="$C/sig.term.rank1.wordcount.np2/tmp"

sig_case sig.term.mpirun.wordcount.np2 TERM mpirun "$IN/u.txt" "$C/sig.term.mpirun.wordcount.np2/out/wc.tsv" \
  'fx_check_wc "$CD/out/wc.tsv" "$IN/u.txt"' \
  -- "$WC" "$IN/u.txt" -o "$C/sig.term.mpirun.wordcount.np2/out/wc.tsv" $SLOW \
  --sl-tmpdir="$C/sig.term.mpirun.wordcount.np2/tmp"

# HDF5 flows: a sort (its held runs spill) and a group-by
sig_case sig.term.ranks.h5sort.np2 TERM ranks "$IN/p.h5" "$C/sig.term.ranks.h5sort.np2/out/s.h5" \
  'fx_check_sort "$IN/p.h5" /particles "$CD/out/s.h5" /s x' \
  -- "$SORT" "$IN/p.h5:/particles" --key x -o "$C/sig.term.ranks.h5sort.np2/out/s.h5:/s" \
  --sl-read-block-bytes=64 --sl-sort-memory-bytes=64K --sl-tmpdir="$C/sig.term.ranks.h5sort.np2/tmp"
sig_case sig.term.mpirun.h5groupby.np4 TERM mpirun "$IN/p.h5" "$C/sig.term.mpirun.h5groupby.np4/out/g.h5" \
  'fx_check_groupby "$IN/p.h5:/particles" "$CD/out/g.h5:/g" --key cell --agg count,sum:mass' \
  -- "$GROUPBY" "$IN/p.h5:/particles" --key cell --agg count,sum:mass \
  -o "$C/sig.term.mpirun.h5groupby.np4/out/g.h5:/g" --sl-read-block-bytes=64 \
  --sl-tmpdir="$C/sig.term.mpirun.h5groupby.np4/tmp"

fx_summary
