#!/usr/bin/env bash
# ResNet-18 on the GPU machine: goldens, compile, correctness check, latency
# for fp32 and fp16, and PyTorch eager in the same run. Run from the repo root
# with the build, .devicekit, .gl and .device (shared tools + resnet18 fixture)
# carried; see docs/benchmarks.md.
set -euo pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out" /tmp/r18
python3 .device/tools/make_goldens.py resnet18 /tmp/r18 > /dev/null
npuc=./build/tools/npuc/npuc
npurun=./build/tools/npurun/npurun
for prec in fp32 fp16; do
  # fp32 must meet the 1e-3; fp16 is reported against the fp32 golden.
  pipeline=pipelines/resnet18_vulkan.yaml rtol=1e-3
  [ "$prec" = fp16 ] && pipeline=pipelines/resnet18_vulkan_fp16.yaml rtol=5e-2
  [ -f "$pipeline" ] || { echo "== $prec: $pipeline missing, skipped"; continue; }
  echo "== npuc $prec"
  TIMEFORMAT="compile wall %R s"
  time "$npuc" --pipeline "$pipeline" \
    -i .device/fixtures/resnet18/model_ir.json -o /tmp/r18_$prec.npubin --time-passes --stats
  echo "== npurun $prec: check against PyTorch fp32 golden"
  "$npurun" /tmp/r18_$prec.npubin --weights /tmp/r18/weights.safetensors \
    --input /tmp/r18/input.npy --check /tmp/r18/output.npy --rtol "$rtol" \
    --output /tmp/r18_$prec.npy || echo "check failed for $prec"
  echo "== npurun $prec: latency"
  "$npurun" /tmp/r18_$prec.npubin --weights /tmp/r18/weights.safetensors \
    --input /tmp/r18/input.npy --warmup 50 --repeat 500 --profile --trace "$out/trace_$prec.json"
done
echo "== pytorch"
python3 bench/torch_resnet18.py --runs 500 --warmup 50
