// End to end: torch.optim.SGD(lr, momentum=0.9, dampening=0.1) as torch-mlir
// functionalizes it (lr a 0-d tensor argument, the buffer update and the
// parameter update as two linalg.generics). Injection adds a step counter,
// so the first step sets the buffer to the gradient (spec section 2) and the
// second takes the dampened average. Two steps of 11 elements on the CPU.
//
// RUN: gs-opt %s -gs-inject | grep -v '^}$' > %t.mlir
// RUN: cat %S/Inputs/sgd-momentum-main.mlir >> %t.mlir
// RUN: gs-opt %t.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s
//
// Expected numbers: python/gradient_stabilizer/reference.py (float64), with
// p, g1, g2 the arrays of the main (as np.float64), in python/:
//   opt, lr, wd = SGD(momentum=0.9, dampening=0.1), float(np.float32(0.1)), 0.0
//   r = group_step([p], [g1], [GSState()], [opt.init_state(p)], opt,
//                  GSConfig(), lr, wd)
//   r = group_step(r[0], [g2], r[1], r[2], opt, GSConfig(), lr, wd)
// printed with "%g" (printMemref's six significant digits): the parameter
// after each step, then after the second step the momentum buffer, [m, v], [k, skipped] and the step count.
// CHECK: data =
// CHECK-NEXT: [0.987414, -0.474827, 0.243707, 1.94965, -1.48112, 0.712241, 3.00315, -2, 0.0998273, -0.187068, 1.23427]
// CHECK: data =
// CHECK-NEXT: [0.983022, -0.466044, 0.210298, 1.94596, -1.47453, 0.678258, 2.95049, -1.97226, 0.0563634, -0.144302, 1.23398]
// CHECK: data =
// CHECK-NEXT: [0.0439152, -0.0878304, 0.334086, 0.0369371, -0.0658728, 0.339831, 0.526575, -0.277447, 0.43464, -0.427661, 0.00287263]
// CHECK: data =
// CHECK-NEXT: [2.20341, 0.0255311]
// CHECK: data =
// CHECK-NEXT: [2, 0]
// CHECK: data =
// CHECK-NEXT: [2]

#id = affine_map<(d0) -> (d0)>
#sc = affine_map<(d0) -> ()>
func.func @step(%p: tensor<11xf32>, %g: tensor<11xf32>,
                        %buf: tensor<11xf32>, %lr: tensor<f32>)
    -> (tensor<11xf32>, tensor<11xf32>) {
  %e = tensor.empty() : tensor<11xf32>
  %b1 = linalg.generic {indexing_maps = [#id, #id, #id],
                        iterator_types = ["parallel"]}
      ins(%buf, %g : tensor<11xf32>, tensor<11xf32>) outs(%e : tensor<11xf32>) {
  ^bb0(%b: f32, %gi: f32, %o: f32):
    %m = arith.constant 0.9 : f32
    %c = arith.constant 0.9 : f32
    %x = arith.mulf %b, %m : f32
    %y = arith.mulf %gi, %c : f32
    %z = arith.addf %x, %y : f32
    linalg.yield %z : f32
  } -> tensor<11xf32>
  %p1 = linalg.generic {indexing_maps = [#id, #id, #sc, #id],
                        iterator_types = ["parallel"]}
      ins(%p, %b1, %lr : tensor<11xf32>, tensor<11xf32>, tensor<f32>)
      outs(%e : tensor<11xf32>) {
  ^bb0(%pi: f32, %bi: f32, %l: f32, %o: f32):
    %s = arith.mulf %l, %bi : f32
    %n = arith.subf %pi, %s : f32
    linalg.yield %n : f32
  } -> tensor<11xf32>
  return %p1, %b1 : tensor<11xf32>, tensor<11xf32>
}
