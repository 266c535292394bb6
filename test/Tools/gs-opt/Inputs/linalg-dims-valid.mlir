// Valid forms the scan must let through: the custom syntax with integer
// lists (decimal, hexadecimal, negative, empty, comments and newlines
// inside), and the generic form with a dense array.
func.func @valid(%x: tensor<4x8xf32>, %v: tensor<8xf32>, %s: tensor<f32>,
                 %t: tensor<8x4xf32>, %m: tensor<4x8xf32>) {
  %r = linalg.reduce ins(%x : tensor<4x8xf32>) outs(%v : tensor<8xf32>)
      dimensions = [ // the rows
        0x0 ]
    (%a: f32, %b: f32) {
      %y = arith.addf %a, %b : f32
      linalg.yield %y : f32
    }
  %b = linalg.broadcast ins(%v : tensor<8xf32>) outs(%m : tensor<4x8xf32>)
      dimensions = [0]
  %p = linalg.transpose ins(%x : tensor<4x8xf32>) outs(%t : tensor<8x4xf32>)
      permutation = [1, 0]
  %g = "linalg.transpose"(%x, %t) <{permutation = array<i64: 1, 0>}> ({
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  }) : (tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
  %dimensions = arith.constant 0 : index
  return
}
