#!/usr/bin/env bash
# usage: out_of_tree_plugin.sh SOURCE_DIR BUILD_DIR C_COMPILER
set -euo pipefail
src=$1 build=$2 cc=$3
work="$build/Testing/out-of-tree"
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"

cmake --install "$build" --prefix "$prefix" >/dev/null

# 1. CMake package: find_package(npuc) + npuc_add_plugin.
cmake -S "$src/plugins/op-histogram" -B "$work/hist" -G Ninja -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/hist" >/dev/null
test -f "$work/hist/op-histogram.so"

# 2. pkg-config: the same source with a plain compiler line.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
sed -i "s|^prefix=.*|prefix=$prefix|" "$prefix"/lib*/pkgconfig/npuc.pc 2>/dev/null || true
mkdir -p "$work/pc"
"$cc" -shared -fPIC -fvisibility=hidden -o "$work/pc/op-histogram.so" \
  "$src/plugins/op-histogram/op_histogram.c" $(pkg-config --cflags --libs npuc)

# 3. The installed npuc loads it and runs it on a real IR.
cat > "$work/pipeline.yaml" <<YAML
input: $src/tests/fixtures/tiny-resnet/model_ir.json
passes:
  - op-histogram: {output: $work/ops.tsv}
YAML
"$prefix/bin/npuc" --pipeline "$work/pipeline.yaml" --plugin-path "$work/hist" \
  -o "$work/out.json" --stats 2> "$work/stderr.txt" || { cat "$work/stderr.txt"; exit 1; }
# tiny-resnet has 6 aten.conv2d.default nodes (fixtures/README and the IR).
test "$(grep -c '^aten.conv2d.default' "$work/ops.tsv")" -eq 6
grep -q "op-histogram" "$work/stderr.txt"
echo "out-of-tree plugin: built with find_package and pkg-config, loaded and run by installed npuc"
