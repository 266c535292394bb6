//===- StepUtils.cpp - Building blocks shared by the gs lowerings ---------===//

#include "gs/Dialect/GS/Utils/StepUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace mlir::gs;

Value mlir::gs::buildFloatCast(OpBuilder &b, Location loc, Value value,
                               Type elementType) {
  Type type = value.getType();
  Type from = getElementTypeOrSelf(type);
  if (from == elementType)
    return value;
  Type target = elementType;
  if (auto vectorType = dyn_cast<VectorType>(type))
    target = vectorType.clone(elementType);
  if (from.getIntOrFloatBitWidth() < elementType.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, loc, target, value);
  return arith::TruncFOp::create(b, loc, target, value);
}

Value mlir::gs::buildIsNonFinite(OpBuilder &b, Location loc, Value norm) {
  Value inf = buildFloatConstant(b, loc, norm.getType(), INFINITY);
  Value absNorm = math::AbsFOp::create(b, loc, norm);
  // Unordered or equal: NaN or Inf.
  return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UGE, absNorm, inf);
}

GroupTensorUpdate mlir::gs::buildGroupTensorUpdate(
    OpBuilder &b, Location loc, StabilizerAttr config,
    const StabilizerHyperparameters &hyperparameters, Value norm,
    Value invScale, Value runStep, Value m, Value v, Value k, Value skipped,
    Value step) {
  StabilizerUpdate update =
      config.buildUpdate(b, loc, hyperparameters, norm, m, v, k, skipped);
  auto keepIfSkipped = [&](Value updated, Value old) -> Value {
    return arith::SelectOp::create(b, loc, runStep, updated, old);
  };
  GroupTensorUpdate result;
  result.factor = update.factor;
  if (invScale)
    result.factor = arith::MulFOp::create(b, loc, result.factor, invScale);
  result.zeroGrad = update.zeroGrad;
  result.enabled = arith::AndIOp::create(b, loc, update.stepOk, runStep);
  result.m = keepIfSkipped(update.m, m);
  result.v = keepIfSkipped(update.v, v);
  result.k = keepIfSkipped(update.k, k);
  result.skipped = keepIfSkipped(update.skipped, skipped);
  Value one = arith::ConstantIntOp::create(b, loc, step.getType(), 1);
  Value next = arith::AddIOp::create(b, loc, step, one);
  result.step = arith::SelectOp::create(b, loc, result.enabled, next, step);
  return result;
}

Value mlir::gs::buildStabilizedGradient(OpBuilder &b, Location loc,
                                        Value prefactor, Value factor,
                                        Value zeroGrad, Value grad) {
  Value g = arith::MulFOp::create(
      b, loc, arith::MulFOp::create(b, loc, grad, prefactor), factor);
  // Selected, not multiplied by zero, so NaN elements do not survive.
  if (zeroGrad)
    g = arith::SelectOp::create(
        b, loc, zeroGrad, buildFloatConstant(b, loc, g.getType(), 0.0), g);
  return g;
}

SmallVector<Value> mlir::gs::buildStabilizedElementUpdate(
    OpBuilder &b, Location loc, OptimizerAttrInterface optimizer,
    ValueRange scalars, Value prefactor, Value factor, Value zeroGrad,
    Value param, Value grad, ValueRange moments) {
  Value g = buildStabilizedGradient(b, loc, prefactor, factor, zeroGrad, grad);
  return optimizer.buildElementUpdate(b, loc, scalars, param, g, moments);
}
