//===- GSToLoops.h - gs to vectorized loops ---------------------*- C++ -*-===//

#ifndef GS_CONVERSION_GSTOLOOPS_GSTOLOOPS_H
#define GS_CONVERSION_GSTOLOOPS_GSTOLOOPS_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;

namespace gs {
#define GEN_PASS_DECL_CONVERTGSTOLOOPS
#include "gs/Conversion/Passes.h.inc"

/// Adds the patterns that lower every gs op to vectorized loops on tensors,
/// `vectorWidth` elements at a time.
void populateGSToLoopsConversionPatterns(RewritePatternSet &patterns,
                                         unsigned vectorWidth);
} // namespace gs
} // namespace mlir

#endif // GS_CONVERSION_GSTOLOOPS_GSTOLOOPS_H
