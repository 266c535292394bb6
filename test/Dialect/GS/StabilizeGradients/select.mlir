// RUN: gs-opt %s -gs-stabilize-gradients="explain" -verify-diagnostics | FileCheck %s --check-prefix=AUTO
// RUN: gs-opt %s -gs-stabilize-gradients="grad-names=lion.grad,sgd.grad" | FileCheck %s --check-prefix=NAMES
// RUN: gs-opt %s -gs-stabilize-gradients="grad-attr=gs.grad" | FileCheck %s --check-prefix=ATTR

// Lion and SGD with momentum: the gradient and the buffer enter the update
// symmetrically, so automatic mode cannot tell them apart and says so; a
// name or an attribute selects the gradient.

// AUTO-LABEL: func.func @lion
// AUTO-NOT: gs.stabilize
// NAMES-LABEL: func.func @lion
// NAMES: %[[S:[a-z0-9_]+]], %{{.*}}, %{{.*}}, %[[OK:[a-z0-9_]+]] = gs.stabilize %arg1
// NAMES: arith.mulf %{{.*}}, %[[S]] : tensor<8xf32>
// NAMES: arith.mulf %{{.*}}, %[[S]] : tensor<8xf32>
// NAMES: linalg.generic {{.*}} outs(%arg0 : tensor<8xf32>)
// NAMES: linalg.generic {{.*}} outs(%arg2 : tensor<8xf32>)
// ATTR-LABEL: func.func @lion
// ATTR-NOT: gs.stabilize
func.func @lion(%p: tensor<8xf32>, %g: tensor<8xf32> {gs.name = "lion.grad"},
                %m: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %b1 = arith.constant dense<0.9> : tensor<8xf32>
  %c1 = arith.constant dense<0.1> : tensor<8xf32>
  %b2 = arith.constant dense<0.99> : tensor<8xf32>
  %c2 = arith.constant dense<0.01> : tensor<8xf32>
  %x0 = arith.mulf %b1, %m : tensor<8xf32>
  %x1 = arith.mulf %c1, %g : tensor<8xf32>
  %x = arith.addf %x0, %x1 : tensor<8xf32>
  %zero = arith.constant dense<0.0> : tensor<8xf32>
  %one = arith.constant dense<1.0> : tensor<8xf32>
  %mone = arith.constant dense<-1.0> : tensor<8xf32>
  %gt = arith.cmpf ogt, %x, %zero : tensor<8xf32>
  %lt = arith.cmpf olt, %x, %zero : tensor<8xf32>
  %s0 = arith.select %lt, %mone, %zero : tensor<8xi1>, tensor<8xf32>
  %sign = arith.select %gt, %one, %s0 : tensor<8xi1>, tensor<8xf32>
  %lr = arith.constant dense<1.0e-4> : tensor<8xf32>
  %u = arith.mulf %lr, %sign : tensor<8xf32>
  // expected-remark @below {{gs-stabilize-gradients: result #0 not stabilized: the gradient could be any of 2 tensors entering the update symmetrically}}
  %pn = arith.subf %p, %u : tensor<8xf32>
  %y0 = arith.mulf %b2, %m : tensor<8xf32>
  %y1 = arith.mulf %c2, %g : tensor<8xf32>
  %mn = arith.addf %y0, %y1 : tensor<8xf32>
  return %pn, %mn : tensor<8xf32>, tensor<8xf32>
}

// AUTO-LABEL: func.func @sgd_momentum
// AUTO-NOT: gs.stabilize
// NAMES-LABEL: func.func @sgd_momentum
// NAMES: gs.stabilize %arg1
// ATTR-LABEL: func.func @sgd_momentum
// ATTR-SAME: %arg3: tensor<2xf64> {gs.param = 0 : i64, gs.state = "stats"}
// ATTR: gs.stabilize %arg1
// ATTR: linalg.generic {{.*}} outs(%arg0 : tensor<4xf32>)
// ATTR: linalg.generic {{.*}} outs(%arg2 : tensor<4xf32>)
func.func @sgd_momentum(%p: tensor<4xf32>,
                        %g: tensor<4xf32> {gs.grad} loc("sgd.grad"),
                        %b: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %mu = arith.constant dense<0.9> : tensor<4xf32>
  %x = arith.mulf %mu, %b : tensor<4xf32>
  %bn = arith.addf %x, %g : tensor<4xf32>
  %lr = arith.constant dense<0.1> : tensor<4xf32>
  %u = arith.mulf %lr, %bn : tensor<4xf32>
  // expected-remark @below {{result #0 not stabilized: the gradient could be any of 2 tensors}}
  %pn = arith.subf %p, %u : tensor<4xf32>
  return %pn, %bn : tensor<4xf32>, tensor<4xf32>
}
