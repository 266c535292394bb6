// RUN: gs-opt %s --gs-to-llvm | FileCheck %s
// RUN: gs-opt %s --gs-to-llvm | mlir-opt | FileCheck %s --check-prefix=REPARSE

// The returning entry point: tensor arguments, the updated tensors returned
// (6 AdamW tensors: 21 results). The caller owns what a function returns,
// so each result is a copy of the buffer the step updated in place, made
// after the step; nothing is on the heap otherwise, so no deallocation is
// built and nothing is freed (gs-deallocate-buffers' fast path). The
// function returns one struct of 21 memref descriptors, printed once as an
// alias instead of at each of its 21 llvm.insertvalue ops.

// CHECK: !llvm_struct = !llvm.struct<(struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>,
// CHECK-LABEL: llvm.func @step(
// CHECK-SAME: -> !llvm_struct
// CHECK-NOT: llvm.call @free
// CHECK-COUNT-21: llvm.call @malloc
// CHECK-NOT: llvm.call @free
// CHECK: llvm.insertvalue %{{.*}}, %{{.*}}[20] : !llvm_struct
// CHECK-NEXT: llvm.return %{{.*}} : !llvm_struct

// The alias is plain MLIR syntax: upstream's mlir-opt reads the output back.
// REPARSE: llvm.func @step(
// REPARSE: llvm.return

func.func @step(%p0: tensor<1000xf32>, %g0: tensor<1000xf32>, %a0: tensor<1000xf32>, %b0: tensor<1000xf32>, %p1: tensor<1037xf32>, %g1: tensor<1037xf32>, %a1: tensor<1037xf32>, %b1: tensor<1037xf32>, %p2: tensor<1074xf32>, %g2: tensor<1074xf32>, %a2: tensor<1074xf32>, %b2: tensor<1074xf32>, %p3: tensor<1111xf32>, %g3: tensor<1111xf32>, %a3: tensor<1111xf32>, %b3: tensor<1111xf32>, %p4: tensor<1148xf32>, %g4: tensor<1148xf32>, %a4: tensor<1148xf32>, %b4: tensor<1148xf32>, %p5: tensor<1185xf32>, %g5: tensor<1185xf32>, %a5: tensor<1185xf32>, %b5: tensor<1185xf32>, %s: tensor<6x2xf64>, %c: tensor<6x2xi64>, %t: tensor<6xi64>, %lr: f64, %wd: f64) -> (tensor<1000xf32>, tensor<1037xf32>, tensor<1074xf32>, tensor<1111xf32>, tensor<1148xf32>, tensor<1185xf32>, tensor<1000xf32>, tensor<1000xf32>, tensor<1037xf32>, tensor<1037xf32>, tensor<1074xf32>, tensor<1074xf32>, tensor<1111xf32>, tensor<1111xf32>, tensor<1148xf32>, tensor<1148xf32>, tensor<1185xf32>, tensor<1185xf32>, tensor<6x2xf64>, tensor<6x2xi64>, tensor<6xi64>) {
  %r:21 = gs.group_step #gs.adamw<>
    params(%p0, %p1, %p2, %p3, %p4, %p5 : tensor<1000xf32>, tensor<1037xf32>, tensor<1074xf32>, tensor<1111xf32>, tensor<1148xf32>, tensor<1185xf32>)
    grads(%g0, %g1, %g2, %g3, %g4, %g5 : tensor<1000xf32>, tensor<1037xf32>, tensor<1074xf32>, tensor<1111xf32>, tensor<1148xf32>, tensor<1185xf32>)
    moments(%a0, %b0, %a1, %b1, %a2, %b2, %a3, %b3, %a4, %b4, %a5, %b5 : tensor<1000xf32>, tensor<1000xf32>, tensor<1037xf32>, tensor<1037xf32>, tensor<1074xf32>, tensor<1074xf32>, tensor<1111xf32>, tensor<1111xf32>, tensor<1148xf32>, tensor<1148xf32>, tensor<1185xf32>, tensor<1185xf32>)
    stats(%s : tensor<6x2xf64>) counts(%c : tensor<6x2xi64>)
    steps(%t : tensor<6xi64>) lr(%lr) weight_decay(%wd)
  return %r#0, %r#1, %r#2, %r#3, %r#4, %r#5, %r#6, %r#7, %r#8, %r#9, %r#10, %r#11, %r#12, %r#13, %r#14, %r#15, %r#16, %r#17, %r#18, %r#19, %r#20 : tensor<1000xf32>, tensor<1037xf32>, tensor<1074xf32>, tensor<1111xf32>, tensor<1148xf32>, tensor<1185xf32>, tensor<1000xf32>, tensor<1000xf32>, tensor<1037xf32>, tensor<1037xf32>, tensor<1074xf32>, tensor<1074xf32>, tensor<1111xf32>, tensor<1111xf32>, tensor<1148xf32>, tensor<1148xf32>, tensor<1185xf32>, tensor<1185xf32>, tensor<6x2xf64>, tensor<6x2xi64>, tensor<6xi64>
}
