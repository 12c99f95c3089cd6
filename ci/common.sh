# Sourced by ci/*.sh: moves to the repository root and sets defaults every job shares.
# shellcheck shell=bash

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Build with every core unless the caller chose (the presets leave parallelism to this).
if [ -z "${CMAKE_BUILD_PARALLEL_LEVEL:-}" ]; then
  CMAKE_BUILD_PARALLEL_LEVEL="$(getconf _NPROCESSORS_ONLN 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)"
  export CMAKE_BUILD_PARALLEL_LEVEL
fi

section() {
  printf '\n==== %s ====\n' "$*"
}
