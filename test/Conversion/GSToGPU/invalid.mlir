// RUN: gs-opt %s --convert-gs-to-gpu --split-input-file --verify-diagnostics
// RUN: %not gs-opt %s --convert-gs-to-gpu="block-size=100" --split-input-file 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BLOCK
// RUN: %not gs-opt %s --convert-gs-to-gpu="chunk-size=12" --split-input-file 2>&1 \
// RUN:   | FileCheck %s --check-prefix=CHUNK

// BLOCK: error: convert-gs-to-gpu: block-size must be a multiple of 32 in [32, 1024], got 100
// CHUNK: error: convert-gs-to-gpu: chunk-size must be a positive multiple of 8, got 12


func.func @single_op(%g: tensor<64xf32>) -> f64 {
  // expected-error @+1 {{'gs.grad_norm' op has no GPU lowering: express it as a gs.group_step (a group of one tensor is fine) or a gs.multi_tensor_step, or use convert-gs-to-loops}}
  %n = gs.grad_norm %g : tensor<64xf32>
  return %n : f64
}

// -----

func.func @workers(%table: memref<?x3xi64>, %co: memref<?xi64>,
                   %hyper: memref<5xf64>, %stats: memref<?x2xf64>,
                   %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                   %partials: memref<?xf64>, %records: memref<?xf32>,
                   %w: index, %nw: index) {
  // expected-error @+1 {{has workers(...), which split a step between CPU threads; on the GPU the blocks of each launch share the chunks: drop them and launch each phase once}}
  gs.multi_tensor_step #gs.sgd<>
      table(%table : memref<?x3xi64>) chunk_offsets(%co : memref<?xi64>)
      hyper(%hyper : memref<5xf64>) stats(%stats : memref<?x2xf64>)
      counts(%counts : memref<?x2xi64>) steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      workers(%w, %nw) {element_type = f32, chunk_size = 1024 : i64, phase = #gs.phase<norms>}
  return
}

// -----

func.func @host_state(%table: memref<?x3xi64>, %co: memref<?xi64>,
                      %hyper: memref<5xf64>, %counts: memref<?x2xi64>,
                      %steps: memref<?xi64>, %partials: memref<?xf64>,
                      %records: memref<?xf32>, %n: index) {
  %stats = memref.alloc(%n) : memref<?x2xf64>
  // expected-error @+1 {{stats must be an argument of the enclosing function or a gpu.alloc: on the GPU a step works on the caller's device buffers}}
  gs.multi_tensor_step #gs.sgd<>
      table(%table : memref<?x3xi64>) chunk_offsets(%co : memref<?xi64>)
      hyper(%hyper : memref<5xf64>) stats(%stats : memref<?x2xf64>)
      counts(%counts : memref<?x2xi64>) steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  return
}

// -----

func.func @strided(%table: memref<?x3xi64>, %co: memref<?xi64, strided<[2]>>,
                   %hyper: memref<5xf64>, %stats: memref<?x2xf64>,
                   %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                   %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @+1 {{chunk_offsets must be a contiguous memref (identity layout) in the default memory space, got 'memref<?xi64, strided<[2]>>'}}
  gs.multi_tensor_step #gs.sgd<>
      table(%table : memref<?x3xi64>) chunk_offsets(%co : memref<?xi64, strided<[2]>>)
      hyper(%hyper : memref<5xf64>) stats(%stats : memref<?x2xf64>)
      counts(%counts : memref<?x2xi64>) steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  return
}

// -----

func.func @memory_space(%table: memref<?x3xi64>, %co: memref<?xi64>,
                        %hyper: memref<5xf64>, %stats: memref<?x2xf64>,
                        %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                        %partials: memref<?xf64>, %records: memref<?xf32, 3>) {
  // expected-error @+1 {{records must be a contiguous memref (identity layout) in the default memory space, got 'memref<?xf32, 3>'}}
  gs.multi_tensor_step #gs.sgd<>
      table(%table : memref<?x3xi64>) chunk_offsets(%co : memref<?xi64>)
      hyper(%hyper : memref<5xf64>) stats(%stats : memref<?x2xf64>)
      counts(%counts : memref<?x2xi64>) steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32, 3>)
      {element_type = f32, chunk_size = 1024 : i64}
  return
}

// -----

gpu.module @kernels {
  gpu.func @in_kernel(%table: memref<?x3xi64>, %co: memref<?xi64>,
                      %hyper: memref<5xf64>, %stats: memref<?x2xf64>,
                      %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                      %partials: memref<?xf64>, %records: memref<?xf32>) kernel {
    // expected-error @+1 {{must be in host code, not in a GPU kernel}}
    gs.multi_tensor_step #gs.sgd<>
        table(%table : memref<?x3xi64>) chunk_offsets(%co : memref<?xi64>)
        hyper(%hyper : memref<5xf64>) stats(%stats : memref<?x2xf64>)
        counts(%counts : memref<?x2xi64>) steps(%steps : memref<?xi64>)
        scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
        {element_type = f32, chunk_size = 1024 : i64}
    gpu.return
  }
}

// -----

func.func @host_scratch_read_after(%table: memref<?x3xi64>, %co: memref<?xi64>,
                                   %hyper: memref<5xf64>, %stats: memref<?x2xf64>,
                                   %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                                   %records: memref<?xf32>, %n: index) -> f64 {
  %c0 = arith.constant 0 : index
  %partials = memref.alloc(%n) : memref<?xf64>
  // expected-error @+1 {{partials is host memory that other operations use, but the step's scratch is not copied back from the device: give it a gpu.alloc}}
  gs.multi_tensor_step #gs.sgd<>
      table(%table : memref<?x3xi64>) chunk_offsets(%co : memref<?xi64>)
      hyper(%hyper : memref<5xf64>) stats(%stats : memref<?x2xf64>)
      counts(%counts : memref<?x2xi64>) steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64, phase = #gs.phase<norms>}
  %x = memref.load %partials[%c0] : memref<?xf64>
  return %x : f64
}
