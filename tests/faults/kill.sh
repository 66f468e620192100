#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# faults.kill: one rank killed (SIGKILL) while reading, spilling, sorting and writing.
# Expected: a non-zero exit, no hang, nothing under the final name, no process left, and
# nothing left but (at most) the output's hidden temporary .NAME.sluice-tmp-* (spill and
# sort files are unlinked once open); a rerun of the same command removes that temporary
# and succeeds with a correct output.
#   kill.sh BUILD_DIR
# shellcheck source=tests/faults/faults.sh
source "$(dirname "$0")/faults.sh"
fx_setup kill "${1:-${SLUICE_BINARY_DIR:?usage: kill.sh BUILD_DIR}}"
IN=$W/in
fx_gen_text u.txt 6M --vocab 400000 --zipf 0 --seed 3
fx_gen_particles p.h5 200000 --cells 1000 --chunk 8192 --seed 5

# kill_case NAME RANK PHASE ARG FINAL ALLOW CHECK -- CMD...
#   PHASE fd: kill when rank RANK has a file whose path contains ARG open
#   PHASE write: kill the moment a file whose name contains ARG is written in the
#   output folder ($CD/out)
#   ALLOW: a glob of names that may stay in $CD/out (the output's hidden temporary)
kill_case() {
  local name=$1 rank=$2 phase=$3 arg=$4 final=$5 allow=$6 check=$7 np=${1##*.np} pid
  shift 8
  fx_case "$name" || return 0
  fx_mpi_bg "$np" -- "$@"
  if ! fx_wait_for 10 eval '[ -n "$(fx_rank_pid '"$rank"')" ]'; then
    fx_fail "rank $rank never started"
  else
    pid=$(fx_rank_pid "$rank")
    if [ "$phase" = fd ]; then
      "$KILLON" "/proc/$pid/fd" "$arg" fd 9 "$FX_TIMEOUT" "$pid" >"$CD/killed" 2>&1
    else
      "$KILLON" "$CD/out" "$arg" modify 9 "$FX_TIMEOUT" "$pid" >"$CD/killed" 2>&1
    fi || fx_fail "phase not reached: rank $rank never had a file /$arg/ open (or written)"
  fi
  fx_wait
  fx_expect_rc nz
  # shellcheck disable=SC2086
  fx_expect_absent $final
  FX_ALLOW=$allow
  fx_expect_clean "$CD/out"
  FX_ALLOW=""
  fx_expect_clean "$CD/tmp" "$IN" "$W/tmp"
  fx_expect_no_procs
  # the rerun to the same output removes a dead run's temporary
  fx_rerun "$np" -- "$@" && eval "$check"
  fx_expect_clean "$CD/out" "$CD/tmp" "$IN" "$W/tmp"
  fx_end
}
C=$W/cases

# ---- read: a slow reader (tiny read blocks), rank 1 killed with the input open ----
mkdir -p "$C/kill.read.wordcount.np2/out" "$C/kill.read.wordcount.np2/tmp"
kill_case kill.read.wordcount.np2 1 fd "$IN/u.txt" "$C/kill.read.wordcount.np2/out/wc.tsv" '.wc.tsv.sluice-tmp-*' \
  'fx_check_wc "$CD/out/wc.tsv" "$IN/u.txt"' \
  -- "$WC" "$IN/u.txt" -o "$C/kill.read.wordcount.np2/out/wc.tsv" --sl-read-block-bytes=1 \
  --sl-tmpdir="$C/kill.read.wordcount.np2/tmp"
mkdir -p "$C/kill.read.h5stats.np4/out" "$C/kill.read.h5stats.np4/tmp"
kill_case kill.read.h5stats.np4 2 fd "$IN/p.h5" "$C/kill.read.h5stats.np4/out/st.h5" '.st.h5.sluice-tmp-*' \
  'fx_check_stats "$IN/p.h5:/particles" "$CD/out/st.h5"' \
  -- "$STATS" "$IN/p.h5:/particles" -o "$C/kill.read.h5stats.np4/out/st.h5" --sl-read-block-bytes=64 \
  --sl-tmpdir="$C/kill.read.h5stats.np4/tmp"

# ---- spill: the text sink's output spill in --sl-tmpdir ----
mkdir -p "$C/kill.spill.wordcount.np2/out" "$C/kill.spill.wordcount.np2/tmp"
kill_case kill.spill.wordcount.np2 1 fd "$C/kill.spill.wordcount.np2/tmp/" \
  "$C/kill.spill.wordcount.np2/out/wc.tsv" '.wc.tsv.sluice-tmp-*' \
  'fx_check_wc "$CD/out/wc.tsv" "$IN/u.txt"' \
  -- "$WC" "$IN/u.txt" -o "$C/kill.spill.wordcount.np2/out/wc.tsv" --sl-output-buffer-bytes=4K \
  --sl-read-block-bytes=64 --sl-tmpdir="$C/kill.spill.wordcount.np2/tmp"

# ---- sort: the sort's spilled runs in --sl-tmpdir (no .sluice-sort-* may stay) ----
for np in 2 4; do
  c=$C/kill.sort.h5sort.np$np
  mkdir -p "$c/out" "$c/tmp"
  kill_case kill.sort.h5sort.np$np 1 fd "$c/tmp/" "$c/out/s.h5" '.s.h5.sluice-tmp-*' \
    'fx_check_sort "$IN/p.h5" /particles "$CD/out/s.h5" /s x' \
    -- "$SORT" "$IN/p.h5:/particles" --key x -o "$c/out/s.h5:/s" --sl-sort-memory-bytes=16K \
    --sl-read-block-bytes=4K --sl-tmpdir="$c/tmp"
done

# ---- write: killed the moment the output's temporary is written ----
for np in 2 4; do
  c=$C/kill.write.h5sort.np$np
  mkdir -p "$c/out" "$c/tmp"
  kill_case kill.write.h5sort.np$np 1 write sluice-tmp "$c/out/s.h5" '.s.h5.sluice-tmp-*' \
    'fx_check_sort "$IN/p.h5" /particles "$CD/out/s.h5" /s x' \
    -- "$SORT" "$IN/p.h5:/particles" --key x -o "$c/out/s.h5:/s" --sl-output-buffer-bytes=16K \
    --sl-read-block-bytes=4K
  c=$C/kill.write.h5groupby.np$np
  mkdir -p "$c/out" "$c/tmp"
  kill_case kill.write.h5groupby.np$np 0 write sluice-tmp "$c/out/g.h5" '.g.h5.sluice-tmp-*' \
    'fx_check_groupby "$IN/p.h5:/particles" "$CD/out/g.h5:/g" --key id --agg count,sum:mass' \
    -- "$GROUPBY" "$IN/p.h5:/particles" --key id --agg count,sum:mass -o "$c/out/g.h5:/g" \
    --sl-output-buffer-bytes=16K --sl-read-block-bytes=4K
  c=$C/kill.write.wordcount.np$np
  mkdir -p "$c/out" "$c/tmp"
  kill_case kill.write.wordcount.np$np 1 write sluice-tmp "$c/out/wc.tsv" '.wc.tsv.sluice-tmp-*' \
    'fx_check_wc "$CD/out/wc.tsv" "$IN/u.txt"' \
    -- "$WC" "$IN/u.txt" -o "$c/out/wc.tsv" --sl-read-block-bytes=4K
done

fx_summary
