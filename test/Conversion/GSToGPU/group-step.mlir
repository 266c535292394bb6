// RUN: gs-opt %s --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --canonicalize \
// RUN:   --convert-gs-to-gpu="chunk-size=256 kernel-param-limit=32" --split-input-file | FileCheck %s
// RUN: %not gs-opt %s --convert-gs-to-gpu --split-input-file 2>&1 | FileCheck %s --check-prefix=UNBUFFERIZED

// A static group reaches the GPU lowering bufferized: one gs.multi_tensor_step
// over host-built tables of its buffers' addresses. The pass gives the tables
// and scratch device twins on the step's stream (the inputs copied in), then
// launches the three generic kernels, whose parameters do not grow with the
// group (chunk-size and kernel-param-limit no longer apply: accepted, no
// effect).

// CHECK-LABEL: func.func @two_types(
// CHECK-SAME:    %[[P0:[a-z0-9]+]]: memref<1000xf32>, %[[P1:[a-z0-9]+]]: memref<8x8xbf16>
// CHECK-SAME:    %[[STATS:[a-z0-9]+]]: memref<2x2xf64>
// Lion's table: numel, param, grad, exp_avg and the element type index.
// CHECK:         %[[HYPER:.*]] = memref.alloca() : memref<7xf64>
// CHECK:         %[[TABLE:.*]] = memref.alloca() : memref<2x5xi64>
// CHECK:         memref.extract_aligned_pointer_as_index %[[P0]]
// CHECK:         memref.store %c1_i64, %[[TABLE]][%c1, %c4]
// CHECK:         %[[OFFSETS:.*]] = memref.alloca() : memref<3xi64>
// CHECK:         %[[PARTIALS:.*]] = memref.alloca() : memref<2xf64>
// CHECK:         %[[RECORDS:.*]] = memref.alloca() : memref<32xf32>
// CHECK:         %[[T0:.*]] = gpu.wait async
// CHECK:         %[[DTABLE:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] () : memref<2x5xi64>
// CHECK:         %[[T2:.*]] = gpu.memcpy async [%[[T1]]] %[[DTABLE]], %[[TABLE]]
// CHECK:         %[[DOFFSETS:.*]], %[[T3:.*]] = gpu.alloc async [%[[T2]]] () : memref<3xi64>
// CHECK:         gpu.memcpy async {{.*}} %[[DOFFSETS]], %[[OFFSETS]]
// CHECK:         gpu.memcpy async {{.*}}, %[[HYPER]]
// Scratch: nothing to copy in.
// CHECK:         %[[DPARTIALS:.*]], %{{.*}} = gpu.alloc async {{.*}} : memref<2xf64>
// CHECK-NEXT:    %[[DRECORDS:.*]], %[[T4:.*]] = gpu.alloc async {{.*}} : memref<32xf32>
// The host knows the number of chunks: no block without one.
// CHECK:         %[[CHUNKS:.*]] = memref.load %[[OFFSETS]]
// CHECK:         %[[GRID:.*]] = arith.maxui
// CHECK:         memref.extract_aligned_pointer_as_index %[[DTABLE]]
// CHECK:         %[[L1:.*]] = gpu.launch_func async [%[[T4]]] @gs_multi_tensor_step::@norms blocks in (%[[GRID]],
// CHECK:         memref.extract_aligned_pointer_as_index %[[STATS]]
// CHECK:         %[[L2:.*]] = gpu.launch_func async [%[[L1]]] @gs_multi_tensor_step::@scalars blocks in (%c1
// CHECK:         %[[L3:.*]] = gpu.launch_func async [%[[L2]]] @gs_multi_tensor_step::@update blocks in (%[[GRID]],
// CHECK:         %[[D1:.*]] = gpu.dealloc async [%[[L3]]] %[[DTABLE]]
// CHECK-COUNT-4: gpu.dealloc async
// CHECK-NEXT:    gpu.wait [
// CHECK-NOT:     gpu.launch_func
// CHECK:         return %[[P0]], %[[P1]]

// One kernel module: the chunk body per element type, chosen by the row.
// CHECK:       gpu.module @gs_multi_tensor_step {
// CHECK:         gpu.func @norms(%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: index, %{{.*}}: index)
// CHECK:           scf.index_switch
// CHECK:             vector.load %{{.*}} {alignment = 16 : i64} : memref<?xf32, #gpu.address_space<global>>, vector<4xf32>
// CHECK:             vector.load %{{.*}} {alignment = 16 : i64} : memref<?xbf16, #gpu.address_space<global>>, vector<8xbf16>
// CHECK-NOT:       atomic
// CHECK:         gpu.func @scalars(
// CHECK:         gpu.func @update(
// CHECK:           scf.index_switch
// CHECK-NOT:     gpu.module

// UNBUFFERIZED: error: 'gs.group_step' op must be bufferized before convert-gs-to-gpu: one-shot-bufferize turns it into a gs.multi_tensor_step over tables of its buffers (the gs-to-nvvm and gs-to-gpu-emulator pipelines do both)
func.func @two_types(%p0: tensor<1000xf32>, %p1: tensor<8x8xbf16>,
                     %g0: tensor<1000xf32>, %g1: tensor<8x8xbf16>,
                     %m0: tensor<1000xf32>, %m1: tensor<8x8xbf16>,
                     %stats: tensor<2x2xf64>, %counts: tensor<2x2xi64>,
                     %steps: tensor<2xi64>, %lr: f64, %wd: f64,
                     %inv: tensor<f32>, %found: tensor<f32>)
    -> (tensor<1000xf32>, tensor<8x8xbf16>, tensor<1000xf32>,
        tensor<8x8xbf16>, tensor<2x2xf64>, tensor<2x2xi64>, tensor<2xi64>) {
  %r:7 = gs.group_step #gs.lion<>
      params(%p0, %p1 : tensor<1000xf32>, tensor<8x8xbf16>)
      grads(%g0, %g1 : tensor<1000xf32>, tensor<8x8xbf16>)
      moments(%m0, %m1 : tensor<1000xf32>, tensor<8x8xbf16>)
      stats(%stats : tensor<2x2xf64>) counts(%counts : tensor<2x2xi64>)
      steps(%steps : tensor<2xi64>) lr(%lr) weight_decay(%wd)
      inv_scale(%inv) found_inf(%found)
  return %r#0, %r#1, %r#2, %r#3, %r#4, %r#5, %r#6
      : tensor<1000xf32>, tensor<8x8xbf16>, tensor<1000xf32>,
        tensor<8x8xbf16>, tensor<2x2xf64>, tensor<2x2xi64>, tensor<2xi64>
}

// -----

// One element type: no type column, no switch. The in-place entry point a
// host calls (memref arguments as restrict tensors, the results materialized
// back) lowers the same way, with no copy of any buffer.

// CHECK-LABEL: func.func @in_place(
// CHECK-NOT:     memref.copy
// CHECK:         memref.alloca() : memref<1x3xi64>
// CHECK-COUNT-3: gpu.launch_func
// CHECK-NOT:     gpu.launch_func
// CHECK-NOT:     memref.copy
// CHECK:       gpu.module @gs_multi_tensor_step {
// CHECK:         gpu.func @norms
// CHECK-NOT:       scf.index_switch
// CHECK:         gpu.func @scalars
func.func @in_place(%p: memref<64xf32>, %g: memref<64xf32>,
                    %stats: memref<1x2xf64>, %counts: memref<1x2xi64>,
                    %steps: memref<1xi64>, %lr: f64, %wd: f64) {
  %tp = bufferization.to_tensor %p restrict writable : memref<64xf32> to tensor<64xf32>
  %tg = bufferization.to_tensor %g restrict : memref<64xf32> to tensor<64xf32>
  %ts = bufferization.to_tensor %stats restrict writable : memref<1x2xf64> to tensor<1x2xf64>
  %tc = bufferization.to_tensor %counts restrict writable : memref<1x2xi64> to tensor<1x2xi64>
  %tt = bufferization.to_tensor %steps restrict writable : memref<1xi64> to tensor<1xi64>
  %r:4 = gs.group_step #gs.sgd<>
      params(%tp : tensor<64xf32>) grads(%tg : tensor<64xf32>)
      stats(%ts : tensor<1x2xf64>) counts(%tc : tensor<1x2xi64>)
      steps(%tt : tensor<1xi64>) lr(%lr) weight_decay(%wd)
  bufferization.materialize_in_destination %r#0 in restrict writable %p : (tensor<64xf32>, memref<64xf32>) -> ()
  bufferization.materialize_in_destination %r#1 in restrict writable %stats : (tensor<1x2xf64>, memref<1x2xf64>) -> ()
  bufferization.materialize_in_destination %r#2 in restrict writable %counts : (tensor<1x2xi64>, memref<1x2xi64>) -> ()
  bufferization.materialize_in_destination %r#3 in restrict writable %steps : (tensor<1xi64>, memref<1xi64>) -> ()
  return
}
