#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# check_layout.sh [SRC_DIR [ROOT]]: checks the library's folder layout, the dependencies
# between its folders, and the license lines of the repository's source files.
# SRC_DIR is lib/src (default: the lib/src of the repository this script is in), ROOT the
# repository (default: SRC_DIR/../..). ctest: layout.check (label "layout").
#
# 1. Layout. Every .c and .h file under SRC_DIR lies in one of these folders, and includes
#    project-internal headers ("X/...", quoted) only from folders at its level or below:
#      core     utilities (errors, options, memory, files, log, signals, pinning, context)
#                                                                     -> core
#      algo     engine-free algorithms (hash table, fixed-size sort, aggregators)
#                                                                     -> core algo
#      plan     the plan a flow builds (stages, steps), the builder   -> core algo plan
#      engine   event loop, partitions, transport, stats, the operator/source/sink
#               interfaces                                            -> core algo plan engine
#      ops      one operator per file                                 -> ... engine ops
#      sources, sinks, h5   I/O: may use each other, never ops        -> ... engine sources sinks h5
#    Always allowed: the public headers ("sluice.h", "sluice/..."), system headers <...>, and
#    a quoted name without a folder (the including file's own folder). "../X/..." is
#    resolved against the including file's folder. One line per violation:
#      lib/src/core/x.c:12 includes engine/engine.h: core may include only core
# 2. License. Every source file of the repository (see spdx_files.sh: *.c, *.h, *.sh,
#    *.cmake, CMakeLists.txt and shell scripts, in lib, apps, tests, cmake, jobscripts, .ci
#    and the top CMakeLists.txt) has "SPDX-License-Identifier: BSD-3-Clause" in one of its
#    first 3 lines. Prints how many lack it and the first 20 (tests/layout/add_spdx.sh adds
#    it). SKIP_SPDX=1 skips this part.
# Exit status: 0 when both hold, 1 when not, 2 on bad usage.
set -u -o pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/layout/spdx_files.sh
. "$HERE/spdx_files.sh"

usage() { echo "usage: check_layout.sh [SRC_DIR [ROOT]]" >&2; exit 2; }
[ $# -le 2 ] || usage
SRC=${1:-$HERE/../../lib/src}
[ -d "$SRC" ] || { echo "check_layout: $SRC is not a folder" >&2; usage; }
SRC=$(cd "$SRC" && pwd)
ROOT=${2:-$SRC/../..}
[ -d "$ROOT" ] || { echo "check_layout: $ROOT is not a folder" >&2; usage; }
ROOT=$(cd "$ROOT" && pwd)
# how paths are printed: relative to ROOT when SRC is inside it (lib/src/...)
case $SRC/ in
  "$ROOT"/*) LABEL=${SRC#"$ROOT"/} ;;
  *) LABEL=$SRC ;;
esac

# folder -> the folders it may include from (the table above)
declare -A ALLOWED=(
  [core]="core"
  [algo]="core algo"
  [plan]="core algo plan"
  [engine]="core algo plan engine"
  [ops]="core algo plan engine ops"
  [sources]="core algo plan engine sources sinks h5"
  [sinks]="core algo plan engine sources sinks h5"
  [h5]="core algo plan engine sources sinks h5"
)
FOLDERS="core algo plan engine ops sources sinks h5"

bad_layout=0
files=()
while IFS= read -r -d '' f; do files+=("${f#"$SRC"/}"); done < <(find "$SRC" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
if [ ${#files[@]} -eq 0 ]; then
  echo "$LABEL: no .c or .h files" >&2
  exit 1
fi

# 1a. every file in a known folder
known=()
for f in "${files[@]}"; do
  case $f in
    */*)
      top=${f%%/*}
      if [ -n "${ALLOWED[$top]+x}" ]; then
        known+=("$f")
      else
        echo "$LABEL/$f: folder $top/ is not in the layout ($FOLDERS)"
        bad_layout=$((bad_layout + 1))
      fi
      ;;
    *)
      echo "$LABEL/$f: not in a folder of the layout ($FOLDERS)"
      bad_layout=$((bad_layout + 1))
      ;;
  esac
done

# 1b. the includes of the files in known folders
bad_inc=0
if [ ${#known[@]} -gt 0 ]; then
  table=""
  for k in "${!ALLOWED[@]}"; do table+="$k=${ALLOWED[$k]// /,};"; done
  # shellcheck disable=SC2016 # an awk program
  out=$(cd "$SRC" && printf '%s\0' "${known[@]}" | xargs -0 awk -v label="$LABEL" -v table="$table" -v src="$SRC" -v sq="'" '
    BEGIN {
      n = split(table, rows, ";")
      for (i = 1; i <= n; i++) {
        if (rows[i] == "") continue
        split(rows[i], kv, "=")
        allowed_list[kv[1]] = kv[2]
        m = split(kv[2], a, ",")
        for (j = 1; j <= m; j++) ok[kv[1], a[j]] = 1
      }
    }
    # normalize a relative path: drop ".", fold "..", "" if it leaves the root
    function norm(p,    parts, n, i, out, k, res) {
      n = split(p, parts, "/"); k = 0
      for (i = 1; i <= n; i++) {
        if (parts[i] == "" || parts[i] == ".") continue
        if (parts[i] == "..") { if (k == 0) return ""; k--; continue }
        out[++k] = parts[i]
      }
      res = ""
      for (i = 1; i <= k; i++) res = res (i > 1 ? "/" : "") out[i]
      return res
    }
    /^[ \t]*#[ \t]*include[ \t]*"/ {
      line = $0
      sub(/^[ \t]*#[ \t]*include[ \t]*"/, "", line)
      q = index(line, "\"")
      if (q == 0) next
      inc = substr(line, 1, q - 1)
      file = FILENAME
      from = file; sub(/\/.*/, "", from)
      dir = file; sub(/\/[^\/]*$/, "", dir)
      if (inc == "sluice.h" || inc ~ /^sluice\//) next       # public headers
      if (inc !~ /\//) next                                  # the own folder
      target = inc
      if (inc ~ /^\.\.?\//) {                               # relative: resolve it
        target = norm(dir "/" inc)
        if (target == "") {
          printf "%s/%s:%d includes %s: a path outside %s (use the public name)\n", label, file, FNR, inc, label
          bad++
          next
        }
      }
      to = target; sub(/\/.*/, "", to)
      if (!(to in allowed_list)) {
        # "sub/x.h" below the folder of the including file is that folder
        if (target == inc && system("test -f " sq src "/" dir "/" inc sq) == 0) next
        printf "%s/%s:%d includes %s: %s/ is not a folder of the layout\n", label, file, FNR, inc, to
        bad++
        next
      }
      if (!((from, to) in ok)) {
        list = allowed_list[from]; gsub(/,/, ", ", list)
        printf "%s/%s:%d includes %s: %s may include only %s\n", label, file, FNR, inc, from, list
        bad++
      }
    }
    END { exit bad > 0 }
  ')
  [ -n "$out" ] && echo "$out"
  bad_inc=$(printf '%s' "$out" | grep -c .)
fi

# 2. license lines
missing=0 total=0
if [ "${SKIP_SPDX:-0}" != 1 ]; then
  list=()
  while IFS= read -r f; do
    total=$((total + 1))
    spdx_has "$ROOT/$f" || list+=("$f")
  done < <(spdx_files "$ROOT")
  missing=${#list[@]}
  if [ "$missing" -gt 0 ]; then
    echo "$missing of $total source files lack '$SPDX_TAG' in their first 3 lines (tests/layout/add_spdx.sh adds it)$([ "$missing" -gt 20 ] && echo "; the first 20"):"
    printf '  %s\n' "${list[@]:0:20}"
  fi
fi

echo "check_layout: $LABEL: ${#files[@]} files, $bad_layout outside the layout's folders, $bad_inc forbidden includes; license: $([ "${SKIP_SPDX:-0}" = 1 ] && echo "not checked" || echo "$missing of $total files without the SPDX line")"
if [ "$bad_layout" -gt 0 ] || [ "$bad_inc" -gt 0 ] || [ "$missing" -gt 0 ]; then
  echo "check_layout: FAILED"
  exit 1
fi
echo "check_layout: OK"
