#!/usr/bin/env bash
# Regenerates tests/golden/ from a build's snapsim (default build/snapsim).
# Only for a change that is meant to move the built-in suite's results: say
# in the commit which rows moved and why. Usage: scripts/update-golden.sh [SNAPSIM]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/snapsim}"
"$bin" --jobs 2 --json tests/golden/suite-snapshot.json >/dev/null
"$bin" --model crash --jobs 2 --json tests/golden/suite-crash.json >/dev/null
echo "update-golden: wrote tests/golden/suite-snapshot.json and suite-crash.json" >&2
