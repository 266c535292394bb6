  func.func private @printMemrefF32(tensor<*xf32>)
  func.func private @printMemrefF64(tensor<*xf64>)
  func.func private @printMemrefI64(tensor<*xi64>)
  func.func @main() {
    %p = arith.constant dense<[[1.0, -0.5, 0.25, 2.0, -1.5], [0.75, 3.0, -2.0, 0.125, -0.25],
                               [1.25, -1.0, 0.5, -0.75, 1.5]]> : tensor<3x5xf32>
    %g1 = arith.constant dense<[[0.5, -1.0, 0.25, 2.0, -0.75], [1.5, -0.125, 0.0, 1.0, -2.5],
                                [0.625, 0.375, -1.5, 0.75, -0.25]]> : tensor<3x5xf32>
    // Small where the first gradient was large: exp_avg_sq decays there and
    // max_exp_avg_sq keeps the first step's value.
    %g2 = arith.constant dense<[[-0.25, 0.5, 1.0, 0.0, 0.375], [0.0625, 2.0, -1.0, 0.75, 0.03125],
                                [-0.5, 1.25, 0.125, -1.0, 0.5]]> : tensor<3x5xf32>
    %z = arith.constant dense<0.0> : tensor<3x5xf32>
    %s = arith.constant dense<0.0> : tensor<2xf64>
    %c = arith.constant dense<0> : tensor<2xi64>
    %t1 = arith.constant 1 : i64
    %t2 = arith.constant 2 : i64
    %lr = arith.constant 0.05 : f32
    %wd = arith.constant 0.1 : f32
    // Results: param, exp_avg, exp_avg_sq, max_exp_avg_sq, stats, counts.
    %a:6 = func.call @step(%p, %g1, %z, %z, %z, %t1, %lr, %wd, %s, %c)
        : (tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>,
           tensor<3x5xf32>, i64, f32, f32, tensor<2xf64>, tensor<2xi64>)
        -> (tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>,
            tensor<2xf64>, tensor<2xi64>)
    %b:6 = func.call @step(%a#0, %g2, %a#1, %a#2, %a#3, %t2, %lr, %wd, %a#4, %a#5)
        : (tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>,
           tensor<3x5xf32>, i64, f32, f32, tensor<2xf64>, tensor<2xi64>)
        -> (tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>,
            tensor<2xf64>, tensor<2xi64>)
    %p1 = tensor.cast %a#0 : tensor<3x5xf32> to tensor<*xf32>
    %p2 = tensor.cast %b#0 : tensor<3x5xf32> to tensor<*xf32>
    %m2 = tensor.cast %b#1 : tensor<3x5xf32> to tensor<*xf32>
    %v2 = tensor.cast %b#2 : tensor<3x5xf32> to tensor<*xf32>
    %x2 = tensor.cast %b#3 : tensor<3x5xf32> to tensor<*xf32>
    %s2 = tensor.cast %b#4 : tensor<2xf64> to tensor<*xf64>
    %c2 = tensor.cast %b#5 : tensor<2xi64> to tensor<*xi64>
    call @printMemrefF32(%p1) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%p2) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%m2) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%v2) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%x2) : (tensor<*xf32>) -> ()
    call @printMemrefF64(%s2) : (tensor<*xf64>) -> ()
    call @printMemrefI64(%c2) : (tensor<*xi64>) -> ()
    return
  }
}
