#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A shared libmproc: the exported-symbols check (build.symbols), the consumer builds, and the
# process cases (targets located across the library boundary, every start method). The whole
# suite runs against the static library in ci/linux.sh and ci/asan.sh; a third full run here
# would only cost CI time.
# SHARED_LABELS overrides the selection ('.' runs everything).
set -euo pipefail
. "$(dirname "$0")/common.sh"

labels="${SHARED_LABELS:-^(build|process)$}"
section "shared preset, labels $labels"
cmake --preset shared
cmake --build --preset shared
ctest --preset shared -L "$labels"
