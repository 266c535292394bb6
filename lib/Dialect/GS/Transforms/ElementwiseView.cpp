//===- ElementwiseView.cpp - Element-wise expression view of IR -----------===//

#include "ElementwiseView.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace mlir;
using namespace mlir::gs::matchers;

bool mlir::gs::matchers::isElementwiseLinalg(linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() || op.hasIndexSemantics() ||
      op.getNumLoops() != op.getNumParallelLoops())
    return false;
  for (OpOperand &operand : op->getOpOperands()) {
    AffineMap map = op.getMatchingIndexingMap(&operand);
    if (map.isIdentity())
      continue;
    if (op.isDpsInput(&operand) && map.getNumResults() == 0)
      continue;
    return false;
  }
  return true;
}

/// True when `value` is defined inside the body of a linalg op.
static bool isInsideLinalgBody(Value value) {
  Operation *parent = value.getParentBlock()->getParentOp();
  return parent && (isa<linalg::LinalgOp>(parent) ||
                    parent->getParentOfType<linalg::LinalgOp>());
}

bool mlir::gs::matchers::isOuterScalar(Value value) {
  if (isInsideLinalgBody(value))
    return false;
  auto shaped = dyn_cast<ShapedType>(value.getType());
  return !shaped || (shaped.hasRank() && shaped.getRank() == 0);
}

static std::optional<double> attrToDouble(Attribute attr) {
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (!dense.isSplat())
      return std::nullopt;
    attr = dense.getSplatValue<Attribute>();
  }
  if (auto f = dyn_cast<FloatAttr>(attr))
    return f.getValueAsDouble();
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return static_cast<double>(i.getValue().getSExtValue());
  return std::nullopt;
}

Expr mlir::gs::matchers::viewExpr(Value value) {
  Expr e;
  e.value = value;
  if (auto arg = dyn_cast<BlockArgument>(value)) {
    auto linalgOp = dyn_cast<linalg::LinalgOp>(arg.getOwner()->getParentOp());
    if (linalgOp && arg.getOwner() == linalgOp.getBlock() &&
        isElementwiseLinalg(linalgOp))
      return viewExpr(linalgOp.getMatchingOpOperand(arg)->get());
    return e;
  }
  Operation *op = value.getDefiningOp();
  auto binary = [&](ExprKind kind) {
    e.kind = kind;
    llvm::append_range(e.operands, op->getOperands());
    return e;
  };
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op)) {
    if (!isElementwiseLinalg(linalgOp))
      return e;
    Operation *yield = linalgOp.getBlock()->getTerminator();
    return viewExpr(yield->getOperand(cast<OpResult>(value).getResultNumber()));
  }
  if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
    if (std::optional<double> c = attrToDouble(constant.getValue())) {
      e.kind = ExprKind::Constant;
      e.constant = recoverDecimal(*c);
    }
    return e;
  }
  if (auto extract = dyn_cast<tensor::ExtractOp>(op)) {
    if (extract.getIndices().empty())
      return viewExpr(extract.getTensor());
    return e;
  }
  if (auto splat = dyn_cast<tensor::SplatOp>(op))
    return viewExpr(splat.getInput());
  if (isa<arith::ExtFOp, arith::TruncFOp>(op))
    return viewExpr(op->getOperand(0));
  if (isa<arith::AddFOp>(op)) {
    // `x + 0` is x: jax adds the reduction's init value (0) to its result
    // and to the squares it sums.
    for (int i = 0; i < 2; ++i) {
      Expr zero = viewExpr(op->getOperand(i));
      if (zero.kind == ExprKind::Constant && zero.constant == 0.0)
        return viewExpr(op->getOperand(1 - i));
    }
    return binary(ExprKind::Add);
  }
  if (isa<arith::AddIOp>(op))
    return binary(ExprKind::Add);
  if (isa<arith::SubFOp, arith::SubIOp>(op))
    return binary(ExprKind::Sub);
  if (isa<arith::MulFOp>(op))
    return binary(ExprKind::Mul);
  if (isa<arith::DivFOp>(op))
    return binary(ExprKind::Div);
  if (isa<arith::NegFOp>(op))
    return binary(ExprKind::Neg);
  if (isa<math::SqrtOp>(op))
    return binary(ExprKind::Sqrt);
  if (isa<math::AbsFOp>(op))
    return binary(ExprKind::Abs);
  if (isa<arith::MaximumFOp, arith::MaxNumFOp>(op))
    return binary(ExprKind::Max);
  if (isa<arith::MinimumFOp, arith::MinNumFOp>(op))
    return binary(ExprKind::Min);
  if (isa<math::PowFOp, math::FPowIOp>(op))
    return binary(ExprKind::Pow);
  if (auto select = dyn_cast<arith::SelectOp>(op)) {
    // A condition known at compile time picks its branch: torch-mlir
    // decomposes lerp(start, end, w) into `|w| < 0.5 ? start + w*(end-start)
    // : end - (end-start)*(1-w)` with the test of the constant `w` in a
    // generic of its own.
    if (std::optional<double> c = evalConstant(select.getCondition()))
      return viewExpr(*c != 0.0 ? select.getTrueValue()
                                : select.getFalseValue());
    return binary(ExprKind::Select);
  }
  if (isa<arith::SIToFPOp, arith::UIToFPOp>(op))
    return binary(ExprKind::IntToFP);
  if (isa<math::CopySignOp>(op))
    return binary(ExprKind::CopySign);
  if (auto cmp = dyn_cast<arith::CmpFOp>(op)) {
    e.predicate = cmp.getPredicate();
    return binary(ExprKind::CmpF);
  }
  return e;
}

bool mlir::gs::matchers::isUniform(Value value) {
  // One scalar or 0-d value outside linalg bodies is the same for every
  // element, however it is computed (a global norm is a long chain; optax's
  // bias corrections come from a 0-d generic with integer ops in its body),
  // and so is a body argument or broadcast that reads one.
  if (isOuterScalar(value) || findOuterScalar(value))
    return true;
  Expr e = viewExpr(value);
  switch (e.kind) {
  case ExprKind::Constant:
    return true;
  case ExprKind::Leaf:
    return isOuterScalar(e.value);
  default:
    return llvm::all_of(e.operands, isUniform);
  }
}

/// `pred(a, b)` of two constants as 1 or 0; a NaN makes ordered predicates
/// false and unordered ones true.
static std::optional<double> evalPredicate(arith::CmpFPredicate pred, double a,
                                           double b) {
  using P = arith::CmpFPredicate;
  if (std::isnan(a) || std::isnan(b)) {
    switch (pred) {
    case P::UEQ:
    case P::UNE:
    case P::ULT:
    case P::ULE:
    case P::UGT:
    case P::UGE:
    case P::UNO:
    case P::AlwaysTrue:
      return 1.0;
    default:
      return 0.0;
    }
  }
  switch (pred) {
  case P::OEQ:
  case P::UEQ:
    return a == b;
  case P::ONE:
  case P::UNE:
    return a != b;
  case P::OLT:
  case P::ULT:
    return a < b;
  case P::OLE:
  case P::ULE:
    return a <= b;
  case P::OGT:
  case P::UGT:
    return a > b;
  case P::OGE:
  case P::UGE:
    return a >= b;
  default:
    return std::nullopt;
  }
}

static thread_local ConstantCache *activeConstants = nullptr;

ConstantCache::ConstantCache() : outer(activeConstants) {
  activeConstants = this;
}
ConstantCache::~ConstantCache() { activeConstants = outer; }

static std::optional<double> evaluate(Value value);

std::optional<double> mlir::gs::matchers::evalConstant(Value value) {
  if (!activeConstants)
    return evaluate(value);
  auto it = activeConstants->values.find(value);
  if (it != activeConstants->values.end())
    return it->second;
  std::optional<double> result = evaluate(value);
  activeConstants->values[value] = result;
  return result;
}

static std::optional<double> evaluate(Value value) {
  Expr e = viewExpr(value);
  if (e.kind == ExprKind::Constant)
    return e.constant;
  if (e.kind == ExprKind::Leaf)
    return std::nullopt;
  SmallVector<double, 2> x;
  for (Value operand : e.operands) {
    std::optional<double> c = evalConstant(operand);
    if (!c)
      return std::nullopt;
    x.push_back(*c);
  }
  switch (e.kind) {
  case ExprKind::Add:
    return x[0] + x[1];
  case ExprKind::Sub:
    return x[0] - x[1];
  case ExprKind::Mul:
    return x[0] * x[1];
  case ExprKind::Div:
    return x[0] / x[1];
  case ExprKind::Neg:
    return -x[0];
  case ExprKind::Sqrt:
    return std::sqrt(x[0]);
  case ExprKind::Pow:
    return std::pow(x[0], x[1]);
  case ExprKind::IntToFP:
    return x[0];
  case ExprKind::Abs:
    return std::abs(x[0]);
  case ExprKind::CmpF:
    return evalPredicate(e.predicate, x[0], x[1]);
  default:
    return std::nullopt;
  }
}

Value mlir::gs::matchers::getLeaf(Value value) {
  Expr e = viewExpr(value);
  return e.kind == ExprKind::Leaf ? e.value : Value();
}

bool mlir::gs::matchers::nearlyEqual(double a, double b) {
  return std::abs(a - b) <= 1e-6 * std::max(std::abs(a), std::abs(b));
}

bool mlir::gs::matchers::sameAtom(Value a, Value b) {
  if (a == b)
    return true;
  std::optional<double> ca = evalConstant(a), cb = evalConstant(b);
  if (ca || cb)
    return ca && cb && nearlyEqual(*ca, *cb);
  Value leaf = getLeaf(a);
  return leaf && leaf == getLeaf(b);
}

static void flattenInto(Value value, Product &product, bool inverted) {
  Expr e = viewExpr(value);
  switch (e.kind) {
  case ExprKind::Constant:
    product.coeff =
        inverted ? product.coeff / e.constant : product.coeff * e.constant;
    return;
  case ExprKind::Mul:
    flattenInto(e.operands[0], product, inverted);
    flattenInto(e.operands[1], product, inverted);
    return;
  case ExprKind::Div:
    flattenInto(e.operands[0], product, inverted);
    flattenInto(e.operands[1], product, !inverted);
    return;
  case ExprKind::Neg:
    product.coeff = -product.coeff;
    flattenInto(e.operands[0], product, inverted);
    return;
  case ExprKind::Pow:
    if (evalConstant(e.operands[1]) == 2.0) {
      flattenInto(e.operands[0], product, inverted);
      flattenInto(e.operands[0], product, inverted);
      return;
    }
    break;
  default:
    break;
  }
  (inverted ? product.den : product.num).push_back(value);
}

Product mlir::gs::matchers::flattenProduct(Value value) {
  Product product;
  flattenInto(value, product, /*inverted=*/false);
  return product;
}

Product Product::uniformPart() const {
  Product p;
  p.coeff = coeff;
  llvm::copy_if(num, std::back_inserter(p.num), isUniform);
  llvm::copy_if(den, std::back_inserter(p.den), isUniform);
  return p;
}

Product Product::elementPart() const {
  Product p;
  auto notUniform = [](Value v) { return !isUniform(v); };
  llvm::copy_if(num, std::back_inserter(p.num), notUniform);
  llvm::copy_if(den, std::back_inserter(p.den), notUniform);
  return p;
}

static void flattenSumInto(Value value, double sign, SmallVector<Term> &terms) {
  Expr e = viewExpr(value);
  switch (e.kind) {
  case ExprKind::Add:
    flattenSumInto(e.operands[0], sign, terms);
    flattenSumInto(e.operands[1], sign, terms);
    return;
  case ExprKind::Sub:
    flattenSumInto(e.operands[0], sign, terms);
    flattenSumInto(e.operands[1], -sign, terms);
    return;
  case ExprKind::Neg:
    flattenSumInto(e.operands[0], -sign, terms);
    return;
  default:
    terms.push_back({sign, value});
  }
}

SmallVector<Term> mlir::gs::matchers::flattenSum(Value value) {
  SmallVector<Term> terms;
  flattenSumInto(value, 1.0, terms);
  return terms;
}

static LogicalResult removeAtoms(SmallVector<Value> &from,
                                 ArrayRef<Value> atoms) {
  for (Value atom : atoms) {
    auto *it = llvm::find_if(from, [&](Value v) { return sameAtom(v, atom); });
    if (it == from.end())
      return failure();
    from.erase(it);
  }
  return success();
}

FailureOr<Product> mlir::gs::matchers::divideProducts(const Product &a,
                                                      const Product &b) {
  Product q = a;
  q.coeff = a.coeff / b.coeff;
  if (failed(removeAtoms(q.num, b.num)) || failed(removeAtoms(q.den, b.den)))
    return failure();
  return q;
}

bool mlir::gs::matchers::equalProducts(const Product &a, const Product &b) {
  if (a.num.size() != b.num.size() || a.den.size() != b.den.size() ||
      !nearlyEqual(a.coeff, b.coeff))
    return false;
  return succeeded(divideProducts(a, b));
}

double mlir::gs::matchers::recoverDecimal(double value) {
  float narrow = static_cast<float>(value);
  if (static_cast<double>(narrow) != value)
    return value;
  // The shortest decimal that reads back as the same f32.
  char text[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(text, sizeof(text), "%.*g", digits, value);
    if (std::strtof(text, nullptr) == narrow)
      return std::strtod(text, nullptr);
  }
  return value;
}

double mlir::gs::matchers::roundDecimal(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.15g", value);
  return std::strtod(text, nullptr);
}
