// End to end: Lion(lr, betas=(0.9, 0.99), weight_decay) in one two-result
// linalg.generic, sign written as nested selects, lr and weight_decay f32
// arguments. Two steps of 9 elements on the CPU; a zero gradient with a zero
// moment gives sign(0) = 0 in the first step.
//
// RUN: gs-opt %s -gs-inject | grep -v '^}$' > %t.mlir
// RUN: cat %S/Inputs/lion-main.mlir >> %t.mlir
// RUN: gs-opt %t.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s
//
// Expected numbers: python/gradient_stabilizer/reference.py (float64), with
// p, g1, g2 the arrays of the main (as np.float64), in python/:
//   opt, lr, wd = Lion(), float(np.float32(0.01)), float(np.float32(0.1))
//   r = group_step([p], [g1], [GSState()], [opt.init_state(p)], opt,
//                  GSConfig(), lr, wd)
//   r = group_step(r[0], [g2], r[1], r[2], opt, GSConfig(), lr, wd)
// printed with "%g" (printMemref's six significant digits): the parameter
// after each step, then after the second step exp_avg, [m, v] and
// [k, skipped]. The last exp_avg element lies on a rounding boundary of the
// sixth digit, hence the alternative.
// CHECK: data =
// CHECK-NEXT: [0.989, -0.4895, 0.24975, 1.988, -1.4885, 0.73925, -2.987, 0.114875, 0.5095]
// CHECK: data =
// CHECK-NEXT: [0.998011, -0.499011, 0.2395, 1.99601, -1.49701, 0.748511, -2.99401, 0.10476, 0.498991]
// CHECK: data =
// CHECK-NEXT: [0.000815199, -0.0016304, 0.00242177, 0.00204991, -0.0012228, -0.00300339, 0.00448839, 0.000710321, -0.003260{{8|79}}]
// CHECK: data =
// CHECK-NEXT: [2.51924, 0.0298316]
// CHECK: data =
// CHECK-NEXT: [2, 0]

#id = affine_map<(d0) -> (d0)>
func.func @step(%p: tensor<9xf32>, %g: tensor<9xf32>, %m: tensor<9xf32>, %lr: f32, %wd: f32)
    -> (tensor<9xf32>, tensor<9xf32>) {
  %e = tensor.empty() : tensor<9xf32>
  %one = arith.constant 1.0 : f32
  %lw = arith.mulf %lr, %wd : f32
  %decay = arith.subf %one, %lw : f32
  %r:2 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #id], iterator_types = ["parallel"]}
      ins(%p, %g, %m : tensor<9xf32>, tensor<9xf32>, tensor<9xf32>)
      outs(%e, %e : tensor<9xf32>, tensor<9xf32>) {
  ^bb0(%pi: f32, %gi: f32, %mi: f32, %o0: f32, %o1: f32):
    %b1 = arith.constant 0.9 : f32
    %c1 = arith.constant 0.1 : f32
    %b2 = arith.constant 0.99 : f32
    %c2 = arith.constant 0.01 : f32
    %zero = arith.constant 0.0 : f32
    %mone = arith.constant -1.0 : f32
    %x = arith.mulf %b1, %mi : f32
    %y = arith.mulf %c1, %gi : f32
    %c = arith.addf %x, %y : f32
    %gt = arith.cmpf ogt, %c, %zero : f32
    %lt = arith.cmpf olt, %c, %zero : f32
    %s0 = arith.select %lt, %mone, %c : f32
    %s = arith.select %gt, %one, %s0 : f32
    %pd = arith.mulf %pi, %decay : f32
    %u = arith.mulf %lr, %s : f32
    %pn = arith.subf %pd, %u : f32
    %ma = arith.mulf %b2, %mi : f32
    %mb = arith.mulf %c2, %gi : f32
    %mn = arith.addf %ma, %mb : f32
    linalg.yield %pn, %mn : f32, f32
  } -> (tensor<9xf32>, tensor<9xf32>)
  return %r#0, %r#1 : tensor<9xf32>, tensor<9xf32>
}
