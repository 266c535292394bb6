//===- GSDialect.h - GradientStabilizer dialect -----------------*- C++ -*-===//
//
// The `gs` dialect: stabilize-then-optimize updates on tensor values.
//
//===----------------------------------------------------------------------===//

#ifndef GS_DIALECT_GS_IR_GSDIALECT_H
#define GS_DIALECT_GS_IR_GSDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "gs/Dialect/GS/IR/GSDialect.h.inc"

#endif // GS_DIALECT_GS_IR_GSDIALECT_H
