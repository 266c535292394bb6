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

/// Emits `base^exponent` for an f64 constant base and a non-negative i64
/// exponent by repeated squaring: exact to rounding and free of libm calls,
/// so the same IR lowers for CPUs and GPUs.
Value buildPowI(OpBuilder &builder, Location loc, double base, Value exponent);

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
