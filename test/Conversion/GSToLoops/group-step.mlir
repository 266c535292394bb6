// RUN: gs-opt %s --convert-gs-to-loops --canonicalize --cse -split-input-file | FileCheck %s
// RUN: gs-opt %s --convert-gs-to-loops="vector-width=4" -split-input-file | FileCheck %s --check-prefix=W4

// gs.group_step becomes, per tensor, two passes over memory: a norm loop that
// reads the gradient and accumulates f64 squares in vectors, and one fused
// update loop reading grad / param / moments and writing param / moments.
// Nothing proportional to a tensor's size is allocated.

// CHECK-LABEL: func @adamw_group
// CHECK-SAME: (%[[P0:[a-z0-9]+]]: tensor<1000xf32>, %[[P1:[a-z0-9]+]]: tensor<3x7xbf16>, %[[G0:[a-z0-9]+]]: tensor<1000xf32>, %[[G1:[a-z0-9]+]]: tensor<3x7xbf16>
// CHECK-NOT: tensor.empty
// CHECK-NOT: bufferization.alloc_tensor
// Pass 1, tensor 0: 992 elements in 16-lane f64 accumulators, an 8-element masked tail.
// CHECK: %[[ACC0:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}) -> (vector<16xf64>)
// CHECK:   vector.transfer_read %[[G0]][%[[I]]], %{{.*}} {in_bounds = [true]} : tensor<1000xf32>, vector<16xf32>
// CHECK:   arith.extf %{{.*}} : vector<16xf32> to vector<16xf64>
// CHECK:   arith.mulf
// CHECK:   arith.addf
// CHECK: vector.transfer_read %[[G0]][%{{.*}}], %{{.*}} : tensor<1000xf32>, vector<16xf32>
// CHECK: %[[SUM0:.*]] = vector.reduction <add>, %{{.*}} : vector<16xf64> into f64
// CHECK: math.sqrt %[[SUM0]] : f64
// Pass 1, tensor 1 (flattened bf16; one full chunk, so no loop is left).
// CHECK: %[[G1F:.*]] = tensor.collapse_shape %[[G1]] {{\[\[}}0, 1]] : tensor<3x7xbf16> into tensor<21xbf16>
// CHECK:   vector.transfer_read %[[G1F]][%{{.*}}], %{{.*}} {in_bounds = [true]} : tensor<21xbf16>, vector<16xbf16>
// CHECK:   arith.extf %{{.*}} : vector<16xbf16> to vector<16xf64>
// CHECK: vector.reduction <add>
// Pass 2, tensor 0: guarded by the per-tensor step predicate.
// CHECK: scf.if %{{.*}} -> (tensor<1000xf32>, tensor<1000xf32>, tensor<1000xf32>)
// CHECK:   scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[PA:.*]] = %[[P0]], %[[MA:.*]] = %{{.*}}, %[[VA:.*]] = %{{.*}}) -> (tensor<1000xf32>, tensor<1000xf32>, tensor<1000xf32>)
// CHECK-DAG: vector.transfer_read %[[G0]][%[[J]]], %{{.*}} {in_bounds = [true]} : tensor<1000xf32>, vector<8xf32>
// CHECK-DAG: vector.transfer_read %[[PA]][%[[J]]], %{{.*}} {in_bounds = [true]} : tensor<1000xf32>, vector<8xf32>
// CHECK-DAG: vector.transfer_read %[[MA]][%[[J]]], %{{.*}} {in_bounds = [true]} : tensor<1000xf32>, vector<8xf32>
// CHECK-DAG: vector.transfer_read %[[VA]][%[[J]]], %{{.*}} {in_bounds = [true]} : tensor<1000xf32>, vector<8xf32>
// CHECK:     math.sqrt %{{.*}} : vector<8xf32>
// CHECK-DAG: vector.transfer_write %{{.*}}, %[[PA]][%[[J]]] {in_bounds = [true]} : vector<8xf32>, tensor<1000xf32>
// CHECK-DAG: vector.transfer_write %{{.*}}, %[[MA]][%[[J]]] {in_bounds = [true]} : vector<8xf32>, tensor<1000xf32>
// CHECK-DAG: vector.transfer_write %{{.*}}, %[[VA]][%[[J]]] {in_bounds = [true]} : vector<8xf32>, tensor<1000xf32>
// Pass 2, tensor 1: bf16 widened to f32 for the arithmetic, rounded back.
// CHECK: scf.if %{{.*}} -> (tensor<3x7xbf16>, tensor<3x7xbf16>, tensor<3x7xbf16>)
// CHECK:   arith.extf %{{.*}} : vector<8xbf16> to vector<8xf32>
// CHECK:   arith.truncf %{{.*}} : vector<8xf32> to vector<8xbf16>
// The tail of the 21 elements is masked.
// CHECK:   vector.transfer_write %{{.*}}, %{{.*}}[%{{.*}}] : vector<8xbf16>, tensor<21xbf16>
// CHECK:   tensor.expand_shape
// The new scalar state, written over each (flattened) state tensor in
// vector chunks: [m0, v0, m1, v1], [k0, s0, k1, s1], [t0, t1].
// CHECK-DAG: %[[SF:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<2x2xf64> into tensor<4xf64>
// CHECK-DAG: %[[SV:.*]] = vector.from_elements %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : vector<4xf64>
// CHECK: vector.transfer_write %[[SV]], %[[SF]][%{{.*}}] {in_bounds = [true]} : vector<4xf64>, tensor<4xf64>
// CHECK: vector.from_elements %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : vector<4xi64>
// CHECK: vector.from_elements %{{.*}}, %{{.*}} : vector<2xi64>
// CHECK-NOT: tensor.empty
// CHECK: return

// W4: func @adamw_group
// W4: vector.transfer_read {{.*}} : tensor<1000xf32>, vector<8xf32>
// W4: vector.transfer_read {{.*}} : tensor<1000xf32>, vector<4xf32>
func.func @adamw_group(%p0: tensor<1000xf32>, %p1: tensor<3x7xbf16>,
                       %g0: tensor<1000xf32>, %g1: tensor<3x7xbf16>,
                       %a0: tensor<1000xf32>, %b0: tensor<1000xf32>,
                       %a1: tensor<3x7xbf16>, %b1: tensor<3x7xbf16>,
                       %s: tensor<2x2xf64>, %c: tensor<2x2xi64>,
                       %t: tensor<2xi64>, %lr: f64, %wd: f64)
    -> (tensor<1000xf32>, tensor<3x7xbf16>, tensor<1000xf32>, tensor<1000xf32>,
        tensor<3x7xbf16>, tensor<3x7xbf16>, tensor<2x2xf64>, tensor<2x2xi64>,
        tensor<2xi64>) {
  %r:9 = gs.group_step #gs.adamw<>
      params(%p0, %p1 : tensor<1000xf32>, tensor<3x7xbf16>)
      grads(%g0, %g1 : tensor<1000xf32>, tensor<3x7xbf16>)
      moments(%a0, %b0, %a1, %b1 : tensor<1000xf32>, tensor<1000xf32>,
                                   tensor<3x7xbf16>, tensor<3x7xbf16>)
      stats(%s : tensor<2x2xf64>) counts(%c : tensor<2x2xi64>)
      steps(%t : tensor<2xi64>) lr(%lr) weight_decay(%wd)
  return %r#0, %r#1, %r#2, %r#3, %r#4, %r#5, %r#6, %r#7, %r#8
      : tensor<1000xf32>, tensor<3x7xbf16>, tensor<1000xf32>, tensor<1000xf32>,
        tensor<3x7xbf16>, tensor<3x7xbf16>, tensor<2x2xf64>, tensor<2x2xi64>,
        tensor<2xi64>
}

// -----

// With a loss scale the norm is of the unscaled gradient, found_inf and any
// non-finite norm skip the whole step, and the element update multiplies by
// one factor that folds in inv_scale.
// CHECK-LABEL: func @sgd_amp
// CHECK-SAME: %[[INV:[a-z0-9]+]]: tensor<f32>, %[[FOUND:[a-z0-9]+]]: tensor<f32>
// CHECK-DAG: %[[INVS:.*]] = tensor.extract %[[INV]][] : tensor<f32>
// CHECK-DAG: %[[INV64:.*]] = arith.extf %[[INVS]] : f32 to f64
// CHECK: %[[N:.*]] = math.sqrt
// CHECK: %[[SCALED:.*]] = arith.mulf %[[N]], %[[INV64]] : f64
// CHECK: %[[F:.*]] = tensor.extract %[[FOUND]][] : tensor<f32>
// CHECK: %[[SET:.*]] = arith.cmpf une, %[[F]], %{{.*}} : f32
// CHECK: %[[ABS:.*]] = math.absf %[[SCALED]] : f64
// CHECK: %[[BAD:.*]] = arith.cmpf uge, %[[ABS]], %{{.*}} : f64
// CHECK: %[[SKIP:.*]] = arith.ori %[[SET]], %[[BAD]] : i1
// CHECK: scf.if
// CHECK:   scf.for
// CHECK:     arith.mulf %{{.*}}, %{{.*}} : vector<8xf32>
func.func @sgd_amp(%p: tensor<64xf32>, %g: tensor<64xf32>, %s: tensor<1x2xf64>,
                   %c: tensor<1x2xi64>, %t: tensor<1xi64>, %lr: f64, %wd: f64,
                   %inv: tensor<f32>, %found: tensor<f32>)
    -> (tensor<64xf32>, tensor<1x2xf64>, tensor<1x2xi64>, tensor<1xi64>) {
  %r:4 = gs.group_step #gs.sgd<> params(%p : tensor<64xf32>)
      grads(%g : tensor<64xf32>) stats(%s : tensor<1x2xf64>)
      counts(%c : tensor<1x2xi64>) steps(%t : tensor<1xi64>) lr(%lr)
      weight_decay(%wd) inv_scale(%inv) found_inf(%found)
  return %r#0, %r#1, %r#2, %r#3
      : tensor<64xf32>, tensor<1x2xf64>, tensor<1x2xi64>, tensor<1xi64>
}

// -----

// Under `zero` a non-finite gradient is replaced by zeros with a select, so
// NaN elements cannot survive a multiplication by zero.
// CHECK-LABEL: func @zero_policy
// CHECK: scf.for
// CHECK: %[[PRE:.*]] = arith.mulf %{{.*}}, %{{.*}} : vector<8xf32>
// CHECK: %[[G:.*]] = arith.mulf %[[PRE]], %{{.*}} : vector<8xf32>
// CHECK: arith.select {{.*}}%[[G]]{{.*}} : vector<8xf32>
func.func @zero_policy(%p: tensor<16xf32>, %g: tensor<16xf32>,
                       %s: tensor<1x2xf64>, %c: tensor<1x2xi64>,
                       %t: tensor<1xi64>, %lr: f64)
    -> (tensor<16xf32>, tensor<1x2xf64>, tensor<1x2xi64>, tensor<1xi64>) {
  %r:4 = gs.group_step #gs.sgd<> config #gs.stabilizer<on_nonfinite = zero>
      params(%p : tensor<16xf32>) grads(%g : tensor<16xf32>)
      stats(%s : tensor<1x2xf64>) counts(%c : tensor<1x2xi64>)
      steps(%t : tensor<1xi64>) lr(%lr) weight_decay(%lr)
  return %r#0, %r#1, %r#2, %r#3
      : tensor<16xf32>, tensor<1x2xf64>, tensor<1x2xi64>, tensor<1xi64>
}
