// RUN: gs-opt %s -split-input-file --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --canonicalize | FileCheck %s

// gs.group_step bufferizes in place (no copy of any tensor) into a
// gs.multi_tensor_step over a table of its buffers' addresses: the code is
// the same loop nest or kernels for any number of tensors.

// CHECK-LABEL: func @adamw
// CHECK-SAME: (%[[P0:.*]]: memref<1000xf32>, %[[P1:.*]]: memref<3x7xf32>, %[[G0:.*]]: memref<1000xf32>, %[[G1:.*]]: memref<3x7xf32>, %{{.*}}: memref<1000xf32>, %{{.*}}: memref<1000xf32>, %{{.*}}: memref<3x7xf32>, %{{.*}}: memref<3x7xf32>, %[[S:.*]]: memref<2x2xf64>, %[[C:.*]]: memref<2x2xi64>, %[[T:.*]]: memref<2xi64>, %[[LR:.*]]: f64, %[[WD:.*]]: f64)
// CHECK-NOT: memref.copy
// hyper: lr, weight_decay, gamma1, gamma2, eps, beta1, beta2, eps.
// CHECK: %[[HYPER:.*]] = memref.alloca() : memref<8xf64>
// CHECK: memref.store %[[LR]], %[[HYPER]][%c0]
// CHECK: memref.store %[[WD]], %[[HYPER]][%c1]
// The table: [numel, param, grad, exp_avg, exp_avg_sq] per tensor.
// CHECK: %[[TABLE:.*]] = memref.alloca() : memref<2x5xi64>
// CHECK: memref.store %c1000_i64, %[[TABLE]][%c0, %c0]
// CHECK: memref.extract_aligned_pointer_as_index
// CHECK: memref.store %c21_i64, %[[TABLE]][%c1, %c0]
// Chunk offsets: 1000 elements are one chunk, 21 another.
// CHECK: %[[CO:.*]] = memref.alloca() : memref<3xi64>
// CHECK: memref.store %c2_i64, %[[CO]][%c2]
// CHECK: %[[PARTIALS:.*]] = memref.alloca() : memref<2xf64>
// CHECK: %[[RECORDS:.*]] = memref.alloca() : memref<32xf32>
// CHECK: gs.multi_tensor_step #gs.adamw<> table(%[[TABLE]] : memref<2x5xi64>) chunk_offsets(%[[CO]] : memref<3xi64>) hyper(%[[HYPER]] : memref<8xf64>) stats(%[[S]] : memref<2x2xf64>) counts(%[[C]] : memref<2x2xi64>) steps(%[[T]] : memref<2xi64>) scratch(%[[PARTIALS]], %[[RECORDS]] : memref<2xf64>, memref<32xf32>) {chunk_size = 16384 : i64, element_type = f32}
// CHECK-NOT: memref.copy
// CHECK: return
func.func @adamw(%p0: tensor<1000xf32>, %p1: tensor<3x7xf32>,
                 %g0: tensor<1000xf32>, %g1: tensor<3x7xf32>,
                 %a0: tensor<1000xf32>, %b0: tensor<1000xf32>,
                 %a1: tensor<3x7xf32>, %b1: tensor<3x7xf32>,
                 %stats: tensor<2x2xf64>, %counts: tensor<2x2xi64>,
                 %steps: tensor<2xi64>, %lr: f64, %wd: f64)
    -> (tensor<1000xf32>, tensor<3x7xf32>, tensor<1000xf32>, tensor<1000xf32>,
        tensor<3x7xf32>, tensor<3x7xf32>, tensor<2x2xf64>, tensor<2x2xi64>,
        tensor<2xi64>) {
  %r:9 = gs.group_step #gs.adamw<>
      params(%p0, %p1 : tensor<1000xf32>, tensor<3x7xf32>)
      grads(%g0, %g1 : tensor<1000xf32>, tensor<3x7xf32>)
      moments(%a0, %b0, %a1, %b1 : tensor<1000xf32>, tensor<1000xf32>,
                                   tensor<3x7xf32>, tensor<3x7xf32>)
      stats(%stats : tensor<2x2xf64>) counts(%counts : tensor<2x2xi64>)
      steps(%steps : tensor<2xi64>) lr(%lr) weight_decay(%wd)
  return %r#0, %r#1, %r#2, %r#3, %r#4, %r#5, %r#6, %r#7, %r#8
      : tensor<1000xf32>, tensor<3x7xf32>, tensor<1000xf32>, tensor<1000xf32>,
        tensor<3x7xf32>, tensor<3x7xf32>, tensor<2x2xf64>, tensor<2x2xi64>,
        tensor<2xi64>
}

// -----

// A group of several element types is still one step: the table gets a
// last column with each row's index into element_types, and the state
// stays the group's own (no copies). With a loss scale the whole group
// skips on any non-finite gradient, which the one scalars phase decides.

// CHECK-LABEL: func @mixed_inv_scale
// CHECK-SAME: %[[S:[a-z0-9]+]]: memref<2x2xf64>, %[[C:[a-z0-9]+]]: memref<2x2xi64>, %[[T:[a-z0-9]+]]: memref<2xi64>, %{{.*}}: f64, %{{.*}}: f64, %[[INV:.*]]: memref<f32>)
// CHECK-NOT: memref.copy
// CHECK: %[[TABLE:.*]] = memref.alloca() : memref<2x4xi64>
// CHECK: memref.store %c0_i64, %[[TABLE]][%c0, %c3]
// CHECK: memref.store %c1_i64, %[[TABLE]][%c1, %c3]
// CHECK: gs.multi_tensor_step #gs.sgd<> table(%[[TABLE]] : memref<2x4xi64>) {{.*}} stats(%[[S]] : memref<2x2xf64>) counts(%[[C]] : memref<2x2xi64>) steps(%[[T]] : memref<2xi64>) {{.*}} inv_scale(%[[INV]] : memref<f32>) {chunk_size = 16384 : i64, element_type = f32, element_types = [f32, bf16]}
// CHECK-NOT: gs.multi_tensor_step
// CHECK-NOT: memref.copy
// CHECK: return
func.func @mixed_inv_scale(%p0: tensor<8xf32>, %p1: tensor<8xbf16>,
                           %g0: tensor<8xf32>, %g1: tensor<8xbf16>,
                           %stats: tensor<2x2xf64>, %counts: tensor<2x2xi64>,
                           %steps: tensor<2xi64>, %lr: f64, %wd: f64,
                           %inv: tensor<f32>)
    -> (tensor<8xf32>, tensor<8xbf16>, tensor<2x2xf64>, tensor<2x2xi64>,
        tensor<2xi64>) {
  %r:5 = gs.group_step #gs.sgd<>
      params(%p0, %p1 : tensor<8xf32>, tensor<8xbf16>)
      grads(%g0, %g1 : tensor<8xf32>, tensor<8xbf16>)
      stats(%stats : tensor<2x2xf64>) counts(%counts : tensor<2x2xi64>)
      steps(%steps : tensor<2xi64>) lr(%lr) weight_decay(%wd)
      inv_scale(%inv)
  return %r#0, %r#1, %r#2, %r#3, %r#4
      : tensor<8xf32>, tensor<8xbf16>, tensor<2x2xf64>, tensor<2x2xi64>,
        tensor<2xi64>
}

// -----

// Bias corrections given as values end the hyper buffer; the step is
// flagged so that it reads them instead of computing 1 - beta^t.

// CHECK-LABEL: func @adam_bias_corrections
// CHECK-SAME: %[[LR:[a-z0-9]+]]: f64, %[[WD:[a-z0-9]+]]: f64, %[[BC1:[a-z0-9]+]]: f64, %[[BC2:[a-z0-9]+]]: f64)
// hyper: lr, weight_decay, gamma1, gamma2, eps, beta1, beta2, eps, bc1, bc2.
// CHECK: %[[HYPER:.*]] = memref.alloca() : memref<10xf64>
// CHECK: memref.store %[[BC1]], %[[HYPER]][%c8]
// CHECK: memref.store %[[BC2]], %[[HYPER]][%c9]
// CHECK: gs.multi_tensor_step #gs.adam<> {{.*}} hyper(%[[HYPER]] : memref<10xf64>) {{.*}} {bias_corrections, chunk_size = 16384 : i64, element_type = f32}
func.func @adam_bias_corrections(%p: tensor<100xf32>, %g: tensor<100xf32>,
                                 %a: tensor<100xf32>, %b: tensor<100xf32>,
                                 %stats: tensor<1x2xf64>,
                                 %counts: tensor<1x2xi64>,
                                 %steps: tensor<1xi64>, %lr: f64, %wd: f64,
                                 %bc1: f64, %bc2: f64)
    -> (tensor<100xf32>, tensor<100xf32>, tensor<100xf32>, tensor<1x2xf64>,
        tensor<1x2xi64>, tensor<1xi64>) {
  %r:6 = gs.group_step #gs.adam<>
      params(%p : tensor<100xf32>) grads(%g : tensor<100xf32>)
      moments(%a, %b : tensor<100xf32>, tensor<100xf32>)
      stats(%stats : tensor<1x2xf64>) counts(%counts : tensor<1x2xi64>)
      steps(%steps : tensor<1xi64>) lr(%lr) weight_decay(%wd)
      bias_corrections(%bc1, %bc2)
  return %r#0, %r#1, %r#2, %r#3, %r#4, %r#5
      : tensor<100xf32>, tensor<100xf32>, tensor<100xf32>, tensor<1x2xf64>,
        tensor<1x2xi64>, tensor<1xi64>
}

// -----

// A strided view (here of a slice) is stepped in a contiguous heap copy,
// copied in and back by loops (a memref.copy between layouts would need the
// runtime's memrefCopy), and a table or scratch beyond 64 KiB lives on
// the heap too (8,194 chunks: 65,552 bytes of partial sums). Both are freed
// right after the step under manual deallocation, so upstream's
// ownership-based deallocation leaves them alone.
// CHECK-LABEL: func @heap_buffers
// CHECK-SAME: (%[[P:.*]]: memref<8xf32>, %[[G:.*]]: memref<4xf32>, %[[Q:.*]]: memref<134234112xf32>
// CHECK: %[[VIEW:.*]] = memref.subview %[[P]][0] [4] [2]
// CHECK: %[[COPY:.*]] = memref.alloc() {bufferization.manual_deallocation} : memref<4xf32>
// CHECK: scf.for %[[I:.*]] = %c0 to %c4 step %c1 {
// CHECK-NEXT: %[[X:.*]] = memref.load %[[VIEW]][%[[I]]] : memref<4xf32, strided<[2]>>
// CHECK-NEXT: memref.store %[[X]], %[[COPY]][%[[I]]] : memref<4xf32>
// CHECK: %[[PARTIALS:.*]] = memref.alloc() {bufferization.manual_deallocation} : memref<8194xf64>
// CHECK: gs.multi_tensor_step
// CHECK-SAME: scratch(%[[PARTIALS]], %{{.*}} : memref<8194xf64>, memref<32xf32>)
// CHECK-NEXT: scf.for %[[J:.*]] = %c0 to %c4 step %c1 {
// CHECK-NEXT: %[[Y:.*]] = memref.load %[[COPY]][%[[J]]] : memref<4xf32>
// CHECK-NEXT: memref.store %[[Y]], %[[VIEW]][%[[J]]] : memref<4xf32, strided<[2]>>
// CHECK-NEXT: }
// CHECK-NEXT: memref.dealloc %[[COPY]] {bufferization.manual_deallocation}
// CHECK-NEXT: memref.dealloc %[[PARTIALS]] {bufferization.manual_deallocation}
// CHECK-NOT: memref.dealloc
// CHECK: return
func.func @heap_buffers(%p: tensor<8xf32>, %g: tensor<4xf32>,
                        %q: tensor<134234112xf32>, %h: tensor<134234112xf32>,
                        %stats: tensor<2x2xf64>, %counts: tensor<2x2xi64>,
                        %steps: tensor<2xi64>, %lr: f64, %wd: f64)
    -> (tensor<8xf32>, tensor<134234112xf32>, tensor<2x2xf64>,
        tensor<2x2xi64>, tensor<2xi64>) {
  %s = tensor.extract_slice %p[0] [4] [2] : tensor<8xf32> to tensor<4xf32>
  %r:5 = gs.group_step #gs.sgd<>
      params(%s, %q : tensor<4xf32>, tensor<134234112xf32>)
      grads(%g, %h : tensor<4xf32>, tensor<134234112xf32>)
      stats(%stats : tensor<2x2xf64>) counts(%counts : tensor<2x2xi64>)
      steps(%steps : tensor<2xi64>) lr(%lr) weight_decay(%wd)
  %u = tensor.insert_slice %r#0 into %p[0] [4] [2] : tensor<4xf32> into tensor<8xf32>
  return %u, %r#1, %r#2, %r#3, %r#4
      : tensor<8xf32>, tensor<134234112xf32>, tensor<2x2xf64>,
        tensor<2x2xi64>, tensor<2xi64>
}
