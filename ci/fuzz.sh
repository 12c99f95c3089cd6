#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets (fuzz preset: clang + ASan) and runs each for FUZZ_SECONDS
# (default 20). A crash leaves its input as build/fuzz/crash-* and fails the script.
set -euo pipefail
. "$(dirname "$0")/common.sh"

seconds="${FUZZ_SECONDS:-20}"
section "fuzz preset"
cmake --preset fuzz
cmake --build --preset fuzz

for target in fuzz_frame fuzz_handshake fuzz_pickle; do
  section "$target (${seconds}s)"
  corpus="build/fuzz/corpus-$target"
  mkdir -p "$corpus"
  (cd build/fuzz && "./tests/fuzz/$target" -max_total_time="$seconds" -max_len=4096 \
     -print_final_stats=1 "../../$corpus")
done
