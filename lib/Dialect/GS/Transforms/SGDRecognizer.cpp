//===- SGDRecognizer.cpp - SGD, momentum, Nesterov
//--------------------------===//
//
// SGD: S = lr * d with d = g + wd*p; with momentum S = lr * b',
// b' = momentum*b + (1-dampening)*d; Nesterov S = lr * (d + momentum*b').
//
//===----------------------------------------------------------------------===//

#include "ClipMatchers.h"
#include "RecognizerImpl.h"

#include "gs/Dialect/GS/IR/GSAttrs.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::gs;
using namespace mlir::gs::matchers;

/// Any step that is neither Adam's quotient nor Lion's sign.
bool Recognizer::appliesSGD(const Product &step, Value sign) {
  return !sign && step.elementPart().den.empty();
}

LogicalResult Recognizer::matchSGD(const Product &step, Value) {
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
