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

namespace mlir {
class RewritePatternSet;
namespace gs {
/// The pattern that raises a per-tensor grad_norm -> stabilize ->
/// optimizer_step chain to a gs.group_step of one tensor (used by the
/// gs-form-group-steps pass; not a canonicalization).
void populateFormGroupStepPatterns(RewritePatternSet &patterns);
} // namespace gs
} // namespace mlir

#endif // GS_DIALECT_GS_IR_GSOPS_H
