//===- LowerModuleToLLVM.cpp - The CPU pipeline's one LLVM conversion -----===//
//
// Upstream's conversion patterns for the dialects the CPU pipeline leaves,
// applied together; the pass description in Passes.td says why.
//
//===----------------------------------------------------------------------===//

#include "gs/Conversion/GSToLLVM/GSToLLVM.h"

#include "gs/Dialect/GS/IR/GSOps.h"

#include "mlir/Analysis/DataLayoutAnalysis.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/LoweringOptions.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::gs {
#define GEN_PASS_DEF_LOWERMODULETOLLVM
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;

namespace {
struct LowerModuleToLLVMPass
    : gs::impl::LowerModuleToLLVMBase<LowerModuleToLLVMPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = &getContext();
    // The type converter the upstream passes build: index width and type
    // sizes from the module's data layout.
    const auto &dataLayout = getAnalysis<DataLayoutAnalysis>();
    LowerToLLVMOptions options(context, dataLayout.getAtOrAbove(module));
    options.useBarePtrCallConv = useBarePtrCallConv;
    LLVMTypeConverter converter(context, options, &dataLayout);

    // Shared by the patterns that declare runtime functions (malloc, free,
    // abort), so each lookup does not rebuild the module's symbol table.
    SymbolTableCollection symbolTables;
    RewritePatternSet patterns(context);
    populateFinalizeMemRefToLLVMConversionPatterns(converter, patterns,
                                                   &symbolTables);
    populateMathToLLVMConversionPatterns(converter, patterns);
    arith::populateArithToLLVMConversionPatterns(converter, patterns);
    index::populateIndexToLLVMConversionPatterns(converter, patterns);
    populateFuncToLLVMConversionPatterns(converter, patterns, &symbolTables);
    cf::populateControlFlowToLLVMConversionPatterns(converter, patterns);
    cf::populateAssertToLLVMConversionPattern(
        converter, patterns, /*abortOnFailure=*/true, &symbolTables);
    ub::populateUBToLLVMConversionPatterns(converter, patterns);
    gs::populateGSToLLVMConversionPatterns(converter, patterns);

    // Partial, like each upstream pass: ops of other dialects stay, and
    // reconcile-unrealized-casts reports any that are left.
    LLVMConversionTarget target(*context);
    target.addLegalOp<ModuleOp>();
    target.addIllegalOp<gs::ViewAddressOp>();
    // Without rollback, the driver does not keep the bookkeeping to undo
    // every rewrite, about a fifth of the conversion's time. Upstream's
    // patterns for these dialects never fail after rewriting (their own
    // passes offer the same switch, `allow-pattern-rollback`), and a
    // failure fails the pass either way.
    ConversionConfig config;
    config.allowPatternRollback = false;
    if (failed(applyPartialConversion(module, target, std::move(patterns),
                                      config)))
      signalPassFailure();
  }
};
} // namespace
