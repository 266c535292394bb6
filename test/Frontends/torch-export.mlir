// REQUIRES: torch-mlir
// The installed torch and torch-mlir, live: examples/frontends/torch_adamw.py
// exports torch.optim's AdamW step as linalg on tensors, gs-opt stabilizes
// its gradient (by name) and lowers it to LLVM. The numbers of the same
// pipeline are checked in python/tests/test_frontends.py.
// RUN: %frontend_python %gs_src_root/examples/frontends/torch_adamw.py > %t.mlir
// RUN: gs-opt %t.mlir --gs-stabilize-gradients=grad-names=grad | FileCheck %s
// RUN: gs-opt %t.mlir --gs-stabilize-gradients=grad-names=grad | gs-opt --gs-to-llvm \
// RUN: | FileCheck %s --check-prefix=LLVM
// CHECK-LABEL: func.func @step(
// CHECK-SAME: {gs.name = "grad"}
// CHECK-SAME: gs.state = "stats"
// CHECK: gs.grad_norm %arg1
// CHECK: gs.stabilize %arg1
// LLVM: llvm.func @step(
