//===- Passes.h - gs dialect transformations --------------------*- C++ -*-===//

#ifndef GS_DIALECT_GS_TRANSFORMS_PASSES_H
#define GS_DIALECT_GS_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir::gs {
#define GEN_PASS_DECL
#include "gs/Dialect/GS/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "gs/Dialect/GS/Transforms/Passes.h.inc"
} // namespace mlir::gs

#endif // GS_DIALECT_GS_TRANSFORMS_PASSES_H
