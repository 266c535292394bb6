//===- ClipMatchers.cpp - Clip-by-norm forms in upstream IR ---------------===//

#include "ClipMatchers.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::gs::matchers;

static bool isKind(Value value, ExprKind kind) {
  return viewExpr(value).kind == kind;
}

static bool normCovers(Value sum, Value grad);

Value mlir::gs::matchers::matchSumOfSquares(Value value) {
  Value leaf = getLeaf(value);
  auto op = leaf ? leaf.getDefiningOp<linalg::LinalgOp>() : nullptr;
  if (!op || op.getNumDpsInputs() != 1 || op.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() != op.getNumLoops() ||
      op.getRank(op.getDpsInitOperand(0)) != 0 ||
      !op.getMatchingIndexingMap(op.getDpsInputOperand(0)).isIdentity() ||
      evalConstant(op.getDpsInitOperand(0)->get()) != 0.0)
    return {};
  BlockArgument in = op.getMatchingBlockArgument(op.getDpsInputOperand(0));
  BlockArgument out = op.getMatchingBlockArgument(op.getDpsInitOperand(0));
  Expr sum = viewExpr(op.getBlock()->getTerminator()->getOperand(0));
  if (sum.kind != ExprKind::Add)
    return {};
  Value other;
  if (sum.operands[0] == out)
    other = sum.operands[1];
  else if (sum.operands[1] == out)
    other = sum.operands[0];
  if (!other)
    return {};
  auto isInput = [&](Value v) {
    Expr e = viewExpr(v);
    return v == in || (e.kind == ExprKind::Abs && e.operands[0] == in);
  };
  // The body squares the input, or it sums a tensor of squares.
  Product square = flattenProduct(other);
  if (square.num.size() == 2 && square.den.empty() && square.coeff == 1.0 &&
      isInput(square.num[0]) && isInput(square.num[1]))
    return op.getDpsInputOperand(0)->get();
  if (other != in)
    return {};
  Product squares = flattenProduct(op.getDpsInputOperand(0)->get());
  if (squares.num.size() == 2 && squares.den.empty() && squares.coeff == 1.0 &&
      sameAtom(squares.num[0], squares.num[1]))
    return getLeaf(squares.num[0]);
  return {};
}

void mlir::gs::matchers::collectNormInputs(Value sumOfSquares,
                                           SmallVectorImpl<Value> &inputs) {
  for (Term term : flattenSum(sumOfSquares)) {
    if (Value input = matchSumOfSquares(term.value)) {
      inputs.push_back(input);
      continue;
    }
    // The square of a per-tensor norm: torch's norm of the stacked norms.
    Product p = flattenProduct(term.value);
    if (p.num.size() == 2 && p.den.empty() && sameAtom(p.num[0], p.num[1]) &&
        isKind(p.num[0], ExprKind::Sqrt))
      collectNormInputs(viewExpr(p.num[0]).operands[0], inputs);
  }
}

/// `min(1, max_norm / (norm + eps))` where `norm` covers `grad`: torch's
/// clip_grad_norm_ and per-tensor clip-by-norm.
bool mlir::gs::matchers::isTorchClipFactor(Value factor, Value grad) {
  Expr min = viewExpr(factor);
  if (min.kind != ExprKind::Min)
    return false;
  Value ratio = min.operands[1];
  if (evalConstant(min.operands[0]) != 1.0) {
    if (evalConstant(min.operands[1]) != 1.0)
      return false;
    ratio = min.operands[0];
  }
  // `c` may be a run-time value (a uniform factor of the numerator).
  Product p = flattenProduct(ratio);
  if (!llvm::all_of(p.num, isUniform) || p.den.size() != 1 || p.coeff <= 0)
    return false;
  Value norm;
  for (Term term : flattenSum(p.den[0])) {
    if (evalConstant(term.value))
      continue;
    if (norm || term.sign < 0)
      return false;
    norm = term.value;
  }
  Expr root = norm ? viewExpr(norm) : Expr();
  bool isSqrt =
      root.kind == ExprKind::Sqrt ||
      (root.kind == ExprKind::Pow && evalConstant(root.operands[1]) == 0.5);
  if (!norm || !isSqrt)
    return false;
  return normCovers(root.operands[0], grad);
}

static thread_local NormInputsCache *activeCache = nullptr;

NormInputsCache::NormInputsCache() : outer(activeCache) { activeCache = this; }
NormInputsCache::~NormInputsCache() { activeCache = outer; }

/// Whether the sum of squares `sum` covers `grad`, through the cache when
/// one is active.
static bool normCovers(Value sum, Value grad) {
  if (!activeCache) {
    SmallVector<Value> inputs;
    collectNormInputs(sum, inputs);
    return llvm::is_contained(inputs, grad);
  }
  auto it = activeCache->inputs.find(sum);
  if (it == activeCache->inputs.end()) {
    SmallVector<Value> inputs;
    collectNormInputs(sum, inputs);
    it = activeCache->inputs
             .try_emplace(sum, DenseSet<Value>(inputs.begin(), inputs.end()))
             .first;
  }
  return it->second.contains(grad);
}

/// The operand of a square root: `sqrt(x)` or `pow(x, 0.5)`.
static Value sqrtOperand(Value value) {
  Expr root = viewExpr(value);
  if (root.kind == ExprKind::Sqrt)
    return root.operands[0];
  if (root.kind == ExprKind::Pow && evalConstant(root.operands[1]) == 0.5)
    return root.operands[0];
  return {};
}

bool mlir::gs::matchers::isNormOf(Value norm, Value grad) {
  Value sum = sqrtOperand(norm);
  if (!sum)
    return false;
  // TF guards the root of an all-zero sum: sqrt(select(s > 0, s, 1)).
  Expr guard = viewExpr(sum);
  if (guard.kind == ExprKind::Select) {
    if (evalConstant(guard.operands[2]))
      sum = guard.operands[1];
    else if (evalConstant(guard.operands[1]))
      sum = guard.operands[2];
  }
  return normCovers(sum, grad);
}

bool mlir::gs::matchers::dependsOnNormOf(Value value, Value grad) {
  if (isNormOf(value, grad))
    return true;
  Expr e = viewExpr(value);
  return llvm::any_of(e.operands,
                      [&](Value v) { return dependsOnNormOf(v, grad); });
}

static bool productDependsOnNorm(const Product &p, Value grad) {
  auto reads = [&](Value v) { return dependsOnNormOf(v, grad); };
  return llvm::any_of(p.num, reads) || llvm::any_of(p.den, reads);
}

std::optional<ClipNode> mlir::gs::matchers::matchClipNode(Value value,
                                                          Value grad) {
  Expr e = viewExpr(value);
  // optax: select(norm < c, g, g / norm * c) (either branch order).
  if (e.kind == ExprKind::Select) {
    Value cond = e.operands[0];
    if (!isUniform(cond))
      return std::nullopt;
    for (int side = 1; side <= 2; ++side) {
      Value plain = e.operands[side];
      if (getLeaf(plain) != grad)
        continue;
      Product p = flattenProduct(e.operands[3 - side]);
      Product elem = p.elementPart();
      if (elem.num.size() != 1 || !elem.den.empty() ||
          getLeaf(elem.num[0]) != grad)
        continue;
      Product ratio = p.uniformPart();
      if (!dependsOnNormOf(cond, grad) && !productDependsOnNorm(ratio, grad))
        continue;
      ClipNode node;
      node.scaled = value;
      node.gradInScope = plain;
      node.factor = ratio;
      node.selectCond = cond;
      node.selectOnTrue = side == 1;
      return node;
    }
    return std::nullopt;
  }
  if (e.kind != ExprKind::Mul && e.kind != ExprKind::Div)
    return std::nullopt;
  // The innermost product that clips: `0.1 * (g * f)` is a scaled clipped
  // gradient, not a clip by `0.1 * f`.
  if (llvm::any_of(e.operands,
                   [&](Value v) { return matchClipNode(v, grad).has_value(); }))
    return std::nullopt;
  Product p = flattenProduct(value);
  Product elem = p.elementPart();
  if (elem.num.size() != 1 || !elem.den.empty() || getLeaf(elem.num[0]) != grad)
    return std::nullopt;
  Product factor = p.uniformPart();
  if (!productDependsOnNorm(factor, grad))
    return std::nullopt;
  ClipNode node;
  node.scaled = value;
  node.gradInScope = elem.num[0];
  node.factor = factor;
  return node;
}

Value mlir::gs::matchers::materializeClipFactor(OpBuilder &b, Location loc,
                                                const ClipNode &node) {
  Value ratio = materializeF64(b, loc, node.factor);
  if (!ratio || !node.selectCond)
    return ratio;
  Value cond = materializeCondition(b, loc, node.selectCond);
  if (!cond)
    return {};
  Value one = arith::ConstantOp::create(b, loc, b.getF64FloatAttr(1.0));
  return node.selectOnTrue ? arith::SelectOp::create(b, loc, cond, one, ratio)
                           : arith::SelectOp::create(b, loc, cond, ratio, one);
}
