  func.func private @printMemrefF32(tensor<*xf32>)
  func.func private @printMemrefF64(tensor<*xf64>)
  func.func private @printMemrefI32(tensor<*xi32>)
  func.func private @printMemrefI64(tensor<*xi64>)
  func.func @main() {
    %p = arith.constant dense<[1.0, -0.5, 0.25, 2.0, -1.5, 0.75, 3.0, -2.0, 0.125, -0.25, 1.25]> : tensor<11xf32>
    %g1 = arith.constant dense<[0.5, -1.0, 0.25, 2.0, -0.75, 1.5, -0.125, 0.0, 1.0, -2.5, 0.625]> : tensor<11xf32>
    %g2 = arith.constant dense<[-0.25, 0.5, 1.0, -1.5, 0.375, 0.0, 2.0, -1.0, 0.75, 0.5, -0.5]> : tensor<11xf32>
    %g3 = arith.constant dense<[-0.25, 0.5, 1.0, 0x7FC00000, 0.375, 0.0, 2.0, -1.0, 0.75, 0.5, -0.5]> : tensor<11xf32>
    %z = arith.constant dense<0.0> : tensor<11xf32>
    %t = arith.constant dense<0> : tensor<i32>
    %s = arith.constant dense<0.0> : tensor<2xf64>
    %c = arith.constant dense<0> : tensor<2xi64>
    // Results: param, count, mu, nu, stats, counts.
    %a:6 = func.call @step(%p, %g1, %t, %z, %z, %s, %c)
        : (tensor<11xf32>, tensor<11xf32>, tensor<i32>, tensor<11xf32>,
           tensor<11xf32>, tensor<2xf64>, tensor<2xi64>)
        -> (tensor<11xf32>, tensor<i32>, tensor<11xf32>, tensor<11xf32>,
            tensor<2xf64>, tensor<2xi64>)
    %b:6 = func.call @step(%a#0, %g2, %a#1, %a#2, %a#3, %a#4, %a#5)
        : (tensor<11xf32>, tensor<11xf32>, tensor<i32>, tensor<11xf32>,
           tensor<11xf32>, tensor<2xf64>, tensor<2xi64>)
        -> (tensor<11xf32>, tensor<i32>, tensor<11xf32>, tensor<11xf32>,
            tensor<2xf64>, tensor<2xi64>)
    // A NaN gradient: the step is skipped, the count stays at 2.
    %d:6 = func.call @step(%b#0, %g3, %b#1, %b#2, %b#3, %b#4, %b#5)
        : (tensor<11xf32>, tensor<11xf32>, tensor<i32>, tensor<11xf32>,
           tensor<11xf32>, tensor<2xf64>, tensor<2xi64>)
        -> (tensor<11xf32>, tensor<i32>, tensor<11xf32>, tensor<11xf32>,
            tensor<2xf64>, tensor<2xi64>)
    %p1 = tensor.cast %a#0 : tensor<11xf32> to tensor<*xf32>
    %p2 = tensor.cast %b#0 : tensor<11xf32> to tensor<*xf32>
    %m2 = tensor.cast %b#2 : tensor<11xf32> to tensor<*xf32>
    %v2 = tensor.cast %b#3 : tensor<11xf32> to tensor<*xf32>
    %s2 = tensor.cast %b#4 : tensor<2xf64> to tensor<*xf64>
    %p3 = tensor.cast %d#0 : tensor<11xf32> to tensor<*xf32>
    %t3 = tensor.cast %d#1 : tensor<i32> to tensor<*xi32>
    %c3 = tensor.cast %d#5 : tensor<2xi64> to tensor<*xi64>
    call @printMemrefF32(%p1) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%p2) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%m2) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%v2) : (tensor<*xf32>) -> ()
    call @printMemrefF64(%s2) : (tensor<*xf64>) -> ()
    call @printMemrefF32(%p3) : (tensor<*xf32>) -> ()
    call @printMemrefI32(%t3) : (tensor<*xi32>) -> ()
    call @printMemrefI64(%c3) : (tensor<*xi64>) -> ()
    return
  }
}
