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
#include "GroupKernelEmitter.h"

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

/// norms(grads...): one partial sum of squares (f64) per chunk.
static gpu::GPUFuncOp buildNormsKernel(OpBuilder &b, Location loc,
                                       GroupStepOp op,
                                       const GroupLayout &layout) {
  OpBuilder::InsertionGuard guard(b);
  int64_t numWarps = layout.blockSize / kWarpSize;
  Type f64 = b.getF64Type();
  gpu::GPUFuncOp func =
      createKernel(b, loc, "norms", bufferTypes(op.getGrads().getTypes()),
                   layout.blockSize, getWorkgroupMemRefType(numWarps, f64));
  GroupKernelEmitter e{b, loc, layout};
  Value shared = func.getWorkgroupAttributions().front();
  ValueRange grads = func.getArguments();

  Value tid = e.threadId();
  Value partials = e.global(kPartials, e.partialsType());
  e.forEachChunk([&](Value chunk, Value tensor) {
    Value sum =
        e.switchOnClass(tensor, f64, [&](int64_t cls) {
           GroupKernelEmitter::ChunkView view =
               e.viewChunk(tensor, chunk, cls, [&](int64_t i) {
                 return SmallVector<Value>{grads[i]};
               });
           Type elementType = layout.classes[cls];
           int64_t width = getVectorWidth(elementType);
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

    Value total = e.blockSum(sum, shared, numWarps);
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
                   getWorkgroupMemRefType(1, b.getI32Type()));
  GroupKernelEmitter e{b, loc, layout};
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
            b, loc, op.getStabilizer(),
            op.getStabilizer().buildHyperparameterConstants(b, loc),
            e.load(norms, t), invScale, runStep, e.load(stats, {t, zero}),
            e.load(stats, {t, one}), e.load(counts, {t, zero}),
            e.load(counts, {t, one}), e.load(steps, t));
        Value oldStep = e.load(steps, t);
        e.store(update.m, stats, {t, zero});
        e.store(update.v, stats, {t, one});
        e.store(update.k, counts, {t, zero});
        e.store(update.skipped, counts, {t, one});
        e.store(update.step, steps, t);

        Value nextStep = e.add(
            oldStep, arith::ConstantIntOp::create(b, loc, b.getI64Type(), 1));
        OptimizerAttrInterface optimizer = op.getOptimizer();
        SmallVector<Value> scalars = optimizer.buildStepScalars(
            b, loc, nextStep, lr, weightDecay,
            optimizer.buildHyperparameterConstants(b, loc),
            /*biasCorrections=*/ValueRange());
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
  GroupKernelEmitter e{b, loc, layout};
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
        GroupKernelEmitter::ChunkView view =
            e.viewChunk(tensor, chunk, cls, buffersOf);
        Type elementType = layout.classes[cls];
        int64_t width = getVectorWidth(elementType);
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
  GroupKernelEmitter e{builder, loc, layout};
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
