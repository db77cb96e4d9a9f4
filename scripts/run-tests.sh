#!/usr/bin/env bash
# Builds and runs every test: the plain build, the ASan+UBSan build, and the
# fuzzers for a bounded time on their committed corpora. Needs the packages
# from scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds="${NPU_FUZZ_SECONDS:-30}"

echo "== default build"
cmake --preset default >/dev/null
cmake --build --preset default
ctest --preset default

echo "== ASan + UBSan build"
cmake --preset asan -G Ninja >/dev/null
cmake --build --preset asan
ctest --preset asan

echo "== fuzzers (${fuzz_seconds}s each)"
cmake --preset fuzz -G Ninja >/dev/null
cmake --build --preset fuzz
for fuzzer in build-fuzz/fuzz/fuzz_*; do
  [ -x "$fuzzer" ] || continue
  name=$(basename "$fuzzer")
  corpus="fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  # New inputs go to a scratch dir; the committed corpus is only read.
  "$fuzzer" -max_total_time="$fuzz_seconds" -print_final_stats=0 "$work" "$corpus" \
    2> "build-fuzz/$name.log" || { tail -50 "build-fuzz/$name.log"; exit 1; }
  echo "$name: $(grep -c . "build-fuzz/$name.log" || true) log lines, no crash"
  rm -rf "$work"
done
echo "run-tests: all passed"
