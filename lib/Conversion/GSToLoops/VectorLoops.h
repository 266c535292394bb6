//===- VectorLoops.h - Vectorized loops over flattened tensors --*- C++ -*-===//
//
// The two memory passes of a GS step on tensors: a norm reduction and an
// element-wise update, each a vector loop with a masked tail.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_CONVERSION_GSTOLOOPS_VECTORLOOPS_H
#define GS_LIB_CONVERSION_GSTOLOOPS_VECTORLOOPS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace mlir::gs {

/// Emits `||tensor||_2` as an f64: squares accumulated in f64 vectors of
/// `width` lanes (independent chains), a masked tail, then a reduction.
Value buildNormLoop(OpBuilder &builder, Location loc, Value tensor,
                    unsigned width);

/// Computes the new values of `updates` from f32 vectors of `inputs`
/// followed by `updates`, all of one vector type.
using ElementBody = function_ref<SmallVector<Value>(
    OpBuilder &builder, Location loc, ValueRange inputs, ValueRange updates)>;

/// Emits one loop over statically shaped tensors of equal element count:
/// reads `width` elements of every input and update, widens them to f32,
/// applies `body` and writes the results (rounded back) into the updates.
/// Returns the updated tensors; after bufferization they are written in
/// place.
SmallVector<Value> buildElementwiseLoop(OpBuilder &builder, Location loc,
                                        ValueRange inputs, ValueRange updates,
                                        unsigned width, ElementBody body);

/// A vector of `width` f32 lanes, the compute type of `buildElementwiseLoop`.
VectorType getComputeType(MLIRContext *context, unsigned width);

/// Broadcasts the f64 scalar `value` to the compute type after rounding it
/// once to f32.
Value splatAsF32(OpBuilder &builder, Location loc, Value value,
                 VectorType type);

} // namespace mlir::gs

#endif // GS_LIB_CONVERSION_GSTOLOOPS_VECTORLOOPS_H
