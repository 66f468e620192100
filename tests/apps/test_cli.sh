#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test_cli.sh BUILD_DIR: the command line every app shares (apps/common), table-driven, for
# sluice-wordcount, sluice-gen (text, particles), sluice-h5sort, sluice-h5groupby and
# sluice-h5stats, at 2 ranks:
#   --help      exit 0, the usage on stdout ("usage: ..."), nothing on stderr
#   --version   exit 0, "PROG VERSION" on stdout
#   --sl-help   exit 0 (sluice's runtime options)
#   valued      every option that takes a value, as --opt=VALUE and as --opt VALUE (and a
#               short option, -o VALUE, against --output=VALUE): a real run on a tiny input,
#               the same output both ways
#   refused     a missing value, an unknown option, a bad spec, a bad or empty value, a flag
#               given a value: exit 2 and exactly one error line, "PROG: error: ..."
# The inputs are made here (sluice-gen) in a temporary folder, removed at the end. Needs
# mpirun and h5dump.
set -u
BUILD=$(cd "${1:?usage: test_cli.sh BUILD_DIR}" && pwd) || exit 1
A=$BUILD/apps
WC=$A/sluice-wordcount/sluice-wordcount
GEN=$A/sluice-gen/sluice-gen
SORT=$A/sluice-h5sort/sluice-h5sort
GROUPBY=$A/sluice-h5groupby/sluice-h5groupby
STATS=$A/sluice-h5stats/sluice-h5stats
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export LC_ALL=C
MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
NP=${SLUICE_MPIEXEC_NP:--n}
MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}
for x in "$WC" "$GEN" "$SORT" "$GROUPBY" "$STATS"; do
  [ -x "$x" ] || { echo "FAIL: $x is missing"; exit 1; }
done
command -v h5dump >/dev/null 2>&1 || { echo "FAIL: h5dump is not installed"; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_cli.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
fail() { printf "FAIL: %s\n" "$*"; }
ok() { printf "ok: %s\n" "$*"; }

# the app's variable name in the tables -> its path
app_path() {
  case $1 in
  WC) echo "$WC" ;; GEN) echo "$GEN" ;; SORT) echo "$SORT" ;;
  GROUPBY) echo "$GROUPBY" ;; STATS) echo "$STATS" ;;
  esac
}
# run CMD...: on 2 ranks, under a timeout; stdout to out.txt, stderr to err.txt
run() {
  # shellcheck disable=SC2086 # the flags are a space-separated list on purpose
  timeout -k 5 120 "$MPIEXEC" $NP 2 $MPIFLAGS "$@" >out.txt 2>err.txt
}
# words "ROW": the row split at spaces into the array W; '' is an empty argument
words() {
  local w
  W=()
  read -ra w <<<"$1"
  for x in "${w[@]}"; do
    if [ "$x" = "''" ]; then W+=(""); else W+=("$x"); fi
  done
}

timeout -k 5 120 "$GEN" text --size 64K --vocab 500 --seed 5 -o in.txt >/dev/null 2>gen.err ||
  { echo "FAIL: sluice-gen text: $(cat gen.err)"; exit 1; }
timeout -k 5 120 "$GEN" particles --rows 3000 --cells 16 --seed 5 -o in.h5 >/dev/null 2>gen.err ||
  { echo "FAIL: sluice-gen particles: $(cat gen.err)"; exit 1; }

# spawn FUNC ROW: run one check in the background in a folder of its own (the runs wait
# mostly on mpirun's start, not on the CPU, so up to SLUICE_TEST_JOBS (6) run at once);
# its lines go to j<N>.log, printed in order at the end
JOBS=${SLUICE_TEST_JOBS:-6}
njob=0
spawn() {
  local d=$WORK/j$njob
  mkdir "$d" && ln -s ../in.txt ../in.h5 "$d"/ || { echo "FAIL: cannot make $d"; exit 1; }
  (cd "$d" && "$@") >"$d.log" 2>&1 &
  njob=$((njob + 1))
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
}

# ---- --help, --version, --sl-help ----
#     app      arguments before the option   the program name in the output
INFO=(
  "WC       -                              sluice-wordcount"
  "GEN      -                              sluice-gen"
  "GEN      text                           sluice-gen"
  "GEN      particles                      sluice-gen"
  "SORT     -                              sluice-h5sort"
  "GROUPBY  -                              sluice-h5groupby"
  "STATS    -                              sluice-h5stats"
)
check_info() {
  local row=$1 exe pre prog name rc
  words "$row"
  exe=$(app_path "${W[0]}") pre=() prog=${W[2]}
  [ "${W[1]}" = - ] || pre=("${W[1]}")
  name="$prog${pre[*]:+ ${pre[*]}}"
  run "$exe" "${pre[@]}" --help; rc=$?
  if [ $rc -eq 0 ] && head -1 out.txt | grep -q "^usage: .*$prog" && [ ! -s err.txt ]; then
    ok "$name --help"
  else fail "$name --help: exit $rc, stdout: $(head -1 out.txt), stderr: $(head -2 err.txt)"; fi
  run "$exe" "${pre[@]}" --version; rc=$?
  if [ $rc -eq 0 ] && grep -q "^$prog [0-9]" out.txt && [ "$(wc -l <out.txt)" -eq 1 ]; then
    ok "$name --version: $(cat out.txt)"
  else fail "$name --version: exit $rc, stdout: $(head -2 out.txt), stderr: $(head -2 err.txt)"; fi
  run "$exe" "${pre[@]}" --sl-help; rc=$?
  if [ $rc -eq 0 ] && grep -q -- "--sl-" out.txt; then ok "$name --sl-help"
  else fail "$name --sl-help: exit $rc, stderr: $(head -2 err.txt)"; fi
}
for row in "${INFO[@]}"; do spawn check_info "$row"; done

# ---- every valued option, --opt=VALUE and --opt VALUE alike ----
# CHECK FILE APP OPTION VALUE ARGS...: the run is APP ARGS... OPTION=VALUE, then APP ARGS...
# OPTION VALUE; OUT (in FILE, VALUE and ARGS) is the output's name, o1 then o2. An OPTION
# written -o|--output compares --output=VALUE with -o VALUE. CHECK: the output to compare,
# FILE: tsv (sorted lines), bytes, h5 (h5dump without attributes: the provenance differs),
# stdout (FILE is -).
VALUED=(
  "tsv    OUT.tsv  WC       --top        5              -o OUT.tsv in.txt"
  "tsv    OUT.tsv  WC       --output     OUT.tsv        in.txt"
  "tsv    OUT.tsv  WC       -o|--output  OUT.tsv        --top 3 in.txt"
  "bytes  OUT.txt  GEN      --size       10K            text --seed 3 -o OUT.txt"
  "bytes  OUT.txt  GEN      --seed       7              text --size 8K -o OUT.txt"
  "bytes  OUT.txt  GEN      --vocab      100            text --size 8K -o OUT.txt"
  "bytes  OUT.txt  GEN      --zipf       0.5            text --size 8K -o OUT.txt"
  "bytes  OUT.txt  GEN      --output     OUT.txt        text --size 8K"
  "bytes  OUT.txt  GEN      -o|--output  OUT.txt        text --size 8K"
  "h5     OUT.h5   GEN      --rows       500            particles -o OUT.h5"
  "h5     OUT.h5   GEN      --cells      7              particles --rows 500 -o OUT.h5"
  "h5     OUT.h5   GEN      --skew       1.5            particles --rows 500 -o OUT.h5"
  "h5     OUT.h5   GEN      --seed       9              particles --rows 500 -o OUT.h5"
  "h5     OUT.h5   GEN      --chunk      100            particles --rows 500 -o OUT.h5"
  "h5     OUT.h5   GEN      --deflate    1              particles --rows 500 -o OUT.h5"
  "h5     OUT.h5   GEN      --output     OUT.h5:/p      particles --rows 500"
  "h5     OUT.h5   GEN      -o|--output  OUT.h5:/p      particles --rows 500"
  "h5     OUT.h5   SORT     --key        mass           in.h5:/particles -o OUT.h5:/s"
  "h5     OUT.h5   SORT     --deflate    1              in.h5:/particles --key x -o OUT.h5:/s"
  "h5     OUT.h5   SORT     --output     OUT.h5:/s      in.h5:/particles --key cell --descending"
  "h5     OUT.h5   SORT     -o|--output  OUT.h5:/s      in.h5:/particles --key cell"
  "h5     OUT.h5   GROUPBY  --key        cell           in.h5:/particles --agg count,sum:mass -o OUT.h5:/g"
  "h5     OUT.h5   GROUPBY  --agg        count,mean:x   in.h5:/particles --key cell -o OUT.h5:/g"
  "h5     OUT.h5   GROUPBY  --deflate    1              in.h5:/particles --key cell --agg count -o OUT.h5:/g"
  "h5     OUT.h5   GROUPBY  --output     OUT.h5:/g      in.h5:/particles --key cell --agg max:id"
  "h5     OUT.h5   GROUPBY  -o|--output  OUT.h5:/g      in.h5:/particles --key cell --agg min:x"
  "stdout -        STATS    --fields     x,mass         in.h5:/particles"
  "stdout -        STATS    --bins       3              in.h5:/particles"
  "stdout -        STATS    --range      0:1            in.h5:/particles --fields x,y"
  "stdout -        STATS    --transfer   collective     in.h5:/particles --fields cell"
  "h5     OUT.h5   STATS    --output     OUT.h5         in.h5:/particles --bins 4"
  "h5     OUT.h5   STATS    -o|--output  OUT.h5         in.h5:/particles --bins 5"
)
# result CHECK FILE: what is compared, on stdout
result() {
  case $1 in
  tsv) sort "$2" ;;
  bytes) cat "$2" ;;
  h5) h5dump -A 0 "$2" | sed 1d ;; # line 1 names the file
  stdout) cat out.txt ;;
  esac
}
check_valued() {
  local row=$1 check file exe opt val args long short name ok_runs k a x v rc
  words "$row"
  check=${W[0]} file=${W[1]} exe=$(app_path "${W[2]}") opt=${W[3]} val=${W[4]}
  args=("${W[@]:5}")
  long=${opt#*|} short=${opt%|*}
  name="$(basename "$exe") ${args[*]} $opt"
  rm -f o1* o2* .o1* .o2*
  ok_runs=1
  for k in 1 2; do
    a=()
    for x in "${args[@]}"; do a+=("${x//OUT/o$k}"); done
    v=${val//OUT/o$k}
    if [ $k -eq 1 ]; then run "$exe" "${a[@]}" "$long=$v"; else run "$exe" "${a[@]}" "$short" "$v"; fi
    rc=$?
    if [ $rc -ne 0 ]; then
      fail "$name: exit $rc with $([ $k -eq 1 ] && echo "$long=$v" || echo "$short $v"): $(grep error: err.txt | head -2)"
      ok_runs=0
      break
    fi
    result "$check" "${file//OUT/o$k}" >"r$k.txt" 2>&1
  done
  [ $ok_runs -eq 1 ] || return
  if [ ! -s r1.txt ]; then fail "$name: no output to compare"
  elif cmp -s r1.txt r2.txt; then ok "$name: $long=VALUE and $short VALUE give the same output"
  else fail "$name: $long=VALUE and $short VALUE differ: $(diff r1.txt r2.txt | head -4)"; fi
}
for row in "${VALUED[@]}"; do spawn check_valued "$row"; done

# ---- refused: exit 2, one line "PROG: error: ..." ----
# APP PATTERN ARGS...: PATTERN (grep, '.' for any) must be in the error line
REFUSED=(
  # a missing value
  "WC       needs.a.value                    in.txt --top"
  "WC       needs.a.value                    in.txt -o"
  "GEN      needs.a.value                    text -o x.txt --size"
  "GEN      needs.a.value                    particles -o x.h5 --rows"
  "SORT     needs.a.value                    in.h5:/particles -o x.h5:/s --key"
  "GROUPBY  needs.a.value                    in.h5:/particles --key cell -o x.h5:/g --agg"
  "STATS    needs.a.value                    in.h5:/particles --bins"
  "STATS    needs.a.value                    in.h5:/particles --range"
  # an unknown option
  "WC       unknown.option                   --bogus in.txt"
  "WC       unknown.option                   --bogus=1 in.txt"
  "GEN      unknown                          bogus --size 1K -o x.txt"
  "GEN      unknown.option                   text --size 1K -o x.txt --bogus"
  "GEN      unknown.option                   particles --rows 10 -o x.h5 --bogus=1"
  "SORT     unknown.option                   in.h5:/particles --key x -o x.h5:/s --bogus"
  "GROUPBY  unknown.option                   in.h5:/particles --key cell --agg count -o x.h5:/g --bogus"
  "STATS    unknown.option                   in.h5:/particles --bogus"
  # a bad spec
  "SORT     expected.FILE:/path/to/dataset   in.h5 --key x -o x.h5:/s"
  "SORT     expected.FILE.h5:/path           in.h5:/particles --key x -o x.h5"
  "GROUPBY  expected.FILE:/path/to/dataset   in.h5 --key cell --agg count -o x.h5:/g"
  "GROUPBY  expected.FILE.h5:/path           in.h5:/particles --key cell --agg count -o x.h5:/"
  "STATS    expected.FILE:/path/to/dataset   in.h5"
  "GEN      bad.dataset.path                 particles --rows 10 -o x.h5:/"
  # a bad value: junk, out of range, empty
  "WC       --top                            --top x in.txt"
  "WC       --top                            --top=-1 in.txt"
  "WC       --top                            --top '' in.txt"
  "WC       .                                -o '' in.txt"
  "GEN      --size                           text --size 12Q -o x.txt"
  "GEN      --size                           text --size= -o x.txt"
  "GEN      --zipf                           text --size 1K --zipf nan -o x.txt"
  "GEN      --vocab                          text --size 1K --vocab 0 -o x.txt"
  "GEN      --deflate                        particles --rows 10 --deflate 10 -o x.h5"
  "GEN      --rows                           particles --rows 10x -o x.h5"
  "SORT     deflate                          in.h5:/particles --key x -o x.h5:/s --deflate ''"
  "SORT     deflate                          in.h5:/particles --key x -o x.h5:/s --deflate=3x"
  "SORT     .                                in.h5:/particles --key '' -o x.h5:/s"
  "GROUPBY  deflate                          in.h5:/particles --key cell --agg count -o x.h5:/g --deflate 10"
  "GROUPBY  deflate                          in.h5:/particles --key cell --agg count -o x.h5:/g --deflate="
  "GROUPBY  unknown.aggregate                in.h5:/particles --key cell --agg median:x -o x.h5:/g"
  "STATS    bins                             in.h5:/particles --bins 0"
  "STATS    bins                             in.h5:/particles --bins=3x"
  "STATS    bins                             in.h5:/particles --bins ''"
  "STATS    range                            in.h5:/particles --range 5:1"
  "STATS    transfer                         in.h5:/particles --transfer=bogus"
  # a flag given a value
  "WC       force                            --force=1 in.txt"
  "GEN      contiguous                       particles --rows 10 --contiguous=yes -o x.h5"
  "SORT     descending                       in.h5:/particles --key x -o x.h5:/s --descending=1"
  "GROUPBY  force                            in.h5:/particles --key cell --agg count -o x.h5:/g --force=1"
  "STATS    force                            in.h5:/particles --force=1"
)
check_refused() {
  local row=$1 exe pat args prog rc n
  words "$row"
  exe=$(app_path "${W[0]}") pat=${W[1]}
  args=("${W[@]:2}")
  prog=$(basename "$exe")
  rm -f x.txt x.h5
  run "$exe" "${args[@]}"; rc=$?
  n=$(grep -c ": error:" err.txt)
  if [ $rc -eq 2 ] && [ "$n" -eq 1 ] && grep -q "^$prog: error: .*$pat" err.txt && [ ! -e x.txt ] &&
    [ ! -e x.h5 ]; then
    ok "$prog ${args[*]}: $(grep ": error:" err.txt)"
  else
    fail "$prog ${args[*]}: expected exit 2 and one line '$prog: error: ...$pat...', found exit $rc, $n error line(s): $(grep -v '^--\|^$' err.txt | head -3)"
  fi
}
for row in "${REFUSED[@]}"; do
  case $row in "#"*) continue ;; esac
  spawn check_refused "$row"
done

# every check's lines, in the order the checks were started
wait
for ((i = 0; i < njob; i++)); do cat "$WORK/j$i.log"; done
failures=$(cat "$WORK"/j*.log | grep -c '^FAIL')
if [ "$failures" -ne 0 ]; then
  echo "test_cli: $failures check(s) failed"
  exit 1
fi
echo "test_cli: all checks passed"
