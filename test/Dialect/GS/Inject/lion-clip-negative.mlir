// RUN: gs-opt %s -split-input-file -verify-diagnostics \
// RUN:   -gs-inject-stabilization="explain" | FileCheck %s
// RUN: gs-opt %s -split-input-file \
// RUN:   -gs-inject-stabilization="clip=keep" | FileCheck %s --check-prefix=KEEP

// Lion with decoupled weight decay; sign written as nested selects.
// CHECK-LABEL: func.func @lion
// CHECK: gs.optimizer_step #gs.lion<> param(%arg0 : tensor<16xf32>) grad(%{{.*}}) moments(%arg2 : tensor<16xf32>)
#id = affine_map<(d0) -> (d0)>
func.func @lion(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>, %lr: f32, %wd: f32)
    -> (tensor<16xf32>, tensor<16xf32>) {
  %e = tensor.empty() : tensor<16xf32>
  %one = arith.constant 1.0 : f32
  %lw = arith.mulf %lr, %wd : f32
  %decay = arith.subf %one, %lw : f32
  %r:2 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #id], iterator_types = ["parallel"]}
      ins(%p, %g, %m : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>)
      outs(%e, %e : tensor<16xf32>, tensor<16xf32>) {
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
  } -> (tensor<16xf32>, tensor<16xf32>)
  return %r#0, %r#1 : tensor<16xf32>, tensor<16xf32>
}

// -----

// torch.nn.utils.clip_grad_norm_(max_norm=1.0) over two gradients, then
// SGD. Replaced by default (the raw gradient is stabilized), or kept.
// CHECK-LABEL: func.func @clip_global_norm_sgd
// CHECK-NOT: linalg.generic
// CHECK: gs.grad_norm %arg2
// CHECK: gs.grad_norm %arg3
// KEEP-LABEL: func.func @clip_global_norm_sgd
// KEEP: %[[F:.*]] = linalg.fill
// KEEP: %[[C:.*]] = linalg.mul ins(%arg2, %[[F]]
// KEEP: gs.grad_norm %[[C]]
#sum = affine_map<(d0) -> (d0)>
#red = affine_map<(d0) -> ()>
func.func @clip_global_norm_sgd(%p0: tensor<8xf32>, %p1: tensor<8xf32>,
                                %g0: tensor<8xf32>, %g1: tensor<8xf32>)
    -> (tensor<8xf32>, tensor<8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %s0 = linalg.generic {indexing_maps = [#sum, #red], iterator_types = ["reduction"]}
      ins(%g0 : tensor<8xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%x: f32, %a: f32):
    %sq = arith.mulf %x, %x : f32
    %r = arith.addf %a, %sq : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %s1 = linalg.generic {indexing_maps = [#sum, #red], iterator_types = ["reduction"]}
      ins(%g1 : tensor<8xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%x: f32, %a: f32):
    %sq = arith.mulf %x, %x : f32
    %r = arith.addf %sq, %a : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %a0 = tensor.extract %s0[] : tensor<f32>
  %a1 = tensor.extract %s1[] : tensor<f32>
  %tot = arith.addf %a0, %a1 : f32
  %norm = math.sqrt %tot : f32
  %eps = arith.constant 1.0e-6 : f32
  %maxn = arith.constant 1.0 : f32
  %den = arith.addf %norm, %eps : f32
  %coef = arith.divf %maxn, %den : f32
  %one = arith.constant 1.0 : f32
  %clamped = arith.minimumf %coef, %one : f32
  %lr = arith.constant 0.1 : f32
  %e = tensor.empty() : tensor<8xf32>
  %cf = linalg.fill ins(%clamped : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %lrf = linalg.fill ins(%lr : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %c0 = linalg.mul ins(%g0, %cf : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %c1 = linalg.mul ins(%cf, %g1 : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %u0 = linalg.mul ins(%lrf, %c0 : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %u1 = linalg.mul ins(%c1, %lrf : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %n0 = linalg.sub ins(%p0, %u0 : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %n1 = linalg.sub ins(%p1, %u1 : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  return %n0, %n1 : tensor<8xf32>, tensor<8xf32>
}

// -----

// Adam with betas as function arguments cannot become a gs attribute.
// CHECK-LABEL: func.func @adam_runtime_betas
// CHECK-NOT: gs.optimizer_step
#id = affine_map<(d0) -> (d0)>
func.func @adam_runtime_betas(%p: tensor<8xf32>, %g: tensor<8xf32>, %m: tensor<8xf32>,
                              %v: tensor<8xf32>, %t: f32, %b1: f32, %b2: f32)
    -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8xf32>
  %one = arith.constant 1.0 : f32
  %p1 = math.powf %b1, %t : f32
  %bc1 = arith.subf %one, %p1 : f32
  %p2 = math.powf %b2, %t : f32
  %bc2 = arith.subf %one, %p2 : f32
  %c1 = arith.subf %one, %b1 : f32
  %c2 = arith.subf %one, %b2 : f32
  // expected-remark @+3 {{not rewritten: the denominator is not the root of a moving average of the squared gradient with constant betas}}
  // expected-remark @+2 {{result #1 not rewritten: the parameter's coefficient is not 1}}
  // expected-remark @+1 {{result #2 not rewritten: the parameter's coefficient is not 1}}
  %r:3 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #id, #id, #id], iterator_types = ["parallel"]}
      ins(%p, %g, %m, %v : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
      outs(%e, %e, %e : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  ^bb0(%pi: f32, %gi: f32, %mi: f32, %vi: f32, %o0: f32, %o1: f32, %o2: f32):
    %lr = arith.constant 0.001 : f32
    %eps = arith.constant 1.0e-8 : f32
    %ma = arith.mulf %b1, %mi : f32
    %mb = arith.mulf %c1, %gi : f32
    %m1 = arith.addf %ma, %mb : f32
    %g2 = arith.mulf %gi, %gi : f32
    %va = arith.mulf %b2, %vi : f32
    %vb = arith.mulf %c2, %g2 : f32
    %v1 = arith.addf %va, %vb : f32
    %sq = math.sqrt %v1 : f32
    %q = math.sqrt %bc2 : f32
    %x = arith.divf %sq, %q : f32
    %den = arith.addf %x, %eps : f32
    %st = arith.divf %lr, %bc1 : f32
    %u = arith.divf %m1, %den : f32
    %su = arith.mulf %st, %u : f32
    %pn = arith.subf %pi, %su : f32
    linalg.yield %pn, %m1, %v1 : f32, f32, f32
  } -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return %r#0, %r#1, %r#2 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// Looks element-wise but is not: the "gradient" is transposed inside the
// update, so the update is left alone.
// CHECK-LABEL: func.func @transposed_gradient
// CHECK-NOT: gs.optimizer_step
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#tr = affine_map<(d0, d1) -> (d1, d0)>
func.func @transposed_gradient(%p: tensor<4x4xf32>, %g: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %e = tensor.empty() : tensor<4x4xf32>
  // expected-remark @below {{not rewritten: no function argument of the result's type is updated}}
  %r = linalg.generic {indexing_maps = [#id2, #tr, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%p, %g : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) {
  ^bb0(%pi: f32, %gi: f32, %o: f32):
    %lr = arith.constant 0.1 : f32
    %u = arith.mulf %lr, %gi : f32
    %n = arith.subf %pi, %u : f32
    linalg.yield %n : f32
  } -> tensor<4x4xf32>
  return %r : tensor<4x4xf32>
}

// -----

// Gradient ascent (p + lr*g) and a squared gradient are not optimizer steps.
// CHECK-LABEL: func.func @not_optimizers
// CHECK-NOT: gs.optimizer_step
func.func @not_optimizers(%p: tensor<8xf32>, %g: tensor<8xf32>, %q: tensor<8xf32>)
    -> (tensor<8xf32>, tensor<8xf32>) {
  %lr = arith.constant dense<0.1> : tensor<8xf32>
  %u = arith.mulf %lr, %g : tensor<8xf32>
  // expected-remark @below {{not rewritten: the update ascends the gradient}}
  %r = arith.addf %p, %u : tensor<8xf32>
  %g2 = arith.mulf %g, %g : tensor<8xf32>
  %u2 = arith.mulf %lr, %g2 : tensor<8xf32>
  // expected-remark @below {{not rewritten: the step is not lr times one tensor}}
  %r2 = arith.subf %q, %u2 : tensor<8xf32>
  return %r, %r2 : tensor<8xf32>, tensor<8xf32>
}

// -----

// Gradient selection by name: only %g0 (named "w.grad") is stabilized.
// RUN: gs-opt %s -split-input-file -gs-inject-stabilization="grad-names=w.grad" | FileCheck %s --check-prefix=NAMES
// CHECK-LABEL: func.func @select_by_name
// NAMES-LABEL: func.func @select_by_name
// NAMES: linalg.sub ins(%arg1
// NAMES: gs.grad_norm %arg2
// NAMES-NOT: gs.grad_norm
func.func @select_by_name(%p0: tensor<8xf32>, %p1: tensor<8xf32>,
                          %g0: tensor<8xf32> {gs.name = "w.grad"}, %g1: tensor<8xf32> loc("b.grad"))
    -> (tensor<8xf32>, tensor<8xf32>) {
  %lr = arith.constant dense<0.1> : tensor<8xf32>
  %e = tensor.empty() : tensor<8xf32>
  %u0 = linalg.mul ins(%lr, %g0 : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %n0 = linalg.sub ins(%p0, %u0 : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %u1 = linalg.mul ins(%lr, %g1 : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %n1 = linalg.sub ins(%p1, %u1 : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  return %n0, %n1 : tensor<8xf32>, tensor<8xf32>
}
