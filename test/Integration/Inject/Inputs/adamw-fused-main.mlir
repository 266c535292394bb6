  func.func private @printMemrefF32(tensor<*xf32>)
  func.func private @printMemrefF64(tensor<*xf64>)
  func.func private @printMemrefI64(tensor<*xi64>)
  func.func @main() {
    %p = arith.constant dense<[1.0, -0.5, 0.25, 2.0, -1.5, 0.75, 3.0, -2.0, 0.125, -0.25, 1.25]> : tensor<11xf32>
    %g1 = arith.constant dense<[0.5, -1.0, 0.25, 2.0, -0.75, 1.5, -0.125, 0.0, 1.0, -2.5, 0.625]> : tensor<11xf32>
    %g2 = arith.constant dense<[-0.25, 0.5, 1.0, -1.5, 0.375, 0.0, 2.0, -1.0, 0.75, 0.5, -0.5]> : tensor<11xf32>
    %g3 = arith.constant dense<[-0.25, 0.5, 1.0, 0x7FC00000, 0.375, 0.0, 2.0, -1.0, 0.75, 0.5, -0.5]> : tensor<11xf32>
    %z = arith.constant dense<0.0> : tensor<11xf32>
    // Bias corrections 1 - beta^t of t = 1, 2, 3, computed by the host.
    %b11 = arith.constant dense<0.1> : tensor<f32>
    %b21 = arith.constant dense<0.001> : tensor<f32>
    %b12 = arith.constant dense<0.19> : tensor<f32>
    %b22 = arith.constant dense<0.001999> : tensor<f32>
    %b13 = arith.constant dense<0.271> : tensor<f32>
    %b23 = arith.constant dense<0.002997001> : tensor<f32>
    %lr = arith.constant dense<0.01> : tensor<f32>
    %s = arith.constant dense<0.0> : tensor<2xf64>
    %c = arith.constant dense<0> : tensor<2xi64>
    // Results: param, exp_avg, exp_avg_sq, stats, counts.
    %a:5 = func.call @step(%p, %g1, %z, %z, %b11, %b21, %lr, %s, %c)
        : (tensor<11xf32>, tensor<11xf32>, tensor<11xf32>, tensor<11xf32>,
           tensor<f32>, tensor<f32>, tensor<f32>, tensor<2xf64>, tensor<2xi64>)
        -> (tensor<11xf32>, tensor<11xf32>, tensor<11xf32>, tensor<2xf64>, tensor<2xi64>)
    %b:5 = func.call @step(%a#0, %g2, %a#1, %a#2, %b12, %b22, %lr, %a#3, %a#4)
        : (tensor<11xf32>, tensor<11xf32>, tensor<11xf32>, tensor<11xf32>,
           tensor<f32>, tensor<f32>, tensor<f32>, tensor<2xf64>, tensor<2xi64>)
        -> (tensor<11xf32>, tensor<11xf32>, tensor<11xf32>, tensor<2xf64>, tensor<2xi64>)
    // A NaN gradient: the step is skipped, nothing but `skipped` changes.
    %d:5 = func.call @step(%b#0, %g3, %b#1, %b#2, %b13, %b23, %lr, %b#3, %b#4)
        : (tensor<11xf32>, tensor<11xf32>, tensor<11xf32>, tensor<11xf32>,
           tensor<f32>, tensor<f32>, tensor<f32>, tensor<2xf64>, tensor<2xi64>)
        -> (tensor<11xf32>, tensor<11xf32>, tensor<11xf32>, tensor<2xf64>, tensor<2xi64>)
    %p1 = tensor.cast %a#0 : tensor<11xf32> to tensor<*xf32>
    %p2 = tensor.cast %b#0 : tensor<11xf32> to tensor<*xf32>
    %m2 = tensor.cast %b#1 : tensor<11xf32> to tensor<*xf32>
    %v2 = tensor.cast %b#2 : tensor<11xf32> to tensor<*xf32>
    %s2 = tensor.cast %b#3 : tensor<2xf64> to tensor<*xf64>
    %p3 = tensor.cast %d#0 : tensor<11xf32> to tensor<*xf32>
    %m3 = tensor.cast %d#1 : tensor<11xf32> to tensor<*xf32>
    %c3 = tensor.cast %d#4 : tensor<2xi64> to tensor<*xi64>
    call @printMemrefF32(%p1) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%p2) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%m2) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%v2) : (tensor<*xf32>) -> ()
    call @printMemrefF64(%s2) : (tensor<*xf64>) -> ()
    call @printMemrefF32(%p3) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%m3) : (tensor<*xf32>) -> ()
    call @printMemrefI64(%c3) : (tensor<*xi64>) -> ()
    return
  }
}
