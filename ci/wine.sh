#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Cross-build for Windows with mingw-w64 and run the suite under Wine (CTest uses Wine as the
# cross-compiling emulator, see cmake/mingw-w64.cmake).
set -euo pipefail
. "$(dirname "$0")/common.sh"

export WINEDEBUG=-all
# No Mono/Gecko install prompts in a headless prefix; the tests need neither.
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
unset DISPLAY

for tool in x86_64-w64-mingw32-gcc wine; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "ci/wine.sh: $tool not found (apt-get install gcc-mingw-w64-x86-64 wine wine64)" >&2
    exit 1
  fi
done

section "wine prefix"
# Creating the prefix takes a while; doing it here keeps that time out of the first test's
# timeout. wineserver -w waits until the prefix is fully written.
# A wineserver left running (e.g. a persistent one from an earlier run) would make
# `wineserver -w` wait forever: stop it first.
wineserver -k 2>/dev/null || true
wineboot -i
wineserver -w
# Keep one wineserver (and Wine's services) alive for the whole run, started outside CTest:
# services launched by the first test would otherwise inherit that test's output pipe and
# outlive it, and CTest would wait on the pipe until the test's timeout.
wineserver -p
wine cmd /c exit </dev/null >/dev/null 2>&1 || true
trap 'wineserver -k || true' EXIT
echo "wine prefix ready: ${WINEPREFIX:-$HOME/.wine} ($(wine --version))"

section "mingw preset"
cmake --workflow --preset mingw
