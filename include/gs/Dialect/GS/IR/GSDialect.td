//===- GSDialect.td - GradientStabilizer dialect -----------*- tablegen -*-===//
//
// The `gs` dialect: the stabilize-then-optimize update of a training step,
// expressed on tensor values so graph compilers can compose it.
//
//===----------------------------------------------------------------------===//

#ifndef GS_DIALECT_TD
#define GS_DIALECT_TD

include "mlir/IR/OpBase.td"

def GS_Dialect : Dialect {
  let name = "gs";
  let cppNamespace = "::mlir::gs";
  let summary = "GradientStabilizer: stabilize-then-optimize updates";
  let description = [{
    The `gs` dialect represents one training step's optimizer update with
    GradientStabilizer (GS) applied to the gradients first. Per parameter
    tensor GS keeps the running statistics of the gradient norm and rescales
    the gradient to a stabilized magnitude, keeping its direction; an
    optimizer (SGD, Adam, AdamW, Lion) then steps on that gradient.

    All ops work on tensor values: a step reads parameters and states and
    produces their new values, so nothing is hidden in globals and a
    checkpoint is just the state values. After bufferization the new values
    alias the old ones, i.e. the update is in place.

    Per-tensor ops (`gs.grad_norm`, `gs.stabilize`, `gs.optimizer_step`) are
    the building blocks graph compilers produce; `gs.group_step` is the fused
    update of a whole parameter group that kernels are generated from.

    GS state of one parameter tensor, in this order:

    | value | type | contents |
    |---|---|---|
    | stats | `tensor<2xf64>` | `[m, v]`: EMAs of the norm and squared norm |
    | counts | `tensor<2xi64>` | `[k, skipped]`: applied stabilizations, skipped events |

    A group of N tensors keeps them as rows: `tensor<Nx2xf64>`,
    `tensor<Nx2xi64>`.
  }];
  // Canonicalization builds tensor ops; bufferization of gs.group_step
  // builds the tables of its multi-tensor steps from arith, math, memref
  // and scf ops.
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let extraClassDeclaration = [{
  private:
    void registerAttributes();
  public:
  }];
}

#endif // GS_DIALECT_TD
