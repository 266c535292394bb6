// RUN: gs-opt %s --gs-to-llvm | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs | FileCheck %s

// Two AdamW steps (lr 0.01, weight decay 0.1) with GradientStabilizer, run
// with mlir-runner. The expected numbers are those of the float64 reference,
// python/gradient_stabilizer/reference.py:
//   params [0.97801101 -2.015992 3.013993 0.4790105 0.22951025 4.011994
//           -1.017991 1.976012 1.5169915 -0.5189905 -0.01999]
//   m = 1.7931424931137938, v = 0.015692150002978765, k = 2, skipped = 0
// printed by printMemref to 6 significant digits.

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefF64(tensor<*xf64>)
func.func private @printMemrefI64(tensor<*xi64>)

func.func @main() {
  %p = arith.constant dense<[1.0, -2.0, 3.0, 0.5, 0.25, 4.0, -1.0, 2.0, 1.5, -0.5, 0.0]> : tensor<11xf32>
  %g = arith.constant dense<[0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8, -0.9, 1.0, 2.0]> : tensor<11xf32>
  %z = arith.constant dense<0.0> : tensor<11xf32>
  %s = arith.constant dense<0.0> : tensor<1x2xf64>
  %c = arith.constant dense<0> : tensor<1x2xi64>
  %t = arith.constant dense<0> : tensor<1xi64>
  %lr = arith.constant 0.01 : f64
  %wd = arith.constant 0.1 : f64
  %r:6 = gs.group_step #gs.adamw<> params(%p : tensor<11xf32>)
      grads(%g : tensor<11xf32>) moments(%z, %z : tensor<11xf32>, tensor<11xf32>)
      stats(%s : tensor<1x2xf64>) counts(%c : tensor<1x2xi64>)
      steps(%t : tensor<1xi64>) lr(%lr) weight_decay(%wd)
  %r2:6 = gs.group_step #gs.adamw<> params(%r#0 : tensor<11xf32>)
      grads(%g : tensor<11xf32>) moments(%r#1, %r#2 : tensor<11xf32>, tensor<11xf32>)
      stats(%r#3 : tensor<1x2xf64>) counts(%r#4 : tensor<1x2xi64>)
      steps(%r#5 : tensor<1xi64>) lr(%lr) weight_decay(%wd)

  // CHECK: [0.978011, -2.01599, 3.01399, 0.479011, 0.22951, 4.01199, -1.01799, 1.97601, 1.51699, -0.518991, -0.01999]
  %u0 = tensor.cast %r2#0 : tensor<11xf32> to tensor<*xf32>
  call @printMemrefF32(%u0) : (tensor<*xf32>) -> ()
  // CHECK: {{\[\[}}1.79314, 0.0156922]]
  %u1 = tensor.cast %r2#3 : tensor<1x2xf64> to tensor<*xf64>
  call @printMemrefF64(%u1) : (tensor<*xf64>) -> ()
  // CHECK: {{\[\[}}2, 0]]
  %u2 = tensor.cast %r2#4 : tensor<1x2xi64> to tensor<*xi64>
  call @printMemrefI64(%u2) : (tensor<*xi64>) -> ()
  // CHECK: [2]
  %u3 = tensor.cast %r2#5 : tensor<1xi64> to tensor<*xi64>
  call @printMemrefI64(%u3) : (tensor<*xi64>) -> ()
  return
}
