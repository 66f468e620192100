#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# faults.inputs: inputs truncated, deleted or replaced while read (text and HDF5, a slow
# reader: tiny read blocks), a FIFO given as input, a corrupt chunk address read with
# collective and independent transfers.
#   inputs.sh BUILD_DIR
# Expected: a clean failure (exit 1 or 2, one error line, nothing under the final name, no
# leftovers, no process left, no hang). A file deleted or replaced after every rank opened
# it may also give exit 0 when the output is exactly that of the original content (the
# ranks read the inode they opened); a truncated one must fail.
# shellcheck source=tests/faults/faults.sh
source "$(dirname "$0")/faults.sh"
fx_setup inputs "${1:-${SLUICE_BINARY_DIR:?usage: inputs.sh BUILD_DIR}}"
IN=$W/in
fx_gen_text u.txt 4M --vocab 400000 --zipf 0 --seed 3
fx_gen_text v.txt 4M --vocab 400000 --zipf 0 --seed 9
fx_gen_particles p.h5 200000 --cells 1000 --chunk 8192 --seed 5
fx_gen_particles q.h5 200000 --cells 1000 --chunk 8192 --seed 6

# change_case NAME KIND ACTION -- : KIND text|h5, ACTION truncate|delete|replace
change_case() {
  local name=$1 kind=$2 action=$3 np=${1##*.np} f final size
  fx_case "$name" || return 0
  mkdir -p "$CD/out" "$CD/data"
  if [ "$kind" = text ]; then
    f=$CD/data/in.txt
    cp "$IN/u.txt" "$f"
    final=$CD/out/wc.tsv
    set -- "$WC" "$f" -o "$final" --sl-read-block-bytes=4K
  else
    f=$CD/data/in.h5
    cp "$IN/p.h5" "$f"
    final=$CD/out/st.h5
    # --range: one pass over the data (no second open for the histogram range)
    set -- "$STATS" "$f:/particles" --range 0:200000 -o "$final" --sl-read-block-bytes=64
  fi
  fx_mpi_bg "$np" -- "$@"
  # every rank stopped (SIGSTOP) once rank 0 has the input open and has read 512 KiB more
  # (past the file's metadata, into the data); the input changes; the ranks go on (SIGCONT)
  local pids p0 r0
  if fx_wait_for 10 eval '[ "$(fx_ranks | wc -l)" -eq '"$np"' ]' &&
    pids=$(fx_ranks | awk '{ print $1 }' | tr '\n' ' ') && p0=$(fx_rank_pid 0) &&
    "$KILLON" "/proc/$p0/fd" "$f" fd "$(kill -l STOP)" 10 $pids >"$CD/stopped" 2>&1 &&
    r0=$(awk '/^rchar/ { print $2 }' "/proc/$p0/io") && kill -CONT $pids &&
    "$KILLON" "/proc/$p0/io" $((r0 + 524288)) rchar "$(kill -l STOP)" 10 $pids >>"$CD/stopped" 2>&1; then
    size=$(stat -c %s "$f")
    case $action in
      truncate) truncate -s $((size / 2)) "$f" ;;
      delete) rm -f "$f" ;;
      replace) if [ "$kind" = text ]; then cp "$IN/v.txt" "$f.new"; else cp "$IN/q.h5" "$f.new"; fi
        mv -f "$f.new" "$f" ;;
    esac
    # shellcheck disable=SC2086
    kill -CONT $pids
  else
    fx_fail "phase not reached: rank 0 never had the input open"
  fi
  fx_wait
  if [ "$FX_RC" -eq 0 ] && [ "$action" != truncate ]; then
    # accepted only when the output is that of the original input
    if [ "$kind" = text ]; then fx_check_wc "$final" "$IN/u.txt"; else fx_check_stats "$IN/p.h5:/particles" "$final" --range 0:200000; fi
    fx_expect_clean "$CD/out" "$CD/data" "$W/tmp"
    fx_expect_no_procs
  else
    fx_expect_clean_failure "1|2" "" "$final" "$CD/out $CD/data $W/tmp"
  fi
  # the rerun on the original input
  rm -f "$f" "$final"
  if [ "$kind" = text ]; then cp "$IN/u.txt" "$f"; else cp "$IN/p.h5" "$f"; fi
  if fx_rerun "$np" -- "$@"; then
    if [ "$kind" = text ]; then fx_check_wc "$final" "$IN/u.txt"; else fx_check_stats "$IN/p.h5:/particles" "$final" --range 0:200000; fi
  fi
  fx_end
}

change_case input.text.truncate.np2 text truncate
change_case input.text.truncate.np4 text truncate
change_case input.text.delete.np2 text delete
change_case input.text.replace.np2 text replace
change_case input.h5.truncate.np2 h5 truncate
change_case input.h5.truncate.np4 h5 truncate
change_case input.h5.delete.np2 h5 delete
change_case input.h5.replace.np2 h5 replace

# ---- a FIFO with no writer: refused (exit 2) before it is opened for reading ----
if fx_case input.fifo.wordcount.np2; then
  mkfifo "$CD/fifo"
  mkdir -p "$CD/out"
  fx_mpi 2 -- "$WC" "$CD/fifo" -o "$CD/out/wc.tsv"
  fx_expect_clean_failure 2 "fifo|regular" "$CD/out/wc.tsv" "$CD/out $CD"
  [ "$FX_SECS" -le 5 ] || fx_fail "took ${FX_SECS}s to refuse the FIFO"
  fx_end
fi
if fx_case input.fifo.h5stats.np2; then
  mkfifo "$CD/fifo.h5"
  mkdir -p "$CD/out"
  fx_mpi 2 -- "$STATS" "$CD/fifo.h5:/particles" -o "$CD/out/st.h5"
  fx_expect_clean_failure 2 "fifo|regular" "$CD/out/st.h5" "$CD/out $CD"
  [ "$FX_SECS" -le 5 ] || fx_fail "took ${FX_SECS}s to refuse the FIFO"
  fx_end
fi

# ---- a chunk address pointing past the end of the file ----
for np in 2 4; do
  for t in collective independent; do
    fx_case input.h5.badchunk.$t.np$np || continue
    mkdir -p "$CD/out" "$CD/data"
    cp "$IN/p.h5" "$CD/data/bad.h5"
    if ! "$H5TOOL" corrupt-chunk "$CD/data/bad.h5" /particles 7 >"$CD/corrupt" 2>&1; then
      fx_fail "cannot corrupt the input: $(head -1 "$CD/corrupt")"
      fx_end
      continue
    fi
    fx_mpi "$np" -- "$STATS" "$CD/data/bad.h5:/particles" --transfer $t -o "$CD/out/st.h5"
    fx_expect_clean_failure "1|2" "" "$CD/out/st.h5" "$CD/out $CD/data $W/tmp"
    cp "$IN/p.h5" "$CD/data/bad.h5"
    fx_rerun "$np" -- "$STATS" "$CD/data/bad.h5:/particles" --transfer $t -o "$CD/out/st.h5" &&
      fx_check_stats "$IN/p.h5:/particles" "$CD/out/st.h5"
    fx_end
  done
done

fx_summary
