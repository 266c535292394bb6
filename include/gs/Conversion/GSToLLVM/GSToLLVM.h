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
#define GEN_PASS_DECL_DEALLOCATEBUFFERS
#define GEN_PASS_DECL_LOWERMODULETOLLVM
#define GEN_PASS_DECL_SPLITENTRYBLOCKS
#include "gs/Conversion/Passes.h.inc"

/// Adds the patterns that lower the gs ops that remain after the loop and
/// kernel lowerings (`gs.view_address`) to the LLVM dialect.
void populateGSToLLVMConversionPatterns(const LLVMTypeConverter &converter,
                                        RewritePatternSet &patterns);

/// Registers the gs dialect's ConvertToLLVMPatternInterface, through which
/// `convert-to-llvm` and `convert-gpu-to-nvvm` find those patterns.
void registerConvertGSToLLVMInterface(DialectRegistry &registry);

/// Makes the printer write literal LLVM structs of 16 or more fields once,
/// as `!llvm_struct` aliases, instead of in full at every use (a function
/// returning a thousand memrefs printed its result type thousands of
/// times); the gs dialect provides the aliases.
void registerLLVMStructAliases(DialectRegistry &registry);
} // namespace gs
} // namespace mlir

#endif // GS_CONVERSION_GSTOLLVM_GSTOLLVM_H
