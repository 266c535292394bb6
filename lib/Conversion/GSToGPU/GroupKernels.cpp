//===- GroupKernels.cpp - The kernels of one gs.group_step ----------------===//
//
// Work split: chunks of a fixed size over all tensors of the group; a block
// handles one chunk at a time. The chunk table is static: `gs_chunk_bounds`
// holds the first chunk of each tensor and a chunk finds its tensor by binary
// search. A switch on the tensor id selects its buffers, flattened to
// memref<?xT>, so the loop code exists once per element type, not per tensor.
//
// Determinism: every sum has a fixed shape. A thread adds its elements in
// order, a warp combines lanes with a butterfly of shuffles, a block adds its
// warps' sums in order and stores one partial per chunk, and the scalars
// kernel adds a tensor's partials lane-strided then by butterfly. The grid
// size changes only which block handles a chunk, never how it is summed.
//
//===----------------------------------------------------------------------===//

#include "GroupKernels.h"

#include "gs/Dialect/GS/Utils/StepUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace mlir::gs;

static constexpr int64_t kWarpSize = 32;
/// Bytes of one vector load or store: the widest global access of NVIDIA
/// GPUs (ld.global.v4.b32).
static constexpr int64_t kVectorBytes = 16;

static constexpr StringLiteral kChunkBounds = "gs_chunk_bounds";
static constexpr StringLiteral kTensorClass = "gs_tensor_class";
static constexpr StringLiteral kPartials = "gs_partials";
static constexpr StringLiteral kNorms = "gs_norms";
static constexpr StringLiteral kRecords = "gs_records";

GroupLayout::GroupLayout(GroupStepOp op, int64_t chunkSize, int64_t blockSize)
    : chunkSize(chunkSize), blockSize(blockSize) {
  chunkBounds.push_back(0);
  for (Value grad : op.getGrads()) {
    auto type = cast<RankedTensorType>(grad.getType());
    int64_t n = type.getNumElements();
    numElements.push_back(n);
    elementTypes.push_back(type.getElementType());
    chunkBounds.push_back(chunkBounds.back() + llvm::divideCeil(n, chunkSize));
    // A tensor without elements owns no chunk, so its element type gets no
    // loop code: a class is never without members (its class id is unused).
    if (n == 0) {
      classOf.push_back(0);
      continue;
    }
    auto *it = llvm::find(classes, type.getElementType());
    classOf.push_back(it - classes.begin());
    if (it == classes.end())
      classes.push_back(type.getElementType());
  }
}

namespace {
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
struct KernelEmitter {
  OpBuilder &b;
  Location loc;
  const GroupLayout &layout;

  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value i32(int64_t value) {
    return arith::ConstantIntOp::create(b, loc, b.getI32Type(), value);
  }
  Value f32(double value) {
    return buildFloatConstant(b, loc, b.getF32Type(), value);
  }
  Value add(Value x, Value y) {
    if (isa<FloatType>(getElementTypeOrSelf(x.getType())))
      return arith::AddFOp::create(b, loc, x, y);
    return arith::AddIOp::create(b, loc, x, y);
  }
  Value mul(Value x, Value y) {
    if (isa<FloatType>(getElementTypeOrSelf(x.getType())))
      return arith::MulFOp::create(b, loc, x, y);
    return arith::MulIOp::create(b, loc, x, y);
  }
  Value cmp(arith::CmpIPredicate predicate, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, predicate, x, y);
  }
  Value toIndex(Value value) {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), value);
  }
  Value global(StringRef name, MemRefType type) {
    return memref::GetGlobalOp::create(b, loc, type, name);
  }
  Value load(Value memref, ValueRange indices) {
    return memref::LoadOp::create(b, loc, memref, indices);
  }
  void store(Value value, Value memref, ValueRange indices) {
    memref::StoreOp::create(b, loc, value, memref, indices);
  }
  Value threadId() {
    return gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  }
  /// Emits `body` under `if (condition)`.
  void ifThen(Value condition, function_ref<void()> body) {
    auto ifOp = scf::IfOp::create(b, loc, condition, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    body();
  }
  /// Emits `for (i = lb; i < ub; i += step)` carrying `init`; `body` returns
  /// the next values.
  ValueRange forLoop(Value lb, Value ub, Value step, ValueRange init,
                     function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    auto loop = scf::ForOp::create(b, loc, lb, ub, step, init);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    SmallVector<Value> next =
        body(loop.getInductionVar(), loop.getRegionIterArgs());
    // Without iter_args the builder already added the terminator.
    if (!init.empty())
      scf::YieldOp::create(b, loc, next);
    return loop.getResults();
  }

  /// The sum of `value` over the warp, by a butterfly of shuffles; every
  /// lane gets the same bits since each adds the same pairs.
  Value warpSum(Value value) {
    for (int64_t offset = kWarpSize / 2; offset >= 1; offset /= 2) {
      auto shuffle = gpu::ShuffleOp::create(b, loc, value, offset, kWarpSize,
                                            gpu::ShuffleMode::XOR);
      value = add(value, shuffle.getShuffleResult());
    }
    return value;
  }

  /// Emits the grid-stride loop over the group's chunks (block b handles
  /// chunks b, b + gridDim, ...); `body` gets each chunk and its tensor.
  void forEachChunk(function_ref<void(Value chunk, Value tensor)> body) {
    // A group without elements has no chunk (and no element type class).
    if (layout.getNumChunks() == 0)
      return;
    Value firstBlock = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
    Value numBlocks = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
    forLoop(firstBlock, index(layout.getNumChunks()), numBlocks, {},
            [&](Value chunk, ValueRange) {
              body(chunk, findTensor(chunk));
              return SmallVector<Value>{};
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

  /// i1: every buffer starts at a 16-byte boundary, so (chunk offsets being
  /// multiples of the vector width) every vector access is aligned.
  Value allAligned(ValueRange buffers) {
    Value bits = index(0);
    for (Value buffer : buffers) {
      Value address =
          memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
      bits = arith::OrIOp::create(b, loc, bits, address);
    }
    Value low = arith::AndIOp::create(b, loc, bits, index(kVectorBytes - 1));
    return cmp(arith::CmpIPredicate::eq, low, index(0));
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
    return MemRefType::get(
        {size}, elementType, MemRefLayoutAttrInterface(),
        gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Global));
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
} // namespace

MemRefType mlir::gs::getKernelBufferType(Type tensorType) {
  auto tensor = cast<RankedTensorType>(tensorType);
  if (tensor.getNumElements() == 0 && tensor.getRank() != 1)
    return MemRefType::get({0}, tensor.getElementType());
  return MemRefType::get(tensor.getShape(), tensor.getElementType());
}

static MemRefType bufferType(Type tensorType) {
  return getKernelBufferType(tensorType);
}

static SmallVector<Type> bufferTypes(TypeRange tensorTypes) {
  return llvm::map_to_vector(tensorTypes,
                             [](Type t) -> Type { return bufferType(t); });
}

/// Elements of `elementType` in one 16-byte vector.
static int64_t vectorWidth(Type elementType) {
  return kVectorBytes * 8 / elementType.getIntOrFloatBitWidth();
}

/// Creates an empty kernel taking `argTypes`, launched with `blockSize`
/// threads, with `workgroup` shared memory; the builder is left in its body.
static gpu::GPUFuncOp createKernel(OpBuilder &b, Location loc, StringRef name,
                                   TypeRange argTypes, int64_t blockSize,
                                   TypeRange workgroup) {
  auto func = gpu::GPUFuncOp::create(
      b, loc, name, b.getFunctionType(argTypes, {}), workgroup);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(blockSize), 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());
  return func;
}

/// Shared memory of `size` elements of `type`.
static MemRefType workgroupType(OpBuilder &b, int64_t size, Type type) {
  return MemRefType::get(
      {size}, type, MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
}

/// norms(grads...): one partial sum of squares (f64) per chunk.
static gpu::GPUFuncOp buildNormsKernel(OpBuilder &b, Location loc,
                                       GroupStepOp op,
                                       const GroupLayout &layout) {
  OpBuilder::InsertionGuard guard(b);
  int64_t numWarps = layout.blockSize / kWarpSize;
  Type f64 = b.getF64Type();
  gpu::GPUFuncOp func =
      createKernel(b, loc, "norms", bufferTypes(op.getGrads().getTypes()),
                   layout.blockSize, workgroupType(b, numWarps, f64));
  KernelEmitter e{b, loc, layout};
  Value shared = func.getWorkgroupAttributions().front();
  ValueRange grads = func.getArguments();

  Value tid = e.threadId();
  Value lane = arith::RemUIOp::create(b, loc, tid, e.index(kWarpSize));
  Value warp = arith::DivUIOp::create(b, loc, tid, e.index(kWarpSize));
  Value partials = e.global(kPartials, e.partialsType());
  e.forEachChunk([&](Value chunk, Value tensor) {
    Value sum =
        e.switchOnClass(tensor, f64, [&](int64_t cls) {
           KernelEmitter::ChunkView view =
               e.viewChunk(tensor, chunk, cls, [&](int64_t i) {
                 return SmallVector<Value>{grads[i]};
               });
           Type elementType = layout.classes[cls];
           int64_t width = vectorWidth(elementType);
           auto loadType = VectorType::get({width}, elementType);
           Value grad = view.buffers.front();
           // Vector lanes and leftover elements accumulate apart;
           // squares of f32 values cannot overflow or underflow in f64.
           Value init[] = {
               buildFloatConstant(b, loc, VectorType::get({width}, f64), 0.0),
               buildFloatConstant(b, loc, f64, 0.0)};
           ValueRange sums = e.chunkLoops(
               view.begin, view.end, width, e.allAligned(grad), init,
               [&](Value offset, ValueRange acc) {
                 Value x = buildFloatCast(
                     b, loc,
                     vector::LoadOp::create(b, loc, loadType, grad, offset,
                                            false, llvm::Align(kVectorBytes)),
                     f64);
                 return SmallVector<Value>{e.add(acc[0], e.mul(x, x)), acc[1]};
               },
               [&](Value i, ValueRange acc) {
                 Value x = buildFloatCast(b, loc, e.load(grad, i), f64);
                 return SmallVector<Value>{acc[0], e.add(acc[1], e.mul(x, x))};
               });
           Value lanes = vector::ReductionOp::create(
               b, loc, vector::CombiningKind::ADD, sums[0]);
           return SmallVector<Value>{e.add(lanes, sums[1])};
         }).front();

    // Block sum: warps by shuffles, then the warps in order.
    Value warpTotal = e.warpSum(sum);
    e.ifThen(e.cmp(arith::CmpIPredicate::eq, lane, e.index(0)),
             [&] { e.store(warpTotal, shared, warp); });
    gpu::BarrierOp::create(b, loc);
    Value total = e.load(shared, e.index(0));
    for (int64_t w = 1; w < numWarps; ++w)
      total = e.add(total, e.load(shared, e.index(w)));
    e.ifThen(e.cmp(arith::CmpIPredicate::eq, tid, e.index(0)),
             [&] { e.store(total, partials, chunk); });
    // `shared` is reused by the next chunk.
    gpu::BarrierOp::create(b, loc);
  });
  gpu::ReturnOp::create(b, loc);
  return func;
}

/// scalars(stats, counts, steps, [inv_scale], [found_inf], lr, wd), one
/// block: each tensor's norm from its partials, the group-wide skip, the GS
/// math and the optimizer's step scalars. Also returns the record layout.
static std::pair<gpu::GPUFuncOp, RecordLayout>
buildScalarsKernel(OpBuilder &b, Location loc, GroupStepOp op,
                   const GroupLayout &layout) {
  OpBuilder::InsertionGuard guard(b);
  int64_t numWarps = layout.blockSize / kWarpSize;
  int64_t n = layout.getNumTensors();
  Type f64 = b.getF64Type(), f32 = b.getF32Type();
  SmallVector<Type> argTypes =
      bufferTypes({op.getStats().getType(), op.getCounts().getType(),
                   op.getSteps().getType()});
  if (op.getInvScale())
    argTypes.push_back(bufferType(op.getInvScale().getType()));
  if (op.getFoundInf())
    argTypes.push_back(bufferType(op.getFoundInf().getType()));
  argTypes.append({f64, f64});
  gpu::GPUFuncOp func =
      createKernel(b, loc, "scalars", argTypes, layout.blockSize,
                   workgroupType(b, 1, b.getI32Type()));
  KernelEmitter e{b, loc, layout};
  Value flag = func.getWorkgroupAttributions().front();
  ValueRange args = func.getArguments();
  Value stats = args[0], counts = args[1], steps = args[2];
  unsigned next = 3;
  Value invScaleBuffer = op.getInvScale() ? args[next++] : Value();
  Value foundInfBuffer = op.getFoundInf() ? args[next++] : Value();
  Value lr = args[next], weightDecay = args[next + 1];

  Value tid = e.threadId();
  Value lane = arith::RemUIOp::create(b, loc, tid, e.index(kWarpSize));
  Value warp = arith::DivUIOp::create(b, loc, tid, e.index(kWarpSize));
  Value zero = e.index(0), one = e.index(1);
  e.ifThen(e.cmp(arith::CmpIPredicate::eq, tid, zero),
           [&] { e.store(e.i32(0), flag, zero); });
  gpu::BarrierOp::create(b, loc);

  Value invScale;
  if (invScaleBuffer)
    invScale = arith::ExtFOp::create(b, loc, f64,
                                     e.load(invScaleBuffer, ValueRange{}));
  Value bounds = e.global(kChunkBounds, e.boundsType());
  Value partials = e.global(kPartials, e.partialsType());
  Value norms = e.global(kNorms, e.normsType());

  // A warp per tensor adds its partials: lane-strided, then by butterfly.
  e.forLoop(warp, e.index(n), e.index(numWarps), {}, [&](Value t, ValueRange) {
    Value first = e.toIndex(e.load(bounds, t));
    Value end = e.toIndex(e.load(bounds, e.add(t, one)));
    Value sum = e.forLoop(e.add(first, lane), end, e.index(kWarpSize),
                          ValueRange{buildFloatConstant(b, loc, f64, 0.0)},
                          [&](Value j, ValueRange acc) {
                            return SmallVector<Value>{
                                e.add(acc[0], e.load(partials, j))};
                          })
                    .front();
    Value norm = math::SqrtOp::create(b, loc, e.warpSum(sum));
    if (invScale)
      norm = e.mul(norm, invScale);
    e.ifThen(e.cmp(arith::CmpIPredicate::eq, lane, zero), [&] {
      e.store(norm, norms, t);
      // With a loss scale, any non-finite gradient skips the step.
      if (invScale)
        e.ifThen(buildIsNonFinite(b, loc, norm),
                 [&] { e.store(e.i32(1), flag, zero); });
    });
    return SmallVector<Value>{};
  });
  gpu::BarrierOp::create(b, loc);

  Value skipAll = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
  if (invScale)
    skipAll = e.cmp(arith::CmpIPredicate::ne, e.load(flag, zero), e.i32(0));
  if (foundInfBuffer)
    skipAll = arith::OrIOp::create(
        b, loc, skipAll,
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE,
                              e.load(foundInfBuffer, ValueRange{}),
                              e.f32(0.0)));
  Value runStep = arith::XOrIOp::create(
      b, loc, skipAll, arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1));

  // A thread per tensor: GS math, new state, record for the update kernel.
  RecordLayout records{
      op.getStabilizer().getOnNonfinite() == NonFinitePolicy::Zero, 0};
  e.forLoop(
      tid, e.index(n), e.index(layout.blockSize), {}, [&](Value t, ValueRange) {
        GroupTensorUpdate update = buildGroupTensorUpdate(
            b, loc, op.getStabilizer(), e.load(norms, t), invScale, runStep,
            e.load(stats, {t, zero}), e.load(stats, {t, one}),
            e.load(counts, {t, zero}), e.load(counts, {t, one}),
            e.load(steps, t));
        Value oldStep = e.load(steps, t);
        e.store(update.m, stats, {t, zero});
        e.store(update.v, stats, {t, one});
        e.store(update.k, counts, {t, zero});
        e.store(update.skipped, counts, {t, one});
        e.store(update.step, steps, t);

        Value nextStep = e.add(
            oldStep, arith::ConstantIntOp::create(b, loc, b.getI64Type(), 1));
        SmallVector<Value> scalars = op.getOptimizer().buildStepScalars(
            b, loc, nextStep, lr, weightDecay);
        records.numScalars = scalars.size();
        Value recordBuffer = e.global(kRecords, e.recordsType(records));
        Value base = e.mul(t, e.index(records.size()));
        auto put = [&](int64_t field, Value value) {
          e.store(value, recordBuffer, e.add(base, e.index(field)));
        };
        auto flagValue = [&](Value bit) -> Value {
          return arith::SelectOp::create(b, loc, bit, e.f32(1.0), e.f32(0.0));
        };
        put(records.enabled(), flagValue(update.enabled));
        // Rounded once to f32, as every lowering does, and split so that
        // c/n beyond f32's range (all-subnormal gradients) stays finite.
        auto [prefactor, factor] = buildF32FactorPair(b, loc, update.factor);
        put(records.prefactor(), prefactor);
        put(records.factor(), factor);
        if (records.hasZeroGrad)
          put(records.zeroGrad(), flagValue(update.zeroGrad));
        for (auto [i, scalar] : llvm::enumerate(scalars))
          put(records.scalar(i), buildFloatCast(b, loc, scalar, f32));
        return SmallVector<Value>{};
      });
  gpu::ReturnOp::create(b, loc);
  return {func, records};
}

/// update(params..., grads..., moments...): the fused element update of every
/// chunk whose tensor the scalars kernel enabled.
static gpu::GPUFuncOp buildUpdateKernel(OpBuilder &b, Location loc,
                                        GroupStepOp op,
                                        const GroupLayout &layout,
                                        const RecordLayout &records) {
  OpBuilder::InsertionGuard guard(b);
  int64_t n = layout.getNumTensors();
  unsigned numMoments = op.getOptimizer().getNumMoments();
  Type f32 = b.getF32Type();
  SmallVector<Type> argTypes = bufferTypes(op.getParams().getTypes());
  llvm::append_range(argTypes, bufferTypes(op.getGrads().getTypes()));
  llvm::append_range(argTypes, bufferTypes(op.getMoments().getTypes()));
  gpu::GPUFuncOp func =
      createKernel(b, loc, "update", argTypes, layout.blockSize, {});
  KernelEmitter e{b, loc, layout};
  ValueRange args = func.getArguments();
  // Tensor i's buffers: param, grad, then its moments.
  auto buffersOf = [&](int64_t i) {
    SmallVector<Value> buffers = {args[i], args[n + i]};
    llvm::append_range(buffers, args.slice(2 * n + i * numMoments, numMoments));
    return buffers;
  };

  Value recordBuffer = e.global(kRecords, e.recordsType(records));
  e.forEachChunk([&](Value chunk, Value tensor) {
    Value base = e.mul(tensor, e.index(records.size()));
    auto get = [&](int64_t field) {
      return e.load(recordBuffer, e.add(base, e.index(field)));
    };
    auto isSet = [&](Value value) -> Value {
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, value,
                                   e.f32(0.0));
    };
    e.ifThen(isSet(get(records.enabled())), [&] {
      Value prefactor = get(records.prefactor());
      Value factor = get(records.factor());
      Value zeroGrad =
          records.hasZeroGrad ? isSet(get(records.zeroGrad())) : Value();
      SmallVector<Value> scalars;
      for (int64_t i = 0; i < records.numScalars; ++i)
        scalars.push_back(get(records.scalar(i)));

      e.switchOnClass(tensor, {}, [&](int64_t cls) {
        KernelEmitter::ChunkView view =
            e.viewChunk(tensor, chunk, cls, buffersOf);
        Type elementType = layout.classes[cls];
        int64_t width = vectorWidth(elementType);
        auto loadType = VectorType::get({width}, elementType);
        auto computeType = VectorType::get({width}, f32);
        auto splat = [&](Value scalar) -> Value {
          return vector::BroadcastOp::create(b, loc, computeType, scalar);
        };
        SmallVector<Value> vectorScalars = llvm::map_to_vector(scalars, splat);
        Value vectorPrefactor = splat(prefactor);
        Value vectorFactor = splat(factor);

        // Reads every buffer, updates, writes param and moments.
        auto step = [&](function_ref<Value(Value)> read,
                        function_ref<void(Value, Value)> write,
                        ValueRange stepScalars, Value stepPrefactor,
                        Value stepFactor) {
          SmallVector<Value> values =
              llvm::map_to_vector(view.buffers, [&](Value buffer) {
                return buildFloatCast(b, loc, read(buffer), f32);
              });
          SmallVector<Value> results = buildStabilizedElementUpdate(
              b, loc, op.getOptimizer(), stepScalars, stepPrefactor, stepFactor,
              zeroGrad, values[0], values[1], ArrayRef(values).drop_front(2));
          write(results[0], view.buffers[0]);
          for (unsigned m = 0; m < numMoments; ++m)
            write(results[1 + m], view.buffers[2 + m]);
        };
        e.chunkLoops(
            view.begin, view.end, width, e.allAligned(view.buffers), {},
            [&](Value offset, ValueRange) {
              step(
                  [&](Value buffer) -> Value {
                    return vector::LoadOp::create(b, loc, loadType, buffer,
                                                  offset, false,
                                                  llvm::Align(kVectorBytes));
                  },
                  [&](Value value, Value buffer) {
                    vector::StoreOp::create(
                        b, loc, buildFloatCast(b, loc, value, elementType),
                        buffer, offset, false, llvm::Align(kVectorBytes));
                  },
                  vectorScalars, vectorPrefactor, vectorFactor);
              return SmallVector<Value>{};
            },
            [&](Value i, ValueRange) {
              step([&](Value buffer) { return e.load(buffer, i); },
                   [&](Value value, Value buffer) {
                     e.store(buildFloatCast(b, loc, value, elementType), buffer,
                             i);
                   },
                   scalars, prefactor, factor);
              return SmallVector<Value>{};
            });
        return SmallVector<Value>{};
      });
    });
  });
  gpu::ReturnOp::create(b, loc);
  return func;
}

/// Declares a device global of `type`, initialized with `values` (i64 or
/// i32 constants) or uninitialized.
static void createGlobal(OpBuilder &b, Location loc, StringRef name,
                         MemRefType type, ArrayRef<int64_t> values = {}) {
  Attribute initial = b.getUnitAttr();
  UnitAttr constant;
  if (!values.empty()) {
    auto tensorType =
        RankedTensorType::get(type.getShape(), type.getElementType());
    SmallVector<APInt> data = llvm::map_to_vector(values, [&](int64_t v) {
      return APInt(type.getElementTypeBitWidth(), v, /*isSigned=*/true);
    });
    initial = DenseElementsAttr::get(tensorType, data);
    constant = b.getUnitAttr();
  }
  memref::GlobalOp::create(b, loc, b.getStringAttr(name),
                           b.getStringAttr("private"), TypeAttr::get(type),
                           initial, constant, IntegerAttr());
}

GroupKernels mlir::gs::buildGroupKernels(OpBuilder &builder, GroupStepOp op,
                                         gpu::GPUModuleOp module,
                                         const GroupLayout &layout) {
  OpBuilder::InsertionGuard guard(builder);
  Location loc = op.getLoc();
  builder.setInsertionPointToEnd(module.getBody());
  KernelEmitter e{builder, loc, layout};
  // Kernels first: the record size is known once the scalars are built.
  GroupKernels kernels;
  kernels.norms = buildNormsKernel(builder, loc, op, layout);
  RecordLayout records;
  std::tie(kernels.scalars, records) =
      buildScalarsKernel(builder, loc, op, layout);
  kernels.update = buildUpdateKernel(builder, loc, op, layout, records);

  builder.setInsertionPointToStart(module.getBody());
  createGlobal(builder, loc, kChunkBounds, e.boundsType(), layout.chunkBounds);
  if (layout.classes.size() > 1)
    createGlobal(builder, loc, kTensorClass, e.tensorClassType(),
                 layout.classOf);
  createGlobal(builder, loc, kPartials, e.partialsType());
  createGlobal(builder, loc, kNorms, e.normsType());
  createGlobal(builder, loc, kRecords, e.recordsType(records));
  return kernels;
}
