// RUN: gs-opt %s -split-input-file -gs-lower-to-llvm | FileCheck %s
// RUN: gs-opt %s -split-input-file -gs-lower-to-llvm='use-bare-ptr-call-conv=1' | FileCheck %s --check-prefix=BARE

// memref, arith, math, index, cf and func in one conversion: nothing of
// them is left, and the signature takes memref descriptors (or, with
// use-bare-ptr-call-conv, one pointer per statically shaped memref).
// CHECK-LABEL: llvm.func @scale
// CHECK-SAME: (%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %[[I:.*]]: i64, %[[S:.*]]: f32)
// CHECK: llvm.cond_br
// CHECK: %[[V:.*]] = llvm.load
// CHECK: %[[W:.*]] = llvm.fmul %[[V]], %[[S]]
// CHECK: %[[R:.*]] = llvm.intr.sqrt(%[[W]])
// CHECK: llvm.store %[[R]]
// CHECK: llvm.return
// CHECK-NOT: memref.
// CHECK-NOT: arith.
// CHECK-NOT: math.
// CHECK-NOT: index.
// CHECK-NOT: cf.
// CHECK-NOT: unrealized_conversion_cast
// BARE-LABEL: llvm.func @scale
// BARE-SAME: (%{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: f32)
func.func @scale(%x: memref<8xf32>, %i: index, %s: f32) {
  %c8 = index.constant 8
  %in = index.cmp ult(%i, %c8)
  cf.cond_br %in, ^body, ^done
^body:
  %v = memref.load %x[%i] : memref<8xf32>
  %w = arith.mulf %v, %s : f32
  %r = math.sqrt %w : f32
  memref.store %r, %x[%i] : memref<8xf32>
  cf.br ^done
^done:
  return
}

// -----

// A returned heap buffer: memref.alloc becomes a call to malloc, declared
// once for the module.
// CHECK-LABEL: llvm.func @malloc(i64) -> !llvm.ptr
// CHECK-LABEL: llvm.func @fresh
// CHECK: llvm.call @malloc
// CHECK: "llvm.intr.memcpy"
// CHECK: llvm.return %{{.*}} : !llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>
func.func @fresh(%x: memref<8xf32>) -> memref<8xf32> {
  %0 = memref.alloc() : memref<8xf32>
  memref.copy %x, %0 : memref<8xf32> to memref<8xf32>
  return %0 : memref<8xf32>
}

// -----

// The buffer views of generic multi-tensor steps lower with the rest.
// CHECK-LABEL: llvm.func @view
// CHECK: %[[P:.*]] = llvm.inttoptr %{{.*}} : i64 to !llvm.ptr
// CHECK: llvm.load %{{.*}} : !llvm.ptr -> f32
// CHECK-NOT: gs.view_address
func.func @view(%address: i64, %n: index) -> f32 {
  %c0 = arith.constant 0 : index
  %v = gs.view_address %address, %n : memref<?xf32>
  %x = memref.load %v[%c0] : memref<?xf32>
  return %x : f32
}

// -----

// Partial: an op of a dialect the pass does not lower stays, on a memref
// bridged from the converted argument by a cast, for a later pass to lower
// (or reconcile-unrealized-casts to report).
// CHECK-LABEL: llvm.func @foreign
// CHECK: %[[X:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<{{.*}}> to memref<4xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[X]] : memref<4xf32>)
// CHECK: llvm.return
func.func @foreign(%x: memref<4xf32>, %v: f32) {
  linalg.fill ins(%v : f32) outs(%x : memref<4xf32>)
  return
}
