// RUN: gs-opt %s -gs-stabilize-gradients -gs-to-linalg -linalg-fuse-elementwise-ops -canonicalize -cse | FileCheck %s

// The injected AdamW step after upstream element-wise fusion: one reduction
// over the gradient (its norm) and one fused generic that reads p, g, m, v
// once, scales g by the stabilizer's factor, updates, and selects the old
// values on a skipped step: 32 bytes per f32 parameter (g read twice, p, m,
// v read and written once).
// CHECK-LABEL: func.func @adamw_fused
// CHECK-NOT: gs.{{grad_norm|stabilize}}
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction"]} ins(%arg1 : tensor<1024xf32>)
// CHECK-NOT: linalg.generic
// CHECK: %[[U:.*]]:3 = linalg.generic {{.*}} iterator_types = ["parallel"]} ins(%arg0, %arg1, %arg2, %arg3, {{.*}}) outs(%arg0, %arg2, %arg3 :
// CHECK-NOT: linalg.generic
// CHECK: return %[[U]]#0, %[[U]]#1, %[[U]]#2,
#id = affine_map<(d0) -> (d0)>
#sc = affine_map<(d0) -> ()>
func.func @adamw_fused(%p: tensor<1024xf32>, %g: tensor<1024xf32>, %m: tensor<1024xf32>,
                       %v: tensor<1024xf32>, %bc1: tensor<f32>, %bc2: tensor<f32>,
                       %lr: tensor<f32>)
    -> (tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>) {
  %e = tensor.empty() : tensor<1024xf32>
  %r:3 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #sc, #sc, #sc, #id, #id, #id],
                         iterator_types = ["parallel"]}
      ins(%p, %g, %m, %v, %bc1, %bc2, %lr : tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>, tensor<f32>, tensor<f32>, tensor<f32>)
      outs(%e, %e, %e : tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>) {
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
    %vh = arith.divf %vn, %b2 : f32
    %sq = math.sqrt %vh : f32
    %den = arith.addf %sq, %eps : f32
    %u = arith.divf %mh, %den : f32
    %lrwd = arith.mulf %lri, %wd : f32
    %dec = arith.subf %one, %lrwd : f32
    %pd = arith.mulf %pi, %dec : f32
    %s = arith.mulf %lri, %u : f32
    %pn = arith.subf %pd, %s : f32
    linalg.yield %pn, %mn, %vn : f32, f32, f32
  } -> (tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>)
  return %r#0, %r#1, %r#2 : tensor<1024xf32>, tensor<1024xf32>, tensor<1024xf32>
}
