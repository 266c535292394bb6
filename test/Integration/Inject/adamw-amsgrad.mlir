// End to end: torch.optim.AdamW(amsgrad=True) fused into one four-result
// linalg.generic (an XLA-style fusion) on a 3x5 parameter, with the step t
// (the count after the step), lr and weight_decay as scalar arguments and
// the textbook m_hat / v_hat form. Two steps on the CPU; where the second
// gradient is small, max_exp_avg_sq keeps the first step's exp_avg_sq.
//
// RUN: gs-opt %s -gs-inject | grep -v '^}$' > %t.mlir
// RUN: cat %S/Inputs/adamw-amsgrad-main.mlir >> %t.mlir
// RUN: gs-opt %t.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s
//
// Expected numbers: python/gradient_stabilizer/reference.py (float64), with
// p, g1, g2 the arrays of the main (as np.float64), in python/:
//   opt, lr, wd = AdamW(amsgrad=True), float(np.float32(0.05)), float(np.float32(0.1))
//   r = group_step([p], [g1], [GSState()], [opt.init_state(p)], opt,
//                  GSConfig(), lr, wd)
//   r = group_step(r[0], [g2], r[1], r[2], opt, GSConfig(), lr, wd)
// printed with "%g" (printMemref's six significant digits): the parameter
// after each step, then after the second step exp_avg,
// exp_avg_sq, max_exp_avg_sq, [m, v] and [k, skipped].
// CHECK: data =
// CHECK-NEXT: {{\[\[}}0.945, -0.4475, 0.19875, 1.94, -1.4425],
// CHECK-NEXT: [0.69625, 3.035, -1.99, 0.074375, -0.19875],
// CHECK-NEXT: [1.19375, -1.045, 0.5475, -0.79625, 1.5425]]
// CHECK: data =
// CHECK-NEXT: {{\[\[}}0.932413, -0.437401, 0.154882, 1.89681, -1.42743],
// CHECK-NEXT: [0.657307, 2.98427, -1.94284, 0.0240445, -0.164873],
// CHECK-NEXT: [1.19133, -1.08357, 0.574073, -0.776827, 1.51212]]
// CHECK: data =
// CHECK-NEXT: {{\[\[}}0.00290306, -0.00580611, 0.0350948, 0.0415174, -0.00435458],
// CHECK-NEXT: [0.0330071, 0.0572154, -0.0299051, 0.0431875, -0.0509622],
// CHECK-NEXT: [-0.00197839, 0.0451659, -0.0273999, -0.0143361, 0.0097629]]
// CHECK: data =
// CHECK-NEXT: {{\[\[}}1.88763e-05, 7.55051e-05, 9.27534e-05, 0.000212589, 4.24716e-05],
// CHECK-NEXT: [0.00011993, 0.000358557, 8.94317e-05, 0.000103452, 0.000332257],
// CHECK-NEXT: [4.31185e-05, 0.000147211, 0.000120978, 0.000119327, 2.56796e-05]]
// CHECK: data =
// CHECK-NEXT: {{\[\[}}1.88763e-05, 7.55051e-05, 9.27534e-05, 0.000212801, 4.24716e-05],
// CHECK-NEXT: [0.00011993, 0.000358557, 8.94317e-05, 0.000103452, 0.000332502],
// CHECK-NEXT: [4.31185e-05, 0.000147211, 0.000120978, 0.000119327, 2.56796e-05]]
// CHECK: data =
// CHECK-NEXT: [2.31166, 0.0288767]
// CHECK: data =
// CHECK-NEXT: [2, 0]

#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @step(%p: tensor<3x5xf32>, %g: tensor<3x5xf32>, %m: tensor<3x5xf32>,
                %v: tensor<3x5xf32>, %vmax: tensor<3x5xf32>, %t: i64,
                %lr: f32, %wd: f32)
    -> (tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>) {
  %e = tensor.empty() : tensor<3x5xf32>
  %one = arith.constant 1.0 : f32
  %b1 = arith.constant 0.9 : f32
  %b2 = arith.constant 0.999 : f32
  %tf = arith.sitofp %t : i64 to f32
  %p1 = math.powf %b1, %tf : f32
  %bc1 = arith.subf %one, %p1 : f32
  %p2 = math.powf %b2, %tf : f32
  %bc2 = arith.subf %one, %p2 : f32
  %lw = arith.mulf %lr, %wd : f32
  %decay = arith.subf %one, %lw : f32
  %r:4 = linalg.generic {indexing_maps = [#id2, #id2, #id2, #id2, #id2, #id2, #id2, #id2, #id2],
                         iterator_types = ["parallel", "parallel"]}
      ins(%p, %g, %m, %v, %vmax : tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>,
          tensor<3x5xf32>, tensor<3x5xf32>)
      outs(%e, %e, %e, %e : tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>) {
  ^bb0(%pi: f32, %gi: f32, %mi: f32, %vi: f32, %xi: f32, %o0: f32, %o1: f32, %o2: f32, %o3: f32):
    %c1 = arith.constant 0.1 : f32
    %c2 = arith.constant 0.001 : f32
    %eps = arith.constant 1.0e-8 : f32
    %pd = arith.mulf %pi, %decay : f32
    %ma = arith.mulf %b1, %mi : f32
    %mb = arith.mulf %c1, %gi : f32
    %m1 = arith.addf %ma, %mb : f32
    %g2 = arith.mulf %gi, %gi : f32
    %va = arith.mulf %b2, %vi : f32
    %vb = arith.mulf %c2, %g2 : f32
    %v1 = arith.addf %va, %vb : f32
    %vm = arith.maximumf %xi, %v1 : f32
    %mh = arith.divf %m1, %bc1 : f32
    %vh = arith.divf %vm, %bc2 : f32
    %sq = math.sqrt %vh : f32
    %den = arith.addf %sq, %eps : f32
    %u = arith.divf %mh, %den : f32
    %lu = arith.mulf %lr, %u : f32
    %n = arith.subf %pd, %lu : f32
    linalg.yield %n, %m1, %v1, %vm : f32, f32, f32, f32
  } -> (tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>)
  return %r#0, %r#1, %r#2, %r#3 : tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>
}
