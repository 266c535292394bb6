//===- GSToNVVMPipeline.cpp - gs to NVVM kernels and a host that launches ===//
//
// Modelled on upstream's gpu-lower-to-nvvm-pipeline: a common stage, the
// gpu.module stage, then the host stage that serializes the kernels with
// gpu-module-to-binary. Two differences: bufferization and the gs kernels
// come first, and math ops in kernels become LLVM intrinsics before
// convert-gpu-to-nvvm, which would otherwise call libdevice (__nv_sqrt), so
// the PTX is complete without a CUDA toolkit. gs-to-gpu-emulator shares every
// stage but the last, where the kernels join the host for the GPU emulator.
//
//===----------------------------------------------------------------------===//

#include "InPlaceBufferization.h"
#include "ModulePipelineRegistration.h"
#include "gs/Conversion/Passes.h"
#include "gs/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/Transforms/OptimizeForNVVM.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

/// Tensors become the caller's device buffers, updated in place: a
/// gs.group_step becomes a gs.multi_tensor_step over tables of its buffers
/// (its BufferizableOpInterface). Unlike the CPU pipeline there is no
/// deallocation stage: the ownership-based one rejects GPU launches (unknown
/// side effects); convert-gs-to-gpu frees the step tables it moves to the
/// device.
static void buildBufferization(OpPassManager &pm) {
  gs::buildInPlaceBufferization(pm);
  pm.addPass(createCanonicalizerPass());
}

/// gs.multi_tensor_step becomes kernels and launches on the buffers.
template <typename Derived>
static void
buildGSKernels(OpPassManager &pm,
               const gs::GSKernelPipelineOptions<Derived> &options) {
  gs::ConvertGSToGPUOptions gpuOptions;
  gpuOptions.chunkSize = options.chunkSize;
  gpuOptions.blockSize = options.blockSize;
  gpuOptions.maxBlocks = options.maxBlocks;
  gpuOptions.kernelParamLimit = options.kernelParamLimit;
  gpuOptions.kernelLibrary = options.kernelLibrary;
  pm.addPass(gs::createConvertGSToGPU(gpuOptions));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

/// Host and kernels alike: structured control flow and memref views
/// lowered, and `target` (when the kernels are serialized) attached to every
/// gpu.module.
static void buildCommon(OpPassManager &pm,
                        const GpuNVVMAttachTargetOptions *target) {
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  if (target)
    pm.addPass(createGpuNVVMAttachTarget(*target));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

/// Kernels to NVVM, with bare pointers for their (static) buffers.
static void buildKernels(OpPassManager &pm) {
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createStripDebugInfoPass());
  kernels.addPass(gs::createConvertKernelMathToIntrinsics());
  ConvertGpuOpsToNVVMOpsOptions nvvm;
  nvvm.useBarePtrCallConv = true;
  kernels.addPass(createConvertGpuOpsToNVVMOps(nvvm));
  kernels.addPass(LLVM::createNVVMOptimizeForTargetPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
}

/// Every stage: the gs kernels, bufferization, host and kernels lowered,
/// kernels to NVVM, the host to LLVM with mgpu* runtime calls. Then
/// `finishKernels` serializes the kernels or hands them to the emulator.
template <typename Derived>
static void
buildGPUPipeline(OpPassManager &pm,
                 const gs::GSKernelPipelineOptions<Derived> &options,
                 const GpuNVVMAttachTargetOptions *target,
                 function_ref<void(OpPassManager &)> finishKernels) {
  buildBufferization(pm);
  buildGSKernels(pm, options);
  buildCommon(pm, target);
  buildKernels(pm);
  // Before the host signatures change: see gs-split-entry-blocks.
  pm.addNestedPass<func::FuncOp>(gs::createSplitEntryBlocks());
  GpuToLLVMConversionPassOptions host;
  host.hostBarePtrCallConv = options.barePtrABI;
  host.kernelBarePtrCallConv = true;
  pm.addPass(createGpuToLLVMConversionPass(host));
  finishKernels(pm);
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void gs::buildGSToNVVMPipeline(OpPassManager &pm,
                               const GSToNVVMPipelineOptions &options) {
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = options.optLevel;
  buildGPUPipeline(pm, options, &target, [&](OpPassManager &pm) {
    GpuModuleToBinaryPassOptions binary;
    binary.compilationTarget = options.format;
    binary.toolkitPath = options.toolkit;
    pm.addPass(createGpuModuleToBinaryPass(binary));
  });
}

void gs::buildGSToGPUEmulatorPipeline(
    OpPassManager &pm, const GSToGPUEmulatorPipelineOptions &options) {
  // No target: the kernels are never serialized.
  buildGPUPipeline(pm, options, /*target=*/nullptr, [](OpPassManager &pm) {
    pm.addPass(gs::createConvertNVVMKernelsToEmulator());
  });
}

void gs::registerGSToNVVMPipeline() {
  registerModulePipeline<GSToNVVMPipelineOptions>(
      "gs-to-nvvm",
      "Lower gs ops to fused NVIDIA GPU kernels (PTX or cubin embedded in the "
      "module) and host code launching them through the mgpu* runtime",
      buildGSToNVVMPipeline);
  registerModulePipeline<GSToGPUEmulatorPipelineOptions>(
      "gs-to-gpu-emulator",
      "Lower gs ops like gs-to-nvvm, but run the NVVM kernels on the CPU "
      "through the GPU emulator (libgs_gpu_emulator), to test them without "
      "a GPU",
      buildGSToGPUEmulatorPipeline);
}
