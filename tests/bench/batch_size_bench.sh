#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# batch_size_bench.sh BUILD_DIR [RECORDS_PER_RANK=4000000] [RANKS=2]: times an all-to-all
# shuffle (shuffle_bench) for several --sl-batch-bytes values, interleaved, 3 runs each,
# and prints the median wall time of sl_run and the rate per batch size.
set -euo pipefail
BUILD=${1:?usage: batch_size_bench.sh BUILD_DIR [RECORDS_PER_RANK] [RANKS]}
N=${2:-4000000}
NP=${3:-2}
BIN="$BUILD/tests/bench/shuffle_bench"
[ -x "$BIN" ] || { echo "build the shuffle_bench target first" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
SIZES=${SIZES:-"4K 16K 64K 256K 1M"}
EXTRA=${EXTRA:-} # more sluice options, e.g. "--sl-send-budget-bytes=16M"
declare -A T
for rep in 1 2 3; do
  for b in $SIZES; do
    # shellcheck disable=SC2086 # EXTRA is a space-separated list on purpose
    t=$(mpirun -n "$NP" --bind-to core "$BIN" "$N" --sl-batch-bytes="$b" $EXTRA | awk '{print $1}')
    T[$b]="${T[$b]:-} $t"
  done
done
echo "all-to-all shuffle, $NP ranks, $N records of 16 bytes per rank ($(uptime | sed 's/.*load/load/'))"
printf "%-10s %10s %14s\n" batch median_s Mrecords/s
for b in $SIZES; do
  med=$(tr ' ' '\n' <<<"${T[$b]}" | grep . | sort -g | sed -n 2p)
  printf "%-10s %10s %14.2f\n" "$b" "$med" "$(awk -v n="$N" -v p="$NP" -v t="$med" 'BEGIN{print n*p/t/1e6}')"
done
