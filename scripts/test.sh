#!/usr/bin/env bash
# Quickstart 2: install dependencies, build, and run every test with ctest:
# once in a normal build, then again under AddressSanitizer + UBSan.
# Then a clang Release build of the binary. Options: --fast skips the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
for a in "$@"; do
  case "$a" in
    --fast) fast=1 ;;
    *) echo "test.sh: unknown option '$a' (expected --fast)" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh
scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSNAPSIM_WERROR=ON
(cd build && ctest --output-on-failure -j 2)
# A release build with clang (warnings still errors): the binary builds and
# runs the built-in suite (exit 1 = the suite found failures, as it does).
CC=clang CXX=clang++ scripts/build.sh build-clang -DCMAKE_BUILD_TYPE=Release -DSNAPSIM_WERROR=ON \
  -DSNAPSIM_BUILD_TESTS=OFF -DSNAPSIM_BUILD_BENCH=OFF
rc=0
build-clang/snapsim >/dev/null || rc=$?
if ((rc > 1)); then echo "test.sh: the clang release build of snapsim failed the built-in suite (exit $rc)" >&2; exit 1; fi
if ((fast == 0)); then
  scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSNAPSIM_WERROR=ON -DSNAPSIM_SANITIZE=ON -DSNAPSIM_BUILD_BENCH=OFF
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j 2)
fi
