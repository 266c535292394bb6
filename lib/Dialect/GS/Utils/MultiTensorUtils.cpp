//===- MultiTensorUtils.cpp - The parts of a multi-tensor step ------------===//

#include "gs/Dialect/GS/Utils/MultiTensorUtils.h"

#include "gs/Dialect/GS/Utils/StepUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OwningOpRef.h"

using namespace mlir;
using namespace mlir::gs;

static Value indexConstant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

static Value toIndex(OpBuilder &b, Location loc, Value value) {
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), value);
}

//===----------------------------------------------------------------------===//
// TensorTableReader
//===----------------------------------------------------------------------===//

Value TensorTableReader::numTensors() {
  return memref::DimOp::create(b, loc, table, 0);
}

Value TensorTableReader::numChunks(Value n) {
  return toIndex(b, loc, memref::LoadOp::create(b, loc, chunkOffsets, n));
}

Value TensorTableReader::findTensor(Value chunk, Value n) {
  Type indexType = b.getIndexType();
  Value one = indexConstant(b, loc, 1);
  auto loop = scf::WhileOp::create(
      b, loc, TypeRange{indexType, indexType},
      ValueRange{indexConstant(b, loc, 0), n},
      [&](OpBuilder &wb, Location l, ValueRange args) {
        Value width = arith::SubIOp::create(wb, l, args[1], args[0]);
        Value more =
            arith::CmpIOp::create(wb, l, arith::CmpIPredicate::ugt, width, one);
        scf::ConditionOp::create(wb, l, more, args);
      },
      [&](OpBuilder &wb, Location l, ValueRange args) {
        Value mid = arith::ShRUIOp::create(
            wb, l, arith::AddIOp::create(wb, l, args[0], args[1]), one);
        Value first =
            toIndex(wb, l, memref::LoadOp::create(wb, l, chunkOffsets, mid));
        Value owns = arith::CmpIOp::create(wb, l, arith::CmpIPredicate::ule,
                                           first, chunk);
        Value lo = arith::SelectOp::create(wb, l, owns, mid, args[0]);
        Value hi = arith::SelectOp::create(wb, l, owns, args[1], mid);
        scf::YieldOp::create(wb, l, ValueRange{lo, hi});
      });
  return loop.getResult(0);
}

Value TensorTableReader::numElements(Value t) {
  Value column = indexConstant(b, loc, kNumelColumn);
  return toIndex(b, loc,
                 memref::LoadOp::create(b, loc, table, ValueRange{t, column}));
}

Value TensorTableReader::view(Value t, int64_t column) {
  Value address = memref::LoadOp::create(
      b, loc, table, ValueRange{t, indexConstant(b, loc, column)});
  auto type = MemRefType::get({ShapedType::kDynamic}, elementType,
                              MemRefLayoutAttrInterface(), memorySpace);
  return ViewAddressOp::create(b, loc, type, address, numElements(t));
}

SmallVector<Value> TensorTableReader::tensorBuffers(Value t,
                                                    unsigned numMoments) {
  SmallVector<Value> buffers = {view(t, kParamColumn), view(t, kGradColumn)};
  for (unsigned m = 0; m < numMoments; ++m)
    buffers.push_back(view(t, kFirstMomentColumn + m));
  return buffers;
}

std::pair<Value, Value> TensorTableReader::chunkRange(Value t, Value chunk) {
  Value first =
      toIndex(b, loc, memref::LoadOp::create(b, loc, chunkOffsets, t));
  Value size = indexConstant(b, loc, chunkSize);
  Value begin = arith::MulIOp::create(
      b, loc, arith::SubIOp::create(b, loc, chunk, first), size);
  Value end = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, begin, size), numElements(t));
  return {begin, end};
}

void mlir::gs::buildForRowElementType(OpBuilder &b, Location loc,
                                      MultiTensorStepOp op, Value table,
                                      Value t, function_ref<void(Type)> body) {
  SmallVector<Type> types = op.getRowElementTypes();
  if (types.size() == 1)
    return body(types.front());
  Value column = indexConstant(b, loc, op.getElementTypeColumn());
  Value typeIndex = toIndex(
      b, loc, memref::LoadOp::create(b, loc, table, ValueRange{t, column}));
  SmallVector<int64_t> cases =
      llvm::to_vector(llvm::seq<int64_t>(0, types.size()));
  auto dispatch = scf::IndexSwitchOp::create(b, loc, TypeRange{}, typeIndex,
                                             cases, cases.size());
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&dispatch.getDefaultRegion().emplaceBlock());
  scf::YieldOp::create(b, loc);
  for (auto [type, region] :
       llvm::zip_equal(types, dispatch.getCaseRegions())) {
    b.setInsertionPointToStart(&region.emplaceBlock());
    body(type);
    scf::YieldOp::create(b, loc);
  }
}

//===----------------------------------------------------------------------===//
// Norms from chunk sums
//===----------------------------------------------------------------------===//

Value mlir::gs::buildTensorNorm(OpBuilder &b, Location loc, Value partials,
                                Value chunkOffsets, Value t, Value invScale) {
  Value first =
      toIndex(b, loc, memref::LoadOp::create(b, loc, chunkOffsets, t));
  Value next = arith::AddIOp::create(b, loc, t, indexConstant(b, loc, 1));
  Value end =
      toIndex(b, loc, memref::LoadOp::create(b, loc, chunkOffsets, next));
  Value zero = buildFloatConstant(b, loc, b.getF64Type(), 0.0);
  auto loop = scf::ForOp::create(
      b, loc, first, end, indexConstant(b, loc, 1), ValueRange{zero},
      [&](OpBuilder &lb, Location l, Value j, ValueRange acc) {
        Value partial = memref::LoadOp::create(lb, l, partials, j);
        scf::YieldOp::create(
            lb, l, ValueRange{arith::AddFOp::create(lb, l, acc[0], partial)});
      });
  Value norm = math::SqrtOp::create(b, loc, loop.getResult(0));
  if (invScale)
    norm = arith::MulFOp::create(b, loc, norm, invScale);
  return norm;
}

Value mlir::gs::buildAnyNonFiniteNorm(OpBuilder &b, Location loc,
                                      Value partials, Value chunkOffsets,
                                      Value numTensors, Value invScale) {
  Value none = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
  auto loop = scf::ForOp::create(
      b, loc, indexConstant(b, loc, 0), numTensors, indexConstant(b, loc, 1),
      ValueRange{none},
      [&](OpBuilder &lb, Location l, Value t, ValueRange acc) {
        Value norm =
            buildTensorNorm(lb, l, partials, chunkOffsets, t, invScale);
        Value bad = buildIsNonFinite(lb, l, norm);
        scf::YieldOp::create(
            lb, l, ValueRange{arith::OrIOp::create(lb, l, acc[0], bad)});
      });
  return loop.getResult(0);
}

//===----------------------------------------------------------------------===//
// Hyperparameters and records
//===----------------------------------------------------------------------===//

StepHyperparameters mlir::gs::readHyperparameters(OpBuilder &b, Location loc,
                                                  MultiTensorStepOp op,
                                                  Value hyper) {
  auto at = [&](int64_t i) -> Value {
    return memref::LoadOp::create(b, loc, hyper, indexConstant(b, loc, i));
  };
  OptimizerAttrInterface optimizer = op.getOptimizer();
  StepHyperparameters result;
  result.lr = at(0);
  result.weightDecay = at(1);
  result.stabilizer = {at(2), at(3), at(4)};
  int64_t numHyper = optimizer.getNumHyperparameters();
  for (int64_t i = 0; i < numHyper; ++i)
    result.optimizer.push_back(at(5 + i));
  if (op.getBiasCorrections())
    for (int64_t i = 0, e = optimizer.getNumBiasCorrections(); i < e; ++i)
      result.biasCorrections.push_back(at(5 + numHyper + i));
  return result;
}

namespace {
/// Word offsets within a record.
enum RecordWord : int64_t {
  kEnabled = 0,
  kPrefactor = 1,
  kFactor = 2,
  kZeroGrad = 3,
  kFirstScalar = 4,
};
} // namespace

void mlir::gs::buildTensorScalars(OpBuilder &b, Location loc,
                                  MultiTensorStepOp op,
                                  const StepHyperparameters &hyper, Value stats,
                                  Value counts, Value steps, Value records,
                                  Value t, Value norm, Value invScale,
                                  Value runStep) {
  Value zero = indexConstant(b, loc, 0), one = indexConstant(b, loc, 1);
  auto load = [&](Value memref, ValueRange indices) -> Value {
    return memref::LoadOp::create(b, loc, memref, indices);
  };
  auto store = [&](Value value, Value memref, ValueRange indices) {
    memref::StoreOp::create(b, loc, value, memref, indices);
  };
  Value oldStep = load(steps, t);
  GroupTensorUpdate update = buildGroupTensorUpdate(
      b, loc, op.getStabilizer(), hyper.stabilizer, norm, invScale, runStep,
      load(stats, {t, zero}), load(stats, {t, one}), load(counts, {t, zero}),
      load(counts, {t, one}), oldStep);
  store(update.m, stats, {t, zero});
  store(update.v, stats, {t, one});
  store(update.k, counts, {t, zero});
  store(update.skipped, counts, {t, one});
  store(update.step, steps, t);

  // The scalars for the step the optimizer takes if it is enabled.
  Value nextStep = arith::AddIOp::create(
      b, loc, oldStep, arith::ConstantIntOp::create(b, loc, b.getI64Type(), 1));
  OptimizerAttrInterface optimizer = op.getOptimizer();
  SmallVector<Value> scalars =
      optimizer.buildStepScalars(b, loc, nextStep, hyper.lr, hyper.weightDecay,
                                 hyper.optimizer, hyper.biasCorrections);
  assert(kFirstScalar + static_cast<int64_t>(scalars.size()) <=
             MultiTensorStepOp::kRecordWords &&
         "call verifyRecordCapacity first");

  Value base = arith::MulIOp::create(
      b, loc, t, indexConstant(b, loc, MultiTensorStepOp::kRecordWords));
  auto put = [&](int64_t word, Value value) {
    Value index =
        arith::AddIOp::create(b, loc, base, indexConstant(b, loc, word));
    store(value, records, index);
  };
  Type f32 = b.getF32Type();
  auto flag = [&](Value bit) -> Value {
    return arith::SelectOp::create(b, loc, bit,
                                   buildFloatConstant(b, loc, f32, 1.0),
                                   buildFloatConstant(b, loc, f32, 0.0));
  };
  put(kEnabled, flag(update.enabled));
  // Rounded once to f32, as every lowering does, and split so that c/n
  // beyond f32's range (all-subnormal gradients) stays finite.
  auto [prefactor, factor] = buildF32FactorPair(b, loc, update.factor);
  put(kPrefactor, prefactor);
  put(kFactor, factor);
  if (update.zeroGrad)
    put(kZeroGrad, flag(update.zeroGrad));
  for (auto [i, scalar] : llvm::enumerate(scalars))
    put(kFirstScalar + i, buildFloatCast(b, loc, scalar, f32));
}

// The number of step scalars depends on the attribute's structure only (not
// on whether the bias corrections are given), so building them once into a
// detached block counts them.
int64_t mlir::gs::getNumStepScalars(OptimizerAttrInterface optimizer) {
  MLIRContext *context = optimizer.getContext();
  Location loc = UnknownLoc::get(context);
  OwningOpRef<ModuleOp> scratch = ModuleOp::create(loc);
  OpBuilder b = OpBuilder::atBlockEnd(scratch->getBody());
  Value f = buildFloatConstant(b, loc, b.getF64Type(), 0.5);
  Value step = arith::ConstantIntOp::create(b, loc, b.getI64Type(), 1);
  SmallVector<Value> hyper(optimizer.getNumHyperparameters(), f);
  return optimizer.buildStepScalars(b, loc, step, f, f, hyper, ValueRange())
      .size();
}

LogicalResult mlir::gs::verifyRecordCapacity(MultiTensorStepOp op) {
  OptimizerAttrInterface optimizer = op.getOptimizer();
  int64_t numScalars = getNumStepScalars(optimizer);
  if (kFirstScalar + numScalars <= MultiTensorStepOp::kRecordWords)
    return success();
  return op.emitOpError() << "optimizer " << optimizer << " has " << numScalars
                          << " step scalars, more than a "
                          << MultiTensorStepOp::kRecordWords
                          << "-word record holds";
}

StepRecord mlir::gs::readTensorRecord(OpBuilder &b, Location loc,
                                      MultiTensorStepOp op, Value records,
                                      Value t) {
  Value base = arith::MulIOp::create(
      b, loc, t, indexConstant(b, loc, MultiTensorStepOp::kRecordWords));
  auto get = [&](int64_t word) -> Value {
    Value index =
        arith::AddIOp::create(b, loc, base, indexConstant(b, loc, word));
    return memref::LoadOp::create(b, loc, records, index);
  };
  auto isSet = [&](Value value) -> Value {
    return arith::CmpFOp::create(
        b, loc, arith::CmpFPredicate::UNE, value,
        buildFloatConstant(b, loc, b.getF32Type(), 0.0));
  };
  StepRecord record;
  record.enabled = isSet(get(kEnabled));
  record.prefactor = get(kPrefactor);
  record.factor = get(kFactor);
  if (op.getStabilizer().getOnNonfinite() == NonFinitePolicy::Zero)
    record.zeroGrad = isSet(get(kZeroGrad));
  for (int64_t i = 0, e = getNumStepScalars(op.getOptimizer()); i < e; ++i)
    record.scalars.push_back(get(kFirstScalar + i));
  return record;
}

//===----------------------------------------------------------------------===//
// Chunk bodies
//===----------------------------------------------------------------------===//

/// Emits the two loops of `walk`: `vectorBody(offset, carried)` per vector
/// of this thread, then `scalarBody(index, carried)` per remaining element.
static ValueRange
buildWalk(OpBuilder &b, Location loc, const ChunkWalk &walk, ValueRange init,
          function_ref<SmallVector<Value>(Value, ValueRange)> vectorBody,
          function_ref<SmallVector<Value>(Value, ValueRange)> scalarBody) {
  Value width = indexConstant(b, loc, walk.width);
  auto forLoop = [&](Value lb, Value ub, Value step, ValueRange carried,
                     function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    auto loop = scf::ForOp::create(
        b, loc, lb, ub, step, carried,
        [&](OpBuilder &lb2, Location l, Value iv, ValueRange args) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(lb2.getInsertionBlock(), lb2.getInsertionPoint());
          scf::YieldOp::create(b, l, body(iv, args));
        });
    return loop.getResults();
  };
  Value length = arith::SubIOp::create(b, loc, walk.end, walk.begin);
  Value numVectors = arith::SelectOp::create(
      b, loc, walk.vectorize, arith::DivUIOp::create(b, loc, length, width),
      indexConstant(b, loc, 0));
  ValueRange carried = forLoop(walk.threadId, numVectors, walk.numThreads, init,
                               [&](Value j, ValueRange args) {
                                 Value offset = arith::AddIOp::create(
                                     b, loc, walk.begin,
                                     arith::MulIOp::create(b, loc, j, width));
                                 return vectorBody(offset, args);
                               });
  Value tailBegin = arith::AddIOp::create(
      b, loc, walk.begin, arith::MulIOp::create(b, loc, numVectors, width));
  return forLoop(arith::AddIOp::create(b, loc, tailBegin, walk.threadId),
                 walk.end, walk.numThreads, carried, scalarBody);
}

static Value loadVector(OpBuilder &b, Location loc, const ChunkWalk &walk,
                        VectorType type, Value buffer, Value offset) {
  if (walk.vectorAlignment == 0)
    return vector::LoadOp::create(b, loc, type, buffer, offset);
  return vector::LoadOp::create(b, loc, type, buffer, offset,
                                /*nontemporal=*/false,
                                llvm::Align(walk.vectorAlignment));
}

static void storeVector(OpBuilder &b, Location loc, const ChunkWalk &walk,
                        Value value, Value buffer, Value offset) {
  if (walk.vectorAlignment == 0) {
    vector::StoreOp::create(b, loc, value, buffer, offset);
    return;
  }
  vector::StoreOp::create(b, loc, value, buffer, offset,
                          /*nontemporal=*/false,
                          llvm::Align(walk.vectorAlignment));
}

Value mlir::gs::buildChunkSumOfSquares(OpBuilder &b, Location loc,
                                       const ChunkWalk &walk, Value grad) {
  Type f64 = b.getF64Type();
  Type elementType = cast<MemRefType>(grad.getType()).getElementType();
  auto loadType = VectorType::get({walk.width}, elementType);
  // Vector lanes and scalar elements accumulate apart, so each is one fixed
  // chain whatever the chunk's length.
  Value init[] = {
      buildFloatConstant(b, loc, VectorType::get({walk.width}, f64), 0.0),
      buildFloatConstant(b, loc, f64, 0.0)};
  ValueRange sums = buildWalk(
      b, loc, walk, init,
      [&](Value offset, ValueRange acc) {
        Value x = buildFloatCast(
            b, loc, loadVector(b, loc, walk, loadType, grad, offset), f64);
        Value square = arith::MulFOp::create(b, loc, x, x);
        return SmallVector<Value>{arith::AddFOp::create(b, loc, acc[0], square),
                                  acc[1]};
      },
      [&](Value i, ValueRange acc) {
        Value x = buildFloatCast(b, loc,
                                 memref::LoadOp::create(b, loc, grad, i), f64);
        Value square = arith::MulFOp::create(b, loc, x, x);
        return SmallVector<Value>{
            acc[0], arith::AddFOp::create(b, loc, acc[1], square)};
      });
  Value lanes =
      vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, sums[0]);
  return arith::AddFOp::create(b, loc, lanes, sums[1]);
}

void mlir::gs::buildChunkUpdate(OpBuilder &b, Location loc,
                                OptimizerAttrInterface optimizer,
                                const ChunkWalk &walk, const StepRecord &record,
                                ValueRange buffers, bool storeGradients) {
  Type f32 = b.getF32Type();
  Type elementType = cast<MemRefType>(buffers[0].getType()).getElementType();
  auto loadType = VectorType::get({walk.width}, elementType);
  auto computeType = VectorType::get({walk.width}, f32);
  auto splat = [&](Value scalar) -> Value {
    return vector::BroadcastOp::create(b, loc, computeType, scalar);
  };
  SmallVector<Value> vectorScalars = llvm::map_to_vector(record.scalars, splat);
  Value vectorPrefactor = splat(record.prefactor);
  Value vectorFactor = splat(record.factor);
  unsigned numMoments = optimizer.getNumMoments();

  // Reads every buffer, updates, writes param and moments (and the
  // stabilized gradient).
  auto step = [&](function_ref<Value(Value)> read,
                  function_ref<void(Value, Value)> write,
                  ValueRange stepScalars, Value prefactor, Value factor) {
    SmallVector<Value> values = llvm::map_to_vector(buffers, [&](Value buffer) {
      return buildFloatCast(b, loc, read(buffer), f32);
    });
    Value g = buildStabilizedGradient(b, loc, prefactor, factor,
                                      record.zeroGrad, values[1]);
    SmallVector<Value> results = optimizer.buildElementUpdate(
        b, loc, stepScalars, values[0], g, ArrayRef(values).drop_front(2));
    write(buildFloatCast(b, loc, results[0], elementType), buffers[0]);
    if (storeGradients)
      write(buildFloatCast(b, loc, g, elementType), buffers[1]);
    for (unsigned m = 0; m < numMoments; ++m)
      write(buildFloatCast(b, loc, results[1 + m], elementType),
            buffers[2 + m]);
  };
  buildWalk(
      b, loc, walk, {},
      [&](Value offset, ValueRange) {
        step(
            [&](Value buffer) {
              return loadVector(b, loc, walk, loadType, buffer, offset);
            },
            [&](Value value, Value buffer) {
              storeVector(b, loc, walk, value, buffer, offset);
            },
            vectorScalars, vectorPrefactor, vectorFactor);
        return SmallVector<Value>{};
      },
      [&](Value i, ValueRange) {
        step(
            [&](Value buffer) {
              return memref::LoadOp::create(b, loc, buffer, i);
            },
            [&](Value value, Value buffer) {
              memref::StoreOp::create(b, loc, value, buffer, i);
            },
            record.scalars, record.prefactor, record.factor);
        return SmallVector<Value>{};
      });
}
