//===- GSOps.cpp - GradientStabilizer operations --------------------------===//

#include "gs/Dialect/GS/IR/GSOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::gs;

#define GET_OP_CLASSES
#include "gs/Dialect/GS/IR/GSOps.cpp.inc"

/// Warns when the configuration has no uniform bound (spec section 1).
/// The warning names the location only: Operation::emitWarning would attach
/// the op, printing the op verifies it, and the verifier would warn again,
/// recursing until the stack overflows.
static void warnIfUnbounded(Operation *op, StabilizerAttr config) {
  if (config.hasUniformBound())
    return;
  emitWarning(op->getLoc())
      << "gamma1^2 >= gamma2 ("
      << formatF64(config.getGamma1().convertToDouble())
      << "^2 >= " << formatF64(config.getGamma2().convertToDouble())
      << "): the stabilized gradient norm has no uniform bound";
}

/// Checks that the element count of every tensor operand and result fits in
/// a signed 64-bit integer: lowerings compute sizes and offsets in i64 /
/// index, and ShapedType::getNumElements would overflow.
static LogicalResult verifyElementCounts(Operation *op) {
  auto check = [&](Type type, StringRef kind, unsigned index) -> LogicalResult {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || !tensor.hasStaticShape() ||
        llvm::is_contained(tensor.getShape(), 0))
      return success();
    int64_t count = 1;
    for (int64_t dim : tensor.getShape())
      if (llvm::MulOverflow(count, dim, count))
        return op->emitOpError()
               << kind << " #" << index << " of type " << type
               << " has more elements than a 64-bit integer can count "
                  "(at most 2^63 - 1)";
    return success();
  };
  for (auto [i, type] : llvm::enumerate(op->getOperandTypes()))
    if (failed(check(type, "operand", i)))
      return failure();
  for (auto [i, type] : llvm::enumerate(op->getResultTypes()))
    if (failed(check(type, "result", i)))
      return failure();
  return success();
}

/// Checks that each moment of a parameter has the parameter's type.
static LogicalResult verifyMoments(Operation *op,
                                   OptimizerAttrInterface optimizer,
                                   Type paramType, ValueRange moments,
                                   StringRef paramName) {
  SmallVector<StringRef> names = optimizer.getMomentNames();
  for (auto [name, moment] : llvm::zip_equal(names, moments)) {
    if (moment.getType() != paramType)
      return op->emitOpError()
             << "moment '" << name << "' of " << paramName << " has type "
             << moment.getType() << " but the parameter has type " << paramType;
  }
  return success();
}

/// Describes the moments an optimizer expects, e.g. "2 (exp_avg, exp_avg_sq)".
static std::string describeMoments(OptimizerAttrInterface optimizer) {
  SmallVector<StringRef> names = optimizer.getMomentNames();
  std::string text = std::to_string(names.size());
  if (!names.empty())
    text += " (" + llvm::join(names, ", ") + ")";
  return text;
}

/// Checks `count` run-time bias corrections against what `optimizer` takes:
/// none, or one per name of its getBiasCorrectionNames.
static LogicalResult verifyBiasCorrections(Operation *op,
                                           OptimizerAttrInterface optimizer,
                                           size_t count) {
  if (count == 0)
    return success();
  SmallVector<StringRef> names = optimizer.getBiasCorrectionNames();
  if (names.empty())
    return op->emitOpError()
           << "optimizer " << optimizer << " has no bias correction, got "
           << count << " bias_corrections";
  if (count != names.size())
    return op->emitOpError()
           << "expects " << names.size() << " bias_corrections ("
           << llvm::join(names, ", ") << ") for optimizer " << optimizer
           << ", or none, got " << count;
  return success();
}

//===----------------------------------------------------------------------===//
// GradNormOp
//===----------------------------------------------------------------------===//

LogicalResult GradNormOp::verify() { return verifyElementCounts(*this); }

OpFoldResult GradNormOp::fold(FoldAdaptor adaptor) {
  // The norm of a splat constant is |x| * sqrt(numel).
  auto splat = dyn_cast_if_present<SplatElementsAttr>(adaptor.getGrad());
  if (!splat)
    return {};
  double x = splat.getSplatValue<APFloat>().convertToDouble();
  double numel = static_cast<double>(getGrad().getType().getNumElements());
  return FloatAttr::get(Float64Type::get(getContext()),
                        std::fabs(x) * std::sqrt(numel));
}

//===----------------------------------------------------------------------===//
// StabilizeOp
//===----------------------------------------------------------------------===//

StabilizerAttr StabilizeOp::getStabilizer() {
  if (StabilizerAttr config = getConfigAttr())
    return config;
  return StabilizerAttr::getDefault(getContext());
}

LogicalResult StabilizeOp::verify() {
  if (failed(verifyElementCounts(*this)))
    return failure();
  warnIfUnbounded(*this, getStabilizer());
  return success();
}

//===----------------------------------------------------------------------===//
// OptimizerStepOp
//===----------------------------------------------------------------------===//

LogicalResult OptimizerStepOp::inferReturnTypes(
    MLIRContext *, std::optional<Location>, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferredReturnTypes) {
  Adaptor adaptor(operands, attributes, properties, regions);
  inferredReturnTypes.push_back(adaptor.getParam().getType());
  llvm::append_range(inferredReturnTypes, adaptor.getMoments().getTypes());
  inferredReturnTypes.push_back(adaptor.getStep().getType());
  return success();
}

LogicalResult OptimizerStepOp::verify() {
  if (failed(verifyElementCounts(*this)))
    return failure();
  OptimizerAttrInterface optimizer = getOptimizer();
  if (getMoments().size() != optimizer.getNumMoments())
    return emitOpError() << "optimizer " << optimizer << " keeps "
                         << describeMoments(optimizer)
                         << " moments per parameter, got "
                         << getMoments().size();
  if (failed(
          verifyBiasCorrections(*this, optimizer, getBiasCorrections().size())))
    return failure();
  return verifyMoments(*this, optimizer, getParam().getType(), getMoments(),
                       "the parameter");
}

//===----------------------------------------------------------------------===//
// GroupStepOp
//===----------------------------------------------------------------------===//

StabilizerAttr GroupStepOp::getStabilizer() {
  if (StabilizerAttr config = getConfigAttr())
    return config;
  return StabilizerAttr::getDefault(getContext());
}

OperandRange GroupStepOp::getMomentsOf(unsigned i) {
  unsigned numMoments = getOptimizer().getNumMoments();
  return getMoments().slice(i * numMoments, numMoments);
}

LogicalResult
GroupStepOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                              ValueRange operands, DictionaryAttr attributes,
                              OpaqueProperties properties, RegionRange regions,
                              SmallVectorImpl<Type> &inferredReturnTypes) {
  Adaptor adaptor(operands, attributes, properties, regions);
  llvm::append_range(inferredReturnTypes, adaptor.getParams().getTypes());
  llvm::append_range(inferredReturnTypes, adaptor.getMoments().getTypes());
  inferredReturnTypes.push_back(adaptor.getStats().getType());
  inferredReturnTypes.push_back(adaptor.getCounts().getType());
  inferredReturnTypes.push_back(adaptor.getSteps().getType());
  return success();
}

/// Checks that a state operand is `tensor<{shape}x{elementType}>`.
static LogicalResult verifyStateType(Operation *op, StringRef name, Value value,
                                     ArrayRef<int64_t> shape, Type elementType,
                                     StringRef layout) {
  auto expected = RankedTensorType::get(shape, elementType);
  if (value.getType() == expected)
    return success();
  return op->emitOpError() << "expects " << name << " of type " << expected
                           << " (" << layout << "), got " << value.getType();
}

LogicalResult GroupStepOp::verify() {
  int64_t n = getParams().size();
  if (n == 0)
    return emitOpError() << "expects at least one parameter";
  if (static_cast<int64_t>(getGrads().size()) != n)
    return emitOpError() << "expects one gradient per parameter: got " << n
                         << " parameters and " << getGrads().size()
                         << " gradients";

  OptimizerAttrInterface optimizer = getOptimizer();
  int64_t numMoments = optimizer.getNumMoments();
  if (static_cast<int64_t>(getMoments().size()) != n * numMoments)
    return emitOpError() << "optimizer " << optimizer << " keeps "
                         << describeMoments(optimizer)
                         << " moments per parameter: expects " << n * numMoments
                         << " moments for " << n << " parameters, got "
                         << getMoments().size();
  if (failed(
          verifyBiasCorrections(*this, optimizer, getBiasCorrections().size())))
    return failure();

  for (int64_t i = 0; i < n; ++i) {
    Type paramType = getParams()[i].getType();
    Type gradType = getGrads()[i].getType();
    std::string paramName = "parameter #" + std::to_string(i);
    if (gradType != paramType)
      return emitOpError() << "gradient #" << i << " has type " << gradType
                           << " but " << paramName << " has type " << paramType;
    if (failed(verifyMoments(*this, optimizer, paramType, getMomentsOf(i),
                             paramName)))
      return failure();
  }

  if (failed(verifyElementCounts(*this)))
    return failure();

  Builder b(getContext());
  if (failed(verifyStateType(*this, "stats", getStats(), {n, 2}, b.getF64Type(),
                             "one [m, v] row per parameter")) ||
      failed(verifyStateType(*this, "counts", getCounts(), {n, 2},
                             b.getI64Type(),
                             "one [k, skipped] row per parameter")) ||
      failed(verifyStateType(*this, "steps", getSteps(), {n}, b.getI64Type(),
                             "one optimizer step count per parameter")))
    return failure();

  warnIfUnbounded(*this, getStabilizer());
  return success();
}

//===----------------------------------------------------------------------===//
// MultiTensorStepOp
//===----------------------------------------------------------------------===//

StabilizerAttr MultiTensorStepOp::getStabilizer() {
  if (StabilizerAttr config = getConfigAttr())
    return config;
  return StabilizerAttr::getDefault(getContext());
}

/// The static size of dimension `dim` of `value`'s memref type, or
/// ShapedType::kDynamic.
static int64_t staticDim(Value value, unsigned dim) {
  return cast<MemRefType>(value.getType()).getDimSize(dim);
}

SmallVector<Type> MultiTensorStepOp::getRowElementTypes() {
  if (ArrayAttr types = getElementTypesAttr())
    return llvm::map_to_vector(
        types, [](Attribute type) { return cast<TypeAttr>(type).getValue(); });
  return {getElementType()};
}

LogicalResult MultiTensorStepOp::verify() {
  OptimizerAttrInterface optimizer = getOptimizer();
  if (ArrayAttr types = getElementTypesAttr()) {
    SmallVector<Type> seen;
    for (Attribute attr : types) {
      auto type = dyn_cast<TypeAttr>(attr);
      if (!type ||
          !isa<Float32Type, Float16Type, BFloat16Type>(type.getValue()))
        return emitOpError() << "expects element_types of f32, f16 and bf16, "
                                "got "
                             << attr;
      if (llvm::is_contained(seen, type.getValue()))
        return emitOpError() << "lists element type " << type.getValue()
                             << " twice in element_types";
      seen.push_back(type.getValue());
    }
    if (seen.size() < 2)
      return emitOpError() << "expects element_types of at least two types "
                              "(a table of one type needs only element_type)";
    if (seen.front() != getElementType())
      return emitOpError() << "expects element_types to start with "
                              "element_type ("
                           << getElementType() << "), got " << seen.front();
  }
  int64_t width = getTableWidth();
  int64_t tableWidth = staticDim(getTable(), 1);
  if (!ShapedType::isDynamic(tableWidth) && tableWidth != width)
    return emitOpError() << "expects a table of " << width
                         << " columns (numel, param, grad and "
                         << describeMoments(optimizer)
                         << " moments of optimizer " << optimizer
                         << (getElementTypes() ? ", the element type index"
                                               : "")
                         << "), got " << tableWidth;
  if (staticDim(getStats(), 1) != 2)
    return emitOpError() << "expects stats of shape ?x2 (one [m, v] row per "
                            "tensor), got "
                         << getStats().getType();
  if (staticDim(getCounts(), 1) != 2)
    return emitOpError() << "expects counts of shape ?x2 (one [k, skipped] "
                            "row per tensor), got "
                         << getCounts().getType();

  // Every operand with one entry per tensor agrees on N where it is static.
  int64_t numTensors = ShapedType::kDynamic;
  StringRef firstName;
  auto checkCount = [&](StringRef name, int64_t count) -> LogicalResult {
    if (ShapedType::isDynamic(count))
      return success();
    if (ShapedType::isDynamic(numTensors)) {
      numTensors = count;
      firstName = name;
      return success();
    }
    if (count == numTensors)
      return success();
    return emitOpError() << name << " describes " << count << " tensors but "
                         << firstName << " describes " << numTensors;
  };
  int64_t offsets = staticDim(getChunkOffsets(), 0);
  if (offsets == 0)
    return emitOpError() << "expects chunk_offsets of N+1 entries, got 0";
  if (failed(checkCount("table", staticDim(getTable(), 0))) ||
      failed(checkCount("stats", staticDim(getStats(), 0))) ||
      failed(checkCount("counts", staticDim(getCounts(), 0))) ||
      failed(checkCount("steps", staticDim(getSteps(), 0))) ||
      failed(checkCount("chunk_offsets", ShapedType::isDynamic(offsets)
                                             ? offsets
                                             : offsets - 1)))
    return failure();

  if (getBiasCorrections() && optimizer.getNumBiasCorrections() == 0)
    return emitOpError() << "takes bias_corrections only for optimizers with "
                            "bias correction; optimizer "
                         << optimizer << " has none";
  int64_t hyperSize = staticDim(getHyper(), 0);
  if (!ShapedType::isDynamic(hyperSize) && hyperSize != getHyperSize()) {
    SmallVector<StringRef> names = {"lr", "weight_decay", "gamma1", "gamma2",
                                    "eps"};
    llvm::append_range(names, optimizer.getHyperparameterNames());
    if (getBiasCorrections())
      llvm::append_range(names, optimizer.getBiasCorrectionNames());
    return emitOpError() << "expects hyper of " << getHyperSize()
                         << " entries (" << llvm::join(names, ", ") << "), got "
                         << hyperSize;
  }
  int64_t records = staticDim(getRecords(), 0);
  if (!ShapedType::isDynamic(records) && !ShapedType::isDynamic(numTensors) &&
      records < numTensors * kRecordWords)
    return emitOpError() << "expects records scratch of at least "
                         << numTensors * kRecordWords << " f32 ("
                         << kRecordWords << " per tensor), got " << records;

  bool hasWorkers = static_cast<bool>(getWorker());
  if (hasWorkers != static_cast<bool>(getNumWorkers()))
    return emitOpError() << "expects both worker and num_workers or neither";
  StepPhase phase = getPhase();
  if (hasWorkers && phase != StepPhase::Norms && phase != StepPhase::Update)
    return emitOpError() << "takes workers only in the norms and update "
                            "phases, not in phase "
                         << stringifyStepPhase(phase);
  if (getStoreGradients() && phase != StepPhase::All &&
      phase != StepPhase::Update)
    return emitOpError() << "stores gradients in the update phase; phase "
                         << stringifyStepPhase(phase) << " writes none";
  return success();
}

//===----------------------------------------------------------------------===//
// ViewAddressOp
//===----------------------------------------------------------------------===//

LogicalResult ViewAddressOp::verify() {
  MemRefType type = getView().getType();
  if (!type.getLayout().isIdentity())
    return emitOpError() << "expects a result with an identity layout, got "
                         << type;
  if (!type.isDynamicDim(0))
    return emitOpError() << "expects a result of dynamic size (the length "
                            "operand), got "
                         << type;
  Type elementType = type.getElementType();
  if (!elementType.isIntOrFloat() ||
      elementType.getIntOrFloatBitWidth() % 8 != 0)
    return emitOpError() << "expects a byte-sized integer or float element "
                            "type, got "
                         << elementType;
  return success();
}
