// RUN: gs-opt %s -split-input-file -gs-stabilize-gradients | FileCheck %s
// RUN: gs-opt %s -split-input-file -gs-stabilize-gradients="clip=keep" | FileCheck %s --check-prefix=KEEP
// RUN: gs-opt %s -split-input-file -gs-stabilize-gradients="on-nonfinite=zero" | FileCheck %s --check-prefix=ZERO

// AdamW fused into one linalg.generic, bias corrections as 0-d tensor
// operands (IREE dispatch formation, torch.compile): no recognizer can
// derive the step count. The gradient is stabilized in place and under skip
// the parameter and both moments keep their old values: the generic writes
// into them and yields a select (no extra pass over memory).
// CHECK-LABEL: func.func @adamw_fused
// CHECK-SAME: %[[P:arg0]]: tensor<16xf32>, %[[G:arg1]]: tensor<16xf32>, %[[M:arg2]]: tensor<16xf32>, %[[V:arg3]]: tensor<16xf32>
// CHECK-SAME: %[[ST:arg7]]: tensor<2xf64> {gs.param = 0 : i64, gs.state = "stats"}, %[[CT:arg8]]: tensor<2xi64> {gs.param = 0 : i64, gs.state = "counts"}
// CHECK: %[[N:[a-z0-9_#]+]] = gs.grad_norm %[[G]] : tensor<16xf32>
// CHECK: %[[S:[a-z0-9_#]+]], %[[NS:[a-z0-9_#]+]], %[[NC:[a-z0-9_#]+]], %[[OK:[a-z0-9_#]+]] = gs.stabilize %[[G]], %[[N]], %[[ST]], %[[CT]]
// CHECK: %[[R:[a-z0-9_#]+]]:3 = linalg.generic {{.*}} ins(%[[P]], %[[S]], %[[M]], %[[V]], %arg4, %arg5, %arg6 : {{.*}} outs(%[[P]], %[[M]], %[[V]] :
// CHECK: ^bb0({{.*}}, %[[OP:[a-z0-9_]+]]: f32, %[[OM:[a-z0-9_]+]]: f32, %[[OV:[a-z0-9_]+]]: f32):
// CHECK: %[[SP:[a-z0-9_]+]] = arith.select %[[OK]], %{{.*}}, %[[OP]] : f32
// CHECK: %[[SM:[a-z0-9_]+]] = arith.select %[[OK]], %{{.*}}, %[[OM]] : f32
// CHECK: %[[SV:[a-z0-9_]+]] = arith.select %[[OK]], %{{.*}}, %[[OV]] : f32
// CHECK: linalg.yield %[[SP]], %[[SM]], %[[SV]]
// CHECK: return %[[R]]#0, %[[R]]#1, %[[R]]#2, %[[NS]], %[[NC]]
// ZERO-LABEL: func.func @adamw_fused
// ZERO: gs.stabilize #gs.stabilizer<on_nonfinite = zero>
// ZERO-NOT: arith.select
// ZERO: return
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

// torch clip_grad_norm_ (run-time max norm %arg6) then Adam in tensor arith
// with bias corrections as scalar arguments. clip=replace drops the clip
// (its norm reduction is erased), clip=keep stabilizes the clipped
// gradient.
// CHECK-LABEL: func.func @clip_adam
// CHECK-NOT: linalg.reduce
// CHECK: %[[N:[a-z0-9_#]+]] = gs.grad_norm %arg1
// CHECK: %[[S:[a-z0-9_#]+]], {{.*}} = gs.stabilize %arg1, %[[N]], %arg7, %arg8
// CHECK: arith.mulf %{{.*}}, %[[S]] : tensor<8xf32>
// CHECK: arith.mulf %[[S]], %[[S]] : tensor<8xf32>
// KEEP-LABEL: func.func @clip_adam
// KEEP: linalg.reduce
// KEEP: %[[C:[a-z0-9_#]+]] = arith.minimumf %{{.*}} : f64
// KEEP: %[[CF:[a-z0-9_#]+]] = arith.truncf %[[C]] : f64 to f32
// KEEP: %[[F:[a-z0-9_#]+]] = linalg.fill ins(%[[CF]] : f32)
// KEEP: %[[GC:[a-z0-9_#]+]] = linalg.mul ins(%arg1, %[[F]] :
// KEEP: %[[N:[a-z0-9_#]+]] = gs.grad_norm %[[GC]]
// KEEP: %[[S:[a-z0-9_#]+]], {{.*}} = gs.stabilize %[[GC]], %[[N]]
// KEEP: arith.mulf %[[S]], %[[S]] : tensor<8xf32>
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

// torch Adagrad: the 0-d f32 step counter (t + 1) is state of the
// parameter and keeps its old value on a skipped step, like the sum.
// CHECK-LABEL: func.func @adagrad
// CHECK: %[[T:[a-z0-9_#]+]] = arith.addf %arg3, %{{.*}} : tensor<f32>
// CHECK: %[[S:[a-z0-9_#]+]], %[[NS:[a-z0-9_#]+]], %[[NC:[a-z0-9_#]+]], %[[OK:[a-z0-9_#]+]] = gs.stabilize %arg1
// CHECK: %[[OK0:[a-z0-9_#]+]] = tensor.from_elements %[[OK]]
// CHECK: linalg.generic {{.*}} outs(%arg0 : tensor<8xf32>)
// CHECK: linalg.generic {{.*}} outs(%arg2 : tensor<8xf32>)
// CHECK: %[[T1:[a-z0-9_#]+]] = linalg.generic {{.*}} ins(%[[T]], %[[OK0]] : tensor<f32>, tensor<i1>) outs(%arg3 : tensor<f32>)
// CHECK: return {{.*}}, {{.*}}, %[[T1]], %[[NS]], %[[NC]]

// RMSprop with a bf16 gradient and f32 master weights: the gradient is
// stabilized in its own type, before the widening.
// CHECK-LABEL: func.func @rmsprop_bf16
// CHECK: %[[S:[a-z0-9_#]+]], {{.*}} = gs.stabilize %arg1, %{{.*}} : tensor<4x4xbf16>
// CHECK: arith.extf %[[S]] : tensor<4x4xbf16> to tensor<4x4xf32>
func.func @adagrad(%p: tensor<8xf32>, %g: tensor<8xf32>, %sum: tensor<8xf32>, %step: tensor<f32>)
    -> (tensor<8xf32>, tensor<8xf32>, tensor<f32>) {
  %one0 = arith.constant dense<1.0> : tensor<f32>
  %t = arith.addf %step, %one0 : tensor<f32>
  %gg = arith.mulf %g, %g : tensor<8xf32>
  %s1 = arith.addf %sum, %gg : tensor<8xf32>
  %sq = math.sqrt %s1 : tensor<8xf32>
  %eps = arith.constant dense<1.0e-10> : tensor<8xf32>
  %den = arith.addf %sq, %eps : tensor<8xf32>
  %q = arith.divf %g, %den : tensor<8xf32>
  // clr = lr / (1 + (t - 1) * lr_decay), lr_decay = 0.01
  %tm1 = arith.subf %t, %one0 : tensor<f32>
  %ld = arith.constant dense<0.01> : tensor<f32>
  %x = arith.mulf %tm1, %ld : tensor<f32>
  %y = arith.addf %x, %one0 : tensor<f32>
  %lr = arith.constant dense<0.1> : tensor<f32>
  %clr = arith.divf %lr, %y : tensor<f32>
  %e = tensor.empty() : tensor<8xf32>
  %clrb = linalg.broadcast ins(%clr : tensor<f32>) outs(%e : tensor<8xf32>) dimensions = [0]
  %u = arith.mulf %clrb, %q : tensor<8xf32>
  %pn = arith.subf %p, %u : tensor<8xf32>
  return %pn, %s1, %t : tensor<8xf32>, tensor<8xf32>, tensor<f32>
}
func.func @rmsprop_bf16(%p: tensor<4x4xf32>, %gb: tensor<4x4xbf16>, %v: tensor<4x4xf32>)
    -> (tensor<4x4xf32>, tensor<4x4xf32>) {
  %g = arith.extf %gb : tensor<4x4xbf16> to tensor<4x4xf32>
  %a = arith.constant dense<0.99> : tensor<4x4xf32>
  %c = arith.constant dense<0.01> : tensor<4x4xf32>
  %v0 = arith.mulf %a, %v : tensor<4x4xf32>
  %gg = arith.mulf %g, %g : tensor<4x4xf32>
  %v1 = arith.mulf %c, %gg : tensor<4x4xf32>
  %vn = arith.addf %v0, %v1 : tensor<4x4xf32>
  %sq = math.sqrt %vn : tensor<4x4xf32>
  %eps = arith.constant dense<1.0e-8> : tensor<4x4xf32>
  %den = arith.addf %sq, %eps : tensor<4x4xf32>
  %q = arith.divf %g, %den : tensor<4x4xf32>
  %lr = arith.constant dense<0.01> : tensor<4x4xf32>
  %u = arith.mulf %lr, %q : tensor<4x4xf32>
  %pn = arith.subf %p, %u : tensor<4x4xf32>
  return %pn, %vn : tensor<4x4xf32>, tensor<4x4xf32>
}

// -----

// optax: clip_by_global_norm (select form, run-time max norm) and adam on
// two leaves sharing one int32 count (safe_increment): the count advances
// when either leaf stepped.
// CHECK-LABEL: func.func @optax_adam
// CHECK-NOT: linalg.reduce
// CHECK-DAG: %[[S0:[a-z0-9_#]+]], %{{.*}}, %{{.*}}, %[[OK0:[a-z0-9_#]+]] = gs.stabilize %arg2
// CHECK-DAG: %[[S1:[a-z0-9_#]+]], %{{.*}}, %{{.*}}, %[[OK1:[a-z0-9_#]+]] = gs.stabilize %arg3
// CHECK: %[[ANY:[a-z0-9_#]+]] = arith.ori %[[OK0]], %[[OK1]] : i1
// CHECK: %[[ANY0:[a-z0-9_#]+]] = tensor.from_elements %[[ANY]]
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[ANY0]] : tensor<i32>, tensor<i1>) outs(%arg8 : tensor<i32>)
// KEEP-LABEL: func.func @optax_adam
// KEEP: arith.cmpf olt, %{{.*}}, %{{.*}} : f64
// KEEP: arith.select %{{.*}}, %{{.*}}, %{{.*}} : f64
// KEEP: gs.grad_norm
func.func @optax_adam(%p0: tensor<4xf32>, %p1: tensor<2xf32>, %g0: tensor<4xf32>, %g1: tensor<2xf32>,
                      %m0: tensor<4xf32>, %m1: tensor<2xf32>, %v0: tensor<4xf32>, %v1: tensor<2xf32>,
                      %count: tensor<i32>, %c: tensor<f32>)
    -> (tensor<4xf32>, tensor<2xf32>, tensor<4xf32>, tensor<2xf32>, tensor<4xf32>, tensor<2xf32>, tensor<i32>) {
  %zero = arith.constant dense<0.0> : tensor<f32>
  %sq0 = arith.mulf %g0, %g0 : tensor<4xf32>
  %ssq0 = linalg.reduce ins(%sq0 : tensor<4xf32>) outs(%zero : tensor<f32>) dimensions = [0]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  %sq1 = arith.mulf %g1, %g1 : tensor<2xf32>
  %ssq1 = linalg.reduce ins(%sq1 : tensor<2xf32>) outs(%zero : tensor<f32>) dimensions = [0]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  %ss = arith.addf %ssq0, %ssq1 : tensor<f32>
  %norm = math.sqrt %ss : tensor<f32>
  %trig = arith.cmpf olt, %norm, %c : tensor<f32>
  %trig_s = tensor.extract %trig[] : tensor<i1>
  %norm_s = tensor.extract %norm[] : tensor<f32>
  %c_s = tensor.extract %c[] : tensor<f32>
  %one = arith.constant dense<1> : tensor<i32>
  %max = arith.constant dense<2147483647> : tensor<i32>
  %inc = arith.addi %count, %one : tensor<i32>
  %lt = arith.cmpi slt, %count, %max : tensor<i32>
  %cnt = arith.select %lt, %inc, %max : tensor<i1>, tensor<i32>
  %cf = arith.sitofp %cnt : tensor<i32> to tensor<f32>
  %b1 = arith.constant dense<0.9> : tensor<f32>
  %b2 = arith.constant dense<0.999> : tensor<f32>
  %onef = arith.constant dense<1.0> : tensor<f32>
  %pw1 = math.powf %b1, %cf : tensor<f32>
  %bc1 = arith.subf %onef, %pw1 : tensor<f32>
  %pw2 = math.powf %b2, %cf : tensor<f32>
  %bc2 = arith.subf %onef, %pw2 : tensor<f32>
  %bc1_s = tensor.extract %bc1[] : tensor<f32>
  %bc2_s = tensor.extract %bc2[] : tensor<f32>
  %n0 = tensor.splat %norm_s : tensor<4xf32>
  %c0 = tensor.splat %c_s : tensor<4xf32>
  %q0 = arith.divf %g0, %n0 : tensor<4xf32>
  %r0 = arith.mulf %q0, %c0 : tensor<4xf32>
  %cg0 = arith.select %trig_s, %g0, %r0 : tensor<4xf32>
  %b1_0 = arith.constant dense<0.9> : tensor<4xf32>
  %a1_0 = arith.constant dense<0.1> : tensor<4xf32>
  %b2_0 = arith.constant dense<0.999> : tensor<4xf32>
  %a2_0 = arith.constant dense<0.001> : tensor<4xf32>
  %mm0 = arith.mulf %b1_0, %m0 : tensor<4xf32>
  %mg0 = arith.mulf %a1_0, %cg0 : tensor<4xf32>
  %mn0 = arith.addf %mm0, %mg0 : tensor<4xf32>
  %vv0 = arith.mulf %b2_0, %v0 : tensor<4xf32>
  %gg0 = arith.mulf %cg0, %cg0 : tensor<4xf32>
  %vg0 = arith.mulf %a2_0, %gg0 : tensor<4xf32>
  %vn0 = arith.addf %vv0, %vg0 : tensor<4xf32>
  %bc1b0 = tensor.splat %bc1_s : tensor<4xf32>
  %bc2b0 = tensor.splat %bc2_s : tensor<4xf32>
  %mh0 = arith.divf %mn0, %bc1b0 : tensor<4xf32>
  %vh0 = arith.divf %vn0, %bc2b0 : tensor<4xf32>
  %sv0 = math.sqrt %vh0 : tensor<4xf32>
  %ep0 = arith.constant dense<1.0e-8> : tensor<4xf32>
  %de0 = arith.addf %sv0, %ep0 : tensor<4xf32>
  %u0 = arith.divf %mh0, %de0 : tensor<4xf32>
  %lr0 = arith.constant dense<1.0e-3> : tensor<4xf32>
  %s0 = arith.mulf %lr0, %u0 : tensor<4xf32>
  %pn0 = arith.subf %p0, %s0 : tensor<4xf32>
  %n1 = tensor.splat %norm_s : tensor<2xf32>
  %c1 = tensor.splat %c_s : tensor<2xf32>
  %q1 = arith.divf %g1, %n1 : tensor<2xf32>
  %r1 = arith.mulf %q1, %c1 : tensor<2xf32>
  %cg1 = arith.select %trig_s, %g1, %r1 : tensor<2xf32>
  %b1_1 = arith.constant dense<0.9> : tensor<2xf32>
  %a1_1 = arith.constant dense<0.1> : tensor<2xf32>
  %b2_1 = arith.constant dense<0.999> : tensor<2xf32>
  %a2_1 = arith.constant dense<0.001> : tensor<2xf32>
  %mm1 = arith.mulf %b1_1, %m1 : tensor<2xf32>
  %mg1 = arith.mulf %a1_1, %cg1 : tensor<2xf32>
  %mn1 = arith.addf %mm1, %mg1 : tensor<2xf32>
  %vv1 = arith.mulf %b2_1, %v1 : tensor<2xf32>
  %gg1 = arith.mulf %cg1, %cg1 : tensor<2xf32>
  %vg1 = arith.mulf %a2_1, %gg1 : tensor<2xf32>
  %vn1 = arith.addf %vv1, %vg1 : tensor<2xf32>
  %bc1b1 = tensor.splat %bc1_s : tensor<2xf32>
  %bc2b1 = tensor.splat %bc2_s : tensor<2xf32>
  %mh1 = arith.divf %mn1, %bc1b1 : tensor<2xf32>
  %vh1 = arith.divf %vn1, %bc2b1 : tensor<2xf32>
  %sv1 = math.sqrt %vh1 : tensor<2xf32>
  %ep1 = arith.constant dense<1.0e-8> : tensor<2xf32>
  %de1 = arith.addf %sv1, %ep1 : tensor<2xf32>
  %u1 = arith.divf %mh1, %de1 : tensor<2xf32>
  %lr1 = arith.constant dense<1.0e-3> : tensor<2xf32>
  %s1 = arith.mulf %lr1, %u1 : tensor<2xf32>
  %pn1 = arith.subf %p1, %s1 : tensor<2xf32>
  return %pn0, %pn1, %mn0, %mn1, %vn0, %vn1, %cnt : tensor<4xf32>, tensor<2xf32>, tensor<4xf32>, tensor<2xf32>, tensor<4xf32>, tensor<2xf32>, tensor<i32>
}

// -----

// TF clip_by_norm (guarded root of the sum of squares) in front of SGD.
// CHECK-LABEL: func.func @tf_clip_sgd
// CHECK-NOT: linalg.reduce
// CHECK: %[[S:[a-z0-9_#]+]], {{.*}} = gs.stabilize %arg1
// CHECK: arith.mulf %{{.*}}, %[[S]] : tensor<8xf32>
// KEEP-LABEL: func.func @tf_clip_sgd
// KEEP: linalg.reduce
// KEEP: arith.cmpf ogt, %{{.*}}, %{{.*}} : f64
// KEEP: arith.maximumf %{{.*}}, %{{.*}} : f64
// KEEP: %[[GC:[a-z0-9_]+]] = linalg.mul ins(%arg1,
// KEEP: gs.stabilize %[[GC]]
func.func @tf_clip_sgd(%p: tensor<8xf32>, %g: tensor<8xf32>) -> tensor<8xf32> {
  %zero = arith.constant dense<0.0> : tensor<f32>
  %sq = arith.mulf %g, %g : tensor<8xf32>
  %sum = linalg.reduce ins(%sq : tensor<8xf32>) outs(%zero : tensor<f32>) dimensions = [0]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  %pos = arith.cmpf ogt, %sum, %zero : tensor<f32>
  %onez = arith.constant dense<1.0> : tensor<f32>
  %safe = arith.select %pos, %sum, %onez : tensor<i1>, tensor<f32>
  %root = math.sqrt %safe : tensor<f32>
  %l2 = arith.select %pos, %root, %sum : tensor<i1>, tensor<f32>
  %cn = arith.constant dense<1.0> : tensor<f32>
  %mx = arith.maximumf %l2, %cn : tensor<f32>
  %e = tensor.empty() : tensor<8xf32>
  %mxb = linalg.broadcast ins(%mx : tensor<f32>) outs(%e : tensor<8xf32>) dimensions = [0]
  %cnb = arith.constant dense<1.0> : tensor<8xf32>
  %gc0 = arith.mulf %g, %cnb : tensor<8xf32>
  %gc = arith.divf %gc0, %mxb : tensor<8xf32>
  %lr = arith.constant dense<0.1> : tensor<8xf32>
  %u = arith.mulf %lr, %gc : tensor<8xf32>
  %pn = arith.subf %p, %u : tensor<8xf32>
  return %pn : tensor<8xf32>
}
