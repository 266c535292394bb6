//===- BufferizableOpInterfaceImpl.cpp - Bufferization of gs.group_step ---===//
//
// gs.group_step bufferizes in place: each new parameter, moment and state
// value is its operand's buffer (grads are only read). Its buffers are then
// described by a run-time table and the step becomes one
// gs.multi_tensor_step (with `element_types` when the group mixes element
// types), so a group of any size lowers to the same loop nest or kernels:
// code size and compile time do not grow with the number of tensors beyond
// the table's stores. The tables and scratch are stack allocations while
// small, heap ones (freed by the buffer deallocation pipeline, as
// bufferization's own allocations are) beyond; the GPU lowering moves them
// to the device.
//
//===----------------------------------------------------------------------===//

#include "gs/Dialect/GS/Transforms/BufferizableOpInterfaceImpl.h"

#include "gs/Dialect/GS/IR/GSDialect.h"
#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Utils/StepUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/DialectRegistry.h"
#include "llvm/Support/MathExtras.h"

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
  /// What heapAlloc allocated, for freeHeapBuffers.
  SmallVector<Value> heap;

  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value i64(int64_t value) {
    return arith::ConstantIntOp::create(b, loc, b.getI64Type(), value);
  }
  Value f64(double value) {
    return buildFloatConstant(b, loc, b.getF64Type(), value);
  }
  /// The step's tables and scratch: on the stack while small; on the heap
  /// beyond kStackBytes, freed after the step (see heapAlloc).
  Value alloc(ArrayRef<int64_t> shape, Type elementType) {
    auto type = MemRefType::get(shape, elementType);
    int64_t bytes = type.getNumElements() * type.getElementTypeBitWidth() / 8;
    if (bytes <= kStackBytes)
      return memref::AllocaOp::create(b, loc, type);
    return heapAlloc(type);
  }
  /// A heap buffer that only the step uses, freed by freeHeapBuffers. Both
  /// carry `bufferization.manual_deallocation`, so ownership-based
  /// deallocation leaves them alone and gs-deallocate-buffers does not run
  /// that whole pipeline for them (for a function returning 3,000 tensors
  /// the pipeline's one `bufferization.dealloc` took a minute).
  Value heapAlloc(MemRefType type) {
    auto alloc = memref::AllocOp::create(b, loc, type);
    alloc->setAttr(bufferization::BufferizationDialect::kManualDeallocation,
                   b.getUnitAttr());
    heap.push_back(alloc);
    return alloc;
  }
  void freeHeapBuffers() {
    for (Value buffer : heap)
      memref::DeallocOp::create(b, loc, buffer)
          ->setAttr(bufferization::BufferizationDialect::kManualDeallocation,
                    b.getUnitAttr());
  }
  /// Copies a strided buffer to or from its contiguous copy as a loop nest
  /// of loads and stores: a memref.copy between layouts lowers to a call to
  /// `memrefCopy` of MLIR's C runner utilities, a library that neither a
  /// JIT-compiled step nor one linked ahead of time has.
  void copy(Value from, Value to) {
    auto type = cast<MemRefType>(from.getType());
    SmallVector<Value> lower, upper, steps;
    for (int64_t size : type.getShape()) {
      lower.push_back(index(0));
      upper.push_back(index(size));
      steps.push_back(index(1));
    }
    scf::buildLoopNest(b, loc, lower, upper, steps,
                       [&](OpBuilder &nested, Location at, ValueRange ivs) {
                         Value x =
                             memref::LoadOp::create(nested, at, from, ivs);
                         memref::StoreOp::create(nested, at, x, to, ivs);
                       });
  }
  static constexpr int64_t kStackBytes = 64 * 1024;
  void store(Value value, Value memref, ArrayRef<int64_t> position) {
    SmallVector<Value> indices =
        llvm::map_to_vector(position, [&](int64_t i) { return index(i); });
    memref::StoreOp::create(b, loc, value, memref, indices);
  }
  /// The byte address of the first element of a buffer with an identity
  /// layout (bufferize copies others into such buffers first).
  Value address(Value buffer) {
    return arith::IndexCastOp::create(
        b, loc, b.getI64Type(),
        memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer));
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
    // Each tensor's chunks end where the next one's begin.
    int64_t chunkSize = MultiTensorStepOp::kDefaultChunkSize;
    SmallVector<int64_t> chunkEnds;
    int64_t total = 0;
    for (Value grad : op.getGrads()) {
      auto type = cast<RankedTensorType>(grad.getType());
      int64_t chunks = llvm::divideCeilSigned(type.getNumElements(), chunkSize);
      if (llvm::AddOverflow(total, chunks, total))
        return op.emitOpError("has more chunks in total than a 64-bit "
                              "integer can count; split the group");
      chunkEnds.push_back(total);
    }

    // The table holds one address per tensor, so each buffer must be
    // contiguous: a buffer of another layout (a strided view) is stepped in
    // a contiguous copy, copied back if the step writes it.
    TableBuilder t{rewriter, loc, op, /*heap=*/{}};
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
          contiguous = t.heapAlloc(
              MemRefType::get(type.getShape(), type.getElementType()));
          t.copy(*buffer, contiguous);
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

    // Element types in order of first appearance, and each row's index.
    SmallVector<Type> types;
    SmallVector<int64_t> typeIndices;
    for (Value grad : op.getGrads()) {
      Type type = cast<RankedTensorType>(grad.getType()).getElementType();
      auto *it = llvm::find(types, type);
      if (it == types.end()) {
        types.push_back(type);
        it = types.end() - 1;
      }
      typeIndices.push_back(it - types.begin());
    }
    bool mixed = types.size() > 1;

    // hyper: [lr, weight_decay, gamma1, gamma2, eps, optimizer's..., bias
    // corrections...].
    OptimizerAttrInterface optimizer = op.getOptimizer();
    StabilizerAttr config = op.getStabilizer();
    SmallVector<double> optimizerHyper = optimizer.getHyperparameterValues();
    int64_t hyperSize =
        5 + optimizerHyper.size() + op.getBiasCorrections().size();
    Value hyper = t.alloc({hyperSize}, rewriter.getF64Type());
    t.store(op.getLr(), hyper, {0});
    t.store(op.getWeightDecay(), hyper, {1});
    t.store(t.f64(config.getGamma1().convertToDouble()), hyper, {2});
    t.store(t.f64(config.getGamma2().convertToDouble()), hyper, {3});
    t.store(t.f64(config.getEps().convertToDouble()), hyper, {4});
    for (auto [i, value] : llvm::enumerate(optimizerHyper))
      t.store(t.f64(value), hyper, {5 + static_cast<int64_t>(i)});
    int64_t firstBiasCorrection = 5 + optimizerHyper.size();
    for (auto [i, value] : llvm::enumerate(op.getBiasCorrections()))
      t.store(value, hyper, {firstBiasCorrection + static_cast<int64_t>(i)});

    // The table: [numel, param, grad, moments..., (type index)] per row.
    int64_t n = op.getNumParams();
    int64_t numMoments = optimizer.getNumMoments();
    int64_t width = 3 + numMoments + (mixed ? 1 : 0);
    Value table = t.alloc({n, width}, rewriter.getI64Type());
    for (int64_t r = 0; r < n; ++r) {
      auto type = cast<MemRefType>((*params)[r].getType());
      t.store(t.i64(type.getNumElements()), table, {r, 0});
      t.store(t.address((*params)[r]), table, {r, 1});
      t.store(t.address((*grads)[r]), table, {r, 2});
      for (int64_t m = 0; m < numMoments; ++m)
        t.store(t.address((*moments)[r * numMoments + m]), table, {r, 3 + m});
      if (mixed)
        t.store(t.i64(typeIndices[r]), table, {r, 3 + numMoments});
    }

    // Chunk offsets (constant: the shapes are static) and scratch.
    Value offsets = t.alloc({n + 1}, rewriter.getI64Type());
    t.store(t.i64(0), offsets, {0});
    for (auto [row, end] : llvm::enumerate(chunkEnds))
      t.store(t.i64(end), offsets, {static_cast<int64_t>(row) + 1});
    Value partials =
        t.alloc({std::max<int64_t>(total, 1)}, rewriter.getF64Type());
    Value records =
        t.alloc({n * MultiTensorStepOp::kRecordWords}, rewriter.getF32Type());

    ArrayAttr elementTypes;
    if (mixed)
      elementTypes = rewriter.getTypeArrayAttr(types);
    MultiTensorStepOp::create(
        rewriter, loc, optimizer, op.getConfigAttr(),
        TypeAttr::get(types.front()), rewriter.getI64IntegerAttr(chunkSize),
        StepPhaseAttr::get(rewriter.getContext(), StepPhase::All),
        /*store_gradients=*/UnitAttr(),
        op.getBiasCorrections().empty() ? UnitAttr() : rewriter.getUnitAttr(),
        elementTypes, table, offsets, hyper, *stats, *counts, *steps, partials,
        records, invScale, foundInf,
        /*worker=*/Value(), /*num_workers=*/Value());
    for (auto [contiguous, original] : copiedBack)
      t.copy(contiguous, original);
    t.freeHeapBuffers();
    // The results are the operands' own buffers.
    SmallVector<Value> results;
    for (Value tensor : llvm::concat<Value>(op.getParams(), op.getMoments()))
      results.push_back(*getBuffer(rewriter, tensor, options, state));
    results.append({*stats, *counts, *steps});
    replaceOpWithBufferizedValues(rewriter, op, results);
    return success();
  }
};
} // namespace

void mlir::gs::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, GSDialect *) {
    GroupStepOp::attachInterface<GroupStepOpInterface>(*context);
  });
}
