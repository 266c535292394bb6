//===- GSAttrs.cpp - GradientStabilizer attributes ------------------------===//
//
// Parsing helpers, hyperparameter verification and the GS scalar math.
//
//===----------------------------------------------------------------------===//

#include "gs/Dialect/GS/IR/GSAttrs.h"
#include "gs/Dialect/GS/IR/GSDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/TypeSwitch.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <cstdlib>

using namespace mlir;
using namespace mlir::gs;

#include "gs/Dialect/GS/IR/GSEnums.cpp.inc"
#include "gs/Dialect/GS/IR/GSInterfaces.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "gs/Dialect/GS/IR/GSAttrs.cpp.inc"

//===----------------------------------------------------------------------===//
// Parsing helpers
//===----------------------------------------------------------------------===//

void GSDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "gs/Dialect/GS/IR/GSAttrs.cpp.inc"
      >();
}

FailureOr<APFloat> mlir::gs::parseF64Parameter(AsmParser &parser) {
  double value;
  if (parser.parseFloat(value))
    return failure();
  return APFloat(value);
}

std::string mlir::gs::formatF64(double value) {
  std::string text;
  for (int precision = 1; precision <= 17; ++precision) {
    text = llvm::formatv("{0}", llvm::format("%.*g", precision, value)).str();
    if (std::strtod(text.c_str(), nullptr) == value)
      break;
  }
  return text;
}

void mlir::gs::printF64Parameter(AsmPrinter &printer, const APFloat &value) {
  double x = value.convertToDouble();
  std::string text = formatF64(x);
  // MLIR float literals need a '.' before any exponent.
  if (std::isfinite(x) && text.find('.') == std::string::npos) {
    size_t exponent = text.find('e');
    text.insert(exponent == std::string::npos ? text.size() : exponent, ".0");
  }
  printer << text;
}

FailureOr<bool> mlir::gs::parseBoolParameter(AsmParser &parser) {
  if (succeeded(parser.parseOptionalKeyword("true")))
    return true;
  if (succeeded(parser.parseOptionalKeyword("false")))
    return false;
  return parser.emitError(parser.getCurrentLocation(),
                          "expected 'true' or 'false'");
}

//===----------------------------------------------------------------------===//
// Hyperparameter verification
//===----------------------------------------------------------------------===//

/// Checks `lo <= value < hi` (or `<= hi` when `closedAbove`).
static LogicalResult checkRange(function_ref<InFlightDiagnostic()> emitError,
                                StringRef what, StringRef name,
                                const APFloat &apValue, double lo, double hi,
                                bool closedAbove = false) {
  double value = apValue.convertToDouble();
  bool ok = value >= lo && (closedAbove ? value <= hi : value < hi);
  if (ok)
    return success();
  return emitError() << what << " '" << name << "' must be in ["
                     << formatF64(lo) << ", " << formatF64(hi)
                     << (closedAbove ? "]" : ")") << ", got "
                     << formatF64(value);
}

static LogicalResult
checkNonNegative(function_ref<InFlightDiagnostic()> emitError, StringRef what,
                 StringRef name, const APFloat &apValue) {
  double value = apValue.convertToDouble();
  if (value >= 0 && std::isfinite(value))
    return success();
  return emitError() << what << " '" << name
                     << "' must be finite and >= 0, got " << formatF64(value);
}

LogicalResult
StabilizerAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       APFloat gamma1, APFloat gamma2, APFloat eps, bool,
                       NonFinitePolicy) {
  const char *what = "stabilizer";
  if (failed(checkRange(emitError, what, "gamma1", gamma1, 0, 1)) ||
      failed(checkRange(emitError, what, "gamma2", gamma2, 0, 1)) ||
      failed(checkNonNegative(emitError, what, "eps", eps)))
    return failure();
  return success();
}

StabilizerAttr StabilizerAttr::getDefault(MLIRContext *context) {
  return StabilizerAttr::get(context, APFloat(0.6), APFloat(0.999),
                             APFloat(1e-12),
                             /*bias_correction=*/true, NonFinitePolicy::Skip);
}

LogicalResult SGDAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              APFloat momentum, APFloat dampening,
                              bool nesterov) {
  const char *what = "sgd";
  if (failed(checkNonNegative(emitError, what, "momentum", momentum)) ||
      failed(checkRange(emitError, what, "dampening", dampening, 0, 1,
                        /*closedAbove=*/true)))
    return failure();
  if (nesterov && (momentum.convertToDouble() <= 0 || !dampening.isZero()))
    return emitError() << "sgd 'nesterov' requires a momentum > 0 and zero "
                          "dampening";
  return success();
}

static LogicalResult verifyAdam(function_ref<InFlightDiagnostic()> emitError,
                                const char *what, const APFloat &beta1,
                                const APFloat &beta2, const APFloat &eps) {
  if (failed(checkRange(emitError, what, "beta1", beta1, 0, 1)) ||
      failed(checkRange(emitError, what, "beta2", beta2, 0, 1)) ||
      failed(checkNonNegative(emitError, what, "eps", eps)))
    return failure();
  return success();
}

LogicalResult AdamAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               APFloat beta1, APFloat beta2, APFloat eps,
                               bool) {
  return verifyAdam(emitError, "adam", beta1, beta2, eps);
}

LogicalResult AdamWAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                APFloat beta1, APFloat beta2, APFloat eps,
                                bool) {
  return verifyAdam(emitError, "adamw", beta1, beta2, eps);
}

LogicalResult LionAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               APFloat beta1, APFloat beta2) {
  if (failed(checkRange(emitError, "lion", "beta1", beta1, 0, 1)) ||
      failed(checkRange(emitError, "lion", "beta2", beta2, 0, 1)))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// Scalar helpers
//===----------------------------------------------------------------------===//

Value mlir::gs::buildFloatConstant(OpBuilder &builder, Location loc, Type type,
                                   double value) {
  auto elementType = cast<FloatType>(getElementTypeOrSelf(type));
  TypedAttr attr = builder.getFloatAttr(elementType, value);
  if (auto shaped = dyn_cast<ShapedType>(type))
    attr = SplatElementsAttr::get(shaped, attr);
  return arith::ConstantOp::create(builder, loc, type, attr);
}

Value mlir::gs::buildPowI(OpBuilder &builder, Location loc, Value baseValue,
                          Value exponent) {
  Type f64 = builder.getF64Type();
  Type i64 = builder.getI64Type();
  Value one = buildFloatConstant(builder, loc, f64, 1.0);
  Value zeroI = arith::ConstantIntOp::create(builder, loc, i64, 0);
  Value oneI = arith::ConstantIntOp::create(builder, loc, i64, 1);
  // while (e > 0) { if (e & 1) r *= b; b *= b; e >>= 1; }
  auto loop = scf::WhileOp::create(
      builder, loc, TypeRange{f64, f64, i64},
      ValueRange{one, baseValue, exponent},
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value more = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt,
                                           args[2], zeroI);
        scf::ConditionOp::create(b, l, more, args);
      },
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value bit = arith::AndIOp::create(b, l, args[2], oneI);
        Value odd =
            arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, bit, zeroI);
        Value times = arith::MulFOp::create(b, l, args[0], args[1]);
        Value result = arith::SelectOp::create(b, l, odd, times, args[0]);
        Value square = arith::MulFOp::create(b, l, args[1], args[1]);
        Value shifted = arith::ShRUIOp::create(b, l, args[2], oneI);
        scf::YieldOp::create(b, l, ValueRange{result, square, shifted});
      });
  return loop.getResult(0);
}

std::pair<Value, Value>
mlir::gs::buildF32FactorPair(OpBuilder &builder, Location loc, Value factor) {
  Type f64 = builder.getF64Type();
  auto cst = [&](double x) { return buildFloatConstant(builder, loc, f64, x); };
  Value large = arith::CmpFOp::create(builder, loc, arith::CmpFPredicate::OGT,
                                      factor, cst(0x1p64));
  Value small = arith::CmpFOp::create(builder, loc, arith::CmpFPredicate::OLT,
                                      factor, cst(0x1p-64));
  Value pre = arith::SelectOp::create(
      builder, loc, large, cst(0x1p64),
      arith::SelectOp::create(builder, loc, small, cst(0x1p-64), cst(1.0)));
  Value main = arith::DivFOp::create(builder, loc, factor, pre);
  Type f32 = builder.getF32Type();
  return {arith::TruncFOp::create(builder, loc, f32, pre),
          arith::TruncFOp::create(builder, loc, f32, main)};
}

//===----------------------------------------------------------------------===//
// StabilizerAttr: the GS scalar math (spec section 1)
//===----------------------------------------------------------------------===//

StabilizerHyperparameters
StabilizerAttr::buildHyperparameterConstants(OpBuilder &b, Location loc) const {
  Type f64 = b.getF64Type();
  return {buildFloatConstant(b, loc, f64, getGamma1().convertToDouble()),
          buildFloatConstant(b, loc, f64, getGamma2().convertToDouble()),
          buildFloatConstant(b, loc, f64, getEps().convertToDouble())};
}

StabilizerUpdate
StabilizerAttr::buildUpdate(OpBuilder &b, Location loc,
                            const StabilizerHyperparameters &hyperparameters,
                            Value norm, Value m, Value v, Value k,
                            Value skipped) const {
  Type f64 = b.getF64Type();
  auto cst = [&](double x) { return buildFloatConstant(b, loc, f64, x); };
  Value oneI = arith::ConstantIntOp::create(b, loc, b.getI64Type(), 1);
  Value gamma1 = hyperparameters.gamma1, gamma2 = hyperparameters.gamma2;
  // 1 - gamma in f64 at run time rounds as the constant folded 1.0 - gamma
  // does, so kernels with run-time and constant hyperparameters agree.
  Value oneMinusGamma1 = arith::SubFOp::create(b, loc, cst(1.0), gamma1);
  Value oneMinusGamma2 = arith::SubFOp::create(b, loc, cst(1.0), gamma2);

  // |n| < inf is false for NaN and Inf alike; n > 0 is false for NaN.
  Value absNorm = math::AbsFOp::create(b, loc, norm);
  Value finite = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT,
                                       absNorm, cst(INFINITY));
  Value positive =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, norm, cst(0.0));
  Value apply = arith::AndIOp::create(b, loc, finite, positive);

  // The applied update. Computed unconditionally (selects below discard it
  // otherwise) so the math is branch-free on every target.
  Value k1 = arith::AddIOp::create(b, loc, k, oneI);
  Value m1 = arith::AddFOp::create(
      b, loc, arith::MulFOp::create(b, loc, gamma1, m),
      arith::MulFOp::create(b, loc, oneMinusGamma1, norm));
  Value normSq = arith::MulFOp::create(b, loc, norm, norm);
  Value v1 = arith::AddFOp::create(
      b, loc, arith::MulFOp::create(b, loc, gamma2, v),
      arith::MulFOp::create(b, loc, oneMinusGamma2, normSq));
  Value mHat = m1, vHat = v1;
  if (getBiasCorrection()) {
    Value bc1 =
        arith::SubFOp::create(b, loc, cst(1.0), buildPowI(b, loc, gamma1, k1));
    Value bc2 =
        arith::SubFOp::create(b, loc, cst(1.0), buildPowI(b, loc, gamma2, k1));
    mHat = arith::DivFOp::create(b, loc, m1, bc1);
    vHat = arith::DivFOp::create(b, loc, v1, bc2);
  }
  Value denom = arith::AddFOp::create(
      b, loc, math::SqrtOp::create(b, loc, vHat), hyperparameters.eps);
  Value magnitude = arith::DivFOp::create(b, loc, mHat, denom);
  Value appliedFactor = arith::DivFOp::create(b, loc, magnitude, norm);

  // Zero and non-finite norms pass the gradient through (factor 1), except
  // that `zero` replaces a non-finite gradient by zeros and `skip` stops the
  // optimizer.
  StabilizerUpdate result;
  Value trueValue = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
  result.stepOk = trueValue;
  switch (getOnNonfinite()) {
  case NonFinitePolicy::Skip:
    result.stepOk = finite;
    break;
  case NonFinitePolicy::Zero:
    result.zeroGrad = arith::XOrIOp::create(b, loc, finite, trueValue);
    break;
  case NonFinitePolicy::Passthrough:
    break;
  }
  result.factor =
      arith::SelectOp::create(b, loc, apply, appliedFactor, cst(1.0));
  result.m = arith::SelectOp::create(b, loc, apply, m1, m);
  result.v = arith::SelectOp::create(b, loc, apply, v1, v);
  result.k = arith::SelectOp::create(b, loc, apply, k1, k);
  result.skipped = arith::SelectOp::create(
      b, loc, apply, skipped, arith::AddIOp::create(b, loc, skipped, oneI));
  return result;
}
