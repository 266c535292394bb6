//===- OptimizerRecognizers.cpp - Optimizer updates in upstream IR --------===//
//
// The shared part of the optimizer recognizers. Every update is read as
// `p_new = p * (1 - decay) - S` (decay absent for coupled weight decay) and
// dispatched on the shape of the step `S` to the recognizers of
// Recognizers.def (one file each):
//
//   SGD       S = lr * d,                 d = g + wd*p
//   momentum  S = lr * b',                b' = momentum*b + (1-dampening)*d
//   Nesterov  S = lr * (d + momentum*b')
//   Adam(W)   S = lr / (1 - beta1^t) * m' / (sqrt(v') / sqrt(1 - beta2^t) +
//   eps) Lion      S = lr * sign(beta1*m + (1-beta1)*g)
//
// with m', v', b' exponential moving averages (`a*x + c*y` or torch's
// `x + w*(y - x)`) whose new values must be returned as well. Sums and
// products are flattened first, so operand order and association do not
// matter; coefficients are compared numerically.
//
//===----------------------------------------------------------------------===//

#include "ClipMatchers.h"
#include "RecognizerImpl.h"

#include "gs/Dialect/GS/IR/GSAttrs.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"

using namespace mlir;
using namespace mlir::gs;
using namespace mlir::gs::matchers;

bool mlir::gs::matchers::sameDirection(const Direction &a, const Direction &b) {
  if (a.grad != b.grad || !nearlyEqual(a.scale, b.scale) ||
      a.l2.has_value() != b.l2.has_value())
    return false;
  return !a.l2 || equalProducts(*a.l2, *b.l2);
}

Product mlir::gs::matchers::scaled(Product p, double factor) {
  p.coeff *= factor;
  return p;
}

bool mlir::gs::matchers::isKind(Value value, ExprKind kind) {
  return viewExpr(value).kind == kind;
}

FailureOr<Value> Recognizer::matchGrad(Value value) {
  Value leaf = getLeaf(value);
  // Outer values only: function arguments and results of ops that are not
  // element-wise, in the function's block.
  if (!leaf || leaf.getType() != param.getType() ||
      leaf.getParentBlock() != &func.getBody().front())
    return fail("the gradient is computed element-wise in the update, or "
                "inside a linalg body");
  if (leaf == param)
    return fail("the parameter is used where the gradient is expected");
  return leaf;
}

void Recognizer::extractClipFactors(Product &uniform, Direction &direction) {
  llvm::erase_if(uniform.num, [&](Value factor) {
    if (!isTorchClipFactor(factor, direction.grad))
      return false;
    direction.clipFactors.push_back(factor);
    return true;
  });
}

FailureOr<Direction> Recognizer::matchDirection(ArrayRef<Term> terms) {
  Direction d;
  for (Term term : terms) {
    Product p = scaled(flattenProduct(term.value), term.sign);
    Product elem = p.elementPart(), uniform = p.uniformPart();
    if (elem.num.size() != 1 || !elem.den.empty())
      return fail("a term of the gradient direction is not linear in one "
                  "tensor");
    Value x = elem.num[0];
    if (getLeaf(x) == param) {
      if (d.l2)
        return fail("the parameter appears twice in the gradient direction");
      d.l2 = uniform;
      continue;
    }
    if (terms.size() == 1 &&
        (isKind(x, ExprKind::Add) || isKind(x, ExprKind::Sub))) {
      if (!uniform.empty())
        return fail("the gradient direction is scaled by a run-time value");
      FailureOr<Direction> inner = matchDirection(flattenSum(x));
      if (failed(inner))
        return failure();
      inner->scale *= uniform.coeff;
      return inner;
    }
    if (d.grad)
      return fail("two gradient terms in the direction");
    FailureOr<Value> grad = matchGrad(x);
    if (failed(grad))
      return failure();
    d.grad = *grad;
    extractClipFactors(uniform, d);
    if (!uniform.empty())
      return fail("the gradient is scaled by a run-time value that is not a "
                  "clip-by-norm factor");
    d.scale = uniform.coeff;
  }
  if (!d.grad)
    return fail("no gradient in the update");
  if (d.l2)
    d.l2->coeff /= d.scale;
  return d;
}

FailureOr<Direction> Recognizer::matchDirectionValue(Value value) {
  return matchDirection(flattenSum(value));
}

/// `c * d * d` with `d` a gradient direction (Adam's second moment input).
FailureOr<Direction> Recognizer::matchSquareInput(ArrayRef<Term> terms) {
  if (terms.size() != 1)
    return fail("the second moment's input is not one product");
  Product p = scaled(flattenProduct(terms[0].value), terms[0].sign);
  Product elem = p.elementPart(), uniform = p.uniformPart();
  if (elem.num.size() != 2 || !elem.den.empty())
    return fail("the second moment's input is not a square");
  FailureOr<Direction> a = matchDirectionValue(elem.num[0]);
  if (failed(a))
    return failure();
  FailureOr<Direction> b = matchDirectionValue(elem.num[1]);
  if (failed(b) || !sameDirection(*a, *b))
    return fail("the second moment's input is not a square");
  extractClipFactors(uniform, *a);
  if (!uniform.empty())
    return fail("the second moment's coefficient is a run-time value");
  a->scale *= b->scale * uniform.coeff;
  return a;
}

SmallVector<Ema> Recognizer::matchEmas(Value value) {
  SmallVector<Term> terms = flattenSum(value);
  SmallVector<Ema> emas;
  for (auto [i, term] : llvm::enumerate(terms)) {
    Product p = scaled(flattenProduct(term.value), term.sign);
    Product elem = p.elementPart(), uniform = p.uniformPart();
    if (elem.num.size() != 1 || !elem.den.empty() || !uniform.empty())
      continue;
    BlockArgument moment = getStateArg(elem.num[0]);
    if (!moment)
      continue;
    Ema ema;
    ema.moment = moment;
    ema.decay = uniform.coeff;
    for (auto [j, other] : llvm::enumerate(terms))
      if (j != i)
        ema.input.push_back(other);
    // torch's lerp: m + w * (x - m).
    if (ema.decay == 1.0 && ema.input.size() == 1) {
      Product q = scaled(flattenProduct(ema.input[0].value), ema.input[0].sign);
      Product qElem = q.elementPart(), qUniform = q.uniformPart();
      if (qElem.num.size() == 1 && qElem.den.empty() && qUniform.empty()) {
        SmallVector<Term> inner = flattenSum(qElem.num[0]);
        auto *it = llvm::find_if(inner, [&](Term t) {
          return t.sign < 0 && getLeaf(t.value) == moment;
        });
        if (it != inner.end()) {
          inner.erase(it);
          ema.decay = 1.0 - qUniform.coeff;
          ema.inputScale = qUniform.coeff;
          ema.input = inner;
        }
      }
    }
    // A moving average keeps less than all of its state; among candidates
    // the state is the term with the larger coefficient (betas are close to
    // 1, inputs get 1 - beta), e.g. `0.9*b + g` keeps b, not g.
    if (ema.decay > 0 && ema.decay < 1)
      emas.push_back(ema);
  }
  // Larger decay first; candidates with equal decay keep their order.
  auto order = llvm::to_vector(llvm::seq<unsigned>(0, emas.size()));
  llvm::sort(order, [&](unsigned a, unsigned b) {
    return std::make_pair(-emas[a].decay, a) <
           std::make_pair(-emas[b].decay, b);
  });
  SmallVector<Ema> sorted;
  for (unsigned i : order)
    sorted.push_back(std::move(emas[i]));
  return sorted;
}

LogicalResult Recognizer::matchBiasCorrection(Value value, double &beta,
                                              StepCounter &counter) {
  Expr sub = viewExpr(value);
  if (sub.kind != ExprKind::Sub || evalConstant(sub.operands[0]) != 1.0)
    return failure();
  Expr pow = viewExpr(sub.operands[1]);
  if (pow.kind != ExprKind::Pow)
    return failure();
  std::optional<double> base = evalConstant(pow.operands[0]);
  if (!base)
    return fail("the bias correction's beta is a run-time value; gs "
                "optimizer attributes take compile-time constants");
  beta = *base;
  Value exponent = pow.operands[1];
  counter.countsAfterStep = true;
  Expr add = viewExpr(exponent);
  if (add.kind == ExprKind::Add) {
    for (int i = 0; i < 2; ++i) {
      if (evalConstant(add.operands[i]) == 1.0) {
        exponent = add.operands[1 - i];
        counter.countsAfterStep = false;
        break;
      }
    }
  }
  while (isKind(exponent, ExprKind::IntToFP))
    exponent = viewExpr(exponent).operands[0];
  Value leaf = getLeaf(exponent);
  if (!leaf || !isUniform(leaf))
    return fail("the bias correction's step is not a scalar counter");
  counter.counter = leaf;
  return success();
}

/// sign(x) written as `select(x > 0, 1, select(x < 0, -1, x or 0))`, or
/// `(x > 0) - (x < 0)` with integer-to-float casts.
Value Recognizer::matchSign(Value value) {
  auto cmpAgainstZero = [](Value v, bool greater) -> Value {
    Expr cmp = viewExpr(v);
    if (cmp.kind != ExprKind::CmpF || evalConstant(cmp.operands[1]) != 0.0)
      return {};
    using P = arith::CmpFPredicate;
    bool gt = cmp.predicate == P::OGT || cmp.predicate == P::UGT;
    bool lt = cmp.predicate == P::OLT || cmp.predicate == P::ULT;
    return (greater ? gt : lt) ? cmp.operands[0] : Value();
  };
  Expr e = viewExpr(value);
  if (e.kind == ExprKind::Select) {
    Value x = cmpAgainstZero(e.operands[0], /*greater=*/true);
    Expr inner = viewExpr(e.operands[2]);
    if (!x || evalConstant(e.operands[1]) != 1.0 ||
        inner.kind != ExprKind::Select ||
        cmpAgainstZero(inner.operands[0], /*greater=*/false) != x ||
        evalConstant(inner.operands[1]) != -1.0)
      return {};
    if (inner.operands[2] == x || evalConstant(inner.operands[2]) == 0.0)
      return x;
    return {};
  }
  if (e.kind == ExprKind::Sub) {
    Expr pos = viewExpr(e.operands[0]), neg = viewExpr(e.operands[1]);
    if (pos.kind != ExprKind::IntToFP || neg.kind != ExprKind::IntToFP)
      return {};
    Value x = cmpAgainstZero(pos.operands[0], /*greater=*/true);
    if (x && cmpAgainstZero(neg.operands[0], /*greater=*/false) == x)
      return x;
  }
  return {};
}

std::optional<unsigned>
Recognizer::findResult(Value moment, llvm::function_ref<bool(Value)> pred) {
  // Only the results that read the moment, from the per-function index.
  auto it = index.readers.find(moment);
  if (it == index.readers.end())
    return std::nullopt;
  for (unsigned i : it->second) {
    Value value = ret.getOperand(i);
    if (i == resultIndex || value.getType() != param.getType() ||
        llvm::is_contained(claimed, i) ||
        llvm::is_contained(update.momentResults, i))
      continue;
    if (pred(value))
      return i;
  }
  return std::nullopt;
}

/// The parameter's own terms: `p`, `p * (1 - x)`, `p - x*p` or `p * c`.
LogicalResult Recognizer::matchDecay(ArrayRef<Product> paramTerms) {
  auto isOne = [](const Product &p) { return p.empty() && p.coeff == 1.0; };
  if (paramTerms.size() == 1 && isOne(paramTerms[0]))
    return success();
  if (paramTerms.size() == 2) {
    for (int i = 0; i < 2; ++i) {
      if (isOne(paramTerms[i]) && paramTerms[1 - i].coeff < 0) {
        decay = scaled(paramTerms[1 - i], -1.0);
        return success();
      }
    }
  }
  if (paramTerms.size() == 1) {
    const Product &p = paramTerms[0];
    if (p.empty()) {
      decay = Product{1.0 - p.coeff, {}, {}};
      return success();
    }
    if (p.num.size() == 1 && p.den.empty() && p.coeff == 1.0) {
      Expr sub = viewExpr(p.num[0]);
      if (sub.kind == ExprKind::Sub && evalConstant(sub.operands[0]) == 1.0) {
        decay = flattenProduct(sub.operands[1]);
        return success();
      }
    }
  }
  return fail("the parameter's coefficient is not 1 or a weight decay "
              "factor (1 - lr*wd)");
}

LogicalResult Recognizer::finishWeightDecay(const std::optional<Product> &l2,
                                            bool allowDecoupled) {
  if (update.lr.coeff <= 0)
    return fail("the update ascends the gradient (negative learning rate)");
  if (l2 && decay)
    return fail("both coupled and decoupled weight decay");
  if (decay && !allowDecoupled)
    return fail("decoupled weight decay with this optimizer");
  if (l2) {
    update.weightDecay = *l2;
  } else if (decay) {
    FailureOr<Product> wd = divideProducts(*decay, update.lr);
    if (failed(wd))
      return fail("the weight decay factor is not 1 - lr * wd with the "
                  "update's lr");
    update.weightDecay = *wd;
  } else {
    update.weightDecay = Product{0.0, {}, {}};
  }
  return success();
}

FailureOr<RecognizedUpdate> Recognizer::run() {
  Value root = ret.getOperand(resultIndex);
  auto type = dyn_cast<RankedTensorType>(root.getType());
  if (!type || !type.hasStaticShape() || type.getRank() == 0 ||
      !isa<Float32Type, Float16Type, BFloat16Type>(type.getElementType()))
    return fail("not a statically shaped f32 / f16 / bf16 tensor");
  SmallVector<Term> terms = flattenSum(root);

  // The parameter: a function argument of the result's type in a term of
  // its own; try each candidate.
  std::string firstReason;
  for (Term candidate : terms) {
    Product p = scaled(flattenProduct(candidate.value), candidate.sign);
    Product elem = p.elementPart();
    BlockArgument arg = elem.num.size() == 1 && elem.den.empty()
                            ? getArg(elem.num[0])
                            : BlockArgument();
    if (!arg || arg.getType() != type || candidate.sign < 0)
      continue;
    param = arg;
    decay.reset();
    update = RecognizedUpdate();
    reason.clear();
    SmallVector<Product> paramTerms;
    SmallVector<Product> steps;
    for (Term term : terms) {
      Product q = scaled(flattenProduct(term.value), term.sign);
      Product qElem = q.elementPart();
      if (qElem.num.size() == 1 && qElem.den.empty() &&
          getLeaf(qElem.num[0]) == param)
        paramTerms.push_back(q.uniformPart());
      else
        steps.push_back(scaled(q, -1.0));
    }
    LogicalResult matched = failure();
    if (steps.size() != 1) {
      matched = fail("the update is not p - step with one step term");
    } else if (succeeded(matchDecay(paramTerms))) {
      Product step = steps[0];
      Product stepElem = step.elementPart();
      Value sign = stepElem.num.size() == 1 && stepElem.den.empty()
                       ? matchSign(stepElem.num[0])
                       : Value();
      // The first recognizer whose shape the step has.
      matched = fail("no optimizer recognizer applies");
#define GS_OPTIMIZER_RECOGNIZER(NAME)                                          \
  if (applies##NAME(step, sign))                                               \
    matched = match##NAME(step, sign);                                         \
  else
#include "Recognizers.def"
#undef GS_OPTIMIZER_RECOGNIZER
      {}
    }
    if (succeeded(matched)) {
      update.param = param;
      update.paramResult = resultIndex;
      return update;
    }
    if (firstReason.empty())
      firstReason = reason;
  }
  reason = firstReason.empty()
               ? "no function argument of the result's type is updated"
               : firstReason;
  return failure();
}

ResultsByLeaf mlir::gs::matchers::indexResults(func::FuncOp func) {
  ResultsByLeaf index;
  Block *body = &func.getBody().front();
  auto ret = cast<func::ReturnOp>(body->getTerminator());
  for (auto [i, result] : llvm::enumerate(ret.getOperands())) {
    auto type = dyn_cast<RankedTensorType>(result.getType());
    if (!type || type.getRank() == 0)
      continue;
    DenseSet<Value> visited;
    SmallVector<Value> work{result};
    while (!work.empty()) {
      Expr e = viewExpr(work.pop_back_val());
      if (!visited.insert(e.value).second)
        continue;
      if (e.kind == ExprKind::Leaf) {
        index.readers[e.value].push_back(i);
        continue;
      }
      // Scalars and 0-d values outside bodies read no tensor element-wise.
      auto valueType = dyn_cast<RankedTensorType>(e.value.getType());
      if (e.value.getParentBlock() == body &&
          (!valueType || valueType.getRank() == 0))
        continue;
      llvm::append_range(work, e.operands);
    }
  }
  return index;
}

FailureOr<RecognizedUpdate> mlir::gs::matchers::recognizeUpdate(
    func::FuncOp func, const ResultsByLeaf &index, unsigned resultIndex,
    ArrayRef<unsigned> claimed, std::string &reason) {
  return Recognizer(func, index, resultIndex, claimed, reason).run();
}
