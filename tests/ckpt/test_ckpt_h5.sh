#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test_ckpt_h5.sh BUILD_DIR: checkpoint and resume of the HDF5 parts (docs/checkpoint.md),
# on a generated table (sluice-gen particles), stops from the library's test knob
# SLUICE_TEST_CKPT_SIGNAL=RUN:RANK:ROWS:SLOW_US (SIGUSR1 on RANK once its HDF5 source
# partitions passed on ROWS rows in the program's RUN-th sl_run; each block they pass on
# sleeps SLOW_US, so the run cannot end before the stop; with a fifth field ":sink" the rows
# that RANK's HDF5 sink took, slowed every 1000 rows: a stop while the output is written):
#   h5stats  stopped in pass 1 (early, on rank 0), in pass 2 (half-way, on the last rank:
#            the resume skips pass 1 and takes its results from the checkpoint), at the end
#            of pass 2 (the last rows, before the result file is written), at 1-4 ranks:
#            exit 3, no output; the same command again: exit 0, stdout and every dataset of
#            the result file equal to an uninterrupted run's (h5py), the checkpoint gone;
#            --along a dimension with a coordinate (two runs) stopped in its second run
#   copy     ckpt_h5copy (HDF5 source, independent and collective transfers -> filter ->
#            HDF5 sink in rank order) stopped and resumed, the table equal to h5py's
#            selection of the input's rows
#   range    ckpt_h5copy gen: a range into the HDF5 sink (which writes in rank order with a
#            checkpoint directory), stopped by the program at a row, resumed: every row once
#   changed  an input touched after the stop: the resume is refused (exit 2, one line
#            naming the file), the checkpoint kept
#   h5sort   sluice-h5sort stopped while it reads and while it writes its output (the sort's
#            drain into the sink), at 2-4 ranks, resumed, the table byte for byte an
#            uninterrupted run's; stopped during the drain's radix sort (":sort": steps of
#            that sort), resumed from the saved buckets, the same table
#   groupby  sluice-h5groupby stopped and resumed, its table compared with an uninterrupted
#            run's, once its sort can be saved; until then its refusal (one line naming
#            the sort) is checked
set -u
BUILD=$(cd "${1:?usage: test_ckpt_h5.sh BUILD_DIR}" && pwd) || exit 1
S=$BUILD/apps/sluice-h5stats/sluice-h5stats
G=$BUILD/apps/sluice-h5groupby/sluice-h5groupby
GEN=$BUILD/apps/sluice-gen/sluice-gen
COPY=$BUILD/tests/ckpt/ckpt_h5copy
PY=${SLUICE_PYTHON:-/usr/bin/python3}
for x in "$S" "$G" "$GEN" "$COPY"; do
  [ -x "$x" ] || { echo "FAIL: $x is missing"; exit 1; }
done
"$PY" -c 'import h5py, numpy' 2>/dev/null || { echo "SKIP: no h5py in $PY"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 LC_ALL=C
MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
NP=${SLUICE_MPIEXEC_NP:--n}
MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_ckpt_h5.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
run() { # NP PROG ARGS...: under a timeout; small read blocks (many pulls)
  local n=$1
  shift
  # shellcheck disable=SC2086
  timeout -k 5 60 "$MPIEXEC" $NP "$n" $MPIFLAGS "$@" --sl-read-block-bytes=16K
}
ROWS=40000
"$GEN" particles --rows $ROWS --chunk 1000 --seed 7 -o p.h5 >/dev/null || {
  echo "FAIL: sluice-gen"
  exit 1
}
# same_h5 A B: every dataset of A equal to B's (NaN equal to NaN), the same names
cat >same.py <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
def names(f):
    out = []
    f.visititems(lambda n, o: out.append(n) if isinstance(o, h5py.Dataset) else None)
    return sorted(out)
assert names(a) == names(b), (names(a), names(b))
for n in names(a):
    x, y = a[n][()], b[n][()]
    assert x.dtype == y.dtype and x.shape == y.shape, n
    assert x.tobytes() == y.tobytes(), n
PY
# copied IN OUT: OUT's /rows are IN's /particles rows whose id is not a multiple of 3
cat >copied.py <<'PY'
import sys, h5py, numpy as np
src = h5py.File(sys.argv[1], "r")["particles"][()]
out = h5py.File(sys.argv[2], "r")["rows"][()]
want = src[src["id"] % 3 != 0]
assert out.dtype == want.dtype and out.shape == want.shape, (out.shape, want.shape)
assert out.tobytes() == want.tobytes()
PY
same_h5() { "$PY" same.py "$1" "$2" 2>err.py || { cat err.py; return 1; }; }
# shellcheck disable=SC2317 # called through resumed
copied() { "$PY" copied.py p.h5 out.h5 2>err.py || { tail -2 err.py; return 1; }; }
# same_gb A B: the group-by tables: keys, counts, minima, maxima equal; sums and means to
# 1e-12 (their floating-point sums follow the order in which the shuffle delivers the
# values: two uninterrupted runs on 3 ranks differ in the last bit already)
cat >same_gb.py <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(f, "r")["g"][()] for f in sys.argv[1:3])
assert a.dtype == b.dtype and a.shape == b.shape, (a.shape, b.shape)
for n in a.dtype.names:
    if n.startswith(("sum", "mean")):
        assert np.allclose(a[n], b[n], rtol=1e-12, atol=0, equal_nan=True), n
    else:
        assert a[n].tobytes() == b[n].tobytes(), n
PY
# shellcheck disable=SC2317 # called through resumed
same_gb() { "$PY" same_gb.py "$1" "$2" 2>err.py || { cat err.py; return 1; }; }

# stopped NAME: the stopped run's exit status, line and absent output
stopped() { # NAME RC OUTFILE
  if [ "$2" -ne 3 ] || ! grep -q "checkpoint saved in ck" err.txt || [ -e "$3" ] ||
    [ ! -f ck/manifest ]; then
    fail "$1: stop: exit $2, output $([ -e "$3" ] && echo present || echo absent): $(head -c 300 err.txt)"
    return 1
  fi
}
# resumed NAME RC WHAT CMD...: the rerun (exit status RC, its stderr in err.txt at
# --sl-log-level=info) resumed, exited 0 and removed the checkpoint, and CMD finds its
# output right: then "resumed, WHAT"
resumed() {
  local name=$1 rc=$2 what=$3
  shift 3
  if ! grep -q "run 1: resuming from checkpoint" err.txt; then
    fail "$name: the rerun did not resume: $(head -c 300 err.txt)"
  elif [ "$rc" -ne 0 ] || [ -e ck ]; then
    fail "$name: resume: exit $rc: $(head -c 300 err.txt)"
  elif ! "$@"; then
    fail "$name: the output is not $what"
  else
    ok "$name: resumed, $what"
  fi
}

# ---- sluice-h5stats: the two passes ----
for np in 1 2 3 4; do
  share=$((ROWS / np))
  run "$np" "$S" p.h5:/particles -o ref.h5 --force >ref.txt 2>err.txt ||
    { fail "np$np h5stats reference: $(cat err.txt)"; continue; }
  case $np in # RUN:RANK:ROWS: pass 1 early | pass 2 half-way | pass 2's last rows
  1) points="1:0:2000 2:0:$((share / 2))" ;;
  2) points="2:1:$((share / 2))" ;;
  3) points="1:2:$((share / 2)) 2:0:$((share - 100))" ;;
  4) points="2:3:$((share / 3))" ;;
  esac
  for pt in $points; do
    name="np$np h5stats signal $pt"
    rm -rf ck out.h5
    SLUICE_TEST_CKPT_SIGNAL=$pt:4000 run "$np" "$S" p.h5:/particles -o out.h5 \
      --sl-checkpoint-dir=ck >out.txt 2>err.txt
    rc=$?
    if [ $rc -eq 0 ] && [ "${pt#2:0:}" != "$pt" ]; then
      : # the last rows: the signal may come after rank 0 joined the end (it finishes)
    else
      stopped "$name" $rc out.h5 || continue
      run "$np" "$S" p.h5:/particles -o out.h5 --sl-checkpoint-dir=ck --sl-log-level=info \
        >out.txt 2>err.txt
      rc=$?
      # it resumed the run it stopped (and skipped pass 1 when pass 2 stopped)
      r=${pt%%:*}
      if ! grep -q "run $r: resuming from checkpoint" err.txt ||
        { [ "$r" = 2 ] && ! grep -q "run 1: done by an earlier job" err.txt; }; then
        fail "$name: the rerun did not resume run $r: $(grep -i 'run [12]' err.txt | head -3)"
        continue
      fi
    fi
    if [ $rc -ne 0 ] || [ -e ck ]; then
      fail "$name: resume: exit $rc, ck $([ -e ck ] && echo kept || echo gone): $(head -c 300 err.txt)"
    elif ! cmp -s out.txt ref.txt; then
      fail "$name: stdout differs from the uninterrupted run's"
    elif ! same_h5 out.h5 ref.h5; then
      fail "$name: the result file differs from the uninterrupted run's"
    else
      ok "$name: resumed, the same results"
    fi
  done
done

# ---- --along with a coordinate (run 1 reads the coordinate, run 2 folds): stopped in
# run 2, the resume skips run 1 and takes the summed coordinate from the checkpoint ----
"$PY" - <<'PY' || fail "cannot write nd.h5"
import h5py, numpy as np
with h5py.File("nd.h5", "w") as f:
    v = f.create_dataset("v", data=np.random.default_rng(3).random((5000, 8)) * 100,
                         chunks=(500, 8))
    lat = f.create_dataset("lat", data=np.linspace(-70, 70, 8))
    lat.make_scale("lat")
    v.dims[1].attach_scale(lat)
PY
name="np3 h5stats --along lat signal 2:0:3000"
rm -rf ck out.h5
run 3 "$S" nd.h5:/v --along lat -o ref.h5 --force >ref.txt 2>err.txt ||
  fail "$name: reference: $(head -c 300 err.txt)"
SLUICE_TEST_CKPT_SIGNAL=2:0:3000:4000 run 3 "$S" nd.h5:/v --along lat -o out.h5 \
  --sl-checkpoint-dir=ck >out.txt 2>err.txt
if stopped "$name" $? out.h5; then
  run 3 "$S" nd.h5:/v --along lat -o out.h5 --sl-checkpoint-dir=ck --sl-log-level=info \
    >out.txt 2>err.txt
  rc=$?
  if [ $rc -ne 0 ] || ! grep -q "run 1: done by an earlier job" err.txt; then
    fail "$name: resume: exit $rc: $(grep -v '^sluice\[' err.txt | head -c 300)"
  elif ! cmp -s out.txt ref.txt || ! same_h5 out.h5 ref.h5; then
    fail "$name: the results differ from the uninterrupted run's"
  else
    ok "$name: resumed (the coordinate run skipped), the same results"
  fi
fi

# ---- a changed input: refused, the checkpoint kept ----
rm -rf ck out.h5
cp p.h5 q.h5
SLUICE_TEST_CKPT_SIGNAL=1:0:2000:1000 run 2 "$S" q.h5:/particles -o out.h5 \
  --sl-checkpoint-dir=ck >out.txt 2>err.txt
if stopped "changed input" $? out.h5; then
  touch -d '2001-01-01' q.h5
  run 2 "$S" q.h5:/particles -o out.h5 --sl-checkpoint-dir=ck >out.txt 2>err.txt
  rc=$?
  lines=$(grep -c 'holds a checkpoint of another run' err.txt)
  if [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -q "input.0 was 'q.h5" err.txt ||
    [ ! -f ck/manifest ] || [ -e out.h5 ]; then
    fail "changed input: exit $rc, $lines line(s): $(head -c 400 err.txt)"
  else
    ok "changed input: refused with one line naming q.h5, the checkpoint kept"
  fi
fi

# ---- the HDF5 source (independent, collective) into the HDF5 sink ----
for c in "2 collective 1:1:8000" "3 independent 1:2:5000" "4 collective 1:0:2000"; do
  read -r np xfer pt <<<"$c"
  name="np$np copy ($xfer) signal $pt"
  rm -rf ck out.h5
  SLUICE_TEST_CKPT_SIGNAL=$pt:4000 run "$np" "$COPY" p.h5:/particles out.h5:/rows $xfer \
    --sl-checkpoint-dir=ck >/dev/null 2>err.txt
  stopped "$name" $? out.h5 || continue
  run "$np" "$COPY" p.h5:/particles out.h5:/rows $xfer --sl-checkpoint-dir=ck \
    --sl-log-level=info >/dev/null 2>err.txt
  resumed "$name" $? "the rows of h5py's selection in order" copied
done

# ---- a range into the HDF5 sink (rounds without a checkpoint directory, rank order with
# one): stopped by the program at a row, resumed, every id once ----
cat >gen.py <<'PY'
import sys, h5py, numpy as np
n = int(sys.argv[2])
r = np.sort(h5py.File(sys.argv[1], "r")["rows"][()], order="id")
assert len(r) == n, (len(r), n)
assert np.array_equal(r["id"], np.arange(n)) and np.array_equal(r["x"], np.arange(n) / 2)
PY
# (the last row of a rank's share: the stop comes as its partitions end, before the write
# at the end, or after them, when the job finishes: either way the table is whole)
for c in "2 30000 1" "4 10000 3" "3 40000 0"; do
  read -r np at rank <<<"$c"
  name="np$np range to HDF5 signal at row $at on rank $rank"
  rm -rf ck g.h5
  CKPT_SIGNAL_AT=$at CKPT_SIGNAL_RANK=$rank CKPT_SLOW_US=2000 run "$np" "$COPY" gen 120000 \
    g.h5:/rows --sl-checkpoint-dir=ck >/dev/null 2>err.txt
  rc=$?
  if [ $rc -ne 0 ] || [ $np != 3 ]; then
    stopped "$name" $rc g.h5 || continue
    run "$np" "$COPY" gen 120000 g.h5:/rows --sl-checkpoint-dir=ck --sl-log-level=info \
      >/dev/null 2>err.txt
    rc=$?
    grep -q "run 1: resuming from checkpoint" err.txt || rc=99
  fi
  if [ $rc -ne 0 ] || [ -e ck ]; then
    fail "$name: resume: exit $rc: $(grep -v '^sluice\[' err.txt | head -c 300)"
  elif ! "$PY" gen.py g.h5 120000 2>err.py; then
    fail "$name: the table is not every id once: $(tail -2 err.py)"
  else
    ok "$name: resumed, every row once"
  fi
done

# ---- sluice-h5groupby ----
GB=(p.h5:/particles --key cell --agg count,sum:mass,mean:x,min:y,max:z)
for c in "2 1:1:$((ROWS / 4))" "3 1:0:$((ROWS / 6))"; do
  read -r np pt <<<"$c"
  name="np$np h5groupby signal $pt"
  run "$np" "$G" "${GB[@]}" -o gref.h5:/g --force >/dev/null 2>err.txt ||
    { fail "$name: reference: $(head -c 300 err.txt)"; continue; }
  rm -rf ck gout.h5
  SLUICE_TEST_CKPT_SIGNAL=$pt:4000 run "$np" "$G" "${GB[@]}" -o gout.h5:/g \
    --sl-checkpoint-dir=ck >/dev/null 2>err.txt
  rc=$?
  stopped "$name" $rc gout.h5 || continue
  run "$np" "$G" "${GB[@]}" -o gout.h5:/g --sl-checkpoint-dir=ck --sl-log-level=info \
    >/dev/null 2>err.txt
  resumed "$name" $? "the uninterrupted run's table" same_gb gout.h5 gref.h5
done

# ---- sluice-h5sort: stopped while it reads (the sort's first half: the knob counts the
# source's rows) and while it writes its output (":sink": the rows the HDF5 sink took on
# that rank, slowed every 1000 rows; on rank 0, which writes first: a stop asked by another
# rank after rank 0 closed lets the job finish, as docs/checkpoint.md says, and under ASan
# rank 3 took its 5000th row after that); the sorted table byte for byte the uninterrupted
# run's ----
H=$BUILD/apps/sluice-h5sort/sluice-h5sort
HS=(p.h5:/particles --key x)
for c in "2 1:1:$((ROWS / 4)):4000" "3 1:0:$((ROWS / 6)):4000" \
  "2 1:0:$((ROWS / 4)):2000:sink" "4 1:0:$((ROWS / 8)):2000:sink"; do
  read -r np pt <<<"$c"
  name="np$np h5sort signal $pt"
  run "$np" "$H" "${HS[@]}" -o sref.h5:/sorted --force >/dev/null 2>err.txt ||
    { fail "$name: reference: $(head -c 300 err.txt)"; continue; }
  rm -rf ck sout.h5 spill && mkdir spill
  SLUICE_TEST_CKPT_SIGNAL=$pt run "$np" "$H" "${HS[@]}" -o sout.h5:/sorted \
    --sl-checkpoint-dir=ck --sl-tmpdir=spill >/dev/null 2>err.txt
  stopped "$name" $? sout.h5 || continue
  run "$np" "$H" "${HS[@]}" -o sout.h5:/sorted --sl-checkpoint-dir=ck --sl-tmpdir=spill \
    --sl-log-level=info >/dev/null 2>err.txt
  rc=$?
  if [ -n "$(ls -A spill)" ]; then
    fail "$name: resume left spill files: $(ls -A spill | head -3)"
  else
    resumed "$name" $rc "the uninterrupted run's table byte for byte" same_h5 sout.h5 sref.h5
  fi
done

# ---- sluice-h5sort stopped during its drain's in-memory radix sort: the knob's ":sort"
# counts the steps of that sort, made 2000 records each (SLUICE_TEST_SORT_STEP) so that a
# table of 300000 rows takes 250-400 (signalled on rank 0, in its buckets: scattered, and
# at step 300 its largest bucket scattered again); the resumed run goes on from the buckets
# the checkpoint saved (rank 0's info line says so, at least once over the stops: where a
# stop lands depends on the ranks' timing) and writes the same table byte for byte ----
if "$GEN" particles --rows 300000 --chunk 4096 --seed 11 -o big.h5 >/dev/null 2>err.txt; then
  went_on=0
  for c in "2 1:0:200" "2 1:0:300" "3 1:0:120"; do
    read -r np pt <<<"$c"
    name="np$np h5sort stopped in its sort at step ${pt##*:}"
    run "$np" "$H" big.h5:/particles --key x -o bref.h5:/sorted --force >/dev/null 2>err.txt ||
      { fail "$name: reference: $(head -c 300 err.txt)"; continue; }
    rm -rf ck bout.h5
    SLUICE_TEST_SORT_STEP=2000 SLUICE_TEST_CKPT_SIGNAL=$pt:0:sort run "$np" "$H" big.h5:/particles \
      --key x -o bout.h5:/sorted --sl-checkpoint-dir=ck >/dev/null 2>err.txt
    stopped "$name" $? bout.h5 || continue
    SLUICE_TEST_SORT_STEP=2000 run "$np" "$H" big.h5:/particles --key x -o bout.h5:/sorted \
      --sl-checkpoint-dir=ck --sl-log-level=info >/dev/null 2>err.txt
    rc=$?
    grep -q "goes on with its radix sort" err.txt && went_on=$((went_on + 1))
    resumed "$name" $rc "the uninterrupted run's table byte for byte" same_h5 bout.h5 bref.h5
  done
  if [ $went_on -gt 0 ]; then
    ok "h5sort stopped in its sort: $went_on resumed run(s) went on from the saved buckets"
  else
    fail "h5sort stopped in its sort: no resumed run went on from saved buckets"
  fi
else
  fail "sluice-gen big.h5: $(head -c 300 err.txt)"
fi

[ $fails -eq 0 ] && echo "PASS" && exit 0
echo "$fails failure(s)"
exit 1
