//===- BufferizableOpInterfaceImpl.cpp - Bufferization of gs.group_step ---===//
//
// gs.group_step bufferizes in place: each new parameter, moment and state
// value is its operand's buffer (grads are only read). Its buffers are then
// described by a run-time table and the step becomes one gs.multi_tensor_step
// per element type, so a group of any size lowers to the same loop nest or
// kernels: code size and compile time do not grow with the number of
// tensors beyond the table's stores. The tables and scratch are stack
// allocations while small, heap ones (freed by the buffer deallocation
// pipeline, as bufferization's own allocations are) beyond.
//
//===----------------------------------------------------------------------===//

#include "gs/Dialect/GS/Transforms/BufferizableOpInterfaceImpl.h"

#include "gs/Dialect/GS/IR/GSDialect.h"
#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Utils/MultiTensorUtils.h"
#include "gs/Dialect/GS/Utils/StepUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/DialectRegistry.h"

using namespace mlir;
using namespace mlir::bufferization;
using namespace mlir::gs;

namespace {
/// Operand groups of a gs.group_step and the result each one becomes.
struct GroupOperands {
  GroupStepOp op;

  /// The result that aliases `operand`, or null for read-only operands.
  Value resultOf(OpOperand &operand) {
    unsigned n = op.getNumParams();
    unsigned index = operand.getOperandNumber();
    auto in = [&](OperandRange range) {
      return !range.empty() && index >= range.getBeginOperandIndex() &&
             index < range.getBeginOperandIndex() + range.size();
    };
    auto offset = [&](OperandRange range) {
      return index - range.getBeginOperandIndex();
    };
    if (in(op.getParams()))
      return op.getNewTensors()[offset(op.getParams())];
    if (in(op.getMoments()))
      return op.getNewTensors()[n + offset(op.getMoments())];
    if (&operand == &op.getStatsMutable())
      return op.getNewStats();
    if (&operand == &op.getCountsMutable())
      return op.getNewCounts();
    if (&operand == &op.getStepsMutable())
      return op.getNewSteps();
    return Value();
  }

  /// The operand whose buffer `result` is (the inverse of resultOf).
  OpOperand &operandOf(OpResult result) {
    if (result == op.getNewStats())
      return op.getStatsMutable();
    if (result == op.getNewCounts())
      return op.getCountsMutable();
    if (result == op.getNewSteps())
      return op.getStepsMutable();
    unsigned n = op.getNumParams();
    unsigned index =
        result.getResultNumber() - op.getNewTensors()[0].getResultNumber();
    if (index < n)
      return op.getParamsMutable()[index];
    return op.getMomentsMutable()[index - n];
  }
};

/// Emits the tables and the gs.multi_tensor_step(s) of a bufferized group.
struct TableBuilder {
  RewriterBase &b;
  Location loc;
  GroupStepOp op;

  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value i64(int64_t value) {
    return arith::ConstantIntOp::create(b, loc, b.getI64Type(), value);
  }
  Value f64(double value) {
    return buildFloatConstant(b, loc, b.getF64Type(), value);
  }
  /// The step's tables and scratch: on the stack while small, so the
  /// deallocation pipeline has nothing to track for them; on the heap
  /// beyond kStackBytes.
  Value alloc(ArrayRef<int64_t> shape, Type elementType) {
    auto type = MemRefType::get(shape, elementType);
    int64_t bytes = type.getNumElements() * type.getElementTypeBitWidth() / 8;
    if (bytes <= kStackBytes)
      return memref::AllocaOp::create(b, loc, type);
    return memref::AllocOp::create(b, loc, type);
  }
  static constexpr int64_t kStackBytes = 64 * 1024;
  void store(Value value, Value memref, ArrayRef<int64_t> position) {
    SmallVector<Value> indices =
        llvm::map_to_vector(position, [&](int64_t i) { return index(i); });
    memref::StoreOp::create(b, loc, value, memref, indices);
  }
  Value load(Value memref, ArrayRef<int64_t> position) {
    SmallVector<Value> indices =
        llvm::map_to_vector(position, [&](int64_t i) { return index(i); });
    return memref::LoadOp::create(b, loc, memref, indices);
  }

  /// The byte address of the first element of a contiguous buffer.
  Value address(Value buffer) {
    if (cast<MemRefType>(buffer.getType()).getLayout().isIdentity())
      return arith::IndexCastOp::create(
          b, loc, b.getI64Type(),
          memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer));
    auto metadata = memref::ExtractStridedMetadataOp::create(b, loc, buffer);
    Value base = memref::ExtractAlignedPointerAsIndexOp::create(
        b, loc, metadata.getBaseBuffer());
    auto type = cast<MemRefType>(buffer.getType());
    Value bytes = arith::MulIOp::create(
        b, loc, metadata.getOffset(), index(type.getElementTypeBitWidth() / 8));
    Value first = arith::AddIOp::create(b, loc, base, bytes);
    return arith::IndexCastOp::create(b, loc, b.getI64Type(), first);
  }

  /// The buffers one element type's multi-tensor steps work on.
  struct ClassBuffers {
    ArrayRef<unsigned> members;
    Type elementType;
    Value table, stats, counts, steps;
  };

  /// Builds the table of the tensors `members` (all of one element type)
  /// and, for a class of a mixed group, copies of their state rows.
  ClassBuffers prepareClass(ArrayRef<unsigned> members, ArrayRef<Value> params,
                            ArrayRef<Value> grads, ArrayRef<Value> moments,
                            Value stats, Value counts, Value steps,
                            bool wholeGroup) {
    int64_t numMoments = op.getOptimizer().getNumMoments();
    int64_t n = members.size();
    ClassBuffers result{
        members,
        cast<MemRefType>(params[members.front()].getType()).getElementType(),
        alloc({n, 3 + numMoments}, b.getI64Type()),
        stats,
        counts,
        steps};
    for (auto [row, i] : llvm::enumerate(members)) {
      int64_t r = row;
      auto type = cast<MemRefType>(params[i].getType());
      store(i64(type.getNumElements()), result.table, {r, 0});
      store(address(params[i]), result.table, {r, 1});
      store(address(grads[i]), result.table, {r, 2});
      for (int64_t m = 0; m < numMoments; ++m)
        store(address(moments[i * numMoments + m]), result.table, {r, 3 + m});
    }
    if (wholeGroup)
      return result;
    result.stats = alloc({n, 2}, b.getF64Type());
    result.counts = alloc({n, 2}, b.getI64Type());
    result.steps = alloc({n}, b.getI64Type());
    copyRows(result, stats, counts, steps, /*toClass=*/true);
    return result;
  }

  /// Copies the class's state rows between the group's state and the
  /// class's copies.
  void copyRows(const ClassBuffers &c, Value stats, Value counts, Value steps,
                bool toClass) {
    for (auto [row, i] : llvm::enumerate(c.members)) {
      int64_t r = row, g = i;
      auto copy = [&](Value group, Value local, ArrayRef<int64_t> groupAt,
                      ArrayRef<int64_t> localAt) {
        if (toClass)
          store(load(group, groupAt), local, localAt);
        else
          store(load(local, localAt), group, groupAt);
      };
      for (int64_t col = 0; col < 2; ++col) {
        copy(stats, c.stats, {g, col}, {r, col});
        copy(counts, c.counts, {g, col}, {r, col});
      }
      copy(steps, c.steps, {g}, {r});
    }
  }

  /// Emits `phase` of the class's multi-tensor step.
  void runPhase(const ClassBuffers &c, StepPhase phase, Value hyper,
                Value invScale, Value foundInf, Value partials,
                Value chunkOffsets, Value records) {
    MultiTensorStepOp::create(
        b, loc, op.getOptimizer(), op.getConfigAttr(),
        TypeAttr::get(c.elementType),
        b.getI64IntegerAttr(MultiTensorStepOp::kDefaultChunkSize),
        StepPhaseAttr::get(b.getContext(), phase),
        /*store_gradients=*/UnitAttr(), c.table, chunkOffsets, hyper, c.stats,
        c.counts, c.steps, partials, records, invScale, foundInf,
        /*worker=*/Value(), /*num_workers=*/Value());
  }
};

struct GroupStepOpInterface
    : BufferizableOpInterface::ExternalModel<GroupStepOpInterface,
                                             GroupStepOp> {
  bool bufferizesToMemoryRead(Operation *, OpOperand &,
                              const AnalysisState &) const {
    return true;
  }

  bool bufferizesToMemoryWrite(Operation *op, OpOperand &operand,
                               const AnalysisState &) const {
    return static_cast<bool>(
        GroupOperands{cast<GroupStepOp>(op)}.resultOf(operand));
  }

  AliasingValueList getAliasingValues(Operation *op, OpOperand &operand,
                                      const AnalysisState &) const {
    if (Value result = GroupOperands{cast<GroupStepOp>(op)}.resultOf(operand))
      return {{result, BufferRelation::Equivalent}};
    return {};
  }

  // Without this, the default asks every operand for its aliasing values,
  // for every result: quadratic in the size of the group.
  AliasingOpOperandList getAliasingOpOperands(Operation *op, Value value,
                                              const AnalysisState &) const {
    OpOperand &operand =
        GroupOperands{cast<GroupStepOp>(op)}.operandOf(cast<OpResult>(value));
    return {{&operand, BufferRelation::Equivalent}};
  }

  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<GroupStepOp>(operation);
    Location loc = op.getLoc();
    // The table holds one address per tensor, so each buffer must be
    // contiguous: a buffer of another layout (a strided view) is stepped in
    // a contiguous copy, copied back if the step writes it.
    SmallVector<std::pair<Value, Value>> copiedBack;
    auto buffersOf = [&](ValueRange tensors,
                         bool written) -> FailureOr<SmallVector<Value>> {
      SmallVector<Value> buffers;
      for (Value tensor : tensors) {
        FailureOr<Value> buffer = getBuffer(rewriter, tensor, options, state);
        if (failed(buffer))
          return failure();
        auto type = cast<MemRefType>(buffer->getType());
        Value contiguous = *buffer;
        if (!type.getLayout().isIdentity()) {
          contiguous = memref::AllocOp::create(
              rewriter, loc,
              MemRefType::get(type.getShape(), type.getElementType()));
          memref::CopyOp::create(rewriter, loc, *buffer, contiguous);
          if (written)
            copiedBack.push_back({contiguous, *buffer});
        }
        buffers.push_back(contiguous);
      }
      return buffers;
    };
    FailureOr<SmallVector<Value>> params = buffersOf(op.getParams(), true);
    FailureOr<SmallVector<Value>> grads = buffersOf(op.getGrads(), false);
    FailureOr<SmallVector<Value>> moments = buffersOf(op.getMoments(), true);
    FailureOr<Value> stats = getBuffer(rewriter, op.getStats(), options, state);
    FailureOr<Value> counts =
        getBuffer(rewriter, op.getCounts(), options, state);
    FailureOr<Value> steps = getBuffer(rewriter, op.getSteps(), options, state);
    Value invScale, foundInf;
    if (op.getInvScale()) {
      FailureOr<Value> buffer =
          getBuffer(rewriter, op.getInvScale(), options, state);
      if (failed(buffer))
        return failure();
      invScale = *buffer;
    }
    if (op.getFoundInf()) {
      FailureOr<Value> buffer =
          getBuffer(rewriter, op.getFoundInf(), options, state);
      if (failed(buffer))
        return failure();
      foundInf = *buffer;
    }
    if (failed(params) || failed(grads) || failed(moments) || failed(stats) ||
        failed(counts) || failed(steps))
      return failure();

    TableBuilder t{rewriter, loc, op};
    // Tensors by element type, in order of first appearance.
    SmallVector<Type> classTypes;
    SmallVector<SmallVector<unsigned>> classes;
    for (auto [i, grad] : llvm::enumerate(op.getGrads())) {
      Type type = cast<RankedTensorType>(grad.getType()).getElementType();
      auto *it = llvm::find(classTypes, type);
      if (it == classTypes.end()) {
        classTypes.push_back(type);
        classes.emplace_back();
        it = classTypes.end() - 1;
      }
      classes[it - classTypes.begin()].push_back(i);
    }

    // hyper: [lr, weight_decay, gamma1, gamma2, eps, optimizer's...].
    OptimizerAttrInterface optimizer = op.getOptimizer();
    StabilizerAttr config = op.getStabilizer();
    SmallVector<double> optimizerHyper = optimizer.getHyperparameterValues();
    int64_t hyperSize = 5 + optimizerHyper.size();
    Value hyper = t.alloc({hyperSize}, rewriter.getF64Type());
    t.store(op.getLr(), hyper, {0});
    t.store(op.getWeightDecay(), hyper, {1});
    t.store(t.f64(config.getGamma1().convertToDouble()), hyper, {2});
    t.store(t.f64(config.getGamma2().convertToDouble()), hyper, {3});
    t.store(t.f64(config.getEps().convertToDouble()), hyper, {4});
    for (auto [i, value] : llvm::enumerate(optimizerHyper))
      t.store(t.f64(value), hyper, {5 + static_cast<int64_t>(i)});

    // Per class: chunk offsets and scratch.
    int64_t chunkSize = MultiTensorStepOp::kDefaultChunkSize;
    SmallVector<Value> offsets, partials, records;
    for (ArrayRef<unsigned> members : classes) {
      int64_t n = members.size();
      Value co = t.alloc({n + 1}, rewriter.getI64Type());
      int64_t total = 0;
      t.store(t.i64(0), co, {0});
      for (auto [row, i] : llvm::enumerate(members)) {
        auto type = cast<RankedTensorType>(op.getGrads()[i].getType());
        total += llvm::divideCeil(type.getNumElements(), chunkSize);
        t.store(t.i64(total), co, {static_cast<int64_t>(row) + 1});
      }
      offsets.push_back(co);
      partials.push_back(
          t.alloc({std::max<int64_t>(total, 1)}, rewriter.getF64Type()));
      records.push_back(t.alloc({n * MultiTensorStepOp::kRecordWords},
                                rewriter.getF32Type()));
    }

    bool whole = classes.size() == 1;
    SmallVector<TableBuilder::ClassBuffers> classBuffers;
    for (ArrayRef<unsigned> members : classes)
      classBuffers.push_back(t.prepareClass(members, *params, *grads, *moments,
                                            *stats, *counts, *steps, whole));
    auto run = [&](unsigned c, StepPhase phase, Value found) {
      t.runPhase(classBuffers[c], phase, hyper, invScale, found, partials[c],
                 offsets[c], records[c]);
    };
    if (whole || !invScale) {
      for (unsigned c = 0; c < classes.size(); ++c)
        run(c, StepPhase::All, foundInf);
    } else {
      // A loss scale skips the whole group on any non-finite gradient
      // (spec section 4), across element types: every type's norms first,
      // then one found_inf for all of them.
      for (unsigned c = 0; c < classes.size(); ++c)
        run(c, StepPhase::Norms, Value());
      Value found =
          combinedFoundInf(t, foundInf, invScale, offsets, partials, classes);
      for (unsigned c = 0; c < classes.size(); ++c) {
        run(c, StepPhase::Scalars, found);
        run(c, StepPhase::Update, found);
      }
    }
    if (!whole)
      for (const TableBuilder::ClassBuffers &c : classBuffers)
        t.copyRows(c, *stats, *counts, *steps, /*toClass=*/false);
    for (auto [contiguous, original] : copiedBack)
      memref::CopyOp::create(rewriter, loc, contiguous, original);
    // The results are the operands' own buffers.
    SmallVector<Value> results;
    for (Value tensor : llvm::concat<Value>(op.getParams(), op.getMoments()))
      results.push_back(*getBuffer(rewriter, tensor, options, state));
    results.append({*stats, *counts, *steps});
    replaceOpWithBufferizedValues(rewriter, op, results);
    return success();
  }

  /// A memref<f32>: 1 when `foundInf` is set or any tensor's unscaled norm
  /// (its partials added in chunk order, times `invScale`) is non-finite.
  static Value combinedFoundInf(TableBuilder &t, Value foundInf, Value invScale,
                                ArrayRef<Value> offsets,
                                ArrayRef<Value> partials,
                                ArrayRef<SmallVector<unsigned>> classes) {
    RewriterBase &b = t.b;
    Location loc = t.loc;
    Type f32 = b.getF32Type();
    Value stored = memref::LoadOp::create(b, loc, invScale, ValueRange{});
    Value scale = arith::ExtFOp::create(b, loc, b.getF64Type(), stored);
    Value any = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
    if (foundInf)
      any = arith::CmpFOp::create(
          b, loc, arith::CmpFPredicate::UNE,
          memref::LoadOp::create(b, loc, foundInf, ValueRange{}),
          buildFloatConstant(b, loc, f32, 0.0));
    for (size_t c = 0; c < classes.size(); ++c) {
      Value numTensors = t.index(classes[c].size());
      any = arith::OrIOp::create(b, loc, any,
                                 buildAnyNonFiniteNorm(b, loc, partials[c],
                                                       offsets[c], numTensors,
                                                       scale));
    }
    Value flag = memref::AllocOp::create(b, loc, MemRefType::get({}, f32));
    Value value = arith::SelectOp::create(b, loc, any,
                                          buildFloatConstant(b, loc, f32, 1.0),
                                          buildFloatConstant(b, loc, f32, 0.0));
    memref::StoreOp::create(b, loc, value, flag, ValueRange{});
    return flag;
  }
};
} // namespace

void mlir::gs::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, GSDialect *) {
    GroupStepOp::attachInterface<GroupStepOpInterface>(*context);
  });
}
