#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_wordcount.sh BUILD_DIR WC_TRICKY: sluice-wordcount (text blocks, the vectorized tokenizer, the
# bulk combiner and, where the reducer is on the same rank, its shared table) gives the
# coreutils oracle's counts at 1 to 4 ranks on the inputs wc_tricky writes (NUL, bytes
# >= 0x80, words across read blocks, a 3 MiB word, no final newline, empty input, several
# files), with the default read block and with 4 KiB blocks (lines longer than a block,
# block edges everywhere), and the same --top order. Every run is under a timeout.
# "A && ok || fail" is safe here: ok and fail always return 0.
# shellcheck disable=SC2015
set -u
BUILD=${1:?usage: test_wordcount.sh BUILD_DIR WC_TRICKY}
TRICKY=${2:?usage: test_wordcount.sh BUILD_DIR WC_TRICKY}
export LC_ALL=C
TAB=$(printf '\t')
WC=${SLUICE_BIN_DIR:-$BUILD/apps}/sluice-wordcount/sluice-wordcount
MPIEXEC=${SLUICE_MPIEXEC:-mpiexec}
NP=${SLUICE_MPIEXEC_NP:--n}
# shellcheck disable=SC2086
set -- ${SLUICE_MPIEXEC_FLAGS:-}
FLAGS="$*"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_wordcount.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { printf "FAIL: %s\n" "$*"; failures=$((failures + 1)); }
ok() { printf "ok: %s\n" "$*"; }

"$TRICKY" "$WORK" || { echo "FAIL: wc_tricky"; exit 1; }
# a multi-line text with repeats, so the combiner and the shared tables see hits
i=0
while [ $i -lt 3000 ]; do
  printf 'alpha beta%d\tgamma %d\n\n  delta\r\n' $((i % 37)) $((i % 101))
  i=$((i + 1))
done >"$WORK/lines.txt"

# The oracle (as in tests/bench/test_wc_baselines.sh): each file's runs of whitespace
# become one newline (a newline ends each file: a word never spans two), sort | uniq -c,
# the count moved after the word with cut and paste (which keep the word's bytes).
oracle() {
  for f in "$@"; do cat "$f"; echo; done | tr -s ' \t\n\v\f\r' '[\n*6]' | sed '/^$/d' |
    sort | uniq -c | sed 's/^ *//' >"$WORK/uniq.tmp"
  cut -d ' ' -f 2- "$WORK/uniq.tmp" >"$WORK/words.tmp"
  cut -d ' ' -f 1 "$WORK/uniq.tmp" | paste -d "$TAB" "$WORK/words.tmp" -
}

run_wc() { # ranks block out args...
  n=$1; blk=$2; out=$3; shift 3
  # shellcheck disable=SC2086
  timeout 120 "$MPIEXEC" $NP "$n" $FLAGS "$WC" --sl-read-block-bytes "$blk" -o "$out" --force \
    "$@" 2>"$WORK/err.txt"
}

check() { # RANKS name file...: at each rank count of RANKS ("1 2 3 4")
  ranks=$1 name=$2
  shift 2
  oracle "$@" | sort >"$WORK/want.tsv"
  sort -t "$TAB" -k2,2nr -k1,1 "$WORK/want.tsv" | head -n 25 >"$WORK/want.top"
  for n in $ranks; do
    for blk in 1M 4K; do
      if run_wc "$n" "$blk" "$WORK/got.tsv" "$@"; then
        sort "$WORK/got.tsv" | cmp -s - "$WORK/want.tsv" &&
          ok "np$n block $blk $name matches the oracle" ||
          fail "np$n block $blk $name differs from the oracle"
      else
        fail "np$n block $blk $name exited $?: $(tail -n 2 "$WORK/err.txt")"
      fi
    done
    if run_wc "$n" 1M "$WORK/top.tsv" --top 25 "$@"; then
      cmp -s "$WORK/top.tsv" "$WORK/want.top" && ok "np$n --top 25 $name" ||
        fail "np$n --top 25 $name differs"
    else
      fail "np$n --top 25 $name exited $?"
    fi
  done
}

# the degenerate inputs at 1 and 3 ranks, the others at 1-4
check "1 2 3 4" mixed "$WORK/mixed.bin"
check "1 3" empty "$WORK/empty.bin"
check "1 3" spaces "$WORK/spaces.bin"
check "1 3" one "$WORK/one.bin"
check "1 2 3 4" edge "$WORK/edge.bin"
check "1 3" lines "$WORK/lines.txt"
check "1 2 3 4" several "$WORK/one.bin" "$WORK/lines.txt" "$WORK/edge.bin" "$WORK/mixed.bin"

if [ $failures -ne 0 ]; then
  echo "test_wordcount: $failures check(s) failed"
  exit 1
fi
echo "test_wordcount: all checks passed"
