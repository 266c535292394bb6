  func.func private @printMemrefF32(tensor<*xf32>)
  func.func private @printMemrefF64(tensor<*xf64>)
  func.func @main() {
    %p = arith.constant dense<[1.0, -0.5, 0.25, 2.0, -1.5]> : tensor<5xf32>
    %q = arith.constant dense<[0.75, 3.0, -2.0]> : tensor<3xf32>
    %g1 = arith.constant dense<[0.5, -1.0, 0.25, 2.0, -0.75]> : tensor<5xf32>
    %h1 = arith.constant dense<[1.5, -0.125, 0.0]> : tensor<3xf32>
    %g2 = arith.constant dense<[-0.25, 0.5, 1.0, -1.5, 0.375]> : tensor<5xf32>
    %h2 = arith.constant dense<[0.0, 2.0, -1.0]> : tensor<3xf32>
    %z5 = arith.constant dense<0.0> : tensor<5xf32>
    %z3 = arith.constant dense<0.0> : tensor<3xf32>
    %lr = arith.constant 0.125 : f32
    %s = arith.constant dense<0.0> : tensor<2xf64>
    %c = arith.constant dense<0> : tensor<2xi64>
    %t = arith.constant dense<0> : tensor<i64>
    // Results: p, q, their buffers, then stats, counts, step of p and of q.
    %a:10 = func.call @step(%p, %q, %g1, %h1, %z5, %z3, %lr, %s, %c, %t, %s, %c, %t)
      : (tensor<5xf32>, tensor<3xf32>, tensor<5xf32>, tensor<3xf32>, tensor<5xf32>, tensor<3xf32>, f32, tensor<2xf64>, tensor<2xi64>, tensor<i64>, tensor<2xf64>, tensor<2xi64>, tensor<i64>)
      -> (tensor<5xf32>, tensor<3xf32>, tensor<5xf32>, tensor<3xf32>, tensor<2xf64>, tensor<2xi64>, tensor<i64>, tensor<2xf64>, tensor<2xi64>, tensor<i64>)
    %b:10 = func.call @step(%a#0, %a#1, %g2, %h2, %a#2, %a#3, %lr, %a#4, %a#5, %a#6, %a#7, %a#8, %a#9)
      : (tensor<5xf32>, tensor<3xf32>, tensor<5xf32>, tensor<3xf32>, tensor<5xf32>, tensor<3xf32>, f32, tensor<2xf64>, tensor<2xi64>, tensor<i64>, tensor<2xf64>, tensor<2xi64>, tensor<i64>)
      -> (tensor<5xf32>, tensor<3xf32>, tensor<5xf32>, tensor<3xf32>, tensor<2xf64>, tensor<2xi64>, tensor<i64>, tensor<2xf64>, tensor<2xi64>, tensor<i64>)
    %0 = tensor.cast %b#0 : tensor<5xf32> to tensor<*xf32>
    %1 = tensor.cast %b#1 : tensor<3xf32> to tensor<*xf32>
    %2 = tensor.cast %b#2 : tensor<5xf32> to tensor<*xf32>
    %3 = tensor.cast %b#3 : tensor<3xf32> to tensor<*xf32>
    %4 = tensor.cast %b#4 : tensor<2xf64> to tensor<*xf64>
    %5 = tensor.cast %b#7 : tensor<2xf64> to tensor<*xf64>
    call @printMemrefF32(%0) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%1) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%2) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%3) : (tensor<*xf32>) -> ()
    call @printMemrefF64(%4) : (tensor<*xf64>) -> ()
    call @printMemrefF64(%5) : (tensor<*xf64>) -> ()
    return
  }
}
