#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The suite under AddressSanitizer + UndefinedBehaviorSanitizer (leak checks on).
set -euo pipefail
. "$(dirname "$0")/common.sh"

section "asan preset"
cmake --workflow --preset asan
