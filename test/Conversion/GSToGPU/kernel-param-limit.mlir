// RUN: gs-opt %s --convert-gs-to-gpu="kernel-param-limit=32" --verify-diagnostics

// Two SGD tensors need four 8-byte pointers in the update launch.
func.func @too_many_buffers(%p0: tensor<64xf32>, %p1: tensor<64xf32>,
                            %g0: tensor<64xf32>, %g1: tensor<64xf32>,
                            %p2: tensor<64xf32>, %g2: tensor<64xf32>,
                            %stats: tensor<3x2xf64>, %counts: tensor<3x2xi64>,
                            %steps: tensor<3xi64>, %lr: f64, %wd: f64) {
  // expected-error @+1 {{needs 48 bytes of kernel parameters for its 6 buffers, more than kernel-param-limit (32); split the group, or raise the limit (32764 on sm_70 and newer with CUDA 12.1 or newer)}}
  %r:6 = gs.group_step #gs.sgd<>
      params(%p0, %p1, %p2 : tensor<64xf32>, tensor<64xf32>, tensor<64xf32>)
      grads(%g0, %g1, %g2 : tensor<64xf32>, tensor<64xf32>, tensor<64xf32>)
      stats(%stats : tensor<3x2xf64>) counts(%counts : tensor<3x2xi64>)
      steps(%steps : tensor<3xi64>) lr(%lr) weight_decay(%wd)
  return
}
