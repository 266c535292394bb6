#!/usr/bin/env bash
# Builds the project with AddressSanitizer and UBSan in build-asan/ and runs
# the lit suite with that build: gs-opt, the C API test and the execution
# tests (whose Python preloads the ASan runtime to load the instrumented
# libGSCAPI.so). Only this project's code is instrumented; Debian's
# libMLIR.so is not. Any sanitizer report fails its test.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${GS_ASAN_BUILD_DIR:-$root/build-asan}
# The execution tests' Python: scripts/setup.sh's virtual environment.
python=$root/.venv/bin/python
[ -x "$python" ] || python=/usr/bin/python3

cached_python=$(sed -n 's/^Python3_EXECUTABLE:[A-Z]*=//p' \
  "$build/CMakeCache.txt" 2>/dev/null || true)
if [ ! -f "$build/build.ninja" ] || [ "$cached_python" != "$python" ]; then
  echo "== configuring $build (ASan + UBSan)"
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DGS_ENABLE_SANITIZERS=ON -DPython3_EXECUTABLE="$python" || exit 1
fi
echo "== building $build"
cmake --build "$build" || exit 1

echo "== lit (ASan + UBSan)"
/usr/lib/llvm-22/bin/lit -sv ${GS_LIT_XUNIT:+--xunit-xml-output "$GS_LIT_XUNIT"} \
  "$build/test"
