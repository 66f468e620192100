#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Install a sluice build into a temporary prefix and use it from outside, the way users
# do: find_package(sluice) + sluice::sluice, and pkg-config --cflags --libs sluice (a
# program built with exactly those flags must start without LD_LIBRARY_PATH: the .pc's
# rpath). Also checks the installed apps, sluice-launch, jobscripts and docs.
#   usage: run.sh <sluice build dir> <scratch dir>
# Environment (set by ctest; defaults for running by hand): CMAKE_COMMAND, CC, PKG_CONFIG,
# SLUICE_MPIEXEC, SLUICE_MPIEXEC_NP, SLUICE_MPIEXEC_FLAGS, SLUICE_EXPECTED_VERSION.
set -euo pipefail

die() { echo "install test: FAIL: $*" >&2; exit 1; }
step() { echo "== install test: $*"; }

[ $# -eq 2 ] || die "usage: $0 <build dir> <scratch dir>"
build=$(cd "$1" && pwd) || die "no build dir $1"
work=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmake=${CMAKE_COMMAND:-cmake}
cc=${CC:-cc}
pkgconfig=${PKG_CONFIG:-pkg-config}
mpiexec=${SLUICE_MPIEXEC:-mpiexec}
np=${SLUICE_MPIEXEC_NP:--n}
read -r -a mpiflags <<<"${SLUICE_MPIEXEC_FLAGS:-}"
expected=${SLUICE_EXPECTED_VERSION:-}

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
prefix=$work/prefix

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log" >&2; die "cmake --install failed"; }

step "checking the install tree"
need() {
  local found
  found=$(find "$prefix" -path "$prefix/$1" -print -quit)
  [ -n "$found" ] || die "missing in the install tree: $1"
  echo "   $found"
}
need 'include/sluice.h'
need 'include/sluice/sl_export.h'
need 'include/sluice/sl_version.h'
need 'include/sluice/sl_context.h'
need 'lib*/cmake/sluice/sluiceConfig.cmake'
need 'lib*/cmake/sluice/sluiceConfigVersion.cmake'
need 'lib*/cmake/sluice/sluiceTargets.cmake'
need 'lib*/pkgconfig/sluice.pc'
need 'lib*/libsluice.*'
need 'bin/sluice-launch'
need 'bin/sluice-wordcount'
need 'share/sluice/README.md'
need 'share/sluice/docs/cluster.md'
for j in template array sluice-wordcount sluice-h5stats sluice-h5groupby sluice-h5sort; do
  need "share/sluice/jobscripts/$j.sbatch"
  # an installed jobscript knows the installed bin/ (so it needs no SLUICE_BIN)
  grep -q "^sl_bindir=\"$prefix/bin\"  #" "$prefix/share/sluice/jobscripts/$j.sbatch" \
    || die "share/sluice/jobscripts/$j.sbatch does not name $prefix/bin"
done
# sluice-launch finds the apps beside itself
launched=$(env -u SLUICE_BIN -u SLURM_JOB_ID "$prefix/bin/sluice-launch" --dry-run sluice-wordcount x) \
  || die "sluice-launch --dry-run failed"
case $launched in
  *" $prefix/bin/sluice-wordcount x") echo "   sluice-launch: $launched" ;;
  *) die "sluice-launch did not pick the app beside it: $launched" ;;
esac
pcfile=$(find "$prefix" -path "$prefix/lib*/pkgconfig/sluice.pc" -print -quit)
pcdir=$(dirname "$pcfile")
libdir=$(dirname "$pcdir")

run_consumer() { # <exe> <label>
  local out
  out=$("$mpiexec" "$np" 1 "${mpiflags[@]}" "$1" 2>&1) \
    || { echo "$out" >&2; die "$2: consumer failed under $mpiexec"; }
  echo "$out"
  grep -q '^consumer: sluice ' <<<"$out" || die "$2: consumer printed no version line"
  if [ -n "$expected" ]; then
    grep -qx "consumer: sluice $expected" <<<"$out" \
      || die "$2: version is not $expected"
  fi
}

step "find_package(sluice): configure + build tests/install/consumer"
"$cmake" -S "$here/consumer" -B "$work/consumer-build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
  >"$work/consumer-configure.log" 2>&1 \
  || { cat "$work/consumer-configure.log" >&2; die "consumer configure failed"; }
grep -qF "sluice_DIR=$prefix" "$work/consumer-configure.log" \
  || { cat "$work/consumer-configure.log" >&2; die "consumer did not use the installed sluice"; }
"$cmake" --build "$work/consumer-build" >"$work/consumer-build.log" 2>&1 \
  || { cat "$work/consumer-build.log" >&2; die "consumer build failed"; }
step "run the find_package consumer"
run_consumer "$work/consumer-build/consumer" find_package

step "pkg-config --cflags --libs sluice"
command -v "$pkgconfig" >/dev/null || die "no pkg-config ($pkgconfig)"
export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
flags=$("$pkgconfig" --cflags --libs sluice) || die "pkg-config cannot resolve sluice"
echo "   $flags"
modversion=$("$pkgconfig" --modversion sluice)
[ -z "$expected" ] || [ "$modversion" = "$expected" ] \
  || die "pkg-config version $modversion, expected $expected"
read -r -a flag_array <<<"$flags"
# Exactly the README's line: no rpath or LD_LIBRARY_PATH of our own, the .pc brings it.
"$cc" -std=c11 -Wall -Wextra -Werror "$here/consumer/main.c" -o "$work/consumer-pc" \
  "${flag_array[@]}" \
  || die "compiling against pkg-config flags failed"
step "run the pkg-config consumer (no LD_LIBRARY_PATH)"
found=$(env -u LD_LIBRARY_PATH ldd "$work/consumer-pc" | grep 'libsluice\.so' || true)
echo "   $found"
case $found in
  *"not found"*|"") die "pkg-config consumer: libsluice.so not found by the loader (rpath missing from sluice.pc?)" ;;
esac
case $found in
  *"$libdir"/libsluice.so*|*"$prefix"/*libsluice.so*) ;;
  *) die "pkg-config consumer: libsluice.so resolved outside the install prefix: $found" ;;
esac
LD_LIBRARY_PATH= run_consumer "$work/consumer-pc" pkg-config

step "PASS"
