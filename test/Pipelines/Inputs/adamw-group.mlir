// A group of an f32 vector and a bf16 matrix under AdamW with a gradient
// scaler: two element types, both vector widths, every optional operand.
func.func @step(%p0: tensor<1000xf32>, %p1: tensor<8x8xbf16>,
                %g0: tensor<1000xf32>, %g1: tensor<8x8xbf16>,
                %a0: tensor<1000xf32>, %b0: tensor<1000xf32>,
                %a1: tensor<8x8xbf16>, %b1: tensor<8x8xbf16>,
                %stats: tensor<2x2xf64>, %counts: tensor<2x2xi64>,
                %steps: tensor<2xi64>, %lr: f64, %wd: f64,
                %inv: tensor<f32>, %found: tensor<f32>)
    -> (tensor<1000xf32>, tensor<8x8xbf16>, tensor<1000xf32>, tensor<1000xf32>,
        tensor<8x8xbf16>, tensor<8x8xbf16>, tensor<2x2xf64>, tensor<2x2xi64>,
        tensor<2xi64>) {
  %r:9 = gs.group_step #gs.adamw<>
      params(%p0, %p1 : tensor<1000xf32>, tensor<8x8xbf16>)
      grads(%g0, %g1 : tensor<1000xf32>, tensor<8x8xbf16>)
      moments(%a0, %b0, %a1, %b1 : tensor<1000xf32>, tensor<1000xf32>,
                                   tensor<8x8xbf16>, tensor<8x8xbf16>)
      stats(%stats : tensor<2x2xf64>) counts(%counts : tensor<2x2xi64>)
      steps(%steps : tensor<2xi64>) lr(%lr) weight_decay(%wd)
      inv_scale(%inv) found_inf(%found)
  return %r#0, %r#1, %r#2, %r#3, %r#4, %r#5, %r#6, %r#7, %r#8
      : tensor<1000xf32>, tensor<8x8xbf16>, tensor<1000xf32>, tensor<1000xf32>,
        tensor<8x8xbf16>, tensor<8x8xbf16>, tensor<2x2xf64>, tensor<2x2xi64>,
        tensor<2xi64>
}
