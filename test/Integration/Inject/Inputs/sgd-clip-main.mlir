  // The caller, appended after injection: the step takes the GS state of
  // both parameters (stats, counts of %p0, then of %p1).
  func.func private @printMemrefF32(tensor<*xf32>)
  func.func private @printMemrefF64(tensor<*xf64>)
  func.func @main() {
    %e = tensor.empty() : tensor<8xf32>
    %c1 = arith.constant 1.0 : f32
    %c2 = arith.constant 2.0 : f32
    %ch = arith.constant 0.5 : f32
    %cm = arith.constant -1.0 : f32
    %z = arith.constant 0.0 : f64
    %zi = arith.constant 0 : i64
    %p0 = linalg.fill ins(%c1 : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
    %p1 = linalg.fill ins(%c2 : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
    %g0 = linalg.fill ins(%ch : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
    %g1 = linalg.fill ins(%cm : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
    %es = tensor.empty() : tensor<2xf64>
    %ec = tensor.empty() : tensor<2xi64>
    %s0 = linalg.fill ins(%z : f64) outs(%es : tensor<2xf64>) -> tensor<2xf64>
    %k0 = linalg.fill ins(%zi : i64) outs(%ec : tensor<2xi64>) -> tensor<2xi64>
    %s1 = linalg.fill ins(%z : f64) outs(%es : tensor<2xf64>) -> tensor<2xf64>
    %k1 = linalg.fill ins(%zi : i64) outs(%ec : tensor<2xi64>) -> tensor<2xi64>
    %r:6 = func.call @step(%p0, %p1, %g0, %g1, %s0, %k0, %s1, %k1)
        : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>,
           tensor<2xf64>, tensor<2xi64>, tensor<2xf64>, tensor<2xi64>)
        -> (tensor<8xf32>, tensor<8xf32>, tensor<2xf64>, tensor<2xi64>,
            tensor<2xf64>, tensor<2xi64>)
    %u0 = tensor.cast %r#0 : tensor<8xf32> to tensor<*xf32>
    %u1 = tensor.cast %r#1 : tensor<8xf32> to tensor<*xf32>
    %v0 = tensor.cast %r#2 : tensor<2xf64> to tensor<*xf64>
    %v1 = tensor.cast %r#4 : tensor<2xf64> to tensor<*xf64>
    call @printMemrefF32(%u0) : (tensor<*xf32>) -> ()
    call @printMemrefF32(%u1) : (tensor<*xf32>) -> ()
    call @printMemrefF64(%v0) : (tensor<*xf64>) -> ()
    call @printMemrefF64(%v1) : (tensor<*xf64>) -> ()
    return
  }
}
