// REQUIRES: jax-iree
// The installed jax, optax and iree-base-compiler, live:
// examples/frontends/jax_clip_adamw.py lowers optax's clip + AdamW to
// StableHLO, IREE's input conversion and the adapter bring it to linalg,
// gs-opt stabilizes the gradient (found automatically; the clip replaced)
// and lowers it to LLVM. The same through the command-line adapter from
// the StableHLO text. The numbers are checked in
// python/tests/test_frontends.py.
// RUN: %frontend_python %gs_src_root/examples/frontends/jax_clip_adamw.py > %t.mlir
// RUN: gs-opt %t.mlir --gs-stabilize-gradients | FileCheck %s
// RUN: gs-opt %t.mlir --gs-stabilize-gradients | gs-opt --gs-to-llvm \
// RUN: | FileCheck %s --check-prefix=LLVM
// RUN: %frontend_python %gs_src_root/examples/frontends/jax_clip_adamw.py --stablehlo \
// RUN:   > %t.stablehlo.mlir
// RUN: env PYTHONPATH=%gs_src_root/python %frontend_python -m gradient_stabilizer.frontends \
// RUN:   stablehlo-to-linalg %t.stablehlo.mlir --func-name step -o %t.cli.mlir
// RUN: gs-opt %t.cli.mlir --gs-stabilize-gradients | FileCheck %s
// CHECK-LABEL: func.func @step(
// CHECK-SAME: gs.state = "stats"
// CHECK: gs.grad_norm %arg1
// CHECK: gs.stabilize %arg1
// CHECK-NOT: arith.cmpf
// LLVM: llvm.func @step(
