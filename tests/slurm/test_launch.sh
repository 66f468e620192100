#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test_launch.sh -- sluice-launch without Slurm (ctest jobscripts.launch, a few seconds):
# the command it builds (--dry-run) for srun and mpirun, the app lookup, SLUICE_OPTS' %j,
# the array substitutions ({in} inside an argument, {stem}, {index}, {out}, groups, a list
# of FILE:/dataset specs, two inputs with one output name, skip-existing), module loading
# through a stand-in `module`, and the signal forwarding and SLUICE_ON_STOP hook through a
# stand-in `mpirun`; and that each jobscript beside it calls it with its app and arguments
# (or fails with status 2 when it cannot find it). The real launches are tested under
# Slurm by run-slurm-tests.sh.
#   usage: test_launch.sh [SLUICE_LAUNCH]   (default: jobscripts/sluice-launch)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
launch=${1:-$here/../../jobscripts/sluice-launch}
tmp=$(mktemp -d /tmp/sluice-launch-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
failed=0 n=0

# Clean slate: no Slurm job, no sluice settings from the caller.
unset "${!SLUICE_@}" "${!SLURM_@}"
mkdir -p bin stand-in
printf '#!/bin/sh\necho app "$@"\n' >bin/app
chmod +x bin/app

# check NAME WANT_STATUS WANT_STDOUT [ENV=VALUE...] -- ARGS: run sluice-launch with ARGS
# under env, compare status and stdout exactly; stderr is kept in $tmp/err.
check() {
  local name=$1 want_rc=$2 want_out=$3 envs=()
  shift 3
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  local out rc
  out=$(env "${envs[@]}" "$launch" "$@" 2>"$tmp/err")
  rc=$?
  n=$((n + 1))
  if [[ $rc == "$want_rc" && $out == "$want_out" ]]; then
    echo "ok - $name"
  else
    failed=$((failed + 1))
    echo "not ok - $name"
    echo "#   status $rc (want $want_rc)"
    echo "#   stdout: $out"
    echo "#   want:   $want_out"
    sed 's/^/#   stderr: /' "$tmp/err"
  fi
}
err_has() {  # err_has NAME TEXT: the last check's stderr contains TEXT
  n=$((n + 1))
  if grep -qF -- "$2" "$tmp/err"; then echo "ok - $1"; else
    failed=$((failed + 1))
    echo "not ok - $1: no '$2' in stderr:"
    sed 's/^/#   /' "$tmp/err"
  fi
}

A=$tmp/bin/app
# ---- the command ----------------------------------------------------------------------
check "mpirun: -n, binding, SLUICE_OPTS with %j in front of the arguments" 0 \
  "mpirun -n 3 --map-by slot:PE=2 --bind-to core $A --sl-stats=s-77.json --x a b" \
  SLURM_JOB_ID=77 SLURM_NTASKS=3 SLURM_CPUS_PER_TASK=2 SLUICE_LAUNCHER=mpirun \
  SLUICE_BIN="$tmp/bin" "SLUICE_OPTS=--sl-stats=s-%j.json --x" -- --dry-run app a b
check "srun: the MPI plugin, no binding, extra options" 0 \
  "srun --mpi=pmi2 --ntasks=4 --exclusive $A a\\ b" \
  SLURM_JOB_ID=1 SLURM_NTASKS=4 SLUICE_LAUNCHER=srun SLUICE_SRUN_MPI=pmi2 SLUICE_BIND=none \
  SLUICE_SRUN_OPTS=--exclusive SLUICE_BIN="$tmp/bin" -- --dry-run app "a b"
check "auto outside a job: mpirun" 0 "mpirun -n 1 --map-by slot:PE=1 --bind-to core $A" \
  SLUICE_BIN="$tmp/bin" -- --dry-run app
cp "$launch" bin/sluice-launch
launch_saved=$launch
launch=$tmp/bin/sluice-launch
check "the app is found beside sluice-launch" 0 \
  "mpirun -n 1 --map-by slot:PE=1 --bind-to core $A x" -- --dry-run app x
launch=$launch_saved
check "an app not found: status 2" 2 "" SLUICE_BIN="$tmp/nowhere" -- --dry-run app
err_has "an app not found: the message" "cannot execute $tmp/nowhere/app"
check "a bad SLUICE_LAUNCHER: status 2" 2 "" SLUICE_LAUNCHER=qsub SLUICE_BIN="$tmp/bin" -- \
  --dry-run app
err_has "a bad SLUICE_LAUNCHER: the message" "SLUICE_LAUNCHER=qsub: use auto, srun or mpirun"

# ---- arrays ---------------------------------------------------------------------------
printf '# inputs\n\nd/run1.h5:/particles\nd/run2.h5:/grp/gas\nbooks/moby.dick.txt\n' >specs.txt
M="mpirun -n 1 --map-by slot:PE=1 --bind-to core $A"
arr() { echo SLUICE_BIN="$tmp/bin" SLURM_ARRAY_TASK_ID="$1"; }
# shellcheck disable=SC2046
check "array: a spec, {in} {out} {stem} {index} inside arguments" 0 \
  "$M d/run2.h5:/grp/gas -o out/run2-grp-gas.h5:/stats --tag=run2-grp-gas-1" \
  $(arr 1) SLUICE_ARRAY_SUFFIX=h5 -- --dry-run --array specs.txt out/ app \
  '{in}' -o '{out}:/stats' '--tag={stem}-{index}'
# shellcheck disable=SC2046
check "array: default arguments -o {out} {in}" 0 "$M -o out/moby.dick.out books/moby.dick.txt" \
  $(arr 2) -- --dry-run --array specs.txt out app
printf 'a.h5\nsub/b.h5\n' >files.txt
# shellcheck disable=SC2046
check "array: {in}:/dataset on a list of files" 0 "$M a.h5:/particles -o o/a.h5" \
  $(arr 0) SLUICE_ARRAY_SUFFIX=h5 -- --dry-run --array files.txt o app '{in}:/particles' \
  -o '{out}'
# shellcheck disable=SC2046
check "array: a group repeats an {in} argument per input" 0 \
  "$M --in=d/run1.h5:/particles --in=d/run2.h5:/grp/gas o/group-0.out" \
  $(arr 0) SLUICE_ARRAY_GROUP=2 -- --dry-run --array specs.txt o app '--in={in}' '{out}'
# shellcheck disable=SC2046
check "array: a task past the list: status 2" 2 "" $(arr 3) -- --dry-run --array specs.txt o app
err_has "array: a task past the list: the message" "the list specs.txt has only 3 inputs"
check "array: not an array task: status 2" 2 "" SLUICE_BIN="$tmp/bin" -- --dry-run \
  --array specs.txt o app
printf 'x/a.h5:/p\ny/a.h5:/p\n' >dup.txt
# shellcheck disable=SC2046
check "array: two inputs with one output name: status 2" 2 "" $(arr 1) -- --dry-run \
  --array dup.txt o app
err_has "array: two inputs with one output name: the message" \
  "inputs 1 (y/a.h5:/p) and 0 (x/a.h5:/p) give the same output name 'a-p'"
# shellcheck disable=SC2046
check "array: {index} in the name makes them distinct" 0 "$M -o o/1-a-p.out y/a.h5:/p" \
  $(arr 1) -- --dry-run --array dup.txt o app -o 'o/{index}-{stem}.out' '{in}'
mkdir -p o
: >o/run1-particles.out
# shellcheck disable=SC2046
check "array: skip-existing: a task whose {out} exists ends with 0, runs nothing" 0 "" \
  $(arr 0) SLUICE_ARRAY_SKIP_EXISTING=1 -- --dry-run --array specs.txt o app
err_has "array: skip-existing: the message" "o/run1-particles.out exists: skipped"
# shellcheck disable=SC2046
check "array: skip-existing: the others run" 0 "$M -o o/run2-grp-gas.out d/run2.h5:/grp/gas" \
  $(arr 1) SLUICE_ARRAY_SKIP_EXISTING=1 -- --dry-run --array specs.txt o app
# shellcheck disable=SC2046
check "array: skip-existing without {out}: status 2" 2 "" $(arr 1) \
  SLUICE_ARRAY_SKIP_EXISTING=1 -- --dry-run --array specs.txt o app '{in}'

# ---- modules --------------------------------------------------------------------------
printf '#!/bin/sh\necho "$@" >>"%s/modules.log"\nfor m; do [ "$m" != bad ] || exit 1; done\n' \
  "$tmp" >stand-in/module
chmod +x stand-in/module
check "SLUICE_MODULES: module load, commas or spaces" 0 "$M" PATH="$tmp/stand-in:$PATH" \
  SLUICE_BIN="$tmp/bin" "SLUICE_MODULES=mpi/4,hdf5 hwloc" -- --dry-run app
n=$((n + 1))
if [[ $(cat modules.log 2>/dev/null) == "load mpi/4 hdf5 hwloc" ]]; then echo "ok - module load's arguments"; else
  failed=$((failed + 1)); echo "not ok - module load's arguments: $(cat modules.log 2>/dev/null)"
fi
check "SLUICE_MODULES: a failed module load: status 2" 2 "" PATH="$tmp/stand-in:$PATH" \
  SLUICE_BIN="$tmp/bin" SLUICE_MODULES=bad -- --dry-run app
err_has "SLUICE_MODULES: the message" "module load bad failed"

# ---- signals and the stop hook, with a stand-in mpirun --------------------------------
# It waits for SIGUSR1 (what sluice-launch must send on SIGTERM) and exits 3 like a
# stopped sluice job; SIGTERM itself would kill it (status 143).
cat >stand-in/mpirun <<EOF
#!/bin/bash
trap 'echo "mpirun: got USR1" >>"$tmp/mpirun.log"; exit 3' USR1
echo started >"$tmp/started"
while :; do sleep 0.05; done
EOF
chmod +x stand-in/mpirun
PATH="$tmp/stand-in:$PATH" SLUICE_LAUNCHER=mpirun SLUICE_BIN="$tmp/bin" \
  SLUICE_ON_STOP='echo "hook $SLUICE_EXIT" >"'"$tmp"'/hook.log"' "$launch" app 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do [[ -e started ]] && break; sleep 0.05; done
kill -TERM "$pid"
timeout 10 tail --pid="$pid" -f /dev/null
wait "$pid"
rc=$?
n=$((n + 1))
if [[ $rc == 3 && $(cat mpirun.log 2>/dev/null) == "mpirun: got USR1" &&
  $(cat hook.log 2>/dev/null) == "hook 3" ]]; then
  echo "ok - SIGTERM: SIGUSR1 to the launcher, status 3, SLUICE_ON_STOP ran"
else
  failed=$((failed + 1))
  echo "not ok - SIGTERM: status $rc (want 3); mpirun: $(cat mpirun.log 2>/dev/null);" \
    "hook: $(cat hook.log 2>/dev/null)"
  sed 's/^/#   /' "$tmp/err"
fi

# ---- the jobscripts call it -----------------------------------------------------------
# Run as plain bash scripts (sbatch only reads their #SBATCH lines) with SLUICE_LAUNCH set
# to a stand-in that prints its arguments, one a line.
jobs=$(dirname "$launch")
printf '#!/bin/sh\nfor a; do echo "$a"; done\n' >stand-in/echo-launch
chmod +x stand-in/echo-launch
job() {  # job NAME WANT SCRIPT [ENV=VALUE...] -- ARGS
  local name=$1 want=$2 script=$3 envs=() out rc
  shift 3
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  out=$(env "${envs[@]}" SLUICE_LAUNCH="$tmp/stand-in/echo-launch" bash "$jobs/$script" "$@" 2>"$tmp/err" | paste -sd'|')
  rc=$?
  n=$((n + 1))
  if [[ $rc == 0 && $out == "$want" ]]; then echo "ok - $name"; else
    failed=$((failed + 1))
    echo "not ok - $name: status $rc, arguments '$out' (want '$want')"
    sed 's/^/#   /' "$tmp/err"
  fi
}
for app in sluice-wordcount sluice-h5stats sluice-h5groupby sluice-h5sort; do
  job "$app.sbatch calls sluice-launch $app ARGS" "$app|a|b c" "$app.sbatch" -- a "b c"
done
job "template.sbatch: PROGRAM ARGS" "./prog|x" template.sbatch -- ./prog x
job "template.sbatch: SLUICE_PROGRAM" "/bin/prog|x" template.sbatch SLUICE_PROGRAM=/bin/prog -- x
job "array.sbatch: --array LIST OUTDIR SLUICE_APP ARGS" "--array|l.txt|o|sluice-h5sort|{in}|-o|{out}:/s" \
  array.sbatch SLUICE_APP=sluice-h5sort -- l.txt o '{in}' -o '{out}:/s'
n=$((n + 1))
out=$(env -i PATH=/usr/bin:/bin SLUICE_BIN="$tmp/nowhere" bash "$jobs/sluice-h5sort.sbatch" x 2>&1)
rc=$?
if [[ $rc == 2 && $out == *"sluice-launch not found"* ]]; then
  echo "ok - a jobscript without sluice-launch: status 2, a message"
else
  failed=$((failed + 1))
  echo "not ok - a jobscript without sluice-launch: status $rc: $out"
fi

echo "$((n - failed)) passed, $failed failed"
((failed == 0))
