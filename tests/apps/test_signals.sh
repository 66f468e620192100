#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_signals.sh BUILD_DIR: how a stop signal reaches sluice-wordcount under mpirun, at 2
# and 4 ranks, as docs/cluster.md states it: SIGUSR1 to mpirun (forwarded) and SIGTERM to
# the ranks give exit 3; SIGTERM to mpirun gives 1 (Open MPI's mpirun sets its own status
# to 1 when it aborts on SIGTERM) while the ranks still stop cleanly. Every case: nothing
# under the output name, no temporary left, no rank left running.
# shellcheck disable=SC2086
set -u
BUILD=$(cd "${1:?usage: test_signals.sh BUILD_DIR}" && pwd) || exit 1
WC=$BUILD/apps/sluice-wordcount/sluice-wordcount
GEN=$BUILD/apps/sluice-gen/sluice-gen
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
NP=${SLUICE_MPIEXEC_NP:--n}
MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_signals.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0
fail() { printf "FAIL: %s\n" "$*"; failures=$((failures + 1)); }
ok() { printf "ok: %s\n" "$*"; }
timeout -k 5 120 "$GEN" text --size 200M --seed 5 -o big.txt >/dev/null 2>&1 || { echo "FAIL: generate"; exit 1; }

# stop(N, WHO, SIG, EXPECTED_RC): start a long count, signal WHO (mpirun | ranks) after 1 s
stop() {
  n=$1 who=$2 sig=$3 want=$4
  rm -f out.tsv
  # 2.4 GB of text: the count must still run when the signal comes 1 s in (the block word
  # count reads this corpus at about 0.6 GB/s on 2 cores)
  timeout -k 5 120 "$MPIEXEC" $NP "$n" $MPIFLAGS "$WC" big.txt big.txt big.txt big.txt big.txt \
    big.txt big.txt big.txt big.txt big.txt big.txt big.txt -o out.tsv >log.txt 2>&1 &
  pid=$!
  sleep 1
  # timeout's child is mpirun; the ranks are mpirun's children
  mp=$(pgrep -P "$pid" | head -1)
  if [ "$who" = mpirun ]; then kill -s "$sig" "$mp"
  else for r in $(pgrep -P "$mp" -f sluice-wordcount); do kill -s "$sig" "$r"; done; fi
  wait "$pid"
  rc=$?
  left=$(ls -A | grep -c "sluice-tmp")
  alive=$(pgrep -f "$WC big.txt" | wc -l)
  # SIGTERM to mpirun is an abort: SIGKILL follows after odls_base_sigkill_timeout (1 s), so
  # slow ranks (sanitizers, a loaded machine) may be killed before they stop, leaving what a
  # kill leaves (the temporary, which the next run to that output removes)
  killed=""
  if [ "$who" = mpirun ] && [ "$sig" = TERM ] && ! grep -q "stopped by a signal" log.txt; then
    killed=1
    rm -f .out.tsv.sluice-tmp-*
    left=0
  fi
  if [ $rc -ne "$want" ]; then fail "np$n $sig to $who: exit $rc, expected $want: $(grep error: log.txt | head -2)"
  elif [ -z "$killed" ] && ! grep -q "stopped by a signal" log.txt; then fail "np$n $sig to $who: the ranks did not stop cleanly: $(head -3 log.txt)"
  elif [ -e out.tsv ] || [ "$left" -ne 0 ] || [ "$alive" -ne 0 ]; then fail "np$n $sig to $who: output $([ -e out.tsv ] && echo present), $left temporaries, $alive ranks alive"
  else ok "np$n $sig to $who: exit $rc, stopped cleanly, nothing left"; fi
}
# early(N): SIGTERM to every rank as soon as it handles SIGTERM at all (SigCgt in
# /proc/PID/status): sluice takes the stop signals at the start of sl_init, before MPI_Init
# and the binding, so the signal lands while those run (a few tenths of a second); the job
# stops cleanly with exit 3 instead of dying by the signal
early() {
  n=$1
  rm -f out.tsv
  timeout -k 5 120 "$MPIEXEC" $NP "$n" $MPIFLAGS "$WC" big.txt -o out.tsv >log.txt 2>&1 &
  pid=$!
  sent=0 tries=0
  while [ $sent -lt "$n" ] && [ $tries -lt 2000 ]; do
    tries=$((tries + 1))
    mp=$(pgrep -P "$pid" | head -1)
    for r in $( [ -n "$mp" ] && pgrep -P "$mp" -f sluice-wordcount); do
      [ -e "$WORK/sent.$r" ] && continue
      cgt=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$r/status" 2>/dev/null)
      # SIGTERM is signal 15: bit 14 of the mask, in its last four hex digits
      if [ -n "$cgt" ] && [ $((0x$(echo "$cgt" | tail -c 5) & 0x4000)) -ne 0 ]; then
        kill -s TERM "$r" && : >"$WORK/sent.$r" && sent=$((sent + 1))
      fi
    done
    sleep 0.005
  done
  rm -f "$WORK"/sent.*
  wait "$pid"
  rc=$?
  left=$(ls -A | grep -c "sluice-tmp")
  if [ $sent -lt "$n" ]; then fail "np$n early TERM: only $sent rank(s) seen handling SIGTERM"
  elif [ $rc -ne 3 ]; then fail "np$n early TERM: exit $rc, expected 3: $(head -3 log.txt)"
  elif ! grep -q "stopped by a signal" log.txt; then fail "np$n early TERM: not stopped cleanly: $(head -3 log.txt)"
  elif [ -e out.tsv ] || [ "$left" -ne 0 ]; then fail "np$n early TERM: output or temporaries left"
  else ok "np$n early TERM (in sl_init): exit 3, stopped cleanly, nothing left"; fi
}
early 2
for n in 2 4; do
  stop $n mpirun USR1 3
  stop $n ranks TERM 3
  stop $n mpirun TERM 1
done
echo "test_signals: $failures failure(s)"
[ $failures -eq 0 ]
