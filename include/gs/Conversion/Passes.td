//===- Passes.td - gs conversion passes --------------------*- tablegen -*-===//

#ifndef GS_CONVERSION_PASSES_TD
#define GS_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertGSToLoops : Pass<"convert-gs-to-loops"> {
  let summary = "Lower gs ops to vectorized loops on tensors";
  let description = [{
    Rewrites every gs op into `scf.for` loops over `vector.transfer_read` /
    `vector.transfer_write` of the (flattened) tensors, `arith` / `math` for
    the element-wise and scalar math, and `tensor.extract` / `tensor.insert`
    for the GS and optimizer state. The result is ordinary upstream IR on
    tensors that one-shot bufferization turns into in-place updates of the
    caller's buffers.

    `gs.group_step` becomes, per tensor, two passes over memory: one reads
    the gradient and accumulates its squared norm in f64 vectors (no overflow
    or underflow for any finite f32 / f16 / bf16 input), the other reads
    parameter, gradient and moments and writes parameter and moments. The GS
    scalar math runs between them. No temporary proportional to a tensor's
    size is created. The element update comes from the optimizer attribute's
    `OptimizerAttrInterface`.

    ```mlir
    %n = gs.grad_norm %g : tensor<1000xf32>
    ```
    becomes a loop reading `vector<16xf32>` chunks, widening them to f64 and
    accumulating their squares, with a masked tail, then `vector.reduction`
    and `math.sqrt`.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "unsigned", /*default=*/"8",
           "Elements per vector in the element-wise update (the norm uses "
           "twice as many for independent accumulators)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect"
  ];
}

#endif // GS_CONVERSION_PASSES_TD
