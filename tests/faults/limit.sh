#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Run by mpirun before the app: applies resource limits to one rank or to all, then execs.
#   FX_LIMIT_RANK  the rank to limit (unset or empty: every rank)
#   FX_LIMIT_VKB   ulimit -v in KiB (virtual memory)
#   FX_LIMIT_NOFILE ulimit -n
if [ -z "${FX_LIMIT_RANK:-}" ] || [ "${OMPI_COMM_WORLD_RANK:-}" = "$FX_LIMIT_RANK" ]; then
  if [ -n "${FX_LIMIT_VKB:-}" ]; then ulimit -v "$FX_LIMIT_VKB" || exit 99; fi
  if [ -n "${FX_LIMIT_NOFILE:-}" ]; then ulimit -n "$FX_LIMIT_NOFILE" || exit 99; fi
fi
exec "$@"
