#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice-h5stats' edge cases at 1, 2 and 4 ranks against the independent oracle of
# h5stats_edge (which also writes the inputs with the serial HDF5 API): +inf only, -inf
# only, both, NaN too, a rank with infinities only, no finite value (auto range and
# --range); an enum / array / variable-length string member skipped without --fields and
# refused with --fields; field names with '/', '%', ',', ' ' and "." written with -o.
#   test_h5_stats_edge.sh BUILD_DIR
set -u
B=${1:-$SLUICE_BINARY_DIR}
S=$B/apps/sluice-h5stats/sluice-h5stats
E=$B/tests/h5/h5stats_edge
D=$(mktemp -d "${TMPDIR:-/tmp}/sluice-h5stats-edge.XXXXXX")
trap 'rm -rf "$D"' EXIT
fail=0
# shellcheck source=tests/h5/h5test.sh
. "$(dirname "$0")/h5test.sh"
expect() { # what, expected exit code, stderr pattern (grep -E), command...
  what=$1 want=$2 pat=$3
  shift 3
  "$@" >"$D/log" 2>&1
  got=$?
  if [ "$got" -eq "$want" ] && grep -Eq "$pat" "$D/log"; then
    echo "ok: $what"
  else
    echo "FAIL: $what (exit $got, expected $want and /$pat/)"
    cat "$D/log"
    fail=1
  fi
}
"$E" make "$D" || { echo "FAIL: cannot write the inputs"; exit 1; }
IN=$D/edge.h5
for n in 1 2 4; do
  rm -f "$D"/*.out.h5
  # infinities: auto range (a second pass) and --range (one pass)
  check "np$n infinities" run $n "$S" "$IN:/inf" --bins 4 -o "$D/i1.out.h5"
  cp "$D/log" "$D/i1.txt"
  check "np$n infinities oracle" "$E" check "$IN:/inf" "$D/i1.out.h5" --bins 4
  check "np$n infinities: no -nan in the table" sh -c "! grep -q -- '-nan' '$D/i1.txt'"
  check "np$n infinities: +inf mean in the table" \
    sh -c "grep -Eq '^pinf +975 +25 +0 +-20 +inf +inf +nan$' '$D/i1.txt'"
  check "np$n infinities --range" run $n "$S" "$IN:/inf" --bins 5 --range -10:50 -o "$D/i2.out.h5"
  check "np$n infinities --range oracle" "$E" check "$IN:/inf" "$D/i2.out.h5" --bins 5 --range -10:50
  check "np$n infinities --fields" run $n "$S" "$IN:/inf" --fields both,onlyinf,tail --bins 3 \
    -o "$D/i3.out.h5" --sl-read-block-bytes=1K
  check "np$n infinities --fields oracle" "$E" check "$IN:/inf" "$D/i3.out.h5" --bins 3 \
    -f both -f onlyinf -f tail
  # members of unsupported types: skipped unless selected; an enum selected by name is
  # read as its integer type (checked against netCDF4/h5py in tests/h5/test_h5_netcdf.sh)
  check "np$n enum/array/vlen skipped" run $n "$S" "$IN:/rich" --bins 6 -o "$D/r1.out.h5"
  check "np$n enum/array/vlen skipped oracle" "$E" check "$IN:/rich" "$D/r1.out.h5" --bins 6
  check "np$n --fields enum read as an integer" run $n "$S" "$IN:/rich" --fields id,flag \
    -o "$D/r2.out.h5"
  expect "np$n --fields array refused" 2 "field 'pos' has type class array" \
    run $n "$S" "$IN:/rich" --fields pos
  check "np$n --fields numeric beside enum" run $n "$S" "$IN:/rich" --fields u,w -o "$D/r3.out.h5"
  check "np$n --fields numeric beside enum oracle" "$E" check "$IN:/rich" "$D/r3.out.h5" -f u -f w
  # field names that are not valid HDF5 path components as they are
  check "np$n odd names" run $n "$S" "$IN:/names" --bins 2 -o "$D/n1.out.h5"
  check "np$n odd names oracle" "$E" check "$IN:/names" "$D/n1.out.h5" --bins 2
  check "np$n --fields with an escaped comma" run $n "$S" "$IN:/names" --fields 'a\,b,pos/x,100%' \
    -o "$D/n2.out.h5"
  check "np$n --fields with an escaped comma oracle" "$E" check "$IN:/names" "$D/n2.out.h5" \
    -f 'a,b' -f 'pos/x' -f '100%'
done
exit $fail
