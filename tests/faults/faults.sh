# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# The fault-injection harness, sourced by the group scripts of tests/faults/ (disk.sh,
# mem.sh, kill.sh, signals.sh, inputs.sh, outputs.sh). See README.md for the cases.
#
#   fx_setup GROUP BUILD_DIR      work folder $W, the apps ($WC $STATS $GROUPBY $SORT $GEN),
#                                 the oracles ($H5ORACLE $SORTCHECK $H5TOOL)
#   fx_case NAME                  start a case (its folder: $CD); every check below adds a
#                                 reason to the case when it fails
#   fx_mpi NP [-w WRAPPER] -- CMD...     run CMD on NP ranks under the time limits, wait;
#                                 sets FX_RC; stdout in $CD/stdout, stderr in $CD/stderr
#   fx_mpi_bg NP [-w WRAPPER] -- CMD...  the same in the background (FX_BG: the launcher's
#                                 process id); fx_ranks lists the ranks, fx_wait waits
#   fx_expect_rc SPEC             0, 1, 2, 3, "1|2", "nz" (any failure that is not a hang)
#   fx_expect_one_error [ERE]     exactly one 'error:' line on stderr (Open MPI's own boxed
#                                 messages ignored), matching ERE (case-insensitive)
#   fx_expect_absent PATH...      nothing under these names
#   fx_expect_clean DIR...        no sluice temporary or spill file in DIR (FX_ALLOW: a
#                                 glob that may stay, e.g. the output's hidden temporary)
#   fx_expect_no_procs            no process of the last run survives (found by a run id
#                                 in the environment, so other jobs on the machine don't count)
#   fx_fail REASON / fx_skip REASON / fx_end
#
# A case named in KNOWN_FAILING (known_failing.txt beside this file, one name a line,
# '#' comments) reports XFAIL instead of FAIL and does not fail the script; one that passes
# reports XPASS (remove it from the list). FAULTS_STRICT=1 makes XFAIL count as FAIL.
# FAULTS_ONLY=REGEX runs only the matching cases. FX_TIMEOUT (default 15 s) bounds every run
# (mpirun --timeout, and an outer timeout a little later): a run that ends by it is a hang.

set -u
export LC_ALL=C
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
FX_TIMEOUT=${FX_TIMEOUT:-15}
FX_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fx_pass=0 fx_failn=0 fx_xfail=0 fx_xpass=0 fx_skipn=0
CASE="" CD="" FX_REASONS=() FX_FINAL=() FX_RC=0 FX_SECS=0 FX_T0=0 FX_BG="" FX_RUNID="" FX_ALLOW=""
FX_GROUP_START=$(date +%s)

KNOWN_FAILING=""
if [ -f "$FX_HERE/known_failing.txt" ]; then
  KNOWN_FAILING=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$FX_HERE/known_failing.txt")
fi

fx_setup() { # GROUP BUILD_DIR
  FX_GROUP=$1
  local b=$2
  B=$(cd "$b" && pwd) || { echo "FAIL: build folder '$b' not found"; exit 1; }
  MPIEXEC=${SLUICE_MPIEXEC:-mpirun}
  MPINP=${SLUICE_MPIEXEC_NP:--n}
  MPIFLAGS=${SLUICE_MPIEXEC_FLAGS:---oversubscribe}
  case " $MPIFLAGS " in *" --oversubscribe "*) ;; *) MPIFLAGS="$MPIFLAGS --oversubscribe" ;; esac
  WC=$B/apps/sluice-wordcount/sluice-wordcount
  STATS=$B/apps/sluice-h5stats/sluice-h5stats
  GROUPBY=$B/apps/sluice-h5groupby/sluice-h5groupby
  SORT=$B/apps/sluice-h5sort/sluice-h5sort
  GEN=$B/apps/sluice-gen/sluice-gen
  H5ORACLE=$B/tests/h5/h5oracle
  SORTCHECK=$B/tests/apps/h5sort_check
 
  H5TOOL=$B/tests/faults/faults_h5tool
  KILLON=$B/tests/faults/faults_killon
  local x
  for x in "$WC" "$STATS" "$GROUPBY" "$SORT" "$GEN" "$H5ORACLE" "$SORTCHECK" "$H5TOOL" "$KILLON"; do
    [ -x "$x" ] || { echo "FAIL: $x is missing (build it first)"; exit 1; }
  done
  W=$(mktemp -d "${FAULTS_WORK:-${TMPDIR:-/tmp}}/sluice-faults-$FX_GROUP.XXXXXX") || exit 1
  # Open MPI's session files go to $W/ompi, never to a folder a case checks for leftovers;
  # TMPDIR (the sort's default spill folder) is $W/tmp, checked like the others.
  mkdir -p "$W/ompi" "$W/tmp" "$W/in" "$W/cases"
  export OMPI_MCA_orte_tmpdir_base=$W/ompi
  export TMPDIR=$W/tmp
  FX_MOUNTS=()
  trap fx_cleanup EXIT
  trap 'exit 130' INT TERM
  echo "# faults.$FX_GROUP: work folder $W, per-run limit ${FX_TIMEOUT}s"
}

fx_cleanup() {
  local m
  for m in "${FX_MOUNTS[@]}"; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
  if [ -n "${FAULTS_KEEP:-}" ]; then echo "# kept $W"; else rm -rf "$W"; fi
}

# ---- cases ----
fx_selected() { [ -z "${FAULTS_ONLY:-}" ] || [[ $1 =~ $FAULTS_ONLY ]]; }

fx_case() { # NAME: returns 1 when the case is not selected (FAULTS_ONLY)
  CASE=$1
  FX_REASONS=()
  FX_FINAL=()
  FX_ALLOW=""
  FX_CASE_START=$(date +%s)
  fx_selected "$CASE" || return 1
  CD=$W/cases/$CASE
  mkdir -p "$CD"
  return 0
}

fx_fail() { FX_REASONS+=("$*"); }

fx_known() {
  local k
  while IFS= read -r k; do [ "$k" = "$1" ] && return 0; done <<<"$KNOWN_FAILING"
  return 1
}

fx_end() {
  local secs=$(($(date +%s) - FX_CASE_START)) why
  if [ ${#FX_REASONS[@]} -eq 0 ]; then
    if fx_known "$CASE"; then
      echo "XPASS: $CASE (${secs}s): passes now; remove it from tests/faults/known_failing.txt"
      fx_xpass=$((fx_xpass + 1))
    else
      echo "PASS: $CASE (${secs}s)"
      fx_pass=$((fx_pass + 1))
    fi
    return 0
  fi
  why=$(printf '%s; ' "${FX_REASONS[@]}")
  why=${why%; }
  if fx_known "$CASE" && [ -z "${FAULTS_STRICT:-}" ]; then
    echo "XFAIL: $CASE (${secs}s): $why"
    fx_xfail=$((fx_xfail + 1))
  else
    echo "FAIL: $CASE (${secs}s): $why"
    fx_failn=$((fx_failn + 1))
    local e=$CD/stderr
    [ -f "$CD/stderr.fault" ] && e=$CD/stderr.fault
    if [ -n "$CD" ] && [ -s "$e" ]; then
      echo "  --- stderr of the faulty run (first 15 lines) ---"
      sed -n '1,15s/^/  | /p' "$e"
    fi
  fi
}

fx_skip() { echo "SKIP: $CASE: $*"; fx_skipn=$((fx_skipn + 1)); }

fx_summary() { # exit status of the group script
  echo "# faults.$FX_GROUP: $fx_pass passed, $fx_failn failed, $fx_xfail xfail, $fx_xpass xpass, $fx_skipn skipped ($(($(date +%s) - FX_GROUP_START))s)"
  [ "$fx_failn" -eq 0 ]
}

# ---- running ----
# The mpirun command line: NP ranks, an optional wrapper run by mpirun before CMD.
_fx_cmdline() { # NP WRAPPER CMD...
  local np=$1 wrap=$2
  shift 2
  # shellcheck disable=SC2206
  local flags=($MPIFLAGS)
  # shellcheck disable=SC2206
  FX_CMD=(timeout -k 5 $((FX_TIMEOUT + 10)) "$MPIEXEC" $MPINP "$np" "${flags[@]}"
    --timeout "$FX_TIMEOUT" -x FX_RUNID)
  local v
  for v in FX_LIMIT_RANK FX_LIMIT_VKB FX_LIMIT_NOFILE; do
    [ -n "${!v:-}" ] && FX_CMD+=(-x "$v")
  done
  [ -n "$wrap" ] && FX_CMD+=(bash "$wrap")
  FX_CMD+=("$@")
}

_fx_args() { # parses [-w WRAPPER] -- ; sets FX_WRAP and FX_NSHIFT
  FX_WRAP="" FX_NSHIFT=0
  while [ $# -gt 0 ]; do
    case $1 in
      -w) FX_WRAP=$2; shift 2; FX_NSHIFT=$((FX_NSHIFT + 2)) ;;
      --) FX_NSHIFT=$((FX_NSHIFT + 1)); return 0 ;;
      *) echo "fx: bad arguments: $*" >&2; exit 1 ;;
    esac
  done
}

# the command line of a run (FX_CMD, saved to $CD/cmd), its id and start time
_fx_prepare() { # NP [-w WRAPPER] -- CMD...
  local np=$1
  shift
  _fx_args "$@"
  shift "$FX_NSHIFT"
  FX_RUNID="fx-$$-$RANDOM$RANDOM"
  _fx_cmdline "$np" "$FX_WRAP" "$@"
  printf '%s\n' "${FX_CMD[*]}" >"$CD/cmd"
  FX_T0=$(date +%s)
}

fx_mpi() { # NP [-w WRAPPER] -- CMD...
  _fx_prepare "$@"
  FX_RUNID=$FX_RUNID "${FX_CMD[@]}" >"$CD/stdout" 2>"$CD/stderr" </dev/null
  FX_RC=$?
  FX_SECS=$(($(date +%s) - FX_T0))
}

fx_mpi_bg() { # NP [-w WRAPPER] -- CMD...
  _fx_prepare "$@"
  FX_RUNID=$FX_RUNID "${FX_CMD[@]}" >"$CD/stdout" 2>"$CD/stderr" </dev/null &
  FX_BG=$!
}

fx_wait() { wait "$FX_BG"; FX_RC=$?; FX_SECS=$(($(date +%s) - FX_T0)); FX_BG=""; }

# the launcher (mpirun) of the background run, and its ranks: "PID RANK" lines
fx_launcher() { [ -n "$FX_BG" ] && pgrep -P "$FX_BG" | head -1; }
fx_ranks() {
  local m p r
  m=$(fx_launcher)
  [ -n "$m" ] || return 0
  for p in $(pgrep -P "$m"); do
    r=$({ tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
    [ -n "$r" ] && echo "$p $r"
  done
}
fx_rank_pid() { fx_ranks | awk -v r="$1" '$2 == r { print $1; exit }'; }

# fx_wait_for SECONDS CMD...: poll CMD every 20 ms until it succeeds; 1 on time out or when
# the background run ended first
fx_wait_for() {
  local limit=$1 i=0
  shift
  local n=$((limit * 50))
  while [ $i -lt $n ]; do
    "$@" && return 0
    [ -n "$FX_BG" ] && ! kill -0 "$FX_BG" 2>/dev/null && return 1
    sleep 0.02
    i=$((i + 1))
  done
  return 1
}
# rank RANK of the background run has a file matching the ERE open
fx_has_open() { # RANK ERE
  local pid f
  pid=$(fx_rank_pid "$1")
  [ -n "$pid" ] || return 1
  for f in /proc/"$pid"/fd/*; do
    readlink "$f" 2>/dev/null | grep -Eq -- "$2" && return 0
  done
  return 1
}
# every rank 0..N-1 of the background run has a file matching the ERE open
fx_all_open() { # N ERE
  local r
  for ((r = 0; r < $1; r++)); do fx_has_open "$r" "$2" || return 1; done
}
fx_exists_glob() { compgen -G "$1" >/dev/null; }

# ---- checks ----
fx_expect_rc() { # SPEC
  local spec=$1
  if [ "$FX_RC" -eq 124 ] || { [ "$FX_RC" -eq 137 ] && [ "$FX_SECS" -ge "$FX_TIMEOUT" ]; } ||
    grep -q "user-provided time limit" "$CD/stderr" 2>/dev/null; then
    fx_fail "hang: no exit within ${FX_TIMEOUT}s (exit $FX_RC)"
    return
  fi
  case $spec in
    nz) [ "$FX_RC" -ne 0 ] || fx_fail "exit 0, expected a failure" ;;
    *) [[ "|$spec|" == *"|$FX_RC|"* ]] || fx_fail "exit $FX_RC, expected $spec" ;;
  esac
}

# sluice's error lines (Open MPI's boxed messages and its own prefix lines removed)
fx_error_lines() {
  awk '/^-{20,}$/ { box = !box; next } !box' "$CD/stderr" |
    grep -v '^\[[^]]*\] \|^mpirun\|^Primary job\|^prterun' | grep 'error:' || true
}

fx_expect_one_error() { # [ERE]
  local lines n
  lines=$(fx_error_lines)
  n=$(printf '%s' "$lines" | grep -c 'error:')
  if [ "$n" -ne 1 ]; then
    fx_fail "$n 'error:' lines on stderr, expected 1"
  elif [ -n "${1:-}" ] && ! printf '%s\n' "$lines" | grep -Eqi -- "$1"; then
    fx_fail "the error line does not match /$1/: $lines"
  fi
  # HDF5's own error stack dump (never shown to users, issue 10 point 6)
  if grep -q "HDF5-DIAG\|#[0-9][0-9][0-9]: \|bytes actually written\|major: \|minor: " "$CD/stderr"; then
    fx_fail "HDF5's internal error dump on stderr"
  fi
}

fx_expect_absent() {
  local p
  FX_FINAL=("$@")
  for p in "$@"; do
    [ -e "$p" ] || [ -L "$p" ] && fx_fail "'$(basename "$p")' exists under the final name"
  done
  return 0
}

# sluice's temporaries and spill files: the output's .NAME.sluice-tmp-*, .sluice-spill-*,
# .sluice-h5spill-*, .sluice-sort-*; any hidden name containing "sluice" counts
fx_leftovers() { # DIR...
  local d
  for d in "$@"; do
    [ -d "$d" ] || continue
    find "$d" -maxdepth 1 -mindepth 1 \( -name '.*sluice*' -o -name '*sluice-tmp*' -o -name '*.sluice-*spill*' \) -print 2>/dev/null
  done
}

fx_expect_clean() { # DIR... (FX_ALLOW: a glob of names that may stay)
  local f left=""
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    # shellcheck disable=SC2053
    if [ -n "$FX_ALLOW" ] && [[ $(basename "$f") == $FX_ALLOW ]]; then continue; fi
    left="$left $(basename "$f")"
  done < <(fx_leftovers "$@")
  [ -z "$left" ] || fx_fail "left behind:$left"
}

# processes of the last run still alive (by its run id); they are killed afterwards
fx_survivors() {
  local f p
  for f in /proc/[0-9]*/environ; do
    p=${f#/proc/}
    p=${p%/environ}
    [ "$p" = "$$" ] || [ "$p" = "${BASHPID:-}" ] && continue
    grep -qasF "FX_RUNID=$FX_RUNID" "$f" 2>/dev/null && echo "$p"
  done
}
fx_expect_no_procs() {
  local left="" i
  [ -n "$FX_RUNID" ] || return 0
  for i in $(seq 1 15); do
    left=$(fx_survivors | tr '\n' ' ')
    [ -z "$left" ] && return 0
    sleep 0.2
  done
  fx_fail "processes left running: $left"
  # shellcheck disable=SC2086
  kill -KILL $left 2>/dev/null
}

# the checks after a failure that must be clean: exit SPEC, one error line matching ERE,
# nothing under the final names, no leftovers in DIRS, no survivors
fx_expect_clean_failure() { # SPEC ERE "FINAL..." "DIRS..."
  fx_expect_rc "$1"
  fx_expect_one_error "$2"
  # shellcheck disable=SC2086
  fx_expect_absent $3
  # shellcheck disable=SC2086
  fx_expect_clean $4
  fx_expect_no_procs
}

# ---- oracles ----
# word counts with coreutils, sorted: sluice-wordcount's tokens are maximal runs of bytes
# other than space, \t, \n, \v, \f, \r
fx_wc_oracle() { # IN... > sorted TSV
  cat "$@" | tr -s ' \t\n\v\f\r' '\n\n\n\n\n\n' | grep -v '^$' | sort | uniq -c |
    awk '{ print $2 "\t" $1 }' | sort
}
# the word-count output OUT equals the oracle of IN...
fx_check_wc() { # OUT IN...
  local out=$1
  shift
  [ -f "$out" ] || { fx_fail "rerun: no output '$(basename "$out")'"; return 1; }
  fx_wc_oracle "$@" >"$CD/oracle.tsv"
  sort "$out" >"$CD/got.tsv"
  cmp -s "$CD/oracle.tsv" "$CD/got.tsv" || { fx_fail "word counts differ from the oracle ($(wc -l <"$CD/got.tsv") vs $(wc -l <"$CD/oracle.tsv") lines)"; return 1; }
}
fx_check_sort() { # IN DSET OUT ODSET KEY
  "$SORTCHECK" "$1" "$2" "$3" "$4" "$5" >"$CD/check" 2>&1 || { fx_fail "sort output wrong: $(head -1 "$CD/check")"; return 1; }
}
fx_check_groupby() { # IN:/DS OUT:/DS --key K --agg A
  "$H5ORACLE" groupby "$@" >"$CD/check" 2>&1 || { fx_fail "groupby output wrong: $(head -1 "$CD/check")"; return 1; }
}
fx_check_stats() { # IN:/DS OUT.h5 [--bins N]
  "$H5ORACLE" stats "$@" >"$CD/check" 2>&1 || { fx_fail "stats output wrong: $(head -1 "$CD/check")"; return 1; }
}

# the rerun: same command without the fault; exit 0 and a correct output (the caller checks)
fx_rerun() { # NP -- CMD...
  local saved=("${FX_REASONS[@]}")
  # an output a faulty run wrongly published (already reported) would make the rerun fail
  [ ${#FX_FINAL[@]} -gt 0 ] && rm -f "${FX_FINAL[@]}"
  cp "$CD/stderr" "$CD/stderr.fault" 2>/dev/null
  cp "$CD/stdout" "$CD/stdout.fault" 2>/dev/null
  # twice the limit: a loaded machine must not make a correct rerun look like a hang
  FX_TIMEOUT=$((FX_TIMEOUT * 2)) fx_mpi "$@"
  if [ "$FX_RC" -ne 0 ]; then
    FX_REASONS=("${saved[@]}")
    fx_fail "rerun without the fault: exit $FX_RC: $(fx_error_lines | head -1)"
    return 1
  fi
  return 0
}

# ---- faults ----
# a tmpfs of SIZE at DIR (created), unmounted at exit; 1 (with FX_WHY) when not possible
# shellcheck disable=SC2034
fx_mount_tmpfs() { # DIR SIZE
  mkdir -p "$1"
  if [ "$(id -u)" -ne 0 ]; then FX_WHY="not root: cannot mount a tmpfs"; return 1; fi
  if ! mount -t tmpfs -o "size=$2" tmpfs "$1" 2>"$W/mount.err"; then
    FX_WHY="mount -t tmpfs failed: $(head -1 "$W/mount.err")"
    return 1
  fi
  FX_MOUNTS+=("$1")
}
fx_umount() { umount "$1" 2>/dev/null || umount -l "$1"; }

fx_md5() { md5sum "$1" 2>/dev/null | cut -d' ' -f1; }

# ---- inputs (generated once per group into $W/in) ----
fx_gen_text() { # NAME SIZE [sluice-gen text options...]
  local name=$1 size=$2
  shift 2
  [ -f "$W/in/$name" ] || "$GEN" text --size "$size" "$@" -o "$W/in/$name" >/dev/null 2>"$W/gen.err" ||
    { echo "FAIL: cannot generate $name (exit $?):"; sed 's/^/  | /' "$W/gen.err" | head -40; exit 1; }
}
fx_gen_particles() { # NAME ROWS [sluice-gen particles options...]
  local name=$1 rows=$2
  shift 2
  [ -f "$W/in/$name" ] || "$GEN" particles --rows "$rows" "$@" -o "$W/in/$name" >/dev/null 2>"$W/gen.err" ||
    { echo "FAIL: cannot generate $name (exit $?):"; sed 's/^/  | /' "$W/gen.err" | head -40; exit 1; }
}
