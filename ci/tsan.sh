#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The suite under ThreadSanitizer (clang), spawn start method only (the tsan test preset leaves
# out the fork and forkserver copies of each case): the races it looks for are between threads
# of one process, which every start method shares, and TSan does not follow fork() with threads.
# The fault cases that kill a process blocked on a lock, queue, connection or shared object
# are left out too: one thread waits there, while the pool's fault cases (a pool thread beside
# the caller) stay.
set -euo pipefail
. "$(dirname "$0")/common.sh"

section "tsan preset"
cmake --workflow --preset tsan
