// End to end: optax.adam(1e-3) as IREE's input conversion writes it: the
// count an i32 `safe_increment` (select(t < max, t + 1, max)) in a 0-d
// generic, the bias corrections `1 - beta^count` in f32 0-d generics, the
// update `p + (-lr) * m_hat / (sqrt(v_hat) + eps)`. gs-inject raises it to a
// gs.group_step that takes the graph's bias corrections as values
// (`bias_corrections`). Three steps of 11 elements, the third with a NaN
// gradient: skipped, so the parameter and moments keep their values and
// the returned count stays at 2 (spec section 3).
//
// RUN: gs-opt %s -gs-inject | FileCheck %s --check-prefix=RAISED
// RAISED: gs.group_step #gs.adam<> {{.*}} bias_corrections(
// RAISED-NOT: gs.stabilize
//
// RUN: gs-opt %s -gs-inject | grep -v '^}$' > %t.mlir
// RUN: cat %S/Inputs/adam-optax-counter-main.mlir >> %t.mlir
// RUN: gs-opt %t.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s
//
// Expected numbers: python/gradient_stabilizer/reference.py (float64), with
// p, g1, g2 the arrays of the main (as np.float64), in python/:
//   opt, lr, wd = Adam(), 1e-3, 0.0
//   r = group_step([p], [g1], [GSState()], [opt.init_state(p)], opt,
//                  GSConfig(), lr, wd)
//   r = group_step(r[0], [g2], r[1], r[2], opt, GSConfig(), lr, wd)
// printed with "%g": the parameter after steps 1 and 2, exp_avg,
// exp_avg_sq and [m, v] after step 2, the parameter after the skipped step
// 3, the count and [k, skipped]. The f32 step may differ from the f64
// reference in the sixth digit (a few f32 ulps, amplified by cancellation in
// exp_avg's fourth element): those digits are matched as either.
// CHECK: data =
// CHECK-NEXT: [0.999, -0.499, 0.249, 1.999, -1.499, 0.749, 3.001, -2, 0.124, -0.249, 1.249]
// CHECK: data =
// CHECK-NEXT: [0.998817, -0.498817, 0.248137, 1.99901, -1.49882, 0.74833, 3.00029, -1.99926, 0.123003, -0.248526, 1.24904]
// CHECK: data =
// CHECK-NEXT: [0.00362083, -0.0072416{{6|7}}, 0.0364913, -0.00093{{04(0|1)[0-9]}}, -0.00543125, 0.0339831, 0.058823, -0.0308275, 0.045776, -0.0412248, -0.00125411]
// CHECK: data =
// CHECK-NEXT: [2.17653e-05, 8.70613e-05, 9.89898e-05, 0.000467037, 4.8972e-05, 0.000142432, 0.000381122, 9.50333e-05, 0.000116759, 0.000419402, 4.84861e-05]
// CHECK: data =
// CHECK-NEXT: [2.20341, 0.0255311]
// CHECK: data =
// CHECK-NEXT: [0.998817, -0.498817, 0.248137, 1.99901, -1.49882, 0.74833, 3.00029, -1.99926, 0.123003, -0.248526, 1.24904]
// CHECK: data =
// CHECK-NEXT: [2]
// CHECK: data =
// CHECK-NEXT: [2, 1]

#s0 = affine_map<() -> ()>
#sc = affine_map<(d0) -> ()>
#v = affine_map<(d0) -> (d0)>
func.func @step(%p: tensor<11xf32>, %g: tensor<11xf32>, %count: tensor<i32>,
                %mu: tensor<11xf32>, %nu: tensor<11xf32>)
    -> (tensor<11xf32>, tensor<i32>, tensor<11xf32>, tensor<11xf32>) {
  %e0 = tensor.empty() : tensor<i32>
  %ef = tensor.empty() : tensor<f32>
  %e = tensor.empty() : tensor<11xf32>
  %c = linalg.generic {indexing_maps = [#s0, #s0], iterator_types = []}
      ins(%count : tensor<i32>) outs(%e0 : tensor<i32>) {
  ^bb0(%t: i32, %o: i32):
    %max = arith.constant 2147483647 : i32
    %one = arith.constant 1 : i32
    %lt = arith.cmpi slt, %t, %max : i32
    %t1 = arith.addi %t, %one : i32
    %r = arith.select %lt, %t1, %max : i32
    linalg.yield %r : i32
  } -> tensor<i32>
  %tf = linalg.generic {indexing_maps = [#s0, #s0], iterator_types = []}
      ins(%c : tensor<i32>) outs(%ef : tensor<f32>) {
  ^bb0(%t: i32, %o: f32):
    %r = arith.sitofp %t : i32 to f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %bc1 = linalg.generic {indexing_maps = [#s0, #s0], iterator_types = []}
      ins(%tf : tensor<f32>) outs(%ef : tensor<f32>) {
  ^bb0(%t: f32, %o: f32):
    %one = arith.constant 1.0 : f32
    %b1 = arith.constant 0.899999976 : f32
    %pw = math.powf %b1, %t : f32
    %r = arith.subf %one, %pw : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %bc2 = linalg.generic {indexing_maps = [#s0, #s0], iterator_types = []}
      ins(%tf : tensor<f32>) outs(%ef : tensor<f32>) {
  ^bb0(%t: f32, %o: f32):
    %one = arith.constant 1.0 : f32
    %b2 = arith.constant 9.990000e-01 : f32
    %pw = math.powf %b2, %t : f32
    %r = arith.subf %one, %pw : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %r:3 = linalg.generic {indexing_maps = [#v, #v, #v, #v, #sc, #sc, #v, #v, #v],
                         iterator_types = ["parallel"]}
      ins(%p, %g, %mu, %nu, %bc1, %bc2 : tensor<11xf32>, tensor<11xf32>, tensor<11xf32>, tensor<11xf32>, tensor<f32>, tensor<f32>)
      outs(%e, %e, %e : tensor<11xf32>, tensor<11xf32>, tensor<11xf32>) {
  ^bb0(%pi: f32, %gi: f32, %mi: f32, %vi: f32, %b1: f32, %b2: f32, %o0: f32, %o1: f32, %o2: f32):
    %beta1 = arith.constant 0.899999976 : f32
    %omb1 = arith.constant 1.000000e-01 : f32
    %beta2 = arith.constant 9.990000e-01 : f32
    %omb2 = arith.constant 1.000000e-03 : f32
    %eps = arith.constant 9.99999993E-9 : f32
    %nlr = arith.constant -1.000000e-03 : f32
    %m0 = arith.mulf %gi, %omb1 : f32
    %m1 = arith.mulf %mi, %beta1 : f32
    %mn = arith.addf %m0, %m1 : f32
    %gg = arith.mulf %gi, %gi : f32
    %v0 = arith.mulf %gg, %omb2 : f32
    %v1 = arith.mulf %vi, %beta2 : f32
    %vn = arith.addf %v0, %v1 : f32
    %mh = arith.divf %mn, %b1 : f32
    %vh = arith.divf %vn, %b2 : f32
    %sq = math.sqrt %vh : f32
    %den = arith.addf %sq, %eps : f32
    %u = arith.divf %mh, %den : f32
    %s = arith.mulf %u, %nlr : f32
    %pn = arith.addf %pi, %s : f32
    linalg.yield %pn, %mn, %vn : f32, f32, f32
  } -> (tensor<11xf32>, tensor<11xf32>, tensor<11xf32>)
  return %r#0, %c, %r#1, %r#2 : tensor<11xf32>, tensor<i32>, tensor<11xf32>, tensor<11xf32>
}
