//===- GSToLinalg.h - gs.grad_norm / gs.stabilize to linalg -----*- C++ -*-===//

#ifndef GS_CONVERSION_GSTOLINALG_GSTOLINALG_H
#define GS_CONVERSION_GSTOLINALG_GSTOLINALG_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;

namespace gs {
#define GEN_PASS_DECL_GSTOLINALG
#include "gs/Conversion/Passes.h.inc"

/// Adds the patterns that lower gs.grad_norm to a linalg.generic reduction
/// and gs.stabilize to scalar math plus an element-wise linalg.generic.
void populateGSToLinalgConversionPatterns(RewritePatternSet &patterns);
} // namespace gs
} // namespace mlir

#endif // GS_CONVERSION_GSTOLINALG_GSTOLINALG_H
