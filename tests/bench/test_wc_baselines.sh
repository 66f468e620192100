#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_wc_baselines.sh BIN_DIR: wc_plain and wc_tuned must give the same counts as each
# other and as a coreutils oracle on the inputs wc_tricky writes (NUL, bytes >= 0x80,
# words across read blocks, a 3 MiB word, no final newline, empty input), and the same
# --top order. BIN_DIR holds wc_plain, wc_tuned and wc_tricky.
# "A && ok || fail" is safe here: ok and fail always return 0.
# shellcheck disable=SC2015
set -u
BIN=${1:?usage: test_wc_baselines.sh BIN_DIR}
export LC_ALL=C
TAB=$(printf '\t')
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_wc.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { printf "FAIL: %s\n" "$*"; failures=$((failures + 1)); }
ok() { printf "ok: %s\n" "$*"; }

"$BIN/wc_tricky" "$WORK" || { echo "FAIL: wc_tricky"; exit 1; }

# The oracle: each file's runs of whitespace become one newline (a newline also ends
# each file, since a word never spans two), then sort | uniq -c. uniq puts the count
# first; it is moved after the word with cut and paste, which leave the word's bytes
# alone whatever they are.
oracle() {
  for f in "$@"; do cat "$f"; echo; done | tr -s ' \t\n\v\f\r' '[\n*6]' | sed '/^$/d' |
    sort | uniq -c | sed 's/^ *//' >"$WORK/uniq.tmp"
  cut -d ' ' -f 2- "$WORK/uniq.tmp" >"$WORK/words.tmp"
  cut -d ' ' -f 1 "$WORK/uniq.tmp" | paste -d "$TAB" "$WORK/words.tmp" -
}

check() { # name file...
  name=$1; shift
  oracle "$@" | sort >"$WORK/want.tsv"
  for prog in wc_plain wc_tuned; do
    "$BIN/$prog" -o "$WORK/$prog.tsv" "$@" || { fail "$prog $name exited $?"; continue; }
    sort "$WORK/$prog.tsv" >"$WORK/$prog.sorted"
    cmp -s "$WORK/$prog.sorted" "$WORK/want.tsv" && ok "$prog $name matches the oracle" ||
      fail "$prog $name differs from the oracle ($(wc -l <"$WORK/$prog.sorted") vs $(wc -l <"$WORK/want.tsv") words)"
  done
  # --top: the exact order, count desc then word asc (sort -k1,1 in C locale: bytewise,
  # a prefix first).
  sort -t "$TAB" -k2,2nr -k1,1 "$WORK/want.tsv" | head -n 25 >"$WORK/want.top"
  "$BIN/wc_plain" --top 25 "$@" >"$WORK/plain.top" && "$BIN/wc_tuned" --top 25 "$@" >"$WORK/tuned.top"
  cmp -s "$WORK/plain.top" "$WORK/want.top" && cmp -s "$WORK/tuned.top" "$WORK/want.top" &&
    ok "--top 25 $name" || fail "--top 25 $name differs"
}

check mixed "$WORK/mixed.bin"
check empty "$WORK/empty.bin"
check spaces "$WORK/spaces.bin"
check one "$WORK/one.bin"
check edge "$WORK/edge.bin"
# Several files: a word never continues into the next file.
check several "$WORK/one.bin" "$WORK/one.bin" "$WORK/edge.bin" "$WORK/mixed.bin"
# stdin
"$BIN/wc_tuned" <"$WORK/mixed.bin" | sort >"$WORK/stdin.sorted"
"$BIN/wc_plain" "$WORK/mixed.bin" | sort | cmp -s - "$WORK/stdin.sorted" && ok "stdin" ||
  fail "stdin differs"
# bad usage exits 2
for prog in wc_plain wc_tuned; do
  "$BIN/$prog" --frob 2>/dev/null
  [ $? -eq 2 ] && ok "$prog bad usage exits 2" || fail "$prog bad usage"
  "$BIN/$prog" "$WORK/missing" 2>/dev/null
  [ $? -eq 1 ] && ok "$prog missing file exits 1" || fail "$prog missing file"
done

if [ $failures -ne 0 ]; then
  echo "test_wc_baselines: $failures check(s) failed"
  exit 1
fi
echo "test_wc_baselines: all checks passed"
