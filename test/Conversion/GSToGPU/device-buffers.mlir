// RUN: gs-opt %s --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --canonicalize \
// RUN:   --convert-gs-to-gpu --split-input-file --verify-diagnostics

// On the GPU a static group steps the caller's device buffers in place.
// After bufferization, whatever would make the kernels touch host memory, or
// the host touch device memory, is an error naming the buffer.

// A parameter that is not the caller's buffer: bufferization materializes
// the constant in host memory.
func.func @constant_param(%g: tensor<64xf32>, %stats: tensor<1x2xf64>,
                          %counts: tensor<1x2xi64>, %steps: tensor<1xi64>,
                          %lr: f64, %wd: f64) -> tensor<64xf32> {
  %p = arith.constant dense<1.0> : tensor<64xf32>
  // expected-error @+2 {{reads a table entry that is not the address of a device buffer: on the GPU every tensor must be an argument of the enclosing function or a gpu.alloc (bufferization made a copy in host memory, memref.alloc: of a tensor that is no function argument, or whose old value is still used after the step)}}
  // expected-note @+1 {{the entry is stored here}}
  %r:4 = gs.group_step #gs.sgd<>
      params(%p : tensor<64xf32>) grads(%g : tensor<64xf32>)
      stats(%stats : tensor<1x2xf64>) counts(%counts : tensor<1x2xi64>)
      steps(%steps : tensor<1xi64>) lr(%lr) weight_decay(%wd)
  return %r#0 : tensor<64xf32>
}

// -----

// The same tensor as parameter and gradient: the gradient's old value is
// still read while the parameter is written, so bufferization copies it.
func.func @param_is_grad(%p: tensor<64xf32>, %stats: tensor<1x2xf64>,
                         %counts: tensor<1x2xi64>, %steps: tensor<1xi64>,
                         %lr: f64, %wd: f64) -> tensor<64xf32> {
  // expected-error @+2 {{(bufferization made a copy in host memory, memref.alloc: of a tensor that is no function argument, or whose old value is still used after the step)}}
  // expected-note @+1 {{the entry is stored here}}
  %r:4 = gs.group_step #gs.sgd<>
      params(%p : tensor<64xf32>) grads(%p : tensor<64xf32>)
      stats(%stats : tensor<1x2xf64>) counts(%counts : tensor<1x2xi64>)
      steps(%steps : tensor<1xi64>) lr(%lr) weight_decay(%wd)
  return %r#0 : tensor<64xf32>
}

// -----

// Host code reading a result: the state lives in device memory.
func.func @result_read_on_host(%p: tensor<64xf32>, %g: tensor<64xf32>,
                               %stats: tensor<1x2xf64>,
                               %counts: tensor<1x2xi64>,
                               %steps: tensor<1xi64>, %lr: f64,
                               %wd: f64) -> f64 {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{stats is device memory, but host code accesses it (read the results back with a copy to the host, e.g. gpu.memcpy)}}
  %r:4 = gs.group_step #gs.sgd<>
      params(%p : tensor<64xf32>) grads(%g : tensor<64xf32>)
      stats(%stats : tensor<1x2xf64>) counts(%counts : tensor<1x2xi64>)
      steps(%steps : tensor<1xi64>) lr(%lr) weight_decay(%wd)
  // expected-note @+1 {{accessed here}}
  %m = tensor.extract %r#1[%c0, %c0] : tensor<1x2xf64>
  return %m : f64
}

// -----

// Host code reading a parameter the table addresses.
func.func @param_read_on_host(%p: memref<64xf32>, %g: memref<64xf32>,
                              %stats: memref<1x2xf64>, %counts: memref<1x2xi64>,
                              %steps: memref<1xi64>, %lr: f64, %wd: f64) -> f32 {
  %c0 = arith.constant 0 : index
  %tp = bufferization.to_tensor %p restrict writable : memref<64xf32> to tensor<64xf32>
  %tg = bufferization.to_tensor %g restrict : memref<64xf32> to tensor<64xf32>
  %ts = bufferization.to_tensor %stats restrict writable : memref<1x2xf64> to tensor<1x2xf64>
  %tc = bufferization.to_tensor %counts restrict writable : memref<1x2xi64> to tensor<1x2xi64>
  %tt = bufferization.to_tensor %steps restrict writable : memref<1xi64> to tensor<1xi64>
  // expected-error @+1 {{a tensor of the table is device memory, but host code accesses it}}
  %r:4 = gs.group_step #gs.sgd<>
      params(%tp : tensor<64xf32>) grads(%tg : tensor<64xf32>)
      stats(%ts : tensor<1x2xf64>) counts(%tc : tensor<1x2xi64>)
      steps(%tt : tensor<1xi64>) lr(%lr) weight_decay(%wd)
  bufferization.materialize_in_destination %r#0 in restrict writable %p : (tensor<64xf32>, memref<64xf32>) -> ()
  bufferization.materialize_in_destination %r#1 in restrict writable %stats : (tensor<1x2xf64>, memref<1x2xf64>) -> ()
  bufferization.materialize_in_destination %r#2 in restrict writable %counts : (tensor<1x2xi64>, memref<1x2xi64>) -> ()
  bufferization.materialize_in_destination %r#3 in restrict writable %steps : (tensor<1xi64>, memref<1xi64>) -> ()
  // expected-note @+1 {{accessed here}}
  %x = memref.load %g[%c0] : memref<64xf32>
  return %x : f32
}
