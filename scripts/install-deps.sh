#!/usr/bin/env bash
# Installs every Debian package snapsim needs to build, test and benchmark.
# Idempotent: does nothing when all packages are already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libboost-test-dev librapidcheck-dev libsqlite3-dev libbenchmark-dev
  libcli11-dev libfmt-dev libtomlplusplus-dev nlohmann-json3-dev libxxhash-dev
  sqlite3 python3 python3-jsonschema chromium
  libfuse3-dev fuse3 libzstd-dev
  postgresql git
  file dpkg-dev clang
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
