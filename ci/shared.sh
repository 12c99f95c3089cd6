#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The suite against a shared libmproc, including the exported-symbols check (build.symbols).
set -euo pipefail
. "$(dirname "$0")/common.sh"

section "shared preset"
cmake --workflow --preset shared
