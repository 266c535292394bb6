// End to end: torch.optim.Adam(lr=0.01, betas=(0.9, 0.98), weight_decay=0.01)
// (foreach=False) as torch-mlir lowers it: the step a 0-d f32 tensor
// incremented in the graph, exp_avg updated with lerp, exp_avg_sq with
// mul + addcmul, the bias corrections as 0-d tensor math. Two steps of 11
// elements on the CPU: the second exercises the bias corrections with t = 2
// and the moments of the first.
//
// RUN: gs-opt %s -gs-inject | grep -v '^}$' > %t.mlir
// RUN: cat %S/Inputs/adam-main.mlir >> %t.mlir
// RUN: gs-opt %t.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s
//
// Expected numbers: python/gradient_stabilizer/reference.py (float64), with
// p, g1, g2 the arrays of the main (as np.float64), in python/:
//   opt, lr, wd = Adam(beta2=0.98), 0.01, 0.01
//   r = group_step([p], [g1], [GSState()], [opt.init_state(p)], opt,
//                  GSConfig(), lr, wd)
//   r = group_step(r[0], [g2], r[1], r[2], opt, GSConfig(), lr, wd)
// printed with "%g" (printMemref's six significant digits): the parameter
// after each step, then after the second step exp_avg, exp_avg_sq, the
// graph's own step tensor, [m, v] and [k, skipped].
// CHECK: data =
// CHECK-NEXT: [0.99, -0.49, 0.24, 1.99, -1.49, 0.74, 3.01, -1.99, 0.115, -0.24, 1.24]
// CHECK: data =
// CHECK-NEXT: [0.987285, -0.487944, 0.231376, 1.98969, -1.48728, 0.733125, 3.00261, -1.9822, 0.105027, -0.235203, 1.23963]
// CHECK: data =
// CHECK-NEXT: [0.00551083, -0.00818167, 0.0369563, 0.00285959, -0.00827125, 0.0353981, 0.064533, -0.0346175, 0.0460035, -0.0416898, 0.00111089]
// CHECK: data =
// CHECK-NEXT: [0.000452026, 0.00173724, 0.00201429, 0.00928681, 0.00101686, 0.00290766, 0.00836315, 0.00216181, 0.00233413, 0.00828466, 0.000967092]
// CHECK: data =
// CHECK-NEXT: [2]
// CHECK: data =
// CHECK-NEXT: [2.20341, 0.0255311]
// CHECK: data =
// CHECK-NEXT: [2, 0]

#id = affine_map<(d0) -> (d0)>
#sc = affine_map<(d0) -> ()>
#s0 = affine_map<() -> ()>
func.func @step(%p: tensor<11xf32>, %g: tensor<11xf32>, %m: tensor<11xf32>,
                %v: tensor<11xf32>, %step: tensor<f32>)
    -> (tensor<11xf32>, tensor<11xf32>, tensor<11xf32>, tensor<f32>) {
  %e = tensor.empty() : tensor<11xf32>
  %e0 = tensor.empty() : tensor<f32>
  // step += 1
  %t = linalg.generic {indexing_maps = [#s0, #s0], iterator_types = []}
      ins(%step : tensor<f32>) outs(%e0 : tensor<f32>) {
  ^bb0(%s: f32, %o: f32):
    %one = arith.constant 1.0 : f32
    %r = arith.addf %s, %one : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  // grad = grad + wd * param
  %d = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%g, %p : tensor<11xf32>, tensor<11xf32>) outs(%e : tensor<11xf32>) {
  ^bb0(%gi: f32, %pi: f32, %o: f32):
    %wd = arith.constant 0.01 : f32
    %x = arith.mulf %pi, %wd : f32
    %r = arith.addf %gi, %x : f32
    linalg.yield %r : f32
  } -> tensor<11xf32>
  // exp_avg.lerp_(grad, 1 - beta1)
  %m1 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%m, %d : tensor<11xf32>, tensor<11xf32>) outs(%e : tensor<11xf32>) {
  ^bb0(%mi: f32, %di: f32, %o: f32):
    %w = arith.constant 0.1 : f32
    %x = arith.subf %di, %mi : f32
    %y = arith.mulf %w, %x : f32
    %r = arith.addf %mi, %y : f32
    linalg.yield %r : f32
  } -> tensor<11xf32>
  // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
  %v1 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%v, %d : tensor<11xf32>, tensor<11xf32>) outs(%e : tensor<11xf32>) {
  ^bb0(%vi: f32, %di: f32, %o: f32):
    %b2 = arith.constant 0.98 : f32
    %c2 = arith.constant 0.02 : f32
    %x = arith.mulf %vi, %b2 : f32
    %y = arith.mulf %di, %di : f32
    %z = arith.mulf %y, %c2 : f32
    %r = arith.addf %x, %z : f32
    linalg.yield %r : f32
  } -> tensor<11xf32>
  // step_size = lr / (1 - beta1^t); bc2_sqrt = sqrt(1 - beta2^t)
  %ss:2 = linalg.generic {indexing_maps = [#s0, #s0, #s0], iterator_types = []}
      ins(%t : tensor<f32>) outs(%e0, %e0 : tensor<f32>, tensor<f32>) {
  ^bb0(%ti: f32, %o0: f32, %o1: f32):
    %one = arith.constant 1.0 : f32
    %b1 = arith.constant 0.9 : f32
    %b2 = arith.constant 0.98 : f32
    %lr = arith.constant 0.01 : f32
    %p1 = math.powf %b1, %ti : f32
    %bc1 = arith.subf %one, %p1 : f32
    %p2 = math.powf %b2, %ti : f32
    %bc2 = arith.subf %one, %p2 : f32
    %s = arith.divf %lr, %bc1 : f32
    %q = math.sqrt %bc2 : f32
    linalg.yield %s, %q : f32, f32
  } -> (tensor<f32>, tensor<f32>)
  // denom = sqrt(exp_avg_sq) / bc2_sqrt + eps; param.addcdiv_(exp_avg, denom, -step_size)
  %p1 = linalg.generic {indexing_maps = [#id, #id, #id, #sc, #sc, #id],
                        iterator_types = ["parallel"]}
      ins(%p, %m1, %v1, %ss#0, %ss#1 : tensor<11xf32>, tensor<11xf32>, tensor<11xf32>,
          tensor<f32>, tensor<f32>) outs(%e : tensor<11xf32>) {
  ^bb0(%pi: f32, %mi: f32, %vi: f32, %s: f32, %q: f32, %o: f32):
    %eps = arith.constant 1.0e-8 : f32
    %r = math.sqrt %vi : f32
    %x = arith.divf %r, %q : f32
    %den = arith.addf %x, %eps : f32
    %u = arith.divf %mi, %den : f32
    %ns = arith.negf %s : f32
    %y = arith.mulf %u, %ns : f32
    %n = arith.addf %pi, %y : f32
    linalg.yield %n : f32
  } -> tensor<11xf32>
  return %p1, %m1, %v1, %t : tensor<11xf32>, tensor<11xf32>, tensor<11xf32>, tensor<f32>
}
