//===- GSOps.h - GradientStabilizer operations ------------------*- C++ -*-===//

#ifndef GS_DIALECT_GS_IR_GSOPS_H
#define GS_DIALECT_GS_IR_GSOPS_H

#include "gs/Dialect/GS/IR/GSAttrs.h"
#include "gs/Dialect/GS/IR/GSDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "gs/Dialect/GS/IR/GSOps.h.inc"

#endif // GS_DIALECT_GS_IR_GSOPS_H
