// RUN: gs-opt %s 2>&1 | FileCheck %s
// RUN: gs-opt %s --canonicalize 2>&1 | FileCheck %s

// The warning for a configuration without a uniform bound is emitted by the
// verifier. It must not attach the op: printing the op verifies it again, so
// gs-opt (which prints ops on diagnostics) recursed until the stack overflowed.
// Found by gs-fuzz.

// CHECK: warning: gamma1^2 >= gamma2 (0.99^2 >= 0.9): the stabilized gradient norm has no uniform bound
// CHECK-NOT: see current operation
// CHECK: warning: gamma1^2 >= gamma2 (0.9^2 >= 0.5)
// CHECK-NOT: see current operation
// CHECK: func.func @group_unbounded
// CHECK: func.func @stabilize_unbounded
func.func @group_unbounded(%p: tensor<4xf32>, %s: tensor<1x2xf64>,
                           %c: tensor<1x2xi64>, %t: tensor<1xi64>, %lr: f64) {
  %0:4 = gs.group_step #gs.sgd<>
      config #gs.stabilizer<gamma1 = 0.99, gamma2 = 0.9>
      params(%p : tensor<4xf32>) grads(%p : tensor<4xf32>)
      stats(%s : tensor<1x2xf64>) counts(%c : tensor<1x2xi64>)
      steps(%t : tensor<1xi64>) lr(%lr) weight_decay(%lr)
  return
}

func.func @stabilize_unbounded(%g: tensor<8xf32>, %n: f64, %s: tensor<2xf64>,
                               %c: tensor<2xi64>) -> tensor<8xf32> {
  %0:4 = gs.stabilize #gs.stabilizer<gamma1 = 0.9, gamma2 = 0.5>
      %g, %n, %s, %c : tensor<8xf32>
  return %0#0 : tensor<8xf32>
}
