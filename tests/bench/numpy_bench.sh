#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# numpy_bench.sh BUILD_DIR [ROWS]: the HDF5 apps against what a scientist writes with h5py
# and numpy (docs/benchmarks.md, "Against numpy (issue 14)").
#
# ROWS particle rows of 40 bytes (default 26843545 = 1 GiB; a plain count, or with a K/M
# suffix for 10^3/10^6), from `sluice-gen particles --rows ROWS --seed 1`, cached in
# BUILD_DIR/bench/particles-ROWS.h5 (the same file as bench_h5.sh's) and read once to warm
# the page cache. Configurations (BENCHES selects the groups):
#   stats    numpy     taskset -c CORE numpy_baselines.py stats: the table read with h5py,
#                      then per numeric field min, max, mean, std and np.histogram(bins=10)
#            sluice-N  mpirun -n N --bind-to BIND sluice-h5stats FILE:/particles (all
#                      numeric fields, its defaults: 10 bins over min..max, two passes)
#            raw-N     mpirun -n N bench_h5 rawread FILE:/particles 1048576: H5Dread of each
#                      rank's share (tests/h5/bench_h5.c), the read limit
#   groupby  numpy     np.unique(return_inverse) + np.bincount: count, sum:mass, mean:x by
#                      cell, written with h5py
#            sluice-N  sluice-h5groupby --key cell --agg count,sum:mass,mean:x -o OUT
#   sort     numpy     np.argsort(kind="stable") on mass, the rows reordered, written with h5py
#            sluice-N  sluice-h5sort --key mass -o OUT
# Every configuration runs REPS times; the order of the configurations rotates by one each
# round (round i starts with the i-th), so that a change of load hits all alike. Times:
# the whole process's wall time for every command (Python's start and imports, HDF5's open,
# mpirun's start included), and the time inside the program: sl_run's wall_seconds from
# --sl-stats (summed over the app's runs: sluice-h5stats makes two), numpy_baselines.py's
# own timer from opening the file, bench_h5's barrier-to-barrier time.
#
# Checks, so that no wrong answer is timed: before the rounds, one untimed sluice-h5stats
# run per rank count with -o, whose every statistic and histogram is compared with numpy's;
# in every round, the printed sluice-h5stats table against numpy's results and each
# sluice-h5groupby output against numpy's (same groups, counts equal, sums and means to
# 1e-9); in the first round, each sluice-h5sort output against the input stably sorted by
# numpy, row for row. Any difference stops the script (exit 1).
#
# The table: medians of both times, the ratios numpy median / sluice median (> 1: sluice is
# faster) on wall times and on in-program times, raw's in-program median / sluice's
# in-program median for stats, the numpy programs' own split (h5py read, numpy compute,
# print or h5py write; medians), and PASS/MISS against issue 14's targets (on wall times):
#   stats   1 rank >= 1.0x numpy, 2 ranks >= 1.8x numpy, >= 0.3x raw H5Dread (goal 0.5x)
#   groupby 2 ranks >= 1.5x numpy          sort 2 ranks >= 1.5x numpy
#
# Environment: REPS (5), BENCHES ("stats groupby sort"), STATS_RANKS ("1 2"), RANKS (the
# groupby and sort ranks, "2"), MPIRUN (mpirun), MPIRUN_FLAGS, BIND (core), CORE (numpy's
# core, 0), PYTHON (/usr/bin/python3), GEN_RANKS (2), SL_OPTS (extra --sl-* options),
# WRITE_DIR (outputs: /dev/shm when it has room, else BUILD_DIR/bench). Results also go to
# BUILD_DIR/bench/numpy-ROWS.tsv.
set -u -o pipefail
export LC_ALL=C
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

BUILD=${1:?usage: numpy_bench.sh BUILD_DIR [ROWS]}
ROWS_ARG=${2:-26843545}
REPS=${REPS:-5}
BENCHES=${BENCHES-stats groupby sort}
STATS_RANKS=${STATS_RANKS-1 2}
RANKS=${RANKS-2}
MPIRUN=${MPIRUN:-mpirun}
MPIRUN_FLAGS=${MPIRUN_FLAGS:-}
BIND=${BIND:-core}
CORE=${CORE:-0}
GEN_RANKS=${GEN_RANKS:-2}
SL_OPTS=${SL_OPTS:-}
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=python3

die() { echo "numpy_bench: $*" >&2; exit 1; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HELPER=$HERE/numpy_baselines.py
BUILD=$(cd "$BUILD" && pwd) || exit 1
GEN=$BUILD/apps/sluice-gen/sluice-gen
STATS=$BUILD/apps/sluice-h5stats/sluice-h5stats
GROUPBY=$BUILD/apps/sluice-h5groupby/sluice-h5groupby
SORT=$BUILD/apps/sluice-h5sort/sluice-h5sort
RAW=$BUILD/tests/h5/bench_h5
for x in "$GEN" "$STATS" "$GROUPBY" "$SORT" "$RAW"; do
  [ -x "$x" ] || die "$x is missing: build it first (cmake --build $BUILD)"
done
"$PYTHON" -c 'import numpy, h5py' 2>/dev/null ||
  die "$PYTHON cannot import numpy and h5py (Debian: python3-numpy python3-h5py)"
case $ROWS_ARG in
  *[kK]) ROWS=$((${ROWS_ARG%?} * 1000)) ;;
  *[mM]) ROWS=$((${ROWS_ARG%?} * 1000000)) ;;
  *) ROWS=$ROWS_ARG ;;
esac
{ [[ $ROWS =~ ^[0-9]+$ ]] && [ "$ROWS" -gt 0 ]; } || die "bad ROWS '$ROWS_ARG'"
BYTES=$((ROWS * 40))
for b in $BENCHES; do
  case $b in stats | groupby | sort) ;; *) die "bad BENCHES entry '$b' (stats groupby sort)" ;; esac
done

PIN=()
if command -v taskset >/dev/null 2>&1 && [ "$BIND" != none ]; then PIN=(taskset -c "$CORE"); fi
mkdir -p "$BUILD/bench" || exit 1
if [ -z "${WRITE_DIR:-}" ]; then
  WRITE_DIR=$BUILD/bench
  shm_free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 * 1024 }')
  if [ -n "$shm_free" ] && [ "$shm_free" -gt $((4 * BYTES)) ]; then WRITE_DIR=/dev/shm; fi
fi
OUTDIR=$(mktemp -d "$WRITE_DIR/npbench.XXXXXX") || exit 1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/npbench.XXXXXX") || exit 1
trap 'rm -rf "$WORK" "$OUTDIR"' EXIT
echo "outputs go to $OUTDIR" >&2

IN=$BUILD/bench/particles-$ROWS.h5
if [ ! -s "$IN" ]; then
  echo "generating $IN ($ROWS rows, $BYTES bytes)" >&2
  # shellcheck disable=SC2086 # MPIRUN_FLAGS is a list
  "$MPIRUN" -n "$GEN_RANKS" $MPIRUN_FLAGS "$GEN" particles --rows "$ROWS" --seed 1 \
    -o "$IN.part:/particles" --force >&2 || die "sluice-gen failed"
  mv "$IN.part" "$IN" || exit 1
fi
cat "$IN" >/dev/null
SPEC=$IN:/particles
echo "input $IN: $ROWS rows, $BYTES bytes of rows, page cache warmed" >&2

# ---- the configurations: CMD[c] is the command line, KIND[c] how its time is read ----
declare -A CMD KIND TIMES PROG PARTS
CONFIGS=()
q() { printf "%q " "$@"; }
mp() { printf "%s%s %s" "$(q "$MPIRUN" -n "$1" --bind-to "$BIND")" "$MPIRUN_FLAGS" ""; }
# SL_OPTS and MPIRUN_FLAGS are lists: left unquoted on purpose
slo() { printf "%s %s" "$(q --sl-stats="$WORK/st.jsonl")" "$SL_OPTS"; }
for b in $BENCHES; do
  case $b in
    stats)
      CONFIGS+=(stats.numpy)
      CMD[stats.numpy]="$(q "${PIN[@]}" "$PYTHON" "$HELPER" stats "$IN" /particles)"
      for n in $STATS_RANKS; do
        CONFIGS+=("stats.sluice-$n" "stats.raw-$n")
        CMD[stats.sluice-$n]="$(mp "$n") $(q "$STATS" "$SPEC") $(slo)"
        CMD[stats.raw-$n]="$(mp "$n") $(q "$RAW" rawread "$SPEC" 1048576)"
        KIND[stats.raw-$n]=raw
      done ;;
    groupby)
      CONFIGS+=(groupby.numpy)
      CMD[groupby.numpy]="$(q "${PIN[@]}" "$PYTHON" "$HELPER" groupby "$IN" /particles cell mass x "$OUTDIR/np-groupby.h5" /by_cell)"
      for n in $RANKS; do
        CONFIGS+=("groupby.sluice-$n")
        CMD[groupby.sluice-$n]="$(mp "$n") $(q "$GROUPBY" "$SPEC" --key cell --agg count,sum:mass,mean:x -o "$OUTDIR/sl-groupby.h5:/by_cell" --force) $(slo)"
      done ;;
    sort)
      CONFIGS+=(sort.numpy)
      CMD[sort.numpy]="$(q "${PIN[@]}" "$PYTHON" "$HELPER" sort "$IN" /particles mass "$OUTDIR/np-sort.h5" /particles)"
      for n in $RANKS; do
        CONFIGS+=("sort.sluice-$n")
        CMD[sort.sluice-$n]="$(mp "$n") $(q "$SORT" "$SPEC" --key mass -o "$OUTDIR/sl-sort.h5:/particles" --force) $(slo)"
      done ;;
  esac
done
for c in "${CONFIGS[@]}"; do
  [ -n "${KIND[$c]:-}" ] || case $c in *.numpy) KIND[$c]=numpy ;; *) KIND[$c]=sluice ;; esac
done

now() { date +%s.%N; }
helper() { "$PYTHON" "$HELPER" "$@" >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log" >&2; die "check failed: $*"; }; sed 's/^/    /' "$WORK/check.log" >&2; }

# check CONFIG ROUND: the output of the run just made (see the header)
check() {
  local c=$1 i=$2
  case $c in
    stats.numpy) cp "$WORK/run.log" "$WORK/np-stats.out" ;;
    stats.sluice-*) helper check-stats "$WORK/np-stats.out" "$WORK/run.log" ;;
    groupby.sluice-*) helper check-groupby "$OUTDIR/np-groupby.h5" "$OUTDIR/sl-groupby.h5" /by_cell cell ;;
    sort.sluice-*) [ "$i" = 1 ] && helper check-sort "$IN" /particles mass "$OUTDIR/sl-sort.h5" /particles ;;
  esac
  return 0
}

# run_once CONFIG ROUND: one timed run; appends the wall time to TIMES[CONFIG] and the
# in-program time to PROG[CONFIG].
run_once() {
  local c=$1 i=$2 t0 t1 wall secs
  rm -f "$WORK/st.jsonl"
  t0=$(now)
  # shellcheck disable=SC2086 # CMD holds a command line
  eval "${CMD[$c]}" >"$WORK/run.log" 2>&1 || { cat "$WORK/run.log" >&2; die "$c failed"; }
  t1=$(now)
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  case ${KIND[$c]} in
    numpy) secs=$(sed -n "s/^numpy_baselines .* rows=$ROWS seconds=\([0-9.]*\) .* ok$/\1/p" "$WORK/run.log") ;;
    raw) secs=$(sed -n "s/^bench_h5 rawread .*rows=$ROWS .*seconds=\([0-9.]*\) .*ok$/\1/p" "$WORK/run.log") ;;
    sluice) secs=$("$PYTHON" -c 'import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
assert rs and all(r["status"] == "ok" for r in rs)
print("%.4f" % sum(r["wall_seconds"] for r in rs))' "$WORK/st.jsonl" 2>/dev/null) ;;
  esac
  [ -n "$secs" ] || { cat "$WORK/run.log" >&2; die "$c: no time (or a wrong row count) in its output"; }
  check "$c" "$i"
  if [ "${KIND[$c]}" = numpy ]; then
    PARTS[$c]="${PARTS[$c]:-}$(sed -n 's/^numpy_baselines .* read=\([0-9.]*\) compute=\([0-9.]*\) write=\([0-9.]*\) ok$/\1 \2 \3/p' "$WORK/run.log")
"
  fi
  TIMES[$c]="${TIMES[$c]:-} $wall"
  PROG[$c]="${PROG[$c]:-} $secs"
  echo "  $c: wall $wall s, in program $secs s" >&2
}

# Before the rounds (untimed): numpy's stats, then every histogram of sluice-h5stats -o.
if [[ " ${CONFIGS[*]} " == *" stats.numpy "* ]]; then
  run_once stats.numpy 0
  TIMES[stats.numpy]='' PROG[stats.numpy]='' PARTS[stats.numpy]=''
  for n in $STATS_RANKS; do
    # shellcheck disable=SC2086
    eval "$(mp "$n") $(q "$STATS" "$SPEC" -o "$OUTDIR/sl-stats.h5" --force)" >"$WORK/run.log" 2>&1 ||
      { cat "$WORK/run.log" >&2; die "sluice-h5stats -o at $n ranks failed"; }
    helper check-stats "$WORK/np-stats.out" "$WORK/run.log" "$OUTDIR/sl-stats.h5"
  done
  echo "stats: sluice-h5stats at ${STATS_RANKS// /, } rank(s) agrees with numpy, histograms included" >&2
fi

loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }
LOAD_BEFORE=$(loadavg)
START=$(date -u '+%Y-%m-%d %H:%M UTC')
echo "load before: $LOAD_BEFORE" >&2
nc=${#CONFIGS[@]}
for ((i = 1; i <= REPS; i++)); do
  echo "round $i" >&2
  for ((k = 0; k < nc; k++)); do run_once "${CONFIGS[(k + i - 1) % nc]}" "$i"; done
done
LOAD_AFTER=$(loadavg)

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A MED MEDP
for c in "${CONFIGS[@]}"; do
  # shellcheck disable=SC2086 # a list of numbers
  MED[$c]=$(printf "%s\n" ${TIMES[$c]} | median)
  # shellcheck disable=SC2086
  MEDP[$c]=$(printf "%s\n" ${PROG[$c]} | median)
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "PASS" : "MISS") }'; }

RESULTS=$BUILD/bench/numpy-$ROWS.tsv
printf "config\tmedian_wall_s\tmedian_prog_s\tvs_numpy_wall\tvs_numpy_prog\tvs_raw_prog\ttarget\tverdict\truns_wall_s\truns_prog_s\n" >"$RESULTS"
echo
echo "against numpy: $ROWS rows x 40 bytes = $BYTES bytes, page cache warm, median of $REPS, $(nproc) cores, started $START"
printf "%-16s %9s %9s %8s %8s %8s  %-22s %s\n" config wall_s prog_s "np/wall" "np/prog" "raw/prog" "target" "runs: wall (s) | in program (s)"
for c in "${CONFIGS[@]}"; do
  b=${c%%.*} n=${c##*-} vn=- vp=- vr=- target='' v=''
  if [ "${KIND[$c]}" = sluice ]; then
    vn=$(ratio "${MED[$b.numpy]}" "${MED[$c]}")
    vp=$(ratio "${MEDP[$b.numpy]}" "${MEDP[$c]}")
    case $b.$n in
      stats.1) target=">= 1.0x numpy" v=$(verdict "$vn" 1.0) ;;
      stats.2) target=">= 1.8x numpy" v=$(verdict "$vn" 1.8) ;;
      groupby.2 | sort.2) target=">= 1.5x numpy" v=$(verdict "$vn" 1.5) ;;
    esac
    if [ "$b" = stats ] && [ -n "${MEDP[stats.raw-$n]:-}" ]; then
      vr=$(ratio "${MEDP[stats.raw-$n]}" "${MEDP[$c]}")
    fi
  elif [ "${KIND[$c]}" = raw ]; then
    vn=$(ratio "${MED[$b.numpy]}" "${MED[$c]}")
    vp=$(ratio "${MEDP[$b.numpy]}" "${MEDP[$c]}")
  fi
  runs="$(echo "${TIMES[$c]# }" | tr ' ' ',') | $(echo "${PROG[$c]# }" | tr ' ' ',')"
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$c" "${MED[$c]}" "${MEDP[$c]}" "$vn" "$vp" "$vr" \
    "$target" "$v" "$(echo "${TIMES[$c]# }" | tr ' ' ',')" "$(echo "${PROG[$c]# }" | tr ' ' ',')" >>"$RESULTS"
  printf "%-16s %9s %9s %8s %8s %8s  %-22s %s\n" "$c" "${MED[$c]}" "${MEDP[$c]}" "$vn" "$vp" "$vr" "$target${v:+ $v}" "$runs"
done
echo "(np/wall, np/prog: numpy's median / this median, on whole-process wall times and on"
echo " in-program times; > 1 means faster than numpy. raw/prog: raw H5Dread's in-program median at"
echo " the same rank count / sluice-h5stats' sl_run time (its two passes): the fraction of the read limit)"
for c in "${CONFIGS[@]}"; do
  [ "${KIND[$c]}" = numpy ] || continue
  printf "%s" "${PARTS[$c]}" | awk -v c="$c" '{ r[NR] = $1; p[NR] = $2; w[NR] = $3 }
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
      if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((n + 1) / 2)] }
    END { printf "%s in program, medians: h5py read %.3f s, numpy compute %.3f s, print/write %.3f s\n", c, med(r, NR), med(p, NR), med(w, NR) }'
done
for n in $STATS_RANKS; do
  if [ -z "${MEDP[stats.sluice-$n]:-}" ] || [ -z "${MEDP[stats.raw-$n]:-}" ]; then continue; fi
  r=$(ratio "${MEDP[stats.raw-$n]}" "${MEDP[stats.sluice-$n]}")
  echo "stats vs raw H5Dread at $n rank(s): ${r}x: target >= 0.3x $(verdict "$r" 0.3), goal >= 0.5x $(verdict "$r" 0.5)"
  printf "stats.vs_raw-%s\t%s\t\t\t\t%s\t>= 0.3x raw (goal 0.5x)\t%s\t\t\n" "$n" "" "$r" "$(verdict "$r" 0.3)" >>"$RESULTS"
done
echo "load average (1, 5, 15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER"
echo "results: $RESULTS"
