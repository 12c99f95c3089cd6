#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's test command: configure, build and run the whole suite (Debug, static library).
# Also the macOS and FreeBSD jobs: CMake picks the generic POSIX backend there by itself
# (docs/portability.md). The compiler comes from CC if set.
set -euo pipefail
. "$(dirname "$0")/common.sh"

section "default preset: $(cmake --version | head -n 1)"
cmake --workflow --preset default
