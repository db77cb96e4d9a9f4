#!/usr/bin/env bash
# The main job: install what is missing, build, and compile the bundled tiny
# ResNet through the default pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default
mkdir -p out
./build/tools/npuc/npuc --pipeline pipelines/tiny_resnet.yaml -o out/tiny_resnet.json \
  --time-passes --stats
echo "demo: wrote out/tiny_resnet.json"
