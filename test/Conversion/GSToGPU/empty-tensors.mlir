// RUN: gs-opt %s --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --canonicalize \
// RUN:   --convert-gs-to-gpu --split-input-file | FileCheck %s
// RUN: gs-opt %s --gs-to-gpu-emulator --split-input-file -o /dev/null
// RUN: gs-opt %s --gs-to-nvvm="chip=sm_90" --split-input-file -o /dev/null

// Groups where every tensor of one element type, or every tensor, has no
// elements (they used to crash the static GPU emitter, which looked for a
// tensor of each type to build its loop for). Now an empty tensor is a
// table row of 0 elements that owns no chunk; the kernels are the generic
// ones whatever the shapes.

// Every bf16 tensor is empty: 1000 f32 elements are the one chunk; the
// empty rows still get their element type index.
// CHECK-LABEL: func.func @empty_bf16(
// CHECK:         %[[TABLE:.*]] = memref.alloca() : memref<3x4xi64>
// CHECK:         memref.store %c0_i64, %[[TABLE]][%c1, %c0]
// CHECK:         memref.store %c1_i64, %[[TABLE]][%c2, %c3]
// CHECK:         %[[OFFSETS:.*]] = memref.alloca() : memref<4xi64>
// CHECK:         memref.store %c1_i64, %[[OFFSETS]][%c3]
// CHECK:         gpu.launch_func async {{.*}} @gs_multi_tensor_step::@norms
// CHECK:         gpu.launch_func async {{.*}} @gs_multi_tensor_step::@scalars
// CHECK:         gpu.launch_func async {{.*}} @gs_multi_tensor_step::@update
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

// Every tensor is empty: no chunk at all, one block per chunked launch
// (which finds nothing to do); the scalars phase still advances the state
// (each gradient has norm 0). Scratch keeps one partial so no buffer is
// empty.
// CHECK-LABEL: func.func @all_empty(
// CHECK:         %[[OFFSETS:.*]] = memref.alloca() : memref<3xi64>
// CHECK:         memref.store %c0_i64, %[[OFFSETS]][%c2]
// CHECK:         memref.alloca() : memref<1xf64>
// CHECK:         %[[CHUNKS:.*]] = memref.load %[[OFFSETS]]
// CHECK:         %[[CAST:.*]] = arith.index_cast %[[CHUNKS]]
// CHECK:         %[[MIN:.*]] = arith.minui %[[CAST]]
// CHECK:         %[[GRID:.*]] = arith.maxui %[[MIN]], %{{.*}} :
// CHECK:         gpu.launch_func async {{.*}} @gs_multi_tensor_step::@norms blocks in (%[[GRID]],
// CHECK:         gpu.launch_func async {{.*}} @gs_multi_tensor_step::@scalars
// CHECK:         gpu.launch_func async {{.*}} @gs_multi_tensor_step::@update blocks in (%[[GRID]],
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
