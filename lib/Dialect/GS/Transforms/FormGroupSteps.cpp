//===- FormGroupSteps.cpp - Raise per-tensor chains to gs.group_step ------===//

#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Rewrite/PatternApplicator.h"

namespace mlir::gs {
#define GEN_PASS_DEF_GSFORMGROUPSTEPS
#include "gs/Dialect/GS/Transforms/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;

namespace {
struct FormGroupSteps : gs::impl::GSFormGroupStepsBase<FormGroupSteps> {
  void runOnOperation() override {
    // The pattern is tried once on each optimizer step, collected first: a
    // raised chain creates nothing another chain could match, so the greedy
    // driver's fixpoint iteration (and its worklist over every op of a
    // thousand-parameter step) buys nothing, and the walk-based driver may
    // only erase the op it visits, while the pattern also erases the chain's
    // gs.stabilize and gs.grad_norm.
    SmallVector<gs::OptimizerStepOp> steps;
    getOperation()->walk(
        [&](gs::OptimizerStepOp step) { steps.push_back(step); });
    if (steps.empty())
      return;
    RewritePatternSet patterns(&getContext());
    gs::populateFormGroupStepPatterns(patterns);
    FrozenRewritePatternSet frozen(std::move(patterns));
    PatternApplicator applicator(frozen);
    applicator.applyDefaultCostModel();
    PatternRewriter rewriter(&getContext());
    for (gs::OptimizerStepOp step : steps) {
      rewriter.setInsertionPoint(step);
      (void)applicator.matchAndRewrite(step, rewriter);
    }
  }
};
} // namespace
