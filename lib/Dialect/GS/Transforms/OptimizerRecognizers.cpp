//===- OptimizerRecognizers.cpp - Optimizer updates in upstream IR --------===//
//
// Every update is read as `p_new = p * (1 - decay) - S` (decay absent for
// coupled weight decay) and dispatched on the shape of the step `S`:
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

#include "OptimizerRecognizers.h"
#include "ClipMatchers.h"

#include "gs/Dialect/GS/IR/GSAttrs.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::gs;
using namespace mlir::gs::matchers;

namespace {
/// The gradient input of an update: `scale * (clip * grad + l2 * param)`.
struct Direction {
  Value grad;
  SmallVector<Value> clipFactors;
  double scale = 1.0;
  std::optional<Product> l2;
};

/// An exponential moving average `decay * moment + inputScale * input`.
struct Ema {
  BlockArgument moment;
  double decay = 0;
  SmallVector<Term> input;
  double inputScale = 1.0;
};

class Recognizer {
public:
  Recognizer(func::FuncOp func, const ResultsByLeaf &index,
             unsigned resultIndex, ArrayRef<unsigned> claimed,
             std::string &reason)
      : func(func),
        ret(cast<func::ReturnOp>(func.getBody().front().getTerminator())),
        index(index), resultIndex(resultIndex), claimed(claimed),
        reason(reason) {}

  FailureOr<RecognizedUpdate> run();

private:
  LogicalResult fail(const Twine &message) {
    reason = message.str();
    return failure();
  }

  BlockArgument getArg(Value value) {
    auto arg = dyn_cast_if_present<BlockArgument>(getLeaf(value));
    if (arg && arg.getOwner() == &func.getBody().front())
      return arg;
    return {};
  }
  /// A moment: a function argument of the parameter's type.
  BlockArgument getStateArg(Value value) {
    BlockArgument arg = getArg(value);
    if (!arg || arg == param || arg.getType() != param.getType())
      return {};
    return arg;
  }

  FailureOr<Value> matchGrad(Value value);
  FailureOr<Direction> matchDirection(ArrayRef<Term> terms);
  FailureOr<Direction> matchDirectionValue(Value value);
  FailureOr<Direction> matchSquareInput(ArrayRef<Term> terms);
  void extractClipFactors(Product &uniform, Direction &direction);
  SmallVector<Ema> matchEmas(Value value);
  LogicalResult matchBiasCorrection(Value value, double &beta,
                                    StepCounter &counter);
  Value matchSign(Value value);
  /// The first unclaimed result of the parameter's type that reads `moment`
  /// element-wise and satisfies `pred`.
  std::optional<unsigned> findResult(Value moment,
                                     llvm::function_ref<bool(Value)> pred);

  LogicalResult matchDecay(ArrayRef<Product> paramTerms);
  LogicalResult matchSGD(const Product &step);
  LogicalResult matchAdam(const Product &step);
  LogicalResult matchLion(const Product &step, Value sign);
  LogicalResult finishLion(const Product &step, const Ema &mix, Direction dir,
                           double beta2, unsigned result);
  LogicalResult finishWeightDecay(const std::optional<Product> &l2,
                                  bool allowDecoupled);

  func::FuncOp func;
  func::ReturnOp ret;
  const ResultsByLeaf &index;
  unsigned resultIndex;
  ArrayRef<unsigned> claimed;
  std::string &reason;

  BlockArgument param;
  /// `1 - x` factor of the parameter, as the product `x`.
  std::optional<Product> decay;
  RecognizedUpdate update;
};
} // namespace

static bool sameDirection(const Direction &a, const Direction &b) {
  if (a.grad != b.grad || !nearlyEqual(a.scale, b.scale) ||
      a.l2.has_value() != b.l2.has_value())
    return false;
  return !a.l2 || equalProducts(*a.l2, *b.l2);
}

static Product scaled(Product p, double factor) {
  p.coeff *= factor;
  return p;
}

static bool isKind(Value value, ExprKind kind) {
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

LogicalResult Recognizer::matchSGD(const Product &step) {
  MLIRContext *ctx = func.getContext();
  Product elem = step.elementPart();
  Product uniform = step.uniformPart();
  if (elem.num.size() != 1 || !elem.den.empty())
    return fail("the step is not lr times one tensor");
  Value x = elem.num[0];

  // A momentum buffer `momentum*b + (1-dampening)*d` whose new value is
  // returned too.
  auto matchBuffer = [&](Value value, Ema &ema,
                         Direction &dir) -> LogicalResult {
    for (Ema &candidate : matchEmas(value)) {
      FailureOr<Direction> d = matchDirection(candidate.input);
      if (failed(d))
        continue;
      d->scale *= candidate.inputScale;
      ema = candidate;
      dir = *d;
      return success();
    }
    return failure();
  };
  auto bufferResult = [&](const Ema &ema, const Direction &dir) {
    return findResult(ema.moment, [&](Value r) {
      Ema other;
      Direction otherDir;
      return succeeded(matchBuffer(r, other, otherDir)) &&
             other.moment == ema.moment &&
             nearlyEqual(other.decay, ema.decay) &&
             sameDirection(otherDir, dir);
    });
  };

  Ema ema;
  Direction dir;
  bool nesterov = false;
  std::optional<unsigned> result;
  if (succeeded(matchBuffer(x, ema, dir)))
    result = bufferResult(ema, dir);
  if (!result) {
    // Nesterov: d + momentum * b'.
    SmallVector<Term> terms = flattenSum(x);
    for (auto [i, term] : llvm::enumerate(terms)) {
      Product p = scaled(flattenProduct(term.value), term.sign);
      Product pElem = p.elementPart();
      if (pElem.num.size() != 1 || !pElem.den.empty() ||
          !p.uniformPart().empty() ||
          failed(matchBuffer(pElem.num[0], ema, dir)) ||
          !nearlyEqual(p.coeff, ema.decay))
        continue;
      SmallVector<Term> rest(terms);
      rest.erase(rest.begin() + i);
      FailureOr<Direction> d = matchDirection(rest);
      if (failed(d) || !sameDirection(*d, dir) || !nearlyEqual(dir.scale, 1))
        continue;
      if ((result = bufferResult(ema, dir))) {
        nesterov = true;
        break;
      }
    }
  }

  if (result) {
    if (ema.decay <= 0)
      return fail("the momentum is not positive");
    update.moments.push_back(ema.moment);
    update.momentResults.push_back(*result);
    update.optimizer =
        SGDAttr::get(ctx, APFloat(roundDecimal(ema.decay)),
                     APFloat(roundDecimal(1.0 - dir.scale)), nesterov);
    update.step = StepCounter{};
  } else {
    FailureOr<Direction> d = matchDirectionValue(x);
    if (failed(d))
      return failure();
    dir = *d;
    uniform.coeff *= dir.scale;
    update.optimizer = SGDAttr::get(ctx, APFloat(0.0), APFloat(0.0), false);
  }
  extractClipFactors(uniform, dir);
  update.grad = dir.grad;
  update.clipFactors = dir.clipFactors;
  update.lr = uniform;
  // SGD with momentum and decoupled decay is not torch's SGD.
  return finishWeightDecay(dir.l2, /*allowDecoupled=*/!result);
}

LogicalResult Recognizer::matchAdam(const Product &step) {
  Product elem = step.elementPart();
  Product uniform = step.uniformPart();
  if (elem.num.size() != 1 || elem.den.size() != 1)
    return fail("the step is not m / denominator");

  // The denominator: sqrt(v') / sqrt(1 - beta2^t) + eps.
  std::optional<double> eps;
  Value scaledRoot;
  for (Term term : flattenSum(elem.den[0])) {
    if (std::optional<double> c = evalConstant(term.value)) {
      if (eps || term.sign < 0)
        return fail("the denominator is not sqrt(v_hat) + eps");
      eps = *c;
    } else if (isUniform(term.value)) {
      return fail("Adam's eps is a run-time value; gs optimizer attributes "
                  "take compile-time constants");
    } else {
      if (scaledRoot || term.sign < 0)
        return fail("the denominator is not sqrt(v_hat) + eps");
      scaledRoot = term.value;
    }
  }
  if (!eps || !scaledRoot)
    return fail("the denominator is not sqrt(v_hat) + eps");
  Product a = flattenProduct(scaledRoot);
  Product aElem = a.elementPart(), aUniform = a.uniformPart();
  if (aElem.num.size() != 1 || !aElem.den.empty() ||
      !isKind(aElem.num[0], ExprKind::Sqrt))
    return fail("the denominator is not sqrt(v_hat) + eps");
  Product y = flattenProduct(viewExpr(aElem.num[0]).operands[0]);
  Product yElem = y.elementPart(), yUniform = y.uniformPart();
  if (yElem.num.size() != 1 || !yElem.den.empty())
    return fail("the denominator is not sqrt(v_hat) + eps");
  Value bc2;
  if (yUniform.empty() && yUniform.coeff == 1.0 && aUniform.num.empty() &&
      aUniform.den.size() == 1 && aUniform.coeff == 1.0 &&
      isKind(aUniform.den[0], ExprKind::Sqrt))
    bc2 = viewExpr(aUniform.den[0]).operands[0];
  else if (aUniform.empty() && aUniform.coeff == 1.0 && yUniform.num.empty() &&
           yUniform.den.size() == 1 && yUniform.coeff == 1.0)
    bc2 = yUniform.den[0];
  double beta2FromBc = 0;
  StepCounter counter2;
  if (!bc2 || failed(matchBiasCorrection(bc2, beta2FromBc, counter2)))
    return fail(reason.empty() ? "no bias correction (1 - beta2^t) with a "
                                 "step counter in the denominator"
                               : reason);

  // The second moment, or its running maximum (amsgrad).
  Value v = yElem.num[0];
  BlockArgument maxMoment;
  Expr max = viewExpr(v);
  if (max.kind == ExprKind::Max) {
    for (int i = 0; i < 2; ++i) {
      if (BlockArgument arg = getStateArg(max.operands[i])) {
        maxMoment = arg;
        v = max.operands[1 - i];
        break;
      }
    }
    if (!maxMoment)
      return fail("a maximum in the denominator that is not amsgrad's");
  }
  Ema second;
  FailureOr<Direction> dir2 = failure();
  for (Ema &candidate : matchEmas(v)) {
    dir2 = matchSquareInput(candidate.input);
    if (succeeded(dir2)) {
      second = candidate;
      break;
    }
  }
  if (!second.moment)
    return fail("the denominator is not the root of a moving average of the "
                "squared gradient");
  dir2->scale *= second.inputScale;
  if (!nearlyEqual(second.decay + dir2->scale, 1.0) ||
      !nearlyEqual(second.decay, beta2FromBc))
    return fail("the second moment's coefficients do not match beta2");
  // The first moment: the candidate that sees the second moment's gradient.
  Ema first;
  FailureOr<Direction> dir = failure();
  for (Ema &candidate : matchEmas(elem.num[0])) {
    dir = matchDirection(candidate.input);
    if (failed(dir) || dir->grad != dir2->grad)
      continue;
    dir->scale *= candidate.inputScale;
    first = candidate;
    break;
  }
  if (!first.moment || failed(dir))
    return fail("the numerator is not a moving average of the gradient");
  if (!nearlyEqual(first.decay + dir->scale, 1.0))
    return fail("the first moment's coefficients do not sum to 1");
  if (dir2->l2.has_value() != dir->l2.has_value() ||
      (dir->l2 && !equalProducts(*dir->l2, *dir2->l2)))
    return fail("the two moments see different gradients");
  if (first.moment == second.moment || first.moment == maxMoment ||
      second.moment == maxMoment)
    return fail("one state tensor is used as two moments");

  // lr / (1 - beta1^t).
  double beta1FromBc = 0;
  StepCounter counter1;
  auto *bc1 = llvm::find_if(uniform.den, [&](Value d) {
    return succeeded(matchBiasCorrection(d, beta1FromBc, counter1));
  });
  if (bc1 == uniform.den.end())
    return fail("no bias correction (1 - beta1^t) with a step counter in "
                "the step size");
  uniform.den.erase(bc1);
  if (!nearlyEqual(beta1FromBc, first.decay))
    return fail("the bias correction's beta1 differs from the moment's");
  if (counter1.counter != counter2.counter ||
      counter1.countsAfterStep != counter2.countsAfterStep)
    return fail("the two bias corrections use different step counts");

  // The new moments must be returned.
  auto emaResult = [&](BlockArgument moment, bool square) {
    return findResult(moment, [&](Value r) {
      for (Ema &ema : matchEmas(r)) {
        if (ema.moment != moment)
          continue;
        FailureOr<Direction> d =
            square ? matchSquareInput(ema.input) : matchDirection(ema.input);
        if (succeeded(d) && d->grad == dir->grad)
          return true;
      }
      return false;
    });
  };
  std::optional<unsigned> r1 = emaResult(first.moment, false);
  if (!r1)
    return fail("the new first moment is not returned");
  update.momentResults.push_back(*r1);
  std::optional<unsigned> r2 = emaResult(second.moment, true);
  if (!r2)
    return fail("the new second moment is not returned");
  update.momentResults.push_back(*r2);
  update.moments = {first.moment, second.moment};
  if (maxMoment) {
    std::optional<unsigned> r3 = findResult(maxMoment, [&](Value r) {
      Expr e = viewExpr(r);
      return e.kind == ExprKind::Max && (getLeaf(e.operands[0]) == maxMoment ||
                                         getLeaf(e.operands[1]) == maxMoment);
    });
    if (!r3)
      return fail("the new amsgrad maximum is not returned");
    update.momentResults.push_back(*r3);
    update.moments.push_back(maxMoment);
  }

  extractClipFactors(uniform, *dir);
  update.grad = dir->grad;
  update.clipFactors = dir->clipFactors;
  update.lr = uniform;
  update.step = counter1;
  MLIRContext *ctx = func.getContext();
  APFloat b1(roundDecimal(first.decay)), b2(roundDecimal(second.decay)),
      e(roundDecimal(*eps));
  if (decay)
    update.optimizer = AdamWAttr::get(ctx, b1, b2, e, bool(maxMoment));
  else
    update.optimizer = AdamAttr::get(ctx, b1, b2, e, bool(maxMoment));
  return finishWeightDecay(dir->l2, /*allowDecoupled=*/true);
}

LogicalResult Recognizer::matchLion(const Product &step, Value sign) {
  for (Ema &mix : matchEmas(sign)) {
    FailureOr<Direction> dir = matchDirection(mix.input);
    if (failed(dir))
      continue;
    dir->scale *= mix.inputScale;
    if (!nearlyEqual(mix.decay + dir->scale, 1.0) || dir->l2)
      continue;
    double beta2 = 0;
    std::optional<unsigned> result = findResult(mix.moment, [&](Value r) {
      for (Ema &ema : matchEmas(r)) {
        FailureOr<Direction> d = matchDirection(ema.input);
        if (ema.moment != mix.moment || failed(d) || d->grad != dir->grad ||
            d->l2 || !nearlyEqual(ema.decay + d->scale * ema.inputScale, 1.0))
          continue;
        beta2 = ema.decay;
        return true;
      }
      return false;
    });
    if (result)
      return finishLion(step, mix, *dir, beta2, *result);
  }
  return fail("the sign's argument is not beta1*m + (1-beta1)*g with the new "
              "m = beta2*m + (1-beta2)*g returned");
}

LogicalResult Recognizer::finishLion(const Product &step, const Ema &mix,
                                     Direction dir, double beta2,
                                     unsigned result) {
  Product uniform = step.uniformPart();
  extractClipFactors(uniform, dir);
  update.moments = {mix.moment};
  update.momentResults = {result};
  update.grad = dir.grad;
  update.clipFactors = dir.clipFactors;
  update.lr = uniform;
  update.optimizer =
      LionAttr::get(func.getContext(), APFloat(roundDecimal(mix.decay)),
                    APFloat(roundDecimal(beta2)));
  return finishWeightDecay(std::nullopt, /*allowDecoupled=*/true);
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
      if (!stepElem.den.empty())
        matched = matchAdam(step);
      else if (sign)
        matched = matchLion(step, sign);
      else
        matched = matchSGD(step);
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
