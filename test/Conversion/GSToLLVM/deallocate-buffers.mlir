// RUN: gs-opt %s -split-input-file -gs-deallocate-buffers | FileCheck %s
// RUN: gs-opt %s -split-input-file -gs-deallocate-buffers='private-function-dynamic-ownership=true' | FileCheck %s --check-prefix=DYNAMIC

// Nothing on the heap: the returned arguments become the caller's clones
// (the ownership ABI), and no deallocation is built.
// CHECK-LABEL: func.func @returns_arguments
// CHECK-SAME: (%[[P:.*]]: memref<8xf32>, %[[G:.*]]: memref<8xf32>)
// CHECK: %[[T:.*]] = memref.alloca() : memref<2xi64>
// CHECK: memref.store
// CHECK-DAG: %[[CP:.*]] = bufferization.clone %[[P]]
// CHECK-DAG: %[[CG:.*]] = bufferization.clone %[[G]]
// CHECK-NOT: dealloc
// CHECK: return %[[CP]], %[[CG]]
func.func @returns_arguments(%p: memref<8xf32>, %g: memref<8xf32>)
    -> (memref<8xf32>, memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %table = memref.alloca() : memref<2xi64>
  %x = memref.load %g[%c0] : memref<8xf32>
  memref.store %x, %p[%c0] : memref<8xf32>
  return %p, %g : memref<8xf32>, memref<8xf32>
}

// -----

// A view of an argument and a global are not the function's either.
// CHECK-LABEL: func.func @returns_views
// CHECK: %[[V:.*]] = memref.subview
// CHECK: %[[G:.*]] = memref.get_global
// CHECK: %[[CV:.*]] = bufferization.clone %[[V]]
// CHECK: %[[CG:.*]] = bufferization.clone %[[G]]
// CHECK: return %[[CV]], %[[CG]]
memref.global "private" constant @table : memref<2xf32> = dense<[1.0, 2.0]>
func.func @returns_views(%p: memref<8xf32>)
    -> (memref<4xf32, strided<[1], offset: 2>>, memref<2xf32>) {
  %v = memref.subview %p[2] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: 2>>
  %g = memref.get_global @table : memref<2xf32>
  return %v, %g : memref<4xf32, strided<[1], offset: 2>>, memref<2xf32>
}

// -----

// In place, nothing returned: unchanged.
// CHECK-LABEL: func.func @in_place
// CHECK-NEXT: arith.constant
// CHECK-NEXT: memref.load
// CHECK-NEXT: memref.store
// CHECK-NEXT: return
func.func @in_place(%p: memref<8xf32>, %g: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %x = memref.load %g[%c0] : memref<8xf32>
  memref.store %x, %p[%c0] : memref<8xf32>
  return
}

// -----

// A heap allocation under manual deallocation (a bufferized gs.group_step's
// large table) is freed by whoever made it: still the fast path, only the
// returned argument is cloned, and the dealloc stays the only one.
// CHECK-LABEL: func.func @manual_heap
// CHECK-SAME: (%[[P:.*]]: memref<8xf32>)
// CHECK: %[[A:.*]] = memref.alloc() {bufferization.manual_deallocation}
// CHECK: memref.dealloc %[[A]] {bufferization.manual_deallocation}
// CHECK-NOT: bufferization.dealloc
// CHECK-NOT: memref.dealloc
// CHECK: %[[CP:.*]] = bufferization.clone %[[P]]
// CHECK: return %[[CP]]
func.func @manual_heap(%p: memref<8xf32>) -> memref<8xf32> {
  %c0 = arith.constant 0 : index
  %table = memref.alloc() {bufferization.manual_deallocation} : memref<9000xi64>
  %x = memref.load %table[%c0] : memref<9000xi64>
  memref.store %x, %table[%c0] : memref<9000xi64>
  memref.dealloc %table {bufferization.manual_deallocation} : memref<9000xi64>
  return %p : memref<8xf32>
}

// -----

// Beside another heap allocation, upstream's pipeline runs and keeps the
// manual deallocation as it is (its runtime check that the buffer has no
// ownership folds away).
// CHECK-LABEL: func.func @manual_and_owned_heap
// CHECK: %[[T:.*]] = memref.alloc() {bufferization.manual_deallocation}
// CHECK: memref.dealloc %[[T]] {bufferization.manual_deallocation}
// CHECK: %[[A:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NOT: dealloc
// CHECK: return %[[A]]
func.func @manual_and_owned_heap(%p: memref<8xf32>) -> memref<8xf32> {
  %c0 = arith.constant 0 : index
  %table = memref.alloc() {bufferization.manual_deallocation} : memref<9000xi64>
  %x = memref.load %table[%c0] : memref<9000xi64>
  memref.store %x, %table[%c0] : memref<9000xi64>
  memref.dealloc %table {bufferization.manual_deallocation} : memref<9000xi64>
  %a = memref.alloc() : memref<8xf32>
  memref.copy %p, %a : memref<8xf32> to memref<8xf32>
  return %a : memref<8xf32>
}

// -----

// A heap allocation: upstream's whole pipeline runs, which frees it.
// CHECK-LABEL: func.func @heap
// CHECK: %[[A:.*]] = memref.alloc()
// CHECK: memref.dealloc %[[A]]
// CHECK: return
func.func @heap(%p: memref<8xf32>) {
  %a = memref.alloc() : memref<8xf32>
  memref.copy %p, %a : memref<8xf32> to memref<8xf32>
  memref.copy %a, %p : memref<8xf32> to memref<8xf32>
  return
}

// -----

// A call that returns a buffer: its ownership is tracked by the pipeline.
// Without dynamic ownership @callee returns a clone of its argument and
// @caller frees what it received; with it, @callee returns its argument and
// an ownership flag.
// CHECK-LABEL: func.func private @callee
// CHECK: bufferization.clone
// CHECK-LABEL: func.func @caller
// CHECK: %[[R:.*]] = call @callee
// CHECK: %[[BASE:.*]], %{{.*}}, %{{.*}}, %{{.*}} = memref.extract_strided_metadata %[[R]]
// CHECK: memref.dealloc %[[BASE]]
// DYNAMIC-LABEL: func.func private @callee
// DYNAMIC-SAME: -> (memref<8xf32>, i1)
// DYNAMIC-NOT: bufferization.clone
func.func private @callee(%p: memref<8xf32>) -> memref<8xf32> {
  return %p : memref<8xf32>
}
func.func @caller(%p: memref<8xf32>) {
  %r = call @callee(%p) : (memref<8xf32>) -> memref<8xf32>
  memref.copy %r, %p : memref<8xf32> to memref<8xf32>
  return
}

// -----

// An uncalled private function that returns its argument: cloned like a
// public one, unless private functions have dynamic ownership, under which
// the pipeline returns the argument and a false ownership flag.
// CHECK-LABEL: func.func private @uncalled
// CHECK: %[[C:.*]] = bufferization.clone
// CHECK: return %[[C]]
// DYNAMIC-LABEL: func.func private @uncalled
// DYNAMIC-SAME: -> (memref<8xf32>, i1)
// DYNAMIC: return %{{.*}}, %false
func.func private @uncalled(%p: memref<8xf32>) -> memref<8xf32> {
  return %p : memref<8xf32>
}
