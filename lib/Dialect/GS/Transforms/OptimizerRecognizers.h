//===- OptimizerRecognizers.h - Optimizer updates in upstream IR -*- C++ -*-=//
//
// Structural matchers that recognize the optimizer updates graph compilers
// emit (SGD, SGD with momentum / Nesterov, Adam, AdamW, Lion), starting from
// the new parameter value a function returns and walking its use-def graph
// through the element-wise view.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_DIALECT_GS_TRANSFORMS_OPTIMIZERRECOGNIZERS_H
#define GS_LIB_DIALECT_GS_TRANSFORMS_OPTIMIZERRECOGNIZERS_H

#include "ElementwiseView.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::gs::matchers {

/// The optimizer's step count as the source IR keeps it: a scalar or 0-d
/// tensor leaf that is the count before the step (`t` in `pow(beta, t + 1)`)
/// or after it (`t` in `pow(beta, t)`).
struct StepCounter {
  Value counter;
  bool countsAfterStep = false;
};

/// One recognized update of one parameter tensor.
struct RecognizedUpdate {
  /// Optimizer attribute (implements OptimizerAttrInterface).
  Attribute optimizer;
  BlockArgument param;
  unsigned paramResult = 0;
  /// The raw gradient: a function argument or the result of an op that is
  /// not element-wise.
  Value grad;
  /// Uniform factors of a clip-by-norm applied to `grad` (empty: no clip).
  SmallVector<Value> clipFactors;
  SmallVector<BlockArgument> moments;
  SmallVector<unsigned> momentResults;
  Product lr, weightDecay;
  /// Adam's step counter, when the bias corrections are `1 - beta^t` of
  /// one; absent for the other optimizers.
  std::optional<StepCounter> step;
  /// Adam's bias corrections `1 - beta1^t`, `1 - beta2^t` as the source
  /// computes them (uniform values, see materializeSourceF64), when they
  /// are not `1 - beta^t` of a step counter the recognizer can re-derive:
  /// precomputed arguments, optax's `safe_increment` counter, ...
  SmallVector<Value, 2> biasCorrections;
};

/// For each leaf, the results (of rank > 0) that read it element-wise, in
/// order: finding the result that updates a moment looks only there instead
/// of matching every result (quadratic in the number of parameters).
struct ResultsByLeaf {
  DenseMap<Value, SmallVector<unsigned, 2>> readers;
};
ResultsByLeaf indexResults(func::FuncOp func);

/// Recognizes the update returned as result `resultIndex` of `func`. Results
/// in `claimed` belong to other updates. On failure `reason` says why.
FailureOr<RecognizedUpdate> recognizeUpdate(func::FuncOp func,
                                            const ResultsByLeaf &index,
                                            unsigned resultIndex,
                                            ArrayRef<unsigned> claimed,
                                            std::string &reason);

} // namespace mlir::gs::matchers

#endif // GS_LIB_DIALECT_GS_TRANSFORMS_OPTIMIZERRECOGNIZERS_H
