//===- DeallocateBuffers.cpp - Deallocation, skipped without heap buffers -===//
//
// The pass description in Passes.td says what and why.
//
//===----------------------------------------------------------------------===//

#include "gs/Conversion/GSToLLVM/GSToLLVM.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Interfaces/CallInterfaces.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::gs {
#define GEN_PASS_DEF_DEALLOCATEBUFFERS
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;

static bool isBuffer(Type type) { return isa<BaseMemRefType>(type); }

/// True when `op` could make a buffer that someone must free: it allocates
/// on the heap (stack allocations are freed with their scope), or it has
/// buffer results and effects nobody declared. An allocation under manual
/// deallocation (the heap tables of a bufferized gs.group_step) is freed by
/// whoever made it.
static bool mayAllocateOnHeap(Operation *op) {
  if (op->hasAttr(bufferization::BufferizationDialect::kManualDeallocation))
    return false;
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  if (!effects)
    return !op->hasTrait<OpTrait::HasRecursiveMemoryEffects>() &&
           llvm::any_of(op->getResultTypes(), isBuffer);
  SmallVector<MemoryEffects::EffectInstance> instances;
  effects.getEffects(instances);
  return llvm::any_of(instances, [](const MemoryEffects::EffectInstance &e) {
    return isa<MemoryEffects::Allocate>(e.getEffect()) &&
           !isa<SideEffects::AutomaticAllocationScopeResource>(e.getResource());
  });
}

/// True when ownership-based deallocation has more to do than give the
/// results of functions to their callers (see the pass description). With
/// `dynamicOwnership`, private functions that return buffers change their
/// signature under the pipeline, so they count too.
static bool needsOwnershipTracking(ModuleOp module, bool dynamicOwnership) {
  WalkResult walk = module.walk([&](Operation *op) {
    bool returnsBuffers = isa<CallOpInterface>(op) &&
                          llvm::any_of(op->getResultTypes(), isBuffer);
    if (auto function = dyn_cast<FunctionOpInterface>(op)) {
      auto func = dyn_cast<func::FuncOp>(op);
      if (!func || (dynamicOwnership && func.isPrivate()))
        returnsBuffers = llvm::any_of(function.getResultTypes(), isBuffer);
    }
    if (returnsBuffers || mayAllocateOnHeap(op))
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return walk.wasInterrupted();
}

namespace {
struct DeallocateBuffersPass
    : gs::impl::DeallocateBuffersBase<DeallocateBuffersPass> {
  using Base::Base;

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    buildPipeline().getDependentDialects(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (needsOwnershipTracking(module, privateFunctionDynamicOwnership)) {
      OpPassManager pipeline = buildPipeline();
      if (failed(runPipeline(pipeline, module)))
        signalPassFailure();
      return;
    }
    // Nothing is owned: every returned buffer becomes the caller's copy.
    module.walk([](func::ReturnOp ret) {
      OpBuilder builder(ret);
      for (OpOperand &operand : ret->getOpOperands())
        if (isBuffer(operand.get().getType()))
          operand.set(bufferization::CloneOp::create(builder, ret.getLoc(),
                                                     operand.get()));
    });
  }

  OpPassManager buildPipeline() const {
    OpPassManager pm(ModuleOp::getOperationName());
    bufferization::BufferDeallocationPipelineOptions options;
    options.privateFunctionDynamicOwnership = privateFunctionDynamicOwnership;
    bufferization::buildBufferDeallocationPipeline(pm, options);
    return pm;
  }
};
} // namespace
