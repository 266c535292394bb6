// RUN: gs-opt %s --gs-to-llvm | FileCheck %s
// RUN: gs-opt %s --gs-to-llvm="bare-ptr-abi=1" | FileCheck %s --check-prefix=BARE
// RUN: gs-opt %s --convert-gs-to-loops --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --canonicalize | FileCheck %s --check-prefix=INPLACE

// The in-place entry point a host calls: the caller's buffers become tensors
// (restrict: nothing else aliases them), the step runs, and the new values are
// materialized back into the same buffers. Bufferization makes it in place:
// no copy of any tensor. What it allocates is the step's small tables (the
// tensors' addresses, chunk offsets, hyperparameters) and scratch (one f64
// per chunk, a record per tensor), on the stack while they are small; the
// one loop nest of the generic step then serves every tensor, with a chunk
// body per element type.

// INPLACE-LABEL: func @step
// INPLACE-NOT: memref.copy
// INPLACE: memref.alloca() : memref<7xf64>
// INPLACE: memref.alloca() : memref<2x5xi64>
// INPLACE: gs.multi_tensor_step #gs.lion<> table(%{{.*}} : memref<2x5xi64>) {{.*}}element_type = f32, element_types = [f32, bf16]
// INPLACE-NOT: gs.multi_tensor_step
// INPLACE-NOT: memref.copy
// INPLACE: return

// CHECK-LABEL: llvm.func @step
// CHECK: llvm.alloca
// CHECK: llvm.load {{.*}} : !llvm.ptr -> vector<16xf32>
// CHECK: llvm.intr.vector.reduce.fadd
// CHECK: llvm.load {{.*}} : !llvm.ptr -> vector<8xf32>
// CHECK: llvm.store {{.*}} : vector<8xf32>, !llvm.ptr
// CHECK: llvm.load {{.*}} : !llvm.ptr -> vector<8xbf16>
// CHECK: llvm.store {{.*}} : vector<8xbf16>, !llvm.ptr
// CHECK-NOT: llvm.call @malloc

// With bare pointers the entry point is a plain C function.
// BARE: llvm.func @step(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: f64, %{{.*}}: f64) {
func.func @step(%p0: memref<1000xf32>, %p1: memref<3x7xbf16>,
                %g0: memref<1000xf32>, %g1: memref<3x7xbf16>,
                %m0: memref<1000xf32>, %m1: memref<3x7xbf16>,
                %stats: memref<2x2xf64>, %counts: memref<2x2xi64>,
                %steps: memref<2xi64>, %lr: f64, %wd: f64) {
  %tp0 = bufferization.to_tensor %p0 restrict writable : memref<1000xf32> to tensor<1000xf32>
  %tp1 = bufferization.to_tensor %p1 restrict writable : memref<3x7xbf16> to tensor<3x7xbf16>
  %tg0 = bufferization.to_tensor %g0 restrict : memref<1000xf32> to tensor<1000xf32>
  %tg1 = bufferization.to_tensor %g1 restrict : memref<3x7xbf16> to tensor<3x7xbf16>
  %tm0 = bufferization.to_tensor %m0 restrict writable : memref<1000xf32> to tensor<1000xf32>
  %tm1 = bufferization.to_tensor %m1 restrict writable : memref<3x7xbf16> to tensor<3x7xbf16>
  %ts = bufferization.to_tensor %stats restrict writable : memref<2x2xf64> to tensor<2x2xf64>
  %tc = bufferization.to_tensor %counts restrict writable : memref<2x2xi64> to tensor<2x2xi64>
  %tt = bufferization.to_tensor %steps restrict writable : memref<2xi64> to tensor<2xi64>
  %r:7 = gs.group_step #gs.lion<>
      params(%tp0, %tp1 : tensor<1000xf32>, tensor<3x7xbf16>)
      grads(%tg0, %tg1 : tensor<1000xf32>, tensor<3x7xbf16>)
      moments(%tm0, %tm1 : tensor<1000xf32>, tensor<3x7xbf16>)
      stats(%ts : tensor<2x2xf64>) counts(%tc : tensor<2x2xi64>)
      steps(%tt : tensor<2xi64>) lr(%lr) weight_decay(%wd)
  bufferization.materialize_in_destination %r#0 in restrict writable %p0 : (tensor<1000xf32>, memref<1000xf32>) -> ()
  bufferization.materialize_in_destination %r#1 in restrict writable %p1 : (tensor<3x7xbf16>, memref<3x7xbf16>) -> ()
  bufferization.materialize_in_destination %r#2 in restrict writable %m0 : (tensor<1000xf32>, memref<1000xf32>) -> ()
  bufferization.materialize_in_destination %r#3 in restrict writable %m1 : (tensor<3x7xbf16>, memref<3x7xbf16>) -> ()
  bufferization.materialize_in_destination %r#4 in restrict writable %stats : (tensor<2x2xf64>, memref<2x2xf64>) -> ()
  bufferization.materialize_in_destination %r#5 in restrict writable %counts : (tensor<2x2xi64>, memref<2x2xi64>) -> ()
  bufferization.materialize_in_destination %r#6 in restrict writable %steps : (tensor<2xi64>, memref<2xi64>) -> ()
  return
}
