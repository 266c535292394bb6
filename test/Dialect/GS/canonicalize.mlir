// RUN: gs-opt %s -gs-form-group-steps -canonicalize -split-input-file | FileCheck %s
// RUN: gs-opt %s -canonicalize -split-input-file | FileCheck %s --check-prefix=CANON
// RUN: gs-opt %s -gs-form-group-steps -split-input-file | FileCheck %s --check-prefix=PASS

// The pass alone (one walk, no dead-code elimination) leaves no norm behind.
// PASS-LABEL: func @fuse_chain
// PASS-NOT: gs.grad_norm
// PASS: gs.group_step
// PASS-NOT: gs.grad_norm
// PASS: return

// Raising a chain to gs.group_step is gs-form-group-steps' job, never
// canonicalize's (a host pipeline's canonicalize keeps the level of the IR).
// CANON-LABEL: func @fuse_chain
// CANON: gs.stabilize
// CANON: gs.optimizer_step
// CANON-NOT: gs.group_step

// A per-tensor chain folds into the fused op, with the state reshaped to a
// group of one.
// CHECK-LABEL: func @fuse_chain
// CHECK-SAME: (%[[G:.*]]: tensor<4x8xf32>, %[[P:.*]]: tensor<4x8xf32>, %[[A:.*]]: tensor<4x8xf32>, %[[B:.*]]: tensor<4x8xf32>, %[[S:.*]]: tensor<2xf64>, %[[C:.*]]: tensor<2xi64>, %[[T:.*]]: tensor<i64>, %[[LR:.*]]: f64, %[[WD:.*]]: f64)
// CHECK-NOT: gs.grad_norm
// CHECK-NOT: gs.stabilize
// CHECK-DAG: %[[S1:.*]] = tensor.expand_shape %[[S]] {{\[\[}}0, 1]] output_shape [1, 2] : tensor<2xf64> into tensor<1x2xf64>
// CHECK-DAG: %[[C1:.*]] = tensor.expand_shape %[[C]] {{\[\[}}0, 1]] output_shape [1, 2] : tensor<2xi64> into tensor<1x2xi64>
// CHECK-DAG: %[[T1:.*]] = tensor.expand_shape %[[T]] [] output_shape [1] : tensor<i64> into tensor<1xi64>
// CHECK: %[[R:.*]]:3, %[[NS:.*]], %[[NC:.*]], %[[NT:.*]] = gs.group_step #gs.adamw<> config #gs.stabilizer<gamma1 = 0.5> params(%[[P]] : tensor<4x8xf32>) grads(%[[G]] : tensor<4x8xf32>) moments(%[[A]], %[[B]] : tensor<4x8xf32>, tensor<4x8xf32>) stats(%[[S1]] : tensor<1x2xf64>) counts(%[[C1]] : tensor<1x2xi64>) steps(%[[T1]] : tensor<1xi64>) lr(%[[LR]]) weight_decay(%[[WD]])
// CHECK-DAG: %[[T2:.*]] = tensor.collapse_shape %[[NT]] [] : tensor<1xi64> into tensor<i64>
// CHECK-DAG: %[[S2:.*]] = tensor.collapse_shape %[[NS]] {{\[\[}}0, 1]] : tensor<1x2xf64> into tensor<2xf64>
// CHECK-DAG: %[[C2:.*]] = tensor.collapse_shape %[[NC]] {{\[\[}}0, 1]] : tensor<1x2xi64> into tensor<2xi64>
// CHECK: return %[[R]]#0, %[[R]]#1, %[[R]]#2, %[[T2]], %[[S2]], %[[C2]]
func.func @fuse_chain(%g: tensor<4x8xf32>, %p: tensor<4x8xf32>,
                      %m1: tensor<4x8xf32>, %m2: tensor<4x8xf32>,
                      %s: tensor<2xf64>, %c: tensor<2xi64>, %t: tensor<i64>,
                      %lr: f64, %wd: f64)
    -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<i64>,
        tensor<2xf64>, tensor<2xi64>) {
  %n = gs.grad_norm %g : tensor<4x8xf32>
  %gt, %s1, %c1, %ok = gs.stabilize #gs.stabilizer<gamma1 = 0.5>
      %g, %n, %s, %c : tensor<4x8xf32>
  %p1, %mm:2, %t1 = gs.optimizer_step #gs.adamw<> param(%p : tensor<4x8xf32>)
      grad(%gt) moments(%m1, %m2 : tensor<4x8xf32>, tensor<4x8xf32>) step(%t)
      lr(%lr) weight_decay(%wd) enabled(%ok)
  return %p1, %mm#0, %mm#1, %t1, %s1, %c1
      : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<i64>,
        tensor<2xf64>, tensor<2xi64>
}

// -----

// Without `skip`, step_ok is always true, so the step needs no predicate.
// CHECK-LABEL: func @fuse_zero_policy
// CHECK: gs.group_step #gs.sgd<> config #gs.stabilizer<on_nonfinite = zero>
func.func @fuse_zero_policy(%g: tensor<8xf16>, %p: tensor<8xf16>,
                            %s: tensor<2xf64>, %c: tensor<2xi64>,
                            %t: tensor<i64>, %lr: f64)
    -> (tensor<8xf16>, tensor<i64>, tensor<2xf64>, tensor<2xi64>) {
  %n = gs.grad_norm %g : tensor<8xf16>
  %gt, %s1, %c1, %ok = gs.stabilize #gs.stabilizer<on_nonfinite = zero>
      %g, %n, %s, %c : tensor<8xf16>
  %p1, %t1 = gs.optimizer_step #gs.sgd<> param(%p : tensor<8xf16>) grad(%gt)
      step(%t) lr(%lr) weight_decay(%lr)
  return %p1, %t1, %s1, %c1 : tensor<8xf16>, tensor<i64>, tensor<2xf64>, tensor<2xi64>
}

// -----

// Under `skip` a step that ignores step_ok would step on skipped gradients:
// the fused op cannot express that, so nothing changes.
// CHECK-LABEL: func @no_fuse_step_ignores_skip
// CHECK: gs.stabilize
// CHECK: gs.optimizer_step
// CHECK-NOT: gs.group_step
func.func @no_fuse_step_ignores_skip(%g: tensor<8xf32>, %p: tensor<8xf32>,
                                     %s: tensor<2xf64>, %c: tensor<2xi64>,
                                     %t: tensor<i64>, %lr: f64)
    -> (tensor<8xf32>, tensor<i64>, tensor<2xf64>, tensor<2xi64>) {
  %n = gs.grad_norm %g : tensor<8xf32>
  %gt, %s1, %c1, %ok = gs.stabilize %g, %n, %s, %c : tensor<8xf32>
  %p1, %t1 = gs.optimizer_step #gs.sgd<> param(%p : tensor<8xf32>) grad(%gt)
      step(%t) lr(%lr) weight_decay(%lr)
  return %p1, %t1, %s1, %c1 : tensor<8xf32>, tensor<i64>, tensor<2xf64>, tensor<2xi64>
}

// -----

// The norm comes from elsewhere (e.g. a global norm): not the fused op's.
// CHECK-LABEL: func @no_fuse_foreign_norm
// CHECK: gs.stabilize
// CHECK-NOT: gs.group_step
func.func @no_fuse_foreign_norm(%g: tensor<8xf32>, %p: tensor<8xf32>, %n: f64,
                                %s: tensor<2xf64>, %c: tensor<2xi64>,
                                %t: tensor<i64>, %lr: f64)
    -> (tensor<8xf32>, tensor<i64>, tensor<2xf64>, tensor<2xi64>) {
  %gt, %s1, %c1, %ok = gs.stabilize %g, %n, %s, %c : tensor<8xf32>
  %p1, %t1 = gs.optimizer_step #gs.sgd<> param(%p : tensor<8xf32>) grad(%gt)
      step(%t) lr(%lr) weight_decay(%lr) enabled(%ok)
  return %p1, %t1, %s1, %c1 : tensor<8xf32>, tensor<i64>, tensor<2xf64>, tensor<2xi64>
}

// -----

// The stabilized gradient is also returned: it must stay materialized.
// CHECK-LABEL: func @no_fuse_gradient_reused
// CHECK: gs.stabilize
// CHECK-NOT: gs.group_step
func.func @no_fuse_gradient_reused(%g: tensor<8xf32>, %p: tensor<8xf32>,
                                   %s: tensor<2xf64>, %c: tensor<2xi64>,
                                   %t: tensor<i64>, %lr: f64)
    -> (tensor<8xf32>, tensor<8xf32>, tensor<i64>, tensor<2xf64>, tensor<2xi64>) {
  %n = gs.grad_norm %g : tensor<8xf32>
  %gt, %s1, %c1, %ok = gs.stabilize %g, %n, %s, %c : tensor<8xf32>
  %p1, %t1 = gs.optimizer_step #gs.sgd<> param(%p : tensor<8xf32>) grad(%gt)
      step(%t) lr(%lr) weight_decay(%lr) enabled(%ok)
  return %p1, %gt, %t1, %s1, %c1
      : tensor<8xf32>, tensor<8xf32>, tensor<i64>, tensor<2xf64>, tensor<2xi64>
}

// -----

func.func private @use(tensor<2xf64>)

// The new GS state is used before the optimizer step.
// CHECK-LABEL: func @no_fuse_state_used_early
// CHECK: gs.stabilize
// CHECK-NOT: gs.group_step
func.func @no_fuse_state_used_early(%g: tensor<8xf32>, %p: tensor<8xf32>,
                                    %s: tensor<2xf64>, %c: tensor<2xi64>,
                                    %t: tensor<i64>, %lr: f64)
    -> (tensor<8xf32>, tensor<i64>) {
  %n = gs.grad_norm %g : tensor<8xf32>
  %gt, %s1, %c1, %ok = gs.stabilize %g, %n, %s, %c : tensor<8xf32>
  func.call @use(%s1) : (tensor<2xf64>) -> ()
  %p1, %t1 = gs.optimizer_step #gs.sgd<> param(%p : tensor<8xf32>) grad(%gt)
      step(%t) lr(%lr) weight_decay(%lr) enabled(%ok)
  return %p1, %t1 : tensor<8xf32>, tensor<i64>
}

// -----

// CHECK-LABEL: func @always_enabled
// CHECK: gs.optimizer_step #gs.sgd<> param(%{{.*}} : tensor<8xf32>) grad(%{{.*}}) step(%{{.*}}) lr(%{{.*}}) weight_decay(%{{.*}}){{$}}
func.func @always_enabled(%p: tensor<8xf32>, %t: tensor<i64>, %lr: f64)
    -> (tensor<8xf32>, tensor<i64>) {
  %true = arith.constant true
  %p1, %t1 = gs.optimizer_step #gs.sgd<> param(%p : tensor<8xf32>) grad(%p)
      step(%t) lr(%lr) weight_decay(%lr) enabled(%true)
  return %p1, %t1 : tensor<8xf32>, tensor<i64>
}

// -----

// A disabled step is the identity: no update, the step count stays.
// CHECK-LABEL: func @never_enabled
// CHECK-SAME: (%[[P:.*]]: tensor<8xf32>, %[[A:.*]]: tensor<8xf32>, %[[T:.*]]: tensor<i64>
// CHECK-NOT: gs.optimizer_step
// CHECK: return %[[P]], %[[A]], %[[T]]
func.func @never_enabled(%p: tensor<8xf32>, %a: tensor<8xf32>, %t: tensor<i64>,
                         %lr: f64) -> (tensor<8xf32>, tensor<8xf32>, tensor<i64>) {
  %false = arith.constant false
  %p1, %a1, %t1 = gs.optimizer_step #gs.lion<> param(%p : tensor<8xf32>)
      grad(%p) moments(%a : tensor<8xf32>) step(%t) lr(%lr) weight_decay(%lr)
      enabled(%false)
  return %p1, %a1, %t1 : tensor<8xf32>, tensor<8xf32>, tensor<i64>
}

// -----

// The norm of a splat constant is |x| * sqrt(numel).
// CHECK-LABEL: func @norm_of_splat
// CHECK: %[[N:.*]] = arith.constant 3.000000e+01 : f64
// CHECK: return %[[N]]
func.func @norm_of_splat() -> f64 {
  %g = arith.constant dense<-3.0> : tensor<4x25xf32>
  %n = gs.grad_norm %g : tensor<4x25xf32>
  return %n : f64
}

// -----

// Unused results of pure gs ops are removed.
// CHECK-LABEL: func @dead_ops
// CHECK-NOT: gs.
// CHECK: return
func.func @dead_ops(%g: tensor<8xf32>, %s: tensor<2xf64>, %c: tensor<2xi64>) {
  %n = gs.grad_norm %g : tensor<8xf32>
  %gt, %s1, %c1, %ok = gs.stabilize %g, %n, %s, %c : tensor<8xf32>
  return
}
