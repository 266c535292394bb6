//===- GradientGroups.h - Gradients of foreign optimizer updates -*- C++
//-*-===//
//
// Gradient-level stabilization does not need to understand an optimizer: it
// needs, for each parameter update a function returns, the gradient the
// update reads, the other results that are the parameter's optimizer state
// (with their old values, for skipped steps), and the ops whose uses of the
// gradient must see the stabilized one. This analysis finds them, once per
// function, with every element-wise walk done once per result.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_DIALECT_GS_TRANSFORMS_GRADIENTGROUPS_H
#define GS_LIB_DIALECT_GS_TRANSFORMS_GRADIENTGROUPS_H

#include "ClipMatchers.h"

#include "gs/Dialect/GS/IR/GSAttrs.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::gs::matchers {

/// A result that is state of a stabilized parameter, with its old value.
struct StateResult {
  unsigned result;
  Value old;
};

/// One parameter update whose gradient gets stabilized.
struct GradientGroup {
  unsigned paramResult = 0;
  BlockArgument param;
  Value grad;
  SmallVector<StateResult> states;
  SmallVector<ClipNode> clips;
  /// Ops of the function block the update (and its states) is computed by.
  llvm::SetVector<Operation *> slice;
  /// Outer values the clip factors are computed from; the slice stops there
  /// (the norm reads the raw gradient).
  DenseSet<Value> clipRoots;
  /// The first op (in block order) that must see the stabilized gradient.
  Operation *firstUse = nullptr;
};

/// Facts about one function's results, computed once.
class FunctionGradients {
public:
  explicit FunctionGradients(func::FuncOp func);

  /// The parameter updates that read `grad`, for a gradient named by the
  /// user; failure with `reason` when there is not exactly one.
  FailureOr<GradientGroup> groupForGradient(Value grad, std::string &reason);

  /// The parameter update of result `index` and its automatically found
  /// gradient; failure with `reason` (empty: not a parameter update).
  FailureOr<GradientGroup> groupForResult(unsigned index, std::string &reason);

  /// Results that can be parameter updates, in order.
  ArrayRef<unsigned> getParamCandidates() const { return paramCandidates; }

  /// Float tensor results of rank > 0 not produced by gs ops.
  bool isCandidateResult(unsigned index) const { return candidate[index]; }

  /// True when `grad` already feeds gs.grad_norm or gs.stabilize.
  static bool isStabilized(Value grad);

private:
  LogicalResult completeGroup(GradientGroup &group, std::string &reason);

  func::FuncOp func;
  func::ReturnOp ret;
  Block *body;
  SmallVector<bool> candidate;
  /// Function arguments of the result's type in positive terms of their own.
  SmallVector<SmallVector<BlockArgument, 2>> carriedCands;
  /// Element-wise tensor leaves (rank > 0) of each result.
  SmallVector<llvm::SetVector<Value>> leaves;
  /// Results whose element-wise root another result's walk reaches.
  SmallVector<SmallVector<unsigned>> reaches;
  SmallVector<bool> readByOther;
  /// Arguments carried by a result with a single candidate.
  DenseSet<Value> surelyCarried;
  SmallVector<unsigned> paramCandidates;
  SmallVector<bool> isParamCandidate;
  /// For scalar and 0-d results that are step counters, the argument they
  /// increment.
  SmallVector<Value> counters;
};

/// Collects the values (outer and inside linalg bodies) `roots` are computed
/// from and the ops of `block` among their definitions; values in `blocked`
/// are not entered.
void collectSlice(ArrayRef<Value> roots, Block *block, DenseSet<Value> &values,
                  llvm::SetVector<Operation *> &blockOps,
                  const DenseSet<Value> *blocked = nullptr);

/// A step counter's new value: `t + c` (c > 0 constant) or optax's
/// `select(t < max, t + 1, max)`, with `t` an argument of `body` of the
/// value's type. Returns `t`, or null.
Value matchCounterIncrement(Value value, Block *body);

/// The ancestor of `op` in `block`, or null.
Operation *ancestorIn(Operation *op, Block *block);

/// The stabilizer an injection pass's options describe: `clip` must be
/// "replace" or "keep" and `onNonfinite` a policy; errors name `pass` and
/// are emitted on `module`.
FailureOr<StabilizerAttr>
parseInjectionOptions(Operation *module, StringRef pass, StringRef clip,
                      StringRef onNonfinite, double gamma1, double gamma2,
                      double eps, bool biasCorrection);

} // namespace mlir::gs::matchers

#endif // GS_LIB_DIALECT_GS_TRANSFORMS_GRADIENTGROUPS_H
