#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_obs.sh BUILD_DIR: the observability outputs of a real run at 1 and 3 ranks
# (docs/observability.md), checked by tests/obs/check_obs.py against figures it computes
# from the files themselves:
#  - the run record (--sl-stats, %j expanded): two JSON lines for obs_flow's two runs,
#    hostile stage names and a hostile argument parsed back exactly, counts and bytes;
#  - the trace (--sl-trace): one track per rank, both runs, no overlapping spans; and
#    bounded by --sl-trace-max-spans;
#  - progress in a log (stderr a file): plain lines naming the phase, with every rank's
#    share (the last line says 100% of the whole input), a lagging rank, no hang;
#  - --sl-log-view: stage names, max/avg/min, the exact record counts;
#  - a run record that cannot be written: one error line, exit 1 on every rank.
set -u
BUILD=$(cd "${1:?usage: test_obs.sh BUILD_DIR}" && pwd) || exit 1
SRC=$(cd "$(dirname "$0")" && pwd)
FLOW="$BUILD/tests/obs/obs_flow"
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export LC_ALL=C # byte patterns: a stage name holds a byte that is not UTF-8
MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
NP=${SLUICE_MPIEXEC_NP:--n}
MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}
[ -x "$FLOW" ] || { echo "FAIL: $FLOW is missing"; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_obs.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0
fail() { printf "FAIL: %s\n" "$*"; failures=$((failures + 1)); }
ok() { printf "ok: %s\n" "$*"; }
run() { # run N ARGS...: obs_flow on N ranks, pinned nowhere (ranks share 2 cores)
  n=$1; shift
  # shellcheck disable=SC2086
  timeout 60 "$MPIEXEC" $NP "$n" $MPIFLAGS "$FLOW" "$@" --sl-pin=off
}

# 3000 lines, 50 distinct
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "word%d\n", (i * 7) % 50 }' >in.txt
HOSTILE='a"b\c
d	é'

for n in 1 3; do
  rm -f rec-*.jsonl trace.json out.tsv
  SLURM_JOB_ID=4242 run "$n" in.txt out.tsv -1 0 "$HOSTILE" \
    --sl-stats='rec-%j.jsonl' --sl-trace=trace.json --sl-trace-merge-us=0 >run.out 2>run.err ||
    fail "np$n: obs_flow failed: $(head -3 run.err)"
  grep -qx "run2 count=1000" run.out || fail "np$n: run 2 did not count 1000"
  [ -s run.err ] && fail "np$n: stderr not empty with --sl-progress=auto and a short run: $(head -2 run.err)"
  if [ -f rec-4242.jsonl ]; then
    $PY "$SRC/check_obs.py" record rec-4242.jsonl "$n" in.txt out.tsv 4242 "$HOSTILE" &&
      ok "np$n: run record (2 lines, hostile names parsed back, counts, bytes, min/avg/max)" ||
      fail "np$n: run record"
  else
    fail "np$n: no rec-4242.jsonl (%j not expanded?): $(ls)"
  fi
  $PY "$SRC/check_obs.py" trace trace.json "$n" && ok "np$n: trace (a track per rank, both runs)" ||
    fail "np$n: trace"
  ls -a | grep -q 'sluice-tmp' && fail "np$n: a temporary was left: $(ls -a)"
done

# outside Slurm, %j is "nojob"; a second program appends to the same record
rm -f rec-*.jsonl
(unset SLURM_JOB_ID; run 2 in.txt out.tsv -1 0 x --sl-stats='rec-%j.jsonl' && run 2 in.txt out.tsv -1 0 y --sl-stats='rec-%j.jsonl') >/dev/null 2>run.err ||
  fail "nojob runs failed: $(head -2 run.err)"
[ "$(wc -l <rec-nojob.jsonl 2>/dev/null)" = 4 ] && ok "outside Slurm: rec-nojob.jsonl, 4 lines appended" ||
  fail "outside Slurm: expected rec-nojob.jsonl with 4 lines: $(ls; wc -l rec-* 2>&1)"

# bounded trace: at most 64 spans a rank, merge gap starting at 0
run 3 in.txt out.tsv 1 100 x --sl-trace=small.json --sl-trace-merge-us=0 --sl-trace-max-spans=64 >/dev/null 2>run.err ||
  fail "bounded trace run failed: $(head -2 run.err)"
$PY "$SRC/check_obs.py" bounded small.json 3 64 && ok "trace bounded by --sl-trace-max-spans" ||
  fail "bounded trace"

# progress in a log: 90000 lines; rank 1 lags (50 us a line: about 3 s), lines every second
awk 'BEGIN { for (i = 0; i < 90000; i++) printf "word%d\n", (i * 7) % 50 }' >big.txt
run 3 big.txt out.tsv 1 50 x --sl-progress-interval=1 >run.out 2>prog.err ||
  fail "progress run failed: $(head -2 prog.err)"
size=$(wc -c <big.txt)
lines=$(grep -c '^sluice: progress: pass 1 of 2: ' prog.err)
if [ "$lines" -ge 2 ] &&
  grep -q '^sluice: progress: pass 1 of 2: reading, [0-9.]*% read (.* of .*), .*/s, reading ETA ' prog.err &&
  grep -q '; ranks: .*1 reading' prog.err &&
  grep -q '^sluice: progress: pass 1 of 2: done, 100.0% read' prog.err &&
  ! grep -v '^sluice: progress: ' prog.err | grep -q .; then
  ok "progress: $lines plain lines, phase, ETA, every rank's share, a final 100% line"
else
  fail "progress lines (input $size bytes):"; sed 's/^/  | /' prog.err
fi
# a rank fails mid-run while progress reductions are posted: every rank ends, exit 1, one
# error line, no hang (the reductions are completed at the end)
run 3 big.txt fail.tsv 1 -50 x --sl-progress-interval=1 >/dev/null 2>fail.err
rc=$?
if [ $rc -eq 1 ] && [ "$(grep -c "^sluice: error: " fail.err)" = 1 ] && grep -q "rank 1: .*callback" fail.err &&
  [ ! -e fail.tsv ] && grep -q "^sluice: progress: pass 1 of 2: failed, " fail.err; then
  ok "a failure mid-run with progress on: exit 1, one line, no output"
else
  fail "a failure mid-run with progress on: exit $rc:"; sed 's/^/  | /' fail.err
fi

# on a terminal (a pty from script(1); one rank without mpirun, whose ranks' stderr is a
# pipe): one line redrawn in place (\r), ended by the final line
if command -v script >/dev/null 2>&1; then
  head -n 15000 big.txt >tty.txt
  timeout 60 script -qec "'$FLOW' tty.txt out.tsv 0 100 x --sl-pin=off" /dev/null >tty.out 2>&1
  if [ "$(tr '\r' '\n' <tty.out | grep -c '^sluice: progress: pass 1 of 2: reading, ')" -ge 1 ] &&
    grep -q "$(printf '\r')sluice: progress: pass 1 of 2: reading, " tty.out &&
    grep -q 'sluice: progress: pass 1 of 2: done, 100.0% read' tty.out; then
    ok "progress on a terminal: a redrawn line, then the final one"
  else
    fail "progress on a terminal:"; sed 's/^/  | /' tty.out
  fi
else
  echo "skip: progress on a terminal (no script(1))"
fi

# --sl-progress=on: a final line even for a short run; off: nothing
run 2 in.txt out.tsv -1 0 x --sl-progress=on >/dev/null 2>on.err
[ "$(grep -c '^sluice: progress: .*: done, 100.0% read' on.err)" = 1 ] &&
  [ "$(grep -c '^sluice: progress: pass 2 of 2: done, 1000 records from the sources' on.err)" = 1 ] &&
  ok "--sl-progress=on: a final line per run" || { fail "--sl-progress=on"; sed 's/^/  | /' on.err; }
run 2 in.txt out.tsv 1 1000 x --sl-progress=off --sl-progress-interval=1 >/dev/null 2>off.err
[ -s off.err ] && fail "--sl-progress=off printed: $(head -2 off.err)"

# the log view: stage names, columns, exact counts (stage 1 takes 50 combined records from
# each rank, puts out the 50 distinct lines)
# (grep -a: the hostile stage names hold a control byte)
run 3 in.txt out.tsv -1 0 x --sl-log-view >/dev/null 2>lv.err || fail "log view run failed"
if grep -aq "^sluice log view, pass 1 of 2: 3 rank(s) on 1 host(s), 2 stage(s), .*, ok" lv.err &&
  grep -aq "^ *Max *Avg *Min *Max/Min *Total" lv.err &&
  grep -aqF "stage 0 'read \"quoted\" \\ back\\nslash\\ttab\\x01 été': 3 partition(s)" lv.err &&
  grep -aq "^stage 1 'count </script> .* end': 3 partition(s), active .* (.*% of the run), busy .*%" lv.err &&
  grep -aq "^  records in  .* 150$" lv.err && grep -aq "^  records out .* 50$" lv.err &&
  grep -aq "^  input read .* 19.9 KiB$" lv.err; then
  ok "log view"
else
  fail "log view:"; sed 's/^/  | /' lv.err
fi

# a record that cannot be written: every rank exits 1, one line
run 3 in.txt out.tsv -1 0 x --sl-stats=/nonexistent-dir/rec.jsonl >/dev/null 2>bad.err
rc=$?
nerr=$(grep -c '^sluice: error: ' bad.err)
if [ $rc -ne 0 ] && [ "$nerr" = 1 ] && grep -q "run record '/nonexistent-dir/rec.jsonl': No such file" bad.err; then
  ok "unwritable record: exit $rc, one line"
else
  fail "unwritable record: exit $rc, $nerr error lines:"; sed 's/^/  | /' bad.err
fi

[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all ok"
