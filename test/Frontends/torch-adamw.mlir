// torch.optim's AdamW as torch-mlir exports it (Inputs/torch-adamw.mlir,
// checked in: this test needs no Python), stabilized at the gradient level,
// lowered by gs-to-llvm and run for two steps of 4 elements. The export
// writes exp_avg.lerp_ as torch's decomposition (a select on the constant
// test `|0.1| >= 0.5`, in a generic of its own) and the bias corrections
// as f64 0-d tensor math on the step counter.
//
// By name and automatically: the same rewrite.
// RUN: gs-opt %S/Inputs/torch-adamw.mlir --gs-stabilize-gradients=grad-names=grad \
// RUN: | FileCheck %s
// RUN: gs-opt %S/Inputs/torch-adamw.mlir --gs-stabilize-gradients \
// RUN: | FileCheck %s
// CHECK-LABEL: func.func @step(
// CHECK-SAME: %arg1: tensor<4xf32> {gs.name = "grad"}
// CHECK-SAME: %arg5: tensor<2xf64> {gs.param = 0 : i64, gs.state = "stats"}
// CHECK-SAME: %arg6: tensor<2xi64> {gs.param = 0 : i64, gs.state = "counts"}
// CHECK: %[[N:.*]] = gs.grad_norm %arg1 : tensor<4xf32>
// CHECK: %[[G:[a-z0-9_]+]], %{{.*}}, %{{.*}}, %{{.*}} = gs.stabilize %arg1, %[[N]], %arg5, %arg6
// The moments read the stabilized gradient, not the raw one.
// CHECK: ins({{.*}}%[[G]]
// CHECK-NOT: ins(%arg1
// CHECK: return
//
// RUN: gs-opt %S/Inputs/torch-adamw.mlir --gs-stabilize-gradients=grad-names=grad \
// RUN: | grep -v '^}$' > %t.mlir
// RUN: cat %S/Inputs/torch-adamw-main.mlir >> %t.mlir
// RUN: gs-opt %t.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s --check-prefix=EXEC
// The recognizers raise it (gs-inject): the bias corrections are
// `sitofp(1) - powf(beta, t + 1)` of the f64 counter, sqrt(bc2) is
// `powf(bc2, 0.5)`; the same numbers.
// RUN: gs-opt %S/Inputs/torch-adamw.mlir --gs-inject | FileCheck %s --check-prefix=RAISED
// RAISED: gs.group_step #gs.adamw<> params(%arg0 : tensor<4xf32>)
// RAISED-NOT: gs.stabilize
// RUN: gs-opt %S/Inputs/torch-adamw.mlir --gs-inject | grep -v '^}$' > %t.raised.mlir
// RUN: cat %S/Inputs/torch-adamw-main.mlir >> %t.raised.mlir
// RUN: gs-opt %t.raised.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s --check-prefix=EXEC
// The same through gs-to-linalg and upstream element-wise fusion.
// RUN: gs-opt %S/Inputs/torch-adamw.mlir --gs-stabilize-gradients=grad-names=grad \
// RUN:   --gs-to-linalg --linalg-fuse-elementwise-ops | grep -v '^}$' > %t.linalg.mlir
// RUN: cat %S/Inputs/torch-adamw-main.mlir >> %t.linalg.mlir
// RUN: gs-opt %t.linalg.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s --check-prefix=EXEC
//
// Expected: GSWrapper (eager, defaults) around
// torch.optim.AdamW([p], lr=1e-3, weight_decay=0.01, foreach=False) on the
// gradients of Inputs/torch-adamw-main.mlir, printed with "%g": the
// parameter after each step, then after the second exp_avg, exp_avg_sq,
// the step counter, GS [m, v] and [k, skipped]. The second gradient is a
// spike (norm 1900): the update stays an AdamW step of ordinary size.
// EXEC: data =
// EXEC-NEXT: [0.99899, -0.498995, 0.248997, 1.99898]
// EXEC: data =
// EXEC-NEXT: [0.998744, -0.498754, 0.248119, 1.99891]
// EXEC: data =
// EXEC-NEXT: [0.00781078, -0.0156216, 0.0566137, 0.00781719]
// EXEC: data =
// EXEC-NEXT: [6.07311e-05, 0.000242924, 0.000231263, 0.00124608]
// EXEC: data =
// EXEC-NEXT: [2]
// EXEC: data =
// EXEC-NEXT: [755.537, 3562.51]
// EXEC: data =
// EXEC-NEXT: [2, 0]
