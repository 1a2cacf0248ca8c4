#!/usr/bin/env bash
# Quickstart 1: install dependencies, build, and run snapsim (the built-in suite).
# Arguments are passed to snapsim.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
exec ./build/snapsim "$@"
