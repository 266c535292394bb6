// RUN: gs-opt %s -gs-inject | FileCheck %s
// RUN: gs-opt %s -gs-inject="fuse=false" | FileCheck %s --check-prefix=NOFUSE

// Two SGD updates with the same lr become one gs.group_step over both
// tensors (their state rows packed); the bf16 one stays apart.
// CHECK-LABEL: func.func @three_sgd_updates
// CHECK: %[[S:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[1, 0] [1, 2] [1, 1] : tensor<1x2xf64> into tensor<2x2xf64>
// CHECK: gs.group_step #gs.sgd<> params(%arg0, %arg1 : tensor<8xf32>, tensor<4xf32>) grads(%arg3, %arg4 : tensor<8xf32>, tensor<4xf32>) stats(%[[S]] : tensor<2x2xf64>)
// CHECK: tensor.extract_slice %{{.*}}[1, 0] [1, 2] [1, 1] : tensor<2x2xf64> to tensor<1x2xf64>
// CHECK: gs.group_step #gs.sgd<> params(%arg2 : tensor<4xbf16>)
// CHECK-NOT: gs.group_step
// NOFUSE-COUNT-3: gs.group_step
func.func @three_sgd_updates(%p0: tensor<8xf32>, %p1: tensor<4xf32>, %p2: tensor<4xbf16>,
                             %g0: tensor<8xf32>, %g1: tensor<4xf32>, %g2: tensor<4xbf16>,
                             %lr: f32)
    -> (tensor<8xf32>, tensor<4xf32>, tensor<4xbf16>) {
  %e8 = tensor.empty() : tensor<8xf32>
  %e4 = tensor.empty() : tensor<4xf32>
  %eb = tensor.empty() : tensor<4xbf16>
  %l8 = linalg.fill ins(%lr : f32) outs(%e8 : tensor<8xf32>) -> tensor<8xf32>
  %l4 = linalg.fill ins(%lr : f32) outs(%e4 : tensor<4xf32>) -> tensor<4xf32>
  %lr16 = arith.truncf %lr : f32 to bf16
  %lb = linalg.fill ins(%lr16 : bf16) outs(%eb : tensor<4xbf16>) -> tensor<4xbf16>
  %u0 = linalg.mul ins(%l8, %g0 : tensor<8xf32>, tensor<8xf32>) outs(%e8 : tensor<8xf32>) -> tensor<8xf32>
  %n0 = linalg.sub ins(%p0, %u0 : tensor<8xf32>, tensor<8xf32>) outs(%e8 : tensor<8xf32>) -> tensor<8xf32>
  %u1 = linalg.mul ins(%g1, %l4 : tensor<4xf32>, tensor<4xf32>) outs(%e4 : tensor<4xf32>) -> tensor<4xf32>
  %n1 = linalg.sub ins(%p1, %u1 : tensor<4xf32>, tensor<4xf32>) outs(%e4 : tensor<4xf32>) -> tensor<4xf32>
  %u2 = linalg.mul ins(%lb, %g2 : tensor<4xbf16>, tensor<4xbf16>) outs(%eb : tensor<4xbf16>) -> tensor<4xbf16>
  %n2 = linalg.sub ins(%p2, %u2 : tensor<4xbf16>, tensor<4xbf16>) outs(%eb : tensor<4xbf16>) -> tensor<4xbf16>
  return %n0, %n1, %n2 : tensor<8xf32>, tensor<4xf32>, tensor<4xbf16>
}
