//===- GSToLinalg.cpp - gs.grad_norm / gs.stabilize to linalg -------------===//
//
// Gradient-level injection leaves the foreign update in linalg; lowering the
// two inserted ops to linalg as well lets the host's element-wise fusion put
// the stabilizer's scale into that update, so the step reads the gradient
// twice (norm, update) and nothing else extra.
//
//===----------------------------------------------------------------------===//

#include "gs/Conversion/GSToLinalg/GSToLinalg.h"

#include "gs/Dialect/GS/IR/GSDialect.h"
#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Utils/StepUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::gs {
#define GEN_PASS_DEF_GSTOLINALG
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;
using namespace mlir::gs;

namespace {
/// One element of a small state tensor.
Value extractAt(OpBuilder &b, Location loc, Value tensor, int64_t i) {
  Value index = arith::ConstantIndexOp::create(b, loc, i);
  return tensor::ExtractOp::create(b, loc, tensor, ValueRange{index});
}
Value insertAt(OpBuilder &b, Location loc, Value tensor, int64_t i,
               Value value) {
  Value index = arith::ConstantIndexOp::create(b, loc, i);
  return tensor::InsertOp::create(b, loc, value, tensor, ValueRange{index});
}

struct GradNormToLinalg : OpConversionPattern<GradNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(GradNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value grad = adaptor.getGrad();
    auto type = cast<RankedTensorType>(grad.getType());
    Type f64 = rewriter.getF64Type();
    auto sumType = RankedTensorType::get({}, f64);
    Value zero =
        arith::ConstantOp::create(rewriter, loc, rewriter.getF64FloatAttr(0.0));
    Value init =
        linalg::FillOp::create(
            rewriter, loc, zero,
            tensor::EmptyOp::create(rewriter, loc, sumType.getShape(), f64)
                .getResult())
            .getResult(0);
    MLIRContext *ctx = rewriter.getContext();
    int64_t rank = type.getRank();
    SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                   AffineMap::get(rank, 0, ctx)};
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::reduction);
    // Squares of f32 / f16 / bf16 values summed in f64 neither overflow nor
    // underflow (spec: gs.grad_norm).
    Value sum =
        linalg::GenericOp::create(
            rewriter, loc, sumType, ValueRange{grad}, ValueRange{init}, maps,
            iterators,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value x = buildFloatCast(b, l, args[0], b.getF64Type());
              Value sq = arith::MulFOp::create(b, l, x, x);
              linalg::YieldOp::create(
                  b, l, ValueRange{arith::AddFOp::create(b, l, args[1], sq)});
            })
            .getResult(0);
    Value total = tensor::ExtractOp::create(rewriter, loc, sum, ValueRange{});
    rewriter.replaceOp(op, math::SqrtOp::create(rewriter, loc, total));
    return success();
  }
};

struct StabilizeToLinalg : OpConversionPattern<StabilizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(StabilizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value stats = adaptor.getStats(), counts = adaptor.getCounts();
    StabilizerUpdate update = op.getStabilizer().buildUpdate(
        rewriter, loc, adaptor.getNorm(), extractAt(rewriter, loc, stats, 0),
        extractAt(rewriter, loc, stats, 1), extractAt(rewriter, loc, counts, 0),
        extractAt(rewriter, loc, counts, 1));
    std::pair<Value, Value> pair =
        buildF32FactorPair(rewriter, loc, update.factor);
    Value pre = pair.first, main = pair.second;

    Value grad = adaptor.getGrad();
    auto type = cast<RankedTensorType>(grad.getType());
    MLIRContext *ctx = rewriter.getContext();
    AffineMap id = AffineMap::getMultiDimIdentityMap(type.getRank(), ctx);
    SmallVector<utils::IteratorType> iterators(type.getRank(),
                                               utils::IteratorType::parallel);
    Value empty = tensor::EmptyOp::create(rewriter, loc, type.getShape(),
                                          type.getElementType());
    // The factor pair and the zero flag are scalars the body captures:
    // uniform operands the fused update reads once.
    Value stabilized =
        linalg::GenericOp::create(
            rewriter, loc, type, ValueRange{grad}, ValueRange{empty},
            ArrayRef<AffineMap>{id, id}, iterators,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value x = buildFloatCast(b, l, args[0], b.getF32Type());
              Value g =
                  buildStabilizedGradient(b, l, pre, main, update.zeroGrad, x);
              linalg::YieldOp::create(
                  b, l,
                  ValueRange{buildFloatCast(b, l, g, type.getElementType())});
            })
            .getResult(0);

    stats = insertAt(rewriter, loc, stats, 0, update.m);
    stats = insertAt(rewriter, loc, stats, 1, update.v);
    counts = insertAt(rewriter, loc, counts, 0, update.k);
    counts = insertAt(rewriter, loc, counts, 1, update.skipped);
    rewriter.replaceOp(op, {stabilized, stats, counts, update.stepOk});
    return success();
  }
};

struct GSToLinalgPass : gs::impl::GSToLinalgBase<GSToLinalgPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateGSToLinalgConversionPatterns(patterns);
    ConversionTarget target(getContext());
    target.addIllegalOp<GradNormOp, StabilizeOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void mlir::gs::populateGSToLinalgConversionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<GradNormToLinalg, StabilizeToLinalg>(patterns.getContext());
}
