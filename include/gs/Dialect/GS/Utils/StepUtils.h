//===- StepUtils.h - Building blocks shared by the gs lowerings -*- C++ -*-===//
//
// The parts of a gs.group_step that every target computes identically: the
// per-tensor scalar decisions (found_inf, per-tensor skip, step counts) and
// the stabilized element update. The CPU loops and the GPU kernels both call
// these, so they cannot drift apart.
//
//===----------------------------------------------------------------------===//

#ifndef GS_DIALECT_GS_UTILS_STEPUTILS_H
#define GS_DIALECT_GS_UTILS_STEPUTILS_H

#include "gs/Dialect/GS/IR/GSAttrs.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace mlir::gs {

/// Widens or narrows a float scalar or vector to `elementType` (extf /
/// truncf); returns `value` when it already has that element type.
Value buildFloatCast(OpBuilder &builder, Location loc, Value value,
                     Type elementType);

/// i1: the f64 `norm` is NaN or +-Inf.
Value buildIsNonFinite(OpBuilder &builder, Location loc, Value norm);

/// What one tensor of a gs.group_step does, after the group-wide skip
/// decision (spec sections 1, 3 and 4).
struct GroupTensorUpdate {
  /// f64: the gradient multiplier `c/n`, times `inv_scale` when given.
  Value factor;
  /// i1 or null (only under `on_nonfinite = zero`): replace the gradient by
  /// zeros.
  Value zeroGrad;
  /// i1: the optimizer steps this tensor.
  Value enabled;
  /// The state to store: new when the step runs, old when it is skipped.
  Value m, v, k, skipped;
  /// i64: the new optimizer step count.
  Value step;
};

/// Emits the scalar part of one tensor of a group step: the GS math of
/// `config` with `hyperparameters` on `norm` (already multiplied by
/// `invScale`), gated by `runStep` (i1, false when the whole step is
/// skipped). `invScale` (f64) may be null.
GroupTensorUpdate
buildGroupTensorUpdate(OpBuilder &builder, Location loc, StabilizerAttr config,
                       const StabilizerHyperparameters &hyperparameters,
                       Value norm, Value invScale, Value runStep, Value m,
                       Value v, Value k, Value skipped, Value step);

/// Emits the stabilized gradient: `grad` multiplied by `prefactor` then
/// `factor` (the f32 pair of buildF32FactorPair), replaced by zeros where
/// `zeroGrad` (optional, i1) is set. All values but `zeroGrad` share one f32
/// scalar or vector type.
Value buildStabilizedGradient(OpBuilder &builder, Location loc, Value prefactor,
                              Value factor, Value zeroGrad, Value grad);

/// Emits the element update of one tensor: buildStabilizedGradient, then
/// `optimizer`'s element update. All values but `zeroGrad` share one f32
/// scalar or vector type. Returns the new parameter and moments.
SmallVector<Value> buildStabilizedElementUpdate(
    OpBuilder &builder, Location loc, OptimizerAttrInterface optimizer,
    ValueRange scalars, Value prefactor, Value factor, Value zeroGrad,
    Value param, Value grad, ValueRange moments);

} // namespace mlir::gs

#endif // GS_DIALECT_GS_UTILS_STEPUTILS_H
