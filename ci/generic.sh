#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The generic POSIX backend (the one macOS and FreeBSD use), forced on Linux: the whole suite
# under fork, spawn and forkserver with the generic preset, then again with the generic-asan
# preset (ASan + UBSan). GENERIC_ASAN_LABELS narrows the second run (a ctest -L regex, e.g.
# "^sync$" for the backend's own locks, parking and owner death).
set -euo pipefail
. "$(dirname "$0")/common.sh"

section "generic preset (MPROC_POSIX_GENERIC=ON)"
cmake --workflow --preset generic

labels="${GENERIC_ASAN_LABELS:-.}"
section "generic-asan preset, labels $labels"
cmake --preset generic-asan
cmake --build --preset generic-asan
ctest --preset generic-asan -L "$labels"
