// RUN: gs-opt %s -split-input-file -gs-to-linalg | FileCheck %s

// gs.grad_norm: one reduction generic, each element widened to f64 and
// squared into a 0-d f64 accumulator, then the square root.
// CHECK-LABEL: func.func @norm
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<f64>)
// CHECK: %[[S:.*]] = linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}], iterator_types = ["reduction", "reduction"]} ins(%arg0 : tensor<4x8xbf16>) outs(%[[Z]] : tensor<f64>)
// CHECK: arith.extf %{{.*}} : bf16 to f64
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: %[[E:.*]] = tensor.extract %[[S]][] : tensor<f64>
// CHECK: %[[N:.*]] = math.sqrt %[[E]] : f64
// CHECK: return %[[N]]
func.func @norm(%g: tensor<4x8xbf16>) -> f64 {
  %n = gs.grad_norm %g : tensor<4x8xbf16>
  return %n : f64
}

// -----

// gs.stabilize: the GS scalar math on the extracted state, one element-wise
// generic scaling the gradient by the f32 factor pair, the new state
// inserted back.
// CHECK-LABEL: func.func @stabilize
// CHECK-NOT: gs.{{grad_norm|stabilize}}
// CHECK: tensor.extract %arg2[
// CHECK: %[[G:.*]] = linalg.generic {{.*}} iterator_types = ["parallel"]} ins(%arg0 : tensor<16xf32>)
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK: linalg.yield
// CHECK: tensor.insert
// CHECK: return %[[G]]
func.func @stabilize(%g: tensor<16xf32>, %n: f64, %s: tensor<2xf64>, %c: tensor<2xi64>)
    -> (tensor<16xf32>, tensor<2xf64>, tensor<2xi64>, i1) {
  %gt, %s1, %c1, %ok = gs.stabilize %g, %n, %s, %c : tensor<16xf32>
  return %gt, %s1, %c1, %ok : tensor<16xf32>, tensor<2xf64>, tensor<2xi64>, i1
}
