#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# faults.mem: memory limits (ulimit -v) that fail one rank or all ranks inside sluice (a
# buffer sized by an option exceeds the limit; MPI_Init fits in it), and an open-file
# limit under a sort with many spilled runs.
#   mem.sh BUILD_DIR
# Expected for a failed allocation: a clean exit 1 (or 2), one error line that says memory
# and names the option that bounds the allocation, nothing under the final name, no
# leftovers, no hang, and a correct rerun without the limit.
# shellcheck source=tests/faults/faults.sh
source "$(dirname "$0")/faults.sh"
fx_setup mem "${1:-${SLUICE_BINARY_DIR:?usage: mem.sh BUILD_DIR}}"
LIMIT=$FX_HERE/limit.sh
IN=$W/in
fx_gen_text t.txt 1M --vocab 20000 --seed 4
fx_gen_particles p.h5 100000 --cells 1000 --chunk 8192 --seed 5

# 600 MB of address space: enough for MPI_Init and the run with the default options
# (measured: the apps need about 250 MB here), never for a 1 GiB buffer
VKB=600000
# ASan reserves terabytes of address space: ulimit -v cannot work there
if ldd "$WC" 2>/dev/null | grep -q libasan; then ASAN=1; else ASAN=""; fi

# mem_case NAME OPTION WHO FINAL CHECK -- CMD...: WHO is a rank or "all"; OPTION is the
# option (without --sl-) the error line must name; the ranks: the name's .npN
mem_case() {
  local name=$1 opt=$2 who=$3 final=$4 check=$5 np=${1##*.np}
  shift 6
  fx_case "$name" || return 0
  if [ -n "$ASAN" ]; then fx_skip "built with ASan: ulimit -v cannot apply"; return 0; fi
  mkdir -p "$CD/out"
  local r=""
  [ "$who" = all ] || r=$who
  FX_LIMIT_RANK=$r FX_LIMIT_VKB=$VKB fx_mpi "$np" -w "$LIMIT" -- "$@" "--sl-$opt=1G"
  fx_expect_clean_failure "1|2" "(memory|alloc).*$opt|$opt.*(memory|alloc)" "$final" "$CD/out $IN $W/tmp"
  fx_rerun "$np" -- "$@" && eval "$check"
  fx_end
}

for who in 1 all; do
  # the text sink's output buffer (sl__sink_prepare: the hang of issue 10)
  mem_case mem.wordcount.outbuf.rank$who.np2 output-buffer-bytes $who \
    "$W/cases/mem.wordcount.outbuf.rank$who.np2/out/wc.tsv" 'fx_check_wc "$CD/out/wc.tsv" "$IN/t.txt"' \
    -- "$WC" -o "$W/cases/mem.wordcount.outbuf.rank$who.np2/out/wc.tsv" "$IN/t.txt"
  # the HDF5 sink's output buffer
  mem_case mem.h5sort.outbuf.rank$who.np2 output-buffer-bytes $who \
    "$W/cases/mem.h5sort.outbuf.rank$who.np2/out/s.h5" \
    'fx_check_sort "$IN/p.h5" /particles "$CD/out/s.h5" /s x' \
    -- "$SORT" "$IN/p.h5:/particles" --key x -o "$W/cases/mem.h5sort.outbuf.rank$who.np2/out/s.h5:/s"
  # the text source's read block
  mem_case mem.wordcount.readblock.rank$who.np2 read-block-bytes $who \
    "$W/cases/mem.wordcount.readblock.rank$who.np2/out/wc.tsv" 'fx_check_wc "$CD/out/wc.tsv" "$IN/t.txt"' \
    -- "$WC" -o "$W/cases/mem.wordcount.readblock.rank$who.np2/out/wc.tsv" "$IN/t.txt"
  # the HDF5 source's read block
  mem_case mem.h5stats.readblock.rank$who.np2 read-block-bytes $who \
    "$W/cases/mem.h5stats.readblock.rank$who.np2/out/st.h5" \
    'fx_check_stats "$IN/p.h5:/particles" "$CD/out/st.h5"' \
    -- "$STATS" "$IN/p.h5:/particles" -o "$W/cases/mem.h5stats.readblock.rank$who.np2/out/st.h5"
done

# 4 ranks, rank 2 limited: the text sink's buffer
mem_case mem.wordcount.outbuf.rank2.np4 output-buffer-bytes 2 \
  "$W/cases/mem.wordcount.outbuf.rank2.np4/out/wc.tsv" 'fx_check_wc "$CD/out/wc.tsv" "$IN/t.txt"' \
  -- "$WC" -o "$W/cases/mem.wordcount.outbuf.rank2.np4/out/wc.tsv" "$IN/t.txt"

# 256 open files per rank, a sort with hundreds of spilled runs per rank (16K of sort
# memory): the sort must keep a bounded number of runs open (merge in passes) and succeed
if fx_case mem.h5sort.nofile.np2; then
  mkdir -p "$CD/out" "$CD/tmp"
  FX_LIMIT_NOFILE=256 fx_mpi 2 -w "$LIMIT" -- "$SORT" "$IN/p.h5:/particles" --key x \
    -o "$CD/out/s.h5:/s" --sl-sort-memory-bytes=16K --sl-tmpdir="$CD/tmp"
  fx_expect_rc 0
  [ "$FX_RC" -eq 0 ] && fx_check_sort "$IN/p.h5" /particles "$CD/out/s.h5" /s x
  [ "$FX_RC" -eq 0 ] || fx_expect_one_error "open files"
  if grep -q "Too many open files (set --sl-tmpdir)" "$CD/stderr"; then
    fx_fail "EMFILE hint names --sl-tmpdir, which does not bound the open runs"
  fi
  fx_expect_clean "$CD/out" "$CD/tmp" "$IN" "$W/tmp"
  fx_expect_no_procs
  fx_end
fi

fx_summary
