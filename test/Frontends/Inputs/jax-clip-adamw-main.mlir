  func.func private @printMemrefF32(tensor<*xf32>)
  func.func private @printMemrefF64(tensor<*xf64>)
  func.func private @printMemrefI32(tensor<*xi32>)
  func.func private @printMemrefI64(tensor<*xi64>)
  func.func @main() {
    %p = arith.constant dense<[1.0, -0.5, 0.25, 2.0]> : tensor<4xf32>
    %g1 = arith.constant dense<[0.5, -1.0, 0.25, 2.0]> : tensor<4xf32>
    %g2 = arith.constant dense<[-250.0, 500.0, 1000.0, -1500.0]> : tensor<4xf32>
    %z = arith.constant dense<0.0> : tensor<4xf32>
    %n = arith.constant dense<0> : tensor<i32>
    %s = arith.constant dense<0.0> : tensor<2xf64>
    %c = arith.constant dense<0> : tensor<2xi64>
    // Arguments: params.0, grads.0, count, mu, nu, stats, counts.
    // Results: params.0, count, mu, nu, stats, counts.
    %a:6 = func.call @step(%p, %g1, %n, %z, %z, %s, %c)
        : (tensor<4xf32>, tensor<4xf32>, tensor<i32>, tensor<4xf32>,
           tensor<4xf32>, tensor<2xf64>, tensor<2xi64>)
        -> (tensor<4xf32>, tensor<i32>, tensor<4xf32>, tensor<4xf32>,
            tensor<2xf64>, tensor<2xi64>)
    %b:6 = func.call @step(%a#0, %g2, %a#1, %a#2, %a#3, %a#4, %a#5)
        : (tensor<4xf32>, tensor<4xf32>, tensor<i32>, tensor<4xf32>,
           tensor<4xf32>, tensor<2xf64>, tensor<2xi64>)
        -> (tensor<4xf32>, tensor<i32>, tensor<4xf32>, tensor<4xf32>,
            tensor<2xf64>, tensor<2xi64>)
    %p1 = tensor.cast %a#0 : tensor<4xf32> to tensor<*xf32>
    %p2 = tensor.cast %b#0 : tensor<4xf32> to tensor<*xf32>
    %n2 = tensor.cast %b#1 : tensor<i32> to tensor<*xi32>
    %m2 = tensor.cast %b#2 : tensor<4xf32> to tensor<*xf32>
    %v2 = tensor.cast %b#3 : tensor<4xf32> to tensor<*xf32>
    %s2 = tensor.cast %b#4 : tensor<2xf64> to tensor<*xf64>
    %c2 = tensor.cast %b#5 : tensor<2xi64> to tensor<*xi64>
    call @printMemrefF32(%p1) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%p2) : (tensor<*xf32>) -> ()
    call @printMemrefI32(%n2) : (tensor<*xi32>) -> ()
    call @printMemrefF32(%m2) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%v2) : (tensor<*xf32>) -> ()
    call @printMemrefF64(%s2) : (tensor<*xf64>) -> ()
    call @printMemrefI64(%c2) : (tensor<*xi64>) -> ()
    return
  }
}
