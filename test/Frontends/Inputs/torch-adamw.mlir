// python examples/frontends/torch_adamw.py (torch 2.15.0 + torch-mlir 20261001), unedited: torch.optim's
// functional AdamW through torch.export and torch-mlir's FX importer.
#map = affine_map<() -> ()>
#map1 = affine_map<(d0) -> (d0)>
#map2 = affine_map<(d0) -> ()>
module {
  func.func @step(%arg0: tensor<4xf32> {gs.name = "param"}, %arg1: tensor<4xf32> {gs.name = "grad"}, %arg2: tensor<4xf32> {gs.name = "exp_avg"}, %arg3: tensor<4xf32> {gs.name = "exp_avg_sq"}, %arg4: tensor<f64> {gs.name = "step"}) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f64>) {
    %cst = arith.constant 0.000000e+00 : f64
    %cst_0 = arith.constant 1.000000e+00 : f64
    %cst_1 = arith.constant dense<-0.899999976> : tensor<f32>
    %cst_2 = arith.constant dense<1.000000e-01> : tensor<f32>
    %cst_3 = arith.constant 1.000000e-08 : f64
    %cst_4 = arith.constant 1.000000e-03 : f64
    %cst_5 = arith.constant 9.000000e-01 : f64
    %cst_6 = arith.constant 0.0010000000000000009 : f64
    %cst_7 = arith.constant 0.99899999999999999 : f64
    %cst_8 = arith.constant 5.000000e-01 : f64
    %cst_9 = arith.constant 9.999900e-01 : f64
    %cst_10 = arith.constant dense<1> : tensor<i64>
    %0 = tensor.empty() : tensor<f64>
    %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = []} ins(%arg4 : tensor<f64>) outs(%0 : tensor<f64>) {
    ^bb0(%in: f64, %out: f64):
      %31 = arith.addf %in, %cst_0 : f64
      linalg.yield %31 : f64
    } -> tensor<f64>
    %2 = tensor.empty() : tensor<4xf32>
    %3 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel"]} ins(%arg0 : tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.truncf %cst_9 : f64 to f32
      %32 = arith.mulf %in, %31 : f32
      linalg.yield %32 : f32
    } -> tensor<4xf32>
    %4 = tensor.empty() : tensor<f32>
    %5 = linalg.generic {indexing_maps = [#map, #map], iterator_types = []} ins(%cst_2 : tensor<f32>) outs(%4 : tensor<f32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = math.absf %in : f32
      linalg.yield %31 : f32
    } -> tensor<f32>
    %6 = tensor.empty() : tensor<i1>
    %7 = linalg.generic {indexing_maps = [#map, #map], iterator_types = []} ins(%5 : tensor<f32>) outs(%6 : tensor<i1>) {
    ^bb0(%in: f32, %out: i1):
      %31 = arith.extf %in : f32 to f64
      %32 = arith.cmpf oge, %31, %cst_8 : f64
      linalg.yield %32 : i1
    } -> tensor<i1>
    %8 = linalg.generic {indexing_maps = [#map, #map, #map, #map], iterator_types = []} ins(%7, %cst_1, %cst_2 : tensor<i1>, tensor<f32>, tensor<f32>) outs(%4 : tensor<f32>) {
    ^bb0(%in: i1, %in_11: f32, %in_12: f32, %out: f32):
      %31 = arith.select %in, %in_11, %in_12 : f32
      linalg.yield %31 : f32
    } -> tensor<f32>
    %9 = linalg.generic {indexing_maps = [#map2, #map1, #map1, #map1], iterator_types = ["parallel"]} ins(%7, %arg1, %arg2 : tensor<i1>, tensor<4xf32>, tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: i1, %in_11: f32, %in_12: f32, %out: f32):
      %31 = arith.select %in, %in_11, %in_12 : f32
      linalg.yield %31 : f32
    } -> tensor<4xf32>
    %10 = linalg.generic {indexing_maps = [#map1, #map1, #map1], iterator_types = ["parallel"]} ins(%arg1, %arg2 : tensor<4xf32>, tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %31 = arith.subf %in, %in_11 : f32
      linalg.yield %31 : f32
    } -> tensor<4xf32>
    %11 = linalg.generic {indexing_maps = [#map2, #map1, #map1], iterator_types = ["parallel"]} ins(%8, %10 : tensor<f32>, tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %31 = arith.mulf %in, %in_11 : f32
      linalg.yield %31 : f32
    } -> tensor<4xf32>
    %12 = linalg.generic {indexing_maps = [#map1, #map1, #map1], iterator_types = ["parallel"]} ins(%11, %9 : tensor<4xf32>, tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %31 = arith.addf %in, %in_11 : f32
      linalg.yield %31 : f32
    } -> tensor<4xf32>
    %13 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel"]} ins(%arg3 : tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.truncf %cst_7 : f64 to f32
      %32 = arith.mulf %in, %31 : f32
      linalg.yield %32 : f32
    } -> tensor<4xf32>
    %14 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel"]} ins(%arg1 : tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.truncf %cst_6 : f64 to f32
      %32 = arith.mulf %in, %31 : f32
      linalg.yield %32 : f32
    } -> tensor<4xf32>
    %15 = linalg.generic {indexing_maps = [#map1, #map1, #map1], iterator_types = ["parallel"]} ins(%14, %arg1 : tensor<4xf32>, tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %31 = arith.mulf %in, %in_11 : f32
      linalg.yield %31 : f32
    } -> tensor<4xf32>
    %16 = linalg.generic {indexing_maps = [#map1, #map1, #map1], iterator_types = ["parallel"]} ins(%13, %15 : tensor<4xf32>, tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %31 = arith.addf %in, %in_11 : f32
      linalg.yield %31 : f32
    } -> tensor<4xf32>
    %17 = linalg.generic {indexing_maps = [#map, #map], iterator_types = []} ins(%1 : tensor<f64>) outs(%0 : tensor<f64>) {
    ^bb0(%in: f64, %out: f64):
      %31 = math.powf %cst_5, %in : f64
      linalg.yield %31 : f64
    } -> tensor<f64>
    %18 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = []} ins(%cst_10, %17 : tensor<i64>, tensor<f64>) outs(%0 : tensor<f64>) {
    ^bb0(%in: i64, %in_11: f64, %out: f64):
      %31 = arith.sitofp %in : i64 to f64
      %32 = arith.subf %31, %in_11 : f64
      linalg.yield %32 : f64
    } -> tensor<f64>
    %19 = linalg.generic {indexing_maps = [#map, #map], iterator_types = []} ins(%1 : tensor<f64>) outs(%0 : tensor<f64>) {
    ^bb0(%in: f64, %out: f64):
      %31 = math.powf %cst_7, %in : f64
      linalg.yield %31 : f64
    } -> tensor<f64>
    %20 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = []} ins(%cst_10, %19 : tensor<i64>, tensor<f64>) outs(%0 : tensor<f64>) {
    ^bb0(%in: i64, %in_11: f64, %out: f64):
      %31 = arith.sitofp %in : i64 to f64
      %32 = arith.subf %31, %in_11 : f64
      linalg.yield %32 : f64
    } -> tensor<f64>
    %21 = linalg.generic {indexing_maps = [#map, #map], iterator_types = []} ins(%18 : tensor<f64>) outs(%0 : tensor<f64>) {
    ^bb0(%in: f64, %out: f64):
      %31 = arith.cmpf one, %in, %cst : f64
      cf.assert %31, "unimplemented: tensor with zero element"
      %32 = arith.divf %cst_0, %in : f64
      linalg.yield %32 : f64
    } -> tensor<f64>
    %22 = linalg.generic {indexing_maps = [#map, #map], iterator_types = []} ins(%21 : tensor<f64>) outs(%0 : tensor<f64>) {
    ^bb0(%in: f64, %out: f64):
      %31 = arith.mulf %in, %cst_4 : f64
      linalg.yield %31 : f64
    } -> tensor<f64>
    %23 = linalg.generic {indexing_maps = [#map, #map], iterator_types = []} ins(%20 : tensor<f64>) outs(%0 : tensor<f64>) {
    ^bb0(%in: f64, %out: f64):
      %31 = math.powf %in, %cst_8 : f64
      linalg.yield %31 : f64
    } -> tensor<f64>
    %24 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel"]} ins(%16 : tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = math.sqrt %in : f32
      linalg.yield %31 : f32
    } -> tensor<4xf32>
    %25 = linalg.generic {indexing_maps = [#map1, #map2, #map1], iterator_types = ["parallel"]} ins(%24, %23 : tensor<4xf32>, tensor<f64>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_11: f64, %out: f32):
      %31 = arith.truncf %in_11 : f64 to f32
      %32 = arith.divf %in, %31 : f32
      linalg.yield %32 : f32
    } -> tensor<4xf32>
    %26 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel"]} ins(%25 : tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.truncf %cst_3 : f64 to f32
      %32 = arith.addf %in, %31 : f32
      linalg.yield %32 : f32
    } -> tensor<4xf32>
    %27 = linalg.generic {indexing_maps = [#map, #map], iterator_types = []} ins(%22 : tensor<f64>) outs(%0 : tensor<f64>) {
    ^bb0(%in: f64, %out: f64):
      %31 = arith.negf %in : f64
      linalg.yield %31 : f64
    } -> tensor<f64>
    %extracted = tensor.extract %27[] : tensor<f64>
    %28 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel"]} ins(%12 : tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %31 = arith.truncf %extracted : f64 to f32
      %32 = arith.mulf %in, %31 : f32
      linalg.yield %32 : f32
    } -> tensor<4xf32>
    %29 = linalg.generic {indexing_maps = [#map1, #map1, #map1], iterator_types = ["parallel"]} ins(%28, %26 : tensor<4xf32>, tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %31 = arith.divf %in, %in_11 : f32
      linalg.yield %31 : f32
    } -> tensor<4xf32>
    %30 = linalg.generic {indexing_maps = [#map1, #map1, #map1], iterator_types = ["parallel"]} ins(%3, %29 : tensor<4xf32>, tensor<4xf32>) outs(%2 : tensor<4xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %31 = arith.addf %in, %in_11 : f32
      linalg.yield %31 : f32
    } -> tensor<4xf32>
    return %30, %12, %16, %1 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f64>
  }
}

