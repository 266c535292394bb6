// One training step of a two-layer model with AdamW, written per tensor the
// way a graph compiler emits it: the gradient norm, the GradientStabilizer
// transform, then the optimizer update.
//
//   gs-opt examples/adamw_step.mlir -canonicalize
//
// folds each per-tensor chain into a fused gs.group_step, and
//
//   gs-opt examples/adamw_step.mlir \
//     --pass-pipeline='builtin.module(canonicalize,func.func(gs-fuse-updates),canonicalize)'
//
// fuses both into one gs.group_step of the two tensors.

func.func @train_step(
    %w: tensor<256x128xf32>, %b: tensor<128xf32>,
    %gw: tensor<256x128xf32>, %gb: tensor<128xf32>,
    %w_m1: tensor<256x128xf32>, %w_m2: tensor<256x128xf32>,
    %b_m1: tensor<128xf32>, %b_m2: tensor<128xf32>,
    %w_stats: tensor<2xf64>, %w_counts: tensor<2xi64>, %w_step: tensor<i64>,
    %b_stats: tensor<2xf64>, %b_counts: tensor<2xi64>, %b_step: tensor<i64>,
    %lr: f64, %wd: f64)
    -> (tensor<256x128xf32>, tensor<256x128xf32>, tensor<256x128xf32>,
        tensor<2xf64>, tensor<2xi64>, tensor<i64>,
        tensor<128xf32>, tensor<128xf32>, tensor<128xf32>,
        tensor<2xf64>, tensor<2xi64>, tensor<i64>) {
  // Weight.
  %nw = gs.grad_norm %gw : tensor<256x128xf32>
  %gw_s, %w_stats1, %w_counts1, %w_ok = gs.stabilize %gw, %nw, %w_stats, %w_counts
      : tensor<256x128xf32>
  %w1, %w_m:2, %w_step1 = gs.optimizer_step #gs.adamw<>
      param(%w : tensor<256x128xf32>) grad(%gw_s)
      moments(%w_m1, %w_m2 : tensor<256x128xf32>, tensor<256x128xf32>)
      step(%w_step) lr(%lr) weight_decay(%wd) enabled(%w_ok)

  // Bias.
  %nb = gs.grad_norm %gb : tensor<128xf32>
  %gb_s, %b_stats1, %b_counts1, %b_ok = gs.stabilize %gb, %nb, %b_stats, %b_counts
      : tensor<128xf32>
  %b1, %b_m:2, %b_step1 = gs.optimizer_step #gs.adamw<>
      param(%b : tensor<128xf32>) grad(%gb_s)
      moments(%b_m1, %b_m2 : tensor<128xf32>, tensor<128xf32>)
      step(%b_step) lr(%lr) weight_decay(%wd) enabled(%b_ok)

  return %w1, %w_m#0, %w_m#1, %w_stats1, %w_counts1, %w_step1,
         %b1, %b_m#0, %b_m#1, %b_stats1, %b_counts1, %b_step1
      : tensor<256x128xf32>, tensor<256x128xf32>, tensor<256x128xf32>,
        tensor<2xf64>, tensor<2xi64>, tensor<i64>,
        tensor<128xf32>, tensor<128xf32>, tensor<128xf32>,
        tensor<2xf64>, tensor<2xi64>, tensor<i64>
}
