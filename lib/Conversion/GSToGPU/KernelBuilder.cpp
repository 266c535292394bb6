//===- KernelBuilder.cpp - Pieces of the gs GPU kernels -------------------===//

#include "KernelBuilder.h"

#include "gs/Dialect/GS/Utils/StepUtils.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace mlir::gs;

int64_t mlir::gs::getVectorWidth(Type elementType) {
  return kVectorBytes * 8 / elementType.getIntOrFloatBitWidth();
}

MemRefType mlir::gs::getGlobalMemRefType(ArrayRef<int64_t> shape,
                                         Type elementType) {
  return MemRefType::get(shape, elementType, MemRefLayoutAttrInterface(),
                         gpu::AddressSpaceAttr::get(elementType.getContext(),
                                                    gpu::AddressSpace::Global));
}

MemRefType mlir::gs::getWorkgroupMemRefType(int64_t size, Type type) {
  return MemRefType::get({size}, type, MemRefLayoutAttrInterface(),
                         gpu::AddressSpaceAttr::get(
                             type.getContext(), gpu::AddressSpace::Workgroup));
}

gpu::GPUFuncOp mlir::gs::createKernel(OpBuilder &b, Location loc,
                                      StringRef name, TypeRange argTypes,
                                      int64_t blockSize, TypeRange workgroup) {
  auto func = gpu::GPUFuncOp::create(
      b, loc, name, b.getFunctionType(argTypes, {}), workgroup);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(blockSize), 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());
  return func;
}

Value KernelBuilder::f32(double value) {
  return buildFloatConstant(b, loc, b.getF32Type(), value);
}

Value KernelBuilder::add(Value x, Value y) {
  if (isa<FloatType>(getElementTypeOrSelf(x.getType())))
    return arith::AddFOp::create(b, loc, x, y);
  return arith::AddIOp::create(b, loc, x, y);
}

Value KernelBuilder::mul(Value x, Value y) {
  if (isa<FloatType>(getElementTypeOrSelf(x.getType())))
    return arith::MulFOp::create(b, loc, x, y);
  return arith::MulIOp::create(b, loc, x, y);
}

Value KernelBuilder::load(Value memref, ValueRange indices) {
  return memref::LoadOp::create(b, loc, memref, indices);
}

void KernelBuilder::store(Value value, Value memref, ValueRange indices) {
  memref::StoreOp::create(b, loc, value, memref, indices);
}

void KernelBuilder::ifThen(Value condition, function_ref<void()> body) {
  auto ifOp = scf::IfOp::create(b, loc, condition, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  body();
}

ValueRange KernelBuilder::forLoop(
    Value lb, Value ub, Value step, ValueRange init,
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

Value KernelBuilder::warpSum(Value value) {
  for (int64_t offset = kWarpSize / 2; offset >= 1; offset /= 2) {
    auto shuffle = gpu::ShuffleOp::create(b, loc, value, offset, kWarpSize,
                                          gpu::ShuffleMode::XOR);
    value = add(value, shuffle.getShuffleResult());
  }
  return value;
}

Value KernelBuilder::blockSum(Value value, Value shared, int64_t numWarps) {
  Value tid = threadId();
  Value lane = arith::RemUIOp::create(b, loc, tid, index(kWarpSize));
  Value warp = arith::DivUIOp::create(b, loc, tid, index(kWarpSize));
  Value warpTotal = warpSum(value);
  ifThen(cmp(arith::CmpIPredicate::eq, lane, index(0)),
         [&] { store(warpTotal, shared, warp); });
  gpu::BarrierOp::create(b, loc);
  Value total = load(shared, index(0));
  for (int64_t w = 1; w < numWarps; ++w)
    total = add(total, load(shared, index(w)));
  return total;
}

void KernelBuilder::forEachChunk(Value numChunks,
                                 function_ref<void(Value chunk)> body) {
  Value firstBlock = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value numBlocks = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
  forLoop(firstBlock, numChunks, numBlocks, {}, [&](Value chunk, ValueRange) {
    body(chunk);
    return SmallVector<Value>{};
  });
}

Value KernelBuilder::allAligned(ValueRange buffers) {
  Value bits = index(0);
  for (Value buffer : buffers) {
    Value address =
        memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
    bits = arith::OrIOp::create(b, loc, bits, address);
  }
  Value low = arith::AndIOp::create(b, loc, bits, index(kVectorBytes - 1));
  return cmp(arith::CmpIPredicate::eq, low, index(0));
}
