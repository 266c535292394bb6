//===- GSToLLVM.h - gs ops that lower straight to LLVM ----------*- C++ -*-===//

#ifndef GS_CONVERSION_GSTOLLVM_GSTOLLVM_H
#define GS_CONVERSION_GSTOLLVM_GSTOLLVM_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class DialectRegistry;
class LLVMTypeConverter;
class RewritePatternSet;

namespace gs {
#define GEN_PASS_DECL_CONVERTGSTOLLVM
#define GEN_PASS_DECL_SPLITENTRYBLOCKS
#include "gs/Conversion/Passes.h.inc"

/// Adds the patterns that lower the gs ops that remain after the loop and
/// kernel lowerings (`gs.view_address`) to the LLVM dialect.
void populateGSToLLVMConversionPatterns(const LLVMTypeConverter &converter,
                                        RewritePatternSet &patterns);

/// Registers the gs dialect's ConvertToLLVMPatternInterface, through which
/// `convert-to-llvm` and `convert-gpu-to-nvvm` find those patterns.
void registerConvertGSToLLVMInterface(DialectRegistry &registry);
} // namespace gs
} // namespace mlir

#endif // GS_CONVERSION_GSTOLLVM_GSTOLLVM_H
