//===- InitGS.h - Registration of everything gs tools need ------*- C++ -*-===//
//
// One place that says which dialects, interfaces, passes and pipelines the gs
// tools use: gs-opt, the C API and the Python package all call these, so they
// accept the same IR and the same pass pipelines.
//
//===----------------------------------------------------------------------===//

#ifndef GS_INITGS_H
#define GS_INITGS_H

namespace mlir {
class DialectRegistry;

namespace gs {
/// Registers the gs dialect, the upstream dialects its lowerings produce and
/// the external interface models (bufferization, conversion to LLVM, GPU
/// targets, LLVM IR translation) those lowerings rely on.
void registerGSDialects(DialectRegistry &registry);

/// Registers gs passes and pipelines together with the upstream passes
/// needed to replay a lowering pipeline step by step.
void registerGSPasses();
} // namespace gs
} // namespace mlir

#endif // GS_INITGS_H
