// RUN: gs-opt %s -split-input-file -verify-diagnostics

// Every diagnostic of the gs dialect, one case each.

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

// expected-error @below {{stabilizer 'gamma1' must be in [0, 1), got 1.5}}
func.func private @f() attributes {gs = #gs.stabilizer<gamma1 = 1.5>}

// -----

// expected-error @below {{stabilizer 'gamma2' must be in [0, 1), got -0.1}}
func.func private @f() attributes {gs = #gs.stabilizer<gamma2 = -0.1>}

// -----

// expected-error @below {{stabilizer 'gamma2' must be in [0, 1), got 1}}
func.func private @f() attributes {gs = #gs.stabilizer<gamma2 = 1.0>}

// -----

// expected-error @below {{stabilizer 'eps' must be finite and >= 0, got -1e-12}}
func.func private @f() attributes {gs = #gs.stabilizer<eps = -1.0e-12>}

// -----

// expected-error @below {{expected 'true' or 'false'}}
// expected-error @below {{failed to parse GS_StabilizerAttr parameter 'bias_correction'}}
func.func private @f() attributes {gs = #gs.stabilizer<bias_correction = 1>}

// -----

// expected-error @below {{expected one of [skip, zero, passthrough] for non-finite gradient policy, got: clip}}
// expected-error @below {{failed to parse GS_StabilizerAttr parameter 'on_nonfinite'}}
func.func private @f() attributes {gs = #gs.stabilizer<on_nonfinite = clip>}

// -----

// expected-error @below {{sgd 'momentum' must be finite and >= 0, got -0.9}}
func.func private @f() attributes {gs = #gs.sgd<momentum = -0.9>}

// -----

// expected-error @below {{sgd 'dampening' must be in [0, 1], got 1.5}}
func.func private @f() attributes {gs = #gs.sgd<momentum = 0.9, dampening = 1.5>}

// -----

// expected-error @below {{sgd 'nesterov' requires a momentum > 0 and zero dampening}}
func.func private @f() attributes {gs = #gs.sgd<nesterov = true>}

// -----

// expected-error @below {{sgd 'nesterov' requires a momentum > 0 and zero dampening}}
func.func private @f() attributes {gs = #gs.sgd<momentum = 0.9, dampening = 0.1, nesterov = true>}

// -----

// expected-error @below {{adam 'beta1' must be in [0, 1), got 1}}
func.func private @f() attributes {gs = #gs.adam<beta1 = 1.0>}

// -----

// expected-error @below {{adam 'beta2' must be in [0, 1), got 2}}
func.func private @f() attributes {gs = #gs.adam<beta2 = 2.0>}

// -----

// expected-error @below {{adam 'eps' must be finite and >= 0, got -1e-08}}
func.func private @f() attributes {gs = #gs.adam<eps = -1.0e-8>}

// -----

// expected-error @below {{adamw 'beta1' must be in [0, 1), got -0.5}}
func.func private @f() attributes {gs = #gs.adamw<beta1 = -0.5>}

// -----

// expected-error @below {{lion 'beta2' must be in [0, 1), got 1}}
func.func private @f() attributes {gs = #gs.lion<beta2 = 1.0>}

// -----

// expected-error @below {{duplicate or unknown struct parameter name: beta3}}
func.func private @f() attributes {gs = #gs.adam<beta3 = 0.5>}

//===----------------------------------------------------------------------===//
// gs.grad_norm
//===----------------------------------------------------------------------===//

// -----

func.func @norm_int(%g: tensor<4xi32>) -> f64 {
  // expected-error @below {{operand #0 must be statically shaped tensor of 32-bit float or 16-bit float or bfloat16 type values, but got 'tensor<4xi32>'}}
  %n = gs.grad_norm %g : tensor<4xi32>
  return %n : f64
}

// -----

func.func @norm_f64(%g: tensor<4xf64>) -> f64 {
  // expected-error @below {{operand #0 must be statically shaped tensor of 32-bit float or 16-bit float or bfloat16 type values, but got 'tensor<4xf64>'}}
  %n = gs.grad_norm %g : tensor<4xf64>
  return %n : f64
}

// -----

func.func @norm_dynamic(%g: tensor<?xf32>) -> f64 {
  // expected-error @below {{operand #0 must be statically shaped tensor}}
  %n = gs.grad_norm %g : tensor<?xf32>
  return %n : f64
}

// -----

// 2^64 elements: the count overflows i64 (lowerings used to print invalid
// IR or crash on it).
func.func @norm_overflow(%g: tensor<4294967296x4294967296xf32>) -> f64 {
  // expected-error @below {{operand #0 of type 'tensor<4294967296x4294967296xf32>' has more elements than a 64-bit integer can count (at most 2^63 - 1)}}
  %n = gs.grad_norm %g : tensor<4294967296x4294967296xf32>
  return %n : f64
}

// -----

// 2^63 - 1 elements is the most; an empty tensor with huge dimensions has 0.
func.func @norm_largest(%g: tensor<9223372036854775807xbf16>,
                        %e: tensor<0x9223372036854775807x9223372036854775807xf32>) {
  %n = gs.grad_norm %g : tensor<9223372036854775807xbf16>
  %m = gs.grad_norm %e : tensor<0x9223372036854775807x9223372036854775807xf32>
  return
}

//===----------------------------------------------------------------------===//
// gs.stabilize
//===----------------------------------------------------------------------===//

// -----

func.func @stabilize_stats(%g: tensor<4xf32>, %n: f64, %s: tensor<3xf64>,
                           %c: tensor<2xi64>) {
  // expected-error @below {{operand #2 must be tensor<2xf64> ([m, v]), but got 'tensor<3xf64>'}}
  %0:4 = "gs.stabilize"(%g, %n, %s, %c)
      : (tensor<4xf32>, f64, tensor<3xf64>, tensor<2xi64>)
      -> (tensor<4xf32>, tensor<2xf64>, tensor<2xi64>, i1)
  return
}

// -----

func.func @stabilize_stats_f32(%g: tensor<4xf32>, %n: f64, %s: tensor<2xf32>,
                               %c: tensor<2xi64>) {
  // expected-error @below {{operand #2 must be tensor<2xf64> ([m, v]), but got 'tensor<2xf32>'}}
  %0:4 = "gs.stabilize"(%g, %n, %s, %c)
      : (tensor<4xf32>, f64, tensor<2xf32>, tensor<2xi64>)
      -> (tensor<4xf32>, tensor<2xf64>, tensor<2xi64>, i1)
  return
}

// -----

func.func @stabilize_counts(%g: tensor<4xf32>, %n: f64, %s: tensor<2xf64>,
                            %c: tensor<2xi32>) {
  // expected-error @below {{operand #3 must be tensor<2xi64> ([k, skipped]), but got 'tensor<2xi32>'}}
  %0:4 = "gs.stabilize"(%g, %n, %s, %c)
      : (tensor<4xf32>, f64, tensor<2xf64>, tensor<2xi32>)
      -> (tensor<4xf32>, tensor<2xf64>, tensor<2xi32>, i1)
  return
}

// -----

func.func @stabilize_result(%g: tensor<4xf32>, %n: f64, %s: tensor<2xf64>,
                            %c: tensor<2xi64>) {
  // expected-error @below {{failed to verify that all of {grad, stabilized} have same type}}
  %0:4 = "gs.stabilize"(%g, %n, %s, %c)
      : (tensor<4xf32>, f64, tensor<2xf64>, tensor<2xi64>)
      -> (tensor<4xf16>, tensor<2xf64>, tensor<2xi64>, i1)
  return
}

// -----

func.func @stabilize_norm_f32(%g: tensor<4xf32>, %n: f32, %s: tensor<2xf64>,
                              %c: tensor<2xi64>) {
  // expected-error @below {{operand #1 must be 64-bit float, but got 'f32'}}
  %0:4 = "gs.stabilize"(%g, %n, %s, %c)
      : (tensor<4xf32>, f32, tensor<2xf64>, tensor<2xi64>)
      -> (tensor<4xf32>, tensor<2xf64>, tensor<2xi64>, i1)
  return
}

// -----

func.func @stabilize_overflow(%g: tensor<3037000500x3037000500xf16>, %n: f64,
                              %s: tensor<2xf64>, %c: tensor<2xi64>) {
  // expected-error @below {{operand #0 of type 'tensor<3037000500x3037000500xf16>' has more elements than a 64-bit integer can count (at most 2^63 - 1)}}
  %0:4 = gs.stabilize %g, %n, %s, %c : tensor<3037000500x3037000500xf16>
  return
}

// -----

func.func @stabilize_unbounded(%g: tensor<4xf32>, %n: f64, %s: tensor<2xf64>,
                               %c: tensor<2xi64>) {
  // expected-warning @below {{gamma1^2 >= gamma2 (0.9^2 >= 0.5): the stabilized gradient norm has no uniform bound}}
  %0:4 = gs.stabilize #gs.stabilizer<gamma1 = 0.9, gamma2 = 0.5>
      %g, %n, %s, %c : tensor<4xf32>
  return
}

//===----------------------------------------------------------------------===//
// gs.optimizer_step
//===----------------------------------------------------------------------===//

// -----

func.func @step_moment_count(%p: tensor<8xf32>, %a: tensor<8xf32>,
                             %t: tensor<i64>, %lr: f64) {
  // expected-error @below {{optimizer #gs.adam<> keeps 2 (exp_avg, exp_avg_sq) moments per parameter, got 1}}
  %0:3 = gs.optimizer_step #gs.adam<> param(%p : tensor<8xf32>) grad(%p)
      moments(%a : tensor<8xf32>) step(%t) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @step_overflow(%p: tensor<2x4611686018427387904xf32>,
                         %t: tensor<i64>, %lr: f64) {
  // expected-error @below {{operand #0 of type 'tensor<2x4611686018427387904xf32>' has more elements than a 64-bit integer can count (at most 2^63 - 1)}}
  %0:2 = gs.optimizer_step #gs.sgd<> param(%p : tensor<2x4611686018427387904xf32>)
      grad(%p) step(%t) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @step_sgd_momentum(%p: tensor<8xf32>, %t: tensor<i64>, %lr: f64) {
  // expected-error @below {{optimizer #gs.sgd<momentum = 0.9> keeps 1 (momentum_buffer) moments per parameter, got 0}}
  %0:2 = gs.optimizer_step #gs.sgd<momentum = 0.9> param(%p : tensor<8xf32>)
      grad(%p) step(%t) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @step_moment_type(%p: tensor<8xf32>, %a: tensor<8xf16>,
                            %t: tensor<i64>, %lr: f64) {
  // expected-error @below {{moment 'exp_avg' of the parameter has type 'tensor<8xf16>' but the parameter has type 'tensor<8xf32>'}}
  %0:3 = gs.optimizer_step #gs.lion<> param(%p : tensor<8xf32>) grad(%p)
      moments(%a : tensor<8xf16>) step(%t) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @step_moment_shape(%p: tensor<8xf32>, %a: tensor<4x2xf32>,
                             %t: tensor<i64>, %lr: f64) {
  // expected-error @below {{moment 'momentum_buffer' of the parameter has type 'tensor<4x2xf32>' but the parameter has type 'tensor<8xf32>'}}
  %0:3 = gs.optimizer_step #gs.sgd<momentum = 0.5> param(%p : tensor<8xf32>)
      grad(%p) moments(%a : tensor<4x2xf32>) step(%t) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @step_grad_type(%p: tensor<8xf32>, %g: tensor<8xbf16>,
                          %t: tensor<i64>, %lr: f64) {
  // expected-error @below {{failed to verify that all of {param, grad, new_param} have same type}}
  %0:2 = "gs.optimizer_step"(%p, %g, %t, %lr, %lr)
      <{optimizer = #gs.sgd<>,
        operandSegmentSizes = array<i32: 1, 1, 0, 1, 1, 1, 0, 0>}>
      : (tensor<8xf32>, tensor<8xbf16>, tensor<i64>, f64, f64)
      -> (tensor<8xf32>, tensor<i64>)
  return
}

// -----

func.func @step_not_optimizer(%p: tensor<8xf32>, %t: tensor<i64>, %lr: f64) {
  // expected-error @below {{Invalid attribute `optimizer` in property conversion: #gs.stabilizer<>}}
  %0:2 = "gs.optimizer_step"(%p, %p, %t, %lr, %lr)
      <{optimizer = #gs.stabilizer<>,
        operandSegmentSizes = array<i32: 1, 1, 0, 1, 1, 1, 0, 0>}>
      : (tensor<8xf32>, tensor<8xf32>, tensor<i64>, f64, f64)
      -> (tensor<8xf32>, tensor<i64>)
  return
}

// -----

func.func @step_count_type(%p: tensor<8xf32>, %t: tensor<1xi64>, %lr: f64) {
  // expected-error @below {{operand #2 must be tensor<i64> (step count), but got 'tensor<1xi64>'}}
  %0:2 = "gs.optimizer_step"(%p, %p, %t, %lr, %lr)
      <{optimizer = #gs.sgd<>,
        operandSegmentSizes = array<i32: 1, 1, 0, 1, 1, 1, 0, 0>}>
      : (tensor<8xf32>, tensor<8xf32>, tensor<1xi64>, f64, f64)
      -> (tensor<8xf32>, tensor<i64>)
  return
}

// -----

func.func @step_lr_f32(%p: tensor<8xf32>, %t: tensor<i64>, %lr: f32) {
  // expected-error @below {{operand #3 must be 64-bit float, but got 'f32'}}
  %0:2 = "gs.optimizer_step"(%p, %p, %t, %lr, %lr)
      <{optimizer = #gs.sgd<>,
        operandSegmentSizes = array<i32: 1, 1, 0, 1, 1, 1, 0, 0>}>
      : (tensor<8xf32>, tensor<8xf32>, tensor<i64>, f32, f32)
      -> (tensor<8xf32>, tensor<i64>)
  return
}

//===----------------------------------------------------------------------===//
// gs.group_step
//===----------------------------------------------------------------------===//

// -----

func.func @group_empty(%s: tensor<0x2xf64>, %c: tensor<0x2xi64>,
                       %t: tensor<0xi64>, %lr: f64) {
  // expected-error @below {{expects at least one parameter}}
  %0:3 = "gs.group_step"(%s, %c, %t, %lr, %lr)
      <{optimizer = #gs.sgd<>,
        operandSegmentSizes = array<i32: 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0>}>
      : (tensor<0x2xf64>, tensor<0x2xi64>, tensor<0xi64>, f64, f64)
      -> (tensor<0x2xf64>, tensor<0x2xi64>, tensor<0xi64>)
  return
}

// -----

func.func @group_grad_count(%p: tensor<4xf32>, %s: tensor<1x2xf64>,
                            %c: tensor<1x2xi64>, %t: tensor<1xi64>, %lr: f64) {
  // expected-error @below {{expects one gradient per parameter: got 1 parameters and 2 gradients}}
  %0:4 = gs.group_step #gs.sgd<> params(%p : tensor<4xf32>)
      grads(%p, %p : tensor<4xf32>, tensor<4xf32>)
      stats(%s : tensor<1x2xf64>) counts(%c : tensor<1x2xi64>)
      steps(%t : tensor<1xi64>) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @group_moment_count(%p: tensor<4xf32>, %s: tensor<2x2xf64>,
                              %c: tensor<2x2xi64>, %t: tensor<2xi64>,
                              %lr: f64) {
  // expected-error @below {{optimizer #gs.adamw<amsgrad = true> keeps 3 (exp_avg, exp_avg_sq, max_exp_avg_sq) moments per parameter: expects 6 moments for 2 parameters, got 4}}
  %0:9 = gs.group_step #gs.adamw<amsgrad = true>
      params(%p, %p : tensor<4xf32>, tensor<4xf32>)
      grads(%p, %p : tensor<4xf32>, tensor<4xf32>)
      moments(%p, %p, %p, %p : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>,
                               tensor<4xf32>)
      stats(%s : tensor<2x2xf64>) counts(%c : tensor<2x2xi64>)
      steps(%t : tensor<2xi64>) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @group_grad_type(%p: tensor<4xf32>, %g: tensor<4xf16>,
                           %s: tensor<2x2xf64>, %c: tensor<2x2xi64>,
                           %t: tensor<2xi64>, %lr: f64) {
  // expected-error @below {{gradient #1 has type 'tensor<4xf16>' but parameter #1 has type 'tensor<4xf32>'}}
  %0:5 = gs.group_step #gs.sgd<>
      params(%p, %p : tensor<4xf32>, tensor<4xf32>)
      grads(%p, %g : tensor<4xf32>, tensor<4xf16>)
      stats(%s : tensor<2x2xf64>) counts(%c : tensor<2x2xi64>)
      steps(%t : tensor<2xi64>) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @group_grad_shape(%p: tensor<4xf32>, %g: tensor<2x2xf32>,
                            %s: tensor<1x2xf64>, %c: tensor<1x2xi64>,
                            %t: tensor<1xi64>, %lr: f64) {
  // expected-error @below {{gradient #0 has type 'tensor<2x2xf32>' but parameter #0 has type 'tensor<4xf32>'}}
  %0:4 = gs.group_step #gs.sgd<> params(%p : tensor<4xf32>)
      grads(%g : tensor<2x2xf32>)
      stats(%s : tensor<1x2xf64>) counts(%c : tensor<1x2xi64>)
      steps(%t : tensor<1xi64>) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @group_moment_type(%p: tensor<4xf32>, %q: tensor<8xbf16>,
                             %s: tensor<2x2xf64>, %c: tensor<2x2xi64>,
                             %t: tensor<2xi64>, %lr: f64) {
  // expected-error @below {{moment 'exp_avg' of parameter #1 has type 'tensor<4xf32>' but the parameter has type 'tensor<8xbf16>'}}
  %0:7 = gs.group_step #gs.lion<>
      params(%p, %q : tensor<4xf32>, tensor<8xbf16>)
      grads(%p, %q : tensor<4xf32>, tensor<8xbf16>)
      moments(%p, %p : tensor<4xf32>, tensor<4xf32>)
      stats(%s : tensor<2x2xf64>) counts(%c : tensor<2x2xi64>)
      steps(%t : tensor<2xi64>) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @group_stats(%p: tensor<4xf32>, %s: tensor<1x2xf64>,
                       %c: tensor<2x2xi64>, %t: tensor<2xi64>, %lr: f64) {
  // expected-error @below {{expects stats of type 'tensor<2x2xf64>' (one [m, v] row per parameter), got 'tensor<1x2xf64>'}}
  %0:5 = gs.group_step #gs.sgd<>
      params(%p, %p : tensor<4xf32>, tensor<4xf32>)
      grads(%p, %p : tensor<4xf32>, tensor<4xf32>)
      stats(%s : tensor<1x2xf64>) counts(%c : tensor<2x2xi64>)
      steps(%t : tensor<2xi64>) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @group_stats_f32(%p: tensor<4xf32>, %s: tensor<1x2xf32>,
                           %c: tensor<1x2xi64>, %t: tensor<1xi64>, %lr: f64) {
  // expected-error @below {{operand #2 must be 2D tensor of 64-bit float values, but got 'tensor<1x2xf32>'}}
  %0:4 = gs.group_step #gs.sgd<> params(%p : tensor<4xf32>)
      grads(%p : tensor<4xf32>)
      stats(%s : tensor<1x2xf32>) counts(%c : tensor<1x2xi64>)
      steps(%t : tensor<1xi64>) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @group_counts(%p: tensor<4xf32>, %s: tensor<1x2xf64>,
                        %c: tensor<1x3xi64>, %t: tensor<1xi64>, %lr: f64) {
  // expected-error @below {{expects counts of type 'tensor<1x2xi64>' (one [k, skipped] row per parameter), got 'tensor<1x3xi64>'}}
  %0:4 = gs.group_step #gs.sgd<> params(%p : tensor<4xf32>)
      grads(%p : tensor<4xf32>)
      stats(%s : tensor<1x2xf64>) counts(%c : tensor<1x3xi64>)
      steps(%t : tensor<1xi64>) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @group_steps(%p: tensor<4xf32>, %s: tensor<1x2xf64>,
                       %c: tensor<1x2xi64>, %t: tensor<3xi64>, %lr: f64) {
  // expected-error @below {{expects steps of type 'tensor<1xi64>' (one optimizer step count per parameter), got 'tensor<3xi64>'}}
  %0:4 = gs.group_step #gs.sgd<> params(%p : tensor<4xf32>)
      grads(%p : tensor<4xf32>)
      stats(%s : tensor<1x2xf64>) counts(%c : tensor<1x2xi64>)
      steps(%t : tensor<3xi64>) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @group_param_type(%p: tensor<4xf64>, %s: tensor<1x2xf64>,
                            %c: tensor<1x2xi64>, %t: tensor<1xi64>, %lr: f64) {
  // expected-error @below {{operand #0 must be variadic of statically shaped tensor of 32-bit float or 16-bit float or bfloat16 type values, but got 'tensor<4xf64>'}}
  %0:4 = gs.group_step #gs.sgd<> params(%p : tensor<4xf64>)
      grads(%p : tensor<4xf64>)
      stats(%s : tensor<1x2xf64>) counts(%c : tensor<1x2xi64>)
      steps(%t : tensor<1xi64>) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @group_inv_scale(%p: tensor<4xf32>, %s: tensor<1x2xf64>,
                           %c: tensor<1x2xi64>, %t: tensor<1xi64>, %lr: f64,
                           %inv: tensor<f64>) {
  // expected-error @below {{operand #7 must be tensor<f32>, but got 'tensor<f64>'}}
  %0:4 = "gs.group_step"(%p, %p, %s, %c, %t, %lr, %lr, %inv)
      <{optimizer = #gs.sgd<>,
        operandSegmentSizes = array<i32: 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0>}>
      : (tensor<4xf32>, tensor<4xf32>, tensor<1x2xf64>, tensor<1x2xi64>,
         tensor<1xi64>, f64, f64, tensor<f64>)
      -> (tensor<4xf32>, tensor<1x2xf64>, tensor<1x2xi64>, tensor<1xi64>)
  return
}

// -----

func.func @group_unbounded(%p: tensor<4xf32>, %s: tensor<1x2xf64>,
                           %c: tensor<1x2xi64>, %t: tensor<1xi64>, %lr: f64) {
  // expected-warning @below {{gamma1^2 >= gamma2 (0.99^2 >= 0.9): the stabilized gradient norm has no uniform bound}}
  %0:4 = gs.group_step #gs.sgd<>
      config #gs.stabilizer<gamma1 = 0.99, gamma2 = 0.9>
      params(%p : tensor<4xf32>) grads(%p : tensor<4xf32>)
      stats(%s : tensor<1x2xf64>) counts(%c : tensor<1x2xi64>)
      steps(%t : tensor<1xi64>) lr(%lr) weight_decay(%lr)
  return
}

// -----

func.func @group_overflow(%p: tensor<4xf32>,
                          %q: tensor<4294967296x4294967296xbf16>,
                          %s: tensor<2x2xf64>, %c: tensor<2x2xi64>,
                          %t: tensor<2xi64>, %lr: f64) {
  // expected-error @below {{operand #1 of type 'tensor<4294967296x4294967296xbf16>' has more elements than a 64-bit integer can count (at most 2^63 - 1)}}
  %0:5 = gs.group_step #gs.sgd<>
      params(%p, %q : tensor<4xf32>, tensor<4294967296x4294967296xbf16>)
      grads(%p, %q : tensor<4xf32>, tensor<4294967296x4294967296xbf16>)
      stats(%s : tensor<2x2xf64>) counts(%c : tensor<2x2xi64>)
      steps(%t : tensor<2xi64>) lr(%lr) weight_decay(%lr)
  return
}

//===----------------------------------------------------------------------===//
// bias_corrections of gs.optimizer_step and gs.group_step
//===----------------------------------------------------------------------===//

// -----

func.func @step_bias_corrections_sgd(%p: tensor<8xf32>, %t: tensor<i64>,
                                     %lr: f64) {
  // expected-error @below {{optimizer #gs.sgd<> has no bias correction, got 2 bias_corrections}}
  %0:2 = gs.optimizer_step #gs.sgd<> param(%p : tensor<8xf32>) grad(%p)
      step(%t) lr(%lr) weight_decay(%lr) bias_corrections(%lr, %lr)
  return
}

// -----

func.func @step_bias_corrections_one(%p: tensor<8xf32>, %t: tensor<i64>,
                                     %lr: f64) {
  // expected-error @below {{expects 2 bias_corrections (bias_correction1, bias_correction2) for optimizer #gs.adamw<>, or none, got 1}}
  %0:4 = gs.optimizer_step #gs.adamw<> param(%p : tensor<8xf32>) grad(%p)
      moments(%p, %p : tensor<8xf32>, tensor<8xf32>) step(%t) lr(%lr)
      weight_decay(%lr) bias_corrections(%lr)
  return
}

// -----

func.func @step_bias_corrections_type(%p: tensor<8xf32>, %t: tensor<i64>,
                                      %lr: f64, %bc: f32) {
  // expected-error @below {{operand #7 must be variadic of 64-bit float, but got 'f32'}}
  %0:4 = "gs.optimizer_step"(%p, %p, %p, %p, %t, %lr, %lr, %bc, %bc)
      <{optimizer = #gs.adam<>,
        operandSegmentSizes = array<i32: 1, 1, 2, 1, 1, 1, 2, 0>}>
      : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>,
         tensor<i64>, f64, f64, f32, f32)
      -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<i64>)
  return
}

// -----

func.func @group_bias_corrections_lion(%p: tensor<4xf32>, %s: tensor<1x2xf64>,
                                       %c: tensor<1x2xi64>, %t: tensor<1xi64>,
                                       %lr: f64) {
  // expected-error @below {{optimizer #gs.lion<> has no bias correction, got 2 bias_corrections}}
  %0:5 = gs.group_step #gs.lion<> params(%p : tensor<4xf32>)
      grads(%p : tensor<4xf32>) moments(%p : tensor<4xf32>)
      stats(%s : tensor<1x2xf64>) counts(%c : tensor<1x2xi64>)
      steps(%t : tensor<1xi64>) lr(%lr) weight_decay(%lr)
      bias_corrections(%lr, %lr)
  return
}

// -----

func.func @group_bias_corrections_three(%p: tensor<4xf32>,
                                        %s: tensor<1x2xf64>,
                                        %c: tensor<1x2xi64>,
                                        %t: tensor<1xi64>, %lr: f64) {
  // expected-error @below {{expects 2 bias_corrections (bias_correction1, bias_correction2) for optimizer #gs.adam<>, or none, got 3}}
  %0:6 = gs.group_step #gs.adam<> params(%p : tensor<4xf32>)
      grads(%p : tensor<4xf32>) moments(%p, %p : tensor<4xf32>, tensor<4xf32>)
      stats(%s : tensor<1x2xf64>) counts(%c : tensor<1x2xi64>)
      steps(%t : tensor<1xi64>) lr(%lr) weight_decay(%lr)
      bias_corrections(%lr, %lr, %lr)
  return
}
