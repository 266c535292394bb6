// optax.chain(clip_by_global_norm(1.0), adamw(1e-3, weight_decay=0.01)) as
// jax lowers it and IREE's input conversion brings it to linalg
// (Inputs/jax-clip-adamw.mlir, checked in: this test needs no Python),
// stabilized at the gradient level, lowered by gs-to-llvm and run for two
// steps. IREE folds the clip's `* 1.0` away (`select(norm < 1, g, g / norm)`)
// and jax adds the reductions' init value 0 to the squares it sums.
//
// clip=replace (default) drops the clip, by name or automatically.
// RUN: gs-opt %S/Inputs/jax-clip-adamw.mlir --gs-stabilize-gradients=grad-names=grads.0 \
// RUN: | FileCheck %s
// RUN: gs-opt %S/Inputs/jax-clip-adamw.mlir --gs-stabilize-gradients \
// RUN: | FileCheck %s
// CHECK-LABEL: func.func @step(
// CHECK-SAME: %arg1: tensor<4xf32> {gs.name = "grads.0"}
// CHECK-SAME: %arg5: tensor<2xf64> {gs.param = 0 : i64, gs.state = "stats"}
// CHECK-SAME: %arg6: tensor<2xi64> {gs.param = 0 : i64, gs.state = "counts"}
// CHECK: gs.grad_norm %arg1 : tensor<4xf32>
// CHECK: gs.stabilize %arg1,
// The clip (its test `norm < 1`) is gone.
// CHECK-NOT: arith.cmpf
// CHECK: return
//
// clip=keep applies the clip factor (recomputed in f64) in front of the
// stabilizer.
// RUN: gs-opt %S/Inputs/jax-clip-adamw.mlir \
// RUN:   --gs-stabilize-gradients="grad-names=grads.0 clip=keep" \
// RUN: | FileCheck %s --check-prefix=KEEP
// KEEP-LABEL: func.func @step(
// KEEP: arith.cmpf olt, %{{.*}}, %{{.*}} : f64
// KEEP: gs.grad_norm
//
// RUN: gs-opt %S/Inputs/jax-clip-adamw.mlir --gs-stabilize-gradients \
// RUN: | grep -v '^}$' > %t.mlir
// RUN: cat %S/Inputs/jax-clip-adamw-main.mlir >> %t.mlir
// RUN: gs-opt %t.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s --check-prefix=EXEC
// The same through gs-to-linalg and upstream element-wise fusion.
// RUN: gs-opt %S/Inputs/jax-clip-adamw.mlir --gs-stabilize-gradients \
// RUN:   --gs-to-linalg --linalg-fuse-elementwise-ops | grep -v '^}$' > %t.linalg.mlir
// RUN: cat %S/Inputs/jax-clip-adamw-main.mlir >> %t.linalg.mlir
// RUN: gs-opt %t.linalg.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s --check-prefix=EXEC
//
// Expected: optax.adamw(1e-3, weight_decay=0.01) (the clip replaced) on
// the gradients of Inputs/jax-clip-adamw-main.mlir stabilized by
// python/gradient_stabilizer/reference.py (float64, defaults), printed
// with "%g": the parameter after each step, then after the second the
// count, mu, nu, GS [m, v] and [k, skipped].
// EXEC: data =
// EXEC-NEXT: [0.99899, -0.498995, 0.248998, 1.99898]
// EXEC: data =
// EXEC-NEXT: [0.998744, -0.498754, 0.248119, 1.99891]
// EXEC: data =
// EXEC-NEXT: [2]
// EXEC: data =
// EXEC-NEXT: [0.00781078, -0.0156216, 0.0566137, 0.00781719]
// EXEC: data =
// EXEC-NEXT: [6.07311e-05, 0.000242924, 0.000231263, 0.00124608]
// EXEC: data =
// EXEC-NEXT: [755.537, 3562.51]
// EXEC: data =
// EXEC-NEXT: [2, 0]
