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
      ...) from the step count, `lr`, `weight_decay` and the run-time
      hyperparameters;
    - `buildElementUpdate` computes the new parameter and moments of one
      element (or one vector of elements) from the scalars, converted by the
      caller to the element compute type (f32 or a vector of f32).
  }];

  let methods = [
    InterfaceMethod<[{
        Names of the f64 hyperparameters besides `lr` and `weight_decay`
        (betas, eps, momentum, ...) that `buildStepScalars` takes as values.
        Only these and the attribute's structural flags (amsgrad, nesterov,
        momentum on or off) define the update: a generic multi-tensor kernel
        reads the values at run time, so one compiled kernel serves every
        setting of them.
      }],
      "::llvm::SmallVector<::llvm::StringRef>", "getHyperparameterNames">,
    InterfaceMethod<[{
        The attribute's values of `getHyperparameterNames`, in that order.
      }],
      "::llvm::SmallVector<double>", "getHyperparameterValues">,
    InterfaceMethod<[{
        Names of the per-parameter state tensors ("moments"), in the order
        the ops take them. Each has the parameter's shape and element type.
      }],
      "::llvm::SmallVector<::llvm::StringRef>", "getMomentNames">,
    InterfaceMethod<[{
        Names of the bias corrections (Adam's `1 - beta1^t`,
        `1 - beta2^t`) that a step may be given as run-time values instead
        of computing them from the step count; empty for optimizers without
        bias correction. Graph compilers (torch.compile, IREE, optax)
        compute them in the graph and hand them over as values.
      }],
      "::llvm::SmallVector<::llvm::StringRef>", "getBiasCorrectionNames">,
    InterfaceMethod<[{
        Emits the per-tensor scalars of one step. `step` is the optimizer's
        step count after this step (i64, >= 1); `lr`, `weightDecay` and
        `hyperparameters` (in `getHyperparameterNames` order) are f64,
        constants or run-time values. `biasCorrections` is empty, or holds
        one f64 value per `getBiasCorrectionNames` entry that the update
        uses instead of computing it from `step`. Returns f64 values,
        consumed by `buildElementUpdate` in order.
      }],
      "::llvm::SmallVector<::mlir::Value>", "buildStepScalars",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$step, "::mlir::Value":$lr,
           "::mlir::Value":$weightDecay,
           "::mlir::ValueRange":$hyperparameters,
           "::mlir::ValueRange":$biasCorrections)>,
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
    unsigned getNumHyperparameters() const {
      return getHyperparameterNames().size();
    }
    unsigned getNumBiasCorrections() const {
      return getBiasCorrectionNames().size();
    }
    /// `getHyperparameterValues` as f64 constants, for lowerings of ops
    /// whose hyperparameters are compile-time attributes.
    ::llvm::SmallVector<::mlir::Value>
    buildHyperparameterConstants(::mlir::OpBuilder &builder,
                                 ::mlir::Location loc) const;
  }];
}

#endif // GS_INTERFACES_TD
