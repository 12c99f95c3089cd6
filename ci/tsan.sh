#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The suite under ThreadSanitizer (clang). Not part of the default CI run.
set -euo pipefail
. "$(dirname "$0")/common.sh"

section "tsan preset"
cmake --workflow --preset tsan
