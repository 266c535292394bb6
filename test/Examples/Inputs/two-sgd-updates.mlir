// Two torch.optim.SGD updates (torch-mlir's named linalg ops) sharing one
// run-time learning rate: gs-compile stabilizes both and fuses them into one
// gs.group_step.
func.func @step(%w: tensor<4x8xf32>, %b: tensor<8xf32>,
                %gw: tensor<4x8xf32>, %gb: tensor<8xf32>, %lr: f32)
    -> (tensor<4x8xf32>, tensor<8xf32>) {
  %ew = tensor.empty() : tensor<4x8xf32>
  %eb = tensor.empty() : tensor<8xf32>
  %lw = linalg.fill ins(%lr : f32) outs(%ew : tensor<4x8xf32>) -> tensor<4x8xf32>
  %lb = linalg.fill ins(%lr : f32) outs(%eb : tensor<8xf32>) -> tensor<8xf32>
  %uw = linalg.mul ins(%lw, %gw : tensor<4x8xf32>, tensor<4x8xf32>)
                   outs(%ew : tensor<4x8xf32>) -> tensor<4x8xf32>
  %nw = linalg.sub ins(%w, %uw : tensor<4x8xf32>, tensor<4x8xf32>)
                   outs(%ew : tensor<4x8xf32>) -> tensor<4x8xf32>
  %ub = linalg.mul ins(%lb, %gb : tensor<8xf32>, tensor<8xf32>)
                   outs(%eb : tensor<8xf32>) -> tensor<8xf32>
  %nb = linalg.sub ins(%b, %ub : tensor<8xf32>, tensor<8xf32>)
                   outs(%eb : tensor<8xf32>) -> tensor<8xf32>
  return %nw, %nb : tensor<4x8xf32>, tensor<8xf32>
}
