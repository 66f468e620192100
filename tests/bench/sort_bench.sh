#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# sort_bench.sh BUILD_DIR [SIZE]: the global-sort benchmark (docs/benchmarks.md, "Sort").
#
# Sorts SIZE bytes (default 1G; suffixes K/M/G) of 16-byte records {uint64 key, uint64
# payload}, N = SIZE / 16 records with random keys (fixed seed), and compares:
#   qsort          sort_bench qsort N: the C library's qsort in one process, pinned to one
#                  core (taskset -c CORE); the time is qsort alone (generation excluded)
#   sluice N ranks mpirun -n N sort_bench sluice N: sl_flow_sort (a compare function) over
#                  a generator source; the time is sl_run's wall time on rank 0 (generating
#                  the records included)
#   sluice-key     the same with sl_flow_sort_by_key (the key as a number: radix sort)
# Both programs check their output (sorted, every record once) and fail otherwise. Each
# configuration runs REPS times (interleaved); the script prints the medians, MB/s (10^6 bytes of
# records per second), the ratio to qsort (qsort's median / this median: > 1 is faster)
# and the peak RSS of the largest process (GNU time, package "time"), the load average
# before and after (the machine may be shared), then whether the target holds: 2 ranks
# faster than the single-process qsort.
#
# Environment: REPS (3), SEED (1), RANKS ("1 2"), MODES ("sluice sluice-key"), MPIRUN (mpirun), MPIRUN_FLAGS (extra
# mpirun flags), BIND (core: mpirun --bind-to BIND), CORE (qsort's core, 0),
# SL_OPTS (extra --sl-* options for the sluice runs, e.g. "--sl-sort-memory-bytes=1G").
# Sort spills go to $TMPDIR (or /tmp). Results also go to BUILD_DIR/bench/sort-SIZE.tsv
# (sort-SIZE-OPTIONS.tsv with SL_OPTS).
set -u -o pipefail
export LC_ALL=C
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

BUILD=${1:?usage: sort_bench.sh BUILD_DIR [SIZE]}
SIZE_ARG=${2:-1G}
REPS=${REPS:-3}
SEED=${SEED:-1}
RANKS=${RANKS-1 2}
MODES=${MODES-sluice sluice-key}
MPIRUN=${MPIRUN:-mpirun}
MPIRUN_FLAGS=${MPIRUN_FLAGS:-}
BIND=${BIND:-core}
CORE=${CORE:-0}
SL_OPTS=${SL_OPTS:-}

die() { echo "sort_bench: $*" >&2; exit 1; }
BUILD=$(cd "$BUILD" && pwd) || exit 1
EXE=$BUILD/tests/bench/sort_bench
[ -x "$EXE" ] || die "$EXE is missing: build it first (cmake --build $BUILD --target sort_bench)"
mkdir -p "$BUILD/bench" || exit 1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sortbench.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT

to_bytes() {
  local s=$1 n=${1%[kKmMgG]}
  case $s in
    *[kK]) echo $((n << 10)) ;;
    *[mM]) echo $((n << 20)) ;;
    *[gG]) echo $((n << 30)) ;;
    *) echo "$n" ;;
  esac
}
[[ $SIZE_ARG =~ ^[0-9]+[kKmMgG]?$ ]] || die "bad SIZE '$SIZE_ARG' (e.g. 64M, 1G)"
SIZE=$(to_bytes "$SIZE_ARG")
N=$((SIZE / 16))
[ "$N" -gt 0 ] || die "SIZE must be at least 16 bytes"
SIZE=$((N * 16))

GNU_TIME=
if /usr/bin/time -f %M true >/dev/null 2>&1; then GNU_TIME=/usr/bin/time; fi
[ -n "$GNU_TIME" ] || echo "note: GNU time is not installed (apt-get install time): no RSS" >&2
PIN=()
if command -v taskset >/dev/null 2>&1; then PIN=(taskset -c "$CORE"); fi

# Each process's peak RSS (KiB) goes to $WORK/rss.RANK.
cat >"$WORK/rsswrap.sh" <<'WRAP'
#!/bin/sh
r=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${PMI_RANK:-0}}}
if [ -n "$BENCH_TIME" ]; then exec "$BENCH_TIME" -f %M -o "$BENCH_RSS_DIR/rss.$r" "$@"; fi
exec "$@"
WRAP
chmod +x "$WORK/rsswrap.sh"
export BENCH_TIME=$GNU_TIME BENCH_RSS_DIR=$WORK

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A TIMES RSS CMD

# run_once NAME: one run of the configuration; appends its "seconds=" figure to TIMES[NAME]
# and keeps the largest peak RSS in RSS[NAME].
run_once() {
  local name=$1 secs r
  rm -f "$WORK"/rss.*
  # shellcheck disable=SC2086 # CMD holds a command line
  eval "${CMD[$name]}" >"$WORK/run.log" 2>&1 || { cat "$WORK/run.log" >&2; echo "$name: run failed" >&2; return 1; }
  secs=$(sed -n 's/.* seconds=\([0-9.]*\) .*ok$/\1/p' "$WORK/run.log" | head -1)
  [ -n "$secs" ] || { cat "$WORK/run.log" >&2; echo "$name: the run printed no time" >&2; return 1; }
  TIMES[$name]="${TIMES[$name]:-} $secs"
  r=-
  if ls "$WORK"/rss.* >/dev/null 2>&1; then
    r=$(cat "$WORK"/rss.* | awk '$1 ~ /^[0-9]+$/ && $1 > m { m = $1 } END { printf "%.0f", m / 1024 }')
  fi
  if [ "$r" = - ] || [ "${RSS[$name]:-0}" = - ]; then RSS[$name]=-; elif [ "$r" -gt "${RSS[$name]:-0}" ]; then RSS[$name]=$r; fi
  echo "  $name: $(grep -h ' ok$' "$WORK/run.log"), peak RSS $r MiB" >&2
}

q() { printf "%q " "$@"; }
CONFIGS=(qsort)
CMD[qsort]="$(q "${PIN[@]}" "$WORK/rsswrap.sh" "$EXE" qsort "$N" "$SEED")"
for m in $MODES; do
  case $m in sluice | sluice-key) ;; *) die "bad MODES entry '$m' (sluice, sluice-key)" ;; esac
  for n in $RANKS; do
    CONFIGS+=("$m-${n}rank")
    # MPIRUN_FLAGS and SL_OPTS are lists: left unquoted on purpose
    CMD[$m-${n}rank]="$(q timeout 3600 "$MPIRUN" -n "$n" --bind-to "$BIND") $MPIRUN_FLAGS $(q "$WORK/rsswrap.sh" "$EXE" "$m" "$N" "$SEED") $SL_OPTS"
  done
done

# The repetitions are interleaved (qsort, 1 rank, 2 ranks, qsort, ...) so that a change of
# load on a shared machine hits every configuration alike.
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }
LOAD_BEFORE=$(loadavg)
echo "sort: $N records of 16 bytes ($SIZE bytes), seed $SEED, $REPS runs each" >&2
for ((i = 1; i <= REPS; i++)); do
  echo "round $i" >&2
  for c in "${CONFIGS[@]}"; do run_once "$c" || exit 1; done
done
LOAD_AFTER=$(loadavg)
declare -A MED
for c in "${CONFIGS[@]}"; do
  # shellcheck disable=SC2086 # a list of numbers
  MED[$c]=$(printf "%s\n" ${TIMES[$c]} | median)
done

TAG=
[ -n "$SL_OPTS" ] && TAG=-$(printf "%s" "$SL_OPTS" | tr -c 'A-Za-z0-9=.-' '_' | tr -s '_-' | sed 's/^[-_]*//')
RESULTS=$BUILD/bench/sort-$SIZE_ARG$TAG.tsv
printf "config\tmedian_s\tMB_s\tvs_qsort\tpeak_rss_MiB_per_rank\truns_s\n" >"$RESULTS"
echo
echo "global sort of $SIZE_ARG ($N records of 16 bytes, 8-byte key), median of $REPS runs, $(nproc) cores"
printf "%-18s %10s %9s %9s %14s  %s\n" config median_s MB/s vs_qsort peak_RSS_MiB runs_s
for c in "${CONFIGS[@]}"; do
  line=$(awk -v t="${MED[$c]}" -v q="${MED[qsort]}" -v s="$SIZE" \
    'BEGIN { printf "%.3f\t%.1f\t%.2f", t, s / t / 1e6, q / t }')
  runs=$(echo "${TIMES[$c]# }" | tr ' ' ',')
  printf "%s\t%s\t%s\t%s\n" "$c" "$line" "${RSS[$c]}" "$runs" >>"$RESULTS"
  IFS=$'\t' read -r t mbs vq <<<"$line"
  printf "%-18s %10s %9s %8sx %14s  %s\n" "$c" "$t" "$mbs" "$vq" "${RSS[$c]}" "$runs"
done
echo "(vs_qsort = qsort's median / this median; qsort times the sort alone, sluice times sl_run, generation included)"
echo "load average (1, 5, 15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER"
for m in $MODES; do
  [ -n "${MED[$m-2rank]:-}" ] || continue
  if awk -v a="${MED[$m-2rank]}" -v b="${MED[qsort]}" 'BEGIN { exit !(a < b) }'; then
    echo "target (2 ranks faster than qsort), $m: met"
  else
    echo "target (2 ranks faster than qsort), $m: NOT met"
  fi
done
echo "results: $RESULTS"
