#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# compare_builds.sh BASE_BUILD NEW_BUILD [DIR]: the same benchmarks on two builds of sluice
# (e.g. before and after a refactor), on the same inputs, interleaved, so that a slowdown
# shows as NEW/BASE > 1 (docs/benchmarks.md, "Comparing two builds").
#
# Inputs (made once with BASE's sluice-gen, cached in DIR, default /tmp/sluice-compare-bench;
# SIZE bytes each, default 1G, suffixes K/M/G = 2^10/2^20/2^30):
#   text-SIZE.txt       sluice-gen text --size SIZE --seed 1 (Zipf words, 1M vocabulary)
#   real-SIZE.txt       real text: every text file of /usr/share/common-licenses,
#                       /usr/share/doc (the .gz ones unpacked) and /usr/include, in path
#                       order, concatenated (DIR/real-seed.txt, about 370 MB on Debian 12
#                       with this project's packages), repeated and cut to SIZE bytes.
#                       Depends on the packages installed: compare builds on one machine only
#   particles-ROWS.h5   sluice-gen particles --rows SIZE/40 --seed 1 (40-byte rows)
# Benchmarks (BENCHES, default all; RANKS=2 and WC_RANKS="1 2" ranks):
#   wc-gen    sluice-wordcount -o OUT text-SIZE.txt, at each of WC_RANKS    mpirun wall s
#   wc-real   sluice-wordcount -o OUT real-SIZE.txt, at each of WC_RANKS    mpirun wall s
#   h5sort    sluice-h5sort particles --key mass -o OUT                     mpirun wall s
#   sortbench tests/bench/sort_bench sluice and sluice-key, SIZE/16 records
#             (generator -> sl_flow_sort[_by_key] -> checking callback)     sl_run s
#   h5read    tests/h5/bench_h5 slread particles (sl_flow_from_h5 -> count) in program s
#   h5write   tests/h5/bench_h5 slwrite OUT SIZE/40 (generator -> to_h5)    in program s
# Each benchmark runs REPS (5) times on each build, base and new in turn (base first in odd
# rounds, new first in even ones), all benchmarks in each round, inputs in the page cache.
# Printed: the medians, NEW/BASE, the single runs, and "slower"/"faster" when every run of
# NEW is slower/faster than every run of BASE (REPS >= 3; "~" when the runs overlap, i.e.
# within the noise). The first round checks that NEW's output equals BASE's: the word counts'
# TSVs (identical, or the same lines in another order), the HDF5 datasets' data (h5dump -b;
# provenance attributes differ by design; the generator -> to_h5 output may also be compared
# after sorting by id), the row counts of h5read; sort_bench checks its own output. Exit
# status 1 on any failed run or differing output.
#
# Environment: SIZE (1G), REPS (5), BENCHES ("wc-gen wc-real h5sort sortbench h5read
# h5write"), RANKS (2), WC_RANKS ("1 2"), MPIRUN (mpirun), MPIRUN_FLAGS, BIND (core),
# GEN_RANKS (2), OUT_DIR (where outputs go: /dev/shm when it has room, else DIR),
# REAL_DIRS (the real text's folders), RUN_TIMEOUT (1800 s a run), PREPARE_ONLY=1 (make the
# inputs, warm nothing, run nothing). Results also go to DIR/compare-SIZE.tsv.
# As root, Open MPI needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (set
# here); on a machine with fewer cores than ranks, OMPI_MCA_rmaps_base_oversubscribe=1.
set -u -o pipefail
export LC_ALL=C
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

usage="usage: compare_builds.sh BASE_BUILD NEW_BUILD [DIR]"
die() { echo "compare_builds: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "$usage"
BASE=$(cd "$1" && pwd) || die "$usage"
NEW=$(cd "$2" && pwd) || die "$usage"
DIR=${3:-/tmp/sluice-compare-bench}
SIZE_ARG=${SIZE:-1G}
REPS=${REPS:-5}
BENCHES=${BENCHES-wc-gen wc-real h5sort sortbench h5read h5write}
RANKS=${RANKS:-2}
WC_RANKS=${WC_RANKS:-1 2}
MPIRUN=${MPIRUN:-mpirun}
MPIRUN_FLAGS=${MPIRUN_FLAGS:-}
BIND=${BIND:-core}
GEN_RANKS=${GEN_RANKS:-2}
REAL_DIRS=${REAL_DIRS:-/usr/share/common-licenses /usr/share/doc /usr/include}
RUN_TIMEOUT=${RUN_TIMEOUT:-1800}
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "bad REPS '$REPS'"

to_bytes() {
  local n=${1%[kKmMgG]}
  case $1 in
    *[kK]) echo $((n << 10)) ;;
    *[mM]) echo $((n << 20)) ;;
    *[gG]) echo $((n << 30)) ;;
    *) echo "$n" ;;
  esac
}
[[ $SIZE_ARG =~ ^[0-9]+[kKmMgG]?$ ]] || die "bad SIZE '$SIZE_ARG' (e.g. 64M, 1G)"
BYTES=$(to_bytes "$SIZE_ARG")
ROWS=$((BYTES / 40))
NREC=$((BYTES / 16))
[ "$ROWS" -gt 0 ] || die "SIZE '$SIZE_ARG' is too small"

for b in wc-gen wc-real h5sort sortbench h5read h5write; do
  [[ " $BENCHES " == *" $b "* ]] && declare "WANT_${b//-/_}=1"
done
want() { local v="WANT_${1//-/_}"; [ -n "${!v:-}" ]; }
for b in $BENCHES; do
  case $b in wc-gen | wc-real | h5sort | sortbench | h5read | h5write) ;; *) die "unknown benchmark '$b'" ;; esac
done

# The programs each build must have.
exe() { # BUILD NAME -> path
  case $2 in
    gen) echo "$1/apps/sluice-gen/sluice-gen" ;;
    wc) echo "$1/apps/sluice-wordcount/sluice-wordcount" ;;
    h5sort) echo "$1/apps/sluice-h5sort/sluice-h5sort" ;;
    sortbench) echo "$1/tests/bench/sort_bench" ;;
    bench_h5) echo "$1/tests/h5/bench_h5" ;;
  esac
}
need=(gen)
{ want wc-gen || want wc-real; } && need+=(wc)
want h5sort && need+=(h5sort)
want sortbench && need+=(sortbench)
{ want h5read || want h5write; } && need+=(bench_h5)
for B in "$BASE" "$NEW"; do
  for x in "${need[@]}"; do
    [ -x "$(exe "$B" "$x")" ] || die "$(exe "$B" "$x") is missing: build it first (cmake --build $B -j2 --target sluice-gen sluice-wordcount sluice-h5sort sort_bench bench_h5)"
  done
done
command -v h5dump >/dev/null || ! { want h5sort || want h5write; } || die "h5dump is missing (package hdf5-tools)"

mkdir -p "$DIR" || exit 1
DIR=$(cd "$DIR" && pwd)
GEN=$(exe "$BASE" gen)

# ---- inputs (made once, with BASE's sluice-gen; its output does not depend on the ranks)
gen_text() {
  local f=$DIR/text-$SIZE_ARG.txt
  if [ ! -s "$f" ]; then
    echo "generating $f ($BYTES bytes)" >&2
    # shellcheck disable=SC2086 # MPIRUN_FLAGS is a list
    timeout "$RUN_TIMEOUT" "$MPIRUN" -n "$GEN_RANKS" $MPIRUN_FLAGS "$GEN" text --size "$BYTES" \
      --seed 1 -o "$f.part" --force >&2 || die "sluice-gen text failed"
    mv "$f.part" "$f" || exit 1
  fi
  TEXT=$f
}
gen_real() {
  local seed=$DIR/real-seed.txt f=$DIR/real-$SIZE_ARG.txt d
  if [ ! -s "$seed" ]; then
    echo "collecting real text from $REAL_DIRS into $seed" >&2
    local dirs=()
    for d in $REAL_DIRS; do [ -d "$d" ] && dirs+=("$d"); done
    [ ${#dirs[@]} -gt 0 ] || die "none of REAL_DIRS ($REAL_DIRS) exists"
    (
      set +o pipefail # head closes zcat's pipe early: not a failure
      # plain text files (grep -I: no NUL byte in the first block), then the .gz ones of
      # /usr/share/doc (changelogs, manuals) unpacked when they hold text; NULs dropped
      find "${dirs[@]}" -type f ! -name '*.gz' -print0 | sort -z | xargs -0 -r grep -IlZ '' |
        xargs -0 -r cat
      find "${dirs[@]}" -type f -name '*.gz' -print0 | sort -z |
        while IFS= read -r -d '' g; do
          if zcat -- "$g" 2>/dev/null | head -c 65536 | grep -Iq ''; then zcat -- "$g" 2>/dev/null; fi
        done
    ) | tr -d '\000' >"$seed.part" || die "collecting the real text failed"
    mv "$seed.part" "$seed" || exit 1
  fi
  local sb
  sb=$(stat -c %s "$seed")
  [ "$sb" -gt 0 ] || die "$seed is empty"
  if [ ! -s "$f" ] || [ "$(stat -c %s "$f")" != "$BYTES" ]; then
    echo "making $f ($BYTES bytes: $seed, $sb bytes, repeated and cut)" >&2
    local n=$(((BYTES + sb - 1) / sb)) i
    for ((i = 0; i < n; i++)); do cat "$seed"; done | head -c "$BYTES" >"$f.part"
    [ "$(stat -c %s "$f.part")" = "$BYTES" ] || die "making $f failed"
    mv "$f.part" "$f" || exit 1
  fi
  REAL=$f
}
gen_particles() {
  local f=$DIR/particles-$ROWS.h5
  if [ ! -s "$f" ]; then
    echo "generating $f ($ROWS rows of 40 bytes)" >&2
    # shellcheck disable=SC2086 # MPIRUN_FLAGS is a list
    timeout "$RUN_TIMEOUT" "$MPIRUN" -n "$GEN_RANKS" $MPIRUN_FLAGS "$GEN" particles --rows "$ROWS" \
      --seed 1 -o "$f.part:/particles" --force >&2 || die "sluice-gen particles failed"
    mv "$f.part" "$f" || exit 1
  fi
  PART=$f
}
TEXT='' REAL='' PART=''
want wc-gen && gen_text
want wc-real && gen_real
{ want h5sort || want h5read; } && gen_particles
if [ -n "${PREPARE_ONLY:-}" ]; then
  echo "inputs ready in $DIR:" >&2
  ls -l "$DIR" >&2
  exit 0
fi

# ---- outputs: /dev/shm when it has room for two of each (no writeback noise), else DIR
if [ -z "${OUT_DIR:-}" ]; then
  OUT_DIR=$DIR
  shm_free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 * 1024 }')
  if [ -n "$shm_free" ] && [ "$shm_free" -gt $((6 * BYTES)) ]; then OUT_DIR=/dev/shm; fi
fi
OUT=$(mktemp -d "$OUT_DIR/sluice-compare.XXXXXX") || exit 1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-compare.XXXXXX") || exit 1
trap 'rm -rf "$OUT" "$WORK"' EXIT
echo "outputs go to $OUT" >&2
for f in "$TEXT" "$REAL" "$PART"; do [ -n "$f" ] && cat "$f" >/dev/null; done # warm the page cache

describe() { # BUILD -> "BUILD (source SRC at COMMIT)"
  local src
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$1/CMakeCache.txt" 2>/dev/null)
  if [ -n "$src" ] && git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    echo "$1 (source $src at $(git -C "$src" describe --always --dirty 2>/dev/null), $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$1/CMakeCache.txt"))"
  else
    echo "$1"
  fi
}

# ---- the runs
declare -A TIMES
KEYS=() # benchmark keys in table order
add_key() { [[ " ${KEYS[*]} " == *" $1 "* ]] || KEYS+=("$1"); }
FAILED=0

mpi() { # N: the mpirun prefix for N ranks
  # shellcheck disable=SC2206 # MPIRUN_FLAGS is a list
  MP=(timeout "$RUN_TIMEOUT" "$MPIRUN" -n "$1" --bind-to "$BIND" $MPIRUN_FLAGS)
}

# run KEY SIDE KIND CMD...: one run; KIND "wall" times the whole command, "prog" takes the
# "seconds=S" its program prints. Appends to TIMES[KEY.SIDE].
run() {
  local key=$1 side=$2 kind=$3 t0 t1 secs
  shift 3
  t0=$(date +%s.%N)
  "$@" >"$WORK/run.log" 2>&1 || {
    cat "$WORK/run.log" >&2
    die "$key ($side): the run failed: $*"
  }
  t1=$(date +%s.%N)
  if [ "$kind" = wall ]; then
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  else
    secs=$(sed -n 's/.* seconds=\([0-9.]*\) .*ok$/\1/p' "$WORK/run.log" | head -1)
    [ -n "$secs" ] || { cat "$WORK/run.log" >&2; die "$key ($side): no 'seconds=... ok' line"; }
  fi
  TIMES[$key.$side]="${TIMES[$key.$side]:-} $secs"
  add_key "$key"
  echo "  $key $side: $secs s" >&2
}

same_tsv() { # NAME A B: the word counts' outputs
  if cmp -s "$2" "$3"; then
    echo "check $1: identical output" >&2
  elif cmp -s <(sort "$2") <(sort "$3"); then
    echo "check $1: same lines, another order" >&2
  else
    echo "check $1: OUTPUTS DIFFER ($2 vs $3):" >&2
    diff <(sort "$2") <(sort "$3") | head -10 >&2
    FAILED=1
  fi
}
h5data() { # FILE DSET OUT: the dataset's data as raw bytes
  h5dump -d "$2" -b -o "$3" "$1" >/dev/null 2>"$WORK/h5dump.err" || {
    cat "$WORK/h5dump.err" >&2
    return 1
  }
}
same_h5() { # NAME A B DSET [SORTKEY]: the datasets' data; with SORTKEY, also after sorting
  local name=$1 a=$2 b=$3 d=$4 key=${5:-}
  if ! h5data "$a" "$d" "$OUT/a.bin" || ! h5data "$b" "$d" "$OUT/b.bin"; then
    echo "check $name: h5dump failed" >&2
    FAILED=1
  elif cmp -s "$OUT/a.bin" "$OUT/b.bin"; then
    echo "check $name: identical data ($(stat -c %s "$OUT/a.bin") bytes)" >&2
  elif [ -n "$key" ]; then
    # rows in another order: sort both by KEY (BASE's sluice-h5sort) and compare again
    rm -f "$OUT/a.bin" "$OUT/b.bin"
    mpi "$RANKS"
    if "${MP[@]}" "$(exe "$BASE" h5sort)" "$a:$d" --key "$key" -o "$OUT/as.h5:/s" >/dev/null 2>&1 &&
      "${MP[@]}" "$(exe "$BASE" h5sort)" "$b:$d" --key "$key" -o "$OUT/bs.h5:/s" >/dev/null 2>&1 &&
      h5data "$OUT/as.h5" /s "$OUT/a.bin" && h5data "$OUT/bs.h5" /s "$OUT/b.bin" &&
      cmp -s "$OUT/a.bin" "$OUT/b.bin"; then
      echo "check $name: same rows, another order" >&2
    else
      echo "check $name: DATA DIFFER (also sorted by $key): $a vs $b" >&2
      FAILED=1
    fi
    rm -f "$OUT/as.h5" "$OUT/bs.h5"
  else
    echo "check $name: DATA DIFFER: $a vs $b" >&2
    FAILED=1
  fi
  rm -f "$OUT/a.bin" "$OUT/b.bin"
}

# one_round R SIDE: every benchmark once on SIDE (base or new); round 1 keeps the outputs
# (OUT/SIDE.*) for the checks.
one_round() {
  local r=$1 side=$2 B n keep=
  B=$BASE
  [ "$side" = new ] && B=$NEW
  [ "$r" = 1 ] && keep=1
  local o=$OUT/$side
  if want wc-gen; then
    for n in $WC_RANKS; do
      mpi "$n"
      rm -f "$o.wcg$n.tsv"
      run "wc-gen.$n" "$side" wall "${MP[@]}" "$(exe "$B" wc)" -o "$o.wcg$n.tsv" "$TEXT"
      [ -n "$keep" ] || rm -f "$o.wcg$n.tsv"
    done
  fi
  if want wc-real; then
    for n in $WC_RANKS; do
      mpi "$n"
      rm -f "$o.wcr$n.tsv"
      run "wc-real.$n" "$side" wall "${MP[@]}" "$(exe "$B" wc)" -o "$o.wcr$n.tsv" "$REAL"
      [ -n "$keep" ] || rm -f "$o.wcr$n.tsv"
    done
  fi
  mpi "$RANKS"
  if want h5sort; then
    rm -f "$o.sort.h5"
    run "h5sort.$RANKS" "$side" wall "${MP[@]}" "$(exe "$B" h5sort)" "$PART:/particles" --key mass \
      -o "$o.sort.h5:/particles"
    [ -n "$keep" ] || rm -f "$o.sort.h5"
  fi
  if want sortbench; then
    run "sortbench-cmp.$RANKS" "$side" prog "${MP[@]}" "$(exe "$B" sortbench)" sluice "$NREC" 1
    run "sortbench-key.$RANKS" "$side" prog "${MP[@]}" "$(exe "$B" sortbench)" sluice-key "$NREC" 1
  fi
  if want h5read; then
    run "h5read.$RANKS" "$side" prog "${MP[@]}" "$(exe "$B" bench_h5)" slread "$PART:/particles"
    [ -n "$keep" ] && grep -o 'rows=[0-9]*' "$WORK/run.log" >"$o.h5read.txt"
  fi
  if want h5write; then
    rm -f "$o.write.h5"
    run "h5write.$RANKS" "$side" prog "${MP[@]}" "$(exe "$B" bench_h5)" slwrite "$o.write.h5" "$ROWS"
    [ -n "$keep" ] || rm -f "$o.write.h5"
  fi
}

check_outputs() {
  local b=$OUT/base n=$OUT/new k
  if want wc-gen; then for k in $WC_RANKS; do same_tsv "wc-gen.$k" "$b.wcg$k.tsv" "$n.wcg$k.tsv"; done; fi
  if want wc-real; then for k in $WC_RANKS; do same_tsv "wc-real.$k" "$b.wcr$k.tsv" "$n.wcr$k.tsv"; done; fi
  want h5sort && same_h5 "h5sort.$RANKS" "$b.sort.h5" "$n.sort.h5" /particles
  if want h5read; then
    if cmp -s "$b.h5read.txt" "$n.h5read.txt" && [ "$(cat "$b.h5read.txt")" = "rows=$ROWS" ]; then
      echo "check h5read.$RANKS: both counted $(cat "$n.h5read.txt")" >&2
    else
      echo "check h5read.$RANKS: COUNTS DIFFER: base '$(cat "$b.h5read.txt")', new '$(cat "$n.h5read.txt")', expected rows=$ROWS" >&2
      FAILED=1
    fi
  fi
  want h5write && same_h5 "h5write.$RANKS" "$b.write.h5" "$n.write.h5" /particles id
  want sortbench && echo "check sortbench: each run checked its own output (ok)" >&2
  rm -f "$b".* "$n".*
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u '+%Y-%m-%d %H:%M UTC')
echo "load before: $LOAD_BEFORE" >&2
for ((r = 1; r <= REPS; r++)); do
  echo "round $r of $REPS" >&2
  if ((r % 2)); then
    one_round "$r" base
    one_round "$r" new
  else
    one_round "$r" new
    one_round "$r" base
  fi
  [ "$r" = 1 ] && check_outputs
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
label() {
  case ${1%.*} in
    wc-gen) echo "wordcount sluice-gen text, ${1##*.}r" ;;
    wc-real) echo "wordcount real text, ${1##*.}r" ;;
    h5sort) echo "h5sort --key mass, ${1##*.}r" ;;
    sortbench-cmp) echo "sort_bench compare fn, ${1##*.}r" ;;
    sortbench-key) echo "sort_bench by key, ${1##*.}r" ;;
    h5read) echo "h5 read from_h5->count, ${1##*.}r" ;;
    h5write) echo "h5 write gen->to_h5, ${1##*.}r" ;;
  esac
}
timed() { case ${1%.*} in wc-* | h5sort) echo "mpirun" ;; *) echo "program" ;; esac; }

RESULTS=$DIR/compare-$SIZE_ARG.tsv
printf "benchmark\ttimed\tbase_median_s\tnew_median_s\tnew_over_base\tverdict\tbase_runs_s\tnew_runs_s\n" >"$RESULTS"
echo
echo "compare_builds: SIZE=$SIZE_ARG ($BYTES bytes; $ROWS rows; $NREC sort records), REPS=$REPS, interleaved, $START"
echo "base: $(describe "$BASE")"
echo "new:  $(describe "$NEW")"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load average $LOAD_BEFORE before, $LOAD_AFTER after"
printf "%-36s %-7s %9s %9s %8s %-7s  %-s\n" "benchmark (ranks)" timed "base s" "new s" new/base verdict "runs base | new (s)"
for k in "${KEYS[@]}"; do
  # shellcheck disable=SC2086 # lists of numbers
  {
    bm=$(printf "%s\n" ${TIMES[$k.base]} | median)
    nm=$(printf "%s\n" ${TIMES[$k.new]} | median)
    bmin=$(printf "%s\n" ${TIMES[$k.base]} | sort -g | head -1)
    bmax=$(printf "%s\n" ${TIMES[$k.base]} | sort -g | tail -1)
    nmin=$(printf "%s\n" ${TIMES[$k.new]} | sort -g | head -1)
    nmax=$(printf "%s\n" ${TIMES[$k.new]} | sort -g | tail -1)
  }
  ratio=$(awk -v a="$nm" -v b="$bm" 'BEGIN { printf "%.3f", a / b }')
  verdict="-"
  if [ "$REPS" -ge 3 ]; then
    verdict=$(awk -v nmin="$nmin" -v nmax="$nmax" -v bmin="$bmin" -v bmax="$bmax" \
      'BEGIN { print (nmin > bmax) ? "slower" : (nmax < bmin) ? "faster" : "~" }')
  fi
  br=$(echo "${TIMES[$k.base]# }" | tr ' ' ',')
  nr=$(echo "${TIMES[$k.new]# }" | tr ' ' ',')
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$k" "$(timed "$k")" "$bm" "$nm" "$ratio" "$verdict" "$br" "$nr" >>"$RESULTS"
  printf "%-36s %-7s %9s %9s %8s %-7s  %s | %s\n" "$(label "$k")" "$(timed "$k")" "$bm" "$nm" "$ratio" "$verdict" "$br" "$nr"
done
echo "(timed: mpirun = the whole mpirun's wall time; program = the program's own timer, barrier"
echo " to barrier or sl_run. verdict: slower/faster when every NEW run is slower/faster than"
echo " every BASE run, ~ when they overlap, - with REPS < 3)"
echo "results: $RESULTS"
if [ "$FAILED" != 0 ]; then
  echo "OUTPUTS DIFFER between the builds (see the check lines above)"
  exit 1
fi
echo "outputs: NEW's equal BASE's"
