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

/// Writes `values` (row-major) over a whole small state tensor in place, as
/// `vector.transfer_write`s of chunks of `kChunk` values into a flat view.
Value writeFlat(OpBuilder &b, Location loc, Value tensor, ValueRange values) {
  constexpr int64_t kChunk = 32;
  auto type = cast<RankedTensorType>(tensor.getType());
  Value flat = tensor;
  ReassociationIndices all;
  for (int64_t d = 0; d < type.getRank(); ++d)
    all.push_back(d);
  if (type.getRank() != 1)
    flat = tensor::CollapseShapeOp::create(
        b, loc,
        RankedTensorType::get({type.getNumElements()}, type.getElementType()),
        tensor, ArrayRef<ReassociationIndices>{all});
  for (int64_t offset = 0; offset < static_cast<int64_t>(values.size());
       offset += kChunk) {
    ValueRange chunk =
        values.slice(offset, std::min<int64_t>(kChunk, values.size() - offset));
    auto vectorType = VectorType::get({static_cast<int64_t>(chunk.size())},
                                      type.getElementType());
    Value vector = vector::FromElementsOp::create(b, loc, vectorType, chunk);
    Value index = arith::ConstantIndexOp::create(b, loc, offset);
    flat = vector::TransferWriteOp::create(b, loc, vector, flat, index,
                                           ArrayRef<bool>{true})
               .getResult();
  }
  if (type.getRank() == 1)
    return flat;
  return tensor::ExpandShapeOp::create(b, loc, type, flat,
                                       ArrayRef<ReassociationIndices>{all});
}

/// Emits the optimizer step of one tensor, guarded by `enabled`: the step's
/// scalars (for step count `nextStep`), then the element-wise pass over
/// grad, param and moments with the shared stabilized element update.
/// Returns the new param and moments.
struct OptimizerStepEmitter {
  OptimizerAttrInterface optimizer;
  unsigned width;

  SmallVector<Value> emit(OpBuilder &b, Location loc, Value grad, Value param,
                          ValueRange moments, Value nextStep, Value lr,
                          Value weightDecay, Value factor, Value zeroGrad,
                          Value enabled) const {
    SmallVector<Value> updates = {param};
    llvm::append_range(updates, moments);
    auto ifOp = scf::IfOp::create(
        b, loc, enabled,
        [&](OpBuilder &tb, Location l) {
          VectorType computeType = getComputeType(tb.getContext(), width);
          SmallVector<Value> scalars;
          for (Value scalar :
               optimizer.buildStepScalars(
                   tb, l, nextStep, lr, weightDecay,
                   optimizer.buildHyperparameterConstants(tb, l)))
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
        adaptor.getWeightDecay(), factor, /*zeroGrad=*/Value(), enabled);
    Value newStep =
        arith::SelectOp::create(rewriter, loc, enabled, nextStep, step);
    tensors.push_back(state.set(adaptor.getStep(), {}, newStep));
    rewriter.replaceOp(op, tensors);
    return success();
  }
  unsigned width;
};

struct GroupStepLowering : OpConversionPattern<GroupStepOp> {
  GroupStepLowering(MLIRContext *context, unsigned width)
      : OpConversionPattern(context), width(width) {}

  LogicalResult
  matchAndRewrite(GroupStepOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    StateAccess state{rewriter, loc};
    Type f64 = rewriter.getF64Type();
    StabilizerAttr config = op.getStabilizer();
    unsigned n = op.getNumParams();
    unsigned numMoments = op.getOptimizer().getNumMoments();

    // Pass 1: every gradient's norm, of the unscaled gradient.
    Value invScale;
    if (adaptor.getInvScale())
      invScale = arith::ExtFOp::create(rewriter, loc, f64,
                                       state.get(adaptor.getInvScale(), {}));
    SmallVector<Value> norms;
    for (Value grad : adaptor.getGrads()) {
      Value norm = buildNormLoop(rewriter, loc, grad, 2 * width);
      if (invScale)
        norm = arith::MulFOp::create(rewriter, loc, norm, invScale);
      norms.push_back(norm);
    }

    // The whole step is skipped on found_inf, or with a loss scale on any
    // non-finite gradient (spec section 4).
    Value skipAll =
        arith::ConstantIntOp::create(rewriter, loc, rewriter.getI1Type(), 0);
    if (Value foundInf = adaptor.getFoundInf()) {
      Value zero =
          buildFloatConstant(rewriter, loc, rewriter.getF32Type(), 0.0);
      skipAll = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::UNE,
                                      state.get(foundInf, {}), zero);
    }
    if (invScale)
      for (Value norm : norms)
        skipAll = arith::OrIOp::create(rewriter, loc, skipAll,
                                       buildIsNonFinite(rewriter, loc, norm));
    Value runStep = arith::XOrIOp::create(
        rewriter, loc, skipAll,
        arith::ConstantIntOp::create(rewriter, loc, rewriter.getI1Type(), 1));

    // Per tensor: GS scalar math, then pass 2, the fused update. The new
    // state is gathered as scalars and written after all the loops in vector
    // chunks (writeFlat): 5N tensor.inserts make one-shot bufferization's
    // analysis super-linear in N (25 s for GPT-2's 148 tensors).
    Value stats = adaptor.getStats(), counts = adaptor.getCounts(),
          steps = adaptor.getSteps();
    SmallVector<Value> newParams, newMoments, statValues, countValues,
        stepValues;
    OptimizerStepEmitter emitter{op.getOptimizer(), width};
    StabilizerHyperparameters stabilizerHyper =
        config.buildHyperparameterConstants(rewriter, loc);
    for (unsigned i = 0; i < n; ++i) {
      int64_t row = i;
      Value m = state.get(stats, {row, 0}), v = state.get(stats, {row, 1});
      Value k = state.get(counts, {row, 0}),
            skipped = state.get(counts, {row, 1});
      Value step = state.get(steps, {row});
      GroupTensorUpdate update =
          buildGroupTensorUpdate(rewriter, loc, config, stabilizerHyper,
                                 norms[i], invScale,
                                 runStep, m, v, k, skipped, step);
      SmallVector<Value> tensors = emitter.emit(
          rewriter, loc, adaptor.getGrads()[i], adaptor.getParams()[i],
          adaptor.getMoments().slice(i * numMoments, numMoments), update.step,
          adaptor.getLr(), adaptor.getWeightDecay(), update.factor,
          update.zeroGrad, update.enabled);
      newParams.push_back(tensors.front());
      llvm::append_range(newMoments, ArrayRef(tensors).drop_front());
      statValues.append({update.m, update.v});
      countValues.append({update.k, update.skipped});
      stepValues.push_back(update.step);
    }

    SmallVector<Value> results = newParams;
    llvm::append_range(results, newMoments);
    results.append({writeFlat(rewriter, loc, stats, statValues),
                    writeFlat(rewriter, loc, counts, countValues),
                    writeFlat(rewriter, loc, steps, stepValues)});
    rewriter.replaceOp(op, results);
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
    // Buffer views of table addresses stay for convert-gs-to-llvm.
    target.addLegalOp<ViewAddressOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void mlir::gs::populateGSToLoopsConversionPatterns(RewritePatternSet &patterns,
                                                   unsigned vectorWidth) {
  patterns.add<GradNormLowering, StabilizeLowering, OptimizerStepLowering,
               GroupStepLowering>(patterns.getContext(), vectorWidth);
  populateMultiTensorStepToLoopsPatterns(patterns, vectorWidth);
}
