#!/usr/bin/env bash
# Sets everything up (packages, build) and runs the main job: gs-opt on an
# example optimizer step, first folding the per-tensor ops into the fused
# gs.group_step, then lowering that to LLVM for the CPU.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
gs_opt=${GS_BUILD_DIR:-$root/build}/bin/gs-opt
example=$root/examples/adamw_step.mlir

fuse='builtin.module(canonicalize,func.func(gs-fuse-updates),canonicalize)'

echo
echo "== $example: per tensor, grad_norm -> stabilize -> optimizer_step"
echo "== gs-opt -canonicalize: each chain folds into a one-tensor gs.group_step"
"$gs_opt" "$example" -canonicalize

echo
echo "== + gs-fuse-updates: both tensors in one fused gs.group_step"
"$gs_opt" "$example" --pass-pipeline="$fuse"

echo
echo "== + gs-to-llvm: the fused step as LLVM dialect for the CPU (first lines)"
lowered=$(mktemp)
trap 'rm -f "$lowered"' EXIT
"$gs_opt" "$example" --pass-pipeline="$fuse" | "$gs_opt" --gs-to-llvm >"$lowered"
head -n 25 "$lowered"
echo "... ($(wc -l <"$lowered") lines)"
