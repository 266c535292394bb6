// Bad uses of the gs pipelines are parse errors with a message, never a fatal
// error that aborts the process: nested on a function (their passes need the
// module) or with a vector width that would overflow the vector sizes.
// RUN: not gs-opt %s --pass-pipeline='builtin.module(func.func(gs-to-llvm))' 2>&1 | FileCheck %s --check-prefix=NESTED
// RUN: not gs-opt %s --gs-to-llvm=vector-width=4294967295 2>&1 | FileCheck %s --check-prefix=HUGE
// RUN: not gs-opt %s --gs-to-llvm=vector-width=0 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not gs-opt %s --convert-gs-to-loops=vector-width=2147483648 2>&1 | FileCheck %s --check-prefix=LOOPS
// RUN: gs-opt %s --gs-to-llvm=vector-width=256 | FileCheck %s --check-prefix=WIDEST
// The other module pipelines refuse to nest the same way.
// RUN: not gs-opt %s --pass-pipeline='builtin.module(func.func(gs-to-nvvm))' 2>&1 | FileCheck %s --check-prefix=NVVM
// RUN: not gs-opt %s --pass-pipeline='builtin.module(func.func(gs-inject))' 2>&1 | FileCheck %s --check-prefix=INJECT

// NESTED: error: gs-to-llvm runs on a builtin.module, not nested on 'func.func'
// HUGE: error: gs-to-llvm: vector-width must be in [1, 256], got 4294967295
// ZERO: error: gs-to-llvm: vector-width must be in [1, 256], got 0
// LOOPS: error: convert-gs-to-loops: vector-width must be in [1, 256], got 2147483648
// WIDEST: llvm.func @norm
// NVVM: error: gs-to-nvvm runs on a builtin.module, not nested on 'func.func'
// INJECT: error: gs-inject runs on a builtin.module, not nested on 'func.func'
func.func @norm(%g: tensor<1000xf32>) -> f64 {
  %n = gs.grad_norm %g : tensor<1000xf32>
  return %n : f64
}
