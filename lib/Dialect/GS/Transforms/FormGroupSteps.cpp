//===- FormGroupSteps.cpp - Raise per-tensor chains to gs.group_step ------===//

#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::gs {
#define GEN_PASS_DEF_GSFORMGROUPSTEPS
#include "gs/Dialect/GS/Transforms/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;

namespace {
struct FormGroupSteps : gs::impl::GSFormGroupStepsBase<FormGroupSteps> {
  void runOnOperation() override {
    // One walk: a raised chain creates nothing another chain could match,
    // so the greedy driver's fixpoint iteration (and its worklist over every
    // op of a thousand-parameter step) buys nothing.
    RewritePatternSet patterns(&getContext());
    gs::populateFormGroupStepPatterns(patterns);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace
