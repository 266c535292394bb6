// RUN: gs-opt %s --convert-gs-to-loops --canonicalize -split-input-file | FileCheck %s

// CHECK-LABEL: func @grad_norm
// CHECK-SAME: (%[[G:.*]]: tensor<4x25xf16>)
// CHECK: %[[F:.*]] = tensor.collapse_shape %[[G]] {{\[\[}}0, 1]] : tensor<4x25xf16> into tensor<100xf16>
// CHECK: scf.for {{.*}} -> (vector<16xf64>)
// CHECK:   vector.transfer_read %[[F]]{{.*}} : tensor<100xf16>, vector<16xf16>
// CHECK:   arith.extf {{.*}} : vector<16xf16> to vector<16xf64>
// CHECK: vector.transfer_read %[[F]]{{.*}} : tensor<100xf16>, vector<16xf16>
// CHECK: vector.reduction <add>
// CHECK: %[[N:.*]] = math.sqrt
// CHECK: return %[[N]] : f64
func.func @grad_norm(%g: tensor<4x25xf16>) -> f64 {
  %n = gs.grad_norm %g : tensor<4x25xf16>
  return %n : f64
}

// -----

// A 0-d gradient is one masked element.
// CHECK-LABEL: func @grad_norm_scalar
// CHECK: tensor.expand_shape %{{.*}} [] output_shape [1] : tensor<f32> into tensor<1xf32>
// CHECK-NOT: scf.for
// CHECK: vector.transfer_read {{.*}} : tensor<1xf32>, vector<16xf32>
func.func @grad_norm_scalar(%g: tensor<f32>) -> f64 {
  %n = gs.grad_norm %g : tensor<f32>
  return %n : f64
}

// -----

// The GS scalar math runs on the state read from its tensors; the stabilized
// gradient is one element-wise pass.
// CHECK-LABEL: func @stabilize
// CHECK-SAME: (%[[G:.*]]: tensor<64xf32>, %[[N:.*]]: f64, %[[S:.*]]: tensor<2xf64>, %[[C:.*]]: tensor<2xi64>)
// CHECK-DAG: %[[M:.*]] = tensor.extract %[[S]][%{{.*}}] : tensor<2xf64>
// CHECK-DAG: %[[K:.*]] = tensor.extract %[[C]][%{{.*}}] : tensor<2xi64>
// Bias correction uses gamma^k by repeated squaring, not a libm call.
// CHECK: scf.while
// CHECK: %[[FACTOR:.*]] = arith.select
// CHECK: scf.for
// CHECK:   arith.mulf %{{.*}}, %{{.*}} : vector<8xf32>
// CHECK: tensor.insert %{{.*}} into %[[S]]
// CHECK: tensor.insert %{{.*}} into %[[C]]
func.func @stabilize(%g: tensor<64xf32>, %n: f64, %s: tensor<2xf64>,
                     %c: tensor<2xi64>)
    -> (tensor<64xf32>, tensor<2xf64>, tensor<2xi64>, i1) {
  %gt, %s1, %c1, %ok = gs.stabilize %g, %n, %s, %c : tensor<64xf32>
  return %gt, %s1, %c1, %ok : tensor<64xf32>, tensor<2xf64>, tensor<2xi64>, i1
}

// -----

// Without bias correction there is no power to compute.
// CHECK-LABEL: func @stabilize_no_bias_correction
// CHECK-NOT: scf.while
// CHECK: return
func.func @stabilize_no_bias_correction(%g: tensor<64xf32>, %n: f64,
                                        %s: tensor<2xf64>, %c: tensor<2xi64>)
    -> (tensor<64xf32>, tensor<2xf64>, tensor<2xi64>, i1) {
  %gt, %s1, %c1, %ok = gs.stabilize #gs.stabilizer<bias_correction = false>
      %g, %n, %s, %c : tensor<64xf32>
  return %gt, %s1, %c1, %ok : tensor<64xf32>, tensor<2xf64>, tensor<2xi64>, i1
}

// -----

// The step runs only when enabled; its count advances only then.
// CHECK-LABEL: func @optimizer_step
// CHECK-SAME: %[[T:[a-z0-9]+]]: tensor<i64>, %[[LR:[a-z0-9]+]]: f64, %[[WD:[a-z0-9]+]]: f64, %[[OK:[a-z0-9]+]]: i1
// CHECK: %[[TV:.*]] = tensor.extract %[[T]][] : tensor<i64>
// CHECK: %[[T1:.*]] = arith.addi %[[TV]], %{{.*}} : i64
// CHECK: scf.if %[[OK]]
// CHECK:   scf.for
// Lion: the sign of the interpolation.
// CHECK:     arith.cmpf ogt
// CHECK:     arith.cmpf olt
// CHECK: %[[NEW:.*]] = arith.select %[[OK]], %[[T1]], %[[TV]] : i64
// CHECK: tensor.insert %[[NEW]] into %[[T]][] : tensor<i64>
func.func @optimizer_step(%p: tensor<33xbf16>, %g: tensor<33xbf16>,
                          %m: tensor<33xbf16>, %t: tensor<i64>, %lr: f64,
                          %wd: f64, %ok: i1)
    -> (tensor<33xbf16>, tensor<33xbf16>, tensor<i64>) {
  %p1, %m1, %t1 = gs.optimizer_step #gs.lion<> param(%p : tensor<33xbf16>)
      grad(%g) moments(%m : tensor<33xbf16>) step(%t) lr(%lr)
      weight_decay(%wd) enabled(%ok)
  return %p1, %m1, %t1 : tensor<33xbf16>, tensor<33xbf16>, tensor<i64>
}

// -----

// Given bias corrections replace 1 - beta^t: lr / bc1 and sqrt(bc2), no
// power of the betas; the same step without them raises beta to the count.
// CHECK-LABEL: func @adam_given_bias_corrections
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f64, %[[WD:[a-z0-9]+]]: f64, %[[BC1:[a-z0-9]+]]: f64, %[[BC2:[a-z0-9]+]]: f64
// CHECK-NOT: scf.while
// CHECK-DAG: arith.divf %[[LR]], %[[BC1]] : f64
// CHECK-DAG: math.sqrt %[[BC2]] : f64
// CHECK-NOT: scf.while
// CHECK: return
// CHECK-LABEL: func @adam_computed_bias_corrections
// CHECK: scf.while
// CHECK: return
func.func @adam_given_bias_corrections(%p: tensor<8xf32>, %g: tensor<8xf32>,
                                       %a: tensor<8xf32>, %b: tensor<8xf32>,
                                       %t: tensor<i64>, %lr: f64, %wd: f64,
                                       %bc1: f64, %bc2: f64)
    -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<i64>) {
  %p1, %m:2, %t1 = gs.optimizer_step #gs.adam<> param(%p : tensor<8xf32>)
      grad(%g) moments(%a, %b : tensor<8xf32>, tensor<8xf32>) step(%t)
      lr(%lr) weight_decay(%wd) bias_corrections(%bc1, %bc2)
  return %p1, %m#0, %m#1, %t1 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<i64>
}
func.func @adam_computed_bias_corrections(%p: tensor<8xf32>, %g: tensor<8xf32>,
                                          %a: tensor<8xf32>, %b: tensor<8xf32>,
                                          %t: tensor<i64>, %lr: f64, %wd: f64)
    -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<i64>) {
  %p1, %m:2, %t1 = gs.optimizer_step #gs.adam<> param(%p : tensor<8xf32>)
      grad(%g) moments(%a, %b : tensor<8xf32>, tensor<8xf32>) step(%t)
      lr(%lr) weight_decay(%wd)
  return %p1, %m#0, %m#1, %t1 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<i64>
}
