// RUN: gs-opt %s --pass-pipeline="builtin.module(gpu.module(convert-kernel-math-to-intrinsics))" | FileCheck %s

// CHECK-LABEL: gpu.func @math
// CHECK: llvm.call_intrinsic "llvm.sqrt.f64"(%{{.*}}) : (f64) -> f64
// CHECK: llvm.call_intrinsic "llvm.fabs.f64"(%{{.*}}) : (f64) -> f64
// CHECK: llvm.call_intrinsic "llvm.sqrt.v4f32"(%{{.*}}) : (vector<4xf32>) -> vector<4xf32>
// CHECK-NOT: math.
gpu.module @kernels {
  gpu.func @math(%x: f64, %v: vector<4xf32>, %out: memref<f64>,
                 %vout: memref<4xf32>) kernel {
    %s = math.sqrt %x : f64
    %a = math.absf %s : f64
    %w = math.sqrt %v : vector<4xf32>
    %c0 = arith.constant 0 : index
    memref.store %a, %out[] : memref<f64>
    vector.store %w, %vout[%c0] : memref<4xf32>, vector<4xf32>
    gpu.return
  }
}
