//===- GSToLLVM.cpp - gs ops that lower straight to LLVM ------------------===//
//
// `gs.view_address` turns a run-time address into a memref; no upstream op
// does that, so it is lowered here: `llvm.inttoptr` and a descriptor with
// offset 0, the given size and stride 1.
//
//===----------------------------------------------------------------------===//

#include "gs/Conversion/GSToLLVM/GSToLLVM.h"

#include "gs/Dialect/GS/IR/GSDialect.h"
#include "gs/Dialect/GS/IR/GSOps.h"

#include "mlir/Conversion/ConvertToLLVM/ToLLVMInterface.h"
#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/MemRefBuilder.h"
#include "mlir/Conversion/LLVMCommon/Pattern.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::gs {
#define GEN_PASS_DEF_CONVERTGSTOLLVM
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;
using namespace mlir::gs;

namespace {
struct ViewAddressLowering : ConvertOpToLLVMPattern<ViewAddressOp> {
  using ConvertOpToLLVMPattern::ConvertOpToLLVMPattern;

  LogicalResult
  matchAndRewrite(ViewAddressOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    MemRefType type = op.getView().getType();
    Type descriptorType = getTypeConverter()->convertType(type);
    FailureOr<unsigned> addressSpace =
        getTypeConverter()->getMemRefAddressSpace(type);
    if (!descriptorType || failed(addressSpace))
      return rewriter.notifyMatchFailure(op, "unsupported memref type");
    Location loc = op.getLoc();
    auto pointerType = LLVM::LLVMPointerType::get(getContext(), *addressSpace);
    Value pointer = LLVM::IntToPtrOp::create(rewriter, loc, pointerType,
                                             adaptor.getAddress());
    Value size = adaptor.getLength();
    MemRefDescriptor descriptor =
        MemRefDescriptor::poison(rewriter, loc, descriptorType);
    descriptor.setAllocatedPtr(rewriter, loc, pointer);
    descriptor.setAlignedPtr(rewriter, loc, pointer);
    descriptor.setConstantOffset(rewriter, loc, 0);
    descriptor.setSize(rewriter, loc, 0, size);
    descriptor.setConstantStride(rewriter, loc, 0, 1);
    rewriter.replaceOp(op, {descriptor});
    return success();
  }
};

struct GSToLLVMInterface : ConvertToLLVMPatternInterface {
  using ConvertToLLVMPatternInterface::ConvertToLLVMPatternInterface;
  void populateConvertToLLVMConversionPatterns(
      ConversionTarget &target, LLVMTypeConverter &converter,
      RewritePatternSet &patterns) const final {
    target.addIllegalOp<ViewAddressOp>();
    populateGSToLLVMConversionPatterns(converter, patterns);
  }
};

struct ConvertGSToLLVMPass
    : gs::impl::ConvertGSToLLVMBase<ConvertGSToLLVMPass> {
  using Base::Base;
  void runOnOperation() override {
    LLVMTypeConverter converter(&getContext());
    RewritePatternSet patterns(&getContext());
    populateGSToLLVMConversionPatterns(converter, patterns);
    // Partial: users of the views stay memref ops, bridged by unrealized
    // casts until their own conversion.
    LLVMConversionTarget target(getContext());
    target.addIllegalOp<ViewAddressOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void mlir::gs::populateGSToLLVMConversionPatterns(
    const LLVMTypeConverter &converter, RewritePatternSet &patterns) {
  patterns.add<ViewAddressLowering>(converter);
}

void mlir::gs::registerConvertGSToLLVMInterface(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *, GSDialect *dialect) {
    dialect->addInterfaces<GSToLLVMInterface>();
  });
}
