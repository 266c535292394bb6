//===- GroupKernels.h - The kernels of one gs.group_step --------*- C++ -*-===//
//
// Builds, inside a gpu.module, the three kernels of a group step (norms,
// scalars, update) and the device globals they share: the chunk table and
// the scratch holding partial sums, norms and per-tensor scalars.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_CONVERSION_GSTOGPU_GROUPKERNELS_H
#define GS_LIB_CONVERSION_GSTOGPU_GROUPKERNELS_H

#include "gs/Dialect/GS/IR/GSOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir::gs {

/// The static work split of one group step: every tensor is cut into chunks
/// of `chunkSize` elements, numbered across the group.
struct GroupLayout {
  int64_t chunkSize;
  int64_t blockSize;
  /// Per tensor: flat element count and element type.
  SmallVector<int64_t> numElements;
  SmallVector<Type> elementTypes;
  /// N+1 entries: the first chunk of each tensor, then the number of chunks.
  SmallVector<int64_t> chunkBounds;
  /// The distinct element types of the tensors with elements (each gets its
  /// own loop code), and the index of each tensor's.
  SmallVector<Type> classes;
  SmallVector<int64_t> classOf;

  GroupLayout(GroupStepOp op, int64_t chunkSize, int64_t blockSize);
  unsigned getNumTensors() const { return numElements.size(); }
  int64_t getNumChunks() const { return chunkBounds.back(); }
};

/// The kernels of a group step. Arguments, all buffers of the op's operand
/// types (as bare pointers):
///  - norms(grads...)
///  - scalars(stats, counts, steps, [inv_scale], [found_inf], lr, wd); one
///    block of `blockSize` threads
///  - update(params..., grads..., moments...)
/// `norms` and `update` loop grid-stride over the chunks; they need no
/// launch when the group has no elements.
struct GroupKernels {
  gpu::GPUFuncOp norms, scalars, update;
};

/// The kernel parameter type of a tensor operand: its shape with the
/// identity layout, except that a tensor without elements is memref<0xT>
/// (MLIR's bare-pointer convention cannot pass e.g. memref<3x0xT>).
MemRefType getKernelBufferType(Type tensorType);

/// Fills `module` (empty) with the kernels and globals of `op`.
GroupKernels buildGroupKernels(OpBuilder &builder, GroupStepOp op,
                               gpu::GPUModuleOp module,
                               const GroupLayout &layout);

} // namespace mlir::gs

#endif // GS_LIB_CONVERSION_GSTOGPU_GROUPKERNELS_H
