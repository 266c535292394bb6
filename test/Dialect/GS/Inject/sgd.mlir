// RUN: gs-opt %s -gs-inject-stabilization -split-input-file | FileCheck %s

// torch-mlir style: one named linalg op per operation, lr a scalar argument
// broadcast with linalg.fill.
// CHECK-LABEL: func.func @sgd_named_ops
// CHECK-SAME: (%[[P:.*]]: tensor<64xf32>, %[[G:.*]]: tensor<64xf32>, %[[LR:.*]]: f32,
// CHECK-SAME: %[[S:.*]]: tensor<2xf64> {gs.param = 0 : i64, gs.state = "stats"},
// CHECK-SAME: %[[C:.*]]: tensor<2xi64> {gs.param = 0 : i64, gs.state = "counts"})
// CHECK-SAME: -> (tensor<64xf32>, tensor<2xf64> {gs.param = 0 : i64, gs.state = "stats"}, tensor<2xi64> {gs.param = 0 : i64, gs.state = "counts"})
// CHECK-NOT: linalg.
// CHECK: %[[LR64:.*]] = arith.extf %[[LR]] : f32 to f64
// CHECK: %[[N:.*]] = gs.grad_norm %[[G]] : tensor<64xf32>
// CHECK: %[[GS:.*]], %[[S1:.*]], %[[C1:.*]], %[[OK:.*]] = gs.stabilize %[[G]], %[[N]], %[[S]], %[[C]] : tensor<64xf32>
// CHECK: %[[P1:.*]], %{{.*}} = gs.optimizer_step #gs.sgd<> param(%[[P]] : tensor<64xf32>) grad(%[[GS]]) step(%{{.*}}) lr(%[[LR64]]) weight_decay(%{{.*}}) enabled(%[[OK]])
// CHECK: return %[[P1]], %[[S1]], %[[C1]]
func.func @sgd_named_ops(%p: tensor<64xf32>, %g: tensor<64xf32>, %lr: f32)
    -> tensor<64xf32> {
  %e = tensor.empty() : tensor<64xf32>
  %lrs = linalg.fill ins(%lr : f32) outs(%e : tensor<64xf32>) -> tensor<64xf32>
  %u = linalg.mul ins(%lrs, %g : tensor<64xf32>, tensor<64xf32>)
                  outs(%e : tensor<64xf32>) -> tensor<64xf32>
  %r = linalg.sub ins(%p, %u : tensor<64xf32>, tensor<64xf32>)
                  outs(%e : tensor<64xf32>) -> tensor<64xf32>
  return %r : tensor<64xf32>
}

// -----

// Fused into one generic, constants inside the body, operands swapped,
// written as p + (-lr) * (wd*p + g).
// CHECK-LABEL: func.func @sgd_fused_generic
// CHECK-DAG: %[[LR:.*]] = arith.constant 1.000000e-02 : f64
// CHECK-DAG: %[[WD:.*]] = arith.constant 1.000000e-04 : f64
// CHECK: gs.optimizer_step #gs.sgd<> param(%arg0 : tensor<4x8xf32>) grad(%{{.*}}) step(%{{.*}}) lr(%[[LR]]) weight_decay(%[[WD]])
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @sgd_fused_generic(%p: tensor<4x8xf32>, %g: tensor<4x8xf32>)
    -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %r = linalg.generic {indexing_maps = [#id2, #id2, #id2],
                       iterator_types = ["parallel", "parallel"]}
      ins(%g, %p : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%gi: f32, %pi: f32, %o: f32):
    %nlr = arith.constant -0.01 : f32
    %wd = arith.constant 1.0e-4 : f32
    %d0 = arith.mulf %pi, %wd : f32
    %d = arith.addf %d0, %gi : f32
    %s = arith.mulf %nlr, %d : f32
    %n = arith.addf %pi, %s : f32
    linalg.yield %n : f32
  } -> tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// -----

// torch.optim.SGD(momentum=0.9, dampening=0.1) functionalized: lr a 0-d
// tensor argument, the buffer update `buf*m + (1-dampening)*g` and the step
// as separate generics. The source has no step counter, so one is added.
// CHECK-LABEL: func.func @sgd_momentum
// CHECK-SAME: %[[LR:[a-z0-9]*]]: tensor<f32>
// CHECK-SAME: %{{.*}}: tensor<2xi64> {gs.param = 0 : i64, gs.state = "counts"}, %[[T:.*]]: tensor<i64> {gs.param = 0 : i64, gs.state = "step"})
// CHECK: %[[X:.*]] = tensor.extract %[[LR]][] : tensor<f32>
// CHECK: %[[LR64:.*]] = arith.extf %[[X]] : f32 to f64
// CHECK: %[[P1:.*]], %[[B1:.*]], %[[T1:.*]] = gs.optimizer_step #gs.sgd<momentum = 0.9, dampening = 0.1> param(%arg0 : tensor<16xf32>) grad(%{{.*}}) moments(%arg2 : tensor<16xf32>) step(%[[T]]) lr(%[[LR64]])
// CHECK: return %[[P1]], %[[B1]], %{{.*}}, %{{.*}}, %[[T1]]
#id = affine_map<(d0) -> (d0)>
#sc = affine_map<(d0) -> ()>
func.func @sgd_momentum(%p: tensor<16xf32>, %g: tensor<16xf32>,
                        %buf: tensor<16xf32>, %lr: tensor<f32>)
    -> (tensor<16xf32>, tensor<16xf32>) {
  %e = tensor.empty() : tensor<16xf32>
  %b1 = linalg.generic {indexing_maps = [#id, #id, #id],
                        iterator_types = ["parallel"]}
      ins(%buf, %g : tensor<16xf32>, tensor<16xf32>) outs(%e : tensor<16xf32>) {
  ^bb0(%b: f32, %gi: f32, %o: f32):
    %m = arith.constant 0.9 : f32
    %c = arith.constant 0.9 : f32
    %x = arith.mulf %b, %m : f32
    %y = arith.mulf %gi, %c : f32
    %z = arith.addf %x, %y : f32
    linalg.yield %z : f32
  } -> tensor<16xf32>
  %p1 = linalg.generic {indexing_maps = [#id, #id, #sc, #id],
                        iterator_types = ["parallel"]}
      ins(%p, %b1, %lr : tensor<16xf32>, tensor<16xf32>, tensor<f32>)
      outs(%e : tensor<16xf32>) {
  ^bb0(%pi: f32, %bi: f32, %l: f32, %o: f32):
    %s = arith.mulf %l, %bi : f32
    %n = arith.subf %pi, %s : f32
    linalg.yield %n : f32
  } -> tensor<16xf32>
  return %p1, %b1 : tensor<16xf32>, tensor<16xf32>
}

// -----

// Nesterov with L2 weight decay, all in one generic with two results (the
// buffer and the parameter); hyperparameters as splat constants.
// CHECK-LABEL: func.func @sgd_nesterov
// CHECK: %[[P1:.*]], %[[B1:.*]], %{{.*}} = gs.optimizer_step #gs.sgd<momentum = 0.9, nesterov = true> param(%arg0 : tensor<8xf32>) grad(%{{.*}}) moments(%arg2 : tensor<8xf32>)
// CHECK: return %[[B1]], %[[P1]]
#id = affine_map<(d0) -> (d0)>
func.func @sgd_nesterov(%p: tensor<8xf32>, %g: tensor<8xf32>, %buf: tensor<8xf32>)
    -> (tensor<8xf32>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8xf32>
  %lr = arith.constant dense<0.1> : tensor<8xf32>
  %wd = arith.constant dense<0.01> : tensor<8xf32>
  %mom = arith.constant dense<0.9> : tensor<8xf32>
  %r:2 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #id, #id, #id, #id],
                         iterator_types = ["parallel"]}
      ins(%p, %g, %buf, %lr, %wd, %mom : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>,
          tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
      outs(%e, %e : tensor<8xf32>, tensor<8xf32>) {
  ^bb0(%pi: f32, %gi: f32, %bi: f32, %l: f32, %w: f32, %m: f32, %o0: f32, %o1: f32):
    %wp = arith.mulf %w, %pi : f32
    %d = arith.addf %gi, %wp : f32
    %mb = arith.mulf %m, %bi : f32
    %b1 = arith.addf %mb, %d : f32
    %mb1 = arith.mulf %m, %b1 : f32
    %dir = arith.addf %d, %mb1 : f32
    %s = arith.mulf %l, %dir : f32
    %p1 = arith.subf %pi, %s : f32
    linalg.yield %b1, %p1 : f32, f32
  } -> (tensor<8xf32>, tensor<8xf32>)
  return %r#0, %r#1 : tensor<8xf32>, tensor<8xf32>
}

// -----

// Decoupled form p*(1 - lr*wd) - lr*g with lr and wd f64 scalar arguments
// and arith ops directly on tensors: plain SGD with weight decay.
// CHECK-LABEL: func.func @sgd_decay_factor
// CHECK: gs.optimizer_step #gs.sgd<> param(%arg0 : tensor<32xbf16>) grad(%{{.*}}) step(%{{.*}}) lr(%arg2) weight_decay(%arg3)
func.func @sgd_decay_factor(%p: tensor<32xbf16>, %g: tensor<32xbf16>, %lr: f64, %wd: f64)
    -> tensor<32xbf16> {
  %one = arith.constant 1.0 : f64
  %lw = arith.mulf %lr, %wd : f64
  %f = arith.subf %one, %lw : f64
  %f16 = arith.truncf %f : f64 to bf16
  %lr16 = arith.truncf %lr : f64 to bf16
  %fs = tensor.splat %f16 : tensor<32xbf16>
  %ls = tensor.splat %lr16 : tensor<32xbf16>
  %pd = arith.mulf %p, %fs : tensor<32xbf16>
  %u = arith.mulf %ls, %g : tensor<32xbf16>
  %r = arith.subf %pd, %u : tensor<32xbf16>
  return %r : tensor<32xbf16>
}
