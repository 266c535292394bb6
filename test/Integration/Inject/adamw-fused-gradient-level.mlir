// End to end: AdamW fused into one linalg.generic with the bias corrections
// and lr as 0-d tensor operands (the IREE dispatch / torch.compile form: the
// step count is not in the graph). gs-inject raises it to a gs.group_step
// that takes the bias corrections as values; three steps of 11 elements,
// the third with a NaN gradient (skipped: the parameter and both moments
// keep their values, `skipped` becomes 1). The second run stabilizes at the
// gradient level instead (the generic rewired to the stabilized gradient),
// lowers the gs ops with gs-to-linalg and fuses them into the update with
// upstream element-wise fusion first: the same numbers.
//
// RUN: gs-opt %s -gs-inject | FileCheck %s --check-prefix=RAISED
// RAISED: gs.group_step #gs.adamw<> {{.*}} bias_corrections(
// RAISED-NOT: linalg.generic
//
// RUN: gs-opt %s -gs-inject | grep -v '^}$' > %t.mlir
// RUN: cat %S/Inputs/adamw-fused-main.mlir >> %t.mlir
// RUN: gs-opt %t.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s
// RUN: gs-opt %s -gs-stabilize-gradients -gs-to-linalg -linalg-fuse-elementwise-ops | grep -v '^}$' > %t.fused.mlir
// RUN: cat %S/Inputs/adamw-fused-main.mlir >> %t.fused.mlir
// RUN: gs-opt %t.fused.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s
//
// Expected numbers: python/gradient_stabilizer/reference.py (float64), with
// p, g1, g2, g3 the arrays of the main (as np.float64), in python/:
//   opt, lr, wd = AdamW(), 0.01, 0.01
//   r = group_step([p], [g1], [GSState()], [opt.init_state(p)], opt,
//                  GSConfig(), lr, wd)
//   r = group_step(r[0], [g2], r[1], r[2], opt, GSConfig(), lr, wd)
//   r3 = group_step(r[0], [g3], r[1], r[2], opt, GSConfig(), lr, wd)
// printed with "%g": the parameter after steps 1 and 2, exp_avg,
// exp_avg_sq and [m, v] after step 2, the parameter and exp_avg after the
// skipped step 3, and [k, skipped]. The f32 step may differ from the f64
// reference in the sixth digit (a few f32 ulps, amplified by cancellation in
// exp_avg's fourth element): those digits are matched as either.
// CHECK: data =
// CHECK-NEXT: [0.9899, -0.48995, 0.239975, 1.9898, -1.48985, 0.739925, 3.0097, -1.9998, 0.114988, -0.239975, 1.2398{{7|8}}]
// CHECK: data =
// CHECK-NEXT: [0.987975, -0.488075, 0.23132, 1.9897, -1.48787, 0.73315, 3.00231, -1.99216, 0.105007, -0.235214, 1.24017]
// CHECK: data =
// CHECK-NEXT: [0.00362083, -0.0072416{{6|7}}, 0.0364913, -0.00093{{04(0|1)[0-9]}}, -0.00543125, 0.0339831, 0.058823, -0.0308275, 0.045776, -0.0412248, -0.00125411]
// CHECK: data =
// CHECK-NEXT: [2.17653e-05, 8.70613e-05, 9.89898e-05, 0.000467037, 4.8972e-05, 0.000142432, 0.000381122, 9.50333e-05, 0.000116759, 0.000419402, 4.84861e-05]
// CHECK: data =
// CHECK-NEXT: [2.20341, 0.0255311]
// CHECK: data =
// CHECK-NEXT: [0.987975, -0.488075, 0.23132, 1.9897, -1.48787, 0.73315, 3.00231, -1.99216, 0.105007, -0.235214, 1.24017]
// CHECK: data =
// CHECK-NEXT: [0.00362083, -0.0072416{{6|7}}, 0.0364913, -0.00093{{04(0|1)[0-9]}}, -0.00543125, 0.0339831, 0.058823, -0.0308275, 0.045776, -0.0412248, -0.00125411]
// CHECK: data =
// CHECK-NEXT: [2, 1]

#id = affine_map<(d0) -> (d0)>
#sc = affine_map<(d0) -> ()>
func.func @step(%p: tensor<11xf32>, %g: tensor<11xf32>, %m: tensor<11xf32>,
                %v: tensor<11xf32>, %bc1: tensor<f32>, %bc2: tensor<f32>,
                %lr: tensor<f32>)
    -> (tensor<11xf32>, tensor<11xf32>, tensor<11xf32>) {
  %e = tensor.empty() : tensor<11xf32>
  %r:3 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #sc, #sc, #sc, #id, #id, #id],
                         iterator_types = ["parallel"]}
      ins(%p, %g, %m, %v, %bc1, %bc2, %lr : tensor<11xf32>, tensor<11xf32>, tensor<11xf32>, tensor<11xf32>, tensor<f32>, tensor<f32>, tensor<f32>)
      outs(%e, %e, %e : tensor<11xf32>, tensor<11xf32>, tensor<11xf32>) {
  ^bb0(%pi: f32, %gi: f32, %mi: f32, %vi: f32, %b1: f32, %b2: f32, %lri: f32, %o0: f32, %o1: f32, %o2: f32):
    %beta1 = arith.constant 0.9 : f32
    %omb1 = arith.constant 0.1 : f32
    %beta2 = arith.constant 0.999 : f32
    %omb2 = arith.constant 0.001 : f32
    %eps = arith.constant 1.0e-8 : f32
    %wd = arith.constant 0.01 : f32
    %one = arith.constant 1.0 : f32
    %m0 = arith.mulf %mi, %beta1 : f32
    %m1 = arith.mulf %gi, %omb1 : f32
    %mn = arith.addf %m0, %m1 : f32
    %v0 = arith.mulf %vi, %beta2 : f32
    %gg = arith.mulf %gi, %gi : f32
    %v1 = arith.mulf %gg, %omb2 : f32
    %vn = arith.addf %v0, %v1 : f32
    %mh = arith.divf %mn, %b1 : f32
    %sv = math.sqrt %vn : f32
    %sb = math.sqrt %b2 : f32
    %vh = arith.divf %sv, %sb : f32
    %den = arith.addf %vh, %eps : f32
    %u = arith.divf %mh, %den : f32
    %lrwd = arith.mulf %lri, %wd : f32
    %dec = arith.subf %one, %lrwd : f32
    %pd = arith.mulf %pi, %dec : f32
    %s = arith.mulf %lri, %u : f32
    %pn = arith.subf %pd, %s : f32
    linalg.yield %pn, %mn, %vn : f32, f32, f32
  } -> (tensor<11xf32>, tensor<11xf32>, tensor<11xf32>)
  return %r#0, %r#1, %r#2 : tensor<11xf32>, tensor<11xf32>, tensor<11xf32>
}
