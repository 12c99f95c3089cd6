#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The generic POSIX backend (the one macOS and FreeBSD use), forced on Linux: the whole suite
# under fork, spawn and forkserver with the generic preset, then the generic-asan preset (ASan +
# UBSan) over the sync label only (locks, parking, owner death: the backend's own code), to keep
# CI time in budget. GENERIC_ASAN_LABELS overrides that selection (a ctest -L regex; "." for
# the whole suite).
set -euo pipefail
. "$(dirname "$0")/common.sh"

section "generic preset (MPROC_POSIX_GENERIC=ON)"
cmake --workflow --preset generic

labels="${GENERIC_ASAN_LABELS:-^sync$}"
section "generic-asan preset, labels $labels"
cmake --preset generic-asan
cmake --build --preset generic-asan
ctest --preset generic-asan -L "$labels"
