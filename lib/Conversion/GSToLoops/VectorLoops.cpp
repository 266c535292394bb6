//===- VectorLoops.cpp - Vectorized loops over flattened tensors ----------===//

#include "VectorLoops.h"

#include "gs/Dialect/GS/Utils/StepUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace mlir::gs;

/// Reshapes a statically shaped tensor to 1-D; views only, no copy.
static Value flatten(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto flatType =
      RankedTensorType::get({type.getNumElements()}, type.getElementType());
  if (type.getRank() == 1)
    return tensor;
  if (type.getRank() == 0)
    return tensor::ExpandShapeOp::create(b, loc, flatType, tensor,
                                         ArrayRef<ReassociationIndices>{});
  ReassociationIndices all;
  for (int64_t d = 0; d < type.getRank(); ++d)
    all.push_back(d);
  return tensor::CollapseShapeOp::create(b, loc, flatType, tensor,
                                         ArrayRef<ReassociationIndices>{all});
}

/// Inverse of `flatten`.
static Value unflatten(OpBuilder &b, Location loc, Value flat,
                       RankedTensorType type) {
  if (type.getRank() == 1)
    return flat;
  if (type.getRank() == 0)
    return tensor::CollapseShapeOp::create(b, loc, type, flat,
                                           ArrayRef<ReassociationIndices>{});
  ReassociationIndices all;
  for (int64_t d = 0; d < type.getRank(); ++d)
    all.push_back(d);
  return tensor::ExpandShapeOp::create(b, loc, type, flat,
                                       ArrayRef<ReassociationIndices>{all});
}

static Value index(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

static Value zeroOf(OpBuilder &b, Location loc, Type elementType) {
  return arith::ConstantOp::create(b, loc, elementType,
                                   b.getZeroAttr(elementType));
}

/// Reads `type`'s worth of elements at `offset`; out-of-bounds lanes read 0.
static Value read(OpBuilder &b, Location loc, Value flat, Value offset,
                  VectorType type, bool inBounds) {
  Type elementType = cast<RankedTensorType>(flat.getType()).getElementType();
  return vector::TransferReadOp::create(b, loc, type, flat, offset,
                                        zeroOf(b, loc, elementType),
                                        ArrayRef<bool>{inBounds});
}

VectorType mlir::gs::getComputeType(MLIRContext *context, unsigned width) {
  return VectorType::get({width}, Float32Type::get(context));
}

Value mlir::gs::splatAsF32(OpBuilder &b, Location loc, Value value,
                           VectorType type) {
  Value narrow = arith::TruncFOp::create(b, loc, b.getF32Type(), value);
  return vector::BroadcastOp::create(b, loc, type, narrow);
}

Value mlir::gs::buildNormLoop(OpBuilder &b, Location loc, Value tensor,
                              unsigned width) {
  Value flat = flatten(b, loc, tensor);
  auto flatType = cast<RankedTensorType>(flat.getType());
  int64_t n = flatType.getNumElements();
  auto loadType = VectorType::get({width}, flatType.getElementType());
  auto accType = VectorType::get({width}, b.getF64Type());

  // acc += widen(x)^2 over one chunk.
  auto accumulate = [&](OpBuilder &ib, Location l, Value acc, Value offset,
                        bool inBounds) -> Value {
    Value x = buildFloatCast(
        ib, l, read(ib, l, flat, offset, loadType, inBounds), ib.getF64Type());
    return arith::AddFOp::create(ib, l, acc,
                                 arith::MulFOp::create(ib, l, x, x));
  };

  Value acc = arith::ConstantOp::create(
      b, loc, accType, DenseElementsAttr::get(accType, b.getF64FloatAttr(0)));
  int64_t mainEnd = n - n % width;
  if (mainEnd > 0) {
    auto loop = scf::ForOp::create(
        b, loc, index(b, loc, 0), index(b, loc, mainEnd), index(b, loc, width),
        ValueRange{acc},
        [&](OpBuilder &ib, Location l, Value iv, ValueRange args) {
          scf::YieldOp::create(ib, l, accumulate(ib, l, args[0], iv, true));
        });
    acc = loop.getResult(0);
  }
  if (mainEnd < n)
    acc = accumulate(b, loc, acc, index(b, loc, mainEnd), false);
  Value sumSq =
      vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, acc);
  return math::SqrtOp::create(b, loc, sumSq);
}

SmallVector<Value> mlir::gs::buildElementwiseLoop(OpBuilder &b, Location loc,
                                                  ValueRange inputs,
                                                  ValueRange updates,
                                                  unsigned width,
                                                  ElementBody body) {
  SmallVector<Value> flatInputs, flatUpdates;
  for (Value input : inputs)
    flatInputs.push_back(flatten(b, loc, input));
  for (Value update : updates)
    flatUpdates.push_back(flatten(b, loc, update));
  int64_t n =
      cast<RankedTensorType>(flatUpdates.front().getType()).getNumElements();
  VectorType computeType = getComputeType(b.getContext(), width);

  // Reads every operand at `offset`, applies `body`, writes the updates.
  auto step = [&](OpBuilder &ib, Location l, Value offset, ValueRange current,
                  bool inBounds) -> SmallVector<Value> {
    SmallVector<Value> inputValues, updateValues;
    for (Value flat : flatInputs) {
      auto type = computeType.clone(
          cast<RankedTensorType>(flat.getType()).getElementType());
      inputValues.push_back(buildFloatCast(
          ib, l, read(ib, l, flat, offset, type, inBounds), ib.getF32Type()));
    }
    for (Value flat : current) {
      auto type = computeType.clone(
          cast<RankedTensorType>(flat.getType()).getElementType());
      updateValues.push_back(buildFloatCast(
          ib, l, read(ib, l, flat, offset, type, inBounds), ib.getF32Type()));
    }
    SmallVector<Value> results = body(ib, l, inputValues, updateValues);
    SmallVector<Value> written;
    for (auto [value, flat] : llvm::zip_equal(results, current)) {
      Type elementType =
          cast<RankedTensorType>(flat.getType()).getElementType();
      written.push_back(vector::TransferWriteOp::create(
                            ib, l, buildFloatCast(ib, l, value, elementType),
                            flat, offset, ArrayRef<bool>{inBounds})
                            .getResult());
    }
    return written;
  };

  SmallVector<Value> current = flatUpdates;
  int64_t mainEnd = n - n % width;
  if (mainEnd > 0) {
    auto loop = scf::ForOp::create(
        b, loc, index(b, loc, 0), index(b, loc, mainEnd), index(b, loc, width),
        current, [&](OpBuilder &ib, Location l, Value iv, ValueRange args) {
          scf::YieldOp::create(ib, l, step(ib, l, iv, args, true));
        });
    current.assign(loop.getResults().begin(), loop.getResults().end());
  }
  if (mainEnd < n) {
    SmallVector<Value> tail =
        step(b, loc, index(b, loc, mainEnd), current, false);
    current = tail;
  }

  SmallVector<Value> results;
  for (auto [flat, original] : llvm::zip_equal(current, updates))
    results.push_back(
        unflatten(b, loc, flat, cast<RankedTensorType>(original.getType())));
  return results;
}
