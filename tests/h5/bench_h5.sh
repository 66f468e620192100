#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench_h5.sh BUILD_DIR [ROWS]: the HDF5 benchmark (docs/benchmarks.md, "HDF5").
#
# ROWS particle rows of 40 bytes (default 26843545 = 1 GiB; a plain count, or with a K/M
# suffix for 10^3/10^6). The input table comes from `sluice-gen particles --rows ROWS --seed 1`
# (chunks of 65536 rows), cached in BUILD_DIR/bench/, and is read once (cat > /dev/null) to
# warm the page cache. Then, at each rank count of RANKS, REPS times (interleaved, so a
# change of load hits every configuration alike):
#   read  a  raw      bench_h5 rawread: each rank H5Dreads its contiguous share (sec2, the
#                     source's split and chunk cache) block by block into one buffer of
#                     BLOCK bytes (the source's read block, rounded to whole chunks when a
#                     chunk fits): the limit
#         b  sluice   bench_h5 slread: sl_flow_from_h5 -> sl_flow_to_count (no-op flow)
#         b2 sluice   the same with the source's collective transfers (sl_h5_opts.transfer)
#         c  h5stats  sluice-h5stats FILE:/particles --range 0:1 (one pass: the histogram
#                     range is given); its time is sl_run's wall time (--sl-stats), which
#                     leaves out sl_h5_describe and printing the results
#   write d  raw      bench_h5 rawwrite: collective H5Dwrite of the same rows into a new
#                     chunked dataset (1 MiB chunks), each rank its contiguous share, in
#                     rounds of OUTBUF bytes per rank (the sink's output buffer); filling
#                     the rows is included (also shown apart)
#         e  sluice   bench_h5 slwrite: sl_flow_from_rows_generator (the same rows, a block
#                     at a time) -> sl_flow_to_h5
#         g  gen      bench_h5 slgen: sl_flow_from_rows_generator -> sl_flow_to_count, the
#                     cost of producing the rows; e - g is the sink's cost
# Times are taken inside the programs (barrier to barrier, slowest rank; mpirun's start is
# not included; the whole mpirun wall time is shown too). The table gives the median,
# GB/s (10^9 bytes/s), the ratio to raw (raw median / this median) and whether the targets
# hold: read b/a >= 0.80 and write e/d >= 0.70 at every rank count.
#
# Environment: REPS (3), RANKS ("1 2"), MPIRUN (mpirun), MPIRUN_FLAGS (extra flags),
# BIND (core), BLOCK (1048576, passed to sluice as --sl-read-block-bytes too),
# OUTBUF (8388608, passed as --sl-output-buffer-bytes too), GEN_RANKS (2), SL_OPTS (extra
# --sl-* options for the sluice runs). Writes go to BUILD_DIR/bench/h5out.XXXXXX/ (removed at
# the end). Results also go to BUILD_DIR/bench/h5-ROWS.tsv.
set -u -o pipefail
export LC_ALL=C
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

BUILD=${1:?usage: bench_h5.sh BUILD_DIR [ROWS]}
ROWS_ARG=${2:-26843545}
REPS=${REPS:-3}
RANKS=${RANKS-1 2}
MPIRUN=${MPIRUN:-mpirun}
MPIRUN_FLAGS=${MPIRUN_FLAGS:-}
BIND=${BIND:-core}
BLOCK=${BLOCK:-1048576}
OUTBUF=${OUTBUF:-8388608}
GEN_RANKS=${GEN_RANKS:-2}
SL_OPTS=${SL_OPTS:-}

die() { echo "bench_h5: $*" >&2; exit 1; }
BUILD=$(cd "$BUILD" && pwd) || exit 1
EXE=$BUILD/tests/h5/bench_h5
GEN=$BUILD/apps/sluice-gen/sluice-gen
STATS=$BUILD/apps/sluice-h5stats/sluice-h5stats
for x in "$EXE" "$GEN" "$STATS"; do
  [ -x "$x" ] || die "$x is missing: build it first (cmake --build $BUILD --target bench_h5 sluice-gen sluice-h5stats)"
done
case $ROWS_ARG in
  *[kK]) ROWS=$((${ROWS_ARG%?} * 1000)) ;;
  *[mM]) ROWS=$((${ROWS_ARG%?} * 1000000)) ;;
  *) ROWS=$ROWS_ARG ;;
esac
{ [[ $ROWS =~ ^[0-9]+$ ]] && [ "$ROWS" -gt 0 ]; } || die "bad ROWS '$ROWS_ARG'"
BYTES=$((ROWS * 40))

mkdir -p "$BUILD/bench" || exit 1
# Writes go to WRITE_DIR: by default /dev/shm when it has room for two outputs (tmpfs:
# no writeback, so the write rows compare CPU and HDF5 costs, not this VM's bimodal
# dirty-page throttling, which made single 1 GiB writes take 0.5 s or 3 s at random),
# else BUILD_DIR/bench.
if [ -z "${WRITE_DIR:-}" ]; then
  WRITE_DIR=$BUILD/bench
  shm_free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 * 1024 }')
  if [ -n "$shm_free" ] && [ "$shm_free" -gt $((3 * BYTES)) ]; then WRITE_DIR=/dev/shm; fi
fi
OUTDIR=$(mktemp -d "$WRITE_DIR/h5out.XXXXXX") || exit 1
echo "writes go to $OUTDIR" >&2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/h5bench.XXXXXX") || exit 1
trap 'rm -rf "$WORK" "$OUTDIR"' EXIT
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
echo "input $IN: $ROWS rows, $BYTES bytes of rows ($(stat -c %s "$IN") bytes of file), page cache warmed" >&2

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A TIMES WALL FILL
now() { date +%s.%N; }

# run_once CONFIG N: one run; appends the in-program seconds to TIMES[CONFIG.N] and the
# mpirun wall time to WALL[CONFIG.N].
run_once() {
  local c=$1 n=$2 secs t0 t1 mp out=$OUTDIR/out.h5
  # shellcheck disable=SC2206 # MPIRUN_FLAGS is a list
  mp=("$MPIRUN" -n "$n" --bind-to "$BIND" $MPIRUN_FLAGS)
  local slo=(--sl-read-block-bytes="$BLOCK" --sl-output-buffer-bytes="$OUTBUF")
  # shellcheck disable=SC2206 # SL_OPTS is a list
  slo+=($SL_OPTS)
  rm -f "$out" "$WORK/st.json"
  t0=$(now)
  case $c in
    rawread) "${mp[@]}" "$EXE" rawread "$SPEC" "$BLOCK" ;;
    slread) "${mp[@]}" "$EXE" slread "$SPEC" "${slo[@]}" ;;
    slreadc) "${mp[@]}" "$EXE" slread "$SPEC" collective "${slo[@]}" ;;
    h5stats) "${mp[@]}" "$STATS" "$SPEC" --range 0:1 --sl-stats="$WORK/st.json" "${slo[@]}" ;;
    rawwrite) "${mp[@]}" "$EXE" rawwrite "$out" "$ROWS" "$OUTBUF" ;;
    slwrite) "${mp[@]}" "$EXE" slwrite "$out" "$ROWS" "${slo[@]}" ;;
    slgen) "${mp[@]}" "$EXE" slgen "$ROWS" "${slo[@]}" ;;
  esac >"$WORK/run.log" 2>&1 || { cat "$WORK/run.log" >&2; die "$c at $n ranks failed"; }
  t1=$(now)
  if [ "$c" = h5stats ]; then
    # the run record: one JSON line; the run's own wall_seconds is the first number
    secs=$(grep -o '"wall_seconds": *[0-9.e+-]*' "$WORK/st.json" | head -1 | sed 's/.*: *//' | awk '{ printf "%.4f", $1 }')
  else
    grep -q "^bench_h5 ${c%c} .*rows=$ROWS .* ok$" "$WORK/run.log" || { cat "$WORK/run.log" >&2; die "$c at $n ranks: wrong row count or no result"; }
    secs=$(sed -n 's/^bench_h5 .* seconds=\([0-9.]*\) .*ok$/\1/p' "$WORK/run.log")
    FILL[$c.$n]="${FILL[$c.$n]:-} $(sed -n 's/^bench_h5 .* fill=\([0-9.]*\) ok$/\1/p' "$WORK/run.log")"
  fi
  [ -n "$secs" ] || { cat "$WORK/run.log" >&2; die "$c at $n ranks printed no time"; }
  TIMES[$c.$n]="${TIMES[$c.$n]:-} $secs"
  WALL[$c.$n]="${WALL[$c.$n]:-} $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
  echo "  $n rank(s) $c: $secs s (mpirun $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s)" >&2
}

CONFIGS=(rawread slread slreadc h5stats rawwrite slwrite slgen)
LOAD_BEFORE=$(uptime)
echo "load before: $LOAD_BEFORE" >&2
for ((i = 1; i <= REPS; i++)); do
  echo "round $i" >&2
  for n in $RANKS; do
    for c in "${CONFIGS[@]}"; do run_once "$c" "$n"; done
  done
done
LOAD_AFTER=$(uptime)
echo "load after: $LOAD_AFTER" >&2

declare -A MED
for n in $RANKS; do
  for c in "${CONFIGS[@]}"; do
    # shellcheck disable=SC2086 # a list of numbers
    MED[$c.$n]=$(printf "%s\n" ${TIMES[$c.$n]} | median)
  done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
gbs() { awk -v t="$1" -v s="$BYTES" 'BEGIN { printf "%.2f", s / t / 1e9 }'; }

RESULTS=$BUILD/bench/h5-$ROWS.tsv
printf "ranks\tconfig\tmedian_s\tGB_s\tvs_raw\truns_s\tmpirun_wall_s\n" >"$RESULTS"
echo
echo "HDF5 paths, $ROWS rows x 40 bytes = $BYTES bytes, page cache, median of $REPS, $(nproc) cores, read block $BLOCK, output buffer $OUTBUF"
printf "%-5s %-34s %9s %7s %7s  %-24s %s\n" ranks config median_s GB/s vs_raw "runs (s)" "mpirun wall (s)"
ok_read=1 ok_write=1
for n in $RANKS; do
  for c in "${CONFIGS[@]}"; do
    case $c in
      rawread) label="a raw H5Dread (limit)" base=rawread ;;
      slread) label="b from_h5 -> to_count" base=rawread ;;
      slreadc) label="b2 from_h5 (collective) -> to_count" base=rawread ;;
      h5stats) label="c sluice-h5stats --range (1 pass)" base=rawread ;;
      rawwrite) label="d raw collective H5Dwrite" base=rawwrite ;;
      slwrite) label="e rows generator -> to_h5" base=rawwrite ;;
      slgen) label="g rows generator -> to_count" base= ;;
    esac
    t=${MED[$c.$n]}
    v=-
    [ -n "$base" ] && v=$(ratio "${MED[$base.$n]}" "$t")
    runs=$(echo "${TIMES[$c.$n]# }" | tr ' ' ',')
    walls=$(echo "${WALL[$c.$n]# }" | tr ' ' ',')
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$n" "$c" "$t" "$(gbs "$t")" "$v" "$runs" "$walls" >>"$RESULTS"
    printf "%-5s %-34s %9s %7s %7s  %-24s %s\n" "$n" "$label" "$t" "$(gbs "$t")" "$v" "$runs" "$walls"
  done
  # shellcheck disable=SC2086 # a list of numbers
  fill=$(printf "%s\n" ${FILL[rawwrite.$n]} | median)
  sink=$(awk -v e="${MED[slwrite.$n]}" -v g="${MED[slgen.$n]}" 'BEGIN { printf "%.3f", e - g }')
  echo "      $n rank(s): raw write's row filling $fill s (median, slowest rank); sink cost e - g = $sink s ($(gbs "$sink") GB/s)"
  rb=$(ratio "${MED[rawread.$n]}" "${MED[slread.$n]}")
  we=$(ratio "${MED[rawwrite.$n]}" "${MED[slwrite.$n]}")
  awk -v r="$rb" 'BEGIN { exit !(r >= 0.80) }' || ok_read=0
  awk -v r="$we" 'BEGIN { exit !(r >= 0.70) }' || ok_write=0
done
echo "(vs_raw = raw median / this median: the fraction of raw throughput)"
[ $ok_read = 1 ] && echo "read target (b >= 80% of raw at every rank count): met" ||
  echo "read target (b >= 80% of raw at every rank count): NOT met"
[ $ok_write = 1 ] && echo "write target (e >= 70% of raw at every rank count): met" ||
  echo "write target (e >= 70% of raw at every rank count): NOT met"
echo "load before: $LOAD_BEFORE"
echo "load after: $LOAD_AFTER"
echo "results: $RESULTS"
