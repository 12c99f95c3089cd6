#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The suite under ThreadSanitizer (clang), spawn start method only (the tsan test preset leaves
# out the fork and forkserver copies of each case): the races it looks for are between threads
# of one process, which every start method shares, and TSan does not follow fork() with threads.
set -euo pipefail
. "$(dirname "$0")/common.sh"

section "tsan preset"
cmake --workflow --preset tsan
