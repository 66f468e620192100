#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# add_spdx.sh [ROOT]: adds the license line to every source file that check_layout.sh
# checks (spdx_files.sh) and that lacks it in its first 3 lines. ROOT: the repository
# (default: the one this script is in). Idempotent: a second run changes nothing.
#   C (*.c, *.h):                 /* SPDX-License-Identifier: BSD-3-Clause */  as line 1
#   shell, CMake (# comments):    # SPDX-License-Identifier: BSD-3-Clause      as line 1,
#                                 or line 2 after a "#!" line
# Files are rewritten in place (mode and owner kept). Prints each file changed and a count.
# DRY_RUN=1 only lists them.
set -u -o pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/layout/spdx_files.sh
. "$HERE/spdx_files.sh"

[ $# -le 1 ] || { echo "usage: add_spdx.sh [ROOT]" >&2; exit 2; }
ROOT=${1:-$HERE/../..}
ROOT=$(cd "$ROOT" && pwd) || exit 2
TMP=$(mktemp "${TMPDIR:-/tmp}/add_spdx.XXXXXX") || exit 1
trap 'rm -f "$TMP" "$TMP.sed"' EXIT

changed=0 total=0
while IFS= read -r f; do
  total=$((total + 1))
  p=$ROOT/$f
  spdx_has "$p" && continue
  kind=$(spdx_kind "$p")
  if [ "${DRY_RUN:-0}" = 1 ]; then
    echo "would add ($kind): $f"
    changed=$((changed + 1))
    continue
  fi
  case $kind in
    c) line="/* $SPDX_TAG */" ;;
    hash) line="# $SPDX_TAG" ;;
    *) continue ;;
  esac
  # after a "#!" first line, else first (GNU sed: the rest is copied byte for byte); an
  # empty file gets the line alone
  if [ -s "$p" ]; then
    printf '1{\n/^#!/{\na\\\n%s\nb\n}\ni\\\n%s\n}\n' "$line" "$line" >"$TMP.sed"
    sed -f "$TMP.sed" "$p" >"$TMP" || { echo "add_spdx: $f: failed" >&2; exit 1; }
  else
    printf '%s\n' "$line" >"$TMP"
  fi
  cat "$TMP" >"$p" || { echo "add_spdx: $f: cannot write" >&2; exit 1; } # keeps mode and owner
  echo "added: $f"
  changed=$((changed + 1))
done < <(spdx_files "$ROOT")
if [ "${DRY_RUN:-0}" = 1 ]; then
  echo "add_spdx: $changed of $total files would get the SPDX line"
else
  echo "add_spdx: added the SPDX line to $changed of $total files"
fi
