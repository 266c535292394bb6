//===- GSCanonicalize.cpp - GradientStabilizer canonicalizations ----------===//
//
// Folds and canonical forms: a disabled optimizer step is the identity and
// an always-enabled one drops its predicate. Raising a per-tensor chain
// grad_norm -> stabilize -> optimizer_step to one fused gs.group_step
// changes the abstraction level, so it is not a canonicalization: the
// gs-form-group-steps pass applies it (populateFormGroupStepPatterns).
//
//===----------------------------------------------------------------------===//

#include "gs/Dialect/GS/IR/GSOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::gs;

LogicalResult OptimizerStepOp::fold(FoldAdaptor adaptor,
                                    SmallVectorImpl<OpFoldResult> &results) {
  // A step that is statically disabled returns its inputs unchanged.
  auto enabled = dyn_cast_if_present<IntegerAttr>(adaptor.getEnabled());
  if (!enabled || enabled.getValue().getBoolValue())
    return failure();
  results.push_back(getParam());
  llvm::append_range(results, getMoments());
  results.push_back(getStep());
  return success();
}

namespace {
/// `enabled(true)` is the same as no predicate.
struct DropAlwaysEnabled : OpRewritePattern<OptimizerStepOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OptimizerStepOp op,
                                PatternRewriter &rewriter) const override {
    Value enabled = op.getEnabled();
    if (!enabled || !matchPattern(enabled, m_One()))
      return failure();
    rewriter.modifyOpInPlace(op, [&] { op.getEnabledMutable().clear(); });
    return success();
  }
};

/// Adds a leading unit dimension: tensor<2xf64> -> tensor<1x2xf64>.
Value expandToGroupOfOne(PatternRewriter &rewriter, Location loc, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> shape = {1};
  llvm::append_range(shape, type.getShape());
  auto expanded = RankedTensorType::get(shape, type.getElementType());
  SmallVector<ReassociationIndices> reassociation;
  if (type.getRank() > 0) {
    reassociation.push_back({0, 1});
    for (int64_t d = 1; d < type.getRank(); ++d)
      reassociation.push_back({d + 1});
  }
  return tensor::ExpandShapeOp::create(rewriter, loc, expanded, value,
                                       reassociation);
}

/// Drops the leading unit dimension added by `expandToGroupOfOne`.
Value collapseGroupOfOne(PatternRewriter &rewriter, Location loc, Value value,
                         Type originalType) {
  auto type = cast<RankedTensorType>(originalType);
  SmallVector<ReassociationIndices> reassociation;
  if (type.getRank() > 0) {
    reassociation.push_back({0, 1});
    for (int64_t d = 1; d < type.getRank(); ++d)
      reassociation.push_back({d + 1});
  }
  return tensor::CollapseShapeOp::create(rewriter, loc, type, value,
                                         reassociation);
}

/// True when every use of `value` comes after `op` in `op`'s block.
bool allUsesAfter(Value value, Operation *op) {
  return llvm::all_of(value.getUsers(), [&](Operation *user) {
    Operation *ancestor = op->getBlock()->findAncestorOpInBlock(*user);
    return ancestor && op->isBeforeInBlock(ancestor);
  });
}

/// grad_norm(g) -> stabilize(g) -> optimizer_step  ==>  group_step of one.
struct FuseStabilizeIntoGroupStep : OpRewritePattern<OptimizerStepOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OptimizerStepOp step,
                                PatternRewriter &rewriter) const override {
    auto stabilize = step.getGrad().getDefiningOp<StabilizeOp>();
    if (!stabilize)
      return rewriter.notifyMatchFailure(step, "gradient is not stabilized");
    if (!stabilize.getStabilized().hasOneUse())
      return rewriter.notifyMatchFailure(step,
                                         "stabilized gradient has other uses");
    // The fused op computes the norm of the gradient itself.
    auto norm = stabilize.getNorm().getDefiningOp<GradNormOp>();
    if (!norm || norm.getGrad() != stabilize.getGrad())
      return rewriter.notifyMatchFailure(step,
                                         "norm is not the gradient's own");
    // The step must obey step_ok exactly as the fused op does.
    Value stepOk = stabilize.getStepOk();
    StabilizerAttr config = stabilize.getStabilizer();
    bool mayDisable = config.getOnNonfinite() == NonFinitePolicy::Skip;
    if (step.getEnabled() ? step.getEnabled() != stepOk : mayDisable)
      return rewriter.notifyMatchFailure(step, "step ignores step_ok");
    if (llvm::any_of(stepOk.getUsers(),
                     [&](Operation *user) { return user != step; }))
      return rewriter.notifyMatchFailure(step, "step_ok has other uses");
    if (!allUsesAfter(stabilize.getNewStats(), step) ||
        !allUsesAfter(stabilize.getNewCounts(), step))
      return rewriter.notifyMatchFailure(
          step, "new GS state is used before the step");

    Location loc = rewriter.getFusedLoc({stabilize.getLoc(), step.getLoc()});
    rewriter.setInsertionPoint(step);
    Value stats = expandToGroupOfOne(rewriter, loc, stabilize.getStats());
    Value counts = expandToGroupOfOne(rewriter, loc, stabilize.getCounts());
    Value steps = expandToGroupOfOne(rewriter, loc, step.getStep());
    auto group = GroupStepOp::create(
        rewriter, loc, step.getOptimizer(), stabilize.getConfigAttr(),
        ValueRange{step.getParam()}, ValueRange{stabilize.getGrad()},
        step.getMoments(), stats, counts, steps, step.getLr(),
        step.getWeightDecay(), step.getBiasCorrections(),
        /*inv_scale=*/Value(), /*found_inf=*/Value());

    SmallVector<Value> stepResults = {group.getNewParams()[0]};
    llvm::append_range(stepResults, group.getNewMoments());
    stepResults.push_back(collapseGroupOfOne(rewriter, loc, group.getNewSteps(),
                                             step.getNewStep().getType()));
    Value newStats = collapseGroupOfOne(rewriter, loc, group.getNewStats(),
                                        stabilize.getNewStats().getType());
    Value newCounts = collapseGroupOfOne(rewriter, loc, group.getNewCounts(),
                                         stabilize.getNewCounts().getType());
    rewriter.replaceOp(step, stepResults);
    rewriter.replaceAllUsesWith(stabilize.getNewStats(), newStats);
    rewriter.replaceAllUsesWith(stabilize.getNewCounts(), newCounts);
    rewriter.eraseOp(stabilize);
    // The fused op computes the norm itself; gs-form-group-steps applies
    // this pattern in one walk, without dead-code elimination.
    if (norm->use_empty())
      rewriter.eraseOp(norm);
    return success();
  }
};
} // namespace

void OptimizerStepOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                  MLIRContext *context) {
  results.add<DropAlwaysEnabled>(context);
}

void mlir::gs::populateFormGroupStepPatterns(RewritePatternSet &patterns) {
  patterns.add<FuseStabilizeIntoGroupStep>(patterns.getContext());
}
