//===- InjectPipeline.cpp - Stabilization of compiler-built updates -------===//

#include "gs/Pipelines/InjectPipeline.h"

#include "ModulePipelineRegistration.h"

#include "gs/Dialect/GS/IR/GSDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void gs::buildGSInjectionPipeline(OpPassManager &pm,
                                  const GSInjectionPipelineOptions &options) {
  pm.addPass(createGSInjectStabilization(options.inject));
  if (options.gradientLevel) {
    const GSInjectStabilizationOptions &in = options.inject;
    GSStabilizeGradientsOptions gradients;
    gradients.gradNames = in.gradNames;
    gradients.gradAttr = in.gradAttr;
    gradients.clip = in.clip;
    gradients.gamma1 = in.gamma1;
    gradients.gamma2 = in.gamma2;
    gradients.eps = in.eps;
    gradients.biasCorrection = in.biasCorrection;
    gradients.onNonfinite = in.onNonfinite;
    gradients.explain = in.explain;
    pm.addPass(createGSStabilizeGradients(gradients));
  }
  // Raises every per-tensor chain to a gs.group_step of one tensor; then
  // merges the f64 conversions of shared lr / weight_decay values, which the
  // fusion compares by identity.
  pm.addNestedPass<func::FuncOp>(createGSFormGroupSteps());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  if (!options.fuseUpdates)
    return;
  pm.addNestedPass<func::FuncOp>(createGSFuseUpdates(options.fuse));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void gs::registerGSInjectionDialects(DialectRegistry &registry) {
  registry.insert<arith::ArithDialect, func::FuncDialect, gs::GSDialect,
                  linalg::LinalgDialect, math::MathDialect,
                  tensor::TensorDialect>();
}

namespace {
/// The textual form of GSInjectionPipelineOptions (the options a pipeline
/// string most often sets; the passes take the rest).
struct InjectPipelineCLOptions
    : public PassPipelineOptions<InjectPipelineCLOptions> {
  PassOptions::ListOption<std::string> gradNames{
      *this, "grad-names",
      llvm::cl::desc("Stabilize only gradients with these argument names")};
  PassOptions::Option<std::string> gradAttr{
      *this, "grad-attr",
      llvm::cl::desc("Stabilize only gradients whose argument carries this "
                     "attribute")};
  PassOptions::Option<std::string> clip{
      *this, "clip", llvm::cl::desc("replace or keep an existing clip"),
      llvm::cl::init("replace")};
  PassOptions::Option<bool> explain{
      *this, "explain",
      llvm::cl::desc("Remark on every update that is not rewritten"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> gradients{
      *this, "gradients",
      llvm::cl::desc("Stabilize the gradients of updates no recognizer "
                     "raised (gs-stabilize-gradients)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> fuse{*this, "fuse",
                                 llvm::cl::desc("Fuse the per-tensor steps"),
                                 llvm::cl::init(true)};
  PassOptions::Option<bool> mixedTypes{
      *this, "mixed-types",
      llvm::cl::desc("Fuse tensors of different element types"),
      llvm::cl::init(false)};
};
} // namespace

void gs::registerGSInjectionPipeline() {
  registerGSTransformsPasses();
  registerModulePipeline<InjectPipelineCLOptions>(
      "gs-inject",
      "Find optimizer updates in upstream IR, stabilize their gradients and "
      "fuse them into gs.group_steps",
      [](OpPassManager &pm, const InjectPipelineCLOptions &cl) {
        GSInjectionPipelineOptions options;
        options.inject.gradNames.assign(cl.gradNames.begin(),
                                        cl.gradNames.end());
        options.inject.gradAttr = cl.gradAttr;
        options.inject.clip = cl.clip;
        options.inject.explain = cl.explain;
        options.gradientLevel = cl.gradients;
        options.fuseUpdates = cl.fuse;
        options.fuse.mixedTypes = cl.mixedTypes;
        buildGSInjectionPipeline(pm, options);
      });
}
