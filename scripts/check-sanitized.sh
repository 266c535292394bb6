#!/usr/bin/env bash
# Builds the project with AddressSanitizer and UBSan in build-asan/ and runs
# the lit suite with that build: gs-opt, the C API test and the execution
# tests (whose Python preloads the ASan runtime to load the instrumented
# libGSCAPI.so). Then pytest on the package's tests that reach the native
# libraries (the prebuilt CPU kernels of every compiled CPU step, the C API,
# the GPU emulator), with the ASan runtime preloaded into Python and every
# GS_* library variable pointing at the instrumented build. Only this
# project's code is instrumented; Debian's libMLIR.so, Python and torch are
# not. Any sanitizer report fails its test.
#
#   scripts/check-sanitized.sh [lit|pytest]     (default: both)
#
# GS_LIT_XUNIT / GS_PYTEST_XUNIT: where to write each runner's JUnit report.
set -uo pipefail
what=${1:-all}
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

status=0
if [ "$what" != pytest ]; then
  echo "== lit (ASan + UBSan)"
  /usr/lib/llvm-22/bin/lit -sv ${GS_LIT_XUNIT:+--xunit-xml-output "$GS_LIT_XUNIT"} \
    "$build/test" || status=1
fi

if [ "$what" != lit ]; then
  # Leaks are not checked: Python and torch keep their allocations to the
  # end. UBSan halts on the first report, as in the lit suite.
  echo "== pytest (ASan + UBSan, native-library tests)"
  runtime=$(clang-22 -print-file-name=libclang_rt.asan-x86_64.so)
  # The instrumented gs-opt (the toolchain compile path) carries its own
  # static ASan runtime: it must start without the preloaded one.
  gs_opt="$build/gs-opt-without-preload"
  printf '#!/bin/sh\nunset LD_PRELOAD\nexec "%s" "$@"\n' "$build/bin/gs-opt" > "$gs_opt"
  chmod +x "$gs_opt"
  (cd "$root/python" && env LD_PRELOAD="$runtime" \
    ASAN_OPTIONS=allow_user_poisoning=0:detect_leaks=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    GS_CAPI_LIB="$build/lib/libGSCAPI.so" \
    GS_CPU_KERNELS_LIB="$build/lib/libgs_cpu_kernels.so" \
    GS_GPU_EMULATOR_LIB="$build/lib/libgs_gpu_emulator.so" \
    GS_CUDA_RUNTIME_LIB="$build/lib/libgs_cuda_runtime.so" \
    GS_OPT="$gs_opt" GS_CACHE_DIR="$build/gs-cache" \
    "$python" -m pytest -q -p no:cacheprovider \
    ${GS_PYTEST_XUNIT:+--junitxml "$GS_PYTEST_XUNIT"} \
    tests/test_prebuilt_cpu.py tests/test_backend_rules.py tests/test_errors.py \
    tests/test_gpu_step.py tests/test_amp.py tests/test_caches.py) || status=1
fi
exit $status
