// python examples/frontends/jax_clip_adamw.py (jax 0.10.2 + optax 0.2.8 + iree-base-compiler 3.13.0), unedited:
// optax.chain(clip_by_global_norm(1.0), adamw(1e-3, weight_decay=0.01)) as
// StableHLO through IREE's input conversion and the util.func adapter.
module @jit_update {
  func.func @step(%arg0: tensor<4xf32> {gs.name = "params.0"}, %arg1: tensor<4xf32> {gs.name = "grads.0"}, %arg2: tensor<i32> {gs.name = "opt_state.1.0.count"}, %arg3: tensor<4xf32> {gs.name = "opt_state.1.0.mu.0"}, %arg4: tensor<4xf32> {gs.name = "opt_state.1.0.nu.0"}) -> (tensor<4xf32>, tensor<i32>, tensor<4xf32>, tensor<4xf32>) {
    %cst = arith.constant -1.000000e-03 : f32
    %cst_0 = arith.constant 0.00999999977 : f32
    %cst_1 = arith.constant 9.99999993E-9 : f32
    %c1_i32 = arith.constant 1 : i32
    %c2147483647_i32 = arith.constant 2147483647 : i32
    %cst_2 = arith.constant 9.990000e-01 : f32
    %cst_3 = arith.constant 1.000000e-03 : f32
    %cst_4 = arith.constant 0.899999976 : f32
    %cst_5 = arith.constant 1.000000e-01 : f32
    %cst_6 = arith.constant 1.000000e+00 : f32
    %cst_7 = arith.constant 0.000000e+00 : f32
    %0 = tensor.empty() : tensor<4xf32>
    %1 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg1 : tensor<4xf32>) outs(%0 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.mulf %in, %in : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %2 = tensor.empty() : tensor<4xf32>
    %3 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%1 : tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.addf %in, %cst_7 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %4 = tensor.empty() : tensor<f32>
    %5 = linalg.fill ins(%cst_7 : f32) outs(%4 : tensor<f32>) -> tensor<f32>
    %6 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>], iterator_types = ["reduction"]} ins(%3 : tensor<4xf32>) outs(%5 : tensor<f32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.addf %out, %in : f32
      linalg.yield %73 : f32
    } -> tensor<f32>
    %7 = tensor.empty() : tensor<f32>
    %8 = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%6 : tensor<f32>) outs(%7 : tensor<f32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.addf %in, %cst_7 : f32
      linalg.yield %73 : f32
    } -> tensor<f32>
    %9 = tensor.empty() : tensor<f32>
    %10 = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%8 : tensor<f32>) outs(%9 : tensor<f32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = math.sqrt %in : f32
      linalg.yield %73 : f32
    } -> tensor<f32>
    %11 = tensor.empty() : tensor<i1>
    %12 = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%10 : tensor<f32>) outs(%11 : tensor<i1>) {
    ^bb0(%in: f32, %out: i1):
      %73 = arith.cmpf olt, %in, %cst_6 : f32
      linalg.yield %73 : i1
    } -> tensor<i1>
    %13 = tensor.empty() : tensor<4xf32>
    %14 = linalg.generic {indexing_maps = [affine_map<(d0) -> ()>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%10 : tensor<f32>) outs(%13 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<4xf32>
    %15 = tensor.empty() : tensor<4xf32>
    %16 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg1, %14 : tensor<4xf32>, tensor<4xf32>) outs(%15 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %73 = arith.divf %in, %in_8 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %17 = tensor.empty() : tensor<4xf32>
    %extracted = tensor.extract %12[] : tensor<i1>
    %18 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg1, %16 : tensor<4xf32>, tensor<4xf32>) outs(%17 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %73 = arith.select %extracted, %in, %in_8 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %19 = tensor.empty() : tensor<4xf32>
    %20 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%18 : tensor<4xf32>) outs(%19 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.mulf %in, %cst_5 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %21 = tensor.empty() : tensor<4xf32>
    %22 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg3 : tensor<4xf32>) outs(%21 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.mulf %in, %cst_4 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %23 = tensor.empty() : tensor<4xf32>
    %24 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%20, %22 : tensor<4xf32>, tensor<4xf32>) outs(%23 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %73 = arith.addf %in, %in_8 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %25 = tensor.empty() : tensor<4xf32>
    %26 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%18 : tensor<4xf32>) outs(%25 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.mulf %in, %in : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %27 = tensor.empty() : tensor<4xf32>
    %28 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%26 : tensor<4xf32>) outs(%27 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.mulf %in, %cst_3 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %29 = tensor.empty() : tensor<4xf32>
    %30 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg4 : tensor<4xf32>) outs(%29 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.mulf %in, %cst_2 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %31 = tensor.empty() : tensor<4xf32>
    %32 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%28, %30 : tensor<4xf32>, tensor<4xf32>) outs(%31 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %73 = arith.addf %in, %in_8 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %33 = tensor.empty() : tensor<i1>
    %34 = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%arg2 : tensor<i32>) outs(%33 : tensor<i1>) {
    ^bb0(%in: i32, %out: i1):
      %73 = arith.cmpi slt, %in, %c2147483647_i32 : i32
      linalg.yield %73 : i1
    } -> tensor<i1>
    %35 = tensor.empty() : tensor<i32>
    %36 = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%arg2 : tensor<i32>) outs(%35 : tensor<i32>) {
    ^bb0(%in: i32, %out: i32):
      %73 = arith.addi %in, %c1_i32 : i32
      linalg.yield %73 : i32
    } -> tensor<i32>
    %37 = tensor.empty() : tensor<i32>
    %38 = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%34, %36 : tensor<i1>, tensor<i32>) outs(%37 : tensor<i32>) {
    ^bb0(%in: i1, %in_8: i32, %out: i32):
      %73 = arith.select %in, %in_8, %c2147483647_i32 : i32
      linalg.yield %73 : i32
    } -> tensor<i32>
    %39 = tensor.empty() : tensor<f32>
    %40 = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%38 : tensor<i32>) outs(%39 : tensor<f32>) {
    ^bb0(%in: i32, %out: f32):
      %73 = arith.sitofp %in : i32 to f32
      linalg.yield %73 : f32
    } -> tensor<f32>
    %41 = tensor.empty() : tensor<f32>
    %42 = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%40 : tensor<f32>) outs(%41 : tensor<f32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = math.powf %cst_4, %in : f32
      linalg.yield %73 : f32
    } -> tensor<f32>
    %43 = tensor.empty() : tensor<f32>
    %44 = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%42 : tensor<f32>) outs(%43 : tensor<f32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.subf %cst_6, %in : f32
      linalg.yield %73 : f32
    } -> tensor<f32>
    %45 = tensor.empty() : tensor<4xf32>
    %46 = linalg.generic {indexing_maps = [affine_map<(d0) -> ()>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%44 : tensor<f32>) outs(%45 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<4xf32>
    %47 = tensor.empty() : tensor<4xf32>
    %48 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%24, %46 : tensor<4xf32>, tensor<4xf32>) outs(%47 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %73 = arith.divf %in, %in_8 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %49 = tensor.empty() : tensor<f32>
    %50 = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%40 : tensor<f32>) outs(%49 : tensor<f32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = math.powf %cst_2, %in : f32
      linalg.yield %73 : f32
    } -> tensor<f32>
    %51 = tensor.empty() : tensor<f32>
    %52 = linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%50 : tensor<f32>) outs(%51 : tensor<f32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.subf %cst_6, %in : f32
      linalg.yield %73 : f32
    } -> tensor<f32>
    %53 = tensor.empty() : tensor<4xf32>
    %54 = linalg.generic {indexing_maps = [affine_map<(d0) -> ()>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%52 : tensor<f32>) outs(%53 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<4xf32>
    %55 = tensor.empty() : tensor<4xf32>
    %56 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%32, %54 : tensor<4xf32>, tensor<4xf32>) outs(%55 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %73 = arith.divf %in, %in_8 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %57 = tensor.empty() : tensor<4xf32>
    %58 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%56 : tensor<4xf32>) outs(%57 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.addf %in, %cst_7 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %59 = tensor.empty() : tensor<4xf32>
    %60 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%58 : tensor<4xf32>) outs(%59 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = math.sqrt %in : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %61 = tensor.empty() : tensor<4xf32>
    %62 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%60 : tensor<4xf32>) outs(%61 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.addf %in, %cst_1 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %63 = tensor.empty() : tensor<4xf32>
    %64 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%48, %62 : tensor<4xf32>, tensor<4xf32>) outs(%63 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %73 = arith.divf %in, %in_8 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %65 = tensor.empty() : tensor<4xf32>
    %66 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg0 : tensor<4xf32>) outs(%65 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.mulf %in, %cst_0 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %67 = tensor.empty() : tensor<4xf32>
    %68 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%64, %66 : tensor<4xf32>, tensor<4xf32>) outs(%67 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %73 = arith.addf %in, %in_8 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %69 = tensor.empty() : tensor<4xf32>
    %70 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%68 : tensor<4xf32>) outs(%69 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %73 = arith.mulf %in, %cst : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    %71 = tensor.empty() : tensor<4xf32>
    %72 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg0, %70 : tensor<4xf32>, tensor<4xf32>) outs(%71 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %73 = arith.addf %in, %in_8 : f32
      linalg.yield %73 : f32
    } -> tensor<4xf32>
    func.return %72, %38, %24, %32 : tensor<4xf32>, tensor<i32>, tensor<4xf32>, tensor<4xf32>
  }
}
