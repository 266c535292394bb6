// Forms the front ends write (test/Frontends has their full exports):
// - SGD with momentum and an L2 decay (torch.optim.sgd): the buffer reads
//   the parameter through `g + wd*p`; its old value is the buffer, never
//   the parameter;
// - Adamax (torch.optim.adamax): the infinity norm is a running maximum,
//   which torch-mlir writes as `a > b ? a : b`;
// - torch's lerp decomposition: a select on a compile-time constant test
//   (`|w| >= 0.5` with w = 0.1) computed apart from the update.
// RUN: gs-opt %s --gs-stabilize-gradients=grad-names=g --split-input-file \
// RUN: | FileCheck %s
// RUN: gs-opt %s --gs-stabilize-gradients --split-input-file \
// RUN: | FileCheck %s --check-prefix=AUTO

// Under skip the buffer gets its own old value back (%arg2), the parameter
// its own (%arg0).
// CHECK-LABEL: func.func @sgd_l2(
// CHECK: %[[S:[a-z0-9_]+]], %{{.*}}, %{{.*}}, %[[OK:[a-z0-9_]+]] = gs.stabilize %arg1
// CHECK: %[[D:.*]] = arith.addf %[[S]], %{{.*}}
// CHECK: %[[B:.*]] = arith.addf %{{.*}}, %[[D]]
// CHECK: %[[OKT:.*]] = tensor.from_elements %[[OK]]
// CHECK: ins(%{{.*}}, %[[OKT]] : {{.*}}) outs(%arg0 :
// CHECK: ins(%[[B]], %[[OKT]] : {{.*}}) outs(%arg2 :
// The gradient and the buffer enter the update alike: the automatic mode
// leaves it to grad-names.
// AUTO-LABEL: func.func @sgd_l2(
// AUTO-NOT: gs.stabilize
func.func @sgd_l2(%p: tensor<4xf32>, %g: tensor<4xf32> {gs.name = "g"},
                  %buf: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %wd = arith.constant dense<0.01> : tensor<4xf32>
  %mu = arith.constant dense<0.9> : tensor<4xf32>
  %lr = arith.constant dense<0.1> : tensor<4xf32>
  %x = arith.mulf %p, %wd : tensor<4xf32>
  %d = arith.addf %g, %x : tensor<4xf32>
  %y = arith.mulf %buf, %mu : tensor<4xf32>
  %b = arith.addf %y, %d : tensor<4xf32>
  %s = arith.mulf %b, %lr : tensor<4xf32>
  %n = arith.subf %p, %s : tensor<4xf32>
  return %n, %b : tensor<4xf32>, tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @adamax(
// CHECK: %[[S:[a-z0-9_]+]], %{{.*}}, %{{.*}}, %{{.*}} = gs.stabilize %arg1
// CHECK: math.absf %[[S]]
// CHECK: return
// AUTO-LABEL: func.func @adamax(
// AUTO: gs.stabilize %arg1
func.func @adamax(%p: tensor<4xf32>, %g: tensor<4xf32> {gs.name = "g"},
                  %m: tensor<4xf32>, %u: tensor<4xf32>)
    -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %b1 = arith.constant dense<0.9> : tensor<4xf32>
  %c1 = arith.constant dense<0.1> : tensor<4xf32>
  %b2 = arith.constant dense<0.99> : tensor<4xf32>
  %eps = arith.constant dense<1.0e-8> : tensor<4xf32>
  %clr = arith.constant dense<0.2> : tensor<4xf32>
  %m0 = arith.mulf %m, %b1 : tensor<4xf32>
  %m1 = arith.mulf %g, %c1 : tensor<4xf32>
  %mn = arith.addf %m0, %m1 : tensor<4xf32>
  %u0 = arith.mulf %u, %b2 : tensor<4xf32>
  %a = math.absf %g : tensor<4xf32>
  %a1 = arith.addf %a, %eps : tensor<4xf32>
  %gt = arith.cmpf ogt, %u0, %a1 : tensor<4xf32>
  %un = arith.select %gt, %u0, %a1 : tensor<4xi1>, tensor<4xf32>
  %q = arith.divf %mn, %un : tensor<4xf32>
  %s = arith.mulf %q, %clr : tensor<4xf32>
  %n = arith.subf %p, %s : tensor<4xf32>
  return %n, %mn, %un : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// exp_avg.lerp_(g, 0.1) as torch decomposes it; the test of the weight is
// a 0-d generic of its own.
// CHECK-LABEL: func.func @lerp(
// CHECK: gs.stabilize %arg1
// AUTO-LABEL: func.func @lerp(
// AUTO: gs.stabilize %arg1
#s0 = affine_map<() -> ()>
#id = affine_map<(d0) -> (d0)>
#sc = affine_map<(d0) -> ()>
func.func @lerp(%p: tensor<4xf32>, %g: tensor<4xf32> {gs.name = "g"},
                %m: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %w = arith.constant dense<0.1> : tensor<f32>
  %e0 = tensor.empty() : tensor<i1>
  %big = linalg.generic {indexing_maps = [#s0, #s0], iterator_types = []}
      ins(%w : tensor<f32>) outs(%e0 : tensor<i1>) {
  ^bb0(%x: f32, %o: i1):
    %half = arith.constant 0.5 : f32
    %a = math.absf %x : f32
    %c = arith.cmpf oge, %a, %half : f32
    linalg.yield %c : i1
  } -> tensor<i1>
  %e = tensor.empty() : tensor<4xf32>
  %mn = linalg.generic {indexing_maps = [#sc, #sc, #id, #id, #id],
                        iterator_types = ["parallel"]}
      ins(%big, %w, %m, %g : tensor<i1>, tensor<f32>, tensor<4xf32>, tensor<4xf32>)
      outs(%e : tensor<4xf32>) {
  ^bb0(%c: i1, %wi: f32, %mi: f32, %gi: f32, %o: f32):
    %one = arith.constant 1.0 : f32
    %diff = arith.subf %gi, %mi : f32
    %lo = arith.mulf %wi, %diff : f32
    %lo1 = arith.addf %mi, %lo : f32
    %omw = arith.subf %one, %wi : f32
    %hi = arith.mulf %diff, %omw : f32
    %hi1 = arith.subf %gi, %hi : f32
    %r = arith.select %c, %hi1, %lo1 : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %lr = arith.constant dense<0.1> : tensor<4xf32>
  %s = arith.mulf %mn, %lr : tensor<4xf32>
  %n = arith.subf %p, %s : tensor<4xf32>
  return %n, %mn : tensor<4xf32>, tensor<4xf32>
}
