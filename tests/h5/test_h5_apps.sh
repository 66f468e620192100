#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice-h5stats and sluice-h5groupby at 1-4 ranks against the sequential oracles of
# h5oracle (which also writes the inputs with the serial HDF5 API).
#   test_h5_apps.sh BUILD_DIR
set -u
B=${1:-$SLUICE_BINARY_DIR}
S=$B/apps/sluice-h5stats/sluice-h5stats
G=$B/apps/sluice-h5groupby/sluice-h5groupby
O=$B/tests/h5/h5oracle
D=$(mktemp -d "${TMPDIR:-/tmp}/sluice-h5apps.XXXXXX")
trap 'rm -rf "$D"' EXIT
fail=0
# shellcheck source=tests/h5/h5test.sh
. "$(dirname "$0")/h5test.sh"
"$O" make "$D" || { echo "FAIL: cannot write the inputs"; exit 1; }
for app in "$S" "$G"; do
  check "$(basename "$app") --help" sh -c "'$app' --help | grep -q '^usage:'"
  check "$(basename "$app") --version" sh -c "'$app' --version | grep -q '^sluice-h5[a-z]* [0-9]'"
done
for n in 1 2 3 4; do
  rm -f "$D"/*.out.h5
  check "np$n stats table" run $n "$S" "$D/table.h5:/t" --bins 7 -o "$D/s1.out.h5"
  check "np$n stats table oracle" "$O" stats "$D/table.h5:/t" "$D/s1.out.h5" --bins 7
  check "np$n stats 2-D range" run $n "$S" "$D/table.h5:/grid" --columns --range -100:1000 --bins 5 -o "$D/s2.out.h5"
  check "np$n stats 2-D range oracle" "$O" stats "$D/table.h5:/grid" "$D/s2.out.h5" --bins 5 --range -100:1000
  check "np$n stats 1-D" run $n "$S" "$D/table.h5:/v" --fields value -o "$D/s3.out.h5"
  check "np$n stats 1-D oracle" "$O" stats "$D/table.h5:/v" "$D/s3.out.h5" --fields value
  check "np$n stats fields" run $n "$S" "$D/table.h5:/t" --fields x,u,m -o "$D/s4.out.h5" --sl-read-block-bytes=4K
  check "np$n stats fields oracle" "$O" stats "$D/table.h5:/t" "$D/s4.out.h5" --fields x,u,m
  check "np$n stats zero rows" run $n "$S" "$D/table.h5:/empty" -o "$D/s5.out.h5"
  check "np$n stats zero rows oracle" "$O" stats "$D/table.h5:/empty" "$D/s5.out.h5"
  check "np$n groupby 2 keys" run $n "$G" "$D/table.h5:/t" --key grp,cell --agg count,sum:id,mean:x,min:m,max:u,sum:m \
    -o "$D/g1.out.h5:/g"
  check "np$n groupby 2 keys oracle" "$O" groupby "$D/table.h5:/t" "$D/g1.out.h5:/g" --key grp,cell \
    --agg count,sum:id,mean:x,min:m,max:u,sum:m
  check "np$n groupby skewed key, small combiner and buffers" run $n "$G" "$D/skew.h5:/t" --key cell \
    --agg count,max:id,min:x,mean:u -o "$D/g2.out.h5:/a/b" --deflate 3 --sl-combiner-bytes=64K --sl-output-buffer-bytes=4K
  check "np$n groupby skewed oracle" "$O" groupby "$D/skew.h5:/t" "$D/g2.out.h5:/a/b" --key cell --agg count,max:id,min:x,mean:u
  check "np$n groupby key also aggregated" run $n "$G" "$D/table.h5:/t" --key cell --agg sum:cell,max:u,mean:cell \
    -o "$D/g4.out.h5:/g"
  check "np$n groupby key also aggregated oracle" "$O" groupby "$D/table.h5:/t" "$D/g4.out.h5:/g" --key cell \
    --agg sum:cell,max:u,mean:cell
  check "np$n groupby zero rows" run $n "$G" "$D/table.h5:/empty" --key grp --agg count,sum:x -o "$D/g3.out.h5:/g"
  check "np$n groupby zero rows oracle" "$O" groupby "$D/table.h5:/empty" "$D/g3.out.h5:/g" --key grp --agg count,sum:x
done
exit $fail
