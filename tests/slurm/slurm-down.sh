#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# shellcheck disable=SC2046  # pid lists are split into words on purpose
# slurm-down.sh DIR -- stop the private cluster that slurm-up.sh DIR started.
#
# 1. Cancels every job and waits until the queue is empty (`scontrol shutdown` alone would
#    leave the steps of running jobs alive: slurmstepd ignores SIGTERM).
# 2. Stops slurmd, slurmctld and munged by the pids in DIR/run/*.pid (and any process whose
#    command line names DIR, e.g. a daemon whose pid file had not appeared yet), waits for
#    them to exit and sends SIGKILL after a timeout.
# Safe to run more than once, and after a partial start. Exit status 0 when nothing of this
# cluster is left running, 1 otherwise. Messages go to stderr.
#
# Environment (optional): SLUICE_SLURM_TIMEOUT  seconds for each wait (default 30).
set -uo pipefail

me=${0##*/}
[[ $# -eq 1 ]] || { echo "usage: $me DIR" >&2; exit 2; }
[[ -d $1 ]] || { echo "$me: $1: no such directory (nothing to stop)" >&2; exit 0; }
dir=$(cd "$1" && pwd)
timeout_s=${SLUICE_SLURM_TIMEOUT:-30}
conf="$dir/slurm.conf"
export SLURM_CONF="$conf"

pid_from() { [[ -s $1 ]] && cat "$1" 2>/dev/null; }
alive() { kill -0 "$1" 2>/dev/null; }

# Daemons (munged, slurmctld, slurmd) whose command line names this cluster's directory
# (slurm-up.sh starts them with --socket=DIR/... or -f DIR/slurm.conf).
pids_naming_dir() {
  local p comm cmd
  for p in /proc/[0-9]*; do
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    case $comm in munged|slurmctld|slurmd) ;; *) continue ;; esac
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    [[ $cmd == *"$dir/"* ]] && echo "${p#/proc/}"
  done
}
# Step daemons of this cluster: slurmstepd inherits SLURM_CONF=DIR/slurm.conf from slurmd.
stepd_pids() {
  local p comm
  for p in /proc/[0-9]*; do
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    [[ $comm == slurmstepd ]] || continue
    tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qxF "SLURM_CONF=$conf" && echo "${p#/proc/}"
  done
}

# ---- 1. cancel all jobs, wait for an empty queue ---------------------------------------
ctld_pid=$(pid_from "$dir/run/slurmctld.pid")
if [[ -f $conf ]] && [[ -n $ctld_pid ]] && alive "$ctld_pid"; then
  jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
  if [[ -n ${jobs// } ]]; then
    echo "$me: cancelling jobs: $jobs" >&2
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
  fi
  deadline=$(( $(date +%s) + timeout_s ))
  while :; do
    left=$(squeue -h -o %A 2>/dev/null) || break
    [[ -z $left ]] && break
    if (( $(date +%s) >= deadline )); then
      echo "$me: queue still not empty after ${timeout_s}s: $(echo $left)" >&2
      break
    fi
    sleep 0.2
  done
fi

# ---- 2. stop the daemons --------------------------------------------------------------
stop_pids() {  # stop_pids NAME PID...
  local name=$1; shift
  local p pids=()
  for p in "$@"; do alive "$p" && pids+=("$p"); done
  (( ${#pids[@]} )) || return 0
  echo "$me: stopping $name (pid ${pids[*]})" >&2
  kill -TERM "${pids[@]}" 2>/dev/null
  local deadline=$(( $(date +%s) + timeout_s ))
  while :; do
    local left=()
    for p in "${pids[@]}"; do alive "$p" && left+=("$p"); done
    (( ${#left[@]} )) || return 0
    if (( $(date +%s) >= deadline )); then
      echo "$me: $name did not exit after ${timeout_s}s; sending SIGKILL to ${left[*]}" >&2
      kill -KILL "${left[@]}" 2>/dev/null
      sleep 0.5
      return 0
    fi
    sleep 0.1
  done
}

# slurmstepd ignores SIGTERM; one still alive here outlived its cancelled job.
stepds=$(stepd_pids)
if [[ -n $stepds ]]; then
  echo "$me: killing leftover slurmstepd: $(echo $stepds)" >&2
  kill -KILL $stepds 2>/dev/null
fi
# No job is left, so the three can stop together (each takes 1-3 s).
stop_pids "slurmd, slurmctld and munged" $(pid_from "$dir/run/slurmd.pid") \
  $(pid_from "$dir/run/slurmctld.pid") $(pid_from "$dir/run/munged.pid")
# Anything else started for this cluster (a daemon whose pid file was not written yet).
stop_pids "leftover processes of $dir" $(pids_naming_dir)

sleep 0.2
remaining="$(pids_naming_dir) $(stepd_pids)"
for f in slurmd slurmctld munged; do
  p=$(pid_from "$dir/run/$f.pid")
  [[ -n $p ]] && alive "$p" && remaining+=" $p"
done
if [[ -n ${remaining// } ]]; then
  echo "$me: still running:" $remaining >&2
  exit 1
fi
rm -f "$dir/munge/munge.socket.2" "$dir/munge/munge.socket.2.lock"
echo "$me: cluster in $dir stopped" >&2
exit 0
