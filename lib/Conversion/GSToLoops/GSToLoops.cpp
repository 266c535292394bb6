//===- GSToLoops.cpp - Lower gs ops to vectorized loops on tensors --------===//
//
// Each gs op becomes upstream IR on tensors: the norm and element-wise passes
// of VectorLoops.h, the GS scalar math of StabilizerAttr::buildUpdate and the
// optimizer update of OptimizerAttrInterface, with the scalar state read and
// written through tensor.extract / tensor.insert.
//
//===----------------------------------------------------------------------===//

#include "gs/Conversion/GSToLoops/GSToLoops.h"

#include "VectorLoops.h"
#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Utils/StepUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::gs {
#define GEN_PASS_DEF_CONVERTGSTOLOOPS
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;
using namespace mlir::gs;

namespace {
/// Reads and writes one row of scalar state held in a small tensor.
struct StateAccess {
  OpBuilder &b;
  Location loc;

  Value index(int64_t i) { return arith::ConstantIndexOp::create(b, loc, i); }
  Value get(Value tensor, ArrayRef<int64_t> position) {
    SmallVector<Value> indices;
    for (int64_t i : position)
      indices.push_back(index(i));
    return tensor::ExtractOp::create(b, loc, tensor, indices);
  }
  Value set(Value tensor, ArrayRef<int64_t> position, Value value) {
    SmallVector<Value> indices;
    for (int64_t i : position)
      indices.push_back(index(i));
    return tensor::InsertOp::create(b, loc, value, tensor, indices);
  }
};

/// Emits the optimizer step of one tensor, guarded by `enabled`: the step's
/// scalars (for step count `nextStep`, or from the given bias corrections),
/// then the element-wise pass over grad, param and moments with the shared
/// stabilized element update. Returns the new param and moments.
struct OptimizerStepEmitter {
  OptimizerAttrInterface optimizer;
  unsigned width;

  SmallVector<Value> emit(OpBuilder &b, Location loc, Value grad, Value param,
                          ValueRange moments, Value nextStep, Value lr,
                          Value weightDecay, ValueRange biasCorrections,
                          Value factor, Value zeroGrad, Value enabled) const {
    SmallVector<Value> updates = {param};
    llvm::append_range(updates, moments);
    auto ifOp = scf::IfOp::create(
        b, loc, enabled,
        [&](OpBuilder &tb, Location l) {
          VectorType computeType = getComputeType(tb.getContext(), width);
          SmallVector<Value> scalars;
          for (Value scalar : optimizer.buildStepScalars(
                   tb, l, nextStep, lr, weightDecay,
                   optimizer.buildHyperparameterConstants(tb, l),
                   biasCorrections))
            scalars.push_back(splatAsF32(tb, l, scalar, computeType));
          // Split so that c/n beyond f32's range (entirely subnormal
          // gradients) stays finite; see buildF32FactorPair.
          auto [pre, main] = buildF32FactorPair(tb, l, factor);
          Value preV = vector::BroadcastOp::create(tb, l, computeType, pre);
          Value mainV = vector::BroadcastOp::create(tb, l, computeType, main);
          SmallVector<Value> results = buildElementwiseLoop(
              tb, l, ValueRange{grad}, updates, width,
              [&](OpBuilder &eb, Location el, ValueRange inputs,
                  ValueRange current) {
                return buildStabilizedElementUpdate(
                    eb, el, optimizer, scalars, preV, mainV, zeroGrad,
                    current[0], inputs[0], current.drop_front());
              });
          scf::YieldOp::create(tb, l, results);
        },
        [&](OpBuilder &eb, Location l) {
          scf::YieldOp::create(eb, l, updates);
        });
    return SmallVector<Value>(ifOp.getResults().begin(),
                              ifOp.getResults().end());
  }
};

struct GradNormLowering : OpConversionPattern<GradNormOp> {
  GradNormLowering(MLIRContext *context, unsigned width)
      : OpConversionPattern(context), width(width) {}
  LogicalResult
  matchAndRewrite(GradNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(
        op, buildNormLoop(rewriter, op.getLoc(), adaptor.getGrad(), 2 * width));
    return success();
  }
  unsigned width;
};

struct StabilizeLowering : OpConversionPattern<StabilizeOp> {
  StabilizeLowering(MLIRContext *context, unsigned width)
      : OpConversionPattern(context), width(width) {}
  LogicalResult
  matchAndRewrite(StabilizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    StateAccess state{rewriter, loc};
    Value stats = adaptor.getStats(), counts = adaptor.getCounts();
    StabilizerUpdate update = op.getStabilizer().buildUpdate(
        rewriter, loc, adaptor.getNorm(), state.get(stats, {0}),
        state.get(stats, {1}), state.get(counts, {0}), state.get(counts, {1}));

    VectorType computeType = getComputeType(getContext(), width);
    auto [pre, main] = buildF32FactorPair(rewriter, loc, update.factor);
    Value preV = vector::BroadcastOp::create(rewriter, loc, computeType, pre);
    Value mainV = vector::BroadcastOp::create(rewriter, loc, computeType, main);
    // The stabilized gradient overwrites a copy-on-write value of `grad`;
    // bufferization reuses grad's buffer when nothing reads it afterwards.
    Value stabilized =
        buildElementwiseLoop(
            rewriter, loc, ValueRange{}, ValueRange{adaptor.getGrad()}, width,
            [&](OpBuilder &b, Location l, ValueRange, ValueRange current) {
              return SmallVector<Value>{buildStabilizedGradient(
                  b, l, preV, mainV, update.zeroGrad, current[0])};
            })
            .front();

    stats = state.set(stats, {0}, update.m);
    stats = state.set(stats, {1}, update.v);
    counts = state.set(counts, {0}, update.k);
    counts = state.set(counts, {1}, update.skipped);
    rewriter.replaceOp(op, {stabilized, stats, counts, update.stepOk});
    return success();
  }
  unsigned width;
};

struct OptimizerStepLowering : OpConversionPattern<OptimizerStepOp> {
  OptimizerStepLowering(MLIRContext *context, unsigned width)
      : OpConversionPattern(context), width(width) {}
  LogicalResult
  matchAndRewrite(OptimizerStepOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    StateAccess state{rewriter, loc};
    Value enabled = adaptor.getEnabled();
    if (!enabled)
      enabled =
          arith::ConstantIntOp::create(rewriter, loc, rewriter.getI1Type(), 1);
    Value factor =
        buildFloatConstant(rewriter, loc, rewriter.getF64Type(), 1.0);
    Value step = state.get(adaptor.getStep(), {});
    Value nextStep = arith::AddIOp::create(
        rewriter, loc, step,
        arith::ConstantIntOp::create(rewriter, loc, rewriter.getI64Type(), 1));
    OptimizerStepEmitter emitter{op.getOptimizer(), width};
    SmallVector<Value> tensors = emitter.emit(
        rewriter, loc, adaptor.getGrad(), adaptor.getParam(),
        adaptor.getMoments(), nextStep, adaptor.getLr(),
        adaptor.getWeightDecay(), adaptor.getBiasCorrections(), factor,
        /*zeroGrad=*/Value(), enabled);
    Value newStep =
        arith::SelectOp::create(rewriter, loc, enabled, nextStep, step);
    tensors.push_back(state.set(adaptor.getStep(), {}, newStep));
    rewriter.replaceOp(op, tensors);
    return success();
  }
  unsigned width;
};

struct ConvertGSToLoopsPass
    : gs::impl::ConvertGSToLoopsBase<ConvertGSToLoopsPass> {
  using Base::Base;
  void runOnOperation() override {
    if (vectorWidth == 0 || vectorWidth > kMaxVectorWidth) {
      emitError(getOperation()->getLoc())
          << "convert-gs-to-loops: vector-width must be in [1, "
          << kMaxVectorWidth << "], got " << vectorWidth.getValue();
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    populateGSToLoopsConversionPatterns(patterns, vectorWidth);
    ConversionTarget target(getContext());
    target.addIllegalDialect<GSDialect>();
    // Buffer views of table addresses stay for convert-gs-to-llvm; a
    // gs.group_step bufferizes into gs.multi_tensor_steps (its
    // BufferizableOpInterface), which a later run of this pass lowers.
    target.addLegalOp<ViewAddressOp, GroupStepOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void mlir::gs::populateGSToLoopsConversionPatterns(RewritePatternSet &patterns,
                                                   unsigned vectorWidth) {
  patterns.add<GradNormLowering, StabilizeLowering, OptimizerStepLowering>(
      patterns.getContext(), vectorWidth);
  populateMultiTensorStepToLoopsPatterns(patterns, vectorWidth);
}
