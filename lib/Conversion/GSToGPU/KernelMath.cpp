//===- KernelMath.cpp - Math ops in GPU kernels to LLVM intrinsics --------===//

#include "gs/Conversion/GSToGPU/GSToGPU.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::gs {
#define GEN_PASS_DEF_CONVERTKERNELMATHTOINTRINSICS
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;

/// LLVM's overload suffix of `type`: f64, v4f32, ...
static FailureOr<std::string> overloadSuffix(Type type) {
  auto vector = dyn_cast<VectorType>(type);
  Type element = vector ? vector.getElementType() : type;
  if (!element.isF32() && !element.isF64())
    return failure();
  std::string suffix = element.isF32() ? "f32" : "f64";
  if (!vector)
    return suffix;
  if (vector.getRank() != 1 || vector.isScalable())
    return failure();
  return "v" + std::to_string(vector.getNumElements()) + suffix;
}

namespace {
struct ConvertKernelMathToIntrinsicsPass
    : gs::impl::ConvertKernelMathToIntrinsicsBase<
          ConvertKernelMathToIntrinsicsPass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<math::SqrtOp, math::AbsFOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      FailureOr<std::string> suffix =
          overloadSuffix(op->getResult(0).getType());
      if (failed(suffix)) {
        op->emitOpError("has no LLVM intrinsic for type ")
            << op->getResult(0).getType();
        return signalPassFailure();
      }
      StringRef base = isa<math::SqrtOp>(op) ? "llvm.sqrt." : "llvm.fabs.";
      OpBuilder builder(op);
      auto call = LLVM::CallIntrinsicOp::create(
          builder, op->getLoc(), op->getResult(0).getType(),
          builder.getStringAttr(base + *suffix), op->getOperands());
      op->replaceAllUsesWith(call);
      op->erase();
    }
  }
};
} // namespace
