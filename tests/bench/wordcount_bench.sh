#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# wordcount_bench.sh BUILD_DIR [SIZE]: the word-count benchmark (docs/benchmarks.md).
#
# Inputs: the files of INPUTS (space-separated paths, e.g. the 1 GiB real text and the
# generated corpus under /tmp/sluice-compare-bench, used as they are), or else a Zipf text
# corpus of SIZE bytes (default 1G; suffixes K/M/G) generated with sluice-gen and cached in
# BUILD_DIR/bench/. For each input it warms the page cache, then runs REPS rounds of every
# configuration, in an order that rotates from round to round (so no configuration always
# runs first, or right after the one that heated the cache), and reports the medians:
#   wc_plain, wc_tuned   the sequential baselines, pinned to one core (taskset -c CORE)
#   sluice N ranks       mpirun -n N --bind-to core sluice-wordcount -o OUT FILE
# Every output is checked against wc_plain's (both sorted). Peak RSS per rank comes from
# GNU time (package "time"). For sluice at 1 rank, the reduce state's high-water mark (the
# run record, --sl-stats) per distinct word, with and without the words' own bytes. Last,
# on the first input, the RSS flatness check: sluice at 1 rank on the input once and given
# 4 times (4x the bytes, the same words, so the same reduce state), and the ratio of their
# peak RSS (FLATNESS=0 skips it).
#
# Environment: INPUTS (files; unset: the generated corpus), REPS (3), SEED (1), RANKS ("1
# 2"; "" runs only the baselines), MPIRUN (mpirun), MPIRUN_FLAGS (extra mpirun flags, e.g.
# "--mca btl self,vader"), CORE (the core the baselines use, 0), GEN_RANKS (ranks that
# generate the corpus, 2), FLATNESS (1).
# Results also go to BUILD_DIR/bench/wordcount-NAME.tsv (NAME: SIZE, or the input's name).
set -u -o pipefail
export LC_ALL=C
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

BUILD=${1:?usage: wordcount_bench.sh BUILD_DIR [SIZE]}
SIZE_ARG=${2:-1G}
REPS=${REPS:-3}
SEED=${SEED:-1}
RANKS=${RANKS-1 2}
MPIRUN=${MPIRUN:-mpirun}
MPIRUN_FLAGS=${MPIRUN_FLAGS:-}
CORE=${CORE:-0}
GEN_RANKS=${GEN_RANKS:-2}
INPUTS=${INPUTS:-}
FLATNESS=${FLATNESS:-1}

BUILD=$(cd "$BUILD" && pwd) || exit 1
GEN=$BUILD/apps/sluice-gen/sluice-gen
PLAIN=$BUILD/tests/bench/wc_plain
TUNED=$BUILD/tests/bench/wc_tuned
SLUICE=$BUILD/apps/sluice-wordcount/sluice-wordcount
DATA=$BUILD/bench
mkdir -p "$DATA" || exit 1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wcbench.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT

die() { echo "wordcount_bench: $*" >&2; exit 1; }
for exe in "$GEN" "$PLAIN" "$TUNED"; do
  [ -x "$exe" ] || die "$exe is missing: build it first (cmake --build $BUILD)"
done

# SIZE with a K/M/G suffix -> bytes
to_bytes() {
  local s=$1 n=${1%[kKmMgG]}
  case $s in
    *[kK]) echo $((n << 10)) ;;
    *[mM]) echo $((n << 20)) ;;
    *[gG]) echo $((n << 30)) ;;
    *) echo "$n" ;;
  esac
}
[[ $SIZE_ARG =~ ^[0-9]+[kKmMgG]?$ ]] || die "bad SIZE '$SIZE_ARG' (e.g. 256M, 1G)"
SIZE=$(to_bytes "$SIZE_ARG")
[ "$SIZE" -gt 0 ] || die "SIZE must be > 0"

GNU_TIME=
if /usr/bin/time -f %M true >/dev/null 2>&1; then GNU_TIME=/usr/bin/time; fi
[ -n "$GNU_TIME" ] || echo "note: GNU time is not installed (apt-get install time): no RSS" >&2
PIN=()
if command -v taskset >/dev/null 2>&1; then PIN=(taskset -c "$CORE"); fi

# corpus BYTES -> path (generated once per size and seed)
corpus() {
  local f=$DATA/corpus-$1-seed$SEED.txt
  if [ ! -s "$f" ]; then
    echo "generating $f ($1 bytes) ..." >&2
    rm -f "$f"
    # shellcheck disable=SC2086 # MPIRUN_FLAGS is a list
    timeout 3600 "$MPIRUN" -n "$GEN_RANKS" --oversubscribe $MPIRUN_FLAGS \
      "$GEN" text --size "$1" --seed "$SEED" -o "$f" >&2 || die "sluice-gen failed"
  fi
  echo "$f"
}

# Runs "$@" with GNU time per process writing peak RSS (KiB) to $WORK/rss.RANK.
cat >"$WORK/rsswrap.sh" <<'WRAP'
#!/bin/sh
r=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${PMI_RANK:-0}}}
if [ -n "$BENCH_TIME" ]; then exec "$BENCH_TIME" -f %M -o "$BENCH_RSS_DIR/rss.$r" "$@"; fi
exec "$@"
WRAP
chmod +x "$WORK/rsswrap.sh"
export BENCH_TIME=$GNU_TIME BENCH_RSS_DIR=$WORK

# time_run OUT -- cmd...: runs it, sets SECS and RSS_MIB (the largest over ranks, "-" if
# unknown); fails if the command fails.
time_run() {
  rm -f "$WORK"/rss.*
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$WORK/run.log" 2>&1 || { cat "$WORK/run.log" >&2; return 1; }
  t1=$(date +%s.%N)
  SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  RSS_MIB=-
  if ls "$WORK"/rss.* >/dev/null 2>&1; then
    RSS_MIB=$(cat "$WORK"/rss.* | awk '$1 ~ /^[0-9]+$/ && $1 > m { m = $1 } END { printf "%.0f", m / 1024 }')
  fi
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# bench_one FILE NAME: every configuration on FILE, REPS rounds in rotating order.
bench_one() {
  local FILE=$1 NAME=$2 SIZE c r k
  SIZE=$(stat -c %s "$FILE") || die "cannot stat $FILE"
  echo "input: $FILE ($SIZE bytes); warming the page cache" >&2
  cat "$FILE" >/dev/null
  local RESULTS=$DATA/wordcount-$NAME.tsv
  printf "config\tmedian_s\tMB_s\tspeedup_vs_plain\tspeedup_vs_tuned\tpeak_rss_MiB_per_rank\n" >"$RESULTS"
  declare -A TIMES RSS
  # the reference output, once, outside the timed rounds
  "$PLAIN" -o "$WORK/ref.tsv" "$FILE" || die "wc_plain failed on $FILE"
  sort "$WORK/ref.tsv" >"$WORK/plain.sorted"
  local configs=(wc_plain wc_tuned)
  if [ -n "$RANKS" ] && [ -x "$SLUICE" ]; then
    for n in $RANKS; do configs+=("sluice-${n}rank"); done
  elif [ -n "$RANKS" ]; then
    echo "note: $SLUICE is not built yet: sluice rows skipped" >&2
  fi
  local nc=${#configs[@]}
  for ((r = 0; r < REPS; r++)); do
    for ((k = 0; k < nc; k++)); do
      c=${configs[$(((k + r) % nc))]}
      rm -f "$WORK/out.tsv" "$WORK/stats.json"
      case $c in
        wc_plain) time_run "${PIN[@]}" "$WORK/rsswrap.sh" "$PLAIN" -o "$WORK/out.tsv" "$FILE" ;;
        wc_tuned) time_run "${PIN[@]}" "$WORK/rsswrap.sh" "$TUNED" -o "$WORK/out.tsv" "$FILE" ;;
        sluice-*)
          n=${c#sluice-}
          n=${n%rank}
          # shellcheck disable=SC2086 # MPIRUN_FLAGS is a list
          time_run timeout 3600 "$MPIRUN" -n "$n" --bind-to core $MPIRUN_FLAGS \
            "$WORK/rsswrap.sh" "$SLUICE" --sl-stats "$WORK/stats.json" -o "$WORK/out.tsv" "$FILE"
          ;;
      esac || die "$c: round $((r + 1)) failed on $FILE"
      sort "$WORK/out.tsv" | cmp -s - "$WORK/plain.sorted" ||
        die "$c: round $((r + 1)): output differs from wc_plain's"
      TIMES[$c]="${TIMES[$c]:-} $SECS"
      if [ "$RSS_MIB" = - ] || [ "${RSS[$c]:-0}" = - ]; then
        RSS[$c]=-
      elif [ "$RSS_MIB" -gt "${RSS[$c]:-0}" ]; then
        RSS[$c]=$RSS_MIB
      fi
      if [ "$c" = sluice-1rank ] && [ -s "$WORK/stats.json" ]; then
        STATE_BYTES=$(grep -o '"reduce_state_hwm_bytes":{[^}]*' "$WORK/stats.json" | head -n 1 |
          grep -o '"max":[0-9]*' | cut -d: -f2)
      fi
      echo "  $c round $((r + 1)): ${SECS}s, peak RSS ${RSS_MIB} MiB" >&2
    done
  done
  local -A MED
  for c in "${configs[@]}"; do
    # shellcheck disable=SC2086 # a list of times
    MED[$c]=$(printf "%s\n" ${TIMES[$c]} | median)
  done
  echo
  echo "word count, $FILE ($SIZE bytes), median of $REPS rounds (rotating order), $(nproc) cores," \
    "load $(cut -d ' ' -f 1-3 /proc/loadavg)"
  printf "%-14s %10s %9s %10s %10s %14s\n" config median_s MB/s vs_plain vs_tuned peak_RSS_MiB
  for c in "${configs[@]}"; do
    line=$(awk -v t="${MED[$c]}" -v p="${MED[wc_plain]}" -v u="${MED[wc_tuned]}" -v s="$SIZE" \
      'BEGIN { printf "%.3f\t%.1f\t%.2f\t%.2f", t, s / t / 1e6, p / t, u / t }')
    printf "%s\t%s\t%s\n" "$c" "$line" "${RSS[$c]}" >>"$RESULTS"
    IFS=$'\t' read -r t mbs vp vt <<<"$line"
    printf "%-14s %10s %9s %9sx %9sx %14s\n" "$c" "$t" "$mbs" "$vp" "$vt" "${RSS[$c]}"
  done
  echo "(vs_plain, vs_tuned: speedup = baseline time / this time; RSS: the largest rank's)"
  if [ -n "${STATE_BYTES:-}" ]; then
    # distinct words and their bytes, from the reference output (a word has no tab)
    read -r distinct wbytes < <(cut -f 1 "$WORK/plain.sorted" | awk '{ n++; b += length($0) } END { print n + 0, b + 0 }')
    awk -v s="$STATE_BYTES" -v d="$distinct" -v w="$wbytes" 'BEGIN {
      printf "reduce state at 1 rank: %.0f MiB for %d distinct words: %.1f bytes per word, %.1f besides the words'"'"' own %.1f bytes\n",
        s / 1048576, d, s / d, (s - w) / d, w / d }'
    printf "reduce_state_bytes_per_word\t%s\t%s\t%s\n" "$STATE_BYTES" "$distinct" "$wbytes" >>"$RESULTS"
    unset STATE_BYTES
  fi

  if [ "$FLATNESS" = 1 ] && [ -n "$RANKS" ] && [ -x "$SLUICE" ] && [ -n "$GNU_TIME" ]; then
    FLATNESS=0 # the first input only
    # shellcheck disable=SC2086
    time_run timeout 3600 "$MPIRUN" -n 1 --bind-to core $MPIRUN_FLAGS "$WORK/rsswrap.sh" \
      "$SLUICE" -o "$WORK/q.tsv" "$FILE" || die "sluice on $FILE failed"
    rq=$RSS_MIB
    rm -f "$WORK/q.tsv"
    # shellcheck disable=SC2086
    time_run timeout 3600 "$MPIRUN" -n 1 --bind-to core $MPIRUN_FLAGS "$WORK/rsswrap.sh" \
      "$SLUICE" -o "$WORK/q.tsv" "$FILE" "$FILE" "$FILE" "$FILE" || die "sluice on 4x $FILE failed"
    rf=$RSS_MIB
    rm -f "$WORK/q.tsv"
    echo
    echo "RSS flatness (sluice, 1 rank): 1x the input ($SIZE bytes) -> $rq MiB, 4x the same text -> $rf MiB," \
      "ratio $(awk -v a="$rq" -v b="$rf" 'BEGIN { printf "%.2f", b / a }')"
    printf "rss_flatness_1rank\t%s\t%s\t%s\n" "$rq" "$rf" \
      "$(awk -v a="$rq" -v b="$rf" 'BEGIN { printf "%.2f", b / a }')" >>"$RESULTS"
  fi
  echo "results: $RESULTS"
}

if [ -n "$INPUTS" ]; then
  for f in $INPUTS; do
    [ -r "$f" ] || die "input $f is not readable"
    name=$(basename "$f")
    bench_one "$f" "${name%.*}"
  done
else
  bench_one "$(corpus "$SIZE")" "$SIZE_ARG"
fi
