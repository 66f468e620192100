# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Sourced by check_layout.sh and add_spdx.sh: which files must carry the SPDX line.
#
# spdx_files ROOT: prints, one per line, the paths (relative to ROOT) of the repository's
# source files: the top CMakeLists.txt, and under lib, apps, tests, cmake, jobscripts and
# .ci every *.c, *.h, *.sh, *.cmake and CMakeLists.txt, and every file whose first line is a
# shell "#!" line (the .ci scripts, the Slurm *.sbatch scripts). In a git work tree the
# candidates are the files git knows or would add (tracked, or untracked and not ignored),
# so build trees and scratch files do not count; elsewhere (a copy), every file on disk.

SPDX_TAG='SPDX-License-Identifier: BSD-3-Clause'
SPDX_DIRS=(lib apps tests cmake jobscripts .ci)

# spdx_kind PATH: "c" (C comment), "hash" (# comment) or nothing (not covered).
spdx_kind() {
  local f=$1 first=
  case ${f##*/} in
    *.c | *.h) echo c; return ;;
    *.sh | *.cmake | CMakeLists.txt) echo hash; return ;;
  esac
  IFS= read -r first <"$f" 2>/dev/null || true
  if [[ $first =~ ^#!.*(/|[[:space:]])(ba|da|k|z)?sh([[:space:]]|$) ]]; then echo hash; fi
}

spdx_files() {
  local root=$1 top f
  top=$(git -C "$root" rev-parse --show-toplevel 2>/dev/null) || top=
  {
    if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$(cd "$root" && pwd -P)" ]; then
      git -C "$root" ls-files --cached --others --exclude-standard -- CMakeLists.txt "${SPDX_DIRS[@]}"
    else
      (
        cd "$root" || exit 1
        [ -f CMakeLists.txt ] && echo CMakeLists.txt
        for d in "${SPDX_DIRS[@]}"; do [ -d "$d" ] && find "$d" -type f; done
      )
    fi
  } | LC_ALL=C sort -u | while IFS= read -r f; do
    if [ -f "$root/$f" ] && [ ! -L "$root/$f" ] && [ -n "$(spdx_kind "$root/$f")" ]; then
      printf '%s\n' "$f" # not one deleted (moved) nor a link
    fi
  done
}

# spdx_has PATH: whether one of its first 3 lines carries the tag.
spdx_has() { head -n 3 -- "$1" 2>/dev/null | grep -qF "$SPDX_TAG"; }
