//===- ElementwiseMaterialize.cpp - Emit f64 values of matched formulas ---===//
//
// The recognizers match an optimizer's formula in the element-wise view
// (ElementwiseView.cpp) and then need its uniform parts (learning rate,
// betas, bias corrections, clip coefficients) as f64 scalars for the gs op
// they build. This file emits them: the source's own scalar when the graph
// computed one, else the expression rebuilt from constants and leaves.
//
//===----------------------------------------------------------------------===//

#include "ElementwiseView.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::gs::matchers;

bool mlir::gs::matchers::canMaterializeCondition(Value cond) {
  Expr e = viewExpr(cond);
  if (e.kind == ExprKind::CmpF)
    return canMaterializeF64(e.operands[0]) && canMaterializeF64(e.operands[1]);
  return e.kind == ExprKind::Leaf && isOuterScalar(e.value) &&
         getElementTypeOrSelf(e.value.getType()).isInteger(1);
}

Value mlir::gs::matchers::materializeCondition(OpBuilder &b, Location loc,
                                               Value cond) {
  if (!canMaterializeCondition(cond))
    return {};
  Expr e = viewExpr(cond);
  if (e.kind == ExprKind::CmpF)
    return arith::CmpFOp::create(b, loc, e.predicate,
                                 materializeF64(b, loc, e.operands[0]),
                                 materializeF64(b, loc, e.operands[1]));
  Value x = e.value;
  if (isa<RankedTensorType>(x.getType()))
    x = tensor::ExtractOp::create(b, loc, x, ValueRange{});
  return x;
}

/// True when an outer scalar of `type` (or a 0-d tensor of it) converts to
/// f64.
static bool convertsToF64(Type type) {
  Type element = getElementTypeOrSelf(type);
  return isa<FloatType>(element) || element.isSignlessInteger();
}

/// The outer scalar or 0-d tensor `x` as an f64 scalar.
static Value outerScalarToF64(OpBuilder &b, Location loc, Value x) {
  if (!convertsToF64(x.getType()))
    return {};
  if (isa<RankedTensorType>(x.getType()))
    x = tensor::ExtractOp::create(b, loc, x, ValueRange{});
  Type type = x.getType(), f64 = b.getF64Type();
  if (type.isF64())
    return x;
  if (isa<FloatType>(type))
    return arith::ExtFOp::create(b, loc, f64, x);
  return arith::SIToFPOp::create(b, loc, f64, x);
}

Value mlir::gs::matchers::findOuterScalar(Value value) {
  while (value && !isOuterScalar(value)) {
    if (auto arg = dyn_cast<BlockArgument>(value)) {
      auto linalgOp = dyn_cast<linalg::LinalgOp>(arg.getOwner()->getParentOp());
      if (!linalgOp || arg.getOwner() != linalgOp.getBlock() ||
          !isElementwiseLinalg(linalgOp))
        return {};
      value = linalgOp.getMatchingOpOperand(arg)->get();
      continue;
    }
    Operation *op = value.getDefiningOp();
    if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op)) {
      if (!isElementwiseLinalg(linalgOp))
        return {};
      value = linalgOp.getBlock()->getTerminator()->getOperand(
          cast<OpResult>(value).getResultNumber());
    } else if (isa<arith::ExtFOp, arith::TruncFOp>(op)) {
      value = op->getOperand(0);
    } else if (auto splat = dyn_cast<tensor::SplatOp>(op)) {
      value = splat.getInput();
    } else {
      return {};
    }
  }
  return value;
}

Value mlir::gs::matchers::materializeSourceF64(OpBuilder &b, Location loc,
                                               Value value) {
  if (Value outer = findOuterScalar(value))
    return outerScalarToF64(b, loc, outer);
  return materializeF64(b, loc, value);
}

bool mlir::gs::matchers::canMaterializeSourceF64(Value value) {
  if (Value outer = findOuterScalar(value))
    return convertsToF64(outer.getType());
  return canMaterializeF64(value);
}

Value mlir::gs::matchers::materializeF64(OpBuilder &b, Location loc,
                                         Value value) {
  Expr e = viewExpr(value);
  if (e.kind == ExprKind::Constant)
    return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(e.constant));
  if (e.kind == ExprKind::Leaf) {
    if (!isOuterScalar(e.value))
      return {};
    return outerScalarToF64(b, loc, e.value);
  }
  if (e.kind == ExprKind::Select) {
    Value cond = materializeCondition(b, loc, e.operands[0]);
    Value t = cond ? materializeF64(b, loc, e.operands[1]) : Value();
    Value f = t ? materializeF64(b, loc, e.operands[2]) : Value();
    return f ? arith::SelectOp::create(b, loc, cond, t, f) : Value();
  }
  SmallVector<Value, 2> x;
  for (Value operand : e.operands) {
    if (e.kind == ExprKind::CmpF)
      return {};
    Value m = materializeF64(b, loc, operand);
    if (!m)
      return {};
    x.push_back(m);
  }
  switch (e.kind) {
  case ExprKind::Add:
    return arith::AddFOp::create(b, loc, x[0], x[1]);
  case ExprKind::Sub:
    return arith::SubFOp::create(b, loc, x[0], x[1]);
  case ExprKind::Mul:
    return arith::MulFOp::create(b, loc, x[0], x[1]);
  case ExprKind::Div:
    return arith::DivFOp::create(b, loc, x[0], x[1]);
  case ExprKind::Neg:
    return arith::NegFOp::create(b, loc, x[0]);
  case ExprKind::Sqrt:
    return math::SqrtOp::create(b, loc, x[0]);
  case ExprKind::Max:
    return arith::MaximumFOp::create(b, loc, x[0], x[1]);
  case ExprKind::Min:
    return arith::MinimumFOp::create(b, loc, x[0], x[1]);
  case ExprKind::Pow:
    return math::PowFOp::create(b, loc, x[0], x[1]);
  case ExprKind::IntToFP:
    return x[0];
  default:
    return {};
  }
}

Value mlir::gs::matchers::materializeF64(OpBuilder &b, Location loc,
                                         const Product &product) {
  Value result;
  if (product.coeff != 1.0 || product.num.empty())
    result = arith::ConstantOp::create(
        b, loc, b.getF64FloatAttr(roundDecimal(product.coeff)));
  for (Value v : product.num) {
    Value x = materializeF64(b, loc, v);
    if (!x)
      return {};
    result = result ? arith::MulFOp::create(b, loc, result, x) : x;
  }
  for (Value v : product.den) {
    Value x = materializeF64(b, loc, v);
    if (!x)
      return {};
    result = arith::DivFOp::create(b, loc, result, x);
  }
  return result;
}

bool mlir::gs::matchers::canMaterializeF64(Value value) {
  Expr e = viewExpr(value);
  switch (e.kind) {
  case ExprKind::Constant:
    return true;
  case ExprKind::Leaf: {
    if (!isOuterScalar(e.value))
      return false;
    Type type = getElementTypeOrSelf(e.value.getType());
    return isa<FloatType>(type) || type.isSignlessInteger();
  }
  case ExprKind::Add:
  case ExprKind::Sub:
  case ExprKind::Mul:
  case ExprKind::Div:
  case ExprKind::Neg:
  case ExprKind::Sqrt:
  case ExprKind::Max:
  case ExprKind::Min:
  case ExprKind::Pow:
  case ExprKind::IntToFP:
    return llvm::all_of(e.operands,
                        [](Value v) { return canMaterializeF64(v); });
  case ExprKind::Select:
    return canMaterializeCondition(e.operands[0]) &&
           canMaterializeF64(e.operands[1]) && canMaterializeF64(e.operands[2]);
  default:
    return false;
  }
}

bool mlir::gs::matchers::canMaterializeF64(const Product &product) {
  auto ok = [](Value v) { return canMaterializeF64(v); };
  return llvm::all_of(product.num, ok) && llvm::all_of(product.den, ok);
}
