#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice-h5stats --transfer: independent and collective reads give identical output at
# 1-4 ranks (with large and with tiny read blocks, so many collective rounds), and a bad
# value is refused with exit status 2.
#   test_h5_transfer.sh BUILD_DIR
set -u
B=${1:-$SLUICE_BINARY_DIR}
S=$B/apps/sluice-h5stats/sluice-h5stats
O=$B/tests/h5/h5oracle
D=$(mktemp -d "${TMPDIR:-/tmp}/sluice-h5xfer.XXXXXX")
trap 'rm -rf "$D"' EXIT
fail=0
# shellcheck source=tests/h5/h5test.sh
. "$(dirname "$0")/h5test.sh"
"$O" make "$D" >/dev/null || { echo "FAIL: cannot write the inputs"; exit 1; }
if "$S" --help | grep -q -- '--transfer independent|collective'; then
  echo "ok: --help names --transfer"
else
  echo "FAIL: --help does not name --transfer"
  fail=1
fi
# per_ranks N: every check at N ranks (the four rank counts run at once: the runs wait
# mostly on mpirun's start; their lines are printed after, in order)
per_ranks() {
  n=$1
  for args in "$D/table.h5:/t --bins 7" "$D/table.h5:/grid --range -100:1000 --bins 5" \
    "$D/table.h5:/t --fields x,u,m --sl-read-block-bytes=4K" "$D/skew.h5:/t --sl-read-block-bytes=1K"; do
    ok=1
    for t in independent collective; do
      # shellcheck disable=SC2086 # args is a list
      if ! run "$n" "$S" $args --transfer $t >"$D/$n.$t.out" 2>"$D/$n.$t.err"; then
        echo "FAIL: np$n $args --transfer $t: exit status $?"
        cat "$D/$n.$t.err"
        ok=0
      fi
    done
    if [ $ok = 1 ] && [ -s "$D/$n.independent.out" ] && cmp -s "$D/$n.independent.out" "$D/$n.collective.out"; then
      echo "ok: np$n $args: the same output independent and collective"
    elif [ $ok = 1 ]; then
      echo "FAIL: np$n $args: outputs differ"
      diff "$D/$n.independent.out" "$D/$n.collective.out" | head -20
    fi
  done
  run "$n" "$S" "$D/table.h5:/t" --transfer sideways >"$D/$n.bad.out" 2>"$D/$n.bad.err"
  rc=$?
  if [ $rc -eq 2 ] && grep -q "expects 'independent' or 'collective', found 'sideways'" "$D/$n.bad.err"; then
    echo "ok: np$n --transfer sideways: exit 2 with one error line"
  else
    echo "FAIL: np$n --transfer sideways: exit $rc"
    cat "$D/$n.bad.err"
  fi
}
for n in 1 2 3 4; do per_ranks $n >"$D/np$n.log" 2>&1 & done
wait
for n in 1 2 3 4; do cat "$D/np$n.log"; done
grep -q '^FAIL' "$D"/np*.log && fail=1
exit $fail
