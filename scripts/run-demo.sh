#!/usr/bin/env bash
# The main job: install what is missing, build, compile the bundled tiny ResNet
# for Vulkan and run it on the default device (a GPU if there is one, else
# lavapipe on the CPU), checked against PyTorch's output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default
mkdir -p out
golden=tests/fixtures/tiny-resnet/golden
./build/tools/npuc/npuc --pipeline pipelines/tiny_resnet_vulkan.yaml -o out/tiny_resnet.npubin \
  --time-passes --stats
./build/tools/npurun/npurun out/tiny_resnet.npubin --weights "$golden/weights.safetensors" \
  --input "$golden/input.npy" --output out/tiny_resnet_logits.npy \
  --check "$golden/output.npy" --warmup 5 --repeat 50 --profile --trace out/tiny_resnet_trace.json
echo "demo: wrote out/tiny_resnet.npubin, out/tiny_resnet_logits.npy and out/tiny_resnet_trace.json"
