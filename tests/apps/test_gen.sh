#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_gen.sh BUILD_DIR: checks sluice-gen's outputs and their independence from the
# number of ranks. Needs mpirun, h5dump and h5diff (hdf5-tools).
# "A && ok || fail" is safe here: ok and fail always return 0.
# shellcheck disable=SC2015
set -u
BUILD=${1:?usage: test_gen.sh BUILD_DIR}
GEN="$BUILD/apps/sluice-gen/sluice-gen"
# CI runs as root; Open MPI refuses that unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export LC_ALL=C
MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
NP=${SLUICE_MPIEXEC_NP:--n}
MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}

[ -x "$GEN" ] || { echo "FAIL: $GEN is missing (build the sluice-gen target)"; exit 1; }
for tool in h5dump h5diff cmp od; do
  command -v $tool >/dev/null 2>&1 || { echo "FAIL: $tool is not installed"; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_gen.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0
fail() { printf "FAIL: %s\n" "$*"; failures=$((failures + 1)); }
ok() { printf "ok: %s\n" "$*"; }
# run N ARGS...: sluice-gen on N ranks (1 runs it directly, as a singleton)
run() {
  n=$1; shift
  if [ "$n" -eq 1 ]; then
    timeout -k 5 120 "$GEN" "$@"
  else
    # shellcheck disable=SC2086 # the flags are a space-separated list on purpose
    timeout -k 5 120 "$MPIEXEC" $NP "$n" $MPIFLAGS "$GEN" "$@"
  fi
}

# ---- common CLI ----
v=$("$GEN" --version 2>&1)
case "$v" in "sluice-gen "[0-9]*) ok "--version: $v" ;; *) fail "--version printed '$v'" ;; esac
if "$GEN" --help >help.txt 2>&1 && grep -q "sluice-gen text" help.txt &&
   grep -q "sluice-gen particles" help.txt; then ok "--help"; else fail "--help"; fi
for bad in "" "bogus" "text -o x" "text --size 12Q -o x" "text --size 10 --frob -o x" \
           "particles -o x.h5" "particles --rows 10 --contiguous --deflate 1 -o x.h5"; do
  # shellcheck disable=SC2086 # word splitting of $bad is the point
  "$GEN" $bad >out.txt 2>err.txt
  rc=$?
  lines=$(wc -l <err.txt)
  if [ $rc -eq 2 ] && [ "$lines" -eq 1 ]; then ok "usage error exits 2: '$bad'"
  else fail "'sluice-gen $bad' exited $rc with $lines stderr lines (want 2 and 1)"; cat err.txt; fi
done

# ---- text ----
# 9 MiB + 3 bytes: three 4 MiB segments, the last one short, written by both ranks.
SIZE=$((9 * 1048576 + 3))
run 1 text --size $SIZE --seed 7 --vocab 50000 -o t1.txt || fail "text at 1 rank"
run 2 text --size $SIZE --seed 7 --vocab 50000 -o t2.txt || fail "text at 2 ranks"
run 1 text --size $SIZE --seed 8 --vocab 50000 -o t3.txt || fail "text with seed 8"
size=$(wc -c <t1.txt)
[ "$size" -eq $SIZE ] && ok "text size $size" || fail "text size $size, want $SIZE"
last=$(tail -c 1 t1.txt | od -An -tx1 | tr -d ' ')
[ "$last" = "0a" ] && ok "text ends with a newline" || fail "text ends with byte $last"
other=$(tr -d 'a-z \n' <t1.txt | wc -c)
[ "$other" -eq 0 ] && ok "text has only [a-z \\n]" || fail "text has $other other bytes"
spaces=$(grep -c -E '^ | $|  |^$' t1.txt)
[ "$spaces" -eq 0 ] && ok "text words are separated by single spaces" ||
  fail "$spaces lines with leading, trailing or double spaces, or empty"
cmp -s t1.txt t2.txt && ok "text is the same at 1 and 2 ranks" || fail "text differs at 1 and 2 ranks"
cmp -s t1.txt t3.txt && fail "seeds 7 and 8 gave the same text" || ok "another seed gives other text"
for s in 1 2 5; do
  run 1 text --size $s -o tiny$s.txt && [ "$(wc -c <tiny$s.txt)" -eq $s ] &&
    [ "$(tail -c 1 tiny$s.txt | od -An -tx1 | tr -d ' ')" = "0a" ] && ok "text --size $s" ||
    fail "text --size $s"
done

# ---- particles ----
ROWS=300001
run 1 particles --rows $ROWS --chunk 50000 --skew 1.1 --cells 1000 --seed 3 -o p1.h5 ||
  fail "particles at 1 rank"
run 2 particles --rows $ROWS --chunk 50000 --skew 1.1 --cells 1000 --seed 3 -o p2.h5 ||
  fail "particles at 2 ranks"
h5dump -H p1.h5 >head.txt 2>&1
for want in 'DATASET "particles"' H5T_COMPOUND 'H5T_STD_I64LE "id"' 'H5T_STD_I32LE "cell"' \
            'H5T_IEEE_F64LE "x"' 'H5T_IEEE_F64LE "y"' 'H5T_IEEE_F64LE "z"' \
            'H5T_IEEE_F32LE "mass"' "( $ROWS ) / ( $ROWS )"; do
  grep -qF "$want" head.txt && ok "h5dump -H shows $want" || fail "h5dump -H lacks $want"
done
h5diff p1.h5 p2.h5 >diff.txt 2>&1 && ok "particles are the same at 1 and 2 ranks" ||
  { fail "particles differ at 1 and 2 ranks"; head -20 diff.txt; }
# The first row's id is 0 and the last's is ROWS-1.
h5dump -d /particles -s $((ROWS - 1)) -c 1 p1.h5 | grep -q "^ *$((ROWS - 1)),$" &&
  ok "last row has id $((ROWS - 1))" || fail "last row id"

run 2 particles --rows $ROWS --chunk 50000 --skew 1.1 --cells 1000 --seed 3 --deflate 6 \
  --shuffle -o pz.h5:/grp/parts || fail "particles with deflate at 2 ranks"
h5dump -p -H pz.h5 >headz.txt 2>&1
grep -q "COMPRESSION DEFLATE { LEVEL 6 }" headz.txt && grep -q "PREPROCESSING SHUFFLE" headz.txt &&
  ok "deflate and shuffle filters are set" || fail "filters missing in h5dump -p -H"
h5diff pz.h5 p1.h5 /grp/parts /particles >diff.txt 2>&1 && ok "deflated rows are the same" ||
  { fail "deflated rows differ"; head -20 diff.txt; }
run 2 particles --rows 7 --contiguous -o pc.h5 && h5dump -p -H pc.h5 | grep -q CONTIGUOUS &&
  ok "contiguous layout, fewer rows than a block" || fail "contiguous layout"

# ---- all-or-nothing output ----
cp p1.h5 keep.h5
run 1 particles --rows 10 -o p1.h5 2>err.txt
rc=$?
if [ $rc -eq 2 ] && grep -q "exists" err.txt && cmp -s p1.h5 keep.h5; then
  ok "existing output refused (exit 2, file untouched)"
else fail "existing output: exit $rc, $(cat err.txt)"; fi
run 1 text --size 10 -o t1.txt 2>/dev/null && fail "existing text output not refused" ||
  ok "existing text output refused"
run 2 particles --rows 10 --force -o p1.h5 && h5dump -H p1.h5 | grep -qF "( 10 ) / ( 10 )" &&
  ok "--force replaces the output" || fail "--force"
# a bad destination is bad usage found before any work (it used to fail at the final
# rename, after writing everything, with exit 1)
mkdir -p outdir
for n in 2 4; do
  for cmd in "particles --rows 100000" "text --size 4M"; do
    for force in "" --force; do
      run $n $cmd -o outdir $force 2>err.txt; rc=$?
      if [ $rc -eq 2 ] && [ "$(grep -c "error:" err.txt)" -eq 1 ] && grep -q "is a directory" err.txt &&
        [ -z "$(ls -A outdir)" ]; then ok "np$n $cmd -o DIR $force: exit 2, one line"
      else fail "np$n $cmd -o DIR $force: expected exit 2 and one line 'is a directory', found exit $rc: $(head -3 err.txt)"; fi
    done
    run $n $cmd -o nosuchdir/x.out 2>err.txt; rc=$?
    if [ $rc -eq 2 ] && grep -q "does not exist" err.txt && [ ! -e nosuchdir ]; then ok "np$n $cmd: missing output directory: exit 2"
    else fail "np$n $cmd: missing output directory: expected exit 2 'does not exist', found exit $rc: $(head -3 err.txt)"; fi
  done
done
leftover=0
for f in *.sluice-gen-tmp.* .*.sluice-tmp-*; do [ -e "$f" ] && leftover=$((leftover + 1)); done
[ "$leftover" -eq 0 ] && ok "no temporary files left" || fail "$leftover temporary files left"

if [ $failures -ne 0 ]; then
  echo "test_gen: $failures check(s) failed"
  exit 1
fi
echo "test_gen: all checks passed"
