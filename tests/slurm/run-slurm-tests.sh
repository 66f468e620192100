#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# run-slurm-tests.sh BUILD_DIR -- test the jobscripts under a real Slurm.
#
# Installs BUILD_DIR into a temporary prefix (`cmake --install`: the apps, sluice-launch and
# share/sluice/jobscripts), starts a private one-node Slurm cluster in a temporary folder
# (slurm-up.sh), submits the installed jobscripts with sbatch on small generated inputs at 2
# tasks, checks exit codes (from `scontrol show job`, polled every 0.2 s), outputs, core
# binding, progress lines in the job's log, job arrays (over files and over HDF5 specs,
# skip-existing) and the graceful stop, and stops the cluster again on every exit path
# (slurm-down.sh).
#
# Prints `ok - NAME`, `not ok - NAME` (with `#` diagnostics) or `skip - NAME: why` per
# test and ends with `N passed, M failed`. Exit status: 0 all passed, 1 a test failed,
# 77 (ctest SKIP_RETURN_CODE) when Slurm or munge is not installed or not running as root:
# then the only line is `SKIPPED: reason`.
#
# The jobscripts find sluice-launch and the apps in the prefix's bin/ by themselves (no
# SLUICE_BIN); the tests of an app not built yet are skipped. The harness tests use
# mpi-hello.c (BUILD_DIR/tests/slurm/sluice-slurm-mpi-hello, else compiled here with mpicc).
# The HDF5 app jobscripts (h5stats, h5groupby, h5sort, and array.sbatch over a list of
# FILE:/dataset specs with h5stats) run on particle tables from sluice-gen and are checked with the app tests' oracles:
# BUILD_DIR/tests/h5/h5oracle and BUILD_DIR/tests/apps/h5sort_check, else compiled here
# from tests/h5/h5oracle.c and tests/apps/h5sort_check.c with h5pcc (or mpicc + pkg-config).
#
# Environment (optional):
#   SLUICE_SLURM_KEEP=1         keep the temporary folder (it is kept anyway on failure)
#   SLUICE_SLURM_JOB_TIMEOUT    seconds to wait for one job (default 120)
#   SLUICE_SLURM_STOP_MB        size of the generated input of the stop test (default 100)
#   SLUICE_SLURM_STOP_REPEAT    how many times the stop test lists that input (default 10),
#                               so the job has ~1 GB to read and is still running when
#                               the signal comes, whatever the disk holds
#   SLUICE_SLURM_QUICK=1        skip the test that waits for a time-limit signal (~30 s)
#   CMAKE_COMMAND               the cmake that installs BUILD_DIR (default: cmake)
set -uo pipefail

me=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)

if [[ $# -ne 1 || ! -d $1 ]]; then
  echo "usage: $me BUILD_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)

skip_all() { echo "SKIPPED: $*"; exit 77; }
for t in sbatch srun scontrol squeue sinfo scancel slurmctld slurmd munged; do
  command -v "$t" >/dev/null ||
    skip_all "$t not found (the Slurm tests need the packages slurmctld slurmd slurm-client munge)"
done
[[ $(id -u) -eq 0 ]] || skip_all "the private Slurm cluster needs root (SlurmUser=root)"

keep=${SLUICE_SLURM_KEEP:-0}
job_timeout=${SLUICE_SLURM_JOB_TIMEOUT:-120}
stop_mb=${SLUICE_SLURM_STOP_MB:-100}
stop_repeat=${SLUICE_SLURM_STOP_REPEAT:-10}
quick=${SLUICE_SLURM_QUICK:-0}
cmake=${CMAKE_COMMAND:-cmake}
# The jobs inherit this environment (sbatch --export=ALL): start from a clean slate.
unset "${!SLUICE_@}" SLURM_CONF
export LC_ALL=C

t_start=$SECONDS
tmp=$(mktemp -d /tmp/sluice-slurm.XXXXXX)
chmod 0755 "$tmp"
cluster="$tmp/slurm"
work="$tmp/work"
mkdir -p "$work"
passed=0
failed=0
down_done=0

bring_down() {
  (( down_done )) && return 0
  down_done=1
  "$here/slurm-down.sh" "$cluster" >"$tmp/slurm-down.log" 2>&1
}
summary_done=0
exec 3>&1  # the real stdout, also inside run_test's redirection
on_exit() {
  local rc=$?
  bring_down || rc=1
  if (( !summary_done )); then
    echo "not ok - interrupted (exit status $rc); the cluster was stopped" >&3
    echo "$passed passed, $((failed + 1)) failed" >&3
    (( rc != 0 )) || rc=1
  fi
  if (( keep || rc != 0 )); then
    echo "# files kept in $tmp" >&3
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- reporting ------------------------------------------------------------------------
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
skip() { echo "skip - $1"; }
diag() { sed 's/^/#   /'; }
# run_test NAME FUNCTION [ARGS]: FUNCTION returns 0 for pass; its output is shown on failure.
run_test() {
  local name=$1 log="$tmp/test.log" t0=$SECONDS
  shift
  if "$@" >"$log" 2>&1; then
    ok "$name ($((SECONDS - t0)) s)"
  else
    not_ok "$name"
    diag <"$log"
  fi
}
fail() { echo "FAIL: $*"; return 1; }

# ---- Slurm helpers --------------------------------------------------------------------
field() {  # field NAME LINE: the value of NAME=VALUE in a `scontrol show job -o` line
  local re="(^| )$1=([^ ]*)"
  [[ $2 =~ $re ]] && echo "${BASH_REMATCH[2]}"
}
terminal='^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE)$'

# submit OUTFILE SBATCH_ARGS... : submit in $work with a 5 min limit; prints the job id.
submit() {
  local out=$1 id
  shift
  id=$(sbatch --parsable --chdir="$work" --output="$out" --time=5 "$@") || return 1
  echo "${id%%;*}"
}

# wait_job ID [SECONDS]: poll until the job (every task of an array) has ended. Sets
# JOB_STATE and JOB_EXIT (space-separated, one per array task in task order).
wait_job() {
  local id=$1 limit=${2:-$job_timeout} deadline=$((SECONDS + ${2:-$job_timeout}))
  local lines line st done_all sorted
  while :; do
    lines=$(scontrol show job -o "$id" 2>&1)
    done_all=1 sorted=
    while IFS= read -r line; do
      st=$(field JobState "$line")
      [[ $st =~ $terminal ]] || done_all=0
      sorted+="$(field ArrayTaskId "$line" || echo 0) $st $(field ExitCode "$line")"$'\n'
    done <<<"$lines"
    sorted=$(sort -n <<<"$sorted" | grep .)
    JOB_STATE=$(awk '{ print $2 }' <<<"$sorted" | paste -sd' ')
    JOB_EXIT=$(awk '{ print $3 }' <<<"$sorted" | paste -sd' ')
    if (( done_all )) && [[ -n $JOB_STATE ]]; then return 0; fi
    if (( SECONDS >= deadline )); then
      echo "job $id did not end within ${limit}s (state: ${JOB_STATE:-?}); cancelling it"
      scancel "$id"
      return 1
    fi
    sleep 0.2
  done
}

# wait_output FILE PATTERN COUNT [SECONDS]: wait until FILE has COUNT lines matching PATTERN.
wait_output() {
  local deadline=$((SECONDS + ${4:-$job_timeout})) n
  while :; do
    n=$(grep -cE "$2" "$1" 2>/dev/null)
    (( ${n:-0} >= $3 )) && return 0
    (( SECONDS < deadline )) || { echo "no $3 lines matching '$2' in $1 in time"; return 1; }
    sleep 0.2
  done
}

expect_exit() {  # expect_exit WANT: compare with JOB_EXIT from wait_job
  [[ $JOB_EXIT == "$1" ]] || fail "job ended $JOB_STATE with ExitCode=$JOB_EXIT, expected $1"
}

show_output() { echo "---- $1"; cat "$1" 2>/dev/null || echo "(missing)"; }

# distinct_cores FILE REGEX [GROUP]: REGEX captures the rank in group 1 and the core (list)
# in group GROUP (default 2); requires lines of two ranks on two different single cores.
distinct_cores() {
  local file=$1 re=$2 g=${3:-2} line ranks=() cores=()
  while IFS= read -r line; do
    [[ $line =~ $re ]] || continue
    ranks+=("${BASH_REMATCH[1]}")
    cores+=("${BASH_REMATCH[$g]}")
  done <"$file"
  echo "ranks: ${ranks[*]:-none}; cores: ${cores[*]:-none}"
  (( ${#ranks[@]} == 2 )) || fail "expected binding lines of 2 ranks"
  [[ ${ranks[0]} != "${ranks[1]}" ]] || fail "the same rank twice"
  [[ ${cores[0]} =~ ^[0-9]+$ && ${cores[1]} =~ ^[0-9]+$ ]] ||
    fail "each rank should be bound to one core (got '${cores[0]}' and '${cores[1]}')"
  [[ ${cores[0]} != "${cores[1]}" ]] || fail "both ranks on core ${cores[0]}"
}

# ---- inputs and the reference word count ----------------------------------------------
# gen_text FILE LINES SEED: words separated by spaces, runs of spaces and tabs, with empty
# lines, leading blanks and a last line without a newline.
gen_text() {
  awk -v n="$2" -v seed="$3" 'BEGIN {
    srand(seed)
    nw = split("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu a bb ccc x y z sluice flow mpi rank", w, " ")
    for (i = 0; i < n; i++) {
      k = int(rand() * 12); line = (rand() < 0.1) ? "  " : ""
      for (j = 0; j < k; j++) {
        r = rand()
        word = (r < 0.3) ? "w" int(rand() * 5000) : w[1 + int(rand() * nw)]
        sep = (j == 0) ? "" : (r < 0.1 ? "\t" : (r < 0.2 ? "   " : " "))
        line = line sep word
      }
      if (i < n - 1) print line; else printf "%s", line
    }
  }' >"$1"
}
# oracle FILE...: `word<TAB>count` lines, sorted; every file ends its own last word.
oracle() {
  local f
  for f; do cat "$f"; echo; done | tr -s ' \t\n\v\f\r' '\n' | grep -v '^$' | sort |
    uniq -c | awk '{ print $2 "\t" $1 }' | sort
}
# normalized FILE|DIR: the app's output sorted (a folder: all its files together).
normalized() {
  if [[ -d $1 ]]; then
    find "$1" -type f -exec cat {} + | sort
  else
    sort "$1"
  fi
}

# ---- the installed tree ---------------------------------------------------------------
prefix="$tmp/prefix"
jobscripts="$prefix/share/sluice/jobscripts"
if ! "$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  not_ok "cmake --install $build --prefix $prefix"
  diag <"$tmp/install.log"
  echo "$passed passed, $failed failed"
  summary_done=1
  exit 1
fi
ok "cmake --install: apps, sluice-launch and jobscripts in $prefix"

# ---- the private cluster --------------------------------------------------------------
if ! up_out=$("$here/slurm-up.sh" "$cluster" 2>"$tmp/slurm-up.log"); then
  not_ok "slurm-up: start a one-node cluster"
  diag <"$tmp/slurm-up.log"
  echo "$passed passed, $failed failed"
  summary_done=1
  exit 1
fi
eval "$up_out"
ok "slurm-up: one-node cluster $(hostname -s) with $(nproc) CPUs ready ($((SECONDS - t_start)) s)"

have_mpirun=0
command -v mpirun >/dev/null && have_mpirun=1

# ---- jobscripts: static checks --------------------------------------------------------
t_lint() {
  local f common ref="" rc=0 opt
  for f in "$src"/jobscripts/*.sbatch; do
    bash -n "$f" || { echo "$f: syntax error"; rc=1; }
    for opt in nodes ntasks cpus-per-task time output signal; do
      grep -q "^#SBATCH --$opt=" "$f" || { echo "${f##*/}: no #SBATCH --$opt"; rc=1; }
    done
    common=$(sed -n '/^# ---- find sluice-launch/,/^# ---- end of common part/p' "$f")
    [[ -n $common ]] || { echo "${f##*/}: no common part"; rc=1; continue; }
    if [[ -z $ref ]]; then
      ref=$common
    elif [[ $common != "$ref" ]]; then
      echo "${f##*/}: its common part differs from the others':"
      diff <(echo "$ref") <(echo "$common") | head -20
      rc=1
    fi
  done
  for f in sluice-wordcount sluice-h5stats sluice-h5groupby sluice-h5sort template array; do
    [[ -f $jobscripts/$f.sbatch ]] || { echo "missing $jobscripts/$f.sbatch"; rc=1; }
    grep -qxF "sl_bindir=\"$prefix/bin\"  # \`cmake --install\` writes here the folder of the installed apps" \
      "$jobscripts/$f.sbatch" || { echo "$f.sbatch: installed without sl_bindir=$prefix/bin"; rc=1; }
  done
  [[ -x $prefix/bin/sluice-launch ]] || { echo "sluice-launch not installed in $prefix/bin"; rc=1; }
  return $rc
}
run_test "jobscripts: syntax, #SBATCH headers, one common part, installed with their bin/" t_lint

# ---- harness tests with mpi-hello -----------------------------------------------------
hello="$build/tests/slurm/sluice-slurm-mpi-hello"
if [[ ! -x $hello ]]; then
  hello=
  if command -v mpicc >/dev/null &&
    mpicc -O2 -o "$tmp/mpi-hello" "$here/mpi-hello.c" >"$tmp/mpicc.log" 2>&1; then
    hello="$tmp/mpi-hello"
  fi
fi

hello_re='^hello rank ([0-9]+) of 2 cpus ([0-9,-]+)$'

t_hello() {  # t_hello LAUNCHER
  local out="$work/hello-$1.out" id
  id=$(SLUICE_LAUNCHER=$1 SLUICE_OPTS="--opt-a --opt-b=%j.json" submit "$out" -n 2 \
    "$jobscripts/template.sbatch" "$hello" one two) || return 1
  wait_job "$id" || { show_output "$out"; return 1; }
  show_output "$out"
  expect_exit 0:0 || return 1
  grep -qxF "args: --opt-a --opt-b=$id.json one two" "$out" ||
    fail "SLUICE_OPTS (with %j) and the program arguments not passed on as expected"
  distinct_cores "$out" "$hello_re"
}

t_hello_stop() {  # t_hello_stop LAUNCHER: stop by hand (scancel --batch --signal=TERM)
  local out="$work/hello-stop-$1.out" id
  id=$(SLUICE_LAUNCHER=$1 submit "$out" -n 2 "$jobscripts/template.sbatch" "$hello" --wait) ||
    return 1
  wait_output "$out" '^waiting$' 1 || { scancel "$id"; show_output "$out"; return 1; }
  scancel --batch --signal=TERM "$id"
  wait_job "$id" || { show_output "$out"; return 1; }
  show_output "$out"
  expect_exit 3:0 || return 1
  [[ $(grep -c 'stopped by signal' "$out") == 2 ]] || fail "not both ranks saw the stop"
  grep -q 'stopped by a signal: every rank stopped cleanly' "$out" ||
    fail "no stop message from the jobscript"
}

# A checkpointed job stopped the way the time limit does it (scancel --batch
# --signal=USR1), requeued by sluice-launch (SLUICE_CHECKPOINT, sbatch --requeue), resumed:
# the output equals an uninterrupted run's.
t_ckpt_requeue() {
  local out="$work/ckpt-requeue.out" res="$work/ckpt-sum.tsv" ref="$work/ckpt-ref.tsv" id line
  "$ckflow" sum 400000 97 "$ref" >/dev/null 2>&1 || fail "the reference run failed"
  id=$(SLUICE_CHECKPOINT="$work/ck-%j" SLUICE_OPTS=--sl-log-level=info CKPT_SLOW_US=10000 \
    submit "$out" -n 2 --requeue \
    --open-mode=append "$jobscripts/template.sbatch" "$ckflow" sum 400000 97 "$res") || return 1
  wait_output "$out" 'tasks on' 1 || { scancel "$id"; show_output "$out"; return 1; }
  sleep 1
  scancel --batch --signal=USR1 "$id"
  wait_output "$out" 'checkpoint saved in' 1 60 || { scancel "$id"; show_output "$out"; return 1; }
  # a requeued job starts again once its old credential expired (slurm-up.sh: 5 s)
  wait_job "$id" 240 || { show_output "$out"; return 1; }
  show_output "$out"
  line=$(scontrol show job -o "$id")
  echo "restarts: $(field Restarts "$line")"
  expect_exit 0:0 || return 1
  [[ $(field Restarts "$line") -ge 1 ]] || fail "the job was not requeued"
  grep -q "resuming from checkpoint 1 in $work/ck-$id" "$out" ||
    fail "the requeued job did not resume from the checkpoint"
  sort "$res" | cmp -s - <(sort "$ref") || fail "the resumed output differs from an uninterrupted run's"
  [[ ! -e $work/ck-$id ]] || fail "the checkpoint is still there after success"
}

t_hello_timelimit() {  # the #SBATCH --signal=B:TERM@... path, by a real time limit
  local out="$work/hello-timelimit.out" id
  id=$(submit "$out" -n 2 --time=1 --signal=B:TERM@55 "$jobscripts/template.sbatch" \
    "$hello" --wait) || return 1
  wait_job "$id" 100 || { show_output "$out"; return 1; }
  show_output "$out"
  expect_exit 3:0 || return 1
  [[ $(grep -c 'stopped by signal' "$out") == 2 ]] || fail "not both ranks saw the stop"
}

t_hello_array() {
  local i id list="$work/array-files.txt" outdir="$work/array-out" f line
  mkdir -p "$work/array-in"
  { echo "# input files"; echo; } >"$list"
  for i in 0 1 2 3 4; do
    echo "file $i" >"$work/array-in/f$i.txt"
    echo "array-in/f$i.txt" >>"$list"
  done
  # one file per task, at most 2 at a time
  id=$(SLUICE_APP=$hello submit "$work/array-%A_%a.out" -n 2 --array=0-4%2 \
    "$jobscripts/array.sbatch" "$list" "$outdir") || return 1
  line=$(scontrol show job -o "$id" | head -n 1)
  [[ $line == *ArrayTaskThrottle=2* ]] || fail "no ArrayTaskThrottle=2 in: $line"
  wait_job "$id" || return 1
  echo "states: $JOB_STATE; exit codes: $JOB_EXIT"
  expect_exit "0:0 0:0 0:0 0:0 0:0" || return 1
  for i in 0 1 2 3 4; do
    f="$work/array-${id}_$i.out"
    show_output "$f"
    grep -qxF "args: -o $outdir/f$i.out array-in/f$i.txt" "$f" ||
      fail "array task $i did not get input f$i.txt" || return 1
    distinct_cores "$f" "$hello_re" >/dev/null || fail "array task $i: binding" || return 1
  done
  # groups of 2 files, custom arguments; task 3 is past the end of the list
  id=$(SLUICE_APP=$hello SLUICE_ARRAY_GROUP=2 SLUICE_ARRAY_SUFFIX=tsv \
    submit "$work/group-%A_%a.out" -n 2 --array=0-3 "$jobscripts/array.sbatch" \
    "$list" "$outdir/" --in '{in}' '--out={out}') || return 1
  wait_job "$id" || return 1
  echo "states: $JOB_STATE; exit codes: $JOB_EXIT"
  expect_exit "0:0 0:0 0:0 2:0" || return 1
  grep -qxF "args: --in array-in/f0.txt array-in/f1.txt --out=$outdir/group-0.tsv" \
    "$work/group-${id}_0.out" || fail "group 0: wrong arguments" || return 1
  grep -qxF "args: --in array-in/f4.txt --out=$outdir/group-2.tsv" \
    "$work/group-${id}_2.out" || fail "group 2: wrong arguments" || return 1
  grep -q "has only 5 inputs" "$work/group-${id}_3.out" || fail "task 3: no message"
}

t_missing_program() {
  local out="$work/missing-program.out" id
  id=$(SLUICE_BIN=$work/nowhere submit "$out" -n 2 "$jobscripts/sluice-wordcount.sbatch" \
    x) || return 1
  wait_job "$id" || return 1
  show_output "$out"
  expect_exit 2:0 || return 1
  grep -q "cannot execute $work/nowhere/sluice-wordcount" "$out" || fail "no message"
}

if [[ -z $hello ]]; then
  skip "harness tests: no mpi-hello (no mpicc, or it failed: $(head -c 300 "$tmp/mpicc.log" 2>/dev/null))"
else
  run_test "template.sbatch + srun: 2 ranks, size 2, distinct cores" t_hello srun
  if (( have_mpirun )); then
    run_test "template.sbatch + mpirun fallback: 2 ranks, size 2, distinct cores" t_hello mpirun
  else
    skip "template.sbatch + mpirun fallback: no mpirun"
  fi
  run_test "template.sbatch + srun: scancel --batch --signal=TERM stops every rank (exit 3)" \
    t_hello_stop srun
  if (( have_mpirun )); then
    run_test "template.sbatch + mpirun: scancel --batch --signal=TERM stops every rank (exit 3)" \
      t_hello_stop mpirun
  fi
  if (( quick )); then
    skip "template.sbatch: --signal=B:TERM before the time limit (SLUICE_SLURM_QUICK=1)"
  else
    run_test "template.sbatch: --signal=B:TERM before the time limit stops every rank (exit 3)" \
      t_hello_timelimit
  fi
  run_test "array.sbatch: one task per file, %2 throttle, groups, index past the list" \
    t_hello_array
fi
run_test "jobscript: app not found in SLUICE_BIN gives exit 2 and a message" t_missing_program
ckflow="$build/tests/ckpt/ckpt_flow"
if [[ -x $ckflow ]]; then
  run_test "checkpoint: scancel --batch --signal=USR1, requeued, resumed, output identical" \
    t_ckpt_requeue
else
  skip "checkpoint requeue: no $ckflow"
fi

# ---- sluice-wordcount -----------------------------------------------------------------
wc_bin="$prefix/bin"
gen_bin="$prefix/bin/sluice-gen"
# sl_init logs at info: "sluice[job J rank R] info: binding: bound to core N (...)" or
# "... binding: kept existing binding to core N" (srun --cpu-bind=cores already bound it).
bind_re='^sluice\[[^]]*rank ([0-9]+)\] info: binding: .*(bound|binding) to core ([0-9]+)'

# The app's command line: sluice-wordcount [--top K] [-o OUT.tsv] [--force] FILE...

t_wc() {  # t_wc LAUNCHER
  local out="$work/wc-$1.out" res="$work/wc-$1.tsv" id
  gen_text "$work/wc-a.txt" 400 1
  gen_text "$work/wc-b.txt" 250 2
  id=$(SLUICE_LAUNCHER=$1 SLUICE_OPTS=--sl-log-level=info \
    submit "$out" -n 2 "$jobscripts/sluice-wordcount.sbatch" \
    -o "$res" wc-a.txt wc-b.txt) || return 1
  wait_job "$id" || { show_output "$out"; return 1; }
  show_output "$out"
  expect_exit 0:0 || return 1
  [[ -e $res ]] || fail "no output $res" || return 1
  if ! diff <(oracle "$work/wc-a.txt" "$work/wc-b.txt") <(normalized "$res") >"$work/wc.diff"; then
    head -n 20 "$work/wc.diff"
    fail "counts differ from the coreutils oracle (< oracle, > sluice)" || return 1
  fi
  distinct_cores "$out" "$bind_re" 3 || return 1
}

t_wc_bad_input() {
  local out="$work/wc-bad.out" res="$work/wc-bad.tsv" id
  id=$(submit "$out" -n 2 "$jobscripts/sluice-wordcount.sbatch" \
    -o "$res" no-such-file.txt) || return 1
  wait_job "$id" || return 1
  show_output "$out"
  [[ $JOB_EXIT != 0:0 ]] || fail "a missing input gave ExitCode=0:0" || return 1
  [[ $JOB_STATE == FAILED ]] || fail "state $JOB_STATE, expected FAILED" || return 1
  [[ ! -e $res ]] || fail "output $res exists after a failure"
}

t_wc_stop() {
  local out="$work/wc-stop.out" res="$work/wc-stop.tsv" big="$work/wc-big.txt" id i t0
  if [[ ! -s $big && -x $gen_bin ]]; then
    "$gen_bin" text --size "${stop_mb}M" --seed 7 -o "$big" || fail "sluice-gen failed" ||
      return 1
  elif [[ ! -s $big ]]; then
    gen_text "$work/chunk.txt" 40000 3  # ~1 MB
    echo >>"$work/chunk.txt"
    for ((i = 0; i < stop_mb; i++)); do cat "$work/chunk.txt"; done >"$big"
  fi
  local inputs=()
  for ((i = 0; i < stop_repeat; i++)); do inputs+=(wc-big.txt); done
  echo "input: $(du -h "$big" | cut -f1), listed $stop_repeat times"
  id=$(SLUICE_OPTS=--sl-log-level=info SLUICE_ON_STOP="echo \$SLUICE_EXIT >$work/on-stop" \
    submit "$out" -n 2 \
    "$jobscripts/sluice-wordcount.sbatch" -o "$res" "${inputs[@]}") || return 1
  # Both ranks are past sl_init (signal handlers installed) once they report their binding.
  wait_output "$out" "$bind_re" 2 || { scancel "$id"; show_output "$out"; return 1; }
  sleep 0.5
  t0=$SECONDS
  scancel --batch --signal=TERM "$id"
  wait_job "$id" || { show_output "$out"; return 1; }
  show_output "$out"
  echo "stopped $((SECONDS - t0)) s after the signal"
  [[ $JOB_EXIT != 0:0 ]] ||
    fail "the job finished before the signal took effect: raise SLUICE_SLURM_STOP_REPEAT" ||
    return 1
  expect_exit 3:0 || return 1
  grep -qE '^sluice.* error: .*stopped by a signal' "$out" ||
    fail "no message from sluice about the stop in the job output" || return 1
  [[ ! -e $res ]] || fail "output $res exists after a stop" || return 1
  local left
  left=$(find "$work" -maxdepth 1 -name ".${res##*/}.*")
  [[ -z $left ]] || fail "temporary output left behind: $left" || return 1
  [[ $(cat "$work/on-stop" 2>/dev/null) == 3 ]] || fail "SLUICE_ON_STOP did not run with SLUICE_EXIT=3"
}

t_wc_array() {
  local list="$work/wc-files.txt" outdir="$work/wc-array" id i
  : >"$list"
  for i in 0 1 2; do
    gen_text "$work/wc-arr-$i.txt" $((100 + 50 * i)) $((10 + i))
    echo "wc-arr-$i.txt" >>"$list"
  done
  id=$(SLUICE_ARRAY_SUFFIX=tsv submit "$work/wc-array-%A_%a.out" -n 2 \
    --array=0-2%2 "$jobscripts/array.sbatch" "$list" "$outdir" \
    -o '{out}' '{in}') || return 1
  wait_job "$id" || return 1
  echo "states: $JOB_STATE; exit codes: $JOB_EXIT"
  expect_exit "0:0 0:0 0:0" || { cat "$work"/wc-array-"$id"_*.out; return 1; }
  for i in 0 1 2; do
    diff <(oracle "$work/wc-arr-$i.txt") <(normalized "$outdir/wc-arr-$i.tsv") |
      head -n 10 | grep . && { fail "array task $i: counts differ"; return 1; }
  done
  return 0
}

if [[ -x $wc_bin/sluice-wordcount ]]; then
  run_test "sluice-wordcount.sbatch + srun: counts match coreutils, 2 ranks on distinct cores" \
    t_wc srun
  if (( have_mpirun )); then
    run_test "sluice-wordcount.sbatch + mpirun: counts match coreutils, distinct cores" \
      t_wc mpirun
  fi
  run_test "sluice-wordcount.sbatch: missing input fails the job, no output" t_wc_bad_input
  run_test "sluice-wordcount.sbatch: stop signal gives exit 3, a message, no output, SLUICE_ON_STOP" \
    t_wc_stop
  run_test "array.sbatch + sluice-wordcount: one task per file" t_wc_array
else
  skip "sluice-wordcount.sbatch: app not built yet ($wc_bin/sluice-wordcount)"
fi

# ---- the HDF5 apps: sluice-h5stats, sluice-h5groupby, sluice-h5sort ---------------------
# One particle table from sluice-gen (written here, before the jobs are submitted); each
# jobscript runs its app on it at 2 tasks and the output is checked with the oracles of
# the app tests: h5oracle (tests/h5, for h5stats and h5groupby) and h5sort_check
# (tests/apps, for h5sort), taken from BUILD_DIR or else compiled here with h5pcc (or
# mpicc and pkg-config's hdf5).
h5_in=particles.h5  # in $work, where the jobs start
h5_gen_args=(particles --rows 20000 --cells 64 --skew 1.2 --seed 5)

# h5_tool NAME SOURCE BUILT: print the path of a usable NAME (BUILT, else compiled here).
h5_tool() {
  local name=$1 src=$2 built=$3 exe="$tmp/$1" flags=()
  if [[ -x $built ]]; then echo "$built"; return 0; fi
  [[ -x $exe ]] && { echo "$exe"; return 0; }
  echo "# compiling $name from $src" >>"$tmp/h5cc.log"
  if command -v h5pcc >/dev/null &&
    h5pcc -O2 -o "$exe" "$src" -lm >>"$tmp/h5cc.log" 2>&1; then
    echo "$exe"
    return 0
  fi
  command -v mpicc >/dev/null && command -v pkg-config >/dev/null &&
    pkg-config --exists hdf5 || return 1
  read -r -a flags <<<"$(pkg-config --cflags --libs hdf5)"
  mpicc -O2 -o "$exe" "$src" "${flags[@]}" -lm >>"$tmp/h5cc.log" 2>&1 || return 1
  echo "$exe"
}

# h5_job NAME APP OUTFILE APP_ARGS...: submit APP's jobscript at 2 tasks with the app's
# info log (for the binding lines), wait, show the job output, require ExitCode=0:0, a
# result file OUTFILE and the 2 ranks on distinct cores.
h5_job() {
  local name=$1 app=$2 res=$3 out="$work/$1.out" id
  shift 3
  # --sl-progress=on: the last line of every run even when the run is shorter than
  # --sl-progress-interval (docs/observability.md), so a short test job's log has it too
  id=$(SLUICE_OPTS="--sl-log-level=info --sl-progress=on" \
    submit "$out" -n 2 "$jobscripts/$app.sbatch" "$@") || return 1
  wait_job "$id" || { show_output "$out"; return 1; }
  show_output "$out"
  expect_exit 0:0 || return 1
  [[ -s $work/$res ]] || fail "no output $work/$res" || return 1
  grep -q '^sluice: progress: .*done, 100.0% read' "$out" ||
    fail "no final 'sluice: progress: ... done, 100.0% read' line in the job's log" || return 1
  if [[ $app == sluice-h5stats ]]; then # two passes, each named
    grep -q '^sluice: progress: pass 1 of 2: done' "$out" && grep -q '^sluice: progress: pass 2 of 2: done' "$out" ||
      fail "no progress line of each pass (pass 1 of 2, pass 2 of 2) in the job's log" || return 1
  fi
  distinct_cores "$out" "$bind_re" 3
}

t_h5stats() {
  local res=h5stats.h5 fields=mass,x
  h5_job h5stats sluice-h5stats "$res" "$h5_in:/particles" --fields "$fields" -o "$res" ||
    return 1
  "$h5oracle" stats "$work/$h5_in:/particles" "$work/$res" --fields "$fields" ||
    fail "h5oracle: the statistics differ from the sequential oracle"
}

t_h5groupby() {
  local res=h5groupby.h5 agg=count,sum:mass,mean:x,min:id,max:id
  h5_job h5groupby sluice-h5groupby "$res" "$h5_in:/particles" --key cell --agg "$agg" \
    -o "$res:/grouped" || return 1
  "$h5oracle" groupby "$work/$h5_in:/particles" "$work/$res:/grouped" --key cell --agg "$agg" ||
    fail "h5oracle: the groups differ from the sequential oracle"
}

t_h5sort() {  # t_h5sort KEY [desc]
  local key=$1 desc=${2:-} res="h5sort-$1${2:+-desc}.h5"
  h5_job "h5sort-$key${desc:+-desc}" sluice-h5sort "$res" "$h5_in:/particles" --key "$key" \
    ${desc:+--descending} -o "$res:/sorted" || return 1
  "$h5sort_check" "$work/$h5_in" /particles "$work/$res" /sorted "$key" ${desc:+"$desc"} ||
    fail "h5sort_check: not the input rows in stable $key order${desc:+ (descending)}"
}

h5_ready=1
if [[ ! -x $gen_bin ]]; then
  h5_ready=0
  skip "HDF5 app jobscripts: sluice-gen not built yet ($gen_bin)"
elif ! "$gen_bin" "${h5_gen_args[@]}" -o "$work/$h5_in" >"$tmp/gen-particles.log" 2>&1; then
  h5_ready=0
  not_ok "sluice-gen ${h5_gen_args[*]}: the input of the HDF5 app jobscripts"
  diag <"$tmp/gen-particles.log"
fi
h5oracle=$(h5_tool h5oracle "$src/tests/h5/h5oracle.c" "$build/tests/h5/h5oracle") ||
  h5oracle=
h5sort_check=$(h5_tool h5sort_check "$src/tests/apps/h5sort_check.c" \
  "$build/tests/apps/h5sort_check") || h5sort_check=
no_tool() { echo "cannot build $1 (no h5pcc, or it failed: $(head -c 300 "$tmp/h5cc.log" 2>/dev/null))"; }

# h5_run APP TOOL NAME FUNCTION [ARGS]: run_test when APP, the input and TOOL are there.
h5_run() {
  local app=$1 tool=$2 name=$3
  shift 3
  if (( !h5_ready )); then
    return 0  # reported above
  elif [[ ! -x $prefix/bin/$app ]]; then
    skip "$name: app not built yet"
  elif [[ -z ${!tool} ]]; then
    skip "$name: $(no_tool "$tool")"
  else
    run_test "$name" "$@"
  fi
}
h5_run sluice-h5stats h5oracle \
  "sluice-h5stats.sbatch: mass,x statistics match h5oracle, 2 ranks on distinct cores" t_h5stats
h5_run sluice-h5groupby h5oracle \
  "sluice-h5groupby.sbatch: groups by cell match h5oracle, 2 ranks on distinct cores" t_h5groupby
h5_run sluice-h5sort h5sort_check \
  "sluice-h5sort.sbatch --key cell: h5sort_check passes, 2 ranks on distinct cores" t_h5sort cell
h5_run sluice-h5sort h5sort_check \
  "sluice-h5sort.sbatch --key mass --descending: h5sort_check passes, distinct cores" \
  t_h5sort mass desc

# array.sbatch over FILE:/dataset specs: two tables, one dataset name; each task's output
# is named from its input ({stem}: p1-particles, p2-particles), checked by h5oracle, and its
# log has progress lines; the resubmitted array with SLUICE_ARRAY_SKIP_EXISTING=1 skips both.
t_h5_array() {
  local list="$work/specs.txt" outdir="$work/h5-array" id i f
  : >"$list"
  for i in 1 2; do
    "$gen_bin" particles --rows 3000 --cells 16 --seed $((20 + i)) -o "$work/p$i.h5" ||
      fail "sluice-gen p$i.h5" || return 1
    echo "p$i.h5:/particles" >>"$list"
  done
  # --sl-progress=on: a last progress line per run, however short (see h5_job)
  local agg=count,sum:mass,max:id
  id=$(SLUICE_APP=sluice-h5groupby SLUICE_ARRAY_SUFFIX=h5 SLUICE_OPTS=--sl-progress=on \
    submit "$work/h5-array-%A_%a.out" -n 2 --array=0-1 "$jobscripts/array.sbatch" "$list" \
    "$outdir" '{in}' --key cell --agg "$agg" -o '{out}:/grouped') || return 1
  wait_job "$id" || return 1
  echo "states: $JOB_STATE; exit codes: $JOB_EXIT"
  expect_exit "0:0 0:0" || { cat "$work"/h5-array-"$id"_*.out; return 1; }
  for i in 1 2; do
    f="$work/h5-array-${id}_$((i - 1)).out"
    grep -q '^sluice: progress: ' "$f" || { show_output "$f"; fail "task $((i - 1)): no progress line"; } ||
      return 1
    "$h5oracle" groupby "$work/p$i.h5:/particles" "$outdir/p$i-particles.h5:/grouped" --key cell \
      --agg "$agg" ||
      fail "h5oracle: $outdir/p$i-particles.h5 differs from the sequential oracle" || return 1
  done
  id=$(SLUICE_APP=sluice-h5groupby SLUICE_ARRAY_SUFFIX=h5 SLUICE_ARRAY_SKIP_EXISTING=1 \
    submit "$work/h5-skip-%A_%a.out" -n 2 --array=0-1 "$jobscripts/array.sbatch" "$list" \
    "$outdir" '{in}' --key cell --agg "$agg" -o '{out}:/grouped') || return 1
  wait_job "$id" || return 1
  expect_exit "0:0 0:0" || return 1
  for i in 0 1; do
    grep -q "exists: skipped" "$work/h5-skip-${id}_$i.out" ||
      { show_output "$work/h5-skip-${id}_$i.out"; fail "task $i was not skipped"; } || return 1
  done
}
h5_run sluice-h5groupby h5oracle \
  "array.sbatch over HDF5 specs: outputs named per input match h5oracle; skip-existing" t_h5_array

# ---- stop the cluster, nothing may be left --------------------------------------------
t_down() {
  local rc=0
  bring_down || rc=1
  cat "$tmp/slurm-down.log"
  local p left=()
  for p in /proc/[0-9]*; do
    case $(cat "$p/comm" 2>/dev/null) in
      munged|slurmctld|slurmd) tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$cluster/" ;;
      slurmstepd) tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qxF "SLURM_CONF=$cluster/slurm.conf" ;;
      *) false ;;
    esac && left+=("${p#/proc/}")
  done
  if (( ${#left[@]} )); then
    ps -o pid,comm,args -p "${left[@]}"
    fail "processes of the test cluster still running"
    return 1
  fi
  return $rc
}
run_test "slurm-down: every job cancelled, daemons stopped, nothing left running" t_down

echo "# total $((SECONDS - t_start)) s"
echo "$passed passed, $failed failed"
summary_done=1
(( failed == 0 ))
