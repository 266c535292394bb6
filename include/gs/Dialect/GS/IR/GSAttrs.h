//===- GSAttrs.h - GradientStabilizer attributes ----------------*- C++ -*-===//
//
// The non-finite policy enum, the stabilizer configuration and the optimizer
// attributes with their OptimizerAttrInterface.
//
//===----------------------------------------------------------------------===//

#ifndef GS_DIALECT_GS_IR_GSATTRS_H
#define GS_DIALECT_GS_IR_GSATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/Value.h"

#include "gs/Dialect/GS/IR/GSEnums.h.inc"
#include "gs/Dialect/GS/IR/GSInterfaces.h.inc"

namespace mlir::gs {
/// The scalar results of one GS step for one tensor.
struct StabilizerUpdate {
  /// f64: what the gradient is multiplied by: `c/n`, or 1 for the zero-norm
  /// and non-finite cases.
  Value factor;
  /// i1, set only under the `zero` policy: the stabilized gradient is zero
  /// (selected, not multiplied, so NaN elements do not survive).
  Value zeroGrad;
  /// New state: f64 `m`, `v`; i64 `k`, `skipped`.
  Value m, v, k, skipped;
  /// i1: false when the optimizer must not step (non-finite under `skip`).
  Value stepOk;
};

/// The f64 hyperparameters of the GS transform, as constants or run-time
/// values.
struct StabilizerHyperparameters {
  Value gamma1, gamma2, eps;
};

/// Emits `base^exponent` for an f64 base (a constant or a run-time value)
/// and a non-negative i64 exponent by repeated squaring: exact to rounding
/// and free of libm calls, so the same IR lowers for CPUs and GPUs.
Value buildPowI(OpBuilder &builder, Location loc, Value base, Value exponent);

/// Splits the f64 gradient factor `c/n` of a StabilizerUpdate into two f32
/// scalars `{pre, main}` such that `g * pre * main`, evaluated in f32, is
/// `g * (c/n)`. One f32 factor cannot hold `c/n` for gradients of norm below
/// about 5e-38 (c is at most B, about 16): its Inf would turn an entirely
/// subnormal gradient into Inf and NaN. Nor, to f32 precision, for norms
/// above about 1e39 (elements near f32's largest value): it would be
/// subnormal, with a few bits left. `pre` is 1, 2^64 when `c/n > 2^64`, or
/// 2^-64 when `c/n < 2^-64`; scaling by it is exact (elements that the small
/// one would make subnormal are below the result's precision), so every
/// other step rounds exactly as `g * f32(c/n)` (spec section 1).
std::pair<Value, Value> buildF32FactorPair(OpBuilder &builder, Location loc,
                                           Value factor);

/// Emits a constant of `type` (a float type or a vector of one) holding
/// `value` in every element.
Value buildFloatConstant(OpBuilder &builder, Location loc, Type type,
                         double value);

/// Parses a hyperparameter written as a float or integer literal.
FailureOr<llvm::APFloat> parseF64Parameter(AsmParser &parser);
/// Formats `value` in the shortest form that parses back to the same f64
/// (0.999, 1e-08): for diagnostics.
std::string formatF64(double value);
/// Prints a hyperparameter as `formatF64` does, as an MLIR float literal
/// (0.999, 1.0e-08).
void printF64Parameter(AsmPrinter &printer, const llvm::APFloat &value);
/// Parses `true` or `false`.
FailureOr<bool> parseBoolParameter(AsmParser &parser);
} // namespace mlir::gs

#define GET_ATTRDEF_CLASSES
#include "gs/Dialect/GS/IR/GSAttrs.h.inc"

#endif // GS_DIALECT_GS_IR_GSATTRS_H
