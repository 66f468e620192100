# SPDX-License-Identifier: BSD-3-Clause
# Sourced by .ci/test and .ci/setup: environment and the main build.
# shellcheck shell=bash

# Open MPI refuses to run as root without these (CI containers run as root). They are set
# here, for the scripts' own mpirun/ctest calls, never in the library.
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# 4 ranks on 2 cores.
export OMPI_MCA_rmaps_base_oversubscribe=1
# Containers usually forbid the ptrace-based single-copy (CMA) path of the shared-memory
# transport; without this, shared-memory messages fail there.
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"

SLUICE_CI_JOBS=${SLUICE_CI_JOBS:-2}

# SLUICE_WERROR follows CI: ON when the CI variable is set.
sl_ci_werror() {
  if [ -n "${CI:-}" ]; then echo ON; else echo OFF; fi
}

# Configure and build one build directory: sl_ci_build <dir> [extra cmake args...]
sl_ci_build() {
  local dir=$1
  shift
  cmake -S . -B "$dir" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g" \
    -DSLUICE_WERROR="$(sl_ci_werror)" \
    "$@"
  cmake --build "$dir" -j "$SLUICE_CI_JOBS"
}
