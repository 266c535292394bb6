// RUN: gs-opt %s --convert-gs-to-gpu="chunk-size=256" --split-input-file \
// RUN:   | FileCheck %s

// Two tensors of two element types: one gpu.module, three kernels, three
// launches in order on one stream whatever the number of tensors.

// CHECK-LABEL: func.func @two_types(
// CHECK-DAG:     %[[P0:.*]] = bufferization.to_buffer %arg0 : tensor<1000xf32> to memref<1000xf32>
// CHECK-DAG:     %[[G0:.*]] = bufferization.to_buffer %arg2 read_only : tensor<1000xf32> to memref<1000xf32>
// CHECK-DAG:     %[[G1:.*]] = bufferization.to_buffer %arg3 read_only : tensor<8x8xbf16> to memref<8x8xbf16>
// CHECK-DAG:     %[[STATS:.*]] = bufferization.to_buffer %arg6 : tensor<2x2xf64> to memref<2x2xf64>
// CHECK:         %[[T0:.*]] = gpu.wait async
// CHECK:         %[[T1:.*]] = gpu.launch_func async [%[[T0]]] @gs_group_step::@norms blocks in (%{{[a-z0-9_]+}},
// CHECK-SAME:      threads in (%c256,
// CHECK-SAME:      args(%[[G0]] : memref<1000xf32>, %[[G1]] : memref<8x8xbf16>)
// CHECK:         %[[T2:.*]] = gpu.launch_func async [%[[T1]]] @gs_group_step::@scalars blocks in (%c1
// CHECK-SAME:      args(%[[STATS]] : memref<2x2xf64>
// CHECK:         %[[T3:.*]] = gpu.launch_func async [%[[T2]]] @gs_group_step::@update blocks in (%{{[a-z0-9_]+}},
// CHECK-SAME:      args(%[[P0]] : memref<1000xf32>
// CHECK:         gpu.wait [%[[T3]]]
// CHECK-NOT:     gpu.launch_func
// CHECK:         bufferization.to_tensor %[[P0]] restrict writable
// CHECK:         return

// The chunk table: 1000 f32 elements are 4 chunks of 256, 64 bf16 one.
// CHECK:       gpu.module @gs_group_step {
// CHECK-DAG:     memref.global "private" constant @gs_chunk_bounds : memref<3xi64, #gpu.address_space<global>> = dense<[0, 4, 5]>
// CHECK-DAG:     memref.global "private" constant @gs_tensor_class : memref<2xi32, #gpu.address_space<global>> = dense<[0, 1]>
// CHECK-DAG:     memref.global "private" @gs_partials : memref<5xf64, #gpu.address_space<global>> = uninitialized
// CHECK-DAG:     memref.global "private" @gs_norms : memref<2xf64, #gpu.address_space<global>> = uninitialized
// Lion: enabled, the two factors and 6 step scalars per tensor.
// CHECK-DAG:     memref.global "private" @gs_records : memref<18xf32, #gpu.address_space<global>> = uninitialized

// Norms: grid-stride over chunks, 128-bit loads, f64 squares, block sum.
// CHECK:         gpu.func @norms(%{{.*}}: memref<1000xf32>, %{{.*}}: memref<8x8xbf16>) workgroup(%[[SHARED:.*]] : memref<8xf64, #gpu.address_space<workgroup>>) kernel
// CHECK-SAME:      known_block_size = array<i32: 256, 1, 1>
// CHECK:           scf.for
// CHECK:             scf.while
// CHECK:             scf.index_switch
// Cases print before the default: bf16 (class 1), then f32 (class 0).
// CHECK:               vector.load %{{.*}} {alignment = 16 : i64} : memref<?xbf16>, vector<8xbf16>
// CHECK:               vector.load %{{.*}} {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK:               arith.extf %{{.*}} : vector<4xf32> to vector<4xf64>
// CHECK:             gpu.shuffle  xor
// CHECK:             gpu.barrier
// CHECK:             memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<5xf64, #gpu.address_space<global>>
// CHECK:             gpu.barrier
// CHECK-NOT:       atomic

// Scalars: one block; norms, skip decision, GS math, records.
// CHECK:         gpu.func @scalars(%{{.*}}: memref<2x2xf64>, %{{.*}}: memref<2x2xi64>, %{{.*}}: memref<2xi64>, %{{.*}}: memref<f32>, %{{.*}}: memref<f32>, %{{.*}}: f64, %{{.*}}: f64)
// CHECK:           math.sqrt
// CHECK:           gpu.barrier
// CHECK:           scf.while
// CHECK:           memref.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : memref<2x2xf64>

// Update: skips disabled tensors, vectors then elements.
// CHECK:         gpu.func @update(
// CHECK:           scf.if
// CHECK:             vector.store %{{.*}} {alignment = 16 : i64} : memref<?xbf16>, vector<8xbf16>
// CHECK:             vector.load %{{.*}} {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK:             vector.store %{{.*}} {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK:             memref.store %{{.*}} : memref<?xf32>
// CHECK-NOT:     gpu.module
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

// One tensor, one type: no class table, no tensor search, no switch.

// CHECK-LABEL: func.func @single(
// CHECK-COUNT-3: gpu.launch_func
// CHECK-NOT:     gpu.launch_func
// CHECK:       gpu.module @gs_group_step {
// CHECK-NOT:     @gs_tensor_class
// CHECK:         gpu.func @norms
// CHECK-NOT:       scf.while
// CHECK-NOT:       scf.index_switch
// CHECK:         gpu.func @scalars
func.func @single(%p: tensor<64xf32>, %g: tensor<64xf32>,
                  %stats: tensor<1x2xf64>, %counts: tensor<1x2xi64>,
                  %steps: tensor<1xi64>, %lr: f64, %wd: f64)
    -> (tensor<64xf32>, tensor<1x2xf64>, tensor<1x2xi64>, tensor<1xi64>) {
  %r:4 = gs.group_step #gs.sgd<>
      params(%p : tensor<64xf32>) grads(%g : tensor<64xf32>)
      stats(%stats : tensor<1x2xf64>) counts(%counts : tensor<1x2xi64>)
      steps(%steps : tensor<1xi64>) lr(%lr) weight_decay(%wd)
  return %r#0, %r#1, %r#2, %r#3
      : tensor<64xf32>, tensor<1x2xf64>, tensor<1x2xi64>, tensor<1xi64>
}
