// End to end: inject stabilization into SGD behind torch's
// clip_grad_norm_(max_norm=1.0) over two gradients (the clip is replaced),
// fuse both updates, lower with gs-to-llvm, run one step on the CPU.
//
// RUN: gs-opt %s -gs-inject | grep -v '^}$' > %t.mlir
// RUN: cat %S/Inputs/sgd-clip-main.mlir >> %t.mlir
// RUN: gs-opt %t.mlir --gs-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_lib_dir/libmlir_runner_utils.so,%mlir_lib_dir/libmlir_c_runner_utils.so \
// RUN: | FileCheck %s
//
// Expected numbers: python/gradient_stabilizer/reference.py (float64), with
//   group_step([ones(8), 2*ones(8)], [0.5*ones(8), -ones(8)], [GSState()]*2,
//              [OptState()]*2, SGD(), GSConfig(), lr=0.1, weight_decay=0)
// The first step stabilizes each gradient to norm c = 1/(1 + 1e-12*...) ~ 1:
// g~ = g / ||g||, so p0 = 1 - 0.1/sqrt(8), p1 = 2 + 0.1/sqrt(8);
// m = 0.4 * ||g||, v = 0.001 * ||g||^2.
// CHECK-COUNT-8: 0.964645
// CHECK-COUNT-8: 2.03536
// CHECK: [0.565685{{[0-9]*}},  0.002]
// CHECK: [1.13137{{[0-9]*}},  0.008]

#sum = affine_map<(d0) -> (d0)>
#red = affine_map<(d0) -> ()>
func.func @step(%p0: tensor<8xf32>, %p1: tensor<8xf32>,
                %g0: tensor<8xf32>, %g1: tensor<8xf32>)
    -> (tensor<8xf32>, tensor<8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %s0 = linalg.generic {indexing_maps = [#sum, #red], iterator_types = ["reduction"]}
      ins(%g0 : tensor<8xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%x: f32, %a: f32):
    %sq = arith.mulf %x, %x : f32
    %r = arith.addf %a, %sq : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %s1 = linalg.generic {indexing_maps = [#sum, #red], iterator_types = ["reduction"]}
      ins(%g1 : tensor<8xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%x: f32, %a: f32):
    %sq = arith.mulf %x, %x : f32
    %r = arith.addf %sq, %a : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %a0 = tensor.extract %s0[] : tensor<f32>
  %a1 = tensor.extract %s1[] : tensor<f32>
  %tot = arith.addf %a0, %a1 : f32
  %norm = math.sqrt %tot : f32
  %eps = arith.constant 1.0e-6 : f32
  %maxn = arith.constant 1.0 : f32
  %den = arith.addf %norm, %eps : f32
  %coef = arith.divf %maxn, %den : f32
  %one = arith.constant 1.0 : f32
  %clamped = arith.minimumf %coef, %one : f32
  %lr = arith.constant 0.1 : f32
  %e = tensor.empty() : tensor<8xf32>
  %cf = linalg.fill ins(%clamped : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %lrf = linalg.fill ins(%lr : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %c0 = linalg.mul ins(%g0, %cf : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %c1 = linalg.mul ins(%cf, %g1 : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %u0 = linalg.mul ins(%lrf, %c0 : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %u1 = linalg.mul ins(%c1, %lrf : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %n0 = linalg.sub ins(%p0, %u0 : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %n1 = linalg.sub ins(%p1, %u1 : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  return %n0, %n1 : tensor<8xf32>, tensor<8xf32>
}
