//===- GSToLLVMPipeline.cpp - gs to LLVM for the CPU ----------------------===//

#include "InPlaceBufferization.h"
#include "gs/Conversion/Passes.h"
#include "gs/Pipelines/Pipelines.h"

#include "ModulePipelineRegistration.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

/// gs ops become loops on tensors, so the rest of the pipeline sees only
/// upstream dialects.
static void buildGSLoops(OpPassManager &pm,
                         const gs::GSToLLVMPipelineOptions &options) {
  gs::ConvertGSToLoopsOptions loopOptions;
  loopOptions.vectorWidth = options.vectorWidth;
  pm.addPass(gs::createConvertGSToLoops(loopOptions));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

/// Tensors become the caller's buffers, updated in place; a gs.group_step
/// becomes generic multi-tensor steps over tables of its buffers, lowered to
/// loops right away.
static void buildBufferization(OpPassManager &pm,
                               const gs::GSToLLVMPipelineOptions &options) {
  gs::buildInPlaceBufferization(pm);
  gs::ConvertGSToLoopsOptions loopOptions;
  loopOptions.vectorWidth = options.vectorWidth;
  pm.addPass(gs::createConvertGSToLoops(loopOptions));
  // Upstream's deallocation pipeline, unless nothing but the steps' own
  // tables (stack allocations, or heap ones each step frees) is allocated.
  // Either way a function
  // that returns its updated tensors hands out owned buffers, clones of
  // them; in-place entry points (bufferization.materialize_in_destination)
  // have no such copies.
  pm.addPass(gs::createDeallocateBuffers());
  pm.addPass(createConvertBufferizationToMemRefPass());
  pm.addPass(createCanonicalizerPass());
}

/// Every remaining dialect to LLVM.
static void buildLowerToLLVM(OpPassManager &pm,
                             const gs::GSToLLVMPipelineOptions &options) {
  // Modules from graph compilers keep their own linalg ops next to gs ops.
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  // bf16 has no native conversions on most CPUs: expand them to integer ops.
  arith::ArithExpandOpsPassOptions expandOptions;
  expandOptions.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expandOptions));
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertVectorToLLVMPass());
  // Before the signatures change: see gs-split-entry-blocks.
  pm.addNestedPass<func::FuncOp>(gs::createSplitEntryBlocks());
  // func, cf, memref, arith, math, index and the buffer views of run-time
  // addresses (generic multi-tensor steps) in one conversion instead of a
  // pass per dialect: see gs-lower-to-llvm.
  gs::LowerModuleToLLVMOptions lowerOptions;
  lowerOptions.useBarePtrCallConv = options.barePtrABI;
  pm.addPass(gs::createLowerModuleToLLVM(lowerOptions));
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void gs::buildGSToLLVMPipeline(OpPassManager &pm,
                               const GSToLLVMPipelineOptions &options) {
  buildGSLoops(pm, options);
  buildBufferization(pm, options);
  buildLowerToLLVM(pm, options);
}

void gs::registerGSPipelines() {
  registerModulePipeline<GSToLLVMPipelineOptions>(
      "gs-to-llvm",
      "Lower gs ops to the LLVM dialect for the CPU: vectorized two-pass "
      "loops, in-place bufferization, LLVM conversion",
      buildGSToLLVMPipeline, [](const GSToLLVMPipelineOptions &options) {
        // Wider vectors overflow vector sizes (see kMaxVectorWidth).
        if (options.vectorWidth >= 1 && options.vectorWidth <= kMaxVectorWidth)
          return std::string();
        return "vector-width must be in [1, " +
               std::to_string(kMaxVectorWidth) + "], got " +
               std::to_string(options.vectorWidth);
      });
}
