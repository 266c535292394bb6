// RUN: gs-opt %s --convert-gs-to-gpu="kernel-library=gs_kernels" --split-input-file -verify-diagnostics | FileCheck %s

// kernel-library: one gpu.module holds every step's kernels, named after
// the function that holds the step, and a single-phase step builds only its
// own kernel. This is how the build makes the prebuilt GPU kernels
// (lib/Runtime/generate_step_kernels.py), which the runtime looks up by
// name.

// CHECK-LABEL: func.func @gs_norms_f32(
// CHECK:         gpu.launch_func async [%{{.*}}] @gs_kernels::@gs_norms_f32
// CHECK-LABEL: func.func @whole_step(
// CHECK:         gpu.launch_func async [%{{.*}}] @gs_kernels::@whole_step_norms
// CHECK:         gpu.launch_func async [%{{.*}}] @gs_kernels::@whole_step_scalars
// CHECK:         gpu.launch_func async [%{{.*}}] @gs_kernels::@whole_step_update
// CHECK:       gpu.module @gs_kernels {
// CHECK-NEXT:    gpu.func @gs_norms_f32(
// CHECK-NOT:     gpu.func @gs_norms_f32_
// CHECK:         gpu.func @whole_step_norms(
// CHECK:         gpu.func @whole_step_scalars(
// CHECK:         gpu.func @whole_step_update(
// CHECK-NOT:   gpu.module
func.func @gs_norms_f32(%table: memref<?x?xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                        %stats: memref<?x2xf64>, %counts: memref<?x2xi64>,
                        %steps: memref<?xi64>, %partials: memref<?xf64>,
                        %records: memref<?xf32>) {
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x?xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 16384 : i64, phase = #gs.phase<norms>}
  return
}
func.func @whole_step(%table: memref<?x5xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                      %stats: memref<?x2xf64>, %counts: memref<?x2xi64>,
                      %steps: memref<?xi64>, %partials: memref<?xf64>,
                      %records: memref<?xf32>) {
  gs.multi_tensor_step #gs.adamw<> table(%table : memref<?x5xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = bf16, chunk_size = 16384 : i64}
  return
}

// -----

func.func @two_norms(%table: memref<?x?xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                     %stats: memref<?x2xf64>, %counts: memref<?x2xi64>,
                     %steps: memref<?xi64>, %partials: memref<?xf64>,
                     %records: memref<?xf32>) {
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x?xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 16384 : i64, phase = #gs.phase<norms>}
  // expected-error @below {{is the second step of its phase in @two_norms: with kernel-library, kernels are named after their function, so a function holds one step per phase}}
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x?xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f16, chunk_size = 16384 : i64, phase = #gs.phase<norms>}
  return
}

// -----

func.func @gs_kernels() {
  return
}
func.func @clash(%table: memref<?x?xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                 %stats: memref<?x2xf64>, %counts: memref<?x2xi64>,
                 %steps: memref<?xi64>, %partials: memref<?xf64>,
                 %records: memref<?xf32>) {
  // expected-error @below {{kernel-library 'gs_kernels' names a symbol that is not a gpu.module}}
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x?xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 16384 : i64, phase = #gs.phase<norms>}
  return
}
