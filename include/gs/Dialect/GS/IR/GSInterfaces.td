//===- GSInterfaces.td - GradientStabilizer interfaces -----*- tablegen -*-===//

#ifndef GS_INTERFACES_TD
#define GS_INTERFACES_TD

include "mlir/IR/OpBase.td"

def GS_OptimizerAttrInterface : AttrInterface<"OptimizerAttrInterface"> {
  let cppNamespace = "::mlir::gs";
  let description = [{
    An optimizer that steps on the stabilized gradient. Every lowering (CPU
    loops, GPU kernels) asks the attribute for its update instead of knowing
    the optimizer, so a new optimizer is a new attribute implementing this
    interface and nothing else changes.

    The update is split in two so that per-tensor work is done once, not per
    element:
    - `buildStepScalars` computes f64 scalars (bias corrections, `1 - lr*wd`,
      ...) from the step count, `lr` and `weight_decay`;
    - `buildElementUpdate` computes the new parameter and moments of one
      element (or one vector of elements) from the scalars, converted by the
      caller to the element compute type (f32 or a vector of f32).
  }];

  let methods = [
    InterfaceMethod<[{
        Names of the per-parameter state tensors ("moments"), in the order
        the ops take them. Each has the parameter's shape and element type.
      }],
      "::llvm::SmallVector<::llvm::StringRef>", "getMomentNames">,
    InterfaceMethod<[{
        Emits the per-tensor scalars of one step. `step` is the optimizer's
        step count after this step (i64, >= 1); `lr` and `weightDecay` are
        f64. Returns f64 values, consumed by `buildElementUpdate` in order.
      }],
      "::llvm::SmallVector<::mlir::Value>", "buildStepScalars",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$step, "::mlir::Value":$lr,
           "::mlir::Value":$weightDecay)>,
    InterfaceMethod<[{
        Emits the element-wise update. All values share one type: f32 or a
        vector of f32. `scalars` are `buildStepScalars`' results converted
        (and splatted) to that type. Returns the new parameter followed by
        the new moments, in `getMomentNames` order.
      }],
      "::llvm::SmallVector<::mlir::Value>", "buildElementUpdate",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::ValueRange":$scalars, "::mlir::Value":$param,
           "::mlir::Value":$grad, "::mlir::ValueRange":$moments)>,
  ];

  let extraClassDeclaration = [{
    unsigned getNumMoments() { return getMomentNames().size(); }
  }];
}

#endif // GS_INTERFACES_TD
