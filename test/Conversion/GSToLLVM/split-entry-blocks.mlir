// RUN: gs-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(gs-split-entry-blocks{min-arguments=2}))' | FileCheck %s
// RUN: gs-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(gs-split-entry-blocks))' | FileCheck %s --check-prefix=DEFAULT

// The body moves to a block of its own; the entry block keeps the arguments.
// CHECK-LABEL: func.func @many
// CHECK-SAME: (%[[A:.*]]: memref<4xf32>, %[[B:.*]]: memref<4xf32>)
// CHECK-NEXT: cf.br ^[[BODY:.*]]
// CHECK-NEXT: ^[[BODY]]:
// CHECK-NEXT: memref.copy %[[A]], %[[B]]
// CHECK-NEXT: return
// DEFAULT-LABEL: func.func @many
// DEFAULT-NEXT: memref.copy
func.func @many(%a: memref<4xf32>, %b: memref<4xf32>) {
  memref.copy %a, %b : memref<4xf32> to memref<4xf32>
  return
}

// -----

// Fewer arguments than min-arguments: unchanged.
// CHECK-LABEL: func.func @few
// CHECK-NEXT: arith.constant
// CHECK-NEXT: memref.load
// CHECK-NEXT: return
func.func @few(%a: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %x = memref.load %a[%c0] : memref<4xf32>
  return %x : f32
}

// -----

// Declarations have no body to move.
// CHECK: func.func private @external(memref<4xf32>, memref<4xf32>)
// CHECK-NOT: cf.br
func.func private @external(memref<4xf32>, memref<4xf32>)
