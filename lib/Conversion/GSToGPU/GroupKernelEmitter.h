//===- GroupKernelEmitter.h - Code of the static group kernels --*- C++ -*-===//
//
// What the kernels of one gs.group_step are made of besides the generic
// KernelBuilder pieces: the device globals of its static layout (chunk
// table, element type classes, scratch), the switch from a tensor id to its
// buffers, and the record layout the scalars kernel leaves for the update.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_CONVERSION_GSTOGPU_GROUPKERNELEMITTER_H
#define GS_LIB_CONVERSION_GSTOGPU_GROUPKERNELEMITTER_H

#include "GroupKernels.h"
#include "KernelBuilder.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::gs {

/// Names of the device globals of a group's gpu.module.
constexpr StringLiteral kChunkBounds = "gs_chunk_bounds";
constexpr StringLiteral kTensorClass = "gs_tensor_class";
constexpr StringLiteral kPartials = "gs_partials";
constexpr StringLiteral kNorms = "gs_norms";
constexpr StringLiteral kRecords = "gs_records";

/// The per-tensor record that the scalars kernel leaves for the update
/// kernel, as f32: [enabled, prefactor, factor, (zero_grad), optimizer
/// scalars...]; the two factors are buildF32FactorPair's.
struct RecordLayout {
  bool hasZeroGrad = false;
  int64_t numScalars = 0;
  int64_t enabled() const { return 0; }
  int64_t prefactor() const { return 1; }
  int64_t factor() const { return 2; }
  int64_t zeroGrad() const { return 3; }
  int64_t scalar(int64_t i) const { return (hasZeroGrad ? 4 : 3) + i; }
  int64_t size() const { return scalar(numScalars); }
};

/// Emits kernel code for one group layout.
struct GroupKernelEmitter : KernelBuilder {
  const GroupLayout &layout;

  GroupKernelEmitter(OpBuilder &b, Location loc, const GroupLayout &layout)
      : KernelBuilder{b, loc}, layout(layout) {}

  Value global(StringRef name, MemRefType type) {
    return memref::GetGlobalOp::create(b, loc, type, name);
  }

  /// Emits the grid-stride loop over the group's chunks; `body` gets each
  /// chunk and its tensor.
  void forEachChunk(function_ref<void(Value chunk, Value tensor)> body) {
    // A group without elements has no chunk (and no element type class).
    if (layout.getNumChunks() == 0)
      return;
    KernelBuilder::forEachChunk(index(layout.getNumChunks()), [&](Value chunk) {
      body(chunk, findTensor(chunk));
    });
  }

  /// The tensor that owns `chunk`: the last t with chunkBounds[t] <= chunk
  /// (tensors without elements own no chunk and are skipped that way).
  Value findTensor(Value chunk) {
    int64_t n = layout.getNumTensors();
    if (n == 1)
      return index(0);
    Value bounds = global(kChunkBounds, boundsType());
    Type indexType = b.getIndexType();
    auto loop = scf::WhileOp::create(
        b, loc, TypeRange{indexType, indexType}, ValueRange{index(0), index(n)},
        [&](OpBuilder &, Location, ValueRange args) {
          Value width = arith::SubIOp::create(b, loc, args[1], args[0]);
          Value more = cmp(arith::CmpIPredicate::ugt, width, index(1));
          scf::ConditionOp::create(b, loc, more, args);
        },
        [&](OpBuilder &, Location, ValueRange args) {
          Value mid =
              arith::ShRUIOp::create(b, loc, add(args[0], args[1]), index(1));
          Value first = toIndex(load(bounds, mid));
          Value owns = cmp(arith::CmpIPredicate::ule, first, chunk);
          Value lo = arith::SelectOp::create(b, loc, owns, mid, args[0]);
          Value hi = arith::SelectOp::create(b, loc, owns, args[1], mid);
          scf::YieldOp::create(b, loc, ValueRange{lo, hi});
        });
    return loop.getResult(0);
  }

  /// Emits `body(i)` for the tensor `tensor` among `candidates`, by an
  /// scf.index_switch (the first candidate is the default).
  SmallVector<Value> switchOn(Value selector, ArrayRef<int64_t> candidates,
                              TypeRange types,
                              function_ref<SmallVector<Value>(int64_t)> body) {
    if (candidates.size() == 1)
      return body(candidates.front());
    auto switchOp = scf::IndexSwitchOp::create(b, loc, types, selector,
                                               candidates.drop_front(),
                                               candidates.size() - 1);
    OpBuilder::InsertionGuard guard(b);
    auto emit = [&](Region &region, int64_t candidate) {
      b.createBlock(&region);
      scf::YieldOp::create(b, loc, body(candidate));
    };
    emit(switchOp.getDefaultRegion(), candidates.front());
    for (auto [region, candidate] :
         llvm::zip_equal(switchOp.getCaseRegions(), candidates.drop_front()))
      emit(region, candidate);
    return SmallVector<Value>(switchOp.getResults());
  }

  /// Emits `body(class)` for the element type class of `tensor`.
  SmallVector<Value>
  switchOnClass(Value tensor, TypeRange types,
                function_ref<SmallVector<Value>(int64_t)> body) {
    SmallVector<int64_t> classes =
        llvm::to_vector(llvm::seq<int64_t>(0, layout.classes.size()));
    Value selector;
    if (classes.size() > 1)
      selector = toIndex(load(global(kTensorClass, tensorClassType()), tensor));
    return switchOn(selector, classes, types, body);
  }

  /// A buffer viewed as memref<?xT>: one type per element type, so one loop
  /// serves every tensor of that type.
  Value flatten(Value buffer) {
    auto type = cast<MemRefType>(buffer.getType());
    Value flat = buffer;
    auto flatType =
        MemRefType::get({type.getNumElements()}, type.getElementType());
    if (type.getRank() == 0) {
      flat = memref::ExpandShapeOp::create(b, loc, flatType, buffer,
                                           ArrayRef<ReassociationIndices>{});
    } else if (type.getRank() > 1) {
      ReassociationIndices all =
          llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
      flat = memref::CollapseShapeOp::create(
          b, loc, buffer, ArrayRef<ReassociationIndices>{all});
    }
    auto dynamicType =
        MemRefType::get({ShapedType::kDynamic}, type.getElementType());
    return memref::CastOp::create(b, loc, dynamicType, flat);
  }

  /// The chunk `chunk` of the tensor of class `cls` that `tensor` names: its
  /// flattened `buffersOf` and its element range [begin, end).
  struct ChunkView {
    SmallVector<Value> buffers;
    Value begin, end;
  };
  ChunkView viewChunk(Value tensor, Value chunk, int64_t cls,
                      function_ref<SmallVector<Value>(int64_t)> buffersOf) {
    SmallVector<int64_t> members;
    for (auto [i, memberClass] : llvm::enumerate(layout.classOf))
      if (memberClass == cls && layout.numElements[i] > 0)
        members.push_back(i);
    Type elementType = layout.classes[cls];
    auto dynamicType = MemRefType::get({ShapedType::kDynamic}, elementType);
    size_t numBuffers = buffersOf(members.front()).size();
    SmallVector<Type> types(numBuffers, dynamicType);
    types.append({b.getIndexType(), b.getIndexType()});
    SmallVector<Value> selected =
        switchOn(tensor, members, types, [&](int64_t i) {
          SmallVector<Value> values;
          for (Value buffer : buffersOf(i))
            values.push_back(flatten(buffer));
          values.push_back(index(layout.chunkBounds[i]));
          values.push_back(index(layout.numElements[i]));
          return values;
        });
    Value firstChunk = selected[numBuffers], numElements = selected.back();
    Value begin = mul(arith::SubIOp::create(b, loc, chunk, firstChunk),
                      index(layout.chunkSize));
    Value end = arith::MinUIOp::create(
        b, loc, add(begin, index(layout.chunkSize)), numElements);
    selected.resize(numBuffers);
    return {selected, begin, end};
  }

  /// Splits the chunk [begin, end) between the block's threads: `vectorLoop`
  /// gets each vector's offset, `scalarLoop` each remaining element (the
  /// tail of a tensor, or all of it when a buffer is misaligned).
  ValueRange
  chunkLoops(Value begin, Value end, int64_t width, Value aligned,
             ValueRange init,
             function_ref<SmallVector<Value>(Value, ValueRange)> vectorBody,
             function_ref<SmallVector<Value>(Value, ValueRange)> scalarBody) {
    Value tid = threadId();
    Value threads = index(layout.blockSize);
    Value length = arith::SubIOp::create(b, loc, end, begin);
    Value numVectors = arith::SelectOp::create(
        b, loc, aligned, arith::DivUIOp::create(b, loc, length, index(width)),
        index(0));
    ValueRange state =
        forLoop(tid, numVectors, threads, init, [&](Value j, ValueRange args) {
          return vectorBody(add(begin, mul(j, index(width))), args);
        });
    Value tailBegin = add(begin, mul(numVectors, index(width)));
    return forLoop(add(tailBegin, tid), end, threads, state, scalarBody);
  }

  MemRefType globalType(int64_t size, Type elementType) {
    return getGlobalMemRefType({size}, elementType);
  }
  MemRefType boundsType() {
    return globalType(layout.getNumTensors() + 1, b.getI64Type());
  }
  MemRefType tensorClassType() {
    return globalType(layout.getNumTensors(), b.getI32Type());
  }
  MemRefType partialsType() {
    return globalType(std::max<int64_t>(layout.getNumChunks(), 1),
                      b.getF64Type());
  }
  MemRefType normsType() {
    return globalType(layout.getNumTensors(), b.getF64Type());
  }
  MemRefType recordsType(const RecordLayout &records) {
    return globalType(layout.getNumTensors() * records.size(), b.getF32Type());
  }
};

} // namespace mlir::gs

#endif // GS_LIB_CONVERSION_GSTOGPU_GROUPKERNELEMITTER_H
