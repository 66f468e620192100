#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# faults.disk: a full disk (a tiny tmpfs mounted here; root only, SKIP otherwise) during
# the spill and during the final write of every sink, at 2 and 4 ranks. Expected: exit 1,
# one error line naming the cause ("No space left on device"), nothing under the final
# name, no temporary or spill file left, no process left, no hang; then the same command
# on a roomy disk (the tmpfs mounted again, larger) succeeds with a correct output.
#   disk.sh BUILD_DIR
# shellcheck source=tests/faults/faults.sh
source "$(dirname "$0")/faults.sh"
fx_setup disk "${1:-${SLUICE_BINARY_DIR:?usage: disk.sh BUILD_DIR}}"

IN=$W/in
fx_gen_text u.txt 6M --vocab 400000 --zipf 0 --seed 3    # 3.8 MB of TSV out
fx_gen_particles p.h5 100000 --cells 1000 --chunk 8192 --seed 5  # 4.2 MB

# disk_case NAME NP SIZE FINAL CHECK -- CMD...: the tmpfs is $M (set before the call, the
# command and FINAL refer to it); CHECK is evaluated after the rerun
disk_case() {
  local name=$1 np=$2 size=$3 final=$4 check=$5
  shift 6
  fx_case "$name" || return 0
  if ! fx_mount_tmpfs "$M" "$size"; then fx_skip "$FX_WHY"; return 0; fi
  mkdir -p "$CD/out" "$CD/tmp"
  fx_mpi "$np" -- "$@"
  fx_expect_clean_failure 1 "No space left on device" "$final" "$M $IN $CD/out $CD/tmp $W/tmp"
  # the error line names the output or the spill folder
  fx_umount "$M"
  if ! mount -t tmpfs -o size=256m tmpfs "$M"; then
    fx_fail "cannot mount the roomy tmpfs for the rerun"
  else
    fx_rerun "$np" -- "$@" && eval "$check"
    fx_expect_clean "$M" "$IN" "$CD/out" "$CD/tmp" "$W/tmp"
    fx_umount "$M"
  fi
  fx_end
}

for np in 2 4; do
  # text sink, final write: the TSV (3.8 MB) on a 2 MB disk
  M=$W/cases/disk.wordcount.write.np$np/disk
  disk_case disk.wordcount.write.np$np $np 2m "$M/wc.tsv" 'fx_check_wc "$M/wc.tsv" "$IN/u.txt"' \
    -- "$WC" -o "$M/wc.tsv" "$IN/u.txt"

  # HDF5 sink, final write (spills go elsewhere: --sl-tmpdir)
  M=$W/cases/disk.h5sort.write.np$np/disk
  disk_case disk.h5sort.write.np$np $np 2m "$M/s.h5" \
    'fx_check_sort "$IN/p.h5" /particles "$M/s.h5" /s mass' \
    -- "$SORT" "$IN/p.h5:/particles" --key mass -o "$M/s.h5:/s" \
    --sl-tmpdir="$W/cases/disk.h5sort.write.np$np/tmp"

  M=$W/cases/disk.h5groupby.write.np$np/disk
  disk_case disk.h5groupby.write.np$np $np 2m "$M/g.h5" \
    'fx_check_groupby "$IN/p.h5:/particles" "$M/g.h5:/g" --key id --agg count,sum:mass,mean:x,min:y,max:z' \
    -- "$GROUPBY" "$IN/p.h5:/particles" --key id --agg count,sum:mass,mean:x,min:y,max:z \
    -o "$M/g.h5:/g" --sl-tmpdir="$W/cases/disk.h5groupby.write.np$np/tmp"

  # sluice-h5stats -o: 6 histograms of 8000 bins (about 400 KB) on a 128 KB disk
  M=$W/cases/disk.h5stats.write.np$np/disk
  disk_case disk.h5stats.write.np$np $np 128k "$M/st.h5" \
    'fx_check_stats "$IN/p.h5:/particles" "$M/st.h5" --bins 8000' \
    -- "$STATS" "$IN/p.h5:/particles" --bins 8000 -o "$M/st.h5"
done

# sluice-gen's own writes (through sl_output, space reserved first): 8 MB of text and an
# 8.4 MB table on a 2 MB disk (before: text crashed in Open MPI, particles hung)
for np in 2 4; do
  M=$W/cases/disk.gen.text.np$np/disk
  disk_case disk.gen.text.np$np $np 2m "$M/t.txt" \
    '[ "$(stat -c %s "$M/t.txt")" = 8388608 ] && "$GEN" text --size 8M --seed 9 -o "$CD/ref.txt" && cmp -s "$M/t.txt" "$CD/ref.txt"' \
    -- "$GEN" text --size 8M --seed 9 -o "$M/t.txt"
  M=$W/cases/disk.gen.particles.np$np/disk
  disk_case disk.gen.particles.np$np $np 2m "$M/p.h5" \
    '[ "$(h5dump -H "$M/p.h5" | grep -c "DATASPACE  SIMPLE { ( 200000 )")" = 1 ]' \
    -- "$GEN" particles --rows 200000 --seed 9 -o "$M/p.h5"
done

# spills on a full --sl-tmpdir: the text sink's output spill (64 KB buffers)
M=$W/cases/disk.wordcount.spill.np2/disk
disk_case disk.wordcount.spill.np2 2 2m "$W/cases/disk.wordcount.spill.np2/out/wc.tsv" \
  'fx_check_wc "$CD/out/wc.tsv" "$IN/u.txt"' \
  -- "$WC" -o "$W/cases/disk.wordcount.spill.np2/out/wc.tsv" "$IN/u.txt" \
  --sl-tmpdir="$M" --sl-output-buffer-bytes=64K

# the sort's runs (256 KB of sort memory) and the HDF5 sink's spill
for np in 2 4; do
  M=$W/cases/disk.h5sort.spill.np$np/disk
  disk_case disk.h5sort.spill.np$np $np 2m "$W/cases/disk.h5sort.spill.np$np/out/s.h5" \
    'fx_check_sort "$IN/p.h5" /particles "$CD/out/s.h5" /s x' \
    -- "$SORT" "$IN/p.h5:/particles" --key x -o "$W/cases/disk.h5sort.spill.np$np/out/s.h5:/s" \
    --sl-tmpdir="$M" --sl-sort-memory-bytes=256K
done

fx_summary
