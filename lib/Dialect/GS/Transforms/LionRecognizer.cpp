//===- LionRecognizer.cpp - Lion
//--------------------------------------------===//
//
// Lion: S = lr * sign(beta1*m + (1-beta1)*g), m' = beta2*m + (1-beta2)*g.
//
//===----------------------------------------------------------------------===//

#include "ClipMatchers.h"
#include "RecognizerImpl.h"

#include "gs/Dialect/GS/IR/GSAttrs.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::gs;
using namespace mlir::gs::matchers;

/// The sign of one element-wise expression.
bool Recognizer::appliesLion(const Product &step, Value sign) {
  return static_cast<bool>(sign);
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
