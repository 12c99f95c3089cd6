# SPDX-License-Identifier: MIT
# Sourced by ci/*.sh: moves to the repository root and sets defaults every job shares.
# shellcheck shell=bash

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# One build job per core unless the caller chose: the build presets alone run `make -j`
# (unbounded); CMAKE_BUILD_PARALLEL_LEVEL takes precedence over them.
if [ -z "${CMAKE_BUILD_PARALLEL_LEVEL:-}" ]; then
  CMAKE_BUILD_PARALLEL_LEVEL="$(getconf _NPROCESSORS_ONLN 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)"
  export CMAKE_BUILD_PARALLEL_LEVEL
fi

section() {
  printf '\n==== %s ====\n' "$*"
}
