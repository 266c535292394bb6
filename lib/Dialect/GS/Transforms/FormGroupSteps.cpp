//===- FormGroupSteps.cpp - Raise per-tensor chains to gs.group_step ------===//

#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::gs {
#define GEN_PASS_DEF_GSFORMGROUPSTEPS
#include "gs/Dialect/GS/Transforms/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;

namespace {
struct FormGroupSteps : gs::impl::GSFormGroupStepsBase<FormGroupSteps> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    gs::populateFormGroupStepPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
