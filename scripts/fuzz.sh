#!/usr/bin/env bash
# Fuzzes the gs compiler for a given time: builds tools/gs-fuzz (libFuzzer +
# ASan + UBSan) in build-fuzz/, seeds it with the lit tests' inputs (split at
# `// -----`; they include empty, huge and overflowing shapes) and inputs
# nested just under the nesting limit, and runs it single-threaded. Inputs
# may be 64 KiB, enough to reach that limit. The corpus it grows persists in
# build-fuzz/fuzz-corpus; crashing inputs land in build-fuzz/fuzz-artifacts.
# Set GS_FUZZ_BUILD_DIR for another build directory.
#
#   scripts/fuzz.sh SECONDS [libFuzzer options...]
#
# Exits non-zero when the fuzzer found a crash, hang or sanitizer report.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${GS_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:?usage: scripts/fuzz.sh SECONDS [libFuzzer options...]}
shift

if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DGS_ENABLE_FUZZER=ON
fi
cmake --build "$build" --target gs-fuzz -- -j"${GS_JOBS:-2}"

seeds=$build/fuzz-seeds corpus=$build/fuzz-corpus
artifacts=$build/fuzz-artifacts
rm -rf "$seeds"
mkdir -p "$seeds" "$corpus" "$artifacts"
find "$root/test" -name '*.mlir' -print0 | while IFS= read -r -d '' file; do
  name=$(basename "$file" .mlir)
  awk -v out="$seeds/$name" '
    BEGIN { n = 0; file = out "-" n ".mlir" }
    /^\/\/ -----/ { close(file); n++; file = out "-" n ".mlir"; next }
    { print > file }' "$file"
done

# Deep nesting, 2000 levels (mutations nest further): regions, attributes, an
# expression chain, an alias chain. Input deeper than gs::kMaxNestingDepth
# (4096) is refused; below it nothing may overflow the stack. At 4000 levels
# one execution takes about a minute here (11 pipelines and two print / parse
# round trips of 16 MB of indented IR under the fuzzing instrumentation; gs-opt
# takes at most 2.2 s a pipeline): hence the timeout of 120 s.
awk 'BEGIN { for (i = 0; i < 2000; i++) printf "module {";
             for (i = 0; i < 2000; i++) printf "}"; print "" }' > "$seeds/deep-regions.mlir"
awk 'BEGIN { printf "func.func private @f() attributes {a = ";
             for (i = 0; i < 2000; i++) printf "["; for (i = 0; i < 2000; i++) printf "]";
             print "}" }' > "$seeds/deep-attribute.mlir"
awk 'BEGIN { printf "#map = affine_map<(d0) -> (";
             for (i = 0; i < 2000; i++) printf "d0 + "; print "d0)>";
             print "func.func private @f() attributes {a = #map}" }' > "$seeds/deep-sum.mlir"
awk 'BEGIN { print "#a0 = [1]"; for (i = 1; i < 2000; i++) printf "#a%d = [#a%d]\n", i, i - 1;
             print "func.func private @f() attributes {a = #a1999}" }' > "$seeds/deep-aliases.mlir"

# Only this project's code is instrumented. Its inlined copies of LLVM's
# BumpPtrAllocator poison slab memory that libMLIR.so's uninstrumented copies
# then hand out unpoisoned: manual poisoning gives false use-after-poison
# reports in mixed builds, so it is off.
export ASAN_OPTIONS=${ASAN_OPTIONS:-allow_user_poisoning=0:detect_leaks=1}

# One process, one thread; the target swallows diagnostics, so the output is
# libFuzzer's status lines and, on a finding, the sanitizer's report.
cd "$build"
exec "$build/bin/gs-fuzz" "$corpus" "$seeds" \
  -dict="$root/tools/gs-fuzz/gs.dict" -artifact_prefix="$artifacts/" \
  -max_total_time="$seconds" -timeout=120 -rss_limit_mb=4096 -max_len=65536 \
  -print_final_stats=1 "$@"
