//===- AdamRecognizer.cpp - Adam, AdamW, amsgrad --------------------------===//
//
// Adam(W): S = lr / bc1 * m' / (sqrt(v') / sqrt(bc2) + eps) (or the textbook
// sqrt(v' / bc2) denominator; x^0.5 for sqrt), amsgrad's maximum. The bias
// corrections bc1, bc2 are `1 - beta^t` of one step counter, which the gs
// step re-derives from it, or else any scalar values, which the gs step
// takes as they are (`bias_corrections`): precomputed arguments, torch-mlir's
// or optax's own arithmetic on a counter of any type.
//
//===----------------------------------------------------------------------===//

#include "ClipMatchers.h"
#include "RecognizerImpl.h"

#include "gs/Dialect/GS/IR/GSAttrs.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::gs;
using namespace mlir::gs::matchers;

/// `x` of `sqrt(x)` or `x^0.5` (torch-mlir's form of sqrt(1 - beta2^t)).
static Value sqrtOperand(Value value) {
  Expr e = viewExpr(value);
  if (e.kind == ExprKind::Sqrt)
    return e.operands[0];
  if (e.kind == ExprKind::Pow && evalConstant(e.operands[1]) == 0.5)
    return e.operands[0];
  return {};
}

/// A quotient of element-wise tensors: m' / denominator.
bool Recognizer::appliesAdam(const Product &step, Value) {
  return !step.elementPart().den.empty();
}

LogicalResult Recognizer::matchAdam(const Product &step, Value) {
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
  Value root = aElem.num.size() == 1 && aElem.den.empty()
                   ? sqrtOperand(aElem.num[0])
                   : Value();
  if (!root)
    return fail("the denominator is not sqrt(v_hat) + eps");
  Product y = flattenProduct(root);
  Product yElem = y.elementPart(), yUniform = y.uniformPart();
  if (yElem.num.size() != 1 || !yElem.den.empty())
    return fail("the denominator is not sqrt(v_hat) + eps");
  Value bc2;
  if (yUniform.empty() && yUniform.coeff == 1.0 && aUniform.num.empty() &&
      aUniform.den.size() == 1 && aUniform.coeff == 1.0)
    bc2 = sqrtOperand(aUniform.den[0]);
  else if (aUniform.empty() && aUniform.coeff == 1.0 && yUniform.num.empty() &&
           yUniform.den.size() == 1 && yUniform.coeff == 1.0)
    bc2 = yUniform.den[0];
  if (!bc2)
    return fail("no bias correction in the denominator (sqrt(v) / "
                "sqrt(1 - beta2^t) or sqrt(v / (1 - beta2^t)))");
  double beta2FromBc = 0;
  StepCounter counter2;
  bool bc2FromCounter =
      succeeded(matchBiasCorrection(bc2, beta2FromBc, counter2));

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
                "squared gradient with constant betas (gs optimizer "
                "attributes take compile-time constants)");
  dir2->scale *= second.inputScale;
  if (!nearlyEqual(second.decay + dir2->scale, 1.0))
    return fail("the second moment's coefficients do not sum to 1");
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

  // lr / bc1. The bias corrections are re-derived from a step counter when
  // both are `1 - beta^t` of the same one with the moments' betas; else
  // the step takes the source's values, so it computes what the source
  // does whatever they are.
  double beta1FromBc = 0;
  StepCounter counter1;
  auto *bc1 = llvm::find_if(uniform.den, [&](Value d) {
    return succeeded(matchBiasCorrection(d, beta1FromBc, counter1));
  });
  bool fromCounter = bc2FromCounter && bc1 != uniform.den.end() &&
                     nearlyEqual(beta1FromBc, first.decay) &&
                     nearlyEqual(beta2FromBc, second.decay) &&
                     counter1.counter == counter2.counter &&
                     counter1.countsAfterStep == counter2.countsAfterStep;
  if (fromCounter) {
    update.step = counter1;
  } else {
    if (bc1 == uniform.den.end()) {
      if (uniform.den.empty())
        return fail("no bias correction (1 - beta1^t) in the step size");
      if (uniform.den.size() != 1)
        return fail("the step size has " + Twine(uniform.den.size()) +
                    " run-time divisors, not one bias correction "
                    "(1 - beta1^t)");
      bc1 = uniform.den.begin();
    }
    if (!canMaterializeSourceF64(*bc1) || !canMaterializeSourceF64(bc2))
      return fail("a bias correction is neither a scalar the function "
                  "computes outside linalg bodies nor an expression of "
                  "constants and function arguments");
    update.biasCorrections = {*bc1, bc2};
  }
  uniform.den.erase(bc1);

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
  MLIRContext *ctx = func.getContext();
  APFloat b1(roundDecimal(first.decay)), b2(roundDecimal(second.decay)),
      e(roundDecimal(*eps));
  if (decay)
    update.optimizer = AdamWAttr::get(ctx, b1, b2, e, bool(maxMoment));
  else
    update.optimizer = AdamAttr::get(ctx, b1, b2, e, bool(maxMoment));
  return finishWeightDecay(dir->l2, /*allowDecoupled=*/true);
}
