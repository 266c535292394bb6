// RUN: gs-opt %s | FileCheck %s
// RUN: gs-opt %s | gs-opt | FileCheck %s
// RUN: gs-opt %s --mlir-print-op-generic | gs-opt | FileCheck %s

// Every op and attribute round-trips in custom and generic form.

// CHECK-LABEL: func @grad_norm
func.func @grad_norm(%g32: tensor<4x8xf32>, %g16: tensor<3xf16>,
                     %gbf: tensor<bf16>) -> (f64, f64, f64) {
  // CHECK: gs.grad_norm %{{.*}} : tensor<4x8xf32>
  %0 = gs.grad_norm %g32 : tensor<4x8xf32>
  // CHECK: gs.grad_norm %{{.*}} : tensor<3xf16>
  %1 = gs.grad_norm %g16 : tensor<3xf16>
  // CHECK: gs.grad_norm %{{.*}} : tensor<bf16>
  %2 = gs.grad_norm %gbf : tensor<bf16>
  return %0, %1, %2 : f64, f64, f64
}

// CHECK-LABEL: func @stabilize_defaults
func.func @stabilize_defaults(%g: tensor<16xbf16>, %s: tensor<2xf64>,
                              %c: tensor<2xi64>)
    -> (tensor<16xbf16>, tensor<2xf64>, tensor<2xi64>, i1) {
  %n = gs.grad_norm %g : tensor<16xbf16>
  // CHECK: gs.stabilize %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<16xbf16>
  %gt, %s1, %c1, %ok = gs.stabilize %g, %n, %s, %c : tensor<16xbf16>
  return %gt, %s1, %c1, %ok : tensor<16xbf16>, tensor<2xf64>, tensor<2xi64>, i1
}

// CHECK-LABEL: func @stabilize_config
func.func @stabilize_config(%g: tensor<2x3xf32>, %n: f64, %s: tensor<2xf64>,
                            %c: tensor<2xi64>) -> tensor<2x3xf32> {
  // CHECK: gs.stabilize #gs.stabilizer<gamma1 = 0.5, gamma2 = 0.99, eps = 0.0, bias_correction = false, on_nonfinite = passthrough> %{{.*}} : tensor<2x3xf32>
  %gt, %s1, %c1, %ok = gs.stabilize #gs.stabilizer<gamma1 = 0.5, gamma2 = 0.99,
      eps = 0.0, bias_correction = false, on_nonfinite = passthrough>
      %g, %n, %s, %c : tensor<2x3xf32>
  // Fields at their defaults are not printed.
  // CHECK: gs.stabilize #gs.stabilizer<on_nonfinite = zero> %{{.*}} : tensor<2x3xf32>
  %gt2, %s2, %c2, %ok2 = gs.stabilize #gs.stabilizer<gamma1 = 0.6,
      on_nonfinite = zero> %g, %n, %s, %c : tensor<2x3xf32>
  return %gt : tensor<2x3xf32>
}

// CHECK-LABEL: func @optimizers
func.func @optimizers(%p: tensor<8xf32>, %g: tensor<8xf32>, %a: tensor<8xf32>,
                      %b: tensor<8xf32>, %c: tensor<8xf32>, %t: tensor<i64>,
                      %lr: f64, %wd: f64, %ok: i1) {
  // CHECK: gs.optimizer_step #gs.sgd<> param(%{{.*}} : tensor<8xf32>) grad(%{{.*}}) step(%{{.*}}) lr(%{{.*}}) weight_decay(%{{.*}})
  %0:2 = gs.optimizer_step #gs.sgd<> param(%p : tensor<8xf32>) grad(%g)
      step(%t) lr(%lr) weight_decay(%wd)
  // CHECK: gs.optimizer_step #gs.sgd<momentum = 0.9, nesterov = true> param(%{{.*}} : tensor<8xf32>) grad(%{{.*}}) moments(%{{.*}} : tensor<8xf32>)
  %1:3 = gs.optimizer_step #gs.sgd<momentum = 0.9, nesterov = true>
      param(%p : tensor<8xf32>) grad(%g) moments(%a : tensor<8xf32>)
      step(%t) lr(%lr) weight_decay(%wd)
  // CHECK: gs.optimizer_step #gs.sgd<momentum = 0.5, dampening = 0.1>
  %2:3 = gs.optimizer_step #gs.sgd<momentum = 0.5, dampening = 0.1>
      param(%p : tensor<8xf32>) grad(%g) moments(%a : tensor<8xf32>)
      step(%t) lr(%lr) weight_decay(%wd)
  // CHECK: gs.optimizer_step #gs.adam<> param({{.*}}) grad({{.*}}) moments({{.*}}, {{.*}} : tensor<8xf32>, tensor<8xf32>) step({{.*}}) lr({{.*}}) weight_decay({{.*}}) enabled(%{{.*}})
  %3:4 = gs.optimizer_step #gs.adam<> param(%p : tensor<8xf32>) grad(%g)
      moments(%a, %b : tensor<8xf32>, tensor<8xf32>) step(%t) lr(%lr)
      weight_decay(%wd) enabled(%ok)
  // CHECK: gs.optimizer_step #gs.adam<beta1 = 0.8, beta2 = 0.99, eps = 1.0e-06, amsgrad = true>
  %4:5 = gs.optimizer_step #gs.adam<beta1 = 0.8, beta2 = 0.99, eps = 1.0e-6,
      amsgrad = true> param(%p : tensor<8xf32>) grad(%g)
      moments(%a, %b, %c : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
      step(%t) lr(%lr) weight_decay(%wd)
  // CHECK: gs.optimizer_step #gs.adamw<amsgrad = true>
  %5:5 = gs.optimizer_step #gs.adamw<amsgrad = true> param(%p : tensor<8xf32>)
      grad(%g) moments(%a, %b, %c : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
      step(%t) lr(%lr) weight_decay(%wd)
  // CHECK: gs.optimizer_step #gs.lion<beta1 = 0.95, beta2 = 0.98>
  %6:3 = gs.optimizer_step #gs.lion<beta1 = 0.95, beta2 = 0.98>
      param(%p : tensor<8xf32>) grad(%g) moments(%a : tensor<8xf32>)
      step(%t) lr(%lr) weight_decay(%wd)
  return
}

// CHECK-LABEL: func @group_step
func.func @group_step(%p0: tensor<64xf32>, %p1: tensor<8x8xbf16>,
                      %g0: tensor<64xf32>, %g1: tensor<8x8xbf16>,
                      %a0: tensor<64xf32>, %b0: tensor<64xf32>,
                      %a1: tensor<8x8xbf16>, %b1: tensor<8x8xbf16>,
                      %s: tensor<2x2xf64>, %c: tensor<2x2xi64>,
                      %t: tensor<2xi64>, %lr: f64, %wd: f64,
                      %inv: tensor<f32>, %inf: tensor<f32>) {
  // CHECK: gs.group_step #gs.adamw<> params(%{{.*}}, %{{.*}} : tensor<64xf32>, tensor<8x8xbf16>) grads(%{{.*}}, %{{.*}} : tensor<64xf32>, tensor<8x8xbf16>) moments(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<64xf32>, tensor<64xf32>, tensor<8x8xbf16>, tensor<8x8xbf16>) stats(%{{.*}} : tensor<2x2xf64>) counts(%{{.*}} : tensor<2x2xi64>) steps(%{{.*}} : tensor<2xi64>) lr(%{{.*}}) weight_decay(%{{.*}}){{$}}
  %0:9 = gs.group_step #gs.adamw<>
      params(%p0, %p1 : tensor<64xf32>, tensor<8x8xbf16>)
      grads(%g0, %g1 : tensor<64xf32>, tensor<8x8xbf16>)
      moments(%a0, %b0, %a1, %b1 : tensor<64xf32>, tensor<64xf32>,
                                   tensor<8x8xbf16>, tensor<8x8xbf16>)
      stats(%s : tensor<2x2xf64>) counts(%c : tensor<2x2xi64>)
      steps(%t : tensor<2xi64>) lr(%lr) weight_decay(%wd)
  // CHECK: gs.group_step #gs.sgd<> config #gs.stabilizer<bias_correction = false> params({{.*}}) grads({{.*}}) stats({{.*}}) counts({{.*}}) steps({{.*}}) lr({{.*}}) weight_decay({{.*}}) inv_scale(%{{.*}}) found_inf(%{{.*}})
  %1:5 = gs.group_step #gs.sgd<> config #gs.stabilizer<bias_correction = false>
      params(%p0, %p1 : tensor<64xf32>, tensor<8x8xbf16>)
      grads(%g0, %g1 : tensor<64xf32>, tensor<8x8xbf16>)
      stats(%s : tensor<2x2xf64>) counts(%c : tensor<2x2xi64>)
      steps(%t : tensor<2xi64>) lr(%lr) weight_decay(%wd)
      inv_scale(%inv) found_inf(%inf)
  // CHECK: gs.group_step #gs.lion<> {{.*}} inv_scale(%{{.*}}){{$}}
  %2:7 = gs.group_step #gs.lion<>
      params(%p0, %p1 : tensor<64xf32>, tensor<8x8xbf16>)
      grads(%g0, %g1 : tensor<64xf32>, tensor<8x8xbf16>)
      moments(%a0, %a1 : tensor<64xf32>, tensor<8x8xbf16>)
      stats(%s : tensor<2x2xf64>) counts(%c : tensor<2x2xi64>)
      steps(%t : tensor<2xi64>) lr(%lr) weight_decay(%wd) inv_scale(%inv)
  return
}

// The generic multi-tensor step and its address views.

// CHECK-LABEL: func @multi_tensor_step
// CHECK: gs.multi_tensor_step #gs.adamw<amsgrad = true> config #gs.stabilizer<on_nonfinite = zero> table(%{{.*}} : memref<?x6xi64>) chunk_offsets(%{{.*}} : memref<?xi64>) hyper(%{{.*}} : memref<8xf64>) stats(%{{.*}} : memref<?x2xf64>) counts(%{{.*}} : memref<?x2xi64>) steps(%{{.*}} : memref<?xi64>) scratch(%{{.*}}, %{{.*}} : memref<?xf64>, memref<?xf32>) inv_scale(%{{.*}} : memref<f32>) found_inf(%{{.*}} : memref<f32>) workers(%{{.*}}, %{{.*}}) {chunk_size = 4096 : i64, element_type = bf16, phase = #gs.phase<update>}
// CHECK: gs.view_address %{{.*}}, %{{.*}} : memref<?xbf16>
func.func @multi_tensor_step(%table: memref<?x6xi64>, %co: memref<?xi64>, %hyper: memref<8xf64>,
                             %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                             %partials: memref<?xf64>, %records: memref<?xf32>,
                             %inv: memref<f32>, %found: memref<f32>, %w: index, %nw: index,
                             %address: i64) -> memref<?xbf16> {
  gs.multi_tensor_step #gs.adamw<amsgrad = true> config #gs.stabilizer<on_nonfinite = zero>
      table(%table : memref<?x6xi64>) chunk_offsets(%co : memref<?xi64>)
      hyper(%hyper : memref<8xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      inv_scale(%inv : memref<f32>) found_inf(%found : memref<f32>)
      workers(%w, %nw)
      {element_type = bf16, chunk_size = 4096 : i64, phase = #gs.phase<update>}
  %v = gs.view_address %address, %w : memref<?xbf16>
  return %v : memref<?xbf16>
}

// Bias corrections given as values (Adam and AdamW).

// CHECK-LABEL: func @bias_corrections
// CHECK: gs.optimizer_step #gs.adamw<> param({{.*}}) grad({{.*}}) moments({{.*}}) step({{.*}}) lr({{.*}}) weight_decay({{.*}}) bias_corrections(%[[BC1:.*]], %[[BC2:.*]]) enabled(%{{.*}}){{$}}
// CHECK: gs.group_step #gs.adam<amsgrad = true> params({{.*}}) grads({{.*}}) moments({{.*}}) stats({{.*}}) counts({{.*}}) steps({{.*}}) lr({{.*}}) weight_decay({{.*}}) bias_corrections(%[[BC1]], %[[BC2]]) inv_scale(%{{.*}}){{$}}
// CHECK: gs.multi_tensor_step #gs.adamw<> table(%{{.*}} : memref<?x5xi64>) chunk_offsets(%{{.*}} : memref<?xi64>) hyper(%{{.*}} : memref<10xf64>) {{.*}} {bias_corrections, chunk_size = 16384 : i64, element_type = f32}
func.func @bias_corrections(%p: tensor<8xf32>, %g: tensor<8xf32>,
                            %a: tensor<8xf32>, %b: tensor<8xf32>,
                            %c: tensor<8xf32>, %t: tensor<i64>,
                            %s: tensor<1x2xf64>, %k: tensor<1x2xi64>,
                            %ts: tensor<1xi64>, %lr: f64, %wd: f64, %ok: i1,
                            %bc1: f64, %bc2: f64, %inv: tensor<f32>,
                            %table: memref<?x5xi64>, %co: memref<?xi64>,
                            %hyper: memref<10xf64>, %stats: memref<?x2xf64>,
                            %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                            %partials: memref<?xf64>, %records: memref<?xf32>) {
  %0:4 = gs.optimizer_step #gs.adamw<> param(%p : tensor<8xf32>) grad(%g)
      moments(%a, %b : tensor<8xf32>, tensor<8xf32>) step(%t) lr(%lr)
      weight_decay(%wd) bias_corrections(%bc1, %bc2) enabled(%ok)
  %1:7 = gs.group_step #gs.adam<amsgrad = true> params(%p : tensor<8xf32>)
      grads(%g : tensor<8xf32>)
      moments(%a, %b, %c : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
      stats(%s : tensor<1x2xf64>) counts(%k : tensor<1x2xi64>)
      steps(%ts : tensor<1xi64>) lr(%lr) weight_decay(%wd)
      bias_corrections(%bc1, %bc2) inv_scale(%inv)
  gs.multi_tensor_step #gs.adamw<>
      table(%table : memref<?x5xi64>) chunk_offsets(%co : memref<?xi64>)
      hyper(%hyper : memref<10xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 16384 : i64, bias_corrections}
  return
}
