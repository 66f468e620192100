#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_report.sh BUILD_DIR: sluice-report draws a trace, a run record (two runs) and the
# histograms of a sluice-h5stats output as PNGs of the size asked for, with a picture in
# them (tests/obs/check_obs.py png: the PNG header read by hand, the pixels decoded); bad
# input and bad usage: exit 2, one line, no PNG left.
set -u
BUILD=$(cd "${1:?usage: test_report.sh BUILD_DIR}" && pwd) || exit 1
SRC=$(cd "$(dirname "$0")" && pwd)
REPORT="$BUILD/apps/sluice-report/sluice-report" # the build tree's copy
FLOW="$BUILD/tests/obs/obs_flow"
GEN="$BUILD/apps/sluice-gen/sluice-gen"
STATS="$BUILD/apps/sluice-h5stats/sluice-h5stats"
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
NP=${SLUICE_MPIEXEC_NP:--n}
MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}
for x in "$REPORT" "$FLOW" "$GEN" "$STATS"; do [ -x "$x" ] || { echo "FAIL: $x is missing"; exit 1; }; done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_report.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0
fail() { printf "FAIL: %s\n" "$*"; failures=$((failures + 1)); }
ok() { printf "ok: %s\n" "$*"; }
mp() { # mp N PROG ARGS...
  n=$1; shift
  # shellcheck disable=SC2086
  timeout 60 "$MPIEXEC" $NP "$n" $MPIFLAGS "$@" --sl-pin=off
}

awk 'BEGIN { for (i = 0; i < 20000; i++) printf "word%d\n", (i * 7) % 500 }' >in.txt
mp 2 "$FLOW" in.txt out.tsv -1 0 --sl-stats=rec.jsonl --sl-trace=trace.json >/dev/null 2>err.txt ||
  fail "obs_flow: $(head -2 err.txt)"
timeout 60 "$GEN" particles --rows 5000 --seed 3 -o p.h5 --sl-pin=off >/dev/null 2>&1 || fail "sluice-gen"
mp 2 "$STATS" p.h5:/particles --fields mass,x,z -o st.h5 >/dev/null 2>err.txt ||
  fail "sluice-h5stats: $(head -2 err.txt)"

for spec in "trace.json 1000 600" "rec.jsonl 1200 800" "st.h5 900 500"; do
  set -- $spec
  rm -f out.png
  if timeout 120 "$REPORT" "$1" -o out.png --width "$2" --height "$3" 2>err.txt; then
    $PY "$SRC/check_obs.py" png out.png "$2" "$3" && ok "$1: a $2 x $3 PNG with a picture" ||
      fail "$1: the PNG"
  else
    fail "$1: sluice-report failed: $(head -2 err.txt)"
  fi
done
timeout 120 "$REPORT" rec.jsonl --run 2 -o two.png 2>err.txt &&
  $PY "$SRC/check_obs.py" png two.png 1600 900 && ok "--run 2, default size 1600 x 900" ||
  fail "--run 2: $(head -2 err.txt)"

bad() { # bad WHAT EXPECTED-TEXT ARGS...: exit 2, one line, no PNG
  what=$1 text=$2; shift 2
  rm -f bad.png
  timeout 60 "$REPORT" "$@" -o bad.png 2>err.txt
  rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <err.txt)" = 1 ] && grep -q "^sluice-report: error: .*$text" err.txt &&
    [ ! -e bad.png ] && [ -z "$(ls | grep 'bad.png')" ]; then
    ok "$what: exit 2, one line"
  else
    fail "$what: exit $rc: $(cat err.txt)"
  fi
}
bad "a text file" "expected a trace" in.txt
bad "a missing file" "No such file" nothing.json
printf '{"per_rank": 1}\nnot json\n' >broken.jsonl
bad "a broken record" "line 1" broken.jsonl
bad "--run past the end" "holds 2 run" rec.jsonl --run 3
bad "an HDF5 file without histograms" "expected /histogram" p.h5

[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all ok"
