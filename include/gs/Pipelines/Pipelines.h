//===- Pipelines.h - gs lowering pipelines ----------------------*- C++ -*-===//
//
// Pipelines that take modules using gs ops to a target. Each is registered
// under its name (gs-opt --gs-to-llvm) and can be added to any pass manager
// with its build function.
//
//===----------------------------------------------------------------------===//

#ifndef GS_PIPELINES_PIPELINES_H
#define GS_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

namespace mlir {
class OpPassManager;

namespace gs {

/// Options of the CPU pipeline.
struct GSToLLVMPipelineOptions
    : public PassPipelineOptions<GSToLLVMPipelineOptions> {
  PassOptions::Option<unsigned> vectorWidth{
      *this, "vector-width",
      llvm::cl::desc("f32 lanes per vector in the element-wise update"),
      llvm::cl::init(8)};
  PassOptions::Option<bool> barePtrABI{
      *this, "bare-ptr-abi",
      llvm::cl::desc("Pass memrefs as bare pointers (static shapes only): a "
                     "plain C ABI for callers such as the Python package"),
      llvm::cl::init(false)};
};

/// Lowers gs ops on tensors to the LLVM dialect for the CPU: vectorized loops
/// on tensors, one-shot bufferization with in-place updates of the function
/// arguments (results aliasing arguments are dropped), then the conversions
/// of every remaining dialect to LLVM.
void buildGSToLLVMPipeline(OpPassManager &pm,
                           const GSToLLVMPipelineOptions &options);

/// The options of the GPU pipelines that shape the kernels and the host ABI,
/// shared by gs-to-nvvm and gs-to-gpu-emulator.
template <typename Derived>
struct GSKernelPipelineOptions : public PassPipelineOptions<Derived> {
  template <typename T> using Option = mlir::detail::PassOptions::Option<T>;
  // No effect since static groups lower through gs.multi_tensor_step,
  // whose chunk size is its own attribute; accepted so that existing
  // command lines keep working.
  Option<unsigned> chunkSize{
      *this, "chunk-size",
      llvm::cl::desc("No effect (static groups use gs.multi_tensor_step's "
                     "chunk size); kept for existing command lines"),
      llvm::cl::init(16384)};
  Option<unsigned> blockSize{*this, "block-size",
                             llvm::cl::desc("Threads per block"),
                             llvm::cl::init(256)};
  Option<unsigned> maxBlocks{
      *this, "max-blocks",
      llvm::cl::desc("Most blocks of the chunked launches"),
      llvm::cl::init(1024)};
  // No effect: the kernels take a dozen parameters whatever the group.
  Option<unsigned> kernelParamLimit{
      *this, "kernel-param-limit",
      llvm::cl::desc("No effect (the generic kernels take a dozen "
                     "parameters whatever the group); kept for existing "
                     "command lines"),
      llvm::cl::init(4096)};
  Option<bool> barePtrABI{
      *this, "bare-ptr-abi",
      llvm::cl::desc("Host functions take bare device pointers (static "
                     "shapes only) instead of memref descriptors"),
      llvm::cl::init(false)};
  Option<std::string> kernelLibrary{
      *this, "kernel-library",
      llvm::cl::desc("One gpu.module of this name holds every "
                     "gs.multi_tensor_step's kernels, named after their "
                     "functions (see convert-gs-to-gpu)"),
      llvm::cl::init("")};
};

/// Options of the NVIDIA GPU pipeline.
struct GSToNVVMPipelineOptions
    : public GSKernelPipelineOptions<GSToNVVMPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip", llvm::cl::desc("GPU architecture: sm_80, sm_90, ..."),
      llvm::cl::init("sm_80")};
  PassOptions::Option<std::string> features{
      *this, "features",
      llvm::cl::desc("PTX features such as +ptx80; empty: the oldest PTX "
                     "ISA that supports `chip`"),
      llvm::cl::init("")};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("Kernel binary format: isa (PTX, no CUDA toolkit "
                     "needed; the driver compiles it at load), bin (cubin, "
                     "needs ptxas), fatbin (needs ptxas and fatbinary)"),
      llvm::cl::init("isa")};
  PassOptions::Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit path for bin / fatbin; empty: search "
                     "PATH and CUDA_ROOT / CUDA_HOME / CUDA_PATH"),
      llvm::cl::init("")};
  PassOptions::Option<unsigned> optLevel{
      *this, "opt-level", llvm::cl::desc("LLVM optimization level of kernels"),
      llvm::cl::init(3)};
};

/// Lowers gs ops on tensors to the LLVM dialect for the host plus NVVM
/// kernels embedded as a `gpu.binary`: fused group-step kernels
/// (convert-gs-to-gpu), in-place bufferization, kernels to NVVM and PTX /
/// cubin (gpu-module-to-binary), host launches to runtime calls (gpu-to-llvm,
/// the mgpu* functions of lib/Runtime).
void buildGSToNVVMPipeline(OpPassManager &pm,
                           const GSToNVVMPipelineOptions &options);

/// Options of the GPU emulator pipeline: those of gs-to-nvvm that shape the
/// kernels.
struct GSToGPUEmulatorPipelineOptions
    : public GSKernelPipelineOptions<GSToGPUEmulatorPipelineOptions> {};

/// gs-to-nvvm up to the NVVM kernels and the LLVM host, then
/// convert-nvvm-kernels-to-emulator instead of gpu-module-to-binary: the
/// same kernel IR runs on the CPU, launched through the GPU emulator
/// (lib/Runtime/GpuEmulator.cpp), on host buffers.
void buildGSToGPUEmulatorPipeline(
    OpPassManager &pm, const GSToGPUEmulatorPipelineOptions &options);

/// Registers gs-to-nvvm and gs-to-gpu-emulator with the global pass registry.
void registerGSToNVVMPipeline();

/// Registers the gs pipelines with the global pass registry.
void registerGSPipelines();

} // namespace gs
} // namespace mlir

#endif // GS_PIPELINES_PIPELINES_H
