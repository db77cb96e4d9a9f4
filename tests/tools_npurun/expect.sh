#!/usr/bin/env bash
# expect.sh CODE REGEX COMMAND [ARGS...]
# Runs COMMAND (stdout and stderr together), prints its output, and fails
# unless it exits with CODE and its output matches the extended regex REGEX
# (matched against the output joined into one line; an empty REGEX matches
# anything). Always fails on a Vulkan validation error
# ("vulkan validation error: ..." on stderr, printed by the Vulkan runtime when
# NPU_VULKAN_VALIDATION=1).
set -u
want_code=$1 regex=$2
shift 2
out=$("$@" 2>&1)
code=$?
printf '%s\n' "$out"
echo "exit status $code"
status=0
if [ "$code" -ne "$want_code" ]; then
  echo "FAIL: expected exit status $want_code, got $code"
  status=1
fi
# Newlines become spaces so that REGEX can span lines.
if [ -n "$regex" ] && ! printf '%s\n' "$out" | tr '\n' ' ' | grep -Eq -- "$regex"; then
  echo "FAIL: output does not match: $regex"
  status=1
fi
n=$(printf '%s\n' "$out" | grep -c 'vulkan validation error' || true)
if [ -n "${NPU_VULKAN_VALIDATION:-}" ]; then
  echo "vulkan validation errors: $n"
fi
if [ "$n" -ne 0 ]; then
  echo "FAIL: $n vulkan validation error(s)"
  status=1
fi
exit $status
