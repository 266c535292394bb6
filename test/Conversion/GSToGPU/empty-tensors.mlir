// RUN: gs-opt %s --convert-gs-to-gpu="chunk-size=256" --split-input-file \
// RUN:   | FileCheck %s
// RUN: gs-opt %s --gs-to-gpu-emulator --split-input-file -o /dev/null
// RUN: gs-opt %s --gs-to-nvvm="chip=sm_90" --split-input-file -o /dev/null

// Groups where every tensor of one element type, or every tensor, has no
// elements. Such a type gets no loop code (it used to crash the emitter,
// which looked for a tensor of that type to build the loop for).

// Every bf16 tensor is empty: one element type class (f32), so no class
// table and no switch on the class; the empty tensor owns no chunk.
// CHECK-LABEL: func.func @empty_bf16(
// CHECK:         gpu.launch_func async {{.*}} @gs_group_step::@norms
// CHECK:         gpu.launch_func async {{.*}} @gs_group_step::@scalars
// CHECK:         gpu.launch_func async {{.*}} @gs_group_step::@update
// CHECK:       gpu.module @gs_group_step {
// CHECK-DAG:     memref.global "private" constant @gs_chunk_bounds : memref<4xi64, #gpu.address_space<global>> = dense<[0, 4, 4, 4]>
// CHECK-NOT:     @gs_tensor_class
// CHECK:         gpu.func @norms(
// CHECK-NOT:       scf.index_switch %{{.*}} -> f64
// CHECK:         gpu.func @update(
func.func @empty_bf16(%p0: tensor<1000xf32>, %p1: tensor<3x0xbf16>,
                      %p2: tensor<0xbf16>,
                      %g0: tensor<1000xf32>, %g1: tensor<3x0xbf16>,
                      %g2: tensor<0xbf16>,
                      %stats: tensor<3x2xf64>, %counts: tensor<3x2xi64>,
                      %steps: tensor<3xi64>, %lr: f64, %wd: f64)
    -> (tensor<1000xf32>, tensor<3x0xbf16>, tensor<0xbf16>) {
  %r:6 = gs.group_step #gs.sgd<>
      params(%p0, %p1, %p2 : tensor<1000xf32>, tensor<3x0xbf16>, tensor<0xbf16>)
      grads(%g0, %g1, %g2 : tensor<1000xf32>, tensor<3x0xbf16>, tensor<0xbf16>)
      stats(%stats : tensor<3x2xf64>) counts(%counts : tensor<3x2xi64>)
      steps(%steps : tensor<3xi64>) lr(%lr) weight_decay(%wd)
  return %r#0, %r#1, %r#2 : tensor<1000xf32>, tensor<3x0xbf16>, tensor<0xbf16>
}

// -----

// Every tensor is empty: only the scalars kernel is launched (the state
// still advances: each gradient has norm 0); the others have no loop.
// CHECK-LABEL: func.func @all_empty(
// CHECK-NOT:     @gs_group_step::@norms
// CHECK:         gpu.launch_func async {{.*}} @gs_group_step::@scalars
// CHECK-NOT:     @gs_group_step::@update
// CHECK:       gpu.module @gs_group_step {
// CHECK-DAG:     memref.global "private" constant @gs_chunk_bounds : memref<3xi64, #gpu.address_space<global>> = dense<0>
// CHECK:         gpu.func @norms(
// CHECK-NOT:       scf.for
// CHECK:           gpu.return
// CHECK:         gpu.func @update(
// CHECK-NOT:       scf.for
// CHECK:           gpu.return
func.func @all_empty(%p0: tensor<0xf32>, %p1: tensor<3x0xbf16>,
                     %g0: tensor<0xf32>, %g1: tensor<3x0xbf16>,
                     %m0: tensor<0xf32>, %m1: tensor<3x0xbf16>,
                     %v0: tensor<0xf32>, %v1: tensor<3x0xbf16>,
                     %stats: tensor<2x2xf64>, %counts: tensor<2x2xi64>,
                     %steps: tensor<2xi64>, %lr: f64, %wd: f64)
    -> (tensor<0xf32>, tensor<3x0xbf16>) {
  %r:9 = gs.group_step #gs.adamw<>
      params(%p0, %p1 : tensor<0xf32>, tensor<3x0xbf16>)
      grads(%g0, %g1 : tensor<0xf32>, tensor<3x0xbf16>)
      moments(%m0, %v0, %m1, %v1 : tensor<0xf32>, tensor<0xf32>,
                                   tensor<3x0xbf16>, tensor<3x0xbf16>)
      stats(%stats : tensor<2x2xf64>) counts(%counts : tensor<2x2xi64>)
      steps(%steps : tensor<2xi64>) lr(%lr) weight_decay(%wd)
  return %r#0, %r#1 : tensor<0xf32>, tensor<3x0xbf16>
}
