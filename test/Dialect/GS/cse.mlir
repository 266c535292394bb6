// RUN: gs-opt %s -cse | FileCheck %s

// gs ops are pure: repeated norm computations of one gradient are shared.
// CHECK-LABEL: func @shared_norm
// CHECK-COUNT-1: gs.grad_norm
// CHECK-NOT: gs.grad_norm
func.func @shared_norm(%g: tensor<8xf32>) -> (f64, f64) {
  %0 = gs.grad_norm %g : tensor<8xf32>
  %1 = gs.grad_norm %g : tensor<8xf32>
  return %0, %1 : f64, f64
}
