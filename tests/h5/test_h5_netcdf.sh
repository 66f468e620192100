#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# CF decoding of netCDF-4 files through sluice-h5stats, sluice-h5groupby and sluice-h5sort at
# 1-4 ranks, against netCDF4-python's masked, unpacked arrays (nc_oracle.py, which also
# writes the inputs with the netCDF library): packed int16 with scale/offset, _FillValue,
# valid_range, a missing_value vector, netCDF's default fill, 3-D and 4-D variables, an
# unlimited dimension, chunked + deflated; --along, --where, --raw; a table stored as a
# matrix grouped and sorted with missing keys; h5py booleans (enums) as keys; --list. Bad CF
# attributes: one line, exit 2 on every rank, nothing written.
#   test_h5_netcdf.sh BUILD_DIR
set -u
B=${1:-$SLUICE_BINARY_DIR}
S=$B/apps/sluice-h5stats/sluice-h5stats
G=$B/apps/sluice-h5groupby/sluice-h5groupby
T=$B/apps/sluice-h5sort/sluice-h5sort
PY=/usr/bin/python3
ORACLE="$(cd "$(dirname "$0")" && pwd)/nc_oracle.py"
O() { "$PY" "$ORACLE" "$@"; }
D=$(mktemp -d "${TMPDIR:-/tmp}/sluice-h5nc.XXXXXX")
trap 'rm -rf "$D"' EXIT
fail=0
# shellcheck source=tests/h5/h5test.sh
. "$(dirname "$0")/h5test.sh"
O make "$D" || { echo "FAIL: cannot write the inputs (python3-netcdf4, python3-h5py)"; exit 1; }
NC=$D/cf.nc
for n in 1 2 3 4; do
  rm -f "$D"/*.out.h5
  for v in tas pr cnt; do
    check "np$n stats $v" run $n "$S" "$NC:/$v" -o "$D/$v.out.h5"
    check "np$n stats $v oracle" O stats "$NC" $v "$D/$v.out.h5"
  done
  # the rest of the options at 2 and 4 ranks only (time: CI's budget)
  dims="time"
  if [ $n = 2 ] || [ $n = 4 ]; then dims="time lon"; fi
  for dim in $dims; do
    check "np$n stats pr --along $dim" run $n "$S" "$NC:/pr" --along "$dim" -o "$D/a$dim.out.h5" \
      --sl-read-block-bytes=1K
    check "np$n stats pr --along $dim oracle" O stats "$NC" pr "$D/a$dim.out.h5" --along "$dim"
  done
  if [ $n = 2 ] || [ $n = 4 ]; then
    check "np$n stats tas --where" run $n "$S" "$NC:/tas" --where 'value > 280' -o "$D/w.out.h5"
    check "np$n stats tas --where oracle" O stats "$NC" tas "$D/w.out.h5" --where-gt 280
    check "np$n sort tab descending" run $n "$T" "$NC:/tab" --key c0 --descending -o "$D/s2.out.h5:/s"
    check "np$n sort tab descending oracle" O sort "$NC" tab "$D/s2.out.h5:/s" --descending
  fi
  check "np$n groupby tab" run $n "$G" "$NC:/tab" --key c0 \
    --agg count,sum:c1,mean:c1,min:c1,max:c1,std:c1,var:c1,first:c1,last:c1 -o "$D/g.out.h5:/g"
  check "np$n groupby tab oracle" O groupby "$NC" tab "$D/g.out.h5:/g"
  check "np$n sort tab" run $n "$T" "$NC:/tab" --key c0 -o "$D/s.out.h5:/s"
  check "np$n sort tab oracle" O sort "$NC" tab "$D/s.out.h5:/s"
  check "np$n groupby booleans" run $n "$G" "$D/bool.h5:/t" --key flag --agg count,sum:x,first:x,last:x \
    -o "$D/b.out.h5:/g"
  check "np$n groupby booleans oracle" O boolgroup "$D/bool.h5" "$D/b.out.h5:/g"
  check "np$n sort booleans" run $n "$T" "$D/bool.h5:/t" --key flag -o "$D/bs.out.h5:/s"
  check "np$n sort booleans oracle" O boolsort "$D/bool.h5" "$D/bs.out.h5:/s"
done
# --raw: the stored values (the oracle must then disagree); plain HDF5: no default fill
check "raw" run 2 "$S" "$NC:/tas" --raw -o "$D/raw.out.h5"
check "raw differs from the decoded values" sh -c "! '$PY' '$ORACLE' stats '$NC' tas '$D/raw.out.h5'"
for ds in plain plain2; do
  check "plain HDF5 $ds" run 2 "$S" "$D/bad.h5:/$ds" -o "$D/$ds.out.h5"
  check "plain HDF5 $ds oracle" O plain "$D/bad.h5" "$D/$ds.out.h5" /$ds
done
# --list: variables, shapes, dimension names, coordinates and bare dimensions
check "list" sh -c "'$SLUICE_MPIEXEC' $SLUICE_MPIEXEC_NP 2 $SLUICE_MPIEXEC_FLAGS '$S' '$NC' --list >'$D/list.txt'"
check "list oracle" O list "$NC" "$D/list.txt"
# stdout stays short whatever the variable (60 columns of a 4-D variable)
check "stdout short" sh -c "'$SLUICE_MPIEXEC' $SLUICE_MPIEXEC_NP 2 $SLUICE_MPIEXEC_FLAGS '$S' '$NC:/pr' \
  --columns >'$D/cols.txt' && [ \$(wc -l <'$D/cols.txt') -le 60 ] && grep -q '60 rows' '$D/cols.txt'"
# bad CF attributes: one line, exit 2 on every rank, no output
bad() { # what, pattern, app args...
  what=$1 pat=$2
  shift 2
  rm -f "$D"/rc.* "$D"/bad.out.h5
  # shellcheck disable=SC2016
  # shellcheck disable=SC2086 # the launcher's flags are lists
  timeout 60 "$SLUICE_MPIEXEC" $SLUICE_MPIEXEC_NP 2 $SLUICE_MPIEXEC_FLAGS \
    sh -c '"$@"; echo $? >"'"$D"'/rc.${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}"' sh "$@" >"$D/out" 2>"$D/err"
  ok=1
  for r in 0 1; do [ "$(cat "$D/rc.$r" 2>/dev/null)" = 2 ] || ok=0; done
  [ "$(grep -c 'error' "$D/err")" -eq 1 ] && grep -q -- "$pat" "$D/err" || ok=0
  for f in "$D"/bad.out* "$D"/.bad.out*; do [ -e "$f" ] && ok=0; done
  if [ $ok = 1 ]; then echo "ok: $what"; else echo "FAIL: $what"; cat "$D/err"; fail=1; fi
}
bad "files packed differently" "CF decoding attributes .* differ from those of" \
  "$S" "$D/cf*.nc:/tas" -o "$D/bad.out.h5"
bad "--where without an operator" "--where: 'value 3' is not 'FIELD OP VALUE'" \
  "$S" "$NC:/tas" --where 'value 3' -o "$D/bad.out.h5"
bad "--where on a missing field" "--where: no field 'x'" \
  "$T" "$NC:/tab" --key c0 --where 'x > 3' -o "$D/bad.out.h5:/s"
for app in S G T; do
  eval A=\$$app
  case $app in
  S) set -- -o "$D/bad.out.h5" ;;
  G) set -- --key value --agg count -o "$D/bad.out.h5:/x" ;;
  T) set -- --key value -o "$D/bad.out.h5:/x" ;;
  esac
  bad "$app scale_factor a string" "attribute scale_factor is a string (expected a number)" \
    "$A" "$D/bad.h5:/scale_str" "$@"
  bad "$app _FillValue of another type" "attribute _FillValue is a 8-byte float, expected the variable's type (a 2-byte integer)" \
    "$A" "$D/bad.h5:/fill_type" "$@"
  bad "$app valid_range reversed" "attribute valid_range is \[10, 0\] (expected min <= max)" \
    "$A" "$D/bad.h5:/range_rev" "$@"
  bad "$app valid_range and valid_max" "valid_range \[0, 10\] conflicts with valid_min / valid_max" \
    "$A" "$D/bad.h5:/range_conflict" "$@"
done
exit $fail
