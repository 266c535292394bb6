//===- KernelBuilder.h - Pieces of the gs GPU kernels -----------*- C++ -*-===//
//
// What every gs kernel is made of, whatever its tensors: the grid-stride
// loop over chunks, the deterministic block sum (a warp butterfly, then the
// warps in order), the run-time alignment test that picks the vector path,
// and the creation of a kernel with a known block size, from which the
// gs.multi_tensor_step kernels (MultiTensorKernels.cpp) are built.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_CONVERSION_GSTOGPU_KERNELBUILDER_H
#define GS_LIB_CONVERSION_GSTOGPU_KERNELBUILDER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

namespace mlir::gs {

constexpr int64_t kWarpSize = 32;
/// Bytes of one vector load or store: the widest global access of NVIDIA
/// GPUs (ld.global.v4.b32).
constexpr int64_t kVectorBytes = 16;

/// Elements of `elementType` in one 16-byte vector.
int64_t getVectorWidth(Type elementType);

/// A memref type in the GPU's global memory.
MemRefType getGlobalMemRefType(ArrayRef<int64_t> shape, Type elementType);

/// Shared memory of `size` elements of `type`.
MemRefType getWorkgroupMemRefType(int64_t size, Type type);

/// Creates an empty kernel named `name` taking `argTypes`, launched with
/// `blockSize` threads, with `workgroup` shared memory; the builder is left
/// in its body.
gpu::GPUFuncOp createKernel(OpBuilder &b, Location loc, StringRef name,
                            TypeRange argTypes, int64_t blockSize,
                            TypeRange workgroup);

/// Emits kernel code at a builder's position.
struct KernelBuilder {
  OpBuilder &b;
  Location loc;

  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value i32(int64_t value) {
    return arith::ConstantIntOp::create(b, loc, b.getI32Type(), value);
  }
  Value f32(double value);
  Value add(Value x, Value y);
  Value mul(Value x, Value y);
  Value cmp(arith::CmpIPredicate predicate, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, predicate, x, y);
  }
  Value toIndex(Value value) {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), value);
  }
  Value load(Value memref, ValueRange indices);
  void store(Value value, Value memref, ValueRange indices);
  Value threadId() {
    return gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  }

  /// Emits `body` under `if (condition)`.
  void ifThen(Value condition, function_ref<void()> body);

  /// Emits `for (i = lb; i < ub; i += step)` carrying `init`; `body` returns
  /// the next values.
  ValueRange forLoop(Value lb, Value ub, Value step, ValueRange init,
                     function_ref<SmallVector<Value>(Value, ValueRange)> body);

  /// The sum of `value` over the warp, by a butterfly of shuffles; every
  /// lane gets the same bits since each adds the same pairs.
  Value warpSum(Value value);

  /// The sum of every thread's `value` (f64) in a fixed order: each warp's
  /// by warpSum, then the warps' sums in warp order through `shared` (one
  /// f64 per warp, `numWarps` of them). Every thread gets the sum. Contains
  /// a barrier; the caller adds another before `shared` is written again.
  Value blockSum(Value value, Value shared, int64_t numWarps);

  /// Emits the grid-stride loop over chunks [0, numChunks): block b handles
  /// chunks b, b + gridDim, ...; a block past the last chunk does nothing.
  void forEachChunk(Value numChunks, function_ref<void(Value chunk)> body);

  /// i1: every buffer starts at a 16-byte boundary, so (chunk offsets being
  /// multiples of the vector width) every vector access is aligned.
  Value allAligned(ValueRange buffers);
};

} // namespace mlir::gs

#endif // GS_LIB_CONVERSION_GSTOGPU_KERNELBUILDER_H
