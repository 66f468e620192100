#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# faults.outputs: outputs that must be refused before any work: the output is one of the
# inputs (same name, or a hard link: same device and inode), with and without --force, for
# every app; the output is a directory (-o DIR --force); and --bins too large for the
# edges attribute of sluice-h5stats -o (exit 0 with a correct output, or exit 2 up front).
#   outputs.sh BUILD_DIR
# Expected for a refusal: exit 2, one error line, the input intact (same checksum), no
# results printed (nothing was computed), no leftovers, no process left.
# shellcheck source=tests/faults/faults.sh
source "$(dirname "$0")/faults.sh"
fx_setup outputs "${1:-${SLUICE_BINARY_DIR:?usage: outputs.sh BUILD_DIR}}"
IN=$W/in
fx_gen_text t.txt 1M --vocab 20000 --seed 4
fx_gen_particles p.h5 50000 --cells 100 --chunk 8192 --seed 5

# refuse_case NAME PROTECTED ERE -- CMD...: exit 2 before any work, PROTECTED unchanged
refuse_case() {
  local name=$1 prot=$2 ere=$3 np=${1##*.np} sum
  shift 4
  fx_case "$name" || return 0
  sum=$(fx_md5 "$prot")
  fx_mpi "$np" -- "$@"
  fx_expect_rc 2
  fx_expect_one_error "$ere"
  [ "$(fx_md5 "$prot")" = "$sum" ] || fx_fail "'$(basename "$prot")' was changed"
  grep -q . "$CD/stdout" && fx_fail "results printed: the work was done before the refusal"
  fx_expect_clean "$(dirname "$prot")" "$W/tmp"
  fx_expect_no_procs
  fx_end
}

# ---- the output is an input ----
for force in "" --force; do
  sfx=${force:+.force}
  # without --force "already exists" is a fine refusal too
  ere="input"
  [ -z "$force" ] && ere="input|exists"
  for app in wordcount h5stats h5groupby h5sort; do
    d=$W/cases/same.$app$sfx.data
    mkdir -p "$d"
    cp "$IN/t.txt" "$d/t.txt"
    cp "$IN/p.h5" "$d/p.h5"
  done
  d=$W/cases/same
  refuse_case out.same.wordcount$sfx.np2 "$d.wordcount$sfx.data/t.txt" "$ere" -- "$WC" \
    "$d.wordcount$sfx.data/t.txt" -o "$d.wordcount$sfx.data/t.txt" $force
  refuse_case out.same.h5stats$sfx.np2 "$d.h5stats$sfx.data/p.h5" "$ere" -- "$STATS" \
    "$d.h5stats$sfx.data/p.h5:/particles" -o "$d.h5stats$sfx.data/p.h5" $force
  refuse_case out.same.h5groupby$sfx.np2 "$d.h5groupby$sfx.data/p.h5" "$ere" -- "$GROUPBY" \
    "$d.h5groupby$sfx.data/p.h5:/particles" --key cell --agg count -o "$d.h5groupby$sfx.data/p.h5:/g" $force
  refuse_case out.same.h5sort$sfx.np2 "$d.h5sort$sfx.data/p.h5" "$ere" -- "$SORT" \
    "$d.h5sort$sfx.data/p.h5:/particles" --key x -o "$d.h5sort$sfx.data/p.h5:/s" $force
done
# another name for the same file (a hard link; a path with ..)
d=$W/cases/link
mkdir -p "$d/sub"
cp "$IN/p.h5" "$d/p.h5"
ln "$d/p.h5" "$d/alias.h5"
cp "$IN/t.txt" "$d/t.txt"
refuse_case out.hardlink.h5stats.force.np2 "$d/p.h5" "input" -- "$STATS" "$d/p.h5:/particles" \
  -o "$d/alias.h5" --force
[ -e "$d/alias.h5" ] || ln "$d/p.h5" "$d/alias.h5"
refuse_case out.hardlink.h5sort.force.np2 "$d/p.h5" "input" -- "$SORT" "$d/p.h5:/particles" --key x \
  -o "$d/alias.h5:/s" --force
refuse_case out.dotdot.wordcount.force.np4 "$d/t.txt" "input" -- "$WC" "$d/t.txt" \
  -o "$d/sub/../t.txt" --force

# ---- the output is a directory ----
d=$W/cases/dir
mkdir -p "$d/out.tsv" "$d/out.h5"
echo keep >"$d/out.h5/keep"
echo keep >"$d/out.tsv/keep"
refuse_case out.dir.wordcount.force.np2 "$d/out.tsv/keep" "director" -- "$WC" "$IN/t.txt" -o "$d/out.tsv" --force
refuse_case out.dir.h5stats.force.np2 "$d/out.h5/keep" "director" -- "$STATS" "$IN/p.h5:/particles" -o "$d/out.h5" --force
refuse_case out.dir.h5groupby.force.np2 "$d/out.h5/keep" "director" -- "$GROUPBY" "$IN/p.h5:/particles" \
  --key cell --agg count -o "$d/out.h5:/g" --force
refuse_case out.dir.h5sort.force.np2 "$d/out.h5/keep" "director" -- "$SORT" "$IN/p.h5:/particles" --key x \
  -o "$d/out.h5:/s" --force

# ---- --bins 100000 -o: a correct output, or exit 2 before any work ----
for np in 2 4; do
  fx_case out.bins100000.h5stats.np$np || continue
  mkdir -p "$CD/out"
  fx_mpi "$np" -- "$STATS" "$IN/p.h5:/particles" --bins 100000 -o "$CD/out/st.h5"
  if [ "$FX_RC" -eq 0 ]; then
    fx_check_stats "$IN/p.h5:/particles" "$CD/out/st.h5" --bins 100000
  else
    fx_expect_rc 2
    fx_expect_one_error "bins"
    fx_expect_absent "$CD/out/st.h5"
    grep -q . "$CD/stdout" && fx_fail "exit $FX_RC after the work (results printed), not up front"
  fi
  fx_expect_clean "$CD/out" "$IN" "$W/tmp"
  fx_expect_no_procs
  fx_end
done

fx_summary
