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

/// Registers the gs pipelines with the global pass registry.
void registerGSPipelines();

} // namespace gs
} // namespace mlir

#endif // GS_PIPELINES_PIPELINES_H
