#!/usr/bin/env bash
# README command (b): install what is missing, build everything, run every test (ctest:
# unit suites, MPI tests alone and under mpiexec -n 2, tool tests, end-to-end runs).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FEDVLM_BUILD_DIR:-build}
jobs=${FEDVLM_JOBS:-$(nproc)}

bash tools/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@"
