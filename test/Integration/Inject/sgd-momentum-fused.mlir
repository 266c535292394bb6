// End to end: two torch.optim.SGD(lr, momentum=0.9) updates written as arith
// ops on tensors (a 5- and a 3-element parameter, one run-time lr). They fuse
// into one gs.group_step, whose packed stats / counts / step rows must come
// back to the right parameter's results. Two steps on the CPU.
//
// RUN: gs-opt %s -gs-inject | grep -v '^}$' > %t.mlir
// RUN: cat %S/Inputs/sgd-momentum-fused-main.mlir >> %t.mlir
// RUN: gs-opt %t.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s
//
// Expected numbers: python/gradient_stabilizer/reference.py (float64), with
// P = [p, q], G1 = [g1, h1], G2 = [g2, h2] the arrays of the main, in python/:
//   opt, lr = SGD(momentum=0.9), 0.125
//   r = group_step(P, G1, [GSState()] * 2, [opt.init_state(x) for x in P],
//                  opt, GSConfig(), lr, 0.0)
//   r = group_step(r[0], G2, r[1], r[2], opt, GSConfig(), lr, 0.0)
// printed with "%g": after the second step p, q, their momentum buffers and
// the [m, v] of p and of q. One buffer element lies on a rounding boundary of
// the sixth digit, hence the alternative.
// CHECK: data =
// CHECK-NEXT: [0.966678, -0.433356, 0.162821, 1.89805, -1.45002]
// CHECK: data =
// CHECK-NEXT: [0.51332, 2.90465, -1.94246]
// CHECK: data =
// CHECK-NEXT: [0.06029, -0.12058, 0.594291, -0.0095713{{7|8}}, -0.0904351]
// CHECK: data =
// CHECK-NEXT: [0.896891, 0.845878, -0.460309]
// CHECK: data =
// CHECK-NEXT: [1.35146, 0.00957225]
// CHECK: data =
// CHECK-NEXT: [1.25568, 0.00726336]

#id = affine_map<(d0) -> (d0)>
func.func @step(%p: tensor<5xf32>, %q: tensor<3xf32>, %g: tensor<5xf32>, %h: tensor<3xf32>,
                %bp: tensor<5xf32>, %bq: tensor<3xf32>, %lr: f32)
    -> (tensor<5xf32>, tensor<3xf32>, tensor<5xf32>, tensor<3xf32>) {
  %m = arith.constant 0.9 : f32
  %ms5 = tensor.splat %m : tensor<5xf32>
  %ms3 = tensor.splat %m : tensor<3xf32>
  %l5 = tensor.splat %lr : tensor<5xf32>
  %l3 = tensor.splat %lr : tensor<3xf32>
  %x = arith.mulf %bp, %ms5 : tensor<5xf32>
  %b1 = arith.addf %x, %g : tensor<5xf32>
  %u = arith.mulf %l5, %b1 : tensor<5xf32>
  %p1 = arith.subf %p, %u : tensor<5xf32>
  %y = arith.mulf %ms3, %bq : tensor<3xf32>
  %c1 = arith.addf %h, %y : tensor<3xf32>
  %v = arith.mulf %c1, %l3 : tensor<3xf32>
  %q1 = arith.subf %q, %v : tensor<3xf32>
  return %p1, %q1, %b1, %c1 : tensor<5xf32>, tensor<3xf32>, tensor<5xf32>, tensor<3xf32>
}
