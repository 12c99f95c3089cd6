#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The generic POSIX backend (the one macOS and FreeBSD use), forced on Linux: the whole suite
# under fork and spawn with the generic preset (forkserver children there take the same
# proc_generic.c paths as attached processes, which the fault cases below run under all three
# methods), then again with the generic-asan
# preset (ASan + UBSan) over the areas whose code differs on this backend: locks, parking and
# owner death (sync_generic.c) and every fault case (deaths at each wait, which start, kill
# and reap processes through proc_generic.c). GENERIC_ASAN_LABELS replaces that set (a ctest
# -L regex; "." for the whole suite, about five times as long).
set -euo pipefail
. "$(dirname "$0")/common.sh"

section "generic preset (MPROC_POSIX_GENERIC=ON)"
cmake --workflow --preset generic

labels="${GENERIC_ASAN_LABELS:-^(fault|sync)$}"
section "generic-asan preset, labels $labels"
cmake --preset generic-asan
cmake --build --preset generic-asan
ctest --preset generic-asan -L "$labels"
