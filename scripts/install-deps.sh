#!/usr/bin/env bash
# Installs what npuc needs to build and test on Debian 12 / Ubuntu, if missing.
set -euo pipefail
packages=(cmake ninja-build gcc clang libclang-rt-14-dev pkg-config libyaml-dev libcjson-dev
          libcmocka-dev libvulkan-dev glslc spirv-tools mesa-vulkan-drivers
          vulkan-validationlayers)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
