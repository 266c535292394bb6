//===- ClipMatchers.h - Clip-by-norm forms in upstream IR -------*- C++ -*-===//
//
// The clip-by-norm forms front ends emit in front of an optimizer update:
// torch's clip_grad_norm_ (`g * min(1, c / (norm + 1e-6))`), TF's
// clip_by_norm (`g * c / max(norm, c)`) and clip_by_global_norm
// (`g * c * min(1 / norm, 1 / c)`), and optax's clip_by_global_norm
// (`select(norm < c, g, g / norm * c)`). `norm` is the L2 norm of a set of
// tensors that includes the gradient; `c` may be a run-time value. Shared by
// the optimizer recognizers and gradient-level stabilization.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_DIALECT_GS_TRANSFORMS_CLIPMATCHERS_H
#define GS_LIB_DIALECT_GS_TRANSFORMS_CLIPMATCHERS_H

#include "ElementwiseView.h"

#include "llvm/ADT/DenseSet.h"

namespace mlir::gs::matchers {

/// The input of `sum(x * x)` (a full linalg reduction into a 0-d zero), or a
/// null value.
Value matchSumOfSquares(Value value);

/// The tensors whose squares `sumOfSquares` adds up (also through the square
/// of a per-tensor norm, as torch's norm of the stacked norms).
void collectNormInputs(Value sumOfSquares, SmallVectorImpl<Value> &inputs);

/// True when `norm` is `sqrt(sum of squares)` over tensors including `grad`.
bool isNormOf(Value norm, Value grad);

/// While alive, remembers the tensors each sum of squares covers, so that a
/// global norm over N gradients is read once, not once per gradient, and
/// which values are constants (ConstantCache). The IR the remembered values
/// belong to must not change while it is alive.
class NormInputsCache {
public:
  NormInputsCache();
  ~NormInputsCache();
  NormInputsCache(const NormInputsCache &) = delete;
  NormInputsCache &operator=(const NormInputsCache &) = delete;

  DenseMap<Value, DenseSet<Value>> inputs;

private:
  NormInputsCache *outer;
  ConstantCache constants;
};

/// True when the uniform expression `value` reads a norm that covers `grad`.
bool dependsOnNormOf(Value value, Value grad);

/// `min(1, c / (norm + eps))` with `norm` covering `grad`: torch's
/// clip_grad_norm_ and per-tensor clip-by-norm.
bool isTorchClipFactor(Value factor, Value grad);

/// A clip applied to one gradient: `scaled` (a tensor value or a value inside
/// a linalg body) is `grad * factor`, where `gradInScope` stands for `grad`
/// at that place.
struct ClipNode {
  Value scaled;
  Value gradInScope;
  /// The factor as a uniform product (product forms) ...
  Product factor;
  /// ... or optax's select: `factor = cond ? 1 : ratio` (`cond` an i1).
  Value selectCond;
  bool selectOnTrue = true;
};

/// Matches `value` as `grad` times a uniform factor that depends on a norm
/// covering `grad` (any of the forms above).
std::optional<ClipNode> matchClipNode(Value value, Value grad);

/// Emits the clip factor of `node` as an f64 scalar; null when a part of it
/// cannot be emitted at the builder's insertion point.
Value materializeClipFactor(OpBuilder &b, Location loc, const ClipNode &node);

} // namespace mlir::gs::matchers

#endif // GS_LIB_DIALECT_GS_TRANSFORMS_CLIPMATCHERS_H
