//===- RecognizerImpl.h - Shared state of the optimizer recognizers -*- C++
//-*-//
//
// Internal to MLIRGSTransforms. The optimizer recognizers (SGDRecognizer.cpp,
// AdamRecognizer.cpp, LionRecognizer.cpp, listed in Recognizers.def) are
// member functions of one Recognizer that holds the update being matched;
// the shared matchers (gradient direction, moving averages, bias
// corrections, weight decay) live in OptimizerRecognizers.cpp and clips in
// ClipMatchers.cpp. A new optimizer is a new file plus one line in
// Recognizers.def.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_DIALECT_GS_TRANSFORMS_RECOGNIZERIMPL_H
#define GS_LIB_DIALECT_GS_TRANSFORMS_RECOGNIZERIMPL_H

#include "OptimizerRecognizers.h"

namespace mlir::gs::matchers {

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

  // The matchers below are shared by the optimizer recognizers (one file
  // each); the class is internal to this library.
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

  // One recognizer per optimizer (Recognizers.def): `applies<Name>` says
  // whether the step has that optimizer's shape (the first one that applies
  // is tried), `match<Name>` recognizes it and fills `update`, or fails with
  // a reason.
#define GS_OPTIMIZER_RECOGNIZER(NAME)                                          \
  static bool applies##NAME(const Product &step, Value sign);                  \
  LogicalResult match##NAME(const Product &step, Value sign);
#include "Recognizers.def"
#undef GS_OPTIMIZER_RECOGNIZER
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

/// Helpers of the recognizers.
bool sameDirection(const Direction &a, const Direction &b);
Product scaled(Product p, double factor);
bool isKind(Value value, ExprKind kind);

} // namespace mlir::gs::matchers

#endif // GS_LIB_DIALECT_GS_TRANSFORMS_RECOGNIZERIMPL_H
