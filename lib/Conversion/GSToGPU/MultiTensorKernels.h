//===- MultiTensorKernels.h - Kernels of a gs.multi_tensor_step -*- C++ -*-===//
//
// Builds, inside a gpu.module, the three kernels of a gs.multi_tensor_step:
// norms, scalars and update. They read the tensor table at run time, so one
// set of kernels serves any number of tensors of any sizes; they have no
// globals, no per-tensor code and a fixed, small parameter list: the device
// addresses of the op's buffers and the number of tensors.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_CONVERSION_GSTOGPU_MULTITENSORKERNELS_H
#define GS_LIB_CONVERSION_GSTOGPU_MULTITENSORKERNELS_H

#include "gs/Dialect/GS/IR/GSOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir::gs {

/// A buffer operand of gs.multi_tensor_step that a kernel takes.
enum class StepBuffer {
  Table,
  ChunkOffsets,
  Hyper,
  Stats,
  Counts,
  Steps,
  Partials,
  Records,
  InvScale,
  FoundInf,
};

/// The operand of `op` that holds `buffer` (null for an absent optional).
Value getStepBuffer(MultiTensorStepOp op, StepBuffer buffer);

/// One kernel and what the host passes it: the device address (i64) of each
/// of `buffers` in order, then N, the table's rows (index), then, when it
/// reads the table, the table's columns (index): the norms kernel does not
/// depend on the optimizer, so one serves every table width.
struct MultiTensorKernel {
  gpu::GPUFuncOp func;
  SmallVector<StepBuffer> buffers;
};

/// The kernels of a multi-tensor step, all for blocks of `blockSize`
/// threads:
///  - norms(table, chunk_offsets, partials, N, W): grid-stride over the chunks,
///    one f64 sum of squares per chunk into `partials`;
///  - scalars(chunk_offsets, hyper, stats, counts, steps, partials, records,
///    [inv_scale], [found_inf], N), one block: each tensor's norm from its
///    partials, the step-wide skip, the GS math, the new state and a record
///    per tensor;
///  - update(table, chunk_offsets, records, N, W): grid-stride over the chunks,
///    the fused element update of the enabled tensors.
/// A block with no chunk to handle returns at once, so any grid size works
/// and gives the same bits.
/// Only the kernels of the op's `phase` are built; the others stay null.
struct MultiTensorKernels {
  MultiTensorKernel norms, scalars, update;
};

/// Adds to `module` the kernels of `op`'s phase. They are named `norms`,
/// `scalars` and `update`, or, with a `namePrefix`, `<namePrefix>` for a
/// single-phase op and `<namePrefix>_<kind>` for the whole step. Call
/// verifyRecordCapacity(op) first.
MultiTensorKernels buildMultiTensorKernels(OpBuilder &builder,
                                           MultiTensorStepOp op,
                                           gpu::GPUModuleOp module,
                                           int64_t blockSize,
                                           StringRef namePrefix = "");

} // namespace mlir::gs

#endif // GS_LIB_CONVERSION_GSTOGPU_MULTITENSORKERNELS_H
