#!/usr/bin/env bash
# test.sh — the whole test suite: a Release build with warnings as errors (unit tests + node tests
# against the reference runtimes), an ASan+UBSan build of the unit tests and of `gemrun serve` under
# the server tests, a TSan build of the concurrent tests and of `gemrun pull` under the download
# fault tests, and every fuzz target for a bounded time. Assumes scripts/deps.sh has run.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-40}

echo "== release build + tests"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DGR_WERROR=ON >/dev/null
cmake --build build/release -j"$JOBS"
ctest --test-dir build/release --output-on-failure -j1

echo "== install + example program against the installed library"
bash tests/install_example.sh build/release

echo "== ASan + UBSan build + unit tests"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DGR_SANITIZE=ON -DGR_NODE_TESTS=OFF >/dev/null
cmake --build build/asan -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/asan --output-on-failure -j1

echo "== ASan + UBSan gemrun serve under the loopback tests (official clients, hostile input, load, ops)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  GEMRUN_BIN="$PWD/build/release/gemrun" GEMRUN_SERVE_BIN="$PWD/build/asan/gemrun" \
  node --test --test-concurrency=1 tests/serve/clients.test.mjs tests/serve/hostile.test.mjs \
  tests/serve/ops.test.mjs tests/serve/load.test.mjs tests/serve/cloud.test.mjs tests/serve/fallback.test.mjs \
  tests/serve/images.test.mjs

echo "== TSan build + the concurrent tests (pool, queue stress, local engine cancel)"
cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=Debug -DGR_TSAN=ON -DGR_NODE_TESTS=OFF >/dev/null
cmake --build build/tsan -j"$JOBS" --target gemrun test_threadpool test_queue test_engine_local
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build/tsan --output-on-failure -j1 -R '^test_(threadpool|queue|engine_local)$'

echo "== TSan gemrun: pull against the fault-injecting loopback server (transfer, hash, write threads)"
TSAN_OPTIONS=halt_on_error=1 GEMRUN_BIN="$PWD/build/tsan/gemrun" GEMRUN_SYNTH_BIN="$PWD/build/release/gemrun" \
  node --test tests/pull/pull.test.mjs

echo "== fuzz targets (${FUZZ_SECONDS}s each)"
CC=clang cmake -S . -B build/fuzz -DGR_FUZZ=ON -DGR_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/fuzz -j"$JOBS"
for f in build/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus="fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null || true
  echo "-- $name"
  "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -print_final_stats=1 "$work" 2>&1 | tail -n 4
  rm -rf "$work"
done
echo "== all test stages passed"
