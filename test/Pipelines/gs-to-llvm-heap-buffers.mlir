// RUN: gs-opt %s --gs-to-llvm | FileCheck %s

// The step's heap buffers on the CPU: a strided parameter is stepped in a
// contiguous copy, and one tensor of 8,193 chunks makes the partial sums
// (65,552 bytes) a heap buffer too. Each is allocated once and freed once,
// right after the step; the copies in and back are loops (no call to the
// runtime's memrefCopy), and nothing else is allocated: the deallocation
// pipeline did not run (gs-deallocate-buffers' fast path).
// CHECK-LABEL: llvm.func @step
// CHECK-COUNT-2: llvm.call @malloc
// CHECK-NOT: llvm.call @malloc
// CHECK-COUNT-2: llvm.call @free
// CHECK-NOT: llvm.call @malloc
// CHECK-NOT: llvm.call @free
// CHECK: llvm.return
// CHECK-NOT: memrefCopy
func.func @step(%p: memref<8xf32>, %g: memref<4xf32>,
                %q: memref<134234112xf32>, %h: memref<134234112xf32>,
                %s: memref<2x2xf64>, %c: memref<2x2xi64>, %t: memref<2xi64>,
                %lr: f64, %wd: f64) {
  %v = memref.subview %p[0] [4] [2] : memref<8xf32> to memref<4xf32, strided<[2]>>
  %vt = bufferization.to_tensor %v restrict writable : memref<4xf32, strided<[2]>> to tensor<4xf32>
  %gt = bufferization.to_tensor %g restrict : memref<4xf32> to tensor<4xf32>
  %qt = bufferization.to_tensor %q restrict writable : memref<134234112xf32> to tensor<134234112xf32>
  %ht = bufferization.to_tensor %h restrict : memref<134234112xf32> to tensor<134234112xf32>
  %st = bufferization.to_tensor %s restrict writable : memref<2x2xf64> to tensor<2x2xf64>
  %ct = bufferization.to_tensor %c restrict writable : memref<2x2xi64> to tensor<2x2xi64>
  %tt = bufferization.to_tensor %t restrict writable : memref<2xi64> to tensor<2xi64>
  %r:5 = gs.group_step #gs.sgd<>
      params(%vt, %qt : tensor<4xf32>, tensor<134234112xf32>)
      grads(%gt, %ht : tensor<4xf32>, tensor<134234112xf32>)
      stats(%st : tensor<2x2xf64>) counts(%ct : tensor<2x2xi64>)
      steps(%tt : tensor<2xi64>) lr(%lr) weight_decay(%wd)
  bufferization.materialize_in_destination %r#0 in restrict writable %v : (tensor<4xf32>, memref<4xf32, strided<[2]>>) -> ()
  bufferization.materialize_in_destination %r#1 in restrict writable %q : (tensor<134234112xf32>, memref<134234112xf32>) -> ()
  bufferization.materialize_in_destination %r#2 in restrict writable %s : (tensor<2x2xf64>, memref<2x2xf64>) -> ()
  bufferization.materialize_in_destination %r#3 in restrict writable %c : (tensor<2x2xi64>, memref<2x2xi64>) -> ()
  bufferization.materialize_in_destination %r#4 in restrict writable %t : (tensor<2xi64>, memref<2xi64>) -> ()
  return
}
