//===- MultiTensorUtils.h - The parts of a multi-tensor step ----*- C++ -*-===//
//
// Builders for the three phases of a gs.multi_tensor_step that every target
// shares: reading the run-time tensor table, the per-thread work on one
// chunk (sum of squares, fused element update), and the per-tensor scalar
// phase that leaves a record for the update. A target decides only how
// chunks map onto workers (CPU threads, GPU blocks) and how a chunk's
// per-thread sums are combined (nothing to do on a CPU; shuffles and shared
// memory on a GPU).
//
//===----------------------------------------------------------------------===//

#ifndef GS_DIALECT_GS_UTILS_MULTITENSORUTILS_H
#define GS_DIALECT_GS_UTILS_MULTITENSORUTILS_H

#include "gs/Dialect/GS/IR/GSOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace mlir::gs {

/// Reads a gs.multi_tensor_step's table and chunk offsets (memrefs in any
/// memory space) from inside a loop nest or kernel.
struct TensorTableReader {
  OpBuilder &b;
  Location loc;
  Value table, chunkOffsets;
  int64_t chunkSize;
  /// Element type and memory space of the tensors' buffers.
  Type elementType;
  Attribute memorySpace;

  /// N, the table's rows (index).
  Value numTensors();
  /// The total number of chunks, chunk_offsets[N] (index).
  Value numChunks(Value numTensors);
  /// The tensor that owns `chunk`: the last t with chunk_offsets[t] <=
  /// chunk, by binary search (tensors without elements own no chunk).
  Value findTensor(Value chunk, Value numTensors);
  /// Elements of tensor `t` (index).
  Value numElements(Value t);
  /// Column `column` of row `t` as a memref<?xT> of numElements(t).
  Value view(Value t, int64_t column);
  /// Tensor t's param, grad and `numMoments` moments, as views.
  SmallVector<Value> tensorBuffers(Value t, unsigned numMoments);
  /// The element range [begin, end) of `chunk` of tensor `t`.
  std::pair<Value, Value> chunkRange(Value t, Value chunk);
};

/// Emits `body(type)` for the element type of row `t` of `table`: `body`
/// once when `op` has one element type, else an scf.index_switch on the
/// row's type index (gs.multi_tensor_step's `element_types`) with one case
/// per type; an index outside the list runs nothing.
void buildForRowElementType(OpBuilder &b, Location loc, MultiTensorStepOp op,
                            Value table, Value t,
                            function_ref<void(Type)> body);

/// Column of the table holding each kind of buffer's address.
constexpr int64_t kNumelColumn = 0;
constexpr int64_t kParamColumn = 1;
constexpr int64_t kGradColumn = 2;
constexpr int64_t kFirstMomentColumn = 3;

/// The run-time hyperparameters of a step, read from its `hyper` operand.
struct StepHyperparameters {
  Value lr, weightDecay;
  StabilizerHyperparameters stabilizer;
  SmallVector<Value> optimizer;
  /// The given bias corrections; empty unless `op` has `bias_corrections`.
  SmallVector<Value> biasCorrections;
};
/// Reads `op`'s hyperparameters from `hyper` (its `hyper` operand, or a
/// view of it inside a kernel).
StepHyperparameters readHyperparameters(OpBuilder &b, Location loc,
                                        MultiTensorStepOp op, Value hyper);

/// Emits tensor `t`'s norm from its chunks' sums of squares: the sums of
/// `partials[chunkOffsets[t] .. chunkOffsets[t+1])` added in chunk order,
/// the square root, times `invScale` (f64) when given.
Value buildTensorNorm(OpBuilder &b, Location loc, Value partials,
                      Value chunkOffsets, Value t, Value invScale);

/// i1: any of the `numTensors` tensors' buildTensorNorm is NaN or Inf (the
/// group-wide skip of a loss-scaled step, spec section 4).
Value buildAnyNonFiniteNorm(OpBuilder &b, Location loc, Value partials,
                            Value chunkOffsets, Value numTensors,
                            Value invScale);

/// What the scalars phase leaves for the update of one tensor, as f32
/// words at records[t * kRecordWords]: [enabled, prefactor, factor,
/// zero_grad, optimizer step scalars...].
struct StepRecord {
  /// i1: the optimizer steps this tensor.
  Value enabled;
  /// f32: the gradient factor pair of buildF32FactorPair.
  Value prefactor, factor;
  /// i1, or null unless `on_nonfinite = zero`.
  Value zeroGrad;
  /// f32: the optimizer's step scalars.
  SmallVector<Value> scalars;
};

/// The number of f32 step scalars `optimizer` keeps in a record; steps whose
/// optimizer needs more than a record holds are rejected by
/// verifyRecordCapacity.
int64_t getNumStepScalars(OptimizerAttrInterface optimizer);

/// Fails, with a diagnostic on `op`, when its optimizer's step scalars do
/// not fit in a record of MultiTensorStepOp::kRecordWords words.
LogicalResult verifyRecordCapacity(MultiTensorStepOp op);

/// Emits the scalar phase of tensor `t`: the GS math on `norm` (f64, already
/// multiplied by `invScale`, which may be null) gated by `runStep` (i1), the
/// new stats / counts / steps row, and the record. Call
/// verifyRecordCapacity first.
void buildTensorScalars(OpBuilder &b, Location loc, MultiTensorStepOp op,
                        const StepHyperparameters &hyper, Value stats,
                        Value counts, Value steps, Value records, Value t,
                        Value norm, Value invScale, Value runStep);

/// Reads tensor `t`'s record.
StepRecord readTensorRecord(OpBuilder &b, Location loc, MultiTensorStepOp op,
                            Value records, Value t);

/// How one thread walks its share of a chunk [begin, end): vectors of
/// `width` elements (when `vectorize`, an i1, holds), thread `threadId` of
/// `numThreads` taking every numThreads-th vector, then the elements after
/// the last whole vector one at a time, strided the same way.
struct ChunkWalk {
  Value begin, end;
  int64_t width;
  Value vectorize;
  /// Alignment in bytes that vector accesses may assume (0: the element's).
  int64_t vectorAlignment;
  Value threadId, numThreads;
};

/// Emits this thread's sum of squares of `grad[begin, end)` in f64: vector
/// accumulators (lanes added in a fixed order) plus the scalar elements.
/// Squares of f32, f16 and bf16 values neither overflow nor underflow in
/// f64.
Value buildChunkSumOfSquares(OpBuilder &b, Location loc, const ChunkWalk &walk,
                             Value grad);

/// Emits this thread's share of the fused stabilize-then-optimize update of
/// one chunk. `buffers` are the param, grad and moment views; `record` the
/// tensor's record. With `storeGradients` the stabilized gradient is also
/// written back to the grad view (gs.multi_tensor_step's store_gradients).
void buildChunkUpdate(OpBuilder &b, Location loc,
                      OptimizerAttrInterface optimizer, const ChunkWalk &walk,
                      const StepRecord &record, ValueRange buffers,
                      bool storeGradients = false);

} // namespace mlir::gs

#endif // GS_DIALECT_GS_UTILS_MULTITENSORUTILS_H
