#!/usr/bin/env bash
# Builds the baseline of issue 11's one-thread target: the shape-specialized
# GPT-2 small AdamW step of the compiler before the generic kernels
# (commit 4300ffb, the parent of the commit that added gs.multi_tensor_step),
# compiled the way that compiler's package did when it used the toolchain
# (gs-opt --gs-to-llvm with bare-pointer arguments, mlir-translate,
# clang -O3 -march=native). benchmarks/specialized_vs_generic.py times it
# against the prebuilt generic kernels in one process.
#
#     benchmarks/build_specialized_baseline.sh [OUT_DIR]
#
# OUT_DIR (default build/specialized-baseline) gets the old sources, their
# gs-opt and gpt2_specialized.so. Needs the git history, the LLVM/MLIR 22
# toolchain and Ninja; takes a few minutes (one compiler build).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/build/specialized-baseline}")
commit=4300ffb
python=${PYTHON:-$root/.venv/bin/python}

if ! git -C "$root" cat-file -e "$commit^{commit}" 2>/dev/null; then
  echo "error: commit $commit is not in this clone's history (a shallow clone?)" >&2
  exit 1
fi
mkdir -p "$out"
if [ ! -f "$out/src/CMakeLists.txt" ]; then
  rm -rf "$out/src"
  mkdir -p "$out/src"
  git -C "$root" archive "$commit" | tar -x -C "$out/src"
fi
llvm=/usr/lib/llvm-22
cmake -G Ninja -S "$out/src" -B "$out/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$llvm/bin/clang" -DCMAKE_CXX_COMPILER="$llvm/bin/clang++" \
  -DMLIR_DIR="$llvm/lib/cmake/mlir" -DLLVM_DIR="$llvm/lib/cmake/llvm" >/dev/null
ninja -C "$out/build" gs-opt

# The old package's own module emitter and toolchain driver make the object.
GS_OPT="$out/build/bin/gs-opt" GS_CACHE_DIR="$out/cache" \
  PYTHONPATH="$out/src/python:$out/src/benchmarks" "$python" - "$out" <<'EOF'
import shutil, sys
from gpt2_shapes import gpt2_small_shapes
from gradient_stabilizer import _compiler as C
shapes = tuple(gpt2_small_shapes())
sig = C.StepSignature(shapes=shapes, dtypes=("f32",) * len(shapes),
                      optimizer="#gs.adamw<>", num_moments=2)
library = C.compile_module(C.emit_step_module(sig))
shutil.copyfile(library, f"{sys.argv[1]}/gpt2_specialized.so")
print(f"{sys.argv[1]}/gpt2_specialized.so")
EOF
