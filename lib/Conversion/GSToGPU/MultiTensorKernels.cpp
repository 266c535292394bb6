//===- MultiTensorKernels.cpp - Kernels of a gs.multi_tensor_step ---------===//
//
// The GPU mapping of a multi-tensor step (MultiTensorUtils.h): a worker is a
// block. Block b handles chunks b, b + gridDim, ...; a chunk finds its
// tensor by binary search over the run-time chunk offsets, and the block's
// threads share it through ChunkWalk: thread i takes vectors i, i +
// blockDim, ... (16-byte accesses when every buffer of the tensor is 16-byte
// aligned), then the remaining elements the same way.
//
// Determinism: a thread adds its elements in a fixed order, the block adds
// its threads' sums by KernelBuilder::blockSum (warp butterfly, warps in
// order) into one partial per chunk, and the scalars kernel adds a tensor's
// partials lane-strided then by butterfly. Which block handles a chunk never
// changes how it is summed, so every grid size gives the same bits.
//
// Each buffer reaches the kernels as its device address (an i64) and is
// viewed there with gs.view_address in the global address space: kernel
// memrefs of dynamic shape have no bare-pointer form, and the parameter list
// stays the same whatever N.
//
//===----------------------------------------------------------------------===//

#include "MultiTensorKernels.h"
#include "KernelBuilder.h"

#include "gs/Dialect/GS/Utils/MultiTensorUtils.h"
#include "gs/Dialect/GS/Utils/StepUtils.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::gs;

Value mlir::gs::getStepBuffer(MultiTensorStepOp op, StepBuffer buffer) {
  switch (buffer) {
  case StepBuffer::Table:
    return op.getTable();
  case StepBuffer::ChunkOffsets:
    return op.getChunkOffsets();
  case StepBuffer::Hyper:
    return op.getHyper();
  case StepBuffer::Stats:
    return op.getStats();
  case StepBuffer::Counts:
    return op.getCounts();
  case StepBuffer::Steps:
    return op.getSteps();
  case StepBuffer::Partials:
    return op.getPartials();
  case StepBuffer::Records:
    return op.getRecords();
  case StepBuffer::InvScale:
    return op.getInvScale();
  case StepBuffer::FoundInf:
    return op.getFoundInf();
  }
  llvm_unreachable("unknown step buffer");
}

namespace {
/// The op's buffers as the kernel sees them: global-memory memrefs over the
/// addresses it was passed. Absent ones are null.
struct StepViews {
  Value table, chunkOffsets, hyper, stats, counts, steps, partials, records,
      invScale, foundInf;
  /// N (index) and the total number of chunks, chunk_offsets[N] (index).
  Value numTensors, numChunks;
};

/// Emits the kernels of one multi-tensor step.
struct MultiTensorKernelEmitter : KernelBuilder {
  MultiTensorStepOp op;
  int64_t blockSize;
  StringRef namePrefix;

  MultiTensorKernelEmitter(OpBuilder &b, MultiTensorStepOp op,
                           int64_t blockSize, StringRef namePrefix)
      : KernelBuilder{b, op.getLoc()}, op(op), blockSize(blockSize),
        namePrefix(namePrefix) {}

  /// The name of the `kind` kernel (see buildMultiTensorKernels).
  std::string kernelName(StringRef kind) {
    if (namePrefix.empty())
      return kind.str();
    if (op.getPhase() != StepPhase::All)
      return namePrefix.str();
    return (namePrefix + "_" + kind).str();
  }

  int64_t getNumWarps() const { return blockSize / kWarpSize; }
  Type getElementType() { return op.getElementType(); }

  /// The `rows` x `columns` (or `rows` when `columns` is 0) buffer of
  /// `elementType` at `address`.
  Value view(Value address, Type elementType, Value rows, int64_t columns) {
    Value length = columns ? mul(rows, index(columns)) : rows;
    Value flat = ViewAddressOp::create(
        b, loc, getGlobalMemRefType({ShapedType::kDynamic}, elementType),
        address, length);
    if (!columns)
      return flat;
    return memref::ReinterpretCastOp::create(
        b, loc,
        getGlobalMemRefType({ShapedType::kDynamic, columns}, elementType), flat,
        b.getIndexAttr(0),
        ArrayRef<OpFoldResult>{rows, b.getIndexAttr(columns)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(columns), b.getIndexAttr(1)});
  }

  /// The `rows` x `columns` table at `address`, `columns` known at run
  /// time only: a norms kernel serves every optimizer's table.
  Value viewTable(Value address, Value rows, Value columns) {
    Type i64 = b.getI64Type();
    Value flat = ViewAddressOp::create(
        b, loc, getGlobalMemRefType({ShapedType::kDynamic}, i64), address,
        mul(rows, columns));
    return memref::ReinterpretCastOp::create(
        b, loc,
        getGlobalMemRefType({ShapedType::kDynamic, ShapedType::kDynamic}, i64),
        flat, b.getIndexAttr(0), ArrayRef<OpFoldResult>{rows, columns},
        ArrayRef<OpFoldResult>{columns, b.getIndexAttr(1)});
  }

  /// Creates kernel `name` taking `buffers`, N and, with the table, its
  /// number of columns; views its arguments into `v`.
  MultiTensorKernel createStepKernel(StringRef name,
                                     ArrayRef<StepBuffer> buffers,
                                     TypeRange workgroup, StepViews &v) {
    bool readsTable = llvm::is_contained(buffers, StepBuffer::Table);
    SmallVector<Type> argTypes(buffers.size(), b.getI64Type());
    argTypes.push_back(b.getIndexType());
    if (readsTable)
      argTypes.push_back(b.getIndexType());
    gpu::GPUFuncOp func =
        createKernel(b, loc, kernelName(name), argTypes, blockSize, workgroup);
    Value n = func.getArgument(buffers.size());
    v.numTensors = n;
    auto argOf = [&](StepBuffer buffer) -> Value {
      const auto *it = llvm::find(buffers, buffer);
      return it == buffers.end() ? Value()
                                 : func.getArgument(it - buffers.begin());
    };
    Type f64 = b.getF64Type(), f32 = b.getF32Type(), i64 = b.getI64Type();
    // Chunk offsets first: they size the partials.
    if (Value a = argOf(StepBuffer::ChunkOffsets)) {
      v.chunkOffsets = view(a, i64, add(n, index(1)), 0);
      v.numChunks = toIndex(load(v.chunkOffsets, n));
    }
    if (Value a = argOf(StepBuffer::Table))
      v.table = viewTable(a, n, func.getArgument(buffers.size() + 1));
    if (Value a = argOf(StepBuffer::Hyper))
      v.hyper = view(a, f64, index(op.getHyperSize()), 0);
    if (Value a = argOf(StepBuffer::Stats))
      v.stats = view(a, f64, n, 2);
    if (Value a = argOf(StepBuffer::Counts))
      v.counts = view(a, i64, n, 2);
    if (Value a = argOf(StepBuffer::Steps))
      v.steps = view(a, i64, n, 0);
    if (Value a = argOf(StepBuffer::Partials))
      v.partials = view(a, f64, v.numChunks, 0);
    if (Value a = argOf(StepBuffer::Records))
      v.records =
          view(a, f32, mul(n, index(MultiTensorStepOp::kRecordWords)), 0);
    if (Value a = argOf(StepBuffer::InvScale))
      v.invScale = view(a, f32, index(1), 0);
    if (Value a = argOf(StepBuffer::FoundInf))
      v.foundInf = view(a, f32, index(1), 0);
    return {func, llvm::to_vector(buffers)};
  }

  TensorTableReader tableReader(const StepViews &v) {
    return {b,
            loc,
            v.table,
            v.chunkOffsets,
            static_cast<int64_t>(op.getChunkSize()),
            getElementType(),
            cast<MemRefType>(v.table.getType()).getMemorySpace()};
  }

  /// The block's threads sharing the chunk [range.first, range.second) of a
  /// tensor of `elementType` whose buffers are `buffers`.
  ChunkWalk walk(std::pair<Value, Value> range, ValueRange buffers,
                 Type elementType) {
    int64_t width = getVectorWidth(elementType);
    // Vectors stay aligned from chunk to chunk only if a chunk is a whole
    // number of them; otherwise every access is element-wise.
    int64_t chunkBytes =
        op.getChunkSize() * (elementType.getIntOrFloatBitWidth() / 8);
    Value vectorize =
        chunkBytes % kVectorBytes == 0
            ? allAligned(buffers)
            : arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
    Value numThreads = gpu::BlockDimOp::create(b, loc, gpu::Dimension::x);
    return {range.first,  range.second, width,     vectorize,
            kVectorBytes, threadId(),   numThreads};
  }

  MultiTensorKernel buildNorms() {
    OpBuilder::InsertionGuard guard(b);
    StepViews v;
    MultiTensorKernel kernel = createStepKernel(
        "norms",
        {StepBuffer::Table, StepBuffer::ChunkOffsets, StepBuffer::Partials},
        getWorkgroupMemRefType(getNumWarps(), b.getF64Type()), v);
    Value shared = kernel.func.getWorkgroupAttributions().front();
    TensorTableReader reader = tableReader(v);
    Value tid = threadId();
    forEachChunk(v.numChunks, [&](Value chunk) {
      Value t = reader.findTensor(chunk, v.numTensors);
      // The whole block takes the same case: the chunk is the block's.
      buildForRowElementType(b, loc, op, v.table, t, [&](Type type) {
        reader.elementType = type;
        Value grad = reader.view(t, kGradColumn);
        Value sum = buildChunkSumOfSquares(
            b, loc, walk(reader.chunkRange(t, chunk), grad, type), grad);
        Value total = blockSum(sum, shared, getNumWarps());
        ifThen(cmp(arith::CmpIPredicate::eq, tid, index(0)),
               [&] { store(total, v.partials, chunk); });
      });
      // `shared` is reused by the next chunk.
      gpu::BarrierOp::create(b, loc);
    });
    gpu::ReturnOp::create(b, loc);
    return kernel;
  }

  /// sqrt of the sum of tensor t's partials (times `invScale` if given),
  /// added by one warp: lane-strided, then by butterfly. Every lane gets the
  /// same bits.
  Value tensorNorm(const StepViews &v, Value t, Value lane, Value invScale) {
    Value first = toIndex(load(v.chunkOffsets, t));
    Value end = toIndex(load(v.chunkOffsets, add(t, index(1))));
    Value zero = buildFloatConstant(b, loc, b.getF64Type(), 0.0);
    Value sum =
        forLoop(add(first, lane), end, index(kWarpSize), zero,
                [&](Value j, ValueRange acc) {
                  return SmallVector<Value>{add(acc[0], load(v.partials, j))};
                })
            .front();
    Value norm = math::SqrtOp::create(b, loc, warpSum(sum));
    return invScale ? mul(norm, invScale) : norm;
  }

  MultiTensorKernel buildScalars() {
    OpBuilder::InsertionGuard guard(b);
    SmallVector<StepBuffer> buffers = {
        StepBuffer::ChunkOffsets, StepBuffer::Hyper, StepBuffer::Stats,
        StepBuffer::Counts,       StepBuffer::Steps, StepBuffer::Partials,
        StepBuffer::Records};
    if (op.getInvScale())
      buffers.push_back(StepBuffer::InvScale);
    if (op.getFoundInf())
      buffers.push_back(StepBuffer::FoundInf);
    // Shared memory: the skip flag that a loss scale needs.
    SmallVector<Type> workgroup;
    if (op.getInvScale())
      workgroup.push_back(getWorkgroupMemRefType(1, b.getI32Type()));
    StepViews v;
    MultiTensorKernel kernel =
        createStepKernel("scalars", buffers, workgroup, v);
    Type i1 = b.getI1Type();
    Value tid = threadId();
    Value lane = arith::RemUIOp::create(b, loc, tid, index(kWarpSize));
    Value warp = arith::DivUIOp::create(b, loc, tid, index(kWarpSize));
    Value zero = index(0), numWarps = index(getNumWarps());

    StepHyperparameters hyper = readHyperparameters(b, loc, op, v.hyper);
    Value invScale;
    if (v.invScale)
      invScale =
          arith::ExtFOp::create(b, loc, b.getF64Type(), load(v.invScale, zero));
    Value skipAll = arith::ConstantIntOp::create(b, loc, i1, 0);
    // With a loss scale, any non-finite gradient skips the whole step: a
    // first pass over the norms raises the block's flag.
    if (invScale) {
      Value flag = kernel.func.getWorkgroupAttributions().front();
      ifThen(cmp(arith::CmpIPredicate::eq, tid, zero),
             [&] { store(i32(0), flag, zero); });
      gpu::BarrierOp::create(b, loc);
      forLoop(warp, v.numTensors, numWarps, {}, [&](Value t, ValueRange) {
        Value norm = tensorNorm(v, t, lane, invScale);
        ifThen(cmp(arith::CmpIPredicate::eq, lane, zero), [&] {
          ifThen(buildIsNonFinite(b, loc, norm),
                 [&] { store(i32(1), flag, zero); });
        });
        return SmallVector<Value>{};
      });
      gpu::BarrierOp::create(b, loc);
      skipAll = cmp(arith::CmpIPredicate::ne, load(flag, zero), i32(0));
    }
    if (v.foundInf)
      skipAll = arith::OrIOp::create(
          b, loc, skipAll,
          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE,
                                load(v.foundInf, zero), f32(0.0)));
    Value runStep = arith::XOrIOp::create(
        b, loc, skipAll, arith::ConstantIntOp::create(b, loc, i1, 1));

    // Tiles of 32 tensors per warp: the warp adds the partials of each
    // tensor of its tile in turn (the same bits as above), lane k keeps
    // tensor k's norm, then every lane runs the GS math of its tensor.
    Value tileSize = index(kWarpSize);
    Value f64Zero = buildFloatConstant(b, loc, b.getF64Type(), 0.0);
    forLoop(mul(warp, tileSize), v.numTensors, index(kWarpSize * getNumWarps()),
            {}, [&](Value first, ValueRange) {
              Value count = arith::MinUIOp::create(
                  b, loc, arith::SubIOp::create(b, loc, v.numTensors, first),
                  tileSize);
              Value norm =
                  forLoop(zero, count, index(1), f64Zero,
                          [&](Value k, ValueRange mine) {
                            Value norm =
                                tensorNorm(v, add(first, k), lane, invScale);
                            Value isMine =
                                cmp(arith::CmpIPredicate::eq, lane, k);
                            return SmallVector<Value>{arith::SelectOp::create(
                                b, loc, isMine, norm, mine[0])};
                          })
                      .front();
              ifThen(cmp(arith::CmpIPredicate::ult, lane, count), [&] {
                buildTensorScalars(b, loc, op, hyper, v.stats, v.counts,
                                   v.steps, v.records, add(first, lane), norm,
                                   invScale, runStep);
              });
              return SmallVector<Value>{};
            });
    gpu::ReturnOp::create(b, loc);
    return kernel;
  }

  MultiTensorKernel buildUpdate() {
    OpBuilder::InsertionGuard guard(b);
    StepViews v;
    MultiTensorKernel kernel = createStepKernel(
        "update",
        {StepBuffer::Table, StepBuffer::ChunkOffsets, StepBuffer::Records}, {},
        v);
    OptimizerAttrInterface optimizer = op.getOptimizer();
    TensorTableReader reader = tableReader(v);
    forEachChunk(v.numChunks, [&](Value chunk) {
      Value t = reader.findTensor(chunk, v.numTensors);
      StepRecord record = readTensorRecord(b, loc, op, v.records, t);
      ifThen(record.enabled, [&] {
        buildForRowElementType(b, loc, op, v.table, t, [&](Type type) {
          reader.elementType = type;
          SmallVector<Value> buffers =
              reader.tensorBuffers(t, optimizer.getNumMoments());
          buildChunkUpdate(b, loc, optimizer,
                           walk(reader.chunkRange(t, chunk), buffers, type),
                           record, buffers, op.getStoreGradients());
        });
      });
    });
    gpu::ReturnOp::create(b, loc);
    return kernel;
  }
};
} // namespace

MultiTensorKernels mlir::gs::buildMultiTensorKernels(OpBuilder &builder,
                                                     MultiTensorStepOp op,
                                                     gpu::GPUModuleOp module,
                                                     int64_t blockSize,
                                                     StringRef namePrefix) {
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(module.getBody());
  MultiTensorKernelEmitter e(builder, op, blockSize, namePrefix);
  MultiTensorKernels kernels;
  StepPhase phase = op.getPhase();
  if (phase == StepPhase::All || phase == StepPhase::Norms)
    kernels.norms = e.buildNorms();
  if (phase == StepPhase::All || phase == StepPhase::Scalars)
    kernels.scalars = e.buildScalars();
  if (phase == StepPhase::All || phase == StepPhase::Update)
    kernels.update = e.buildUpdate();
  return kernels;
}
