#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The suite under AddressSanitizer + UndefinedBehaviorSanitizer (leak checks on), under the fork
# and spawn start methods. The asan test preset leaves out:
# - the forkserver copy of each case: a forkserver child boots as a spawn child does, from a
#   server that forks as a fork start does, both checked here (the forkserver's own cases and
#   the generic-asan fault cases still run it under ASan);
# - the "build" cases (they configure a consumer project; a sanitizer adds nothing there);
# - the "heavy" ones (hundreds of processes, 64 MiB items, ten million items: minutes under
#   ASan, and the same code paths as the small cases), except the one whose size arithmetic
#   ASan and UBSan do check: a message over 2 GiB (asan-heavy preset).
set -euo pipefail
. "$(dirname "$0")/common.sh"

section "asan preset"
cmake --workflow --preset asan
section "asan-heavy preset: messages over 2 GiB"
ctest --preset asan-heavy
