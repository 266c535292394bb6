//===- GSDialect.cpp - GradientStabilizer dialect -------------------------===//

#include "gs/Dialect/GS/IR/GSDialect.h"
#include "gs/Dialect/GS/IR/GSOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::gs;

#include "gs/Dialect/GS/IR/GSDialect.cpp.inc"

void GSDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "gs/Dialect/GS/IR/GSOps.cpp.inc"
      >();
  registerAttributes();
}

Operation *GSDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                          Type type, Location loc) {
  if (auto typed = dyn_cast<TypedAttr>(value); typed && typed.getType() == type)
    return arith::ConstantOp::create(builder, loc, type, typed);
  return nullptr;
}
