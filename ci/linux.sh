#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's test command: configure, build and run the whole suite (Debug, static library).
# Also the macOS and FreeBSD jobs: CMake picks the generic POSIX backend there by itself
# (docs/portability.md). The compiler comes from CC if set.
set -euo pipefail
. "$(dirname "$0")/common.sh"

# MSVC has no __atomic builtins and an embedder's allocator must see every block: new code that
# calls them directly is converted by these scripts (idempotent) before it is merged.
section "sources use src/atomics.h and src/alloc.h"
python3 tools/atomics_convert.py --check
python3 tools/alloc_convert.py --check

section "default preset: $(cmake --version | head -n 1)"
cmake --workflow --preset default

# An optimised build sees more (gcc's -Wmaybe-uninitialized needs -O2): the library, as a
# product that vendors it with its own -Werror compiles it.
section "release preset, library only, -Werror"
cmake --preset release -DMPROC_WERROR=ON
cmake --build --preset release --target mproc
