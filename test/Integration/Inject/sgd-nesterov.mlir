// End to end: torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=0.01,
// nesterov=True) fused into one two-result linalg.generic (buffer and
// parameter), hyperparameters as splat constants. Two steps of 7 elements on
// the CPU; the second uses the buffer of the first.
//
// RUN: gs-opt %s -gs-inject | grep -v '^}$' > %t.mlir
// RUN: cat %S/Inputs/sgd-nesterov-main.mlir >> %t.mlir
// RUN: gs-opt %t.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s
//
// Expected numbers: python/gradient_stabilizer/reference.py (float64), with
// p, g1, g2 the arrays of the main (as np.float64), in python/:
//   opt, lr, wd = SGD(momentum=0.9, nesterov=True), 0.1, 0.01
//   r = group_step([p], [g1], [GSState()], [opt.init_state(p)], opt,
//                  GSConfig(), lr, wd)
//   r = group_step(r[0], [g2], r[1], r[2], opt, GSConfig(), lr, wd)
// printed with "%g" (printMemref's six significant digits): the parameter
// after each step, then after the second step the momentum buffer, [m, v], [k, skipped] and the step count.
// CHECK: data =
// CHECK-NEXT: [0.964772, -0.432394, 0.232861, 1.86289, -1.44716, 0.748575, -3.09428]
// CHECK: data =
// CHECK-NEXT: [0.964088, -0.435086, 0.160441, 1.8979, -1.44613, 0.617203, -3.06393]
// CHECK: data =
// CHECK-NEXT: [0.0914247, -0.154378, 0.423888, 0.15755, -0.137137, 0.694983, 0.0752947]
// CHECK: data =
// CHECK-NEXT: [1.86415, 0.01682]
// CHECK: data =
// CHECK-NEXT: [2, 0]
// CHECK: data =
// CHECK-NEXT: [2]

#id = affine_map<(d0) -> (d0)>
func.func @step(%p: tensor<7xf32>, %g: tensor<7xf32>, %buf: tensor<7xf32>)
    -> (tensor<7xf32>, tensor<7xf32>) {
  %e = tensor.empty() : tensor<7xf32>
  %lr = arith.constant dense<0.1> : tensor<7xf32>
  %wd = arith.constant dense<0.01> : tensor<7xf32>
  %mom = arith.constant dense<0.9> : tensor<7xf32>
  %r:2 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #id, #id, #id, #id],
                         iterator_types = ["parallel"]}
      ins(%p, %g, %buf, %lr, %wd, %mom : tensor<7xf32>, tensor<7xf32>, tensor<7xf32>,
          tensor<7xf32>, tensor<7xf32>, tensor<7xf32>)
      outs(%e, %e : tensor<7xf32>, tensor<7xf32>) {
  ^bb0(%pi: f32, %gi: f32, %bi: f32, %l: f32, %w: f32, %m: f32, %o0: f32, %o1: f32):
    %wp = arith.mulf %w, %pi : f32
    %d = arith.addf %gi, %wp : f32
    %mb = arith.mulf %m, %bi : f32
    %b1 = arith.addf %mb, %d : f32
    %mb1 = arith.mulf %m, %b1 : f32
    %dir = arith.addf %d, %mb1 : f32
    %s = arith.mulf %l, %dir : f32
    %p1 = arith.subf %pi, %s : f32
    linalg.yield %b1, %p1 : f32, f32
  } -> (tensor<7xf32>, tensor<7xf32>)
  return %r#0, %r#1 : tensor<7xf32>, tensor<7xf32>
}
