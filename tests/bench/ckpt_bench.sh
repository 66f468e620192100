#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# ckpt_bench.sh BUILD_DIR [WORKLOAD ...]: what checkpoints cost (issue 12, point 5;
# docs/benchmarks.md "Checkpoint and resume"). WORKLOADs (default: wc h5sort):
#   wc      mpirun -n RANKS sluice-wordcount -o OUT TEXT
#   h5sort  mpirun -n RANKS sluice-h5sort H5:/particles --key x -o OUT.h5:/sorted
# Each round (REPS rounds; in each, the configurations in an order that rotates):
#   plain      the run without checkpoints: the baseline T
#   stopped    the run with --sl-checkpoint-dir, SIGUSR1 to mpirun at AT x T (half-way by
#              default), then the same command again (the resume): the checkpoint's size
#              (du), the time from the signal to the stopped run's exit, the time of the
#              resumed run, and (stopped run + resumed run) / T
#   interval   the run with --sl-checkpoint-interval=I for each I of INTERVALS: its time
#              / T and how many checkpoints it committed
# Every output is compared with the plain run's (word counts sorted; the sorted HDF5
# rows with h5py, byte for byte). Prints medians, writes BUILD_DIR/bench/ckpt-WORKLOAD.tsv.
#
# Environment: REPS (3), RANKS (2), AT (0.5), INTERVALS ("30s 5s"), TEXT (the real-text corpus,
# /tmp/sluice-compare-bench/real-1G.txt), H5 (/tmp/sluice-compare-bench/particles-26843545.h5),
# CKDIR (the checkpoint directory's parent: $TMPDIR or /tmp), MPIRUN_FLAGS.
set -u -o pipefail
export LC_ALL=C
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

BUILD=$(cd "${1:?usage: ckpt_bench.sh BUILD_DIR [wc|h5sort ...]}" && pwd) || exit 1
shift
WORKLOADS=${*:-wc h5sort}
REPS=${REPS:-3}
RANKS=${RANKS:-2}
AT=${AT:-0.5}
INTERVALS=${INTERVALS:-30s 5s}
TEXT=${TEXT:-/tmp/sluice-compare-bench/real-1G.txt}
H5=${H5:-/tmp/sluice-compare-bench/particles-26843545.h5}
MPIRUN_FLAGS=${MPIRUN_FLAGS:-}
WORK=$(mktemp -d "${CKDIR:-${TMPDIR:-/tmp}}/ckptbench.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$BUILD/bench" || exit 1
die() { echo "ckpt_bench: $*" >&2; exit 1; }

now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# cmd WORKLOAD OUT: the command line (without mpirun)
cmd() {
  case $1 in
  wc) echo "$BUILD/apps/sluice-wordcount/sluice-wordcount -o $2 $TEXT" ;;
  h5sort) echo "$BUILD/apps/sluice-h5sort/sluice-h5sort $H5:/particles --key x -o $2:/sorted" ;;
  *) die "unknown workload '$1' (wc, h5sort)" ;;
  esac
}
out_name() { case $1 in wc) echo "$WORK/out.tsv" ;; h5sort) echo "$WORK/out.h5" ;; esac; }
# same WORKLOAD OUT REF: is OUT the reference's output?
same() {
  case $1 in
  wc) sort "$2" | cmp -s - "$3" ;;
  h5sort) # the rows byte for byte (the provenance attributes name the output, so differ)
    /usr/bin/python3 -c 'import sys, h5py
a, b = (h5py.File(f, "r")["sorted"] for f in sys.argv[1:3])
sys.exit(not (a.dtype == b.dtype and a.shape == b.shape and a[()].tobytes() == b[()].tobytes()))' "$2" "$3" ;;
  esac
}
# mpirun in the background; sets PID
launch() { # LOG ARGS...
  local log=$1
  shift
  # shellcheck disable=SC2086
  mpirun -n "$RANKS" --bind-to core $MPIRUN_FLAGS "$@" >"$log" 2>&1 &
  PID=$!
}

for w in $WORKLOADS; do
  case $w in
  wc) [ -r "$TEXT" ] || die "TEXT=$TEXT is missing" ;;
  h5sort) [ -r "$H5" ] || die "H5=$H5 is missing" ;;
  esac
  OUT=$(out_name "$w")
  REF=$WORK/ref-$w
  read -ra CMD <<<"$(cmd "$w" "$OUT")"
  CK=$WORK/ck
  echo "== $w at $RANKS ranks: ${CMD[*]##*/} (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  cat "${CMD[@]: -1}" >/dev/null 2>&1 # warm the page cache (wc: the text)
  [ "$w" = h5sort ] && cat "$H5" >/dev/null
  : >"$WORK/plain" && : >"$WORK/total" && : >"$WORK/size" &&
    : >"$WORK/commit" && : >"$WORK/stopwait" && : >"$WORK/resumed" && : >"$WORK/ival" &&
    : >"$WORK/ivratio"
  for iv in $INTERVALS; do : >"$WORK/ival-$iv" && : >"$WORK/nckpt-$iv"; done
  T=0
  for rep in $(seq "$REPS"); do
    ivs=""
    for iv in $INTERVALS; do ivs="$ivs interval=$iv"; done
    order="plain stopped$ivs"
    case $(((rep - 1) % 3)) in 1) order="stopped$ivs plain" ;; 2) order="$ivs plain stopped" ;; esac
    [ "$rep" -eq 1 ] && order="plain stopped$ivs" # the first round needs T first
    for conf in $order; do
      rm -rf "$OUT" "$CK"
      case $conf in
      interval=*) iv=${conf#interval=} conf=interval ;;
      esac
      case $conf in
      plain)
        t0=$(now)
        launch "$WORK/log" "${CMD[@]}"
        wait "$PID" || die "$w plain run failed: $(tail -3 "$WORK/log")"
        t=$(echo "$(now) - $t0" | bc -l)
        echo "$t" >>"$WORK/plain"
        if [ ! -e "$REF" ]; then
          if [ "$w" = wc ]; then sort "$OUT" >"$REF"; else mv "$OUT" "$REF"; fi
        elif ! same "$w" "$OUT" "$REF"; then die "$w: a plain run's output differs from the first"; fi
        T=$(median <"$WORK/plain")
        printf '  plain      %.2f s\n' "$t"
        ;;
      stopped)
        t0=$(now)
        launch "$WORK/log1" "${CMD[@]}" --sl-checkpoint-dir="$CK" --sl-log-level=info
        sleep "$(echo "$T * $AT" | bc -l)"
        ts=$(now)
        kill -USR1 "$PID" 2>/dev/null
        wait "$PID"
        rc=$?
        t1=$(now)
        if [ $rc -ne 3 ]; then
          echo "  stopped    exit $rc (not 3: finished before the signal?), skipped: $(grep -m1 error: "$WORK/log1")"
          continue
        fi
        size=$(du -sb "$CK" | cut -f1)
        commit=$(sed -n 's/.*committed in .*, \([0-9.]*\) s after it started.*/\1/p' "$WORK/log1" | tail -1)
        launch "$WORK/log2" "${CMD[@]}" --sl-checkpoint-dir="$CK"
        wait "$PID" || die "$w resume failed: $(tail -3 "$WORK/log2")"
        t2=$(now)
        same "$w" "$OUT" "$REF" || die "$w: the resumed run's output differs from the plain run's"
        [ -e "$CK" ] && die "$w: the checkpoint is still there after the resume"
        total=$(echo "$t2 - $t0" | bc -l)
        echo "$total" >>"$WORK/total"
        echo "$size" >>"$WORK/size"
        echo "${commit:-nan}" >>"$WORK/commit"
        echo "$t1 - $ts" | bc -l >>"$WORK/stopwait"
        echo "$t2 - $t1" | bc -l >>"$WORK/resumed"
        printf '  stopped    at %.2f s, checkpoint %.1f MB saved in %s s, exit %.2f s after the signal; resumed %.2f s; total %.2f s\n' \
          "$(echo "$ts - $t0" | bc -l)" "$(echo "$size / 1000000" | bc -l)" "${commit:-?}" \
          "$(echo "$t1 - $ts" | bc -l)" "$(echo "$t2 - $t1" | bc -l)" "$total"
        ;;
      interval)
        t0=$(now)
        launch "$WORK/log3" "${CMD[@]}" --sl-checkpoint-dir="$CK" --sl-checkpoint-interval="$iv" --sl-log-level=info
        wait "$PID" || die "$w interval run failed: $(tail -3 "$WORK/log3")"
        t=$(echo "$(now) - $t0" | bc -l)
        same "$w" "$OUT" "$REF" || die "$w: the interval run's output differs"
        n=$(grep -c "committed in" "$WORK/log3")
        echo "$t" >>"$WORK/ival-$iv"
        echo "$n" >>"$WORK/nckpt-$iv"
        printf '  interval=%s %.2f s, %d checkpoint(s)\n' "$iv" "$t" "$n"
        ;;
      esac
    done
  done
  T=$(median <"$WORK/plain")
  {
    printf 'workload\tranks\tplain_s\tstopped_total_s\ttotal_over_plain\tckpt_MB\tckpt_commit_s\tsignal_to_exit_s\tresumed_s'
    for iv in $INTERVALS; do printf '\tinterval_%s_s\tover_plain\tcheckpoints' "$iv"; done
    printf '\n%s\t%s\t%.3f\t%.3f\t%.2f\t%.1f\t%s\t%.2f\t%.3f' "$w" "$RANKS" "$T" \
      "$(median <"$WORK/total")" "$(echo "$(median <"$WORK/total") / $T" | bc -l)" \
      "$(echo "$(median <"$WORK/size") / 1000000" | bc -l)" "$(median <"$WORK/commit")" \
      "$(median <"$WORK/stopwait")" "$(median <"$WORK/resumed")"
    for iv in $INTERVALS; do
      TI=$(median <"$WORK/ival-$iv")
      printf '\t%.3f\t%.3f\t%s' "$TI" "$(echo "$TI / $T" | bc -l)" "$(median <"$WORK/nckpt-$iv")"
    done
    echo
  } | tee "$BUILD/bench/ckpt-$w.tsv"
  echo "  (medians of $REPS; load after: $(cut -d' ' -f1-3 /proc/loadavg))"
done
