// RUN: gs-opt %s -gs-inject-stabilization -split-input-file | FileCheck %s
// RUN: gs-opt %s -gs-inject -split-input-file | FileCheck %s --check-prefix=GROUP
// RUN: gs-opt %s -gs-inject-stabilization=explain -split-input-file 2>&1 \
// RUN: | FileCheck %s --check-prefix=EXPLAIN

// Adam(W) whose bias corrections are not `1 - beta^t` of a step counter the
// recognizer can re-derive: the step takes the graph's own values
// (`bias_corrections`), read where the graph computes them, and gets a
// constant step count it does not use.

// AdamW fused into one linalg.generic, bias corrections and lr as 0-d
// tensor operands (IREE dispatch formation, torch.compile).
// CHECK-LABEL: func.func @adamw_fused
// CHECK-DAG: %[[B1:.*]] = tensor.extract %arg4[] : tensor<f32>
// CHECK-DAG: %[[B1D:.*]] = arith.extf %[[B1]] : f32 to f64
// CHECK-DAG: %[[B2:.*]] = tensor.extract %arg5[] : tensor<f32>
// CHECK-DAG: %[[B2D:.*]] = arith.extf %[[B2]] : f32 to f64
// CHECK: gs.optimizer_step #gs.adamw<> param(%arg0 : tensor<16xf32>) grad(%{{.*}}) moments(%arg2, %arg3 : tensor<16xf32>, tensor<16xf32>) step(%{{.*}}) lr(%{{.*}}) weight_decay(%{{.*}}) bias_corrections(%[[B1D]], %[[B2D]]) enabled(%{{.*}})
// GROUP-LABEL: func.func @adamw_fused
// GROUP: gs.group_step #gs.adamw<> params(%arg0 : tensor<16xf32>) grads(%arg1 : tensor<16xf32>) {{.*}} bias_corrections(%{{.*}}, %{{.*}})
// GROUP-NOT: linalg.generic
// GROUP: return
#id = affine_map<(d0) -> (d0)>
#sc = affine_map<(d0) -> ()>
func.func @adamw_fused(%p: tensor<16xf32>, %g: tensor<16xf32>, %m: tensor<16xf32>,
                       %v: tensor<16xf32>, %bc1: tensor<f32>, %bc2: tensor<f32>,
                       %lr: tensor<f32>)
    -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
  %e = tensor.empty() : tensor<16xf32>
  %r:3 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #sc, #sc, #sc, #id, #id, #id],
                         iterator_types = ["parallel"]}
      ins(%p, %g, %m, %v, %bc1, %bc2, %lr : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<f32>, tensor<f32>, tensor<f32>)
      outs(%e, %e, %e : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) {
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
  } -> (tensor<16xf32>, tensor<16xf32>, tensor<16xf32>)
  return %r#0, %r#1, %r#2 : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
}

// -----

// torch clip_grad_norm_ (run-time max norm) then Adam in tensor arith, the
// bias corrections scalar arguments: the clip is replaced by the
// stabilizer, the bias corrections are the arguments.
// CHECK-LABEL: func.func @clip_adam
// CHECK-NOT: linalg.reduce
// CHECK-DAG: %[[B1:.*]] = arith.extf %arg4 : f32 to f64
// CHECK-DAG: %[[B2:.*]] = arith.extf %arg5 : f32 to f64
// CHECK: gs.optimizer_step #gs.adam<> param(%arg0 : tensor<8xf32>) {{.*}} bias_corrections(%[[B1]], %[[B2]]) enabled(%{{.*}})
// GROUP-LABEL: func.func @clip_adam
// GROUP: gs.group_step #gs.adam<> params(%arg0 : tensor<8xf32>) grads(%arg1 : tensor<8xf32>) {{.*}} bias_corrections(%{{.*}}, %{{.*}})
func.func @clip_adam(%p: tensor<8xf32>, %g: tensor<8xf32>, %m: tensor<8xf32>,
                     %v: tensor<8xf32>, %bc1: f32, %bc2: f32, %maxn: f32)
    -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %zero = arith.constant dense<0.0> : tensor<f32>
  %sq = arith.mulf %g, %g : tensor<8xf32>
  %sum = linalg.reduce ins(%sq : tensor<8xf32>) outs(%zero : tensor<f32>) dimensions = [0]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  %s0 = tensor.extract %sum[] : tensor<f32>
  %norm = math.sqrt %s0 : f32
  %eps6 = arith.constant 1.0e-6 : f32
  %np = arith.addf %norm, %eps6 : f32
  %ratio = arith.divf %maxn, %np : f32
  %one = arith.constant 1.0 : f32
  %f = arith.minimumf %ratio, %one : f32
  %fs = tensor.splat %f : tensor<8xf32>
  %gc = arith.mulf %g, %fs : tensor<8xf32>
  %b1 = arith.constant dense<0.9> : tensor<8xf32>
  %c1 = arith.constant dense<0.1> : tensor<8xf32>
  %b2 = arith.constant dense<0.999> : tensor<8xf32>
  %c2 = arith.constant dense<0.001> : tensor<8xf32>
  %m0 = arith.mulf %b1, %m : tensor<8xf32>
  %m1 = arith.mulf %c1, %gc : tensor<8xf32>
  %mn = arith.addf %m0, %m1 : tensor<8xf32>
  %v0 = arith.mulf %b2, %v : tensor<8xf32>
  %gg = arith.mulf %gc, %gc : tensor<8xf32>
  %v1 = arith.mulf %c2, %gg : tensor<8xf32>
  %vn = arith.addf %v0, %v1 : tensor<8xf32>
  %bc1s = tensor.splat %bc1 : tensor<8xf32>
  %bc2s = tensor.splat %bc2 : tensor<8xf32>
  %mh = arith.divf %mn, %bc1s : tensor<8xf32>
  %vh = arith.divf %vn, %bc2s : tensor<8xf32>
  %sqv = math.sqrt %vh : tensor<8xf32>
  %eps = arith.constant dense<1.0e-8> : tensor<8xf32>
  %den = arith.addf %sqv, %eps : tensor<8xf32>
  %u = arith.divf %mh, %den : tensor<8xf32>
  %lr = arith.constant dense<1.0e-3> : tensor<8xf32>
  %s = arith.mulf %lr, %u : tensor<8xf32>
  %pn = arith.subf %p, %s : tensor<8xf32>
  return %pn, %mn, %vn : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// optax / IREE: the count is an i32 `safe_increment` (select(t < max, t + 1,
// max)), the bias corrections `1 - beta^count` in f32 0-d generics, the
// update `p + (-lr) * (m_hat / (sqrt(v_hat) + eps))`. The step reads the
// graph's 0-d bias corrections; under skip the returned count keeps its old
// value (spec section 3).
// CHECK-LABEL: func.func @optax_adam
// CHECK: %[[BC1:.*]]:2 = linalg.generic
// CHECK-DAG: %[[E1:.*]] = tensor.extract %[[BC1]]#0[] : tensor<f32>
// CHECK-DAG: %[[E2:.*]] = tensor.extract %[[BC1]]#1[] : tensor<f32>
// CHECK-DAG: %[[D1:.*]] = arith.extf %[[E1]] : f32 to f64
// CHECK-DAG: %[[D2:.*]] = arith.extf %[[E2]] : f32 to f64
// CHECK: %{{.*}}, %{{.*}}, %{{.*}}, %[[OK:.*]] = gs.stabilize %arg1
// CHECK: %{{.*}}, %{{.*}}:2, %[[NS:.*]] = gs.optimizer_step #gs.adam<beta1 = 0.8> param(%arg0 : tensor<4xf32>) {{.*}} step(%[[S:.*]]) lr({{.*}} bias_corrections(%[[D1]], %[[D2]]) enabled(%[[OK]])
// Whether it stepped is read from the step count, so that step_ok only
// gates the step (gs-form-group-steps then fuses the chain).
// CHECK: %[[S0:.*]] = tensor.extract %[[S]][] : tensor<i64>
// CHECK: %[[S1:.*]] = tensor.extract %[[NS]][] : tensor<i64>
// CHECK: %[[STEPPED:.*]] = arith.cmpi ne, %[[S1]], %[[S0]] : i64
// CHECK: %[[NEW:.*]] = tensor.extract %[[COUNT:.*]][] : tensor<i32>
// CHECK: %[[OLD:.*]] = tensor.extract %arg2[] : tensor<i32>
// CHECK: %[[SEL:.*]] = arith.select %[[STEPPED]], %[[NEW]], %[[OLD]] : i32
// CHECK: %[[KEPT:.*]] = tensor.from_elements %[[SEL]] : tensor<i32>
// CHECK: return %{{.*}}, %[[KEPT]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<4xf32>, tensor<i32>,
// GROUP-LABEL: func.func @optax_adam
// GROUP: gs.group_step #gs.adam<beta1 = 0.8> params(%arg0 : tensor<4xf32>) {{.*}} bias_corrections(%{{.*}}, %{{.*}})
#s0 = affine_map<() -> ()>
#sc = affine_map<(d0) -> ()>
#v = affine_map<(d0) -> (d0)>
func.func @optax_adam(%p: tensor<4xf32>, %g: tensor<4xf32>, %count: tensor<i32>,
                      %mu: tensor<4xf32>, %nu: tensor<4xf32>)
    -> (tensor<4xf32>, tensor<i32>, tensor<4xf32>, tensor<4xf32>) {
  %e0 = tensor.empty() : tensor<i32>
  %ef = tensor.empty() : tensor<f32>
  %e = tensor.empty() : tensor<4xf32>
  %c = linalg.generic {indexing_maps = [#s0, #s0], iterator_types = []}
      ins(%count : tensor<i32>) outs(%e0 : tensor<i32>) {
  ^bb0(%t: i32, %o: i32):
    %max = arith.constant 2147483647 : i32
    %one = arith.constant 1 : i32
    %lt = arith.cmpi slt, %t, %max : i32
    %t1 = arith.addi %t, %one : i32
    %r = arith.select %lt, %t1, %max : i32
    linalg.yield %r : i32
  } -> tensor<i32>
  %bc:2 = linalg.generic {indexing_maps = [#s0, #s0, #s0], iterator_types = []}
      ins(%c : tensor<i32>) outs(%ef, %ef : tensor<f32>, tensor<f32>) {
  ^bb0(%t: i32, %o0: f32, %o1: f32):
    %one = arith.constant 1.0 : f32
    %b1 = arith.constant 0.8 : f32
    %b2 = arith.constant 0.999 : f32
    %tf = arith.sitofp %t : i32 to f32
    %p1 = math.powf %b1, %tf : f32
    %bc1 = arith.subf %one, %p1 : f32
    %p2 = math.powf %b2, %tf : f32
    %bc2 = arith.subf %one, %p2 : f32
    linalg.yield %bc1, %bc2 : f32, f32
  } -> (tensor<f32>, tensor<f32>)
  %r:3 = linalg.generic {indexing_maps = [#v, #v, #v, #v, #sc, #sc, #v, #v, #v],
                         iterator_types = ["parallel"]}
      ins(%p, %g, %mu, %nu, %bc#0, %bc#1 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f32>, tensor<f32>)
      outs(%e, %e, %e : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  ^bb0(%pi: f32, %gi: f32, %mi: f32, %vi: f32, %b1: f32, %b2: f32, %o0: f32, %o1: f32, %o2: f32):
    %beta1 = arith.constant 0.8 : f32
    %omb1 = arith.constant 0.2 : f32
    %beta2 = arith.constant 0.999 : f32
    %omb2 = arith.constant 0.001 : f32
    %eps = arith.constant 1.0e-8 : f32
    %nlr = arith.constant -1.0e-3 : f32
    %m0 = arith.mulf %gi, %omb1 : f32
    %m1 = arith.mulf %mi, %beta1 : f32
    %mn = arith.addf %m0, %m1 : f32
    %gg = arith.mulf %gi, %gi : f32
    %v0 = arith.mulf %gg, %omb2 : f32
    %v1 = arith.mulf %vi, %beta2 : f32
    %vn = arith.addf %v0, %v1 : f32
    %mh = arith.divf %mn, %b1 : f32
    %vh = arith.divf %vn, %b2 : f32
    %sq = math.sqrt %vh : f32
    %den = arith.addf %sq, %eps : f32
    %u = arith.divf %mh, %den : f32
    %s = arith.mulf %u, %nlr : f32
    %pn = arith.addf %pi, %s : f32
    linalg.yield %pn, %mn, %vn : f32, f32, f32
  } -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  return %r#0, %c, %r#1, %r#2 : tensor<4xf32>, tensor<i32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// torch-mlir's torch.optim.Adam: an f64 step counter, the bias corrections
// as `sitofp(1) - powf(beta, t + 1)` and sqrt(bc2) as `powf(bc2, 0.5)`.
// Both are `1 - beta^t` of the counter, so the gs step re-derives them from
// it: no bias_corrections, the step count is the counter.
// CHECK-LABEL: func.func @torch_mlir_counter
// CHECK: %[[T:.*]] = tensor.extract %arg4[] : tensor<f64>
// CHECK: %[[TI:.*]] = arith.fptosi %[[T]] : f64 to i64
// CHECK: %[[TT:.*]] = tensor.from_elements %[[TI]] : tensor<i64>
// CHECK: gs.optimizer_step #gs.adam<> param(%arg0 : tensor<4xf32>) {{.*}} step(%[[TT]]) lr(%{{.*}}) weight_decay(%{{.*}}) enabled(
#s0 = affine_map<() -> ()>
#sc = affine_map<(d0) -> ()>
#v = affine_map<(d0) -> (d0)>
func.func @torch_mlir_counter(%p: tensor<4xf32>, %g: tensor<4xf32>, %m: tensor<4xf32>,
                              %v: tensor<4xf32>, %step: tensor<f64>)
    -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f64>) {
  %ed = tensor.empty() : tensor<f64>
  %e = tensor.empty() : tensor<4xf32>
  %one_i = arith.constant dense<1> : tensor<i64>
  %t = linalg.generic {indexing_maps = [#s0, #s0], iterator_types = []}
      ins(%step : tensor<f64>) outs(%ed : tensor<f64>) {
  ^bb0(%in: f64, %o: f64):
    %one = arith.constant 1.0 : f64
    %r = arith.addf %in, %one : f64
    linalg.yield %r : f64
  } -> tensor<f64>
  %bcs:2 = linalg.generic {indexing_maps = [#s0, #s0, #s0, #s0], iterator_types = []}
      ins(%one_i, %t : tensor<i64>, tensor<f64>) outs(%ed, %ed : tensor<f64>, tensor<f64>) {
  ^bb0(%i1: i64, %ti: f64, %o0: f64, %o1: f64):
    %b1 = arith.constant 0.9 : f64
    %b2 = arith.constant 0.999 : f64
    %half = arith.constant 0.5 : f64
    %lr = arith.constant 1.0e-3 : f64
    %one = arith.sitofp %i1 : i64 to f64
    %p1 = math.powf %b1, %ti : f64
    %bc1 = arith.subf %one, %p1 : f64
    %ss = arith.divf %lr, %bc1 : f64
    %p2 = math.powf %b2, %ti : f64
    %bc2 = arith.subf %one, %p2 : f64
    %r2 = math.powf %bc2, %half : f64
    linalg.yield %ss, %r2 : f64, f64
  } -> (tensor<f64>, tensor<f64>)
  %r:3 = linalg.generic {indexing_maps = [#v, #v, #v, #v, #sc, #sc, #v, #v, #v],
                         iterator_types = ["parallel"]}
      ins(%p, %g, %m, %v, %bcs#0, %bcs#1 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f64>, tensor<f64>)
      outs(%e, %e, %e : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  ^bb0(%pi: f32, %gi: f32, %mi: f32, %vi: f32, %ssd: f64, %r2d: f64, %o0: f32, %o1: f32, %o2: f32):
    %beta1 = arith.constant 0.9 : f32
    %omb1 = arith.constant 0.1 : f32
    %beta2 = arith.constant 0.999 : f32
    %omb2 = arith.constant 0.001 : f32
    %eps = arith.constant 1.0e-8 : f32
    %ss = arith.truncf %ssd : f64 to f32
    %r2 = arith.truncf %r2d : f64 to f32
    %m0 = arith.mulf %mi, %beta1 : f32
    %m1 = arith.mulf %gi, %omb1 : f32
    %mn = arith.addf %m0, %m1 : f32
    %v0 = arith.mulf %vi, %beta2 : f32
    %gg = arith.mulf %gi, %gi : f32
    %v1 = arith.mulf %gg, %omb2 : f32
    %vn = arith.addf %v0, %v1 : f32
    %sq = math.sqrt %vn : f32
    %x = arith.divf %sq, %r2 : f32
    %den = arith.addf %x, %eps : f32
    %u = arith.divf %mn, %den : f32
    %s = arith.mulf %ss, %u : f32
    %pn = arith.subf %pi, %s : f32
    linalg.yield %pn, %mn, %vn : f32, f32, f32
  } -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  return %r#0, %r#1, %r#2, %t : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f64>
}

// -----

// A bias correction with a run-time beta (the moments' betas are
// constants): not `1 - beta^t` of known betas, so the step takes the
// values, computed inside the update's body: re-emitted in f64 from the
// scalar arithmetic of the function.
// CHECK-LABEL: func.func @runtime_beta_bias_correction
// CHECK: %[[B:.*]] = arith.extf %arg5 : f32 to f64
// CHECK: %[[T:.*]] = arith.extf %arg4 : f32 to f64
// CHECK: %[[P:.*]] = math.powf %[[B]], %[[T]] : f64
// CHECK: %[[BC1:.*]] = arith.subf %{{.*}}, %[[P]] : f64
// CHECK: gs.optimizer_step #gs.adam<> {{.*}} bias_corrections(%[[BC1]], %{{.*}})
#v = affine_map<(d0) -> (d0)>
func.func @runtime_beta_bias_correction(%p: tensor<8xf32>, %g: tensor<8xf32>,
                                        %m: tensor<8xf32>, %v: tensor<8xf32>,
                                        %t: f32, %b: f32)
    -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8xf32>
  %r:3 = linalg.generic {indexing_maps = [#v, #v, #v, #v, #v, #v, #v], iterator_types = ["parallel"]}
      ins(%p, %g, %m, %v : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
      outs(%e, %e, %e : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  ^bb0(%pi: f32, %gi: f32, %mi: f32, %vi: f32, %o0: f32, %o1: f32, %o2: f32):
    %one = arith.constant 1.0 : f32
    %pw = math.powf %b, %t : f32
    %bc1 = arith.subf %one, %pw : f32
    %b2c = arith.constant 0.999 : f32
    %pw2 = math.powf %b2c, %t : f32
    %bc2 = arith.subf %one, %pw2 : f32
    %beta1 = arith.constant 0.9 : f32
    %omb1 = arith.constant 0.1 : f32
    %beta2 = arith.constant 0.999 : f32
    %omb2 = arith.constant 0.001 : f32
    %lr = arith.constant 0.001 : f32
    %eps = arith.constant 1.0e-8 : f32
    %ma = arith.mulf %beta1, %mi : f32
    %mb = arith.mulf %omb1, %gi : f32
    %m1 = arith.addf %ma, %mb : f32
    %g2 = arith.mulf %gi, %gi : f32
    %va = arith.mulf %beta2, %vi : f32
    %vb = arith.mulf %omb2, %g2 : f32
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

// A divisor of the step size that reads the gradient's norm (a clip written
// as lr / max(norm, 1)) is not taken for a bias correction, even where the
// step has no other divisor: the update is left to gradient-level
// stabilization.
// CHECK-LABEL: func.func @norm_divisor
// CHECK-NOT: gs.optimizer_step
// EXPLAIN: remark: result #0 not rewritten: the gradient is clipped in a form the optimizer recognizers do not take
func.func @norm_divisor(%p: tensor<8xf32>, %g: tensor<8xf32>, %m: tensor<8xf32>,
                        %v: tensor<8xf32>, %bc2: f32)
    -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %zero = arith.constant dense<0.0> : tensor<f32>
  %sq = arith.mulf %g, %g : tensor<8xf32>
  %sum = linalg.reduce ins(%sq : tensor<8xf32>) outs(%zero : tensor<f32>) dimensions = [0]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  %s0 = tensor.extract %sum[] : tensor<f32>
  %norm = math.sqrt %s0 : f32
  %one = arith.constant 1.0 : f32
  %div = arith.maximumf %norm, %one : f32
  %b1 = arith.constant dense<0.9> : tensor<8xf32>
  %c1 = arith.constant dense<0.1> : tensor<8xf32>
  %b2 = arith.constant dense<0.999> : tensor<8xf32>
  %c2 = arith.constant dense<0.001> : tensor<8xf32>
  %m0 = arith.mulf %b1, %m : tensor<8xf32>
  %m1 = arith.mulf %c1, %g : tensor<8xf32>
  %mn = arith.addf %m0, %m1 : tensor<8xf32>
  %v0 = arith.mulf %b2, %v : tensor<8xf32>
  %gg = arith.mulf %g, %g : tensor<8xf32>
  %v1 = arith.mulf %c2, %gg : tensor<8xf32>
  %vn = arith.addf %v0, %v1 : tensor<8xf32>
  %bc2s = tensor.splat %bc2 : tensor<8xf32>
  %vh = arith.divf %vn, %bc2s : tensor<8xf32>
  %sqv = math.sqrt %vh : tensor<8xf32>
  %eps = arith.constant dense<1.0e-8> : tensor<8xf32>
  %den = arith.addf %sqv, %eps : tensor<8xf32>
  %u = arith.divf %mn, %den : tensor<8xf32>
  %lr = arith.constant dense<1.0e-3> : tensor<8xf32>
  %divs = tensor.splat %div : tensor<8xf32>
  %lu = arith.mulf %lr, %u : tensor<8xf32>
  %s = arith.divf %lu, %divs : tensor<8xf32>
  %pn = arith.subf %p, %s : tensor<8xf32>
  return %pn, %mn, %vn : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}
