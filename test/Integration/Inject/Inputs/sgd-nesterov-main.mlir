  func.func private @printMemrefF32(tensor<*xf32>)
  func.func private @printMemrefF64(tensor<*xf64>)
  func.func private @printMemrefI64(tensor<*xi64>)
  func.func @main() {
    %p = arith.constant dense<[1.0, -0.5, 0.25, 2.0, -1.5, 0.75, -3.0]> : tensor<7xf32>
    %g1 = arith.constant dense<[0.5, -1.0, 0.25, 2.0, -0.75, 0.0, 1.5]> : tensor<7xf32>
    %g2 = arith.constant dense<[-0.25, 0.5, 1.0, -1.5, 0.375, 2.0, -1.0]> : tensor<7xf32>
    %buf = arith.constant dense<0.0> : tensor<7xf32>
    %s = arith.constant dense<0.0> : tensor<2xf64>
    %c = arith.constant dense<0> : tensor<2xi64>
    %t = arith.constant dense<0> : tensor<i64>
    // Results: buffer, param, stats, counts, step.
    %a:5 = func.call @step(%p, %g1, %buf, %s, %c, %t)
        : (tensor<7xf32>, tensor<7xf32>, tensor<7xf32>, tensor<2xf64>,
           tensor<2xi64>, tensor<i64>)
        -> (tensor<7xf32>, tensor<7xf32>, tensor<2xf64>, tensor<2xi64>, tensor<i64>)
    %b:5 = func.call @step(%a#1, %g2, %a#0, %a#2, %a#3, %a#4)
        : (tensor<7xf32>, tensor<7xf32>, tensor<7xf32>, tensor<2xf64>,
           tensor<2xi64>, tensor<i64>)
        -> (tensor<7xf32>, tensor<7xf32>, tensor<2xf64>, tensor<2xi64>, tensor<i64>)
    %p1 = tensor.cast %a#1 : tensor<7xf32> to tensor<*xf32>
    %p2 = tensor.cast %b#1 : tensor<7xf32> to tensor<*xf32>
    %b2 = tensor.cast %b#0 : tensor<7xf32> to tensor<*xf32>
    %s2 = tensor.cast %b#2 : tensor<2xf64> to tensor<*xf64>
    %c2 = tensor.cast %b#3 : tensor<2xi64> to tensor<*xi64>
    %t2 = tensor.cast %b#4 : tensor<i64> to tensor<*xi64>
    call @printMemrefF32(%p1) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%p2) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%b2) : (tensor<*xf32>) -> ()
    call @printMemrefF64(%s2) : (tensor<*xf64>) -> ()
    call @printMemrefI64(%c2) : (tensor<*xi64>) -> ()
    call @printMemrefI64(%t2) : (tensor<*xi64>) -> ()
    return
  }
}
