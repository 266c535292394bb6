// RUN: gs-opt %s -gs-inject-stabilization -split-input-file | FileCheck %s

// torch.optim.Adam (foreach=False) as torch-mlir lowers it: the step is a
// 0-d f32 tensor incremented in the graph, exp_avg updated with lerp,
// exp_avg_sq with mul + addcmul, bias corrections as 0-d tensor math, L2
// weight decay folded into the gradient. The gs step is the count before
// the step: the step argument itself.
// CHECK-LABEL: func.func @adam_torch
// CHECK-SAME: %[[STEP:[a-z0-9]*]]: tensor<f32>
// CHECK: %[[T:.*]] = tensor.extract %[[STEP]][] : tensor<f32>
// CHECK: %[[TI:.*]] = arith.fptosi %[[T]] : f32 to i64
// CHECK: %[[TT:.*]] = tensor.from_elements %[[TI]] : tensor<i64>
// CHECK: gs.stabilize %arg1
// CHECK: %[[P1:.*]], %[[M:.*]]:2, %{{.*}} = gs.optimizer_step #gs.adam<beta2 = 0.98> param(%arg0 : tensor<32xf32>) grad(%{{.*}}) moments(%arg2, %arg3 : tensor<32xf32>, tensor<32xf32>) step(%[[TT]])
// Under skip the graph's own counter (`step + 1`, returned) keeps its old
// value too (spec section 3).
// CHECK: %[[NT:.*]] = tensor.extract %{{.*}}[] : tensor<f32>
// CHECK: %[[OT:.*]] = tensor.extract %[[STEP]][] : tensor<f32>
// CHECK: %[[SEL:.*]] = arith.select %{{.*}}, %[[NT]], %[[OT]] : f32
// CHECK: %[[T1:.*]] = tensor.from_elements %[[SEL]] : tensor<f32>
// CHECK: return %[[P1]], %[[M]]#0, %[[M]]#1, %[[T1]], %{{.*}}, %{{.*}} : tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<f32>, tensor<2xf64>, tensor<2xi64>
#id = affine_map<(d0) -> (d0)>
#sc = affine_map<(d0) -> ()>
#s0 = affine_map<() -> ()>
func.func @adam_torch(%p: tensor<32xf32>, %g: tensor<32xf32>, %m: tensor<32xf32>,
                      %v: tensor<32xf32>, %step: tensor<f32>)
    -> (tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<f32>) {
  %e = tensor.empty() : tensor<32xf32>
  %e0 = tensor.empty() : tensor<f32>
  // step += 1
  %t = linalg.generic {indexing_maps = [#s0, #s0], iterator_types = []}
      ins(%step : tensor<f32>) outs(%e0 : tensor<f32>) {
  ^bb0(%s: f32, %o: f32):
    %one = arith.constant 1.0 : f32
    %r = arith.addf %s, %one : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  // grad = grad + wd * param
  %d = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%g, %p : tensor<32xf32>, tensor<32xf32>) outs(%e : tensor<32xf32>) {
  ^bb0(%gi: f32, %pi: f32, %o: f32):
    %wd = arith.constant 0.01 : f32
    %x = arith.mulf %pi, %wd : f32
    %r = arith.addf %gi, %x : f32
    linalg.yield %r : f32
  } -> tensor<32xf32>
  // exp_avg.lerp_(grad, 1 - beta1)
  %m1 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%m, %d : tensor<32xf32>, tensor<32xf32>) outs(%e : tensor<32xf32>) {
  ^bb0(%mi: f32, %di: f32, %o: f32):
    %w = arith.constant 0.1 : f32
    %x = arith.subf %di, %mi : f32
    %y = arith.mulf %w, %x : f32
    %r = arith.addf %mi, %y : f32
    linalg.yield %r : f32
  } -> tensor<32xf32>
  // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
  %v1 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%v, %d : tensor<32xf32>, tensor<32xf32>) outs(%e : tensor<32xf32>) {
  ^bb0(%vi: f32, %di: f32, %o: f32):
    %b2 = arith.constant 0.98 : f32
    %c2 = arith.constant 0.02 : f32
    %x = arith.mulf %vi, %b2 : f32
    %y = arith.mulf %di, %di : f32
    %z = arith.mulf %y, %c2 : f32
    %r = arith.addf %x, %z : f32
    linalg.yield %r : f32
  } -> tensor<32xf32>
  // step_size = lr / (1 - beta1^t); bc2_sqrt = sqrt(1 - beta2^t)
  %ss:2 = linalg.generic {indexing_maps = [#s0, #s0, #s0], iterator_types = []}
      ins(%t : tensor<f32>) outs(%e0, %e0 : tensor<f32>, tensor<f32>) {
  ^bb0(%ti: f32, %o0: f32, %o1: f32):
    %one = arith.constant 1.0 : f32
    %b1 = arith.constant 0.9 : f32
    %b2 = arith.constant 0.98 : f32
    %lr = arith.constant 1.0e-3 : f32
    %p1 = math.powf %b1, %ti : f32
    %bc1 = arith.subf %one, %p1 : f32
    %p2 = math.powf %b2, %ti : f32
    %bc2 = arith.subf %one, %p2 : f32
    %s = arith.divf %lr, %bc1 : f32
    %q = math.sqrt %bc2 : f32
    linalg.yield %s, %q : f32, f32
  } -> (tensor<f32>, tensor<f32>)
  // denom = sqrt(exp_avg_sq) / bc2_sqrt + eps; param.addcdiv_(exp_avg, denom, -step_size)
  %p1 = linalg.generic {indexing_maps = [#id, #id, #id, #sc, #sc, #id],
                        iterator_types = ["parallel"]}
      ins(%p, %m1, %v1, %ss#0, %ss#1 : tensor<32xf32>, tensor<32xf32>, tensor<32xf32>,
          tensor<f32>, tensor<f32>) outs(%e : tensor<32xf32>) {
  ^bb0(%pi: f32, %mi: f32, %vi: f32, %s: f32, %q: f32, %o: f32):
    %eps = arith.constant 1.0e-8 : f32
    %r = math.sqrt %vi : f32
    %x = arith.divf %r, %q : f32
    %den = arith.addf %x, %eps : f32
    %u = arith.divf %mi, %den : f32
    %ns = arith.negf %s : f32
    %y = arith.mulf %u, %ns : f32
    %n = arith.addf %pi, %y : f32
    linalg.yield %n : f32
  } -> tensor<32xf32>
  return %p1, %m1, %v1, %t : tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<f32>
}

// -----

// AdamW with amsgrad fused into one generic with four results (an XLA-style
// fusion); the step t (count after the step, i64) and lr, wd are scalar
// arguments; the textbook m_hat / v_hat form.
// CHECK-LABEL: func.func @adamw_fused_amsgrad
// CHECK: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK: %[[T0:.*]] = arith.subi %arg5, %[[ONE]] : i64
// CHECK: %[[TT:.*]] = tensor.from_elements %[[T0]] : tensor<i64>
// CHECK: %[[P1:.*]], %[[M:.*]]:3, %{{.*}} = gs.optimizer_step #gs.adamw<amsgrad = true> param(%arg0 : tensor<4x4xf32>) grad(%{{.*}}) moments(%arg2, %arg3, %arg4 : tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) step(%[[TT]]) lr(%{{.*}}) weight_decay(%{{.*}})
// CHECK: return %[[P1]], %[[M]]#0, %[[M]]#1, %[[M]]#2,
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @adamw_fused_amsgrad(%p: tensor<4x4xf32>, %g: tensor<4x4xf32>, %m: tensor<4x4xf32>,
                               %v: tensor<4x4xf32>, %vmax: tensor<4x4xf32>, %t: i64,
                               %lr: f32, %wd: f32)
    -> (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) {
  %e = tensor.empty() : tensor<4x4xf32>
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
      ins(%p, %g, %m, %v, %vmax : tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>,
          tensor<4x4xf32>, tensor<4x4xf32>)
      outs(%e, %e, %e, %e : tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) {
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
  } -> (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>)
  return %r#0, %r#1, %r#2, %r#3 : tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>
}
