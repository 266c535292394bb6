//===- MultiTensorStep.cpp - gs.multi_tensor_step to CPU loops ------------===//
//
// The CPU mapping of a multi-tensor step: a worker is a thread, and each
// chunk is walked by that one thread with vector loads. The chunk bodies,
// the table reads and the scalar phase are the shared builders of
// MultiTensorUtils.h, the same the GPU kernels are made of. The loop nest is
// one whatever the number of tensors: tensors are rows of a run-time table.
//
//===----------------------------------------------------------------------===//

#include "gs/Conversion/GSToLoops/GSToLoops.h"

#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Utils/MultiTensorUtils.h"
#include "gs/Dialect/GS/Utils/StepUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::gs;

namespace {
/// Emits the phases of one multi-tensor step at the rewriter's position.
struct MultiTensorStepEmitter {
  OpBuilder &b;
  Location loc;
  MultiTensorStepOp op;
  MultiTensorStepOp::Adaptor operands;
  unsigned width;

  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }

  TensorTableReader table() {
    auto tableType = cast<MemRefType>(operands.getTable().getType());
    return {b,
            loc,
            operands.getTable(),
            operands.getChunkOffsets(),
            static_cast<int64_t>(op.getChunkSize()),
            op.getElementType(),
            tableType.getMemorySpace()};
  }

  /// Emits `body(chunk)` for this worker's chunks: w, w + W, ...
  void
  forEachChunk(Value worker, Value numWorkers,
               function_ref<void(TensorTableReader &, Value, Value)> body) {
    TensorTableReader reader = table();
    Value n = reader.numTensors();
    Value numChunks = reader.numChunks(n);
    auto loop = scf::ForOp::create(b, loc, worker, numChunks, numWorkers);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    Value chunk = loop.getInductionVar();
    body(reader, chunk, reader.findTensor(chunk, n));
  }

  /// One thread, every element of the chunk.
  ChunkWalk walk(std::pair<Value, Value> range, int64_t walkWidth) {
    Value yes = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
    return {range.first,           range.second, walkWidth, yes,
            /*vectorAlignment=*/0, index(0),     index(1)};
  }

  void emitNorms(Value worker, Value numWorkers) {
    forEachChunk(
        worker, numWorkers,
        [&](TensorTableReader &reader, Value chunk, Value t) {
          buildForRowElementType(b, loc, op, reader.table, t, [&](Type type) {
            reader.elementType = type;
            Value grad = reader.view(t, kGradColumn);
            // Twice the update's width: independent f64 chains.
            Value sum = buildChunkSumOfSquares(
                b, loc, walk(reader.chunkRange(t, chunk), 2 * width), grad);
            memref::StoreOp::create(b, loc, sum, operands.getPartials(), chunk);
          });
        });
  }

  void emitScalars() {
    Type i1 = b.getI1Type();
    StepHyperparameters hyper =
        readHyperparameters(b, loc, op, operands.getHyper());
    Value invScale;
    if (Value buffer = operands.getInvScale()) {
      Value value = memref::LoadOp::create(b, loc, buffer, ValueRange{});
      invScale = arith::ExtFOp::create(b, loc, b.getF64Type(), value);
    }
    Value runStep = arith::ConstantIntOp::create(b, loc, i1, 1);
    if (Value buffer = operands.getFoundInf()) {
      Value found = arith::CmpFOp::create(
          b, loc, arith::CmpFPredicate::UNE,
          memref::LoadOp::create(b, loc, buffer, ValueRange{}),
          buildFloatConstant(b, loc, b.getF32Type(), 0.0));
      runStep = arith::XOrIOp::create(b, loc, runStep, found);
    }
    Value n = memref::DimOp::create(b, loc, operands.getTable(), 0);
    // With a loss scale, any non-finite gradient skips the whole step
    // (spec section 4): a first pass over the norms decides.
    if (invScale) {
      Value any =
          buildAnyNonFiniteNorm(b, loc, operands.getPartials(),
                                operands.getChunkOffsets(), n, invScale);
      Value ok = arith::XOrIOp::create(
          b, loc, any, arith::ConstantIntOp::create(b, loc, i1, 1));
      runStep = arith::AndIOp::create(b, loc, runStep, ok);
    }
    auto loop = scf::ForOp::create(b, loc, index(0), n, index(1));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    Value t = loop.getInductionVar();
    buildTensorScalars(b, loc, op, hyper, operands.getStats(),
                       operands.getCounts(), operands.getSteps(),
                       operands.getRecords(), t,
                       buildTensorNorm(b, loc, operands.getPartials(),
                                       operands.getChunkOffsets(), t, invScale),
                       invScale, runStep);
  }

  void emitUpdate(Value worker, Value numWorkers) {
    OptimizerAttrInterface optimizer = op.getOptimizer();
    forEachChunk(
        worker, numWorkers,
        [&](TensorTableReader &reader, Value chunk, Value t) {
          StepRecord record =
              readTensorRecord(b, loc, op, operands.getRecords(), t);
          auto ifOp = scf::IfOp::create(b, loc, record.enabled,
                                        /*withElseRegion=*/false);
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(ifOp.thenBlock());
          buildForRowElementType(b, loc, op, reader.table, t, [&](Type type) {
            reader.elementType = type;
            SmallVector<Value> buffers =
                reader.tensorBuffers(t, optimizer.getNumMoments());
            buildChunkUpdate(b, loc, optimizer,
                             walk(reader.chunkRange(t, chunk), width), record,
                             buffers, op.getStoreGradients());
          });
        });
  }
};

struct MultiTensorStepLowering : OpConversionPattern<MultiTensorStepOp> {
  MultiTensorStepLowering(MLIRContext *context, unsigned width)
      : OpConversionPattern(context), width(width) {}

  LogicalResult
  matchAndRewrite(MultiTensorStepOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (failed(verifyRecordCapacity(op)))
      return failure();
    MultiTensorStepEmitter emitter{rewriter, op.getLoc(), op, adaptor, width};
    Value worker = adaptor.getWorker(), numWorkers = adaptor.getNumWorkers();
    if (!worker) {
      worker = emitter.index(0);
      numWorkers = emitter.index(1);
    }
    StepPhase phase = op.getPhase();
    if (phase == StepPhase::All || phase == StepPhase::Norms)
      emitter.emitNorms(worker, numWorkers);
    if (phase == StepPhase::All || phase == StepPhase::Scalars)
      emitter.emitScalars();
    if (phase == StepPhase::All || phase == StepPhase::Update)
      emitter.emitUpdate(worker, numWorkers);
    rewriter.eraseOp(op);
    return success();
  }
  unsigned width;
};
} // namespace

void mlir::gs::populateMultiTensorStepToLoopsPatterns(
    RewritePatternSet &patterns, unsigned vectorWidth) {
  patterns.add<MultiTensorStepLowering>(patterns.getContext(), vectorWidth);
}
