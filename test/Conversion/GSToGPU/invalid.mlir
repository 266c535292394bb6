// RUN: gs-opt %s --convert-gs-to-gpu --split-input-file --verify-diagnostics
// RUN: %not gs-opt %s --convert-gs-to-gpu="block-size=100" --split-input-file 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BLOCK
// RUN: %not gs-opt %s --convert-gs-to-gpu="chunk-size=12" --split-input-file 2>&1 \
// RUN:   | FileCheck %s --check-prefix=CHUNK

// BLOCK: error: convert-gs-to-gpu: block-size must be a multiple of 32 in [32, 1024], got 100
// CHUNK: error: convert-gs-to-gpu: chunk-size must be a positive multiple of 8, got 12

func.func @not_an_argument(%g: tensor<64xf32>, %stats: tensor<1x2xf64>,
                           %counts: tensor<1x2xi64>, %steps: tensor<1xi64>,
                           %lr: f64, %wd: f64) -> tensor<64xf32> {
  %p = arith.constant dense<1.0> : tensor<64xf32>
  // expected-error @+1 {{operand #0 must be an argument of the enclosing function: on the GPU a step works on the caller's device buffers}}
  %r:4 = gs.group_step #gs.sgd<>
      params(%p : tensor<64xf32>) grads(%g : tensor<64xf32>)
      stats(%stats : tensor<1x2xf64>) counts(%counts : tensor<1x2xi64>)
      steps(%steps : tensor<1xi64>) lr(%lr) weight_decay(%wd)
  return %r#0 : tensor<64xf32>
}

// -----

func.func @param_is_grad(%p: tensor<64xf32>, %stats: tensor<1x2xf64>,
                         %counts: tensor<1x2xi64>, %steps: tensor<1xi64>,
                         %lr: f64, %wd: f64) -> tensor<64xf32> {
  // expected-error @+1 {{updates the buffer of function argument #0 in place, so that argument must have no other use}}
  %r:4 = gs.group_step #gs.sgd<>
      params(%p : tensor<64xf32>) grads(%p : tensor<64xf32>)
      stats(%stats : tensor<1x2xf64>) counts(%counts : tensor<1x2xi64>)
      steps(%steps : tensor<1xi64>) lr(%lr) weight_decay(%wd)
  return %r#0 : tensor<64xf32>
}

// -----

func.func @result_read_on_host(%p: tensor<64xf32>, %g: tensor<64xf32>,
                               %stats: tensor<1x2xf64>,
                               %counts: tensor<1x2xi64>,
                               %steps: tensor<1xi64>, %lr: f64,
                               %wd: f64) -> f64 {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{result #1 is in device memory: it may only be returned}}
  %r:4 = gs.group_step #gs.sgd<>
      params(%p : tensor<64xf32>) grads(%g : tensor<64xf32>)
      stats(%stats : tensor<1x2xf64>) counts(%counts : tensor<1x2xi64>)
      steps(%steps : tensor<1xi64>) lr(%lr) weight_decay(%wd)
  %m = tensor.extract %r#1[%c0, %c0] : tensor<1x2xf64>
  return %m : f64
}

// -----

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

func.func @host_scratch(%table: memref<?x3xi64>, %co: memref<?xi64>,
                        %hyper: memref<5xf64>, %stats: memref<?x2xf64>,
                        %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                        %records: memref<?xf32>, %n: index) {
  %partials = memref.alloc(%n) : memref<?xf64>
  // expected-error @+1 {{partials must be an argument of the enclosing function or a gpu.alloc result: on the GPU a step works on the caller's device buffers}}
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

// Each tensor's element count fits in i64 (the verifier's rule), their sum
// does not: the chunk table could not count the chunks.
func.func @total_overflow(%p0: tensor<9223372036854775807xf32>,
                          %p1: tensor<9223372036854775807xf32>,
                          %g0: tensor<9223372036854775807xf32>,
                          %g1: tensor<9223372036854775807xf32>,
                          %stats: tensor<2x2xf64>, %counts: tensor<2x2xi64>,
                          %steps: tensor<2xi64>, %lr: f64, %wd: f64) {
  // expected-error @+1 {{has more elements in total than a 64-bit integer can count (at most 2^63 - 1); split the group}}
  %r:5 = gs.group_step #gs.sgd<>
      params(%p0, %p1 : tensor<9223372036854775807xf32>, tensor<9223372036854775807xf32>)
      grads(%g0, %g1 : tensor<9223372036854775807xf32>, tensor<9223372036854775807xf32>)
      stats(%stats : tensor<2x2xf64>) counts(%counts : tensor<2x2xi64>)
      steps(%steps : tensor<2xi64>) lr(%lr) weight_decay(%wd)
  return
}


// -----

// The static group kernels compute Adam's bias corrections from the step
// counts; given ones are taken on gs.multi_tensor_step.
func.func @group_bias_corrections(%p: tensor<64xf32>, %g: tensor<64xf32>,
                                  %a: tensor<64xf32>, %b: tensor<64xf32>,
                                  %stats: tensor<1x2xf64>,
                                  %counts: tensor<1x2xi64>,
                                  %steps: tensor<1xi64>, %lr: f64, %wd: f64,
                                  %bc1: f64, %bc2: f64) {
  // expected-error @+1 {{has bias_corrections, which convert-gs-to-gpu takes on gs.multi_tensor_step only}}
  %r:6 = gs.group_step #gs.adam<>
      params(%p : tensor<64xf32>) grads(%g : tensor<64xf32>)
      moments(%a, %b : tensor<64xf32>, tensor<64xf32>)
      stats(%stats : tensor<1x2xf64>) counts(%counts : tensor<1x2xi64>)
      steps(%steps : tensor<1xi64>) lr(%lr) weight_decay(%wd)
      bias_corrections(%bc1, %bc2)
  return
}
