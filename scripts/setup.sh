#!/usr/bin/env bash
# Installs what the project and scripts/check.sh need on Debian 12 (when
# missing): the Debian packages, a Python virtual environment in .venv with
# python/requirements-test.txt from PyPI (torch 2.x, numpy, pytest,
# hypothesis) and python/requirements-frontends.txt (torch-mlir, jax, optax,
# iree-base-compiler: the front-end tests), then configures and builds the
# project in build/ with that environment's Python for the execution tests. Safe to run again: it only does
# what is left to do.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${GS_BUILD_DIR:-$root/build}
venv=$root/.venv
python=$venv/bin/python

packages=(
  cmake ninja-build git
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22
  libclang-rt-22-dev   # the sanitizer runtimes of scripts/check-sanitized.sh
  python3 python3-venv pybind11-dev
  # Debian's torch 1.13 is the package's compatibility floor: check.sh runs a
  # smoke test with it.
  python3-numpy python3-torch python3-pytest python3-hypothesis
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
    grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
    --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$python" ]; then
  echo "== creating $venv"
  /usr/bin/python3 -m venv "$venv"
fi
# pip only downloads what is missing or too old: a no-op when all is there.
echo "== Python packages ($venv)"
"$python" -m pip install --quiet --disable-pip-version-check \
  -r "$root/python/requirements-test.txt" \
  -r "$root/python/requirements-frontends.txt"

cached_python=$(sed -n 's/^Python3_EXECUTABLE:[A-Z]*=//p' \
  "$build/CMakeCache.txt" 2>/dev/null || true)
if [ ! -f "$build/build.ninja" ] || [ "$cached_python" != "$python" ]; then
  echo "== configuring $build"
  cmake -G Ninja -S "$root" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DPython3_EXECUTABLE="$python"
fi
echo "== building"
cmake --build "$build"
